"""The layer and the NumPy generator work where TensorFlow is absent.

Under JAX or PyTorch, `import keras_backdrop` must not load TensorFlow, and
both packages must import and run where TensorFlow cannot be imported at
all. The second case runs in a child process where `tensorflow` and
`tensorflow_datasets` are marked absent in `sys.modules`; the slow test
builds such an environment for real.
"""

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

BLOCK_TENSORFLOW = textwrap.dedent(
    """
    import sys

    # Python's own way to mark a module absent: `import` raises
    # ModuleNotFoundError and importlib.util.find_spec returns None.
    sys.modules["tensorflow"] = None
    sys.modules["tensorflow_datasets"] = None
    """
)

USE_THE_PACKAGES = textwrap.dedent(
    """
    import sys
    import keras
    import numpy as np
    import keras_backdrop
    import tfds_gp

    x = keras.ops.convert_to_tensor(np.ones((2, 3, 3, 1), "float32"))
    layer = keras_backdrop.BackdropMasking(mask_prob=0.5, pinned_index=(1, 2, 0))
    y = keras.ops.convert_to_numpy(layer(x, training=True))
    assert np.array_equal(y, np.ones((2, 3, 3, 1)))
    mask = keras_backdrop.draw_mask((4, 5), mask_prob=0.5, seed=1)
    mask = keras.ops.convert_to_numpy(mask)
    assert mask.shape == (4, 5) and abs(mask.sum() - 20) < 1e-4
    images, labels = tfds_gp.split_arrays(tfds_gp.PRESETS["small"], "test")
    assert images.ndim == 4 and len(images) == len(labels)
    print("BUILDER", tfds_gp.GpTextures)
    print("LOADED", sorted(
        name for name, module in sys.modules.items()
        if module is not None and name.split(".")[0] == "tensorflow"))
    """
)

# The batch-level losses, with values computed by hand in tests/test_losses.py.
USE_THE_LOSSES = textwrap.dedent(
    """
    import sys
    import numpy as np
    import keras_backdrop.losses as losses

    y = np.array([1.0, 0.0, 1.0, 0.0], np.float32)
    p = np.array([0.5, 0.5, 0.75, 0.25], np.float32)
    print("F1", round(float(losses.SoftF1()(y, p)), 5))
    print("AUC", round(float(losses.PairwiseAUC("sigmoid")(y, p)), 5))
    print("LOADED", sorted(
        name for name, module in sys.modules.items()
        if module is not None and name.split(".")[0] == "tensorflow"))
    """
)


def _child(backend: str, code: str) -> str:
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_import_does_not_load_tensorflow(backend):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"the {backend} backend is not installed")
    out = _child(backend, USE_THE_PACKAGES)
    assert "LOADED []" in out


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_packages_work_where_tensorflow_cannot_be_imported(backend):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"the {backend} backend is not installed")
    out = _child(backend, BLOCK_TENSORFLOW + USE_THE_PACKAGES)
    # No TFDS: the builder is absent, the generator is there.
    assert "BUILDER None" in out
    assert "LOADED []" in out


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="needs jax")
def test_losses_run_on_jax_without_tensorflow():
    out = _child("jax", BLOCK_TENSORFLOW + USE_THE_LOSSES)
    assert "F1 0.375" in out
    assert "AUC 0.275" in out
    assert "LOADED []" in out


@pytest.mark.slow
def test_installs_beside_keras_and_jax_without_tensorflow(tmp_path):
    """`pip install ".[jax]"` into a fresh virtualenv: the JAX extra's own
    dependencies, with no TensorFlow among them."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    pip = [python, "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, f"{ROOT}[jax]"], check=True, timeout=900)
    done = subprocess.run(
        [python, "-c", USE_THE_PACKAGES],
        cwd=tmp_path,
        env={**os.environ, "KERAS_BACKEND": "jax"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "BUILDER None" in done.stdout and "LOADED []" in done.stdout
    missing = subprocess.run(
        [python, "-c", "import tensorflow"], capture_output=True, text=True
    )
    assert missing.returncode != 0  # the environment really lacks it
