"""The backdrop mechanism as functions for custom training loops.

`draw_mask` draws one mask and `mask_gradient` applies it to the gradient,
on every Keras 3 backend (each in its own module, `_backend.Backend`).
"""

from __future__ import annotations

import hashlib
import math
import numbers
from collections.abc import Sequence
from typing import Any

import keras

from keras_backdrop._backend import backend_impl
from keras_backdrop._checks import check_number, is_bool

NORMALIZE_MODES = ("count", "expected", None)

# The mask's flat indices are int32 on every backend.
MAX_MASK_SIZE = 2**31 - 1


def mask_gradient(x: Any, mask: Any) -> Any:
    """Identity forward; the gradient is multiplied by `mask` backward.

    Args:
        x: Any tensor of the current backend.
        mask: A tensor broadcastable to `x`. It is cast to the gradient's
            dtype, so a float32 mask works under a `mixed_float16` policy.

    Returns:
        `x`, unchanged; its gradient is `upstream_gradient * mask`, exactly
        zero where the mask is zero (even for a NaN or infinite upstream).

    Raises:
        ValueError: if `mask` does not broadcast to `x`'s shape unchanged.

    Example:
    >>> import numpy as np
    >>> x = keras.ops.convert_to_tensor([1.0, 2.0, 3.0])
    >>> y = mask_gradient(x, keras.ops.convert_to_tensor([0.0, 3.0, 0.0]))
    >>> np.asarray(keras.ops.convert_to_numpy(y))
    array([1., 2., 3.], dtype=float32)
    """
    impl = backend_impl()
    x, mask = impl.as_tensor(x), impl.as_tensor(mask)
    _check_broadcasts_to(mask, x)
    return impl.mask_gradient(x, mask)


def draw_mask(
    mask_shape: Sequence[int] | Any,
    mask_prob: float | None = None,
    keep_count: int | None = None,
    normalize: str | None = "count",
    seed: int | keras.random.SeedGenerator | None = None,
    pinned_flat_index: Any = None,
) -> Any:
    """Draws one backdrop mask of shape `mask_shape` (float32).

    If no entry survives, one uniformly chosen entry does.

    Args:
        mask_shape: The mask's shape. On TensorFlow it may be a dynamic
            shape tensor; on JAX and PyTorch it is a sequence of integers.
        mask_prob: Probability that an entry is masked (its gradient zeroed).
        keep_count: Alternative to `mask_prob`: exactly this many entries,
            chosen uniformly, survive. It must not exceed the mask's size.
        normalize: `"count"` (`mask * size / count_surviving`: entries
            sum to the size), `"expected"` (`mask / (1 - mask_prob)`, or
            `mask * size / keep_count`) or `None` (the 0/1 mask).
        seed: A `keras.random.SeedGenerator` (a new mask at every call),
            an integer (the same mask at every call) or `None` (a fresh
            mask; refused under JAX's jit). Under a `tf.distribute`
            strategy each replica draws its own mask.
        pinned_flat_index: Optional scalar int: when >= 0, the mask's
            single surviving entry (row-major), rescaled per `normalize`;
            negative: not pinned.

    Returns:
        A float32 tensor of shape `mask_shape`; empty (all zeros of that
        shape) when a dimension is 0.

    Raises:
        TypeError: if an argument has the wrong type.
        ValueError: if an argument has a bad value, `keep_count` exceeds
            the mask's size, or an integer `pinned_flat_index` is at or
            past it.
    """
    mask_prob, keep_count = validate_mask_args(mask_prob, keep_count, normalize)
    seed = validate_seed(seed, allow_generator=True)
    _check_pinned_flat_index(pinned_flat_index, mask_shape)
    if isinstance(seed, int):
        seed = mix_seed(seed)
    return backend_impl().draw_mask(
        mask_shape, mask_prob, keep_count, normalize, seed, pinned_flat_index
    )


def validate_mask_args(
    mask_prob: Any, keep_count: Any, normalize: Any
) -> tuple[float | None, int | None]:
    """The mask arguments checked; `TypeError`/`ValueError` naming a bad one."""
    if (mask_prob is None) == (keep_count is None):
        raise ValueError(
            "Exactly one of `mask_prob` and `keep_count` must be given. "
            f"Received: mask_prob={mask_prob!r}, keep_count={keep_count!r}"
        )
    if mask_prob is not None:
        mask_prob = check_number(
            "mask_prob", mask_prob, "a float in [0, 1]", lambda v: 0.0 <= v <= 1.0
        )
    if keep_count is not None:
        check_number("keep_count", keep_count, "an integer >= 1", kind=numbers.Integral)
        if not 1 <= keep_count <= MAX_MASK_SIZE:
            raise ValueError(
                "Invalid value for argument `keep_count`: expected an "
                f"integer in [1, {MAX_MASK_SIZE}] (a mask's entries are "
                f"indexed with int32). Received: keep_count={keep_count!r}"
            )
        keep_count = int(keep_count)
    if normalize not in NORMALIZE_MODES:
        raise ValueError(
            "Invalid value for argument `normalize`: expected one of "
            f"'count', 'expected' or None. Received: normalize={normalize!r}"
        )
    if normalize == "expected" and mask_prob == 1.0:
        raise ValueError(
            "`normalize='expected'` divides by `1 - mask_prob`, which is 0 "
            "for mask_prob=1.0. Use normalize='count' or a mask_prob below "
            f"1. Received: mask_prob={mask_prob!r}, normalize={normalize!r}"
        )
    return mask_prob, keep_count


