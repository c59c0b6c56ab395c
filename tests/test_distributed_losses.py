"""Non-decomposable losses under MirroredStrategy equal the single-device ones.

The distributed checks run in one subprocess with two logical CPU devices
(the device split must happen before TensorFlow initialises, which the
test process has already done); the tests below assert on its report.
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from cli_errors import command_line_outcomes
from loopback_workers import run_workers

from keras_backdrop import distributed as dl

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SCRIPT = textwrap.dedent(
    """
    import json
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from keras_backdrop import distributed as dl
    from keras_backdrop import mask_gradient
    from examples.distributed_losses import (
        LOSSES, build_model, make_loss, train_distributed)

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    default = tf.distribute.get_strategy()
    rng = np.random.default_rng(0)
    n, features, hidden = 9, 5, (8,)  # 9: replicas get 5 and 4 rows
    x = rng.standard_normal((n, features)).astype(np.float32)
    # Positives only in replica 0's rows: per-replica losses then differ
    # from the global one (replica 1 alone has no positive).
    y = np.array([1, 0, 1, 0, 0, 0, 0, 0, 0], np.float32)
    out = {"replicas": strategy.num_replicas_in_sync}

    def max_diff(a, b):
        return max(float(np.max(np.abs(np.asarray(u) - np.asarray(v))))
                   for u, v in zip(a, b))

    def reference_grads(model, loss_fn, mask=None):
        # One device, plain TensorFlow: the gradient the strategy must match.
        with tf.GradientTape() as tape:
            z = model(x, training=True)
            if mask is not None:
                z = mask_gradient(z, tf.reshape(mask, [-1, 1]))
            loss = loss_fn(y, z)
        return float(loss), tape.gradient(loss, model.trainable_variables)

    with strategy.scope():
        dist_model = build_model(features, hidden, None, seed=0)
    single_model = build_model(features, hidden, None, seed=0)
    out["initial_weight_diff"] = max_diff(
        dist_model.get_weights(), single_model.get_weights())
    xd, yd = dl.distribute_full_batch(strategy, x, y)
    out["local_sizes"] = [int(t.shape[0]) for t in
                          strategy.experimental_local_results(xd)]

    # (1) loss values and (2) gradients, no mask.
    for name in LOSSES:
        loss_fn = make_loss(name)
        loss, grads = dl.make_gradient_fn(strategy, dist_model, loss_fn)(xd, yd)
        ref_loss, ref_grads = reference_grads(single_model, loss_fn)
        naive = strategy.run(
            lambda a, b: loss_fn(b, dist_model(a, training=True)), args=(xd, yd))
        out[name] = {
            "dist_loss": float(loss), "single_loss": ref_loss,
            "naive_mean_loss": float(strategy.reduce("MEAN", naive, axis=None)),
            "grad_diff": max_diff(grads, ref_grads),
            "grad_scale": max(float(np.max(np.abs(g))) for g in ref_grads),
        }

    # (2) with the mask pinned to sample 7 (in replica 1's rows).
    loss_fn = make_loss("soft_f1")
    with strategy.scope():
        pinned = dl.GlobalBatchMask(keep_count=1, seed=0, pinned_index=7)
    _, grads = dl.make_gradient_fn(strategy, dist_model, loss_fn, pinned)(xd, yd)
    one_hot = np.zeros(n, np.float32)
    one_hot[7] = n  # count normalisation: the survivor carries the batch
    _, ref_grads = reference_grads(single_model, loss_fn, one_hot)
    _, unmasked = reference_grads(single_model, loss_fn)
    out["pinned_grad_diff"] = max_diff(grads, ref_grads)
    out["pinned_vs_unmasked"] = max_diff(ref_grads, unmasked)

    # (2) seeded random masks, two steps: the single-device reference is the
    # example's own model with BackdropMasking(keep_count=3, seed=0) on its
    # logits.
    with strategy.scope():
        seeded = dl.GlobalBatchMask(keep_count=3, seed=0)
    seeded_fn = dl.make_gradient_fn(strategy, dist_model, loss_fn, seeded)
    layer_model = build_model(features, hidden, {"keep_count": 3}, seed=0)
    steps = []
    for _ in range(2):
        _, grads = seeded_fn(xd, yd)
        _, ref = reference_grads(layer_model, loss_fn)
        steps.append({"diff": max_diff(grads, ref),
                      "grads": [np.asarray(g) for g in grads]})
    out["seeded_grad_diffs"] = [s["diff"] for s in steps]
    out["seeded_steps_differ"] = max_diff(steps[0]["grads"], steps[1]["grads"])
    # Design A for contrast: the layer inside the model masks each
    # replica's rows with its own mask; the sum is not the one-device step.
    with strategy.scope():
        per_replica_model = build_model(features, hidden, {"keep_count": 3},
                                        seed=0)
    _, grads_a = dl.make_gradient_fn(strategy, per_replica_model, loss_fn)(xd, yd)
    _, ref = reference_grads(
        build_model(features, hidden, {"keep_count": 3}, seed=0), loss_fn)
    out["design_a_grad_diff"] = max_diff(grads_a, ref)

    # (2) the update: two SGD steps of the distributed train step with a
    # seeded mask against the single-device example model under fit.
    with strategy.scope():
        model = build_model(features, hidden, None, seed=0)
        opt = keras.optimizers.SGD(0.5)
        opt.build(model.trainable_variables)
        mask = dl.GlobalBatchMask(keep_count=3, seed=0)
    step = dl.make_train_step(strategy, model, opt, loss_fn, mask)
    for _ in range(2):
        step(xd, yd)
    single = build_model(features, hidden, {"keep_count": 3}, seed=0)
    single.compile(keras.optimizers.SGD(0.5), loss=loss_fn)
    before = [w.copy() for w in single.get_weights()]
    single.fit(x, y, batch_size=n, epochs=2, shuffle=False, verbose=0)
    out["update_diff"] = max_diff(model.get_weights(), single.get_weights())
    out["update_size"] = max_diff(single.get_weights(), before)

    # (3) training on the example's task: finite, and the same as one device.
    runs = {}
    for label, strat in (("mirrored", strategy), ("single", default)):
        runs[label] = train_distributed(strat, "pairwise_auc", {"keep_count": 32},
                                        steps=20, seed=0, lr=1e-3)
        runs[label + "_mask_prob"] = train_distributed(
            strat, "soft_f1", {"mask_prob": 0.9}, steps=20, seed=0, lr=1e-3)
    out["train"] = runs
    print(json.dumps(out))
    """
)


@pytest.fixture(scope="module")
def report():
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_two_replicas_with_uneven_rows(report):
    assert report["replicas"] == 2
    assert report["local_sizes"] == [5, 4]
    assert report["initial_weight_diff"] == 0.0


@pytest.mark.parametrize("loss", ["soft_f1", "pairwise_auc"])
def test_distributed_loss_equals_single_device_loss(report, loss):
    r = report[loss]
    assert r["dist_loss"] == pytest.approx(r["single_loss"], rel=1e-6, abs=1e-7)
    # The check can fail: averaging per-replica losses gives another value.
    assert abs(r["naive_mean_loss"] - r["single_loss"]) > 1e-2


@pytest.mark.parametrize("loss", ["soft_f1", "pairwise_auc"])
def test_distributed_gradient_equals_single_device_gradient(report, loss):
    r = report[loss]
    assert r["grad_scale"] > 1e-3
    # Without the 1 / replicas scaling it would be off by a factor 2.
    assert r["grad_diff"] < 1e-5 * max(1.0, r["grad_scale"])


def test_pinned_global_mask_gives_the_single_device_gradient(report):
    assert report["pinned_grad_diff"] < 1e-5
    # The pin changes the gradient, so matching it means something.
    assert report["pinned_vs_unmasked"] > 1e-3


def test_seeded_global_mask_matches_the_single_device_backdrop_layer(report):
    assert all(d < 1e-5 for d in report["seeded_grad_diffs"])
    # A new mask at every step.
    assert report["seeded_steps_differ"] > 1e-4
    # Per-replica masks (design A) do not reproduce the one-device step.
    assert report["design_a_grad_diff"] > 1e-4


def test_distributed_update_equals_single_device_fit(report):
    assert report["update_size"] > 1e-3
    assert report["update_diff"] < 1e-5


@pytest.mark.parametrize("mask", ["", "_mask_prob"])
def test_training_runs_finite_and_matches_one_device(report, mask):
    runs = report["train"]
    mirrored, single = runs["mirrored" + mask], runs["single" + mask]
    assert mirrored["replicas"] == 2 and single["replicas"] == 1
    for run in (mirrored, single):
        assert np.isfinite(run["final_train_loss"])
        assert 0.0 <= run["test_auc"] <= 1.0
    assert mirrored["final_train_loss"] == pytest.approx(
        single["final_train_loss"], rel=1e-4
    )
    assert mirrored["test_auc"] == pytest.approx(single["test_auc"], abs=1e-3)


def test_two_multiworker_workers_match_one_device(report):
    """The script's own command line on two loopback workers.

    Both workers must print the single-device result: the gathered loss,
    the 1 / replicas scaling and the seeded global mask (mask_prob, drawn
    independently but identically by each worker) all have to agree.
    """
    argv = [
        "-m",
        "examples.distributed_losses",
        "--strategy",
        "multiworker",
        "--loss",
        "soft_f1",
        "--mask-prob",
        "0.9",
        "--steps",
        "20",
    ]
    procs = run_workers(lambda index: argv, cwd=REPO)
    outputs = []
    for proc in procs:
        assert proc.returncode == 0, proc.stderr[-3000:]
        outputs.append(proc.stdout)
    single = report["train"]["single_mask_prob"]
    for index, stdout in enumerate(outputs):
        line = stdout.strip().splitlines()[-1]
        assert line.startswith(f"worker {index}: ")
        result = json.loads(line.split(": ", 1)[1])
        assert result["replicas"] == 2
        assert result["final_train_loss"] == pytest.approx(
            single["final_train_loss"], rel=1e-4
        )
        assert result["test_auc"] == pytest.approx(single["test_auc"], abs=1e-3)


BAD_COMMAND_LINES = [
    (["--strategy", "ring"], "--strategy"),
    (["--loss", "f2"], "--loss"),
    (["--replicas", "0"], "--replicas"),
    (["--strategy", "none", "--replicas", "2"], "--replicas"),
    (["--strategy", "multiworker"], "--strategy"),  # no TF_CONFIG
    (["--steps", "-3"], "--steps"),
    (["--lr", "nan"], "--lr"),
    (["--seed", "x"], "--seed"),
    (["--mask-prob", "1.5"], "--mask-prob"),
    (["--keep-count", "100000"], "--keep-count"),
    (["--keep-count", "4", "--mask-prob", "0.5"], "--mask-prob"),
    (["--no-mask", "--keep-count", "4"], "--keep-count"),
]


def test_bad_command_line_values_exit_through_the_parser():
    cases = [argv for argv, _ in BAD_COMMAND_LINES]
    outcomes = command_line_outcomes("examples.distributed_losses", cases)
    for (argv, option), (code, stderr) in zip(BAD_COMMAND_LINES, outcomes, strict=True):
        assert code == 2, (argv, code, stderr)
        error = stderr.strip().splitlines()[-1]
        assert f"error: argument {option}" in error, (argv, error)
        # The value received (or the clash) is named too.
        assert argv[-1] in error or "not allowed" in error, (argv, error)


@pytest.mark.parametrize(
    "kwargs, error, name",
    [
        ({"keep_count": 2, "seed": None}, TypeError, "seed"),
        ({"keep_count": 2, "seed": "0"}, TypeError, "seed"),
        ({"keep_count": 2, "pinned_index": -1}, ValueError, "pinned_index"),
        ({"keep_count": 2, "pinned_index": 1.0}, TypeError, "pinned_index"),
        ({"mask_prob": 0.5, "keep_count": 2}, ValueError, "mask_prob"),
        ({"mask_prob": "0.5"}, TypeError, "mask_prob"),
        ({"mask_prob": 1.5}, ValueError, "mask_prob"),
        ({"keep_count": 0}, ValueError, "keep_count"),
        ({"keep_count": 2, "normalize": "sum"}, ValueError, "normalize"),
    ],
)
def test_bad_mask_arguments_raise(kwargs, error, name):
    with pytest.raises(error, match=f"`{name}`"):
        dl.GlobalBatchMask(**kwargs)


def test_global_batch_mask_accepts_numpy_integers():
    mask = dl.GlobalBatchMask(
        keep_count=np.int64(2), seed=np.int64(3), pinned_index=np.int32(1)
    )
    assert (mask.keep_count, mask.seed, mask.pinned_index) == (2, 3, 1)
    assert all(type(v) is int for v in (mask.keep_count, mask.seed, mask.pinned_index))


@pytest.mark.parametrize(
    "size, error, shown",
    [
        (4.7, TypeError, "global_size=4.7"),
        ("4", TypeError, "global_size='4'"),
        (True, TypeError, "global_size=True"),
        (np.bool_(True), TypeError, "True_"),
        (np.float64(4.0), TypeError, "global_size="),
        (0, ValueError, "global_size=0"),
        (-1, ValueError, "global_size=-1"),
        (2**31, ValueError, f"global_size={2**31}"),
        (2**32 + 3, ValueError, f"global_size={2**32 + 3}"),
    ],
)
def test_draw_refuses_sizes_that_are_no_batch_size(size, error, shown):
    mask = dl.GlobalBatchMask(keep_count=2, seed=0)
    with pytest.raises(error, match="argument `global_size`") as info:
        mask.draw(size)
    assert shown in str(info.value)


def test_draw_refuses_tensors_that_are_no_batch_size():
    import tensorflow as tf

    mask = dl.GlobalBatchMask(keep_count=2, seed=0)
    with pytest.raises(TypeError, match="argument `global_size`.*float32"):
        mask.draw(tf.constant(4.0))
    with pytest.raises(ValueError, match="argument `global_size`.*-3"):
        mask.draw(tf.constant(-3))
    with pytest.raises(ValueError, match=r"global_size.shape=\(1,\)"):
        mask.draw(tf.constant([4]))
    # Inside a function the value is known at run time: a graph assertion.
    draw = tf.function(mask.draw)
    with pytest.raises(tf.errors.InvalidArgumentError, match="`global_size`"):
        draw(tf.constant(0))


def test_draw_accepts_integer_sizes_up_to_int32():
    import tensorflow as tf

    mask = dl.GlobalBatchMask(keep_count=2, seed=0)
    for size in (5, np.int64(5), tf.constant(5), tf.constant(5, tf.int64)):
        drawn = np.asarray(mask.draw(size))
        # keep_count=2 with count normalisation: two entries of 5 / 2.
        assert drawn.shape == (5,)
        assert sorted(drawn.tolist()) == [0.0, 0.0, 0.0, 2.5, 2.5]
    assert np.asarray(tf.function(mask.draw)(tf.constant(7))).shape == (7,)
