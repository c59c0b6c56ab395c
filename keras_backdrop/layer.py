"""The `BackdropMasking` Keras layer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from keras_backdrop import _rule
from keras_backdrop._pins import CheckedVariable, Pin, concrete_value
from keras_backdrop.masks import (
    backend_impl,
    mix_seed,
    resolve_mask_axes,
    validate_mask_args,
    validate_mask_axes,
    validate_seed,
)


@keras.saving.register_keras_serializable(package="keras_backdrop")
class BackdropMasking(keras.layers.Layer):
    """Backdrop: the identity forward, a random gradient mask backward.

    Backdrop (Golkar and Cranmer, arXiv:1806.01337): the layer returns its
    input unchanged and, in training, multiplies the gradient flowing back
    through it by a fresh random mask at every step, one entry per index
    along `mask_axes`, broadcast along the other axes; if no entry
    survives, one uniformly chosen entry does. Its state (the pin,
    `mask_prob`, the generator's state) is non-trainable weights, saved
    with the model.

    Args:
        mask_prob: Float in [0, 1]. Probability that a mask entry is
            dropped (its gradient zeroed). Exactly one of `mask_prob` and
            `keep_count` must be given. It can be changed on a built layer,
            also during `fit` (`keras_backdrop.callbacks.MaskProbScheduler`).
        keep_count: Integer >= 1, at most the mask's size. Alternative to
            `mask_prob`: exactly this many mask entries, chosen uniformly,
            survive at each step. Fixed once the layer is built.
        mask_axes: Integer or sequence of distinct integers: the axes along
            which the mask varies (negative values count from the end).
            Defaults to every axis but the last (a rank-1 input: its axis).
        normalize: How the surviving entries are rescaled: `"count"` (the
            reference; entries sum to the mask size), `"expected"` (divide
            by `1 - mask_prob`, like dropout; with `keep_count`, multiply by
            `size / keep_count`), or `None` (a plain 0/1 mask).
        seed: Optional integer: the same sequence of masks run to run
            (under the same `jit_compile` setting).
        pinned_index: Optional diagnostic mode: one index per masked axis
            (an integer for one axis), the mask's single surviving entry,
            rescaled per `normalize`; it can be changed or cleared on a
            built layer (`pinned_index` attribute) without recompiling.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: Input tensor of any rank >= 1.
        training: Python boolean: whether to mask the gradient (training)
            or to do nothing (inference).

    Raises:
        TypeError: if an argument has the wrong type.
        ValueError: if an argument has a bad value, or (when built) the
            input has rank 0, an axis is out of range, `keep_count` exceeds
            the mask's size or the pin lies outside the mask.

    Example:
    >>> model = keras.Sequential([
    ...     keras.Input((64, 64, 1)),
    ...     keras.layers.Conv2D(16, 2, strides=2, activation="relu"),
    ...     BackdropMasking(mask_prob=0.3, mask_axes=(1, 2), seed=1),
    ...     keras.layers.GlobalAveragePooling2D(),
    ...     keras.layers.Dense(4),
    ... ])
    >>> model.layers[1].pinned_index = (3, 5)  # diagnostic: one cell only
    >>> model.layers[1].pinned_index = None  # back to random masks
    """

    def __init__(
        self,
        mask_prob: float | None = None,
        keep_count: int | None = None,
        mask_axes: int | Sequence[int] | None = None,
        normalize: str | None = "count",
        seed: int | None = None,
        pinned_index: int | Sequence[int] | None = None,
        **kwargs: Any,
    ):
        # An identity returns its input in its own dtype: no autocast.
        super().__init__(**{"autocast": False, **kwargs})
        mask_prob, keep_count = validate_mask_args(mask_prob, keep_count, normalize)
        self.normalize = normalize
        # `mask_prob` lives in a variable once built, so that a compiled step
        # reads each new value (a schedule) without retracing.
        self._mask_prob = mask_prob
        self._keep_count = keep_count
        self._mask_prob_var = None
        self.mask_axes = validate_mask_axes(mask_axes)
        self.seed = validate_seed(seed)
        # Made here: in call() it would break tf.function and freeze the mask
        # under JAX and PyTorch.
        self.seed_generator = keras.random.SeedGenerator(
            None if seed is None else mix_seed(self.seed)
        )
        self._pin = Pin(self.name, self.mask_axes, pinned_index)
        self._pinned_var = None
        self._axes = None
        self.supports_masking = True

    def build(self, input_shape):
        rank = len(input_shape)
        if rank == 0:
            raise ValueError(
                f"Layer '{self.name}' needs an input of rank >= 1 (a mask "
                "varies along at least one axis). Received: an input of "
                f"shape {tuple(input_shape)}."
            )
        # Keras then refuses an input of another rank, naming the layer.
        self.input_spec = keras.layers.InputSpec(ndim=rank)
        self._axes = resolve_mask_axes(self.mask_axes, rank, input_shape)
        # The batch axis is never fixed: later batches may differ in size.
        static_dims = tuple(None if a == 0 else input_shape[a] for a in self._axes)
        size = None if None in static_dims else int(np.prod(static_dims))
        _rule.check_keep_count(
            self._keep_count,
            size,
            f"the mask over axes {self._axes} of an input of shape "
            f"{tuple(input_shape)}",
        )
        # A variable, so that a change reaches compiled steps; -1: unpinned.
        self._pinned_var = self._pin.build(self._axes, rank, static_dims, self)
        self._track_variable(self._pinned_var)
        if self._keep_count is None:
            # After the pin: older files hold the pin alone, at its position.
            with keras.name_scope(self.name, caller=self):
                self._mask_prob_var = CheckedVariable(
                    initializer=keras.initializers.Constant(self._mask_prob),
                    shape=(),
                    dtype="float32",
                    trainable=False,
                    # Compared with float32 uniforms: never cast to a mixed
                    # policy's compute dtype.
                    autocast=False,
                    name="mask_prob",
                )
            self._mask_prob_var.check = self._checked_mask_prob
            self._track_variable(self._mask_prob_var)

    @property
    def mask_prob(self) -> float | None:
        """The probability that a mask entry is dropped (None with `keep_count`).

        It can be changed on a built layer, also during a compiled `fit`;
        every write (also `set_weights`, `load_weights`) is checked.
        """
        var = self._mask_prob_var
        value = None if var is None else concrete_value(var.value)
        # The value as written (0.3, not float32's 0.30000001), unless the
        # variable now holds another (loaded weights).
        if value is not None and (
            self._mask_prob is None or np.float32(self._mask_prob) != value
        ):
            self._mask_prob = float(value)
        return self._mask_prob

    @mask_prob.setter
    def mask_prob(self, value: float) -> None:
        if self._keep_count is not None:
            raise ValueError(
                f"Layer '{self.name}' keeps exactly keep_count="
                f"{self._keep_count} entries: `mask_prob` cannot be set on it "
                "(choosing between `mask_prob` and `keep_count` is fixed at "
                f"construction). Received: mask_prob={value!r}"
            )
        value, _ = validate_mask_args(value, None, self.normalize)
        if self._mask_prob_var is not None:
            self._mask_prob_var.assign(value)
        self._mask_prob = value

    @property
    def keep_count(self) -> int | None:
        """The number of surviving entries (None with `mask_prob`); fixed once built."""
        return self._keep_count

    @keep_count.setter
    def keep_count(self, value: int) -> None:
        if self._keep_count is None or self.built:
            why = (
                "once the layer is built (the selection of exactly keep_count "
                "entries is compiled for its count; build a new layer)"
                if self._keep_count is not None
                else "on a layer built with `mask_prob` (choosing between the "
                "two is fixed at construction)"
            )
            raise ValueError(
                f"`keep_count` of layer '{self.name}' cannot be changed {why}. "
                f"Received: keep_count={value!r}"
            )
        _, self._keep_count = validate_mask_args(None, value, self.normalize)

    def _checked_mask_prob(self, value: Any) -> Any:
        """`value` for the `mask_prob` variable (every write), refused unless valid."""
        array = concrete_value(value)
        if array is None or array.shape != ():
            return value  # Traced, or a shape Keras's assign refuses.
        received = array.item()
        try:
            checked, _ = validate_mask_args(received, None, self.normalize)
        except (TypeError, ValueError) as error:
            raise type(error)(f"{error} (layer '{self.name}')") from None
        if np.float32(self._mask_prob) != np.float32(checked):
            self._mask_prob = checked
        return value

    @property
    def pinned_index(self) -> tuple[int, ...] | None:
        """The pinned mask index (diagnostic mode), or `None`; follows the variable."""
        return self._pin.read()

    @pinned_index.setter
    def pinned_index(self, index: int | Sequence[int] | None) -> None:
        self._pin.write(index)

    def load_own_variables(self, store):
        if self._mask_prob_var is not None and len(store.keys()) == 1:
            # Saved before `mask_prob` was a variable: the pin alone, and
            # the configuration's `mask_prob` stands.
            self._pinned_var.assign(store["0"])
        else:
            super().load_own_variables(store)
        self._pin.read()

    def call(self, inputs, training=None):
        dtype = keras.backend.standardize_dtype(inputs.dtype)
        if not training or "float" not in dtype:
            # Inference, or no gradient to mask (integer or bool inputs).
            return inputs
        impl = backend_impl()
        self._pin.check_against(tuple(inputs.shape[a] for a in self._axes))
        dims = impl.mask_dims(inputs, self._axes)
        pinned_flat = self._pinned_flat_index(impl, dims)
        # The backend's functions directly: the arguments were checked in
        # __init__, and PyTorch runs this at every step, not once per trace.
        mask_prob = None if self._mask_prob_var is None else self._mask_prob_var.value
        mask = impl.draw_mask(
            dims,
            mask_prob,
            self._keep_count,
            self.normalize,
            self.seed_generator,
            pinned_flat,
        )
        # Size 1 on the unmasked axes: the mask broadcasts along them.
        mask = impl.broadcast_mask(mask, dims, self._axes, len(inputs.shape))
        return impl.mask_gradient(inputs, mask)

    def _pinned_flat_index(self, impl: Any, dims: Any) -> Any:
        """The pinned entry's flat index (negative when unpinned)."""
        # A method, so that benchmarks can measure the layer without the pin.
        return impl.pinned_flat_index(self._pinned_var, dims, self.name, self._axes)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "mask_prob": self.mask_prob,
            "keep_count": self.keep_count,
            "mask_axes": self.mask_axes,
            "normalize": self.normalize,
            "seed": self.seed,
            "pinned_index": self.pinned_index,
        }
