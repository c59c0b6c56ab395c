"""Tests of the NumPy generator: statistics, exactness, reproducibility, classes."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tfds_gp import generator as g
from tfds_gp import stationary

REPO = Path(__file__).resolve().parents[1]


def _autocorrelation(x: np.ndarray) -> np.ndarray:
    """Circular autocovariance mean_x X(x) X(x + d) for every lag d, via FFT."""
    n = x.shape[0]
    spec = np.fft.rfft2(x)
    return np.fft.irfft2(np.abs(spec) ** 2, s=x.shape) / (n * n)


def _mean_autocorrelation(cl, size, n_fields, seed=0, normalize=True):
    rng = np.random.default_rng(seed)
    total = np.zeros((size, size))
    for _ in range(n_fields):
        total += _autocorrelation(g.field(cl, size, rng, normalize=normalize))
    return total / n_fields


def _wrapped_kernel(cl, size, lags):
    return sum(np.exp(-((lags + m * size) ** 2) / (2 * cl**2)) for m in range(-20, 21))


# --- exactness of the spectrum -------------------------------------------------


@pytest.mark.parametrize(
    "size, cl", [(16, 0.5), (64, 3.3), (100, 25.0), (7, 1.5), (1024, 140.0)]
)
def test_spectrum_is_dft_of_wrapped_kernel(size, cl):
    # The analytic Poisson sum must equal the DFT of the wrapped kernel on the
    # grid (what makes the synthesis exact), for even, odd and tiny sizes.
    lags = np.arange(size)
    direct = np.fft.fft(_wrapped_kernel(cl, size, lags))
    lam = g.spectrum_1d(cl, size)
    assert np.max(np.abs(direct.imag)) < 1e-9
    np.testing.assert_allclose(lam, direct.real, rtol=0, atol=1e-10 * size)
    assert np.all(lam >= 0)  # underflows to 0 at high frequency, never negative


@pytest.mark.parametrize(
    "size, cl", [(8, 0.5), (9, 0.7), (32, 4.0), (31, 6.0), (256, 9.5)]
)
def test_frequency_space_noise_is_a_valid_half_spectrum(size, cl):
    # Completing the half spectrum by Hermitian symmetry must give a full
    # spectrum whose inverse FFT is real and equals irfft2 of the half: a
    # self-conjugate column that were not Hermitian would leave an
    # imaginary part that irfft2 silently drops (a wrong covariance).
    rows, cols, block = stationary._field_spectrum(cl, size, np.random.default_rng(2))
    half = np.zeros((size, size // 2 + 1), np.complex128)
    half[rows, :cols] = block
    full = np.zeros((size, size), np.complex128)
    full[:, : size // 2 + 1] = half
    mirror = np.arange(size // 2 + 1, size)
    full[:, mirror] = np.conj(half[(-np.arange(size)) % size][:, size - mirror])
    direct = np.fft.ifft2(full)
    scale = np.max(np.abs(direct.real))
    assert np.max(np.abs(direct.imag)) < 1e-12 * scale
    np.testing.assert_allclose(
        direct.real, np.fft.irfft2(half, s=(size, size)), atol=1e-12 * scale
    )


@pytest.mark.parametrize(
    "size, cl", [(128, 1.1875), (1024, 9.5), (1024, 140.0), (8192, 0.5)]
)
def test_truncated_frequencies_carry_less_than_float64_round_off(size, cl):
    # The frequencies left out (amplitude below TRUNCATION of the peak) hold
    # a share of the field's variance whose square root is below float64's
    # epsilon: leaving them out changes the field by less than round-off.
    lam = g.spectrum_1d(cl, size)
    k = stationary._cutoff(np.sqrt(lam))
    freq = np.abs(np.fft.fftfreq(size) * size)
    kept = freq <= k
    # The 2-D spectrum is lam[ky] * lam[kx]; a pair is dropped when either
    # frequency is (summed directly: a difference of totals would cancel).
    s_kept, s_dropped = lam[kept].sum(), lam[~kept].sum()
    dropped = 2 * s_kept * s_dropped + s_dropped**2
    assert math.sqrt(dropped / lam.sum() ** 2) < np.finfo(np.float64).eps


def test_raw_field_covariance_is_wrapped_kernel_on_an_odd_grid():
    # Odd sizes have no Nyquist row or column: another Hermitian layout.
    size, cl = 31, 6.0
    ac = _mean_autocorrelation(cl, size, 2500, seed=4, normalize=False)
    lags = np.arange(size // 2 + 1)
    assert np.max(np.abs(ac[0, lags] - _wrapped_kernel(cl, size, lags))) < 0.05
    assert np.max(np.abs(ac[lags, 0] - _wrapped_kernel(cl, size, lags))) < 0.05


# --- statistics of generated fields ------------------------------------------
#
# For a field of correlation length cl on an N x N torus, the lag-d
# autocovariance averaged over the torus has a standard error of about
# sqrt(2 pi) cl / N per field; averaged over K fields, sqrt(2 pi) cl / (N sqrt K).
# The per-field normalisation removes the constant mode and biases the
# autocorrelation down by about m = 2 pi cl^2 / N^2.  The cases below keep
# 5 standard errors + m under the stated tolerance.
AUTOCORR_TOL = 0.02


@pytest.mark.parametrize(
    "cl, size, n_fields",
    [(0.5, 32, 100), (1.0, 64, 100), (2.5, 64, 400), (4.0, 128, 400)],
)
def test_normalised_field_autocorrelation_matches_kernel(cl, size, n_fields):
    ac = _mean_autocorrelation(cl, size, n_fields)
    d = np.arange(int(3 * cl) + 2)
    expected = np.exp(-(d**2) / (2 * cl**2))
    # Along both axes and along the diagonal (lag (d, d) has distance d*sqrt2).
    assert np.max(np.abs(ac[0, d] - expected)) < AUTOCORR_TOL
    assert np.max(np.abs(ac[d, 0] - expected)) < AUTOCORR_TOL
    diag_expected = np.exp(-(2 * d**2) / (2 * cl**2))
    assert np.max(np.abs(ac[d, d] - diag_expected)) < AUTOCORR_TOL


def test_raw_field_covariance_is_wrapped_kernel_at_largest_length():
    # At the largest allowed length (size / 4) the periodic images matter;
    # the raw (unnormalised) field must follow the wrapped kernel, whose
    # value at d = size/2 is twice the plain kernel's.  SE ~ 2.5 * 0.25 /
    # sqrt(2500) = 0.0125; tolerance 0.05.
    size, cl = 32, 8.0
    ac = _mean_autocorrelation(cl, size, 2500, seed=1, normalize=False)
    lags = np.arange(size // 2 + 1)
    expected = _wrapped_kernel(cl, size, lags)
    assert expected[-1] == pytest.approx(2 * math.exp(-2), rel=1e-3)
    assert np.max(np.abs(ac[0, lags] - expected)) < 0.05


@pytest.mark.parametrize("cl, size", [(0.5, 8), (3.0, 64), (140.0, 1024), (2.0, 31)])
def test_field_has_mean_zero_std_one(cl, size):
    x = g.field(cl, size, np.random.default_rng(3))
    assert x.shape == (size, size)
    assert x.dtype == np.float64
    assert abs(x.mean()) < 1e-12
    assert abs(x.std() - 1.0) < 1e-12


def test_longer_length_gives_smoother_field():
    # Neighbour correlation exp(-1/(2 cl^2)): 0.607 at cl=1, 0.995 at cl=10.
    rng = np.random.default_rng(5)
    for cl, expected in [(1.0, math.exp(-0.5)), (10.0, math.exp(-1 / 200))]:
        x = g.field(cl, 256, rng)
        assert np.mean(x * np.roll(x, 1, axis=1)) == pytest.approx(expected, abs=0.03)


def test_sample_is_weighted_sum_of_independent_fields():
    # Variance of sum_s p_s field_s with independent unit fields is sum p_s^2;
    # replaying the same stream reproduces the fields exactly.
    cls, powers, size = (2.5, 20.0), (0.75, 1.25), 256
    s = g.sample(cls, powers, size, np.random.default_rng(11))
    assert s.dtype == np.float32 and s.shape == (size, size)
    rng = np.random.default_rng(11)
    f0, f1 = g.field(cls[0], size, rng), g.field(cls[1], size, rng)
    np.testing.assert_allclose(s, (0.75 * f0 + 1.25 * f1).astype(np.float32), atol=1e-6)
    # The two fields are independent: their empirical correlation is small
    # (SE ~ sqrt(2 pi) * 20 / 256 * ... < 0.1 for the coarse field).
    assert abs(np.mean(f0 * f1)) < 0.1
    assert s.var() == pytest.approx(0.75**2 + 1.25**2, abs=0.25)


def test_sample_rejects_mismatched_powers():
    with pytest.raises(ValueError, match="one per scale"):
        g.sample((2.5, 20.0), (1.0,), 64, np.random.default_rng(0))


# --- argument checking --------------------------------------------------------


@pytest.mark.parametrize(
    "cl, exc, words",
    [
        (0.0, ValueError, ["cl=0.0", "from 0.5 to 0.25 * size"]),
        (-1.0, ValueError, ["cl=-1.0", "from 0.5 to 0.25 * size"]),
        (0.49, ValueError, ["cl=0.49", "grid resolution"]),
        (float("nan"), ValueError, ["cl to be a finite", "cl=nan"]),
        (float("inf"), ValueError, ["cl to be a finite", "cl=inf"]),
        (16.01, ValueError, ["cl=16.01", "size=64", "above 0.25 * size = 16.0"]),
        (True, TypeError, ["cl to be a real number", "cl=True"]),
        ("3", TypeError, ["cl to be a real number", "cl='3'"]),
        (None, TypeError, ["cl to be a real number", "cl=None"]),
    ],
)
def test_field_rejects_bad_lengths(cl, exc, words):
    with pytest.raises(exc) as info:
        g.field(cl, 64, np.random.default_rng(0))
    assert type(info.value) is exc
    assert "argument `cl`" in str(info.value)
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize(
    "size, exc, words",
    [
        (1, ValueError, ["integer number of pixels from 2 to 8192", "size=1"]),
        (0, ValueError, ["integer number of pixels from 2 to 8192", "size=0"]),
        (8.0, TypeError, ["expected an integer number of pixels", "size=8.0"]),
        (True, TypeError, ["expected an integer number of pixels", "size=True"]),
        ("8", TypeError, ["expected an integer number of pixels", "size='8'"]),
    ],
)
def test_field_rejects_bad_sizes(size, exc, words):
    with pytest.raises(exc) as info:
        g.field(0.5, size, np.random.default_rng(0))
    assert type(info.value) is exc
    assert "argument `size`" in str(info.value)
    for word in words:
        assert word in str(info.value)


def test_field_accepts_the_bounds_and_numpy_scalars():
    rng = np.random.default_rng(0)
    assert g.field(0.5, 2, rng).shape == (2, 2)
    assert g.field(np.float32(16.0), np.int64(64), rng).shape == (64, 64)


def test_field_requires_a_generator():
    with pytest.raises(
        TypeError, match=r"argument `rng`: expected a numpy.random.Generator.*rng=0"
    ):
        g.field(2.0, 16, 0)
    with pytest.raises(TypeError, match=r"numpy.random.Generator.*rng=RandomState"):
        g.field(2.0, 16, np.random.RandomState(0))


# --- classes ------------------------------------------------------------------


def test_paper_class_table():
    table = g.class_table([[9.5, 10], [80, 140]])
    assert [(c.label, c.name) for c in table] == [
        (0, "9.5-80"),
        (1, "10-80"),
        (2, "9.5-140"),
        (3, "10-140"),
    ]
    assert table[2].cls == (9.5, 140.0)


def test_three_scale_class_table_first_scale_fastest():
    table = g.class_table(g.THREE_SCALE_SCALES)
    assert len(table) == 8
    assert [c.name for c in table] == [
        "9.5-60-140",
        "10-60-140",
        "9.5-80-140",
        "10-80-140",
        "9.5-60-200",
        "10-60-200",
        "9.5-80-200",
        "10-80-200",
    ]


def test_small_preset_names_and_scaled_lengths():
    recipe = g.PRESETS["small"]
    assert recipe.size == 256
    assert recipe.scales == ((2.375, 2.5), (20.0, 35.0))
    assert [c.name for c in recipe.classes] == [
        "2.375-20",
        "2.5-20",
        "2.375-35",
        "2.5-35",
    ]


def test_unequal_scale_lists_and_bad_scales():
    assert [c.name for c in g.class_table([[1, 2, 3], [5]])] == ["1-5", "2-5", "3-5"]
    with pytest.raises(ValueError, match="repeated"):
        g.class_table([[1, 1], [5]])
    with pytest.raises(ValueError, match=r"scales\[1\] is empty"):
        g.class_table([[1, 2], []])
    with pytest.raises(TypeError, match="sequence"):
        g.class_table(9.5)


def test_recipe_validation():
    with pytest.raises(
        ValueError, match=r"scales\[1\] length=140.0 is too large for size=256"
    ):
        g.GpRecipe(
            size=256,
            scales=[[9.5], [140]],
            powers=[1, 1],
            train_per_class=1,
            test_per_class=1,
        )
    with pytest.raises(ValueError, match="one entry per scale"):
        g.GpRecipe(
            size=256,
            scales=[[9.5], [40]],
            powers=[1],
            train_per_class=1,
            test_per_class=1,
        )
    with pytest.raises(
        ValueError, match="`train_per_class`: expected an integer from 0 to"
    ):
        g.GpRecipe(
            size=256, scales=[[9.5]], powers=[1], train_per_class=-1, test_per_class=1
        )
    with pytest.raises(TypeError, match="`seed`: expected an integer from 0 to"):
        g.GpRecipe(
            size=256,
            scales=[[9.5]],
            powers=[1],
            train_per_class=1,
            test_per_class=1,
            seed=1.5,
        )


# --- reproducibility ----------------------------------------------------------

TINY = g.GpRecipe(
    size=16,
    scales=[[1.0, 1.5], [3.0, 4.0]],
    powers=[0.75, 1.25],
    train_per_class=2,
    test_per_class=1,
    seed=7,
)


def test_same_seed_same_arrays_and_streams_are_independent():
    a, ca = g.example(TINY, "train", 5)
    b, cb = g.example(TINY, "train", 5)
    assert ca == cb and ca.label == 5 % 4
    assert np.array_equal(a, b)
    # Other index, other split, other seed: different arrays.
    assert not np.allclose(a, g.example(TINY, "train", 1)[0])
    assert not np.allclose(
        g.example(TINY, "test", 1)[0], g.example(TINY, "train", 1)[0]
    )
    other_seed = g.GpRecipe(**{**TINY.__dict__, "seed": 8})
    assert not np.allclose(a, g.example(other_seed, "train", 5)[0])


def test_examples_do_not_depend_on_generation_order():
    images, labels = g.split_arrays(TINY, "train")
    assert images.shape == (8, 16, 16, 1) and images.dtype == np.float32
    assert labels.tolist() == [0, 1, 2, 3, 0, 1, 2, 3]
    # Any worker computing a sub-range gets the same arrays.
    part, part_labels = g.split_arrays(TINY, "train", start=5, stop=7)
    np.testing.assert_array_equal(part, images[5:7])
    np.testing.assert_array_equal(part_labels, labels[5:7])
    for i in reversed(range(8)):
        np.testing.assert_array_equal(
            g.example(TINY, "train", i)[0], images[i, :, :, 0]
        )


def _reference_example(recipe, split, index):
    """The documented recipe written out plainly: per scale, a block of
    normals in the order drawn, a full Hermitian spectrum, a complex inverse
    FFT, normalisation in pixel space; then the weighted sum."""
    gp_class = recipe.classes[index % recipe.num_classes]
    rng = g.example_rng(recipe.seed, split, index)
    size = recipe.size
    total = np.zeros((size, size))
    for cl, power in zip(gp_class.cls, recipe.powers, strict=True):
        amp = np.sqrt(g.spectrum_1d(cl, size))
        k = stationary._cutoff(amp)
        freqs = np.fft.fftfreq(size) * size
        rows = [r for r in range(size) if abs(freqs[r]) <= k]
        rows.sort(key=lambda r: (freqs[r] < 0, r))  # 0..k, then -k..-1
        noise = rng.standard_normal((len(rows), k + 1, 2))
        spectrum = np.zeros((size, size), np.complex128)
        for i, r in enumerate(rows):
            for c in range(k + 1):
                z = complex(noise[i, c, 0], noise[i, c, 1]) * size / math.sqrt(2)
                spectrum[r, c] = z * amp[r] * amp[c]
        for c in range(size // 2 + 1):
            mirror_c = (-c) % size
            for r in range(size):
                mirror_r = (-r) % size
                if c == mirror_c and r == mirror_r:  # self-conjugate: real
                    spectrum[r, c] = spectrum[r, c].real * math.sqrt(2)
                elif c == mirror_c and r > size // 2:  # lower half mirrors upper
                    spectrum[r, c] = np.conj(spectrum[mirror_r, c])
                elif c != mirror_c:
                    spectrum[mirror_r, mirror_c] = np.conj(spectrum[r, c])
        x = np.fft.ifft2(spectrum)
        assert np.max(np.abs(x.imag)) < 1e-9
        x = x.real - x.real.mean()
        total += power * x / x.std()
    return total.astype(np.float32), gp_class


# Odd size and lengths long enough that high frequencies are left out.
TRUNCATED = g.GpRecipe(
    size=63,
    scales=[[1.0], [10.0, 12.0]],
    powers=[0.5, 1.0],
    train_per_class=1,
    test_per_class=1,
    seed=3,
)


@pytest.mark.parametrize(
    "recipe, split, index",
    [
        (TINY, "train", 0),
        (TINY, "train", 6),
        (TINY, "test", 3),
        (TRUNCATED, "train", 1),
    ],
)
def test_examples_follow_the_documented_recipe(recipe, split, index):
    if recipe is TRUNCATED:
        amp = np.sqrt(g.spectrum_1d(10.0, recipe.size))
        assert stationary._cutoff(amp) < recipe.size // 2  # the case is truncated
    image, gp_class = g.example(recipe, split, index)
    expected, expected_class = _reference_example(recipe, split, index)
    assert gp_class == expected_class
    np.testing.assert_allclose(image, expected, atol=1e-5)


def test_golden_values():
    # Pins the random stream and the synthesis of dataset version 2.0.0: a
    # change of either (or of the seed derivation) changes these numbers.
    # Float32 round-off across platforms is far below the tolerance.
    image, gp_class = g.example(TINY, "train", 0)
    assert gp_class.name == "1-3"
    np.testing.assert_allclose(
        image[0, :4], [-2.4010775, -1.5510540, -1.7874539, -1.6469709], atol=1e-5
    )
    image, gp_class = g.example(TINY, "test", 3)
    assert gp_class.name == "1.5-4"
    np.testing.assert_allclose(
        image[0, :4], [-2.1433775, -1.0830996, 0.0599983, 0.6750214], atol=1e-5
    )


def test_example_index_and_split_checks():
    with pytest.raises(
        ValueError, match=r"`index`: expected an integer in \[0, 4\).*index=4"
    ):
        g.example(TINY, "test", 4)
    with pytest.raises(
        ValueError, match=r"`split`: expected one of \['test', 'train'\]"
    ):
        g.example(TINY, "validation", 0)


def test_generator_imports_without_tensorflow():
    # The generator and the published-file reader are NumPy-only: with
    # tensorflow and tensorflow_datasets made unimportable, the package still
    # imports (without the builder) and generates.
    code = textwrap.dedent(
        """
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split('.')[0] in ('tensorflow', 'tensorflow_datasets', 'keras'):
                    raise ImportError('blocked ' + name)
        sys.meta_path.insert(0, Block())
        import numpy as np
        import tfds_gp
        assert tfds_gp.GpTextures is None
        x = tfds_gp.field(2.0, 32, np.random.default_rng(0))
        images, labels = tfds_gp.load_numpy(tfds_gp.generator.GpRecipe(
            size=16, scales=[[1.0], [3.0]], powers=[1, 1],
            train_per_class=2, test_per_class=0))
        assert images.shape == (2, 16, 16, 1)
        assert not any(m.startswith('tensorflow') for m in sys.modules)
        print('ok')
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
