"""Shared helpers for the benchmarks: models, interleaved timing, output.

Absolute times on the shared two-core machines are noise, so every
benchmark reports ratios against a baseline measured in the same process.
Variants are timed in interleaved rounds (A/B/A/B, with the order rotated
from round to round so that no variant always runs first); within a
round each variant's best of a few calls is kept (interference only adds
time), and the reported ratio is the median over rounds of the paired
ratios: a colleague's job starting halfway through then slows every
variant alike instead of biasing one of them.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

# Quieten TF's C++ start-up chatter before TensorFlow is imported anywhere.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import texture_network  # noqa: E402

# The framework-free helpers (timing, ratios, tables, JSON) live in `_core`,
# which the per-backend benchmark's children use without TensorFlow; the
# scripts import them from there, and what needs TensorFlow from here.
from _core import host_info, write_json  # noqa: E402

from keras_backdrop import BackdropMasking  # noqa: E402

# Each variant has its own `tf.function`; TF counts them as retraces of one
# function and warns, which would bury the tables.
tf.get_logger().setLevel("ERROR")

# The reference demo's mask probabilities (design, section 3).
FINE_MASK_PROB = 0.3
COARSE_MASK_PROB = 0.95
N_CLASSES = 4
FILTERS = 64

# What sits at the two mask positions of the texture network.
TEXTURE_VARIANTS = ("none", "backdrop", "stop_gradient", "spatial_dropout")


# --------------------------------------------------------------------------
# Models


@keras.saving.register_keras_serializable(package="keras_backdrop_bench")
class StopGradientMasking(keras.layers.Layer):
    """The idiom users write without a custom gradient, as a peer.

    `x * m + stop_gradient(x - x * m)` has the value of `x` (up to
    rounding) and the gradient `m`. The mask is drawn as simply as it is
    usually written: a Bernoulli draw on the spatial axes, rescaled by the
    surviving count (guarded against zero rather than falling back to one
    random survivor, which is the cheapest common form).
    """

    def __init__(self, mask_prob: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.mask_prob = mask_prob
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        if not training:
            return inputs
        shape = tf.shape(inputs)
        m = keras.random.uniform(
            tf.stack([1, shape[1], shape[2], 1]), seed=self.seed_generator
        )
        m = tf.cast(m >= self.mask_prob, inputs.dtype)
        size = tf.cast(shape[1] * shape[2], inputs.dtype)
        m = m * size / tf.maximum(tf.reduce_sum(m), 1.0)
        xm = inputs * m
        return xm + tf.stop_gradient(inputs - xm)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "mask_prob": self.mask_prob,
            "seed": self.seed,
        }


def mask_layer_factory(variant: str) -> Callable[..., keras.layers.Layer] | None:
    """What goes at the two mask places, as `build_texture_model` takes it.

    A callable ``(mask_prob, mask_axes, seed, name) -> layer``, or None for
    the baseline (no layer at all).
    """
    if variant == "none":
        return None
    if variant == "backdrop":
        return BackdropMasking
    if variant == "stop_gradient":
        return lambda mask_prob, mask_axes, seed, name: StopGradientMasking(
            mask_prob, seed=seed, name=name
        )
    if variant == "spatial_dropout":
        # Same position and rate; it drops whole channels per sample, so
        # its forward pass differs: a cost peer, not a behavioural one.
        return lambda mask_prob, mask_axes, seed, name: keras.layers.SpatialDropout2D(
            mask_prob, seed=seed, name=name
        )
    raise ValueError(
        f"Invalid value for argument `variant`: expected one of "
        f"{TEXTURE_VARIANTS}. Received: variant={variant!r}"
    )


def texture_conv_plan(size: int) -> tuple[int, int, int]:
    """Returns `(n_convs, fine_after, coarse_after)` for a square input.

    The paper's 1024 network has 8 stride-2 convolutions, the fine mask
    after the 5th (32x32 map, cells of 32 input pixels) and the coarse
    after the 8th (4x4 map, cells of 256 pixels). Scaled down, the cells
    keep the same fraction of the image: the fine mask always sits on the
    32x32 map and the coarse one on the 4x4 map, i.e. `log2(size) - 2`
    convolutions (1024: 8, 5, 8; 256: 6, 3, 6; 128: 5, 2, 5). Below 128
    (quick mode only) the fine map is clipped to the first convolution.
    """
    if size < 16 or size & (size - 1):
        raise ValueError(f"size must be a power of two >= 16; got {size}")
    n_convs = int(round(math.log2(size))) - 2
    fine_after = max(1, n_convs - 3)
    return n_convs, fine_after, n_convs


def texture_scales(size: int) -> list[list[float]]:
    """Correlation lengths that place the package's masks per the plan.

    The package's network places its masks from the lengths (a cell of
    `CELL_PER_LENGTH` lengths); a length of ``2**d / CELL_PER_LENGTH``
    puts a mask after convolution ``d``.
    """
    _, fine_after, coarse_after = texture_conv_plan(size)
    per_length = texture_network.CELL_PER_LENGTH
    return [[2**fine_after / per_length], [2**coarse_after / per_length]]


def build_texture_model(
    size: int,
    variant: str = "none",
    seed: int = 0,
    *,
    mask_layer: Callable[..., keras.layers.Layer] | None = None,
) -> keras.Model:
    """The package's texture network at a CPU-sized input, fixed shape.

    `texture_network.build_texture_model`: a 5x5
    stride-2 convolution, then 2x2 stride-2 convolutions with 64 filters,
    masks at the two places of `texture_conv_plan` (one spatial mask
    shared by the batch, the reference's), a 1x1 convolution per coarse
    cell averaged into class logits. `variant` picks what sits at the mask
    places (`mask_layer_factory`); `mask_layer` puts any other layer there.
    """
    if mask_layer is None:
        mask_layer = mask_layer_factory(variant)
    keras.utils.set_random_seed(seed)
    return texture_network.build_texture_model(
        size,
        texture_scales(size),
        N_CLASSES,
        masks=mask_layer is not None,
        fine_prob=FINE_MASK_PROB,
        coarse_prob=COARSE_MASK_PROB,
        mask_axes="batch",
        filters=FILTERS,
        seed=seed,
        variable_size=False,
        **({} if mask_layer is None else {"mask_layer": mask_layer}),
    )


def texture_batch(size: int, batch: int, seed: int = 0) -> tuple[tf.Tensor, tf.Tensor]:
    """A fixed random batch: timing does not depend on the pixel values."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, size, size, 1)).astype(np.float32)
    y = rng.integers(0, N_CLASSES, size=(batch,)).astype(np.int32)
    return tf.constant(x), tf.constant(y)


def make_train_step(
    model: keras.Model,
    loss_fn: Callable[[tf.Tensor, tf.Tensor], tf.Tensor],
    jit_compile: bool = False,
    learning_rate: float = 1e-3,
) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor]:
    """A compiled training step, as Keras' `fit` builds it.

    Keras' TensorFlow trainer wraps one step (forward, gradient, optimizer
    update) in `tf.function(jit_compile=...)`. The same is done here by
    hand so that the timed call carries no `train_on_batch` bookkeeping
    (numpy conversion of logs, metrics), which would dilute the ratio.
    """
    optimizer = keras.optimizers.Adam(learning_rate)
    optimizer.build(model.trainable_variables)

    @tf.function(jit_compile=jit_compile, reduce_retracing=True)
    def step(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            pred = model(x, training=True)
            loss = loss_fn(y, pred)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply(grads, model.trainable_variables)
        return loss

    return step


def texture_train_step(
    model: keras.Model, jit_compile: bool = False
) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor]:
    """`make_train_step` of a texture network: `sparse_ce` on its logits."""
    return make_train_step(model, sparse_ce, jit_compile=jit_compile)


