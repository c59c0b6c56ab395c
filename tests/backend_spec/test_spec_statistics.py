"""Survival statistics over many draws of `draw_mask` (rules 3 and 4).

Bounds are five binomial standard deviations: a false alarm is about one in
3.5 million per check, while a wrong rate (for instance mask_prob read as
the survival probability) is off by tens of deviations.
"""

import math

import numpy as np
import pytest
from spec_helpers import assert_obeys_rules, draws


def within_binomial(successes, trials, p):
    sigma = np.sqrt(trials * p * (1 - p))
    return np.abs(successes - trials * p) < 5 * sigma + 1e-9


@pytest.mark.parametrize("mask_prob", [0.1, 0.5, 0.95])
def test_surviving_fraction_within_binomial_bound(mask_prob):
    n, size = 60, 500
    masks = draws(n, [size], mask_prob=mask_prob, normalize=None, seed=1)
    alive = masks > 0
    p = 1.0 - mask_prob
    assert within_binomial(alive.sum(), n * size, p)
    # Every draw follows the 0/1 rule, and per-draw counts vary (a fixed
    # count would be keep_count's behaviour, not independent survival).
    for mask in masks:
        assert_obeys_rules(mask, mask_prob=mask_prob, normalize=None)
    assert len(set(alive.sum(axis=1).tolist())) > 1
    # Independence across positions: no position is favoured.
    assert np.all(within_binomial(alive.sum(axis=0), n, p) | (p * n < 10))


@pytest.mark.parametrize("keep_count", [1, 3, 17])
def test_keep_count_keeps_exactly_that_many_uniformly(keep_count):
    n, size = 300, 20
    masks = draws(n, [4, 5], keep_count=keep_count, normalize=None, seed=2)
    alive = masks.reshape(n, size) > 0
    assert np.all(alive.sum(axis=1) == keep_count)
    # Each position is chosen with probability keep_count / size.
    assert np.all(within_binomial(alive.sum(axis=0), n, keep_count / size))
    # The subsets are not a fixed few: every one of the 20 single entries
    # shows up (each is missed with probability about 2e-7), and for 1140
    # possible subsets about 260 distinct ones are expected in 300 draws.
    possible = math.comb(size, keep_count)
    assert len({row.tobytes() for row in alive}) >= min(possible, n // 2)


def test_mask_prob_one_keeps_one_uniformly_placed_entry_of_value_size():
    n, size = 400, 8
    masks = draws(n, [size], mask_prob=1.0, seed=3)
    alive = masks > 0
    # Rule 4: never all zero; with nothing surviving, exactly one entry does,
    # rescaled to carry the whole size (rule 5).
    assert np.all(alive.sum(axis=1) == 1)
    np.testing.assert_allclose(masks[alive], float(size), rtol=1e-6)
    # The fallback position is uniform.
    assert np.all(within_binomial(alive.sum(axis=0), n, 1 / size))


def test_never_all_zero_at_high_mask_prob():
    # At 0.99 on 3 entries about 97 % of draws would be empty without rule 4,
    # so the fallback is exercised many times alongside ordinary draws.
    masks = draws(200, [3], mask_prob=0.99, normalize=None, seed=4)
    assert np.all(masks.sum(axis=1) >= 1)
    assert np.all(np.isin(masks, (0.0, 1.0)))


def test_count_normalisation_sums_to_size_every_draw():
    masks = draws(60, [6, 7], mask_prob=0.7, seed=5)
    np.testing.assert_allclose(masks.sum(axis=(1, 2)), 42.0, rtol=1e-5)
    for mask in masks:
        assert_obeys_rules(mask, mask_prob=0.7)
