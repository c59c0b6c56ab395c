"""The contract between the package and a backend module, and its loader.

Arguments reach a backend module already validated.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, cast

import keras

Tensor = Any


class Backend(Protocol):
    """What a backend module provides (as module-level functions)."""

    def as_tensor(self, x: Any) -> Tensor:
        """`x` as a tensor of this backend, its dtype kept."""

    def mask_gradient(self, x: Tensor, mask: Tensor) -> Tensor:
        """Identity forward; `upstream * mask` backward, exactly zero where blocked."""

    def draw_mask(
        self,
        mask_shape: Sequence[int] | Tensor,
        mask_prob: float | Tensor | None,
        keep_count: int | None,
        normalize: str | None,
        seed: int | keras.random.SeedGenerator | None,
        pinned_flat_index: Tensor | int | None,
    ) -> Tensor:
        """One float32 mask of `mask_shape` by the rule (`_rule.draw`)."""

    def keep_exactly(
        self, uniform: Tensor, keep_count: int, size: int, window: int | None = None
    ) -> Tensor:
        """`_rule.keep_exactly` with this backend's operations."""

    def mask_dims(self, inputs: Tensor, axes: Sequence[int]) -> tuple | Tensor:
        """The mask's shape over `axes`: ints where known, else a 1-D tensor."""

    def pinned_flat_index(
        self,
        pinned_var: keras.Variable,
        dims: tuple | Tensor,
        layer_name: str,
        axes: Sequence[int],
    ) -> Tensor:
        """The row-major flat index of the pin, negative when nothing is pinned."""

    def broadcast_mask(
        self, mask: Tensor, dims: tuple | Tensor, axes: Sequence[int], rank: int
    ) -> Tensor:
        """`mask` reshaped with size 1 on the unmasked axes, to broadcast."""

    def checked_pin_value(
        self, value: Tensor, dims: tuple[int | None, ...], message: str
    ) -> Tensor:
        """A pin written in a traced function, checked in the graph where possible."""


def backend_impl() -> Backend:
    """The module implementing the mechanism on the current Keras backend."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        from keras_backdrop import _tensorflow_impl as module
    elif backend == "torch":
        from keras_backdrop import _torch_impl as module
    else:
        from keras_backdrop import _jax_impl as module
    return cast(Backend, module)
