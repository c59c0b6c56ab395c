"""The stationary construction (``construction='stationary'``), NumPy only.

A *field* of correlation length ``cl`` (pixels) is a zero-mean Gaussian
random field on the ``size x size`` torus with squared-exponential
covariance ``k(d) = exp(-d^2 / (2 cl^2))``, wrapped periodically, then
normalised per field to empirical mean 0 and standard deviation 1; a
*sample* is ``sum_s powers[s] * field(cls[s])``.  The recipe, classes and
splits that use it are :mod:`tfds_gp.generator`'s.

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

Arguments are checked by :mod:`tfds_gp.checks` (a wrong type raises
TypeError and a wrong value ValueError, each naming the argument) before
anything of image size is allocated.  The FFTs are float64 and a sample is
rounded to float32, so arrays are bit-identical for a given NumPy build.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
import scipy.fft

from tfds_gp.checks import check_cl, check_rng, check_sample_args, check_size

__all__ = ["TRUNCATION", "field", "sample", "spectrum_1d"]

# Number of aliases p on each side in the Poisson sum.  For cl >= MIN_CL the
# first omitted term is below exp(-2 pi^2 0.25 7.5^2) ~ 1e-120.
_N_ALIASES = 8

#: Frequencies whose amplitude ``sqrt(lam1[k])`` is below this fraction of
#: the largest are not drawn (see ``_cutoff``). Their share of a field's
#: standard deviation is below ``size * TRUNCATION`` (at most 4.4e-16 at
#: the largest size, 8192), float64's own round-off: the field is the one
#: of the untruncated spectrum to that precision.
TRUNCATION = 2.0**-64


def spectrum_1d(cl: float, size: int) -> np.ndarray:
    """Eigenvalues of the 1-D wrapped squared-exponential covariance.

    Returns ``lam`` with ``lam[k] = sum_x C1(x) exp(-2 pi i k x / size)``,
    where ``C1(x) = sum_m exp(-(x + m*size)^2 / (2 cl^2))``, in ``numpy.fft``
    frequency order.  Exact by Poisson summation (see the module docstring).
    """
    size = check_size(size)
    cl = check_cl(cl, size)
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
    size = check_size(size)
    cl = check_cl(cl, size)
    check_rng(rng)
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
    cls, powers, size = check_sample_args(cls, powers, size)
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
