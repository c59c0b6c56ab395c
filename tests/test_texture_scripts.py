"""End-to-end runs of the texture example scripts with --fast."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from examples import mask_picture, texture_classification

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _is_png(path) -> bool:
    return path.is_file() and path.read_bytes()[:8] == PNG_MAGIC


def test_texture_classification_fast(tmp_path, capsys):
    out = tmp_path / "out"
    texture_classification.main(
        ["--fast", "--out-dir", str(out), "--data-dir", str(tmp_path / "tfds"),
         "--verbose", "0"]
    )
    payload = json.loads((out / "results.json").read_text())
    assert payload["backend"] == keras.backend.backend()
    assert payload["data_source"] == "tfds"  # TFDS imports in this process
    seeds = payload["settings"]["seeds"]
    assert len(seeds) >= 2
    assert set(payload["results"]) == set(texture_classification.VARIANTS)
    for variant, runs in payload["results"].items():
        assert set(runs) == {str(s) for s in seeds}, variant
        for run in runs.values():
            assert 0.0 <= run["test_accuracy"] <= 1.0
            assert all(0.0 <= a <= 1.0 for a in run["scale_accuracy"])
            assert len(run["test_curve"]) == payload["settings"]["epochs"]
        accs = [r["test_accuracy"] for r in runs.values()]
        assert payload["summary"][variant]["mean"] == pytest.approx(np.mean(accs))
    assert _is_png(out / "learning_curves.png")
    table = capsys.readouterr().out
    assert f"backend {keras.backend.backend()})" in table
    for variant in texture_classification.VARIANTS:
        assert f"| {variant} |" in table


def test_texture_classification_rejects_bad_flags(capsys):
    with pytest.raises(SystemExit):
        texture_classification.parse_args(["--variants", "no_mask,dropout"])
    with pytest.raises(SystemExit):
        texture_classification.parse_args(["--coarse-prob", "1.5"])
    with pytest.raises(SystemExit):
        texture_classification.parse_args(["--seeds", "0,0"])
    args = texture_classification.parse_args(["--seeds", "3"])
    assert args.seeds == [0, 1, 2]
    assert args.config == texture_classification.DEFAULT_CONFIG


def test_scale_choices_decode_labels_first_scale_fastest():
    scales = [[9.5, 10.0], [80.0, 140.0]]
    labels = np.array([0, 1, 2, 3])
    np.testing.assert_array_equal(
        texture_classification.scale_choices(labels, scales),
        [[0, 0], [1, 0], [0, 1], [1, 1]],
    )


def test_mask_picture_fast(tmp_path, capsys):
    written = mask_picture.main(["--fast", "--out-dir", str(tmp_path)])
    names = sorted(p.name for p in written)
    assert names == ["mask_blurred.png", "mask_crisp.png", "mask_pinned.png"]
    for path in written:
        assert _is_png(path)
    # The printed fraction of pixels with a gradient: pinned, at most one
    # 32 px coarse cell of 128 px plus its 3 px halo; crisp masks (coarse
    # probability 0.95) leave most of the image without gradient.
    lines = capsys.readouterr().out.splitlines()
    fractions = {
        line.split(":")[0].rsplit("/", 1)[-1]: float(line.split(": ")[1].split("%")[0])
        for line in lines
        if "of pixels get a gradient" in line
    }
    assert 0 < fractions["mask_pinned.png"] <= 100 * 35**2 / 128**2 + 0.1
    assert 0 < fractions["mask_crisp.png"] < 50
