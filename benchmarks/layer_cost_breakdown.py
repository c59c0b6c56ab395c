"""Where the layer's training cost goes: an ablation of its parts.

`layer_training` gives the total cost of the two masks. To say what costs
what, the texture network is timed with stripped-down layers at the same
two positions, each adding one part of `BackdropMasking` on top of the
previous one:

* `none`: no layer (the baseline);
* `grad_only`: `mask_gradient` with an all-ones mask read from a
  variable (a constant one could be folded away by Grappler): the custom
  gradient (`IdentityN`) and the backward multiplication of the whole
  activation by the mask, nothing drawn;
* `draw_unpinned`: `BackdropMasking` with the pinned-index (diagnostic)
  machinery switched off, i.e. the layer's own `call` and `draw_mask`
  with `pinned_flat_index=None`: the seed step, the Philox uniforms, the
  never-empty rule (the arg-max entry lifted through a `one_hot`), the
  count normalisation, plus the above;
* `backdrop`: the layer as shipped; against `draw_unpinned` it adds what
  the pinned mode costs at every step even when nothing is pinned (the
  variable read, the stride arithmetic, two selects; no run-time check,
  since every write of the pin is checked).

Whole training steps on a loaded two-core machine scatter by tens of
percent from round to round, far more than the few percent at stake. So
the added time is measured where it can be resolved: the layers alone.
At each grid point, a `tf.function` (with the step's `jit_compile`) runs
forward and backward through the two layers only, on activations of the
fine-mask and coarse-mask shapes; the same function with no layer is the
baseline, and the difference, best of a few calls, median over
interleaved rounds, is the layer's added time per training step, to a
few microseconds. Divided by the unmasked network's step time (its best
call, the least disturbed figure) this gives an estimated step ratio.
That estimate assumes the added ops do not overlap the convolutions; the
TF executor can run them concurrently, so it errs on the high side.

Also reported per variant: the ops it adds to the traced training step,
the deterministic half of the story (on CPU without XLA each small op
costs executor time of the order of microseconds, whatever its size).

Run: `python benchmarks/layer_cost_breakdown.py [--quick] [--out PATH]`.
"""

from __future__ import annotations

import collections
import statistics
from typing import Any

import keras
import tensorflow as tf
from _common import (
    FILTERS,
    build_texture_model,
    main,
    texture_batch,
    texture_conv_plan,
    texture_train_step,
)
from _core import benchmark_result, interleaved_times, print_table

from keras_backdrop import BackdropMasking, mask_gradient

NAME = "layer_cost_breakdown"
VARIANTS = ("none", "grad_only", "draw_unpinned", "backdrop")


class GradOnly(keras.layers.Layer):
    """`mask_gradient` with an all-ones spatial mask: no draw at all.

    The mask is read from a variable: a constant all-ones mask would let
    Grappler fold the multiplication away and measure nothing.
    """

    def build(self, input_shape):
        self.ones = self.add_weight(
            shape=(1, input_shape[1], input_shape[2], 1),
            initializer="ones",
            trainable=False,
            name="ones",
        )

    def call(self, inputs, training=None):
        if not training:
            return inputs
        return mask_gradient(inputs, tf.convert_to_tensor(self.ones))


class UnpinnedBackdrop(BackdropMasking):
    """`BackdropMasking` without its pinned-index (diagnostic) machinery.

    Everything else is the layer's own code path: `call` and `draw_mask`
    are inherited, so this variant follows any change to the draw.
    """

    def _pinned_flat_index(self, impl, dims):
        # `draw_mask(pinned_flat_index=None)` skips the pin altogether.
        return None


def _layer(variant: str, mask_prob: float, seed: int, name: str | None = None):
    if variant == "grad_only":
        return GradOnly(name=name)
    if variant == "draw_unpinned":
        return UnpinnedBackdrop(
            mask_prob=mask_prob, mask_axes=(1, 2), seed=seed, name=name
        )
    if variant == "backdrop":
        return BackdropMasking(
            mask_prob=mask_prob, mask_axes=(1, 2), seed=seed, name=name
        )
    return None


def build(size: int, variant: str, seed: int = 0) -> keras.Model:
    """The package's texture network (`_common`), with an ablated layer."""
    if variant == "none":
        return build_texture_model(size, "none", seed)
    return build_texture_model(
        size,
        seed=seed,
        mask_layer=lambda mask_prob, mask_axes, seed, name: _layer(
            variant, mask_prob, seed, name
        ),
    )


