"""`keras_backdrop.losses` against hand-computed values, on every backend.

Expected values are worked out by hand (or with NumPy from the formula) on
small arrays, not taken from the code under test. Gradients are taken with
the backend's own automatic differentiation.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
from keras import ops

from keras_backdrop.losses import PairwiseAUC, SoftF1, soft_f1

BACKEND = keras.backend.backend()

LN3 = math.log(3.0)
# Logits whose sigmoids are 0.5, 0.5, 0.75, 0.25.
Z = np.array([0.0, 0.0, LN3, -LN3], np.float32)
P = np.array([0.5, 0.5, 0.75, 0.25], np.float32)
Y = np.array([1.0, 0.0, 1.0, 0.0], np.float32)
# Pairs (positive, negative) have score differences 0, ln3, ln3, ln9, so
# log(1 + exp(-d)) is ln2, ln(4/3), ln(4/3), ln(10/9).
AUC_LOGISTIC = (math.log(2) + 2 * math.log(4 / 3) + math.log(10 / 9)) / 4


def value_and_grad(loss_fn, y, z):
    """`(loss, d loss / d z)` as a float and a NumPy array."""
    z = np.asarray(z, np.float32)
    y = np.asarray(y, np.float32)
    if BACKEND == "tensorflow":
        import tensorflow as tf

        zt = tf.Variable(z)
        with tf.GradientTape() as tape:
            loss = loss_fn(tf.constant(y), zt)
        return float(loss), tape.gradient(loss, zt).numpy()
    if BACKEND == "torch":
        zt = ops.convert_to_tensor(z).detach().clone().requires_grad_(True)
        loss = loss_fn(ops.convert_to_tensor(y), zt)
        loss.backward()
        return float(ops.convert_to_numpy(loss.detach())), ops.convert_to_numpy(zt.grad)
    if BACKEND == "jax":
        import jax

        loss, grad = jax.value_and_grad(lambda z_: loss_fn(y, z_))(z)
        return float(loss), np.asarray(grad)
    raise RuntimeError(f"no gradient route for backend {BACKEND!r}")


def value(loss_fn, y, z, **kwargs):
    return float(ops.convert_to_numpy(loss_fn(y, z, **kwargs)))


def test_soft_f1_hand_value_from_logits_and_probabilities():
    # p = [.5, .5, .75, .25]: TP = .5 + .75, FP = .5 + .25, FN = .5 + .25,
    # F1 = 2.5 / (2.5 + .75 + .75) = 0.625.
    assert value(soft_f1, Y, Z, from_logits=True) == pytest.approx(0.625, abs=1e-6)
    assert value(soft_f1, Y, P) == pytest.approx(0.625, abs=1e-6)
    assert value(SoftF1(from_logits=True), Y, Z) == pytest.approx(0.375, abs=1e-6)
    assert value(SoftF1(), Y, P) == pytest.approx(0.375, abs=1e-6)


def test_soft_f1_is_the_f1_on_saturated_logits():
    y = np.array([1, 1, 1, 0, 0, 0, 0], np.float32)
    # Predicted positive: samples 0, 1, 3 -> TP 2, FP 1, FN 1 -> F1 = 4/6.
    z = np.array([30, 30, -30, 30, -30, -30, -30], np.float32)
    assert value(soft_f1, y, z, from_logits=True) == pytest.approx(2 / 3, abs=1e-5)
    assert value(SoftF1(), y, (z > 0).astype(np.float32)) == pytest.approx(
        1 / 3, abs=1e-5
    )


def test_soft_f1_gradient_matches_formula():
    # F1 = N / D with N = 2 TP and D = 2 TP + FP + FN = sum(p) + sum(y),
    # so d(1 - F1)/dp_i = -(2 y_i D - N) / D^2; times dp/dz = p (1 - p).
    p = 1 / (1 + np.exp(-Z.astype(np.float64)))
    numer = 2 * np.sum(p * Y)
    denom = np.sum(p) + np.sum(Y)
    dp = -(2 * Y * denom - numer) / denom**2
    _, grad = value_and_grad(SoftF1(from_logits=True), Y, Z)
    np.testing.assert_allclose(grad, dp * p * (1 - p), rtol=1e-5, atol=1e-7)
    # With probabilities the gradient is d(1 - F1)/dp itself.
    _, grad = value_and_grad(SoftF1(), Y, P)
    np.testing.assert_allclose(grad, dp, rtol=1e-5, atol=1e-7)


def test_auc_logistic_hand_value():
    assert value(PairwiseAUC(from_logits=True), Y, Z) == pytest.approx(
        AUC_LOGISTIC, rel=1e-6
    )
    # Probabilities are turned back into the same logits.
    assert value(PairwiseAUC(), Y, P) == pytest.approx(AUC_LOGISTIC, rel=1e-5)


def test_auc_squared_hinge_and_sigmoid_hand_values():
    # Margin 2: max(0, 2 - d)^2 is 4, (2 - ln3)^2 twice, 0 (ln9 > 2).
    hinge = PairwiseAUC("squared_hinge", margin=2.0, from_logits=True)
    expected = (4 + 2 * (2 - LN3) ** 2 + 0) / 4
    assert value(hinge, Y, Z) == pytest.approx(expected, rel=1e-6)
    # The default margin 1: 1, 0, 0, 0 (ln3 > 1).
    assert value(PairwiseAUC("squared_hinge", from_logits=True), Y, Z) == (
        pytest.approx(0.25, rel=1e-6)
    )
    # sigmoid(-d): 1/2, 1/4, 1/4, 1/10.
    sig = PairwiseAUC("sigmoid", from_logits=True)
    assert value(sig, Y, Z) == pytest.approx(0.275, rel=1e-6)


def test_auc_sigmoid_tends_to_one_minus_auc():
    rng = np.random.default_rng(0)
    y = (rng.random(40) < 0.3).astype(np.float32)
    scores = rng.normal(size=40) + y
    # Fraction of (positive, negative) pairs ranked correctly, by hand.
    pos, neg = scores[y == 1], scores[y == 0]
    auc = np.mean(pos[:, None] > neg[None, :])
    sig = PairwiseAUC("sigmoid", from_logits=True)
    loss = value(sig, y, (1000 * scores).astype(np.float32))
    assert loss == pytest.approx(1 - auc, abs=1e-3)


def test_auc_logistic_gradient_matches_formula():
    # d/dz_k of mean softplus(-(z_i - z_j)) over pairs: -sigmoid(-d)/P for a
    # positive k summed over its negatives, +sigmoid(-d)/P for a negative k.
    z = Z.astype(np.float64)
    pos, neg = np.flatnonzero(Y == 1), np.flatnonzero(Y == 0)
    expected = np.zeros(4)
    for i in pos:
        for j in neg:
            s = 1 / (1 + np.exp(z[i] - z[j]))
            expected[i] -= s / 4
            expected[j] += s / 4
    _, grad = value_and_grad(PairwiseAUC(from_logits=True), Y, Z)
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-7)
    # With probabilities: the same, times d logit / dp = 1 / (p (1 - p)).
    _, grad = value_and_grad(PairwiseAUC(), Y, P)
    p = P.astype(np.float64)
    np.testing.assert_allclose(grad, expected / (p * (1 - p)), rtol=1e-4)


@pytest.mark.parametrize("surrogate", ["logistic", "squared_hinge", "sigmoid"])
def test_probabilities_give_the_loss_of_their_logits(surrogate):
    rng = np.random.default_rng(1)
    y = (rng.random(12) < 0.4).astype(np.float32)
    z = rng.uniform(-6, 6, size=12).astype(np.float32)
    p = (1 / (1 + np.exp(-z.astype(np.float64)))).astype(np.float32)
    on_logits = value(PairwiseAUC(surrogate, from_logits=True), y, z)
    on_probs = value(PairwiseAUC(surrogate), y, p)
    assert on_probs == pytest.approx(on_logits, rel=1e-4, abs=1e-6)
    assert value(SoftF1(), y, p) == pytest.approx(
        value(SoftF1(from_logits=True), y, z), rel=1e-5
    )


def test_probabilities_are_clipped_before_the_logit():
    # p = 0 and 1 are clipped to eps = 0.1 and 0.9: logits -ln9 and ln9,
    # one pair with d = -2 ln9 and softplus(2 ln9) = ln(82).
    loss = PairwiseAUC(epsilon=0.1)
    y = np.array([1.0, 0.0], np.float32)
    assert value(loss, y, np.array([0.0, 1.0], np.float32)) == pytest.approx(
        math.log(82), rel=1e-5
    )
    # Full-precision probabilities stay finite with the default epsilon.
    value_, grad = value_and_grad(PairwiseAUC(), y, np.array([0.0, 1.0], np.float32))
    assert math.isfinite(value_) and np.all(np.isfinite(grad))


@pytest.mark.parametrize(
    "loss_fn",
    [
        SoftF1(from_logits=True),
        PairwiseAUC(from_logits=True),
        PairwiseAUC("squared_hinge", from_logits=True),
    ],
    ids=["soft_f1", "auc_logistic", "auc_hinge"],
)
def test_column_and_flat_shapes_give_the_same_value(loss_fn):
    flat = value(loss_fn, Y, Z)
    for y, z in [
        (Y[:, None], Z[:, None]),  # what Keras passes
        (Y, Z[:, None]),
        (Y[:, None], Z),
    ]:
        assert value(loss_fn, y, z) == pytest.approx(flat, rel=1e-6)


@pytest.mark.parametrize("y_value", [0.0, 1.0])
@pytest.mark.parametrize("from_logits", [True, False])
def test_auc_without_pairs_is_zero_with_zero_gradient(y_value, from_logits):
    y = np.full(5, y_value, np.float32)
    z = np.array([3.0, -2.0, 0.0, 50.0, -50.0], np.float32)
    if not from_logits:
        z = np.array([0.9, 0.1, 0.5, 1.0, 0.0], np.float32)
    loss, grad = value_and_grad(PairwiseAUC(from_logits=from_logits), y, z)
    assert loss == 0.0
    assert np.all(np.isfinite(grad)) and np.all(grad == 0.0)


@pytest.mark.parametrize("from_logits", [True, False])
def test_soft_f1_without_positives_is_one_with_zero_gradient(from_logits):
    y = np.zeros(5, np.float32)
    for z in (
        np.array([3.0, -2.0, 0.0, 50.0, -50.0], np.float32),
        np.full(5, -100.0, np.float32),  # nothing predicted positive either
    ):
        if not from_logits:
            z = (z > 0).astype(np.float32) * 0.7
        loss, grad = value_and_grad(SoftF1(from_logits=from_logits), y, z)
        assert loss == pytest.approx(1.0)
        assert np.all(np.isfinite(grad)) and np.all(grad == 0.0)


def test_extreme_logits_stay_finite():
    y = np.array([1, 0, 1, 0], np.float32)
    z = np.array([-200.0, 200.0, 200.0, -200.0], np.float32)
    for loss_fn in (SoftF1(from_logits=True), PairwiseAUC(from_logits=True)):
        loss, grad = value_and_grad(loss_fn, y, z)
        assert math.isfinite(loss)
        assert np.all(np.isfinite(grad))
    # Differences -400, 0, 0, 400: softplus(400) = 400, ln2, ln2, ~0.
    expected = (400 + 2 * math.log(2)) / 4
    assert value(PairwiseAUC(from_logits=True), y, z) == pytest.approx(
        expected, rel=1e-6
    )


@pytest.mark.parametrize(
    "loss_fn",
    [SoftF1(from_logits=True), PairwiseAUC(from_logits=True)],
    ids=["soft_f1", "pairwise_auc"],
)
def test_integer_sample_weights_repeat_samples(loss_fn):
    weights = np.array([2.0, 1.0, 3.0, 1.0], np.float32)
    repeated = np.repeat(np.arange(4), weights.astype(int))
    expected = value(loss_fn, Y[repeated], Z[repeated])
    got = value(loss_fn, Y, Z, sample_weight=weights)
    assert got == pytest.approx(expected, rel=1e-6)
    # Unequal weights change the value: the check can fail.
    assert abs(expected - value(loss_fn, Y, Z)) > 1e-3


def test_uniform_sample_weights_leave_the_value_unchanged():
    # Even below 1 in total: the pair weights are normalised by their sum.
    for loss_fn in (SoftF1(from_logits=True), PairwiseAUC(from_logits=True)):
        plain = value(loss_fn, Y, Z)
        for w in (0.1, np.full(4, 0.1, np.float32), np.full((4, 1), 3.0, np.float32)):
            assert value(loss_fn, Y, Z, sample_weight=w) == pytest.approx(
                plain, rel=1e-5
            )


def test_fit_with_the_losses_runs_and_learns():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype(np.float32)
    y = (x[:, 0] > 0.5).astype(np.float32)
    for loss in (SoftF1(from_logits=True), PairwiseAUC(from_logits=True)):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
        model.compile(optimizer=keras.optimizers.SGD(0.5), loss=loss)
        history = model.fit(x, y, batch_size=64, epochs=15, verbose=0).history
        assert np.all(np.isfinite(history["loss"]))
        assert history["loss"][-1] < history["loss"][0]
        # evaluate reports the loss of the whole batch.
        z = ops.convert_to_numpy(model(x)).ravel()
        got = model.evaluate(x, y, batch_size=64, verbose=0)
        assert got == pytest.approx(value(loss, y, z), rel=1e-5)


# Infinite logits. Batch y = [1, 1, 0, 0], z = [+inf, 0, -inf, ln 3]: of
# the four (positive, negative) pairs, three have d = +inf (penalty 0,
# derivative 0) and one, (1, 3), has d = -ln 3. Over 4 pairs:
# logistic log(1 + 3) / 4, hinge (1 + ln 3)^2 / 4, sigmoid (3/4) / 4. The
# derivative of the (1, 3) term in d is -sigmoid(ln 3) = -3/4 (logistic),
# -2 (1 + ln 3) (hinge), -(3/4)(1/4) (sigmoid); d z_1 gets it, d z_3 its
# negative, each over 4; the infinite logits get 0.
Y_INF = np.array([1.0, 1.0, 0.0, 0.0], np.float32)
Z_INF = np.array([np.inf, 0.0, -np.inf, LN3], np.float32)
INFINITE_LIMITS = {
    "logistic": (math.log(4) / 4, 3 / 4),
    "squared_hinge": ((1 + LN3) ** 2 / 4, 2 * (1 + LN3)),
    "sigmoid": (3 / 16, 3 / 16),
}


@pytest.mark.parametrize("surrogate", sorted(INFINITE_LIMITS))
def test_auc_infinite_logits_give_the_finite_limit(surrogate):
    limit, slope = INFINITE_LIMITS[surrogate]
    loss, grad = value_and_grad(PairwiseAUC(surrogate, from_logits=True), Y_INF, Z_INF)
    assert loss == pytest.approx(limit, rel=1e-6)
    np.testing.assert_allclose(
        grad, [0.0, -slope / 4, 0.0, slope / 4], rtol=1e-5, atol=1e-7
    )


@pytest.mark.parametrize("surrogate", sorted(INFINITE_LIMITS))
def test_auc_equal_infinite_scores_are_a_tie(surrogate):
    # inf - inf is no number; two equal scores are a tie, d = 0:
    # log 2, (1 - 0)^2 and 1/2.
    tie = {"logistic": math.log(2), "squared_hinge": 1.0, "sigmoid": 0.5}
    y = np.array([1.0, 0.0], np.float32)
    for z in ([np.inf, np.inf], [-np.inf, -np.inf]):
        loss, grad = value_and_grad(PairwiseAUC(surrogate, from_logits=True), y, z)
        assert loss == pytest.approx(tie[surrogate], rel=1e-6)
        assert np.all(np.isfinite(grad))


def test_auc_pair_ranked_infinitely_wrong():
    # A negative at +inf: d = -inf. sigmoid(+inf) = 1 (bounded surrogate);
    # the logistic and hinge penalties tend to +inf, their limit: no NaN.
    y = np.array([1.0, 0.0], np.float32)
    z = np.array([0.0, np.inf], np.float32)
    loss, grad = value_and_grad(PairwiseAUC("sigmoid", from_logits=True), y, z)
    assert loss == 1.0 and np.all(grad == 0.0)
    for surrogate in ("logistic", "squared_hinge"):
        assert value(PairwiseAUC(surrogate, from_logits=True), y, z) == math.inf


def test_soft_f1_infinite_logits():
    # p = [1, 0, 1/2, 1]: TP = 1.5, FP = 1, FN = .5, F1 = 3 / 4.5 = 2/3.
    # d(1 - F1)/dp_2 = -(2 D - N) / D^2 = -6 / 20.25, times p(1 - p) = 1/4.
    y = np.array([1.0, 0.0, 1.0, 0.0], np.float32)
    z = np.array([np.inf, -np.inf, 0.0, np.inf], np.float32)
    loss, grad = value_and_grad(SoftF1(from_logits=True), y, z)
    assert loss == pytest.approx(1 / 3, rel=1e-6)
    np.testing.assert_allclose(grad, [0.0, 0.0, -2 / 27, 0.0], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_is_computed_in_float32(dtype):
    # 35000 positives at p = 1 and 35000 negatives at p = 1/2: TP = 35000,
    # FP = 17500, FN = 0, F1 = 70000 / 87500 = 0.8. The counts exceed
    # float16's largest number (65504): summed in float16 they are inf.
    n = 35000
    y = np.concatenate([np.ones(n), np.zeros(n)]).astype(dtype)
    p = np.concatenate([np.ones(n), np.full(n, 0.5)]).astype(dtype)
    got = SoftF1(dtype=dtype)(y, p)
    assert keras.backend.standardize_dtype(got.dtype) == dtype
    assert float(ops.convert_to_numpy(ops.cast(got, "float32"))) == pytest.approx(
        0.2, rel=1e-2
    )
    # Probabilities 0 and 1, clipped to [1e-7, 1 - 1e-7] in float32 (1 - 1e-7
    # rounds to 1 - 2**-23 there; in half precision it would round to 1
    # and log(1 - p) be -inf): logits ln(1e-7 / (1 - 1e-7)) = -16.118 and
    # 23 ln 2 = 15.942 (plus log(1 - 2**-23), negligible). The pair is
    # ranked wrong by d = -32.06 and softplus(32.06) = 32.06.
    y2 = np.array([1.0, 0.0], dtype)
    p2 = np.array([0.0, 1.0], dtype)
    expected = math.log((1 - 1e-7) / 1e-7) + 23 * math.log(2)
    for surrogate in ("logistic", "sigmoid"):
        loss, grad = value_and_grad(PairwiseAUC(surrogate, dtype=dtype), y2, p2)
        assert math.isfinite(loss) and np.all(np.isfinite(grad))
    loss = PairwiseAUC(dtype=dtype)(y2, p2)
    assert float(ops.convert_to_numpy(ops.cast(loss, "float32"))) == pytest.approx(
        expected, rel=1e-2
    )


def _fit_once(loss, x, y, jit_compile="auto"):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((x.shape[1],)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss=loss, jit_compile=jit_compile)
    before = [w.copy() for w in model.get_weights()]
    history = model.fit(x, y, batch_size=len(x), epochs=1, verbose=0).history
    moved = max(
        float(np.max(np.abs(a - b))) for a, b in zip(before, model.get_weights())
    )
    return history["loss"][0], moved


@pytest.mark.parametrize(
    "jit_compile", [False, True] if BACKEND == "tensorflow" else ["auto"]
)
def test_bad_labels_in_compiled_fit(jit_compile):
    # Labels in {-1, 1}: refused by an error where the backend can raise on
    # data inside its step, otherwise a NaN loss whose gradient is 0.
    x = np.random.default_rng(0).normal(size=(8, 2)).astype(np.float32)
    y = np.array([1.0, -1.0] * 4, np.float32)
    loss = PairwiseAUC(from_logits=True)
    if BACKEND == "torch":  # the step runs eagerly
        with pytest.raises(ValueError, match=r"argument `y_true`.*-1\.0"):
            _fit_once(loss, x, y)
    elif BACKEND == "tensorflow" and not jit_compile:  # graph assertion
        import tensorflow as tf

        with pytest.raises(tf.errors.InvalidArgumentError, match="argument `y_true`"):
            _fit_once(loss, x, y, jit_compile)
    else:  # jax.jit, XLA: assertions are dropped
        got, moved = _fit_once(loss, x, y, jit_compile)
        assert math.isnan(got) and moved == 0.0
    # The same step on 0/1 labels trains.
    got, moved = _fit_once(loss, x, (y > 0).astype(np.float32), jit_compile)
    assert math.isfinite(got) and moved > 0.0


def test_misshapen_model_output_is_refused_when_fit_traces():
    # Two scores per sample against one label: a ValueError at trace time.
    x = np.zeros((4, 2), np.float32)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    model.compile(optimizer="sgd", loss=SoftF1(from_logits=True))
    with pytest.raises(ValueError, match=r"`y_pred`.*y_pred.shape=\((None|4), 2\)"):
        model.fit(x, Y, batch_size=4, epochs=1, verbose=0)


def test_bad_values_are_refused_eagerly():
    with pytest.raises(ValueError, match=r"argument `y_true`.*-1\.0"):
        PairwiseAUC(from_logits=True)(np.array([1.0, -1.0, 1.0, -1.0]), Z)
    with pytest.raises(ValueError, match=r"argument `sample_weight`.*-1\.0"):
        SoftF1(from_logits=True)(Y, Z, sample_weight=np.array([1.0, -1.0, 1, 1]))
    with pytest.raises(ValueError, match=r"argument `y_true`.*\(3,\)"):
        PairwiseAUC(from_logits=True)(Y[:3], Z)
