"""BackdropMasking inside Keras: fit, compilation, saving, precision, strategies."""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_backdrop import BackdropMasking


def linear_model(mask: BackdropMasking, n_in: int = 3) -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((n_in,)),
            keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros"),
            mask,
        ]
    )


def one_sample_sgd_update(w, x, t, i, lr):
    """One SGD step on mean squared error when only sample i's gradient flows.

    MSE over a batch of B: dL/dy_j = 2 (y_j - t_j) / B. The pinned batch mask
    keeps sample i and scales it by B (count normalisation), so the kernel
    moves by lr * 2 (y_i - t_i) x_i.
    """
    y_i = x[i] @ w
    return w - lr * 2.0 * (y_i - t[i]) * x[i][:, None]


@pytest.mark.parametrize("jit_compile", [False, True])
def test_fit_updates_from_the_pinned_sample_only(jit_compile):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 3)).astype(np.float32)
    t = rng.standard_normal((8, 1)).astype(np.float32)
    mask = BackdropMasking(mask_prob=0.5, mask_axes=(0,), pinned_index=5)
    model = linear_model(mask)
    lr = 0.1
    model.compile(keras.optimizers.SGD(lr), "mse", jit_compile=jit_compile)
    w0 = model.get_weights()[0]
    model.fit(x, t, batch_size=8, epochs=1, shuffle=False, verbose=0)
    w1 = model.get_weights()[0]
    np.testing.assert_allclose(
        w1, one_sample_sgd_update(w0, x, t, 5, lr), rtol=1e-5, atol=1e-6
    )
    # Re-pinning a built, compiled model takes effect without recompiling.
    mask.pinned_index = 2
    model.fit(x, t, batch_size=8, epochs=1, shuffle=False, verbose=0)
    w2 = model.get_weights()[0]
    np.testing.assert_allclose(
        w2, one_sample_sgd_update(w1, x, t, 2, lr), rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize("jit_compile", [False, True])
def test_fit_with_random_masks_learns(jit_compile):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 4, 4, 1)).astype(np.float32)
    t = x.mean(axis=(1, 2))
    model = keras.Sequential(
        [
            keras.Input((4, 4, 1)),
            keras.layers.Conv2D(4, 2, strides=2),
            BackdropMasking(mask_prob=0.5, mask_axes=(1, 2), seed=0),
            keras.layers.Flatten(),
            keras.layers.Dense(1),
        ]
    )
    model.compile(keras.optimizers.Adam(0.02), "mse", jit_compile=jit_compile)
    before = model.evaluate(x, t, verbose=0)
    model.fit(x, t, batch_size=16, epochs=30, verbose=0)
    after = model.evaluate(x, t, verbose=0)
    assert np.isfinite(after) and after < 0.2 * before


def test_dynamic_batch_in_tf_function_and_xla():
    layer = BackdropMasking(keep_count=1, mask_axes=(0,), seed=4)
    spec = tf.TensorSpec([None, 3], tf.float32)

    def grad_of(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x, training=True))
        return tape.gradient(loss, x)

    for fn in (
        tf.function(grad_of, input_signature=[spec]),
        tf.function(grad_of, input_signature=[spec], jit_compile=True),
    ):
        for batch in (2, 7):
            g = fn(tf.ones([batch, 3])).numpy()
            # One sample carries the whole batch's weight: batch * 1 per entry.
            assert (g.any(axis=1)).sum() == 1
            np.testing.assert_allclose(g.sum(), batch * 3)


def test_keep_count_larger_than_the_mask():
    with pytest.raises(ValueError, match=r"keep_count=5 exceeds the 3 entries"):
        BackdropMasking(keep_count=5, mask_axes=(1,))(tf.ones([2, 3]))
    # The batch axis is never fixed at build time (the next batch may be
    # larger), so there the check runs at call time.
    layer = BackdropMasking(keep_count=5, mask_axes=(0,))
    layer.build((None, 2))
    with pytest.raises(tf.errors.InvalidArgumentError, match="keep_count"):
        layer(tf.ones([3, 2]), training=True)


def test_inference_graph_has_no_mask_op():
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(4), BackdropMasking(mask_prob=0.5)]
    )
    plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4)])

    def op_types(m, training):
        fn = tf.function(lambda x: m(x, training=training))
        graph = fn.get_concrete_function(tf.TensorSpec([None, 4])).graph
        return sorted(op.type for op in graph.get_operations())

    inference_ops = op_types(model, False)
    assert inference_ops == op_types(plain, False)
    assert not any("Random" in op for op in inference_ops)
    # The same check sees the mask when training, so it can fail.
    assert any("Random" in op for op in op_types(model, True))


def test_save_and_load_without_custom_objects(tmp_path):
    layer = BackdropMasking(
        keep_count=2,
        mask_axes=(1, -2),
        normalize="expected",
        seed=9,
        pinned_index=(1, 0),
        name="bd",
    )
    model = keras.Sequential([keras.Input((3, 4, 2)), layer, keras.layers.Dense(1)])
    path = tmp_path / "m.keras"
    model.save(path)
    code = textwrap.dedent(
        f"""
        import json, keras, keras_backdrop
        m = keras.models.load_model({str(path)!r})
        print(json.dumps(m.get_layer("bd").get_config()))
        """
    )
    # A fresh process: registration must come from importing the package,
    # not from objects this test process already holds.
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    config = json.loads(out.stdout.strip().splitlines()[-1])
    assert config["keep_count"] == 2
    assert config["mask_prob"] is None
    assert list(config["mask_axes"]) == [1, -2]
    assert config["normalize"] == "expected"
    assert config["seed"] == 9
    assert list(config["pinned_index"]) == [1, 0]
    loaded = keras.models.load_model(path)
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 2)).astype(np.float32)
    np.testing.assert_array_equal(
        loaded.predict(x, verbose=0), model.predict(x, verbose=0)
    )


