"""The pinned mask entry of a `BackdropMasking` layer (its diagnostic mode).

A pin is given in the order of `mask_axes` as the user wrote them; the mask
and the pin's variable run over the axes sorted (`Pin.sorted` and
`Pin.given` convert). The variable holds -1 on every axis when nothing is
pinned. Every write of it (the `pinned_index` attribute, `set_weights`,
`load_weights`) is checked against the mask's dimensions known at build
time (`CheckedVariable`), so a training step on those dimensions needs no
check of its own; on other dimensions the layer checks the pin when the
step is traced (`Pin.check_against`) and TensorFlow also in the graph.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from keras_backdrop._backend import backend_impl


class CheckedVariable(keras.Variable):
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


def validate_pinned_index(
    index: Any, mask_axes: tuple[int, ...] | None
) -> tuple[int, ...] | None:
    """`index` as a tuple of ints (or None), refused unless well formed.

    Raises:
        TypeError: unless None, an integer or a non-empty sequence of them.
        ValueError: for a negative index, or a count other than the
            number of `mask_axes` (where they are given).
    """
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


def pin_fits(ordered: Sequence[int], dims: Sequence[int | None]) -> bool:
    """Whether a pin (in sorted-axis order) lies within `dims` (None: any)."""
    return all(0 <= i and (d is None or i < d) for i, d in zip(ordered, dims))


class Pin:
    """One layer's pinned index: the value as given, its variable, its checks.

    Args:
        layer_name: The layer's name, for error messages.
        mask_axes: The layer's `mask_axes` as given (None: the default).
        index: The pin as given, or None.
    """

    def __init__(self, layer_name: str, mask_axes: tuple[int, ...] | None, index: Any):
        self.layer_name = layer_name
        self.mask_axes = mask_axes
        # The pin as last written (every write of the variable passes
        # `_checked_write`): read where reading the variable would cost a
        # device sync or break a traced graph.
        self.index = validate_pinned_index(index, mask_axes)
        self.variable = None
        self._axes = None
        self._order = None
        self._dims = None

    def build(
        self,
        axes: tuple[int, ...],
        rank: int,
        static_dims: tuple[int | None, ...],
        layer: keras.layers.Layer,
    ) -> CheckedVariable:
        """Makes the pin's variable for the sorted `axes`; returns it.

        `static_dims` are the mask's dimensions known at build time (None:
        any size). The variable is set through its initializer because
        Keras may build sublayers in a stateless scope, where an assignment
        would be dropped.
        """
        given = (
            axes if self.mask_axes is None else tuple(a % rank for a in self.mask_axes)
        )
        # For each sorted axis, its position in the order given.
        self._order = tuple(given.index(a) for a in axes)
        self._axes = axes
        self._dims = static_dims
        with keras.name_scope(layer.name, caller=layer):
            variable = CheckedVariable(
                initializer=keras.initializers.Constant(self._value(self.index)),
                shape=(len(axes),),
                dtype="int32",
                trainable=False,
                name="pinned_index",
            )
        variable.check = self._checked_write
        variable.checked_dims = static_dims
        self.variable = variable
        return variable

    def read(self) -> tuple[int, ...] | None:
        """The variable's pin where its value is concrete, else the last known.

        Inside a traced JAX step the variable's value is symbolic.
        """
        if self.variable is not None:
            try:
                value = keras.ops.convert_to_numpy(self.variable.value)
            except Exception:  # A tracer or a symbolic tensor: not readable.
                return self.index
            self.index = None if value[0] < 0 else self.given(tuple(map(int, value)))
        return self.index

    def write(self, index: Any) -> None:
        """Sets the pin (None: unpinned), checked against the built mask."""
        index = validate_pinned_index(index, self.mask_axes)
        if self.variable is not None:
            self.variable.assign(self._value(index))
        self.index = index

    def check_against(self, dims: tuple[int | None, ...]) -> None:
        """Refuses a pin outside the mask's dimensions known at trace time.

        On JAX and PyTorch every dimension is known when the layer is
        traced (a new shape retraces), so a pin that does not fit is an
        error here rather than a NaN gradient. On TensorFlow an unknown
        dimension (None, usually the batch axis) is checked by the graph.
        """
        if self.index is not None and not pin_fits(self.sorted(self.index), dims):
            raise ValueError(
                f"`pinned_index`={self.index} of layer '{self.layer_name}' is "
                f"outside the mask over axes {self.mask_axes or self._axes}, of "
                f"shape {self.given(dims)} for this input."
            )

    def sorted(self, index: Sequence) -> tuple:
        """A pin in the order of `mask_axes` given, in sorted-axis order."""
        return tuple(index[p] for p in self._order)

    def given(self, ordered: Sequence) -> tuple:
        """A pin (or shape) in sorted-axis order, in the order given."""
        given = [None] * len(ordered)
        for value, p in zip(ordered, self._order):
            given[p] = value
        return tuple(given)

    def _value(self, index: tuple[int, ...] | None) -> np.ndarray:
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
        ordered = self.sorted(index)
        if not pin_fits(ordered, self._dims):
            raise ValueError(
                f"Invalid value for `pinned_index` of layer '{self.layer_name}'"
                ": the mask over axes "
                f"{self.mask_axes or self._axes} has shape "
                f"{self.given(self._dims)} (None: any "
                f"batch size). Received: pinned_index={index!r}"
            )
        return np.asarray(ordered, np.int32)

    def _checked_write(self, value: Any) -> Any:
        """`value` for the variable, refused unless it fits.

        Every write of the variable comes here: `write`, and `set_weights`
        or `load_weights` (of the layer or of a model holding it), which
        bypass it. Checked now, a pin that does not fit the mask is refused
        when it is written, and a training step on the built shape needs no
        check of its own.
        """
        try:
            array = np.asarray(keras.ops.convert_to_numpy(value))
        except Exception:  # A symbolic value, written inside a traced function.
            return backend_impl().checked_pin_value(
                value, self._dims, self._error("a tensor")
            )
        if array.shape != (len(self._axes),):
            return value  # Keras's assign refuses the shape, naming both.
        ordered = tuple(int(i) for i in array)
        if all(i == -1 for i in ordered):
            self.index = None
            return value
        if pin_fits(ordered, self._dims):
            # Known at once to the check made when a step is traced on an
            # input of another size (`check_against`).
            self.index = self.given(ordered)
            return value
        raise ValueError(self._error(self.given(ordered)))

    def _error(self, received: Any) -> str:
        return (
            f"Invalid value for `pinned_index` of layer '{self.layer_name}': "
            "expected -1 on every masked axis (nothing pinned) or an index "
            "within the mask on every axis; the mask over axes "
            f"{self.mask_axes or self._axes} has shape "
            f"{self.given(self._dims)} (None: any batch "
            f"size). Received: pinned_index={received!r}"
        )
