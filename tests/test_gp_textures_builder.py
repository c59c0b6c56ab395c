"""Tests of the `gp_textures` TFDS builder.

The two `DatasetBuilderTestCase` classes run TFDS's own builder checks
(registration, metadata, generation, serialisation, reading back, split
sizes, no overlap between splits) on tiny configs.  The generated dataset
needs no dummy data, but the test case wants a directory for it (and uses it
as the manual directory when the builder declares manual instructions), so
each class makes a temporary one; the `published` class writes a small file in
the authors' format there.
"""

from __future__ import annotations

import pickle
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import tensorflow_datasets as tfds

import tfds_gp
from tfds_gp import generator, published
from tfds_gp.gp_textures import GpTextures, GpTexturesConfig

TINY = GpTexturesConfig(
    name="tiny_test",
    size=16,
    scales=[[1.0, 1.5], [3.0, 4.0]],
    powers=[0.75, 1.25],
    train_per_class=2,
    test_per_class=1,
    seed=5,
)

TINY_PUBLISHED = GpTexturesConfig(
    name="tiny_published_test",
    size=16,
    scales=[[1.0, 1.5], [3.0, 4.0]],
    powers=[0.75, 1.25],
    train_per_class=2,
    test_per_class=1,
    seed=5,
    source="published",
)


def _write_published_zip(directory: Path, config: GpTexturesConfig) -> list:
    """A file in the authors' format (pickle protocol 3 inside dataset.zip)."""
    recipe = config.recipe
    rng = np.random.default_rng(123)
    records = [
        [rng.standard_normal((config.size, config.size)).astype(np.float32), i % 4]
        for i in range(recipe.num_examples("train"))
    ]
    lookup = {c.label: c.name for c in recipe.classes}
    with zipfile.ZipFile(directory / published.ZIP_NAME, "w") as archive:
        archive.writestr(
            published.MEMBER_NAME, pickle.dumps([records, lookup], protocol=3)
        )
    return records


class _TempExampleDir:
    @classmethod
    def setUpClass(cls):
        cls.EXAMPLE_DIR = tempfile.mkdtemp(prefix="gp_textures_dummy_")
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        shutil.rmtree(cls.EXAMPLE_DIR, ignore_errors=True)


class GpTexturesGeneratedTest(_TempExampleDir, tfds.testing.DatasetBuilderTestCase):
    DATASET_CLASS = GpTextures
    BUILDER_CONFIG_NAMES_TO_TEST = [TINY]
    SPLITS = {"train": 8, "test": 4}
    SKIP_CHECKSUMS = True


class GpTexturesPublishedTest(_TempExampleDir, tfds.testing.DatasetBuilderTestCase):
    DATASET_CLASS = GpTextures
    BUILDER_CONFIG_NAMES_TO_TEST = [TINY_PUBLISHED]
    SPLITS = {"train": 8, "test": 4}
    SKIP_CHECKSUMS = True

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        _write_published_zip(Path(cls.EXAMPLE_DIR), TINY_PUBLISHED)


# --- behaviour beyond the TFDS checks -----------------------------------------


def _build(config, data_dir, manual_dir=None):
    builder = tfds.builder("gp_textures", config=config, data_dir=str(data_dir))
    download_config = tfds.download.DownloadConfig(
        manual_dir=str(manual_dir) if manual_dir else None
    )
    builder.download_and_prepare(download_config=download_config)
    return builder


def _records(builder, split):
    return list(tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False)))


@pytest.fixture(scope="module")
def tiny_builder(tmp_path_factory):
    return _build(TINY, tmp_path_factory.mktemp("tiny"))


def test_import_registers_builder():
    assert "gp_textures" in tfds.list_builders(with_community_datasets=False)
    assert tfds.builder_cls("gp_textures") is GpTextures
    assert tfds_gp.GpTextures is GpTextures


