"""The mask rule, written once for every backend against `RuleOps`."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol

Tensor = Any


class RuleOps(Protocol):
    """The array operations of the mask rule (sizes: ints, or tensors on TensorFlow)."""

    def largest_at(self, uniform: Tensor, size: int | Tensor) -> Tensor:
        """The position of the largest uniform (any one of them on ties)."""

    def add_at(self, values: Tensor, at: Tensor, amount: float, size: Any) -> Tensor:
        """`values` with `amount` added at position `at`, elsewhere unchanged."""

    def one_hot(self, at: Tensor, size: int | Tensor) -> Tensor:
        """Float32 flags: 1 at position `at` (>= 0), 0 elsewhere."""

    def as_index(self, value: Any, like: Tensor) -> Tensor:
        """A flat index (Python int or tensor) as an integer tensor beside `like`."""

    def where(self, condition: Tensor, x: Any, y: Any) -> Tensor:
        """`x` where `condition` holds, else `y` (broadcasting scalars)."""

    def flags(self, condition: Tensor) -> Tensor:
        """A boolean tensor as float32 0/1 flags."""

    def count(self, condition: Tensor) -> Tensor:
        """How many entries of a boolean tensor hold (an int32 scalar)."""

    def top_k_indices(self, values: Tensor, k: int, sorted: bool) -> Tensor:
        """Positions of the `k` largest of a 1-D tensor."""

    def scatter(self, indices: Tensor, updates: Tensor, size: int | Tensor) -> Tensor:
        """A 1-D tensor of `size` zeros with `updates` at `indices`."""

    def arange(self, n: int) -> Tensor:
        """The integers 0 to n - 1."""

    def abs(self, x: Tensor) -> Tensor:
        """The absolute value."""

    def cond(
        self, predicate: Tensor, true_fn: Callable[[], Tensor], false_fn: Callable
    ) -> Tensor:
        """`true_fn()` if the scalar `predicate` holds, else `false_fn()`."""

    def zeros(self, size: int | Tensor) -> Tensor:
        """A 1-D float32 tensor of `size` zeros."""

    def ones(self, n: int) -> Tensor:
        """A 1-D float32 tensor of `n` ones."""

    def per_survivor(self, keep: Tensor, size: int | Tensor) -> Tensor:
        """`keep * size / keep.sum()`: the flags rescaled to sum to `size`."""

    def size_over(self, size: int | Tensor, keep_count: int) -> Any:
        """`size / keep_count`, the `"expected"` scale of a `keep_count` mask."""


def draw(
    xp: RuleOps,
    uniform: Tensor,
    size: int | Tensor,
    mask_prob: Any,
    keep_count: int | None,
    normalize: str | None,
    pinned_flat_index: Any,
) -> Tensor:
    """The flat float32 mask from `size` uniforms; a negative pin pins nothing."""
    if keep_count is not None:
        keep = keep_exactly(xp, uniform, keep_count, size)
        if pinned_flat_index is not None:
            flat = xp.as_index(pinned_flat_index, keep)
            keep = xp.where(flat >= 0, xp.one_hot(flat, size), keep)
    else:
        keep = keep_with_probability(xp, uniform, mask_prob, size, pinned_flat_index)
    return rescale(xp, keep, size, normalize, mask_prob, keep_count)


def keep_with_probability(
    xp: RuleOps,
    uniform: Tensor,
    mask_prob: Any,
    size: int | Tensor,
    pinned_flat_index: Any,
) -> Tensor:
    """0/1 flags (float32): entries whose uniform is at least `mask_prob`."""
    # Never empty: the largest uniform is lifted by 2, always (its entry is
    # uniform when nothing survived); a pin lifts its own and the threshold.
    lift_at = xp.largest_at(uniform, size)
    threshold = mask_prob
    if pinned_flat_index is not None:
        flat = xp.as_index(pinned_flat_index, uniform)
        pinned = flat >= 0
        lift_at = xp.where(pinned, flat, lift_at)
        threshold = xp.where(pinned, 2.0, mask_prob)
    return xp.flags(xp.add_at(uniform, lift_at, 2.0, size) >= threshold)


def keep_exactly(
    xp: RuleOps,
    uniform: Tensor,
    keep_count: int,
    size: int | Tensor,
    window: int | None = None,
) -> Tensor:
    """0/1 flags (float32) of the `keep_count` smallest uniforms."""
    # Static sizes: the entries below keep_count / size, corrected by a top-k
    # over ~10 standard deviations (`window`); a full top-k is far slower.
    if not isinstance(size, int):
        return xp.cond(
            size > 0,
            lambda: smallest_by_top_k(xp, uniform, keep_count, size),
            lambda: xp.zeros(size),
        )
    if window is None and _window(size, keep_count) >= size:
        return smallest_by_top_k(xp, uniform, keep_count, size)
    window = min(size, window or _window(size, keep_count))
    below = uniform < keep_count / size
    short = keep_count - xp.count(below)

    def corrected():
        # Too few below the threshold: add the smallest above it; too many:
        # drop the largest below it. -2 ranks last: never picked first.
        key = xp.where(
            short > 0,
            xp.where(below, -2.0, -uniform),
            xp.where(below, uniform, -2.0),
        )
        picked = xp.top_k_indices(key, window, sorted=True)
        sign = xp.where(short > 0, 1.0, -1.0)
        step = sign * xp.flags(xp.arange(window) < xp.abs(short))
        return xp.flags(below) + xp.scatter(picked, step, size)

    return xp.cond(
        xp.abs(short) <= window,
        corrected,
        lambda: smallest_by_top_k(xp, uniform, keep_count, size),
    )


def smallest_by_top_k(
    xp: RuleOps, uniform: Tensor, keep_count: int, size: int | Tensor
) -> Tensor:
    """0/1 flags of the `keep_count` smallest of `uniform`, by a full top-k."""
    kept = xp.top_k_indices(-uniform, keep_count, sorted=False)
    return xp.scatter(kept, xp.ones(keep_count), size)


def rescale(
    xp: RuleOps,
    keep: Tensor,
    size: int | Tensor,
    normalize: str | None,
    mask_prob: Any,
    keep_count: int | None,
) -> Tensor:
    """The 0/1 `keep` rescaled per `normalize` (see `keras_backdrop.draw_mask`)."""
    if normalize == "count":
        return xp.per_survivor(keep, size)
    if normalize == "expected":
        if keep_count is not None:
            return keep * xp.size_over(size, keep_count)
        return keep / (1.0 - mask_prob)
    return keep


def keep_count_message(
    keep_count: int, size: int | None = None, mask: str = "the mask"
) -> str:
    """The error for a `keep_count` above the mask's size (None: unknown)."""
    entries = "the number of entries" if size is None else f"the {size} entries"
    return (
        f"Invalid value for argument `keep_count`: keep_count={keep_count} "
        f"exceeds {entries} of {mask}."
    )


def check_keep_count(
    keep_count: int | None,
    size: int | None,
    mask: str = "the mask",
    error: Callable[[str], Exception] = ValueError,
) -> None:
    """Raises `error` for a `keep_count` past a known, non-empty mask size."""
    if keep_count is not None and size and keep_count > size:
        raise error(keep_count_message(keep_count, size, mask))


def _window(size: int, keep_count: int) -> int:
    """Ten standard deviations of the count below the threshold, and some."""
    p = keep_count / size
    return int(math.ceil(10 * math.sqrt(size * p * (1 - p)))) + 16
