"""Building `gp_textures` with Apache Beam.

The main test builds a tiny config twice, once in a single process and once
on Beam's DirectRunner with two worker processes, and compares what was
written.  Beam is an optional extra: that test is skipped without it (CI
installs the `beam` extra, so it runs there).  The other tests need no Beam:
they check what a user is told when Beam is asked for but missing, and the
warning for large configs built without it.

What "byte for byte" means here: the shard files have the same names, the
same records in the same order, and every record's bytes are equal once the
`tf.train.Example` is serialised canonically.  The raw files are not compared
directly because TFDS serialises each example with protobuf's default
`SerializeToString()`, which writes the entries of the example's feature map
in an unspecified order (protocolbuffers/protobuf#2830) that varies between
processes: two single-process builds of the same config already differ in
those bytes.  Every feature value (the PNG of the image's float32 bits, the
label, the lengths) is compared byte for byte.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

import tfds_gp
from tfds_gp import beam_build, generator
from tfds_gp.gp_textures import GpTextures, GpTexturesConfig, LargeBuildWarning

TINY = GpTexturesConfig(
    name="tiny_beam_test",
    size=16,
    scales=[[1.0, 1.5], [3.0, 4.0]],
    powers=[0.75, 1.25],
    train_per_class=3,
    test_per_class=2,
    seed=11,
)

# Two worker processes: each example is made in whichever worker Beam hands
# its index to, so this exercises the per-example streams across processes.
TWO_WORKERS = (
    "runner=DirectRunner,direct_num_workers=2,direct_running_mode=multi_processing"
)


def _version_dir(data_dir: Path, config: GpTexturesConfig) -> Path:
    return data_dir / "gp_textures" / config.name / str(GpTextures.VERSION)


def _canonical_records(path: Path) -> list[bytes]:
    """The records of one TFRecord shard, each serialised canonically."""
    return [
        tf.train.Example.FromString(raw.numpy()).SerializeToString(deterministic=True)
        for raw in tf.data.TFRecordDataset(str(path))
    ]


def _feature_bytes(record: bytes) -> dict[str, bytes]:
    """Each feature's value bytes (the image is the stored PNG itself)."""
    example = tf.train.Example.FromString(record)
    return {
        key: value.SerializeToString()
        for key, value in example.features.feature.items()
    }


def test_beam_build_matches_plain_build(tmp_path):
    pytest.importorskip("apache_beam")
    plain = tfds.builder("gp_textures", config=TINY, data_dir=str(tmp_path / "plain"))
    plain.download_and_prepare()
    beam = tfds.builder("gp_textures", config=TINY, data_dir=str(tmp_path / "beam"))
    with warnings.catch_warnings():
        warnings.simplefilter("error", LargeBuildWarning)
        beam.download_and_prepare(
            download_config=tfds_gp.beam_download_config(TWO_WORKERS)
        )

    plain_dir, beam_dir = (
        _version_dir(tmp_path / "plain", TINY),
        _version_dir(tmp_path / "beam", TINY),
    )
    plain_files = sorted(p.name for p in plain_dir.iterdir())
    assert plain_files == sorted(p.name for p in beam_dir.iterdir())
    shards = [name for name in plain_files if ".tfrecord-" in name]
    assert len(shards) == 2  # one shard per split at this size

    for name in ("features.json", "label.labels.txt"):
        assert (plain_dir / name).read_bytes() == (beam_dir / name).read_bytes(), name
    # Split sizes, shard lengths and byte counts are recorded identically.
    info = json.loads((plain_dir / "dataset_info.json").read_text())
    assert info == json.loads((beam_dir / "dataset_info.json").read_text())
    assert {s["name"]: s["shardLengths"] for s in info["splits"]} == {
        "train": ["12"],
        "test": ["8"],
    }

    for shard in shards:
        plain_records = _canonical_records(plain_dir / shard)
        beam_records = _canonical_records(beam_dir / shard)
        assert len(plain_records) == len(beam_records) > 0
        # Same records in the same order, byte for byte.
        assert plain_records == beam_records, shard
        for a, b in zip(plain_records, beam_records, strict=True):
            assert _feature_bytes(a) == _feature_bytes(b)
        # Same file size too: only the order of map entries can differ.
        assert (plain_dir / shard).stat().st_size == (beam_dir / shard).stat().st_size

    # And the data is the generator's, read back through TFDS.
    images, labels = tfds_gp.load_numpy(TINY, "train")
    got = {
        r["image"].tobytes(): int(r["label"])
        for r in tfds.as_numpy(beam.as_dataset(split="train", shuffle_files=False))
    }
    assert got == {im.tobytes(): int(lb) for im, lb in zip(images, labels, strict=True)}


def _block_beam(monkeypatch):
    """Make `import apache_beam` fail, as if Beam were not installed."""
    for name in list(sys.modules):
        if name == "apache_beam" or name.startswith("apache_beam."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "apache_beam", None)


