"""The generator: rare positives from a fixed random teacher, any amount of data.

An input is `x ~ N(0, I)` in `features` dimensions. A teacher, a random
one-hidden-layer tanh network fixed by the study's `data_seed`, gives a
score `r(x)` scaled to unit variance; the label is drawn as
`y ~ Bernoulli(sigmoid(signal * r(x) + offset))`, with `offset` set so
that the expected share of positives is `prevalence`. The labels are
noisy (a positive and a negative can sit at the same `x`), so a network
that fits the training labels exactly has memorised noise, and the true
probability `p(x)` is known, which gives the ceiling of every test figure
(`ceiling`).

Splits are drawn fresh from the generator, each from its own stream:
the training set and the validation set of a seed, and one test set
shared by every run. Nothing is cached: a split of 200,000 samples takes
well under a second to draw.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from research.nondecomposable.settings import Study

_STREAM = {"train": 0, "val": 1, "test": 2, "reference": 3, "teacher": 4}
_REFERENCE_SIZE = 200_000


@dataclasses.dataclass(frozen=True)
class Split:
    """Inputs, 0/1 labels and the true probabilities of one split."""

    x: np.ndarray
    y: np.ndarray
    p: np.ndarray

    @property
    def positives(self) -> int:
        """How many positives the split holds."""
        return int(self.y.sum())


@dataclasses.dataclass(frozen=True)
class Teacher:
    """The generator's score function, fixed by a study's data settings."""

    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    scale: float
    offset: float

    def logit(self, x: np.ndarray) -> np.ndarray:
        """`signal * r(x) + offset` (the signal is folded into `scale`)."""
        h = np.tanh(x @ self.w1 + self.b1)
        return (h @ self.w2) * self.scale + self.offset


def _data_fields(study: Study) -> tuple:
    return (
        study.features,
        study.teacher_hidden,
        study.signal,
        study.prevalence,
        study.data_seed,
    )


def teacher(study: Study) -> Teacher:
    """The study's teacher (cached per data settings)."""
    return _teacher(*_data_fields(study))


@functools.lru_cache(maxsize=8)
def _teacher(
    features: int, hidden: int, signal: float, prevalence: float, data_seed: int
) -> Teacher:
    rng = np.random.default_rng([data_seed, _STREAM["teacher"]])
    w1 = rng.standard_normal((features, hidden)) / np.sqrt(features)
    b1 = 0.5 * rng.standard_normal(hidden)
    w2 = rng.standard_normal(hidden)
    x = np.random.default_rng([data_seed, _STREAM["reference"]]).standard_normal(
        (_REFERENCE_SIZE, features)
    )
    raw = np.tanh(x @ w1 + b1) @ w2
    scale = signal / raw.std()
    centred = (raw - raw.mean()) * scale
    # The offset that gives the prevalence, by bisection on the mean
    # probability of the reference sample (monotone in the offset).
    low, high = -40.0, 40.0
    for _ in range(80):
        mid = (low + high) / 2
        if np.mean(_sigmoid(centred + mid)) < prevalence:
            low = mid
        else:
            high = mid
    offset = (low + high) / 2 - raw.mean() * scale
    return Teacher(w1, b1, w2, float(scale), float(offset))


def draw(study: Study, size: int, stream: list[int]) -> Split:
    """`size` samples from the generator's stream `stream`."""
    rng = np.random.default_rng([study.data_seed, *stream])
    x = rng.standard_normal((size, study.features))
    p = _sigmoid(teacher(study).logit(x))
    y = (rng.random(size) < p).astype(np.float32)
    return Split(x.astype(np.float32), y, p)


def split(study: Study, name: str, seed: int | None = None) -> Split:
    """The split `name` ("train", "val" or "test") of `seed`.

    The test split is the study's own and takes no seed; training and
    validation take one.

    Raises:
        ValueError: a seed given for the test split or missing for the
            others, or a split with fewer than two positives.
    """
    if (name == "test") != (seed is None):
        raise ValueError(
            f"Invalid arguments: the test split takes no seed, the others one. "
            f"Received: name={name!r}, seed={seed!r}"
        )
    size = {"train": study.n_train, "val": study.n_val, "test": study.n_test}[name]
    stream = [_STREAM[name]] if seed is None else [_STREAM[name], seed]
    drawn = draw(study, size, stream)
    if drawn.positives < 2:
        raise ValueError(
            f"The {name} split of seed {seed} holds {drawn.positives} positives: "
            "raise its size or the prevalence."
        )
    return drawn


def ceiling(test: Split) -> dict[str, float]:
    """The test figures of the true probability (no method can beat them).

    F1 is that of the best threshold on the true probability.
    """
    from sklearn.metrics import (  # noqa: PLC0415
        average_precision_score,
        precision_recall_curve,
        roc_auc_score,
    )

    precision, recall, _ = precision_recall_curve(test.y, test.p)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    return {
        "f1": float(np.max(f1)),
        "auc": float(roc_auc_score(test.y, test.p)),
        "ap": float(average_precision_score(test.y, test.p)),
    }


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))
