"""A study's report: per-variant figures, paired t-intervals, curves.

Every difference is paired by seed against `no_mask` (same data, initial
weights and batch order) and given with its 95 % paired t-interval
(`research.runs.paired_difference`). Standard deviations are sample ones.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from research.runs import (
    format_difference,
    format_mean_sd,
    jsonable,
    mean_sd,
    paired_difference,
    pyplot,
    read_json,
)
from research.texture.settings import HARNESS_VERSION, VARIANTS, Study

#: The figures compared: overall, small-scale and large-scale test accuracy.
FIGURES = ("test_accuracy", "small_scale_accuracy", "large_scale_accuracy")
_HEADINGS = {
    "test_accuracy": "test accuracy",
    "small_scale_accuracy": "small scale",
    "large_scale_accuracy": "large scale",
}


def figures(num_scales: int) -> tuple[str, ...]:
    """The figures of a study with `num_scales` scales.

    Per scale only with two: with one, the class is the scale's choice.
    """
    return FIGURES if num_scales > 1 else FIGURES[:1]


def outputs(out: Path) -> list[Path]:
    """The report's files in a study's result folder."""
    return [out / "summary.json", out / "README.md", out / "curves.png"]


def load_runs(study: Study, out: Path) -> dict[str, dict[int, dict[str, Any]]]:
    """The finished runs of `study` in `out/runs`, by variant and seed."""
    runs: dict[str, dict[int, dict[str, Any]]] = {}
    expected = dataclasses.asdict(study)
    for path in sorted((out / "runs").glob("*.json")):
        result, settings = read_json(
            path, "result", "delete it to run it again", lambda r: (r, r["settings"])
        )
        if (
            jsonable(expected) != settings["study"]
            or settings["harness_version"] != HARNESS_VERSION
        ):
            continue  # A run of other settings, kept beside (another study).
        if len(result["scale_accuracy"]) > 1:
            result["small_scale_accuracy"] = result["scale_accuracy"][0]
            result["large_scale_accuracy"] = result["scale_accuracy"][-1]
        runs.setdefault(settings["variant"], {})[settings["seed"]] = result
    return runs


def summarize(study: Study, out: Path) -> dict[str, Any]:
    """Per variant: means, sample standard deviations and steps.

    With the paired differences from `no_mask` and their 95 % t-intervals.
    """
    runs = load_runs(study, out)
    baseline = runs.get("no_mask", {})
    compared = figures(len(study.scales))
    variants = {}
    for variant in [v for v in VARIANTS if v in runs]:
        by_seed = runs[variant]
        seeds = sorted(by_seed)
        entry: dict[str, Any] = {"seeds": seeds}
        for figure in compared:
            values = np.array([by_seed[s][figure] for s in seeds])
            entry[figure] = mean_sd(values)
        entry["steps"] = [by_seed[s]["steps"] for s in seeds]
        entry["selected_step"] = [by_seed[s]["selected_step"] for s in seeds]
        entry["left_plateau_step"] = [by_seed[s]["left_plateau_step"] for s in seeds]
        paired = sorted(set(seeds) & set(baseline))
        if variant != "no_mask" and paired:
            entry["paired_seeds"] = paired
            entry["difference"] = {
                figure: paired_difference(
                    [by_seed[s][figure] for s in paired],
                    [baseline[s][figure] for s in paired],
                )
                for figure in compared
            }
        variants[variant] = entry
    return {"study": jsonable(dataclasses.asdict(study)), "variants": variants}


def markdown(summary: dict[str, Any]) -> str:
    """The summary as a Markdown table, with the study's settings."""
    study = summary["study"]
    compared = figures(len(study["scales"]))
    headings = " | ".join(_HEADINGS[f] for f in compared)
    rule = "---|" * len(compared)
    lines = [
        f"# Texture study `{study['name']}`",
        "",
        f"{study['size']} px, `{study['construction']}` construction, lengths "
        f"{study['scales']}, {study['train_per_class']} training / "
        f"{study['val_per_class']} validation (fresh per seed) / "
        f"{study['test_per_class']} test images per class (shared), "
        f"{study['filters']} filters, batch {study['batch_size']}, Adam "
        f"{study['lr']:g}, masks {study['fine_prob']:g} (fine) and "
        f"{study['coarse_prob']:g} (coarse) after a {study['warmup_steps']}-step "
        f"warm-up; at least {study['min_steps']} and at most "
        f"{study['max_steps']} steps, stop after {study['patience']} epochs "
        "without a better validation score; the epoch of best validation "
        "accuracy (lower loss on ties) from step "
        f"{study['select_from_step']} on is tested.",
        "",
        f"| variant | seeds | {headings} | steps (median) | left ln(classes) "
        "plateau by step (median) |",
        f"|---|---|{rule}---|---|",
    ]
    for variant, entry in summary["variants"].items():
        means = " | ".join(format_mean_sd(entry[f]) for f in compared)
        left = [s for s in entry["left_plateau_step"] if s is not None]
        never = len(entry["left_plateau_step"]) - len(left)
        plateau = f"{np.median(left):.0f}" if left else "never"
        if left and never:
            plateau += f" ({never} never)"
        lines.append(
            f"| {variant} | {len(entry['seeds'])} | {means} | "
            f"{np.median(entry['steps']):.0f} | {plateau} |"
        )
    lines += [
        "",
        "Differences from `no_mask`, paired by seed, with 95 % paired t-intervals:",
        "",
        f"| variant | pairs | {headings} |",
        f"|---|---|{rule}",
    ]
    for variant, entry in summary["variants"].items():
        if "difference" not in entry:
            continue
        cells = " | ".join(format_difference(entry["difference"][f]) for f in compared)
        lines.append(f"| {variant} | {len(entry['paired_seeds'])} | {cells} |")
    return "\n".join(lines) + "\n"


def write(study: Study, out: Path) -> None:
    """Writes `summary.json`, `README.md` and (with matplotlib) `curves.png`."""
    if not (out / "runs").exists():
        return
    summary = summarize(study, out)
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    (out / "README.md").write_text(markdown(summary))
    _plot(study, out)


def _plot(study: Study, out: Path) -> None:
    plt = pyplot()
    if plt is None:
        return
    runs = load_runs(study, out)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharex=True)
    colours = dict(zip(VARIANTS, ("C0", "C1", "C2", "C3")))
    for variant, by_seed in runs.items():
        for i, result in enumerate(by_seed.values()):
            curves = result["curves"]
            for ax, name in zip(axes, ("loss", "val_loss")):
                ax.plot(
                    curves["steps"],
                    curves[name],
                    color=colours[variant],
                    alpha=0.5,
                    lw=0.8,
                    label=variant if i == 0 else None,
                )
    for ax, title in zip(axes, ("training loss", "validation loss")):
        ax.axhline(math.log(study.num_classes), color="grey", ls=":", lw=0.8)
        ax.set(title=title, xlabel="step", yscale="log")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(out / "curves.png", dpi=90)
    plt.close(fig)
