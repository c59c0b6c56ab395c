"""Full batch, minibatches and backdrop on a hard, imbalanced task.

A batch-level loss (`SoftF1` or `PairwiseAUC`) on a synthetic task with 2 %
positives (most minibatches of 32 hold no positive or one) and a 256-256
MLP that memorises its 1000 training samples under full-batch training.
Variants: full batch, minibatches, and backdrop (the full-batch loss with
`BackdropMasking(mask_axes=(0,), keep_count=k)` on the logits) for a sweep
of `k`. Each run keeps the weights with the best validation metric (F1 for
soft-F1, ROC AUC for the AUC loss); the test split is scored there, once.
Reported: test F1 and ROC AUC (mean, std, 95 % t interval) and each
variant's difference from full batch with a 95 % paired bootstrap
interval over seeds. The task and the study are in
`keras_backdrop.experiments.imbalanced`.

Run from the repository root:

    python -m examples.nondecomposable_study --out-dir docs/results   # ~20 min, 2 CPUs
    python -m examples.nondecomposable_study --fast                  # seconds

The report (`nondecomposable_study.json`) is rewritten after every run; run
the same command again to resume an interrupted study.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# The package imports Keras before anything imports TensorFlow.
from keras_backdrop.experiments import imbalanced  # noqa: E402
from keras_backdrop.experiments import nondecomposable as nd  # noqa: E402
from keras_backdrop.experiments.options import (  # noqa: E402
    add_setting_arguments,
    choice_list,
    make_task_parser,
    parse_settings,
    seed_list,
)


def build_parser() -> argparse.ArgumentParser:
    """The command line; every option's value is checked by its type."""
    parser = make_task_parser(
        __doc__, "toy sizes, seconds", "results/nondecomposable_study"
    )
    parser.add_argument(
        "--seeds",
        type=seed_list,
        default=list(range(5)),
        help="a count N (seeds 0..N-1) or a list such as 0,3,7; default 5",
    )
    parser.add_argument(
        "--losses",
        type=choice_list(tuple(nd.LOSSES)),
        default=list(nd.LOSSES),
        help=f"comma-separated, default {','.join(nd.LOSSES)}",
    )
    add_setting_arguments(parser, imbalanced.DEFAULTS, imbalanced.SETTING_OPTIONS)
    return parser


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Runs the study; writes the JSON report, the table and the plot.

    Bad values exit through the parser before anything runs.
    """
    args = parse_settings(
        build_parser(),
        argv,
        list(imbalanced.SETTING_OPTIONS),
        imbalanced.check_settings,
        imbalanced.make_config,
    )
    return imbalanced.run_study(
        args.cfg, args.seeds, args.losses, args.out_dir, fast=args.fast
    )


if __name__ == "__main__":
    main()
