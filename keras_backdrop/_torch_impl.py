"""The backdrop mechanism on PyTorch: a `torch.autograd.Function` and torch ops.

The `keras.ops` route (`_keras_ops_impl`) works on PyTorch too, but every
`keras.ops` call pays Keras's dispatch, and `keras.ops.custom_gradient` its
own wrapping: about 1 ms per layer per training step on the texture network
(benchmarks/README.md). Here the mask is built with torch ops directly, and
the uniforms are counter-based (`_uniform`), with seeds from the layer's
`SeedGenerator` as Keras's draws have; `keep_count` shares the portable
selection. Arguments reach these functions already validated by
`keras_backdrop.masks`.
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
    "checked_pin_value",
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
    uniform = _uniform(size, seed)
    if keep_count is not None:
        keep = keep_exactly(uniform, keep_count, size)
        if pinned_flat_index is not None:
            flat = torch.as_tensor(pinned_flat_index, device=keep.device)
            positions = torch.arange(size, device=keep.device)
            pinned = (positions == flat).to(torch.float32)
            keep = torch.where(flat >= 0, pinned, keep)
    else:
        keep = _keep_with_probability(uniform, mask_prob, size, pinned_flat_index)
    keep = rescale(keep, keep.sum(), size, normalize, mask_prob, keep_count)
    return keep.reshape(mask_shape)


def _keep_with_probability(
    uniform: torch.Tensor, mask_prob: float, size: int, pinned_flat_index: Any
) -> torch.Tensor:
    """0/1 flags (float32): entries whose uniform is at least `mask_prob`.

    A mask is never all zero: one uniformly chosen entry survives. When
    nothing survived, the uniforms are i.i.d. below `mask_prob`, so the
    position of the largest is uniform and no second draw is needed;
    lifting that entry by 2, always, keeps it then and changes nothing
    otherwise. A pin lifts its own entry instead and raises the threshold
    to 2: it alone survives. All on the device (no host sync on whether
    anything survived), with no in-place write and no select over the
    whole mask.
    """
    positions = torch.arange(size, device=uniform.device)
    # topk, not argmax: Inductor (PyTorch 2.13, CPU) fused an argmax with
    # the draw's integer hashing into a kernel that crashed the process
    # (a segmentation fault) once the seed's step was in the same graph;
    # topk is a kernel of its own. The same entry either way.
    lift_at = uniform.topk(1).indices[0]
    threshold: Any = mask_prob
    if pinned_flat_index is not None:
        flat = torch.as_tensor(pinned_flat_index, device=uniform.device)
        lift_at = torch.where(flat >= 0, flat, lift_at)
        threshold = torch.where(flat >= 0, 2.0, mask_prob)
    lifted = torch.where(positions == lift_at, uniform + 2.0, uniform)
    return (lifted >= threshold).to(torch.float32)


def _signed(value: int) -> int:
    """A 64-bit constant as the int64 that has its bits."""
    return value - (1 << 64) if value >= 1 << 63 else value


_GOLDEN = _signed(0x9E3779B97F4A7C15)
_MIX1 = _signed(0xBF58476D1CE4E5B9)
_MIX2 = _signed(0x94D049BB133111EB)


def _shift_right(z: torch.Tensor, bits: int) -> torch.Tensor:
    """Logical right shift of int64 bits (torch's `>>` is arithmetic)."""
    return (z >> bits) & ((1 << (64 - bits)) - 1)


def _mix(z: torch.Tensor) -> torch.Tensor:
    """SplitMix64's finaliser: each output bit depends on every input bit.

    int64 products wrap modulo 2**64, as the finaliser needs.
    """
    z = (z ^ _shift_right(z, 30)) * _MIX1
    z = (z ^ _shift_right(z, 27)) * _MIX2
    return z ^ _shift_right(z, 31)


def _uniform(size: int, seed: Any) -> torch.Tensor:
    """`size` float32 uniforms in [0, 1), counter-based, from a seed pair.

    Like TensorFlow's stateless Philox draw, a pure function of the
    generator's state and the entry's index, made of tensor ops only:
    `keras.random` seeds a `torch.Generator` per draw in a function that
    `torch.compile` may not trace, which split every compiled step into
    many graphs. A `SeedGenerator` advances by one per draw; an integer
    seed gives the same draw every time; without a seed, Keras's global
    generator supplies the draw.
    """
    if seed is None:
        return keras.random.uniform((size,), seed=None)
    if isinstance(seed, keras.random.SeedGenerator):
        pair = _next_pair(seed)
    else:
        pair = torch.tensor([seed, 0])
    device = keras.ops.convert_to_tensor(0.0).device
    pair = torch.as_tensor(pair, device=device).to(torch.int64) & 0xFFFFFFFF
    key = _mix((pair[0] << 32) | pair[1])
    index = torch.arange(1, size + 1, dtype=torch.int64, device=device)
    bits = _mix(key + index * _GOLDEN)
    # The top 24 bits: every float32 in [0, 1) on a 2**-24 grid.
    return _shift_right(bits, 40).to(torch.float32) * (1.0 / (1 << 24))


def _next_pair(generator: keras.random.SeedGenerator) -> torch.Tensor:
    """Keras's `generator.next()` in torch ops: the state, then a step.

    Keras's own builds its increment from a NumPy array, a graph break at
    every draw under `torch.compile`. The update goes through the Keras
    variable's `assign`, so that a stateless scope records it.
    """
    state = generator.state
    pair = state.value * 1  # A copy: the variable is updated in place.
    state.assign(pair + torch.tensor([0, 1], dtype=pair.dtype, device=pair.device))
    return pair


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


def checked_pin_value(value: Any, dims: Any, message: str) -> Any:
    """A pin written inside a traced function, as it is.

    Its value is unknown here; on this backend the layer checks the pin
    when the training step is traced (README, "The layer").
    """
    del dims, message
    return value
