"""The digits task for batch-level losses: data, model, training, results.

A loss such as the F-measure or ROC AUC is defined on a whole set of
predictions, not as a sum of per-sample terms, so a minibatch estimate of
it is biased; on an imbalanced task a minibatch often holds no positive at
all, and its F1 or AUC is then undefined (see `keras_backdrop.losses` for
how those batches are handled). Backdrop (Golkar and Cranmer,
arXiv:1806.01337) keeps the loss on the full batch and makes the gradient
stochastic instead: a `BackdropMasking(mask_axes=(0,))` layer on the
per-sample logits passes the gradient back through a random subset of the
samples only.

Task: scikit-learn's bundled handwritten digits (no download), one digit
against the rest, with the positives subsampled so that they are a few
percent of the data (the whole pool is subsampled, then split stratified,
so the test set has the training prevalence). A small MLP ends in
`Dense(1)` logits; the losses are `keras_backdrop.losses.SoftF1` and
`PairwiseAUC` with `from_logits=True`. Four ways to train it
(`VARIANTS`), for each loss:

* `full_batch`: `model.fit` with `batch_size` = the whole training set;
* `minibatch`: the same loss on shuffled minibatches of `batch_size`;
* `backdrop_mask_prob`: full batch, and `BackdropMasking(mask_prob=p)` on
  the logits; by default `p = 1 - batch_size / n_train`, so that on
  average as many samples carry gradient as in a minibatch;
* `backdrop_keep_count`: full batch, `BackdropMasking(keep_count=
  batch_size)`: exactly a minibatch's worth of samples carries gradient.

Held equal: the data and split, the initial weights (same seed), the
optimizer (Adam, `lr`) and the number of gradient steps (`steps`; the
minibatch run does `steps` updates, i.e. fewer epochs). Every variant is
one `model.fit` call over a repeated pipeline whose elements are the whole
training set (full batch, backdrop) or shuffled minibatches: `tf.data` on
the TensorFlow backend, a NumPy `keras.utils.PyDataset` on JAX and
PyTorch. The two shuffle differently, so minibatch numbers per seed differ
between TensorFlow and the other backends.

Reported by `run_comparison`: test F1 at probability threshold 0.5 (logit
0) and test ROC AUC (`sklearn.metrics`), per seed and mean +- std
(population) over seeds, with a 95 % t interval of the mean, as a table
on stdout, `results.json` and `results.png`. The AUC surrogate only ranks:
it leaves the logits' offset free, so for it the F1 at a fixed threshold
is a by-product, and ROC AUC is the metric it optimises.

`train_distributed` trains the same task full batch under a
`tf.distribute` strategy with `keras_backdrop.distributed` (TensorFlow
only). `examples/nondecomposable.py` and `examples/distributed_losses.py`
are the command lines.

Keras is imported here; TensorFlow only by the functions that need it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from keras_backdrop import BackdropMasking
from keras_backdrop.experiments import options
from keras_backdrop.experiments import results as results_lib
from keras_backdrop.losses import PairwiseAUC, SoftF1

#: Loss name to its class; `make_loss` builds one on logits.
LOSSES: dict[str, type[keras.losses.Loss]] = {
    "soft_f1": SoftF1,
    "pairwise_auc": PairwiseAUC,
}
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
#: The whole pipeline on a toy budget, for tests and smoke runs.
FAST: dict[str, Any] = {"n_train": 128, "batch_size": 16, "steps": 10, "hidden": (16,)}
#: The settings a command line may set: `argparse` type and help.
SETTING_OPTIONS: dict[str, tuple[Callable[[str], Any], str]] = {
    "positive_class": (options.digit, "digit"),
    "positive_fraction": (options.minority_fraction, "in (0, 0.5)"),
    "n_train": (options.positive_int, ""),
    "batch_size": (options.positive_int, ""),
    "steps": (options.positive_int, "gradient steps"),
    "lr": (options.positive_float, "Adam learning rate"),
    "mask_prob": (
        options.probability,
        "backdrop_mask_prob's mask_prob, default 1 - batch_size / n_train",
    ),
}


def make_loss(name: str) -> keras.losses.Loss:
    """The loss `name` (a key of `LOSSES`) on logits.

    Args:
        name: `"soft_f1"` or `"pairwise_auc"` (the logistic surrogate).

    Returns:
        A `keras.losses.Loss` with `from_logits=True`.

    Raises:
        ValueError: on an unknown name.
    """
    if name not in LOSSES:
        raise ValueError(
            f"Invalid value for argument `name`: expected one of {list(LOSSES)}. "
            f"Received: name={name!r}"
        )
    return LOSSES[name](from_logits=True)


def _pool_counts(positive_class: int, positive_fraction: float) -> tuple[int, int]:
    """`(positives kept, negatives)` of the subsampled pool; no randomness."""
    from sklearn.datasets import load_digits

    target = load_digits().target
    n_all_pos = int(np.sum(target == positive_class))
    n_neg = len(target) - n_all_pos
    n_pos = round(positive_fraction / (1.0 - positive_fraction) * n_neg)
    return min(max(n_pos, 4), n_all_pos), n_neg


def pool_size(positive_class: int, positive_fraction: float) -> int:
    """How many samples the task's pool holds (training plus test).

    Args:
        positive_class: The digit against the rest.
        positive_fraction: The positives' share after subsampling.

    Returns:
        The pool's size: `n_train` must be smaller.
    """
    return sum(_pool_counts(positive_class, positive_fraction))


def make_config(fast: bool = False, **overrides: Any) -> dict[str, Any]:
    """The experiment's settings: `DEFAULTS`, then `FAST`, then overrides.

    Args:
        fast: Start from the toy budget `FAST`.
        **overrides: Keys of `DEFAULTS`, or `mask_prob`; None values are
            ignored. `mask_prob` defaults to `1 - batch_size / n_train`.

    Returns:
        The settings, with `mask_prob`.

    Raises:
        ValueError: on an unknown key, or if `batch_size` is not smaller
            than `n_train`.
    """
    cfg = options.merge_settings(DEFAULTS, FAST, fast, overrides, extra=("mask_prob",))
    if cfg["batch_size"] >= cfg["n_train"]:
        raise ValueError(
            "Invalid value for argument `batch_size`: it must be smaller "
            f"than n_train={cfg['n_train']} for minibatches to differ from "
            f"the full batch. Received: batch_size={cfg['batch_size']}"
        )
    if cfg.get("mask_prob") is None:
        cfg["mask_prob"] = 1.0 - cfg["batch_size"] / cfg["n_train"]
    return cfg


def check_settings(fast: bool, overrides: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Checks settings from a command line, in the command line's words.

    `batch_size` must be smaller than `n_train`, and `n_train` must leave
    a test set in the pool of `pool_size`.

    Args:
        fast: Start from `FAST`.
        overrides: Settings given; None for those left out.

    Returns:
        A `(setting, message)` pair per problem, the message ending with
        the value received; empty when the settings can run.
    """
    cfg = options.merge_settings(DEFAULTS, FAST, fast, overrides, extra=("mask_prob",))
    n_train, batch_size = cfg["n_train"], cfg["batch_size"]
    problems = []
    if batch_size >= n_train:
        problems.append(
            (
                "batch_size",
                f"must be smaller than --n-train ({n_train}) for minibatches "
                f"to differ from the full batch. Received: {batch_size}",
            )
        )
    pool = pool_size(cfg["positive_class"], cfg["positive_fraction"])
    if n_train >= pool:
        problems.append(
            (
                "n_train",
                f"must leave a test set, at most {pool - 1} (the pool holds "
                f"{pool} samples). Received: {n_train}",
            )
        )
    return problems


