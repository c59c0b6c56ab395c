"""Paired bootstrap confidence intervals for differences between variants.

Two training variants run on the same seeds (same data split, same initial
weights) give paired results: the seed-to-seed spread is shared, so the
quantity to estimate is the mean of the per-seed differences. The
percentile bootstrap resamples the seeds (with replacement) and reads the
interval off the distribution of the resampled means.

With five seeds the bootstrap distribution takes few distinct values and
the percentile interval is narrower than it should be (it does not widen
for small samples as Student's t does); read it together with the t
interval of `keras_backdrop.experiments.results.summarize`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def paired_bootstrap_ci(
    variant: Sequence[float],
    baseline: Sequence[float],
    *,
    n_boot: int = 10_000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """Mean of `variant - baseline` and its percentile bootstrap interval.

    The i-th entries of `variant` and `baseline` belong to the same seed;
    the seeds are resampled `n_boot` times with replacement and the
    interval's ends are the `(1 - level) / 2` and `(1 + level) / 2`
    quantiles of the resampled mean differences.

    >>> r = paired_bootstrap_ci([0.8, 0.9, 0.7], [0.8, 0.9, 0.7])
    >>> r["mean"], r["ci_low"], r["ci_high"]
    (0.0, 0.0, 0.0)
    >>> r = paired_bootstrap_ci([1.0, 2.0], [1.0, 1.0])
    >>> r["mean"], r["ci_low"], r["ci_high"]
    (0.5, 0.0, 1.0)

    Args:
        variant: One value per seed.
        baseline: One value per seed, in the same order.
        n_boot: Bootstrap resamples, >= 1.
        level: The interval's coverage, in (0, 1).
        seed: The resampling's random seed.

    Returns:
        `mean` (of the differences), `ci_low`, `ci_high`, `level`, `n`
        (seeds) and `n_boot`, as plain Python numbers.

    Raises:
        TypeError: if `n_boot` or `seed` is not an integer.
        ValueError: if the sequences are empty, not one-dimensional, of
            different lengths or not finite, or if `n_boot` or `level` is
            out of range.
    """
    a = np.asarray(variant, np.float64)
    b = np.asarray(baseline, np.float64)
    if a.ndim != 1 or b.ndim != 1 or len(a) == 0 or a.shape != b.shape:
        raise ValueError(
            "Invalid value for arguments `variant` and `baseline`: expected "
            "two non-empty one-dimensional sequences of one length. "
            f"Received: variant={variant!r}, baseline={baseline!r}"
        )
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError(
            "Invalid value for arguments `variant` and `baseline`: expected "
            f"finite numbers. Received: variant={variant!r}, baseline={baseline!r}"
        )
    for name, value in (("n_boot", n_boot), ("seed", seed)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise TypeError(
                f"Invalid value for argument `{name}`: expected an integer. "
                f"Received: {name}={value!r}"
            )
    if n_boot < 1:
        raise ValueError(
            "Invalid value for argument `n_boot`: expected an integer >= 1. "
            f"Received: n_boot={n_boot}"
        )
    if not 0.0 < level < 1.0:
        raise ValueError(
            "Invalid value for argument `level`: expected a number in (0, 1). "
            f"Received: level={level!r}"
        )
    diff = a - b
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(diff), size=(n_boot, len(diff)))
    means = diff[picks].mean(axis=1)
    low, high = np.quantile(means, [(1.0 - level) / 2, (1.0 + level) / 2])
    return {
        "mean": float(diff.mean()),
        "ci_low": float(low),
        "ci_high": float(high),
        "level": float(level),
        "n": len(diff),
        "n_boot": int(n_boot),
    }
