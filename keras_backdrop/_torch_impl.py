"""The backdrop mechanism on PyTorch: a `torch.autograd.Function` and torch ops.

The contract is `keras_backdrop._backend.Backend`; the mask rule is
`keras_backdrop._rule`. The `keras.ops` route (the JAX module) works on
PyTorch too, but every `keras.ops` call pays Keras's dispatch, and
`keras.ops.custom_gradient` its own wrapping: about 1 ms per layer per
training step on the texture network (benchmarks/README.md, "backends":
PyTorch eager 1.116 is per-op dispatch). So the gradient and the
`mask_prob` rule's operations are torch ops (`TorchOps`), and the uniforms
are counter-based (`_uniform`), with seeds from the layer's
`SeedGenerator` as Keras's draws have; `keep_count`'s selection uses the
portable `keras.ops` operations.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import torch

from keras_backdrop import _rule
from keras_backdrop._portable import (
    KerasOps,
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


class TorchOps(KerasOps):
    """`_rule.RuleOps`: torch ops for the `mask_prob` rule, the pin and the scale.

    No Keras dispatch on the per-step path (see the module's docstring),
    and all on the device: no host sync on whether anything survived.
    """

    def largest_at(self, uniform, size):
        # topk, not argmax: Inductor (PyTorch 2.13, CPU) fused an argmax
        # with the draw's integer hashing into a kernel that crashed the
        # process (a segmentation fault) once the seed's step was in the
        # same graph; topk is a kernel of its own (benchmarks/README.md,
        # "PyTorch with torch.compile"). The same entry either way.
        return uniform.topk(1).indices[0]

    def add_at(self, values, at, amount, size):
        positions = torch.arange(size, device=values.device)
        return torch.where(positions == at, values + amount, values)

    def one_hot(self, at, size):
        positions = torch.arange(size, device=at.device)
        return (positions == at).to(torch.float32)

    def as_index(self, value, like):
        return torch.as_tensor(value, device=like.device)

    def where(self, condition, x, y):
        return torch.where(condition, x, y)

    def flags(self, condition):
        return condition.to(torch.float32)

    def per_survivor(self, keep, size):
        return keep * (size / keep.sum())


TORCH_OPS = TorchOps()


def draw_mask(
    mask_shape: Sequence[int],
    mask_prob: Any,
    keep_count: int | None,
    normalize: str | None,
    seed: int | keras.random.SeedGenerator | None,
    pinned_flat_index: Any,
) -> torch.Tensor:
    """One mask by the rule (see `keras_backdrop.draw_mask`)."""
    mask_shape, size = checked_shape(mask_shape, keep_count)
    if size == 0:
        return keras.ops.zeros(mask_shape, "float32")
    keep = _rule.draw(
        TORCH_OPS,
        _uniform(size, seed),
        size,
        mask_prob,
        keep_count,
        normalize,
        pinned_flat_index,
    )
    return keep.reshape(mask_shape)


def keep_exactly(
    uniform: Any, keep_count: int, size: int, window: int | None = None
) -> Any:
    """`_rule.keep_exactly` with this backend's operations."""
    return _rule.keep_exactly(TORCH_OPS, uniform, keep_count, size, window)


def _device() -> torch.device:
    """The device Keras puts new tensors on."""
    return keras.ops.convert_to_tensor(0.0).device


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
    device = _device()
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
    steps = torch.tensor(strides(dims), dtype=index.dtype, device=index.device)
    return torch.where(index[0] >= 0, (index * steps).sum(), -1)