def load_task(
    positive_class: int, positive_fraction: float, n_train: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Digits, one class against the rest, positives subsampled.

    The positives are subsampled from the whole pool to make
    `positive_fraction` of it (at least 4), then the pool is split
    stratified: `n_train` samples for training, the rest for testing.

    Args:
        positive_class: The digit against the rest, 0 to 9.
        positive_fraction: The positives' share after subsampling.
        n_train: Training samples, fewer than `pool_size(...)`.
        seed: The subsampling and the split.

    Returns:
        `(x_train, y_train, x_test, y_test)`: float32 features in [0, 1]
        and 0/1 float32 labels.

    Raises:
        ValueError: if `n_train` does not leave a test set.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = (digits.target == positive_class).astype(np.float32)
    rng = np.random.default_rng(seed)
    pos = np.flatnonzero(y == 1)
    neg = np.flatnonzero(y == 0)
    n_pos, _ = _pool_counts(positive_class, positive_fraction)
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

    Args:
        n_features: Input features.
        hidden: Units of each hidden ReLU layer.
        backdrop: `BackdropMasking` arguments (`mask_prob` or
            `keep_count`) for a mask on the batch axis, or None.
        seed: Initial weights (the global Keras seed) and the mask's seed.

    Returns:
        A functional `keras.Model` returning `(batch, 1)` logits.
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

    Args:
        x: Inputs.
        y: Labels.
        batch_size: Samples per batch.
        steps: Batches in all (`len`).
        seed: The shuffles' seed.
    """

    def __init__(
        self, x: np.ndarray, y: np.ndarray, batch_size: int, steps: int, seed: int
    ) -> None:
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
        picked = order[step * self.batch_size : (step + 1) * self.batch_size]
        return self.x[picked], self.y[picked]


class FullBatches(keras.utils.PyDataset):
    """The whole training set as every one of ``steps`` batches.

    Args:
        x: Inputs.
        y: Labels.
        steps: Batches in all (`len`).
    """

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
    variant: str,
    x_train: np.ndarray,
    y_train: np.ndarray,
    seed: int,
    cfg: Mapping[str, Any],
) -> Any:
    """The `steps` training batches of one variant, for one `fit` epoch.

    On TensorFlow a repeated `tf.data` pipeline (what the recorded results
    used); on the other backends the same batches' structure from NumPy.

    Args:
        variant: One of `VARIANTS`.
        x_train: Training inputs.
        y_train: Training labels.
        seed: The shuffle's seed.
        cfg: Settings from `make_config`.

    Returns:
        A `tf.data.Dataset` or a `keras.utils.PyDataset`.
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
    cfg: Mapping[str, Any],
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> dict[str, float]:
    """Trains one model and returns its test (and train) F1 and ROC AUC.

    The metrics are those of the model as `fit` leaves it; a callback that
    restores other weights at the end of training (validation-based model
    selection) therefore chooses the model that is evaluated.

    Args:
        loss_name: A key of `LOSSES`.
        variant: One of `VARIANTS`.
        data: `(x_train, y_train, x_test, y_test)` from `load_task`.
        seed: Initial weights, shuffles and masks.
        cfg: Settings from `make_config` (or any mapping with
            `batch_size`, `steps`, `lr`, `hidden` and, for
            `backdrop_mask_prob`, `mask_prob`).
        callbacks: Passed to `fit`.

    Returns:
        `test_f1`, `test_auc`, `train_f1`, `train_auc`, the optimizer's
        `steps` and the training `seconds`.
    """
    from sklearn.metrics import roc_auc_score

    x_train, y_train, x_test, y_test = data
    batch = cfg["batch_size"]
    backdrop = None
    if variant == "backdrop_mask_prob":
        backdrop = {"mask_prob": cfg["mask_prob"]}
    elif variant == "backdrop_keep_count":
        backdrop = {"keep_count": batch}
    model = build_model(x_train.shape[1], cfg["hidden"], backdrop, seed)
    model.compile(optimizer=keras.optimizers.Adam(cfg["lr"]), loss=make_loss(loss_name))
    # One fit call of `steps` steps for every variant: a repeated
    # pipeline rather than `epochs=steps` on arrays, whose per-epoch
    # overhead would dominate these small full-batch steps.
    ds = training_data(variant, x_train, y_train, seed, cfg)
    start = time.perf_counter()
    model.fit(
        ds,
        steps_per_epoch=cfg["steps"],
        epochs=1,
        shuffle=False,
        verbose=0,
        callbacks=list(callbacks),
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


def summarize(per_seed: Mapping[str, Mapping[str, float]]) -> dict[str, Any]:
    """Mean, population std and 95 % t interval over seeds of every metric.

    Args:
        per_seed: Seed (as text) to the metrics of `run_one`.

    Returns:
        `per_seed`, and for each of `test_f1`, `test_auc`, `train_f1`,
        `train_auc`: `<key>_mean`, `<key>_std` (population, as in the
        README's tables) and `<key>_ci95` (`[low, high]`, the t interval of
        `keras_backdrop.experiments.results.summarize`; None for one seed).
    """
    out: dict[str, Any] = {"per_seed": per_seed}
    for key in ("test_f1", "test_auc", "train_f1", "train_auc"):
        values = np.array([r[key] for r in per_seed.values()])
        stats = results_lib.summarize(values)
        out[f"{key}_mean"] = stats["mean"]
        out[f"{key}_std"] = float(values.std())
        out[f"{key}_ci95"] = (
            None
            if math.isnan(stats["ci95_low"])
            else [stats["ci95_low"], stats["ci95_high"]]
        )
    return out


def format_table(results: Mapping[str, Mapping[str, Any]], seeds: Sequence[int]) -> str:
    """The results as a Markdown table (one row per loss and variant).

    Args:
        results: Loss to variant to the output of `summarize`.
        seeds: The seeds, in column order.

    Returns:
        The table: mean +- std of test F1 and ROC AUC, then each seed's.
    """
    header = ["loss", "variant", "test F1", "test ROC AUC"]
    header += [f"seed {s} F1 / AUC" for s in seeds]
    return loss_variant_table(
        header,
        results,
        lambda r: [
            f"{r['test_f1_mean']:.3f} ± {r['test_f1_std']:.3f}",
            f"{r['test_auc_mean']:.3f} ± {r['test_auc_std']:.3f}",
            *(
                f"{r['per_seed'][str(s)]['test_f1']:.3f} / "
                f"{r['per_seed'][str(s)]['test_auc']:.3f}"
                for s in seeds
            ),
        ],
    )


def loss_variant_table(
    header: Sequence[str],
    by_loss: Mapping[str, Mapping[str, Any]],
    cells: Callable[[Any], Sequence[Any]],
) -> str:
    """A Markdown table with one row per loss and variant.

    >>> print(loss_variant_table(["loss", "variant", "n"],
    ...                          {"soft_f1": {"full_batch": 3}}, lambda r: [r]))
    | loss | variant | n |
    |---|---|---|
    | soft_f1 | full_batch | 3 |

    Args:
        header: The column names, starting with the loss and the variant.
        by_loss: Loss name to variant name to that run's entry.
        cells: An entry to the row's cells after the loss and variant.

    Returns:
        The table (`results.markdown_table`).
    """
    rows = [
        [loss_name, variant, *cells(entry)]
        for loss_name, by_variant in by_loss.items()
        for variant, entry in by_variant.items()
    ]
    return results_lib.markdown_table(header, rows)


def plot(results: Mapping[str, Mapping[str, Any]], path: str | Path) -> None:
    """Bars (mean +- std) and dots (seeds) of test F1 and ROC AUC.

    Args:
        results: Loss to variant to the output of `summarize`.
        path: The PNG file to write.
    """
    fig, axes = results_lib.pyplot().subplots(1, 2, figsize=(11, 4), sharey=False)
    colors = ["#4c72b0", "#dd8452", "#55a868", "#c44e52"]
    for ax, metric, title in zip(
        axes, METRICS, ("test F1 (threshold 0.5)", "test ROC AUC"), strict=True
    ):
        for li, by_variant in enumerate(results.values()):
            for vi, (variant, r) in enumerate(by_variant.items()):
                x = li * (len(by_variant) + 1) + vi
                values = [v[metric] for v in r["per_seed"].values()]
                ax.bar(
                    x,
                    r[f"{metric}_mean"],
                    yerr=r[f"{metric}_std"],
                    color=colors[vi % len(colors)],
                    capsize=3,
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
    fig.legend(
        handles, labels, loc="lower center", ncol=len(labels), fontsize=9, frameon=False
    )
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    results_lib.save_figure(fig, path, dpi=100)


def run_comparison(
    cfg: Mapping[str, Any],
    seeds: Sequence[int],
    losses: Sequence[str],
    out_dir: str | Path,
    fast: bool = False,
) -> dict[str, Any]:
    """Every loss and variant for every seed; prints, writes and returns it.

    Progress and the final table go to stdout; `results.json` and
    `results.png` to `out_dir`.

    Args:
        cfg: Settings from `make_config`.
        seeds: Distinct seeds >= 0 (data split, weights, shuffles, masks).
        losses: Keys of `LOSSES`.
        out_dir: The folder to write to (created if needed).
        fast: Recorded in the report (whether `cfg` is the toy budget).

    Returns:
        The report written to `results.json`: `backend`, `config`, `data`
        (per seed) and `results` (loss to variant to `summarize`).

    Raises:
        ValueError: on an unknown loss or repeated seeds.
    """
    bad = [name for name in losses if name not in LOSSES]
    if bad or not losses:
        raise ValueError(
            f"Invalid value for argument `losses`: expected names from "
            f"{list(LOSSES)}. Received: losses={list(losses)!r}"
        )
    if len(set(seeds)) != len(seeds):
        raise ValueError(
            "Invalid value for argument `seeds`: seeds must be distinct. "
            f"Received: seeds={list(seeds)!r}"
        )
    seeds = list(seeds)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    print(
        f"digit {cfg['positive_class']} vs rest, "
        f"{cfg['positive_fraction']:.0%} positives, "
        f"{cfg['n_train']} training samples, batch "
        f"{cfg['batch_size']}, {cfg['steps']} gradient steps, Adam "
        f"{cfg['lr']}, MLP {cfg['hidden']}, backdrop mask_prob "
        f"{cfg['mask_prob']:.4g} or keep_count {cfg['batch_size']}, "
        f"seeds {seeds}, Keras backend {keras.backend.backend()}",
        flush=True,
    )
    per_seed: dict[str, dict[str, dict[str, dict[str, float]]]] = {
        loss: {v: {} for v in VARIANTS} for loss in losses
    }
    data_info = {}
    for seed in seeds:
        data = load_task(
            cfg["positive_class"], cfg["positive_fraction"], cfg["n_train"], seed
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
        for loss_name in losses:
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
        loss: {v: summarize(per_seed[loss][v]) for v in VARIANTS} for loss in losses
    }
    cfg_out = {
        **cfg,
        "hidden": list(cfg["hidden"]),
        "keep_count": cfg["batch_size"],
        "threshold": 0.5,
        "seeds": seeds,
        "fast": fast,
        "held_equal": "data split, initial weights, Adam learning "
        "rate, number of gradient steps",
    }
    backend = keras.backend.backend()
    report = {
        "backend": backend,
        "config": cfg_out,
        "data": data_info,
        "results": results,
    }
    results_lib.write_json(report, out_dir / "results.json")
    plot(results, out_dir / "results.png")
    print()
    print(f"Keras backend {backend}, {cfg['steps']} gradient steps, seeds {seeds}:")
    print(format_table(results, seeds))
    print(f"\nwrote {out_dir / 'results.json'} and {out_dir / 'results.png'}")
    return report


def train_distributed(
    strategy: Any,
    loss_name: str,
    mask_args: Mapping[str, Any] | None,
    steps: int,
    seed: int,
    lr: float,
) -> dict[str, Any]:
    """Trains the task full batch under a `tf.distribute` strategy.

    The default task (`DEFAULTS`), the MLP without a mask layer, Adam, and
    `keras_backdrop.distributed.make_train_step`: the loss is computed on
    the global batch, and backdrop (design B) masks the gathered logits
    with a `GlobalBatchMask` seeded with `seed`. TensorFlow only.

    Args:
        strategy: A `tf.distribute.Strategy` (TensorFlow's default one for
            one device).
        loss_name: A key of `LOSSES`.
        mask_args: `{"mask_prob": p}` or `{"keep_count": k}` for backdrop;
            None trains plain full batch.
        steps: Full-batch gradient steps.
        seed: Data split, initial weights and masks.
        lr: Adam's learning rate.

    Returns:
        `replicas`, `final_train_loss`, `test_f1` (logit 0), `test_auc`
        and `seconds`.
    """
    from sklearn.metrics import f1_score, roc_auc_score

    from keras_backdrop.distributed import (
        GlobalBatchMask,
        distribute_full_batch,
        make_train_step,
    )

    x_train, y_train, x_test, y_test = load_task(
        DEFAULTS["positive_class"],
        DEFAULTS["positive_fraction"],
        DEFAULTS["n_train"],
        seed,
    )
    with strategy.scope():
        # No BackdropMasking in the model: the mask goes on the gathered
        # logits (design B), so that it covers the global batch.
        model = build_model(x_train.shape[1], DEFAULTS["hidden"], None, seed)
        optimizer = keras.optimizers.Adam(lr)
        optimizer.build(model.trainable_variables)
        mask = None if mask_args is None else GlobalBatchMask(seed=seed, **mask_args)
    step = make_train_step(strategy, model, optimizer, make_loss(loss_name), mask)
    x, y = distribute_full_batch(strategy, x_train, y_train)
    start = time.perf_counter()
    losses = [float(step(x, y)) for _ in range(steps)]
    seconds = time.perf_counter() - start
    z_test = np.asarray(model(x_test, training=False)).ravel()
    return {
        "replicas": strategy.num_replicas_in_sync,
        "final_train_loss": losses[-1],
        "test_f1": float(f1_score(y_test, z_test > 0, zero_division=0.0)),
        "test_auc": float(roc_auc_score(y_test, z_test)),
        "seconds": round(seconds, 2),
    }
