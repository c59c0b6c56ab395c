"""`cell_sizes` and `insert_masks`: geometry by hand, placement, sharing, errors.

Expected cell sides and receptive fields are worked out by hand from the
rule "a layer with kernel k, stride s and dilation d on cells j pixels
apart that see r pixels gives cells j*s apart that see r + (k-1)*d*j".
"""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_backdrop import BackdropMasking, CellSize, cell_sizes, insert_masks

L = keras.layers


def _paper_texture_network(filters: int = 2) -> keras.Model:
    """The paper's 1024 px network: 5x5 then 2x2 stride-2 convolutions."""
    inputs = keras.Input((1024, 1024, 1))
    x = L.Conv2D(filters, 5, strides=2, padding="same", name="conv1")(inputs)
    for depth in range(2, 9):
        x = L.Conv2D(filters, 2, strides=2, activation="relu", name=f"conv{depth}")(x)
    x = L.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, L.Dense(4, name="logits")(x))


def _small(seed: int = 0) -> keras.Model:
    """Three 2x2 stride-2 convolutions on 16 x 16: cells of 2, 4, 8 px."""
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((16, 16, 1)),
            L.Conv2D(3, 2, strides=2, activation="relu", name="c1"),
            L.Conv2D(3, 2, strides=2, activation="relu", name="c2"),
            L.Conv2D(3, 2, strides=2, activation="relu", name="c3"),
            L.GlobalAveragePooling2D(name="pool"),
            L.Dense(2, name="logits"),
        ]
    )


def _images(n: int = 3, side: int = 16, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, side, side, 1)).astype("float32")


# --------------------------------------------------------------------------
# cell_sizes


def test_cell_sizes_2d_strides_pooling_dilation_by_hand():
    model = keras.Sequential(
        [
            keras.Input((64, 64, 3)),
            L.Conv2D(4, 5, strides=2, padding="same", name="a"),  # j 2, r 5
            L.Conv2D(4, 2, strides=2, padding="valid", name="b"),  # 4, 5+1*2
            L.MaxPooling2D(3, strides=2, name="p"),  # 8, 7+2*4
            L.Conv2D(4, 3, dilation_rate=2, padding="same", name="d"),  # 8, 15+2*2*8
            L.BatchNormalization(name="bn"),
            L.ReLU(name="relu"),
            L.AveragePooling2D(2, name="q"),  # pool 2 stride 2: 16, 47+1*8
            L.GlobalAveragePooling2D(name="gap"),
            L.Dense(2, name="out"),
        ]
    )
    sizes = cell_sizes(model)
    assert list(sizes) == ["a", "b", "p", "d", "bn", "relu", "q"]
    expected = {
        "a": (2, 5),
        "b": (4, 7),
        "p": (8, 15),
        "d": (8, 47),
        "bn": (8, 47),
        "relu": (8, 47),
        "q": (16, 55),
    }
    for name, (stride, field) in expected.items():
        assert sizes[name] == CellSize((stride, stride), (field, field)), name
    assert sizes["q"].side == 16


def test_padding_moves_cells_but_not_their_size():
    def net(padding):
        return keras.Sequential(
            [
                keras.Input((33, 33, 1)),
                L.Conv2D(2, 3, strides=2, padding=padding, name="a"),
                L.MaxPooling2D(2, padding=padding, name="p"),
                L.ZeroPadding2D(1, name="z"),
                L.Conv2D(2, 3, strides=3, padding=padding, name="b"),
            ]
        )

    same, valid = cell_sizes(net("same")), cell_sizes(net("valid"))
    assert same == valid
    # a: 2, 3; p: 4, 3 + 1*2 = 5; z: unchanged; b: 12, 5 + 2*4 = 13.
    assert same["z"] == CellSize((4, 4), (5, 5))
    assert same["b"] == CellSize((12, 12), (13, 13))


