"""`insert_masks` on every backend: same forward, gradient masked per cell."""

import keras
import numpy as np
from spec_helpers import input_gradient, nonzero_upstream

from keras_backdrop import cell_sizes, insert_masks

L = keras.layers


def _model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1))
    a = L.Conv2D(2, 2, strides=2, name="a")(inputs)
    b = L.Conv2D(2, 3, padding="same", name="b")(a)
    x = L.Add(name="add")([a, b])
    x = L.Conv2D(2, 2, strides=2, name="c")(x)
    return keras.Model(inputs, x)


def test_cell_sizes_and_placement():
    model = _model()
    # b: 3x3 on cells 2 px apart seeing 2 px: 2 + 2*2 = 6; c: 6 + 1*2.
    assert {
        n: (c.stride[0], c.receptive_field[0]) for n, c in cell_sizes(model).items()
    } == {
        "a": (2, 2),
        "b": (2, 6),
        "add": (2, 6),
        "c": (4, 8),
    }
    masked = insert_masks(model, [2, 4], mask_prob=0.5)
    names = [layer.name for layer in masked.layers]
    assert names.index("backdrop_after_add") == names.index("add") + 1
    assert names.index("backdrop_after_c") == names.index("c") + 1


def test_forward_bit_identical_and_gradient_in_one_cell():
    model = _model()
    masked = insert_masks(model, [2], mask_prob=0.5, seed=3)
    x = np.random.default_rng(1).standard_normal((2, 8, 8, 1)).astype("float32")
    upstream = nonzero_upstream((2, 2, 2, 2), 2)
    y0, g0 = input_gradient(model, x, upstream)
    assert np.all(g0 != 0)
    masked.get_layer("backdrop_after_add").pinned_index = (1, 0, 3)
    y, g = input_gradient(masked, x, upstream)
    np.testing.assert_array_equal(y, y0)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(masked(x, training=False)), y0
    )
    # Cell (0, 3) of sample 1 on the 2 px grid of `add` gets the gradient;
    # through b's 3x3 kernel it reaches cells rows 0-1, columns 2-3 of a,
    # i.e. input rows 0-3, columns 4-7, and nothing else.
    expected = np.zeros(g.shape, bool)
    expected[1, 0:4, 4:8, :] = True
    np.testing.assert_array_equal(g != 0, expected)
