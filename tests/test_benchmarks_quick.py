"""The benchmarks' quick mode runs end to end, so they cannot rot.

This checks behaviour, not speed: every benchmark produces its rows, every
ratio is a positive finite number, and the inference graph of the masked
network holds no mask op (asserted inside the benchmark and again here).
Timing targets are deliberately not asserted: on shared CI machines a
timed unit test would fail at random.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
RUN_ALL = REPO / "benchmarks" / "run_all.py"
REQUIRED = (
    "layer_inference",
    "layer_training",
    "layer_cost_breakdown",
    "batch_mask",
    "memory",
    "input_pipeline",
)
OPTIONAL = ("generator", "dataset_build")


def _ratios(obj):
    """Every value under a key containing 'ratio', at any depth."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            if "ratio" in key and isinstance(value, (int, float)):
                yield key, value
            else:
                yield from _ratios(value)
    elif isinstance(obj, list):
        for value in obj:
            yield from _ratios(value)


@pytest.fixture(scope="module")
def quick_results(tmp_path_factory) -> dict:
    """Runs `run_all.py --quick` once in a fresh interpreter."""
    out_dir = tmp_path_factory.mktemp("bench")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("BENCH_TFDS_DATA_DIR", None)
    proc = subprocess.run(
        [sys.executable, str(RUN_ALL), "--quick", "--out-dir", str(out_dir)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    path = out_dir / "results.json"
    assert path.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads(path.read_text())
    results["_returncode"] = proc.returncode
    results["_out_dir"] = str(out_dir)
    return results


def test_every_benchmark_ran(quick_results):
    benches = quick_results["benchmarks"]
    for name in REQUIRED:
        assert benches[name]["status"] == "ok", benches[name].get("traceback")
        assert benches[name]["rows"], name
    for name in OPTIONAL:
        assert benches[name]["status"] in ("ok", "skipped"), benches[name]
    assert quick_results["_returncode"] == 0
    assert quick_results["quick"] is True


def test_per_module_json_written(quick_results):
    out_dir = Path(quick_results["_out_dir"])
    for name in REQUIRED:
        assert json.loads((out_dir / f"{name}.json").read_text())["rows"]


def test_ratios_are_positive_finite(quick_results):
    for name in REQUIRED:
        found = list(_ratios(quick_results["benchmarks"][name]["rows"]))
        assert found, name
        for key, value in found:
            assert math.isfinite(value) and value > 0, (name, key, value)


def test_training_rows_cover_variants_and_jit(quick_results):
    rows = quick_results["benchmarks"]["layer_training"]["rows"]
    assert {r["variant"] for r in rows} == {
        "backdrop",
        "stop_gradient",
        "spatial_dropout",
    }
    assert {r["jit_compile"] for r in rows} == {False, True}


def test_inference_graph_has_no_mask_op(quick_results):
    checks = quick_results["benchmarks"]["layer_inference"]["graph_checks"]
    assert checks
    for check in checks:
        assert check["identical_op_counts"], check
        assert check["ops_with_masks"] == check["ops_without_masks"]
        # Positive control: the training graph does carry the mask.
        assert check["ops_with_masks_training"] > check["ops_with_masks"]


def test_memory_measured_the_steps(quick_results):
    for row in quick_results["benchmarks"]["memory"]["rows"]:
        assert row["peak_mb_with"] > 0 and row["peak_mb_without"] > 0
