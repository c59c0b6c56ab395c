"""The backend-neutral specification suite, once per Keras backend.

Keras fixes its backend when it is first imported, so each backend gets its
own process: `python -m pytest tests/backend_spec` with KERAS_BACKEND set.
Nothing here imports Keras or a backend package (under KERAS_BACKEND=torch,
TensorFlow imported before Keras can abort a process).
"""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Each child takes well under two minutes on two shared CPU cores; the
# bound only turns a hang into a failure with output.
CHILD_TIMEOUT_S = 900
OUTPUT_TAIL_CHARS = 6000

# The Keras backend name and the package it needs.
BACKENDS = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_specification_suite_passes_on_backend(backend):
    package = BACKENDS[backend]
    # find_spec on a top-level name locates it without importing it.
    if importlib.util.find_spec(package) is None:
        pytest.skip(f"{package} is not installed, so the {backend} backend cannot run")
    env = {
        **os.environ,
        "KERAS_BACKEND": backend,
        "KERAS_BACKDROP_SPEC_SUITE": "1",
        "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
    }
    command = [
        sys.executable,
        "-m",
        "pytest",
        "tests/backend_spec",
        "-q",
        "-p",
        "no:cacheprovider",
    ]
    try:
        result = subprocess.run(
            command,
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=CHILD_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as exc:
        output = (exc.stdout or "") + (exc.stderr or "")
        if isinstance(output, bytes):
            output = output.decode(errors="replace")
        pytest.fail(
            f"the {backend} suite ran past {CHILD_TIMEOUT_S} s; output tail:\n"
            f"{output[-OUTPUT_TAIL_CHARS:]}"
        )
    output = result.stdout + result.stderr
    # Exit status 5 (nothing collected) fails here too, so an empty run
    # cannot pass.
    assert result.returncode == 0, (
        f"KERAS_BACKEND={backend} python -m pytest tests/backend_spec exited with "
        f"{result.returncode}; output tail:\n{output[-OUTPUT_TAIL_CHARS:]}"
    )
    assert " passed" in result.stdout, output[-OUTPUT_TAIL_CHARS:]
