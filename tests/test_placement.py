"""`cell_sizes` and `insert_masks`: geometry by hand, placement, sharing, errors.

Receptive fields of merged branches are also measured from input gradients,
and the placement is checked on nested models and on Keras Applications
built with ``weights=None`` at small input sizes.

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

    class Subclassed(keras.Model):
        def call(self, x):
            return x

    outer_in = keras.Input((16, 16, 1))
    nested = keras.Model(outer_in, Subclassed(name="inner_sub")(outer_in))
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
        (
            nested,
            "'inner_sub' (Subclassed) is not supported: it is a nested subclassed",
        ),
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
    # approx: the layer may hold the probability in float32.
    assert [m.mask_prob for m in masks] == pytest.approx([0.3, 0.95])
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


# --------------------------------------------------------------------------
# Receptive fields measured from input gradients


def _measured_field(model: keras.Model, position: tuple[int, ...]) -> tuple[int, ...]:
    """Per axis, the span of input positions that one output cell reads.

    The span runs from the first to the last input position whose gradient
    is non-zero for the sum over the channels of the output at `position`.
    Positive inputs, kernels and a linear model keep terms from cancelling.
    """
    shape = (1, *model.inputs[0].shape[1:])
    x = tf.constant(np.random.default_rng(0).uniform(0.5, 1.0, shape), tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        picked = tf.reduce_sum(model(x)[(0, *position)])
    grad = tape.gradient(picked, x).numpy()[0]
    spans = []
    for axis in range(len(position)):
        others = tuple(a for a in range(grad.ndim) if a != axis)
        hit = np.flatnonzero(np.any(grad != 0, axis=others))
        spans.append(int(hit[-1] - hit[0] + 1))
    return tuple(spans)


def _positive(**kwargs):
    return {"kernel_initializer": keras.initializers.RandomUniform(0.1, 1.0), **kwargs}


def _causal_and_same():
    # The causal branch reads [t - 16, t], the `same` one [t - 2, t + 2]: a
    # cell of the sum reads [t - 16, t + 2], 19 positions, wider than 17.
    inputs = keras.Input((64, 1))
    causal = L.Conv1D(2, 17, padding="causal", **_positive(), name="causal")(inputs)
    same = L.Conv1D(2, 5, padding="same", **_positive(), name="same")(inputs)
    return keras.Model(inputs, L.Add(name="add")([causal, same])), (40,)


def _shifted_by_padding_and_cropping():
    # [-4, 0] (padded before), [0, 4] (padded after) and [1, 1] (a shift by
    # cropping): their union [-4, 4] is 9 wide on both axes.
    inputs = keras.Input((16, 16, 1))
    before = L.ZeroPadding2D(((4, 0), (4, 0)), name="pad_before")(inputs)
    before = L.Conv2D(2, 5, **_positive(), name="conv_before")(before)
    after = L.ZeroPadding2D(((0, 4), (0, 4)), name="pad_after")(inputs)
    after = L.Conv2D(2, 5, **_positive(), name="conv_after")(after)
    shifted = L.ZeroPadding2D(((0, 1), (0, 1)), name="pad_shift")(inputs)
    shifted = L.Cropping2D(((1, 0), (1, 0)), name="crop_shift")(shifted)
    shifted = L.Conv2D(2, 1, **_positive(), name="conv_shift")(shifted)
    merged = L.Add(name="add")([before, after, shifted])
    return keras.Model(inputs, merged), (8, 8)


def _strided_same(side):
    # A stride-2 `same` convolution pads 1 before on a side of 33 and none
    # on 32; the other branch reads [2i, 2i + 2]. The union is 4 wide on 33
    # ([2i - 1, 2i + 2]) and 3 on 32; a 3x3 convolution on cells 2 px
    # apart then adds 4: 8 and 7.
    def build():
        inputs = keras.Input((side, side, 1))
        same = L.Conv2D(2, 3, strides=2, padding="same", **_positive())(inputs)
        padded = L.ZeroPadding2D(((0, 2), (0, 2)))(inputs)
        valid = L.Conv2D(2, 3, strides=2, **_positive())(padded)
        merged = L.Add(name="add")([same, valid])
        x = L.Conv2D(2, 3, padding="same", **_positive(), name="after")(merged)
        return keras.Model(inputs, x), (8, 8)

    return build


def _concatenated_dilated_branches():
    inputs = keras.Input((48, 2))
    x = L.Conv1D(2, 3, strides=2, padding="causal", **_positive(), name="a")(inputs)
    left = L.Conv1D(2, 3, dilation_rate=3, padding="causal", **_positive())(x)
    right = L.Conv1D(2, 4, padding="same", **_positive())(x)
    pooled = L.AveragePooling1D(3, strides=1, padding="same")(x)
    merged = L.Concatenate(name="cat")([left, right, pooled])
    return keras.Model(inputs, L.Conv1D(2, 2, **_positive(), name="out")(merged)), (12,)


@pytest.mark.parametrize(
    "build, expected",
    [
        (_causal_and_same, (19,)),
        (_shifted_by_padding_and_cropping, (9, 9)),
        (_strided_same(33), (8, 8)),
        (_strided_same(32), (7, 7)),
        (_concatenated_dilated_branches, None),
    ],
    ids=["causal_and_same", "padding_cropping", "same_33", "same_32", "concat"],
)
def test_merged_receptive_fields_match_input_gradients(build, expected):
    model, position = build()
    field = cell_sizes(model)[model.layers[-1].name].receptive_field
    assert field == _measured_field(model, position)
    if expected is not None:
        assert field == expected


def test_causal_and_same_merge_reports_19_not_17():
    model, _ = _causal_and_same()
    sizes = cell_sizes(model)
    assert sizes["causal"] == CellSize((1,), (17,))
    assert sizes["same"] == CellSize((1,), (5,))
    assert sizes["add"] == CellSize((1,), (19,))


# --------------------------------------------------------------------------
# Squeeze-and-excite: a map times a per-channel tensor


def _squeeze_excite(kind: str) -> keras.Model:
    inputs = keras.Input((16, 16, 3))
    x = L.Conv2D(4, 3, strides=2, padding="same", name="conv")(inputs)
    if kind == "keepdims":  # (B, 1, 1, C), as MobileNetV3 writes it
        s = L.GlobalAveragePooling2D(keepdims=True, name="squeeze")(x)
        s = L.Conv2D(4, 1, activation="sigmoid", name="excite")(s)
        s = (s + 3.0) * (1.0 / 6.0)  # keras.ops on symbolic tensors
    elif kind == "reshape":  # (B, C) reshaped to (B, 1, 1, C), as EfficientNet
        s = L.GlobalAveragePooling2D(name="squeeze")(x)
        s = L.Reshape((1, 1, 4), name="reshape")(s)
        s = L.Conv2D(4, 1, activation="sigmoid", name="excite")(s)
    else:  # (B, C): the merge layer broadcasts it over the positions
        s = L.GlobalAveragePooling2D(name="squeeze")(x)
        s = L.Dense(4, activation="sigmoid", name="excite")(s)
    x = L.Multiply(name="scale")([x, s])
    x = L.Conv2D(4, 2, strides=2, name="after")(x)
    return keras.Model(inputs, L.GlobalAveragePooling2D(name="pool")(x))


@pytest.mark.parametrize("kind", ["keepdims", "reshape", "vector"])
def test_squeeze_excite_multiply_keeps_the_map_geometry(kind):
    model = _squeeze_excite(kind)
    sizes = cell_sizes(model)
    assert sizes["conv"] == sizes["scale"] == CellSize((2, 2), (3, 3))
    assert sizes["after"] == CellSize((4, 4), (5, 5))
    assert "excite" not in sizes and "squeeze" not in sizes
    masked = insert_masks(model, [2, 4], mask_prob=0.5)
    assert _follows(masked.get_layer("backdrop_after_scale")) == "scale"
    x = _images(2, 16).repeat(3, axis=-1)
    np.testing.assert_array_equal(masked(x).numpy(), model(x).numpy())


def test_a_map_times_a_tensor_with_spatial_extent_is_refused():
    inputs = keras.Input((8, 8, 2))
    x = L.Conv2D(2, 2, strides=2, name="conv")(inputs)
    other = L.Reshape((4, 4, 2))(L.Dense(32)(L.Flatten()(x)))
    model = keras.Model(inputs, L.Multiply(name="mix")([x, other]))
    with pytest.raises(ValueError, match="'mix' \\(Multiply\\).*neither a feature"):
        cell_sizes(model)


# --------------------------------------------------------------------------
# Never after a padding or cropping


def _follows(mask: keras.layers.Layer) -> str:
    """The name of the layer (or operation) whose output ``mask`` reads."""
    (node,) = mask._inbound_nodes
    return node.input_tensors[0]._keras_history.operation.name


def test_a_padded_or_cropped_map_is_never_a_site():
    model = keras.Sequential(
        [
            keras.Input((32, 32, 1)),
            L.Conv2D(2, 3, strides=2, padding="same", name="stem"),  # 2 px
            L.ReLU(name="stem_relu"),
            L.ZeroPadding2D(1, name="pad"),  # 2 px, padded
            L.MaxPooling2D(3, strides=2, name="pool"),  # 4 px
            L.Conv2D(2, 1, name="conv"),
            L.Cropping2D(1, name="crop"),  # 4 px, cropped
            L.GlobalAveragePooling2D(),
        ]
    )
    assert cell_sizes(model)["pad"].side == 2
    # Without a pointwise convolution into the padding, only it goes.
    masked = insert_masks(model, [2, 4], mask_prob=0.5)
    assert _follows(masked.get_layer("backdrop_after_stem_relu")) == "stem_relu"
    # The crop is fed by a pointwise convolution, which opens nothing here
    # but is left out with it: the pool's output is the 4 px site.
    assert _follows(masked.get_layer("backdrop_after_pool")) == "pool"


def test_the_expansion_into_a_padding_opens_the_next_block():
    # MobileNetV2's layout: block output, 1x1 expand, BN, ReLU, pad, then a
    # strided depthwise convolution.
    inputs = keras.Input((16, 16, 2))
    x = L.Conv2D(2, 3, strides=2, padding="same", name="stem")(inputs)
    y = L.Conv2D(2, 3, padding="same", name="body")(x)
    x = L.Add(name="block_add")([x, y])
    x = L.Conv2D(4, 1, name="expand")(x)
    x = L.BatchNormalization(name="expand_bn")(x)
    x = L.ReLU(name="expand_relu")(x)
    x = L.ZeroPadding2D(((0, 1), (0, 1)), name="pad")(x)
    x = L.DepthwiseConv2D(3, strides=2, name="depthwise")(x)
    model = keras.Model(inputs, L.GlobalAveragePooling2D()(x))
    masked = insert_masks(model, [2], mask_prob=0.5)
    assert _follows(masked.get_layer("backdrop_after_block_add")) == "block_add"


# --------------------------------------------------------------------------
# Nested models


def _backbone(kind: str, seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    layers = [
        L.Conv2D(3, 2, strides=2, activation="relu", name=f"{kind}_c1"),
        L.Conv2D(3, 2, strides=2, activation="relu", name=f"{kind}_c2"),
        L.BatchNormalization(name=f"{kind}_bn"),
        L.Conv2D(3, 2, strides=2, activation="relu", name=f"{kind}_c3"),
    ]
    if kind == "seq":
        return keras.Sequential(
            [keras.Input((16, 16, 1)), *layers], name="seq_backbone"
        )
    inputs = keras.Input((16, 16, 1))
    x = inputs
    for layer in layers:
        x = layer(x)
    return keras.Model(inputs, x, name="fn_backbone")


def _transfer(outer: str, inner: str) -> keras.Model:
    backbone = _backbone(inner)
    head = [L.GlobalAveragePooling2D(name="gap"), L.Dense(2, name="head")]
    if outer == "seq":
        return keras.Sequential([backbone, *head], name="transfer")
    inputs = keras.Input((16, 16, 1))
    x = L.Rescaling(2.0, name="scale")(inputs)
    x = backbone(x)
    for layer in head:
        x = layer(x)
    return keras.Model(inputs, x, name="transfer")


def _snapshot(model: keras.Model) -> tuple[list[str], list[np.ndarray], list[int]]:
    """Layer names (nested models' too), weight values, trainable variables."""

    def names(m: keras.Model) -> list[str]:
        out = []
        for layer in m.layers:
            out.append(layer.name)
            if isinstance(layer, keras.Model):
                out.extend(names(layer))
        return out

    weights = [w.copy() for w in model.get_weights()]
    return names(model), weights, [id(v) for v in model.trainable_weights]


@pytest.mark.parametrize("outer", ["seq", "fn"])
@pytest.mark.parametrize("inner", ["seq", "fn"])
def test_nested_backbone_masked_inside_outer_rebuilt_weights_shared(outer, inner):
    model = _transfer(outer, inner)
    backbone = model.get_layer(f"{inner}_backbone")
    sizes = cell_sizes(model)
    assert sizes[f"{inner}_c3"] == CellSize((8, 8), (8, 8))
    names, weights, trainable = _snapshot(model)
    x = _images(4)
    before = model(x).numpy()
    masked = insert_masks(model, [2, 8], mask_prob=0.5, seed=1)
    assert type(masked) is type(model) and masked.name == model.name
    new_backbone = masked.get_layer(f"{inner}_backbone")
    assert new_backbone is not backbone and type(new_backbone) is type(backbone)
    assert _follows(new_backbone.get_layer(f"backdrop_after_{inner}_c1")) == (
        f"{inner}_c1"
    )
    assert _follows(new_backbone.get_layer(f"backdrop_after_{inner}_c3")) == (
        f"{inner}_c3"
    )
    # The layers are the original objects, so are their variables.
    for name in (f"{inner}_c1", f"{inner}_c2", f"{inner}_bn", f"{inner}_c3"):
        assert new_backbone.get_layer(name) is backbone.get_layer(name)
    assert masked.get_layer("head") is model.get_layer("head")
    assert {id(w) for w in model.weights} <= {id(w) for w in masked.weights}
    # The original is unchanged and both compute the same, bit for bit.
    assert _snapshot(model)[0] == names
    assert not any(isinstance(layer, BackdropMasking) for layer in backbone.layers)
    for w, w0 in zip(model.get_weights(), weights, strict=True):
        np.testing.assert_array_equal(w, w0)
    assert [id(v) for v in model.trainable_weights] == trainable
    np.testing.assert_array_equal(model(x).numpy(), before)
    np.testing.assert_array_equal(masked(x).numpy(), before)
    # In training, batch statistics (last: it moves the shared BN averages).
    np.testing.assert_array_equal(
        masked(x, training=True).numpy(), model(x, training=True).numpy()
    )


def test_frozen_backbone_stays_frozen_and_training_reaches_the_original():
    model = _transfer("seq", "fn")
    backbone = model.get_layer("fn_backbone")
    backbone.trainable = False
    # A layer unfrozen inside a frozen model: still frozen through the model.
    backbone.get_layer("fn_c3").trainable = True
    masked = insert_masks(model, [4], mask_prob=0.5)
    assert masked.get_layer("fn_backbone").trainable is False
    assert backbone.get_layer("fn_c3").trainable is True
    assert [id(v) for v in masked.trainable_weights] == [
        id(v) for v in model.trainable_weights
    ]
    head = model.get_layer("head").kernel.numpy().copy()
    masked.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    x = _images(3)
    masked.fit(x, np.ones((3, 2), "float32"), epochs=1, verbose=0)
    assert not np.array_equal(model.get_layer("head").kernel.numpy(), head)
    np.testing.assert_array_equal(masked(x).numpy(), model(x).numpy())


def test_nested_mask_gradient_stays_in_one_cell():
    inputs = keras.Input((8, 8, 1))
    inner = keras.Sequential(
        [
            L.Conv2D(2, 2, strides=2, kernel_initializer="ones", name="n1"),
            L.Conv2D(2, 2, strides=2, kernel_initializer="ones", name="n2"),
        ],
        name="inner",
    )
    model = keras.Model(inputs, inner(inputs))
    masked = insert_masks(model, [2], mask_prob=0.5)
    masked.get_layer("inner").get_layer("backdrop_after_n1").pinned_index = (0, 1, 2)
    x = tf.constant(np.abs(_images(1, 8)) + 1.0)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(masked(x, training=True))
    grad = tape.gradient(loss, x).numpy()
    expected = np.zeros(grad.shape, bool)
    expected[0, 2:4, 4:6, :] = True
    np.testing.assert_array_equal(grad != 0, expected)


def test_nested_errors_name_the_layer():
    inputs = keras.Input((8, 8, 1))
    twice = keras.Sequential([L.Conv2D(1, 1, name="t1")], name="twice")
    model = keras.Model(inputs, L.Add()([twice(inputs), twice(inputs)]))
    with pytest.raises(ValueError, match="'twice' \\(Sequential\\).*more than once"):
        cell_sizes(model)
    clash = keras.Sequential([L.Conv2D(1, 1, name="same_name")], name="clash")
    x = L.Conv2D(1, 1, name="same_name")(inputs)
    model = keras.Model(inputs, clash(x))
    with pytest.raises(ValueError, match="'same_name' \\(Conv2D\\).*same name"):
        insert_masks(model, [1], mask_prob=0.5)


# --------------------------------------------------------------------------
# Keras Applications (weights=None, small inputs)


def _last(model: keras.Model) -> str:
    return model.layers[-1].name


def _stem_activation(model: keras.Model) -> str:
    # Auto-named ("activation", "activation_3", ...): found by its input.
    stem = model.get_layer("conv_bn").output
    return next(layer.name for layer in model.layers if layer.input is stem)


APPLICATIONS = {
    # MobileNetV2: the 2 px site is block 0's output (block_1_expand ...
    # block_1_pad open block 1); 8 px lands on block_5_add, not on the
    # padded block_6_pad or the expansion before it.
    "MobileNetV2": (
        96,
        {2: "expanded_conv_project_BN", 4: "block_2_add", 8: "block_5_add"},
    ),
    # EfficientNetB0: squeeze-and-excite in every block.
    "EfficientNetB0": (
        64,
        {2: "block1a_project_bn", 4: "block2b_add", 8: "block3b_add"},
    ),
    # ResNet50: conv1_relu stays the 2 px site; only pool1_pad goes.
    "ResNet50": (
        64,
        {2: "conv1_relu", 4: "conv2_block3_out", 32: "conv5_block3_out"},
    ),
    # ConvNeXtTiny: nested Sequential stem and downsampling blocks; the
    # deepest 4 px layer is the LayerNormalization inside the first
    # downsampling block.
    "ConvNeXtTiny": (
        64,
        {
            4: "convnext_tiny_downsampling_layernorm_0",
            8: "convnext_tiny_downsampling_layernorm_1",
            32: _last,
        },
    ),
    # MobileNetV3: hard-sigmoid written with keras.ops, squeeze-and-excite.
    "MobileNetV3Small": (
        64,
        {
            2: _stem_activation,
            4: "expanded_conv_project_bn",
            8: "expanded_conv_2_add",
            16: "expanded_conv_7_add",
        },
    ),
    "MobileNetV3Large": (
        64,
        {4: "expanded_conv_2_add", 8: "expanded_conv_5_add"},
    ),
}


def _application(name: str, side: int) -> keras.Model:
    keras.utils.set_random_seed(0)
    return getattr(keras.applications, name)(
        weights=None, include_top=False, input_shape=(side, side, 3)
    )


def _masks_in(model: keras.Model) -> dict[str, keras.layers.Layer]:
    masks = {}
    for layer in model.layers:
        if isinstance(layer, BackdropMasking):
            masks[layer.name] = layer
        elif isinstance(layer, keras.Model):
            masks.update(_masks_in(layer))
    return masks


@pytest.mark.parametrize("name", list(APPLICATIONS))
def test_applications_masks_where_the_rule_says_forward_identical(name):
    side, expected = APPLICATIONS[name]
    model = _application(name, side)
    expected = {
        size: after(model) if callable(after) else after
        for size, after in expected.items()
    }
    names, weights, _ = _snapshot(model)
    x = np.random.default_rng(0).uniform(0, 255, (2, side, side, 3)).astype("float32")
    before = keras.ops.convert_to_numpy(model(x, training=False))
    masked = insert_masks(model, list(expected), mask_prob=0.5, seed=1)
    masks = _masks_in(masked)
    assert {_follows(m) for m in masks.values()} == set(expected.values())
    for after in expected.values():
        assert _follows(masks[f"backdrop_after_{after}"]) == after
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(masked(x, training=False)), before
    )
    assert _snapshot(model)[0] == names
    for w, w0 in zip(model.get_weights(), weights, strict=True):
        np.testing.assert_array_equal(w, w0)
    assert {id(w) for w in model.weights} <= {id(w) for w in masked.weights}
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(model(x, training=False)), before
    )


