"""Batch-level losses and backdrop under a `tf.distribute` strategy.

Trains the digits task of `keras_backdrop.experiments.nondecomposable`
full batch with a batch-level loss computed on the *global* batch, and
backdrop as one mask over the global batch, the same on every replica
(`keras_backdrop.distributed`, whose docstring explains the gradient
scaling and the choice of mask). TensorFlow backend only. Prints one JSON
line with the test F1 and ROC AUC; the single-device run and the
distributed runs give the same numbers for the same seed.

Run from the repository root:

    python -m examples.distributed_losses --strategy mirrored --replicas 2
    python -m examples.distributed_losses --strategy none   # one device

and, for MultiWorkerMirroredStrategy, one process per worker with
`TF_CONFIG` set (see `README.md`, "Scaling out"). Keras 3's `fit` does not
run under MultiWorkerMirroredStrategy (keras-team/keras#20585), which is
one reason the training is a custom loop.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

from keras_backdrop.experiments import nondecomposable as task  # noqa: E402
from keras_backdrop.experiments.options import (  # noqa: E402
    add_strategy_arguments,
    check_strategy_arguments,
    non_negative_int,
    positive_float,
    positive_int,
    probability,
)
from keras_backdrop.experiments.strategies import make_strategy  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    """The command line; every option's value is checked by its type."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_strategy_arguments(parser, default="mirrored")
    parser.add_argument(
        "--loss",
        default="soft_f1",
        choices=list(task.LOSSES),
        help="default soft_f1",
    )
    parser.add_argument(
        "--steps",
        type=positive_int,
        default=300,
        help="full-batch gradient steps, default 300",
    )
    parser.add_argument(
        "--lr",
        type=positive_float,
        default=task.DEFAULTS["lr"],
        help=f"Adam learning rate, default {task.DEFAULTS['lr']}",
    )
    parser.add_argument(
        "--seed", type=non_negative_int, default=0, help="data, weights, masks"
    )
    mask = parser.add_mutually_exclusive_group()
    mask.add_argument(
        "--keep-count",
        type=positive_int,
        help="samples of the global batch carrying gradient per step, default "
        f"{task.DEFAULTS['batch_size']}",
    )
    mask.add_argument(
        "--mask-prob",
        type=probability,
        help="instead of --keep-count: drop probability",
    )
    mask.add_argument(
        "--no-mask", action="store_true", help="plain full-batch training, no backdrop"
    )
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
    check_strategy_arguments(parser, args, backend)
    n_train = task.DEFAULTS["n_train"]
    if args.keep_count is not None and args.keep_count > n_train:
        parser.error(
            f"argument --keep-count: at most the global batch, {n_train}. "
            f"Received: {args.keep_count}"
        )
    if args.no_mask:
        args.mask_args = None
    elif args.mask_prob is not None:
        args.mask_args = {"mask_prob": args.mask_prob}
    else:
        keep = (
            task.DEFAULTS["batch_size"] if args.keep_count is None else args.keep_count
        )
        args.mask_args = {"keep_count": keep}
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Trains once under the chosen strategy and prints the result."""
    args = parse_args(argv)
    strategy = make_strategy(args.strategy, args.replicas)
    result = task.train_distributed(
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
