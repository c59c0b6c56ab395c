"""A hard, imbalanced task for batch-level losses, and the study on it.

The digits task of `keras_backdrop.experiments.nondecomposable` is too
easy to separate full-batch training, minibatches and backdrop (every
method reaches ROC AUC 0.96 to 0.98). This module builds the case where
the argument for backdrop on non-decomposable losses (Golkar and Cranmer,
arXiv:1806.01337) should apply:

* the loss is a batch-level one (`SoftF1` or `PairwiseAUC`), and the
  positives are so rare (2 % by default) that most minibatches of 32 hold
  no positive or one: the minibatch loss is a poor estimate of the
  full-batch loss (`P(no positive)` and `P(at most one)` are recorded);
* the network (a 256-256 ReLU MLP by default) is large for the training
  set (1000 samples, 20 positives, 100 features of which 10 informative),
  so deterministic full-batch training memorises it within a few hundred
  steps, and it is trained long (2000 steps).

The data are synthetic, from `sklearn.datasets.make_classification`
(offline, and every property that matters here, prevalence, sample
counts, dimension, difficulty, is a parameter). One task is drawn
(`task_seed`); each study seed splits it anew, stratified, into training,
validation and test samples, and seeds the initial weights, the shuffles
and the masks, so every variant of a seed sees the same split and starts
from the same weights.

Variants (`variant_specs`): `full_batch`; `minibatch_<b>` (the same loss
on shuffled minibatches of `b`); `backdrop_keep_<k>` (the full batch
forward and the loss on it, with `BackdropMasking(mask_axes=(0,),
keep_count=k)` on the logits, so that exactly `k` samples carry gradient
each step). All run the same number of Adam steps through
`nondecomposable.run_one`. Every `eval_every` steps the validation split
is scored (`ValidationSelection`); the weights with the best validation
metric (F1 at logit 0 for `soft_f1`, ROC AUC for `pairwise_auc`; the
earliest on ties) are restored at the end and the test split is scored
once, there.

`run_study` writes its report after every run and resumes from it, so an
interrupted study loses at most one run.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from keras_backdrop.experiments import nondecomposable as nd
from keras_backdrop.experiments import options
from keras_backdrop.experiments import results as results_lib
from keras_backdrop.experiments.bootstrap import paired_bootstrap_ci

#: The validation metric that selects the step, per loss.
SELECTION_METRIC = {"soft_f1": "f1", "pairwise_auc": "auc"}
#: Test metrics reported.
METRICS = nd.METRICS

DEFAULTS: dict[str, Any] = {
    "n_train": 1000,
    "n_val": 1000,
    "n_test": 4000,
    "positive_fraction": 0.02,
    "n_features": 100,
    "n_informative": 10,
    "n_redundant": 10,
    "class_sep": 1.0,
    "task_seed": 0,
    "hidden": (256, 256),
    "lr": 1e-3,
    "steps": 2000,
    "eval_every": 25,
    "minibatch_sizes": (32, 128),
    "keep_counts": (8, 32, 128),
}
#: The whole study on a toy budget, for tests and smoke runs.
FAST: dict[str, Any] = {
    "n_train": 200,
    "n_val": 200,
    "n_test": 400,
    "positive_fraction": 0.05,
    "n_features": 20,
    "n_informative": 5,
    "n_redundant": 2,
    "hidden": (16,),
    "steps": 20,
    "eval_every": 5,
    "minibatch_sizes": (16,),
    "keep_counts": (8,),
}
#: The settings a command line may set: `argparse` type and help.
SETTING_OPTIONS: dict[str, tuple[Callable[[str], Any], str]] = {
    **{k: nd.SETTING_OPTIONS[k] for k in ("n_train", "positive_fraction", "steps")},
    "eval_every": (options.positive_int, "validation every N steps"),
    "lr": nd.SETTING_OPTIONS["lr"],
    "minibatch_sizes": (options.size_list, ""),
    "keep_counts": (options.size_list, "backdrop keep counts"),
}


def _fail(name: str, expected: str, value: Any) -> ValueError:
    return ValueError(
        f"Invalid value for argument `{name}`: expected {expected}. "
        f"Received: {name}={value!r}"
    )


def make_config(fast: bool = False, **overrides: Any) -> dict[str, Any]:
    """The study's settings: `DEFAULTS`, then `FAST`, then overrides.

    Args:
        fast: Start from the toy budget `FAST`.
        **overrides: Keys of `DEFAULTS`; None values are ignored.

    Returns:
        The settings.

    Raises:
        ValueError: on an unknown key, on sizes that are not positive
            integers, on a `positive_fraction` outside (0, 0.5), if a
            minibatch size or keep count is not smaller than `n_train`,
            or if a split would hold fewer than 2 positives.
    """
    cfg = options.merge_settings(DEFAULTS, FAST, fast, overrides)
    for key in ("n_train", "n_val", "n_test", "steps", "eval_every", "n_features"):
        value = cfg[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise _fail(key, "an integer >= 1", value)
    if not 0.0 < cfg["positive_fraction"] < 0.5:
        raise _fail(
            "positive_fraction", "a number in (0, 0.5)", cfg["positive_fraction"]
        )
    for key in ("minibatch_sizes", "keep_counts"):
        sizes = tuple(cfg[key])
        if any(not 1 <= s < cfg["n_train"] for s in sizes):
            raise _fail(
                key, f"sizes from 1 to n_train - 1 = {cfg['n_train'] - 1}", sizes
            )
        cfg[key] = sizes
    cfg["hidden"] = tuple(cfg["hidden"])
    for key in ("n_train", "n_val", "n_test"):
        if round(cfg[key] * cfg["positive_fraction"]) < 2:
            raise _fail(
                key,
                f"a split with >= 2 positives at {cfg['positive_fraction']}",
                cfg[key],
            )
    return cfg


def check_settings(fast: bool, overrides: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The problems of a command line's settings, found before any work.

    Every minibatch size and keep count must be smaller than `n_train`,
    and every split must hold at least 2 positives; a split short of
    positives is blamed on `positive_fraction` if it was given, else on
    `n_train` (the other splits' sizes are not options).

    Args:
        fast: Whether `FAST` applies.
        overrides: The given settings, None where not given.

    Returns:
        `(setting, message)` per problem (the message names the value
        received), in the order found; empty if none.
    """
    cfg = options.merge_settings(DEFAULTS, FAST, fast, overrides)
    n_train, fraction = cfg["n_train"], cfg["positive_fraction"]
    problems = []
    for key in ("minibatch_sizes", "keep_counts"):
        if any(size >= n_train for size in cfg[key]):
            problems.append(
                (
                    key,
                    f"every size must be smaller than --n-train ({n_train}). "
                    f"Received: {','.join(map(str, cfg[key]))}",
                )
            )
    fraction_given = overrides.get("positive_fraction") is not None
    blamed = "positive_fraction" if fraction_given else "n_train"
    for key in ("n_train", "n_val", "n_test"):
        if round(cfg[key] * fraction) < 2:
            problems.append(
                (
                    blamed,
                    f"the {key[2:]} split ({cfg[key]} samples) would hold "
                    f"fewer than 2 positives at {fraction}. Received: "
                    f"{cfg[blamed]}",
                )
            )
    return problems


