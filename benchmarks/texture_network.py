"""The paper's texture network, with two backdrop masks placed by scale.

The texture network the benchmarks time (the tutorial,
`examples/texture_classification.py`, builds the same network by hand, and
`research/texture/model.py` the study's).

The network (Golkar and Cranmer, arXiv:1806.01337, texture demo) is a stack
of stride-2 convolutions: a 5x5 first layer, then 2x2 kernels with stride 2,
so that a cell of the feature map after the ``d``-th convolution covers a
crisp, non-overlapping ``2**d`` x ``2**d`` patch of the input. A fine
`BackdropMasking` goes where a cell covers about the small blob size and a
coarse one where a cell covers about the large blob size; the classifier
head sits on the coarse map.

Placement rule (`mask_depths`): for each scale, take the mean of its
correlation lengths ``cl`` (pixels) and pick the depth ``d`` whose cell side
``2**d`` is closest, on a log scale, to ``CELL_PER_LENGTH * cl`` with
``CELL_PER_LENGTH = 3`` (a squared-exponential blob is about three
correlation lengths across). For the paper's 1024-pixel input with lengths
[9.5, 10] and [80, 140] this gives 3 * 9.75 = 29 -> 32 px (after the 5th
convolution) and 3 * 110 = 330 -> 256 px (after the 8th), the paper's
placement. Any factor between about 2.4 and 3.2 reproduces it; 3 is in the
middle. The coarse depth is then capped so that the coarse map keeps at
least 2x2 cells (a mask over a single cell would do nothing), and the fine
depth is kept strictly shallower than the coarse one.

The masks themselves are placed by `keras_backdrop.insert_masks` on the
stack of convolutions, with the feature sizes ``2**fine`` and
``2**coarse`` (`feature_sizes`), so they are named
``backdrop_after_conv<depth>``; the head is added after them and reads the
coarse mask's output.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import keras

from keras_backdrop import BackdropMasking, insert_masks

#: Cell side in input pixels per correlation length, for mask placement.
CELL_PER_LENGTH = 3.0

#: Heads: "cell" is a 1x1 convolution giving class logits per coarse cell,
#: averaged over cells; "gap" is global average pooling then a dense layer;
#: "flatten" is flatten then dense (needs a fixed input size).
HEADS = ("cell", "gap", "flatten")

#: Mask axes: "sample" draws an independent spatial mask per sample
#: (axes 0, 1, 2); "batch" shares one spatial mask across the batch
#: (axes 1, 2, the reference's choice).
MASK_AXES = {"sample": (0, 1, 2), "batch": (1, 2)}


def _check_size(input_size: int) -> None:
    if (
        isinstance(input_size, bool)
        or not isinstance(input_size, int)
        or input_size < 8
        or input_size & (input_size - 1)
    ):
        raise ValueError(
            "Invalid value for argument `input_size`: expected a power of "
            f"two >= 8. Received: input_size={input_size!r}"
        )


def _scale_lengths(scales: Sequence[Sequence[float]]) -> list[float]:
    try:
        lengths = [sum(float(c) for c in s) / len(s) for s in scales]
    except (TypeError, ZeroDivisionError):
        raise ValueError(
            "Invalid value for argument `scales`: expected a list of "
            "non-empty lists of correlation lengths. "
            f"Received: scales={scales!r}"
        ) from None
    if len(lengths) < 2 or any(
        not math.isfinite(c) or c <= 0 for s in scales for c in s
    ):
        raise ValueError(
            "Invalid value for argument `scales`: expected at least two "
            "scales of positive, finite correlation lengths. "
            f"Received: scales={scales!r}"
        )
    return lengths


def depth_for_length(length: float, cell_per_length: float = CELL_PER_LENGTH) -> int:
    """The depth whose cell side ``2**d`` is log-closest to c * length."""
    if not length > 0:
        raise ValueError(
            "Invalid value for argument `length`: expected a positive "
            f"number. Received: length={length!r}"
        )
    if not cell_per_length > 0:
        raise ValueError(
            "Invalid value for argument `cell_per_length`: expected a "
            f"positive number. Received: cell_per_length={cell_per_length!r}"
        )
    return max(1, round(math.log2(cell_per_length * length)))


def mask_depths(
    input_size: int,
    scales: Sequence[Sequence[float]],
    cell_per_length: float = CELL_PER_LENGTH,
) -> tuple[int, int]:
    """The (fine, coarse) convolution depths after which the masks go.

    Depth ``d`` (1-based) means "after the d-th convolution", where a
    feature-map cell covers ``2**d`` input pixels per side. The fine depth
    uses the first (smallest) scale, the coarse depth the last (largest)
    one; see the module docstring for the rule.

    Args:
        input_size: Image side in pixels, a power of two >= 8.
        scales: Correlation lengths per scale, e.g. ``[[9.5, 10], [80, 140]]``.
        cell_per_length: Target cell side per correlation length.

    Returns:
        ``(fine, coarse)`` with ``1 <= fine < coarse <= log2(input_size) - 1``.
    """
    _check_size(input_size)
    lengths = _scale_lengths(scales)
    max_depth = int(math.log2(input_size)) - 1  # coarse map >= 2x2 cells
    coarse = min(depth_for_length(lengths[-1], cell_per_length), max_depth)
    fine = min(depth_for_length(lengths[0], cell_per_length), coarse - 1)
    return max(fine, 1), max(coarse, 2)


def feature_sizes(
    input_size: int,
    scales: Sequence[Sequence[float]],
    cell_per_length: float = CELL_PER_LENGTH,
) -> tuple[int, int]:
    """The (fine, coarse) cell sides, in pixels, after which the masks go.

    ``2**d`` for the depths of `mask_depths`: the feature sizes given to
    `keras_backdrop.insert_masks`.

    >>> feature_sizes(1024, [[9.5, 10.0], [80.0, 140.0]])
    (32, 256)
    """
    fine, coarse = mask_depths(input_size, scales, cell_per_length)
    return 2**fine, 2**coarse


def build_texture_model(
    input_size: int,
    scales: Sequence[Sequence[float]],
    num_classes: int,
    *,
    masks: bool = True,
    fine_prob: float = 0.3,
    coarse_prob: float = 0.95,
    mask_axes: str = "sample",
    head: str = "cell",
    filters: int = 32,
    kernel: str = "crisp",
    seed: int | None = None,
    variable_size: bool = True,
    cell_per_length: float = CELL_PER_LENGTH,
    head_norm: bool = False,
    mask_layer: Callable[..., keras.layers.Layer] = BackdropMasking,
) -> keras.Model:
    """Builds the two-mask texture network (or its unmasked baseline).

    The network has ``coarse`` stride-2 convolutions (ReLU): a 5x5 first
    layer, then 2x2 kernels (``kernel="crisp"``, each cell sees a sharp
    non-overlapping input patch) or 3x3 kernels with "same" padding
    (``kernel="blurred"``, neighbouring cells overlap, blurring the patch
    edges). Two `BackdropMasking` layers, placed by
    `keras_backdrop.insert_masks` and so named ``backdrop_after_conv<d>``,
    follow the convolutions at the depths given by `mask_depths`; the head
    works on the coarse map. `mask_layers` returns them, fine first.

    Args:
        input_size: Image side in pixels (power of two >= 8); it fixes the
            mask placement (and the input shape when ``variable_size`` is
            false or ``head="flatten"``).
        scales: Correlation lengths per scale (pixels), smallest scale
            first, e.g. a gp_textures config's ``scales``.
        num_classes: Number of classes (>= 2); the model outputs logits.
        masks: If false, the same network without any `BackdropMasking`
            (the baseline).
        fine_prob: Mask probability of the fine mask.
        coarse_prob: Mask probability of the coarse mask.
        mask_axes: ``"sample"`` (a spatial mask per sample) or ``"batch"``
            (one spatial mask shared by the batch, as the reference).
        head: One of `HEADS`.
        filters: Filters per convolution.
        kernel: ``"crisp"`` (2x2 stride 2) or ``"blurred"`` (3x3 stride 2).
        seed: Seed for the weight initialisers and the masks.
        variable_size: If true (and the head allows it) the model accepts
            any spatial size, e.g. for training on crops and testing on
            full images.
        cell_per_length: Placement factor, see `mask_depths`.
        head_norm: If true, batch normalisation of the coarse map before
            the head.
        mask_layer: The layer class (or a callable returning a layer) put
            at the two mask places, called as ``mask_layer(mask_prob=...,
            mask_axes=..., seed=..., name=...)``; benchmarks pass other
            masking layers here to compare them at the same places.

    Returns:
        An uncompiled `keras.Model` mapping ``(batch, H, W, 1)`` images to
        ``(batch, num_classes)`` logits.
    """
    fine, coarse = mask_depths(input_size, scales, cell_per_length)
    if (
        isinstance(num_classes, bool)
        or not isinstance(num_classes, int)
        or (num_classes < 2)
    ):
        raise ValueError(
            "Invalid value for argument `num_classes`: expected an integer "
            f">= 2. Received: num_classes={num_classes!r}"
        )
    for name, value in (("fine_prob", fine_prob), ("coarse_prob", coarse_prob)):
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or (not 0.0 <= value <= 1.0)
        ):
            raise ValueError(
                f"Invalid value for argument `{name}`: expected a float in "
                f"[0, 1]. Received: {name}={value!r}"
            )
    if mask_axes not in MASK_AXES:
        raise ValueError(
            "Invalid value for argument `mask_axes`: expected one of "
            f"{sorted(MASK_AXES)}. Received: mask_axes={mask_axes!r}"
        )
    if head not in HEADS:
        raise ValueError(
            f"Invalid value for argument `head`: expected one of {HEADS}. "
            f"Received: head={head!r}"
        )
    if kernel not in ("crisp", "blurred"):
        raise ValueError(
            "Invalid value for argument `kernel`: expected 'crisp' or "
            f"'blurred'. Received: kernel={kernel!r}"
        )
    if isinstance(filters, bool) or not isinstance(filters, int) or filters < 1:
        raise ValueError(
            "Invalid value for argument `filters`: expected an integer >= 1. "
            f"Received: filters={filters!r}"
        )
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ValueError(
            "Invalid value for argument `seed`: expected an integer or None. "
            f"Received: seed={seed!r}"
        )
    if not callable(mask_layer):
        raise TypeError(
            "Invalid type for argument `mask_layer`: expected a layer class or "
            f"a callable returning a layer. Received: mask_layer={mask_layer!r}"
        )

    side = None if (variable_size and head != "flatten") else input_size
    inputs = keras.Input((side, side, 1), name="image")

    def init(offset: int) -> keras.initializers.Initializer:
        return keras.initializers.GlorotUniform(
            None if seed is None else seed * 1000 + offset
        )

    x = inputs
    for depth in range(1, coarse + 1):
        if depth == 1:
            size, padding = 5, "same"
        elif kernel == "crisp":
            size, padding = 2, "valid"
        else:
            size, padding = 3, "same"
        x = keras.layers.Conv2D(
            filters,
            size,
            strides=2,
            padding=padding,
            activation="relu",
            kernel_initializer=init(depth),
            name=f"conv{depth}",
        )(x)
    if masks:
        # The masks' seeds depend on the depth, as they always have, so
        # that seeded runs repeat across versions.
        seeds = {
            f"backdrop_after_conv{d}": None if seed is None else seed * 1000 + 100 + d
            for d in (fine, coarse)
        }

        def make_mask(*, name: str, **kwargs: Any) -> keras.layers.Layer:
            return mask_layer(name=name, seed=seeds[name], **kwargs)

        trunk = insert_masks(
            keras.Model(inputs, x),
            [2**fine, 2**coarse],
            mask_prob=[float(fine_prob), float(coarse_prob)],
            layer_class=make_mask,
            mask_axes=MASK_AXES[mask_axes],
        )
        inputs, x = trunk.inputs[0], trunk.outputs[0]

    if head_norm:
        x = keras.layers.BatchNormalization(name="head_norm")(x)
    if head == "cell":
        # One classifier per coarse cell; averaging the logits makes the
        # prediction a vote of patch-sized sub-samples, which is what the
        # coarse mask sub-samples.
        x = keras.layers.Conv2D(
            num_classes, 1, kernel_initializer=init(99), name="cell_logits"
        )(x)
        outputs = keras.layers.GlobalAveragePooling2D(name="logits")(x)
    elif head == "gap":
        x = keras.layers.GlobalAveragePooling2D()(x)
        outputs = keras.layers.Dense(
            num_classes, kernel_initializer=init(99), name="logits"
        )(x)
    else:
        x = keras.layers.Flatten()(x)
        outputs = keras.layers.Dense(
            num_classes, kernel_initializer=init(99), name="logits"
        )(x)
    name = "texture_backdrop" if masks else "texture_baseline"
    return keras.Model(inputs, outputs, name=name)


def mask_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The model's mask layers (named ``backdrop_after_*``), in depth order.

    For the texture network: ``[fine, coarse]``, or ``[]`` without masks.
    """
    return [layer for layer in model.layers if layer.name.startswith("backdrop_after_")]
