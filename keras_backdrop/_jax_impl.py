"""The backdrop mechanism on JAX: `keras.ops` and `keras.random`.

The contract is `keras_backdrop._backend.Backend`; the mask rule is
`keras_backdrop._rule`, here in `keras.ops` (`_portable.KerasOps`). Any
other Keras backend gets this module too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

from keras_backdrop import _rule
from keras_backdrop._portable import (
    KERAS_OPS,
    as_tensor,
    broadcast_mask,
    checked_pin_value,
    checked_shape,
    mask_dims,
    strides,
)

__all__ = [
    "as_tensor",
    "broadcast_mask",
    "checked_pin_value",
    "draw_mask",
    "keep_exactly",
    "mask_dims",
    "mask_gradient",
    "pinned_flat_index",
]


def mask_gradient(x: Any, mask: Any) -> Any:
    """Identity forward; the gradient is `upstream * mask` backward."""
    x = ops.convert_to_tensor(x)
    mask = ops.convert_to_tensor(mask)

    @ops.custom_gradient
    def _identity(x):
        # PyTorch calls grad(*inputs, upstream=g); JAX calls grad(g).
        def grad(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            mask_ = ops.cast(mask, upstream.dtype)
            # A blocked entry passes exactly zero, even where the upstream
            # gradient is NaN or infinite.
            return ops.where(ops.not_equal(mask_, 0), upstream * mask_, 0)

        # `x` itself: keras.ops.identity builds an identity *matrix*.
        return x, grad

    return _identity(x)


def draw_mask(
    mask_shape: Sequence[int],
    mask_prob: Any,
    keep_count: int | None,
    normalize: str | None,
    seed: int | keras.random.SeedGenerator | None,
    pinned_flat_index: Any,
) -> Any:
    """One mask by the rule (see `keras_backdrop.draw_mask`)."""
    mask_shape, size = checked_shape(mask_shape, keep_count)
    if size == 0:
        return ops.zeros(mask_shape, "float32")
    uniform = keras.random.uniform((size,), seed=seed)
    keep = _rule.draw(
        KERAS_OPS, uniform, size, mask_prob, keep_count, normalize, pinned_flat_index
    )
    return ops.reshape(keep, mask_shape)


def keep_exactly(
    uniform: Any, keep_count: int, size: int, window: int | None = None
) -> Any:
    """`_rule.keep_exactly` in `keras.ops`."""
    return _rule.keep_exactly(KERAS_OPS, uniform, keep_count, size, window)


def pinned_flat_index(
    pinned_var: keras.Variable,
    dims: tuple[int, ...],
    layer_name: str,
    axes: Sequence[int],
) -> Any:
    """The flat index of the pinned entry, or -1 when nothing is pinned."""
    # Checked by the layer when it is traced, where every shape is known.
    del layer_name, axes
    index = ops.convert_to_tensor(pinned_var)
    flat = ops.sum(index * ops.convert_to_tensor(strides(dims), "int32"))
    return ops.where(index[0] >= 0, flat, -1)
