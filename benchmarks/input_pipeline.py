"""Input pipeline: TFDS examples/s against the training step's consumption.

The pipeline is what a user writes: `tfds.load('gp_textures', ...)
.batch(B).prefetch(AUTOTUNE)`, iterated one epoch at a time through a
fresh iterator (as `fit` does each epoch; this counts the iterator's
start-up and the prefetch warm-up, so it errs on the slow side). The
consumer is the texture network with its two `BackdropMasking` layers at
the dataset's image size and the same batch size; of its steps with and
without `jit_compile`, the faster one is used, the more demanding case.
Both are timed in interleaved rounds. Target: the pipeline delivers at
least 5 times the examples per second the step consumes.

The dataset is built once (generated locally, nothing is downloaded) in
a temporary TFDS data directory, or in `$BENCH_TFDS_DATA_DIR` to reuse a
build across runs; the build time is not part of the measurement (the
dataset-build benchmark covers it).

Run: `python benchmarks/input_pipeline.py [--quick] [--out PATH.json]`.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from typing import Any

import tensorflow as tf
from _common import build_texture_model, main, texture_batch, texture_train_step
from _core import benchmark_result, interleaved_times

NAME = "input_pipeline"
TARGET = 5.0


def settings(quick: bool) -> dict[str, Any]:
    """Dataset config and repetition counts.

    Full mode uses the builder's default config (`small`: 256x256, 400
    training examples); quick mode a tiny custom config that builds in
    seconds. Quick-mode scales are the `small` lengths scaled to 64 pixels.
    """
    if quick:
        return {
            "config": {
                "size": 64,
                "scales": ((0.59375, 0.625), (5.0, 8.75)),
                "train_per_class": 4,
                "test_per_class": 1,
            },
            "batch": 4,
            "rounds": 2,
            "jit": (False,),
        }
    return {"config": "small", "batch": 8, "rounds": 9, "jit": (False, True)}


def load_pipeline(cfg: dict[str, Any], data_dir: str) -> tuple[Any, int, int]:
    """Builds (if needed) and loads the train split as the user would.

    Returns the batched, prefetched dataset, the image size and the number
    of training examples.
    """
    import tensorflow_datasets as tfds

    import tfds_gp

    tfds.disable_progress_bar()
    if isinstance(cfg["config"], str):
        builder_kwargs = {"config": cfg["config"]}
    else:
        builder_kwargs = {"config": tfds_gp.GpTexturesConfig(**cfg["config"])}
    ds, info = tfds.load(
        "gp_textures",
        split="train",
        as_supervised=True,
        data_dir=data_dir,
        builder_kwargs=builder_kwargs,
        with_info=True,
    )
    size = info.features["image"].shape[0]
    n_examples = info.splits["train"].num_examples
    return ds.batch(cfg["batch"]).prefetch(tf.data.AUTOTUNE), size, n_examples


def run(quick: bool) -> dict[str, Any]:
    """Times an epoch of the pipeline against as many training steps."""
    cfg = settings(quick)
    batch = cfg["batch"]
    data_dir = os.environ.get("BENCH_TFDS_DATA_DIR")
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        ds, size, n_examples = load_pipeline(cfg, data_dir or tmp)
        build_seconds = time.perf_counter() - start
        n_batches = -(-n_examples // batch)

        def epoch() -> None:
            # A fresh iterator per epoch, drained: every element decoded.
            for _ in ds:
                pass

        x, y = texture_batch(size, batch)
        steps = {}
        for jit in cfg["jit"]:
            step = texture_train_step(build_texture_model(size, "backdrop"), jit)
            steps[f"step_jit={jit}"] = lambda step=step: step(x, y)
        fns = {"pipeline_epoch": epoch, **steps}
        # One round times one epoch and as many steps as the epoch has
        # batches, so both spans cover similar stretches of machine time.
        calls = {"pipeline_epoch": 1, **{name: n_batches for name in steps}}
        # Throughput, so the mean over the calls, not the best call.
        times = interleaved_times(
            fns, rounds=cfg["rounds"], calls_per_round=calls, best=False
        )
    return _summarise(cfg, times, n_examples, n_batches, size, build_seconds)


def _summarise(
    cfg: dict[str, Any],
    times: dict[str, list[float]],
    n_examples: int,
    n_batches: int,
    size: int,
    build_seconds: float,
) -> dict[str, Any]:
    batch = cfg["batch"]
    pipeline_eps = n_examples / statistics.median(times["pipeline_epoch"])
    step_eps = {
        name: batch / statistics.median(t)
        for name, t in times.items()
        if name.startswith("step")
    }
    fastest = max(step_eps, key=step_eps.get)
    # Paired per round as well, for the noise band.
    paired = sorted(
        (n_examples / p) / (batch / s)
        for p, s in zip(times["pipeline_epoch"], times[fastest])
    )
    row = {
        "size": size,
        "batch": batch,
        "train_examples": n_examples,
        "pipeline_examples_per_s": pipeline_eps,
        "step_examples_per_s": step_eps[fastest],
        "fastest_step": fastest,
        "ratio": pipeline_eps / step_eps[fastest],
        "ratio_min_round": paired[0],
        "ratio_max_round": paired[-1],
    }
    return benchmark_result(
        NAME,
        not isinstance(cfg["config"], str),
        {**cfg, "batches_per_epoch": n_batches},
        [row],
        COLUMNS,
        dataset_build_seconds=build_seconds,
        step_examples_per_s=step_eps,
        target=f"pipeline / step examples per second >= {TARGET}",
        target_met=row["ratio"] >= TARGET,
    )


COLUMNS = (
    "size",
    "batch",
    "pipeline_examples_per_s",
    "step_examples_per_s",
    "fastest_step",
    "ratio",
    "ratio_min_round",
    "ratio_max_round",
)

if __name__ == "__main__":
    main(NAME, run)
