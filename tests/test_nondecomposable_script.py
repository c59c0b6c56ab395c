"""End-to-end run of `examples/nondecomposable.py` and the task behind it.

The script runs as a subprocess (`python -m examples.nondecomposable`);
the task's pieces are imported from `keras_backdrop.experiments`.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from cli_errors import command_line_outcomes

from keras_backdrop.experiments import nondecomposable

REPO = Path(__file__).resolve().parent.parent
SEEDS = [0, 1]


@pytest.fixture(scope="module")
def fast_run(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("nondecomposable")
    argv = ["--fast", "--seeds", *map(str, SEEDS), "--out-dir", str(out_dir)]
    done = subprocess.run(
        [sys.executable, "-m", "examples.nondecomposable", *argv],
        cwd=REPO,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((out_dir / "results.json").read_text())
    return out_dir, report, done.stdout


def test_json_has_every_loss_variant_and_seed(fast_run):
    out_dir, report, _ = fast_run
    assert report["backend"] == keras.backend.backend()
    assert set(report["results"]) == {"soft_f1", "pairwise_auc"}
    steps = report["config"]["steps"]
    for by_variant in report["results"].values():
        assert set(by_variant) == set(nondecomposable.VARIANTS)
        for r in by_variant.values():
            assert set(r["per_seed"]) == {str(s) for s in SEEDS}
            for run in r["per_seed"].values():
                for key in ("test_f1", "test_auc", "train_f1", "train_auc"):
                    assert 0.0 <= run[key] <= 1.0
                # What the comparison holds equal.
                assert run["steps"] == steps
            for key in ("test_f1", "test_auc"):
                values = [run[key] for run in r["per_seed"].values()]
                assert r[f"{key}_mean"] == pytest.approx(np.mean(values))
                assert r[f"{key}_std"] == pytest.approx(np.std(values))


def test_stdout_ends_with_the_table(fast_run):
    _, report, stdout = fast_run
    lines = stdout.strip().splitlines()
    header = lines.index(
        "| loss | variant | test F1 | test ROC AUC "
        "| seed 0 F1 / AUC | seed 1 F1 / AUC |"
    )
    assert lines[header + 1] == "|---|---|---|---|---|---|"
    rows = lines[header + 2 : header + 10]
    for row, (loss, variant) in zip(
        rows,
        [
            (loss, v)
            for loss in ("soft_f1", "pairwise_auc")
            for v in nondecomposable.VARIANTS
        ],
        strict=True,
    ):
        r = report["results"][loss][variant]
        seed0 = r["per_seed"]["0"]
        f1 = f"{r['test_f1_mean']:.3f} ± {r['test_f1_std']:.3f}"
        assert row.startswith(f"| {loss} | {variant} | {f1} | "), row
        assert f"| {seed0['test_f1']:.3f} / {seed0['test_auc']:.3f} |" in row
    assert lines[-1].startswith("wrote ") and lines[-1].endswith("results.png")


def test_summary_has_population_std_and_t_interval(fast_run):
    _, report, _ = fast_run
    r = report["results"]["soft_f1"]["full_batch"]
    a, b = (r["per_seed"][str(s)]["test_auc"] for s in SEEDS)
    mean = (a + b) / 2
    assert r["test_auc_std"] == pytest.approx(abs(a - b) / 2)  # population
    # Two seeds: t(0.975, 1) = 12.7062, sample std |a - b| / sqrt(2).
    half = 12.7062 * (abs(a - b) / np.sqrt(2)) / np.sqrt(2)
    low, high = r["test_auc_ci95"]
    assert low == pytest.approx(mean - half, rel=1e-4, abs=1e-6)
    assert high == pytest.approx(mean + half, rel=1e-4, abs=1e-6)


def test_run_comparison_returns_what_it_writes(tmp_path):
    cfg = nondecomposable.make_config(fast=True, steps=2)
    returned = nondecomposable.run_comparison(cfg, [3], ["soft_f1"], tmp_path)
    report = json.loads((tmp_path / "results.json").read_text())
    assert report == json.loads(json.dumps(returned))
    assert report["config"]["seeds"] == [3]
    runs = report["results"]["soft_f1"]
    assert all(r["per_seed"]["3"]["steps"] == 2 for r in runs.values())
    # One seed: no spread and no interval.
    assert all(
        r["test_f1_std"] == 0.0 and r["test_f1_ci95"] is None for r in runs.values()
    )


def test_png_is_written(fast_run):
    out_dir, _, _ = fast_run
    png = (out_dir / "results.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(png) > 5000  # a drawn figure, not an empty canvas


def test_data_is_imbalanced_and_split_stratified(fast_run):
    _, report, _ = fast_run
    frac = report["config"]["positive_fraction"]
    for info in report["data"].values():
        assert info["train_size"] == report["config"]["n_train"]
        for part in ("train", "test"):
            rate = info[f"{part}_positives"] / info[f"{part}_size"]
            assert rate == pytest.approx(frac, abs=0.01)


def test_backdrop_mask_sits_on_the_batch_axis_of_the_logits():
    # A linear model, so every sample has a nonzero input gradient unless
    # the mask removes it: keep_count=1 leaves exactly one sample.
    x = tf.constant(np.random.default_rng(0).normal(size=(6, 3)), tf.float32)
    model = nondecomposable.build_model(3, (), {"keep_count": 1}, seed=0)
    plain = nondecomposable.build_model(3, (), None, seed=0)
    for layer_weights, plain_weights in zip(
        model.layers[1].get_weights(), plain.layers[1].get_weights(), strict=True
    ):
        # The same seed gives the same initial weights with or without it.
        np.testing.assert_array_equal(layer_weights, plain_weights)
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = tf.reduce_sum(model(x, training=True))
    grad = tape.gradient(out, x).numpy()
    nonzero_rows = np.flatnonzero(np.any(grad != 0, axis=1))
    assert len(nonzero_rows) == 1
    kernel = model.layers[1].get_weights()[0][:, 0]
    # "count" normalisation: the surviving entry is scaled by 6 / 1.
    np.testing.assert_allclose(grad[nonzero_rows[0]], 6 * kernel, rtol=1e-6)
    # Inference: identity, the output equals the plain model's.
    np.testing.assert_allclose(model(x), plain(x), rtol=1e-6)


BAD_COMMAND_LINES = [
    (["--steps", "0"], "--steps"),
    (["--batch-size", "-3"], "--batch-size"),
    (["--n-train", "many"], "--n-train"),
    (["--losses", "hinge"], "--losses"),
    (["--positive-fraction", "0.7"], "--positive-fraction"),
    (["--positive-class", "10"], "--positive-class"),
    (["--lr", "0"], "--lr"),
    (["--lr", "fast"], "--lr"),
    (["--positive-fraction", "nan"], "--positive-fraction"),
    (["--seeds", "0", "x"], "--seeds"),
    (["--mask-prob", "1.5"], "--mask-prob"),
    (["--seeds", "1", "1"], "--seeds"),
    (["--fast", "--batch-size", "128"], "--batch-size"),
    (["--n-train", "5000"], "--n-train"),
]


def test_bad_command_line_values_exit_through_the_parser(tmp_path):
    cases = [[*argv, "--out-dir", str(tmp_path)] for argv, _ in BAD_COMMAND_LINES]
    outcomes = command_line_outcomes("examples.nondecomposable", cases)
    for (argv, option), (code, stderr) in zip(BAD_COMMAND_LINES, outcomes, strict=True):
        assert code == 2, (argv, code, stderr)
        error = stderr.strip().splitlines()[-1]
        assert f"error: argument {option}" in error, (argv, error)
        assert argv[-1] in error, (argv, error)  # the value received
    assert not any(tmp_path.iterdir())  # nothing ran


def test_the_task_refuses_bad_settings():
    with pytest.raises(ValueError, match="`batch_size`"):
        nondecomposable.make_config(fast=True, batch_size=128)
    with pytest.raises(ValueError, match="`overrides`"):
        nondecomposable.make_config(epochs=3)
    with pytest.raises(ValueError, match="`name`"):
        nondecomposable.make_loss("hinge")
    with pytest.raises(ValueError, match="`n_train`"):
        nondecomposable.load_task(8, 0.03, 5000, seed=0)
    cfg = nondecomposable.make_config(fast=True)
    with pytest.raises(ValueError, match="`losses`"):
        nondecomposable.run_comparison(cfg, [0], ["hinge"], "unused")
    with pytest.raises(ValueError, match="`seeds`"):
        nondecomposable.run_comparison(cfg, [1, 1], ["soft_f1"], "unused")


def test_config_defaults_and_pool_size():
    cfg = nondecomposable.make_config()
    # The README's experiment: 512 training samples, minibatches of 32,
    # mask_prob = 1 - 32 / 512.
    assert cfg["n_train"] == 512 and cfg["batch_size"] == 32
    assert cfg["mask_prob"] == pytest.approx(0.9375)
    assert nondecomposable.make_config(mask_prob=0.5)["mask_prob"] == 0.5
    # Digits: 1797 images, 174 eights; 1623 others and 3 % positives:
    # round(0.03 / 0.97 * 1623) = 50 kept eights.
    assert nondecomposable.pool_size(8, 0.03) == 1623 + 50
    x_train, y_train, x_test, y_test = nondecomposable.load_task(8, 0.03, 512, seed=0)
    assert len(y_train) + len(y_test) == 1673
    assert y_train.sum() + y_test.sum() == 50
