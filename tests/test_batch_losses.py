"""The batch-level losses of `examples/batch_losses.py` against the formulas.

Expected values are worked out by hand (or with NumPy from the formula) on
small arrays, not taken from the code under test.
"""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from examples.batch_losses import (
    make_pairwise_auc_loss,
    pairwise_auc_loss,
    soft_f1,
    soft_f1_loss,
)

LN3 = math.log(3.0)
# Logits whose sigmoids are 0.5, 0.5, 0.75, 0.25.
Z = np.array([0.0, 0.0, LN3, -LN3], np.float32)
Y = np.array([1.0, 0.0, 1.0, 0.0], np.float32)


def _value_and_grad(loss_fn, y, z):
    z = tf.Variable(np.asarray(z, np.float32))
    with tf.GradientTape() as tape:
        loss = loss_fn(tf.constant(y, tf.float32), z)
    return float(loss), tape.gradient(loss, z).numpy()


def test_soft_f1_hand_value():
    # p = [.5, .5, .75, .25]: TP = .5 + .75, FP = .5 + .25, FN = .5 + .25,
    # F1 = 2.5 / (2.5 + .75 + .75) = 0.625.
    assert float(soft_f1(Y, Z)) == pytest.approx(0.625, abs=1e-6)
    assert float(soft_f1_loss(Y, Z)) == pytest.approx(0.375, abs=1e-6)


def test_soft_f1_is_the_f1_on_saturated_logits():
    y = np.array([1, 1, 1, 0, 0, 0, 0], np.float32)
    # Predicted positive: samples 0, 1, 3 -> TP 2, FP 1, FN 1 -> F1 = 4/6.
    z = np.array([30, 30, -30, 30, -30, -30, -30], np.float32)
    assert float(soft_f1(y, z)) == pytest.approx(2 / 3, abs=1e-5)


def test_soft_f1_gradient_matches_formula():
    # F1 = N / D with N = 2 TP and D = 2 TP + FP + FN = sum(p) + sum(y),
    # so d(1 - F1)/dp_i = -(2 y_i D - N) / D^2; times dp/dz = p (1 - p).
    p = 1 / (1 + np.exp(-Z.astype(np.float64)))
    numer = 2 * np.sum(p * Y)
    denom = np.sum(p) + np.sum(Y)
    dp = -(2 * Y * denom - numer) / denom**2
    expected = dp * p * (1 - p)
    _, grad = _value_and_grad(soft_f1_loss, Y, Z)
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-7)


def test_auc_logistic_hand_value():
    # Pairs (positive, negative) score differences: 0, ln3, ln3, ln9;
    # log(1 + exp(-d)) is ln2, ln(4/3), ln(4/3), ln(10/9).
    expected = (
        math.log(2) + 2 * math.log(4 / 3) + math.log(10 / 9)
    ) / 4
    assert float(pairwise_auc_loss(Y, Z)) == pytest.approx(expected, rel=1e-6)


def test_auc_squared_hinge_and_sigmoid_hand_values():
    # Margin 2: max(0, 2 - d)^2 is 4, (2 - ln3)^2 twice, 0 (ln9 > 2).
    hinge = make_pairwise_auc_loss("squared_hinge", margin=2.0)
    expected = (4 + 2 * (2 - LN3) ** 2 + 0) / 4
    assert float(hinge(Y, Z)) == pytest.approx(expected, rel=1e-6)
    # sigmoid(-d): 1/2, 1/4, 1/4, 1/10.
    sig = make_pairwise_auc_loss("sigmoid")
    assert float(sig(Y, Z)) == pytest.approx(0.275, rel=1e-6)


def test_auc_sigmoid_tends_to_one_minus_auc():
    rng = np.random.default_rng(0)
    y = (rng.random(40) < 0.3).astype(np.float32)
    scores = rng.normal(size=40) + y
    # Fraction of (positive, negative) pairs ranked correctly, by hand.
    pos, neg = scores[y == 1], scores[y == 0]
    auc = np.mean(pos[:, None] > neg[None, :])
    sig = make_pairwise_auc_loss("sigmoid")
    loss = float(sig(y, (1000 * scores).astype(np.float32)))
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
    _, grad = _value_and_grad(pairwise_auc_loss, Y, Z)
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    "loss_fn",
    [soft_f1_loss, pairwise_auc_loss, make_pairwise_auc_loss("squared_hinge")],
)
def test_column_and_flat_shapes_give_the_same_value(loss_fn):
    flat = float(loss_fn(Y, Z))
    for y, z in [
        (Y[:, None], Z[:, None]),  # what Keras passes
        (Y, Z[:, None]),
        (Y[:, None], Z),
    ]:
        assert float(loss_fn(y, z)) == pytest.approx(flat, rel=1e-6)


def test_keras_evaluate_sees_the_full_batch_value():
    # Keras reshapes y_true to (batch, 1) before the loss: the value it
    # reports must still be the hand-computed one, not a broadcast mess.
    model = keras.Sequential([keras.Input((1,)), keras.layers.Identity()])
    model.compile(loss=pairwise_auc_loss)
    expected = (
        math.log(2) + 2 * math.log(4 / 3) + math.log(10 / 9)
    ) / 4
    got = model.evaluate(Z[:, None], Y, batch_size=4, verbose=0)
    assert got == pytest.approx(expected, rel=1e-5)
    model.compile(loss=soft_f1_loss)
    got = model.evaluate(Z[:, None], Y, batch_size=4, verbose=0)
    assert got == pytest.approx(0.375, rel=1e-5)


@pytest.mark.parametrize("y_value", [0.0, 1.0])
def test_auc_without_pairs_is_zero_with_zero_gradient(y_value):
    y = np.full(5, y_value, np.float32)
    z = np.array([3.0, -2.0, 0.0, 50.0, -50.0], np.float32)
    value, grad = _value_and_grad(pairwise_auc_loss, y, z)
    assert value == 0.0
    assert np.all(np.isfinite(grad)) and np.all(grad == 0.0)


def test_soft_f1_without_positives_is_one_with_zero_gradient():
    y = np.zeros(5, np.float32)
    for z in (
        np.array([3.0, -2.0, 0.0, 50.0, -50.0], np.float32),
        np.full(5, -100.0, np.float32),  # nothing predicted positive either
    ):
        value, grad = _value_and_grad(soft_f1_loss, y, z)
        assert value == pytest.approx(1.0)
        assert np.all(np.isfinite(grad)) and np.all(grad == 0.0)


def test_extreme_logits_stay_finite():
    y = np.array([1, 0, 1, 0], np.float32)
    z = np.array([-200.0, 200.0, 200.0, -200.0], np.float32)
    for loss_fn in (soft_f1_loss, pairwise_auc_loss):
        value, grad = _value_and_grad(loss_fn, y, z)
        assert math.isfinite(value)
        assert np.all(np.isfinite(grad))
    # Differences -400, 0, 0, 400: softplus(400) = 400, ln2, ln2, ~0.
    expected = (400 + 2 * math.log(2)) / 4
    assert float(pairwise_auc_loss(y, z)) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"surrogate": "hinge"}, "surrogate"),
        ({"margin": 0.0}, "margin"),
        ({"margin": float("nan")}, "margin"),
    ],
)
def test_bad_arguments_raise_naming_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=f"`{name}`"):
        make_pairwise_auc_loss(**kwargs)
