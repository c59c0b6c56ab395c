"""Batch-level (non-decomposable) losses for binary tasks.

`SoftF1` and `PairwiseAUC` are `keras.losses.Loss` subclasses for
`model.compile(loss=...)` or a custom loop:

* `y_true`: 0/1 labels, one per sample, any shape (Keras passes
  `(batch, 1)`).
* `y_pred`: one score per sample: probabilities by default
  (`from_logits=False`, the Keras convention, for a model ending in a
  sigmoid), or logits with `from_logits=True` (a model ending in
  `Dense(1)` without activation, whose probability is `sigmoid(logit)`).
  Logits are the better choice: the sigmoid is then applied inside the
  loss, where it is numerically safe, and the AUC surrogate works on score
  differences, which saturate once the scores are squashed into [0, 1].

Neither loss is a sum of per-sample terms: each one is computed on the
whole batch and returns one scalar, so the `reduction` argument leaves the
value unchanged. That is the point (minibatching changes the value being
optimised; backdrop keeps the full batch and masks the gradient instead),
and it is also why both start by flattening their inputs: Keras reshapes
`y_true` to `(batch, 1)` to match a `(batch, 1)` prediction before the
loss sees it, and pairing a `(batch, 1)` tensor with a `(batch,)` one
broadcasts to `(batch, batch)` or worse without any error.

Sample weights (`sample_weight`, or `class_weight` in `fit`) weight each
sample's contribution to the batch statistics: weight 2 counts a sample
twice in the soft counts of `SoftF1`, and a pair `(i, j)` of `PairwiseAUC`
has weight `w_i * w_j`. Integer weights therefore give the loss of the
batch with the samples repeated.

Degenerate batches (a minibatch of an imbalanced task often has no
positive) are defined, finite, and have a zero gradient:

* `SoftF1`: with no positive in the batch the soft true positives are 0,
  so the soft F1 is 0 and the loss is 1 (the F1 of a batch without
  positives cannot be improved).
* `PairwiseAUC`: with no positive or no negative there is no
  positive/negative pair; the loss is 0.

This module imports no TensorFlow: it runs on every Keras backend.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import keras
from keras import ops

__all__ = ["AUC_SURROGATES", "PairwiseAUC", "SoftF1", "soft_f1"]

#: The smooth penalties `PairwiseAUC` can put on a pair's score difference.
AUC_SURROGATES = ("logistic", "squared_hinge", "sigmoid")

#: Keeps the soft-F1 denominator away from 0 (all-negative batch predicted
#: all-negative); small enough not to move F1 on any real batch.
_F1_EPSILON = 1e-7
#: Probabilities are clipped to [eps, 1 - eps] before the logit.
_LOGIT_EPSILON = 1e-7


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_from_logits(from_logits: Any) -> bool:
    # NumPy's booleans are accepted too (their type is not `bool`).
    if type(from_logits).__name__ not in ("bool", "bool_"):
        raise TypeError(
            "Invalid type for argument `from_logits`: expected a bool. "
            f"Received: from_logits={from_logits!r} "
            f"(type {type(from_logits).__name__})"
        )
    return bool(from_logits)


def _check_number(name: str, value: Any, ok, expected: str) -> float:
    if not _is_number(value):
        raise TypeError(
            f"Invalid type for argument `{name}`: expected {expected}. "
            f"Received: {name}={value!r} (type {type(value).__name__})"
        )
    if math.isnan(value) or not ok(float(value)):
        raise ValueError(
            f"Invalid value for argument `{name}`: expected {expected}. "
            f"Received: {name}={value!r}"
        )
    return float(value)


def _flatten(y_true, y_pred, sample_weight=None):
    """`(labels, scores, weights)` as vectors of one entry per sample.

    Keras has already reshaped `y_true` to `(batch, 1)`; flattening both
    here is what keeps the pairwise terms `(batch, batch)` instead of a
    silently broadcast `(batch, batch, batch)` tensor. `weights` is None
    without sample weights.
    """
    y_pred = ops.reshape(y_pred, (-1,))
    y_true = ops.cast(ops.reshape(y_true, (-1,)), y_pred.dtype)
    if sample_weight is not None:
        sample_weight = ops.cast(ops.reshape(sample_weight, (-1,)), y_pred.dtype)
        sample_weight = ops.broadcast_to(sample_weight, ops.shape(y_pred))
    return y_true, y_pred, sample_weight


def _soft_f1(y, p, w, epsilon: float):
    """Soft F1 of flat labels `y` and probabilities `p`, weights `w` or None."""
    if w is None:
        tp = ops.sum(p * y)
        fp = ops.sum(p * (1.0 - y))
        fn = ops.sum((1.0 - p) * y)
    else:
        tp = ops.sum(w * p * y)
        fp = ops.sum(w * p * (1.0 - y))
        fn = ops.sum(w * (1.0 - p) * y)
    return 2.0 * tp / (2.0 * tp + fp + fn + epsilon)


def soft_f1(
    y_true: Any,
    y_pred: Any,
    from_logits: bool = False,
    epsilon: float = _F1_EPSILON,
) -> Any:
    """The soft F1 score of a batch, a scalar in [0, 1].

    With `p` the predicted probabilities (`sigmoid(y_pred)` when
    `from_logits=True`) and `y` the labels: `TP = sum(p * y)`,
    `FP = sum(p * (1 - y))`, `FN = sum((1 - p) * y)` and
    `F1 = 2 TP / (2 TP + FP + FN + epsilon)`. On 0/1 predictions this is
    the usual F1 (up to `epsilon`). Usable as a Keras metric function.

    Args:
        y_true: 0/1 labels, one per sample, any shape.
        y_pred: One probability (or logit) per sample, any shape.
        from_logits: Whether `y_pred` holds logits.
        epsilon: Positive number added to the denominator.

    Returns:
        A scalar tensor of the backend.

    Raises:
        TypeError: if `from_logits` is not a bool or `epsilon` no number.
        ValueError: if `epsilon` is not a finite positive number.

    >>> import numpy as np
    >>> y_true = np.array([1.0, 0.0, 1.0, 0.0])
    >>> y_pred = np.array([0.5, 0.5, 0.75, 0.25])
    >>> round(float(soft_f1(y_true, y_pred)), 4)  # 2.5 / (2.5 + 0.75 + 0.75)
    0.625
    """
    from_logits = _check_from_logits(from_logits)
    epsilon = _check_number(
        "epsilon", epsilon, lambda v: 0.0 < v < math.inf, "a finite number > 0"
    )
    y_pred = ops.convert_to_tensor(y_pred)
    if not str(y_pred.dtype).startswith(("float", "bfloat")):
        y_pred = ops.cast(y_pred, keras.config.floatx())
    y, z, _ = _flatten(y_true, y_pred)
    p = ops.sigmoid(z) if from_logits else z
    return _soft_f1(y, p, None, epsilon)


class _BatchLoss(keras.losses.Loss):
    """A loss of the whole batch: one scalar; sample weights enter inside.

    `keras.losses.Loss.__call__` multiplies the per-sample values by the
    sample weights and reduces them; a batch-level value has no per-sample
    terms, so here the weights go into the batch statistics instead and
    the scalar is returned as it is.
    """

    def __call__(self, y_true, y_pred, sample_weight=None):
        with keras.name_scope(self.name):
            y_pred = ops.convert_to_tensor(y_pred, dtype=self.dtype)
            y_true = ops.convert_to_tensor(y_true, dtype=self.dtype)
            if sample_weight is not None:
                sample_weight = ops.convert_to_tensor(sample_weight, dtype=self.dtype)
            return self._batch_value(*_flatten(y_true, y_pred, sample_weight))

    def call(self, y_true, y_pred):
        return self._batch_value(*_flatten(y_true, y_pred))

    def _batch_value(self, y, z, w):
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"dtype": self.dtype, "from_logits": self.from_logits})
        return config


@keras.saving.register_keras_serializable(package="keras_backdrop")
class SoftF1(_BatchLoss):
    """One minus the soft F1 score of the batch.

    With `p` the predicted probabilities (`sigmoid(y_pred)` when
    `from_logits=True`), `y` the 0/1 labels and `w` the sample weights
    (1 without):

    ```python
    TP = sum(w * p * y)
    FP = sum(w * p * (1 - y))
    FN = sum(w * (1 - p) * y)
    loss = 1 - 2 * TP / (2 * TP + FP + FN + epsilon)
    ```

    A scalar in [0, 1]; on 0/1 predictions it is one minus the usual F1. A
    batch without positives gives 1 with a zero gradient.

    Args:
        from_logits: Whether `y_pred` holds logits (`True`) or
            probabilities (`False`, the default). Logits are safer.
        epsilon: Positive number added to the denominator, which is 0 for
            an all-negative batch predicted all-negative.
        reduction: Accepted for the Keras interface; the loss is one
            scalar per batch (sample weights enter TP, FP and FN), which
            every reduction leaves unchanged.
        name: Optional name for the loss instance.
        dtype: The dtype of the loss's computations; default
            `keras.backend.floatx()`.

    Raises:
        TypeError: if `from_logits` is not a bool or `epsilon` no number.
        ValueError: if `epsilon` is not a finite positive number, or
            `reduction` is unknown.

    Examples:
    >>> import numpy as np
    >>> y_true = np.array([1.0, 0.0, 1.0, 0.0])
    >>> y_pred = np.array([0.5, 0.5, 0.75, 0.25])
    >>> # TP = 1.25, FP = 0.75, FN = 0.75: F1 = 2.5 / 4 = 0.625.
    >>> round(float(SoftF1()(y_true, y_pred)), 4)
    0.375
    >>> logits = np.log(y_pred / (1.0 - y_pred))  # 0, 0, ln 3, -ln 3
    >>> round(float(SoftF1(from_logits=True)(y_true, logits)), 4)
    0.375

    With `compile()`:

    ```python
    model.compile(optimizer="adam", loss=SoftF1(from_logits=True))
    ```
    """

    def __init__(
        self,
        from_logits: bool = False,
        epsilon: float = _F1_EPSILON,
        reduction: str | None = "sum_over_batch_size",
        name: str = "soft_f1",
        dtype: Any = None,
    ):
        self.from_logits = _check_from_logits(from_logits)
        self.epsilon = _check_number(
            "epsilon", epsilon, lambda v: 0.0 < v < math.inf, "a finite number > 0"
        )
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def _batch_value(self, y, z, w):
        p = ops.sigmoid(z) if self.from_logits else z
        return 1.0 - _soft_f1(y, p, w, self.epsilon)

    def get_config(self) -> dict[str, Any]:
        """The constructor's arguments, for `from_config`."""
        config = super().get_config()
        config["epsilon"] = self.epsilon
        return config


