"""Prints, as JSON, the masks of seeded layers over consecutive calls.

Run as a script in a fresh process of the backend under test:

    python tests/backend_spec/seed_sequence.py SEED [SEED ...]

Output: {"backend": ..., "masks": {SEED: [[0/1 pattern of each call], ...]}}.
"""

import json
import sys

# Keras first (see spec_helpers), then the package and the helpers.
import keras  # noqa: F401
import numpy as np
from spec_helpers import BACKEND, masks_from_layer

from keras_backdrop import BackdropMasking

CALLS = 4


def seeded_patterns(seed, calls=CALLS):
    layer = BackdropMasking(mask_prob=0.5, mask_axes=(1,), seed=seed)
    masks = masks_from_layer(layer, np.ones((2, 64), np.float32), calls)
    return [(mask[0] != 0).astype(int).tolist() for mask in masks]


if __name__ == "__main__":
    seeds = [int(s) for s in sys.argv[1:]]
    result = {"backend": BACKEND, "masks": {s: seeded_patterns(s) for s in seeds}}
    print(json.dumps(result))