def test_cell_sizes_conv1d_causal_and_pooling():
    model = keras.Sequential(
        [
            keras.Input((100, 2)),
            L.Conv1D(4, 3, padding="causal", name="a"),  # 1, 3
            L.Conv1D(4, 4, strides=2, name="b"),  # 2, 3 + 3*1 = 6
            L.AveragePooling1D(2, name="p"),  # 4, 6 + 1*2 = 8
            L.Conv1D(4, 3, dilation_rate=3, padding="same", name="d"),  # 4, 8+2*3*4
            L.Flatten(name="flat"),
            L.Dense(1, name="out"),
        ]
    )
    assert cell_sizes(model) == {
        "a": CellSize((1,), (3,)),
        "b": CellSize((2,), (6,)),
        "p": CellSize((4,), (8,)),
        "d": CellSize((4,), (32,)),
    }


def test_cell_sizes_conv3d_per_axis():
    model = keras.Sequential(
        [
            keras.Input((8, 32, 32, 1)),
            L.Conv3D(2, 3, strides=(1, 2, 2), padding="same", name="a"),
            L.MaxPooling3D((2, 2, 2), name="p"),
            L.Conv3D(2, (1, 3, 3), name="b"),
        ]
    )
    sizes = cell_sizes(model)
    assert sizes["a"] == CellSize((1, 2, 2), (3, 3, 3))
    # Pool 2 on cells (1, 2, 2) apart: receptive field + 1 * stride.
    assert sizes["p"] == CellSize((2, 4, 4), (4, 5, 5))
    assert sizes["b"] == CellSize((2, 4, 4), (4, 13, 13))
    # The geometric mean of (2, 4, 4) is 32 ** (1/3).
    assert sizes["b"].side == pytest.approx(32 ** (1 / 3))


def test_separable_depthwise_channels_first():
    model = keras.Sequential(
        [
            keras.Input((3, 32, 32)),
            L.SeparableConv2D(4, 3, strides=2, data_format="channels_first", name="s"),
            L.DepthwiseConv2D(
                3, dilation_rate=2, data_format="channels_first", name="dw"
            ),
        ]
    )
    assert cell_sizes(model) == {
        "s": CellSize((2, 2), (3, 3)),
        "dw": CellSize((2, 2), (11, 11)),  # 3 + 2*2*2
    }


def test_residual_merge_joins_receptive_fields():
    inputs = keras.Input((32, 32, 1))
    a = L.Conv2D(2, 3, strides=2, padding="same", name="a")(inputs)  # 2, 3
    b = L.Conv2D(2, 3, padding="same", name="b")(a)  # 2, 3 + 2*2 = 7
    added = L.Add(name="add")([a, b])
    c = L.Concatenate(name="cat")([added, a])
    model = keras.Model(inputs, L.GlobalMaxPooling2D(name="gmp")(c))
    sizes = cell_sizes(model)
    assert sizes["add"] == CellSize((2, 2), (7, 7))
    assert sizes["cat"] == CellSize((2, 2), (7, 7))
    assert "gmp" not in sizes


def _error_models():
    def seq(*layers, shape=(16, 16, 1)):
        return keras.Sequential([keras.Input(shape), *layers])

    inner = seq(L.Conv2D(2, 2, name="inner_conv"))
    outer_in = keras.Input((16, 16, 1))
    nested = keras.Model(outer_in, inner(outer_in))
    shared = L.Conv2D(1, 3, padding="same", name="twice")
    twice_in = keras.Input((16, 16, 1))
    twice = keras.Model(twice_in, shared(shared(twice_in)))
    a_in, b_in = keras.Input((8, 8, 1)), keras.Input((8, 8, 1))
    two_inputs = keras.Model([a_in, b_in], L.Add()([a_in, b_in]))
    # Two 8 x 8 maps, one with cells 2 px apart, one 1 px apart.
    inputs = keras.Input((16, 16, 1))
    half = L.Conv2D(2, 2, strides=2, name="half")(inputs)
    wide = L.Conv2D(2, 9, name="wide")(inputs)
    strides = keras.Model(inputs, L.Add(name="sum")([half, wide]))
    return [
        (seq(L.Conv2D(2, 2), L.UpSampling2D(name="up")), "'up' (UpSampling2D)"),
        (
            seq(L.Conv2DTranspose(2, 2, strides=2, name="tr")),
            "'tr' (Conv2DTranspose)",
        ),
        (seq(L.Lambda(lambda x: x * 2, name="lam")), "'lam' (Lambda)"),
        (strides, "'sum' (Add) is not supported: it merges feature maps of "),
        (nested, "nested models"),
        (twice, "'twice' (Conv2D) is not supported: it is called more than once"),
        (two_inputs, "one input"),
        (keras.Sequential([L.Conv2D(2, 2)]), "built"),
        (seq(L.Dense(2), shape=(16,)), "rank 3, 4 or 5"),
    ]


