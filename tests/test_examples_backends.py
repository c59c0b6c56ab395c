"""The examples on the JAX and PyTorch Keras backends, and their NumPy input.

Keras fixes its backend when it is first imported, and this test process
runs TensorFlow, so every run on another backend is a fresh subprocess with
``KERAS_BACKEND`` set; it writes ``results.json`` and the assertions read
it. The NumPy input classes are backend-independent and tested in-process.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from keras_backdrop.experiments import nondecomposable, texture

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


def _check_texture_payload(payload: dict, backend: str, source: str) -> None:
    assert payload["backend"] == backend
    assert payload["data_source"] == source
    settings = payload["settings"]
    assert settings["seeds"] == SEEDS
    # --fast runs eagerly, so nothing is compiled, whatever the backend.
    assert settings["jit_compile"] is False
    # The tf.distribute flags are recorded only when a strategy runs.
    assert "strategy" not in settings
    assert set(payload["results"]) == set(texture.VARIANTS)
    for variant, runs in payload["results"].items():
        assert set(runs) == {str(s) for s in SEEDS}, variant
        for run in runs.values():
            assert 0.0 <= run["test_accuracy"] <= 1.0
            assert 0.0 <= run["train_accuracy"] <= 1.0
            assert all(0.0 <= a <= 1.0 for a in run["scale_accuracy"])
            assert len(run["test_curve"]) == settings["epochs"]
            assert all(0.0 <= a <= 1.0 for a in run["test_curve"])
        accs = [r["test_accuracy"] for r in runs.values()]
        assert payload["summary"][variant]["mean"] == pytest.approx(np.mean(accs))


def _tfds_importable() -> bool:
    try:
        import tensorflow_datasets  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.parametrize("backend", BACKENDS)
def test_texture_classification_fast_on_backend(backend, tmp_path):
    out = tmp_path / "out"
    output = _run(
        backend,
        [
            "-m",
            "examples.texture_classification",
            "--fast",
            "--out-dir",
            str(out),
            "--data-dir",
            str(tmp_path / "tfds"),
            "--verbose",
            "0",
        ],
    )
    payload = json.loads((out / "results.json").read_text())
    source = "tfds" if _tfds_importable() else "numpy"
    _check_texture_payload(payload, backend, source)
    assert f"backend {backend})" in output  # the table's header line
    for variant in texture.VARIANTS:
        assert f"| {variant} |" in output
    assert (out / "learning_curves.png").read_bytes()[:4] == b"\x89PNG"


# Runs the example with TensorFlow and TFDS unimportable, as in a JAX-only
# environment: a meta-path finder refuses them before anything is imported.
_WITHOUT_TENSORFLOW = textwrap.dedent("""
    import json, sys

    BLOCKED = ("tensorflow", "tensorflow_datasets")

    class RefuseTensorFlow:
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in BLOCKED:
                raise ImportError(f"{name} is unimportable in this test")
            return None

    sys.meta_path.insert(0, RefuseTensorFlow())
    import runpy

    sys.argv[0] = "texture_classification"
    runpy.run_module("examples.texture_classification", run_name="__main__")
    loaded = sorted(m for m in sys.modules if m.partition(".")[0] in BLOCKED)
    print("TENSORFLOW_MODULES", json.dumps(loaded))
