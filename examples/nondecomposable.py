"""Backdrop for non-decomposable losses: soft-F1 and a pairwise AUC surrogate.

Runs `keras_backdrop.experiments.nondecomposable.run_comparison`: on
scikit-learn's digits, one digit against a few percent of positives, a
small MLP trained with `SoftF1` and `PairwiseAUC` four ways (full batch,
minibatches, backdrop with `mask_prob`, backdrop with `keep_count`),
reporting test F1 and ROC AUC per seed and over seeds as a table on
stdout, `results.json` and `results.png` in `--out-dir`. That module's
docstring explains the task, what is held equal and how to read the
results. Run from the repository root:

    python -m examples.nondecomposable            # default experiment
    python -m examples.nondecomposable --fast     # smoke run, under a minute
    KERAS_BACKEND=jax python -m examples.nondecomposable --fast
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# The package imports Keras before anything imports TensorFlow (with
# KERAS_BACKEND=torch, TensorFlow imported first can abort the process).
from keras_backdrop.experiments import nondecomposable as task  # noqa: E402
from keras_backdrop.experiments.options import (  # noqa: E402
    add_setting_arguments,
    make_task_parser,
    non_negative_int,
    parse_settings,
)


def build_parser() -> argparse.ArgumentParser:
    """The command line; every option's value is checked by its type."""
    parser = make_task_parser(
        __doc__,
        "toy sizes, for an end-to-end smoke run (tens of seconds)",
        "results/nondecomposable",
    )
    parser.add_argument(
        "--seeds",
        nargs="+",
        type=non_negative_int,
        default=[0, 1, 2],
        help="distinct seeds, default 0 1 2",
    )
    parser.add_argument(
        "--losses",
        nargs="+",
        choices=list(task.LOSSES),
        default=list(task.LOSSES),
        help=f"default {' '.join(task.LOSSES)}",
    )
    add_setting_arguments(parser, task.DEFAULTS, task.SETTING_OPTIONS)
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parses the command line; adds `cfg`. Bad values exit through the parser."""
    parser = build_parser()
    args = parse_settings(
        parser, argv, list(task.SETTING_OPTIONS), task.check_settings, task.make_config
    )
    if len(set(args.seeds)) != len(args.seeds):
        parser.error(
            f"argument --seeds: expected distinct seeds. Received: {args.seeds}"
        )
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Runs the comparison; writes results.json and results.png."""
    args = parse_args(argv)
    return task.run_comparison(
        args.cfg, args.seeds, args.losses, args.out_dir, fast=args.fast
    )


if __name__ == "__main__":
    main()
