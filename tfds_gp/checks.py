"""Argument checks and error messages shared by every module of ``tfds_gp``.

The bottom layer of the package: it imports nothing else of it, so every
other module (the samplers, the recipe, the builder) can use it without an
import circle.  Every refusal is a TypeError (wrong type) or a ValueError
(wrong value) whose message names the argument, what is allowed and the
received value::

    Invalid value for argument `powers`: expected ... Received: powers=[...]

The limits that the checks of a single sample need (image side, correlation
lengths, scales, weights) live here too; the limits of a whole dataset
(classes, examples, pixels per split, seed) are the recipe's
(:mod:`tfds_gp.generator`), which re-exports these.

:mod:`tfds_gp.published` formats its own few argument errors the same way
without importing this module: the tests load it alone, from its file.
"""

from __future__ import annotations

import math
import numbers
import reprlib
from collections.abc import Container, Sequence

import numpy as np

__all__ = [
    "MAX_CL_FRACTION",
    "MAX_POWER",
    "MAX_SCALES",
    "MAX_SIZE",
    "MIN_CL",
    "MIN_POWER",
    "as_float",
    "as_sequence",
    "check_cl",
    "check_int",
    "check_name",
    "check_powers",
    "check_rng",
    "check_sample_args",
    "check_size",
    "is_bool",
    "show",
    "type_error",
    "value_error",
]

# Below half a pixel the kernel is narrower than the grid spacing: neighbours
# are correlated by exp(-1/(2 cl^2)) <= e^-2 = 0.14 at cl = 0.5 and by e^-8
# at cl = 0.25, so the field is indistinguishable from white noise.
MIN_CL = 0.5

# Above a quarter of the size the field is a handful of Fourier modes: at
# cl = size/4 the constant (k = 0) mode already carries about 40 % of the
# variance, which the per-field normalisation removes, and at cl = size/2 it
# carries almost all of it, leaving a near-constant field whose normalised
# fluctuations are meaningless.  The paper's largest length, 200 px on 1024,
# is 0.2 * size.
MAX_CL_FRACTION = 0.25


# Largest image side.  One 8192 x 8192 field is 512 MiB of float64 plus its
# half spectrum (another 512 MiB of complex128) while it is synthesised, and a
# stored example is about 220 MB; larger sides do not fit a worker's memory
# comfortably.  The synthesis itself works for any side >= 2 (not only powers
# of two), so no other constraint is imposed.
MAX_SIZE = 8192

# Most scales (fields summed per image).  The presets use two or three; each
# scale costs a full field synthesis per example.
MAX_SCALES = 16

# Range of each scale's weight.  A normalised field has empirical standard
# deviation 1, so no pixel exceeds sqrt(size^2) = size in magnitude; with at
# most MAX_SCALES scales of weight <= 1e6 an image stays below
# 16 * 1e6 * 8192 ~ 1.3e11, and even its square (a variance, an MSE) stays
# finite in float32 (max 3.4e38).  At >= 1e-6 every weighted field is far
# above float32's smallest normal number (1.2e-38), so no scale underflows.
MIN_POWER = 1e-6
MAX_POWER = 1e6


# Received values are shown abbreviated: a hostile input can be a list of a
# billion entries or an integer too large to print.
_REPR = reprlib.Repr()
_REPR.maxlevel = 3
_REPR.maxlist = _REPR.maxtuple = 8
_REPR.maxstring = _REPR.maxother = 120


