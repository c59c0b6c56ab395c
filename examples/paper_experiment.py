"""The paper's texture experiment as one protocol: variants, seeds, selection.

Trains the texture network under every variant of
`keras_backdrop.experiments.paper_protocol` (no mask, the paper's backdrop,
a grid of mask probabilities, random crops, spatial dropout) with several
seeds, picks each run's epoch on a validation split carved from the
training images, reads the test split once, and writes
``paper_protocol.json``, ``paper_protocol.md`` and
``paper_protocol_curves.png`` to ``--out-dir``. Runs checkpoint after every
epoch under ``--work-dir``: run the same command again to resume, and use
``--budget SECONDS`` to split a long run.

Usage (from the repository root)::

    python -m examples.paper_experiment --fast          # seconds, a 32 px toy
    python -m examples.paper_experiment --config small  # 256 px, CPU hours
    KERAS_BACKEND=jax python -m examples.paper_experiment --config paper
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402  (before anything that imports TensorFlow)

from keras_backdrop.experiments import options, paper_protocol  # noqa: E402


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line; bad values end in the parser's usage message."""
    import tfds_gp

    variants = tuple(paper_protocol.variant_specs())
    p = options.make_parser(__doc__)
    options.add_training_arguments(
        p,
        config_choices=["fast", *sorted(tfds_gp.PRESETS)],
        config_help="tfds_gp preset (default: small; fast with --fast)",
        variants=variants,
        variants_default=None,
        seeds_help="a count N (seeds 0..N-1) or a list such as 0,3,7 (default 5)",
        epochs_help="epochs per run (default 60; 2 with --fast)",
        jit_compile_help="compile the training step (default: on for JAX)",
    )
    p.add_argument(
        "--construction", help="use this tfds_gp construction instead of the preset's"
    )
    p.add_argument(
        "--val-per-class",
        type=options.positive_int,
        help="training images per class held out for validation "
        "(default 10; 2 with --fast)",
    )
    p.add_argument(
        "--budget",
        type=options.positive_float,
        help="stop cleanly after this many seconds (resume by running again)",
    )
    p.add_argument(
        "--work-dir", help="checkpoints and data cache (default results/paper_protocol)"
    )
    options.add_output_arguments(
        p,
        fast_help="a 32 px toy, 3 variants, 2 seeds, 2 epochs: seconds",
        out_dir=None,
        out_dir_help="results (default docs/results; "
        "results/paper_protocol_fast with --fast)",
    )
    args = p.parse_args(argv)
    if args.construction is not None:
        try:
            paper_protocol.recipe_for(args.config or "small", args.construction)
        except (TypeError, ValueError) as error:
            p.error(f"argument --construction: {error}")
    return args


def protocol_from(args: argparse.Namespace) -> paper_protocol.Protocol:
    """The `Protocol` the options describe, defaults filled in."""
    fast = args.fast
    default_variants = ["no_mask", "backdrop", "spatial_dropout"] if fast else None
    protocol = paper_protocol.Protocol(
        config=args.config or ("fast" if fast else "small"),
        construction=args.construction,
        seeds=args.seeds or ([0, 1] if fast else [0, 1, 2, 3, 4]),
        epochs=args.epochs or (2 if fast else 60),
        val_per_class=args.val_per_class or (2 if fast else 10),
        batch_size=args.batch_size,
        lr=args.lr,
        filters=args.filters,
        jit_compile=(
            keras.backend.backend() == "jax"
            if args.jit_compile is None
            else args.jit_compile
        ),
        budget_s=args.budget,
        out_dir=args.out_dir
        or ("results/paper_protocol_fast" if fast else "docs/results"),
        work_dir=args.work_dir
        or ("results/paper_protocol_fast" if fast else "results/paper_protocol"),
    )
    if args.variants or default_variants:
        protocol.variants = args.variants or default_variants
    return protocol


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Runs (or resumes) the protocol; returns what it wrote."""
    return paper_protocol.run(protocol_from(parse_args(argv)))


if __name__ == "__main__":
    main()
