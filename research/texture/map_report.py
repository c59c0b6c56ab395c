"""The 512 px map's overview: backdrop against `no_mask` in every cell.

One row per cell (training images per class x small-length ratio): the
paired differences on validation, where the cell to confirm is chosen, and
on test, and `no_mask`'s small-scale accuracy (how much of the small scale
the cell's network learns without masks). The cell to confirm with fresh
seeds is the one whose mean validation gain is largest; none when no cell
gains on validation. Test figures play no part in the choice.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from research.runs import (
    format_difference,
    format_mean_sd,
    mean_sd,
    paired_difference,
    pyplot,
)
from research.texture import report
from research.texture.settings import (
    MAP_CELLS,
    MAP_RATIOS,
    MAP_TRAIN_PER_CLASS,
    map_cell,
)

#: Validation accuracy at the selected epoch, then the report's test figures.
FIGURES = ("val_accuracy", *report.FIGURES)
#: Pairs every cell needs before the map is complete.
MAP_SEEDS = 3
NAME = "map_512"


def outputs(results_dir: Path) -> list[Path]:
    """The overview's files in the results folder."""
    return [results_dir / f"{NAME}.{ext}" for ext in ("json", "md", "png")]


def summarize(results_dir: Path) -> dict[str, Any]:
    """Each cell's pairs, means and paired differences; the chosen cell."""
    cells = []
    for train_per_class, ratio in MAP_CELLS:
        study = map_cell(train_per_class, ratio)
        runs = report.load_runs(study, Path(results_dir) / study.name)
        base, masked = runs.get("no_mask", {}), runs.get("backdrop", {})
        pairs = sorted(set(base) & set(masked))
        cell: dict[str, Any] = {
            "study": study.name,
            "train_per_class": train_per_class,
            "ratio": ratio,
            "small_lengths": list(study.scales[0]),
            "pairs": pairs,
        }
        if pairs:
            for variant, by_seed in (("no_mask", base), ("backdrop", masked)):
                cell[variant] = {
                    f: mean_sd([by_seed[s][f] for s in pairs]) for f in FIGURES
                }
            cell["difference"] = {
                f: paired_difference(
                    [masked[s][f] for s in pairs], [base[s][f] for s in pairs]
                )
                for f in FIGURES
            }
        cells.append(cell)
    gaining = [
        c for c in cells if c["pairs"] and c["difference"]["val_accuracy"]["mean"] > 0
    ]
    best = max(
        gaining, key=lambda c: c["difference"]["val_accuracy"]["mean"], default=None
    )
    return {
        "complete": all(len(c["pairs"]) >= MAP_SEEDS for c in cells),
        "chosen": None if best is None else best["study"],
        "cells": cells,
    }


def markdown(summary: dict[str, Any]) -> str:
    """The overview as a Markdown table, with the choice it makes."""
    lines = [
        "# The 512 px map: backdrop against `no_mask`",
        "",
        "Each cell is a study of its own (`<cell>/README.md` has its table and "
        "curves); the small scale's lengths are 4.75 and 4.75 x ratio px. "
        "Differences are backdrop minus `no_mask`, paired by seed, with 95 % "
        "paired t-intervals; validation accuracy is at each run's selected "
        "epoch.",
        "",
        "| images per class | ratio | pairs | `no_mask` small scale | "
        "validation | test | small scale | large scale |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for cell in summary["cells"]:
        head = (
            f"| {cell['train_per_class']} | {cell['ratio']:.3g} | {len(cell['pairs'])}"
        )
        if not cell["pairs"]:
            lines.append(head + " | | | | | |")
            continue
        small = format_mean_sd(cell["no_mask"]["small_scale_accuracy"])
        cells = " | ".join(format_difference(cell["difference"][f]) for f in FIGURES)
        lines.append(f"{head} | {small} | {cells} |")
    lines.append("")
    chosen = summary["chosen"]
    if chosen is None:
        lines.append("No cell gains on validation: there is no cell to confirm.")
    else:
        lines.append(
            f"The largest validation gain is in `{chosen}`: the cell to confirm "
            "with ten fresh seeds (`python -m research.texture --study confirm "
            "--cell <images> <ratio> --seeds 10-19 --variants no_mask backdrop`)."
        )
    if not summary["complete"]:
        lines.append(
            f"The map is not complete (fewer than {MAP_SEEDS} pairs in some "
            "cells): the choice is provisional."
        )
    return "\n".join(lines) + "\n"


def write(results_dir: Path) -> None:
    """Writes `map_512.json`, `.md` and (with matplotlib) `.png` into `results_dir`."""
    summary = summarize(results_dir)
    json_path, md_path, png_path = outputs(Path(results_dir))
    json_path.write_text(json.dumps(summary, indent=1) + "\n")
    md_path.write_text(markdown(summary))
    _plot(summary, png_path)


def _plot(summary: dict[str, Any], path: Path) -> None:
    """Mean paired differences per cell, validation and test, as two grids."""
    plt = pyplot()
    if plt is None:
        return
    rows, cols = len(MAP_RATIOS), len(MAP_TRAIN_PER_CLASS)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
    titles = {"val_accuracy": "validation", "test_accuracy": "test"}
    for ax, (figure, title) in zip(axes, titles.items()):
        grid = np.full((rows, cols), np.nan)
        for i, cell in enumerate(summary["cells"]):
            if cell["pairs"]:
                grid[divmod(i, cols)] = cell["difference"][figure]["mean"]
        image = ax.imshow(grid, cmap="RdBu", vmin=-0.1, vmax=0.1, origin="lower")
        for (r, c), value in np.ndenumerate(grid):
            if not np.isnan(value):
                ax.text(c, r, f"{value:+.3f}", ha="center", va="center", fontsize=8)
        ax.set(
            title=f"backdrop - no_mask, {title} accuracy",
            xticks=range(cols),
            xticklabels=MAP_TRAIN_PER_CLASS,
            yticks=range(rows),
            yticklabels=[f"{r:.3g}" for r in MAP_RATIOS],
            xlabel="training images per class",
            ylabel="small-length ratio",
        )
    fig.colorbar(image, ax=list(axes), shrink=0.8)
    fig.savefig(path, dpi=90)
    plt.close(fig)