def test_from_config_round_trip_keeps_behaviour():
    layer = BackdropMasking(mask_prob=0.25, mask_axes=2, normalize=None, seed=1)
    clone = BackdropMasking.from_config(layer.get_config())
    x = tf.ones([2, 3, 8])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        a = tf.reduce_sum(layer(x, training=True))
        b = tf.reduce_sum(clone(x, training=True))
    np.testing.assert_array_equal(tape.gradient(a, x), tape.gradient(b, x))


def test_mixed_float16_gradient_carries_the_mask_in_float16():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        layer = BackdropMasking(mask_prob=0.5, mask_axes=(1, 2), pinned_index=(0, 1))
        x = tf.ones([2, 2, 2, 3], tf.float16)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(y)
        grad = tape.gradient(loss, x)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert y.dtype == tf.float16 and grad.dtype == tf.float16
    expected = np.zeros((2, 2, 2, 3), np.float16)
    expected[:, 0, 1, :] = 4.0
    np.testing.assert_array_equal(grad.numpy(), expected)


MIRRORED_SCRIPT = textwrap.dedent(
    """
    import json, numpy as np, tensorflow as tf, keras
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from keras_backdrop import BackdropMasking

    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 4, 2)).astype(np.float32)
    t = rng.standard_normal((8, 1)).astype(np.float32)

    def build(pinned, seed):
        keras.utils.set_random_seed(seed)
        m = keras.Sequential([
            keras.Input((4, 2)),
            keras.layers.Dense(3),
            BackdropMasking(mask_prob=0.5, mask_axes=(1,), pinned_index=pinned,
                            seed=seed),
            keras.layers.Flatten(),
            keras.layers.Dense(1),
        ])
        m.compile(keras.optimizers.SGD(0.05), "mse")
        return m

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        dist = build(2, 0)
    dist.fit(x, t, batch_size=8, epochs=1, shuffle=False, verbose=0)
    single = build(2, 0)
    single.fit(x, t, batch_size=8, epochs=1, shuffle=False, verbose=0)
    diff = max(float(np.max(np.abs(a - b)))
               for a, b in zip(dist.get_weights(), single.get_weights()))
    with strategy.scope():
        rand = build(None, 1)
    hist = rand.fit(x, t, batch_size=8, epochs=3, verbose=0)
    # Per-replica masks of one step, and of the same step in a second run.
    def replica_patterns(seed):
        with strategy.scope():
            layer = BackdropMasking(mask_prob=0.5, mask_axes=(1,), seed=seed)
            layer.build((None, 64))

        @tf.function
        def step(x):
            def grad(x):
                with tf.GradientTape() as tape:
                    tape.watch(x)
                    loss = tf.reduce_sum(layer(x, training=True))
                return tape.gradient(loss, x)
            return strategy.run(grad, args=(x,))

        data = strategy.experimental_distribute_dataset(
            tf.data.Dataset.from_tensors(tf.ones([4, 64])))
        grads = step(next(iter(data)))
        return [(g.numpy()[0] != 0).astype(int).tolist()
                for g in strategy.experimental_local_results(grads)]

    print(json.dumps({"replicas": strategy.num_replicas_in_sync,
                      "max_weight_diff": diff,
                      "losses": hist.history["loss"],
                      "patterns": replica_patterns(5),
                      "patterns_again": replica_patterns(5)}))
    """
)


def test_mirrored_strategy_on_two_cpu_replicas():
    out = subprocess.run(
        [sys.executable, "-c", MIRRORED_SCRIPT],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2
    # With the mask pinned, two replicas and one device take the same step.
    assert result["max_weight_diff"] < 1e-5
    assert all(np.isfinite(result["losses"]))
    # Each replica draws its own mask, reproducibly for a given seed.
    first, second = result["patterns"]
    assert first != second
    assert result["patterns_again"] == result["patterns"]


def test_unseeded_layers_draw_different_masks():
    x = tf.ones([1, 64])
    grads = []
    for _ in range(2):
        layer = BackdropMasking(mask_prob=0.5, mask_axes=(1,))
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x, training=True))
        grads.append(tape.gradient(loss, x).numpy())
    assert not np.array_equal(grads[0], grads[1])


def test_functional_and_subclassed_models():
    inputs = keras.Input((5,))
    outputs = BackdropMasking(keep_count=1, mask_axes=(1,), pinned_index=3)(
        keras.layers.Identity()(inputs)
    )
    functional = keras.Model(inputs, outputs)

    class Sub(keras.Model):
        def __init__(self):
            super().__init__()
            self.mask = BackdropMasking(keep_count=1, mask_axes=(1,), pinned_index=3)

        def call(self, x, training=None):
            return self.mask(x, training=training)

    for model in (functional, Sub()):
        x = tf.ones([2, 5])
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(model(x, training=True))
        g = tape.gradient(loss, x).numpy()
        np.testing.assert_array_equal(g, [[0, 0, 0, 5, 0]] * 2)
