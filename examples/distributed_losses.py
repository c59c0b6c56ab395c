"""
Title: Batch-level losses and backdrop under a tf.distribute strategy
Author: keras-backdrop contributors
Date created: 2026/12/02
Last modified: 2026/12/02
Description: The loss computed on the global batch, and one backdrop mask over the global batch, the same on every replica.
Accelerator: None
"""

# ## Introduction
#
# A batch-level loss (`SoftF1`, `PairwiseAUC`) must see the *global* batch: a
# mean of per-replica losses is another loss. `keras_backdrop.distributed`
# gathers the replicas' logits, computes the loss once, scales the gradient
# by `1 / replicas`, and draws backdrop's mask once per step over the global
# batch (`GlobalBatchMask`), so the same seed gives the same training with
# one device or many. Its docstring explains the choices. TensorFlow backend
# only. The script prints one JSON line with the test F1 and ROC AUC; the
# single-device run and the distributed runs give the same numbers for the
# same seed.
#
# Run from the repository root:
#
#     python -m examples.distributed_losses --strategy mirrored --replicas 2
#     python -m examples.distributed_losses --strategy none   # one device
#
# and, for MultiWorkerMirroredStrategy, one process per worker with
# `TF_CONFIG` set (see `README.md`, "Scaling out"). Keras 3's `fit` does not
# run under MultiWorkerMirroredStrategy (keras-team/keras#20585), which is
# one reason the training is a custom loop.

from __future__ import annotations

import argparse
import json
import math
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_backdrop import BackdropMasking  # noqa: E402
from keras_backdrop.losses import PairwiseAUC, SoftF1  # noqa: E402

LOSSES = {"soft_f1": SoftF1, "pairwise_auc": PairwiseAUC}
N_TRAIN, N_TEST, FEATURES, HIDDEN = 512, 4000, 20, (64, 64)
DEFAULT_KEEP_COUNT = 32

# ## The task and the model
#
# Two Gaussian classes in 20 dimensions with about 3 % positives (a
# minibatch of 32 would often hold none), and an MLP ending in one logit.


def load_task(seed: int) -> tuple[np.ndarray, ...]:
    """`(x_train, y_train, x_test, y_test)`: float32 inputs, 0/1 labels."""
    rng = np.random.default_rng(seed)

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = (rng.random(n) < 0.03).astype(np.float32)
        x = rng.standard_normal((n, FEATURES)).astype(np.float32)
        x[:, :5] += 1.2 * y[:, None]
        return x, y

    return (*draw(N_TRAIN), *draw(N_TEST))


def build_model(
    n_features: int,
    hidden: Sequence[int],
    backdrop: Mapping[str, Any] | None,
    seed: int,
) -> keras.Model:
    """A ReLU MLP with one logit, optionally a batch-axis mask on the logit.

    The mask layer (`backdrop`: `BackdropMasking` arguments) is for one
    device; under a strategy the mask goes on the gathered logits instead.
    """
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((n_features,))
    h = inputs
    for units in hidden:
        h = keras.layers.Dense(units, activation="relu")(h)
    logits = keras.layers.Dense(1)(h)
    if backdrop is not None:
        logits = BackdropMasking(mask_axes=(0,), seed=seed, **backdrop)(logits)
    return keras.Model(inputs, logits)


def make_loss(name: str) -> keras.losses.Loss:
    """The loss `name` (a key of `LOSSES`) on logits."""
    return LOSSES[name](from_logits=True)


# ## Full-batch training under a strategy
#
# `make_train_step` computes the loss on the global batch; with a
# `GlobalBatchMask` it masks the gathered logits (the model itself then has
# no mask layer).


def train_distributed(
    strategy: Any,
    loss_name: str,
    mask_args: Mapping[str, Any] | None,
    steps: int,
    seed: int,
    lr: float,
) -> dict[str, Any]:
    """Trains the task full batch under `strategy`; test F1, ROC AUC, loss."""
    from sklearn.metrics import f1_score, roc_auc_score  # noqa: PLC0415

    from keras_backdrop.distributed import (  # noqa: PLC0415
        GlobalBatchMask,
        distribute_full_batch,
        make_train_step,
    )

    x_train, y_train, x_test, y_test = load_task(seed)
    with strategy.scope():
        model = build_model(FEATURES, HIDDEN, None, seed)
        optimizer = keras.optimizers.Adam(lr)
        optimizer.build(model.trainable_variables)
        mask = None if mask_args is None else GlobalBatchMask(seed=seed, **mask_args)
    step = make_train_step(strategy, model, optimizer, make_loss(loss_name), mask)
    x, y = distribute_full_batch(strategy, x_train, y_train)
    start = time.perf_counter()
    losses = [float(step(x, y)) for _ in range(steps)]
    seconds = time.perf_counter() - start
    z_test = np.asarray(model(x_test, training=False)).ravel()
    return {
        "replicas": strategy.num_replicas_in_sync,
        "final_train_loss": losses[-1],
        "test_f1": float(f1_score(y_test, z_test > 0, zero_division=0.0)),
        "test_auc": float(roc_auc_score(y_test, z_test)),
        "seconds": round(seconds, 2),
    }


