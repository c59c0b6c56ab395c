"""Backdrop for non-decomposable losses: soft-F1 and a pairwise AUC surrogate.

A loss such as the F-measure or ROC AUC is defined on a whole set of
predictions, not as a sum of per-sample terms, so a minibatch estimate of
it is biased; on an imbalanced task a minibatch often holds no positive at
all, and its F1 or AUC is then undefined (see `keras_backdrop.losses`
for how those batches are handled). Backdrop (Golkar and Cranmer,
arXiv:1806.01337) keeps the loss on the full batch and makes the gradient
stochastic instead: a `BackdropMasking(mask_axes=(0,))` layer on the
per-sample logits passes the gradient back through a random subset of the
samples only.

Task: scikit-learn's bundled handwritten digits (no download), one digit
against the rest, with the positives subsampled so that they are a few
percent of the data (the whole pool is subsampled, then split stratified,
so the test set has the training prevalence). A small MLP ends in
`Dense(1)` logits (`keras_backdrop.losses.SoftF1` and `PairwiseAUC`,
`from_logits=True`). Four ways to train it, for each loss:

* `full_batch`: `model.fit` with `batch_size` = the whole training set;
* `minibatch`: the same loss on shuffled minibatches of `--batch-size`;
* `backdrop_mask_prob`: full batch, and `BackdropMasking(mask_prob=p)` on
  the logits; by default `p = 1 - batch_size / n_train`, so that on
  average as many samples carry gradient as in a minibatch (`--mask-prob`
  sets another);
* `backdrop_keep_count`: full batch, `BackdropMasking(keep_count=
  batch_size)`: exactly a minibatch's worth of samples carries gradient.

Held equal: the data and split, the initial weights (same seed), the
optimizer (Adam, `--lr`) and the number of gradient steps (`--steps`; the
minibatch run does `--steps` updates, i.e. fewer epochs). Every variant is
one `model.fit` call over a repeated pipeline whose elements are the whole
training set (full batch, backdrop) or shuffled minibatches: `tf.data` on
the TensorFlow backend, a NumPy `keras.utils.PyDataset` on JAX and PyTorch
(`KERAS_BACKEND=jax python -m examples.nondecomposable`); `results.json`
records the backend. The two shuffle differently, so minibatch numbers per
seed differ between TensorFlow and the other backends.

Reported: test F1 at probability threshold 0.5 (logit 0) and test ROC AUC
(`sklearn.metrics`), per seed and mean +- std (population) over seeds, as
a table on stdout, `results.json` and `results.png` in `--out-dir`. The
AUC surrogate only ranks: it leaves the logits' offset free, so for it
the F1 at a fixed threshold is a by-product, and ROC AUC is the metric it
optimises.

The task, the training and the results are in
`keras_backdrop.experiments.nondecomposable`; this script parses the
options and calls `run_comparison`. Run from the repository root:

    python -m examples.nondecomposable            # default experiment
    python -m examples.nondecomposable --fast     # smoke run, under a minute
    KERAS_BACKEND=jax python -m examples.nondecomposable --fast
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Sequence
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# The package imports Keras before anything imports TensorFlow (with
# KERAS_BACKEND=torch, TensorFlow imported first can abort the process).
from keras_backdrop.experiments import nondecomposable as task  # noqa: E402
from keras_backdrop.experiments.options import (  # noqa: E402
    non_negative_int,
    positive_float,
    positive_int,
    probability,
)


def _fraction(text: str) -> float:
    """A float in (0, 0.5): the positives must be the minority."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 < value < 0.5:
        raise argparse.ArgumentTypeError(
            f"expected a number in (0, 0.5). Received: {text!r}"
        )
    return value


def _digit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 9:
        raise argparse.ArgumentTypeError(f"expected a digit 0 to 9. Received: {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The command line; every option's value is checked by its type."""
    d = task.DEFAULTS
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--fast",
        action="store_true",
        help="toy sizes, for an end-to-end smoke run (tens of seconds)",
    )
    parser.add_argument(
        "--seeds",
        nargs="+",
        type=non_negative_int,
        default=[0, 1, 2],
        help="distinct seeds, default 0 1 2",
    )
    parser.add_argument(
        "--out-dir",
        default="results/nondecomposable",
        help="default results/nondecomposable",
    )
    parser.add_argument(
        "--losses",
        nargs="+",
        choices=list(task.LOSSES),
        default=list(task.LOSSES),
        help=f"default {' '.join(task.LOSSES)}",
    )
    parser.add_argument(
        "--positive-class", type=_digit, help=f"digit, default {d['positive_class']}"
    )
    parser.add_argument(
        "--positive-fraction",
        type=_fraction,
        help=f"in (0, 0.5), default {d['positive_fraction']}",
    )
    parser.add_argument("--n-train", type=positive_int, help=f"default {d['n_train']}")
    parser.add_argument(
        "--batch-size", type=positive_int, help=f"default {d['batch_size']}"
    )
    parser.add_argument(
        "--steps", type=positive_int, help=f"gradient steps, default {d['steps']}"
    )
    parser.add_argument(
        "--lr", type=positive_float, help=f"Adam learning rate, default {d['lr']}"
    )
    parser.add_argument(
        "--mask-prob",
        type=probability,
        help="backdrop_mask_prob's mask_prob, default 1 - batch_size / n_train",
    )
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parses the command line; adds `cfg`. Bad values exit through the parser."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if len(set(args.seeds)) != len(args.seeds):
        parser.error(
            f"argument --seeds: expected distinct seeds. Received: {args.seeds}"
        )
    overrides = {
        key: getattr(args, key)
        for key in (
            "positive_class",
            "positive_fraction",
            "n_train",
            "batch_size",
            "steps",
            "lr",
            "mask_prob",
        )
    }
    # The settings these checks need, before make_config refuses them.
    base = {**task.DEFAULTS, **(task.FAST if args.fast else {})}
    given = {k: v for k, v in overrides.items() if v is not None}
    n_train = given.get("n_train", base["n_train"])
    batch_size = given.get("batch_size", base["batch_size"])
    if batch_size >= n_train:
        parser.error(
            f"argument --batch-size: must be smaller than --n-train "
            f"({n_train}) for minibatches to differ from the full batch. "
            f"Received: {batch_size}"
        )
    pool = task.pool_size(
        given.get("positive_class", base["positive_class"]),
        given.get("positive_fraction", base["positive_fraction"]),
    )
    if n_train >= pool:
        parser.error(
            f"argument --n-train: must leave a test set, at most {pool - 1} "
            f"(the pool holds {pool} samples). Received: {n_train}"
        )
    args.cfg = task.make_config(args.fast, **overrides)
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Runs the comparison; writes results.json and results.png."""
    args = parse_args(argv)
    return task.run_comparison(
        args.cfg, args.seeds, args.losses, args.out_dir, fast=args.fast
    )


if __name__ == "__main__":
    main()
