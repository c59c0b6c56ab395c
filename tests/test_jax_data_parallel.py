"""`BackdropMasking` under `keras.distribution.DataParallel` on JAX.

Two host CPU devices (`--xla_force_host_platform_device_count=2`) in a
child process. Keras traces the training step once for the global batch
and XLA shards it, so the layer sees the global batch: masks are global,
exactly the masks one device would draw for the whole batch (the README
states this). Each step's mask is read back from a plain SGD update of a
per-feature scale: with inputs of ones and a loss that is the batch mean
of the summed outputs, the update of the scale is the mask itself.
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

CHILD = textwrap.dedent(
    """
    import json
    import jax
    import keras
    import numpy as np
    from keras_backdrop import BackdropMasking

    assert len(jax.devices()) == 2, jax.devices()
    keras.distribution.set_distribution(
        keras.distribution.DataParallel(devices=jax.devices()))

    class Scale(keras.layers.Layer):
        def build(self, shape):
            self.w = self.add_weight(shape=(shape[-1],), initializer="ones")
        def call(self, x):
            return x * self.w

    def run(mask_axes, pinned_index, steps):
        n, batch = 16, 8
        model = keras.Sequential([
            keras.Input((n,)),
            Scale(),
            BackdropMasking(mask_prob=0.5, mask_axes=mask_axes, seed=1,
                            pinned_index=pinned_index),
            keras.layers.Lambda(lambda y: keras.ops.sum(y, axis=1, keepdims=True)),
        ])
        model.compile(optimizer=keras.optimizers.SGD(1.0), jit_compile=True,
                      loss=lambda y_true, y_pred: keras.ops.mean(y_pred))
        x = np.ones((batch, n), "float32")
        updates = []
        for _ in range(steps):
            before = np.asarray(model.layers[0].w).copy()
            model.fit(x, np.zeros((batch, 1), "float32"), batch_size=batch,
                      epochs=1, verbose=0, shuffle=False)
            updates.append((before - np.asarray(model.layers[0].w)).tolist())
        return updates

    print("REPORT" + json.dumps({
        "shared": run((1,), None, 4),
        "pinned_last_sample": run((0, 1), (7, 5), 1),
    }))
    """
)


def test_masks_are_global_under_data_parallel():
    if importlib.util.find_spec("jax") is None:
        pytest.skip("the jax backend is not installed")
    env = {
        **os.environ,
        "KERAS_BACKEND": "jax",
        "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
    }
    done = subprocess.run(
        [sys.executable, "-c", CHILD],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.split("REPORT", 1)[1])

    masks = [tuple(round(v, 4) for v in update) for update in report["shared"]]
    for mask in masks:
        # One mask over the 16 features for the whole global batch: entries
        # are 0 or 16/count and sum to 16. An average of two per-device
        # masks would show other values.
        kept = [v for v in mask if v != 0]
        assert kept and all(v == pytest.approx(16 / len(kept), rel=1e-4) for v in kept)
        assert sum(mask) == pytest.approx(16, rel=1e-4)
    assert len(set(masks)) > 1, "the same mask at every step"

    # Pinning sample 7 of the global batch of 8 (on the second device) sends
    # the whole gradient through that sample's feature 5: the per-sample
    # mask is indexed over the global batch. Its entry is 8*16 = 128, and
    # the batch mean divides by 8.
    (update,) = report["pinned_last_sample"]
    expected = [0.0] * 16
    expected[5] = 16.0
    assert update == pytest.approx(expected, abs=1e-5)
