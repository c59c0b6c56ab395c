"""The paper protocol: its statistics, its splits, resuming, and --fast end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_errors import command_line_outcomes

from keras_backdrop.experiments import paper_protocol as pp

REPO = Path(__file__).resolve().parents[1]


def test_best_epoch_prefers_accuracy_then_loss_then_earlier():
    assert pp.best_epoch([0.5, 0.9, 0.7], [1.0, 2.0, 0.1]) == 1
    assert pp.best_epoch([0.5, 0.7, 0.7], [1.0, 0.9, 0.8]) == 2
    assert pp.best_epoch([0.7, 0.7], [0.5, 0.5]) == 0


def test_validation_split_is_stratified_disjoint_and_seeded():
    labels = np.repeat(np.arange(4), 25)
    train, val = pp.split_validation(labels, 5, seed=3)
    assert len(np.intersect1d(train, val)) == 0
    assert len(train) + len(val) == 100
    assert np.bincount(labels[val]).tolist() == [5, 5, 5, 5]
    again, _ = pp.split_validation(labels, 5, seed=3)
    other, _ = pp.split_validation(labels, 5, seed=4)
    assert np.array_equal(train, again) and not np.array_equal(train, other)
    with pytest.raises(ValueError, match="val_per_class"):
        pp.split_validation(labels, 25, seed=0)


def test_variants_cover_the_protocol():
    specs = pp.variant_specs()
    assert {"no_mask", "backdrop", "random_crops", "spatial_dropout"} <= set(specs)
    assert (
        specs["backdrop"].fine_prob,
        specs["backdrop"].coarse_prob,
    ) == pp.PAPER_PROBS
    grid = [s for s in specs.values() if s.name.startswith("backdrop_f")]
    assert len(grid) >= 2 and all(s.masks for s in grid)


def _fast_protocol(tmp_path, **overrides):
    settings = dict(
        config="fast",
        variants=["backdrop"],
        seeds=[0],
        epochs=3,
        val_per_class=2,
        out_dir=str(tmp_path / "out"),
        work_dir=str(tmp_path / "work"),
    )
    settings.update(overrides)
    return pp.Protocol(**settings)


def test_a_run_stopped_by_the_budget_resumes_where_it_stopped(tmp_path):
    # Masks, shuffles, optimizer state: all restored from the checkpoint, so
    # the resumed run equals an uninterrupted one.
    whole = pp.run(_fast_protocol(tmp_path / "whole"), log=lambda _: None)
    # A budget shorter than an epoch: each call trains one epoch and stops.
    split = _fast_protocol(tmp_path / "split", budget_s=1e-9)
    stopped = pp.run(split, log=lambda _: None)
    assert stopped["complete"] is False
    assert stopped["variants"]["backdrop"]["seeds"]["0"] == {
        "status": "stopped",
        "epochs": 1,
    }
    assert stopped["summary"] == {}
    pp.run(split, log=lambda _: None)  # epoch 2, stops again
    resumed = pp.run(_fast_protocol(tmp_path / "split"), log=lambda _: None)
    assert resumed["complete"] is True
    a = whole["variants"]["backdrop"]["seeds"]["0"]
    b = resumed["variants"]["backdrop"]["seeds"]["0"]
    assert a["curves"] == b["curves"]
    assert a["test_accuracy"] == b["test_accuracy"]
    # A finished run is read back, not trained again.
    again = pp.run(_fast_protocol(tmp_path / "split"), log=lambda _: None)
    assert again["variants"] == resumed["variants"]


def test_fast_command_writes_the_documented_results(tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [
        sys.executable,
        "-m",
        "examples.paper_experiment",
        "--fast",
        "--out-dir",
        str(tmp_path / "out"),
        "--work-dir",
        str(tmp_path / "work"),
    ]
    done = subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-3000:]
    payload = json.loads((tmp_path / "out/paper_protocol.json").read_text())
    assert payload["size"] == 32 and payload["config"] == "fast" and payload["complete"]
    assert payload["backend"] and payload["device"]
    assert set(payload["variants"]) == {"no_mask", "backdrop", "spatial_dropout"}
    for entry in payload["variants"].values():
        assert set(entry["seeds"]) == {"0", "1"}
        for run in entry["seeds"].values():
            for key in ("test_accuracy", "small_scale_accuracy", "train_accuracy"):
                assert 0.0 <= run[key] <= 1.0
            assert run["epochs"] == 2 and 1 <= run["selected_epoch"] <= 2
            assert len(run["curves"]["val_accuracy"]) == 2
    diff = payload["summary"]["backdrop"]["difference_from_no_mask"]
    paired = [
        payload["variants"]["backdrop"]["seeds"][s]["test_accuracy"]
        - payload["variants"]["no_mask"]["seeds"][s]["test_accuracy"]
        for s in ("0", "1")
    ]
    assert diff["mean"] == pytest.approx(np.mean(paired))
    assert (tmp_path / "out/paper_protocol.md").read_text().startswith("| variant |")
    assert (tmp_path / "out/paper_protocol_curves.png").stat().st_size > 0


def test_bad_options_end_in_the_parser():
    cases = [
        ["--variants", "no_mask,bogus"],
        ["--seeds", "1,1"],
        ["--epochs", "0"],
        ["--config", "nope"],
        ["--budget", "-3"],
    ]
    outcomes = command_line_outcomes("examples.paper_experiment", cases)
    for (code, message), option in zip(
        outcomes,
        ["--variants", "--seeds", "--epochs", "--config", "--budget"],
        strict=True,
    ):
        assert code == 2 and f"argument {option}" in message, message