def test_builder_configs_and_default():
    names = [c.name for c in GpTextures.BUILDER_CONFIGS]
    assert names == [
        "small",
        "medium",
        "paper",
        "three_scale",
        "published",
        "reference",
        "reference_half",
        "paper_large",
        "paper_2048",
    ]
    assert GpTextures.BUILDER_CONFIGS[0].name == "small"
    paper = GpTextures.builder_configs["paper"]
    assert paper.size == 1024
    assert paper.scales == ((9.5, 10.0), (80.0, 140.0))
    assert paper.powers == (0.75, 1.25)
    assert paper.train_per_class == 25 and paper.test_per_class > 0
    assert GpTextures.builder_configs["three_scale"].recipe.num_classes == 8
    assert GpTextures.builder_configs["published"].source == "published"
    for config in GpTextures.BUILDER_CONFIGS:
        assert config.description and str(config.size) in config.description


def test_info_features_and_metadata(tmp_path):
    builder = tfds.builder("gp_textures", data_dir=str(tmp_path))  # default: small
    info = builder.info
    assert builder.builder_config.name == "small"
    assert info.features["image"].shape == (256, 256, 1)
    assert info.features["image"].np_dtype == np.float32
    assert info.features["label"].names == ["2.375-20", "2.5-20", "2.375-35", "2.5-35"]
    assert info.features["correlation_lengths"].shape == (2,)
    assert info.supervised_keys == ("image", "label")
    assert "Gaussian" in info.description
    assert "1806.01337" in info.citation and "10.5281/zenodo.1252464" in info.citation
    assert "zenodo" in info.homepage


def test_records_equal_numpy_helper(tiny_builder):
    # The TFDS records are exactly the generator's arrays (order aside).
    images, labels = tfds_gp.load_numpy(TINY, "train")
    records = _records(tiny_builder, "train")
    assert len(records) == len(images) == 8

    def key(image):
        return image.tobytes()

    want = {key(im): int(lb) for im, lb in zip(images, labels, strict=True)}
    got = {key(r["image"]): int(r["label"]) for r in records}
    assert got == want
    for r in records:
        cls = TINY.recipe.classes[r["label"]].cls
        np.testing.assert_array_equal(r["correlation_lengths"], np.float32(cls))


def test_building_twice_gives_identical_records(tiny_builder, tmp_path):
    again = _build(TINY, tmp_path)
    for split in ("train", "test"):
        first, second = _records(tiny_builder, split), _records(again, split)
        assert len(first) == len(second)
        for a, b in zip(first, second, strict=True):
            assert a["label"] == b["label"]
            np.testing.assert_array_equal(a["image"], b["image"])


def test_as_supervised_gives_the_generated_images_bit_for_bit(tiny_builder):
    ds = tiny_builder.as_dataset(split="test", as_supervised=True)
    pairs = list(tfds.as_numpy(ds))
    assert len(pairs) == 4
    images, labels = generator.split_arrays(TINY.recipe, "test")
    # TFDS orders records by hashed key; match them by content.
    stored = sorted(pairs, key=lambda p: p[0].tobytes())
    expected = sorted(zip(images, labels, strict=True), key=lambda p: p[0].tobytes())
    for (image, label), (want_image, want_label) in zip(stored, expected, strict=True):
        assert image.shape == (16, 16, 1) and image.dtype == np.float32
        assert image.tobytes() == want_image.tobytes()  # lossless, NaN-safe
        assert label == want_label


def test_custom_config_settable_sizes_and_derived_name(tmp_path):
    config = GpTexturesConfig(
        size=16,
        scales=[[2.0], [3.0, 4.0]],
        powers=[1.0, 2.0],
        train_per_class=3,
        test_per_class=0,
    )
    assert config.name.startswith("custom_")
    same = GpTexturesConfig(
        size=16,
        scales=[[2.0], [3.0, 4.0]],
        powers=[1.0, 2.0],
        train_per_class=3,
        test_per_class=0,
    )
    other = GpTexturesConfig(
        size=16,
        scales=[[2.0], [3.0, 4.0]],
        powers=[1.0, 2.0],
        train_per_class=4,
        test_per_class=0,
    )
    assert same.name == config.name != other.name
    builder = _build(config, tmp_path)
    assert builder.info.splits["train"].num_examples == 6
    assert "test" not in builder.info.splits  # TFDS cannot store an empty split
    assert builder.info.features["label"].names == ["2-3", "2-4"]


