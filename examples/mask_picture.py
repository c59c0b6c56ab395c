"""The paper's mask picture: where the gradient of the texture network lands.

Takes one gp_textures sample, builds the two-mask texture network
(`examples/texture_model.py`, untrained: the picture is about where the
gradient goes, not what the weights are) and plots the input-space gradient
of the sum of the outputs, in training mode so that the masks apply. The
coarse mask leaves a few large patches, the fine mask punches smaller holes
in them: the surviving small patches are nested in the surviving large ones,
because backpropagation multiplies the two masks.

Three pictures, saved to ``--out-dir``:

* ``mask_crisp.png``: 2x2 stride-2 kernels, sharp patch edges;
* ``mask_blurred.png``: 3x3 stride-2 kernels, overlapping receptive fields
  blur the patch edges (and, at low mask probabilities, wash them out);
* ``mask_pinned.png``: crisp kernels with the coarse mask pinned to a single
  cell (``layer.pinned_index``, the reference's diagnostic mode).

Usage (from the repository root)::

    python -m examples.mask_picture              # 1024 px, the paper's setup
    python -m examples.mask_picture --fast       # 128 px, a second or two
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

PAPER_SCALES = ((9.5, 10.0), (80.0, 140.0))
PAPER_POWERS = (0.75, 1.25)


def input_gradient(model, image: np.ndarray, training: bool = True) -> np.ndarray:
    """Gradient of the sum of the model's outputs w.r.t. one ``(H, W)`` image."""
    import tensorflow as tf

    x = tf.constant(image[None, :, :, None], tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(model(x, training=training))
    return tape.gradient(y, x).numpy()[0, :, :, 0]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line arguments."""
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--size", type=int, default=None,
                   help="image side (default 1024, or 128 with --fast); the "
                   "paper's lengths are scaled by size / 1024")
    p.add_argument("--fine-prob", type=float, default=0.3)
    p.add_argument("--coarse-prob", type=float, default=0.95)
    p.add_argument("--blurred-coarse-prob", type=float, default=0.95,
                   help="coarse mask probability for the blurred picture")
    p.add_argument("--seed", type=int, default=3)
    p.add_argument("--fast", action="store_true", help="128 px: seconds")
    p.add_argument("--out-dir", default="results/masks")
    args = p.parse_args(argv)
    if args.size is None:
        args.size = 128 if args.fast else 1024
    if args.size < 64 or args.size & (args.size - 1):
        p.error(f"--size must be a power of two >= 64, got {args.size}")
    for name in ("fine_prob", "coarse_prob", "blurred_coarse_prob"):
        if not 0.0 <= getattr(args, name) <= 1.0:
            p.error(f"--{name.replace('_', '-')} must be in [0, 1]")
    return args


def main(argv: Sequence[str] | None = None) -> list[Path]:
    """Draws the three pictures; returns the paths written."""
    args = parse_args(argv)
    import keras
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import tfds_gp
    from examples import texture_model

    factor = args.size / 1024
    scales = [[c * factor for c in s] for s in PAPER_SCALES]
    rng = np.random.default_rng(args.seed)
    # Class '9.5-140' (scaled): the first length of the small scale and the
    # second of the large one.
    cls = (scales[0][0], scales[1][1])
    image = tfds_gp.sample(cls, PAPER_POWERS, args.size, rng)
    fine, coarse = texture_model.mask_depths(args.size, scales)
    n_coarse = args.size // 2**coarse

    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    cases = [
        ("crisp", "crisp", args.coarse_prob, None),
        ("blurred", "blurred", args.blurred_coarse_prob, None),
        ("pinned", "crisp", args.coarse_prob, (n_coarse // 2, n_coarse // 2 - 1)),
    ]
    for name, kernel, coarse_prob, pinned in cases:
        keras.utils.set_random_seed(args.seed)
        model = texture_model.build_texture_model(
            args.size, scales, 4, fine_prob=args.fine_prob,
            coarse_prob=coarse_prob, mask_axes="batch", kernel=kernel,
            seed=args.seed,
        )
        layers = {layer.name: layer for layer in texture_model.mask_layers(model)}
        layers["coarse_mask"].pinned_index = pinned
        grad = input_gradient(model, image, training=True)
        grad_inference = input_gradient(model, image, training=False)

        fig, axes = plt.subplots(1, 3, figsize=(12, 4.3))
        axes[0].imshow(image, cmap="gray")
        axes[0].set_title(f"sample, class {cls[0]:g}-{cls[1]:g} ({args.size} px)")
        magnitude = np.abs(grad)
        # A log scale shows the whole surviving area, not just its peaks.
        shown = np.log10(magnitude + magnitude.max() * 1e-4)
        axes[1].imshow(shown, cmap="magma")
        what = f"coarse pinned to {pinned}" if pinned else (
            f"p_fine={args.fine_prob:g}, p_coarse={coarse_prob:g}")
        axes[1].set_title(f"|input gradient|, training ({kernel}; {what})",
                          fontsize=9)
        axes[2].imshow(grad != 0, cmap="gray")
        axes[2].set_title(
            f"nonzero gradient: {np.mean(grad != 0):.0%} of pixels "
            f"(inference: {np.mean(grad_inference != 0):.0%})", fontsize=9)
        for ax in axes:
            ax.set_xticks([])
            ax.set_yticks([])
        for ax in axes[1:]:
            # Grid lines at the coarse cells' edges.
            for k in range(1, n_coarse):
                ax.axhline(k * 2**coarse - 0.5, color="c", lw=0.4, alpha=0.6)
                ax.axvline(k * 2**coarse - 0.5, color="c", lw=0.4, alpha=0.6)
        fig.suptitle(
            f"Backdrop masks after conv {fine} ({2**fine} px cells) and conv "
            f"{coarse} ({2**coarse} px cells)", fontsize=10)
        fig.tight_layout()
        path = out_dir / f"mask_{name}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
        print(f"{path}: {np.mean(grad != 0):.1%} of pixels get a gradient")
    return written


if __name__ == "__main__":
    main(sys.argv[1:])
