"""The authors' construction of the GP textures (``construction='reference'``).

The paper's data were not stationary fields of the stated covariance (the
project's default construction, :func:`tfds_gp.stationary.sample`).  Design
page ``shared/design/backdrop.md``, section 4, "The authors' construction",
states how the authors' ``GP_create.py`` made them; this module reproduces
that recipe, with exact sampling and without the ``george`` GP package.

Sizes.  ``GP_create.py`` is written for 1024 px images.  Every length and
grid of the construction is scaled by ``f = size / 1024`` together (the
design page's half-size replica is ``f = 1/2``); the grids stay whole
numbers of points exactly when ``size`` is a multiple of 512
(:data:`SIZE_STEP`), so those are the sizes the construction defines,
512 to ``MAX_SIZE``; any other size is refused with a ValueError.  At 1024
px every number below is the authors'.

Small lengths (``cl < 50 f``, :func:`small_limit`) are a sum of
Gaussian-enveloped GP patches (:func:`patch_layout` gives all the numbers):

* a patch is a zero-mean GP on a ``P x P`` grid, ``P = 50 f``
  (:func:`patch_grid`), laid on ``linspace(0, 1, P)`` in both axes, with the
  kernel ``exp(-d^2 / (2 m))``, ``m = (c / P)^2``, ``c = min(8 f, cl)``.  On
  the grid's own spacing ``1 / (P - 1)`` its correlation length is
  ``c (P - 1) / P`` grid points: **7.84** at 1024 px (8 * 49 / 50), 3.84 at
  512 px (4 * 24 / 25);
* it is upscaled by ``u = cl / c`` (1 when ``cl <= 8 f``: no upscaling) with
  the interpolating cubic spline (not-a-knot ends; the authors'
  ``interp2d(kind='cubic')``, FITPACK with ``s = 0``) from
  ``linspace(0, 1, P)`` to ``linspace(0, 1, side)``, ``side = int(P u)``;
* it is multiplied by ``exp(-23 ((x - 0.5)^2 + (y - 0.5)^2))`` on
  ``linspace(0, 1, side)``;
* ``N = int(6 (size / int(30 f u))^2)`` patches, each freshly sampled, are
  added into a zero image with their top-left corners drawn as integers
  uniformly from ``[0, size - side)`` in each axis (patches never cross the
  image's edge; the last row and column get none);
* the edge band, ``b = int(1.246 * 10 f * 4 u + 0.5)``: the last ``b`` rows
  are added onto the first ``b`` rows, then the last ``b`` rows are
  overwritten with a copy of the first ``b``; then the same for columns.
  The image's last ``b`` rows and columns are exact copies of its first:
  it is periodic with period ``size - b`` over that band, not ``size``;
* the image is normalised to mean 0 and standard deviation 1 (an affine
  map, so the copied band stays an exact copy).

The counts, at the paper's size and at the half-size replica:

=========  ========  ====  =====  ====  ====  ======
size (px)  cl (px)   u     side   N     b     period
=========  ========  ====  =====  ====  ====  ======
1024       9.5       1.19  59     5135  59    965
1024       10        1.25  62     4595  62    962
512        4.75      1.19  29     5442  30    482
512        5         1.25  31     4854  31    481
=========  ========  ====  =====  ====  ====  ======

(``int(30 f u)`` is 35 and 37 at 1024 px, 17 and 18 at 512 px.)

Large lengths (``cl >= 50 f``): one GP on a ``g x g`` grid, ``g = size /
8`` (:func:`large_grid`: 128 at 1024 px, 64 at 512 px), laid on
``linspace(0, 1, g)``, kernel metric ``(cl / 8 / g)^2``: a correlation
length of ``cl / 8 * (g - 1) / g`` grid points (9.92 for 80 and 17.36 for
140 at 1024 px; 4.92 for 40 and 8.61 for 70 at 512 px); upscaled x8 by the
same cubic spline from ``linspace(0, 1, g)`` to ``linspace(0, 1, size)``;
no envelope, no band; normalised to mean 0 and standard deviation 1.

A sample is ``sum_s powers[s] * field_s`` (not normalised again, as in the
authors' crossing of their saved fields).

Exact sampling.  The squared-exponential kernel separates,
``k(dx, dy) = k1(dx) k1(dy)``, so on a grid the covariance matrix is the
Kronecker product ``K1 (x) K1`` of the 1-D matrices.  With ``A`` the
symmetric square root of ``K1`` (an eigendecomposition, round-off negative
eigenvalues clipped to 0), ``A Z A^T`` for a matrix ``Z`` of independent
standard normals has covariance ``(A A^T) (x) (A A^T) = K1 (x) K1``: exact up
to float64 round-off, with no jitter and no periodic embedding, for a
``n x n`` factorisation instead of ``n^2 x n^2``.  (The authors' ``george``
used an approximate HODLR solver; the covariance is the same.)  Upscaling is
linear, so an upscaled patch is ``B Z B^T`` with ``B = M A`` computed once
per length and cached: a batch of patches costs two matrix products.

Random stream: per field, the ``N`` corners first, then the patches' normals
in order; a large field draws its ``g x g`` normals.

Speed (one core of a shared two-core machine, load average 2 to 3): a
1024 px sample of the paper's recipe (class '9.5-80') 0.4 to 0.6 s, nearly
all of it the small field's 5135 patches; a 512 px sample of the half-size
replica 0.1 to 0.3 s.

The earlier reading of the recipe (length 8 grid points, a rounder patch
count, corners anywhere with patches wrapped on the torus, no band) is kept
as ``construction='reference_torus'`` (:mod:`tfds_gp.reference_torus`); it
is not the authors' construction.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
from collections.abc import Sequence

import numpy as np
import scipy.interpolate

from tfds_gp.checks import (
    MAX_SIZE,
    check_cl,
    check_int,
    check_rng,
    check_sample_args,
    is_bool,
    type_error,
    value_error,
)

__all__ = [
    "BAND_FACTOR",
    "BASE_SIZE",
    "ENVELOPE",
    "LARGE_UPSCALE",
    "PATCHES_PER_AREA",
    "SIZE_STEP",
    "PatchLayout",
    "check_size",
    "cubic_matrix",
    "envelope",
    "field",
    "large_grid",
    "add_patches",
    "large_length",
    "normalised",
    "patch_count",
    "patch_grid",
    "patch_layout",
    "patch_side",
    "sample",
    "se_sqrt",
    "size_factor",
    "small_limit",
]

#: The image side ``GP_create.py`` is written for; every length and grid
#: scales with ``size / BASE_SIZE``.
BASE_SIZE = 1024
#: Sizes the construction defines are multiples of this: the patch grid
#: ``50 size / 1024`` is then a whole number of points (and so are the
#: envelope border ``P / 5`` and the large grid ``size / 8``).
SIZE_STEP = 512
#: At 1024 px: lengths below this (pixels) are made of patches.
_SMALL_LIMIT = 50.0
#: At 1024 px: side of a patch's GP grid, in grid points.
_PATCH_GRID = 50
#: At 1024 px: the patch kernel's ``c`` (``min(8, cl)``), in pixels.
_PATCH_CL = 8.0
#: The envelope is ``exp(-ENVELOPE ((x - 0.5)^2 + (y - 0.5)^2))`` on the
#: upscaled patch's ``linspace(0, 1, side)``.
ENVELOPE = 23.0
#: Patches per effective patch area: ``N = int(6 (size / int(30 f u))^2)``.
PATCHES_PER_AREA = 6
#: The authors' ``wrap_factor``: the band is ``int(1.246 * border + 0.5)``.
BAND_FACTOR = 1.246
#: The band's border is the patch's envelope border (``P / 5`` grid points)
#: times this and times the upscaling ``u``.
_BAND_REACH = 4
#: Upscaling of the coarse grid of large lengths.
LARGE_UPSCALE = 8

# Upscaled patches held at once while they are added (float64 elements):
# 2**22 is 32 MiB, 512 patches of 62 x 62 at 1024 px, one for the largest
# patches at 8192 px.
_CHUNK_ELEMENTS = 2**22
_MAX_CHUNK = 512


def check_size(size: object) -> int:
    """``size`` as an int if the construction defines it, else an error.

    Args:
      size: the image side in pixels.

    Returns:
      ``size``: a multiple of :data:`SIZE_STEP` (512) from 512 to
      ``MAX_SIZE`` (8192).

    Raises:
      TypeError: ``size`` is not an integer.
      ValueError: any other integer; the message names ``size``, the
        received value and the allowed sizes.

    Example:
    >>> check_size(512), check_size(1024)
    (512, 1024)
    """
    allowed = list(range(SIZE_STEP, MAX_SIZE + 1, SIZE_STEP))
    expected = (
        f"expected a multiple of {SIZE_STEP} pixels from {SIZE_STEP} to "
        f"{MAX_SIZE}, one of {allowed}, for the authors' "
        f"construction (written for {BASE_SIZE} px; other sizes scale every "
        f"length and grid by size / {BASE_SIZE}, which keeps the grids whole "
        "only at these sizes)"
    )
    if is_bool(size) or not isinstance(size, numbers.Integral):
        raise type_error("size", expected, size)
    if int(size) not in allowed:
        raise value_error("size", expected, size)
    return int(size)


def size_factor(size: int) -> float:
    """``f = size / 1024``, the factor of every length and grid.

    Example:
    >>> size_factor(1024), size_factor(512)
    (1.0, 0.5)
    """
    return check_size(size) / BASE_SIZE


def small_limit(size: int) -> float:
    """Lengths below this (pixels) are made of patches: ``50 f``.

    Example:
    >>> small_limit(1024), small_limit(512)
    (50.0, 25.0)
    """
    return _SMALL_LIMIT * size_factor(size)


def patch_grid(size: int) -> int:
    """Side of a patch's GP grid, ``P = 50 f`` points.

    Example:
    >>> patch_grid(1024), patch_grid(512)
    (50, 25)
    """
    return _patch_grid(check_size(size))


def _patch_grid(size: int) -> int:
    return _PATCH_GRID * size // BASE_SIZE


def large_grid(size: int) -> int:
    """Side of the coarse grid of a large length, ``g = size / 8``.

    Example:
    >>> large_grid(1024), large_grid(512)
    (128, 64)
    """
    return check_size(size) // LARGE_UPSCALE


@dataclasses.dataclass(frozen=True)
class PatchLayout:
    """The numbers of a small-length field of the authors' construction.

    Attributes:
      cl: the correlation length, pixels.
      size: the image side, pixels.
      grid: ``P = 50 f``, the patch's GP grid side in points.
      kernel_cl: ``c = min(8 f, cl)``, pixels; the kernel metric is
        ``(c / P)^2`` on ``linspace(0, 1, P)``.
      kernel_length: ``c (P - 1) / P``, the kernel's correlation length in
        grid points (7.84 at 1024 px).
      upscale: ``u = cl / c``.
      side: ``int(P u)``, the upscaled patch's side in pixels.
      effective: ``int(30 f u)``, the part of a patch the envelope leaves.
      count: ``N = int(6 (size / effective)^2)`` patches.
      band: ``b = int(1.246 * 10 f * 4 u + 0.5)``, rows and columns copied.
      period: ``size - band``, the period over the copied band.
    """

    cl: float
    size: int
    grid: int
    kernel_cl: float
    kernel_length: float
    upscale: float
    side: int
    effective: int
    count: int
    band: int
    period: int


def _check_small(cl: object, size: object) -> tuple[float, int]:
    size = check_size(size)
    cl = check_cl(cl, size)
    limit = _SMALL_LIMIT * size / BASE_SIZE
    if cl >= limit:
        raise value_error(
            "cl",
            f"expected a length below {limit:g} pixels at size={size} (made of "
            "patches; longer lengths are one upscaled coarse GP)",
            cl,
        )
    return cl, size


@functools.lru_cache(maxsize=64)
def _layout(cl: float, size: int) -> PatchLayout:
    grid = _patch_grid(size)
    border = grid // 5  # the envelope's border, P / 5 grid points
    kernel_cl = min(_PATCH_CL * size / BASE_SIZE, cl)
    upscale = cl / kernel_cl
    # The order of the float operations is the authors': int() truncates,
    # so it decides the counts.
    effective = int((grid - 2 * border) * upscale)
    count = int(PATCHES_PER_AREA * (size / effective) ** 2)
    band = int(BAND_FACTOR * (border * _BAND_REACH * upscale) + 0.5)
    return PatchLayout(
        cl=cl,
        size=size,
        grid=grid,
        kernel_cl=kernel_cl,
        kernel_length=kernel_cl * (grid - 1) / grid,
        upscale=upscale,
        side=int(grid * upscale),
        effective=effective,
        count=count,
        band=band,
        period=size - band,
    )


def patch_layout(cl: float, size: int) -> PatchLayout:
    """All the numbers of a small-length field: grid, kernel, side, N, band.

    Args:
      cl: a correlation length in pixels, ``MIN_CL <= cl <`` :func:`small_limit`.
      size: the image side, a size :func:`check_size` accepts.

    Returns:
      The :class:`PatchLayout`.

    Raises:
      TypeError, ValueError: a bad ``cl`` or ``size``.

    Example:
    >>> a, b = patch_layout(9.5, 1024), patch_layout(4.75, 512)
    >>> (a.side, a.count, a.band, a.period), (b.side, b.count, b.band, b.period)
    ((59, 5135, 59, 965), (29, 5442, 30, 482))
    """
    return _layout(*_check_small(cl, size))


def patch_side(cl: float, size: int) -> int:
    """Side in pixels of an upscaled patch, ``int(50 f u)``.

    Example:
    >>> patch_side(9.5, 1024), patch_side(10, 1024), patch_side(4.75, 512)
    (59, 62, 29)
    """
    return patch_layout(cl, size).side


def patch_count(cl: float, size: int) -> int:
    """Number of patches of a small-length field, ``int(6 (size / int(30 f u))^2)``.

    Example:
    >>> patch_count(9.5, 1024), patch_count(10, 1024), patch_count(5, 512)
    (5135, 4595, 4854)
    """
    return patch_layout(cl, size).count


def large_length(cl: float, size: int) -> float:
    """Correlation length of a large length's coarse GP, in grid points.

    ``cl / 8 * (g - 1) / g`` with ``g`` = :func:`large_grid` (the kernel
    metric ``(cl / 8 / g)^2`` on ``linspace(0, 1, g)``).

    Example:
    >>> round(large_length(80, 1024), 4), round(large_length(140, 1024), 4)
    (9.9219, 17.3633)
    """
    size = check_size(size)
    cl = check_cl(cl, size)
    limit = _SMALL_LIMIT * size / BASE_SIZE
    if cl < limit:
        raise value_error(
            "cl",
            f"expected a length of at least {limit:g} pixels at size={size} "
            "(shorter lengths are made of patches)",
            cl,
        )
    grid = size // LARGE_UPSCALE
    return cl / LARGE_UPSCALE * (grid - 1) / grid


def _check_points(value: object, argument: str, low: int) -> int:
    return check_int(value, argument, low, MAX_SIZE, "a number of grid points")


@functools.lru_cache(maxsize=64)
def se_sqrt(n: int, length: float) -> np.ndarray:
    """The symmetric square root of the 1-D squared-exponential matrix.

    ``K1[i, j] = exp(-(i - j)^2 / (2 length^2))`` on ``n`` grid points; its
    eigendecomposition ``V diag(w) V^T`` gives ``A = V diag(sqrt(max(w, 0)))
    V^T`` (negative eigenvalues are round-off, at most about ``1e-15 n``),
    so ``A A^T = K1`` to float64 round-off.  Cached; read-only.

    Args:
      n: number of grid points, 1 to ``MAX_SIZE``.
      length: correlation length in grid points, a positive finite number.

    Returns:
      ``A``, ``(n, n)`` float64.

    Raises:
      TypeError, ValueError: a bad ``n`` or ``length`` (named).

    Example:
    >>> a = se_sqrt(5, 1.0)
    >>> bool(np.allclose(a @ a.T, np.exp(-np.subtract.outer(
    ...     np.arange(5), np.arange(5)) ** 2 / 2), atol=1e-12))
    True
    """
    n = _check_points(n, "n", 1)
    expected = "expected a positive finite correlation length in grid points"
    if is_bool(length) or not isinstance(length, numbers.Real):
        raise type_error("length", expected, length)
    if not (math.isfinite(length) and length > 0):
        raise value_error("length", expected, length)
    i = np.arange(n, dtype=np.float64)
    kernel = np.exp(-(np.subtract.outer(i, i) ** 2) / (2.0 * length * length))
    w, v = np.linalg.eigh(kernel)
    root = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
    root = 0.5 * (root + root.T)
    root.setflags(write=False)
    return root


@functools.lru_cache(maxsize=64)
def cubic_matrix(n_in: int, n_out: int) -> np.ndarray:
    """The ``(n_out, n_in)`` matrix of corner-aligned cubic upscaling.

    Row ``o`` gives the value at ``linspace(0, 1, n_out)[o]`` of the
    interpolating cubic spline (not-a-knot ends) through values on
    ``linspace(0, 1, n_in)``: ``M @ y`` upscales a column ``y``, and
    ``M @ P @ M.T`` a 2-D grid (the tensor-product spline).  Cached;
    read-only.

    Args:
      n_in: points of the input grid, 4 to ``MAX_SIZE`` (a cubic
        spline needs 4 points; FITPACK's bicubic interpolant does too).
      n_out: points of the output grid, 1 to ``MAX_SIZE``.

    Raises:
      TypeError, ValueError: a bad ``n_in`` or ``n_out`` (named).

    Example:
    >>> m = cubic_matrix(5, 9)
    >>> bool(np.allclose(m @ np.linspace(0, 1, 5) ** 3,
    ...                  np.linspace(0, 1, 9) ** 3))
    True
    """
    n_in = _check_points(n_in, "n_in", 4)
    n_out = _check_points(n_out, "n_out", 1)
    x_in = np.linspace(0.0, 1.0, n_in)
    x_out = np.linspace(0.0, 1.0, n_out)
    spline = scipy.interpolate.CubicSpline(
        x_in, np.eye(n_in), axis=0, bc_type="not-a-knot"
    )
    matrix = np.ascontiguousarray(spline(x_out))
    matrix.setflags(write=False)
    return matrix


@functools.lru_cache(maxsize=64)
def envelope(side: int) -> np.ndarray:
    """``exp(-23 ((x - 0.5)^2 + (y - 0.5)^2))`` on a ``side x side`` patch.

    ``x`` and ``y`` on ``linspace(0, 1, side)``.  Cached; read-only.

    Args:
      side: the patch side in pixels, 1 to ``MAX_SIZE``.

    Raises:
      TypeError, ValueError: a bad ``side`` (named).

    Example:
    >>> e = envelope(3)
    >>> float(e[1, 1]), bool(np.isclose(e[0, 0], np.exp(-23 * 0.5)))
    (1.0, True)
    """
    side = _check_points(side, "side", 1)
    d2 = (np.linspace(0.0, 1.0, side) - 0.5) ** 2
    result = np.exp(-ENVELOPE * np.add.outer(d2, d2))
    result.setflags(write=False)
    return result


@functools.lru_cache(maxsize=64)
def _patch_operator(layout: PatchLayout) -> np.ndarray:
    """``B = M A``: a patch's GP factor followed by its upscaling."""
    root = se_sqrt(layout.grid, layout.kernel_length)
    # The authors upscale only when u > 1 (cl above 8 f): with u = 1 the
    # spline through P points evaluated at the same points is the identity
    # only up to round-off.
    if layout.upscale <= 1.0:
        return root
    operator = cubic_matrix(layout.grid, layout.side) @ root
    operator.setflags(write=False)
    return operator


@functools.lru_cache(maxsize=16)
def _large_operator(cl: float, size: int) -> np.ndarray:
    """``B = M A`` of a large length: the coarse GP factor, upscaled x8."""
    grid = size // LARGE_UPSCALE
    root = se_sqrt(grid, cl / LARGE_UPSCALE * (grid - 1) / grid)
    operator = cubic_matrix(grid, size) @ root
    operator.setflags(write=False)
    return operator


def _sandwich(operator: np.ndarray, z: np.ndarray) -> np.ndarray:
    """``operator @ z[i] @ operator.T`` for each ``i``, contiguous.

    NumPy's batched product: for these small matrices (25 to 62 points) it
    is two to four times faster than two large products with transposes.
    """
    return operator @ z @ operator.T


def normalised(image: np.ndarray) -> np.ndarray:
    """``image`` shifted and scaled in place to mean 0 and standard deviation 1."""
    image -= image.mean()
    image /= image.std()
    return image


def add_patches(image: np.ndarray, patches: np.ndarray, corners: np.ndarray) -> None:
    """Adds ``patches[i]`` to ``image`` with its top-left pixel at ``corners[i]``."""
    side = patches.shape[1]
    for (row, col), patch in zip(corners, patches, strict=True):
        image[row : row + side, col : col + side] += patch


def _copy_band(image: np.ndarray, band: int) -> None:
    """The authors' "wrap" of the edge band, in place.

    The last ``band`` rows are added onto the first, then overwritten by a
    copy of them; then the same for columns.
    """
    image[:band, :] += image[-band:, :]
    image[-band:, :] = image[:band, :]
    image[:, :band] += image[:, -band:]
    image[:, -band:] = image[:, :band]


def _chunk(layout: PatchLayout) -> int:
    return max(1, min(_MAX_CHUNK, _CHUNK_ELEMENTS // (layout.side * layout.side)))


def _small_field(cl: float, size: int, rng: np.random.Generator) -> np.ndarray:
    layout = _layout(cl, size)
    operator = _patch_operator(layout)
    window = envelope(layout.side)
    corners = rng.integers(0, size - layout.side, size=(layout.count, 2))
    image = np.zeros((size, size))
    chunk = _chunk(layout)
    for start in range(0, layout.count, chunk):
        stop = min(start + chunk, layout.count)
        z = rng.standard_normal((stop - start, layout.grid, layout.grid))
        patches = _sandwich(operator, z)
        patches *= window
        add_patches(image, patches, corners[start:stop])
    _copy_band(image, layout.band)
    return normalised(image)


def _large_field(cl: float, size: int, rng: np.random.Generator) -> np.ndarray:
    operator = _large_operator(cl, size)
    grid = operator.shape[1]
    z = rng.standard_normal((grid, grid))
    return normalised(operator @ z @ operator.T)


def _field(cl: float, size: int, rng: np.random.Generator) -> np.ndarray:
    if cl < _SMALL_LIMIT * size / BASE_SIZE:
        return _small_field(cl, size, rng)
    return _large_field(cl, size, rng)


def field(cl: float, size: int, rng: np.random.Generator) -> np.ndarray:
    """One base field of the authors' construction, mean 0, std 1.

    Patches (``cl <`` :func:`small_limit`) or an upscaled coarse GP, as
    described in the module docstring.

    Args:
      cl: correlation length in pixels, ``MIN_CL`` to ``MAX_CL_FRACTION *
        size``.
      size: image side in pixels, a multiple of 512 (:func:`check_size`).
      rng: the random stream (patch corners first, then the normals).

    Returns:
      A ``(size, size)`` float64 array.

    Raises:
      TypeError, ValueError: a bad ``cl``, ``size`` or ``rng``.

    Example:
    >>> f = field(9.5, 512, np.random.default_rng(0))
    >>> f.shape, round(float(f.mean()), 12) + 0.0, round(float(f.std()), 12)
    ((512, 512), 0.0, 1.0)
    """
    size = check_size(size)
    cl = check_cl(cl, size)
    check_rng(rng)
    return _field(cl, size, rng)


def sample(
    cls: Sequence[float],
    powers: Sequence[float],
    size: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """One texture of the authors' construction, ``sum_s powers[s] field_s``.

    Each scale gets a fresh :func:`field`, drawn from ``rng`` in scale order.

    Args:
      cls: one correlation length (pixels) per scale.
      powers: one weight per scale, each in ``[MIN_POWER, MAX_POWER]``.
      size: image side in pixels, a multiple of 512 (:func:`check_size`).
      rng: the random stream.

    Returns:
      A ``(size, size)`` float32 array.

    Raises:
      TypeError, ValueError: as :func:`tfds_gp.stationary.sample`, and a
        size the construction does not define.
    """
    cls, powers, size = check_sample_args(cls, powers, size)
    size = check_size(size)
    lengths = [check_cl(cl, size) for cl in cls]
    check_rng(rng)
    total = np.zeros((size, size))
    for cl, power in zip(lengths, powers, strict=True):
        total += power * _field(cl, size, rng)
    return total.astype(np.float32)
