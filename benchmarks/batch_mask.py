"""Batch-axis masking for a non-decomposable loss: step time ratio.

The paper's second use: a loss over the whole batch (here
`keras_backdrop.losses.SoftF1` on logits, which is not a sum of
per-sample terms) with `BackdropMasking` on the batch axis of the
per-sample outputs, so the loss sees every sample and the gradient flows
back through a random subset. The step time is
compared with the same network and loss without the mask, for both ways
of choosing the subset (`mask_prob`, a Bernoulli draw; `keep_count`, a
top-k of uniforms) and with and without `jit_compile`.

The network is deliberately small (a 64-64 MLP, as in the design's
prototype): this is where a fixed per-step cost of the mask shows most.

Run: `python benchmarks/batch_mask.py [--quick] [--out PATH.json]`.
"""

from __future__ import annotations

import itertools
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from _common import main, make_train_step
from _core import (
    RATIO_COLUMNS,
    benchmark_result,
    interleaved_times,
    print_table,
    ratio_row,
)

from keras_backdrop import BackdropMasking
from keras_backdrop.losses import SoftF1

NAME = "batch_mask"
N_FEATURES = 64
# variant -> BackdropMasking arguments (None: no mask, the baseline).
VARIANTS: dict[str, dict[str, Any] | None] = {
    "none": None,
    "mask_prob=0.9": {"mask_prob": 0.9},
    "keep_count=32": {"keep_count": 32},
}


def build_mlp(mask_args: dict[str, Any] | None, seed: int = 0) -> keras.Model:
    """A 64-64 MLP with one logit per sample, optionally batch-masked."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((N_FEATURES,))
    x = keras.layers.Dense(64, activation="relu")(inputs)
    x = keras.layers.Dense(64, activation="relu")(x)
    x = keras.layers.Dense(1)(x)
    if mask_args is not None:
        x = BackdropMasking(mask_axes=(0,), seed=seed + 1, **mask_args)(x)
    return keras.Model(inputs, x)


def settings(quick: bool) -> dict[str, Any]:
    """Grid and repetition counts; quick mode is for CI, not for figures."""
    if quick:
        return {"batches": (64,), "jit": (False,), "rounds": 2, "calls": 5}
    return {
        "batches": (300, 2048),
        "jit": (False, True),
        "rounds": 15,
        "calls": 100,
    }


def measure(batch: int, jit: bool, rounds: int, calls: int) -> list[dict]:
    """One grid point: both mask variants against the unmasked step."""
    rng = np.random.default_rng(0)
    x = tf.constant(rng.standard_normal((batch, N_FEATURES)), tf.float32)
    # About 10 percent positives, as in the design's digits experiment.
    y = tf.constant(rng.random(batch) < 0.1, tf.float32)
    steps = {}
    for name, args in VARIANTS.items():
        loss = SoftF1(from_logits=True)
        step = make_train_step(build_mlp(args), loss, jit_compile=jit)
        steps[name] = lambda step=step: step(x, y)
    times = interleaved_times(steps, rounds=rounds, calls_per_round=calls)
    base = times["none"]
    return [
        {
            "batch": batch,
            "jit_compile": jit,
            "variant": name,
            **ratio_row(times[name], base),
        }
        for name in list(VARIANTS)[1:]
    ]


def run(quick: bool) -> dict[str, Any]:
    """Runs the grid; returns rows and the table."""
    cfg = settings(quick)
    rows: list[dict[str, Any]] = []
    for jit, batch in itertools.product(cfg["jit"], cfg["batches"]):
        rows.extend(measure(batch, jit, cfg["rounds"], cfg["calls"]))
        print_table(rows[1 - len(VARIANTS) :], COLUMNS)
    # The issue sets no number for this one; it is reported, not judged.
    target = "reported (no numeric target)"
    return benchmark_result(NAME, quick, cfg, rows, COLUMNS, target=target)


COLUMNS = ("batch", "jit_compile", "variant", "baseline_ms", *RATIO_COLUMNS)

if __name__ == "__main__":
    main(NAME, run)