def show(value: object) -> str:
    """A short, always printable representation of a received value."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        if int(value).bit_length() > 256:
            return f"<an integer of {int(value).bit_length()} bits>"
    try:
        return _REPR.repr(value)
    except Exception:  # a failing __repr__ must not hide the real error
        return f"<{type(value).__name__} object>"


def type_error(argument: str, expected: str, received: object) -> TypeError:
    """The TypeError for ``argument``: what is expected, the value received."""
    return TypeError(
        f"Invalid type for argument `{argument}`: {expected}. Received: "
        f"{argument}={show(received)} (type {type(received).__name__})"
    )


def value_error(argument: str, expected: str, received: object) -> ValueError:
    """The ValueError for ``argument``: what is expected, the value received."""
    return ValueError(
        f"Invalid value for argument `{argument}`: {expected}. Received: "
        f"{argument}={show(received)}"
    )


def is_bool(value: object) -> bool:
    """Whether ``value`` is a bool (a Python or NumPy one): never a number here."""
    return isinstance(value, (bool, np.bool_))


def check_int(value: object, argument: str, low: int, high: int, what: str) -> int:
    """``value`` as an int in ``[low, high]``; NumPy integers accepted."""
    if is_bool(value) or not isinstance(value, numbers.Integral):
        raise type_error(
            argument, f"expected an integer from {low} to {high} ({what})", value
        )
    result = int(value)
    if not low <= result <= high:
        raise value_error(
            argument, f"expected an integer from {low} to {high} ({what})", value
        )
    return result


def check_size(size: object) -> int:
    """``size`` as an int image side from 2 to :data:`MAX_SIZE` pixels."""
    expected = (
        f"expected an integer number of pixels from 2 to {MAX_SIZE} (the image side)"
    )
    if is_bool(size) or not isinstance(size, numbers.Integral):
        raise type_error("size", expected, size)
    value = int(size)
    if value < 2:
        raise value_error("size", expected, size)
    if value > MAX_SIZE:
        raise value_error(
            "size",
            f"{expected}; a field of side {MAX_SIZE} already needs about 1 GiB "
            f"while it is synthesised",
            size,
        )
    return value


def as_float(value: object) -> float:
    """``float(value)``, with integers too large for a float as infinity."""
    try:
        return float(value)
    except OverflowError:
        return math.inf


def check_cl(
    cl: object,
    size: int | None,
    name: str = "cl",
    *,
    argument: str = "cl",
    received: object = None,
) -> float:
    """A correlation length in ``[MIN_CL, MAX_CL_FRACTION * size]`` pixels.

    ``name`` is how the value is described (``'scales[1] length'``),
    ``argument`` the argument it came from and ``received`` that argument's
    value (default: ``cl`` itself).  ``size=None`` skips the upper bound.
    """
    received = cl if received is None else received
    if is_bool(cl) or not isinstance(cl, numbers.Real):
        # The received value is shown anyway; an entry of a larger argument
        # is shown on its own too.
        got = "" if received is cl else f"; {name} is {show(cl)} ({type(cl).__name__})"
        raise type_error(
            argument, f"expected {name} to be a real number of pixels{got}", received
        )
    value = as_float(cl)
    allowed = f"a correlation length from {MIN_CL} to {MAX_CL_FRACTION} * size pixels"
    if not math.isfinite(value):
        raise value_error(
            argument,
            f"expected {name} to be a finite {allowed[2:]}; {name} is {value!r}",
            received,
        )
    if value < MIN_CL:
        raise value_error(
            argument,
            f"expected {name} to be {allowed}; {name}={value!r} is below the grid "
            f"resolution (a length under {MIN_CL} pixel gives white noise on "
            f"the pixel grid)",
            received,
        )
    if size is not None:
        limit = MAX_CL_FRACTION * size
        if value > limit:
            raise value_error(
                argument,
                f"expected {name} to be {allowed}; {name}={value!r} is too large for "
                f"size={size}, above {MAX_CL_FRACTION} * size = {limit!r} pixels "
                f"(a longer length gives a nearly constant field on the torus)",
                received,
            )
    return value


def as_sequence(
    value: object, argument: str, name: str, expected: str, received: object
):
    """``value`` if it is a list-like of entries (not a string), else TypeError.

    NumPy arrays of at least one dimension count as sequences (their rows or
    scalars are the entries); sets and mappings do not, having no order.
    """
    if isinstance(value, np.ndarray):
        if value.ndim >= 1:
            return value
    elif isinstance(value, Sequence) and not isinstance(value, (str, bytes, bytearray)):
        return value
    raise type_error(
        argument, f"{expected}; {name} is a {type(value).__name__}", received
    )


def check_powers(powers: object, num_scales: int) -> tuple[float, ...]:
    """One weight per scale, each a finite number in [MIN_POWER, MAX_POWER]."""
    expected = (
        f"one positive finite number per scale, each from {MIN_POWER:g} to "
        f"{MAX_POWER:g}"
    )
    seq = as_sequence(powers, "powers", "powers", f"expected {expected}", powers)
    if len(seq) != num_scales:
        raise value_error(
            "powers",
            f"expected one entry per scale ({num_scales} numbers, one per "
            f"scale), got {len(seq)}; {expected}",
            powers,
        )
    out = []
    for i, p in enumerate(seq):
        if is_bool(p) or not isinstance(p, numbers.Real):
            raise type_error(
                "powers",
                f"expected {expected}; powers[{i}] is a {type(p).__name__}",
                powers,
            )
        value = as_float(p)
        if not (math.isfinite(value) and MIN_POWER <= value <= MAX_POWER):
            raise value_error(
                "powers",
                f"expected {expected} (larger weights can overflow the float32 "
                f"image, smaller ones vanish in it); powers[{i}]={show(p)}",
                powers,
            )
        out.append(value)
    return tuple(out)


def check_sample_args(
    cls: object, powers: object, size: object
) -> tuple[Sequence[float], tuple[float, ...], int]:
    """The checks of a sampler's ``cls``, ``powers`` and ``size``, in order.

    Shared by :func:`sample` and :func:`tfds_gp.reference.sample`; each
    length of ``cls`` is checked by the sampler itself.

    Returns:
      ``(cls, powers, size)``: ``cls`` as a sequence of 1 to
      ``MAX_SCALES`` entries, ``powers`` checked, one per entry of ``cls``,
      and ``size`` as an int.
    """
    cls = as_sequence(
        cls,
        "cls",
        "cls",
        "expected a sequence of correlation lengths, one per scale",
        cls,
    )
    if not 1 <= len(cls) <= MAX_SCALES:
        raise value_error(
            "cls",
            f"expected 1 to {MAX_SCALES} correlation lengths (one per scale); "
            f"cls has {len(cls)}",
            cls,
        )
    return cls, check_powers(powers, len(cls)), check_size(size)


def check_name(
    value: object, argument: str, names: Container[str], expected: str
) -> str:
    """``value`` if it is a string in ``names``; else TypeError or ValueError."""
    if not isinstance(value, str):
        raise type_error(argument, expected, value)
    if value not in names:
        raise value_error(argument, expected, value)
    return value


def check_rng(rng: object) -> np.random.Generator:
    """``rng`` if it is a NumPy ``Generator``, else a TypeError naming it."""
    if not isinstance(rng, np.random.Generator):
        raise type_error(
            "rng",
            "expected a numpy.random.Generator (e.g. numpy.random.default_rng(seed))",
            rng,
        )
    return rng