@pytest.mark.parametrize("index", range(9))
def test_cell_sizes_refuses_unsupported_models_naming_the_layer(index):
    model, fragment = _error_models()[index]
    with pytest.raises(ValueError, match="argument `model`") as info:
        cell_sizes(model)
    assert fragment in str(info.value)
    # insert_masks reads the model the same way.
    with pytest.raises(ValueError, match="argument `model`"):
        insert_masks(model, [2], mask_prob=0.5)


def test_cell_sizes_type_error_for_a_non_model():
    with pytest.raises(TypeError, match="argument `model`"):
        cell_sizes(L.Conv2D(2, 2))

    class Sub(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(TypeError, match="subclassed"):
        cell_sizes(Sub())


# --------------------------------------------------------------------------
# insert_masks: placement


def _after(model: keras.Model, mask_name: str) -> str:
    names = [layer.name for layer in model.layers]
    return names[names.index(mask_name) - 1]


def test_paper_texture_network_sizes_32_and_256_go_after_conv5_and_conv8():
    model = _paper_texture_network()
    sides = {name: c.side for name, c in cell_sizes(model).items()}
    assert sides == {f"conv{d}": 2**d for d in range(1, 9)}
    masked = insert_masks(model, [32, 256], mask_prob=[0.3, 0.95])
    masks = [layer for layer in masked.layers if isinstance(layer, BackdropMasking)]
    assert [m.name for m in masks] == ["backdrop_after_conv5", "backdrop_after_conv8"]
    assert _after(masked, "backdrop_after_conv5") == "conv5"
    assert _after(masked, "backdrop_after_conv8") == "conv8"
    assert [m.mask_prob for m in masks] == [0.3, 0.95]
    # Per sample and position, broadcast over the channels.
    assert [m.mask_axes for m in masks] == [(0, 1, 2), (0, 1, 2)]
    # Log scale: 45 is nearer 32 than 64 on a log scale (log2 45 = 5.49).
    masked = insert_masks(model, [45, 46], mask_prob=0.5)
    assert [m.name for m in masked.layers if isinstance(m, BackdropMasking)] == [
        "backdrop_after_conv5",
        "backdrop_after_conv6",
    ]


def test_tie_goes_after_the_deepest_layer_before_global_pooling():
    model = keras.Sequential(
        [
            keras.Input((16, 16, 1)),
            L.Conv2D(2, 2, strides=2, name="c1"),  # 2 px
            L.BatchNormalization(name="bn"),  # 2 px
            L.ReLU(name="relu"),  # 2 px
            L.Conv2D(2, 2, strides=4, name="c2"),  # 8 px
            L.Conv2D(2, 1, name="c3"),  # 8 px
            L.GlobalAveragePooling2D(name="gap"),
            L.Dense(2, name="logits"),
        ]
    )
    masked = insert_masks(model, [2], mask_prob=0.5)
    assert _after(masked, "backdrop_after_relu") == "relu"
    # 4 px is as far from 2 as from 8 on a log scale: the deeper, 8, wins,
    # and of the 8 px layers the deepest before the pooling.
    masked = insert_masks(model, [4], mask_prob=0.5)
    assert _after(masked, "backdrop_after_c3") == "c3"
    # Beyond every cell: still before the pooling.
    masked = insert_masks(model, [1000], mask_prob=0.5)
    assert [layer.name for layer in masked.layers][-3:] == [
        "backdrop_after_c3",
        "gap",
        "logits",
    ]


def test_default_mask_axes_follow_the_spatial_axes():
    cf = keras.Sequential(
        [
            keras.Input((1, 16, 16)),
            L.Conv2D(2, 2, strides=2, data_format="channels_first", name="c"),
        ]
    )
    (mask,) = insert_masks(cf, [2], mask_prob=0.5).layers[1:]
    assert mask.mask_axes == (0, 2, 3)
    one_d = keras.Sequential([keras.Input((32, 3)), L.Conv1D(2, 2, 2, name="c")])
    assert insert_masks(one_d, 2, mask_prob=0.5).layers[1].mask_axes == (0, 1)
    # The user's axes win: one mask shared by the batch.
    (mask,) = insert_masks(cf, [2], mask_prob=0.5, mask_axes=(2, 3)).layers[1:]
    assert mask.mask_axes == (2, 3)


def test_layer_kwargs_and_layer_class_reach_every_mask():
    calls = []

    def factory(**kwargs):
        calls.append(kwargs)
        return BackdropMasking(**kwargs)

    masked = insert_masks(
        _small(),
        [2, 8],
        mask_prob=[0.25, 0.75],
        layer_class=factory,
        seed=7,
        normalize="expected",
    )
    assert calls == [
        {
            "mask_axes": (0, 1, 2),
            "seed": 7,
            "normalize": "expected",
            "mask_prob": 0.25,
            "name": "backdrop_after_c1",
        },
        {
            "mask_axes": (0, 1, 2),
            "seed": 7,
            "normalize": "expected",
            "mask_prob": 0.75,
            "name": "backdrop_after_c3",
        },
    ]
    assert masked.get_layer("backdrop_after_c3").normalize == "expected"
    # keep_count instead of mask_prob.
    masked = insert_masks(_small(), [4], keep_count=1)
    layer = masked.get_layer("backdrop_after_c2")
    assert (layer.mask_prob, layer.keep_count) == (None, 1)
    # Another layer at the same place.
    masked = insert_masks(
        _small(),
        [4],
        mask_prob=0.5,
        layer_class=lambda mask_prob, mask_axes, name: L.SpatialDropout2D(
            mask_prob, name=name
        ),
    )
    assert isinstance(masked.get_layer("backdrop_after_c2"), L.SpatialDropout2D)


def test_functional_branches_both_read_the_masked_output():
    inputs = keras.Input((8, 8, 1))
    a = L.Conv2D(2, 2, strides=2, kernel_initializer="ones", name="a")(inputs)
    left = L.Conv2D(2, 2, strides=2, kernel_initializer="ones", name="left")(a)
    right = L.MaxPooling2D(2, name="right")(a)
    model = keras.Model(inputs, L.Add(name="add")([left, right]))
    masked = insert_masks(model, [2], mask_prob=0.5)
    assert _after(masked, "backdrop_after_a") == "a"
    masked.get_layer("backdrop_after_a").pinned_index = (0, 3, 0)
    x = tf.constant(np.abs(_images(1, 8)) + 1.0)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(masked(x, training=True))
    grad = tape.gradient(loss, x).numpy()
    # Were either branch to bypass the mask, other pixels would get some.
    expected = np.zeros(grad.shape, bool)
    expected[0, 6:8, 0:2, :] = True
    np.testing.assert_array_equal(grad != 0, expected)


# --------------------------------------------------------------------------
# insert_masks: the new model and the original


@pytest.mark.parametrize("kind", ["sequential", "functional"])
def test_forward_identical_bit_for_bit_and_original_unchanged(kind):
    model = _small(seed=3)
    if kind == "functional":
        inputs = keras.Input((16, 16, 1))
        x = inputs
        for layer in model.layers:
            x = layer(x)
        model = keras.Model(inputs, x, name="functional_small")
    names = [layer.name for layer in model.layers]
    weights = [w.copy() for w in model.get_weights()]
    x = _images(4)
    before = keras.ops.convert_to_numpy(model(x))
    masked = insert_masks(model, [2, 8], mask_prob=0.5, seed=1)
    assert type(masked) is type(model)
    assert masked is not model
    # The original: same layers, no mask, same weights, same outputs.
    assert [layer.name for layer in model.layers] == names
    assert not any(isinstance(layer, BackdropMasking) for layer in model.layers)
    for w, w0 in zip(model.get_weights(), weights, strict=True):
        np.testing.assert_array_equal(w, w0)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model(x)), before)
    for training in (False, True):
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(masked(x, training=training)), before
        )


