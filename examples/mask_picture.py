"""
Title: Where backdrop masks let the gradient through
Author: keras-backdrop contributors
Date created: 2026/12/02
Last modified: 2026/12/02
Description: The input-space gradient of the paper's texture network with a fine and a coarse backdrop mask.
Accelerator: None
"""

# ## Introduction
#
# A `BackdropMasking` layer multiplies the gradient that flows back through
# it by a random mask of zeros and ones (rescaled). Two masks in a row
# multiply: the fine mask punches small holes, the coarse mask keeps only a
# few large patches, and only the small patches that fall inside a kept
# large patch pass any gradient back to the input.
#
# This example makes that visible. It takes one texture image, builds the
# paper's texture network with its two masks (untrained: the picture is
# about where the gradient goes, not about the weights), and plots the
# gradient of the sum of the outputs with respect to the input image, in
# training mode so that the masks apply. Three pictures:
#
# * `mask_crisp.png`: 2x2 stride-2 kernels, so every cell of a feature map
#   stands for a sharp, non-overlapping square of input pixels;
# * `mask_blurred.png`: 3x3 stride-2 kernels, whose overlapping receptive
#   fields blur the patch edges;
# * `mask_pinned.png`: crisp kernels, the coarse mask pinned to a single
#   cell (`pinned_index`, the authors' diagnostic mode).
#
# Run it as `python -m examples.mask_picture` (1024 px, the paper's size,
# about ten seconds) or with `--fast` (128 px).

# ## Setup
#
# The input gradient is taken with `tf.GradientTape`, so this example runs
# on the TensorFlow backend.

import argparse
import os
from pathlib import Path

os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import matplotlib
import numpy as np
import tensorflow as tf

import tfds_gp
from keras_backdrop import BackdropMasking

matplotlib.use("Agg")  # files only, no window
import matplotlib.pyplot as plt

parser = argparse.ArgumentParser(
    description="Pictures of backdrop masks.", allow_abbrev=False
)
parser.add_argument("--fast", action="store_true", help="128 px instead of 1024")
parser.add_argument("--out-dir", default="results/masks", help="folder written to")
args, _ = parser.parse_known_args()

SIZE = 128 if args.fast else 1024
SEED = 3
FINE_PROB, COARSE_PROB = 0.3, 0.95
OUT_DIR = Path(args.out_dir)
OUT_DIR.mkdir(parents=True, exist_ok=True)

# ## One texture image
#
# `tfds_gp.sample` draws one image of the `gp_textures` recipe with NumPy
# (no dataset build needed): the sum of a field with a short correlation
# length and one with a long one. The paper's lengths at 1024 px are 9.5 or
# 10 pixels and 80 or 140 pixels; they are scaled with the image side.
# This image takes the short length of the small scale and the long length
# of the large scale.

factor = SIZE / 1024
lengths = (9.5 * factor, 140 * factor)
image = tfds_gp.sample(lengths, (0.75, 1.25), SIZE, np.random.default_rng(SEED))

# ## The network and its masks
#
# The paper's texture network: stride-2 convolutions, a 5x5 first layer,
# down to a 4x4 map, then logits per coarse cell averaged over the cells.
# The fine mask follows the convolution whose cells are `SIZE / 32` pixels
# across, the coarse mask the last one (the 4x4 map). `mask_axes=(1, 2)`
# draws one spatial mask shared by the batch, as the authors did.

N_CONVOLUTIONS = int(np.log2(SIZE)) - 2
FINE_DEPTH = N_CONVOLUTIONS - 3


