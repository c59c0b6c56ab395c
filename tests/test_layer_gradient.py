"""BackdropMasking against the specification: identity forward, masked backward.

Expected gradients are computed here from the reference rules (design page,
section 2), never from the layer's own output.
"""

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_backdrop import BackdropMasking, mask_gradient


def input_gradient(layer, x, upstream, training=True):
    """d(sum(layer(x) * upstream))/dx, so the upstream gradient is `upstream`."""
    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=training)
        loss = tf.reduce_sum(y * upstream)
    return y.numpy(), tape.gradient(loss, x).numpy()


def recovered_mask(grad, upstream):
    """The mask the gradient carries: grad / upstream (upstream has no zeros)."""
    return grad / upstream


@pytest.mark.parametrize("training", [True, False, None])
def test_forward_is_identity_bit_for_bit(training):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 5, 7, 2)).astype(np.float32)
    x[0, 0, 0, 0] = np.inf
    x[1, 1, 1, 1] = -0.0
    x[2, 2, 2, 0] = np.float32(1e-42)  # a subnormal
    layer = BackdropMasking(mask_prob=0.7, seed=3)
    y = layer(x, training=training).numpy()
    assert y.dtype == x.dtype
    assert y.tobytes() == x.tobytes()


def test_pinned_index_gradient_is_size_at_that_entry_broadcast():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 4, 6, 3)).astype(np.float32)
    upstream = rng.uniform(0.5, 1.5, x.shape).astype(np.float32)
    layer = BackdropMasking(mask_prob=0.5, mask_axes=(1, 2), pinned_index=(2, 5))
    _, grad = input_gradient(layer, x, upstream)
    expected = np.zeros_like(upstream)
    # One survivor out of 4*6 entries, rescaled to sum to 24; broadcast over
    # the batch and channel axes.
    expected[:, 2, 5, :] = upstream[:, 2, 5, :] * 24.0
    np.testing.assert_allclose(grad, expected, rtol=1e-6)


def test_pinned_index_with_negative_axes_and_batch_axis():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((5, 3)).astype(np.float32)
    upstream = rng.uniform(0.5, 1.5, x.shape).astype(np.float32)
    layer = BackdropMasking(keep_count=2, mask_axes=-2, pinned_index=3)
    _, grad = input_gradient(layer, x, upstream)
    expected = np.zeros_like(upstream)
    expected[3] = upstream[3] * 5.0
    np.testing.assert_allclose(grad, expected, rtol=1e-6)


@pytest.mark.parametrize(
    "normalize, mask_prob, scale",
    [
        ("count", 0.6, None),  # size / count, count read off the pattern
        ("expected", 0.6, 1.0 / 0.4),
        (None, 0.6, 1.0),
    ],
)
def test_seeded_random_mask_matches_the_rules(normalize, mask_prob, scale):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 8, 10, 4)).astype(np.float32)
    upstream = rng.uniform(0.5, 1.5, x.shape).astype(np.float32)
    layer = BackdropMasking(
        mask_prob=mask_prob, mask_axes=(1, 2), normalize=normalize, seed=11
    )
    _, grad = input_gradient(layer, x, upstream)
    mask = recovered_mask(grad, upstream)
    # Broadcast: the same mask for every sample and channel.
    for b in range(3):
        for c in range(4):
            np.testing.assert_allclose(mask[b, :, :, c], mask[0, :, :, 0], rtol=1e-6)
    pattern = mask[0, :, :, 0] != 0
    count = pattern.sum()
    assert 0 < count < 80
    if scale is None:
        scale = 80.0 / count
    np.testing.assert_allclose(mask[0, :, :, 0][pattern], scale, rtol=1e-6)
    if normalize == "count":
        np.testing.assert_allclose(mask[0, :, :, 0].sum(), 80.0, rtol=1e-5)


def test_default_axes_mask_per_sample_and_position_shared_over_channels():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((4, 6, 6, 5)).astype(np.float32)
    upstream = rng.uniform(0.5, 1.5, x.shape).astype(np.float32)
    layer = BackdropMasking(mask_prob=0.5, seed=5)
    _, grad = input_gradient(layer, x, upstream)
    mask = recovered_mask(grad, upstream)
    for c in range(5):
        np.testing.assert_allclose(mask[..., c], mask[..., 0], rtol=1e-6)
    patterns = mask[..., 0] != 0
    # Per sample: the samples' patterns are not all the same.
    assert any(not np.array_equal(patterns[0], patterns[b]) for b in range(1, 4))
    np.testing.assert_allclose(mask[..., 0].sum(), 4 * 6 * 6, rtol=1e-5)


def test_keep_count_expected_normalisation():
    x = np.ones((10, 2), np.float32)
    upstream = np.ones_like(x)
    layer = BackdropMasking(keep_count=4, mask_axes=(0,), normalize="expected", seed=0)
    _, grad = input_gradient(layer, x, upstream)
    rows = grad[:, 0]
    assert (rows != 0).sum() == 4
    np.testing.assert_allclose(rows[rows != 0], 10.0 / 4.0)


def test_masks_change_from_step_to_step():
    x = np.ones((1, 16, 16, 1), np.float32)
    layer = BackdropMasking(mask_prob=0.5, mask_axes=(1, 2), seed=7)
    patterns = [input_gradient(layer, x, x)[1] != 0 for _ in range(3)]
    assert not np.array_equal(patterns[0], patterns[1])
    assert not np.array_equal(patterns[1], patterns[2])