def test_no_application_site_is_a_padded_map():
    for name in ("MobileNetV2", "EfficientNetB0", "ResNet50", "MobileNetV3Small"):
        side, _ = APPLICATIONS[name]
        model = _application(name, side)
        sizes = cell_sizes(model)
        # Side 1 left out: ResNet50's only 1 px layer is its input padding.
        sides = sorted({round(c.side) for c in sizes.values()} - {1})
        masked = insert_masks(model, sides, mask_prob=0.5)
        for mask in _masks_in(masked).values():
            after = _follows(mask)
            assert not after.endswith("pad"), (name, after)


@pytest.mark.parametrize("outer", ["seq", "fn"])
def test_mobilenetv2_transfer_learning_model(outer):
    backbone = _application("MobileNetV2", 96)
    backbone.trainable = False
    head = [L.GlobalAveragePooling2D(name="gap"), L.Dense(4, name="logits")]
    if outer == "seq":
        model = keras.Sequential([backbone, *head])
    else:
        inputs = keras.Input((96, 96, 3))
        x = backbone(inputs)
        for layer in head:
            x = layer(x)
        model = keras.Model(inputs, x)
    names, weights, trainable = _snapshot(model)
    x = np.random.default_rng(1).uniform(0, 255, (2, 96, 96, 3)).astype("float32")
    before = keras.ops.convert_to_numpy(model(x))
    masked = insert_masks(model, [8, 32], mask_prob=[0.3, 0.9], seed=2)
    inner = masked.get_layer(backbone.name)
    assert inner is not backbone and inner.trainable is False
    assert _follows(inner.get_layer("backdrop_after_block_5_add")) == "block_5_add"
    assert _follows(inner.get_layer("backdrop_after_out_relu")) == "out_relu"
    assert masked.get_layer("logits") is model.get_layer("logits")
    assert [id(v) for v in masked.trainable_weights] == trainable
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(masked(x)), before)
    assert _snapshot(model)[0] == names
    for w, w0 in zip(model.get_weights(), weights, strict=True):
        np.testing.assert_array_equal(w, w0)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model(x)), before)
