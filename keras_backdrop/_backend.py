"""The contract between the package and a backend module, and its loader.

One module per Keras backend implements the mechanism:
`_tensorflow_impl` (TensorFlow), `_jax_impl` (JAX) and `_torch_impl`
(PyTorch). Each provides the functions of `Backend` below; the mask rule
itself is in `_rule`, which each module calls with its own array
operations (`_rule.RuleOps`), and the pieces JAX and PyTorch share are in
`_portable`. Arguments reach a backend module already validated by
`keras_backdrop.masks` or by the layer.
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
        """Identity forward; the gradient is `upstream * mask` backward.

        `mask` broadcasts to `x` (checked by the caller) and is cast to the
        gradient's dtype; a blocked entry passes exactly zero, even where
        the upstream gradient is NaN or infinite.
        """

    def draw_mask(
        self,
        mask_shape: Sequence[int] | Tensor,
        mask_prob: float | Tensor | None,
        keep_count: int | None,
        normalize: str | None,
        seed: int | keras.random.SeedGenerator | None,
        pinned_flat_index: Tensor | int | None,
    ) -> Tensor:
        """One float32 mask of `mask_shape` by the rule (`_rule.draw`).

        `mask_prob` may be a float32 scalar tensor (the layer's variable).
        An integer `seed` is already hashed (`masks.mix_seed`). A
        `keep_count` above a non-empty mask's size raises `ValueError`
        where the size is known when tracing, and fails the run-time check
        of the graph where it is not (TensorFlow only).
        """

    def keep_exactly(
        self, uniform: Tensor, keep_count: int, size: int, window: int | None = None
    ) -> Tensor:
        """`_rule.keep_exactly` with this backend's operations."""

    def mask_dims(self, inputs: Tensor, axes: Sequence[int]) -> tuple | Tensor:
        """The mask's shape over `axes` of `inputs`.

        A tuple of ints where every masked dimension is known when tracing
        (always on JAX and PyTorch); on TensorFlow otherwise a 1-D tensor.
        """

    def pinned_flat_index(
        self,
        pinned_var: keras.Variable,
        dims: tuple | Tensor,
        layer_name: str,
        axes: Sequence[int],
    ) -> Tensor:
        """The row-major flat index of the pin, negative when nothing is pinned.

        `pinned_var` holds one index per sorted masked axis, all -1 when
        unpinned. Where `dims` are not those every write was checked
        against, a pin outside them must be refused (in the graph on
        TensorFlow; the layer checks when tracing elsewhere).
        """

    def broadcast_mask(
        self, mask: Tensor, dims: tuple | Tensor, axes: Sequence[int], rank: int
    ) -> Tensor:
        """`mask` reshaped with size 1 on the unmasked axes, to broadcast."""

    def checked_pin_value(
        self, value: Tensor, dims: tuple[int | None, ...], message: str
    ) -> Tensor:
        """A pin written inside a traced function, checked where possible.

        Either -1 on every axis or within `dims` on every axis (None: any
        size); TensorFlow checks it in the graph, other backends pass it on
        (the layer checks the pin when the step is traced).
        """


def backend_impl() -> Backend:
    """The module implementing the mechanism on the current Keras backend.

    TensorFlow and PyTorch are imported only when they are the backend.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        from keras_backdrop import _tensorflow_impl as module
    elif backend == "torch":
        from keras_backdrop import _torch_impl as module
    else:
        from keras_backdrop import _jax_impl as module
    return cast(Backend, module)
