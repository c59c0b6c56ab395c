"""The non-decomposable examples read as keras.io examples and run with --fast.

`examples/nondecomposable.py` is a script with top-level code, so each run
is a fresh interpreter from the repository root, on TensorFlow and on the
other installed Keras backends. (`examples/distributed_losses.py` runs in
tests/test_distributed_losses.py.)
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
HEADER = re.compile(
    r'^"""\nTitle: .+\nAuthor: .+\nDate created: \d{4}/\d\d/\d\d\n'
    r"Last modified: \d{4}/\d\d/\d\d\nDescription: .+\nAccelerator: None\n"
    r'"""\n'
)


def _needs(module: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(
        importlib.util.find_spec(module) is None,
        reason=f"{module} is not installed, so its Keras backend cannot run",
    )


@pytest.mark.parametrize("name", ["nondecomposable", "distributed_losses"])
def test_the_example_has_a_keras_io_header_and_imports_no_experiments(name):
    text = (REPO / "examples" / f"{name}.py").read_text()
    assert HEADER.match(text)
    assert "keras_backdrop.experiments" not in text
    assert "research" not in text.split("# ## Setup")[-1].split("import")[0]


@pytest.mark.parametrize(
    "backend, loss",
    [
        ("tensorflow", "soft_f1"),
        pytest.param("jax", "pairwise_auc", marks=_needs("jax")),
        pytest.param("torch", "soft_f1", marks=_needs("torch")),
    ],
)
def test_fast_run_prints_both_methods(backend, loss):
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run(
        [sys.executable, "-m", "examples.nondecomposable", "--fast", "--loss", loss],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    rows = re.findall(
        r"^\s*(full batch|backdrop keep_count=64): test F1 ([\d.]+), "
        r"test ROC AUC ([\d.]+)$",
        done.stdout,
        flags=re.M,
    )
    assert [r[0] for r in rows] == ["full batch", "backdrop keep_count=64"]
    for _, f1, auc in rows:
        assert 0.0 <= float(f1) <= 1.0 and 0.0 <= float(auc) <= 1.0
