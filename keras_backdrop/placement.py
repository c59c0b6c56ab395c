"""Automatic placement of backdrop masks in a convolutional model.

Backdrop's multi-scale recipe puts a `BackdropMasking` after the layer whose
feature-map cell covers about one feature of the size of interest: the
gradient is then masked patch by patch, each patch about one feature across.
`cell_sizes` reports, for every layer of a model, the side of its output
cell (the cumulative stride, in input pixels) and its receptive field;
`insert_masks` uses it to place one mask per feature size in a new model
that shares the original's layers and weights.

The geometry is computed per spatial axis. A convolution or a pooling with
kernel ``k``, stride ``s`` and dilation ``d`` on a map whose cells are
``j`` input pixels apart, each seeing ``r`` input pixels, gives cells
``j * s`` apart seeing ``r + (k - 1) * d * j`` pixels. Padding (``"same"``,
``"valid"``, ``"causal"``, zero padding, cropping) shifts where the cells
sit but not these sizes.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import keras

from keras_backdrop.layer import BackdropMasking

__all__ = ["CellSize", "cell_sizes", "insert_masks"]


class CellSize(NamedTuple):
    """The geometry of one layer's output, in input pixels per spatial axis.

    Attributes:
        stride: Per spatial axis, the distance between neighbouring output
            cells (the cumulative stride): the side of the input patch a
            cell stands for.
        receptive_field: Per spatial axis, the side of the input region a
            cell depends on.
    """

    stride: tuple[int, ...]
    receptive_field: tuple[int, ...]

    @property
    def side(self) -> float:
        """The cell side: the geometric mean of `stride` over the axes.

        It is the stride itself when the stride is the same on every axis;
        `insert_masks` compares it with the feature sizes.
        """
        return math.prod(self.stride) ** (1.0 / len(self.stride))


class _Geometry(NamedTuple):
    stride: tuple[int, ...]
    receptive_field: tuple[int, ...]
    channels_first: bool


# The output of a layer that ends the spatial part (flatten, global
# pooling, ...): not a feature map any more.
_END = object()


def _layers(*names: str) -> tuple[type, ...]:
    """The Keras layer classes of these names that this Keras version has."""
    return tuple(getattr(keras.layers, n) for n in names if hasattr(keras.layers, n))


_CONVOLUTIONS = _layers(
    "Conv1D",
    "Conv2D",
    "Conv3D",
    "SeparableConv1D",
    "SeparableConv2D",
    "DepthwiseConv1D",
    "DepthwiseConv2D",
)
_POOLINGS = _layers(
    "MaxPooling1D",
    "MaxPooling2D",
    "MaxPooling3D",
    "AveragePooling1D",
    "AveragePooling2D",
    "AveragePooling3D",
)
_UNSUPPORTED = _layers(
    "Conv1DTranspose",
    "Conv2DTranspose",
    "Conv3DTranspose",
    "UpSampling1D",
    "UpSampling2D",
    "UpSampling3D",
    "Resizing",
)
_ENDS = _layers(
    "Flatten",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalAveragePooling3D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "GlobalMaxPooling3D",
    "Reshape",
    "Permute",
)
# Layers that keep every position where it is: elementwise or per-position
# operations, normalisations, dropouts, padding and cropping, and the
# merges of maps on one grid.
_SAME_GRID = (BackdropMasking,) + _layers(
    "Activation",
    "ReLU",
    "LeakyReLU",
    "PReLU",
    "ELU",
    "Softmax",
    "BatchNormalization",
    "LayerNormalization",
    "GroupNormalization",
    "UnitNormalization",
    "Dropout",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "SpatialDropout3D",
    "GaussianNoise",
    "GaussianDropout",
    "AlphaDropout",
    "ActivityRegularization",
    "Identity",
    "Rescaling",
    "Normalization",
    "Masking",
    "ZeroPadding1D",
    "ZeroPadding2D",
    "ZeroPadding3D",
    "Cropping1D",
    "Cropping2D",
    "Cropping3D",
    "Dense",
    "Add",
    "Subtract",
    "Multiply",
    "Average",
    "Maximum",
    "Minimum",
    "Concatenate",
)


class _Placed(NamedTuple):
    """A layer with a feature-map output, in graph order."""

    layer: keras.layers.Layer
    geometry: _Geometry
    rank: int


def _model_repr(model: Any) -> str:
    name = getattr(model, "name", None)
    return f"<{type(model).__name__} {name!r}>" if name else repr(model)


def _unsupported(model: keras.Model, layer: Any, why: str) -> ValueError:
    return ValueError(
        f"Invalid value for argument `model`: layer '{layer.name}' "
        f"({type(layer).__name__}) is not supported: {why}. "
        f"Received: model={_model_repr(model)}"
    )


def _graph(model: keras.Model) -> Any:
    """The functional graph of ``model`` (Sequential or functional)."""
    if not isinstance(model, keras.Model):
        raise TypeError(
            "Invalid type for argument `model`: expected a Sequential or "
            f"functional `keras.Model`. Received: model={model!r}"
        )
    if isinstance(model, keras.Sequential):
        graph = getattr(model, "_functional", None)
        if graph is None:
            raise ValueError(
                "Invalid value for argument `model`: a Sequential model must "
                "be built with a known input shape (start it with "
                "`keras.Input(shape)`). "
                f"Received: model={_model_repr(model)}"
            )
        return graph
    if not hasattr(model, "_nodes_by_depth"):
        raise TypeError(
            "Invalid type for argument `model`: expected a Sequential or "
            "functional `keras.Model`; a subclassed model has no graph to "
            f"read. Received: model={_model_repr(model)}"
        )
    return model


def _walk(model: keras.Model) -> list[_Placed]:
    """The layers with a feature-map output, in graph order."""
    graph = _graph(model)
    if len(graph.inputs) != 1:
        raise ValueError(
            "Invalid value for argument `model`: expected a model with one "
            f"input. Received: model={_model_repr(model)} with "
            f"{len(graph.inputs)} inputs"
        )
    rank = len(graph.inputs[0].shape)
    n = rank - 2
    if not 1 <= n <= 3:
        raise ValueError(
            "Invalid value for argument `model`: expected an input of rank "
            "3, 4 or 5 (batch, 1 to 3 spatial axes, channels). "
            f"Received: model={_model_repr(model)} with an input of shape "
            f"{tuple(graph.inputs[0].shape)}"
        )
    channels_first = keras.config.image_data_format() == "channels_first"
    geometry: dict[int, Any] = {
        id(graph.inputs[0]): _Geometry((1,) * n, (1,) * n, channels_first)
    }
    placed: list[_Placed] = []
    seen: set[int] = set()
    for depth in sorted(graph._nodes_by_depth, reverse=True):
        for node in graph._nodes_by_depth[depth]:
            if node.is_input:
                continue
            layer = node.operation
            ins = [geometry.get(id(t), _END) for t in node.input_tensors]
            if all(g is _END for g in ins):
                out = _END
            elif any(g is _END for g in ins):
                raise _unsupported(
                    model,
                    layer,
                    "it combines a feature map with a tensor that is not one",
                )
            else:
                out = _layer_geometry(model, layer, ins, n, node.outputs)
            for t in node.outputs:
                geometry[id(t)] = out
            if out is _END:
                continue
            if id(layer) in seen:
                raise _unsupported(
                    model, layer, "it is called more than once in the model"
                )
            seen.add(id(layer))
            placed.append(_Placed(layer, out, len(node.outputs[0].shape)))
    return placed


def _layer_geometry(
    model: keras.Model,
    layer: Any,
    ins: list[_Geometry],
    n: int,
    outputs: list[Any],
) -> Any:
    """The output geometry of ``layer`` given its inputs' (or `_END`)."""
    if isinstance(layer, keras.Model):
        raise _unsupported(
            model,
            layer,
            "nested models are not read; build the model from the inner "
            "model's layers, or place the masks in the inner model",
        )
    if isinstance(layer, _UNSUPPORTED):
        raise _unsupported(
            model, layer, "it upsamples, so its cells are not a patch grid"
        )
    if isinstance(layer, _ENDS):
        return _END
    if isinstance(layer, _CONVOLUTIONS + _POOLINGS):
        if isinstance(layer, _CONVOLUTIONS):
            kernel, dilation = layer.kernel_size, layer.dilation_rate
        else:
            kernel, dilation = layer.pool_size, (1,) * len(layer.pool_size)
        if len(kernel) != n:
            raise _unsupported(
                model,
                layer,
                f"it has {len(kernel)} spatial axes and the model's input {n}",
            )
        (g,) = ins
        return _Geometry(
            tuple(j * s for j, s in zip(g.stride, layer.strides, strict=True)),
            tuple(
                r + (k - 1) * d * j
                for r, k, d, j in zip(
                    g.receptive_field, kernel, dilation, g.stride, strict=True
                )
            ),
            layer.data_format == "channels_first",
        )
    if isinstance(layer, _SAME_GRID):
        if len(outputs[0].shape) != n + 2:
            return _END
        if len({g.stride for g in ins}) > 1:
            raise _unsupported(
                model,
                layer,
                "it merges feature maps of different strides "
                f"{[g.stride for g in ins]}",
            )
        # Branches on one grid: a cell sees what either branch sees.
        return _Geometry(
            ins[0].stride,
            tuple(map(max, zip(*(g.receptive_field for g in ins), strict=True))),
            ins[0].channels_first,
        )
    raise _unsupported(
        model,
        layer,
        "its effect on the cell geometry is unknown (supported: "
        "convolutions, poolings, flatten and global poolings, and layers "
        "that keep every position in place)",
    )


