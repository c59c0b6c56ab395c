"""Differentiable batch-level (non-decomposable) losses for binary tasks.

Both losses are ordinary Keras loss functions, `loss(y_true, y_pred)`, for
`model.compile(loss=...)`:

* `y_true`: 0/1 labels, any shape with one entry per sample.
* `y_pred`: **logits** (raw scores, no sigmoid), one per sample. Logits
  rather than probabilities because the AUC surrogate works on score
  differences, which saturate if the scores are squashed into [0, 1], and
  because the sigmoid inside the soft-F1 is then numerically safe. A model
  for these losses ends in `Dense(1)` without activation; its probability
  is `sigmoid(logit)`.

Neither loss is a sum of per-sample terms: each one is computed on the
whole batch and returns a scalar. That is the point (minibatching changes
the value being optimised, see `examples/nondecomposable.py`), and it is
also why both start by flattening their inputs: Keras reshapes `y_true` to
`(batch, 1)` to match a `(batch, 1)` prediction before the loss sees it,
and pairing a `(batch, 1)` tensor with a `(batch,)` one broadcasts to
`(batch, batch)` or worse without any error.

Degenerate batches (a minibatch of an imbalanced task often has no
positive) are defined, finite, and have a finite gradient:

* `soft_f1_loss`: with no positive in the batch, the soft true positives
  are 0, so the soft F1 is 0 and the loss is 1, with a zero gradient (the
  F1 of a batch without positives cannot be improved).
* `pairwise_auc_loss`: with no positive or no negative there are no
  positive/negative pairs; the loss is 0 with a zero gradient.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
from keras import ops

#: Keeps the soft-F1 denominator away from 0 (all-negative batch predicted
#: all-negative); small enough not to move F1 on any real batch.
F1_EPSILON = 1e-7

AUC_SURROGATES = ("logistic", "squared_hinge", "sigmoid")


def _flatten_pair(y_true, y_pred):
    """Both as float vectors of one entry per sample.

    Keras has already reshaped `y_true` to `(batch, 1)`; flattening both
    here is what keeps the pairwise terms `(n_pos, n_neg)` instead of a
    silently broadcast `(batch, batch, batch)` tensor.
    """
    y_pred = ops.reshape(y_pred, (-1,))
    y_true = ops.cast(ops.reshape(y_true, (-1,)), y_pred.dtype)
    return y_true, y_pred


def soft_f1(y_true, y_pred) -> keras.KerasTensor:
    """The soft F1 score of a batch (a scalar in [0, 1]); `y_pred` are logits.

    With `p = sigmoid(y_pred)` and `y` the labels:
    `TP = sum(p * y)`, `FP = sum(p * (1 - y))`, `FN = sum((1 - p) * y)`,
    `F1 = 2 TP / (2 TP + FP + FN + eps)`. On 0/1 predictions this is the
    usual F1 (up to `eps`).
    """
    y, z = _flatten_pair(y_true, y_pred)
    p = ops.sigmoid(z)
    tp = ops.sum(p * y)
    fp = ops.sum(p * (1.0 - y))
    fn = ops.sum((1.0 - p) * y)
    return 2.0 * tp / (2.0 * tp + fp + fn + F1_EPSILON)


@keras.saving.register_keras_serializable(package="examples")
def soft_f1_loss(y_true, y_pred) -> keras.KerasTensor:
    """`1 - soft_f1(y_true, y_pred)`: a scalar in [0, 1]; `y_pred` are logits.

    A batch without positives gives 1 with a zero gradient (see the module
    docstring).
    """
    return 1.0 - soft_f1(y_true, y_pred)


def make_pairwise_auc_loss(
    surrogate: str = "logistic", margin: float = 1.0
) -> Callable:
    """Builds a pairwise ROC-AUC surrogate loss on logits.

    ROC AUC is the fraction of (positive, negative) pairs ranked correctly,
    `mean over pairs of [s_pos > s_neg]`. The surrogate replaces the step by
    a smooth penalty on the score difference `d = s_pos - s_neg`, averaged
    over all pairs of the batch:

    * `"logistic"`: `log(1 + exp(-d))` (convex, never exactly zero);
    * `"squared_hinge"`: `max(0, margin - d) ** 2` (zero once a pair is
      separated by `margin`);
    * `"sigmoid"`: `sigmoid(-d)`, i.e. one minus a soft AUC (bounded in
      [0, 1] but not convex).

    The loss only depends on score differences, so it leaves the logits'
    offset free: a model trained with it ranks, it is not calibrated, and
    a fixed threshold on its probabilities means little.

    Args:
        surrogate: One of `"logistic"`, `"squared_hinge"`, `"sigmoid"`.
        margin: Positive float, the hinge's margin (ignored otherwise).

    Returns:
        A function `loss(y_true, y_pred)` returning a scalar; 0 with a zero
        gradient when the batch has no positive or no negative.

    Raises:
        ValueError: if `surrogate` or `margin` is invalid.
    """
    if surrogate not in AUC_SURROGATES:
        raise ValueError(
            "Invalid value for argument `surrogate`: expected one of "
            f"{AUC_SURROGATES}. Received: surrogate={surrogate!r}"
        )
    is_number = isinstance(margin, (int, float)) and not isinstance(
        margin, bool
    )
    # `not margin > 0` also refuses NaN.
    if not is_number or not margin > 0:
        raise ValueError(
            "Invalid value for argument `margin`: expected a positive "
            f"number. Received: margin={margin!r}"
        )
    margin = float(margin)

    def pairwise_auc_loss(y_true, y_pred) -> keras.KerasTensor:
        y, z = _flatten_pair(y_true, y_pred)
        # Every (i, j) pair of the batch, kept only when i is positive and
        # j negative: the batch size is dynamic, so a dense pair matrix
        # with a 0/1 weight avoids a data-dependent gather.
        diff = z[:, None] - z[None, :]
        pair_weight = y[:, None] * (1.0 - y)[None, :]
        if surrogate == "logistic":
            penalty = ops.softplus(-diff)
        elif surrogate == "squared_hinge":
            penalty = ops.square(ops.relu(margin - diff))
        else:
            penalty = ops.sigmoid(-diff)
        n_pairs = ops.sum(pair_weight)
        # With no pair the weighted sum is an exact 0 whose gradient is 0
        # (every term is multiplied by a 0 weight); dividing by
        # max(n_pairs, 1) keeps it 0 rather than 0 / 0.
        return ops.sum(penalty * pair_weight) / ops.maximum(n_pairs, 1.0)

    pairwise_auc_loss.__name__ = f"pairwise_auc_{surrogate}_loss"
    return pairwise_auc_loss


#: The default AUC surrogate: logistic penalty on every positive/negative
#: pair of the batch.
pairwise_auc_loss = make_pairwise_auc_loss("logistic")
pairwise_auc_loss.__doc__ = (
    "Logistic pairwise ROC-AUC surrogate on logits: the mean over "
    "positive/negative pairs of `log(1 + exp(-(s_pos - s_neg)))`; 0 with a "
    "zero gradient when the batch has no pair. See `make_pairwise_auc_loss`."
)