def test_beam_download_config_without_beam_says_what_to_install(monkeypatch):
    _block_beam(monkeypatch)
    with pytest.raises(ImportError, match=r"pip install 'keras-backdrop\[beam\]'"):
        tfds_gp.beam_download_config("runner=DirectRunner")


def test_beam_runner_without_beam_says_what_to_install(monkeypatch, tmp_path):
    _block_beam(monkeypatch)
    builder = tfds.builder("gp_textures", config=TINY, data_dir=str(tmp_path))
    with pytest.raises(ImportError, match=r"pip install 'keras-backdrop\[beam\]'"):
        builder.download_and_prepare(
            download_config=tfds.download.DownloadConfig(beam_runner="DirectRunner")
        )
    assert not _version_dir(tmp_path, TINY).exists()


def test_cli_beam_options_without_beam_says_what_to_install(monkeypatch, tmp_path):
    # `tfds build` drops --beam_pipeline_options when it cannot import Beam
    # (cli_utils catches the ImportError); the builder sees the flag on the
    # command line and refuses rather than quietly building in one process.
    # (The TFDS 4.9.10 CLI does not even start without Beam,
    # tensorflow/datasets#5463, so this runs the builder as the CLI would.)
    _block_beam(monkeypatch)
    monkeypatch.setattr(
        sys, "argv", ["tfds", "build", "--beam_pipeline_options=runner=DirectRunner"]
    )
    builder = tfds.builder("gp_textures", config=TINY, data_dir=str(tmp_path))
    with pytest.raises(ImportError, match=r"pip install 'keras-backdrop\[beam\]'"):
        builder.download_and_prepare()
    assert not _version_dir(tmp_path, TINY).exists()


def test_large_configs_are_estimated_large():
    large = beam_build.estimate_build(generator.PRESETS["paper_large"])
    assert large.num_examples == 12000 and large.large
    assert 30e9 < large.num_bytes < 60e9
    assert beam_build.estimate_build(generator.PRESETS["paper_2048"]).large
    for name in ("small", "medium", "paper", "three_scale"):
        assert not beam_build.estimate_build(generator.PRESETS[name]).large, name
    # TFDS's debugging cap shrinks the estimate.
    capped = beam_build.estimate_build(
        generator.PRESETS["paper_large"], max_examples_per_split=1
    )
    assert capped.num_examples == 2 and not capped.large
    assert "12000 examples" in large.describe() and "GB" in large.describe()


def test_estimate_build_checks_its_arguments():
    recipe = generator.PRESETS["small"]
    with pytest.raises(TypeError) as info:
        beam_build.estimate_build("small")
    assert "argument `recipe`" in str(info.value)
    assert "Received: recipe='small'" in str(info.value)
    with pytest.raises(TypeError) as info:
        beam_build.estimate_build(recipe, max_examples_per_split=1.5)
    assert "Received: max_examples_per_split=1.5" in str(info.value)
    with pytest.raises(ValueError) as info:
        beam_build.estimate_build(recipe, max_examples_per_split=-1)
    assert "argument `max_examples_per_split`" in str(info.value)
    assert "Received: max_examples_per_split=-1" in str(info.value)


def test_large_config_without_beam_warns_with_the_beam_command(monkeypatch, tmp_path):
    # Lower the threshold so that a tiny build counts as large.
    monkeypatch.setattr(beam_build, "WARN_BYTES", 0.0)
    builder = tfds.builder("gp_textures", config=TINY, data_dir=str(tmp_path))
    with pytest.warns(LargeBuildWarning) as caught:
        builder.download_and_prepare()
    message = str(caught[0].message)
    assert "'tiny_beam_test' is large (20 examples" in message
    assert "--config tiny_beam_test --beam_pipeline_options=" in message
    assert "keras-backdrop[beam]" in message
    assert builder.info.splits["train"].num_examples == 12  # it still builds


def test_requested_on_command_line():
    assert beam_build.requested_on_command_line(
        ["tfds", "build", "--beam_pipeline_options=runner=X"]
    )
    assert beam_build.requested_on_command_line(
        ["tfds", "--beam_pipeline_options", "runner=X"]
    )
    assert not beam_build.requested_on_command_line(
        ["tfds", "build", "--config", "small"]
    )


def test_beam_download_config_checks_options():
    pytest.importorskip("apache_beam")
    with pytest.raises(
        ValueError, match=r"'name=value' items .* got 'DirectRunner'"
    ) as info:
        tfds_gp.beam_download_config("DirectRunner")
    assert "argument `pipeline_options`" in str(info.value)
    assert "Received: pipeline_options='DirectRunner'" in str(info.value)
    with pytest.raises(
        TypeError, match=r"argument `pipeline_options`.*pipeline_options=5"
    ):
        tfds_gp.beam_download_config(5)
    with pytest.raises(TypeError, match=r"argument `pipeline_options`.*got 2"):
        tfds_gp.beam_download_config(["runner=DirectRunner", 2])
    config = tfds_gp.beam_download_config(
        ["runner=DirectRunner", "direct_num_workers=2"]
    )
    options = config.beam_options.get_all_options()
    assert options["runner"] == "DirectRunner" and options["direct_num_workers"] == 2
