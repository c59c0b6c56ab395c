"""The spectral reference classifier of the texture studies."""

import json
import subprocess
import sys

import numpy as np
import pytest

from research.texture import spectral
from research.texture.settings import STUDIES


@pytest.mark.parametrize("cycles", [5, 20, 51])
def test_a_cosine_puts_its_power_in_its_ring(cycles):
    # cos(2 pi f x) with f = cycles / 128 per pixel: all power at radius f,
    # in ring floor(f / 0.5 * RINGS).
    x = np.arange(128)
    image = np.cos(2 * np.pi * cycles / 128 * x)[None, :] * np.ones((128, 1))
    rings = spectral.ring_spectrum(image[None, ..., None])
    assert rings.shape == (1, spectral.RINGS)
    expected = int(cycles / 128 / 0.5 * spectral.RINGS)
    assert np.argmax(rings[0]) == expected
    others = np.delete(rings[0], expected)
    assert rings[0, expected] > others.max() + 20  # log power: e^20 apart


def test_rings_span_the_same_cycles_per_image_at_512_and_1024_px():
    # The half-size replica halves every length: a pattern of 30 cycles per
    # image is at 30 / 512 per pixel there and 30 / 1024 at full size; both
    # must fall into the same ring.
    assert spectral.rings_for(64) == spectral.rings_for(512) == spectral.RINGS
    peaks = []
    for size in (512, 1024):
        x = np.arange(size)
        image = np.cos(2 * np.pi * 30 / size * x)[None, :] * np.ones((size, 1))
        rings = spectral.ring_spectrum(image[None, ..., None], spectral.rings_for(size))
        peaks.append(int(np.argmax(rings[0])))
    assert peaks[0] == peaks[1] == int(30 / 512 / 0.5 * spectral.RINGS)


def test_the_mean_is_removed_and_each_image_is_its_own():
    rng = np.random.default_rng(0)
    images = rng.normal(size=(2, 32, 32, 1))
    shifted = images + np.array([3.0, -7.0])[:, None, None, None]
    np.testing.assert_allclose(
        spectral.ring_spectrum(shifted), spectral.ring_spectrum(images), rtol=1e-9
    )
    one = spectral.ring_spectrum(images[1:])
    np.testing.assert_allclose(spectral.ring_spectrum(images)[1:], one)


def test_the_fast_study_is_told_apart_and_the_summary_is_the_seeds_mean(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "research.texture.spectral",
            "--study",
            "fast",
            "--seeds",
            "0-1",
            "--work-dir",
            str(tmp_path / "w"),
            "--results",
            str(tmp_path / "r"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((tmp_path / "r" / "fast" / "spectral.json").read_text())
    per_seed = summary["per_seed"]
    assert sorted(per_seed) == ["0", "1"]
    test_size = STUDIES["fast"].test_per_class * STUDIES["fast"].num_classes
    for figures in per_seed.values():
        # Lengths 1.5 against 3 px: the spectra separate them from 3 images
        # per class; accuracies are counts over the test images.
        assert figures["small_scale_accuracy"] >= 0.9
        assert figures["test_accuracy"] * test_size == pytest.approx(
            round(figures["test_accuracy"] * test_size)
        )
    mean = np.mean([f["small_scale_accuracy"] for f in per_seed.values()])
    assert summary["small_scale_accuracy"]["mean"] == pytest.approx(mean)


def test_a_one_scale_study_is_scored_on_its_class_alone(tmp_path):
    from research.texture.spectral import score_seed

    # 6 images per class: the classifier's 5-fold cross-validation.
    study = STUDIES["fast"].replace(
        name="fast_one_scale", scales=((1.5, 3.0),), powers=(1.0,), train_per_class=6
    )
    scores = score_seed(study, 0, tmp_path)
    # The class is the one scale's choice: no per-scale figures beside it.
    assert set(scores) == {"test_accuracy"}
    assert scores["test_accuracy"] >= 0.9
