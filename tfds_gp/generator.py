"""The dataset's recipe: classes, splits and examples, with NumPy only.

This module needs nothing but NumPy and SciPy; it does not import
TensorFlow or TFDS, so it can generate the dataset's arrays in any process
(tests, benchmarks, a worker of a distributed build).

The recipe (design page, section 4):

* a *sample* of a class is ``sum_s powers[s] * field(cl_s)`` where the class
  picks one ``cl_s`` per scale, and the fields are made by the recipe's
  construction, looked up in :data:`SAMPLERS`: ``'stationary'``
  (:mod:`tfds_gp.stationary`, exact FFT synthesis of the stated covariance
  on the torus), ``'reference'`` (:mod:`tfds_gp.reference`, the authors'
  construction) or ``'reference_torus'`` (:mod:`tfds_gp.reference_torus`);
* classes are the cross product of the per-scale choices, the first scale's
  choice varying fastest; a class is named by joining its lengths with '-'
  (``'9.5-80'``).

Layers: :mod:`tfds_gp.checks` (argument checks, errors) below the three
constructions, which sit side by side; this module above them; the records,
the Beam helpers and the TFDS builder above this.  The stationary
construction's :func:`field`, :func:`sample` and :func:`spectrum_1d`, and
the limits of :mod:`tfds_gp.checks`, are re-exported here.


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
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from tfds_gp import reference, reference_torus, stationary
from tfds_gp.checks import (
    MAX_CL_FRACTION,
    MAX_POWER,
    MAX_SCALES,
    MAX_SIZE,
    MIN_CL,
    MIN_POWER,
    as_sequence,
    check_cl,
    check_int,
    check_name,
    check_powers,
    check_size,
    is_bool,
    show,
    type_error,
    value_error,
)
from tfds_gp.stationary import TRUNCATION, field, sample, spectrum_1d

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
    "PAPER_POWERS",
    "PAPER_SCALES",
    "PAPER_SIZE",
    "SAMPLERS",
    "SPLIT_IDS",
    "CONSTRUCTIONS",
    "TRUNCATION",
    "GpClass",
    "GpRecipe",
    "PRESETS",
    "check_construction",
    "check_recipe",
    "check_split",
    "format_length",
    "paper_scales",
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

# Stream identifiers of the splits; part of every example's seed sequence.
SPLIT_IDS = {"train": 0, "test": 1}

#: The sampler of each construction: ``sampler(cls, powers, size, rng)``
#: returns one ``(size, size)`` float32 image.  ``'stationary'``
#: (:func:`tfds_gp.stationary.sample`), ``'reference'`` (the authors'
#: construction, :func:`tfds_gp.reference.sample`: enveloped GP patches for
#: lengths below 50 pixels, an upscaled coarse GP above; sizes that are
#: multiples of 512 only) and ``'reference_torus'`` (an earlier,
#: torus-wrapped reading of it, not the authors',
#: :func:`tfds_gp.reference_torus.sample`; any size).
SAMPLERS: dict[str, Callable[..., np.ndarray]] = {
    "stationary": stationary.sample,
    "reference": reference.sample,
    "reference_torus": reference_torus.sample,
}

#: The construction names, in the order the documentation lists them.
CONSTRUCTIONS = tuple(SAMPLERS)

# A construction that defines only some image sizes refuses the others when
# a recipe is made, before any example is asked for.
_SIZE_CHECKS: dict[str, Callable[[object], int]] = {
    "reference": reference.check_size,
}

# --- limits -------------------------------------------------------------------
#
# Every limit is checked when a recipe (or a TFDS config) is constructed,
# before anything of image size is allocated, so an absurd request fails at
# once with a message instead of after minutes of swapping.  The values are
# documented in tfds_gp/gp_textures/README.md.


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


# Largest seed: an unsigned 64-bit integer, so the seed is a fixed-width
# value (stored in JSON and descriptions) and SeedSequence hashes it at once.
MAX_SEED = 2**64 - 1

# Largest in-memory array split_arrays (and load_numpy) will allocate: 16 GiB.
# Bigger splits are read through TFDS or generated in ranges (start, stop).
MAX_ARRAY_BYTES = 2**34


def class_name(cls: Sequence[float]) -> str:
    """The class name: the chosen lengths joined by '-', e.g. ``'9.5-80'``."""
    return "-".join(format_length(c) for c in cls)


def format_length(cl: float) -> str:
    """A length as class names write it: ``9.5`` -> ``'9.5'``, ``80.0`` -> ``'80'``."""
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
    seq = as_sequence(scales, "scales", "scales", expected, scales)
    if not 1 <= len(seq) <= MAX_SCALES:
        raise value_error(
            "scales",
            f"expected 1 to {MAX_SCALES} scales; scales has {len(seq)}",
            scales,
        )
    rows = []
    num_classes = 1
    for s, choices in enumerate(seq):
        row = as_sequence(
            choices,
            "scales",
            f"scales[{s}]",
            f"expected scales[{s}] to be a sequence of correlation lengths",
            scales,
        )
        if len(row) == 0:
            raise value_error(
                "scales",
                f"expected at least one length per scale; scales[{s}] is empty",
                scales,
            )
        num_classes *= len(row)
        if num_classes > MAX_CLASSES:
            raise value_error(
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
            check_cl(c, None, f"scales[{s}] length", argument="scales", received=scales)
            for c in row
        )
        if len(set(values)) != len(values):
            raise value_error(
                "scales",
                f"expected distinct lengths within a scale; scales[{s}] has "
                f"repeated lengths: {show(row)}",
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
        size = check_size(self.size)
        scales = _normalize_scales(self.scales)
        for s, choices in enumerate(scales):
            for cl in choices:
                check_cl(
                    cl,
                    size,
                    name=f"scales[{s}] length",
                    argument="scales",
                    received=self.scales,
                )
        powers = check_powers(self.powers, len(scales))
        per_class = {
            name: check_int(
                getattr(self, name),
                name,
                0,
                MAX_PER_CLASS,
                "a number of examples per class",
            )
            for name in ("train_per_class", "test_per_class")
        }
        seed = check_int(self.seed, "seed", 0, MAX_SEED, "an unsigned 64-bit integer")
        construction = check_construction(self.construction)
        if construction in _SIZE_CHECKS:
            # E.g. the authors' construction is defined at multiples of
            # 512 px only; refused here, before any example is asked for.
            _SIZE_CHECKS[construction](size)
        if per_class["train_per_class"] + per_class["test_per_class"] == 0:
            raise value_error(
                "train_per_class",
                "expected train_per_class and test_per_class not both 0 (the "
                "dataset would have no split)",
                self.train_per_class,
            )
        num_classes = math.prod(len(s) for s in scales)
        for name, count in per_class.items():
            n = count * num_classes
            if n > MAX_EXAMPLES_PER_SPLIT:
                raise value_error(
                    name,
                    f"expected at most {MAX_EXAMPLES_PER_SPLIT} examples per split; "
                    f"{name} * number of classes = {count} * {num_classes} = {n}",
                    getattr(self, name),
                )
            if n * size * size > MAX_PIXELS_PER_SPLIT:
                raise value_error(
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
        check_split(split)
        per_class = self.train_per_class if split == "train" else self.test_per_class
        return per_class * self.num_classes


def check_construction(construction: object) -> str:
    """``construction`` if it names one of :data:`CONSTRUCTIONS`."""
    expected = f"expected one of {list(CONSTRUCTIONS)} (how the fields are made)"
    return check_name(construction, "construction", CONSTRUCTIONS, expected)


def check_split(split: object) -> int:
    """The stream identifier of ``split`` (``'train'`` or ``'test'``)."""
    expected = f"expected one of {sorted(SPLIT_IDS)}"
    return SPLIT_IDS[check_name(split, "split", SPLIT_IDS, expected)]


def check_recipe(recipe: object) -> GpRecipe:
    """``recipe`` if it is a :class:`GpRecipe`, else a TypeError naming it."""
    if not isinstance(recipe, GpRecipe):
        raise type_error("recipe", "expected a GpRecipe", recipe)
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
    seed = check_int(seed, "seed", 0, MAX_SEED, "an unsigned 64-bit integer")
    split_id = check_split(split)
    expected = "expected a non-negative integer (an example index)"
    if is_bool(index) or not isinstance(index, numbers.Integral):
        raise type_error("index", expected, index)
    if index < 0:
        raise value_error("index", expected, index)
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
    n = check_recipe(recipe).num_examples(split)
    if is_bool(index) or not isinstance(index, numbers.Integral):
        raise type_error(
            "index", f"expected an integer in [0, {n}) (split {split!r})", index
        )
    if not 0 <= index < n:
        raise value_error(
            "index", f"expected an integer in [0, {n}) (split {split!r})", index
        )
    index = int(index)
    gp_class = recipe.classes[index % recipe.num_classes]
    rng = example_rng(recipe.seed, split, index)
    sampler = SAMPLERS[recipe.construction]
    return sampler(gp_class.cls, recipe.powers, recipe.size, rng), gp_class


def _check_range(
    recipe: GpRecipe, split: str, start: object, stop: object
) -> tuple[int, int]:
    """``(start, stop)`` as ints with ``0 <= start <= stop <= num_examples``."""
    n = check_recipe(recipe).num_examples(split)
    start = check_int(start, "start", 0, n, f"an example index of split {split!r}")
    if stop is None:
        return start, n
    stop = check_int(
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
        raise value_error(
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


#: The paper's lengths (pixels at its image side, 1024) and weights.
PAPER_SCALES = ((9.5, 10.0), (80.0, 140.0))
PAPER_POWERS = (0.75, 1.25)
#: The image side the paper's lengths are given for.
PAPER_SIZE = 1024
THREE_SCALE_SCALES = ((9.5, 10.0), (60.0, 80.0), (140.0, 200.0))
THREE_SCALE_POWERS = (0.5, 1.0, 2.0)


def _scaled(scales: tuple[tuple[float, ...], ...], factor: float):
    return tuple(tuple(c * factor for c in s) for s in scales)


def paper_scales(size: int) -> tuple[tuple[float, ...], ...]:
    """The paper's lengths scaled to ``size``: ``PAPER_SCALES * size / 1024``.

    The default scales of a ``GpTexturesConfig`` given only a size: the
    textures then look alike at every size, as the ``small`` (256 px) and
    ``medium`` (512 px) presets do.  At sizes below 54 px the smallest
    length, ``9.5 * size / 1024``, falls under ``MIN_CL`` and a recipe of
    these scales is refused.

    Args:
      size: the image side in pixels, 2 to ``MAX_SIZE``.

    Returns:
      The scaled lengths, one tuple per scale.

    Raises:
      TypeError, ValueError: a bad ``size`` (named).

    Example:
    >>> paper_scales(256)
    ((2.375, 2.5), (20.0, 35.0))
    """
    return _scaled(PAPER_SCALES, check_size(size) / PAPER_SIZE)


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
