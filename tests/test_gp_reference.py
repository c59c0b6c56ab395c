"""The authors' construction (``construction='reference'``) against its recipe.

The recipe is the design page's section 4, "The authors' construction": a
small length is a sum of ``int(6 (size / (30 cl / 8))^2)`` GP patches (a
50 x 50 grid, squared-exponential length 8 grid points), upscaled by
``cl / 8`` with cubic interpolation, times ``exp(-23 r^2)``, added at
uniformly random corners with the borders wrapped, the image normalised;
a large length is a GP on a ``size / 8`` grid of length ``cl / 8`` grid
points upscaled x8.  The expected values here are computed by hand or by
independent code (FITPACK's bicubic spline, ``np.add.at`` on wrapped
indices, the kernel formula), never by the module under test.
"""

from __future__ import annotations

import dataclasses
import math
import pickle

import numpy as np
import pytest
import scipy.interpolate

import tfds_gp
from tfds_gp import generator as g
from tfds_gp import records
from tfds_gp import reference as ref


def _kernel_1d(n: int, length: float) -> np.ndarray:
    i = np.arange(n)
    return np.exp(-((i[:, None] - i[None, :]) ** 2) / (2.0 * length**2))


def _bicubic(values: np.ndarray, n_out: int) -> np.ndarray:
    """FITPACK's interpolating bicubic spline, corner-aligned grids."""
    n = values.shape[0]
    x = np.linspace(0.0, 1.0, n)
    spline = scipy.interpolate.RectBivariateSpline(x, x, values, kx=3, ky=3, s=0)
    out = np.linspace(0.0, 1.0, n_out)
    return spline(out, out)


# --- the recipe's numbers -----------------------------------------------------


def test_patch_count_and_side_follow_the_formula():
    # 6 (1024 / (30 * 9.5 / 8))^2 = 6 (1024 / 35.625)^2 = 4957.47...
    assert ref.patch_count(9.5, 1024) == 4957
    # 6 (1024 / 37.5)^2 = 4473.9...
    assert ref.patch_count(10, 1024) == 4473
    # 6 (512 / 35.625)^2 = 1239.4; below 8 px the patch is not upscaled:
    # 6 (1024 / 30)^2 = 6990.5.
    assert ref.patch_count(9.5, 512) == 1239
    assert ref.patch_count(4.0, 1024) == 6990
    assert ref.patch_count(9.5, 38) == 6  # 6 (38 / 35.625)^2 = 6.83
    assert ref.patch_count(0.5, 2) == 1  # at least one patch
    # 50 * 9.5 / 8 = 59.375 and 50 * 10 / 8 = 62.5: "about 59 and 62".
    assert (ref.patch_side(9.5), ref.patch_side(10), ref.patch_side(40)) == (
        59,
        62,
        250,
    )
    assert ref.patch_side(3.0) == 50
    assert ref.large_grid(1024) == 128 and ref.large_grid(256) == 32
    assert ref.large_grid(1001) == 126  # ceil(1001 / 8)


def test_envelope_shape():
    side = 59
    env = ref.envelope(side)
    x = np.linspace(0.0, 1.0, side)
    # Centre 1, edge midpoints exp(-23/4), corners exp(-23/2); Gaussian
    # of sigma 1 / sqrt(46) = 0.147 patch sides.
    assert env[29, 29] == 1.0
    assert math.isclose(env[0, 29], math.exp(-23 / 4), rel_tol=1e-12)
    assert math.isclose(env[-1, -1], math.exp(-23 / 2), rel_tol=1e-12)
    expected = np.exp(-((x[:, None] - 0.5) ** 2 + (x[None, :] - 0.5) ** 2) / 2 / 46**-1)
    np.testing.assert_allclose(env, expected, rtol=1e-12)
    np.testing.assert_array_equal(env, env.T)
    assert not env.flags.writeable


# --- exact factors --------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "length"), [(50, 8.0), (50, 2.375), (128, 10.0), (128, 17.5)]
)
def test_factor_squares_to_the_kernel(n, length):
    # The patch GP (50 grid points, length 8) and the coarse GPs of the
    # paper's large lengths (128 points, 80/8 and 140/8): A A^T = K1, so
    # A Z A^T has covariance K1 (x) K1, the 2-D squared-exponential kernel.
    root = ref.se_sqrt(n, length)
    np.testing.assert_allclose(root @ root.T, _kernel_1d(n, length), atol=1e-12)
    np.testing.assert_array_equal(root, root.T)