def cell_sizes(model: keras.Model) -> dict[str, CellSize]:
    """Each layer's output cell side and receptive field, in input pixels.

    Reads a Sequential or functional model with one input of 1 to 3
    spatial axes (``(batch, *spatial, channels)``, or channels first).
    Convolutions (also separable and depthwise) and poolings change the
    geometry; layers that keep every position in place (activations,
    normalisations, dropouts, padding, cropping, `Dense` on a feature map,
    `BackdropMasking`, and merges such as `Add` or `Concatenate` of maps
    with one stride, whose receptive fields are then joined) keep it;
    `Flatten`, global poolings, `Reshape` and `Permute` end the spatial
    part, and the layers after them are not reported.

    Args:
        model: A built Sequential or functional `keras.Model`.

    Returns:
        An ordered dict, in graph order from the input, mapping every
        layer with a feature-map output (the input layer excluded) to its
        `CellSize`, with one entry per spatial axis.

    Raises:
        TypeError: If `model` is not a Sequential or functional model.
        ValueError: If the model is not built, has several inputs or an
            input without 1 to 3 spatial axes, or holds a layer that is
            not supported (upsampling, transposed convolutions, nested
            models, unknown layers, a layer called twice, or a merge of
            maps with different strides); the message names the layer.

    Example:
    >>> model = keras.Sequential([
    ...     keras.Input((64, 64, 1)),
    ...     keras.layers.Conv2D(4, 3, strides=2, name="c1"),
    ...     keras.layers.MaxPooling2D(2, name="p1"),
    ...     keras.layers.Conv2D(4, 3, dilation_rate=2, name="c2"),
    ...     keras.layers.GlobalAveragePooling2D(),
    ... ])
    >>> for name, cell in cell_sizes(model).items():
    ...     print(name, cell.stride, cell.receptive_field)
    c1 (2, 2) (3, 3)
    p1 (4, 4) (5, 5)
    c2 (4, 4) (21, 21)
    """
    return {
        p.layer.name: CellSize(p.geometry.stride, p.geometry.receptive_field)
        for p in _walk(model)
    }


