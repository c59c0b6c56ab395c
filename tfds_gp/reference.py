"""The authors' construction of the GP textures (``construction='reference'``).

The paper's data were not stationary fields of the stated covariance (the
project's default construction, :func:`tfds_gp.generator.sample`).  Design
page ``shared/design/backdrop.md``, section 4, "The authors' construction",
states how they were made; this module reproduces that recipe, with exact
sampling and without the ``george`` GP package.

Small lengths (``cl < SMALL_LIMIT``, 50 pixels): the field is a sum of
Gaussian-enveloped GP patches.

* A patch is a zero-mean GP on a ``PATCH_GRID x PATCH_GRID`` (50 x 50) grid
  with squared-exponential covariance of length ``min(cl, PATCH_CL)`` grid
  points (``PATCH_CL`` = 8), on the plain grid (not periodic).
* It is upscaled by ``cl / PATCH_CL`` (by 1 when ``cl < 8``) with cubic
  interpolation to :func:`patch_side` pixels, ``int(50 * cl / 8)``: 59 for
  9.5, 62 for 10.  The input and output grids span the same square, corner
  pixel on corner pixel (``linspace(0, 1, 50)`` to ``linspace(0, 1,
  side)``), so the effective pixel ratio is ``(side - 1) / 49`` (1.184 for
  9.5, 1.245 for 10).  The interpolant is the interpolating cubic spline
  with not-a-knot ends, per axis; on a grid the tensor-product spline
  separates, so the upscaling is a ``side x 50`` matrix ``M`` applied on
  both sides (the interpolating bicubic spline of FITPACK, which the
  authors' ``scipy.interpolate.interp2d(kind='cubic')`` called, is this
  spline).
* The upscaled patch is multiplied by the envelope ``exp(-ENVELOPE r^2)``
  (``ENVELOPE`` = 23), ``r`` the distance from the patch centre in units of
  the patch side (the envelope's sigma is 0.147 of the side), evaluated on
  the upscaled grid, as the authors did.
* :func:`patch_count` patches, ``int(6 * (size / (30 * cl / 8))^2)`` (4957
  for 9.5 and 4473 for 10 at 1024 px; 30 grid points is the part of a patch
  that survives the envelope), each freshly sampled, are added with their
  top-left corner at a uniformly random pixel, wrapped on the torus (a
  patch crossing an edge continues on the opposite side).
* The image is normalised to mean 0 and standard deviation 1.

Large lengths (``cl >= 50``): one GP on a ``g x g`` grid, ``g =``
:func:`large_grid` ``(size) = ceil(size / 8)`` (128 for 1024 px), with
correlation length ``cl / 8`` grid points, upscaled to ``size x size`` by
the same corner-aligned cubic spline (``x8`` when ``size`` is a multiple of
8; otherwise ``(size - 1) / (g - 1)``, slightly under 8); no envelope, no
wrapping.  The field is normalised to mean 0 and standard deviation 1, as
the authors' generator normalised every base field it saved (small and
large), before the scales were summed.

A sample is ``sum_s powers[s] * field_s`` (the sum itself is not
normalised again, as in the authors' crossing of the saved fields).

Exact sampling.  The squared-exponential kernel separates,
``k(dx, dy) = k1(dx) k1(dy)``, so on a grid the covariance matrix is the
Kronecker product ``K1 (x) K1`` of the 1-D matrices.  With ``A`` the
symmetric square root of ``K1`` (an eigendecomposition, round-off negative
eigenvalues clipped to 0), ``A Z A^T`` for a matrix ``Z`` of independent
standard normals has covariance ``(A A^T) (x) (A A^T) = K1 (x) K1``: exact up
to float64 round-off, with no jitter and no periodic embedding, for a
``n x n`` factorisation instead of ``n^2 x n^2``.  Upscaling is linear, so
an upscaled patch is ``B Z B^T`` with ``B = M A`` computed once per length
and cached: a batch of patches costs two matrix products.

Speed (one core, 1024 px, ``benchmarks/generator.py --quick`` on a shared
two-core machine): a small-length field (cl = 9.5, 4957 patches) 0.30 s,
most of it drawing the 12.4 million normals and the two matrix products; a
large-length field (cl = 80) 0.01 s; a ``reference``-config sample
(class '9.5-80') 0.32 s, against 0.009 s for a stationary sample.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import scipy.interpolate

from tfds_gp import generator

__all__ = [
    "ENVELOPE",
    "LARGE_UPSCALE",
    "PATCH_CL",
    "PATCH_GRID",
    "PATCH_EFFECTIVE",
    "PATCHES_PER_AREA",
    "SMALL_LIMIT",
    "cubic_matrix",
    "envelope",
    "field",
    "large_grid",
    "patch_count",
    "patch_side",
    "sample",
    "se_sqrt",
]

#: Lengths (pixels) below this are made of patches, the others of one
#: upscaled coarse GP.
SMALL_LIMIT = 50.0
#: Side of a patch's GP grid, in grid points.
PATCH_GRID = 50
#: Correlation length of a patch's GP, in grid points (lengths below it
#: are drawn at their own length and not upscaled).
PATCH_CL = 8.0
#: The envelope is ``exp(-ENVELOPE r^2)``, ``r`` in units of the patch side.
ENVELOPE = 23.0
#: Grid points of a patch that survive the envelope (50 - 2 * 50 / 5).
PATCH_EFFECTIVE = 30
#: Patches per effective patch area: ``6 (size / (30 * upscale))^2``.
PATCHES_PER_AREA = 6
#: Upscaling of the coarse grid of large lengths.
LARGE_UPSCALE = 8

# Patches drawn and upscaled per batch (memory: 512 x 50 x 62 x 8 B ~ 13 MB).
_CHUNK = 512


def _upscale(cl: float) -> float:
    return max(cl / PATCH_CL, 1.0)


def _check_small(cl: object, size: object) -> tuple[float, int]:
    size = generator._check_size(size)
    cl = generator._check_cl(cl, size)
    if cl >= SMALL_LIMIT:
        raise generator._value_error(
            "cl",
            f"expected a length below {SMALL_LIMIT:g} pixels (made of patches; "
            "longer lengths are one upscaled coarse GP)",
            cl,
        )
    return cl, size


def patch_side(cl: float) -> int:
    """Side in pixels of an upscaled patch: ``int(50 * max(cl / 8, 1))``.

    Args:
      cl: a correlation length in pixels, ``MIN_CL <= cl < SMALL_LIMIT``.

    Returns:
      The side: 59 for 9.5, 62 for 10, 50 for lengths up to 8.

    Raises:
      TypeError, ValueError: ``cl`` is not such a length.

    Example:
    >>> patch_side(9.5), patch_side(10), patch_side(4)
    (59, 62, 50)
    """
    cl, _ = _check_small(cl, generator.MAX_SIZE)
    return int(PATCH_GRID * _upscale(cl))


def patch_count(cl: float, size: int) -> int:
    """Number of patches in a small-scale field, ``int(6 (size / (30 u))^2)``.

    ``u = max(cl / 8, 1)`` is the patch's upscaling; at least one patch.

    Args:
      cl: a correlation length in pixels, ``MIN_CL <= cl < SMALL_LIMIT``
        and at most ``MAX_CL_FRACTION * size``.
      size: the image side in pixels.

    Returns:
      The count: 4957 for 9.5 and 4473 for 10 at 1024 px.

    Raises:
      TypeError, ValueError: a bad ``cl`` or ``size``.

    Example:
    >>> patch_count(9.5, 1024), patch_count(10, 1024)
    (4957, 4473)
    """
    cl, size = _check_small(cl, size)
    ratio = size / (PATCH_EFFECTIVE * _upscale(cl))
    return max(1, int(PATCHES_PER_AREA * ratio * ratio))


def large_grid(size: int) -> int:
    """Side of the coarse grid of a large length: ``ceil(size / 8)``, >= 4.

    Example:
    >>> large_grid(1024), large_grid(1000), large_grid(20)
    (128, 125, 4)
    """
    size = generator._check_size(size)
    return max(4, -(-size // LARGE_UPSCALE))


@functools.lru_cache(maxsize=64)
def se_sqrt(n: int, length: float) -> np.ndarray:
    """The symmetric square root of the 1-D squared-exponential matrix.

    ``K1[i, j] = exp(-(i - j)^2 / (2 length^2))`` on ``n`` grid points; its
    eigendecomposition ``V diag(w) V^T`` gives ``A = V diag(sqrt(max(w, 0)))
    V^T`` (negative eigenvalues are round-off, at most about ``1e-15 n``),
    so ``A A^T = K1`` to float64 round-off.  Cached; read-only.

    Args:
      n: number of grid points, 1 or more.
      length: correlation length in grid points, positive.

    Returns:
      ``A``, ``(n, n)`` float64.

    Example:
    >>> a = se_sqrt(5, 1.0)
    >>> bool(np.allclose(a @ a.T, np.exp(-np.subtract.outer(
    ...     np.arange(5), np.arange(5)) ** 2 / 2), atol=1e-12))
    True
    """
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

    Example:
    >>> m = cubic_matrix(5, 9)
    >>> bool(np.allclose(m @ np.linspace(0, 1, 5) ** 3,
    ...                  np.linspace(0, 1, 9) ** 3))
    True
    """
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
    """``exp(-23 r^2)`` on a ``side x side`` patch, ``r`` in patch sides.

    The grid is ``linspace(0, 1, side)`` on both axes and ``r`` the distance
    from ``(0.5, 0.5)``.  Cached; read-only.

    Example:
    >>> e = envelope(3)
    >>> float(e[1, 1]), bool(np.isclose(e[0, 0], np.exp(-23 * 0.5)))
    (1.0, True)
    """
    d2 = (np.linspace(0.0, 1.0, side) - 0.5) ** 2
    result = np.exp(-ENVELOPE * np.add.outer(d2, d2))
    result.setflags(write=False)
    return result


