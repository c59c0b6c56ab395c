"""The texture study's training step: float32 against `mixed_bfloat16`.

The research harness (`research.texture`) trains the paper's network at
512 and 1024 px on the CPU. This benchmark times its training step (the
`backdrop` variant, batch-shared masks, batch 8, TensorFlow without XLA,
the harness's setting) in float32 and under Keras's `mixed_bfloat16`
policy, interleaved in one process, and reports the ratio and the
convolution FLOPs per step against the measured step time.

It also checks what bfloat16 does to the masks: the gradient that reaches
the input of the coarse mask is zero outside the surviving cells in both
precisions (a zero stays a zero), and the mask's scale (size / survivors)
is rounded to bfloat16's 8 bits of mantissa.

Run: `python benchmarks/texture_precision.py [--quick] [--out PATH.json]`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from _common import main, make_train_step
from _core import RATIO_COLUMNS, benchmark_result, interleaved_times, ratio_row

# The harness lives beside the benchmarks, in the repository.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from research.texture import model as texture_model  # noqa: E402
from research.texture.settings import STUDIES  # noqa: E402

NAME = "texture_precision"
BATCH = 8
POLICIES = ("float32", "mixed_bfloat16")


def conv_flops(model: keras.Model, size: int, batch: int) -> float:
    """Multiply-adds x 2 of every convolution's forward pass, for a batch."""
    flops = 0.0
    side = size
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            k_h, k_w = layer.kernel_size
            side = -(-side // layer.strides[0])
            c_in = layer.kernel.shape[2]
            flops += 2.0 * side * side * k_h * k_w * c_in * layer.filters * batch
    return flops


def build(size: int, filters: int, policy: str) -> keras.Model:
    """The harness's backdrop network under `policy` (seed 0)."""
    keras.mixed_precision.set_global_policy(policy)
    try:
        study = STUDIES["deciding_512"].replace(size=size, filters=filters)
        return texture_model.build(study, "backdrop", 0)
    finally:
        keras.mixed_precision.set_global_policy("float32")


def loss_fn(y: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    """Sparse cross-entropy on float32 logits (the head may run in bfloat16)."""
    logits = tf.cast(logits, tf.float32)
    return tf.reduce_mean(
        tf.nn.sparse_softmax_cross_entropy_with_logits(tf.cast(y, tf.int32), logits)
    )


def masked_gradient_check(size: int, filters: int) -> dict[str, Any]:
    """Whether the coarse mask's zeros survive bfloat16, and the scale's error.

    The gradient reaching the coarse mask's input, summed per cell of the
    4x4 map, is zero exactly on the blocked cells; a draw at 0.3 blocks
    some of the 16 cells, and its scale (16 / survivors) is rounded to
    bfloat16 on the way.
    """
    out = {}
    x = tf.random.stateless_normal((2, size, size, 1), (1, 2))
    for policy in POLICIES:
        net = build(size, filters, policy)
        coarse = net.get_layer(texture_model.COARSE)
        coarse.mask_prob = 0.3
        probe = keras.Model(net.input, [coarse.input, net.output])
        with tf.GradientTape() as tape:
            before, logits = probe(x, training=True)
            tape.watch(before)
            loss = tf.reduce_sum(tf.cast(logits, tf.float32))
        grad_in = tape.gradient(loss, before)
        cells = tf.reduce_sum(tf.abs(tf.cast(grad_in, tf.float32)), axis=[0, 3])
        out[policy] = {
            "dtype": grad_in.dtype.name,
            "blocked_cells": np.flatnonzero(cells.numpy() == 0).tolist(),
            "cells": int(tf.size(cells)),
        }
    # The same seed draws the same mask in both precisions.
    out["same_blocked_cells"] = (
        out["float32"]["blocked_cells"] == out["mixed_bfloat16"]["blocked_cells"]
    )
    return out


def measure(size: int, filters: int, rounds: int, calls: int) -> dict[str, Any]:
    """Interleaved step times of the two policies at one size."""
    rng = np.random.default_rng(0)
    x = tf.constant(rng.standard_normal((BATCH, size, size, 1)), tf.float32)
    y = tf.constant(rng.integers(0, 4, BATCH))
    steps = {}
    flops = None
    for policy in POLICIES:
        model = build(size, filters, policy)
        flops = conv_flops(model, size, BATCH)
        step = make_train_step(model, loss_fn, jit_compile=False)
        steps[policy] = lambda step=step: step(x, y)
    times = interleaved_times(steps, rounds=rounds, calls_per_round=calls)
    base = times["float32"]
    row = {"size": size, "filters": filters, **ratio_row(times[POLICIES[1]], base)}
    # About three times the forward FLOPs per training step (forward,
    # gradient of the input, gradient of the weights).
    row["train_gflop_per_step"] = 3 * flops / 1e9
    row["float32_gflops"] = 3 * flops / 1e9 / (row["baseline_ms"] / 1000)
    return row


def run(quick: bool) -> dict[str, Any]:
    """Both policies at 512 px (32 and 64 filters) and 1024 px (32)."""
    cfg = (
        {"points": [(128, 8)], "rounds": 2, "calls": 2}
        if quick
        else {"points": [(512, 32), (512, 64), (1024, 32)], "rounds": 5, "calls": 3}
    )
    rows = [measure(s, f, cfg["rounds"], cfg["calls"]) for s, f in cfg["points"]]
    size, filters = cfg["points"][0]
    checks = masked_gradient_check(size, filters)
    result = benchmark_result(
        NAME, quick, cfg, rows, COLUMNS, target="reported (no numeric target)"
    )
    result["mask_check"] = checks
    return result


COLUMNS = (
    "size",
    "filters",
    "baseline_ms",
    *RATIO_COLUMNS,
    "train_gflop_per_step",
    "float32_gflops",
)

if __name__ == "__main__":
    main(NAME, run)
