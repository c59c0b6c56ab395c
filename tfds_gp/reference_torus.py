"""A torus-wrapped patch construction (``construction='reference_torus'``).

**Not the authors' construction**: that is :mod:`tfds_gp.reference`.  This
is the project's first, rounder reading of the authors' recipe (dataset
version 2.0.0's ``reference``), kept under its own name because it is cheap
(it shares the exact samplers of :mod:`tfds_gp.reference`), works at any
image size from 2 to ``MAX_SIZE`` (the authors' construction only at
multiples of 512), and reproduces the arrays of results computed with
version 2.0.0's ``reference`` (``--construction reference_torus``).

It differs from the authors' construction in four ways:

* the patch kernel has length 8 grid points on the 50 x 50 grid (the
  authors': 7.84; ``min(cl, 8)`` for ``cl < 8``), and the patch grid and
  kernel do not scale with the image size;
* the patch count is ``int(6 (size / (30 u))^2)`` with ``u = max(cl / 8, 1)``
  and no truncation of ``30 u``: 4957 for 9.5 and 4473 for 10 at 1024 px
  (the authors': 5135 and 4595);
* corners are uniform over the whole image and every patch is wrapped on
  the torus (a patch crossing an edge continues on the opposite side), so
  the field has period ``size`` and no copied edge band;
* a large length (``cl >= 50``) is a GP on a ``ceil(size / 8)`` grid of
  length ``cl / 8`` grid points (the authors': ``cl / 8 * 127 / 128`` on
  128 points), upscaled to ``size`` by the same corner-aligned cubic spline.

Patch side ``int(50 u)``, envelope ``exp(-23 r^2)``, cubic upscaling, the
per-field normalisation and the weighted sum are as in the authors'
construction.  Random stream: the corners first, then the normals.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from tfds_gp import reference
from tfds_gp.checks import (
    MAX_SIZE,
    check_cl,
    check_rng,
    check_sample_args,
    check_size,
    value_error,
)

__all__ = [
    "PATCH_CL",
    "PATCH_EFFECTIVE",
    "PATCH_GRID",
    "SMALL_LIMIT",
    "field",
    "large_grid",
    "patch_count",
    "patch_side",
    "sample",
]

#: Lengths (pixels) below this are made of patches, at every image size.
SMALL_LIMIT = 50.0
#: Side of a patch's GP grid, in grid points.
PATCH_GRID = 50
#: Correlation length of a patch's GP, in grid points (lengths below it
#: are drawn at their own length and not upscaled).
PATCH_CL = 8.0
#: Grid points of a patch that survive the envelope (50 - 2 * 50 / 5).
PATCH_EFFECTIVE = 30

# Patches drawn and upscaled per batch (memory: 512 x 50 x 62 x 8 B ~ 13 MB).
_CHUNK = 512


def _upscale(cl: float) -> float:
    return max(cl / PATCH_CL, 1.0)


def _check_small(cl: object, size: object) -> tuple[float, int]:
    size = check_size(size)
    cl = check_cl(cl, size)
    if cl >= SMALL_LIMIT:
        raise value_error(
            "cl",
            f"expected a length below {SMALL_LIMIT:g} pixels (made of patches; "
            "longer lengths are one upscaled coarse GP)",
            cl,
        )
    return cl, size


def patch_side(cl: float) -> int:
    """Side in pixels of an upscaled patch: ``int(50 * max(cl / 8, 1))``.

    Example:
    >>> patch_side(9.5), patch_side(10), patch_side(4)
    (59, 62, 50)
    """
    cl, _ = _check_small(cl, MAX_SIZE)
    return int(PATCH_GRID * _upscale(cl))


def patch_count(cl: float, size: int) -> int:
    """Number of patches, ``int(6 (size / (30 u))^2)``, at least one.

    Example:
    >>> patch_count(9.5, 1024), patch_count(10, 1024)
    (4957, 4473)
    """
    cl, size = _check_small(cl, size)
    ratio = size / (PATCH_EFFECTIVE * _upscale(cl))
    return max(1, int(reference.PATCHES_PER_AREA * ratio * ratio))


def large_grid(size: int) -> int:
    """Side of the coarse grid of a large length: ``ceil(size / 8)``, >= 4.

    Example:
    >>> large_grid(1024), large_grid(1000), large_grid(20)
    (128, 125, 4)
    """
    size = check_size(size)
    return max(4, -(-size // reference.LARGE_UPSCALE))


@functools.lru_cache(maxsize=64)
def _patch_operator(cl: float) -> np.ndarray:
    """``B = M A``: a patch's GP factor followed by its upscaling."""
    side = int(PATCH_GRID * _upscale(cl))
    root = reference.se_sqrt(PATCH_GRID, min(cl, PATCH_CL))
    operator = reference.cubic_matrix(PATCH_GRID, side) @ root
    operator.setflags(write=False)
    return operator