def make_strategy(name: str, replicas: int | None) -> Any:
    """`none`: the default strategy; `mirrored`: GPUs or logical CPUs."""
    import tensorflow as tf  # noqa: PLC0415

    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "none":
        return tf.distribute.get_strategy()
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        count = len(gpus) if replicas is None else min(replicas, len(gpus))
        return tf.distribute.MirroredStrategy([f"/gpu:{i}" for i in range(count)])
    count = 2 if replicas is None else replicas
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * count
    )
    return tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(count)])


# ## The command line


def _typed(cast: type, ok: Any, expected: str) -> Any:
    def parse(text: str) -> Any:
        try:
            value = cast(text)
        except ValueError:
            value = None
        if value is None or not ok(value):
            raise argparse.ArgumentTypeError(f"expected {expected}. Received: {text!r}")
        return value

    parse.__name__ = expected
    return parse


positive_int = _typed(int, lambda v: v >= 1, "an integer >= 1")
non_negative_int = _typed(int, lambda v: v >= 0, "an integer >= 0")
positive_float = _typed(float, lambda v: 0 < v < math.inf, "a finite number > 0")
probability = _typed(float, lambda v: 0 <= v <= 1, "a number in [0, 1]")


def build_parser() -> argparse.ArgumentParser:
    """The command line; every option's value is checked by its type."""
    parser = argparse.ArgumentParser(description="Batch-level losses, distributed.")
    parser.add_argument(
        "--strategy", default="mirrored", choices=("none", "mirrored", "multiworker")
    )
    parser.add_argument(
        "--replicas",
        type=positive_int,
        help="for --strategy mirrored: GPUs, or logical CPU devices (default 2)",
    )
    parser.add_argument("--loss", default="soft_f1", choices=list(LOSSES))
    parser.add_argument("--steps", type=positive_int, default=300)
    parser.add_argument("--lr", type=positive_float, default=1e-3)
    parser.add_argument("--seed", type=non_negative_int, default=0)
    mask = parser.add_mutually_exclusive_group()
    mask.add_argument(
        "--keep-count",
        type=positive_int,
        help=f"samples carrying gradient per step (default {DEFAULT_KEEP_COUNT})",
    )
    mask.add_argument("--mask-prob", type=probability, help="instead: drop probability")
    mask.add_argument("--no-mask", action="store_true", help="plain full batch")
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parses the command line; adds `mask_args`. Bad values exit (code 2)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    backend = keras.backend.backend()
    if backend != "tensorflow":
        parser.error(
            "this example runs tf.distribute and needs the TensorFlow Keras "
            f"backend. Received: KERAS_BACKEND={backend!r}"
        )
    if args.replicas is not None and args.strategy != "mirrored":
        parser.error(
            "argument --replicas: applies to --strategy mirrored only. "
            f"Received: {args.replicas} with --strategy {args.strategy}"
        )
    if args.strategy == "multiworker" and "TF_CONFIG" not in os.environ:
        parser.error(
            "argument --strategy: 'multiworker' needs the TF_CONFIG environment "
            "variable in every worker. Received: 'multiworker' without TF_CONFIG"
        )
    if args.keep_count is not None and args.keep_count > N_TRAIN:
        parser.error(
            f"argument --keep-count: at most the global batch, {N_TRAIN}. "
            f"Received: {args.keep_count}"
        )
    if args.no_mask:
        args.mask_args = None
    elif args.mask_prob is not None:
        args.mask_args = {"mask_prob": args.mask_prob}
    else:
        args.mask_args = {"keep_count": args.keep_count or DEFAULT_KEEP_COUNT}
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Trains once under the chosen strategy and prints the result."""
    args = parse_args(argv)
    strategy = make_strategy(args.strategy, args.replicas)
    result = train_distributed(
        strategy, args.loss, args.mask_args, args.steps, args.seed, args.lr
    )
    result = {
        "strategy": args.strategy,
        "loss": args.loss,
        "mask": args.mask_args,
        "steps": args.steps,
        **result,
    }
    resolver = getattr(strategy, "cluster_resolver", None)
    task_id = getattr(resolver, "task_id", None)
    prefix = "" if task_id is None else f"worker {task_id}: "
    print(prefix + json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    main()
