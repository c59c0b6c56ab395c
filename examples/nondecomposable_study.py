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
    choice_list,
    positive_float,
    positive_int,
    seed_list,
)


def _sizes(text: str) -> tuple[int, ...]:
    """A comma-separated list of integers >= 1, such as ``8,32,128``."""
    try:
        return tuple(positive_int(t) for t in text.split(","))
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers >= 1. Received: {text!r}"
        ) from None


def _fraction(text: str) -> float:
    """A number in (0, 0.5): the positives must be the minority."""
    value = positive_float(text)
    if value >= 0.5:
        raise argparse.ArgumentTypeError(
            f"expected a number in (0, 0.5). Received: {text!r}"
        )
    return value


def build_parser() -> argparse.ArgumentParser:
    """The command line; every option's value is checked by its type."""
    d = imbalanced.DEFAULTS
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fast", action="store_true", help="toy sizes, seconds")
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
    parser.add_argument(
        "--out-dir",
        default="results/nondecomposable_study",
        help="default results/nondecomposable_study",
    )
    parser.add_argument("--n-train", type=positive_int, help=f"default {d['n_train']}")
    parser.add_argument(
        "--positive-fraction",
        type=_fraction,
        help=f"in (0, 0.5), default {d['positive_fraction']}",
    )
    parser.add_argument(
        "--steps", type=positive_int, help=f"gradient steps, default {d['steps']}"
    )
    parser.add_argument(
        "--eval-every",
        type=positive_int,
        help=f"validation every N steps, default {d['eval_every']}",
    )
    parser.add_argument(
        "--lr", type=positive_float, help=f"Adam learning rate, default {d['lr']}"
    )
    parser.add_argument(
        "--minibatch-sizes",
        type=_sizes,
        help=f"default {','.join(map(str, d['minibatch_sizes']))}",
    )
    parser.add_argument(
        "--keep-counts",
        type=_sizes,
        help=f"backdrop keep counts, default {','.join(map(str, d['keep_counts']))}",
    )
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parses the command line; adds `cfg`. Bad values exit through the parser."""
    parser = build_parser()
    args = parser.parse_args(argv)
    overrides = {
        key: getattr(args, key)
        for key in (
            "n_train",
            "positive_fraction",
            "steps",
            "eval_every",
            "lr",
            "minibatch_sizes",
            "keep_counts",
        )
    }
    # The settings these checks need, before make_config refuses them.
    base = {**imbalanced.DEFAULTS, **(imbalanced.FAST if args.fast else {})}
    given = {**base, **{k: v for k, v in overrides.items() if v is not None}}
    n_train = given["n_train"]
    for key in ("minibatch_sizes", "keep_counts"):
        if any(size >= n_train for size in given[key]):
            option = "--" + key.replace("_", "-")
            parser.error(
                f"argument {option}: every size must be smaller than "
                f"--n-train ({n_train}). Received: "
                f"{','.join(map(str, given[key]))}"
            )
    for key in ("n_train", "n_val", "n_test"):
        if round(given[key] * given["positive_fraction"]) < 2:
            # Blame the fraction if it was given, else the training size
            # (the validation and test sizes are not options).
            fraction_given = args.positive_fraction is not None
            option = "--positive-fraction" if fraction_given else "--n-train"
            value = given["positive_fraction"] if fraction_given else n_train
            parser.error(
                f"argument {option}: the {key[2:]} split ({given[key]} "
                f"samples) would hold fewer than 2 positives at "
                f"{given['positive_fraction']}. Received: {value}"
            )
    args.cfg = imbalanced.make_config(args.fast, **overrides)
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Runs the study; writes the JSON report, the table and the plot."""
    args = parse_args(argv)
    return imbalanced.run_study(
        args.cfg, args.seeds, args.losses, args.out_dir, fast=args.fast
    )


if __name__ == "__main__":
    main()