def texture_network(kernel, pinned_index=None):
    """The two-mask network; `kernel` is "crisp" (2x2) or "blurred" (3x3)."""
    inputs = keras.Input((SIZE, SIZE, 1))
    x = inputs
    for depth in range(1, N_CONVOLUTIONS + 1):
        if depth == 1:
            size, padding = 5, "same"
        elif kernel == "crisp":
            size, padding = 2, "valid"
        else:
            size, padding = 3, "same"
        x = keras.layers.Conv2D(
            8,
            size,
            strides=2,
            padding=padding,
            activation="relu",
            kernel_initializer=keras.initializers.GlorotUniform(seed=SEED + depth),
        )(x)
        if depth == FINE_DEPTH:
            x = BackdropMasking(mask_prob=FINE_PROB, mask_axes=(1, 2), seed=SEED)(x)
    x = BackdropMasking(
        mask_prob=COARSE_PROB,
        mask_axes=(1, 2),
        seed=SEED + 1,
        pinned_index=pinned_index,
    )(x)
    x = keras.layers.Conv2D(4, 1)(x)
    return keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))


def input_gradient(model, training):
    """The gradient of the sum of the model's outputs w.r.t. the image."""
    x = tf.constant(image[None, :, :, None], tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        total = tf.reduce_sum(model(x, training=training))
    return tape.gradient(total, x).numpy()[0, :, :, 0]


# ## The pictures
#
# Each picture shows the image, the gradient's magnitude on a log scale
# (so that the whole surviving area shows, not only its peaks) and where
# it is nonzero, with the coarse cells' edges drawn in. In inference
# (`training=False`) the masks do nothing and every pixel gets a gradient.

COARSE_CELL = 2**N_CONVOLUTIONS  # input pixels per coarse cell
cases = {
    "crisp": ("crisp", None),
    "blurred": ("blurred", None),
    "pinned": ("crisp", (2, 1)),  # row 2, column 1 of the 4x4 coarse map
}
for name, (kernel, pinned) in cases.items():
    model = texture_network(kernel, pinned)
    gradient = input_gradient(model, training=True)
    everywhere = np.mean(input_gradient(model, training=False) != 0)

    fig, axes = plt.subplots(1, 3, figsize=(12, 4.3))
    axes[0].imshow(image, cmap="gray")
    axes[0].set_title(f"texture, lengths {lengths[0]:g} and {lengths[1]:g} px")
    magnitude = np.abs(gradient)
    axes[1].imshow(np.log10(magnitude + magnitude.max() * 1e-4), cmap="magma")
    what = f"coarse pinned to {pinned}" if pinned else f"p = {FINE_PROB}, {COARSE_PROB}"
    axes[1].set_title(f"|input gradient| ({kernel}; {what})", fontsize=9)
    axes[2].imshow(gradient != 0, cmap="gray")
    axes[2].set_title(
        f"nonzero: {np.mean(gradient != 0):.0%} of pixels "
        f"(inference: {everywhere:.0%})",
        fontsize=9,
    )
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes[1:]:
        for k in range(1, SIZE // COARSE_CELL):
            ax.axhline(k * COARSE_CELL - 0.5, color="c", lw=0.4, alpha=0.6)
            ax.axvline(k * COARSE_CELL - 0.5, color="c", lw=0.4, alpha=0.6)
    fig.suptitle(
        f"Masks after conv {FINE_DEPTH} ({2**FINE_DEPTH} px cells) and conv "
        f"{N_CONVOLUTIONS} ({COARSE_CELL} px cells), {SIZE} px input",
        fontsize=10,
    )
    fig.tight_layout()
    path = OUT_DIR / f"mask_{name}.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"{path}: {np.mean(gradient != 0):.1%} of pixels get a gradient")

# With the crisp kernels the picture shows the fine mask's holes inside the
# coarse mask's kept patch: about 5 percent of the coarse cells are kept
# (at least one always is), and inside them the cells the fine mask drops
# (30 percent) lose their gradient only where no neighbouring kept cell
# sees the same pixels (the 5x5 first layer makes neighbours overlap by a
# few pixels). So each step learns from a few large patches of the image,
# each only partly. The blurred kernels spread the gradient past the patch
# edges; pinned, the coarse mask keeps exactly the chosen cell.
