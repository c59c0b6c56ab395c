"""The specification suite runs on the backend named by KERAS_BACKEND."""

import os

# Keras before anything else: with KERAS_BACKEND=torch, importing TensorFlow
# first can abort the process.
import keras

# Checked on import, however the suite is reached: a suite meant for one
# backend must not silently run on another (for instance on the one that
# ~/.keras/keras.json names when the variable is unset).
_REQUESTED = os.environ.get("KERAS_BACKEND")
if _REQUESTED is None:
    raise RuntimeError(
        "tests/backend_spec needs KERAS_BACKEND set (tensorflow, jax or "
        "torch), e.g. KERAS_BACKEND=jax python -m pytest tests/backend_spec"
    )
if keras.backend.backend() != _REQUESTED:
    raise RuntimeError(
        f"KERAS_BACKEND={_REQUESTED} but Keras runs on "
        f"{keras.backend.backend()}: Keras was imported before the variable was set"
    )


def pytest_report_header(config):
    return f"keras {keras.__version__}, backend {keras.backend.backend()}"
