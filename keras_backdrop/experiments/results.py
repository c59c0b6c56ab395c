"""Summaries, Markdown tables, JSON files and plots of experiment results."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np


def summarize(values: Sequence[float]) -> dict[str, float]:
    """Mean, sample standard deviation and a 95 % t interval of the mean.

    With one value the spread and the interval are NaN: one run says
    nothing about them.

    >>> s = summarize([0.5, 0.7])
    >>> round(s["mean"], 3), round(s["std"], 3), s["n"]
    (0.6, 0.141, 2)
    >>> round(s["ci95_low"], 3), round(s["ci95_high"], 3)
    (-0.671, 1.871)
    """
    x = np.asarray(values, np.float64)
    if x.ndim != 1 or len(x) == 0:
        raise ValueError(
            "Invalid value for argument `values`: expected a non-empty "
            f"sequence of numbers. Received: values={values!r}"
        )
    mean = float(x.mean())
    if len(x) == 1:
        std = half = math.nan
    else:
        std = float(x.std(ddof=1))
        # Student's t: with 3 to 10 seeds the normal quantile would make
        # the interval 10 to 60 % too narrow.
        from scipy import stats

        half = float(stats.t.ppf(0.975, len(x) - 1)) * std / math.sqrt(len(x))
    return {
        "mean": mean,
        "std": std,
        "ci95_low": mean - half,
        "ci95_high": mean + half,
        "n": len(x),
    }


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table; floats are written with three decimals.

    >>> print(markdown_table(["variant", "accuracy"], [["no_mask", 0.5]]))
    | variant | accuracy |
    |---|---|
    | no_mask | 0.500 |
    """

    def cell(value: Any) -> str:
        return f"{value:.3f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def write_json(payload: Mapping[str, Any], path: str | Path) -> Path:
    """Writes ``payload`` as indented JSON, creating the folder; the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def plot_curves(
    curves: Mapping[str, Sequence[Sequence[float]]],
    path: str | Path,
    *,
    title: str,
    ylabel: str,
    xlabel: str = "epoch",
    ylim: tuple[float, float] | None = (0.0, 1.0),
) -> Path:
    """One line per name: the mean over runs, with a min-max band.

    Args:
        curves: Name to a list of runs, each a list of values per epoch
            (all of one length per name).
        path: The PNG file to write.
        title: The plot's title.
        ylabel: The y axis' label.
        xlabel: The x axis' label.
        ylim: The y range, or None for matplotlib's.

    Returns:
        The path written.
    """
    fig, ax = pyplot().subplots(figsize=(6.4, 4.2))
    for name, runs in curves.items():
        values = np.asarray(runs, np.float64)
        epochs = np.arange(1, values.shape[1] + 1)
        (line,) = ax.plot(
            epochs, values.mean(axis=0), label=f"{name} (n={len(values)})"
        )
        ax.fill_between(
            epochs,
            values.min(axis=0),
            values.max(axis=0),
            color=line.get_color(),
            alpha=0.2,
        )
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return save_figure(fig, path, dpi=120)


def pyplot() -> Any:
    """`matplotlib.pyplot` on the file-only Agg backend (no display needed).

    Returns:
        The `matplotlib.pyplot` module.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: str | Path, dpi: int = 100) -> Path:
    """Writes a figure to a PNG file, creating its folder, and closes it.

    Args:
        fig: A `matplotlib.figure.Figure`, laid out.
        path: The file to write.
        dpi: The resolution.

    Returns:
        The path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    pyplot().close(fig)
    return path
