"""Bad arguments are refused with a message naming the argument and value."""

import math

import numpy as np
import pytest
import tensorflow as tf

from keras_backdrop import BackdropMasking, draw_mask


@pytest.mark.parametrize(
    "kwargs, error, pattern",
    [
        ({"mask_prob": 1.5}, ValueError, r"`mask_prob`.*Received: mask_prob=1\.5"),
        ({"mask_prob": -0.1}, ValueError, r"`mask_prob`.*Received: mask_prob=-0\.1"),
        ({"mask_prob": math.nan}, ValueError, r"`mask_prob`.*Received: mask_prob=nan"),
        ({"mask_prob": "0.5"}, TypeError, r"`mask_prob`.*Received: mask_prob='0\.5'"),
        ({"mask_prob": True}, TypeError, r"`mask_prob`.*Received: mask_prob=True"),
        (
            {},
            ValueError,
            r"Exactly one of `mask_prob` and `keep_count`"
            r".*mask_prob=None, keep_count=None",
        ),
        (
            {"mask_prob": 0.5, "keep_count": 2},
            ValueError,
            r"Exactly one.*mask_prob=0\.5, keep_count=2",
        ),
        ({"keep_count": 0}, ValueError, r"`keep_count`.*Received: keep_count=0"),
        ({"keep_count": 2.0}, TypeError, r"`keep_count`.*Received: keep_count=2\.0"),
        (
            {"mask_prob": 0.5, "normalize": "sum"},
            ValueError,
            r"`normalize`.*Received: normalize='sum'",
        ),
        (
            {"mask_prob": 1.0, "normalize": "expected"},
            ValueError,
            r"mask_prob=1\.0, normalize='expected'",
        ),
        (
            {"mask_prob": 0.5, "mask_axes": (1, 1)},
            ValueError,
            r"`mask_axes`.*distinct.*Received: mask_axes=\(1, 1\)",
        ),
        (
            {"mask_prob": 0.5, "mask_axes": (1, 2.0)},
            TypeError,
            r"`mask_axes`.*Received: mask_axes=\(1, 2\.0\)",
        ),
        (
            {"mask_prob": 0.5, "mask_axes": "12"},
            TypeError,
            r"`mask_axes`.*Received: mask_axes='12'",
        ),
        (
            {"mask_prob": 0.5, "mask_axes": ()},
            TypeError,
            r"`mask_axes`.*Received: mask_axes=\(\)",
        ),
        ({"mask_prob": 0.5, "seed": 1.5}, TypeError, r"`seed`.*Received: seed=1\.5"),
        (
            {"mask_prob": 0.5, "pinned_index": -1},
            ValueError,
            r"`pinned_index`.*Received: pinned_index=\(-1,\)",
        ),
        (
            {"mask_prob": 0.5, "pinned_index": "a"},
            TypeError,
            r"`pinned_index`.*Received: pinned_index=\('a',\)",
        ),
        (
            {"mask_prob": 0.5, "mask_axes": (1, 2), "pinned_index": 3},
            ValueError,
            r"one index per masked axis.*pinned_index=\(3,\)",
        ),
    ],
)
def test_construction_refuses(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        BackdropMasking(**kwargs)


def test_draw_mask_refuses_the_same_arguments():
    with pytest.raises(ValueError, match=r"Received: mask_prob=2"):
        draw_mask([3], mask_prob=2)


@pytest.mark.parametrize("axes", [(4,), (-5,), (1, -3)])
def test_axes_out_of_range_or_aliased_fail_at_build(axes):
    layer = BackdropMasking(mask_prob=0.5, mask_axes=axes)
    with pytest.raises(ValueError, match=r"`mask_axes`.*rank 4"):
        layer(tf.ones([1, 2, 3, 4]))


def test_pinned_index_outside_the_mask_fails_at_build_and_on_set():
    layer = BackdropMasking(mask_prob=0.5, mask_axes=(1, 2), pinned_index=(0, 3))
    with pytest.raises(ValueError, match=r"has shape \(2, 3\).*pinned_index=\(0, 3\)"):
        layer(tf.ones([1, 2, 3, 1]))
    built = BackdropMasking(mask_prob=0.5, mask_axes=(1, 2))
    built(tf.ones([1, 2, 3, 1]))
    with pytest.raises(ValueError, match=r"pinned_index=\(2, 0\)"):
        built.pinned_index = (2, 0)
    with pytest.raises(ValueError, match=r"one index per masked axis"):
        built.pinned_index = 1
    # A refused value leaves the previous one in place.
    assert built.pinned_index is None


def test_pinned_index_outside_a_dynamic_axis_fails_at_call():
    layer = BackdropMasking(mask_prob=0.5, mask_axes=(0,), pinned_index=4)
    layer.build((None, 2))
    # Eagerly the batch size is known when the layer is called.
    with pytest.raises(ValueError, match="pinned_index"):
        layer(tf.ones([3, 2]), training=True)
    # In a graph traced for any batch size, the graph checks it.
    graph_call = tf.function(
        lambda x: layer(x, training=True),
        input_signature=[tf.TensorSpec([None, 2])],
    )
    with pytest.raises(tf.errors.InvalidArgumentError, match="pinned_index"):
        graph_call(tf.ones([3, 2]))
    # Inside the batch it is fine.
    out = layer(tf.ones([5, 2]), training=True)
    np.testing.assert_array_equal(out.numpy(), np.ones([5, 2]))


def test_pin_written_inside_a_traced_function_is_checked_in_that_graph():
    layer = BackdropMasking(mask_prob=0.5, mask_axes=(1, 2), name="traced_pin")
    layer.build((None, 4, 4, 1))
    write = tf.function(lambda index: layer._pinned_var.assign(index))
    write(tf.constant([3, 2]))
    assert layer.pinned_index == (3, 2)
    with pytest.raises(tf.errors.InvalidArgumentError, match="traced_pin"):
        write(tf.constant([4, 0]))
    assert layer.pinned_index == (3, 2)


def _graph_op_types(fn, *args) -> set[str]:
    graph = fn.get_concrete_function(*args).graph
    return {op.type for op in graph.get_operations()}


def test_training_step_on_the_built_shape_has_no_pin_check():
    # Every write of the pin was checked (the variable's assign), so a step
    # on the shape the layer was built for carries no assertion; on another
    # spatial size (a fully convolutional use) the graph checks the pin.
    layer = BackdropMasking(mask_prob=0.5, mask_axes=(1, 2), pinned_index=(1, 1))
    layer.build((None, 4, 4, 1))

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
        return tape.gradient(y, x)

    assert "Assert" not in _graph_op_types(step, tf.ones([2, 4, 4, 1]))
    assert "Assert" in _graph_op_types(step, tf.ones([2, 3, 3, 1]))
