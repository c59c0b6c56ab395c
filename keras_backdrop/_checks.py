"""Argument checks shared by the package's modules."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any


def is_bool(value: Any) -> bool:
    """Whether `value` is a Python or NumPy bool (neither counts as a number)."""
    return type(value).__name__ in ("bool", "bool_")  # NumPy 2's is "bool"


def check_number(
    name: str,
    value: Any,
    expected: str,
    ok: Callable[[Any], bool] | None = None,
    kind: type = numbers.Real,
) -> Any:
    """`value` as a float (int for Integral); TypeError, ValueError name `name`."""
    if is_bool(value) or not isinstance(value, kind):
        raise TypeError(
            f"Invalid type for argument `{name}`: expected {expected}. "
            f"Received: {name}={value!r} (type {type(value).__name__})"
        )
    if math.isnan(value) or (ok is not None and not ok(value)):
        raise ValueError(
            f"Invalid value for argument `{name}`: expected {expected}. "
            f"Received: {name}={value!r}"
        )
    return int(value) if kind is numbers.Integral else float(value)
