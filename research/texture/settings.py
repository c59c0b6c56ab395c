"""The settings of a texture study: what a run depends on, and its key.

A *study* fixes the data recipe, the network and the training budget; a
*run* is one variant trained with one seed under a study. Every field that
changes a result is part of the run's key, so a work directory or a result
file is never reused under other settings.
"""

from __future__ import annotations

import dataclasses

from research.runs import (
    KeyedRun,
    Settings,
    at_most,
    int_at_least,
    ints_at_least,
    one_of,
)

#: Bumped whenever the harness changes what a run computes, so that results
#: of an older harness are never mistaken for this one's. 2: the epoch is
#: selected on validation accuracy (loss on ties), from `select_from_step`.
HARNESS_VERSION = 2

#: The variants, in report order. `no_mask` is the baseline of every
#: paired difference.
VARIANTS = ("no_mask", "backdrop", "backdrop_per_sample", "random_crops")
PRECISIONS = ("float32", "mixed_bfloat16")
#: The study's counts, each at least 1.
_COUNTS = (
    "size",
    "train_per_class",
    "val_per_class",
    "test_per_class",
    "filters",
    "batch_size",
    "max_steps",
    "patience",
)


@dataclasses.dataclass(frozen=True)
class Study(Settings):
    """Everything that determines the runs of one study.

    Attributes:
        name: The study's name (its results folder).
        size: Image side in pixels.
        scales: Per scale, the correlation lengths a class can pick.
        powers: Per scale, the weight of its field.
        construction: A `tfds_gp` construction name.
        train_per_class: Training images per class (fresh for every seed).
        val_per_class: Validation images per class (fresh for every seed,
            generated apart from the training images).
        test_per_class: Test images per class (one set shared by every run).
        data_seed: Root of every image's random stream.
        filters: Filters per convolution.
        batch_size: Training batch size.
        lr: Adam learning rate.
        fine_prob: Mask probability after the fine-cell convolution.
        coarse_prob: Mask probability on the 4x4 coarse map.
        warmup_steps: Steps over which the masks' probabilities ramp up
            linearly from 0 (0: no warm-up).
        select_from_step: Epochs that end before this step are not selected
            (for every arm; the warm-up's end, so that a masked arm is
            judged with its masks at full strength).
        min_steps: No stop on validation before this many steps.
        max_steps: The cap: no run trains longer.
        patience: Epochs without a better validation score (accuracy, then
            loss) before stopping (after `min_steps`).
        crop_fraction: Side of a random crop, as a fraction of `size`.
        precision: A Keras dtype policy for the network, `"float32"` or
            `"mixed_bfloat16"` (about 2 times faster on CPUs with AMX-BF16:
            `benchmarks/texture_precision.py`); the logits are float32.
    """

    name: str
    size: int = 512
    scales: tuple[tuple[float, ...], ...] = ((4.75, 5.0), (40.0, 70.0))
    powers: tuple[float, ...] = (0.75, 1.25)
    construction: str = "reference"
    train_per_class: int = 25
    val_per_class: int = 25
    test_per_class: int = 250
    data_seed: int = 512
    filters: int = 32
    batch_size: int = 8
    lr: float = 1e-3
    fine_prob: float = 0.3
    coarse_prob: float = 0.95
    warmup_steps: int = 500
    select_from_step: int = 500
    min_steps: int = 1500
    max_steps: int = 4000
    patience: int = 25
    crop_fraction: float = 0.5
    precision: str = "float32"

    def __post_init__(self) -> None:
        ints_at_least(self, _COUNTS, 1)
        ints_at_least(self, ("warmup_steps", "select_from_step", "min_steps"), 0)
        one_of("precision", self.precision, PRECISIONS)
        at_most("select_from_step", self.select_from_step, "min_steps", self.min_steps)
        at_most("min_steps", self.min_steps, "max_steps", self.max_steps)
        if self.size & (self.size - 1) or self.size < 64:
            raise ValueError(
                "Invalid value for `size`: expected a power of two >= 64 (the "
                f"network halves it seven times). Received: size={self.size}"
            )
        self._tidy(
            scales=tuple(tuple(float(c) for c in s) for s in self.scales),
            powers=tuple(float(p) for p in self.powers),
        )

    @property
    def num_classes(self) -> int:
        """The number of classes (the product of the per-scale choices)."""
        count = 1
        for choices in self.scales:
            count *= len(choices)
        return count

    @property
    def steps_per_epoch(self) -> int:
        """Training steps in one pass over the training images."""
        n = self.train_per_class * self.num_classes
        return -(-n // self.batch_size)


@dataclasses.dataclass(frozen=True)
class Run(KeyedRun):
    """One variant trained with one seed under a study."""

    HARNESS_VERSION = HARNESS_VERSION

    study: Study
    variant: str
    seed: int

    def __post_init__(self) -> None:
        one_of("variant", self.variant, VARIANTS)
        int_at_least("seed", self.seed, 0)

    def _label(self) -> str:
        return f"{self.variant}-s{self.seed}"


_SMALL_ONLY = Study(
    "small_only_512",
    scales=((4.75, 5.0),),
    powers=(0.75,),
    data_seed=5121,
    precision="mixed_bfloat16",
)

#: The studies of the texture question (issue: settle the texture claim).
STUDIES: dict[str, Study] = {
    # The deciding comparison: the half-size replica of the authors' data,
    # 25 training images per class.
    # bfloat16 (the harness's `precision`): about 1.7 times faster here,
    # with the same curves and test figures within 0.025 on a 2-seed check
    # (docs/results/texture/precision_check.json).
    "deciding_512": Study("deciding_512", precision="mixed_bfloat16"),
    # The paper's size on the authors' exact data: a pilot.
    "pilot_1024": Study(
        "pilot_1024",
        size=1024,
        scales=((9.5, 10.0), (80.0, 140.0)),
        data_seed=1024,
        test_per_class=100,
        precision="mixed_bfloat16",
    ),
    # A probe of why no arm learns the small scale: the deciding setting's
    # small-scale field alone (4.75 vs 5 px, two classes), without the
    # large scale that every arm learns.
    "small_only_512": _SMALL_ONLY,
    # The same with ten times the training images: is it their number?
    "small_only_512_n250": _SMALL_ONLY.replace(
        name="small_only_512_n250", train_per_class=250, data_seed=5122
    ),
    # A toy for tests and for a first look: stationary fields at 64 px.
    "fast": Study(
        "fast",
        size=64,
        scales=((1.5, 3.0), (6.0, 12.0)),
        construction="stationary",
        train_per_class=3,
        val_per_class=2,
        test_per_class=3,
        data_seed=64,
        filters=4,
        batch_size=4,
        warmup_steps=4,
        select_from_step=4,
        min_steps=6,
        max_steps=12,
        patience=2,
    ),
}


#: The paper's ratio of its two small lengths, 10 / 9.5.
PAPER_RATIO = 10.0 / 9.5
#: The map's axes: training images per class, and small-length ratios.
MAP_TRAIN_PER_CLASS = (10, 25, 100)
MAP_RATIOS = (PAPER_RATIO, 1.10, 1.25)
#: The map's cells, (training images per class, ratio), ratio by ratio.
MAP_CELLS = tuple((n, r) for r in MAP_RATIOS for n in MAP_TRAIN_PER_CLASS)


def map_cell(train_per_class: int, ratio: float) -> Study:
    """A cell of the 512 px map: training images per class x length ratio.

    The small scale's two lengths are 4.75 and `4.75 * ratio` pixels
    (`PAPER_RATIO`, 10 / 9.5, is the paper's).
    """
    return STUDIES["deciding_512"].replace(
        name=f"map_512_n{train_per_class}_r{ratio:.3g}",
        train_per_class=train_per_class,
        scales=((4.75, round(4.75 * ratio, 4)), (40.0, 70.0)),
    )


def parse_cell(images: str, ratio: str) -> tuple[int, float]:
    """The map cell that `--cell IMAGES RATIO` names: (images per class, ratio).

    Raises:
        ValueError: the images or the ratio are not the map's.
    """
    counts = {str(n): n for n in MAP_TRAIN_PER_CLASS}
    ratios = {f"{r:.3g}": r for r in MAP_RATIOS}
    if images not in counts or ratio not in ratios:
        raise ValueError(
            f"expected images in {sorted(counts, key=int)} and a ratio in "
            f"{list(ratios)}, got {images} {ratio}"
        )
    return counts[images], ratios[ratio]


def confirm_cell(train_per_class: int, ratio: float) -> Study:
    """A map cell under a name of its own, for its confirmation.

    Its runs (with seeds the map did not use) are reported apart from the
    map's, whose figures chose the cell.
    """
    return map_cell(train_per_class, ratio).replace(
        name=f"confirm_512_n{train_per_class}_r{ratio:.3g}"
    )


#: Outside the repository, at a fixed path, so that a later session finds
#: the checkpoints and the data cache.
DEFAULT_WORK_DIR = "/work/texture_runs"
DEFAULT_RESULTS = "docs/results/texture"