def validate_seed(seed: Any, allow_generator: bool = False) -> Any:
    """`seed` checked: an integer, None or (`allow_generator`) a `SeedGenerator`."""
    if seed is None:
        return None
    if allow_generator and isinstance(seed, keras.random.SeedGenerator):
        return seed
    allowed = "an integer or None"
    if allow_generator:
        allowed = "a keras.random.SeedGenerator, " + allowed
    return check_number("seed", seed, allowed, kind=numbers.Integral)


def validate_mask_axes(mask_axes: Any) -> tuple[int, ...] | None:
    """`mask_axes` as a tuple of distinct ints (None stays None)."""
    if mask_axes is None:
        return None
    if isinstance(mask_axes, numbers.Integral) and not isinstance(mask_axes, bool):
        return (int(mask_axes),)
    try:
        axes = tuple(mask_axes)
    except TypeError:
        raise TypeError(
            "Invalid type for argument `mask_axes`: expected an integer or "
            f"a sequence of integers. Received: mask_axes={mask_axes!r}"
        ) from None
    if (
        isinstance(mask_axes, str)
        or not axes
        or any(isinstance(a, bool) or not isinstance(a, numbers.Integral) for a in axes)
    ):
        raise TypeError(
            "Invalid value for argument `mask_axes`: expected a non-empty "
            f"sequence of integers. Received: mask_axes={mask_axes!r}"
        )
    axes = tuple(int(a) for a in axes)
    _check_distinct(axes, mask_axes)
    return axes


def resolve_mask_axes(
    mask_axes: tuple[int, ...] | None, rank: int, input_shape
) -> tuple[int, ...]:
    """The masked axes of an input of `rank`, non-negative and sorted."""
    if mask_axes is None:  # Every axis but the last; a rank-1 input's only one.
        return tuple(range(max(rank - 1, 1)))
    for a in mask_axes:
        if not -rank <= a < rank:
            raise ValueError(
                f"Invalid value for argument `mask_axes`: axis {a} is out of "
                f"range for an input of rank {rank} (shape "
                f"{tuple(input_shape)}); allowed axes are {-rank} to "
                f"{rank - 1}. Received: mask_axes={mask_axes!r}"
            )
    resolved = tuple(sorted(a % rank for a in mask_axes))
    _check_distinct(resolved, mask_axes, f" for an input of rank {rank}")
    return resolved


def _check_distinct(axes: tuple[int, ...], mask_axes: Any, where: str = "") -> None:
    """Refuses repeated `axes` (from `mask_axes`); `where` ends the message."""
    if len(set(axes)) != len(axes):
        raise ValueError(
            "Invalid value for argument `mask_axes`: axes must be distinct"
            f"{where}. Received: mask_axes={mask_axes!r}"
        )


def mix_seed(seed: int) -> int:
    """A 31-bit seed from all the bits of `seed` (unrelated for nearby seeds)."""
    digest = hashlib.blake2b(str(int(seed)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") % (2**31 - 1)


def _check_broadcasts_to(mask: Any, x: Any) -> None:
    """Refuses a mask that would not broadcast to `x` unchanged."""
    try:
        mask_shape, x_shape = tuple(mask.shape), tuple(x.shape)
    except ValueError:  # Even the rank is unknown (TensorFlow): unchecked.
        return
    fits = len(mask_shape) <= len(x_shape) and all(
        m is None or d is None or m in (1, d)
        for m, d in zip(reversed(mask_shape), reversed(x_shape))
    )
    if not fits:
        raise ValueError(
            "Invalid value for argument `mask`: it must broadcast to the "
            "shape of `x` without changing it (each dimension 1 or equal to "
            f"x's, rank at most x's). Received: mask of shape {mask_shape} "
            f"for x of shape {x_shape}."
        )


def _check_pinned_flat_index(index: Any, mask_shape: Any) -> None:
    """Refuses an integer pin at or past a static mask's size."""
    if not isinstance(index, numbers.Integral) or is_bool(index):
        return  # None, or a tensor (checked where it is computed).
    try:
        size = math.prod(int(d) for d in mask_shape)
    except (TypeError, ValueError):
        return  # A dynamic shape: the size is known only at run time.
    if index >= size:
        raise ValueError(
            "Invalid value for argument `pinned_flat_index`: it must be "
            f"below the mask's size, {size} for shape {tuple(mask_shape)} "
            f"(or negative: not pinned). Received: pinned_flat_index={index}"
        )
