"""Speed of the GP texture generator against bare inverse FFTs and george.

Rows (all in one process, interleaved, so the ratios hold even when
absolute times are noisy on a shared machine):

* ``numpy irfft2 (floor)``: one bare float64 ``numpy.fft.irfft2`` of
  1024 x 1024, what any spectral synthesis of one real field must at least
  pay. The target: one two-scale sample costs at most two of them
  (``sample_over_two_irfft2`` <= 1.0).
* ``numpy fft2``: one complex ``numpy.fft.fft2`` of 1024 x 1024 (the
  george rows are given against it, as before).
* ``sample, 1.0.0 synthesis``: the dataset's first synthesis, written out
  here for comparison: per scale, real white noise, ``rfft2``, the
  amplitude, ``irfft2``, normalisation in pixel space.
* ``field``: one normalised 1024 x 1024 field (cl = 9.5).
* ``sample (2 scales), N threads``: one sample of the paper's recipe, class
  '9.5-80' (the most frequencies to draw), with ``scipy.fft.set_workers(N)``
  for N = 1, 2 and the machine's cores: the noise is drawn on one thread,
  the inverse FFT on N.
* ``reference field`` / ``reference sample``: the authors' construction
  (``construction='reference'``, :mod:`tfds_gp.reference`), without george:
  a small-length field (cl = 9.5, 4957 enveloped patches), a large-length
  field (cl = 80, a 128-grid GP upscaled x8) and a sample of the
  ``reference`` config, class '9.5-80', on one thread.
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
import time
from collections.abc import Callable

# One BLAS thread: the FFTs are single-threaded, so the comparison is one
# core against one core, and a multi-threaded SVD on a shared two-core
# machine would measure contention rather than george.  Must precede the
# NumPy import (run_all.py importers that already loaded NumPy keep theirs).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

from tfds_gp import generator, reference  # noqa: E402

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
    """Minimum time of each function, interleaved.

    Interleaving makes drifts in machine load hit every row alike (what
    matters here is the ratios).
    """
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
        return [
            {
                "row": "george",
                "note": "george not installed (pip install george): rows skipped",
            }
        ]

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
        t = _best_time(lambda p=points: gp.sample(p), max(1, repeats // 2))
        rows.append(
            {"row": f"george dense, {n}x{n} grid", "seconds": t, "pixels": n * n}
        )
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


def _sample_1_0_0(cls, powers, size: int, rng: np.random.Generator) -> np.ndarray:
    """The 1.0.0 synthesis: real noise and a forward FFT per field."""
    total = np.zeros((size, size))
    for cl, power in zip(cls, powers, strict=True):
        amp = np.sqrt(generator.spectrum_1d(cl, size))
        spec = np.fft.rfft2(rng.standard_normal((size, size)))
        spec *= np.multiply.outer(amp, amp[: size // 2 + 1])
        spec[0, 0] = 0.0
        out = np.fft.irfft2(spec, s=(size, size))
        total += power * out / out.std()
    return total.astype(np.float32)


def _thread_counts() -> list[int]:
    return sorted({1, 2, os.cpu_count() or 1})


def run(quick: bool) -> dict:
    """Times the rows; returns ``{'rows': [...], 'ratios': {...}}``."""
    import scipy.fft

    repeats = 5 if quick else 15
    rng = np.random.default_rng(0)
    z = rng.standard_normal((SIZE, SIZE)) + 1j * rng.standard_normal((SIZE, SIZE))
    half = np.fft.rfft2(rng.standard_normal((SIZE, SIZE)))
    paper = generator.PRESETS["paper"]
    gp_class = paper.classes[0]  # '9.5-80': the most frequencies to draw

    def sample_with(workers: int):
        def fn():
            with scipy.fft.set_workers(workers):
                return generator.sample(gp_class.cls, paper.powers, SIZE, rng)

        return fn

    fns = {
        "irfft2": lambda: np.fft.irfft2(half, s=(SIZE, SIZE)),
        "fft2": lambda: np.fft.fft2(z),
        "old": lambda: _sample_1_0_0(gp_class.cls, paper.powers, SIZE, rng),
        "field": lambda: generator.field(9.5, SIZE, rng),
        "reference_small": lambda: reference.field(9.5, SIZE, rng),
        "reference_large": lambda: reference.field(80.0, SIZE, rng),
        "reference_sample": lambda: reference.sample(
            gp_class.cls, paper.powers, SIZE, rng
        ),
    }
    for n in _thread_counts():
        fns[f"sample_{n}"] = sample_with(n)
    times = _best_times(fns, repeats)
    t_inv, t_floor = times["irfft2"], times["fft2"]
    rows = [
        {"row": f"numpy irfft2 (floor), {SIZE}^2 float64", "seconds": t_inv},
        {"row": f"numpy fft2, {SIZE}^2 complex", "seconds": t_floor},
        {"row": f"sample, 1.0.0 synthesis, '{gp_class.name}'", "seconds": times["old"]},
        {"row": f"tfds_gp field, cl=9.5, {SIZE}^2", "seconds": times["field"]},
    ]
    for n in _thread_counts():
        rows.append(
            {
                "row": f"tfds_gp sample, 2 scales '{gp_class.name}', {n} thread(s)",
                "seconds": times[f"sample_{n}"],
                "threads": n,
            }
        )
    rows += [
        {
            "row": f"tfds_gp reference field, cl=9.5 ({reference.patch_count(9.5, SIZE)}"
            " patches)",
            "seconds": times["reference_small"],
        },
        {"row": "tfds_gp reference field, cl=80", "seconds": times["reference_large"]},
        {
            "row": f"tfds_gp reference sample, 2 scales '{gp_class.name}'",
            "seconds": times["reference_sample"],
        },
    ]
    rows += _george_rows(quick, repeats)
    t_field = times["field"]
    for row in rows:
        if "seconds" in row:
            row["ratio_to_two_irfft2"] = row["seconds"] / (2 * t_inv)
            row["ratio_to_fft2"] = row["seconds"] / t_floor
            if row.get("pixels") == SIZE * SIZE:
                row["ratio_to_field"] = row["seconds"] / t_field
    ratios = {
        # The target: at most 1.0, on one thread.
        "sample_over_two_irfft2": times["sample_1"] / (2 * t_inv),
        "sample_1_0_0_over_two_irfft2": times["old"] / (2 * t_inv),
        "field_over_irfft2": t_field / t_inv,
        "speedup_over_1_0_0": times["old"] / times["sample_1"],
        "reference_sample_over_sample": times["reference_sample"] / times["sample_1"],
    }
    for n in _thread_counts()[1:]:
        ratios[f"sample_over_two_irfft2_{n}_threads"] = times[f"sample_{n}"] / (
            2 * t_inv
        )
    for row in rows:
        if row.get("estimate"):
            key = (
                "george_dense_over_field"
                if "dense" in row["row"]
                else "george_tiled_over_field"
            )
            ratios[key] = row["seconds"] / t_field
    result = {
        "benchmark": "generator",
        "quick": quick,
        "size": SIZE,
        "cpu_count": os.cpu_count(),
        "rows": rows,
        "ratios": ratios,
    }
    # run_all.py and report.py show a benchmark's "table".
    result["table"] = _table(result)
    return result


def _table(result: dict) -> str:
    """The rows as a fixed-width table, then the ratios."""
    head = f"{'row':62s} {'seconds':>10s} {'x 2 irfft2':>11s} {'x fft2':>10s}"
    lines = [head]
    for row in result["rows"]:
        if "seconds" not in row:
            lines.append(f"{row['row']:62s} {row['note']}")
            continue
        est = " (est.)" if row.get("estimate") else ""
        lines.append(
            f"{row['row'] + est:62s} {row['seconds']:10.4g} "
            f"{row['ratio_to_two_irfft2']:11.3g} {row['ratio_to_fft2']:10.3g}"
        )
    lines.append(
        "ratios: "
        + json.dumps({k: float(f"{v:.4g}") for k, v in result["ratios"].items()})
    )
    return "\n".join(lines)


if __name__ == "__main__":
    from _cli import main

    main(__doc__.splitlines()[0], run, "fewer repeats, smaller george grids")