def _check_feature_sizes(feature_sizes: Any) -> list[float]:
    if isinstance(feature_sizes, numbers.Real) and not isinstance(feature_sizes, bool):
        feature_sizes = [feature_sizes]
    if isinstance(feature_sizes, (str, bytes)) or not isinstance(
        feature_sizes, Sequence
    ):
        raise TypeError(
            "Invalid type for argument `feature_sizes`: expected a number or "
            "a sequence of numbers (input pixels). "
            f"Received: feature_sizes={feature_sizes!r}"
        )
    if any(
        isinstance(s, bool) or not isinstance(s, numbers.Real) for s in feature_sizes
    ):
        raise TypeError(
            "Invalid type for argument `feature_sizes`: expected numbers "
            f"(input pixels). Received: feature_sizes={feature_sizes!r}"
        )
    sizes = [float(s) for s in feature_sizes]
    if not sizes or any(not (math.isfinite(s) and s > 0) for s in sizes):
        raise ValueError(
            "Invalid value for argument `feature_sizes`: expected one or more "
            "positive, finite sizes in input pixels. "
            f"Received: feature_sizes={feature_sizes!r}"
        )
    return sizes


def _check_mask_prob(mask_prob: Any, count: int) -> list[Any]:
    if mask_prob is None:
        return [None] * count
    single = not isinstance(mask_prob, Sequence) or isinstance(mask_prob, str)
    probs = [mask_prob] * count if single else list(mask_prob)
    if any(isinstance(p, bool) or not isinstance(p, numbers.Real) for p in probs):
        raise TypeError(
            "Invalid type for argument `mask_prob`: expected a number or one "
            f"number per feature size. Received: mask_prob={mask_prob!r}"
        )
    if len(probs) != count:
        raise ValueError(
            "Invalid value for argument `mask_prob`: expected one number or "
            f"one per feature size ({count}). Received: mask_prob={mask_prob!r}"
        )
    if any(not 0.0 <= p <= 1.0 for p in probs):
        raise ValueError(
            "Invalid value for argument `mask_prob`: expected numbers in "
            f"[0, 1]. Received: mask_prob={mask_prob!r}"
        )
    return [float(p) for p in probs]


