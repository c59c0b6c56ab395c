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
        SoftF1(dtype="float16"),
        PairwiseAUC("sigmoid", dtype="bfloat16"),
    ],
    ids=["soft_f1", "soft_f1_args", "auc", "auc_args", "soft_f1_f16", "auc_bf16"],
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
        (lambda: SoftF1(dtype="int32"), TypeError, "dtype"),
        (lambda: PairwiseAUC(dtype="int32"), TypeError, "dtype"),
        (lambda: PairwiseAUC(dtype="bool"), TypeError, "dtype"),
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


def test_int32_dtype_is_refused_naming_the_value():
    with pytest.raises(TypeError, match="dtype='int32'"):
        SoftF1(dtype="int32")


P = np.array([0.5, 0.5, 0.75, 0.25], np.float32)
MISSHAPEN = [
    # (y_true, y_pred, sample_weight, argument, received shape)
    (Y, np.stack([P, P], axis=1), None, "y_pred", "(4, 2)"),
    (Y[:1, None].repeat(2, 1), P[:1, None], None, "y_true", "(1, 2)"),
    (Y[:3], P, None, "y_true", "(3,)"),
    (Y, P, np.ones(3, np.float32), "sample_weight", "(3,)"),
    (Y, P, np.ones((4, 2), np.float32), "sample_weight", "(4, 2)"),
    (Y.reshape(2, 2), P.reshape(2, 2), None, "y_pred", "(2, 2)"),
    (Y[0], P[0], None, "y_pred", "()"),
]


@pytest.mark.parametrize("y, p, w, name, shape", MISSHAPEN)
@pytest.mark.parametrize("loss", [SoftF1(), PairwiseAUC()], ids=["f1", "auc"])
def test_misshapen_inputs_are_refused_naming_argument_and_shape(
    loss, y, p, w, name, shape
):
    with pytest.raises(ValueError, match=f"argument `{name}`") as info:
        loss(y, p, sample_weight=w)
    assert f"{name}.shape={shape}" in str(info.value)
    assert "(batch,) or (batch, 1)" in str(info.value) or "one entry per" in str(
        info.value
    )


def test_function_form_refuses_misshapen_inputs():
    with pytest.raises(ValueError, match=r"`y_pred`.*\(4, 2\)"):
        soft_f1(Y, np.stack([P, P], axis=1))
    with pytest.raises(ValueError, match=r"`y_true`.*\(3,\)"):
        soft_f1(Y[:3], P)


BAD_VALUES = [
    # (y_true, y_pred, sample_weight, argument, quoted value)
    (np.array([1, -1, 1, -1], np.float32), P, None, "y_true", "-1.0"),
    (np.array([1, 0, 2, 0], np.float32), P, None, "y_true", "2.0"),
    (np.array([1, 0, np.nan, 0], np.float32), P, None, "y_true", "nan"),
    (Y, P, np.array([1, -1, 1, 1], np.float32), "sample_weight", "-1.0"),
    (Y, P, np.array([1, np.inf, 1, 1], np.float32), "sample_weight", "inf"),
    (Y, P, np.float32(-2.0), "sample_weight", "-2.0"),
    (Y, np.array([0.5, 1.5, 0.5, 0.5], np.float32), None, "y_pred", "1.5"),
    (Y, np.array([0.5, -0.1, 0.5, 0.5], np.float32), None, "y_pred", "-0.1"),
]


@pytest.mark.parametrize("y, p, w, name, shown", BAD_VALUES)
@pytest.mark.parametrize("loss", [SoftF1(), PairwiseAUC()], ids=["f1", "auc"])
def test_bad_values_are_refused_naming_argument_and_value(loss, y, p, w, name, shown):
    with pytest.raises(ValueError, match=f"argument `{name}`") as info:
        loss(y, p, sample_weight=w)
    assert shown in str(info.value)


def test_logits_may_leave_the_unit_interval_and_integer_labels_pass():
    # from_logits=True: no range on y_pred. Integer and bool labels are 0/1.
    assert float(SoftF1(from_logits=True)(Y.astype(np.int32), Z)) == pytest.approx(
        0.375, rel=1e-6
    )
    assert float(PairwiseAUC(from_logits=True)(Y.astype(bool), Z)) == pytest.approx(
        AUC_LOGISTIC, rel=1e-6
    )
    with pytest.raises(ValueError, match=r"argument `y_pred`.*from_logits=True"):
        soft_f1(Y, Z * 3)  # logits passed as probabilities
    with pytest.raises(TypeError, match="argument `y_pred`.*complex"):
        SoftF1()(Y, P.astype(np.complex64))


def test_graph_batch_mismatch_is_a_named_assertion():
    # A tf.function with unknown batch sizes: checked when it runs.
    if keras.backend.backend() != "tensorflow":
        pytest.skip("TensorFlow graph assertion")
    import tensorflow as tf

    spec = tf.TensorSpec((None,), tf.float32)
    loss = tf.function(PairwiseAUC(), input_signature=[spec, spec])
    assert float(loss(Y, P)) == pytest.approx(AUC_LOGISTIC, rel=1e-5)
    with pytest.raises(tf.errors.InvalidArgumentError, match="argument `y_true`"):
        loss(Y[:3], P)
