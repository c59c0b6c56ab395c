"""Backdrop for non-decomposable losses: soft-F1 and a pairwise AUC surrogate.

A loss such as the F-measure or ROC AUC is defined on a whole set of
predictions, not as a sum of per-sample terms, so a minibatch estimate of
it is biased; on an imbalanced task a minibatch often holds no positive at
all, and its F1 or AUC is then undefined (see `examples/batch_losses.py`
for how those batches are handled). Backdrop (Golkar and Cranmer,
arXiv:1806.01337) keeps the loss on the full batch and makes the gradient
stochastic instead: a `BackdropMasking(mask_axes=(0,))` layer on the
per-sample logits passes the gradient back through a random subset of the
samples only.

Task: scikit-learn's bundled handwritten digits (no download), one digit
against the rest, with the positives subsampled so that they are a few
percent of the data (the whole pool is subsampled, then split stratified,
so the test set has the training prevalence). A small MLP ends in
`Dense(1)` logits. Four ways to train it, for each loss:

* `full_batch`: `model.fit` with `batch_size` = the whole training set;
* `minibatch`: the same loss on shuffled minibatches of `--batch-size`;
* `backdrop_mask_prob`: full batch, and `BackdropMasking(mask_prob=p)` on
  the logits; by default `p = 1 - batch_size / n_train`, so that on
  average as many samples carry gradient as in a minibatch (`--mask-prob`
  sets another);
* `backdrop_keep_count`: full batch, `BackdropMasking(keep_count=
  batch_size)`: exactly a minibatch's worth of samples carries gradient.

Held equal: the data and split, the initial weights (same seed), the
optimizer (Adam, `--lr`) and the number of gradient steps (`--steps`; the
minibatch run does `--steps` updates, i.e. fewer epochs). Every variant is
one `model.fit` call over a repeated pipeline whose elements are the whole
training set (full batch, backdrop) or shuffled minibatches: `tf.data` on
the TensorFlow backend, a NumPy `keras.utils.PyDataset` on JAX and PyTorch
(`KERAS_BACKEND=jax python -m examples.nondecomposable`); `results.json`
records the backend. The two shuffle differently, so minibatch numbers per
seed differ between TensorFlow and the other backends.

Reported: test F1 at probability threshold 0.5 (logit 0) and test ROC AUC
(`sklearn.metrics`), per seed and mean +- std (population) over seeds, as
a table on stdout, `results.json` and `results.png` in `--out-dir`. The
AUC surrogate only ranks: it leaves the logits' offset free, so for it
the F1 at a fixed threshold is a by-product, and ROC AUC is the metric it
optimises.

Run from the repository root:

    python -m examples.nondecomposable            # default experiment
    python -m examples.nondecomposable --fast     # smoke run, under a minute
    KERAS_BACKEND=jax python -m examples.nondecomposable --fast
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Keras first: with KERAS_BACKEND=torch, TensorFlow imported before Keras
# can abort the process (an LLVM option registered twice via triton).
# TensorFlow itself is only imported for the tf.data input on its backend.
import keras  # noqa: E402

from keras_backdrop import BackdropMasking  # noqa: E402

try:  # Run as `python -m examples.nondecomposable` or imported by tests.
    from examples.batch_losses import pairwise_auc_loss, soft_f1_loss
except ImportError:  # Run as `python examples/nondecomposable.py`.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from examples.batch_losses import pairwise_auc_loss, soft_f1_loss

LOSSES = {"soft_f1": soft_f1_loss, "pairwise_auc": pairwise_auc_loss}
VARIANTS = (
    "full_batch",
    "minibatch",
    "backdrop_mask_prob",
    "backdrop_keep_count",
)
METRICS = ("test_f1", "test_auc")

DEFAULTS: dict[str, Any] = {
    "positive_class": 8,
    "positive_fraction": 0.03,
    "n_train": 512,
    "batch_size": 32,
    "steps": 400,
    "lr": 1e-3,
    "hidden": (64, 64),
}
# --fast: the whole pipeline on a toy budget, for tests and smoke runs.
FAST = {"n_train": 128, "batch_size": 16, "steps": 10, "hidden": (16,)}


def load_task(
    positive_class: int, positive_fraction: float, n_train: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Digits, one class against the rest, positives subsampled.

    Returns `(x_train, y_train, x_test, y_test)`, float32 features in
    [0, 1] and 0/1 float32 labels. The positives are subsampled from the
    whole pool to make `positive_fraction` of it, then the pool is split
    stratified: `n_train` samples for training, the rest for testing.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = (digits.target == positive_class).astype(np.float32)
    rng = np.random.default_rng(seed)
    pos = np.flatnonzero(y == 1)
    neg = np.flatnonzero(y == 0)
    n_pos = round(positive_fraction / (1.0 - positive_fraction) * len(neg))
    n_pos = min(max(n_pos, 4), len(pos))
    keep = np.concatenate([rng.choice(pos, n_pos, replace=False), neg])
    x, y = x[keep], y[keep]
    if not 0 < n_train < len(y):
        raise ValueError(
            f"Invalid value for argument `n_train`: expected 1 to "
            f"{len(y) - 1} (the pool has {len(y)} samples). "
            f"Received: n_train={n_train}"
        )
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, train_size=n_train, stratify=y, random_state=seed
    )
    return x_train, y_train, x_test, y_test


def build_model(
    n_features: int,
    hidden: Sequence[int],
    backdrop: dict[str, Any] | None,
    seed: int,
) -> keras.Model:
    """A ReLU MLP ending in one logit, optionally with a backdrop mask on it.

    The mask sits on the logits, the last per-sample output, so the whole
    network upstream only gets gradient from the surviving samples while
    the loss still sees every sample's logit.
    """
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((n_features,))
    h = inputs
    for units in hidden:
        h = keras.layers.Dense(units, activation="relu")(h)
    logits = keras.layers.Dense(1)(h)
    if backdrop is not None:
        # An explicit seed: the layer's generator then draws nothing from
        # the global RNG, and the dense layers' initial weights are the
        # same as in the runs without backdrop.
        logits = BackdropMasking(mask_axes=(0,), seed=seed, **backdrop)(logits)
    return keras.Model(inputs, logits)


class Minibatches(keras.utils.PyDataset):
    """``steps`` shuffled minibatches, from NumPy, for the non-TF backends.

    Epoch ``e`` (a pass over the data) is ordered by
    ``numpy.random.default_rng([seed, e])``; as with the ``tf.data``
    pipeline, the last batch of a pass may be short. Batch ``i`` depends
    only on (seed, i), so a run repeats under the same seed.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int,
                 steps: int, seed: int) -> None:
        super().__init__()
        self.x, self.y = x, y
        self.batch_size, self.steps, self.seed = batch_size, steps, seed
        self.per_epoch = math.ceil(len(y) / batch_size)

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if not 0 <= index < self.steps:
            raise IndexError(f"batch {index} out of range [0, {self.steps})")
        epoch, step = divmod(index, self.per_epoch)
        order = np.random.default_rng([self.seed, epoch]).permutation(len(self.y))
        picked = order[step * self.batch_size:(step + 1) * self.batch_size]
        return self.x[picked], self.y[picked]


