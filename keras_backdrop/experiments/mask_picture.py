"""The paper's mask picture: where the gradient of the texture network lands.

Takes one gp_textures sample, builds the two-mask texture network
(`texture_network`, untrained: the picture is about where the gradient
goes, not what the weights are) and plots the input-space gradient of the
sum of the outputs, in training mode so that the masks apply. The coarse
mask leaves a few large patches, the fine mask punches smaller holes in
them: the surviving small patches are nested in the surviving large ones,
because backpropagation multiplies the two masks.

`draw_mask_pictures` writes three pictures:

* ``mask_crisp.png``: 2x2 stride-2 kernels, sharp patch edges;
* ``mask_blurred.png``: 3x3 stride-2 kernels, overlapping receptive fields
  blur the patch edges (and, at low mask probabilities, wash them out);
* ``mask_pinned.png``: crisp kernels with the coarse mask pinned to a single
  cell (``layer.pinned_index``, the reference's diagnostic mode).

TensorFlow only (the gradient is taken with `tf.GradientTape`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from keras_backdrop.experiments import texture_network

#: The paper's correlation lengths (pixels, at 1024 px) and powers.
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


def draw_mask_pictures(
    size: int = 1024,
    *,
    fine_prob: float = 0.3,
    coarse_prob: float = 0.95,
    blurred_coarse_prob: float = 0.95,
    seed: int = 3,
    out_dir: str | Path = "results/masks",
) -> list[Path]:
    """Draws the three pictures; returns the paths written.

    Args:
        size: Image side, a power of two >= 64; the paper's lengths are
            scaled by ``size / 1024``.
        fine_prob: Fine mask probability.
        coarse_prob: Coarse mask probability (crisp and pinned pictures).
        blurred_coarse_prob: Coarse mask probability of the blurred one.
        seed: Seed of the sample, the weights and the masks.
        out_dir: Folder written to (created).

    Returns:
        The paths of the three PNG files.

    Raises:
        ValueError: If `size` is not a power of two >= 64.
    """
    if (
        isinstance(size, bool)
        or not isinstance(size, int)
        or (size < 64 or size & (size - 1))
    ):
        raise ValueError(
            "Invalid value for argument `size`: expected a power of two >= 64. "
            f"Received: size={size!r}"
        )
    import keras
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import tfds_gp

    factor = size / 1024
    scales = [[c * factor for c in s] for s in PAPER_SCALES]
    rng = np.random.default_rng(seed)
    # Class '9.5-140' (scaled): the first length of the small scale and the
    # second of the large one.
    cls = (scales[0][0], scales[1][1])
    image = tfds_gp.sample(cls, PAPER_POWERS, size, rng)
    fine, coarse = texture_network.mask_depths(size, scales)
    n_coarse = size // 2**coarse

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    cases = [
        ("crisp", "crisp", coarse_prob, None),
        ("blurred", "blurred", blurred_coarse_prob, None),
        ("pinned", "crisp", coarse_prob, (n_coarse // 2, n_coarse // 2 - 1)),
    ]
    for name, kernel, case_coarse_prob, pinned in cases:
        keras.utils.set_random_seed(seed)
        model = texture_network.build_texture_model(
            size,
            scales,
            4,
            fine_prob=fine_prob,
            coarse_prob=case_coarse_prob,
            mask_axes="batch",
            kernel=kernel,
            seed=seed,
        )
        _, coarse_mask = texture_network.mask_layers(model)
        coarse_mask.pinned_index = pinned
        grad = input_gradient(model, image, training=True)
        grad_inference = input_gradient(model, image, training=False)

        fig, axes = plt.subplots(1, 3, figsize=(12, 4.3))
        axes[0].imshow(image, cmap="gray")
        axes[0].set_title(f"sample, class {cls[0]:g}-{cls[1]:g} ({size} px)")
        magnitude = np.abs(grad)
        # A log scale shows the whole surviving area, not just its peaks.
        shown = np.log10(magnitude + magnitude.max() * 1e-4)
        axes[1].imshow(shown, cmap="magma")
        what = (
            f"coarse pinned to {pinned}"
            if pinned
            else f"p_fine={fine_prob:g}, p_coarse={case_coarse_prob:g}"
        )
        axes[1].set_title(f"|input gradient|, training ({kernel}; {what})", fontsize=9)
        axes[2].imshow(grad != 0, cmap="gray")
        axes[2].set_title(
            f"nonzero gradient: {np.mean(grad != 0):.0%} of pixels "
            f"(inference: {np.mean(grad_inference != 0):.0%})",
            fontsize=9,
        )
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
            f"{coarse} ({2**coarse} px cells)",
            fontsize=10,
        )
        fig.tight_layout()
        path = out_dir / f"mask_{name}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
        print(f"{path}: {np.mean(grad != 0):.1%} of pixels get a gradient")
    return written