def test_patch_gp_covariance_is_the_squared_exponential_of_length_8():
    # Many 50x50 patches before envelope and upscaling, drawn as the module
    # draws them (two matrix products); empirical covariance at offsets.
    rng = np.random.default_rng(0)
    z = rng.standard_normal((3000, 50, 50))
    patches = ref._sandwich(ref.se_sqrt(50, 8.0), z)
    assert abs(patches.mean()) < 0.03
    for dy, dx in [(0, 0), (0, 4), (3, 0), (5, 5), (0, 8), (10, 6), (0, 20)]:
        a = patches[:, : 50 - dy, : 50 - dx]
        b = patches[:, dy:, dx:]
        got = float((a * b).mean())
        expected = math.exp(-(dx * dx + dy * dy) / (2 * 8.0**2))
        assert abs(got - expected) < 0.04, (dy, dx, got, expected)
    # Not periodic: opposite edges of a patch are uncorrelated (k(49) ~ 0).
    assert abs(float((patches[:, :, 0] * patches[:, :, -1]).mean())) < 0.04


def test_coarse_gp_covariance_has_length_cl_over_8():
    rng = np.random.default_rng(1)
    length = 80 / 8
    fields = ref._sandwich(
        ref.se_sqrt(128, length), rng.standard_normal((300, 128, 128))
    )
    for dy, dx in [(0, 0), (0, 5), (10, 0), (7, 7), (0, 20)]:
        a = fields[:, : 128 - dy, : 128 - dx]
        b = fields[:, dy:, dx:]
        expected = math.exp(-(dx * dx + dy * dy) / (2 * length**2))
        assert abs(float((a * b).mean()) - expected) < 0.05, (dy, dx)


# --- upscaling ------------------------------------------------------------------


def test_cubic_matrix_is_the_bicubic_spline_on_corner_aligned_grids():
    rng = np.random.default_rng(2)
    values = rng.standard_normal((50, 50))
    for side in (59, 62):
        m = ref.cubic_matrix(50, side)
        assert m.shape == (side, 50)
        np.testing.assert_allclose(m @ values @ m.T, _bicubic(values, side), atol=1e-10)
        # Corners on corners: the first and last pixels are the grid's.
        np.testing.assert_allclose(m[0], np.eye(50)[0], atol=1e-14)
        np.testing.assert_allclose(m[-1], np.eye(50)[-1], atol=1e-14)
    # x8 for the coarse grid: 128 points onto 1024, cubics reproduced.
    m = ref.cubic_matrix(128, 1024)
    x, y = np.linspace(0, 1, 128), np.linspace(0, 1, 1024)
    np.testing.assert_allclose(m @ (x**3 - x), y**3 - y, atol=1e-12)


# --- wrapped accumulation -------------------------------------------------------


def test_patches_wrap_around_the_borders_and_keep_their_sum():
    size, side = 64, 10
    patches = np.arange(2 * side * side, dtype=float).reshape(2, side, side) + 1.0
    corners = np.array([[60, 58], [0, 20]])
    canvas = ref._canvas(size, side)
    ref._add_patches(canvas, patches, corners)
    image = ref._fold(canvas, size)
    assert math.isclose(image.sum(), patches.sum())
    # Independent: each patch pixel added at its wrapped position.
    expected = np.zeros((size, size))
    for patch, (r, c) in zip(patches, corners, strict=True):
        rows = (r + np.arange(side)) % size
        cols = (c + np.arange(side)) % size
        np.add.at(expected, (rows[:, None], cols[None, :]), patch)
    np.testing.assert_array_equal(image, expected)
    # The first patch's top-left pixel is at (60, 58) and its bottom-right
    # one wrapped to (5, 3).
    assert image[60, 58] == patches[0, 0, 0]
    assert image[5, 3] == patches[0, -1, -1]
    # A patch larger than the image wraps several times.
    big = np.ones((1, 50, 50))
    canvas = ref._canvas(16, 50)
    ref._add_patches(canvas, big, np.array([[15, 3]]))
    folded = ref._fold(canvas, 16)
    # 50 pixels over 16 wrap 3 or 4 times along each axis.
    per_row = np.bincount((15 + np.arange(50)) % 16, minlength=16)
    per_col = np.bincount((3 + np.arange(50)) % 16, minlength=16)
    assert sorted(set(per_row)) == [3, 4]
    np.testing.assert_array_equal(folded, np.outer(per_row, per_col))
    assert folded.sum() == 2500.0


# --- the whole field: a plain write-out of the recipe -----------------------------


def _small_field_by_hand(cl, size, rng):
    upscale = max(cl / 8, 1.0)
    count = max(1, int(6 * (size / (30 * upscale)) ** 2))
    side = int(50 * upscale)
    corners = rng.integers(0, size, size=(count, 2))
    z = rng.standard_normal((count, 50, 50))
    root = ref.se_sqrt(50, min(cl, 8.0))  # A A^T = K1, tested above
    x = np.linspace(0, 1, side)
    env = np.exp(-23 * ((x[:, None] - 0.5) ** 2 + (x[None, :] - 0.5) ** 2))
    image = np.zeros((size, size))
    for (r, c), noise in zip(corners, z, strict=True):
        patch = _bicubic(root @ noise @ root.T, side) * env
        rows = (r + np.arange(side)) % size
        cols = (c + np.arange(side)) % size
        np.add.at(image, (rows[:, None], cols[None, :]), patch)
    return (image - image.mean()) / image.std(), count


