"""The layer inside a user's own `jax.jit(jax.grad(...))` (JAX only).

The supported route is `stateless_call`, writing the returned
non-trainable variables (the seed generator's state among them) back.
"""

import numpy as np
import pytest
from spec_helpers import BACKEND, assert_obeys_rules, input_gradient

from keras_backdrop import BackdropMasking

pytestmark = pytest.mark.skipif(
    BACKEND != "jax", reason="jax.jit around stateless_call: the JAX route only"
)


def jitted_input_gradient(layer):
    import jax
    import jax.numpy as jnp

    @jax.jit
    def grad_step(trainable, non_trainable, x):
        def loss(x_):
            y, new_non_trainable = layer.stateless_call(
                trainable, non_trainable, x_, training=True
            )
            return jnp.sum(y), new_non_trainable

        return jax.grad(loss, has_aux=True)(x)

    return grad_step


def current_state(layer):
    return (
        [v.value for v in layer.trainable_variables],
        [v.value for v in layer.non_trainable_variables],
    )


def test_masks_move_across_jitted_calls_when_the_state_is_written_back():
    import jax.numpy as jnp

    layer = BackdropMasking(mask_prob=0.5, mask_axes=(1,), seed=3)
    layer.build((2, 64))
    grad_step = jitted_input_gradient(layer)
    x = jnp.ones((2, 64), jnp.float32)

    patterns = []
    for _ in range(4):
        grad, new_non_trainable = grad_step(*current_state(layer), x)
        for variable, value in zip(layer.non_trainable_variables, new_non_trainable):
            variable.assign(value)
        grad = np.asarray(grad)
        np.testing.assert_array_equal(grad[1], grad[0])  # shared over the batch
        patterns.append(assert_obeys_rules(grad[0]))
    for a, b in zip(patterns, patterns[1:]):
        assert not np.array_equal(a, b)

    # The jitted step is a pure function of the state passed in: the same
    # state gives the same mask, so the write-back is what moves it on.
    state = current_state(layer)
    first, _ = grad_step(*state, x)
    again, _ = grad_step(*state, x)
    np.testing.assert_array_equal(np.asarray(first), np.asarray(again))

    # No tracer leaked into the seed variable: eager calls still work, and
    # draw a valid mask.
    y = layer(np.ones((2, 64), np.float32), training=True)
    np.testing.assert_array_equal(np.asarray(y), 1.0)
    _, grad = input_gradient(
        layer, np.ones((2, 64), np.float32), np.ones((2, 64), np.float32)
    )
    assert_obeys_rules(grad[0])


def test_pinning_reaches_the_jitted_step_through_the_state():
    import jax.numpy as jnp

    layer = BackdropMasking(mask_prob=0.5, mask_axes=(1,), seed=4)
    layer.build((2, 16))
    grad_step = jitted_input_gradient(layer)
    x = jnp.ones((2, 16), jnp.float32)
    grad, _ = grad_step(*current_state(layer), x)
    assert np.count_nonzero(np.asarray(grad)[0]) > 1
    # The pin is a variable, so the same compiled step sees it.
    layer.pinned_index = 9
    grad, _ = grad_step(*current_state(layer), x)
    expected = np.zeros(16)
    expected[9] = 16.0
    np.testing.assert_allclose(np.asarray(grad)[0], expected, rtol=1e-6)
