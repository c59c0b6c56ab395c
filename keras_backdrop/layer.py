"""The `BackdropMasking` Keras layer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from keras_backdrop.masks import (
    backend_impl,
    mix_seed,
    validate_mask_args,
    validate_seed,
)


@keras.saving.register_keras_serializable(package="keras_backdrop")
class BackdropMasking(keras.layers.Layer):
    """Backdrop: the identity forward, a random gradient mask backward.

    Backdrop (Golkar and Cranmer, arXiv:1806.01337) is "dropout on the
    backward pass only". The layer returns its input unchanged, so the loss
    is computed on the whole input; in training, the gradient flowing back
    through it is multiplied by a fresh random mask at every step, so the
    weights upstream are updated only from the surviving parts of the data.

    The mask has one entry per index along `mask_axes` and is broadcast
    along every other axis. Each entry survives with probability
    `1 - mask_prob` (or exactly `keep_count` entries survive). A mask is
    never all zero: if nothing survives, one uniformly chosen entry does.
    With `normalize="count"` (the reference) the mask is then rescaled to
    `mask * size / count_surviving`, so its entries sum to its size and the
    gradient keeps its overall scale.

    In inference (`training` false or unset, e.g. in `predict`) the layer
    returns its input and adds no operation at all.

    Placement, for the paper's two uses:

    * Multi-scale images: after a convolution whose feature-map cell covers
      a patch of the feature size, mask the spatial axes. The default
      `mask_axes` masks every axis but the channels, i.e. per sample and
      per position; `mask_axes=(1, 2)` is the reference's mask, shared by
      all samples of the batch.
    * Non-decomposable losses: on per-sample outputs `(batch, features)`,
      `mask_axes=(0,)` sends the gradient through a random subset of the
      batch while the loss is still computed on the whole batch.

    Args:
        mask_prob: Float in [0, 1]. Probability that a mask entry is
            dropped (its gradient zeroed). Exactly one of `mask_prob` and
            `keep_count` must be given. It can be changed on a built layer,
            also during `fit` (`keras_backdrop.callbacks.MaskProbScheduler`).
        keep_count: Integer >= 1. Alternative to `mask_prob`: exactly this
            many mask entries, chosen uniformly, survive at each step (for
            example `keep_count=1` with `mask_axes=(0,)` sends the gradient
            through one sample only). It must not exceed the mask's size,
            and it is fixed once the layer is built.
        mask_axes: Integer or sequence of distinct integers: the axes along
            which the mask varies. Negative values count from the end.
            Defaults to every axis but the last (for a rank-1 input, the
            only axis).
        normalize: How the surviving entries are rescaled: `"count"` (the
            reference; entries sum to the mask size), `"expected"` (divide
            by `1 - mask_prob`, like dropout; with `keep_count`, multiply by
            `size / keep_count`), or `None` (a plain 0/1 mask).
        seed: Optional integer. With a seed the sequence of masks is the
            same run to run (under the same `jit_compile` setting: XLA draws
            other numbers from the same seed); without one, every layer and
            run draws its own.
        pinned_index: Optional diagnostic mode (the reference's `mask_el`):
            a tuple with one index per masked axis (an integer when there
            is one masked axis). The mask then has its single surviving
            entry there, rescaled per `normalize`. It can be changed or
            cleared on a built layer through the `pinned_index` attribute,
            without rebuilding or recompiling the model.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: Input tensor of any rank >= 1 (its batch size may be
            unknown).
        training: Python boolean: whether to mask the gradient (training)
            or to do nothing (inference). Keras sets it in `fit`.

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
        # An identity must return its input in its own dtype: no autocast of
        # float64, float16 or bfloat16 inputs to the compute dtype.
        super().__init__(**{"autocast": False, **kwargs})
        mask_prob, keep_count = validate_mask_args(mask_prob, keep_count, normalize)
        self.normalize = normalize
        # Which of the two is set is fixed here; `mask_prob` lives in a
        # variable once the layer is built, so that a compiled training
        # function reads each new value (a schedule) without retracing.
        self._mask_prob = mask_prob
        self._keep_count = keep_count
        self._mask_prob_var = None
        self.mask_axes = _validate_mask_axes(mask_axes)
        self.seed = validate_seed(seed)
        # One generator per layer, made here: made in call() it would break
        # tf.function and freeze the mask under JAX and PyTorch.
        self.seed_generator = keras.random.SeedGenerator(
            None if seed is None else mix_seed(self.seed)
        )
        self._pinned_index = None
        self._pinned_var = None
        self._axes = None
        self._pin_order = None
        self._static_mask_dims = None
        self.pinned_index = pinned_index
        self.supports_masking = True

    def build(self, input_shape):
        rank = len(input_shape)
        if rank == 0:
            raise ValueError(
                f"Layer '{self.name}' needs an input of rank >= 1 (a mask "
                "varies along at least one axis). Received: an input of "
                f"shape {tuple(input_shape)}."
            )
        # Keras then refuses an input of another rank on a built layer,
        # naming the layer.
        self.input_spec = keras.layers.InputSpec(ndim=rank)
        self._axes = _resolve_axes(self.mask_axes, rank, input_shape)
        # `pinned_index` follows `mask_axes` in the order given; the mask
        # (and the variable) run over the axes sorted. For each sorted axis,
        # its position in the order given:
        given = (
            self._axes
            if self.mask_axes is None
            else tuple(a % rank for a in self.mask_axes)
        )
        self._pin_order = tuple(given.index(a) for a in self._axes)
        # The batch axis is never fixed, even when the first call's batch
        # size is known: later batches may be larger or smaller.
        self._static_mask_dims = tuple(
            None if a == 0 else input_shape[a] for a in self._axes
        )
        if self._keep_count is not None:
            size = _static_size(self._static_mask_dims)
            if size and self.keep_count > size:
                raise ValueError(
                    f"Invalid value for argument `keep_count`: "
                    f"keep_count={self.keep_count} exceeds the {size} "
                    f"entries of the mask over axes {self._axes} of an input "
                    f"of shape {tuple(input_shape)}."
                )
        # The pinned index lives in a variable so that changing it reaches
        # already-compiled training functions; -1 means "not pinned". It is
        # set through the initializer because Keras may build sublayers in
        # a stateless scope, where an assignment would be dropped.
        with keras.name_scope(self.name, caller=self):
            self._pinned_var = _CheckedVariable(
                initializer=keras.initializers.Constant(
                    self._pinned_value(self._pinned_index)
                ),
                shape=(len(self._axes),),
                dtype="int32",
                trainable=False,
                name="pinned_index",
            )
        self._pinned_var.check = self._checked_pin
        self._pinned_var.checked_dims = self._static_mask_dims
        self._track_variable(self._pinned_var)
        if self._keep_count is None:
            # After the pin: files saved before this variable existed hold
            # the pin alone, at the same position (`load_own_variables`).
            with keras.name_scope(self.name, caller=self):
                self._mask_prob_var = _CheckedVariable(
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
        """The probability that a mask entry is dropped (`None` with `keep_count`).

        It can be changed on a built layer, also between the steps of a
        compiled `fit` (see `keras_backdrop.callbacks.MaskProbScheduler`):
        the value lives in a variable that the training step reads. Every
        write (the attribute, `set_weights`, `load_weights`) is checked as
        the constructor checks `mask_prob`.
        """
        if self._mask_prob_var is not None:
            try:
                value = keras.ops.convert_to_numpy(self._mask_prob_var.value)
            except Exception:  # A tracer or a symbolic tensor: not readable.
                return self._mask_prob
            # The value written, as written (0.3, not float32's 0.30000001),
            # unless the variable now holds another (loaded weights).
            if self._mask_prob is None or np.float32(self._mask_prob) != value:
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
        """The number of surviving mask entries (`None` with `mask_prob`).

        Fixed once the layer is built: the selection of exactly
        `keep_count` entries is compiled for that count.
        """
        return self._keep_count

    @keep_count.setter
    def keep_count(self, value: int) -> None:
        if self._keep_count is None or self.built:
            raise ValueError(
                f"`keep_count` of layer '{self.name}' cannot be changed "
                + (
                    "once the layer is built (the selection of exactly "
                    "keep_count entries is compiled for its count; build a "
                    "new layer)"
                    if self._keep_count is not None
                    else "on a layer built with `mask_prob` (choosing between "
                    "the two is fixed at construction)"
                )
                + f". Received: keep_count={value!r}"
            )
        _, self._keep_count = validate_mask_args(None, value, self.normalize)

    def _checked_mask_prob(self, value: Any) -> Any:
        """`value` for the mask-probability variable, refused unless valid.

        Every write comes here: the `mask_prob` setter, `set_weights` and
        `load_weights`. A value that cannot be read (written inside a traced
        function) is passed on as it is.
        """
        try:
            array = np.asarray(keras.ops.convert_to_numpy(value))
        except Exception:  # A symbolic value, written inside a traced function.
            return value
        if array.shape != ():
            return value  # Keras's assign refuses the shape, naming both.
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
        """The pinned mask index (diagnostic mode), or `None`.

        On a built layer this is what the variable holds, so it follows
        `load_weights` and `set_weights` too.
        """
        self._pinned_index = self._pinned_from_variable()
        return self._pinned_index

    @pinned_index.setter
    def pinned_index(self, index: int | Sequence[int] | None) -> None:
        index = _validate_pinned_index(index, self.mask_axes)
        if self._pinned_var is not None:
            self._assign_pinned(index)
        self._pinned_index = index

    def _assign_pinned(self, index: tuple[int, ...] | None) -> None:
        self._pinned_var.assign(self._pinned_value(index))

    def _pinned_value(self, index: tuple[int, ...] | None) -> np.ndarray:
        """The variable's value for `index`, checked against the mask shape."""
        n_axes = len(self._axes)
        if index is None:
            return np.full((n_axes,), -1, np.int32)
        if len(index) != n_axes:
            raise ValueError(
                "Invalid value for `pinned_index`: expected one index per "
                f"masked axis ({n_axes} for axes {self._axes}). "
                f"Received: pinned_index={index!r}"
            )
        ordered = self._sorted_pin(index)
        if not _pin_fits(ordered, self._static_mask_dims):
            raise ValueError(
                f"Invalid value for `pinned_index` of layer '{self.name}'"
                ": the mask over axes "
                f"{self.mask_axes or self._axes} has shape "
                f"{self._given_pin(self._static_mask_dims)} (None: any "
                f"batch size). Received: pinned_index={index!r}"
            )
        return np.asarray(ordered, np.int32)

    def _checked_pin(self, value: Any) -> Any:
        """`value` for the pinned-index variable, refused unless it fits.

        Every write of the variable comes here: the `pinned_index` setter,
        and `set_weights` or `load_weights` (of this layer or of a model
        holding it), which bypass the setter. Checked now, a pin that does
        not fit the mask is refused when it is written, and a training step
        on the built shape needs no check of its own.
        """
        try:
            array = np.asarray(keras.ops.convert_to_numpy(value))
        except Exception:  # A symbolic value, written inside a traced function.
            return backend_impl().checked_pin_value(
                value, self._static_mask_dims, self._pinned_error("a tensor")
            )
        if array.shape != (len(self._axes),):
            return value  # Keras's assign refuses the shape, naming both.
        ordered = tuple(int(i) for i in array)
        if all(i == -1 for i in ordered):
            self._pinned_index = None
            return value
        if _pin_fits(ordered, self._static_mask_dims):
            # Known at once to the check made when a step is traced on an
            # input of another size (`_check_pinned_against`).
            self._pinned_index = self._given_pin(ordered)
            return value
        raise ValueError(self._pinned_error(self._given_pin(ordered)))

    def _pinned_error(self, received: Any) -> str:
        return (
            f"Invalid value for `pinned_index` of layer '{self.name}': "
            "expected -1 on every masked axis (nothing pinned) or an index "
            "within the mask on every axis; the mask over axes "
            f"{self.mask_axes or self._axes} has shape "
            f"{self._given_pin(self._static_mask_dims)} (None: any batch "
            f"size). Received: pinned_index={received!r}"
        )

    def _sorted_pin(self, index: Sequence) -> tuple:
        """A pin in the order of `mask_axes` given, in sorted-axis order."""
        return tuple(index[p] for p in self._pin_order)

    def _given_pin(self, ordered: Sequence) -> tuple:
        """A pin (or shape) in sorted-axis order, in the order given."""
        given = [None] * len(ordered)
        for value, p in zip(ordered, self._pin_order):
            given[p] = value
        return tuple(given)

    def load_own_variables(self, store):
        if self._mask_prob_var is not None and len(store.keys()) == 1:
            # Saved before `mask_prob` was a variable: the pin alone, and
            # the configuration's `mask_prob` stands.
            self._pinned_var.assign(store["0"])
        else:
            super().load_own_variables(store)
        self._pinned_index = self._pinned_from_variable()

    def _pinned_from_variable(self) -> tuple[int, ...] | None:
        """The variable's pin where its value is concrete, else the last known.

        Inside a traced JAX step the variable's value is symbolic.
        """
        if self._pinned_var is None:
            return self._pinned_index
        try:
            value = keras.ops.convert_to_numpy(self._pinned_var.value)
        except Exception:  # A tracer or a symbolic tensor: not readable.
            return self._pinned_index
        if value[0] < 0:
            return None
        return self._given_pin(tuple(int(i) for i in value))

    def call(self, inputs, training=None):
        dtype = keras.backend.standardize_dtype(inputs.dtype)
        if not training or not _is_floating(dtype):
            # Inference, or no gradient to mask (integer or bool inputs).
            return inputs
        impl = backend_impl()
        self._check_pinned_against(tuple(inputs.shape[a] for a in self._axes))
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
        """The pinned entry's flat index (negative when nothing is pinned).

        A method, so that benchmarks/layer_cost_breakdown.py can measure the
        layer without its diagnostic machinery.
        """
        return impl.pinned_flat_index(self._pinned_var, dims, self.name, self._axes)

    def _check_pinned_against(self, dims: tuple[int | None, ...]) -> None:
        """Refuses a pin outside the mask's dimensions known at trace time.

        On JAX and PyTorch every dimension is known when the layer is
        traced (a new shape retraces), so a pin that does not fit is an
        error here rather than a NaN gradient. On TensorFlow an unknown
        dimension (None, usually the batch axis) is checked by the graph.
        """
        # The pin as last written (every write of the variable passes
        # `_checked_pin`), not the variable: reading a variable here would
        # cost a device sync per step and break torch.compile's graph.
        index = self._pinned_index
        if index is None:
            return
        if not _pin_fits(self._sorted_pin(index), dims):
            raise ValueError(
                f"`pinned_index`={index} of layer '{self.name}' is outside "
                f"the mask over axes {self.mask_axes or self._axes}, of shape "
                f"{self._given_pin(dims)} for this input."
            )

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        base_config = super().get_config()
        config = {
            "mask_prob": self.mask_prob,
            "keep_count": self.keep_count,
            "mask_axes": self.mask_axes,
            "normalize": self.normalize,
            "seed": self.seed,
            "pinned_index": self.pinned_index,
        }
        return {**base_config, **config}


def _validate_mask_axes(mask_axes: Any) -> tuple[int, ...] | None:
    if mask_axes is None:
        return None
    if isinstance(mask_axes, (int, np.integer)) and not isinstance(mask_axes, bool):
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
        or any(
            isinstance(a, bool) or not isinstance(a, (int, np.integer)) for a in axes
        )
    ):
        raise TypeError(
            "Invalid value for argument `mask_axes`: expected a non-empty "
            f"sequence of integers. Received: mask_axes={mask_axes!r}"
        )
    axes = tuple(int(a) for a in axes)
    _check_distinct(axes, mask_axes)
    return axes


def _resolve_axes(
    mask_axes: tuple[int, ...] | None, rank: int, input_shape
) -> tuple[int, ...]:
    if mask_axes is None:
        if rank < 2:
            # Nothing but the last axis: mask along it rather than nothing.
            return (0,)
        return tuple(range(rank - 1))
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


def _validate_pinned_index(
    index: Any, mask_axes: tuple[int, ...] | None
) -> tuple[int, ...] | None:
    if index is None:
        return None
    if isinstance(index, (int, np.integer)) and not isinstance(index, bool):
        index = (index,)
    try:
        index = tuple(index)
    except TypeError:
        raise TypeError(
            "Invalid type for `pinned_index`: expected None, an integer or "
            f"a sequence of integers. Received: pinned_index={index!r}"
        ) from None
    if not index or any(
        isinstance(i, bool) or not isinstance(i, (int, np.integer)) for i in index
    ):
        raise TypeError(
            "Invalid value for `pinned_index`: expected a non-empty "
            f"sequence of integers. Received: pinned_index={index!r}"
        )
    index = tuple(int(i) for i in index)
    if any(i < 0 for i in index):
        raise ValueError(
            "Invalid value for `pinned_index`: indices must be >= 0. "
            f"Received: pinned_index={index!r}"
        )
    if mask_axes is not None and len(index) != len(mask_axes):
        raise ValueError(
            "Invalid value for `pinned_index`: expected one index per "
            f"masked axis ({len(mask_axes)} for mask_axes={mask_axes}). "
            f"Received: pinned_index={index!r}"
        )
    return index


def _pin_fits(ordered: Sequence[int], dims: Sequence[int | None]) -> bool:
    """Whether a pin (in sorted-axis order) lies within `dims` (None: any)."""
    return all(0 <= i and (d is None or i < d) for i, d in zip(ordered, dims))


def _is_floating(dtype: str) -> bool:
    return "float" in dtype


def _static_size(dims: tuple[int | None, ...]) -> int | None:
    if any(d is None for d in dims):
        return None
    return int(np.prod(dims))


class _CheckedVariable(keras.Variable):
    """A layer's state variable (the pin, `mask_prob`): every write is checked.

    `check` (set by the layer) returns the value to write or raises.
    `checked_dims`, for the pin, are the mask dimensions it checks against
    (None where any size goes, the batch axis): a training step on exactly
    those dimensions needs no check of the pin in its graph.
    """

    check = None
    checked_dims = None

    def assign(self, value):
        if self.check is not None:
            value = self.check(value)
        return super().assign(value)
