"""Layer cost in inference: predict time with / without the masks.

In inference `BackdropMasking` returns its input and adds no operation,
so the target is a ratio of 1.00 within noise. That is also checked as
behaviour, not only as timing: the inference graph of the masked network
must hold exactly the ops of the unmasked one (same op types, same
counts), hence no random-number op, no custom-gradient `IdentityN` and no
assertion of the layer.

Run: `python benchmarks/layer_inference.py [--quick] [--out PATH.json]`.
"""

from __future__ import annotations

import collections
import itertools
from typing import Any

import keras
import tensorflow as tf
from _common import build_texture_model, main, texture_batch
from _core import (
    RATIO_COLUMNS,
    benchmark_result,
    interleaved_times,
    print_table,
    ratio_row,
)

NAME = "layer_inference"

# Op types that would betray a mask in the graph: the random draw, the
# custom gradient's IdentityN and the pinned-index check. (The read of the
# pinned-index variable would show as one more ReadVariableOp than the
# unmasked graph has, which the equality of the counts catches.)
MASK_OP_MARKERS = ("Random", "IdentityN", "Assert")


def op_counts(
    model: keras.Model, size: int, training: bool = False
) -> collections.Counter:
    """Op types (with counts) of the model's forward graph.

    With `training=False` this is the graph `predict_on_batch` runs: the
    model called in inference mode inside a `tf.function`. Ops of nested
    functions are counted too, so nothing hides in a function call.
    """
    fn = tf.function(lambda x: model(x, training=training))
    concrete = fn.get_concrete_function(
        tf.TensorSpec((None, size, size, 1), tf.float32)
    )
    graph_def = concrete.graph.as_graph_def()
    counts = collections.Counter(node.op for node in graph_def.node)
    for function in graph_def.library.function:
        counts.update(node.op for node in function.node_def)
    return counts


def check_inference_graph(size: int) -> dict[str, Any]:
    """Asserts the masked inference graph equals the unmasked one.

    Returns the op counts of both for the JSON. Raises `AssertionError`
    if the masked graph has any op the unmasked one lacks, or any op of
    the mask (see `MASK_OP_MARKERS`).
    """
    plain = op_counts(build_texture_model(size, "none"), size)
    masked_model = build_texture_model(size, "backdrop")
    masked = op_counts(masked_model, size)
    # Positive control: in training the same model does hold the mask ops,
    # so the check below cannot pass merely because it looks for nothing.
    training = op_counts(masked_model, size, training=True)
    assert any("Random" in op for op in training), sorted(training)
    assert "IdentityN" in training, sorted(training)
    mask_ops = sorted(op for op in masked if any(m in op for m in MASK_OP_MARKERS))
    assert not mask_ops, f"mask ops in the inference graph: {mask_ops}"
    assert masked == plain, (
        f"inference graphs differ; ops only with the masks: "
        f"{masked - plain}, only without: {plain - masked}"
    )
    return {
        "size": size,
        "ops_without_masks": sum(plain.values()),
        "ops_with_masks": sum(masked.values()),
        "ops_with_masks_training": sum(training.values()),
        "identical_op_counts": masked == plain,
    }


def settings(quick: bool) -> dict[str, Any]:
    """Grid and repetition counts; quick mode is for CI, not for figures."""
    if quick:
        return {"sizes": (64,), "batches": (2,), "rounds": 2, "calls": 2}
    return {"sizes": (128, 256), "batches": (4, 8), "rounds": 15, "calls": 10}


def measure(size: int, batch: int, rounds: int, calls: int) -> dict[str, Any]:
    """`predict_on_batch` time of the masked network over the unmasked."""
    x, _ = texture_batch(size, batch)
    x = x.numpy()
    models = {v: build_texture_model(size, v) for v in ("none", "backdrop")}
    fns = {v: (lambda m=m: m.predict_on_batch(x)) for v, m in models.items()}
    times = interleaved_times(fns, rounds=rounds, calls_per_round=calls)
    return {
        "size": size,
        "batch": batch,
        **ratio_row(times["backdrop"], times["none"]),
    }


def run(quick: bool) -> dict[str, Any]:
    """Checks the graphs, then times predict over the grid."""
    cfg = settings(quick)
    graphs = [check_inference_graph(size) for size in cfg["sizes"]]
    rows = []
    for size, batch in itertools.product(cfg["sizes"], cfg["batches"]):
        rows.append(measure(size, batch, cfg["rounds"], cfg["calls"]))
        print_table(rows[-1:], COLUMNS)
    target = "ratio 1.00 within noise; no mask op in the inference graph"
    # Within noise: 1.00 lies inside the quartile band of the ratios.
    met = all(
        r["ratio_q25"] <= 1.0 + 0.01 and r["ratio_q75"] >= 1.0 - 0.01 for r in rows
    ) and all(g["identical_op_counts"] for g in graphs)
    return benchmark_result(
        NAME,
        quick,
        cfg,
        rows,
        COLUMNS,
        target=target,
        target_met=met,
        graph_checks=graphs,
    )


COLUMNS = ("size", "batch", "baseline_ms", *RATIO_COLUMNS)

if __name__ == "__main__":
    main(NAME, run)