@pytest.mark.parametrize(("cl", "size"), [(9.5, 64), (10.0, 48), (2.0, 16)])
def test_small_field_is_the_recipe_written_out(cl, size):
    got = ref.field(cl, size, np.random.default_rng(3))
    rng = np.random.default_rng(3)
    expected, count = _small_field_by_hand(cl, size, rng)
    np.testing.assert_allclose(got, expected, atol=1e-9)
    assert abs(got.mean()) < 1e-12 and math.isclose(got.std(), 1.0)
    # Exactly `count` patches were drawn: the streams are at the same place.
    after = np.random.default_rng(3)
    ref.field(cl, size, after)
    assert after.random() == rng.random()
    assert count == ref.patch_count(cl, size)


def test_large_field_is_the_recipe_written_out():
    size, cl = 256, 60.0
    got = ref.field(cl, size, np.random.default_rng(4))
    z = np.random.default_rng(4).standard_normal((32, 32))
    root = ref.se_sqrt(32, cl / 8)
    coarse = root @ z @ root.T
    expected = _bicubic(coarse, size)  # 32 -> 256 points, no envelope
    expected = (expected - expected.mean()) / expected.std()
    np.testing.assert_allclose(got, expected, atol=1e-9)
    # The coarse grid's points are pixels 0, 255/31, ... of the upscaled one.
    raw = _bicubic(coarse, size)
    np.testing.assert_allclose(raw[0, 0], coarse[0, 0], atol=1e-12)
    np.testing.assert_allclose(raw[-1, -1], coarse[-1, -1], atol=1e-12)


def test_sample_is_the_weighted_sum_of_normalised_fields():
    rng = np.random.default_rng(5)
    got = ref.sample([9.5, 60.0], [0.75, 1.25], 256, rng)
    rng = np.random.default_rng(5)
    small = ref.field(9.5, 256, rng)
    large = ref.field(60.0, 256, rng)
    assert got.dtype == np.float32 and got.shape == (256, 256)
    np.testing.assert_allclose(got, 0.75 * small + 1.25 * large, atol=1e-5)


def test_1024_small_field_statistics():
    # One paper-size small-scale field: normalised, and correlated over
    # about the patch's length (upscaled length ~ 8 * 1.18 = 9.5 px, times
    # the envelope, which shortens it), not white.
    field = ref.field(9.5, 1024, np.random.default_rng(6))
    assert abs(field.mean()) < 1e-12 and math.isclose(field.std(), 1.0)
    lag1 = float((field * np.roll(field, 1, axis=1)).mean())
    lag30 = float((field * np.roll(field, 30, axis=0)).mean())
    assert lag1 > 0.95 and abs(lag30) < 0.2


# --- the generator, configs and builds --------------------------------------------

TINY = dict(
    size=64,
    scales=[[9.5, 10.0]],
    powers=[1.0],
    train_per_class=3,
    test_per_class=2,
    seed=11,
)


def test_recipe_dispatches_on_construction_with_the_same_classes():
    recipe = g.GpRecipe(**TINY, construction="reference")
    stationary = g.GpRecipe(**TINY)
    assert stationary.construction == "stationary"
    assert recipe.classes == stationary.classes
    images, labels = g.split_arrays(recipe, "train")
    _, stationary_labels = g.split_arrays(stationary, "train")
    np.testing.assert_array_equal(labels, stationary_labels)
    np.testing.assert_array_equal(labels, [0, 1, 0, 1, 0, 1])
    for index in range(6):
        cls = recipe.classes[index % 2].cls
        expected = ref.sample(cls, [1.0], 64, g.example_rng(11, "train", index))
        np.testing.assert_array_equal(images[index, :, :, 0], expected)
    assert not np.array_equal(images, g.split_arrays(stationary, "train")[0])


