"""The settings of a non-decomposable study: what a run depends on, and its key.

A *study* fixes the generator, the network, the loss, the budget and the
grids; a *run* is one method trained with one learning rate and one seed.
Every field that changes a result is part of the run's key, so a work
directory or a result file is never reused under other settings.

Methods (`Study.methods`), all on the same training set of a seed:

* `full_batch`: every step sees the whole training set.
* `minibatch_<b>`: shuffled minibatches of `b` (an epoch is a pass).
* `minibatch_stratified_<b>`: minibatches of `b` that each hold the
  training set's share of positives, at least one (`positives_kept`).
* `backdrop_<k>`: the whole training set forward and in the loss,
  `BackdropMasking(keep_count=k, mask_axes=(0,))` on the logits: the
  gradient flows through `k` samples drawn uniformly each step.
* `backdrop_stratified_<k>`: the same, but the `k` samples are drawn per
  class (`positives_kept` positives, the rest negatives) and each class's
  gradient is scaled by its inverse inclusion rate, so its expectation is
  still the full-batch gradient.
"""

from __future__ import annotations

import dataclasses
import re

from research.runs import KeyedRun, Settings, int_at_least, ints_at_least, one_of

#: Per loss, bumped whenever the harness changes what a run of it computes
#: (`pairwise_auc` 2: the gathered pair matrix, `losses.GatheredPairwiseAUC`).
HARNESS_VERSIONS = {"soft_f1": 1, "pairwise_auc": 2}
LOSSES = ("soft_f1", "pairwise_auc")
#: The validation metric that selects the step and the learning rate.
SELECTION_METRIC = {"soft_f1": "f1", "pairwise_auc": "auc"}
#: The study's counts, each at least 1.
_COUNTS = (
    "features",
    "teacher_hidden",
    "n_train",
    "n_val",
    "n_test",
    "budget_epochs",
    "eval_every_epochs",
)
_METHOD = re.compile(
    r"^(full_batch|(minibatch|minibatch_stratified|backdrop|backdrop_stratified)"
    r"_(\d+))$"
)


@dataclasses.dataclass(frozen=True)
class Study(Settings):
    """Everything that determines the runs of one study.

    Attributes:
        name: The study's name (its results folder).
        loss: `"soft_f1"` or `"pairwise_auc"` (`keras_backdrop.losses`).
        features: Input dimension of the generator.
        teacher_hidden: Hidden tanh units of the generator's teacher.
        signal: Scale of the teacher's (unit-variance) logit.
        prevalence: The positives' share of every split (expected).
        n_train: Training samples (the full batch), fresh for every seed.
        n_val: Validation samples, fresh for every seed.
        n_test: Test samples, one set shared by every run.
        data_seed: Root of the teacher and of every split.
        hidden: Units of the network's ReLU layers.
        budget_epochs: Training budget in passes over the training set:
            `budget_epochs * n_train` forward samples for every method.
        eval_every_epochs: Validation after every this many passes.
        batch_sizes: Minibatch sizes (plain and stratified).
        keep_counts: Backdrop keep counts (plain and stratified).
        lrs: The Adam learning rates each method chooses from.
        bias_draws: Minibatches (and masks) per size in the bias probe
            (at least 20).
        bias_steps: Full-batch steps before the probe's second point.
    """

    name: str
    loss: str = "soft_f1"
    features: int = 20
    teacher_hidden: int = 16
    signal: float = 4.0
    prevalence: float = 0.02
    n_train: int = 4096
    n_val: int = 50_000
    n_test: int = 200_000
    data_seed: int = 4096
    hidden: tuple[int, ...] = (256, 256)
    budget_epochs: int = 200
    eval_every_epochs: int = 5
    batch_sizes: tuple[int, ...] = (32, 128)
    keep_counts: tuple[int, ...] = (32, 128, 512)
    lrs: tuple[float, ...] = (3e-4, 1e-3, 3e-3)
    bias_draws: int = 1000
    bias_steps: int = 100

    def __post_init__(self) -> None:
        one_of("loss", self.loss, LOSSES)
        ints_at_least(self, _COUNTS, 1)
        # The probe's p-value rests on the draws' covariance: 20 draws at least.
        int_at_least("bias_draws", self.bias_draws, 20)
        int_at_least("bias_steps", self.bias_steps, 0)
        int_at_least("data_seed", self.data_seed, 0)
        if not 0.0 < self.prevalence < 0.5:
            raise ValueError(
                "Invalid value for `prevalence`: expected a number in (0, 0.5). "
                f"Received: prevalence={self.prevalence!r}"
            )
        if self.budget_epochs % self.eval_every_epochs:
            raise ValueError(
                "Invalid value for `eval_every_epochs`: expected a divisor of "
                f"budget_epochs={self.budget_epochs}. Received: "
                f"eval_every_epochs={self.eval_every_epochs}"
            )
        for field in ("batch_sizes", "keep_counts"):
            sizes = tuple(getattr(self, field))
            for size in sizes:
                int_at_least(field, size, 1)
                if size >= self.n_train:
                    raise ValueError(
                        f"Invalid value for `{field}`: every size must be "
                        f"smaller than n_train={self.n_train}. Received: "
                        f"{field}={sizes}"
                    )
            self._tidy(**{field: sizes})
        for size in self.hidden:
            int_at_least("hidden", size, 1)
        lrs = tuple(float(lr) for lr in self.lrs)
        if not lrs or any(not lr > 0 for lr in lrs):
            raise ValueError(
                f"Invalid value for `lrs`: expected positive numbers. Received: "
                f"lrs={self.lrs!r}"
            )
        self._tidy(
            hidden=tuple(self.hidden),
            lrs=lrs,
            signal=float(self.signal),
            prevalence=float(self.prevalence),
        )

    @property
    def methods(self) -> tuple[str, ...]:
        """The study's methods, in report order."""
        return (
            "full_batch",
            *(f"minibatch_{b}" for b in self.batch_sizes),
            *(f"minibatch_stratified_{b}" for b in self.batch_sizes),
            *(f"backdrop_{k}" for k in self.keep_counts),
            *(f"backdrop_stratified_{k}" for k in self.keep_counts),
        )

    @property
    def selection_metric(self) -> str:
        """The validation metric that selects steps and learning rates."""
        return SELECTION_METRIC[self.loss]


