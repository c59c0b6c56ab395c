"""The texture example under MirroredStrategy and MultiWorkerMirroredStrategy.

Both runs go in subprocesses: the logical CPU devices of ``mirrored`` must
be set up before TensorFlow initialises, and each multi-worker task is its
own process (TF_CONFIG on loopback ports, as in tests/test_multiworker.py).
"""

from __future__ import annotations

import json
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
from loopback_workers import run_workers, worker_env

from keras_backdrop.experiments import strategies, texture

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 240  # seconds per run; a --fast run takes 15-30 s on 2 busy cores


def _command(out_dir: Path, data_dir: Path, *flags: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "examples.texture_classification",
        "--fast",
        "--out-dir",
        str(out_dir),
        "--data-dir",
        str(data_dir),
        "--verbose",
        "0",
        *flags,
    ]


def _check_payload(payload: dict, strategy: str, replicas: int) -> None:
    settings = payload["settings"]
    assert settings["strategy"] == strategy
    assert settings["replicas"] == replicas
    seeds = settings["seeds"]
    assert len(seeds) >= 2
    assert set(payload["results"]) == set(texture.VARIANTS)
    for variant, runs in payload["results"].items():
        assert set(runs) == {str(s) for s in seeds}, variant
        for run in runs.values():
            assert 0.0 <= run["test_accuracy"] <= 1.0
            assert 0.0 <= run["train_accuracy"] <= 1.0
            assert all(0.0 <= a <= 1.0 for a in run["scale_accuracy"])
            assert len(run["test_curve"]) == settings["epochs"]


def _table(stdout: str) -> list[str]:
    """The printed results table without its timing column."""
    return [
        line.rsplit("|", 2)[0] for line in stdout.splitlines() if line.startswith("| ")
    ]


def test_mirrored_two_replicas_fast(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run(
        _command(out, tmp_path / "tfds", "--strategy", "mirrored", "--replicas", "2"),
        cwd=ROOT,
        env=worker_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "strategy mirrored: 2 replicas" in proc.stdout
    _check_payload(json.loads((out / "results.json").read_text()), "mirrored", 2)
    assert (out / "learning_curves.png").is_file()


def test_multiworker_two_workers_fast(tmp_path):
    # A data dir per worker: two TFDS builds into one directory at the same
    # time could collide.
    procs = run_workers(
        lambda index: _command(
            tmp_path / f"out{index}",
            tmp_path / f"tfds{index}",
            "--strategy",
            "multiworker",
        )[1:],
        timeout=TIMEOUT,
        cwd=ROOT,
    )
    outputs = [proc.stdout + proc.stderr for proc in procs]
    for proc, output in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, output[-3000:]
    # Only the chief (worker 0) writes.
    payload = json.loads((tmp_path / "out0" / "results.json").read_text())
    assert not (tmp_path / "out1").exists()
    assert "not the chief" in outputs[1]
    _check_payload(payload, "multiworker", 2)
    # The workers end with the same weights, so they print the same
    # accuracies, and those are the chief's JSON.
    tables = [_table(output) for output in outputs]
    assert len(tables[0]) == 1 + len(texture.VARIANTS)  # + header
    assert tables[0] == tables[1]
    for variant, runs in payload["results"].items():
        row = next(line for line in tables[0] if line.startswith(f"| {variant} |"))
        for run in runs.values():
            assert f"{run['test_accuracy']:.3f}" in row


@pytest.mark.parametrize(
    "flags, option, received",
    [
        (["--strategy", "ring"], "--strategy", "'ring'"),
        (["--strategy", "mirrored", "--replicas", "0"], "--replicas", "'0'"),
        (["--strategy", "mirrored", "--replicas", "two"], "--replicas", "'two'"),
        (["--replicas", "2"], "--replicas", "--strategy none"),
        (["--strategy", "multiworker"], "--strategy", "TF_CONFIG"),
    ],
)
def test_strategy_flags_are_checked(monkeypatch, capsys, flags, option, received):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    parse = runpy.run_module("examples.texture_classification")["parse_args"]
    with pytest.raises(SystemExit) as info:
        parse(flags)
    assert info.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"argument {option}" in error and received in error


def test_strategy_flags_accepted(monkeypatch, capsys):
    parse = runpy.run_module("examples.texture_classification")["parse_args"]
    monkeypatch.setenv("TF_CONFIG", "{}")
    with pytest.raises(SystemExit) as info:
        parse(["--strategy", "multiworker", "--jit-compile"])
    assert info.value.code == 2
    assert "argument --jit-compile" in capsys.readouterr().err
    exp = parse(["--strategy", "mirrored", "--replicas", "3"])
    assert (exp.strategy, exp.replicas) == ("mirrored", 3)
    exp = parse([])
    assert (exp.strategy, exp.replicas) == ("none", None)
    assert strategies.is_chief(None)
