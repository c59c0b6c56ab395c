"""The paper's texture network for one variant of a study.

A stack of stride-2 convolutions (a 5x5 first layer, then 2x2 kernels, so
that a cell after the `d`-th convolution covers a crisp 2**d-pixel square),
down to a 4x4 coarse map, and a per-cell head: a 1x1 convolution gives class
logits per coarse cell, averaged over the cells. The fine mask follows the
convolution whose cells are `size / 32` pixels (32 px at 1024, 16 px at
512), the coarse mask the last one (the 4x4 map), as in the paper.
"""

from __future__ import annotations

import keras

from keras_backdrop import BackdropMasking
from research.texture.settings import Study

#: Mask axes: one spatial mask shared by the batch (the authors' `mask_mod`)
#: or one per sample.
MASK_AXES = {"backdrop": (1, 2), "backdrop_per_sample": (0, 1, 2)}
FINE, COARSE = "fine_mask", "coarse_mask"


def depths(size: int) -> tuple[int, int]:
    """(fine, coarse): the convolutions the two masks follow.

    The coarse map is 4x4, so the network has `log2(size) - 2` convolutions;
    the fine mask sits three convolutions earlier (cells 8 times smaller).
    """
    convolutions = size.bit_length() - 1 - 2
    return convolutions - 3, convolutions


def build(study: Study, variant: str, seed: int) -> keras.Model:
    """The network of `variant`, its initial weights fixed by `seed` alone.

    Every initializer has its own seed, so the variants of one seed start
    from the same weights whatever layers they add; the masks draw from
    their own seeded generators. Its layers take the study's precision.
    """
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(study.precision)
    try:
        return _build(study, variant, seed)
    finally:
        keras.mixed_precision.set_global_policy(previous)


def _build(study: Study, variant: str, seed: int) -> keras.Model:
    fine, coarse = depths(study.size)
    masks = {}
    if variant in MASK_AXES:
        axes = MASK_AXES[variant]
        masks = {
            fine: BackdropMasking(
                mask_prob=study.fine_prob, mask_axes=axes, seed=2 * seed, name=FINE
            ),
            coarse: BackdropMasking(
                mask_prob=study.coarse_prob,
                mask_axes=axes,
                seed=2 * seed + 1,
                name=COARSE,
            ),
        }
    # Any input size: the random-crops variant trains on smaller images.
    inputs = keras.Input((None, None, 1))
    x = inputs
    for d in range(1, coarse + 1):
        x = keras.layers.Conv2D(
            study.filters,
            5 if d == 1 else 2,
            strides=2,
            padding="same" if d == 1 else "valid",
            activation="relu",
            kernel_initializer=keras.initializers.GlorotUniform(seed=1000 * seed + d),
            name=f"conv{d}",
        )(x)
        if d in masks:
            x = masks[d](x)
    x = keras.layers.Conv2D(
        study.num_classes,
        1,
        kernel_initializer=keras.initializers.GlorotUniform(seed=1000 * seed),
        name="cell_logits",
    )(x)
    # Float32 logits whatever the policy: the loss and its softmax in full
    # precision.
    logits = keras.layers.GlobalAveragePooling2D(
        name="mean_over_cells", dtype="float32"
    )(x)
    return keras.Model(inputs, logits, name=f"texture_{variant}")