def step_op_counts(step, x, y) -> collections.Counter:
    """Op types of the traced training step, nested functions included."""
    graph_def = step.get_concrete_function(x, y).graph.as_graph_def()
    counts = collections.Counter(node.op for node in graph_def.node)
    for function in graph_def.library.function:
        counts.update(node.op for node in function.node_def)
    return counts


def settings(quick: bool) -> dict[str, Any]:
    """Grid and repetition counts; quick mode is for CI, not for figures."""
    if quick:
        return {
            "points": ((64, 2),),
            "jit": (False,),
            "rounds": 3,
            "calls": 3,
            "step_rounds": 2,
        }
    return {
        "points": ((128, 4), (128, 8), (256, 4), (256, 8)),
        "jit": (False, True),
        "rounds": 41,
        "calls": 10,
        "step_rounds": 9,
    }


def mask_shapes(size: int, batch: int) -> list[tuple[int, int, int, int]]:
    """Activation shapes at the fine and the coarse mask positions."""
    n_convs, fine_after, coarse_after = texture_conv_plan(size)
    return [
        (batch, size >> after, size >> after, FILTERS)
        for after in (fine_after, coarse_after)
    ]


def layers_only_fn(variant: str, shapes, jit: bool):
    """Forward and backward through the two layers alone, as one call.

    The activations are fixed inputs and the loss a weighted sum, so the
    gradient reaching the layers is a full tensor, as in the network; the
    variant `none` is the same computation with no layer.
    """
    xs = [tf.random.normal(shape) for shape in shapes]
    ws = [tf.random.normal(shape) for shape in shapes]
    layers = [_layer(variant, prob, seed=i + 1) for i, prob in enumerate((0.3, 0.95))]
    for layer, shape in zip(layers, shapes):
        if layer is not None:
            layer.build(shape)

    @tf.function(jit_compile=jit)
    def fn():
        with tf.GradientTape() as tape:
            tape.watch(xs)
            loss = 0.0
            for x, w, layer in zip(xs, ws, layers):
                y = layer(x, training=True) if layer is not None else x
                loss += tf.reduce_sum(y * w)
        return tape.gradient(loss, xs)

    return fn


def measure(
    size: int, batch: int, jit: bool, cfg: dict[str, Any]
) -> list[dict[str, Any]]:
    """Rows for one grid point: added ms, estimated ratio, added ops."""
    x, y = texture_batch(size, batch)
    # The unmasked step's time and every variant's op count.
    ops = {}
    base_step = None
    for variant in VARIANTS:
        step = texture_train_step(build(size, variant), jit)
        ops[variant] = sum(step_op_counts(step, x, y).values())
        if variant == "none":
            base_step = step
    step_times = interleaved_times(
        {"none": lambda: base_step(x, y)},
        rounds=cfg["step_rounds"],
        calls_per_round=cfg["calls"],
    )["none"]
    step_ms = 1000 * min(step_times)
    shapes = mask_shapes(size, batch)
    fns = {v: layers_only_fn(v, shapes, jit) for v in VARIANTS}
    times = interleaved_times(fns, rounds=cfg["rounds"], calls_per_round=cfg["calls"])
    rows = []
    for variant in VARIANTS[1:]:
        added = [1000 * (c - b) for c, b in zip(times[variant], times["none"])]
        q = statistics.quantiles(added, n=4) if len(added) > 1 else added * 3
        rows.append(
            {
                "size": size,
                "batch": batch,
                "jit_compile": jit,
                "variant": variant,
                "step_ms_best": step_ms,
                "added_ms": statistics.median(added),
                "added_ms_q25": q[0],
                "added_ms_q75": q[-1],
                "estimated_ratio": 1.0 + statistics.median(added) / step_ms,
                "added_graph_ops": ops[variant] - ops["none"],
            }
        )
    return rows


def run(quick: bool) -> dict[str, Any]:
    """Runs the ablation grid."""
    cfg = settings(quick)
    rows: list[dict[str, Any]] = []
    for jit in cfg["jit"]:
        for size, batch in cfg["points"]:
            rows.extend(measure(size, batch, jit, cfg))
            print_table(rows[1 - len(VARIANTS) :], COLUMNS)
    return benchmark_result(NAME, quick, cfg, rows, COLUMNS)


COLUMNS = (
    "size",
    "batch",
    "jit_compile",
    "variant",
    "step_ms_best",
    "added_ms",
    "added_ms_q25",
    "added_ms_q75",
    "estimated_ratio",
    "added_graph_ops",
)

if __name__ == "__main__":
    main(NAME, run)
