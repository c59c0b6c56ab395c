"""Seeds: the same seed gives the same mask sequence, other seeds others."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from keras import ops
from seed_sequence import CALLS, seeded_patterns
from spec_helpers import BACKEND, SUBPROCESS_TIMEOUT_S, child_env

from keras_backdrop import draw_mask

SCRIPT = Path(__file__).with_name("seed_sequence.py")


def run_fresh(*seeds):
    """Starts a fresh process of this backend printing the seeds' masks."""
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), *map(str, seeds)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
    )


def result_of(process):
    out, err = process.communicate(timeout=SUBPROCESS_TIMEOUT_S)
    assert process.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def test_same_seed_same_sequence_in_two_fresh_processes():
    # Two processes at once: each pays the import time, not twice in a row.
    first, second = run_fresh(7, 8), run_fresh(7)
    a, b = result_of(first), result_of(second)
    assert a["backend"] == b["backend"] == BACKEND
    assert a["masks"]["7"] == b["masks"]["7"]
    assert len(a["masks"]["7"]) == CALLS
    # The sequence itself moves (rule 8), so equality is not a constant mask.
    assert a["masks"]["7"][0] != a["masks"]["7"][1]
    # A different seed, a different sequence.
    assert a["masks"]["8"] != a["masks"]["7"]
    # And this process, reproducing the same seed, agrees with both.
    assert seeded_patterns(7) == a["masks"]["7"]


def test_neighbouring_seeds_do_not_draw_the_same_masks_one_step_apart():
    # Keras seeds torch draws with seed + counter, which would make seeds 5
    # and 6 the same stream shifted by one step; the layer hashes seeds.
    five, six = seeded_patterns(5, 6), seeded_patterns(6, 6)
    for shift in (0, 1, 2):
        for a, b in ((five, six), (six, five)):
            assert all(x != y for x, y in zip(a[shift:], b)), shift


def test_an_integer_seed_to_draw_mask_is_stateless():
    # draw_mask with an integer seed gives the same mask at every call; with
    # another integer, another mask.
    a = ops.convert_to_numpy(draw_mask([64], mask_prob=0.5, seed=3))
    b = ops.convert_to_numpy(draw_mask([64], mask_prob=0.5, seed=3))
    c = ops.convert_to_numpy(draw_mask([64], mask_prob=0.5, seed=4))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a != 0, c != 0)


def test_unseeded_layers_draw_different_masks():
    first, second = seeded_patterns(None, 2), seeded_patterns(None, 2)
    assert first != second


def test_consecutive_draws_of_a_generator_are_not_shifted_copies():
    # A counter-based draw whose step landed in the block counter would
    # repeat the previous draw a few entries later; entries of independent
    # draws agree half the time at every shift.
    import keras

    generator = keras.random.SeedGenerator(11)
    size = 4096
    first, second = (
        ops.convert_to_numpy(
            draw_mask([size], mask_prob=0.5, normalize=None, seed=generator)
        )
        > 0
        for _ in range(2)
    )
    for shift in range(65):
        agree = np.mean(first[shift:] == second[: size - shift])
        # Five standard deviations of a fraction of size - shift coin flips.
        assert abs(agree - 0.5) < 5 * 0.5 / np.sqrt(size - shift), shift
