"""Speed of the GP texture generator against an FFT floor and a general GP package.

Rows (all in one process, so the ratios are meaningful even when absolute
times are noisy on a shared machine):

* ``numpy fft2 (floor)``: one complex ``numpy.fft.fft2`` of 1024 x 1024, the
  cost below which no spectral method can go; every ratio is relative to it.
* ``numpy rfft2 + irfft2``: the FFTs one field needs; a sample needs them
  once per scale, so ``sample_over_its_ffts`` is the sample's cost over the
  bare FFTs of the same work (target: within 2x).
* ``field``: one normalised 1024 x 1024 field (white noise, rfft2, irfft2).
* ``sample (2 scales)``: one sample of the paper's recipe, class '10-140'.
* ``george dense, n x n``: the reference's method, ``george.GP.sample`` on a
  grid (dense covariance and factorisation), measured on grids it handles.
* ``george dense, scaled to 1024^2``: the largest measured grid extrapolated
  with the O(points^3) cost of a dense factorisation; an estimate.
* ``george tiled (reference)``: the reference's workaround for small
  lengths, thousands of enveloped 50 x 50 GP patches per 1024 x 1024 field;
  the cost of one patch (measured; in quick mode scaled from the largest
  grid) times the number of patches for cl = 9.5; an estimate that leaves
  out its interpolation and wrapping work.

``george.GP.sample`` on given points builds the dense covariance and calls
``numpy.random.multivariate_normal`` (an SVD), whatever solver the GP has.

Run: ``python benchmarks/generator.py [--quick] [--out result.json]``.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time

# One BLAS thread: the FFTs are single-threaded, so the comparison is one
# core against one core, and a multi-threaded SVD on a shared two-core
# machine would measure contention rather than george.  Must precede the
# NumPy import (run_all.py importers that already loaded NumPy keep theirs).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
from pathlib import Path
from typing import Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tfds_gp import generator  # noqa: E402

SIZE = 1024


def _best_time(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up (plans, caches, lazy imports)
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _best_times(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Minimum time of each function, interleaved so drifts in machine load
    hit every row alike (what matters here is the ratios)."""
    for fn in fns.values():
        fn()  # warm-up
    best = {name: math.inf for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def _reference_patch_count(cl: float, size: int = SIZE) -> int:
    # The reference tiles base patches of 50 px, generated at a length of at
    # most 8 px and upscaled by cl / 8; a fifth of each side is lost to the
    # Gaussian envelope, and it draws 6 patches per effective patch area.
    upscale = cl / min(8.0, cl)
    effective = (50 - 2 * 50 / 5) * upscale
    return int(6 * (size / effective) ** 2)


def _george_rows(quick: bool, repeats: int) -> list[dict]:
    try:
        import george
        from george.kernels import ExpSquaredKernel
    except ImportError:
        return [{"row": "george", "note": "george not installed (pip install george): rows skipped"}]

    cl = 10.0
    # metric = cl^2 gives exp(-r^2 / (2 cl^2)) with r in pixels, the same
    # covariance as the spectral generator.
    gp = george.GP(ExpSquaredKernel(cl**2, ndim=2))
    check = gp.get_matrix(np.array([[0.0, 0.0], [cl, 0.0]]))[0, 1]
    assert abs(check - math.exp(-0.5)) < 1e-12, check

    def grid(n: int) -> np.ndarray:
        xx, yy = np.meshgrid(np.arange(n, dtype=float), np.arange(n, dtype=float))
        return np.column_stack([xx.ravel(), yy.ravel()])

    rows = []
    grids = (12, 16, 24) if quick else (16, 24, 32)
    largest = None
    for n in grids:
        points = grid(n)
        t = _best_time(lambda: gp.sample(points), max(1, repeats // 2))
        rows.append({"row": f"george dense, {n}x{n} grid", "seconds": t, "pixels": n * n})
        largest = (n, t)
    n, t = largest
    scaled = t * (SIZE * SIZE / (n * n)) ** 3
    rows.append(
        {
            "row": f"george dense, scaled to {SIZE}^2 (from {n}x{n}, cubic)",
            "seconds": scaled,
            "pixels": SIZE * SIZE,
            "estimate": True,
        }
    )
    count = _reference_patch_count(9.5)
    if quick:  # the 50 x 50 patch itself takes ~10 s: extrapolate it
        t_patch = t * (2500 / (n * n)) ** 3
        how = f"patch cost scaled from {n}x{n}"
    else:
        patch = grid(50)
        t_patch = _best_time(lambda: gp.sample(patch), 1)
        how = "patch measured"
    rows.append(
        {
            "row": f"george tiled (reference), {count} x 50x50, {how}",
            "seconds": t_patch * count,
            "pixels": SIZE * SIZE,
            "estimate": True,
        }
    )
    return rows


def run(quick: bool) -> dict:
    """Times the rows; returns ``{'rows': [...], 'ratios': {...}}``."""
    repeats = 5 if quick else 15
    rng = np.random.default_rng(0)
    z = rng.standard_normal((SIZE, SIZE)) + 1j * rng.standard_normal((SIZE, SIZE))
    w = rng.standard_normal((SIZE, SIZE))
    paper = generator.PRESETS["paper"]
    gp_class = paper.classes[3]  # '10-140'

    times = _best_times(
        {
            "floor": lambda: np.fft.fft2(z),
            "pair": lambda: np.fft.irfft2(np.fft.rfft2(w), s=w.shape),
            "field": lambda: generator.field(10.0, SIZE, rng),
            "sample": lambda: generator.sample(gp_class.cls, paper.powers, SIZE, rng),
        },
        repeats,
    )
    t_floor, t_pair, t_field, t_sample = (
        times[k] for k in ("floor", "pair", "field", "sample")
    )
    rows = [
        {"row": f"numpy fft2 (floor), {SIZE}^2 complex", "seconds": t_floor},
        {"row": f"numpy rfft2 + irfft2, {SIZE}^2 real", "seconds": t_pair},
        {"row": f"tfds_gp field, cl=10, {SIZE}^2", "seconds": t_field},
        {"row": f"tfds_gp sample, 2 scales '{gp_class.name}', {SIZE}^2", "seconds": t_sample},
    ]
    rows += _george_rows(quick, repeats)
    for row in rows:
        if "seconds" in row:
            row["ratio_to_fft2"] = row["seconds"] / t_floor
            if row.get("pixels") == SIZE * SIZE:
                row["ratio_to_field"] = row["seconds"] / t_field
    ratios = {
        "sample_over_fft2": t_sample / t_floor,
        "field_over_fft2": t_field / t_floor,
        # The floor of the same work: a field needs one real forward and one
        # inverse FFT, a sample one field per scale (the 2x target).
        "field_over_its_ffts": t_field / t_pair,
        "sample_over_its_ffts": t_sample / (len(paper.scales) * t_pair),
    }
    for row in rows:
        if row.get("estimate"):
            key = "george_dense_over_field" if "dense" in row["row"] else "george_tiled_over_field"
            ratios[key] = row["seconds"] / t_field
    result = {"benchmark": "generator", "quick": quick, "size": SIZE, "rows": rows, "ratios": ratios}
    # run_all.py and report.py show a benchmark's "table".
    result["table"] = _table(result)
    return result


def _table(result: dict) -> str:
    """The rows as a fixed-width table, then the ratios."""
    lines = [f"{'row':76s} {'seconds':>12s} {'x fft2':>12s} {'x field':>12s}"]
    for row in result["rows"]:
        if "seconds" not in row:
            lines.append(f"{row['row']:76s} {row['note']}")
            continue
        est = " (est.)" if row.get("estimate") else ""
        x_field = f"{row['ratio_to_field']:12.3g}" if "ratio_to_field" in row else " " * 12
        lines.append(f"{row['row'] + est:76s} {row['seconds']:12.4g} {row['ratio_to_fft2']:12.3g} {x_field}")
    lines.append("ratios: " + json.dumps({k: float(f"{v:.4g}") for k, v in result["ratios"].items()}))
    return "\n".join(lines)


if __name__ == "__main__":
    from _cli import main

    main(__doc__.splitlines()[0], run, "fewer repeats, smaller george grids")