@functools.lru_cache(maxsize=64)
def _patch_operator(cl: float) -> np.ndarray:
    """``B = M A``: a patch's GP factor followed by its upscaling."""
    side = int(PATCH_GRID * _upscale(cl))
    root = se_sqrt(PATCH_GRID, min(cl, PATCH_CL))
    operator = cubic_matrix(PATCH_GRID, side) @ root
    operator.setflags(write=False)
    return operator


@functools.lru_cache(maxsize=16)
def _large_operator(cl: float, size: int) -> np.ndarray:
    """``B = M A`` of a large length: the coarse GP factor, upscaled."""
    grid = max(4, -(-size // LARGE_UPSCALE))
    root = se_sqrt(grid, cl / LARGE_UPSCALE)
    operator = cubic_matrix(grid, size) @ root
    operator.setflags(write=False)
    return operator


def _sandwich(operator: np.ndarray, z: np.ndarray) -> np.ndarray:
    """``operator @ z[i] @ operator.T`` for each ``i``, as two large products."""
    k, g, _ = z.shape
    m = operator.shape[0]
    right = (z.reshape(k * g, g) @ operator.T).reshape(k, g, m)  # z_i B^T
    both = operator @ right.transpose(1, 0, 2).reshape(g, k * m)  # B z_i B^T
    return both.reshape(m, k, m).transpose(1, 0, 2)


def _normalised(image: np.ndarray) -> np.ndarray:
    image -= image.mean()
    image /= image.std()
    return image


def _canvas(size: int, side: int) -> np.ndarray:
    """Zeros over every pixel a patch of ``side`` can reach, in image tiles.

    A patch's corner lies in the image, so it reaches at most ``size + side
    - 1`` pixels along an axis; the canvas is whole tiles (see `_fold`).
    """
    tiles = -(-(size + side - 1) // size)
    return np.zeros((tiles * size, tiles * size))


def _add_patches(canvas: np.ndarray, patches: np.ndarray, corners: np.ndarray) -> None:
    """Adds ``patches[i]`` to ``canvas`` with its top-left pixel at ``corners[i]``."""
    side = patches.shape[1]
    for (row, col), patch in zip(corners, patches, strict=True):
        canvas[row : row + side, col : col + side] += patch


def _fold(canvas: np.ndarray, size: int) -> np.ndarray:
    """Sums the canvas's tiles onto one tile, the image.

    Pixel ``(r, c)`` of the canvas lands on ``(r mod size, c mod size)``,
    which wraps every patch on the torus.
    """
    tiles = canvas.shape[0] // size
    return canvas.reshape(tiles, size, tiles, size).sum(axis=(0, 2))


def _small_field(cl: float, size: int, rng: np.random.Generator) -> np.ndarray:
    side = int(PATCH_GRID * _upscale(cl))
    ratio = size / (PATCH_EFFECTIVE * _upscale(cl))
    count = max(1, int(PATCHES_PER_AREA * ratio * ratio))
    operator = _patch_operator(cl)
    window = envelope(side)
    corners = rng.integers(0, size, size=(count, 2))
    # Patches are added unwrapped to a canvas of whole tiles of the image,
    # which is then folded onto one tile: the same sums as wrapping each
    # patch, for one slice addition per patch.
    canvas = _canvas(size, side)
    for start in range(0, count, _CHUNK):
        stop = min(start + _CHUNK, count)
        z = rng.standard_normal((stop - start, PATCH_GRID, PATCH_GRID))
        patches = _sandwich(operator, z)
        patches *= window
        _add_patches(canvas, patches, corners[start:stop])
    return _normalised(_fold(canvas, size))


def _large_field(cl: float, size: int, rng: np.random.Generator) -> np.ndarray:
    operator = _large_operator(cl, size)
    grid = operator.shape[1]
    z = rng.standard_normal((grid, grid))
    return _normalised(operator @ z @ operator.T)


def _field(cl: float, size: int, rng: np.random.Generator) -> np.ndarray:
    if cl < SMALL_LIMIT:
        return _small_field(cl, size, rng)
    return _large_field(cl, size, rng)


def field(cl: float, size: int, rng: np.random.Generator) -> np.ndarray:
    """One base field of the authors' construction, mean 0, std 1.

    Patches (``cl < SMALL_LIMIT``) or an upscaled coarse GP (``cl >=
    SMALL_LIMIT``), as described in the module docstring.

    Args:
      cl: correlation length in pixels, ``MIN_CL`` to ``MAX_CL_FRACTION *
        size``.
      size: image side in pixels, 2 to ``MAX_SIZE``.
      rng: the random stream (patch corners first, then the normals).

    Returns:
      A ``(size, size)`` float64 array.

    Raises:
      TypeError, ValueError: a bad ``cl``, ``size`` or ``rng``.

    Example:
    >>> f = field(9.5, 64, np.random.default_rng(0))
    >>> f.shape, round(float(f.mean()), 12) + 0.0, round(float(f.std()), 12)
    ((64, 64), 0.0, 1.0)
    """
    size = generator._check_size(size)
    cl = generator._check_cl(cl, size)
    _check_rng(rng)
    return _field(cl, size, rng)


def _check_rng(rng: object) -> None:
    if not isinstance(rng, np.random.Generator):
        raise generator._type_error("rng", "expected a numpy.random.Generator", rng)


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
      size: image side in pixels.
      rng: the random stream.

    Returns:
      A ``(size, size)`` float32 array.

    Raises:
      TypeError, ValueError: as :func:`tfds_gp.generator.sample`.
    """
    cls, powers, size = generator._check_sample_args(cls, powers, size)
    lengths = [generator._check_cl(cl, size) for cl in cls]
    _check_rng(rng)
    total = np.zeros((size, size))
    for cl, power in zip(lengths, powers, strict=True):
        total += power * _field(cl, size, rng)
    return total.astype(np.float32)
