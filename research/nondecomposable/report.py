"""A study's report: learning rates chosen on validation, paired t-intervals.

Each method's learning rate is the one of the study's grid with the best
mean validation figure (the study's selection metric, at each run's
selected step) over the seeds; the test figures reported are those of that
learning rate. Differences are paired by seed (same training set, initial
weights and test set) against `full_batch`, and for backdrop against the
minibatch of the same size, each with its 95 % paired t-interval
(`research.runs.paired_difference`, `scipy.stats.ttest_rel`).
Standard deviations are sample ones (ddof=1).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from research.nondecomposable.settings import Study, parse_method
from research.runs import (
    format_difference,
    format_mean_sd,
    mean_sd,
    paired_difference,
    pyplot,
    read_json,
)
from research.runs import jsonable as plain_json

FIGURES = ("f1", "auc", "ap")
NAMES = {"f1": "F1", "auc": "ROC AUC", "ap": "AP"}


def outputs(out: Path) -> list[Path]:
    """The report's files in a study's result folder."""
    return [out / "summary.json", out / "README.md", out / "curves.png"]


def jsonable(study: Study) -> Any:
    """`study` as it reads back from JSON (tuples become lists)."""
    return plain_json(dataclasses.asdict(study))


def load_runs(study: Study, out: Path) -> dict[str, dict[float, dict[int, dict]]]:
    """The finished runs of `study` in `out/runs`, by method, lr and seed."""
    runs: dict[str, dict[float, dict[int, dict]]] = {}
    expected = jsonable(study)

    def place(result: dict[str, Any]) -> tuple[str, float, int] | None:
        settings = result["settings"]
        if settings["study"] != expected:
            return None  # A run of other settings, kept beside.
        return settings["method"], settings["lr"], settings["seed"]

    for path in sorted((out / "runs").glob("*.json")):
        result, where = read_json(
            path, "result", "delete it to run it again", lambda r: (r, place(r))
        )
        if where is not None:
            method, lr, seed = where
            runs.setdefault(method, {}).setdefault(lr, {})[seed] = result
    return runs


def summarize(study: Study, out: Path) -> dict[str, Any]:
    """Per method: the chosen lr, test figures, gaps, steps, seconds, pairs."""
    runs = load_runs(study, out)
    metric = study.selection_metric
    methods: dict[str, Any] = {}
    for method in [m for m in study.methods if m in runs]:
        by_lr = runs[method]
        lr_table = {
            lr: float(np.mean([r["val"][metric] for r in by_seed.values()]))
            for lr, by_seed in sorted(by_lr.items())
        }
        lr = max(lr_table, key=lambda k: (lr_table[k], -k))
        chosen = by_lr[lr]
        seeds = sorted(chosen)
        entry: dict[str, Any] = {
            "lr": lr,
            "val_by_lr": {f"{k:g}": v for k, v in lr_table.items()},
            "seeds": seeds,
        }
        for figure in FIGURES:
            entry[f"test_{figure}"] = mean_sd(
                [chosen[s]["test"][figure] for s in seeds]
            )
        gaps = [chosen[s]["val"][metric] - chosen[s]["test"][metric] for s in seeds]
        entry["val_minus_test"] = mean_sd(gaps)
        for name in (
            "selected_epoch",
            "selected_step",
            "steps",
            "seconds",
            "cpu_seconds",
        ):
            entry[name] = float(np.median([chosen[s][name] for s in seeds]))
        entry["final_train_" + metric] = mean_sd(
            [chosen[s]["final_train"][metric] for s in seeds]
        )
        entry["final_val_" + metric] = mean_sd(
            [chosen[s]["final_val"][metric] for s in seeds]
        )
        methods[method] = entry
    for method, entry in methods.items():
        baselines = ["full_batch"]
        kind, size = parse_method(method)
        if kind.startswith("backdrop"):
            baselines.append(f"minibatch_{size}")
        entry["difference"] = {}
        for baseline in baselines:
            if baseline == method or baseline not in methods:
                continue
            a = runs[method][entry["lr"]]
            b = runs[baseline][methods[baseline]["lr"]]
            paired = sorted(set(a) & set(b))
            entry["difference"][baseline] = {
                figure: paired_difference(
                    [a[s]["test"][figure] for s in paired],
                    [b[s]["test"][figure] for s in paired],
                )
                for figure in FIGURES
            }
    any_run = next(
        (r for m in runs.values() for s in m.values() for r in s.values()), None
    )
    return {
        "study": jsonable(study),
        "selection_metric": metric,
        "sizes": None if any_run is None else any_run["sizes"],
        "methods": methods,
    }


def markdown(summary: dict[str, Any], bias: dict[str, Any] | None) -> str:
    """The summary (and the bias probe) as Markdown tables."""
    s = summary["study"]
    metric = summary["selection_metric"]
    sizes = summary["sizes"] or {}
    lines = [
        f"# Non-decomposable study `{s['name']}`",
        "",
        f"Loss `{s['loss']}` on logits. Generator: {s['features']} Gaussian "
        f"features, a random tanh teacher with {s['teacher_hidden']} units, "
        f"signal {s['signal']:g}, prevalence {s['prevalence']:g}; "
        f"{s['n_train']} training and {s['n_val']} validation samples drawn "
        f"fresh per seed, {s['n_test']} test samples shared. MLP "
        f"{s['hidden']}, Adam. Budget: {s['budget_epochs']} passes' worth of "
        f"forward samples ({s['budget_epochs'] * s['n_train']:,}) for every "
        f"method; validation every {s['eval_every_epochs']} passes; the "
        f"checkpoint of best validation {NAMES[metric]} is tested; each "
        f"method's learning rate is chosen from {s['lrs']} by its mean "
        "validation figure over the seeds. Seconds are the training's wall "
        "time (validation excluded) and CPU seconds the process's CPU time "
        "over it, all threads: the wall time depends on what else shares the "
        "cores, the CPU time far less.",
        "",
    ]
    if sizes:
        lines += [f"Split sizes of the runs: {sizes}.", ""]
    if bias is not None:
        lines += _bias_lines(bias)
    lines += [
        "| method | lr | seeds | test F1 | test ROC AUC | test AP | "
        f"val − test {NAMES[metric]} | selected pass (median) | steps | "
        f"final train {NAMES[metric]} | final val {NAMES[metric]} | "
        "seconds (median) | CPU seconds (median) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for method, e in summary["methods"].items():
        figures = " | ".join(format_mean_sd(e[f"test_{f}"]) for f in FIGURES)
        lines.append(
            f"| {method} | {e['lr']:g} | {len(e['seeds'])} | {figures} | "
            f"{format_mean_sd(e['val_minus_test'])} | {e['selected_epoch']:.0f} | "
            f"{e['steps']:.0f} | {format_mean_sd(e['final_train_' + metric])} | "
            f"{format_mean_sd(e['final_val_' + metric])} | {e['seconds']:.1f} | "
            f"{e['cpu_seconds']:.1f} |"
        )
    lines += [
        "",
        "Differences in test figures, paired by seed, with 95 % paired t-intervals:",
        "",
        "| method | against | pairs | F1 | ROC AUC | AP |",
        "|---|---|---|---|---|---|",
    ]
    for method, e in summary["methods"].items():
        for baseline, d in e["difference"].items():
            cells = " | ".join(format_difference(d[f]) for f in FIGURES)
            lines.append(f"| {method} | {baseline} | {d['f1']['n']} | {cells} |")
    lines += [
        "",
        f"Mean validation {NAMES[metric]} by learning rate:",
        "",
        "| method | " + " | ".join(f"lr {k:g}" for k in s["lrs"]) + " |",
        "|---|" + "---|" * len(s["lrs"]),
    ]
    for method, e in summary["methods"].items():
        cells = [e["val_by_lr"].get(f"{k:g}") for k in s["lrs"]]
        text = ["—" if c is None else f"{c:.4f}" for c in cells]
        lines.append(f"| {method} | " + " | ".join(text) + " |")
    return "\n".join(lines) + "\n"


def _bias_lines(bias: dict[str, Any]) -> list[str]:
    lines = [
        f"Bias probe (seed {bias['seed']}, {bias['train_positives']} training "
        f"positives, {bias['draws']} draws per method): the loss of a draw "
        "against the full-batch loss `L`, and the mean gradient of the draws "
        "against the full-batch gradient `g` (`|E[g_b] − g| / |g|`, beside its "
        "Monte Carlo noise, the size an unbiased method's figure has, and the "
        "p-value of no bias; minibatches of one epoch are not independent "
        "draws, so their noise and p-value are overstated).",
        "",
        "| point | method | draws without a positive | E[L_b] − L (± se) | "
        "relative | gradient bias (noise) | p | cosine |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for point, figures in bias["points"].items():
        for method, f in figures.items():
            if method == "full_batch_loss":
                continue
            lines.append(
                f"| {point} (L = {figures['full_batch_loss']:.4f}) | {method} | "
                f"{f['share_without_positive']:.2f} | {f['loss_bias']:+.4f} ± "
                f"{f['loss_bias_se']:.4f} | {f['loss_bias_relative']:+.1%} | "
                f"{f['grad_bias']:.3f} ({f['grad_bias_noise']:.3f}) | "
                f"{f['grad_bias_p']:.2g} | {f['cosine']:.3f} |"
            )
    return [*lines, ""]


def write(study: Study, out: Path) -> None:
    """Writes `summary.json`, `README.md` and (with matplotlib) `curves.png`."""
    if not (out / "runs").exists():
        return
    summary = summarize(study, out)
    bias_path = out / "bias.json"
    bias = json.loads(bias_path.read_text()) if bias_path.exists() else None
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    (out / "README.md").write_text(markdown(summary, bias))
    _plot(study, summary, out)


def _plot(study: Study, summary: dict[str, Any], out: Path) -> None:
    plt = pyplot()
    if plt is None:
        return
    runs = load_runs(study, out)
    metric = summary["selection_metric"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for i, (method, entry) in enumerate(summary["methods"].items()):
        by_seed = runs[method][entry["lr"]]
        curves = [r["curves"] for r in by_seed.values()]
        length = min(len(c["epochs"]) for c in curves)
        mean = np.mean([c[f"val_{metric}"][:length] for c in curves], axis=0)
        axes[0].plot(curves[0]["epochs"][:length], mean, lw=1, label=method)
        values = [r["test"][metric] for r in by_seed.values()]
        axes[1].plot([i] * len(values), values, ".", color=f"C{i % 10}")
        axes[1].errorbar(
            i + 0.2,
            np.mean(values),
            np.std(values, ddof=1) if len(values) > 1 else 0,
            fmt="o",
            color=f"C{i % 10}",
            capsize=3,
        )
    axes[0].set(
        title=f"validation {NAMES[metric]} (mean over seeds, chosen lr)",
        xlabel="passes' worth of forward samples",
    )
    axes[0].legend(fontsize=7)
    names = list(summary["methods"])
    axes[1].set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=7)
    axes[1].set(title=f"test {NAMES[metric]} per seed, mean ± sd")
    fig.tight_layout()
    fig.savefig(out / "curves.png", dpi=90)
    plt.close(fig)