def _closest(placed: list[_Placed], size: float) -> _Placed:
    """The layer whose cell side is log-closest to ``size``; ties: deepest."""
    target = math.log(size)
    best, best_distance = None, math.inf
    for p in placed:
        distance = abs(math.log(CellSize(*p.geometry[:2]).side) - target)
        # <= with a tolerance: on a tie the later (deeper) layer wins.
        if distance <= best_distance + 1e-9:
            best, best_distance = p, min(distance, best_distance)
    return best


def _default_mask_axes(p: _Placed) -> tuple[int, ...]:
    n = p.rank - 2
    first = 2 if p.geometry.channels_first else 1
    return (0, *range(first, first + n))


def insert_masks(
    model: keras.Model,
    feature_sizes: float | Sequence[float],
    mask_prob: float | Sequence[float] | None = None,
    *,
    layer_class: Callable[..., keras.layers.Layer] = BackdropMasking,
    **layer_kwargs: Any,
) -> keras.Model:
    """A new model with one backdrop mask per feature size.

    For each feature size (in input pixels), a mask layer named
    ``backdrop_after_<layer name>`` goes after the layer whose output cell
    side (`cell_sizes`; the geometric mean over the axes if they differ)
    is closest to that size on a log scale. On a tie (for example a
    convolution followed by its activation or normalisation, or a stride-1
    convolution) it goes after the deepest of them, i.e. the last in graph
    order before the global pooling or flatten. Where a layer's output
    feeds several layers, all of them read the masked output.

    The new model calls the original's layers (same objects, same weights:
    training one trains the other) on new inputs; the original model is
    left unchanged. Backdrop masks are the identity in the forward pass,
    so both models compute the same outputs.

    Args:
        model: A built Sequential or functional `keras.Model`, as read by
            `cell_sizes`.
        feature_sizes: A size or a sequence of sizes, in input pixels, e.g.
            ``[32, 256]`` for features about 32 and 256 pixels across. Two
            sizes that land after the same layer are an error.
        mask_prob: The mask probability, one number for every mask or one
            per feature size; None passes none (then give ``keep_count`` in
            `layer_kwargs`).
        layer_class: The mask layer class, or any callable that returns a
            layer, called once per mask as ``layer_class(mask_prob=...,
            mask_axes=..., name=..., **layer_kwargs)`` (``mask_prob`` left
            out when None). Benchmarks use it to put another layer at the
            same places.
        **layer_kwargs: Further arguments for every mask layer, e.g.
            ``seed`` or ``normalize``. A ``mask_axes`` given here replaces
            the default, which is the batch axis and the spatial axes (a
            mask per sample and position, broadcast over the channels).
            A ``seed`` is given to every mask as is; to seed each mask on
            its own, pass a `layer_class` that picks the seed by ``name``.

    Returns:
        A new model of the same kind (Sequential or functional) with the
        masks in place.

    Raises:
        TypeError: If `model` is not a Sequential or functional model, if
            `feature_sizes` or `mask_prob` are not numbers, or if
            `layer_kwargs` holds ``name`` (the names are set here).
        ValueError: If a feature size is not positive and finite, if
            `mask_prob` is outside [0, 1] or has not one value per size,
            if two sizes land after the same layer, if the model has no
            feature-map layer, or for the models `cell_sizes` refuses.

    Example:
    >>> model = keras.Sequential([
    ...     keras.Input((64, 64, 1)),
    ...     keras.layers.Conv2D(4, 2, strides=2, name="c1"),
    ...     keras.layers.Conv2D(4, 2, strides=2, name="c2"),
    ...     keras.layers.Conv2D(4, 2, strides=2, name="c3"),
    ...     keras.layers.GlobalAveragePooling2D(name="pool"),
    ... ])
    >>> masked = insert_masks(model, [2, 7], mask_prob=[0.3, 0.9], seed=1)
    >>> print(*(layer.name for layer in masked.layers))
    c1 backdrop_after_c1 c2 c3 backdrop_after_c3 pool
    >>> masked.get_layer("c2") is model.get_layer("c2")
    True
    """
    sizes = _check_feature_sizes(feature_sizes)
    probs = _check_mask_prob(mask_prob, len(sizes))
    if "name" in layer_kwargs:
        raise TypeError(
            "Invalid argument `name`: insert_masks names each mask "
            "'backdrop_after_<layer name>'. "
            f"Received: name={layer_kwargs['name']!r}"
        )
    if not callable(layer_class):
        raise TypeError(
            "Invalid type for argument `layer_class`: expected a layer class "
            f"or a callable returning a layer. Received: layer_class={layer_class!r}"
        )
    placed = _walk(model)
    if not placed:
        raise ValueError(
            "Invalid value for argument `model`: it has no layer with a "
            "feature-map output to place a mask after. "
            f"Received: model={_model_repr(model)}"
        )
    masks: dict[int, keras.layers.Layer] = {}
    chosen: dict[int, float] = {}
    for size, prob in zip(sizes, probs, strict=True):
        p = _closest(placed, size)
        if id(p.layer) in chosen:
            raise ValueError(
                "Invalid value for argument `feature_sizes`: the sizes "
                f"{chosen[id(p.layer)]:g} and {size:g} both land after layer "
                f"'{p.layer.name}'; give sizes of distinct cell sides "
                f"(see cell_sizes). Received: feature_sizes={feature_sizes!r}"
            )
        chosen[id(p.layer)] = size
        kwargs = {"mask_axes": _default_mask_axes(p), **layer_kwargs}
        if prob is not None:
            kwargs["mask_prob"] = prob
        masks[id(p.layer)] = layer_class(
            name=f"backdrop_after_{p.layer.name}", **kwargs
        )

    if isinstance(model, keras.Sequential):
        source = model.inputs[0]
        layers: list[Any] = [keras.Input(batch_shape=source.shape, dtype=source.dtype)]
        for layer in model.layers:
            layers.append(layer)
            if id(layer) in masks:
                layers.append(masks[id(layer)])
        return keras.Sequential(layers, name=model.name, trainable=model.trainable)

    def call_function(layer: Any, *args: Any, **kwargs: Any) -> Any:
        outputs = layer(*args, **kwargs)
        if id(layer) in masks:
            outputs = masks[id(layer)](outputs)
        return outputs

    return keras.models.clone_model(
        model, clone_function=lambda layer: layer, call_function=call_function
    )
