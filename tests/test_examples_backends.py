"""The non-decomposable example on the JAX and PyTorch Keras backends.

Keras fixes its backend when it is first imported, and this test process
runs TensorFlow, so every run on another backend is a fresh subprocess with
``KERAS_BACKEND`` set; it writes ``results.json`` and the assertions read
it. The NumPy input classes are backend-independent and tested in-process.
(The texture tutorial's backend runs are in tests/test_examples.py.)
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest


REPO = Path(__file__).resolve().parent.parent
SEEDS = [0, 1]


def _needs(module: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(
        importlib.util.find_spec(module) is None,
        reason=f"{module} is not installed, so its Keras backend cannot run",
    )


BACKENDS = [
    pytest.param("jax", marks=_needs("jax"), id="jax"),
    pytest.param("torch", marks=_needs("torch"), id="torch"),
]


def _run(backend: str, args: list[str]) -> str:
    """Runs ``python *args`` from the repository root; its stdout + stderr."""
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    return output


# The NumPy input of the non-TensorFlow backends, checked in-process: it is
# a plain PyDataset whatever the backend.