class FullBatches(keras.utils.PyDataset):
    """The whole training set as every one of ``steps`` batches."""

    def __init__(self, x: np.ndarray, y: np.ndarray, steps: int) -> None:
        super().__init__()
        self.x, self.y, self.steps = x, y, steps

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if not 0 <= index < self.steps:
            raise IndexError(f"batch {index} out of range [0, {self.steps})")
        return self.x, self.y


def training_data(
    variant: str, x_train: np.ndarray, y_train: np.ndarray, seed: int,
    cfg: dict[str, Any],
) -> Any:
    """The `--steps` training batches of one variant, for one `fit` epoch.

    On TensorFlow a repeated `tf.data` pipeline (what the recorded results
    used); on the other backends the same batches' structure from NumPy.
    """
    n, batch = len(y_train), cfg["batch_size"]
    if keras.backend.backend() != "tensorflow":
        if variant == "minibatch":
            return Minibatches(x_train, y_train, batch, cfg["steps"], seed)
        return FullBatches(x_train, y_train, cfg["steps"])
    import tensorflow as tf

    if variant == "minibatch":
        # Reshuffled every epoch; the last batch of an epoch may be short.
        return (
            tf.data.Dataset.from_tensor_slices((x_train, y_train))
            .shuffle(n, seed=seed, reshuffle_each_iteration=True)
            .batch(batch)
            .repeat()
        )
    # Every element is the whole training set: batch size n.
    return tf.data.Dataset.from_tensors((x_train, y_train)).repeat()