def test_weights_are_shared_both_ways():
    model = _small(seed=1)
    masked = insert_masks(model, [2, 8], mask_prob=0.5, seed=2)
    for name in ("c1", "c2", "c3", "logits"):
        assert masked.get_layer(name) is model.get_layer(name)
    # A change through the original is seen by the masked model ...
    kernel = model.get_layer("c2").kernel
    kernel.assign(kernel.numpy() * 2.0)
    x = _images()
    np.testing.assert_array_equal(masked(x).numpy(), model(x).numpy())
    # ... and training the masked model trains the original.
    before = model.get_layer("c1").kernel.numpy().copy()
    masked.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    masked.fit(x, np.ones((3, 2), "float32"), epochs=1, verbose=0)
    assert not np.array_equal(model.get_layer("c1").kernel.numpy(), before)
    np.testing.assert_array_equal(masked(x).numpy(), model(x).numpy())


def test_pinned_mask_zeroes_the_gradient_outside_one_cell():
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            L.Conv2D(2, 2, strides=2, kernel_initializer="ones", name="c1"),
            L.Conv2D(2, 2, strides=2, kernel_initializer="ones", name="c2"),
        ]
    )
    masked = insert_masks(model, [2], mask_prob=0.5)
    mask = masked.get_layer("backdrop_after_c1")
    x = tf.constant(_images(2, 8))

    def input_gradient(m):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(m(x, training=True))
        return tape.gradient(loss, x).numpy()

    # Unmasked: every input pixel gets a gradient.
    assert np.all(input_gradient(model) != 0)
    mask.pinned_index = (1, 2, 3)  # sample 1, cell row 2, column 3
    grad = input_gradient(masked)
    expected = np.zeros(grad.shape, bool)
    expected[1, 4:6, 6:8, :] = True  # the 2x2 input patch of that cell
    np.testing.assert_array_equal(grad != 0, expected)
    # Count normalisation: the one survivor carries all 2*4*4 entries.
    np.testing.assert_allclose(grad[expected], 32 * input_gradient(model)[expected])