def test_examples_are_deterministic_and_order_independent():
    recipe = g.GpRecipe(**TINY, construction="reference")
    full, _ = g.split_arrays(recipe, "train")
    part, _ = g.split_arrays(recipe, "train", 3, 5)
    np.testing.assert_array_equal(part, full[3:5])
    image, _ = g.example(recipe, "train", 4)
    np.testing.assert_array_equal(image, full[4, :, :, 0])
    test_image, _ = g.example(recipe, "test", 0)
    other_seed, _ = g.example(dataclasses.replace(recipe, seed=12), "train", 0)
    assert not np.array_equal(test_image, full[0, :, :, 0])
    assert not np.array_equal(other_seed, full[0, :, :, 0])
    # Beam pickles the recipe for keyed_record; the copy makes the same record.
    copy = pickle.loads(pickle.dumps(recipe))
    assert copy == recipe and copy.construction == "reference"
    key, record = records.keyed_record(2, copy, "train")
    assert key == 2
    np.testing.assert_array_equal(record["image"][:, :, 0], full[2, :, :, 0])


def test_reference_preset_mirrors_paper():
    paper, reference = g.PRESETS["paper"], g.PRESETS["reference"]
    assert reference.construction == "reference"
    assert dataclasses.replace(reference, construction="stationary", seed=3) == paper
    assert reference.seed not in {
        p.seed for n, p in g.PRESETS.items() if n != "reference"
    }


@pytest.mark.parametrize(
    ("construction", "exception"),
    [(None, TypeError), (1, TypeError), ("Reference", ValueError), ("", ValueError)],
)
def test_bad_construction_is_refused_naming_it(construction, exception):
    with pytest.raises(exception) as info:
        g.GpRecipe(**TINY, construction=construction)
    assert "argument `construction`" in str(info.value)
    assert f"Received: construction={construction!r}" in str(info.value)


@pytest.mark.parametrize(
    ("call", "argument", "exception"),
    [
        (lambda: ref.field(9.5, 64, 0), "rng", TypeError),
        (lambda: ref.field(0.1, 64, np.random.default_rng()), "cl", ValueError),
        (lambda: ref.field(30.0, 64, np.random.default_rng()), "cl", ValueError),
        (lambda: ref.field(9.5, 1, np.random.default_rng()), "size", ValueError),
        (lambda: ref.field("9.5", 64, np.random.default_rng()), "cl", TypeError),
        (lambda: ref.patch_count(60.0, 1024), "cl", ValueError),
        (lambda: ref.patch_side(True), "cl", TypeError),
        (
            lambda: ref.sample([9.5], [1, 2], 64, np.random.default_rng()),
            "powers",
            ValueError,
        ),
        (lambda: ref.sample(9.5, [1], 64, np.random.default_rng()), "cls", TypeError),
    ],
)
def test_bad_arguments_are_refused_naming_them(call, argument, exception):
    with pytest.raises(exception, match=f"argument `{argument}`"):
        call()


# --- TFDS config -----------------------------------------------------------------


def test_config_option_name_and_numpy_path():
    pytest.importorskip("tensorflow_datasets")
    from tfds_gp.gp_textures import GpTextures, GpTexturesConfig

    config = GpTexturesConfig(**TINY, construction="reference")
    stationary = GpTexturesConfig(**TINY)
    explicit = GpTexturesConfig(**TINY, construction="stationary")
    # The default adds nothing to the parameters (stationary names are
    # unchanged); the reference construction gets its own derived name.
    assert "construction" not in stationary.parameters()
    assert explicit.name == stationary.name
    assert config.parameters()["construction"] == "reference"
    assert config.name != stationary.name and config.name.startswith("custom_")
    assert config.recipe.construction == "reference"
    assert "authors' construction" in config.description
    assert "authors' construction" not in stationary.description
    with pytest.raises(ValueError, match="argument `construction`"):
        GpTexturesConfig(**TINY, construction="george")
    images, labels = tfds_gp.load_numpy(config, "test")
    expected = g.split_arrays(config.recipe, "test")
    np.testing.assert_array_equal(images, expected[0])
    np.testing.assert_array_equal(labels, expected[1])
    built_in = GpTextures.builder_configs["reference"]
    assert built_in.recipe == g.PRESETS["reference"]
    assert "authors' construction" in built_in.description


def test_tiny_reference_build_stores_the_generated_images(tmp_path):
    # A plain build. The Beam build makes its records with the same
    # records.keyed_record from the pickled recipe, which
    # test_examples_are_deterministic_and_order_independent checks; a Beam
    # build here would cost 10 to 30 s (tests/test_gp_beam.py runs one).
    tfds = pytest.importorskip("tensorflow_datasets")
    from tfds_gp.gp_textures import GpTexturesConfig

    config = GpTexturesConfig(**TINY, construction="reference")
    builder = tfds.builder("gp_textures", config=config, data_dir=str(tmp_path))
    builder.download_and_prepare()
    for split in ("train", "test"):
        images, labels = tfds_gp.load_numpy(config, split)
        got = {
            r["image"].tobytes(): int(r["label"])
            for r in tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False))
        }
        assert got == {
            im.tobytes(): int(lb) for im, lb in zip(images, labels, strict=True)
        }
