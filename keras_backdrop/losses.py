"""Batch-level (non-decomposable) losses for binary tasks.

Their inputs, checks and edge cases are described in the user guide
(`docs/layer.md`, "Losses that do not decompose over samples").
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
from keras import ops

from keras_backdrop._checks import check_number, is_bool

__all__ = ["AUC_SURROGATES", "PairwiseAUC", "SoftF1", "soft_f1"]

#: The smooth penalties `PairwiseAUC` can put on a pair's score difference.
AUC_SURROGATES = ("logistic", "squared_hinge", "sigmoid")

#: Keeps the soft-F1 denominator away from 0 (all-negative batch predicted
#: all-negative); small enough not to move F1 on any real batch.
_F1_EPSILON = 1e-7
#: Probabilities are clipped to [eps, 1 - eps] before the logit.
_LOGIT_EPSILON = 1e-7


def _check_positive(name: str, value: Any) -> float:
    return check_number(name, value, "a finite number > 0", lambda v: 0 < v < math.inf)


def _check_from_logits(from_logits: Any) -> bool:
    if not is_bool(from_logits):  # NumPy's booleans too
        raise TypeError(
            "Invalid type for argument `from_logits`: expected a bool. "
            f"Received: from_logits={from_logits!r} "
            f"(type {type(from_logits).__name__})"
        )
    return bool(from_logits)


#: Floating dtypes a loss may be given; it computes in `_work_dtype(dtype)`.
_FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")
#: At most this many offending values are quoted in an error message.
_QUOTED = 5


def _work_dtype(dtype: str) -> str:
    """float32 for the half-precision dtypes: sums and logs stay finite."""
    return "float64" if dtype == "float64" else "float32"


def _as_work_tensor(name: str, x: Any, work_dtype: str):
    x = ops.convert_to_tensor(x)
    dtype = keras.backend.standardize_dtype(x.dtype)
    if dtype != "bool" and not dtype.startswith(("int", "uint", "float", "bfloat")):
        raise TypeError(
            f"Invalid dtype for argument `{name}`: expected real numbers "
            f"(a float, integer or bool tensor). Received: {name}.dtype={dtype}"
        )
    return ops.cast(x, work_dtype)


def _shape(x) -> tuple:
    return tuple(None if d is None else int(d) for d in x.shape)


def _check_per_sample_shape(name: str, shape: tuple, what: str) -> None:
    if len(shape) not in (1, 2) or (len(shape) == 2 and shape[1] not in (1, None)):
        raise ValueError(
            f"Invalid shape for argument `{name}`: expected {what} per sample, "
            f"shape (batch,) or (batch, 1). Received: {name}.shape={shape}"
        )


def _graph_tf(x) -> Any:
    """TensorFlow where `x` is a symbolic TensorFlow tensor (in a `tf.function`)."""
    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    return tf if tf.is_symbolic_tensor(x) else None


def _check_shapes(y, z, w) -> None:
    """Static shape checks; graph assertions for batch sizes known only later."""
    z_shape, y_shape = _shape(z), _shape(y)
    _check_per_sample_shape("y_pred", z_shape, "one score")
    _check_per_sample_shape("y_true", y_shape, "one label")
    named = [("y_true", y, y_shape)]
    if w is not None:
        w_shape = _shape(w)
        if w_shape:  # a scalar weights every sample alike
            _check_per_sample_shape("sample_weight", w_shape, "a scalar or one weight")
            named.append(("sample_weight", w, w_shape))
    for name, x, shape in named:
        if shape[0] is not None and z_shape[0] is not None and shape[0] != z_shape[0]:
            raise ValueError(
                f"Invalid shape for argument `{name}`: expected one entry per "
                f"score of `y_pred` ({z_shape[0]} scores, y_pred.shape="
                f"{z_shape}). Received: {name}.shape={shape}"
            )
        tf = _graph_tf(z)
        if tf is not None and (None in shape or None in z_shape):
            tf.debugging.assert_equal(
                tf.size(x),
                tf.size(z),
                message=(
                    f"Invalid shape for argument `{name}`: expected one entry "
                    "per score of `y_pred`, shape (batch,) or (batch, 1)"
                ),
            )


def _concrete(x):
    """`x` as a NumPy array, or None where its value is not known (traced)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        if _graph_tf(x) is not None:
            return None
    elif backend == "jax":
        import jax

        try:
            from jax.extend.core import concrete_or_error
        except ImportError:  # older JAX
            from jax.core import concrete_or_error
        try:
            # A JVP tracer outside `jit` still holds its value.
            x = concrete_or_error(None, x)
        except jax.errors.ConcretizationTypeError:
            return None
    return ops.convert_to_numpy(x)


