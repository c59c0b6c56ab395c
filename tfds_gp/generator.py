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
round-off, no negative eigenvalue to clip).  A field is then
``irfft2(sqrt(lam) * rfft2(w))`` with ``w`` real white noise: the operator
applied to ``w`` is the symmetric square root of the covariance matrix, so
the field has exactly the wrapped covariance (up to float64 round-off).

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
import math
import numbers
from typing import Iterator, Sequence

import numpy as np

__all__ = [
    "MIN_CL",
    "MAX_CL_FRACTION",
    "SPLIT_IDS",
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

# Number of aliases p on each side in the Poisson sum.  For cl >= MIN_CL the
# first omitted term is below exp(-2 pi^2 0.25 7.5^2) ~ 1e-120.
_N_ALIASES = 8


def _check_size(size: object) -> int:
    if isinstance(size, bool) or not isinstance(size, numbers.Integral):
        raise TypeError(
            f"size must be an integer number of pixels, got {size!r} "
            f"of type {type(size).__name__}"
        )
    size = int(size)
    if size < 2:
        raise ValueError(f"size must be at least 2 pixels, got {size}")
    return size


def _check_cl(cl: object, size: int, name: str = "cl") -> float:
    if isinstance(cl, bool) or not isinstance(cl, numbers.Real):
        raise TypeError(
            f"{name} must be a real number of pixels, got {cl!r} "
            f"of type {type(cl).__name__}"
        )
    value = float(cl)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if value < MIN_CL:
        raise ValueError(
            f"{name}={value!r} is below the grid resolution: the correlation "
            f"length must be at least {MIN_CL} pixel (a shorter length gives "
            f"white noise on the pixel grid)"
        )
    limit = MAX_CL_FRACTION * size
    if value > limit:
        raise ValueError(
            f"{name}={value!r} is too large for size={size}: the correlation "
            f"length must be at most {MAX_CL_FRACTION} * size = {limit!r} "
            f"pixels (a longer length gives a nearly constant field on the "
            f"torus)"
        )
    return value


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
      size: side of the square grid in pixels (any integer >= 2; sizes with
        small prime factors are fastest).
      rng: the NumPy ``Generator`` to draw the white noise from; exactly
        ``size * size`` standard normals are drawn.
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
        raise TypeError(
            "rng must be a numpy.random.Generator (e.g. "
            f"numpy.random.default_rng(seed)), got {type(rng).__name__}"
        )
    amp = np.sqrt(spectrum_1d(cl, size))
    noise = rng.standard_normal((size, size))
    spec = np.fft.rfft2(noise)
    # rfft2 keeps the non-negative frequencies of the last axis only; amp is
    # even in k, so its first size//2 + 1 entries are the right factors.
    spec *= np.multiply.outer(amp, amp[: size // 2 + 1])
    if normalize:
        # The field's empirical mean is spec[0, 0] / size^2: zeroing the
        # constant mode subtracts it exactly, without another pass.
        spec[0, 0] = 0.0
    out = np.fft.irfft2(spec, s=(size, size))
    if normalize:
        flat = out.reshape(-1)
        out /= math.sqrt(float(flat @ flat) / flat.size)  # std, mean being 0
    return out


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
    if isinstance(scales, (str, bytes)) or not isinstance(scales, Sequence):
        raise TypeError(
            "scales must be a sequence of sequences of correlation lengths, "
            f"e.g. [[9.5, 10], [80, 140]], got {scales!r}"
        )
    if len(scales) == 0:
        raise ValueError("scales must contain at least one scale, got []")
    out = []
    for s, choices in enumerate(scales):
        if isinstance(choices, (str, bytes)) or not isinstance(choices, Sequence):
            raise TypeError(
                f"scales[{s}] must be a sequence of correlation lengths, "
                f"got {choices!r}"
            )
        if len(choices) == 0:
            raise ValueError(f"scales[{s}] must not be empty")
        values = []
        for c in choices:
            if isinstance(c, bool) or not isinstance(c, numbers.Real):
                raise TypeError(
                    f"scales[{s}] must contain real numbers, got {c!r}"
                )
            values.append(float(c))
        if len(set(values)) != len(values):
            raise ValueError(f"scales[{s}] has repeated lengths: {choices!r}")
        out.append(tuple(values))
    return tuple(out)


def class_table(scales: Sequence[Sequence[float]]) -> tuple[GpClass, ...]:
    """All classes for the given scales, in label order.

    Classes are the cross product of the per-scale choices with the first
    scale's choice varying fastest: for ``[[9.5, 10], [80, 140]]`` the table is
    ``0 '9.5-80', 1 '10-80', 2 '9.5-140', 3 '10-140'``.
    """
    scales = _normalize_scales(scales)
    counts = [len(s) for s in scales]
    table = []
    for label in range(math.prod(counts)):
        rest, cls = label, []
        for choices in scales:
            rest, digit = divmod(rest, len(choices))
            cls.append(choices[digit])
        table.append(GpClass(label, class_name(cls), tuple(cls)))
    return tuple(table)


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
    """
    if len(cls) != len(powers):
        raise ValueError(
            f"cls and powers must have the same length (one per scale), got "
            f"{len(cls)} lengths {list(cls)!r} and {len(powers)} powers "
            f"{list(powers)!r}"
        )
    total = None
    for cl, power in zip(cls, powers):
        part = field(cl, size, rng)
        part *= float(power)  # in place: no temporaries of image size
        if total is None:
            total = part
        else:
            total += part
    if total is None:
        raise ValueError("cls must name at least one scale, got []")
    return total.astype(np.float32)


@dataclasses.dataclass(frozen=True)
class GpRecipe:
    """Everything that determines a generated dataset.

    Attributes:
      size: image side in pixels.
      scales: per scale, the correlation lengths (pixels) a class can pick.
      powers: per scale, the weight of that scale's field in the sum.
      train_per_class: number of training examples of each class.
      test_per_class: number of test examples of each class.
      seed: root of every example's random stream (non-negative integer).
    """

    size: int
    scales: tuple[tuple[float, ...], ...]
    powers: tuple[float, ...]
    train_per_class: int
    test_per_class: int
    seed: int = 0

    def __post_init__(self) -> None:
        size = _check_size(self.size)
        scales = _normalize_scales(self.scales)
        for s, choices in enumerate(scales):
            for cl in choices:
                _check_cl(cl, size, name=f"scales[{s}] length")
        powers = tuple(float(p) for p in self.powers)
        if len(powers) != len(scales):
            raise ValueError(
                f"powers must have one entry per scale ({len(scales)}), got "
                f"{list(self.powers)!r}"
            )
        if not all(math.isfinite(p) for p in powers):
            raise ValueError(f"powers must be finite, got {list(powers)!r}")
        for name in ("train_per_class", "test_per_class", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise TypeError(f"{name} must be an integer, got {value!r}")
            if value < 0:
                raise ValueError(f"{name} must be >= 0, got {value!r}")
        object.__setattr__(self, "size", size)
        object.__setattr__(self, "scales", scales)
        object.__setattr__(self, "powers", powers)
        for name in ("train_per_class", "test_per_class", "seed"):
            object.__setattr__(self, name, int(getattr(self, name)))

    @property
    def classes(self) -> tuple[GpClass, ...]:
        return class_table(self.scales)

    @property
    def num_classes(self) -> int:
        return math.prod(len(s) for s in self.scales)

    def num_examples(self, split: str) -> int:
        """Number of examples in ``split`` ('train' or 'test')."""
        _check_split(split)
        per_class = self.train_per_class if split == "train" else self.test_per_class
        return per_class * self.num_classes


def _check_split(split: str) -> int:
    if split not in SPLIT_IDS:
        raise ValueError(f"split must be one of {sorted(SPLIT_IDS)}, got {split!r}")
    return SPLIT_IDS[split]


def example_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The independent random stream of example ``index`` of ``split``."""
    return np.random.default_rng(
        np.random.SeedSequence([int(seed), _check_split(split), int(index)])
    )


def example(recipe: GpRecipe, split: str, index: int) -> tuple[np.ndarray, GpClass]:
    """Example ``index`` of ``split``: a ``(size, size)`` float32 image, its class.

    Labels cycle through the classes (``label = index % num_classes``), one
    example of each class in turn as in the reference files, so any prefix of
    a split is (nearly) balanced.
    """
    n = recipe.num_examples(split)
    if not 0 <= index < n:
        raise IndexError(f"index must be in [0, {n}) for split {split!r}, got {index}")
    gp_class = recipe.classes[index % recipe.num_classes]
    rng = example_rng(recipe.seed, split, index)
    return sample(gp_class.cls, recipe.powers, recipe.size, rng), gp_class


def iter_split(
    recipe: GpRecipe, split: str, start: int = 0, stop: int | None = None
) -> Iterator[tuple[int, np.ndarray, GpClass]]:
    """Yields ``(index, image, class)`` for examples ``start..stop-1``."""
    stop = recipe.num_examples(split) if stop is None else stop
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
    """
    stop = recipe.num_examples(split) if stop is None else stop
    n = max(stop - start, 0)
    images = np.empty((n, recipe.size, recipe.size, 1), np.float32)
    labels = np.empty((n,), np.int64)
    for i, (_, image, gp_class) in enumerate(iter_split(recipe, split, start, stop)):
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
    # Default: a quarter of the paper's size and lengths.  Storing an example
    # (lossless PNG of the float32 bits) costs about twice generating it, so
    # 50 + 50 per class keeps the build near half a minute on two busy cores.
    "small": GpRecipe(
        size=256,
        scales=_scaled(PAPER_SCALES, 0.25),
        powers=PAPER_POWERS,
        train_per_class=50,
        test_per_class=50,
        seed=1,
    ),
    # Half the paper's size and lengths.
    "medium": GpRecipe(
        size=512,
        scales=_scaled(PAPER_SCALES, 0.5),
        powers=PAPER_POWERS,
        train_per_class=100,
        test_per_class=100,
        seed=2,
    ),
    # The paper's dataset: 25 training samples per class, plus a test split.
    "paper": GpRecipe(
        size=1024,
        scales=PAPER_SCALES,
        powers=PAPER_POWERS,
        train_per_class=25,
        test_per_class=25,
        seed=3,
    ),
    # The reference's three-scale demonstration, 8 classes.
    "three_scale": GpRecipe(
        size=1024,
        scales=THREE_SCALE_SCALES,
        powers=THREE_SCALE_POWERS,
        train_per_class=25,
        test_per_class=25,
        seed=4,
    ),
    # The paper's recipe with a hundred times its training samples: 12000
    # examples, about 41 GB.  Meant for a Beam build (many workers).
    "paper_large": GpRecipe(
        size=1024,
        scales=PAPER_SCALES,
        powers=PAPER_POWERS,
        train_per_class=2500,
        test_per_class=500,
        seed=5,
    ),
    # The paper's lengths on 2048x2048 images: four times the area, so four
    # times the small-scale realisations per image.  1200 examples, about
    # 17 GB.  Meant for a Beam build.
    "paper_2048": GpRecipe(
        size=2048,
        scales=PAPER_SCALES,
        powers=PAPER_POWERS,
        train_per_class=250,
        test_per_class=50,
        seed=6,
    ),
}
