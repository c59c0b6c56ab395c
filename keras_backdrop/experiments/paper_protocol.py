"""The paper's texture experiment as a protocol: variants, seeds, selection.

One command (``python -m examples.paper_experiment``) trains the texture
network (`texture_network`) of Golkar and Cranmer's texture task under
several variants (`variant_specs`): no mask, backdrop with the paper's
probabilities, a small grid of fine and coarse probabilities, random crops
and spatial dropout at the masks' places (the regulariser a practitioner
would try first), each with several seeds. For every seed the training
images are split once into training and validation images (stratified by
class, the same split for every variant, so variants are paired by seed).
Each run trains for a fixed number of epochs, records its learning curves
(training loss and accuracy, validation loss and accuracy) and keeps the
weights of the epoch with the best validation accuracy (the lower
validation loss breaks ties); the test split is read once per run, at the
end, with those weights. Each variant's difference from ``no_mask`` gets a
95 % bootstrap interval over seeds (paired by seed).

The data come from `tfds_gp`'s NumPy generator, the same arrays as the
TFDS builder's, on every backend (no TensorFlow needed), cached on disk as
``.npy`` files. A run checkpoints after every epoch (the model with its
optimizer state, the seed generators' states, the curves and the best
weights) and resumes from there when the command is run again; with a
budget the protocol stops cleanly after the epoch that exceeds it (every
call trains at least one epoch), and the results written so far mark
unfinished runs as such.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from keras_backdrop.experiments import bootstrap, texture_network
from keras_backdrop.experiments import results as results_lib
from keras_backdrop.experiments.texture import (
    TrainBatches,
    eval_batch_size,
    scale_choices,
)

#: The paper's mask probabilities (the reference demo): fine, coarse.
PAPER_PROBS = (0.3, 0.95)

#: The grid of (fine, coarse) probabilities tried besides the paper's.
GRID_PROBS = ((0.3, 0.75), (0.6, 0.95), (0.9, 0.95))

#: Built-in data configs: `tfds_gp` presets plus a tiny one for tests.
FAST_RECIPE = {
    "size": 32,
    "scales": ((1.0, 1.5), (4.0, 6.0)),
    "powers": (0.75, 1.25),
    "train_per_class": 6,
    "test_per_class": 3,
    "seed": 12,
}


@dataclasses.dataclass(frozen=True)
class VariantSpec:
    """How one variant trains: its masks, or its other regulariser."""

    name: str
    masks: bool = False
    fine_prob: float = 0.0
    coarse_prob: float = 0.0
    dropout: bool = False
    crops: bool = False


def variant_specs() -> dict[str, VariantSpec]:
    """Every variant of the protocol, by name, in report order.

    >>> list(variant_specs())[:3]
    ['no_mask', 'backdrop', 'backdrop_f0.3_c0.75']
    """
    specs = [VariantSpec("no_mask")]
    specs.append(VariantSpec("backdrop", True, *PAPER_PROBS))
    specs += [VariantSpec(f"backdrop_f{f:g}_c{c:g}", True, f, c) for f, c in GRID_PROBS]
    specs.append(VariantSpec("random_crops", crops=True))
    specs.append(
        VariantSpec("spatial_dropout", dropout=True, fine_prob=0.3, coarse_prob=0.3)
    )
    return {s.name: s for s in specs}


@dataclasses.dataclass
class Protocol:
    """The settings of one protocol run.

    Attributes:
        config: A `tfds_gp` preset name, or ``"fast"`` (a 32 px toy).
        construction: ``None`` for the preset's own, else a
            `tfds_gp.GpRecipe` construction name to use instead.
        variants: Names from `variant_specs`.
        seeds: Seeds; each variant trains once per seed.
        epochs: Epochs per run.
        val_per_class: Training images per class held out for validation.
        batch_size: Batch size.
        lr: Adam learning rate.
        filters: Filters per convolution.
        jit_compile: Whether ``fit`` compiles the training step.
        budget_s: Stop cleanly once this many seconds have passed (None:
            no limit).
        out_dir: Where the JSON, the table and the plot go.
        work_dir: Checkpoints and the data cache.
    """

    config: str = "small"
    construction: str | None = None
    variants: list[str] = dataclasses.field(
        default_factory=lambda: list(variant_specs())
    )
    seeds: list[int] = dataclasses.field(default_factory=lambda: [0, 1, 2, 3, 4])
    epochs: int = 60
    val_per_class: int = 10
    batch_size: int = 8
    lr: float = 1e-3
    filters: int = 32
    jit_compile: bool = False
    budget_s: float | None = None
    out_dir: str = "docs/results"
    work_dir: str = "results/paper_protocol"


# --------------------------------------------------------------------------
# Data


def recipe_for(config: str, construction: str | None = None) -> Any:
    """The `tfds_gp.GpRecipe` of a config name (``"fast"`` or a preset).

    Raises:
        ValueError: For an unknown name or construction.
    """
    import tfds_gp

    if config == "fast":
        recipe = tfds_gp.GpRecipe(**FAST_RECIPE)
    elif config in tfds_gp.PRESETS:
        recipe = tfds_gp.PRESETS[config]
    else:
        raise ValueError(
            "Invalid value for argument `config`: expected 'fast' or one of "
            f"{sorted(tfds_gp.PRESETS)}. Received: config={config!r}"
        )
    if construction is not None:
        recipe = dataclasses.replace(recipe, construction=construction)
    return recipe


def load_arrays(
    recipe: Any, split: str, cache_dir: Path
) -> tuple[np.ndarray, np.ndarray]:
    """A split's images ``(n, size, size, 1)`` and labels, cached on disk.

    The cache file is named by a hash of the recipe, so another recipe
    never reads it.
    """
    import hashlib

    import tfds_gp

    key = hashlib.sha256(repr((recipe, split)).encode()).hexdigest()[:16]
    images_path = cache_dir / f"{split}-{key}-images.npy"
    labels_path = cache_dir / f"{split}-{key}-labels.npy"
    if images_path.exists() and labels_path.exists():
        return np.load(images_path), np.load(labels_path)
    images, labels = tfds_gp.load_numpy(recipe, split)
    cache_dir.mkdir(parents=True, exist_ok=True)
    np.save(images_path, images)
    np.save(labels_path, labels)
    return images, labels


def split_validation(
    labels: np.ndarray, val_per_class: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices of training and validation images, stratified by class.

    ``val_per_class`` images of every class go to validation, chosen with
    ``numpy.random.default_rng([seed, 1])``.

    >>> train, val = split_validation(np.array([0, 1, 0, 1, 0, 1]), 1, seed=0)
    >>> sorted(np.concatenate([train, val]).tolist())
    [0, 1, 2, 3, 4, 5]
    >>> sorted(np.array([0, 1, 0, 1, 0, 1])[val].tolist())
    [0, 1]

    Raises:
        ValueError: If a class has no more than ``val_per_class`` images.
    """
    rng = np.random.default_rng([seed, 1])
    train, val = [], []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if len(members) <= val_per_class:
            raise ValueError(
                "Invalid value for argument `val_per_class`: expected fewer "
                f"than the {len(members)} training images of class {label}. "
                f"Received: val_per_class={val_per_class}"
            )
        members = rng.permutation(members)
        val.append(members[:val_per_class])
        train.append(members[val_per_class:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


# --------------------------------------------------------------------------
# Statistics


def best_epoch(val_accuracy: Sequence[float], val_loss: Sequence[float]) -> int:
    """The epoch (0-based) of the best validation accuracy.

    Ties go to the lower validation loss, then to the earlier epoch.

    >>> best_epoch([0.5, 0.7, 0.7, 0.6], [1.0, 0.9, 0.8, 0.5])
    2
    """
    keys = [
        (-a, loss, e)
        for e, (a, loss) in enumerate(zip(val_accuracy, val_loss, strict=True))
    ]
    return min(keys)[2]


# --------------------------------------------------------------------------
# Models


def _dropout_layer(mask_prob: float, mask_axes: Any, seed: int | None, name: str):
    """Spatial dropout at a mask's place (per sample and position)."""
    del mask_axes  # SpatialDropout2D drops whole channels per sample.
    return keras.layers.SpatialDropout2D(mask_prob, seed=seed, name=name)


def build_model(spec: VariantSpec, recipe: Any, seed: int, filters: int) -> keras.Model:
    """The texture network of one variant and seed."""
    keras.utils.set_random_seed(seed)
    scales = [list(s) for s in recipe.scales]
    masked = spec.masks or spec.dropout
    return texture_network.build_texture_model(
        recipe.size,
        scales,
        math.prod(len(s) for s in scales),
        masks=masked,
        fine_prob=spec.fine_prob if masked else 0.3,
        coarse_prob=spec.coarse_prob if masked else 0.95,
        filters=filters,
        seed=seed,
        mask_layer=_dropout_layer if spec.dropout else texture_network.BackdropMasking,
    )


class _OneEpoch(keras.utils.PyDataset):
    """Epoch ``epoch`` of a `TrainBatches`, as a dataset of its own.

    ``fit`` is called once per epoch (to checkpoint between epochs); each
    call must see that epoch's shuffle and crops, which `TrainBatches`
    keys by (seed, epoch).
    """

    def __init__(self, batches: TrainBatches, epoch: int) -> None:
        super().__init__()
        self.batches, self.offset = batches, epoch * batches.steps_per_epoch

    def __len__(self) -> int:
        return self.batches.steps_per_epoch

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        return self.batches[self.offset + index]


def _logits(model: keras.Model, x: np.ndarray, batch: int) -> np.ndarray:
    """The model's logits for ``x``, by eager inference calls in batches."""
    return np.concatenate(
        [
            keras.ops.convert_to_numpy(model(x[i : i + batch], training=False))
            for i in range(0, len(x), batch)
        ]
    ).astype(np.float64)


def _evaluate(
    model: keras.Model, x: np.ndarray, y: np.ndarray, batch: int
) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of eager inference calls."""
    logits = _logits(model, x, batch)
    logits -= logits.max(axis=1, keepdims=True)
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    loss = float(-np.mean(log_p[np.arange(len(y)), y]))
    return loss, float(np.mean(np.argmax(logits, axis=1) == y))


def _seed_states(model: keras.Model) -> list[list[int]]:
    return [
        np.asarray(keras.ops.convert_to_numpy(g.state.value)).tolist()
        for g in _seed_generators(model)
    ]


def _seed_generators(model: keras.Model) -> list[Any]:
    return [
        layer.seed_generator
        for layer in model.layers
        if getattr(layer, "seed_generator", None) is not None
    ]


# --------------------------------------------------------------------------
# One run


def train_run(
    spec: VariantSpec,
    seed: int,
    data: dict[str, np.ndarray],
    recipe: Any,
    protocol: Protocol,
    run_dir: Path,
    deadline: float | None,
) -> dict[str, Any]:
    """Trains (or resumes) one variant with one seed; its result entry.

    The entry has ``status`` ``"done"`` (with the test figures) or
    ``"stopped"`` (the budget ran out; run the protocol again to resume).
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    state_path = run_dir / "state.json"
    model_path = run_dir / "last.keras"
    best_path = run_dir / "best.weights.h5"
    if state_path.exists():
        state = json.loads(state_path.read_text())
        if state.get("status") == "done":
            return state["result"]
        model = keras.models.load_model(model_path)
        for generator, value in zip(
            _seed_generators(model), state["seed_states"], strict=True
        ):
            generator.state.assign(np.asarray(value, generator.state.dtype))
    else:
        state = {"epoch": 0, "curves": {k: [] for k in CURVES}, "seconds": 0.0}
        model = build_model(spec, recipe, seed, protocol.filters)
        model.compile(
            optimizer=keras.optimizers.Adam(protocol.lr),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
            jit_compile=protocol.jit_compile,
        )
    x_train, y_train = data["x_train"], data["y_train"]
    crop = recipe.size // 2 if spec.crops else None
    batches = TrainBatches(
        x_train, y_train, protocol.batch_size, protocol.epochs, seed, crop
    )
    eval_batch = eval_batch_size(recipe.size)
    curves = state["curves"]
    while state["epoch"] < protocol.epochs:
        started = time.time()
        history = model.fit(_OneEpoch(batches, state["epoch"]), epochs=1, verbose=0)
        val_loss, val_acc = _evaluate(model, data["x_val"], data["y_val"], eval_batch)
        curves["train_loss"].append(float(history.history["loss"][-1]))
        curves["train_accuracy"].append(float(history.history["accuracy"][-1]))
        curves["val_loss"].append(val_loss)
        curves["val_accuracy"].append(val_acc)
        if best_epoch(curves["val_accuracy"], curves["val_loss"]) == state["epoch"]:
            model.save_weights(best_path)
        state["epoch"] += 1
        state["seconds"] += time.time() - started
        state["seed_states"] = _seed_states(model)
        model.save(model_path)
        state_path.write_text(json.dumps(state))
        # Checked after an epoch, so that every call makes progress.
        if (
            deadline is not None
            and time.time() > deadline
            and state["epoch"] < protocol.epochs
        ):
            return {"status": "stopped", "epochs": state["epoch"]}
    chosen = best_epoch(curves["val_accuracy"], curves["val_loss"])
    model.load_weights(best_path)
    logits = _logits(model, data["x_test"], eval_batch)
    pred = np.argmax(logits, axis=1)
    y_test = data["y_test"]
    per_scale = np.mean(
        scale_choices(pred, recipe.scales) == scale_choices(y_test, recipe.scales),
        axis=0,
    )
    result = {
        "status": "done",
        "test_accuracy": float(np.mean(pred == y_test)),
        "small_scale_accuracy": float(per_scale[0]),
        "scale_accuracy": [float(a) for a in per_scale],
        "train_accuracy": curves["train_accuracy"][chosen],
        "val_accuracy": curves["val_accuracy"][chosen],
        "epochs": protocol.epochs,
        "selected_epoch": chosen + 1,
        "seconds": state["seconds"],
        "curves": curves,
    }
    state.update(status="done", result=result)
    state_path.write_text(json.dumps(state))
    model_path.unlink(missing_ok=True)
    return result


#: The learning curves recorded per epoch.
CURVES = ("train_loss", "train_accuracy", "val_loss", "val_accuracy")


# --------------------------------------------------------------------------
# The protocol


def device_name() -> str:
    """The accelerator the backend runs on, or the CPU's description."""
    import platform

    backend = keras.backend.backend()
    try:
        if backend == "jax":
            import jax

            device = jax.devices()[0]
            return f"{device.platform}: {getattr(device, 'device_kind', device)}"
        if backend == "torch":
            import torch

            if torch.cuda.is_available():
                return f"cuda: {torch.cuda.get_device_name(0)}"
        if backend == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            if gpus:
                return f"gpu: {gpus[0].name}"
    except Exception as error:  # A report, not a reason to stop the run.
        return f"unknown ({error})"
    return f"cpu: {platform.processor() or platform.machine()}"


def summarize(
    variants: dict[str, dict[str, Any]], seeds: Sequence[int]
) -> dict[str, Any]:
    """Per variant: the finished seeds' test figures and the paired difference.

    Mean, standard deviation and t interval of the test accuracy and the
    small-scale accuracy, and the mean difference from ``no_mask`` over the
    seeds both finished, with its bootstrap interval.
    """
    summary: dict[str, Any] = {}
    base = variants.get("no_mask", {}).get("seeds", {})
    for name, entry in variants.items():
        done = {s: r for s, r in entry["seeds"].items() if r.get("status") == "done"}
        if not done:
            continue
        row: dict[str, Any] = {"seeds_done": len(done)}
        for metric in ("test_accuracy", "small_scale_accuracy"):
            row[metric] = results_lib.summarize([r[metric] for r in done.values()])
        paired = [s for s in done if base.get(s, {}).get("status") == "done"]
        if name != "no_mask" and paired:
            diff = bootstrap.paired_bootstrap_ci(
                [done[s]["test_accuracy"] for s in paired],
                [base[s]["test_accuracy"] for s in paired],
            )
            row["difference_from_no_mask"] = {
                "mean": diff["mean"],
                "bootstrap_ci95": [diff["ci_low"], diff["ci_high"]],
                "n": diff["n"],
            }
        summary[name] = row
    return summary


def markdown(payload: dict[str, Any]) -> str:
    """The results table: test accuracy, small scale, difference from no mask."""
    rows = []
    for name, row in payload["summary"].items():
        acc, small = row["test_accuracy"], row["small_scale_accuracy"]
        diff = row.get("difference_from_no_mask")
        rows.append(
            [
                name,
                row["seeds_done"],
                f"{acc['mean']:.3f} [{acc['ci95_low']:.3f}, {acc['ci95_high']:.3f}]",
                f"{small['mean']:.3f}",
                ""
                if diff is None
                else (
                    f"{diff['mean']:+.3f} [{diff['bootstrap_ci95'][0]:+.3f}, "
                    f"{diff['bootstrap_ci95'][1]:+.3f}]"
                ),
            ]
        )
    return results_lib.markdown_table(
        [
            "variant",
            "seeds",
            "test accuracy (95 % t CI)",
            "small-scale acc.",
            "difference from no_mask (95 % bootstrap CI)",
        ],
        rows,
    )


def run(protocol: Protocol, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Runs (or resumes) the whole protocol; writes and returns the results."""
    started = time.time()
    deadline = None if protocol.budget_s is None else started + protocol.budget_s
    specs = variant_specs()
    unknown = [v for v in protocol.variants if v not in specs]
    if unknown:
        raise ValueError(
            f"Invalid value for argument `variants`: expected names from "
            f"{list(specs)}. Received: variants={protocol.variants!r}"
        )
    recipe = recipe_for(protocol.config, protocol.construction)
    work = Path(protocol.work_dir)
    x_all, y_all = load_arrays(recipe, "train", work / "data")
    x_test, y_test = load_arrays(recipe, "test", work / "data")
    log(
        f"{protocol.config}: {recipe.size} px, {len(y_all)} training images "
        f"({protocol.val_per_class} per class for validation), {len(y_test)} test; "
        f"backend {keras.backend.backend()}, {device_name()}"
    )
    variants: dict[str, dict[str, Any]] = {v: {"seeds": {}} for v in protocol.variants}
    stopped = False
    for seed in protocol.seeds:
        train_idx, val_idx = split_validation(y_all, protocol.val_per_class, seed)
        data = {
            "x_train": x_all[train_idx],
            "y_train": y_all[train_idx],
            "x_val": x_all[val_idx],
            "y_val": y_all[val_idx],
            "x_test": x_test,
            "y_test": y_test,
        }
        for name in protocol.variants:
            run_dir = work / "runs" / protocol.config / f"{name}-seed{seed}"
            result = train_run(
                specs[name], seed, data, recipe, protocol, run_dir, deadline
            )
            variants[name]["seeds"][str(seed)] = result
            if result["status"] != "done":
                stopped = True
                log(
                    f"{name} seed {seed}: stopped by the budget after {result['epochs']} epochs"
                )
                break
            log(
                f"{name} seed {seed}: test {result['test_accuracy']:.3f} (small scale "
                f"{result['small_scale_accuracy']:.3f}), epoch {result['selected_epoch']} "
                f"of {result['epochs']} chosen, {result['seconds']:.0f} s"
            )
        if stopped:
            break
    payload = {
        "size": recipe.size,
        "config": protocol.config,
        "construction": getattr(recipe, "construction", "stationary"),
        "backend": keras.backend.backend(),
        "device": device_name(),
        "complete": not stopped,
        "settings": {
            k: v
            for k, v in dataclasses.asdict(protocol).items()
            if k not in ("out_dir", "work_dir")
        },
        "variants": variants,
    }
    payload["summary"] = summarize(variants, protocol.seeds)
    out = Path(protocol.out_dir)
    results_lib.write_json(payload, out / "paper_protocol.json")
    table = markdown(payload)
    (out / "paper_protocol.md").write_text(table + "\n")
    curves = {
        name: [
            r["curves"]["val_accuracy"]
            for r in entry["seeds"].values()
            if r.get("status") == "done"
        ]
        for name, entry in variants.items()
    }
    curves = {k: v for k, v in curves.items() if v}
    if curves:
        results_lib.plot_curves(
            curves,
            out / "paper_protocol_curves.png",
            title=f"{protocol.config} ({recipe.size} px): validation accuracy, mean and range over seeds",
            ylabel="validation accuracy",
        )
    log(table)
    return payload
