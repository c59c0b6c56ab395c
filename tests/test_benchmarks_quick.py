"""The benchmarks' quick mode runs end to end, so they cannot rot.

This checks behaviour, not speed: every benchmark produces its rows, every
ratio is a positive finite number, and the inference graph of the masked
network holds no mask op (asserted inside the benchmark and again here).
Timing targets are deliberately not asserted: on shared CI machines a
timed unit test would fail at random.
"""

from __future__ import annotations

import importlib.util
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
    "mask_draw",
    "memory",
    "input_pipeline",
    "backends",
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


def test_backends_row_per_installed_backend_and_jit(quick_results):
    result = quick_results["benchmarks"]["backends"]
    rows, skipped = result["rows"], result["skipped"]
    for backend in ("tensorflow", "jax", "torch"):
        if importlib.util.find_spec(backend) is None:
            # A missing backend is listed with its reason, never dropped.
            assert [
                s
                for s in skipped
                if s["backend"] == backend and s["jit_compile"] is None and s["reason"]
            ], backend
            assert not [r for r in rows if r["backend"] == backend]
            continue
        for jit in (False, True):
            found = [
                r for r in rows if r["backend"] == backend and r["jit_compile"] == jit
            ]
            skips = [
                s
                for s in skipped
                if s["backend"] == backend and s["jit_compile"] == jit
            ]
            if backend == "torch" and jit and skips:
                # torch.compile outlasts quick mode's warm-up cap on slow
                # machines; then it must say so, and nothing else may.
                assert not found and "cap" in skips[0]["reason"], skips
                continue
            assert len(found) == 1 and not skips, (backend, jit, skips)
            row = found[0]
            assert row["unmasked_ms"] > 0 and row["masked_ms"] > 0, row
            assert math.isfinite(row["ratio"]) and row["ratio"] > 0, row
            assert row["rounds"] == result["settings"]["rounds"], row
            assert row["processes"] == result["settings"]["processes"], row
            assert len(row["process_rows"]) == row["processes"], row
            if backend != "tensorflow":
                # The children exist so that JAX and PyTorch run without
                # TensorFlow (imported before Keras, it can abort PyTorch).
                assert row["tensorflow_imported"] is False, row


def test_mask_draw_rows_cover_both_costs_and_jit(quick_results):
    rows = quick_results["benchmarks"]["mask_draw"]["rows"]
    keys = {(r["variant"], r["jit_compile"]) for r in rows}
    for jit in (False, True):
        assert {
            ("keep_count", jit),
            ("top_k_over_all", jit),
            ("multiply_no_nan", jit),
        } <= keys
    assert all(r["baseline_ms"] > 0 and r["variant_ms"] > 0 for r in rows)
