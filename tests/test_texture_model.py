"""The benchmarks' texture network: mask placement, shapes, gradient flow.

`benchmarks/texture_network.py` is a script-side module (the benchmarks
import it from their own folder), loaded here from its file.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_backdrop import BackdropMasking, cell_sizes, insert_masks

_PATH = Path(__file__).resolve().parent.parent / "benchmarks" / "texture_network.py"
_SPEC = importlib.util.spec_from_file_location("benchmarks_texture_network", _PATH)
texture_network = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(texture_network)

PAPER_SCALES = [[9.5, 10.0], [80.0, 140.0]]


def _conv_before(model, mask_name: str) -> str:
    """Name of the convolution that feeds the named mask layer."""
    names = [layer.name for layer in model.layers]
    index = names.index(mask_name)
    return names[index - 1]


@pytest.mark.parametrize(
    "size, scales, expected",
    [
        (1024, PAPER_SCALES, (5, 8)),  # the paper: 32 px and 256 px cells
        (512, [[4.75, 5.0], [40.0, 70.0]], (4, 7)),  # lengths x1/2
        (256, [[2.375, 2.5], [20.0, 35.0]], (3, 6)),  # lengths x1/4
        (128, [[1.1875, 1.25], [10.0, 17.5]], (2, 5)),  # lengths x1/8
        (1024, [[9.5, 10.0], [60.0, 80.0], [140.0, 200.0]], (5, 9)),
    ],
)
def test_mask_depths(size, scales, expected):
    assert texture_network.mask_depths(size, scales) == expected


def test_paper_placement_in_the_built_network():
    model = texture_network.build_texture_model(1024, PAPER_SCALES, 4)
    assert _conv_before(model, "backdrop_after_conv5") == "conv5"
    assert _conv_before(model, "backdrop_after_conv8") == "conv8"
    assert texture_network.feature_sizes(1024, PAPER_SCALES) == (32, 256)
    # Depth d means a cell covers 2**d pixels: 1024 / 2**8 = 4 coarse cells.
    sides = {n: c.stride for n, c in cell_sizes(model).items()}
    assert sides["conv5"] == (32, 32) and sides["conv8"] == (256, 256)
    out = model.get_layer("backdrop_after_conv8").output
    assert model.get_layer("conv8").strides == (2, 2)
    assert out.shape[-1] == 32


def test_insert_masks_on_the_unmasked_network_gives_the_same_places():
    # The rule of the issue: sizes [32, 256] go after conv5 and conv8 (the
    # "gap" head: with the "cell" head its 1x1 convolution ties with conv8
    # and, the deeper, would take the coarse mask).
    plain = texture_network.build_texture_model(
        1024, PAPER_SCALES, 4, masks=False, head="gap", seed=0
    )
    masked = insert_masks(plain, [32, 256], mask_prob=[0.3, 0.95])
    assert _conv_before(masked, "backdrop_after_conv5") == "conv5"
    assert _conv_before(masked, "backdrop_after_conv8") == "conv8"
    built = texture_network.build_texture_model(1024, PAPER_SCALES, 4, head="gap")
    assert [layer.name for layer in masked.layers][:11] == [
        layer.name for layer in built.layers
    ][:11]  # up to the automatically named pooling


def test_mask_seeds_and_settings_as_before():
    model = texture_network.build_texture_model(
        256, [[2.375, 2.5], [20.0, 35.0]], 4, seed=2, fine_prob=0.2, mask_axes="batch"
    )
    fine, coarse = texture_network.mask_layers(model)
    assert (fine.name, coarse.name) == ("backdrop_after_conv3", "backdrop_after_conv6")
    # seed * 1000 + 100 + depth: the seeds the masks always had.
    assert (fine.seed, coarse.seed) == (2103, 2106)
    assert (fine.mask_prob, coarse.mask_prob) == (0.2, 0.95)
    assert fine.mask_axes == coarse.mask_axes == (1, 2)


def test_another_mask_layer_at_the_same_places():
    made = []

    def layer(mask_prob, mask_axes, seed, name):
        made.append((mask_prob, mask_axes, seed, name))
        return keras.layers.SpatialDropout2D(mask_prob, seed=seed, name=name)

    model = texture_network.build_texture_model(
        128, [[1.1875, 1.25], [10.0, 17.5]], 4, seed=1, mask_layer=layer
    )
    assert made == [
        (0.3, (0, 1, 2), 1102, "backdrop_after_conv2"),
        (0.95, (0, 1, 2), 1105, "backdrop_after_conv5"),
    ]
    assert [type(m) for m in texture_network.mask_layers(model)] == [
        keras.layers.SpatialDropout2D
    ] * 2
    with pytest.raises(TypeError, match="argument `mask_layer`"):
        texture_network.build_texture_model(128, GEO_SCALES, 4, mask_layer="dropout")


def test_placement_caps_keep_two_coarse_cells_and_fine_shallower():
    # Lengths far too long for the image: coarse capped at log2(64) - 1 = 5
    # (a 2x2 map), fine pushed strictly above it.
    assert texture_network.mask_depths(64, [[30.0], [60.0]]) == (4, 5)
    # Tiny lengths: never before the first convolution.
    assert texture_network.mask_depths(64, [[0.1], [0.2]]) == (1, 2)


@pytest.mark.parametrize("head", ["cell", "gap", "flatten"])
@pytest.mark.parametrize("masks", [True, False])
def test_output_shapes(head, masks):
    model = texture_network.build_texture_model(
        128, [[1.1875, 1.25], [10.0, 17.5]], 4, masks=masks, head=head, seed=0
    )
    x = np.random.default_rng(0).standard_normal((3, 128, 128, 1)).astype("float32")
    assert model(x).shape == (3, 4)
    assert model(x, training=True).shape == (3, 4)


def test_variable_size_model_accepts_crops():
    model = texture_network.build_texture_model(
        128, [[1.1875, 1.25], [10.0, 17.5]], 4, masks=False, seed=0
    )
    crop = np.zeros((2, 64, 64, 1), "float32")
    assert model(crop).shape == (2, 4)


def test_baseline_has_no_backdrop_and_same_weights():
    scales = [[2.375, 2.5], [20.0, 35.0]]
    masked = texture_network.build_texture_model(256, scales, 4, seed=1)
    plain = texture_network.build_texture_model(256, scales, 4, masks=False, seed=1)
    assert not any(isinstance(layer, BackdropMasking) for layer in plain.layers)
    assert [layer.name for layer in texture_network.mask_layers(masked)] == [
        "backdrop_after_conv3",
        "backdrop_after_conv6",
    ]
    assert texture_network.mask_layers(plain) == []
    # The masks add no trainable weight, only their own state (the pinned
    # index, the mask probability).
    masks = texture_network.mask_layers(masked)
    extra = sum(layer.count_params() for layer in masks)
    assert masked.count_params() - plain.count_params() == extra
    assert not any(layer.trainable_weights for layer in masks)
    # Same seed, same initial weights: the two differ only by the masks.
    for a, b in zip(masked.trainable_weights, plain.trainable_weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    x = np.random.default_rng(1).standard_normal((2, 256, 256, 1)).astype("float32")
    np.testing.assert_allclose(
        masked(x, training=True).numpy(), plain(x).numpy(), rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"input_size": 100}, "input_size"),
        ({"input_size": 4}, "input_size"),
        ({"scales": [[2.0]]}, "scales"),
        ({"scales": [[2.0], [-1.0]]}, "scales"),
        ({"num_classes": 1}, "num_classes"),
        ({"fine_prob": 1.5}, "fine_prob"),
        ({"coarse_prob": -0.1}, "coarse_prob"),
        ({"mask_axes": "channel"}, "mask_axes"),
        ({"head": "dense"}, "head"),
        ({"kernel": "big"}, "kernel"),
        ({"filters": 0}, "filters"),
        ({"seed": 1.5}, "seed"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(kwargs, argument):
    args = {"input_size": 128, "scales": [[1.2, 1.25], [10.0, 17.5]], "num_classes": 4}
    args.update(kwargs)
    with pytest.raises(ValueError, match=f"`{argument}`.*{argument}="):
        texture_network.build_texture_model(
            args.pop("input_size"), args.pop("scales"), args.pop("num_classes"), **args
        )


# Gradient geometry. With 128 px input and these lengths the fine mask
# follows conv3 (8 px cells, a 16x16 mask) and the coarse one conv5 (32 px
# cells, 4x4). Conv1 (5x5, stride 2, "same") makes cell j of depth d see
# input pixels [j * 2**d - 1, (j + 1) * 2**d + 1]: a halo of 1 px before and
# 2 px after its patch, and nothing else (2x2 stride-2 kernels above).
GEO_SCALES = [[2.375, 2.5], [10.0, 17.5]]


def _geometry_model(**kwargs):
    assert texture_network.mask_depths(128, GEO_SCALES) == (3, 5)
    return texture_network.build_texture_model(
        128, GEO_SCALES, 4, mask_axes="batch", seed=5, **kwargs
    )


def _input_gradient(model, training):
    x = tf.constant(
        np.random.default_rng(5).standard_normal((1, 128, 128, 1)), tf.float32
    )
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(model(x, training=training))
    return tape.gradient(y, x).numpy()[0, :, :, 0]


def _patch(j: int, i: int, cell: int) -> tuple[slice, slice]:
    """Input pixels that cell (j, i) of a map with `cell`-px cells sees."""
    return (
        slice(max(j * cell - 1, 0), (j + 1) * cell + 2),
        slice(max(i * cell - 1, 0), (i + 1) * cell + 2),
    )


def _interiors_nonzero(grad, cell: int) -> np.ndarray:
    """Per cell, whether its exclusive interior (no halos) has a gradient."""
    n = grad.shape[0] // cell
    out = np.zeros((n, n), bool)
    for j in range(n):
        for i in range(n):
            block = grad[
                j * cell + 2 : (j + 1) * cell - 1, i * cell + 2 : (i + 1) * cell - 1
            ]
            out[j, i] = np.any(block != 0)
    return out


def test_pinned_gradient_is_confined_to_the_fine_patch_inside_the_coarse_one():
    model = _geometry_model()
    fine, coarse = texture_network.mask_layers(model)
    coarse.pinned_index = (1, 2)  # input rows 32..63, columns 64..95
    fine.pinned_index = (5, 9)  # rows 40..47, columns 72..79: inside it
    grad = _input_gradient(model, training=True)
    inside = np.zeros_like(grad, bool)
    inside[_patch(5, 9, 8)] = True
    assert np.all(grad[~inside] == 0)
    assert np.count_nonzero(grad[inside]) > 0.5 * 8 * 8


def test_fine_patch_outside_the_surviving_coarse_patch_gets_nothing():
    # Nesting: a fine cell survives only where the coarse mask survives.
    model = _geometry_model()
    fine, coarse = texture_network.mask_layers(model)
    coarse.pinned_index = (1, 2)
    fine.pinned_index = (0, 0)  # rows 0..7: outside coarse cell (1, 2)
    grad = _input_gradient(model, training=True)
    assert np.all(grad == 0)


def test_random_masks_nest_and_inference_has_no_masked_zeros():
    model = _geometry_model(fine_prob=0.5, coarse_prob=0.8)
    grad = _input_gradient(model, training=True)
    fine_alive = _interiors_nonzero(grad, 8)
    coarse_alive = _interiors_nonzero(grad, 32)
    # The coarse mask dropped some 32 px patches, but not all.
    assert 0 < coarse_alive.sum() < coarse_alive.size
    # Fine survivors lie inside coarse survivors (fine is a subset of coarse)...
    coarse_up = np.kron(coarse_alive, np.ones((4, 4), bool))
    assert not np.any(fine_alive & ~coarse_up)
    # ...and inside a surviving coarse patch the fine mask punched holes.
    inside = fine_alive[coarse_up]
    assert 0 < inside.sum() < inside.size
    # Zero-by-mask means: outside every surviving fine patch, nothing.
    fine_up = np.kron(fine_alive, np.ones((8, 8), bool))
    covered = np.zeros_like(grad, bool)
    for j, i in zip(*np.nonzero(fine_alive), strict=True):
        covered[_patch(j, i, 8)] = True
    assert np.all(grad[~covered] == 0)
    assert fine_up.sum() < covered.sum()
    # Inference: identity layers, every fine patch gets a gradient.
    grad_inference = _input_gradient(model, training=False)
    assert _interiors_nonzero(grad_inference, 8).all()
    assert np.mean(grad_inference != 0) > 0.99


def test_blurred_kernels_spread_the_gradient_beyond_the_patch():
    crisp = _geometry_model(kernel="crisp")
    blurred = _geometry_model(kernel="blurred")
    for model in (crisp, blurred):
        fine, coarse = texture_network.mask_layers(model)
        coarse.pinned_index = (1, 2)
        fine.pinned_index = (5, 9)
    inside = np.zeros((128, 128), bool)
    inside[_patch(5, 9, 8)] = True
    assert np.all(_input_gradient(crisp, True)[~inside] == 0)
    assert np.any(_input_gradient(blurred, True)[~inside] != 0)


def test_head_norm_adds_batch_normalization_before_the_head():
    model = texture_network.build_texture_model(
        128, [[1.1875, 1.25], [10.0, 17.5]], 4, head_norm=True, seed=0
    )
    names = [layer.name for layer in model.layers]
    assert (
        names.index("backdrop_after_conv5")
        < names.index("head_norm")
        < names.index("cell_logits")
    )
    assert model(np.zeros((2, 128, 128, 1), "float32")).shape == (2, 4)
