"""Two MultiWorkerMirroredStrategy workers on loopback train the same weights."""

import json
import textwrap

import numpy as np
from loopback_workers import run_workers

# Keras 3's `fit` does not run under MultiWorkerMirroredStrategy
# (keras-team/keras#20585), so the workers train with a custom loop.
WORKER = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import tensorflow as tf
    import keras
    from keras_backdrop import BackdropMasking

    out_path = sys.argv[1]
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 8, 8, 1)).astype(np.float32)
    t = rng.standard_normal((32, 1)).astype(np.float32)
    global_batch = 8
    with strategy.scope():
        keras.utils.set_random_seed(0)
        model = keras.Sequential([
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(4, 2, strides=2),
            BackdropMasking(mask_prob=0.5, mask_axes=(1, 2), seed=3),
            keras.layers.Flatten(),
            keras.layers.Dense(1),
        ])
        optimizer = keras.optimizers.SGD(0.05)
        optimizer.build(model.trainable_variables)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA)
    data = tf.data.Dataset.from_tensor_slices((x, t)).batch(global_batch)
    dist_data = strategy.experimental_distribute_dataset(data.with_options(options))

    @tf.function
    def train_step(batch):
        def step(xb, tb):
            with tf.GradientTape() as tape:
                pred = model(xb, training=True)
                loss = tf.reduce_sum(tf.square(pred - tb)) / global_batch
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            return loss
        losses = strategy.run(step, args=batch)
        return strategy.reduce("SUM", losses, axis=None)

    before = [w.copy() for w in model.get_weights()]
    losses = [float(train_step(batch)) for _ in range(2) for batch in dist_data]
    after = model.get_weights()
    with open(out_path, "w") as f:
        json.dump({
            "weights": [w.tolist() for w in after],
            "moved": float(sum(np.abs(a - b).sum() for a, b in zip(after, before))),
            "replicas": strategy.num_replicas_in_sync,
            "losses": losses,
        }, f)
    """
)


def test_two_workers_end_with_identical_weights(tmp_path):
    procs = run_workers(lambda i: ["-c", WORKER, str(tmp_path / f"w{i}.json")])
    for proc in procs:
        assert proc.returncode == 0, proc.stderr[-3000:]
    results = [json.loads((tmp_path / f"w{i}.json").read_text()) for i in range(2)]
    assert results[0]["replicas"] == 2
    assert results[0]["moved"] > 0
    assert all(np.isfinite(results[0]["losses"]))
    for a, b in zip(results[0]["weights"], results[1]["weights"]):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