def _f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(y_true, y_pred, zero_division=0.0))


def run_one(
    loss_name: str,
    variant: str,
    data: tuple[np.ndarray, ...],
    seed: int,
    cfg: dict[str, Any],
) -> dict[str, float]:
    """Trains one model and returns its test (and train) F1 and ROC AUC."""
    from sklearn.metrics import roc_auc_score

    x_train, y_train, x_test, y_test = data
    batch = cfg["batch_size"]
    backdrop = None
    if variant == "backdrop_mask_prob":
        backdrop = {"mask_prob": cfg["mask_prob"]}
    elif variant == "backdrop_keep_count":
        backdrop = {"keep_count": batch}
    model = build_model(x_train.shape[1], cfg["hidden"], backdrop, seed)
    model.compile(
        optimizer=keras.optimizers.Adam(cfg["lr"]), loss=LOSSES[loss_name]
    )
    # One fit call of `steps` steps for every variant: a repeated
    # pipeline rather than `epochs=steps` on arrays, whose per-epoch
    # overhead would dominate these small full-batch steps.
    ds = training_data(variant, x_train, y_train, seed, cfg)
    start = time.perf_counter()
    model.fit(
        ds, steps_per_epoch=cfg["steps"], epochs=1, shuffle=False, verbose=0
    )
    seconds = time.perf_counter() - start
    steps = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
    # training=False: the inference path, where the mask is not drawn.
    z_test = keras.ops.convert_to_numpy(model(x_test, training=False)).ravel()
    z_train = keras.ops.convert_to_numpy(model(x_train, training=False)).ravel()
    keras.backend.clear_session()
    return {
        "test_f1": _f1(y_test, z_test > 0.0),
        "test_auc": float(roc_auc_score(y_test, z_test)),
        "train_f1": _f1(y_train, z_train > 0.0),
        "train_auc": float(roc_auc_score(y_train, z_train)),
        "steps": steps,
        "seconds": round(seconds, 2),
    }


def summarize(per_seed: dict[str, dict[str, float]]) -> dict[str, Any]:
    """Mean and (population) std over seeds of every metric."""
    out: dict[str, Any] = {"per_seed": per_seed}
    for key in ("test_f1", "test_auc", "train_f1", "train_auc"):
        values = np.array([r[key] for r in per_seed.values()])
        out[f"{key}_mean"] = float(values.mean())
        out[f"{key}_std"] = float(values.std())
    return out


def format_table(results: dict[str, dict[str, Any]], seeds: list[int]) -> str:
    """The results as a markdown table (one row per loss and variant)."""
    seed_cols = " | ".join(f"seed {s} F1 / AUC" for s in seeds)
    lines = [
        f"| loss | variant | test F1 | test ROC AUC | {seed_cols} |",
        "|---|---|---|---|" + "---|" * len(seeds),
    ]
    for loss_name, by_variant in results.items():
        for variant, r in by_variant.items():
            cells = " | ".join(
                f"{r['per_seed'][str(s)]['test_f1']:.3f} / "
                f"{r['per_seed'][str(s)]['test_auc']:.3f}"
                for s in seeds
            )
            lines.append(
                f"| {loss_name} | {variant} | "
                f"{r['test_f1_mean']:.3f} ± {r['test_f1_std']:.3f} | "
                f"{r['test_auc_mean']:.3f} ± {r['test_auc_std']:.3f} | "
                f"{cells} |"
            )
    return "\n".join(lines)