def variant_specs(cfg: Mapping[str, Any]) -> dict[str, tuple[str, int]]:
    """The study's variants: name to `(nondecomposable variant, size)`.

    `size` is the minibatch size of a `minibatch` variant, the keep count
    of a `backdrop_keep_count` one, and `n_train` for `full_batch`.

    >>> variant_specs({"n_train": 100, "minibatch_sizes": (32,),
    ...                "keep_counts": (8,)})  # doctest: +NORMALIZE_WHITESPACE
    {'full_batch': ('full_batch', 100), 'minibatch_32': ('minibatch', 32),
     'backdrop_keep_8': ('backdrop_keep_count', 8)}

    Args:
        cfg: Settings from `make_config`.

    Returns:
        An ordered dict: `full_batch`, then `minibatch_<b>` for each size,
        then `backdrop_keep_<k>` for each keep count.
    """
    specs = {"full_batch": ("full_batch", cfg["n_train"])}
    for b in cfg["minibatch_sizes"]:
        specs[f"minibatch_{b}"] = ("minibatch", b)
    for k in cfg["keep_counts"]:
        specs[f"backdrop_keep_{k}"] = ("backdrop_keep_count", k)
    return specs


def load_task(
    cfg: Mapping[str, Any], seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The task's samples, split stratified for one seed.

    One pool of `n_train + n_val + n_test` samples is drawn by
    `make_classification` with `task_seed` (the same for every seed), with
    exactly `round(positive_fraction * n)` positives per split and no
    label noise; `seed` chooses the split. The features are standardised
    with the training split's mean and standard deviation.

    Args:
        cfg: Settings from `make_config`.
        seed: The split.

    Returns:
        `(x_train, y_train, x_val, y_val, x_test, y_test)`: float32
        features and 0/1 float32 labels.
    """
    from sklearn.datasets import make_classification
    from sklearn.model_selection import train_test_split

    sizes = [cfg["n_train"], cfg["n_val"], cfg["n_test"]]
    n_pos = [round(cfg["positive_fraction"] * n) for n in sizes]
    n = sum(sizes)
    x, y = make_classification(
        n_samples=4 * n,
        n_features=cfg["n_features"],
        n_informative=cfg["n_informative"],
        n_redundant=cfg["n_redundant"],
        weights=[1.0 - cfg["positive_fraction"]],
        flip_y=0.0,
        class_sep=cfg["class_sep"],
        random_state=cfg["task_seed"],
    )
    # Exactly sum(n_pos) positives: a fixed prevalence, whatever the draw.
    rng = np.random.default_rng(cfg["task_seed"])
    pos = rng.permutation(np.flatnonzero(y == 1))[: sum(n_pos)]
    neg = rng.permutation(np.flatnonzero(y == 0))[: n - sum(n_pos)]
    keep = np.sort(np.concatenate([pos, neg]))
    x, y = x[keep].astype(np.float32), y[keep].astype(np.float32)
    x_train, x_rest, y_train, y_rest = train_test_split(
        x, y, train_size=sizes[0], stratify=y, random_state=seed
    )
    x_val, x_test, y_val, y_test = train_test_split(
        x_rest, y_rest, train_size=sizes[1], stratify=y_rest, random_state=seed
    )
    mean, std = x_train.mean(axis=0), x_train.std(axis=0) + 1e-6
    x_train, x_val, x_test = ((a - mean) / std for a in (x_train, x_val, x_test))
    return x_train, y_train, x_val, y_val, x_test, y_test


def score(metric: str, y_true: np.ndarray, logits: np.ndarray) -> float:
    """F1 at logit 0 (`"f1"`) or ROC AUC (`"auc"`) of logits.

    >>> score("f1", np.array([0, 1, 1]), np.array([-1.0, 2.0, -0.5]))
    0.6666666666666666
    >>> score("auc", np.array([0, 1, 1]), np.array([-1.0, 2.0, -0.5]))
    1.0

    Args:
        metric: `"f1"` or `"auc"`.
        y_true: 0/1 labels.
        logits: One score per sample.

    Returns:
        The metric.

    Raises:
        ValueError: on an unknown metric.
    """
    from sklearn.metrics import f1_score, roc_auc_score

    if metric == "f1":
        return float(f1_score(y_true, logits > 0.0, zero_division=0.0))
    if metric == "auc":
        return float(roc_auc_score(y_true, logits))
    raise _fail("metric", "'f1' or 'auc'", metric)


def select_best(values: Sequence[float]) -> int:
    """The index of the best (largest) value; the earliest on ties.

    >>> select_best([0.5, 0.7, 0.7, 0.6])
    1

    Args:
        values: Validation metrics in training order; NaN never wins.

    Returns:
        The index.

    Raises:
        ValueError: if `values` is empty or all NaN.
    """
    v = np.asarray(values, np.float64)
    if v.ndim != 1 or len(v) == 0 or np.all(np.isnan(v)):
        raise _fail("values", "a non-empty sequence with a number", values)
    return int(np.argmax(np.where(np.isnan(v), -np.inf, v)))


class ValidationSelection(keras.callbacks.Callback):
    """Scores the validation split every `every` steps; keeps the best weights.

    At the end of training the weights of the best evaluation (by
    `select_best` on `metric`) are restored. The untrained model (step 0)
    is not a candidate. After training: `steps` (the steps evaluated),
    `curves` (`"f1"` and `"auc"` at those steps) and `best_step`.

    Args:
        x_val: Validation inputs.
        y_val: Validation labels (0/1).
        metric: `"f1"` or `"auc"`, the selection's metric.
        every: Evaluate after every `every`-th step (and the last).
        total_steps: The training's steps, so the last is always evaluated.
    """

    def __init__(
        self,
        x_val: np.ndarray,
        y_val: np.ndarray,
        metric: str,
        every: int,
        total_steps: int,
    ) -> None:
        super().__init__()
        if metric not in ("f1", "auc"):
            raise _fail("metric", "'f1' or 'auc'", metric)
        self.x_val, self.y_val, self.metric = x_val, y_val, metric
        self.every, self.total_steps = every, total_steps
        self.steps: list[int] = []
        self.curves: dict[str, list[float]] = {"f1": [], "auc": []}
        self.best_step: int | None = None
        self._best_value = -math.inf
        self._best_weights: list[np.ndarray] | None = None

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        step = batch + 1
        if step % self.every and step != self.total_steps:
            return
        # training=False: the inference path, where no mask is drawn.
        z = keras.ops.convert_to_numpy(self.model(self.x_val, training=False))
        z = z.ravel()
        self.steps.append(step)
        for name in self.curves:
            self.curves[name].append(score(name, self.y_val, z))
        value = self.curves[self.metric][-1]
        # Strictly better only: the earliest of equal values wins.
        if value > self._best_value:
            self._best_value, self.best_step = value, step
            self._best_weights = [np.array(w) for w in self.model.get_weights()]

    def on_train_end(self, logs: Any = None) -> None:
        if self._best_weights is not None:
            self.model.set_weights(self._best_weights)


def run_variant(
    loss_name: str,
    variant: str,
    data: tuple[np.ndarray, ...],
    seed: int,
    cfg: Mapping[str, Any],
) -> dict[str, Any]:
    """Trains one variant for one seed, selects on validation, scores test.

    Args:
        loss_name: A key of `nondecomposable.LOSSES`.
        variant: A key of `variant_specs(cfg)`.
        data: `load_task(cfg, seed)`.
        seed: Initial weights, shuffles and masks.
        cfg: Settings from `make_config`.

    Returns:
        `nondecomposable.run_one`'s metrics at the selected step, plus
        `selected_step`, `val_<f1|auc>_selected`, `curve_steps` and the
        validation curves `val_f1` and `val_auc`.

    Raises:
        ValueError: on an unknown variant.
    """
    specs = variant_specs(cfg)
    if variant not in specs:
        raise _fail("variant", f"one of {list(specs)}", variant)
    base, size = specs[variant]
    x_train, y_train, x_val, y_val, x_test, y_test = data
    selector = ValidationSelection(
        x_val, y_val, SELECTION_METRIC[loss_name], cfg["eval_every"], cfg["steps"]
    )
    run_cfg = {
        "batch_size": size,
        "steps": cfg["steps"],
        "lr": cfg["lr"],
        "hidden": cfg["hidden"],
    }
    out = nd.run_one(
        loss_name, base, (x_train, y_train, x_test, y_test), seed, run_cfg, [selector]
    )
    best = selector.steps.index(selector.best_step)
    return {
        **out,
        "selected_step": selector.best_step,
        "val_f1_selected": selector.curves["f1"][best],
        "val_auc_selected": selector.curves["auc"][best],
        "curve_steps": selector.steps,
        "val_f1": selector.curves["f1"],
        "val_auc": selector.curves["auc"],
    }


def minibatch_positive_odds(positive_fraction: float, batch: int) -> dict[str, float]:
    """How often a minibatch holds no positive, or at most one (binomial).

    >>> minibatch_positive_odds(0.5, 2)
    {'p_none': 0.25, 'p_at_most_one': 0.75}

    Args:
        positive_fraction: The positives' share of the training set.
        batch: The minibatch size.

    Returns:
        `p_none` and `p_at_most_one`.
    """
    q = 1.0 - positive_fraction
    p_none = q**batch
    return {
        "p_none": p_none,
        "p_at_most_one": p_none + batch * positive_fraction * q ** (batch - 1),
    }


def summarize_runs(
    runs: Mapping[str, Mapping[str, Mapping[str, Any]]], seeds: Sequence[int]
) -> dict[str, Any]:
    """Per variant: mean, std and t interval; difference from full batch.

    Args:
        runs: Variant to seed (as text) to `run_variant`'s output, for the
            seeds given (variants missing a seed are left out).
        seeds: The seeds to summarise.

    Returns:
        Variant to, for each of `METRICS` and `selected_step`, the
        `results.summarize` statistics (`mean`, `std`, `ci95_low`,
        `ci95_high`, `n`), and for each of `METRICS` `<metric>_diff`: the
        paired bootstrap difference from `full_batch` over the seeds both
        have (`paired_bootstrap_ci`).
    """
    keys = [str(s) for s in seeds]
    base = runs.get("full_batch", {})
    out: dict[str, Any] = {}
    for variant, by_seed in runs.items():
        have = [s for s in keys if s in by_seed]
        if not have:
            continue
        entry: dict[str, Any] = {"seeds": have}
        for key in (*METRICS, "selected_step"):
            entry[key] = results_lib.summarize([by_seed[s][key] for s in have])
        paired = [s for s in have if s in base]
        if variant != "full_batch" and paired:
            for key in METRICS:
                entry[f"{key}_diff"] = paired_bootstrap_ci(
                    [by_seed[s][key] for s in paired], [base[s][key] for s in paired]
                )
        out[variant] = entry
    return out


def _interval(stats: Mapping[str, float]) -> str:
    if math.isnan(stats["ci95_low"]):
        return f"{stats['mean']:.3f}"
    return (
        f"{stats['mean']:.3f} ± {stats['std']:.3f} "
        f"[{stats['ci95_low']:.3f}, {stats['ci95_high']:.3f}]"
    )


def _diff(d: Mapping[str, float] | None) -> str:
    if d is None:
        return "—"
    return f"{d['mean']:+.3f} [{d['ci_low']:+.3f}, {d['ci_high']:+.3f}]"


def format_table(summary: Mapping[str, Mapping[str, Any]]) -> str:
    """The summary as one Markdown table (loss, variant, metrics, differences).

    Args:
        summary: Loss to `summarize_runs`'s output.

    Returns:
        Rows of mean ± std [95 % t interval] of test F1 and ROC AUC, the
        difference from full batch with its 95 % bootstrap interval, and
        the mean selected step.
    """
    header = [
        "loss",
        "variant",
        "seeds",
        "test F1",
        "test ROC AUC",
        "Δ F1 vs full batch",
        "Δ AUC vs full batch",
        "selected step",
    ]
    return nd.loss_variant_table(
        header,
        summary,
        lambda r: [
            len(r["seeds"]),
            _interval(r["test_f1"]),
            _interval(r["test_auc"]),
            _diff(r.get("test_f1_diff")),
            _diff(r.get("test_auc_diff")),
            f"{r['selected_step']['mean']:.0f}",
        ],
    )


def plot(
    runs: Mapping[str, Mapping[str, Mapping[str, Mapping[str, Any]]]],
    summary: Mapping[str, Mapping[str, Any]],
    path: str | Path,
) -> Path:
    """Validation curves (top) and test differences from full batch (bottom).

    One column per loss; both rows show the metric that selects the step
    (F1 for `soft_f1`, ROC AUC for `pairwise_auc`), and a variant has the
    same colour in every panel.

    Args:
        runs: Loss to variant to seed to `run_variant`'s output.
        summary: Loss to `summarize_runs`'s output.
        path: The PNG file to write.

    Returns:
        The path written.
    """
    plt = results_lib.pyplot()
    import matplotlib.ticker

    losses = list(summary)
    fig, axes = plt.subplots(
        2, len(losses), figsize=(5.2 * len(losses), 7), squeeze=False
    )
    for col, loss_name in enumerate(losses):
        metric = SELECTION_METRIC[loss_name]
        label = {"f1": "F1 (logit 0)", "auc": "ROC AUC"}[metric]
        colors = {v: f"C{i}" for i, v in enumerate(runs[loss_name])}
        ax = axes[0, col]
        for variant, by_seed in runs[loss_name].items():
            if not by_seed:
                continue
            steps = next(iter(by_seed.values()))["curve_steps"]
            curves = np.array([r[f"val_{metric}"] for r in by_seed.values()])
            ax.plot(
                steps,
                curves.mean(axis=0),
                color=colors[variant],
                label=f"{variant} (n={len(curves)})",
            )
        ax.set_title(f"{loss_name}: validation {label}, mean over seeds", fontsize=9)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        ax = axes[1, col]
        names = [v for v in summary[loss_name] if v != "full_batch"]
        for i, variant in enumerate(names):
            d = summary[loss_name][variant].get(f"test_{metric}_diff")
            if d is None:
                continue
            ax.errorbar(
                d["mean"],
                i,
                xerr=[[d["mean"] - d["ci_low"]], [d["ci_high"] - d["mean"]]],
                fmt="o",
                capsize=3,
                color=colors[variant],
            )
        ax.axvline(0.0, color="k", lw=0.8)
        ax.set_yticks(range(len(names)), names, fontsize=8)
        ax.set_xlabel(f"test {label} − full batch (95 % paired bootstrap)")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(6))
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return results_lib.save_figure(fig, path, dpi=80)


def describe(report: Mapping[str, Any]) -> str:
    """A Markdown paragraph on a study's settings, to go above its table.

    Args:
        report: `run_study`'s report.

    Returns:
        The settings, the minibatches' odds of holding positives, and how
        to read the intervals.
    """
    cfg = report["config"]
    odds = "; ".join(
        f"a minibatch of {b} holds no positive with probability "
        f"{o['p_none']:.2f}, at most one with {o['p_at_most_one']:.2f}"
        for b, o in report["minibatch_positive_odds"].items()
    )
    odds = odds[:1].upper() + odds[1:]
    return (
        f"Synthetic task (`make_classification`, {cfg['n_features']} features, "
        f"{cfg['n_informative']} informative), {cfg['positive_fraction']:.0%} "
        f"positives; {cfg['n_train']} / {cfg['n_val']} / {cfg['n_test']} "
        f"training / validation / test samples. MLP {list(cfg['hidden'])}, "
        f"Adam {cfg['lr']}, {cfg['steps']} steps for every variant, validation "
        f"every {cfg['eval_every']} steps; the weights with the best validation "
        f"F1 (soft-F1) or ROC AUC (pairwise AUC) are scored on the test split. "
        f"Seeds {report['seeds']}, Keras backend {report['backend']}. {odds}.\n\n"
        "Cells: mean ± sample std [95 % t interval] over seeds; Δ: mean "
        "per-seed difference from full batch [95 % paired percentile "
        "bootstrap over seeds]. F1 at logit 0; the pairwise AUC loss leaves "
        "the logits' offset free, so its F1 is a by-product."
    )


def _jsonable_cfg(cfg: Mapping[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()}


def run_study(
    cfg: Mapping[str, Any],
    seeds: Sequence[int],
    losses: Sequence[str],
    out_dir: str | Path,
    *,
    name: str = "nondecomposable_study",
    fast: bool = False,
) -> dict[str, Any]:
    """Every loss, variant and seed; writes `<name>.json`, `.md` and `.png`.

    The JSON report is rewritten after every run. If it exists with the
    same configuration, backend and losses, its runs are kept and only the
    missing ones are trained (resume); otherwise it is started afresh.

    Args:
        cfg: Settings from `make_config`.
        seeds: Distinct seeds >= 0.
        losses: Keys of `nondecomposable.LOSSES`.
        out_dir: The folder to write to (created if needed).
        name: The files' stem.
        fast: Recorded in the report.

    Returns:
        The report: `backend`, `config`, `data` (per seed), `runs` (loss
        to variant to seed to `run_variant`'s output) and `summary` (loss
        to `summarize_runs`).

    Raises:
        ValueError: on an unknown loss or repeated seeds.
    """
    if not losses or any(loss not in nd.LOSSES for loss in losses):
        raise _fail("losses", f"names from {list(nd.LOSSES)}", list(losses))
    if len(set(seeds)) != len(seeds) or not seeds:
        raise _fail("seeds", "distinct seeds", list(seeds))
    seeds, losses = list(seeds), list(losses)
    out_dir = Path(out_dir)
    json_path = out_dir / f"{name}.json"
    backend = keras.backend.backend()
    cfg_out = {**_jsonable_cfg(cfg), "fast": fast}
    specs = variant_specs(cfg)
    report: dict[str, Any] = {
        "backend": backend,
        "config": cfg_out,
        "losses": losses,
        "seeds": seeds,
        "data": {},
        "runs": {loss: {v: {} for v in specs} for loss in losses},
    }
    if json_path.exists():
        old = json.loads(json_path.read_text())
        if (old.get("backend"), old.get("config"), old.get("losses")) == (
            backend,
            cfg_out,
            losses,
        ):
            report["runs"], report["data"] = old["runs"], old["data"]
            print(f"resuming from {json_path}", flush=True)
    odds = {
        str(b): minibatch_positive_odds(cfg["positive_fraction"], b)
        for b in cfg["minibatch_sizes"]
    }
    report["minibatch_positive_odds"] = odds
    print(
        f"{cfg['n_train']}/{cfg['n_val']}/{cfg['n_test']} train/val/test samples, "
        f"{cfg['positive_fraction']:.0%} positives, {cfg['n_features']} features; "
        f"MLP {list(cfg['hidden'])}, Adam {cfg['lr']}, {cfg['steps']} steps, "
        f"validation every {cfg['eval_every']}; variants {list(specs)}; "
        f"seeds {seeds}; backend {backend}",
        flush=True,
    )
    for seed in seeds:
        data = load_task(cfg, seed)
        report["data"][str(seed)] = {
            split: {"size": len(y), "positives": int(y.sum())}
            for split, y in zip(("train", "val", "test"), data[1::2], strict=True)
        }
        for loss_name in losses:
            for variant in specs:
                done = report["runs"][loss_name][variant]
                if str(seed) in done:
                    continue
                start = time.perf_counter()
                r = run_variant(loss_name, variant, data, seed, cfg)
                done[str(seed)] = r
                report["summary"] = {
                    loss: summarize_runs(report["runs"][loss], seeds) for loss in losses
                }
                results_lib.write_json(report, json_path)
                print(
                    f"seed {seed} {loss_name:>12} {variant:<18} test F1 "
                    f"{r['test_f1']:.3f} AUC {r['test_auc']:.3f} | train F1 "
                    f"{r['train_f1']:.3f} AUC {r['train_auc']:.3f} | step "
                    f"{r['selected_step']} | {time.perf_counter() - start:.1f} s",
                    flush=True,
                )
    report["summary"] = {
        loss: summarize_runs(report["runs"][loss], seeds) for loss in losses
    }
    results_lib.write_json(report, json_path)
    table = format_table(report["summary"])
    (out_dir / f"{name}.md").write_text(describe(report) + "\n\n" + table + "\n")
    plot(report["runs"], report["summary"], out_dir / f"{name}.png")
    print()
    print(table)
    print(f"\nwrote {json_path}, {name}.md and {name}.png in {out_dir}")
    return report