def sparse_ce(y: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    """Mean sparse categorical cross-entropy on logits."""
    return tf.reduce_mean(
        tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)
    )


# --------------------------------------------------------------------------
# Output


def machine_info() -> dict[str, Any]:
    """Where the figures came from (CPU model, cores, versions)."""
    import keras_backdrop

    host = host_info()
    return {
        "cpu": host["cpu"],
        "cores": host["cores"],
        "gpu": bool(tf.config.list_physical_devices("GPU")),
        "python": host["python"],
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "platform": host["platform"],
        "keras_backdrop": keras_backdrop.__file__,
        "repo_commit": host["repo_commit"],
    }


def main(
    name: str,
    run: Callable[[bool], dict[str, Any]],
    argv: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The command line shared by every benchmark script.

    `--quick` picks the smallest settings (CI); `--out PATH.json` writes
    the result there (default `benchmarks/results/<name>.json`).
    """
    parser = argparse.ArgumentParser(description=f"Benchmark: {name}")
    parser.add_argument("--quick", action="store_true", help="CI settings")
    parser.add_argument(
        "--out",
        default=str(Path(__file__).parent / "results" / f"{name}.json"),
        help="where to write the JSON result",
    )
    args = parser.parse_args(argv)
    start = time.perf_counter()
    result = run(args.quick)
    result.setdefault("seconds", time.perf_counter() - start)
    result.setdefault("machine", machine_info())
    print(result.get("table", ""))
    write_json(result, args.out)
    print(f"wrote {args.out}", file=sys.stderr)
    return result
