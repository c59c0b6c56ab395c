"""A `.keras` file saved on one Keras backend loads on another.

Each side runs in its own process with its own `KERAS_BACKEND`. The loader
checks what the saver wrote down (weights, pinned index, predictions, the
optimizer's step count) and then trains on, so the layer's variables (the
seed generator's state and the pinned index) survive the trip.

What works, measured here and stated in the README: TensorFlow and JAX
files load everywhere with their optimizer; a PyTorch file names
PyTorch's own optimizer class, so elsewhere it loads with `compile=False`
(then compile again).
"""

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SAVE = textwrap.dedent(
    """
    import json, sys
    import keras  # first: TensorFlow imported before Keras can abort torch
    import numpy as np
    from keras_backdrop import BackdropMasking

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((16, 16, 1)),
        keras.layers.Conv2D(4, 2, strides=2),
        BackdropMasking(mask_prob=0.3, mask_axes=(1, 2), seed=3,
                        pinned_index=(1, 2), name="bd"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(2),
    ])
    model.compile(optimizer="adam", jit_compile=False,
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(0).standard_normal((8, 16, 16, 1)).astype("float32")
    y = np.arange(8) % 2
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    model.save(sys.argv[1])
    np.savez(sys.argv[2], *[np.asarray(w) for w in model.get_weights()],
             predictions=np.asarray(model.predict(x, verbose=0)))
    """
)

LOAD = textwrap.dedent(
    """
    import json, sys
    import keras
    import numpy as np
    import keras_backdrop  # registers the layer: no custom_objects needed

    compile_ = sys.argv[3] == "compile"
    model = keras.saving.load_model(sys.argv[1], compile=compile_)
    saved = np.load(sys.argv[2])
    x = np.random.default_rng(0).standard_normal((8, 16, 16, 1)).astype("float32")
    y = np.arange(8) % 2
    weights = [np.asarray(w) for w in model.get_weights()]
    layer = model.get_layer("bd")
    report = {
        "backend": keras.backend.backend(),
        "weights_equal": all(
            np.array_equal(w, saved[f"arr_{i}"]) for i, w in enumerate(weights)
        ) and len(weights) == len(saved.files) - 1,
        "pinned_index": list(layer.pinned_index),
        "pinned_variable": np.asarray(layer._pinned_var).tolist(),
        "mask_prob": layer.mask_prob,
        "prediction_error": float(np.max(np.abs(
            np.asarray(model.predict(x, verbose=0)) - saved["predictions"]))),
        "iterations": int(model.optimizer.iterations) if compile_ else None,
    }
    if not compile_:
        model.compile(optimizer="adam",
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = np.asarray(model.layers[0].kernel).copy()
    history = model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    report["loss"] = float(history.history["loss"][-1])
    report["trained"] = not np.array_equal(before, np.asarray(model.layers[0].kernel))
    print("REPORT" + json.dumps(report))
    """
)


def _installed(backend: str) -> bool:
    return importlib.util.find_spec(backend) is not None


def _run(backend: str, code: str, *args: str) -> str:
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, (
        f"{backend} child failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    return done.stdout


@pytest.fixture(scope="module")
def saved_files(tmp_path_factory):
    """Saves the same model once on each installed backend."""
    root = tmp_path_factory.mktemp("saved")
    files = {}
    for backend in ("tensorflow", "jax", "torch"):
        if _installed(backend):
            model, arrays = root / f"{backend}.keras", root / f"{backend}.npz"
            _run(backend, SAVE, str(model), str(arrays))
            files[backend] = (model, arrays)
    return files


@pytest.mark.parametrize(
    "source, target, compile_",
    [
        ("tensorflow", "jax", "compile"),
        ("jax", "torch", "compile"),
        ("torch", "jax", "no_compile"),
    ],
)
def test_saved_on_one_backend_loads_on_another(saved_files, source, target, compile_):
    for backend in (source, target):
        if not _installed(backend):
            pytest.skip(f"the {backend} backend is not installed")
    model, arrays = saved_files[source]
    out = _run(target, LOAD, str(model), str(arrays), compile_)
    report = json.loads(out.split("REPORT", 1)[1])
    assert report["backend"] == target
    assert report["weights_equal"]
    assert report["pinned_index"] == [1, 2]
    assert report["pinned_variable"] == [1, 2]
    assert report["mask_prob"] == 0.3
    assert report["prediction_error"] < 1e-5
    if compile_ == "compile":
        # Two batches of four were trained before saving: the optimizer's
        # state came along.
        assert report["iterations"] == 2
    assert report["trained"] and report["loss"] == report["loss"]  # not NaN
