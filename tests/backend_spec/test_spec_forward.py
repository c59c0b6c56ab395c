"""Rule 1: the output equals the input exactly, in training and inference."""

import keras
import numpy as np
import pytest
from keras import ops
from spec_helpers import input_gradient

from keras_backdrop import BackdropMasking


def special_input():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 5, 7, 2)).astype(np.float32)
    x[0, 0, 0, 0] = np.inf
    x[0, 0, 0, 1] = -np.inf
    x[1, 1, 1, 1] = -0.0  # equal to 0.0 but not the same bits
    x[2, 2, 2, 0] = np.float32(1e-42)  # a subnormal, flushed by some kernels
    return x


@pytest.mark.parametrize("training", [True, False, None])
def test_forward_is_identity_bit_for_bit(training):
    x = special_input()
    layer = BackdropMasking(mask_prob=0.7, seed=3)
    y = ops.convert_to_numpy(layer(ops.convert_to_tensor(x), training=training))
    assert y.dtype == np.float32
    assert y.shape == x.shape
    assert y.tobytes() == x.tobytes()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"mask_prob": 0.5, "mask_axes": (1, 2)},
        {"keep_count": 1, "mask_axes": (0,)},
        {"mask_prob": 1.0, "normalize": None},
    ],
)
def test_forward_is_identity_while_the_gradient_is_masked(kwargs):
    # The forward value seen inside a differentiated computation (the
    # stateless route on JAX) is the input too.
    x = special_input()
    layer = BackdropMasking(seed=4, **kwargs)
    y, grad = input_gradient(layer, x, np.ones_like(x))
    assert y.tobytes() == x.tobytes()
    # The same call did mask the gradient: this is not an untouched path.
    assert np.any(grad == 0.0)


def test_inference_gradient_is_unmasked():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 5, 3)).astype(np.float32)
    upstream = rng.uniform(0.5, 1.5, x.shape).astype(np.float32)
    # A pinned index would zero almost everything if a mask were applied.
    layer = BackdropMasking(mask_prob=0.9, pinned_index=(0, 0))
    for training in (False, None):
        _, grad = input_gradient(layer, x, upstream, training=training)
        np.testing.assert_array_equal(grad, upstream)


def test_model_predict_is_identity():
    x = special_input()
    model = keras.Sequential(
        [keras.Input(x.shape[1:]), BackdropMasking(mask_prob=0.5, mask_axes=(1, 2))]
    )
    y = model.predict(x, verbose=0)
    assert y.tobytes() == x.tobytes()