def _value_checks(y, z, w, from_logits: bool) -> list:
    """`(name, bad-entry mask, what is allowed)` for each data check."""
    bad = ops.logical_and(ops.not_equal(y, 0.0), ops.not_equal(y, 1.0))
    checks = [("y_true", bad, "labels in {0, 1}")]
    if w is not None:
        # `w >= 0` is false for NaN too; +inf is refused by isfinite.
        bad = ops.logical_not(
            ops.logical_and(ops.greater_equal(w, 0.0), ops.isfinite(w))
        )
        checks.append(("sample_weight", bad, "finite weights >= 0"))
    if not from_logits:
        # NaN is not refused here: a diverged model's NaN stays a NaN loss.
        bad = ops.logical_or(ops.less(z, 0.0), ops.greater(z, 1.0))
        allowed = "probabilities in [0, 1] with from_logits=False"
        checks.append(("y_pred", bad, f"{allowed} (pass from_logits=True for logits)"))
    return checks


def _check_values(y, z, w, from_logits: bool):
    """Refuses bad values: raises where known, else returns a traced "ok" (or None)."""
    # Traced: a graph assertion on TensorFlow, and the flag for the caller
    # to turn the loss into NaN where assertions are dropped (XLA, jax.jit).
    tensors = {"y_true": y, "y_pred": z, "sample_weight": w}
    traced = []
    for name, bad, allowed in _value_checks(y, z, w, from_logits):
        values = _concrete(tensors[name])
        if values is None:
            traced.append((name, bad, allowed))
            continue
        values = np.asarray(values, np.float64).reshape(-1)
        bad_values = values[np.asarray(_concrete(bad)).reshape(-1)]
        if bad_values.size:
            quoted = np.unique(bad_values)[:_QUOTED].tolist()
            raise ValueError(
                f"Invalid value for argument `{name}`: expected {allowed}. "
                f"Received: {name} with values {quoted} ({bad_values.size} "
                f"of {values.size} entries)"
            )
    ok = None
    for name, bad, allowed in traced:
        ok_here = ops.logical_not(ops.any(bad))
        tf = _graph_tf(ok_here)
        if tf is not None:
            tf.debugging.Assert(
                ok_here,
                [
                    f"Invalid value for argument `{name}`: expected {allowed}. "
                    f"Received: {name} =",
                    tensors[name],
                ],
                summarize=_QUOTED * 4,
            )
        ok = ok_here if ok is None else ops.logical_and(ok, ok_here)
    return ok


def _prepare(y_true, y_pred, sample_weight, from_logits: bool, work_dtype: str):
    """Checked flat `(labels, scores, weights or None, ok)` in `work_dtype`."""
    # Flat: a (batch, 1) `y_true` would broadcast the pairwise terms.
    z = _as_work_tensor("y_pred", y_pred, work_dtype)
    y = _as_work_tensor("y_true", y_true, work_dtype)
    w = None
    if sample_weight is not None:
        w = _as_work_tensor("sample_weight", sample_weight, work_dtype)
    _check_shapes(y, z, w)
    z = ops.reshape(z, (-1,))
    y = ops.reshape(y, (-1,))
    if w is not None:
        w = ops.broadcast_to(ops.reshape(w, (-1,)), ops.shape(z))
    ok = _check_values(y, z, w, from_logits)
    return y, z, w, ok


def _refused_to_nan(value, ok):
    """NaN for a batch the traced checks refused; its gradient is zero."""
    if ok is None:
        return value
    return ops.where(ok, value, ops.full_like(value, math.nan))


def _logistic(d):
    """`log(1 + exp(-d))`, with a finite gradient at every `d`, +-inf too."""
    # Each branch sees only its own `d`: no softplus `inf - inf` gradient.
    positive = d > 0.0
    zero = ops.zeros_like(d)
    d_pos = ops.where(positive, d, zero)
    d_neg = ops.where(positive, zero, d)
    return ops.where(
        positive, ops.log1p(ops.exp(-d_pos)), ops.log1p(ops.exp(d_neg)) - d_neg
    )


