"""Edge inputs: each gets a named error or a defined result, on every backend.

NumPy scalars as arguments, every floating dtype, integer inputs, rank 0,
empty batches, a built layer called on another rank, non-finite upstream
gradients, the pinned index as state, and the functions' own refusals.
"""

import json

import keras
import numpy as np
import pytest
from keras import ops
from spec_helpers import BACKEND, assert_obeys_rules, input_gradient, nonzero_upstream

from keras_backdrop import BackdropMasking, draw_mask, mask_gradient

# JAX computes in float32 unless x64 is switched on for the whole process.
FLOAT_DTYPES = ["float16", "bfloat16"] + ([] if BACKEND == "jax" else ["float64"])


def _array(shape, dtype, seed=0):
    data = np.random.default_rng(seed).standard_normal(shape)
    if dtype == "bfloat16":
        import ml_dtypes

        return data.astype(ml_dtypes.bfloat16)
    return data.astype(dtype)


def _run_error():
    """What a failed run-time check raises: on TensorFlow an in-graph
    assertion, elsewhere a Python check when the layer is traced."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        return (tf.errors.InvalidArgumentError, ValueError)
    return ValueError


def test_numpy_scalars_are_accepted_and_configs_stay_plain_python():
    layer = BackdropMasking(
        mask_prob=np.float32(0.25), seed=np.int64(5), mask_axes=np.int64(1)
    )
    other = BackdropMasking(keep_count=np.int64(2), mask_axes=(np.int32(0),))
    assert layer.mask_prob == 0.25 and layer.seed == 5 and other.keep_count == 2
    json.dumps(layer.get_config())  # NumPy scalars would not serialise
    json.dumps(other.get_config())
    mask = ops.convert_to_numpy(
        draw_mask((4, 6), keep_count=np.int64(3), seed=np.int64(1))
    )
    assert_obeys_rules(mask, keep_count=3)


@pytest.mark.parametrize("keep_count", [2**31, 2**40])
def test_keep_count_past_the_index_type_is_refused(keep_count):
    with pytest.raises(ValueError, match=rf"`keep_count`.*{keep_count}"):
        BackdropMasking(keep_count=keep_count)


def test_seeds_differing_only_in_high_bits_give_different_masks():
    shape = (64,)
    seeds = [7, 7 + 2**32, 7 + 2**40, -7, 2**64 + 7]
    masks = [
        ops.convert_to_numpy(draw_mask(shape, mask_prob=0.5, seed=s)) for s in seeds
    ]
    patterns = {tuple(m != 0) for m in masks}
    assert len(patterns) == len(seeds)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_forward_keeps_every_floating_dtype_bit_for_bit(dtype):
    x = _array((2, 3, 4, 2), dtype)
    x.flat[0] = np.inf
    layer = BackdropMasking(mask_prob=0.5, mask_axes=(1, 2), pinned_index=(1, 2))
    upstream = np.ones(x.shape, x.dtype)
    y, grad = input_gradient(layer, x, upstream)
    assert y.dtype == x.dtype and grad.dtype == x.dtype
    assert y.tobytes() == x.tobytes()
    expected = np.zeros(x.shape, np.float64)
    expected[:, 1, 2, :] = 12.0  # one survivor of 3*4, rescaled to sum to 12
    np.testing.assert_array_equal(grad.astype(np.float64), expected)


@pytest.mark.parametrize("training", [True, False])
def test_integer_inputs_pass_through_unchanged(training):
    x = np.arange(24, dtype=np.int32).reshape(2, 3, 4)
    y = ops.convert_to_numpy(BackdropMasking(mask_prob=0.5)(x, training=training))
    assert y.dtype == np.int32
    np.testing.assert_array_equal(y, x)


def test_rank_zero_input_is_refused_naming_the_layer():
    layer = BackdropMasking(mask_prob=0.5, name="scalar_mask")
    with pytest.raises(ValueError, match=r"scalar_mask.*rank >= 1"):
        layer(np.float32(1.0), training=True)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"mask_prob": 0.5},
        {"mask_prob": 0.5, "mask_axes": (0,)},
        {"mask_prob": 0.5, "mask_axes": (1, 2)},
        {"keep_count": 2, "mask_axes": (0,)},
        {"keep_count": 2, "mask_axes": (0, 1)},
    ],
)
def test_empty_batch_gives_an_empty_gradient(kwargs):
    x = np.zeros((0, 4, 4, 2), np.float32)
    layer = BackdropMasking(**kwargs)
    y, grad = input_gradient(layer, x, np.ones(x.shape, np.float32))
    assert y.shape == x.shape and grad.shape == x.shape


def test_built_layer_refuses_an_input_of_another_rank():
    layer = BackdropMasking(mask_prob=0.5, name="rank_four")
    layer(np.zeros((2, 4, 4, 1), np.float32), training=True)
    with pytest.raises(ValueError, match=r"rank_four.*ndim=4"):
        layer(np.zeros((2, 4, 4), np.float32), training=True)


def test_blocked_entries_pass_exactly_zero_even_from_nan_and_inf():
    x = np.ones((3, 4, 5, 1), np.float32)
    upstream = np.full(x.shape, np.nan, np.float32)
    upstream[:, ::2] = np.inf
    layer = BackdropMasking(mask_prob=0.5, mask_axes=(1, 2), pinned_index=(1, 3))
    _, grad = input_gradient(layer, x, upstream)
    blocked = np.ones(x.shape, bool)
    blocked[:, 1, 3, :] = False
    assert np.all(grad[blocked] == 0.0)  # not NaN: a blocked path carries nothing
    assert np.all(np.isnan(grad[~blocked]))  # the surviving entry passes NaN on
    # The same for random masks: zero wherever the mask is zero.
    layer = BackdropMasking(mask_prob=0.7, mask_axes=(1, 2), seed=3)
    _, grad = input_gradient(layer, x, np.full(x.shape, np.nan, np.float32))
    assert np.any(grad == 0.0) and np.all((grad == 0.0) | np.isnan(grad))


def _pinned_model(pin):
    return keras.Sequential(
        [
            keras.Input((6, 6, 1)),
            BackdropMasking(
                mask_prob=0.5, mask_axes=(1, 2), pinned_index=pin, name="bd"
            ),
        ]
    )


def _pin_through_set_weights(pin):
    """The 6x6 layer of `_pinned_model`, its pin written by `set_weights`."""
    model = _pinned_model(None)
    weights = model.get_weights()
    weights[0] = np.asarray(pin, np.int32)
    model.set_weights(weights)
    return model.get_layer("bd")


def test_pinned_index_reports_what_set_weights_wrote():
    model = _pinned_model(None)
    model.set_weights(_pinned_model((4, 1)).get_weights())
    assert model.get_layer("bd").pinned_index == (4, 1)
    model.set_weights(_pinned_model(None).get_weights())
    assert model.get_layer("bd").pinned_index is None


def test_pinned_index_reports_what_load_weights_read(tmp_path):
    path = str(tmp_path / "pinned.weights.h5")
    _pinned_model((2, 5)).save_weights(path)
    model = _pinned_model(None)
    model.load_weights(path)
    assert model.get_layer("bd").pinned_index == (2, 5)
    # And the gradient follows it.
    x = np.ones((1, 6, 6, 1), np.float32)
    upstream = nonzero_upstream(x.shape, 1)
    _, grad = input_gradient(model.get_layer("bd"), x, upstream)
    expected = np.zeros_like(upstream)
    expected[:, 2, 5, :] = upstream[:, 2, 5, :] * 36
    np.testing.assert_allclose(grad, expected, rtol=1e-6)


def test_pin_outside_a_smaller_input_raises_naming_the_layer():
    # A fully convolutional use: built on 6x6, then given 3x3.
    layer = BackdropMasking(
        mask_prob=0.5, mask_axes=(1, 2), pinned_index=(4, 4), name="fcn"
    )
    input_gradient(
        layer, np.ones((1, 6, 6, 1), np.float32), np.ones((1, 6, 6, 1), np.float32)
    )
    small = np.ones((1, 3, 3, 1), np.float32)
    with pytest.raises(_run_error(), match="fcn"):
        input_gradient(layer, small, small)


def test_pin_from_set_weights_outside_a_smaller_input_raises_naming_the_layer():
    # The pin fits the 6x6 mask the layer was built for, arrives through
    # set_weights (not the attribute), and does not fit a 3x3 input.
    layer = _pin_through_set_weights((4, 4))
    small = np.ones((1, 3, 3, 1), np.float32)
    with pytest.raises(_run_error(), match="bd"):
        input_gradient(layer, small, small)


def test_pin_on_the_batch_axis_past_a_smaller_batch_raises_naming_the_layer():
    layer = BackdropMasking(
        keep_count=1, mask_axes=(0,), pinned_index=5, name="per_sample"
    )
    x = np.ones((3, 2), np.float32)
    with pytest.raises(_run_error(), match="per_sample"):
        input_gradient(layer, x, x)


def test_draw_mask_refuses_a_pinned_index_outside_the_mask():
    with pytest.raises(ValueError, match=r"`pinned_flat_index`.*12"):
        draw_mask((3, 4), mask_prob=0.5, pinned_flat_index=12)
    mask = ops.convert_to_numpy(draw_mask((3, 4), mask_prob=0.5, pinned_flat_index=11))
    assert mask.ravel()[11] == 12.0 and np.count_nonzero(mask) == 1


@pytest.mark.parametrize("shape", [(0,), (0, 5), (3, 0)])
@pytest.mark.parametrize("kwargs", [{"mask_prob": 0.5}, {"keep_count": 1}])
def test_draw_mask_of_an_empty_shape_is_empty(shape, kwargs):
    mask = ops.convert_to_numpy(draw_mask(shape, seed=1, **kwargs))
    assert mask.shape == shape and mask.dtype == np.float32


@pytest.mark.parametrize("mask_shape", [(3, 3), (2, 3, 1), (4,)])
def test_mask_gradient_refuses_a_mask_that_would_change_the_shape(mask_shape):
    x = ops.convert_to_tensor(np.ones((2, 3), np.float32))
    mask = ops.convert_to_tensor(np.ones(mask_shape, np.float32))
    with pytest.raises(ValueError, match=r"`mask`.*\(2, 3\)"):
        mask_gradient(x, mask)


def test_pin_written_outside_the_mask_by_set_weights_is_refused_at_once():
    # set_weights (of a model) writes the variable directly, bypassing the
    # attribute's checks; the variable checks every value written, so a
    # compiled step never meets a pin that does not fit.
    model = keras.Sequential(
        [
            keras.Input((6, 6, 1)),
            keras.layers.Conv2D(2, 1),
            BackdropMasking(mask_prob=0.5, mask_axes=(1, 2), name="late_pin"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(1),
        ]
    )
    model.compile(optimizer="sgd", loss="mse", jit_compile=False)
    x, y = np.ones((4, 6, 6, 1), np.float32), np.zeros((4, 1), np.float32)
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    layer = model.get_layer("late_pin")
    for bad in ([9, 0], [0, 6], [-1, 3], [-2, -2]):
        weights = [
            np.asarray(bad, np.int32) if w is layer._pinned_var else np.asarray(w)
            for w in model.weights
        ]
        with pytest.raises(ValueError, match=r"late_pin.*\(6, 6\)") as raised:
            model.set_weights(weights)
        assert f"pinned_index={tuple(bad)}" in str(raised.value)
        assert layer.pinned_index is None
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)  # still unpinned, runs


def test_pin_written_by_set_weights_inside_the_mask_takes_effect():
    layer = _pin_through_set_weights((5, 0))
    assert layer.pinned_index == (5, 0)
    x = np.ones((1, 6, 6, 1), np.float32)
    upstream = nonzero_upstream(x.shape, 2)
    _, grad = input_gradient(layer, x, upstream)
    expected = np.zeros_like(upstream)
    expected[:, 5, 0, :] = upstream[:, 5, 0, :] * 36
    np.testing.assert_allclose(grad, expected, rtol=1e-6)


def test_pin_in_a_weights_file_that_does_not_fit_is_refused(tmp_path):
    # A file saved from a model with a larger mask, loaded into a smaller one.
    path = str(tmp_path / "large.weights.h5")
    large = keras.Sequential(
        [
            keras.Input((12, 12, 1)),
            BackdropMasking(
                mask_prob=0.5, mask_axes=(1, 2), pinned_index=(9, 0), name="bd"
            ),
        ]
    )
    large.save_weights(path)
    small = _pinned_model(None)
    with pytest.raises(ValueError, match=r"'bd'.*pinned_index=\(9, 0\)"):
        small.load_weights(path)
    assert small.get_layer("bd").pinned_index is None


@pytest.mark.parametrize("keep_count", [1, 700, 2048, 4000])
def test_keep_count_selection_is_the_keep_count_smallest_uniforms(keep_count):
    # The scalable selection (threshold, then a correction within a window)
    # must pick exactly the keep_count smallest of the uniforms: the same
    # subset a full sort picks, whichever route the correction takes.
    from keras_backdrop.masks import backend_impl

    size = 4096
    for seed in range(3):
        uniform_np = np.random.default_rng(seed).random(size).astype(np.float32)
        expected = np.zeros(size, np.float32)
        expected[np.argsort(uniform_np, kind="stable")[:keep_count]] = 1.0
        uniform = ops.convert_to_tensor(uniform_np)
        for window in (None, 1, 64, size):
            keep = ops.convert_to_numpy(
                backend_impl().keep_exactly(uniform, keep_count, size, window=window)
            )
            np.testing.assert_array_equal(keep, expected, err_msg=f"window={window}")


def test_keep_count_over_a_large_mask_keeps_exactly_that_many_uniformly():
    shape, keep_count, draws = (64, 64), 2048, 40
    generator = keras.random.SeedGenerator(3)
    hits = np.zeros(shape)
    for _ in range(draws):
        mask = ops.convert_to_numpy(
            draw_mask(shape, keep_count=keep_count, seed=generator)
        )
        assert_obeys_rules(mask, keep_count=keep_count)
        hits += mask != 0
    # Each entry survives with probability 1/2 per draw: its count over 40
    # draws is Binomial(40, 0.5); no entry should be off by more than ~6 sd.
    assert np.abs(hits - draws / 2).max() <= 6 * np.sqrt(draws / 4)
    assert abs(hits.mean() - draws / 2) < 0.1
