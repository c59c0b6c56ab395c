"""The pinned mask entry of a `BackdropMasking` layer (its diagnostic mode).

Given in the order of `mask_axes`; the variable (-1: unpinned) runs sorted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from keras_backdrop._backend import backend_impl


class CheckedVariable(keras.Variable):
    """A layer state variable whose every write passes `check` (set by the layer)."""

    check = None
    # The pin's mask dimensions every write is checked against.
    checked_dims = None

    def assign(self, value):
        if self.check is not None:
            value = self.check(value)
        return super().assign(value)


def validate_pinned_index(
    index: Any, mask_axes: tuple[int, ...] | None
) -> tuple[int, ...] | None:
    """`index` as a tuple of ints (or None); `TypeError`/`ValueError` if bad."""
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


def concrete_value(value: Any) -> np.ndarray | None:
    """`value` as a NumPy array, or None where it is symbolic (traced)."""
    try:
        return np.asarray(keras.ops.convert_to_numpy(value))
    except Exception:  # A tracer or a symbolic tensor: not readable.
        return None


def pin_fits(ordered: Sequence[int], dims: Sequence[int | None]) -> bool:
    """Whether a pin (in sorted-axis order) lies within `dims` (None: any)."""
    return all(0 <= i and (d is None or i < d) for i, d in zip(ordered, dims))


class Pin:
    """One layer's pinned index: the value as given, its variable, its checks."""

    def __init__(self, layer_name: str, mask_axes: tuple[int, ...] | None, index: Any):
        self.layer_name = layer_name
        self.mask_axes = mask_axes
        # The pin as last written: read where reading the variable would
        # cost a device sync or break a traced graph.
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
        """Makes the pin's variable for the sorted `axes` and `static_dims`."""
        given = (
            axes if self.mask_axes is None else tuple(a % rank for a in self.mask_axes)
        )
        # For each sorted axis, its position in the order given.
        self._order = tuple(given.index(a) for a in axes)
        self._axes = axes
        self._dims = static_dims
        # An initializer: an assignment would be dropped in a stateless scope.
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
        """The variable's pin where its value is concrete, else the last known."""
        value = None if self.variable is None else concrete_value(self.variable.value)
        if value is not None:
            self.index = None if value[0] < 0 else self.given(tuple(map(int, value)))
        return self.index

    def write(self, index: Any) -> None:
        """Sets the pin (None: unpinned), checked against the built mask."""
        index = validate_pinned_index(index, self.mask_axes)
        if self.variable is not None:
            self.variable.assign(self._value(index))
        self.index = index

    def check_against(self, dims: tuple[int | None, ...]) -> None:
        """Refuses a pin outside the mask's dimensions known when traced (None: any)."""
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
            raise ValueError(self._error(index))
        return np.asarray(ordered, np.int32)

    def _checked_write(self, value: Any) -> Any:
        """`value` for the variable (every write), refused unless it fits."""
        array = concrete_value(value)
        if array is None:  # Written inside a traced function.
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
            # Known at once to `check_against`.
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
