"""The paper's mask picture: where the gradient of the texture network lands.

The command line of `keras_backdrop.experiments.mask_picture`: three
pictures of the input-space gradient of the untrained two-mask texture
network (crisp kernels, blurred kernels, the coarse mask pinned to one
cell), saved to ``--out-dir``.

Usage (from the repository root)::

    python -m examples.mask_picture              # 1024 px, the paper's setup
    python -m examples.mask_picture --fast       # 128 px, a second or two
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from keras_backdrop.experiments import options  # noqa: E402


def _image_size(text: str) -> int:
    value = options.positive_int(text)
    if value < 64 or value & (value - 1):
        raise argparse.ArgumentTypeError(
            f"expected a power of two >= 64. Received: {text!r}"
        )
    return value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line arguments; errors exit through the parser."""
    p = options.make_parser(__doc__, show_defaults=True)
    p.add_argument(
        "--size",
        type=_image_size,
        default=None,
        help="image side (default 1024, or 128 with --fast); the "
        "paper's lengths are scaled by size / 1024",
    )
    p.add_argument("--fine-prob", type=options.probability, default=0.3)
    p.add_argument("--coarse-prob", type=options.probability, default=0.95)
    p.add_argument(
        "--blurred-coarse-prob",
        type=options.probability,
        default=0.95,
        help="coarse mask probability for the blurred picture",
    )
    p.add_argument("--seed", type=options.non_negative_int, default=3)
    options.add_output_arguments(
        p, fast_help="128 px: seconds", out_dir="results/masks"
    )
    args = p.parse_args(argv)
    if args.size is None:
        args.size = 128 if args.fast else 1024
    return args


def main(argv: Sequence[str] | None = None) -> list[Path]:
    """Draws the three pictures; returns the paths written."""
    from keras_backdrop.experiments import mask_picture

    args = parse_args(argv)
    return mask_picture.draw_mask_pictures(
        args.size,
        fine_prob=args.fine_prob,
        coarse_prob=args.coarse_prob,
        blurred_coarse_prob=args.blurred_coarse_prob,
        seed=args.seed,
        out_dir=args.out_dir,
    )


if __name__ == "__main__":
    main()
