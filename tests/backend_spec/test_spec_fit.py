"""Masks inside Keras `fit`, read off the weight updates.

The probe model is x -> x * w (a trainable per-feature scale, w = 1) ->
BackdropMasking(mask_axes=(1,)) -> sum over features (fixed ones kernel),
trained with plain SGD on the mean of its output over the batch, with a
batch of ones. The loss's gradient reaching the mask is 1/B per sample,
so dL/dw_i = mask_i exactly and each SGD step moves w by -lr * mask: the
weight deltas are the masks of the successive training steps.
"""

import keras
import numpy as np
import pytest
from keras import ops
from spec_helpers import BACKEND, assert_obeys_rules

from keras_backdrop import BackdropMasking

N_FEATURES = 24
BATCH = 4
LR = 2.0**-6  # a power of two: the step adds no rounding of its own

JIT_CASES = [
    False,
    pytest.param(
        True,
        marks=pytest.mark.skipif(
            BACKEND == "torch",
            reason=(
                "jit_compile=True means torch.compile on PyTorch: 20 to 30 s "
                "for the first compiled fit on this CPU (run "
                "tests/backend_spec/test_spec_fit.py -m slow for it)"
            ),
        ),
    ),
]


@keras.saving.register_keras_serializable(package="backend_spec")
class Scale(keras.layers.Layer):
    """x * w elementwise along the last axis, w trainable, initialised to 1."""

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="w")

    def call(self, x):
        return x * self.w


def mean_output(y_true, y_pred):
    # y_true is ignored: the loss is the model's output, so its gradient
    # is known exactly.
    del y_true
    return ops.mean(y_pred, axis=-1)


def probe_model(jit_compile, **mask_kwargs):
    model = keras.Sequential(
        [
            keras.Input((N_FEATURES,)),
            Scale(name="scale"),
            BackdropMasking(mask_axes=(1,), name="mask", **mask_kwargs),
            keras.layers.Dense(
                1, use_bias=False, kernel_initializer="ones", trainable=False
            ),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(LR),
        loss=mean_output,
        jit_compile=jit_compile,
        steps_per_execution=1,
    )
    return model


class WeightRecorder(keras.callbacks.Callback):
    """The scale weights before training and after every batch."""

    def on_train_begin(self, logs=None):
        # Through self.model: on JAX that syncs the variables from the
        # trainer's state (a direct layer reference would see stale values).
        self.weights = [self.model.get_layer("scale").get_weights()[0].copy()]

    def on_train_batch_end(self, batch, logs=None):
        self.weights.append(self.model.get_layer("scale").get_weights()[0].copy())


def fit_masks(model, steps):
    """The masks of `steps` consecutive training steps of one `fit`."""
    x = np.ones((steps * BATCH, N_FEATURES), np.float32)
    recorder = WeightRecorder()
    model.fit(
        x,
        np.zeros((steps * BATCH, 1), np.float32),
        batch_size=BATCH,
        epochs=1,
        shuffle=False,
        verbose=0,
        callbacks=[recorder],
    )
    w = np.asarray(recorder.weights, np.float64)
    assert w.shape == (steps + 1, N_FEATURES)
    return (w[:-1] - w[1:]) / LR


@pytest.mark.parametrize("jit_compile", JIT_CASES)
@pytest.mark.parametrize(
    "mask_kwargs",
    [
        {"mask_prob": 0.5, "seed": 1},
        {"keep_count": 5, "normalize": "expected", "seed": 2},
        # Unseeded: at 0.5 on 24 entries two equal patterns are a 6e-8 event.
        {"mask_prob": 0.5, "normalize": None},
    ],
)
def test_each_training_step_draws_a_fresh_mask_by_the_rules(jit_compile, mask_kwargs):
    model = probe_model(jit_compile, **mask_kwargs)
    masks = fit_masks(model, steps=4)
    rules = {k: v for k, v in mask_kwargs.items() if k != "seed"}
    patterns = [assert_obeys_rules(m, **rules) for m in masks]
    # Rule 8: a new mask at every step (24 entries: two equal random
    # patterns in a row are a ~1e-5 event, and seeded runs are fixed).
    for a, b in zip(patterns, patterns[1:]):
        assert not np.array_equal(a, b)
    # A second fit continues the sequence rather than restarting it.
    more = [assert_obeys_rules(m, **rules) for m in fit_masks(model, steps=2)]
    assert not any(np.array_equal(more[0], p) for p in patterns)


@pytest.mark.parametrize("jit_compile", JIT_CASES)
def test_pinned_index_reaches_an_already_compiled_fit(jit_compile):
    model = probe_model(jit_compile, mask_prob=0.5, seed=3)
    random_masks = fit_masks(model, steps=1)
    assert assert_obeys_rules(random_masks[0]).sum() > 1
    train_function = model.train_function
    # Through the model: the layer the compiled step closes over.
    model.get_layer("mask").pinned_index = (17,)
    pinned = fit_masks(model, steps=2)
    expected = np.zeros(N_FEATURES)
    expected[17] = N_FEATURES
    for mask in pinned:
        np.testing.assert_allclose(mask, expected, rtol=1e-5, atol=1e-5)
    # Re-pinning elsewhere, and clearing, reach the same compiled step too.
    model.get_layer("mask").pinned_index = 3
    np.testing.assert_allclose(
        fit_masks(model, steps=1)[0], np.roll(expected, 3 - 17), rtol=1e-5, atol=1e-5
    )
    model.get_layer("mask").pinned_index = None
    cleared = fit_masks(model, steps=2)
    for mask in cleared:
        # Back to random masks: more than one survivor, by the rules.
        assert assert_obeys_rules(mask).sum() > 1
    assert model.train_function is train_function


@pytest.mark.slow
@pytest.mark.skipif(BACKEND != "torch", reason="the torch.compile case only")
def test_torch_compile_fit_draws_fresh_masks():
    model = probe_model(True, mask_prob=0.5, seed=1)
    patterns = [assert_obeys_rules(m) for m in fit_masks(model, steps=3)]
    for a, b in zip(patterns, patterns[1:]):
        assert not np.array_equal(a, b)
    model.get_layer("mask").pinned_index = (17,)
    mask = fit_masks(model, steps=1)[0]
    assert np.count_nonzero(mask) == 1 and mask[17] == pytest.approx(
        N_FEATURES, rel=1e-5
    )


@pytest.mark.slow
@pytest.mark.skipif(BACKEND != "torch", reason="the torch.compile case only")
def test_torch_compile_masks_add_no_graph_break():
    # The seed's step and the mask are torch ops, so the compiled training
    # step has as many graphs with the mask as without it.
    import torch._dynamo

    def breaks(masks):
        torch._dynamo.reset()
        torch._dynamo.utils.counters.clear()
        layers = [keras.Input((N_FEATURES,)), keras.layers.Dense(N_FEATURES)]
        if masks:
            layers.append(BackdropMasking(mask_prob=0.5, mask_axes=(1,), seed=2))
        model = keras.Sequential([*layers, keras.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse", jit_compile=True)
        x = np.ones((BATCH, N_FEATURES), np.float32)
        model.fit(x, np.zeros((BATCH, 1), np.float32), epochs=2, verbose=0)
        return sum(torch._dynamo.utils.counters["graph_break"].values())

    assert breaks(masks=True) == breaks(masks=False)