""")


@_needs("jax")
def test_texture_classification_on_jax_without_tensorflow(tmp_path):
    out, data_dir = tmp_path / "out", tmp_path / "tfds"
    output = _run(
        "jax",
        [
            "-c",
            _WITHOUT_TENSORFLOW,
            "--fast",
            "--out-dir",
            str(out),
            "--data-dir",
            str(data_dir),
            "--verbose",
            "0",
        ],
    )
    loaded = json.loads(output.split("TENSORFLOW_MODULES", 1)[1].splitlines()[0])
    assert loaded == []
    payload = json.loads((out / "results.json").read_text())
    _check_texture_payload(payload, "jax", "numpy")
    assert "generated by tfds_gp.load_numpy" in output
    # The NumPy path holds the data in memory: nothing goes to --data-dir.
    assert not data_dir.exists()
    # The --fast config's recipe, read back from what the run recorded.
    assert payload["dataset"]["size"] == 32
    assert payload["dataset"]["train_per_class"] == 4


# Both strategies in one process: each start of JAX and TensorFlow costs
# seconds. Prints, per strategy, the exit code and argparse's message.
_PARSE_STRATEGIES = textwrap.dedent("""
    import contextlib, io, json, runpy, sys

    script = runpy.run_module("examples.texture_classification")
    outcomes = {}
    for strategy in sys.argv[1:]:
        stderr = io.StringIO()
        try:
            with contextlib.redirect_stderr(stderr):
                script["parse_args"](["--fast", "--strategy", strategy])
            outcomes[strategy] = ["accepted", ""]
        except SystemExit as exit:
            outcomes[strategy] = [exit.code, stderr.getvalue()]
    print("OUTCOMES", json.dumps(outcomes))
