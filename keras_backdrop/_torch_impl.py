"""The backdrop mechanism on PyTorch: a `torch.autograd.Function` and torch ops."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import torch

from keras_backdrop import _portable, _rule
from keras_backdrop._portable import KerasOps, strides

# The contract's functions that JAX and PyTorch share.
as_tensor = _portable.as_tensor
mask_dims = _portable.mask_dims
broadcast_mask = _portable.broadcast_mask
checked_pin_value = _portable.checked_pin_value


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


# Torch ops on the per-step path: Keras's dispatch costs ~1 ms per layer per step.
class TorchOps(KerasOps):
    """`_rule.RuleOps`: torch ops for the `mask_prob` rule, the pin and the scale."""

    where = staticmethod(torch.where)
    reshape = staticmethod(torch.reshape)

    def largest_at(self, uniform, size):
        # topk, not argmax: Inductor fused an argmax with the draw's hashing
        # into a kernel that crashed (benchmarks/README.md).
        return uniform.topk(1).indices[0]

    def add_at(self, values, at, amount, size):
        positions = torch.arange(size, device=values.device)
        return torch.where(positions == at, values + amount, values)

    def one_hot(self, at, size):
        positions = torch.arange(size, device=at.device)
        return (positions == at).to(torch.float32)

    def as_index(self, value, like):
        return torch.as_tensor(value, device=like.device)

    def flags(self, condition):
        return condition.to(torch.float32)

    def per_survivor(self, keep, size):
        return keep * (size / keep.sum())

    def uniform(self, size, seed):
        return _uniform(size, seed)


TORCH_OPS = TorchOps()


# Functions, not `functools.partial`s: Dynamo breaks the graph on a partial.
def draw_mask(*args: Any, **kwargs: Any) -> Any:
    """`_portable.draw_mask` with torch ops."""
    return _portable.draw_mask(TORCH_OPS, *args, **kwargs)


def keep_exactly(*args: Any, **kwargs: Any) -> Any:
    """`_rule.keep_exactly` with torch ops."""
    return _rule.keep_exactly(TORCH_OPS, *args, **kwargs)


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
    """SplitMix64's finaliser (int64 products wrap modulo 2**64, as it needs)."""
    z = (z ^ _shift_right(z, 30)) * _MIX1
    z = (z ^ _shift_right(z, 27)) * _MIX2
    return z ^ _shift_right(z, 31)


def _uniform(size: int, seed: Any) -> torch.Tensor:
    """`size` float32 uniforms in [0, 1), counter-based, in tensor ops only."""
    # `keras.random`'s per-draw `torch.Generator` breaks `torch.compile` graphs.
    if seed is None:
        return keras.random.uniform((size,), seed=None)
    if isinstance(seed, keras.random.SeedGenerator):
        pair = _next_pair(seed)
    else:
        pair = torch.tensor([seed, 0])
    device = keras.ops.convert_to_tensor(0.0).device  # Where Keras puts tensors.
    pair = torch.as_tensor(pair, device=device).to(torch.int64) & 0xFFFFFFFF
    key = _mix((pair[0] << 32) | pair[1])
    index = torch.arange(1, size + 1, dtype=torch.int64, device=device)
    bits = _mix(key + index * _GOLDEN)
    # The top 24 bits: every float32 in [0, 1) on a 2**-24 grid.
    return _shift_right(bits, 40).to(torch.float32) * (1.0 / (1 << 24))


def _next_pair(generator: keras.random.SeedGenerator) -> torch.Tensor:
    """Keras's `generator.next()` without its graph break under `torch.compile`."""
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
    # Checked by the layer when it is traced, where every shape is known.
    del layer_name, axes
    index = pinned_var.value
    steps = torch.tensor(strides(dims), dtype=index.dtype, device=index.device)
    return torch.where(index[0] >= 0, (index * steps).sum(), -1)