def test_custom_config_cannot_reuse_builtin_name(tmp_path):
    with pytest.raises(ValueError, match="Cannot name a custom BuilderConfig"):
        tfds.builder(
            "gp_textures",
            config=GpTexturesConfig(
                name="small", size=64, scales=[[2.0]], powers=[1.0]
            ),
            data_dir=str(tmp_path),
        )


def test_config_validation():
    with pytest.raises(ValueError, match="too large for size=64"):
        GpTexturesConfig(size=64, scales=[[2.0], [20.0]], powers=[1.0, 1.0])
    with pytest.raises(
        ValueError, match="`source`: expected 'generated' or 'published'"
    ):
        GpTexturesConfig(size=64, scales=[[2.0]], powers=[1.0], source="web")


def test_published_config_reads_file_and_checks_count(tmp_path):
    manual = tmp_path / "manual"
    manual.mkdir()
    written = _write_published_zip(manual, TINY_PUBLISHED)
    builder = _build(TINY_PUBLISHED, tmp_path / "data", manual)
    got = {
        r["image"][:, :, 0].tobytes(): int(r["label"])
        for r in _records(builder, "train")
    }
    assert got == {im.tobytes(): lb for im, lb in written}
    # The test split is generated with the recipe.
    images, _ = generator.split_arrays(TINY_PUBLISHED.recipe, "test")
    test_images = {r["image"].tobytes() for r in _records(builder, "test")}
    assert test_images == {im.tobytes() for im in images}

    # A file with the wrong number of samples is refused, naming the file.
    wrong = GpTexturesConfig(
        **{**TINY_PUBLISHED.parameters(), "train_per_class": 3, "name": "wrong_count"}
    )
    with pytest.raises(
        published.PublishedFileError,
        match=r"dataset\.zip: holds 8 samples, expected 12",
    ):
        _build(wrong, tmp_path / "data2", manual)


def test_published_config_missing_file_names_it(tmp_path):
    manual = tmp_path / "manual"
    manual.mkdir()
    (manual / "unrelated.txt").write_text("x")
    with pytest.raises(
        published.PublishedFileError, match=r"manual/dataset\.zip: file not found"
    ):
        _build(TINY_PUBLISHED, tmp_path / "data", manual)


def test_published_config_refuses_malicious_file(tmp_path):
    manual = tmp_path / "manual"
    manual.mkdir()
    marker = tmp_path / "pwned"

    class Bomb:
        def __reduce__(self):
            import os

            return os.system, (f"touch {marker}",)

    with zipfile.ZipFile(manual / published.ZIP_NAME, "w") as archive:
        archive.writestr(published.MEMBER_NAME, pickle.dumps(Bomb()))
    with pytest.raises(pickle.UnpicklingError, match="refused to load global"):
        _build(TINY_PUBLISHED, tmp_path / "data", manual)
    assert not marker.exists()


@pytest.mark.slow
def test_paper_config_builds(tmp_path):
    builder = _build("paper", tmp_path)
    assert builder.info.splits["train"].num_examples == 100
    assert builder.info.splits["test"].num_examples == 100
    first = next(iter(tfds.as_numpy(builder.as_dataset(split="train").take(1))))
    assert first["image"].shape == (1024, 1024, 1)


def test_builder_folder_loads_like_tfds_build():
    # `tfds build tfds_gp/gp_textures` finds the builder by importing
    # gp_textures_dataset_builder.py from the folder (the CLI's own loader).
    from tensorflow_datasets.scripts.cli import build as tfds_build

    folder = Path(tfds_gp.__file__).parent / "gp_textures"
    cls, kwargs = tfds_build._get_builder_cls_and_kwargs(str(folder), has_imports=False)
    assert kwargs == {}
    assert cls.name == "gp_textures"
    assert issubclass(cls, tfds.core.GeneratorBasedBuilder)
    assert [c.name for c in cls.BUILDER_CONFIGS][0] == "small"
    # The registered builder is untouched by the second import.
    assert tfds.builder_cls("gp_textures") is GpTextures