def parse_method(method: str) -> tuple[str, int | None]:
    """`"backdrop_stratified_32"` -> `("backdrop_stratified", 32)`.

    >>> parse_method("minibatch_128")
    ('minibatch', 128)
    >>> parse_method("full_batch")
    ('full_batch', None)
    """
    match = _METHOD.match(method)
    if match is None:
        raise ValueError(
            "Invalid value for `method`: expected full_batch, minibatch_<b>, "
            "minibatch_stratified_<b>, backdrop_<k> or backdrop_stratified_<k>. "
            f"Received: method={method!r}"
        )
    if match.group(2) is None:
        return "full_batch", None
    return match.group(2), int(match.group(3))


def steps_per_epoch(study: Study, method: str) -> int:
    """Steps in one pass's worth of forward samples (`n_train`).

    A full-batch or backdrop step reads the whole training set forward; a
    minibatch step reads `b` samples, so it gets `n_train / b` steps per
    pass (rounded up).
    """
    kind, size = parse_method(method)
    if kind.startswith("minibatch"):
        return -(-study.n_train // size)
    return 1


@dataclasses.dataclass(frozen=True)
class Run(KeyedRun):
    """One method trained with one learning rate and one seed."""

    study: Study
    method: str
    lr: float
    seed: int

    def __post_init__(self) -> None:
        one_of("method", self.method, self.study.methods)
        if float(self.lr) not in self.study.lrs:
            raise ValueError(
                f"Invalid value for `lr`: expected one of {self.study.lrs}. "
                f"Received: lr={self.lr!r}"
            )
        int_at_least("seed", self.seed, 0)
        self._tidy(lr=float(self.lr))

    @property
    def HARNESS_VERSION(self) -> int:  # noqa: N802 (`KeyedRun`'s name)
        """The harness's version for this run's loss (`HARNESS_VERSIONS`)."""
        return HARNESS_VERSIONS[self.study.loss]

    def _label(self) -> str:
        return f"{self.method}-lr{self.lr:g}-s{self.seed}"


_MAIN = Study("soft_f1")

#: The studies. `soft_f1` and `pairwise_auc` are the deciding comparison,
#: one per loss; `fast` is a toy for tests and a first look.
STUDIES: dict[str, Study] = {
    "soft_f1": _MAIN,
    "pairwise_auc": _MAIN.replace(name="pairwise_auc", loss="pairwise_auc"),
    "fast": Study(
        "fast",
        features=8,
        teacher_hidden=4,
        prevalence=0.05,
        n_train=128,
        n_val=2000,
        n_test=2000,
        data_seed=128,
        hidden=(16,),
        budget_epochs=4,
        eval_every_epochs=2,
        batch_sizes=(32,),
        keep_counts=(32,),
        lrs=(1e-3, 3e-3),
        bias_draws=40,
        bias_steps=2,
    ),
}
