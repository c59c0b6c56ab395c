"""The backdrop mechanism on PyTorch: a `torch.autograd.Function` and torch ops.

The `keras.ops` route (`_keras_ops_impl`) gives the same masks on PyTorch,
but every `keras.ops` call pays Keras's dispatch, and `keras.ops.custom_gradient`
its own wrapping: about 1 ms per layer per training step on the texture
network (benchmarks/README.md). Here the mask is built with torch ops
directly. The uniforms still come from `keras.random.uniform`, so seeds
behave as Keras seeds them, and `keep_count` shares the portable selection.
Arguments reach these functions already validated by `keras_backdrop.masks`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import keras
import torch

from keras_backdrop._keras_ops_impl import (
    as_tensor,
    broadcast_mask,
    checked_shape,
    keep_exactly,
    mask_dims,
    rescale,
)

__all__ = [
    "as_tensor",
    "broadcast_mask",
    "draw_mask",
    "keep_exactly",
    "mask_dims",
    "mask_gradient",
    "pinned_flat_index",
]


class _MaskGradient(torch.autograd.Function):
    """Identity forward; `upstream * mask` backward, zero where blocked."""

    @staticmethod
    def forward(ctx, x, mask):
        ctx.save_for_backward(mask)
        # A view of x: the same values, bit for bit, as a new autograd node.
        return x.view_as(x)

    @staticmethod
    def backward(ctx, upstream):
        (mask,) = ctx.saved_tensors
        mask = mask.to(upstream.dtype)
        # A blocked entry passes exactly zero, even where the upstream
        # gradient is NaN or infinite.
        return torch.where(mask != 0, upstream * mask, 0.0), None


def mask_gradient(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Identity forward; the gradient is `upstream * mask` backward."""
    return _MaskGradient.apply(x, mask.to(x.device))


def draw_mask(
    mask_shape: Sequence[int],
    mask_prob: float | None,
    keep_count: int | None,
    normalize: str | None,
    seed: int | keras.random.SeedGenerator | None,
    pinned_flat_index: Any,
) -> torch.Tensor:
    """One mask by the reference rules (see `keras_backdrop.draw_mask`)."""
    mask_shape, size = checked_shape(mask_shape, keep_count)
    if size == 0:
        return keras.ops.zeros(mask_shape, "float32")
    uniform = keras.random.uniform((size,), seed=seed)
    if keep_count is not None:
        keep = keep_exactly(uniform, keep_count, size)
    else:
        keep = (uniform >= mask_prob).to(torch.float32)
        # A mask is never all zero: one uniformly chosen entry survives. When
        # nothing survived, the uniforms are i.i.d. below mask_prob, so the
        # position of the largest is uniform and no second draw is needed.
        # All on the device: no host sync on whether anything survived.
        fallback = torch.zeros_like(keep).index_fill_(0, uniform.argmax().view(1), 1.0)
        keep = torch.where(keep.any(), keep, fallback)
    if pinned_flat_index is not None:
        flat = torch.as_tensor(pinned_flat_index, device=keep.device)
        positions = torch.arange(size, device=keep.device)
        pinned = (positions == flat).to(torch.float32)
        keep = torch.where(flat >= 0, pinned, keep)
    keep = rescale(keep, keep.sum(), size, normalize, mask_prob, keep_count)
    return keep.reshape(mask_shape)


def pinned_flat_index(
    pinned_var: keras.Variable,
    dims: tuple[int, ...],
    layer_name: str,
    axes: Sequence[int],
) -> torch.Tensor:
    """The flat index of the pinned entry, or -1 when nothing is pinned."""
    # Checked by the layer when it is called, where every shape is known.
    del layer_name, axes
    index = pinned_var.value
    # Row-major strides of the mask, so that the flat index matches the
    # reshape of the flat mask back to dims.
    strides = torch.tensor(
        [math.prod(dims[i + 1 :]) for i in range(len(dims))],
        dtype=index.dtype,
        device=index.device,
    )
    return torch.where(index[0] >= 0, (index * strides).sum(), -1)
