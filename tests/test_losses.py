"""`keras_backdrop.losses` as Keras losses: arguments, saving, training.

The values and gradients against hand-computed numbers are in
`tests/backend_spec/test_spec_losses.py`, which runs on every backend
(through `tests/test_backends.py`); this file checks, on the default
backend, what a user of `model.compile` relies on.
"""

import math
from pathlib import Path

import keras
import numpy as np
import pytest

import keras_backdrop.losses
from keras_backdrop.losses import PairwiseAUC, SoftF1, soft_f1

ROOT = Path(__file__).resolve().parents[1]
LN3 = math.log(3.0)
Z = np.array([0.0, 0.0, LN3, -LN3], np.float32)
Y = np.array([1.0, 0.0, 1.0, 0.0], np.float32)
AUC_LOGISTIC = (math.log(2) + 2 * math.log(4 / 3) + math.log(10 / 9)) / 4


def test_keras_evaluate_sees_the_full_batch_value():
    # Keras reshapes y_true to (batch, 1) before the loss: the value it
    # reports must still be the hand-computed one, not a broadcast mess.
    model = keras.Sequential([keras.Input((1,)), keras.layers.Identity()])
    model.compile(loss=PairwiseAUC(from_logits=True))
    got = model.evaluate(Z[:, None], Y, batch_size=4, verbose=0)
    assert got == pytest.approx(AUC_LOGISTIC, rel=1e-5)
    model.compile(loss=SoftF1(from_logits=True))
    got = model.evaluate(Z[:, None], Y, batch_size=4, verbose=0)
    assert got == pytest.approx(0.375, rel=1e-5)
    # Sample weights (what `class_weight` becomes in fit): 2 counts each
    # positive twice, TP = 2.5, FP = .75, FN = 1.5, F1 = 5 / 7.25.
    got = model.evaluate(Z[:, None], Y, batch_size=4, verbose=0, sample_weight=1.0 + Y)
    assert got == pytest.approx(1 - 5 / 7.25, rel=1e-5)


def test_compile_and_fit_with_soft_f1_from_logits():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4)).astype(np.float32)
    y = (x[:, 0] + 0.3 * x[:, 1] > 1.0).astype(np.float32)  # 17.5 % positives
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss=SoftF1(from_logits=True))
    history = model.fit(x, y, batch_size=200, epochs=100, verbose=0).history
    assert np.all(np.isfinite(history["loss"]))
    assert history["loss"][-1] < history["loss"][0] - 0.4
    # A loss of about 1 - F1: the hard F1 at logit 0 is high too.
    z = keras.ops.convert_to_numpy(model(x)).ravel()
    tp = np.sum((z > 0) & (y == 1))
    f1 = 2 * tp / (np.sum(z > 0) + np.sum(y))
    assert f1 > 0.9


@pytest.mark.parametrize(
    "loss",
    [
        SoftF1(),
        SoftF1(from_logits=True, epsilon=1e-4, name="f1", reduction="sum"),
        PairwiseAUC(),
        PairwiseAUC("squared_hinge", margin=0.5, from_logits=True, epsilon=0.01),
    ],
    ids=["soft_f1", "soft_f1_args", "auc", "auc_args"],
)
def test_config_and_serialisation_round_trip(loss):
    config = loss.get_config()
    again = type(loss).from_config(config)
    assert again.get_config() == config
    serialized = keras.saving.serialize_keras_object(loss)
    assert serialized["registered_name"] == f"keras_backdrop>{type(loss).__name__}"
    restored = keras.saving.deserialize_keras_object(serialized)
    assert type(restored) is type(loss)
    assert restored.get_config() == config
    assert float(restored(Y, np.abs(Z) / 2)) == pytest.approx(
        float(loss(Y, np.abs(Z) / 2)), rel=1e-6
    )


def test_saved_model_reloads_its_loss(tmp_path):
    model = keras.Sequential([keras.Input((1,)), keras.layers.Identity()])
    model.compile(loss=PairwiseAUC("sigmoid", margin=2.0, from_logits=True))
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.loss, PairwiseAUC)
    assert loaded.loss.get_config() == model.loss.get_config()
    got = loaded.evaluate(Z[:, None], Y, batch_size=4, verbose=0)
    assert got == pytest.approx(0.275, rel=1e-5)


def test_every_reduction_returns_the_batch_value():
    for reduction in ("sum_over_batch_size", "sum", "mean", None, "none"):
        loss = SoftF1(from_logits=True, reduction=reduction)
        assert float(loss(Y, Z)) == pytest.approx(0.375, rel=1e-6)
        auc = PairwiseAUC(from_logits=True, reduction=reduction)
        assert float(auc(Y, Z)) == pytest.approx(AUC_LOGISTIC, rel=1e-6)


def test_numpy_booleans_are_accepted():
    assert SoftF1(from_logits=np.bool_(True)).from_logits is True
    assert PairwiseAUC(from_logits=np.bool_(False)).from_logits is False


@pytest.mark.parametrize(
    "make, error, name",
    [
        (lambda: SoftF1(from_logits=1), TypeError, "from_logits"),
        (lambda: SoftF1(from_logits="yes"), TypeError, "from_logits"),
        (lambda: SoftF1(epsilon="1e-7"), TypeError, "epsilon"),
        (lambda: SoftF1(epsilon=True), TypeError, "epsilon"),
        (lambda: SoftF1(epsilon=0.0), ValueError, "epsilon"),
        (lambda: SoftF1(epsilon=-1e-7), ValueError, "epsilon"),
        (lambda: SoftF1(epsilon=float("nan")), ValueError, "epsilon"),
        (lambda: SoftF1(epsilon=float("inf")), ValueError, "epsilon"),
        (lambda: SoftF1(reduction="max"), ValueError, "reduction"),
        (lambda: PairwiseAUC("hinge"), ValueError, "surrogate"),
        (lambda: PairwiseAUC(None), TypeError, "surrogate"),
        (lambda: PairwiseAUC(margin=0.0), ValueError, "margin"),
        (lambda: PairwiseAUC(margin=-1), ValueError, "margin"),
        (lambda: PairwiseAUC(margin=float("nan")), ValueError, "margin"),
        (lambda: PairwiseAUC(margin=float("inf")), ValueError, "margin"),
        (lambda: PairwiseAUC(margin="1"), TypeError, "margin"),
        (lambda: PairwiseAUC(from_logits=None), TypeError, "from_logits"),
        (lambda: PairwiseAUC(epsilon=0.5), ValueError, "epsilon"),
        (lambda: PairwiseAUC(epsilon=0.0), ValueError, "epsilon"),
        (lambda: PairwiseAUC(epsilon=[0.1]), TypeError, "epsilon"),
        (lambda: soft_f1(Y, Z, from_logits="no"), TypeError, "from_logits"),
        (lambda: soft_f1(Y, Z, epsilon=0), ValueError, "epsilon"),
    ],
)
def test_bad_arguments_raise_naming_the_argument(make, error, name):
    with pytest.raises(error, match=f"argument `{name}`"):
        make()


def test_public_names():
    assert set(keras_backdrop.losses.__all__) == {
        "AUC_SURROGATES",
        "PairwiseAUC",
        "SoftF1",
        "soft_f1",
    }
