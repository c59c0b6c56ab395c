"""Survival statistics of the masks over many draws."""

import numpy as np
import pytest
import tensorflow as tf

from keras_backdrop import draw_mask


def draws(n, shape, **kwargs):
    import keras

    seed = keras.random.SeedGenerator(kwargs.pop("seed", 0))
    fn = tf.function(lambda: draw_mask(shape, seed=seed, **kwargs))
    return np.stack([fn().numpy() for _ in range(n)])


@pytest.mark.parametrize("mask_prob", [0.1, 0.3, 0.5, 0.95])
def test_kept_fraction_within_binomial_bound(mask_prob):
    n, size = 200, 500
    masks = draws(n, [size], mask_prob=mask_prob, normalize=None)
    trials = n * size
    kept = (masks > 0).sum()
    p = 1.0 - mask_prob
    sigma = np.sqrt(trials * p * (1 - p))
    # Five standard deviations: a false alarm is about one in 3.5 million.
    assert abs(kept - trials * p) < 5 * sigma
    # Entries are independent: each position survives at the same rate.
    per_position = (masks > 0).mean(axis=0)
    assert abs(per_position.mean() - p) < 5 * np.sqrt(p * (1 - p) / trials)


@pytest.mark.parametrize("keep_count", [1, 3, 17])
def test_keep_count_keeps_exactly_that_many_uniformly(keep_count):
    n, size = 400, 20
    masks = draws(n, [4, 5], keep_count=keep_count, normalize=None)
    alive = masks.reshape(n, size) > 0
    assert np.all(alive.sum(axis=1) == keep_count)
    # Each position is chosen with probability keep_count / size.
    p = keep_count / size
    freq = alive.sum(axis=0)
    sigma = np.sqrt(n * p * (1 - p))
    assert np.all(np.abs(freq - n * p) < 5 * sigma + 1e-9)


def test_mask_prob_one_keeps_one_uniform_entry():
    n, size = 800, 8
    masks = draws(n, [size], mask_prob=1.0)
    alive = masks > 0
    assert np.all(alive.sum(axis=1) == 1)
    # Rescaled to sum to the size: the lone survivor carries `size`.
    np.testing.assert_allclose(masks.sum(axis=1), size)
    counts = alive.sum(axis=0)
    p = 1 / size
    sigma = np.sqrt(n * p * (1 - p))
    assert np.all(np.abs(counts - n * p) < 5 * sigma)


def test_never_all_zero_at_high_mask_prob():
    masks = draws(300, [3], mask_prob=0.999, normalize=None)
    assert np.all(masks.sum(axis=1) >= 1)


def test_count_normalisation_sums_to_size_every_draw():
    masks = draws(100, [6, 7], mask_prob=0.7)
    np.testing.assert_allclose(masks.sum(axis=(1, 2)), 42.0, rtol=1e-5)


def test_same_seed_same_sequence_and_no_seed_differs():
    a = draws(5, [50], mask_prob=0.5, seed=123)
    b = draws(5, [50], mask_prob=0.5, seed=123)
    c = draws(5, [50], mask_prob=0.5, seed=124)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
