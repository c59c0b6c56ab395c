"""Backend pieces in `keras.ops`, shared by JAX and PyTorch.

Every shape is concrete on these backends, so sizes are Python integers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

from keras_backdrop import _rule


def as_tensor(x: Any) -> Any:
    """`x` as a tensor, its dtype kept."""
    return x if ops.is_tensor(x) else ops.convert_to_tensor(x)


def mask_dims(inputs: Any, axes: Sequence[int]) -> tuple[int, ...]:
    """The mask's shape for `inputs` (concrete on these backends)."""
    shape = tuple(inputs.shape)
    return tuple(int(shape[a]) for a in axes)


def broadcast_mask(
    mask: Any, dims: tuple[int, ...], axes: Sequence[int], rank: int
) -> Any:
    """`mask` reshaped with size 1 on the unmasked axes, to broadcast."""
    shape = tuple(dims[axes.index(a)] if a in axes else 1 for a in range(rank))
    return ops.reshape(mask, shape)


def strides(dims: Sequence[int]) -> list[int]:
    """Row-major strides of `dims`, so that a flat index matches a reshape."""
    return [math.prod(dims[i + 1 :]) for i in range(len(dims))]


def checked_pin_value(value: Any, dims: Any, message: str) -> Any:
    """A pin written inside a traced function, as it is (checked when traced)."""
    del dims, message
    return value


def checked_shape(mask_shape: Any, keep_count: int | None) -> tuple[tuple, int]:
    """`(shape, size)` of a static mask shape; `TypeError`/`ValueError` if bad."""
    try:
        shape = tuple(int(d) for d in mask_shape)
    except (TypeError, ValueError):
        raise TypeError(
            "Invalid type for argument `mask_shape`: on the "
            f"{keras.backend.backend()} backend it must be a sequence of "
            f"integers. Received: mask_shape={mask_shape!r}"
        ) from None
    if any(d < 0 for d in shape):
        raise ValueError(
            "Invalid value for argument `mask_shape`: dimensions must be "
            f">= 0. Received: mask_shape={mask_shape!r}"
        )
    size = math.prod(shape)
    _rule.check_keep_count(keep_count, size, f"a mask of shape {shape}")
    return shape, size


def draw_mask(
    xp: Any,
    mask_shape: Any,
    mask_prob: Any,
    keep_count: int | None,
    normalize: str | None,
    seed: int | keras.random.SeedGenerator | None,
    pinned_flat_index: Any,
) -> Any:
    """One mask by the rule (see `keras_backdrop.draw_mask`) with the ops `xp`."""
    mask_shape, size = checked_shape(mask_shape, keep_count)
    if size == 0:
        return ops.zeros(mask_shape, "float32")
    uniform = xp.uniform(size, seed)
    keep = _rule.draw(
        xp, uniform, size, mask_prob, keep_count, normalize, pinned_flat_index
    )
    return xp.reshape(keep, mask_shape)


class KerasOps:
    """`_rule.RuleOps` in `keras.ops` for static sizes, and the draw's ops."""

    where = staticmethod(ops.where)
    arange = staticmethod(ops.arange)
    abs = staticmethod(ops.abs)
    cond = staticmethod(ops.cond)
    reshape = staticmethod(ops.reshape)

    def uniform(self, size, seed):
        return keras.random.uniform((size,), seed=seed)

    def largest_at(self, uniform, size):
        return ops.cast(ops.argmax(uniform), "int32")

    def add_at(self, values, at, amount, size):
        # An equality rather than one_hot: one_hot(-1) raises on PyTorch.
        return ops.where(
            ops.equal(ops.arange(size, dtype="int32"), at), values + amount, values
        )

    def one_hot(self, at, size):
        return ops.cast(ops.equal(ops.arange(size, dtype="int32"), at), "float32")

    def as_index(self, value, like):
        return ops.cast(value, "int32")

    def flags(self, condition):
        return ops.cast(condition, "float32")

    def count(self, condition):
        return ops.sum(ops.cast(condition, "int32"))

    def top_k_indices(self, values, k, sorted):
        return ops.top_k(values, k, sorted=sorted)[1]

    def scatter(self, indices, updates, size):
        return ops.scatter(ops.expand_dims(indices, -1), updates, (size,))

    def zeros(self, size):
        return ops.zeros((size,), "float32")

    def ones(self, n):
        return ops.ones((n,), "float32")

    def per_survivor(self, keep, size):
        return keep * (size / ops.sum(keep))

    def size_over(self, size, keep_count):
        return size / keep_count


KERAS_OPS = KerasOps()
