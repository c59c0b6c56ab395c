"""Multi-scale Gaussian-process textures, with NumPy only.

This module needs nothing but NumPy; it does not import TensorFlow or TFDS, so
it can generate the dataset's arrays in any process (tests, benchmarks, a
worker of a distributed build).

The recipe (design page, section 4):

* a *field* of correlation length ``cl`` (pixels) is a zero-mean Gaussian
  random field on the ``size x size`` torus with squared-exponential
  covariance ``k(d) = exp(-d^2 / (2 cl^2))``, wrapped periodically, then
  normalised per field to empirical mean 0 and standard deviation 1;
* a *sample* of a class is ``sum_s powers[s] * field(cl_s)`` where the class
  picks one ``cl_s`` per scale;
* classes are the cross product of the per-scale choices, the first scale's
  choice varying fastest; a class is named by joining its lengths with '-'
  (``'9.5-80'``).

Field synthesis is exact spectral (FFT) synthesis.  On the discrete torus the
covariance matrix of a stationary field is block circulant, so it is
diagonalised by the 2-D DFT; its eigenvalues are the DFT of the wrapped kernel
``C(x, y) = sum_{m,n} k(x + m*size, y + n*size)``.  The kernel is separable,
``C(x, y) = C1(x) C1(y)``, so the eigenvalues are ``lam1[k1] * lam1[k2]``
with ``lam1 = DFT(C1)``.  We compute ``lam1`` analytically by Poisson
summation, ``lam1[k] = sum_p cl sqrt(2 pi) exp(-2 pi^2 cl^2 (k/size + p)^2)``,
which is the exact DFT of the wrapped kernel (no truncated image sum, no FFT
round-off, no negative eigenvalue to clip).  A field is
``irfft2(sqrt(lam) * W)`` where ``W`` has the distribution of ``rfft2(w)``
for real white noise ``w``: the operator applied to ``w`` is the symmetric
square root of the covariance matrix, so the field has exactly the wrapped
covariance (up to float64 round-off).  ``W`` is drawn directly in frequency
space (independent complex normals, Hermitian where the half spectrum is
self-conjugate), so a field costs one inverse FFT and no forward one, and
only where ``sqrt(lam)`` exceeds ``TRUNCATION`` of its peak: the rest adds
less than float64 round-off.  A sample's normalised fields are scaled by
their standard deviations (from Parseval) and summed in frequency space, so
a sample of any number of scales costs one inverse FFT
(``scipy.fft.irfft2``; ``scipy.fft.set_workers`` gives it threads, with the
same result).

Limits: every argument is checked before anything of image size is
allocated (size <= MAX_SIZE, at most MAX_SCALES scales and MAX_CLASSES
classes, powers in [MIN_POWER, MAX_POWER], bounded examples and pixels per
split; see the constants below and tfds_gp/gp_textures/README.md).  A wrong
type raises TypeError and a wrong value ValueError, each naming the argument
and the received value.

Reproducibility: every example of a split is drawn from its own stream,
``numpy.random.default_rng(SeedSequence([seed, split_id, index]))``, so the
arrays depend only on (recipe, split, index), never on the order or the
process in which examples are generated.  The white noise comes from NumPy's
PCG64 ``Generator``, which is platform independent; the FFTs are float64 and
the result is rounded to float32, so arrays are bit-identical for a given
NumPy build and agree to float32 round-off across machines.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
from collections.abc import Container, Iterator, Sequence

import numpy as np
import scipy.fft

from tfds_gp import published

__all__ = [
    "MIN_CL",
    "MAX_CL_FRACTION",
    "MAX_SIZE",
    "MAX_SCALES",
    "MAX_CLASSES",
    "MAX_PER_CLASS",
    "MAX_EXAMPLES_PER_SPLIT",
    "MAX_PIXELS_PER_SPLIT",
    "MIN_POWER",
    "MAX_POWER",
    "MAX_SEED",
    "MAX_ARRAY_BYTES",
    "SPLIT_IDS",
    "CONSTRUCTIONS",
    "GpClass",
    "GpRecipe",
    "PRESETS",
    "spectrum_1d",
    "field",
    "sample",
    "class_table",
    "class_name",
    "example_rng",
    "example",
    "iter_split",
    "split_arrays",
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

# Stream identifiers of the splits; part of every example's seed sequence.
SPLIT_IDS = {"train": 0, "test": 1}

#: How a recipe's fields are made: ``'stationary'`` (exact FFT synthesis of
#: the stated covariance on the torus, this module), ``'reference'`` (the
#: authors' construction, :mod:`tfds_gp.reference`: enveloped GP patches for
#: lengths below 50 pixels, an upscaled coarse GP above; sizes that are
#: multiples of 512 only) or ``'reference_torus'`` (an earlier, torus-wrapped
#: reading of it, not the authors', :mod:`tfds_gp.reference_torus`; any
#: size).
CONSTRUCTIONS = ("stationary", "reference", "reference_torus")

# Number of aliases p on each side in the Poisson sum.  For cl >= MIN_CL the
# first omitted term is below exp(-2 pi^2 0.25 7.5^2) ~ 1e-120.
_N_ALIASES = 8

#: Frequencies whose amplitude ``sqrt(lam1[k])`` is below this fraction of
#: the largest are not drawn (see ``_cutoff``). Their share of a field's
#: standard deviation is below ``size * TRUNCATION`` (at most 4.4e-16 at
#: the largest size, 8192), float64's own round-off: the field is the one
#: of the untruncated spectrum to that precision.
TRUNCATION = 2.0**-64

# --- limits -------------------------------------------------------------------
#
# Every limit is checked when a recipe (or a TFDS config) is constructed,
# before anything of image size is allocated, so an absurd request fails at
# once with a message instead of after minutes of swapping.  The values are
# documented in tfds_gp/gp_textures/README.md.

# Largest image side.  One 8192 x 8192 field is 512 MiB of float64 plus its
# half spectrum (another 512 MiB of complex128) while it is synthesised, and a
# stored example is about 220 MB; larger sides do not fit a worker's memory
# comfortably.  The synthesis itself works for any side >= 2 (not only powers
# of two), so no other constraint is imposed.
MAX_SIZE = 8192

# Most scales (fields summed per image).  The presets use two or three; each
# scale costs a full field synthesis per example.
MAX_SCALES = 16

# Most classes, the product of the per-scale choice counts.  The class table
# and the TFDS ClassLabel hold one name per class; 10000 keeps both small
# (milliseconds, a few MB) while leaving room far beyond any sensible recipe.
MAX_CLASSES = 10_000

# Most examples of one class in one split, and of a whole split.  The largest
# preset has 2500 per class and 10000 in its train split.
MAX_PER_CLASS = 1_000_000
MAX_EXAMPLES_PER_SPLIT = 1_000_000

# Most pixels of one split (examples x size^2): 2^40 pixels is about 3.6 TB
# stored, a hundred times the largest preset.  Beyond it a build is a
# mistake, not a dataset.
MAX_PIXELS_PER_SPLIT = 2**40

# Range of each scale's weight.  A normalised field has empirical standard
# deviation 1, so no pixel exceeds sqrt(size^2) = size in magnitude; with at
# most MAX_SCALES scales of weight <= 1e6 an image stays below
# 16 * 1e6 * 8192 ~ 1.3e11, and even its square (a variance, an MSE) stays
# finite in float32 (max 3.4e38).  At >= 1e-6 every weighted field is far
# above float32's smallest normal number (1.2e-38), so no scale underflows.
MIN_POWER = 1e-6
MAX_POWER = 1e6

# Largest seed: an unsigned 64-bit integer, so the seed is a fixed-width
# value (stored in JSON and descriptions) and SeedSequence hashes it at once.
MAX_SEED = 2**64 - 1

# Largest in-memory array split_arrays (and load_numpy) will allocate: 16 GiB.
# Bigger splits are read through TFDS or generated in ranges (start, stop).
MAX_ARRAY_BYTES = 2**34


# --- argument checking ----------------------------------------------------------
#
# Every refusal is a TypeError (wrong type) or a ValueError (wrong value)
# whose message names the argument, what is allowed and the received value:
# "Invalid value for argument `powers`: expected ... Received: powers=[...]".

# The helpers live in tfds_gp.published, which must import nothing else of
# the package (tests load it alone); every module here uses them.
_show = published._show
_type_error = published._type_error
_value_error = published._value_error


def _is_bool(value: object) -> bool:
    return isinstance(value, (bool, np.bool_))


def _check_int(value: object, argument: str, low: int, high: int, what: str) -> int:
    """``value`` as an int in ``[low, high]``; NumPy integers accepted."""
    if _is_bool(value) or not isinstance(value, numbers.Integral):
        raise _type_error(
            argument, f"expected an integer from {low} to {high} ({what})", value
        )
    result = int(value)
    if not low <= result <= high:
        raise _value_error(
            argument, f"expected an integer from {low} to {high} ({what})", value
        )
    return result


def _check_size(size: object) -> int:
    expected = (
        f"expected an integer number of pixels from 2 to {MAX_SIZE} (the image side)"
    )
    if _is_bool(size) or not isinstance(size, numbers.Integral):
        raise _type_error("size", expected, size)
    value = int(size)
    if value < 2:
        raise _value_error("size", expected, size)
    if value > MAX_SIZE:
        raise _value_error(
            "size",
            f"{expected}; a field of side {MAX_SIZE} already needs about 1 GiB "
            f"while it is synthesised",
            size,
        )
    return value


def _as_float(value: object) -> float:
    """``float(value)``, with integers too large for a float as infinity."""
    try:
        return float(value)
    except OverflowError:
        return math.inf


def _check_cl(
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
    if _is_bool(cl) or not isinstance(cl, numbers.Real):
        # The received value is shown anyway; an entry of a larger argument
        # is shown on its own too.
        got = "" if received is cl else f"; {name} is {_show(cl)} ({type(cl).__name__})"
        raise _type_error(
            argument, f"expected {name} to be a real number of pixels{got}", received
        )
    value = _as_float(cl)
    allowed = f"a correlation length from {MIN_CL} to {MAX_CL_FRACTION} * size pixels"
    if not math.isfinite(value):
        raise _value_error(
            argument,
            f"expected {name} to be a finite {allowed[2:]}; {name} is {value!r}",
            received,
        )
    if value < MIN_CL:
        raise _value_error(
            argument,
            f"expected {name} to be {allowed}; {name}={value!r} is below the grid "
            f"resolution (a length under {MIN_CL} pixel gives white noise on "
            f"the pixel grid)",
            received,
        )
    if size is not None:
        limit = MAX_CL_FRACTION * size
        if value > limit:
            raise _value_error(
                argument,
                f"expected {name} to be {allowed}; {name}={value!r} is too large for "
                f"size={size}, above {MAX_CL_FRACTION} * size = {limit!r} pixels "
                f"(a longer length gives a nearly constant field on the torus)",
                received,
            )
    return value


def _as_sequence(
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
    raise _type_error(
        argument, f"{expected}; {name} is a {type(value).__name__}", received
    )


def _check_powers(powers: object, num_scales: int) -> tuple[float, ...]:
    """One weight per scale, each a finite number in [MIN_POWER, MAX_POWER]."""
    expected = (
        f"one positive finite number per scale, each from {MIN_POWER:g} to "
        f"{MAX_POWER:g}"
    )
    seq = _as_sequence(powers, "powers", "powers", f"expected {expected}", powers)
    if len(seq) != num_scales:
        raise _value_error(
            "powers",
            f"expected one entry per scale ({num_scales} numbers, one per "
            f"scale), got {len(seq)}; {expected}",
            powers,
        )
    out = []
    for i, p in enumerate(seq):
        if _is_bool(p) or not isinstance(p, numbers.Real):
            raise _type_error(
                "powers",
                f"expected {expected}; powers[{i}] is a {type(p).__name__}",
                powers,
            )
        value = _as_float(p)
        if not (math.isfinite(value) and MIN_POWER <= value <= MAX_POWER):
            raise _value_error(
                "powers",
                f"expected {expected} (larger weights can overflow the float32 "
                f"image, smaller ones vanish in it); powers[{i}]={_show(p)}",
                powers,
            )
        out.append(value)
    return tuple(out)


def spectrum_1d(cl: float, size: int) -> np.ndarray:
    """Eigenvalues of the 1-D wrapped squared-exponential covariance.

    Returns ``lam`` with ``lam[k] = sum_x C1(x) exp(-2 pi i k x / size)``,
    where ``C1(x) = sum_m exp(-(x + m*size)^2 / (2 cl^2))``, in ``numpy.fft``
    frequency order.  Exact by Poisson summation (see the module docstring).
    """
    size = _check_size(size)
    cl = _check_cl(cl, size)
    freq = np.fft.fftfreq(size)  # cycles per pixel
    aliases = np.arange(-_N_ALIASES, _N_ALIASES + 1, dtype=np.float64)
    nu = freq[:, None] + aliases[None, :]
    terms = np.exp(-2.0 * math.pi**2 * cl**2 * nu**2)
    return cl * math.sqrt(2.0 * math.pi) * terms.sum(axis=1)


def field(
    cl: float,
    size: int,
    rng: np.random.Generator,
    *,
    normalize: bool = True,
) -> np.ndarray:
    """One Gaussian random field of correlation length ``cl`` on the torus.

    Args:
      cl: correlation length in pixels, ``MIN_CL <= cl <= MAX_CL_FRACTION *
        size``.
      size: side of the square grid in pixels (any integer from 2 to
        ``MAX_SIZE`` = 8192; sizes with small prime factors are fastest).
      rng: the NumPy ``Generator`` to draw the white noise from: one
        block of ``(rows, columns, 2)`` standard normals, its shape set by
        ``cl`` and ``size`` (at most ``size * (size // 2 + 1) * 2``).
      normalize: if True (the dataset's recipe) the field is shifted and
        scaled to empirical mean 0 and standard deviation 1; if False it is
        the raw Gaussian field whose covariance is exactly the wrapped kernel.

    Returns:
      A ``(size, size)`` float64 array.

    Raises:
      TypeError: ``cl``, ``size`` or ``rng`` has the wrong type.
      ValueError: ``cl`` or ``size`` is out of range (message says the range).
    """
    size = _check_size(size)
    cl = _check_cl(cl, size)
    if not isinstance(rng, np.random.Generator):
        raise _type_error(
            "rng",
            "expected a numpy.random.Generator (e.g. numpy.random.default_rng(seed))",
            rng,
        )
    rows, cols, spec = _field_spectrum(cl, size, rng)
    if normalize:
        # The field's empirical mean is spec[0, 0] / size^2: zeroing the
        # constant mode subtracts it exactly, without another pass.
        spec[0, 0] = 0.0
        spec /= _spectral_std(spec, size)
    return _inverse_fft(size, [(rows, cols, spec)])


def _cutoff(amp: np.ndarray) -> int:
    """The highest frequency (0 to size // 2) whose amplitude still counts.

    ``amp`` is even in ``k`` and falls with ``|k|``. A frequency whose
    amplitude is below ``TRUNCATION`` of the largest adds less than float64
    round-off to the field (see ``TRUNCATION``), so it is neither drawn nor
    transformed.
    """
    half = amp[: len(amp) // 2 + 1]
    kept = np.nonzero(half >= TRUNCATION * half[0])[0]
    return int(kept[-1])


@functools.lru_cache(maxsize=64)
def _amplitude_block(cl: float, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The rows kept and ``size / sqrt(2) * amp[rows] * amp[:cols]``.

    The factor that turns unit complex normals into a field's half spectrum
    (see `_field_spectrum`); cached, as a dataset asks for the same few
    lengths at every example. Both arrays are read-only.
    """
    amp = np.sqrt(spectrum_1d(cl, size))
    k = _cutoff(amp)
    if 2 * k + 1 >= size:
        rows = np.arange(size)
    else:
        rows = np.concatenate([np.arange(k + 1), np.arange(size - k, size)])
    factor = np.multiply.outer(amp[rows] * (size / math.sqrt(2.0)), amp[: k + 1])
    rows.setflags(write=False)
    factor.setflags(write=False)
    return rows, factor


def _field_spectrum(
    cl: float, size: int, rng: np.random.Generator
) -> tuple[np.ndarray, int, np.ndarray]:
    """The non-zero block of one field's half spectrum (``rfft2`` layout).

    Returns ``(rows, cols, block)``: the block holds the spectrum at the
    row indices ``rows`` (frequencies ``0..K`` and ``-K..-1``, all rows when
    ``2K + 1 >= size``) and the first ``cols`` columns (``0..min(K,
    size // 2)``); every other entry is zero to float64 round-off.

    The block is ``amp[rows] * amp[:cols] * W``, where ``W`` has the
    distribution of ``rfft2`` of real unit white noise, drawn directly in
    frequency space: entries independent complex normals with real and
    imaginary parts of variance ``size^2 / 2``, except in the self-conjugate
    columns (0, and ``size / 2`` for even sizes), which are Hermitian along
    the rows (``W[-r] = conj(W[r])``) with real entries of variance
    ``size^2`` at the self-conjugate rows. ``irfft2`` of the block is then
    ``sqrt(C) w`` for white ``w``: a field with exactly the wrapped
    covariance, for one inverse FFT and no forward one.
    """
    rows, factor = _amplitude_block(cl, size)
    cols = factor.shape[1]
    noise = rng.standard_normal((len(rows), cols, 2))
    block = noise.view(np.complex128)[..., 0]
    n = len(rows)
    self_conjugate = [0] + ([size // 2] if size % 2 == 0 and cols > size // 2 else [])
    for c in self_conjugate:
        column = block[:, c]
        # Row r and row -r (index n - r) hold conjugate values; rows 0 and
        # n / 2 (the Nyquist row, present only when every row is) are real,
        # with the full variance (the factor's size^2 / 2, times 2).
        column[n - (n - 1) // 2 :] = np.conj(column[1 : (n - 1) // 2 + 1][::-1])
        real_rows = [0] + ([n // 2] if n % 2 == 0 else [])
        column[real_rows] = column[real_rows].real * math.sqrt(2.0)
    block *= factor
    return rows, cols, block


def _inverse_fft(
    size: int, blocks: list[tuple[np.ndarray, int, np.ndarray]]
) -> np.ndarray:
    """``irfft2`` of the sum of half-spectrum blocks (`_field_spectrum`'s).

    ``irfft2`` is an inverse FFT along the rows (axis 0) and then a real
    inverse FFT along the columns (axis 1). Columns past the blocks' widest
    are zero, and stay zero after the first step, so the first step runs
    over the non-zero columns alone and the second pads the rest with
    zeros: the same result, bit for bit, for a fraction of the first step's
    work. (The padding is written out: `irfft`'s own ``n`` padding was
    about twice as slow.)
    """
    width = max(cols for _, cols, _ in blocks)
    half = np.zeros((size, width), np.complex128)
    for rows, cols, spec in blocks:
        if len(rows) == size:
            half[:, :cols] += spec
        else:  # rows 0..k, then -k..-1: two slices (fancy indexing is slow)
            k = (len(rows) - 1) // 2
            half[: k + 1, :cols] += spec[: k + 1]
            half[size - k :, :cols] += spec[k + 1 :]
    half = scipy.fft.ifft(half, axis=0, overwrite_x=True)
    if width < size // 2 + 1:
        padded = np.zeros((size, size // 2 + 1), np.complex128)
        padded[:, :width] = half
        half = padded
    return scipy.fft.irfft(half, n=size, axis=1, overwrite_x=True)


def _spectral_std(block: np.ndarray, size: int) -> float:
    """The standard deviation of the field whose half spectrum is ``block``.

    ``block`` holds the first columns of the ``rfft2`` layout (every row,
    or the rows of `_field_spectrum`), with the mean already removed
    (``block[0, 0] == 0``); the rest of the spectrum is zero. By Parseval,
    each column but the self-conjugate ones stands for itself and its
    mirror image in the full spectrum, so it counts twice.
    """
    cols = block.shape[1]
    weights = np.full(cols, 2.0)
    weights[0] = 1.0
    if size % 2 == 0 and cols == size // 2 + 1:
        weights[-1] = 1.0
    power = block.real**2 + block.imag**2
    return math.sqrt(float(power.sum(axis=0) @ weights)) / size**2


def class_name(cls: Sequence[float]) -> str:
    """The class name: the chosen lengths joined by '-', e.g. ``'9.5-80'``."""
    return "-".join(_format_length(c) for c in cls)


def _format_length(cl: float) -> str:
    text = repr(float(cl))
    return text[:-2] if text.endswith(".0") else text


@dataclasses.dataclass(frozen=True)
class GpClass:
    """One class of the dataset: its label, name and length per scale."""

    label: int
    name: str
    cls: tuple[float, ...]


def _normalize_scales(scales: object) -> tuple[tuple[float, ...], ...]:
    """``scales`` as a tuple of tuples of floats, with the counts bounded.

    The counts (scales, choices, classes) are checked from the lengths alone,
    before any entry is read, so an absurdly long list is refused at once.
    The lengths are checked against the grid resolution here and against the
    image size by :class:`GpRecipe`.
    """
    expected = (
        "expected a sequence of sequences of correlation lengths "
        "(pixels), e.g. [[9.5, 10], [80, 140]]"
    )
    seq = _as_sequence(scales, "scales", "scales", expected, scales)
    if not 1 <= len(seq) <= MAX_SCALES:
        raise _value_error(
            "scales",
            f"expected 1 to {MAX_SCALES} scales; scales has {len(seq)}",
            scales,
        )
    rows = []
    num_classes = 1
    for s, choices in enumerate(seq):
        row = _as_sequence(
            choices,
            "scales",
            f"scales[{s}]",
            f"expected scales[{s}] to be a sequence of correlation lengths",
            scales,
        )
        if len(row) == 0:
            raise _value_error(
                "scales",
                f"expected at least one length per scale; scales[{s}] is empty",
                scales,
            )
        num_classes *= len(row)
        if num_classes > MAX_CLASSES:
            raise _value_error(
                "scales",
                f"expected at most {MAX_CLASSES} classes; the number of classes "
                f"(the product of the per-scale choice counts, "
                f"{' x '.join(str(len(r)) for r in seq[: s + 1])}"
                f"{' x ...' if s + 1 < len(seq) else ''}) is larger",
                scales,
            )
        rows.append(row)
    out = []
    for s, row in enumerate(rows):
        values = tuple(
            _check_cl(
                c, None, f"scales[{s}] length", argument="scales", received=scales
            )
            for c in row
        )
        if len(set(values)) != len(values):
            raise _value_error(
                "scales",
                f"expected distinct lengths within a scale; scales[{s}] has "
                f"repeated lengths: {_show(row)}",
                scales,
            )
        out.append(values)
    return tuple(out)


@functools.lru_cache(maxsize=64)
def _class_table(scales: tuple[tuple[float, ...], ...]) -> tuple[GpClass, ...]:
    # Cached on the normalised (hashable) scales: a recipe's table is built
    # once per process, not once per example, and the tuple of frozen
    # GpClass values is safe to share.
    table = []
    for label in range(math.prod(len(s) for s in scales)):
        rest, cls = label, []
        for choices in scales:
            rest, digit = divmod(rest, len(choices))
            cls.append(choices[digit])
        table.append(GpClass(label, class_name(cls), tuple(cls)))
    return tuple(table)


def class_table(scales: Sequence[Sequence[float]]) -> tuple[GpClass, ...]:
    """All classes for the given scales, in label order.

    Classes are the cross product of the per-scale choices with the first
    scale's choice varying fastest: for ``[[9.5, 10], [80, 140]]`` the table is
    ``0 '9.5-80', 1 '10-80', 2 '9.5-140', 3 '10-140'``.

    Raises:
      TypeError: ``scales`` or an entry has the wrong type.
      ValueError: more than ``MAX_SCALES`` scales or ``MAX_CLASSES`` classes,
        an empty scale, a repeated or non-finite length or one below
        ``MIN_CL``.
    """
    return _class_table(_normalize_scales(scales))


def _check_sample_args(
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
    cls = _as_sequence(
        cls,
        "cls",
        "cls",
        "expected a sequence of correlation lengths, one per scale",
        cls,
    )
    if not 1 <= len(cls) <= MAX_SCALES:
        raise _value_error(
            "cls",
            f"expected 1 to {MAX_SCALES} correlation lengths (one per scale); "
            f"cls has {len(cls)}",
            cls,
        )
    return cls, _check_powers(powers, len(cls)), _check_size(size)


def sample(
    cls: Sequence[float],
    powers: Sequence[float],
    size: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """One multi-scale texture, ``sum_s powers[s] * field(cls[s])``.

    Each scale gets a fresh field (drawn from ``rng`` in scale order), so no
    base field is shared between samples.  Returns a ``(size, size)`` float32
    array.

    Raises:
      TypeError, ValueError: as :func:`field` for ``cls`` and ``size``;
        ``powers`` must hold one number in ``[MIN_POWER, MAX_POWER]`` per
        entry of ``cls``.
    """
    cls, powers, size = _check_sample_args(cls, powers, size)
    # The sum of the normalised fields is taken in frequency space: each
    # field's spectrum is scaled by power / std (its std from Parseval) and
    # added, and one inverse FFT gives the sample.
    blocks = []
    for cl, power in zip(cls, powers, strict=True):
        rows, cols, spec = _field_spectrum(cl, size, rng)
        spec[0, 0] = 0.0
        spec *= power / _spectral_std(spec, size)
        blocks.append((rows, cols, spec))
    return _inverse_fft(size, blocks).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class GpRecipe:
    """Everything that determines a generated dataset.

    A recipe is immutable (assigning an attribute raises
    ``dataclasses.FrozenInstanceError``) and is validated on construction,
    before anything of image size is allocated.

    Attributes:
      size: image side in pixels, an integer from 2 to ``MAX_SIZE`` (8192).
      scales: per scale, the correlation lengths (pixels) a class can pick;
        1 to ``MAX_SCALES`` (16) scales, each length finite, distinct within
        its scale and in ``[MIN_CL, MAX_CL_FRACTION * size]``; the number of
        classes (the product of the choice counts) is at most
        ``MAX_CLASSES`` (10000).
      powers: per scale, the weight of that scale's field in the sum, a
        finite number in ``[MIN_POWER, MAX_POWER]`` (1e-6 to 1e6).
      train_per_class: number of training examples of each class, 0 to
        ``MAX_PER_CLASS``; 0 leaves the split out.
      test_per_class: number of test examples of each class, likewise.  Not
        both may be 0, and each split holds at most
        ``MAX_EXAMPLES_PER_SPLIT`` examples and ``MAX_PIXELS_PER_SPLIT``
        pixels.
      seed: root of every example's random stream, an integer from 0 to
        ``MAX_SEED`` (2**64 - 1).
      construction: how the fields are made, one of ``CONSTRUCTIONS``:
        ``'stationary'`` (default; :func:`sample`, stationary fields of the
        stated covariance), ``'reference'`` (:func:`tfds_gp.reference.
        sample`, the authors' construction; ``size`` must be a multiple of
        512: 1024 is the authors' data, 512 its half-size replica) or
        ``'reference_torus'`` (:func:`tfds_gp.reference_torus.sample`, a
        torus-wrapped variant that is not the authors').  Same classes,
        labels, splits and per-example streams every way.

    NumPy scalars are accepted wherever Python numbers are; bools, strings
    and None are refused with a TypeError, values out of range with a
    ValueError, each naming the argument and the received value.
    """

    size: int
    scales: tuple[tuple[float, ...], ...]
    powers: tuple[float, ...]
    train_per_class: int
    test_per_class: int
    seed: int = 0
    construction: str = "stationary"

    def __post_init__(self) -> None:
        size = _check_size(self.size)
        scales = _normalize_scales(self.scales)
        for s, choices in enumerate(scales):
            for cl in choices:
                _check_cl(
                    cl,
                    size,
                    name=f"scales[{s}] length",
                    argument="scales",
                    received=self.scales,
                )
        powers = _check_powers(self.powers, len(scales))
        per_class = {
            name: _check_int(
                getattr(self, name),
                name,
                0,
                MAX_PER_CLASS,
                "a number of examples per class",
            )
            for name in ("train_per_class", "test_per_class")
        }
        seed = _check_int(self.seed, "seed", 0, MAX_SEED, "an unsigned 64-bit integer")
        if _check_construction(self.construction) == "reference":
            from tfds_gp import reference  # noqa: PLC0415 (it imports this module)

            # The authors' construction is defined at multiples of 512 px
            # only; refused here, before any example is asked for.
            reference.check_size(size)
        if per_class["train_per_class"] + per_class["test_per_class"] == 0:
            raise _value_error(
                "train_per_class",
                "expected train_per_class and test_per_class not both 0 (the "
                "dataset would have no split)",
                self.train_per_class,
            )
        num_classes = math.prod(len(s) for s in scales)
        for name, count in per_class.items():
            n = count * num_classes
            if n > MAX_EXAMPLES_PER_SPLIT:
                raise _value_error(
                    name,
                    f"expected at most {MAX_EXAMPLES_PER_SPLIT} examples per split; "
                    f"{name} * number of classes = {count} * {num_classes} = {n}",
                    getattr(self, name),
                )
            if n * size * size > MAX_PIXELS_PER_SPLIT:
                raise _value_error(
                    name,
                    f"expected at most {MAX_PIXELS_PER_SPLIT} (2**40) pixels per "
                    f"split; {name} * number of classes * size^2 = {n} * "
                    f"{size}^2 = {n * size * size} pixels",
                    getattr(self, name),
                )
        object.__setattr__(self, "size", size)
        object.__setattr__(self, "scales", scales)
        object.__setattr__(self, "powers", powers)
        for name, value in per_class.items():
            object.__setattr__(self, name, value)
        object.__setattr__(self, "seed", seed)

    @property
    def classes(self) -> tuple[GpClass, ...]:
        """The class table, built once (cached on the scales), not per example."""
        return _class_table(self.scales)

    @property
    def num_classes(self) -> int:
        """The number of classes, the product of the per-scale choice counts."""
        return math.prod(len(s) for s in self.scales)

    def num_examples(self, split: str) -> int:
        """Number of examples in ``split`` ('train' or 'test')."""
        _check_split(split)
        per_class = self.train_per_class if split == "train" else self.test_per_class
        return per_class * self.num_classes


def _check_name(
    value: object, argument: str, names: Container[str], expected: str
) -> str:
    """``value`` if it is a string in ``names``; else TypeError or ValueError."""
    if not isinstance(value, str):
        raise _type_error(argument, expected, value)
    if value not in names:
        raise _value_error(argument, expected, value)
    return value


def _check_construction(construction: object) -> str:
    expected = f"expected one of {list(CONSTRUCTIONS)} (how the fields are made)"
    return _check_name(construction, "construction", CONSTRUCTIONS, expected)


def _check_split(split: object) -> int:
    expected = f"expected one of {sorted(SPLIT_IDS)}"
    return SPLIT_IDS[_check_name(split, "split", SPLIT_IDS, expected)]


def _check_recipe(recipe: object) -> GpRecipe:
    if not isinstance(recipe, GpRecipe):
        raise _type_error("recipe", "expected a GpRecipe", recipe)
    return recipe


def example_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The independent random stream of example ``index`` of ``split``.

    Args:
      seed: the recipe's seed, 0 to ``MAX_SEED``.
      split: ``'train'`` or ``'test'``.
      index: the example's index, a non-negative integer.

    Returns:
      ``numpy.random.default_rng(SeedSequence([seed, split_id, index]))``.

    Raises:
      TypeError: an argument of the wrong type.
      ValueError: a seed out of range, an unknown split, a negative index.
    """
    seed = _check_int(seed, "seed", 0, MAX_SEED, "an unsigned 64-bit integer")
    split_id = _check_split(split)
    expected = "expected a non-negative integer (an example index)"
    if _is_bool(index) or not isinstance(index, numbers.Integral):
        raise _type_error("index", expected, index)
    if index < 0:
        raise _value_error("index", expected, index)
    return np.random.default_rng(np.random.SeedSequence([seed, split_id, int(index)]))


def example(recipe: GpRecipe, split: str, index: int) -> tuple[np.ndarray, GpClass]:
    """Example ``index`` of ``split``: a ``(size, size)`` float32 image, its class.

    Labels cycle through the classes (``label = index % num_classes``), one
    example of each class in turn as in the reference files, so any prefix of
    a split is (nearly) balanced.  The image is :func:`sample` of the
    class's lengths, or :func:`tfds_gp.reference.sample` for a recipe with
    ``construction='reference'`` (:func:`tfds_gp.reference_torus.sample`
    for ``'reference_torus'``), drawn from :func:`example_rng`.

    Args:
      recipe: the dataset recipe.
      split: ``'train'`` or ``'test'``.
      index: the example's index, ``0 <= index < recipe.num_examples(split)``.

    Returns:
      ``(image, gp_class)``.

    Raises:
      TypeError: an argument of the wrong type.
      ValueError: an unknown split or an index out of range.

    Example:
    >>> recipe = GpRecipe(size=8, scales=[[1, 1.5]], powers=[1],
    ...                   train_per_class=2, test_per_class=1)
    >>> image, gp_class = example(recipe, "train", 3)
    >>> image.shape, image.dtype.name, gp_class.label, gp_class.name
    ((8, 8), 'float32', 1, '1.5')
    """
    n = _check_recipe(recipe).num_examples(split)
    if _is_bool(index) or not isinstance(index, numbers.Integral):
        raise _type_error(
            "index", f"expected an integer in [0, {n}) (split {split!r})", index
        )
    if not 0 <= index < n:
        raise _value_error(
            "index", f"expected an integer in [0, {n}) (split {split!r})", index
        )
    index = int(index)
    gp_class = recipe.classes[index % recipe.num_classes]
    rng = example_rng(recipe.seed, split, index)
    if recipe.construction == "reference":
        from tfds_gp import reference  # noqa: PLC0415 (it imports this module)

        return reference.sample(gp_class.cls, recipe.powers, recipe.size, rng), gp_class
    if recipe.construction == "reference_torus":
        from tfds_gp import reference_torus  # noqa: PLC0415 (imports this module)

        image = reference_torus.sample(gp_class.cls, recipe.powers, recipe.size, rng)
        return image, gp_class
    return sample(gp_class.cls, recipe.powers, recipe.size, rng), gp_class


def _check_range(
    recipe: GpRecipe, split: str, start: object, stop: object
) -> tuple[int, int]:
    """``(start, stop)`` as ints with ``0 <= start <= stop <= num_examples``."""
    n = _check_recipe(recipe).num_examples(split)
    start = _check_int(start, "start", 0, n, f"an example index of split {split!r}")
    if stop is None:
        return start, n
    stop = _check_int(
        stop, "stop", start, n, f"an example index of split {split!r}, >= start"
    )
    return start, stop


def iter_split(
    recipe: GpRecipe, split: str, start: int = 0, stop: int | None = None
) -> Iterator[tuple[int, np.ndarray, GpClass]]:
    """Yields ``(index, image, class)`` for examples ``start..stop-1``.

    ``0 <= start <= stop <= recipe.num_examples(split)``; ``stop=None`` means
    the end of the split.  The arguments are checked when this is called, not
    when the first example is asked for.
    """
    start, stop = _check_range(recipe, split, start, stop)
    return _iter_range(recipe, split, start, stop)


def _iter_range(
    recipe: GpRecipe, split: str, start: int, stop: int
) -> Iterator[tuple[int, np.ndarray, GpClass]]:
    for index in range(start, stop):
        image, gp_class = example(recipe, split, index)
        yield index, image, gp_class


def split_arrays(
    recipe: GpRecipe, split: str, start: int = 0, stop: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(images, labels)`` of a split without TFDS.

    ``images`` is float32 ``(n, size, size, 1)`` (the TFDS ``image`` feature's
    layout), ``labels`` is int64 ``(n,)``.  The arrays equal what the TFDS
    builder stores for the same recipe.

    Args:
      recipe: the dataset recipe.
      split: ``'train'`` or ``'test'``.
      start: the first example index, ``0 <= start <= stop``.
      stop: one past the last example index, ``stop <=
        recipe.num_examples(split)``; None is the end of the split.

    Returns:
      ``(images, labels)``.

    Raises:
      TypeError, ValueError: a bad argument (the message names it), or a
        range whose images would exceed ``MAX_ARRAY_BYTES`` (16 GiB) in
        memory: ask for a smaller range or read the split through TFDS.
    """
    start, stop = _check_range(recipe, split, start, stop)
    n = stop - start
    nbytes = n * recipe.size * recipe.size * 4
    if nbytes > MAX_ARRAY_BYTES:
        raise _value_error(
            "stop",
            f"expected at most {MAX_ARRAY_BYTES // 2**30} GiB of images; "
            f"the range [start, stop) = [{start}, {stop}) of split {split!r} "
            f"holds {n} images of {recipe.size}x{recipe.size} float32, "
            f"{nbytes / 2**30:.1f} GiB, more than the {MAX_ARRAY_BYTES // 2**30} "
            f"GiB split_arrays holds in memory; ask for a smaller range or "
            f"read the split through TFDS",
            stop,
        )
    images = np.empty((n, recipe.size, recipe.size, 1), np.float32)
    labels = np.empty((n,), np.int64)
    for i, (_, image, gp_class) in enumerate(_iter_range(recipe, split, start, stop)):
        images[i, :, :, 0] = image
        labels[i] = gp_class.label
    return images, labels


PAPER_SCALES = ((9.5, 10.0), (80.0, 140.0))
PAPER_POWERS = (0.75, 1.25)
THREE_SCALE_SCALES = ((9.5, 10.0), (60.0, 80.0), (140.0, 200.0))
THREE_SCALE_POWERS = (0.5, 1.0, 2.0)


def _scaled(scales: tuple[tuple[float, ...], ...], factor: float):
    return tuple(tuple(c * factor for c in s) for s in scales)


# The built-in recipes; the TFDS configs of the same names wrap these.  Each
# has its own seed so that two configs of the same size never share noise.
PRESETS: dict[str, GpRecipe] = {
    name: GpRecipe(*fields)
    for name, fields in {
        # name: (size, scales, powers, train_per_class, test_per_class, seed
        # [, construction])
        #
        # Default: a quarter of the paper's size and lengths.  Storing an
        # example (lossless PNG of the float32 bits) costs about twice
        # generating it, so 50 + 50 per class keeps the build near half a
        # minute on two busy cores.
        "small": (256, _scaled(PAPER_SCALES, 0.25), PAPER_POWERS, 50, 50, 1),
        # Half the paper's size and lengths.
        "medium": (512, _scaled(PAPER_SCALES, 0.5), PAPER_POWERS, 100, 100, 2),
        # The paper's dataset: 25 training samples per class, plus a test split.
        "paper": (1024, PAPER_SCALES, PAPER_POWERS, 25, 25, 3),
        # The reference's three-scale demonstration, 8 classes.
        "three_scale": (1024, THREE_SCALE_SCALES, THREE_SCALE_POWERS, 25, 25, 4),
        # The paper's recipe with a hundred times its training samples: 12000
        # examples, about 50 GB.  Meant for a Beam build (many workers).
        "paper_large": (1024, PAPER_SCALES, PAPER_POWERS, 2500, 500, 5),
        # The paper's lengths on 2048x2048 images: four times the area, so
        # four times the small-scale realisations per image.  1200 examples,
        # about 17 GB.  Meant for a Beam build.
        "paper_2048": (2048, PAPER_SCALES, PAPER_POWERS, 250, 50, 6),
        # The paper's recipe made the authors' way (tfds_gp.reference): the
        # `paper` config's parameters with construction="reference", its own
        # seed.
        "reference": (1024, PAPER_SCALES, PAPER_POWERS, 25, 25, 7, "reference"),
        # Its half-size replica: every length and grid of the authors'
        # construction halved (512 px, the `medium` lengths), the paper's
        # training set size, its own seed.
        "reference_half": (
            512,
            _scaled(PAPER_SCALES, 0.5),
            PAPER_POWERS,
            25,
            25,
            8,
            "reference",
        ),
    }.items()
}
