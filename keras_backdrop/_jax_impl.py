"""The backdrop mechanism in `keras.ops`: JAX, and any other Keras backend."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

from keras_backdrop import _portable, _rule
from keras_backdrop._portable import KERAS_OPS, strides

# The contract's functions that JAX and PyTorch share.
as_tensor = _portable.as_tensor
mask_dims = _portable.mask_dims
broadcast_mask = _portable.broadcast_mask
checked_pin_value = _portable.checked_pin_value
draw_mask = functools.partial(_portable.draw_mask, KERAS_OPS)
keep_exactly = functools.partial(_rule.keep_exactly, KERAS_OPS)


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