""")


@_needs("jax")
def test_tf_distribute_strategies_are_refused_off_tensorflow():
    strategies = ["mirrored", "multiworker"]
    output = _run("jax", ["-c", _PARSE_STRATEGIES, *strategies])
    outcomes = json.loads(output.split("OUTCOMES", 1)[1].splitlines()[0])
    for strategy in strategies:
        code, message = outcomes[strategy]
        assert code == 2, (strategy, code)  # argparse's usage error
        error = message.strip().splitlines()[-1]
        assert "--strategy" in error
        assert repr(strategy) in error
        assert "jax" in error and "TensorFlow" in error


@pytest.mark.parametrize(
    "backend, loss",
    # One loss per backend keeps each run near half a minute; both losses
    # run on TensorFlow in test_nondecomposable_script.py.
    [
        pytest.param("jax", "pairwise_auc", marks=_needs("jax"), id="jax"),
        pytest.param("torch", "soft_f1", marks=_needs("torch"), id="torch"),
    ],
)
def test_nondecomposable_fast_on_backend(backend, loss, tmp_path):
    output = _run(
        backend,
        [
            "-m",
            "examples.nondecomposable",
            "--fast",
            "--seeds",
            *map(str, SEEDS),
            "--losses",
            loss,
            "--out-dir",
            str(tmp_path),
        ],
    )
    report = json.loads((tmp_path / "results.json").read_text())
    assert report["backend"] == backend
    assert f"Keras backend {backend}," in output
    assert set(report["results"]) == {loss}
    steps = report["config"]["steps"]
    by_variant = report["results"][loss]
    assert set(by_variant) == set(nondecomposable.VARIANTS)
    for variant, r in by_variant.items():
        assert set(r["per_seed"]) == {str(s) for s in SEEDS}, variant
        for run in r["per_seed"].values():
            for key in ("test_f1", "test_auc", "train_f1", "train_auc"):
                assert 0.0 <= run[key] <= 1.0
            # Every variant's input gave exactly --steps optimizer updates.
            assert run["steps"] == steps
        values = [run["test_auc"] for run in r["per_seed"].values()]
        assert r["test_auc_mean"] == pytest.approx(np.mean(values))
    assert (tmp_path / "results.png").read_bytes()[:4] == b"\x89PNG"


# The NumPy inputs of the non-TensorFlow backends, checked in-process: they
# are plain PyDatasets whatever the backend.


def _numbered_images(n: int, size: int) -> np.ndarray:
    """Images whose pixel values encode (image, row, column)."""
    idx = np.arange(n)[:, None, None] * 10_000
    rows = np.arange(size)[None, :, None] * 100
    cols = np.arange(size)[None, None, :]
    return (idx + rows + cols).astype(np.float32)[..., None]


def test_texture_train_batches_reshuffle_each_epoch_and_repeat_by_seed():
    n, size, batch, epochs = 10, 8, 4, 3
    x, y = _numbered_images(n, size), np.arange(n)
    data = texture.TrainBatches(x, y, batch, epochs, seed=7)
    assert data.steps_per_epoch == 3 and len(data) == 9
    orders = []
    for epoch in range(epochs):
        labels = [data[epoch * 3 + s][1] for s in range(3)]
        assert [len(batch) for batch in labels] == [4, 4, 2]  # last batch short
        order = np.concatenate(labels)
        assert sorted(order) == list(range(n))  # each image once per epoch
        orders.append(order)
        for s in range(3):
            images, labels_s = data[epoch * 3 + s]
            np.testing.assert_array_equal(images, x[labels_s])
    assert not np.array_equal(orders[0], orders[1])
    # The same seed repeats the batches, in any fetch order; another differs.
    again = texture.TrainBatches(x, y, batch, epochs, seed=7)
    for index in reversed(range(len(data))):
        np.testing.assert_array_equal(again[index][1], data[index][1])
    other = texture.TrainBatches(x, y, batch, epochs, seed=8)
    assert not np.array_equal(other[0][1], data[0][1])
    with pytest.raises(IndexError):
        data[len(data)]


def test_texture_train_batches_random_crops_are_windows_of_the_images():
    n, size, crop, epochs = 12, 16, 8, 2
    x, y = _numbered_images(n, size), np.arange(n)
    data = texture.TrainBatches(x, y, 5, epochs, seed=3, crop=crop)
    corners = {}
    for index in range(len(data)):
        images, labels = data[index]
        assert images.shape == (len(labels), crop, crop, 1)
        epoch = index // data.steps_per_epoch
        for image, label in zip(images, labels):
            # The pixel values name the image and the window's corner.
            top_left = int(image[0, 0, 0])
            assert top_left // 10_000 == label
            r, c = divmod(top_left % 10_000, 100)
            assert 0 <= r <= size - crop and 0 <= c <= size - crop
            np.testing.assert_array_equal(image, x[label, r : r + crop, c : c + crop])
            corners[epoch, int(label)] = (r, c)
    assert len(corners) == n * epochs
    # Fresh windows every epoch, and not all at one place.
    assert any(corners[0, i] != corners[1, i] for i in range(n))
    assert len({corners[0, i] for i in range(n)}) > 1


def test_texture_train_dataset_on_tensorflow_is_tf_data():
    # The TensorFlow backend keeps its tf.data pipeline (the recorded
    # results' input); the PyDataset is for the other backends only.
    import tensorflow as tf

    exp = texture.TextureExperiment(batch_size=4, epochs=2, crop=None)
    x, y = _numbered_images(6, 32), np.arange(6)
    data = texture.TextureData("numpy", (x, y), (x, y), 6, y)
    scales = [[1.0, 1.5], [4.0, 6.0]]
    for variant in ("no_mask", "random_crops"):
        train, _ = texture.train_dataset(
            texture.RunSpec(variant, 0, data, 32, scales, exp)
        )
        assert isinstance(train, tf.data.Dataset), variant


def test_nondecomposable_minibatches_cover_each_pass_and_repeat_by_seed():
    n, batch, steps = 10, 4, 7  # passes of 3 batches: 4, 4, 2
    x = np.arange(n, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)
    y = np.arange(n, dtype=np.float32)
    data = nondecomposable.Minibatches(x, y, batch, steps, seed=5)
    assert len(data) == steps
    batches = [data[i] for i in range(steps)]
    assert [len(b[1]) for b in batches] == [4, 4, 2, 4, 4, 2, 4]
    for xb, yb in batches:
        np.testing.assert_array_equal(xb[:, 0], yb)  # rows stay paired
    first = np.concatenate([b[1] for b in batches[:3]])
    second = np.concatenate([b[1] for b in batches[3:6]])
    assert sorted(first) == sorted(second) == list(range(n))
    assert not np.array_equal(first, second)  # reshuffled each pass
    again = nondecomposable.Minibatches(x, y, batch, steps, seed=5)
    np.testing.assert_array_equal(again[6][1], batches[6][1])
    with pytest.raises(IndexError):
        data[steps]
    full = nondecomposable.FullBatches(x, y, 3)
    assert len(full) == 3
    np.testing.assert_array_equal(full[2][1], y)