def _soft_f1(y, p, w, epsilon: float):
    """Soft F1 of flat labels `y` and probabilities `p`, weights `w` or None."""
    w = 1.0 if w is None else w
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

    `2 TP / (2 TP + FP + FN + epsilon)` with the soft counts of `SoftF1`;
    on 0/1 predictions, the usual F1. Usable as a Keras metric function.

    Args:
        y_true: 0/1 labels, one per sample, any shape.
        y_pred: One probability (or logit) per sample, any shape.
        from_logits: Whether `y_pred` holds logits.
        epsilon: Positive number added to the denominator.

    Returns:
        A scalar tensor in the dtype of a floating `y_pred` (else floatx).

    Raises:
        TypeError: if `from_logits` is not a bool, `epsilon` no number, or
            an input not real numbers.
        ValueError: if `epsilon` is not a finite positive number, or the
            inputs are misshapen or hold bad values.

    >>> import numpy as np
    >>> y_true = np.array([1.0, 0.0, 1.0, 0.0])
    >>> y_pred = np.array([0.5, 0.5, 0.75, 0.25])
    >>> round(float(soft_f1(y_true, y_pred)), 4)  # 2.5 / (2.5 + 0.75 + 0.75)
    0.625
    """
    from_logits = _check_from_logits(from_logits)
    epsilon = _check_positive("epsilon", epsilon)
    y_pred = ops.convert_to_tensor(y_pred)
    dtype = keras.backend.standardize_dtype(y_pred.dtype)
    if dtype not in _FLOAT_DTYPES:
        dtype = keras.config.floatx()
    y, z, _, ok = _prepare(y_true, y_pred, None, from_logits, _work_dtype(dtype))
    p = ops.sigmoid(z) if from_logits else z
    return ops.cast(_refused_to_nan(_soft_f1(y, p, None, epsilon), ok), dtype)


class _BatchLoss(keras.losses.Loss):
    """A loss of the whole batch: one scalar, sample weights in its statistics."""

    def __init__(self, reduction, name, dtype):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if self.dtype not in _FLOAT_DTYPES:
            raise TypeError(
                "Invalid dtype for argument `dtype`: expected a floating dtype "
                f"(one of {_FLOAT_DTYPES}) or a DTypePolicy computing in one. "
                f"Received: dtype={dtype!r} (compute dtype {self.dtype})"
            )

    def __call__(self, y_true, y_pred, sample_weight=None):
        with keras.name_scope(self.name):
            return self._checked_value(y_true, y_pred, sample_weight)

    def call(self, y_true, y_pred):
        return self._checked_value(y_true, y_pred, None)

    def _checked_value(self, y_true, y_pred, sample_weight):
        # Not through a half-precision `self.dtype`: probabilities near 1
        # keep their distance from 1; only the result is cast.
        y, z, w, ok = _prepare(
            y_true, y_pred, sample_weight, self.from_logits, _work_dtype(self.dtype)
        )
        value = _refused_to_nan(self._batch_value(y, z, w), ok)
        return ops.cast(value, self.dtype)

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
        epsilon: Positive number added to the denominator.
        reduction: Accepted for the Keras interface; every reduction
            leaves the batch's scalar unchanged.
        name: Optional name for the loss instance.
        dtype: The returned loss's floating dtype (or `keras.DTypePolicy`);
            default `keras.backend.floatx()`. Computed in float32 at least.

    Raises:
        TypeError: if an argument has the wrong type (`dtype` not a
            floating dtype among them); when called, if an input is not
            real numbers.
        ValueError: if `epsilon` is not a finite positive number, or
            `reduction` is unknown; when called, if the inputs are
            misshapen or hold bad values.

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
        self.epsilon = _check_positive("epsilon", epsilon)
        super().__init__(reduction, name, dtype)

    def _batch_value(self, y, z, w):
        p = ops.sigmoid(z) if self.from_logits else z
        return 1.0 - _soft_f1(y, p, w, self.epsilon)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["epsilon"] = self.epsilon
        return config


@keras.saving.register_keras_serializable(package="keras_backdrop")
class PairwiseAUC(_BatchLoss):
    """A pairwise surrogate of one minus the ROC AUC of the batch.

    The mean, over the batch's (positive, negative) pairs (weighted by
    `w_pos * w_neg`), of a smooth penalty on the score difference
    `d = s_pos - s_neg` in place of the AUC's step `[s_pos > s_neg]`:

    * `"logistic"`: `log(1 + exp(-d))` (convex, never exactly zero);
    * `"squared_hinge"`: `max(0, margin - d) ** 2` (zero once a pair is
      separated by `margin`);
    * `"sigmoid"`: `sigmoid(-d)`, i.e. one minus a soft AUC (bounded in
      [0, 1] but not convex).

    The penalty is on logits (probabilities are turned back into logits).
    A batch without a positive or a negative gives 0 with a zero gradient.
    Memory and time are `O(batch ** 2)`.

    Args:
        surrogate: One of `"logistic"`, `"squared_hinge"`, `"sigmoid"`.
        margin: Finite positive number, the hinge's margin in logit units
            (ignored by the other surrogates).
        from_logits: Whether `y_pred` holds logits (`True`) or
            probabilities (`False`, the default).
        epsilon: Probabilities are clipped to `[epsilon, 1 - epsilon]`
            before their logit, in (0, 0.5); unused with logits.
        reduction: As for `SoftF1`.
        name: Optional name for the loss instance.
        dtype: As for `SoftF1`.

    Raises:
        TypeError: if an argument has the wrong type (`dtype` not a
            floating dtype among them); when called, if an input is not
            real numbers.
        ValueError: if `surrogate` is unknown, `margin` is not a finite
            positive number, `epsilon` not in (0, 0.5), or `reduction` is
            unknown; when called, if the inputs are misshapen or hold bad
            values.

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
        self.margin = _check_positive("margin", margin)
        self.from_logits = _check_from_logits(from_logits)
        self.epsilon = check_number(
            "epsilon", epsilon, "a number in (0, 0.5)", lambda v: 0.0 < v < 0.5
        )
        super().__init__(reduction, name, dtype)

    def _batch_value(self, y, z, w):
        if not self.from_logits:
            p = ops.clip(z, self.epsilon, 1.0 - self.epsilon)
            z = ops.log(p) - ops.log(1.0 - p)
        return self._pair_mean(*self._pairs(y, z, w))

    def _pairs(self, y, z, w):
        """`(z_pos, w_pos, z_neg, w_neg)`: the two sides of the pair matrix."""
        # Every sample on both sides, weighted 0 where it is not of that
        # class: a dense matrix, as the batch size is dynamic and a
        # data-dependent gather is avoided.
        w = 1.0 if w is None else w
        return z, w * y, z, w * (1.0 - y)

    def _pair_mean(self, z_pos, w_pos, z_neg, w_neg):
        """The penalty's mean over the pairs, weighted by `w_pos * w_neg`."""
        pair_weight = w_pos[:, None] * w_neg[None, :]
        # 0 outside the kept pairs and for two equal infinite scores (where
        # `inf - inf` is NaN): the loss's limit, and `penalty * 0` stays 0.
        diff = z_pos[:, None] - z_neg[None, :]
        tie_of_infinities = ops.logical_and(
            ops.equal(z_pos[:, None], z_neg[None, :]), ops.isinf(z_pos)[:, None]
        )
        keep = ops.logical_and(pair_weight > 0.0, ops.logical_not(tie_of_infinities))
        diff = ops.where(keep, diff, ops.zeros_like(diff))
        if self.surrogate == "logistic":
            penalty = _logistic(diff)
        elif self.surrogate == "squared_hinge":
            penalty = ops.square(ops.relu(self.margin - diff))
        else:
            penalty = ops.sigmoid(-diff)
        n_pairs = ops.sum(pair_weight)
        # No pair: 0 / 1 rather than 0 / 0. Not max(n_pairs, 1): fractional
        # sample weights can sum below 1.
        n_pairs = ops.where(n_pairs > 0.0, n_pairs, ops.ones_like(n_pairs))
        return ops.sum(penalty * pair_weight) / n_pairs

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            surrogate=self.surrogate, margin=self.margin, epsilon=self.epsilon
        )
        return config
