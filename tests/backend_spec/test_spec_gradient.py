"""Rules 2 to 8 read off input gradients: the gradient is upstream * mask.

Expected values come from the rules (design page, section 2), never from
the layer's own output.
"""

import numpy as np
import pytest
from spec_helpers import (
    assert_obeys_rules,
    input_gradient,
    masks_from_layer,
    nonzero_upstream,
    recovered_mask,
)

from keras_backdrop import BackdropMasking


@pytest.mark.parametrize(
    "shape, mask_axes, pinned, where, size",
    [
        # Spatial axes of an image batch: shared over batch and channels.
        ((2, 4, 6, 3), (1, 2), (2, 5), (slice(None), 2, 5, slice(None)), 24),
        # The batch axis, given as a negative axis.
        ((5, 3), -2, 3, (3, slice(None)), 5),
        ((5, 3), (0,), (4,), (4, slice(None)), 5),
        # The default axes: every axis but the last (per sample and position).
        ((3, 4, 2), None, (2, 1), (2, 1, slice(None)), 12),
        # Negative axes in increasing order; the last axis masked.
        ((2, 3, 4), (-2, -1), (1, 3), (slice(None), 1, 3), 12),
        # The batch axis with a spatial one; channels shared.
        ((3, 4, 2), (0, -2), (2, 0), (2, 0, slice(None)), 12),
        # A rank-1 input: its only axis.
        ((7,), None, (6,), (6,), 7),
    ],
)
def test_pinned_index_gradient_is_size_at_that_entry_broadcast(
    shape, mask_axes, pinned, where, size
):
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    upstream = nonzero_upstream(shape, 2)
    layer = BackdropMasking(mask_prob=0.5, mask_axes=mask_axes, pinned_index=pinned)
    _, grad = input_gradient(layer, x, upstream)
    expected = np.zeros_like(upstream)
    # One survivor, rescaled so the mask sums to its size (rules 5 and 7),
    # broadcast along the unmasked axes.
    expected[where] = upstream[where] * size
    np.testing.assert_allclose(grad, expected, rtol=1e-6)


@pytest.mark.parametrize(
    "normalize, expected_value", [("expected", 5 / 2), (None, 1.0)]
)
def test_pinned_index_rescales_per_normalize(normalize, expected_value):
    x = np.ones((5, 3), np.float32)
    layer = BackdropMasking(
        keep_count=2, mask_axes=(0,), normalize=normalize, pinned_index=1
    )
    _, grad = input_gradient(layer, x, x)
    expected = np.zeros_like(x)
    # "expected" with keep_count scales by size / keep_count, pinned or not.
    expected[1] = expected_value
    np.testing.assert_allclose(grad, expected, rtol=1e-6)


def test_pinned_index_follows_the_order_of_mask_axes():
    # "One index per masked axis": with mask_axes=(-1, 0) the first index is
    # along the last axis (size 2) and the second along axis 0 (size 4).
    x = np.ones((4, 2), np.float32)
    layer = BackdropMasking(mask_prob=0.5, mask_axes=(-1, 0), pinned_index=(1, 3))
    _, grad = input_gradient(layer, x, x)
    expected = np.zeros_like(x)
    expected[3, 1] = 8.0
    np.testing.assert_allclose(grad, expected)


@pytest.mark.parametrize(
    "normalize, kwargs",
    [
        ("count", {"mask_prob": 0.6}),
        ("expected", {"mask_prob": 0.6}),
        (None, {"mask_prob": 0.6}),
        ("count", {"keep_count": 7}),
        ("expected", {"keep_count": 7}),
        (None, {"keep_count": 7}),
    ],
)
def test_seeded_random_mask_obeys_the_rules(normalize, kwargs):
    shape = (3, 8, 10, 4)
    x = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
    upstream = nonzero_upstream(shape, 4)
    layer = BackdropMasking(mask_axes=(1, 2), normalize=normalize, seed=11, **kwargs)
    _, grad = input_gradient(layer, x, upstream)
    mask = recovered_mask(grad, upstream)
    # Rule 2: the same mask for every sample and channel.
    for b in range(shape[0]):
        for c in range(shape[3]):
            np.testing.assert_allclose(mask[b, :, :, c], mask[0, :, :, 0], rtol=1e-6)
    alive = assert_obeys_rules(mask[0, :, :, 0], normalize=normalize, **kwargs)
    # At mask_prob 0.6 of 80 entries, 0 or 80 survivors would be ~1e-18 and
    # ~1e-32 events: a fixed pattern here means the mask is not random.
    assert 0 < alive.sum() < 80


def test_default_axes_mask_per_sample_and_position_shared_over_channels():
    shape = (4, 6, 6, 5)
    upstream = nonzero_upstream(shape, 5)
    layer = BackdropMasking(mask_prob=0.5, seed=5)
    _, grad = input_gradient(layer, np.ones(shape, np.float32), upstream)
    mask = recovered_mask(grad, upstream)
    for c in range(shape[3]):
        np.testing.assert_allclose(mask[..., c], mask[..., 0], rtol=1e-6)
    # One mask over (batch, row, column): the normalisation spans all of it.
    assert_obeys_rules(mask[..., 0])
    patterns = mask[..., 0] != 0
    assert any(not np.array_equal(patterns[0], patterns[b]) for b in range(1, 4))


@pytest.mark.parametrize("mask_axes", [(0,), (1,), (0, 2)])
def test_each_call_draws_a_fresh_mask(mask_axes):
    x = np.ones((16, 8, 5), np.float32)
    layer = BackdropMasking(mask_prob=0.5, mask_axes=mask_axes, seed=7)
    masks = masks_from_layer(layer, x, 4)
    patterns = []
    for mask in masks:
        # Reduce to the masked axes (constant along the others, checked).
        index = tuple(slice(None) if a in mask_axes else slice(0, 1) for a in range(3))
        reduced = mask[index]
        assert np.allclose(mask, np.broadcast_to(reduced, mask.shape), rtol=1e-6)
        patterns.append(assert_obeys_rules(reduced))
    # Rule 8: consecutive calls differ (16, 8 or 80 entries at p=0.5: the
    # chance of two equal patterns in a row is at most 1/256 per pair for a
    # random mask, and the seed makes the outcome fixed).
    for a, b in zip(patterns, patterns[1:]):
        assert not np.array_equal(a, b)


def test_mask_prob_one_keeps_exactly_one_entry_of_value_size():
    x = np.ones((2, 9), np.float32)
    layer = BackdropMasking(mask_prob=1.0, mask_axes=(1,), seed=2)
    for mask in masks_from_layer(layer, x, 3):
        np.testing.assert_allclose(mask[1], mask[0], rtol=1e-6)
        alive = assert_obeys_rules(mask[0])
        assert alive.sum() == 1
        np.testing.assert_allclose(mask[0].sum(), 9.0, rtol=1e-6)


def test_mask_prob_zero_keeps_everything_at_one():
    x = np.ones((3, 4), np.float32)
    upstream = nonzero_upstream(x.shape, 8)
    for normalize in ("count", "expected", None):
        layer = BackdropMasking(mask_prob=0.0, normalize=normalize, seed=1)
        _, grad = input_gradient(layer, x, upstream)
        np.testing.assert_allclose(grad, upstream, rtol=1e-6)
