"""Two costs of the mask itself, on TensorFlow, with and without XLA.

* `keep_count` against `mask_prob`: a mask that keeps exactly half of a
  4096x4096 mask (`draw_mask(..., keep_count=size // 2)`) against a
  `mask_prob=0.5` draw of the same size; and, for reference, the selection
  the layer used before (a top-k over every entry). The layer now finds
  the subset from the threshold draw and corrects the count within a
  window of ten standard deviations (`keras_backdrop._rule.keep_exactly`).
* The NaN-safe gradient product: the backward multiplication of an
  activation by its mask, as the layer does it (`multiply_no_nan`: a
  blocked entry passes exactly zero even from a NaN or infinite upstream
  gradient) against a plain product, on the texture network's fine-mask
  activation at 128 and 256 px (batch 8, 32 channels, a per-sample
  spatial mask).
* The gradient product against other single elementwise passes over the
  same tensor: the benchmark network's fine-mask activation (batch 8, a
  32x32 map, 64 channels, one spatial mask shared by the batch, as in
  `layer_training`), against the ReLU backward the network already does
  on that tensor and against a product with a scalar. Without XLA the
  product is most of what the layer adds to a step; this says whether any
  formulation of it could be cheaper than one pass over the gradient.

Each pair is timed interleaved in one process; the ratio is the median of
per-round ratios with its quartiles, and the added time per call.

Run: `python benchmarks/mask_draw.py [--quick] [--out PATH]`.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf
from _common import main
from _core import format_table, interleaved_times, ratio_stats

from keras_backdrop import _rule, draw_mask
from keras_backdrop._tensorflow_impl import TF_OPS

NAME = "mask_draw"


def _draw_functions(side: int, jit: bool) -> dict[str, Any]:
    size = side * side
    half = size // 2

    def uniform():
        return tf.random.stateless_uniform([size], seed=[1, 2], alg="philox")

    fns = {
        "mask_prob": lambda: draw_mask([side, side], mask_prob=0.5, seed=1),
        "keep_count": lambda: draw_mask([side, side], keep_count=half, seed=1),
        "top_k_over_all": lambda: _rule.smallest_by_top_k(
            TF_OPS, uniform(), half, size
        ),
    }
    return {k: tf.function(f, jit_compile=jit) for k, f in fns.items()}


def _product_functions(side: int, jit: bool) -> dict[str, Any]:
    # The fine mask sits after the third stride-2 convolution.
    cells = side // 8
    upstream = tf.random.normal([8, cells, cells, 32])
    mask = tf.cast(tf.random.uniform([8, cells, cells, 1]) > 0.3, tf.float32)

    def plain():
        return upstream * mask

    def no_nan():
        return tf.math.multiply_no_nan(upstream, mask)

    return {
        "plain": tf.function(plain, jit_compile=jit),
        "multiply_no_nan": tf.function(no_nan, jit_compile=jit),
    }


def _pass_functions(batch: int, jit: bool) -> dict[str, Any]:
    upstream = tf.random.normal([batch, 32, 32, 64])
    features = tf.random.normal([batch, 32, 32, 64])
    mask = tf.Variable(tf.cast(tf.random.uniform([1, 32, 32, 1]) > 0.3, tf.float32))

    def relu_backward():
        return tf.raw_ops.ReluGrad(gradients=upstream, features=features)

    def no_nan():
        return tf.math.multiply_no_nan(upstream, tf.convert_to_tensor(mask))

    def scalar():
        return upstream * 2.0

    return {
        "relu_backward": tf.function(relu_backward, jit_compile=jit),
        "multiply_no_nan": tf.function(no_nan, jit_compile=jit),
        "scalar_product": tf.function(scalar, jit_compile=jit),
    }


def run(quick: bool) -> dict[str, Any]:
    """Times the draws and products; returns the rows and the table."""
    rounds = 3 if quick else 15
    draw_side = 512 if quick else 4096
    rows = []
    for jit in (False, True):
        # The top-k reference takes seconds a call at 4096x4096: few rounds.
        times = interleaved_times(
            _draw_functions(draw_side, jit),
            min(rounds, 5),
            calls_per_round=1,
            warmup=1,
        )
        base = times["mask_prob"]
        for variant in ("keep_count", "top_k_over_all"):
            stats = ratio_stats(times[variant], base)
            rows.append(
                {
                    "what": f"draw {draw_side}x{draw_side}, half kept",
                    "jit_compile": jit,
                    "variant": variant,
                    "baseline": "mask_prob",
                    "baseline_ms": 1e3 * min(base),
                    "variant_ms": 1e3 * min(times[variant]),
                    **stats,
                }
            )
        for side in (128, 256):
            times = interleaved_times(
                _product_functions(side, jit), rounds, calls_per_round=20
            )
            stats = ratio_stats(times["multiply_no_nan"], times["plain"])
            rows.append(
                {
                    "what": f"gradient product, {side} px fine mask",
                    "jit_compile": jit,
                    "variant": "multiply_no_nan",
                    "baseline": "plain",
                    "baseline_ms": 1e3 * min(times["plain"]),
                    "variant_ms": 1e3 * min(times["multiply_no_nan"]),
                    **stats,
                }
            )
        batch = 2 if quick else 8
        times = interleaved_times(
            _pass_functions(batch, jit), rounds, calls_per_round=20
        )
        for variant in ("multiply_no_nan", "scalar_product"):
            stats = ratio_stats(times[variant], times["relu_backward"])
            rows.append(
                {
                    "what": f"one pass over a {batch}x32x32x64 gradient",
                    "jit_compile": jit,
                    "variant": variant,
                    "baseline": "relu_backward",
                    "baseline_ms": 1e3 * min(times["relu_backward"]),
                    "variant_ms": 1e3 * min(times[variant]),
                    **stats,
                }
            )
    columns = [
        "what",
        "jit_compile",
        "variant",
        "baseline",
        "baseline_ms",
        "variant_ms",
        "ratio",
        "ratio_q25",
        "ratio_q75",
    ]
    return {
        "name": NAME,
        "quick": quick,
        "rounds": rounds,
        "rows": rows,
        "table": format_table(rows, columns),
    }


if __name__ == "__main__":
    main(NAME, run)
