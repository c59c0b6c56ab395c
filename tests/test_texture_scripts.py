"""End-to-end runs of the texture example scripts with --fast.

The scripts run as ``python -m examples.X`` subprocesses from the
repository root; their command-line checks are read through `runpy`
(the scripts are not a package to import from).
"""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from keras_backdrop.experiments import texture

REPO = Path(__file__).resolve().parent.parent
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _is_png(path) -> bool:
    return path.is_file() and path.read_bytes()[:8] == PNG_MAGIC


def _run_script(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def classification_parser():
    """The texture script's `parse_args`, without running it."""
    return runpy.run_module("examples.texture_classification")["parse_args"]


def test_texture_classification_fast(tmp_path):
    out = tmp_path / "out"
    proc = _run_script(
        "examples.texture_classification",
        "--fast",
        "--out-dir",
        str(out),
        "--data-dir",
        str(tmp_path / "tfds"),
        "--verbose",
        "0",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    payload = json.loads((out / "results.json").read_text())
    assert payload["backend"] == keras.backend.backend()
    assert payload["data_source"] == "tfds"  # TFDS imports here
    assert "streamed from TFDS" in proc.stdout
    seeds = payload["settings"]["seeds"]
    assert len(seeds) >= 2
    assert set(payload["results"]) == set(texture.VARIANTS)
    for variant, runs in payload["results"].items():
        assert set(runs) == {str(s) for s in seeds}, variant
        for run in runs.values():
            assert 0.0 <= run["test_accuracy"] <= 1.0
            assert all(0.0 <= a <= 1.0 for a in run["scale_accuracy"])
            assert len(run["test_curve"]) == payload["settings"]["epochs"]
        accs = [r["test_accuracy"] for r in runs.values()]
        summary = payload["summary"][variant]
        assert summary["mean"] == pytest.approx(np.mean(accs))
        assert summary["std"] == pytest.approx(np.std(accs, ddof=1))
        assert summary["n"] == len(seeds)
    assert _is_png(out / "learning_curves.png")
    assert f"backend {keras.backend.backend()})" in proc.stdout
    for variant in texture.VARIANTS:
        assert f"| {variant} |" in proc.stdout


@pytest.mark.parametrize(
    "flags, option",
    [
        (["--variants", "no_mask,dropout"], "--variants"),
        (["--coarse-prob", "1.5"], "--coarse-prob"),
        (["--fine-prob", "x"], "--fine-prob"),
        (["--seeds", "0,0"], "--seeds"),
        (["--lr", "0"], "--lr"),
        (["--lr", "nan"], "--lr"),
        (["--epochs", "0"], "--epochs"),
        (["--batch-size", "-2"], "--batch-size"),
        (["--fast", "--crop", "2"], "--crop"),
        (["--fast", "--crop", "64"], "--crop"),
    ],
)
def test_texture_classification_rejects_bad_flags(
    classification_parser, capsys, flags, option
):
    with pytest.raises(SystemExit) as info:
        classification_parser(flags)
    assert info.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"argument {option}" in error
    assert repr(flags[-1]) in error or flags[-1] in error


def test_texture_classification_defaults(classification_parser):
    exp = classification_parser(["--seeds", "3"])
    assert isinstance(exp, texture.TextureExperiment)
    assert exp.seeds == [0, 1, 2]
    assert exp.config == texture.DEFAULT_CONFIG
    assert (exp.epochs, exp.batch_size, exp.coarse_prob) == (30, 8, 0.75)
    fast = classification_parser(["--fast"])
    assert (fast.config, fast.epochs, fast.seeds) == ("fast", 2, [0, 1])
    assert fast.variants == list(texture.VARIANTS)
    # A crop between one coarse cell (16 px for the fast config) and 32 px.
    assert classification_parser(["--fast", "--crop", "16"]).crop == 16


def test_scale_choices_decode_labels_first_scale_fastest():
    scales = [[9.5, 10.0], [80.0, 140.0]]
    labels = np.array([0, 1, 2, 3])
    np.testing.assert_array_equal(
        texture.scale_choices(labels, scales),
        [[0, 0], [1, 0], [0, 1], [1, 1]],
    )


def test_streamed_and_in_memory_inputs_train_alike(tmp_path):
    # Streaming from TFDS gives the batches the arrays gave: same results.
    exp = texture.TextureExperiment(
        config="fast", epochs=2, seeds=[0], verbose=0, fast=True
    )
    config = texture.dataset_configs()["fast"]
    streamed = texture.load_data(config, str(tmp_path))
    assert streamed.source == "tfds"
    x_train, y_train = texture.load_split(config, "train", str(tmp_path))
    x_test, y_test = texture.load_split(config, "test", str(tmp_path))
    np.testing.assert_array_equal(y_test, streamed.y_test)
    in_memory = texture.TextureData(
        "numpy", (x_train, y_train), (x_test, y_test), len(y_train), y_test
    )
    scales = [list(s) for s in texture.recipe_of(config).scales]
    for variant in ("backdrop", "random_crops"):
        a = texture.train_one(texture.RunSpec(variant, 0, streamed, 32, scales, exp))
        b = texture.train_one(texture.RunSpec(variant, 0, in_memory, 32, scales, exp))
        for key in ("test_accuracy", "train_accuracy", "test_curve"):
            assert a[key] == b[key], (variant, key)


def test_mask_picture_fast(tmp_path):
    proc = _run_script("examples.mask_picture", "--fast", "--out-dir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["mask_blurred.png", "mask_crisp.png", "mask_pinned.png"]
    for path in tmp_path.iterdir():
        assert _is_png(path)
    # The printed fraction of pixels with a gradient: pinned, at most one
    # 32 px coarse cell of 128 px plus its 3 px halo; crisp masks (coarse
    # probability 0.95) leave most of the image without gradient.
    fractions = {
        line.split(":")[0].rsplit("/", 1)[-1]: float(line.split(": ")[1].split("%")[0])
        for line in proc.stdout.splitlines()
        if "of pixels get a gradient" in line
    }
    assert 0 < fractions["mask_pinned.png"] <= 100 * 35**2 / 128**2 + 0.1
    assert 0 < fractions["mask_crisp.png"] < 50


def test_mask_picture_rejects_bad_flags(capsys):
    parse = runpy.run_module("examples.mask_picture")["parse_args"]
    for flags, option in (
        (["--size", "100"], "--size"),
        (["--size", "32"], "--size"),
        (["--fine-prob", "2"], "--fine-prob"),
        (["--seed", "-1"], "--seed"),
    ):
        with pytest.raises(SystemExit) as info:
            parse(flags)
        assert info.value.code == 2
        assert f"argument {option}" in capsys.readouterr().err


def _help_text(parse, capsys) -> str:
    with pytest.raises(SystemExit) as info:
        parse(["--help"])
    assert info.value.code == 0
    # Whitespace normalised: the wrapping depends on the terminal's width.
    return " ".join(capsys.readouterr().out.split())


def test_help_shows_each_default_once(classification_parser, capsys):
    text = _help_text(classification_parser, capsys)
    # Defaults the help states in words are not appended again ...
    assert "--epochs EPOCHS epochs (default: 30, or 2 with --fast) --batch" in text
    assert "(default 3 seeds, 2 with --fast) --epochs" in text
    assert "(default: None)" not in text and "(default: False)" not in text
    # ... and the others are shown, lists as typed on the command line.
    assert "--lr LR Adam learning rate (default: 0.001)" in text
    assert "--batch-size BATCH_SIZE default: 8" in text
    assert "(default: no_mask,backdrop,random_crops)" in text
    assert "--out-dir OUT_DIR default: results/texture" in text
    picture = runpy.run_module("examples.mask_picture")["parse_args"]
    text = _help_text(picture, capsys)
    assert "scaled by size / 1024 --fine-prob" in text
    assert "--seed SEED default: 3" in text
    assert "(default: None)" not in text and "(default: False)" not in text