# --------------------------------------------------------------------------
# insert_masks: errors


@pytest.mark.parametrize(
    "feature_sizes, error",
    [
        ([], ValueError),
        ([0], ValueError),
        ([-4, 8], ValueError),
        ([math.nan], ValueError),
        ([math.inf], ValueError),
        ("32", TypeError),
        ([True], TypeError),
        (["8"], TypeError),
        (None, TypeError),
        ({8: 1}, TypeError),
    ],
)
def test_bad_feature_sizes(feature_sizes, error):
    with pytest.raises(error, match="argument `feature_sizes`"):
        insert_masks(_small(), feature_sizes, mask_prob=0.5)


@pytest.mark.parametrize("feature_sizes", [[8, 8], [7, 9], [2, 500, 1000]])
def test_sizes_landing_after_one_layer_are_refused(feature_sizes):
    with pytest.raises(ValueError, match="argument `feature_sizes`.*'c3'"):
        insert_masks(_small(), feature_sizes, mask_prob=0.5)


@pytest.mark.parametrize(
    "mask_prob, error",
    [
        ([0.5], ValueError),
        ([0.1, 0.2, 0.3], ValueError),
        (1.5, ValueError),
        ([0.5, -0.1], ValueError),
        ("0.5", TypeError),
        (True, TypeError),
        ([0.5, None], TypeError),
    ],
)
def test_bad_mask_prob(mask_prob, error):
    with pytest.raises(error, match="argument `mask_prob`"):
        insert_masks(_small(), [2, 8], mask_prob=mask_prob)


def test_other_argument_errors():
    with pytest.raises(TypeError, match="argument `name`"):
        insert_masks(_small(), [2], mask_prob=0.5, name="mine")
    with pytest.raises(TypeError, match="argument `layer_class`"):
        insert_masks(_small(), [2], mask_prob=0.5, layer_class="BackdropMasking")
    with pytest.raises(TypeError, match="argument `model`"):
        insert_masks("model", [2], mask_prob=0.5)
    flat = keras.Sequential([keras.Input((8, 8, 1)), L.Flatten(), L.Dense(2)])
    with pytest.raises(ValueError, match="no layer with a feature-map output"):
        insert_masks(flat, [2], mask_prob=0.5)
    # The layer's own checks still apply (neither mask_prob nor keep_count).
    with pytest.raises(ValueError, match="mask_prob"):
        insert_masks(_small(), [2])