def plot(results: dict[str, dict[str, Any]], path: Path) -> None:
    """Bars (mean +- std) and dots (seeds) of test F1 and ROC AUC."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=False)
    colors = ["#4c72b0", "#dd8452", "#55a868", "#c44e52"]
    for ax, metric, title in zip(
        axes, METRICS, ("test F1 (threshold 0.5)", "test ROC AUC")
    ):
        for li, (loss_name, by_variant) in enumerate(results.items()):
            for vi, (variant, r) in enumerate(by_variant.items()):
                x = li * (len(by_variant) + 1) + vi
                values = [v[metric] for v in r["per_seed"].values()]
                ax.bar(
                    x, r[f"{metric}_mean"], yerr=r[f"{metric}_std"],
                    color=colors[vi % len(colors)], capsize=3,
                    label=variant if li == 0 else None,
                )
                ax.plot([x] * len(values), values, "k.", ms=4)
        centers = [
            li * (len(VARIANTS) + 1) + (len(VARIANTS) - 1) / 2
            for li in range(len(results))
        ]
        ax.set_xticks(centers, list(results))
        if metric == "test_auc":
            # AUCs sit close to 1: zoom in, or the differences vanish.
            lowest = min(
                v[metric]
                for by_variant in results.values()
                for r in by_variant.values()
                for v in r["per_seed"].values()
            )
            ax.set_ylim(max(0.0, math.floor((lowest - 0.02) * 20) / 20), 1.005)
        else:
            ax.set_ylim(0, 1.05)
        ax.set_title(title)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels),
               fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _number(name: str, text: str, cast: type, ok, expected: str):
    """`cast(text)`, or a ValueError naming the argument and the value.

    Values are parsed here rather than by argparse `type=`, which would
    exit with a usage message instead of raising.
    """
    try:
        value = cast(text)
    except ValueError:
        value = None
    if value is None or not ok(value):
        raise ValueError(
            f"Invalid value for argument `{name}`: expected {expected}. "
            f"Received: {name}={text!r}"
        )
    return value


# name: (type, check, what is expected), for the numeric options.
_NUMERIC_OPTIONS = {
    "n_train": (int, lambda v: v >= 1, "a positive integer"),
    "batch_size": (int, lambda v: v >= 1, "a positive integer"),
    "steps": (int, lambda v: v >= 1, "a positive integer"),
    "positive_class": (int, lambda v: 0 <= v <= 9, "a digit 0 to 9"),
    "positive_fraction": (
        float, lambda v: 0.0 < v < 0.5, "a float in (0, 0.5)"
    ),
    "lr": (float, lambda v: 0.0 < v < math.inf, "a positive float"),
    "mask_prob": (float, lambda v: 0.0 <= v <= 1.0, "a float in [0, 1]"),
}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parses and checks the command line; bad values raise ValueError."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--fast", action="store_true",
        help="toy sizes, for an end-to-end smoke run (tens of seconds)",
    )
    parser.add_argument("--seeds", nargs="+", default=["0", "1", "2"],
                        help="default 0 1 2")
    parser.add_argument("--out-dir", default="results/nondecomposable",
                        help="default results/nondecomposable")
    parser.add_argument("--losses", nargs="+", default=list(LOSSES),
                        help=f"default {' '.join(LOSSES)}")
    parser.add_argument("--positive-class",
                        help=f"digit, default {DEFAULTS['positive_class']}")
    parser.add_argument("--positive-fraction",
                        help=f"default {DEFAULTS['positive_fraction']}")
    parser.add_argument("--n-train", help=f"default {DEFAULTS['n_train']}")
    parser.add_argument("--batch-size",
                        help=f"default {DEFAULTS['batch_size']}")
    parser.add_argument("--steps",
                        help=f"gradient steps, default {DEFAULTS['steps']}")
    parser.add_argument("--lr",
                        help=f"Adam learning rate, default {DEFAULTS['lr']}")
    parser.add_argument("--mask-prob",
                        help="backdrop_mask_prob's mask_prob, default "
                        "1 - batch_size / n_train")
    args = parser.parse_args(argv)

    for name, (cast, ok, expected) in _NUMERIC_OPTIONS.items():
        text = getattr(args, name)
        if text is not None:
            setattr(args, name, _number(name, text, cast, ok, expected))
    args.seeds = [
        _number("seeds", text, int, lambda v: v >= 0, "integers >= 0")
        for text in args.seeds
    ]
    if len(set(args.seeds)) != len(args.seeds):
        raise ValueError(
            "Invalid value for argument `seeds`: seeds must be distinct. "
            f"Received: seeds={args.seeds!r}"
        )
    bad_losses = [loss for loss in args.losses if loss not in LOSSES]
    if bad_losses:
        raise ValueError(
            f"Invalid value for argument `losses`: expected names from "
            f"{list(LOSSES)}. Received: losses={args.losses!r}"
        )
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Runs the comparison; writes results.json and results.png.

    Returns the dictionary written to `results.json`.
    """
    args = parse_args(argv)
    cfg = dict(DEFAULTS)
    if args.fast:
        cfg.update(FAST)
    for key in ("positive_class", "positive_fraction", "n_train",
                "batch_size", "steps", "lr"):
        if getattr(args, key) is not None:
            cfg[key] = getattr(args, key)
    if cfg["batch_size"] >= cfg["n_train"]:
        raise ValueError(
            "Invalid value for argument `batch_size`: it must be smaller "
            f"than n_train={cfg['n_train']} for minibatches to differ from "
            f"the full batch. Received: batch_size={cfg['batch_size']}"
        )
    cfg["mask_prob"] = (
        args.mask_prob
        if args.mask_prob is not None
        else 1.0 - cfg["batch_size"] / cfg["n_train"]
    )
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    print(
        f"digit {cfg['positive_class']} vs rest, "
        f"{cfg['positive_fraction']:.0%} positives, "
        f"{cfg['n_train']} training samples, batch "
        f"{cfg['batch_size']}, {cfg['steps']} gradient steps, Adam "
        f"{cfg['lr']}, MLP {cfg['hidden']}, backdrop mask_prob "
        f"{cfg['mask_prob']:.4g} or keep_count {cfg['batch_size']}, "
        f"seeds {args.seeds}, Keras backend {keras.backend.backend()}",
        flush=True,
    )
    per_seed: dict[str, dict[str, dict[str, dict[str, float]]]] = {
        loss: {v: {} for v in VARIANTS} for loss in args.losses
    }
    data_info = {}
    for seed in args.seeds:
        data = load_task(
            cfg["positive_class"], cfg["positive_fraction"], cfg["n_train"],
            seed,
        )
        y_train, y_test = data[1], data[3]
        # How often a minibatch of this size holds no positive at all.
        p_empty = (1 - y_train.mean()) ** cfg["batch_size"]
        data_info[str(seed)] = {
            "train_positives": int(y_train.sum()),
            "train_size": len(y_train),
            "test_positives": int(y_test.sum()),
            "test_size": len(y_test),
            "p_minibatch_without_positive": round(float(p_empty), 3),
        }
        print(
            f"seed {seed}: {int(y_train.sum())}/{len(y_train)} training "
            f"positives, {int(y_test.sum())}/{len(y_test)} test positives; "
            f"P(minibatch without positive) ~ {p_empty:.2f}",
            flush=True,
        )
        for loss_name in args.losses:
            for variant in VARIANTS:
                r = run_one(loss_name, variant, data, seed, cfg)
                per_seed[loss_name][variant][str(seed)] = r
                print(
                    f"  seed {seed} {loss_name:>12} {variant:<19} test F1 "
                    f"{r['test_f1']:.3f} AUC {r['test_auc']:.3f} | train F1 "
                    f"{r['train_f1']:.3f} | {r['steps']} steps "
                    f"{r['seconds']:.1f} s",
                    flush=True,
                )

    results = {
        loss: {v: summarize(per_seed[loss][v]) for v in VARIANTS}
        for loss in args.losses
    }
    cfg_out = {**cfg, "hidden": list(cfg["hidden"]),
               "keep_count": cfg["batch_size"], "threshold": 0.5,
               "seeds": args.seeds, "fast": args.fast,
               "held_equal": "data split, initial weights, Adam learning "
               "rate, number of gradient steps"}
    backend = keras.backend.backend()
    report = {"backend": backend, "config": cfg_out, "data": data_info,
              "results": results}
    (out_dir / "results.json").write_text(json.dumps(report, indent=2))
    plot(results, out_dir / "results.png")
    print()
    print(f"Keras backend {backend}, {cfg['steps']} gradient steps, "
          f"seeds {args.seeds}:")
    print(format_table(results, args.seeds))
    print(f"\nwrote {out_dir / 'results.json'} and {out_dir / 'results.png'}")
    return report


if __name__ == "__main__":
    main()