def test_inference_gradient_is_unmasked():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 5, 3)).astype(np.float32)
    upstream = rng.uniform(0.5, 1.5, x.shape).astype(np.float32)
    layer = BackdropMasking(mask_prob=0.9, pinned_index=(0, 0))
    for training in (False, None):
        _, grad = input_gradient(layer, x, upstream, training=training)
        np.testing.assert_array_equal(grad, upstream)


def test_mask_gradient_function():
    x = tf.constant(np.arange(6, dtype=np.float32).reshape(2, 3))
    mask = tf.constant([[0.0, 2.0, 0.0]])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = mask_gradient(x, mask)
        loss = tf.reduce_sum(y * 3.0)
    assert y.numpy().tobytes() == x.numpy().tobytes()
    np.testing.assert_array_equal(
        tape.gradient(loss, x).numpy(), [[0.0, 6.0, 0.0], [0.0, 6.0, 0.0]]
    )


def ones_conv(strides_kernel: int):
    """A linear 2-D convolution with an all-ones kernel: cells add their patch."""
    return tf.keras.layers.Conv2D(
        1,
        strides_kernel,
        strides=strides_kernel,
        use_bias=False,
        kernel_initializer="ones",
    )


def two_mask_net(fine: BackdropMasking, coarse: BackdropMasking):
    import keras

    return keras.Sequential(
        [
            keras.Input((16, 16, 1)),
            ones_conv(2),  # 8x8 cells of 2x2 pixels
            fine,
            ones_conv(2),  # 4x4 cells of 4x4 pixels
            coarse,
        ]
    )


def test_stacked_pinned_masks_multiply_in_input_space():
    fine = BackdropMasking(mask_prob=0.5, mask_axes=(1, 2), pinned_index=(3, 5))
    coarse = BackdropMasking(mask_prob=0.5, mask_axes=(1, 2), pinned_index=(1, 2))
    model = two_mask_net(fine, coarse)
    x = np.ones((1, 16, 16, 1), np.float32)
    _, grad = input_gradient(model, x, np.ones((1, 4, 4, 1), np.float32))
    expected = np.zeros((16, 16))
    # Fine cell (3, 5) covers pixels [6:8, 10:12], inside coarse cell (1, 2)
    # (pixels [4:8, 8:12]); each mask scales by its size.
    expected[6:8, 10:12] = 16 * 64
    np.testing.assert_allclose(grad[0, :, :, 0], expected)
    # A fine cell outside the surviving coarse cell gets nothing.
    fine.pinned_index = (0, 0)
    _, grad = input_gradient(model, x, np.ones((1, 4, 4, 1), np.float32))
    np.testing.assert_array_equal(grad, 0.0)


def test_stacked_random_masks_are_nested():
    fine = BackdropMasking(mask_prob=0.3, mask_axes=(1, 2), seed=1)
    coarse = BackdropMasking(mask_prob=0.6, mask_axes=(1, 2), seed=2)
    model = two_mask_net(fine, coarse)
    x = np.ones((1, 16, 16, 1), np.float32)
    _, grad = input_gradient(model, x, np.ones((1, 4, 4, 1), np.float32))
    g = grad[0, :, :, 0]
    # Constant on each fine 2x2 patch: the input gradient is a product of a
    # coarse-cell factor and a fine-cell factor.
    fine_blocks = g.reshape(8, 2, 8, 2)
    assert np.all(fine_blocks == fine_blocks[:, :1, :, :1])
    coarse_alive = g.reshape(4, 4, 4, 4).any(axis=(1, 3))
    fine_alive = g.reshape(8, 2, 8, 2).any(axis=(1, 3))
    # Every surviving fine patch lies inside a surviving coarse patch.
    assert np.all(~fine_alive | np.kron(coarse_alive, np.ones((2, 2), bool)))
    values = np.unique(g[g != 0])
    assert len(values) == 1  # one product of the two normalisations
    assert 0 < coarse_alive.sum() < 16


@settings(max_examples=20, deadline=None)
@given(
    shape=st.lists(st.integers(1, 5), min_size=1, max_size=4),
    mask_prob=st.floats(0.0, 1.0),
    data=st.data(),
)
def test_any_shape_mask_sums_to_its_size_and_broadcasts(shape, mask_prob, data):
    rank = len(shape)
    axes = data.draw(
        st.lists(
            st.integers(-rank, rank - 1),
            min_size=1,
            max_size=rank,
            unique_by=lambda a: a % rank,
        )
    )
    x = np.ones(shape, np.float32)
    layer = BackdropMasking(mask_prob=mask_prob, mask_axes=axes, seed=0)
    y, grad = input_gradient(layer, x, x)
    assert y.tobytes() == x.tobytes()
    masked = sorted(a % rank for a in axes)
    mask_size = int(np.prod([shape[a] for a in masked]))
    # Unmasked axes broadcast: the gradient sums to mask_size per copy.
    copies = x.size // mask_size
    np.testing.assert_allclose(grad.sum(), mask_size * copies, rtol=1e-5)
    assert grad.max() > 0
    unmasked = tuple(a for a in range(rank) if a not in masked)
    if unmasked:
        first = np.take(grad, [0], axis=unmasked[0])
        assert np.all(grad == first)
