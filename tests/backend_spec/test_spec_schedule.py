"""`mask_prob` as state: changed during a compiled `fit`, by hand or scheduled.

The probe model of test_spec_fit.py turns each training step's mask into
the weight update, so the number of surviving entries of every step is
read off the weights: `mask_prob` 0 keeps all 24 entries, 1 keeps exactly
one (the never-empty rule), and in between the count is binomial.
"""

import keras
import numpy as np
import pytest
from spec_helpers import assert_obeys_rules
from test_spec_fit import BATCH, JIT_CASES, N_FEATURES, fit_masks, probe_model

from keras_backdrop import BackdropMasking
from keras_backdrop.callbacks import LinearWarmup, MaskProbScheduler


def survivors(masks):
    return [int(np.count_nonzero(assert_obeys_rules(m))) for m in masks]


def fit_with(model, steps, epochs, callbacks):
    x = np.ones((steps * BATCH, N_FEATURES), np.float32)
    history = model.fit(
        x,
        np.zeros((steps * BATCH, 1), np.float32),
        batch_size=BATCH,
        epochs=epochs,
        shuffle=False,
        verbose=0,
        callbacks=callbacks,
    )
    return history


class StepWeights(keras.callbacks.Callback):
    """The scale weights before training and after every batch, all epochs."""

    def on_train_begin(self, logs=None):
        self.weights = [self.model.get_layer("scale").get_weights()[0].copy()]

    def on_train_batch_end(self, batch, logs=None):
        self.weights.append(self.model.get_layer("scale").get_weights()[0].copy())

    def masks(self, lr):
        w = np.asarray(self.weights, np.float64)
        return (w[:-1] - w[1:]) / lr


@pytest.mark.parametrize("jit_compile", JIT_CASES)
def test_mask_prob_set_by_hand_reaches_the_compiled_step(jit_compile):
    model = probe_model(jit_compile, mask_prob=0.0, seed=4)
    assert survivors(fit_masks(model, steps=2)) == [N_FEATURES] * 2
    train_function = model.train_function
    model.get_layer("mask").mask_prob = 1.0
    assert survivors(fit_masks(model, steps=2)) == [1, 1]
    model.get_layer("mask").mask_prob = 0.0
    assert survivors(fit_masks(model, steps=1)) == [N_FEATURES]
    # Not retraced: the same compiled function read the new values.
    assert model.train_function is train_function


@pytest.mark.parametrize("jit_compile", JIT_CASES)
def test_a_per_step_schedule_sets_every_steps_mask_prob(jit_compile):
    model = probe_model(jit_compile, mask_prob=0.5, seed=5)
    steps = 6
    recorder = StepWeights()
    scheduler = MaskProbScheduler(lambda step: float(step % 2), unit="step")
    history = fit_with(model, steps, epochs=2, callbacks=[scheduler, recorder])
    lr = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    # Global steps 0..11 across the two epochs: p = 0, 1, 0, 1, ...
    assert survivors(recorder.masks(lr)) == [N_FEATURES, 1] * steps
    # The last step's value is what the epoch's logs report.
    assert history.history["mask_mask_prob"] == [1.0, 1.0]
    # A second fit continues from the optimizer's step count (12: p = 0).
    recorder = StepWeights()
    fit_with(model, 2, epochs=1, callbacks=[scheduler, recorder])
    assert survivors(recorder.masks(lr)) == [N_FEATURES, 1]


@pytest.mark.parametrize("jit_compile", JIT_CASES)
def test_a_linear_warmup_per_epoch_is_followed_by_the_surviving_fraction(
    jit_compile,
):
    model = probe_model(jit_compile, mask_prob=0.9, seed=6)
    steps = 40
    recorder = StepWeights()
    warmup = MaskProbScheduler({"mask": LinearWarmup(0.75, duration=3)})
    history = fit_with(model, steps, epochs=4, callbacks=[warmup, recorder])
    lr = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    counts = np.reshape(survivors(recorder.masks(lr)), (4, steps))
    assert history.history["mask_mask_prob"] == pytest.approx([0.0, 0.25, 0.5, 0.75])
    # Epoch 0 (p = 0) keeps everything; the others are binomial draws of
    # 40 x 24 = 960 entries: each epoch's total within 5 standard deviations
    # of 960 (1 - p) (the never-empty rule adds < 1e-3 expected entries).
    assert counts[0].tolist() == [N_FEATURES] * steps
    for epoch, p in ((1, 0.25), (2, 0.5), (3, 0.75)):
        n = steps * N_FEATURES
        expected, sd = n * (1 - p), np.sqrt(n * p * (1 - p))
        assert abs(counts[epoch].sum() - expected) < 5 * sd, (epoch, counts[epoch])
    assert model.get_layer("mask").mask_prob == pytest.approx(0.75)


def test_mask_prob_is_saved_with_the_model_and_checked_when_loaded(tmp_path):
    model = keras.Sequential(
        [
            keras.Input((5,)),
            BackdropMasking(mask_prob=0.2, mask_axes=(1,), name="bd"),
            keras.layers.Dense(1),
        ]
    )
    model.get_layer("bd").mask_prob = 0.65
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path).get_layer("bd")
    assert loaded.mask_prob == pytest.approx(0.65)
    assert loaded.get_config()["mask_prob"] == pytest.approx(0.65)
    # A weights file with a bad value is refused when written, naming it.
    weights = tmp_path / "bad.weights.h5"
    model.get_layer("bd").set_weights([np.array([-1], np.int32), np.float32(0.5)])
    model.save_weights(weights)
    bad = model.get_layer("bd")
    with pytest.raises(ValueError, match=r"mask_prob=1\.5"):
        bad.set_weights([np.array([-1], np.int32), np.float32(1.5)])
    assert bad.mask_prob == pytest.approx(0.5)


@pytest.mark.parametrize("value", [7.0, -0.1, float("nan")])
def test_a_bad_mask_prob_is_refused_when_written_not_at_the_next_step(value):
    model = probe_model(False, mask_prob=0.5, seed=7)
    layer = model.get_layer("mask")
    with pytest.raises(ValueError, match="mask_prob"):
        layer.mask_prob = value
    assert layer.mask_prob == 0.5
    masks = fit_masks(model, steps=1)
    assert np.all(np.isfinite(masks))


def test_keep_count_is_fixed_once_built_and_mask_prob_cannot_be_set_on_it():
    layer = BackdropMasking(keep_count=2, mask_axes=(1,))
    layer.build((None, 6))
    with pytest.raises(ValueError, match="keep_count"):
        layer.keep_count = 3
    with pytest.raises(ValueError, match="fixed at construction"):
        layer.mask_prob = 0.5
    assert layer.keep_count == 2 and layer.mask_prob is None