@keras.saving.register_keras_serializable(package="keras_backdrop")
class PairwiseAUC(_BatchLoss):
    """A pairwise surrogate of one minus the ROC AUC of the batch.

    ROC AUC is the fraction of (positive, negative) pairs ranked correctly,
    the mean over pairs of `[s_pos > s_neg]`. The surrogate replaces the
    step by a smooth penalty on the score difference `d = s_pos - s_neg`,
    averaged over all (positive, negative) pairs of the batch (weighted by
    `w_pos * w_neg` with sample weights):

    * `"logistic"`: `log(1 + exp(-d))` (convex, never exactly zero);
    * `"squared_hinge"`: `max(0, margin - d) ** 2` (zero once a pair is
      separated by `margin`);
    * `"sigmoid"`: `sigmoid(-d)`, i.e. one minus a soft AUC (bounded in
      [0, 1] but not convex).

    The scores `s` are logits. With `from_logits=True` they are `y_pred`
    itself. With `from_logits=False` (the default) `y_pred` holds
    probabilities, which are clipped to `[epsilon, 1 - epsilon]` and turned
    back into logits, `log(p) - log(1 - p)`: the loss is then the same
    function of the model's underlying logit whichever output the model
    has (up to the clipping, i.e. for logits within about +-16 with the
    default `epsilon`, where float32 probabilities saturate anyway), and
    `margin` is in logit units either way.

    The loss only depends on score differences, so it leaves the logits'
    offset free: a model trained with it ranks, it is not calibrated, and
    a fixed threshold on its probabilities means little. A batch without a
    positive or without a negative gives 0 with a zero gradient. Memory
    and time are `O(batch ** 2)`.

    Args:
        surrogate: One of `"logistic"`, `"squared_hinge"`, `"sigmoid"`.
        margin: Finite positive number, the hinge's margin in logit units
            (ignored by the other surrogates).
        from_logits: Whether `y_pred` holds logits (`True`) or
            probabilities (`False`, the default).
        epsilon: The clipping of probabilities, in (0, 0.5); unused with
            `from_logits=True`.
        reduction: Accepted for the Keras interface; the loss is one
            scalar per batch (sample weights weight its pairs), which every
            reduction leaves unchanged.
        name: Optional name for the loss instance.
        dtype: The dtype of the loss's computations; default
            `keras.backend.floatx()`.

    Raises:
        TypeError: if an argument has the wrong type.
        ValueError: if `surrogate` is unknown, `margin` is not a finite
            positive number, `epsilon` not in (0, 0.5), or `reduction` is
            unknown.

    Examples:
    >>> import numpy as np
    >>> y_true = np.array([1.0, 0.0, 1.0, 0.0])
    >>> logits = np.log(np.array([1.0, 1.0, 3.0, 1 / 3]))  # 0, 0, ln 3, -ln 3
    >>> # Pair differences 0, ln 3, ln 3, ln 9: sigmoid(-d) = 1/2, 1/4, 1/4, 1/10.
    >>> loss = PairwiseAUC("sigmoid", from_logits=True)
    >>> round(float(loss(y_true, logits)), 4)
    0.275
    >>> probabilities = np.array([0.5, 0.5, 0.75, 0.25])  # sigmoid(logits)
    >>> round(float(PairwiseAUC("sigmoid")(y_true, probabilities)), 4)
    0.275
    >>> # Margin 2: max(0, 2 - d) ** 2 = 4, 0.8125, 0.8125, 0 (ln 9 > 2).
    >>> hinge = PairwiseAUC("squared_hinge", margin=2.0, from_logits=True)
    >>> round(float(hinge(y_true, logits)), 3)
    1.406
    """

    def __init__(
        self,
        surrogate: str = "logistic",
        margin: float = 1.0,
        from_logits: bool = False,
        epsilon: float = _LOGIT_EPSILON,
        reduction: str | None = "sum_over_batch_size",
        name: str = "pairwise_auc",
        dtype: Any = None,
    ):
        if not isinstance(surrogate, str):
            raise TypeError(
                "Invalid type for argument `surrogate`: expected one of "
                f"{AUC_SURROGATES}. Received: surrogate={surrogate!r} "
                f"(type {type(surrogate).__name__})"
            )
        if surrogate not in AUC_SURROGATES:
            raise ValueError(
                "Invalid value for argument `surrogate`: expected one of "
                f"{AUC_SURROGATES}. Received: surrogate={surrogate!r}"
            )
        self.surrogate = surrogate
        self.margin = _check_number(
            "margin", margin, lambda v: 0.0 < v < math.inf, "a finite number > 0"
        )
        self.from_logits = _check_from_logits(from_logits)
        self.epsilon = _check_number(
            "epsilon", epsilon, lambda v: 0.0 < v < 0.5, "a number in (0, 0.5)"
        )
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def _batch_value(self, y, z, w):
        if not self.from_logits:
            p = ops.clip(z, self.epsilon, 1.0 - self.epsilon)
            z = ops.log(p) - ops.log(1.0 - p)
        # Every (i, j) pair of the batch, kept only when i is positive and
        # j negative: the batch size is dynamic, so a dense pair matrix
        # with a 0/1 weight avoids a data-dependent gather.
        diff = z[:, None] - z[None, :]
        if w is None:
            pair_weight = y[:, None] * (1.0 - y)[None, :]
        else:
            pair_weight = (w * y)[:, None] * (w * (1.0 - y))[None, :]
        if self.surrogate == "logistic":
            penalty = ops.softplus(-diff)
        elif self.surrogate == "squared_hinge":
            penalty = ops.square(ops.relu(self.margin - diff))
        else:
            penalty = ops.sigmoid(-diff)
        n_pairs = ops.sum(pair_weight)
        # With no pair the weighted sum is an exact 0 whose gradient is 0
        # (every term is multiplied by a 0 weight); dividing by 1 then
        # keeps it 0 rather than 0 / 0. (Not max(n_pairs, 1): fractional
        # sample weights can make the pair weights sum below 1.)
        n_pairs = ops.where(n_pairs > 0.0, n_pairs, ops.ones_like(n_pairs))
        return ops.sum(penalty * pair_weight) / n_pairs

    def get_config(self) -> dict[str, Any]:
        """The constructor's arguments, for `from_config`."""
        config = super().get_config()
        config.update(
            {
                "surrogate": self.surrogate,
                "margin": self.margin,
                "epsilon": self.epsilon,
            }
        )
        return config
