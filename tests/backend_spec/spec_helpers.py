"""Backend-neutral helpers for the specification suite.

Keras is imported first, always: with KERAS_BACKEND=torch, importing
TensorFlow before Keras can abort the process. Each backend's own package is
imported only inside the branch for that backend.
"""

from __future__ import annotations

import os

import keras
import numpy as np
from keras import ops

BACKEND = keras.backend.backend()

# A timeout for the fresh processes some tests start (import time dominates).
SUBPROCESS_TIMEOUT_S = 180


def input_gradient(layer, x, upstream, training=True):
    """`(y, dL/dx)` for `L = sum(layer(x) * upstream)`, as NumPy arrays.

    The upstream gradient reaching `layer`'s output is therefore exactly
    `upstream`, so `dL/dx / upstream` is the mask the layer applied.
    """
    x = np.asarray(x)
    upstream = np.asarray(upstream, dtype=x.dtype)
    if BACKEND == "tensorflow":
        import tensorflow as tf

        xt = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            y = layer(xt, training=training)
            loss = tf.reduce_sum(y * upstream)
        return ops.convert_to_numpy(y), ops.convert_to_numpy(tape.gradient(loss, xt))
    if BACKEND == "torch":
        import torch

        # Through Keras so the tensor lands on Keras's device.
        xt = ops.convert_to_tensor(x).detach().clone().requires_grad_(True)
        y = layer(xt, training=training)
        loss = torch.sum(y * ops.convert_to_tensor(upstream))
        loss.backward()
        return ops.convert_to_numpy(y.detach()), ops.convert_to_numpy(xt.grad)
    if BACKEND == "jax":
        import jax
        import jax.numpy as jnp

        if not layer.built:
            # Builds without drawing: in inference the layer does nothing.
            layer(x, training=False)
        trainable = [v.value for v in layer.trainable_variables]
        non_trainable = [v.value for v in layer.non_trainable_variables]

        # stateless_call is the supported route under jax.grad: a direct call
        # would leave a tracer in the seed generator's state.
        def loss_fn(x_):
            y, new_non_trainable = layer.stateless_call(
                trainable, non_trainable, x_, training=training
            )
            return jnp.sum(y * upstream), (y, new_non_trainable)

        (_, (y, new_non_trainable)), grad = jax.value_and_grad(loss_fn, has_aux=True)(
            jnp.asarray(x)
        )
        # Written back, so the next call draws the next mask.
        for variable, value in zip(layer.non_trainable_variables, new_non_trainable):
            variable.assign(value)
        return np.asarray(y), np.asarray(grad)
    raise RuntimeError(f"no gradient route for backend {BACKEND!r}")


def recovered_mask(grad, upstream):
    """The mask a gradient carries: grad / upstream (upstream has no zeros)."""
    return grad / upstream


def nonzero_upstream(shape, seed):
    """An upstream gradient with no zero and no repeated structure."""
    rng = np.random.default_rng(seed)
    return rng.uniform(0.5, 1.5, shape).astype(np.float32)


def masks_from_layer(layer, x, n):
    """The masks of `n` consecutive training calls, read off the gradient."""
    upstream = nonzero_upstream(np.shape(x), 0)
    return [
        recovered_mask(input_gradient(layer, x, upstream)[1], upstream)
        for _ in range(n)
    ]


def assert_obeys_rules(mask, mask_prob=None, keep_count=None, normalize="count"):
    """Checks one flat mask against the reference rules (design page, sec. 2).

    Returns the 0/1 survival pattern. Every survivor carries the same value:
    size / count for "count", 1 / (1 - mask_prob) (or size / keep_count) for
    "expected", 1 for None; everything else is exactly 0; never all zero.
    """
    mask = np.asarray(mask, np.float64).ravel()
    size = mask.size
    alive = mask != 0
    count = int(alive.sum())
    assert count >= 1, "a mask is never all zero"
    if keep_count is not None:
        assert count == keep_count
    if normalize == "count":
        value = size / count
    elif normalize == "expected":
        value = size / keep_count if keep_count is not None else 1.0 / (1.0 - mask_prob)
    else:
        value = 1.0
    np.testing.assert_allclose(mask[alive], value, rtol=1e-5)
    assert np.all(mask[~alive] == 0.0)
    return alive


def draws(n, shape, seed=0, **kwargs):
    """`n` consecutive `draw_mask` draws from one SeedGenerator, stacked."""
    from keras_backdrop import draw_mask

    generator = keras.random.SeedGenerator(seed)
    return np.stack(
        [
            ops.convert_to_numpy(draw_mask(shape, seed=generator, **kwargs))
            for _ in range(n)
        ]
    )


def child_env():
    """The environment of a fresh process of this same backend."""
    return {**os.environ, "KERAS_BACKEND": BACKEND, "TF_CPP_MIN_LOG_LEVEL": "2"}
