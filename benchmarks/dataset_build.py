"""Cost of building `gp_textures` with TFDS against generating the same arrays.

For each config: ``generate`` is the NumPy generation of every example of
both splits (:func:`tfds_gp.generator.split_arrays`), the floor; ``encode``
is the builder's feature encoding of those examples (the images' raw
float32 bytes since dataset 2.0.0; a PNG of their bits before); ``build`` is
``download_and_prepare`` into a fresh temporary data directory (generation,
encoding, serialisation, shuffling, writing); ``read`` is one pass over the
train split with ``tfds.as_numpy``. The table gives images per second of
the build and the shares of generating and encoding in it (the rest is
serialising, shuffling and writing). TensorFlow's import and graph set-up
are paid before timing.

Quick mode builds a 256 x 256 custom config with 8 + 8 examples per class;
the full mode builds the default ``small`` config and the ``paper`` config.

Run: ``python benchmarks/dataset_build.py [--quick] [--out result.json]``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


def _configs(quick: bool):
    from tfds_gp.gp_textures import GpTextures, GpTexturesConfig

    if quick:
        small = GpTextures.builder_configs["small"]
        return [
            GpTexturesConfig(
                name="bench_quick",
                size=small.size,
                scales=small.scales,
                powers=small.powers,
                train_per_class=8,
                test_per_class=8,
                seed=99,
            )
        ]
    return [GpTextures.builder_configs[name] for name in ("small", "paper")]


def _warm_up(tfds) -> None:
    # Import TensorFlow and build the PNG encoder graph once, outside timing.
    feature = tfds.features.Image(shape=(8, 8, 1), dtype=np.float32)
    feature.encode_example(np.zeros((8, 8, 1), np.float32))


def _time_config(config, tfds, generator) -> dict:
    recipe = config.recipe
    n_examples = recipe.num_examples("train") + recipe.num_examples("test")

    from tfds_gp import records

    start = time.perf_counter()
    arrays = [generator.split_arrays(recipe, split) for split in ("train", "test")]
    t_generate = time.perf_counter() - start

    data_dir = tempfile.mkdtemp(prefix="gp_textures_bench_")
    try:
        builder = tfds.builder("gp_textures", config=config, data_dir=data_dir)
        features = builder.info.features
        gp_classes = recipe.classes
        start = time.perf_counter()
        for images, labels in arrays:
            for image, label in zip(images, labels, strict=True):
                features.encode_example(
                    records.record(image[:, :, 0], gp_classes[label])
                )
        t_encode = time.perf_counter() - start
        del arrays
        start = time.perf_counter()
        builder.download_and_prepare(
            download_config=tfds.download.DownloadConfig(
                compute_stats=tfds.download.ComputeStatsMode.SKIP
            )
        )
        t_build = time.perf_counter() - start

        start = time.perf_counter()
        n_read = sum(1 for _ in tfds.as_numpy(builder.as_dataset(split="train")))
        t_read = time.perf_counter() - start
        disk = sum(f.stat().st_size for f in Path(data_dir).rglob("*") if f.is_file())
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    return {
        "config": config.name,
        "size": config.size,
        "examples": n_examples,
        "generate_s": t_generate,
        "build_s": t_build,
        "read_train_s": t_read,
        "train_examples": n_read,
        "encode_s": t_encode,
        "images_per_s": n_examples / t_build,
        "generate_share": t_generate / t_build,
        "encode_share": t_encode / t_build,
        "ratio_build_to_generate": t_build / t_generate,
        "ms_per_example_build": 1e3 * t_build / n_examples,
        "ms_per_example_generate": 1e3 * t_generate / n_examples,
        "disk_mb": disk / 1e6,
    }


def run(quick: bool) -> dict:
    """Builds the configs; returns ``{'rows': [...], 'ratios': {...}}``."""
    import tensorflow_datasets as tfds

    import tfds_gp  # noqa: F401  (registers gp_textures)
    from tfds_gp import generator

    tfds.disable_progress_bar()
    _warm_up(tfds)
    rows = [_time_config(config, tfds, generator) for config in _configs(quick)]
    ratios = {
        f"{row['config']}_build_over_generate": row["ratio_build_to_generate"]
        for row in rows
    }
    result = {
        "benchmark": "dataset_build",
        "quick": quick,
        "rows": rows,
        "ratios": ratios,
    }
    # run_all.py and report.py show a benchmark's "table".
    result["table"] = _table(result)
    return result


def _table(result: dict) -> str:
    """The rows as a fixed-width table."""
    lines = [
        f"{'config':12s} {'size':>5s} {'examples':>8s} {'generate s':>11s} "
        f"{'encode s':>9s} {'build s':>9s} {'images/s':>9s} {'gen share':>9s} "
        f"{'enc share':>9s} {'read train s':>12s} {'disk MB':>8s}"
    ]
    for r in result["rows"]:
        lines.append(
            f"{r['config']:12s} {r['size']:5d} {r['examples']:8d} "
            f"{r['generate_s']:11.2f} {r['encode_s']:9.2f} {r['build_s']:9.2f} "
            f"{r['images_per_s']:9.1f} {r['generate_share']:9.2f} "
            f"{r['encode_share']:9.2f} {r['read_train_s']:12.2f} {r['disk_mb']:8.1f}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    from _cli import main

    main(__doc__.splitlines()[0], run, "a small custom config only")
