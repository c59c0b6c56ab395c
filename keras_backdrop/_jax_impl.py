"""The backdrop mechanism on JAX and PyTorch: `keras.ops` and `keras.random`.

On these backends every shape is concrete when the layer is called (also
under `jax.jit`), so the mask's shape, strides and size are Python integers
and only the random draw and the pinned index are tensors. Arguments reach
these functions already validated by `keras_backdrop.masks`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import keras
from keras import ops


def as_tensor(x: Any) -> Any:
    """`x` as a tensor, its dtype kept."""
    return x if ops.is_tensor(x) else ops.convert_to_tensor(x)


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
    mask_prob: float | None,
    keep_count: int | None,
    normalize: str | None,
    seed: int | keras.random.SeedGenerator | None,
    pinned_flat_index: Any,
) -> Any:
    """One mask by the reference rules (see `keras_backdrop.draw_mask`)."""
    mask_shape, size = checked_shape(mask_shape, keep_count)
    if size == 0:
        return ops.zeros(mask_shape, "float32")
    uniform = keras.random.uniform((size,), seed=seed)
    positions = ops.arange(size, dtype="int32")
    if keep_count is not None:
        keep = keep_exactly(uniform, keep_count, size)
    else:
        keep = ops.cast(uniform >= mask_prob, "float32")
        # A mask is never all zero: one uniformly chosen entry survives. When
        # nothing survived, the uniforms are i.i.d. below mask_prob, so the
        # position of the largest is uniform and no second draw is needed.
        largest = ops.cast(ops.argmax(uniform), "int32")
        fallback = ops.cast(ops.equal(positions, largest), "float32")
        keep = ops.where(ops.max(keep) > 0, keep, fallback)
    if pinned_flat_index is not None:
        pinned_flat_index = ops.cast(pinned_flat_index, "int32")
        # An equality rather than one_hot: one_hot(-1) raises on PyTorch.
        pinned = ops.cast(ops.equal(positions, pinned_flat_index), "float32")
        keep = ops.where(pinned_flat_index >= 0, pinned, keep)
    keep = rescale(keep, ops.sum(keep), size, normalize, mask_prob, keep_count)
    return ops.reshape(keep, mask_shape)


def checked_shape(mask_shape: Any, keep_count: int | None) -> tuple[tuple, int]:
    """`(shape, size)` of a static mask shape.

    Refuses a `keep_count` past a non-empty mask's size.
    """
    mask_shape = _static_shape(mask_shape)
    size = math.prod(mask_shape)
    if size and keep_count is not None and keep_count > size:
        raise ValueError(
            f"Invalid value for argument `keep_count`: keep_count={keep_count}"
            f" exceeds the {size} entries of a mask of shape {mask_shape}."
        )
    return mask_shape, size


def rescale(
    keep: Any,
    count: Any,
    size: int,
    normalize: str | None,
    mask_prob: float | None,
    keep_count: int | None,
) -> Any:
    """The 0/1 `keep` (with `count` survivors) rescaled per `normalize`."""
    if normalize == "count":
        return keep * (size / count)
    if normalize == "expected":
        if keep_count is not None:
            return keep * (size / keep_count)
        return keep / (1.0 - mask_prob)
    return keep


def keep_exactly(
    uniform: Any, keep_count: int, size: int, window: int | None = None
) -> Any:
    """0/1 flags of the `keep_count` smallest of `uniform` (float32).

    The same selection as on TensorFlow (`_tensorflow_impl.keep_exactly`):
    the threshold draw, corrected by a top-k over a window of about ten
    standard deviations, or a full top-k where the window is not smaller.
    """
    if window is None and _window(size, keep_count) >= size:
        return _smallest_by_top_k(uniform, keep_count, size)
    window = min(size, window or _window(size, keep_count))
    below = uniform < keep_count / size
    short = keep_count - ops.sum(ops.cast(below, "int32"))

    def corrected():
        # Too few below the threshold: add the smallest above it; too many:
        # drop the largest below it. -2 ranks last: never picked first.
        key = ops.where(
            short > 0,
            ops.where(below, -2.0, -uniform),
            ops.where(below, uniform, -2.0),
        )
        _, picked = ops.top_k(key, window, sorted=True)
        sign = ops.where(short > 0, 1.0, -1.0)
        step = sign * ops.cast(ops.arange(window) < ops.abs(short), "float32")
        return ops.cast(below, "float32") + ops.scatter(
            ops.expand_dims(picked, -1), step, (size,)
        )

    return ops.cond(
        ops.abs(short) <= window,
        corrected,
        lambda: _smallest_by_top_k(uniform, keep_count, size),
    )


def _smallest_by_top_k(uniform: Any, keep_count: int, size: int) -> Any:
    _, kept = ops.top_k(-uniform, keep_count, sorted=False)
    return ops.scatter(
        ops.expand_dims(kept, -1), ops.ones((keep_count,), "float32"), (size,)
    )


def _window(size: int, keep_count: int) -> int:
    """Ten standard deviations of the count below the threshold, and some."""
    p = keep_count / size
    return int(math.ceil(10 * math.sqrt(size * p * (1 - p)))) + 16


def mask_dims(inputs: Any, axes: Sequence[int]) -> tuple[int, ...]:
    """The mask's shape for `inputs` (concrete on these backends)."""
    shape = tuple(inputs.shape)
    return tuple(int(shape[a]) for a in axes)


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
    # Row-major strides of the mask, so that the flat index matches the
    # reshape of the flat mask back to dims.
    strides = [math.prod(dims[i + 1 :]) for i in range(len(dims))]
    flat = ops.sum(index * ops.convert_to_tensor(strides, "int32"))
    return ops.where(index[0] >= 0, flat, -1)


def broadcast_mask(
    mask: Any, dims: tuple[int, ...], axes: Sequence[int], rank: int
) -> Any:
    """`mask` reshaped with size 1 on the unmasked axes, to broadcast."""
    shape = [1] * rank
    for position, axis in enumerate(axes):
        shape[axis] = dims[position]
    return ops.reshape(mask, tuple(shape))


def _static_shape(mask_shape: Any) -> tuple[int, ...]:
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
    return shape


def checked_pin_value(value: Any, dims: Any, message: str) -> Any:
    """A pin written inside a traced function, as it is.

    Its value is unknown here; on this backend the layer checks the pin
    when the training step is traced (README, "The layer").
    """
    del dims, message
    return value