@functools.lru_cache(maxsize=16)
def _large_operator(cl: float, size: int) -> np.ndarray:
    grid = max(4, -(-size // reference.LARGE_UPSCALE))
    root = reference.se_sqrt(grid, cl / reference.LARGE_UPSCALE)
    operator = reference.cubic_matrix(grid, size) @ root
    operator.setflags(write=False)
    return operator


def _sandwich(operator: np.ndarray, z: np.ndarray) -> np.ndarray:
    """``operator @ z[i] @ operator.T`` for each ``i``, as two large products.

    Kept as in version 2.0.0 (the summation order decides the last bits),
    so the arrays are bit for bit those of that version's ``reference``.
    """
    k, g, _ = z.shape
    m = operator.shape[0]
    right = (z.reshape(k * g, g) @ operator.T).reshape(k, g, m)  # z_i B^T
    both = operator @ right.transpose(1, 0, 2).reshape(g, k * m)  # B z_i B^T
    return both.reshape(m, k, m).transpose(1, 0, 2)


def _canvas(size: int, side: int) -> np.ndarray:
    """Zeros over every pixel a patch of ``side`` can reach, in image tiles.

    A patch's corner lies in the image, so it reaches at most ``size + side
    - 1`` pixels along an axis; the canvas is whole tiles (see `_fold`).
    """
    tiles = -(-(size + side - 1) // size)
    return np.zeros((tiles * size, tiles * size))


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
    count = max(1, int(reference.PATCHES_PER_AREA * ratio * ratio))
    operator = _patch_operator(cl)
    window = reference.envelope(side)
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
        reference.add_patches(canvas, patches, corners[start:stop])
    return reference.normalised(_fold(canvas, size))


def _large_field(cl: float, size: int, rng: np.random.Generator) -> np.ndarray:
    operator = _large_operator(cl, size)
    grid = operator.shape[1]
    z = rng.standard_normal((grid, grid))
    return reference.normalised(operator @ z @ operator.T)


def _field(cl: float, size: int, rng: np.random.Generator) -> np.ndarray:
    if cl < SMALL_LIMIT:
        return _small_field(cl, size, rng)
    return _large_field(cl, size, rng)


def field(cl: float, size: int, rng: np.random.Generator) -> np.ndarray:
    """One base field of the torus-wrapped construction, mean 0, std 1.

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
    """One texture of the torus-wrapped construction, ``sum_s powers[s] field_s``.

    Args:
      cls: one correlation length (pixels) per scale.
      powers: one weight per scale, each in ``[MIN_POWER, MAX_POWER]``.
      size: image side in pixels, 2 to ``MAX_SIZE``.
      rng: the random stream.

    Returns:
      A ``(size, size)`` float32 array.

    Raises:
      TypeError, ValueError: as :func:`tfds_gp.stationary.sample`.
    """
    cls, powers, size = check_sample_args(cls, powers, size)
    lengths = [check_cl(cl, size) for cl in cls]
    check_rng(rng)
    total = np.zeros((size, size))
    for cl, power in zip(lengths, powers, strict=True):
        total += power * _field(cl, size, rng)
    return total.astype(np.float32)
