"""Automatic placement of backdrop masks in a convolutional model.

The cell geometry it reads is explained in the user guide (`docs/layer.md`).
"""

from __future__ import annotations

import math
import numbers
from collections import Counter
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
        """The cell side: the geometric mean of `stride` over the axes."""
        return math.prod(self.stride) ** (1.0 / len(self.stride))


class _Geometry(NamedTuple):
    stride: tuple[int, ...]
    receptive_field: tuple[int, ...]
    # Where cell 0's field starts, per axis: merges need it to join fields
    # that are not aligned alike.
    start: tuple[int, ...]
    channels_first: bool


# The output of a layer that ends the spatial part (flatten, global pooling).
_END = object()


def _layers(names: str) -> tuple[type, ...]:
    """The Keras layer classes of these names that this Keras version has."""
    return tuple(
        getattr(keras.layers, n) for n in names.split() if hasattr(keras.layers, n)
    )


_CONVOLUTIONS = _layers(
    "Conv1D Conv2D Conv3D SeparableConv1D SeparableConv2D"
    " DepthwiseConv1D DepthwiseConv2D"
)
_POOLINGS = _layers(
    "MaxPooling1D MaxPooling2D MaxPooling3D"
    " AveragePooling1D AveragePooling2D AveragePooling3D"
)
_PADDINGS = _layers("ZeroPadding1D ZeroPadding2D ZeroPadding3D")
_CROPPINGS = _layers("Cropping1D Cropping2D Cropping3D")
_UNSUPPORTED = _layers(
    "Conv1DTranspose Conv2DTranspose Conv3DTranspose"
    " UpSampling1D UpSampling2D UpSampling3D Resizing"
)
_ENDS = _layers(
    "Flatten GlobalAveragePooling1D GlobalAveragePooling2D GlobalAveragePooling3D"
    " GlobalMaxPooling1D GlobalMaxPooling2D GlobalMaxPooling3D Reshape Permute"
)
# Besides maps on one grid, these may take a tensor without spatial extent
# (squeeze-and-excite's per-channel scale), broadcast over the positions.
_ELEMENTWISE_MERGES = _layers("Add Subtract Multiply Average Maximum Minimum")
# Layers that keep every position where it is.
_SAME_GRID = (
    (BackdropMasking,)
    + _ELEMENTWISE_MERGES
    + _layers(
        "Activation ReLU LeakyReLU PReLU ELU Softmax"
        " BatchNormalization LayerNormalization GroupNormalization"
        " UnitNormalization Dropout SpatialDropout1D SpatialDropout2D"
        " SpatialDropout3D GaussianNoise GaussianDropout AlphaDropout"
        " ActivityRegularization Identity Rescaling Normalization Masking"
        " Dense Concatenate"
    )
)
# ConvNeXt's per-position layers, not in the public API: matched by name.
_APPLICATION_SAME_GRID = frozenset(
    {
        "keras.src.applications.convnext.LayerScale",
        "keras.src.applications.convnext.StochasticDepth",
    }
)
# Elementwise `keras.ops` a functional model may hold (``x + 3.0``), by
# class name; they broadcast as NumPy does.
_ELEMENTWISE_OPS = frozenset(
    (
        "Abs Absolute Add Cast Clip Divide Elu Erf Exp Gelu HardSigmoid HardSilu"
        " HardSwish LeakyRelu Log Maximum Minimum Multiply Negative Power Relu"
        " Relu6 Selu Sigmoid Silu Softplus Sqrt Square Subtract Swish Tanh"
        " TrueDivide"
    ).split()
)


def _qualified_name(obj: Any) -> str:
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def _is_elementwise_op(operation: Any) -> bool:
    return (
        not isinstance(operation, keras.layers.Layer)
        and type(operation).__module__.startswith("keras.src.ops.")
        and type(operation).__name__ in _ELEMENTWISE_OPS
    )


class _Placed(NamedTuple):
    """A layer (or operation) with a feature-map output, in graph order."""

    layer: Any
    geometry: _Geometry
    # The nested models holding the layer, outermost first: rebuilt around a mask.
    owners: tuple[keras.Model, ...]
    # Canonical tensor keys (`_Walk.key`) of the inputs and of the output.
    inputs: tuple[int, ...]
    output: int


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
    """The functional graph of a Sequential or functional model."""
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


class _Walk:
    """Reads a model's graph, nested models included, into `_Placed` entries."""

    def __init__(self, model: keras.Model) -> None:
        self.model = model
        self.placed: list[_Placed] = []
        self.geometry: dict[int, _Geometry] = {}
        self.alias: dict[int, int] = {}
        self.consumers: Counter[int] = Counter()
        self.seen: set[int] = set()
        self.names: dict[str, Any] = {}
        graph = _graph(model)
        if len(graph.inputs) != 1:
            raise ValueError(
                "Invalid value for argument `model`: expected a model with one "
                f"input. Received: model={_model_repr(model)} with "
                f"{len(graph.inputs)} inputs"
            )
        self.n = len(graph.inputs[0].shape) - 2
        if not 1 <= self.n <= 3:
            raise ValueError(
                "Invalid value for argument `model`: expected an input of rank "
                "3, 4 or 5 (batch, 1 to 3 spatial axes, channels). "
                f"Received: model={_model_repr(model)} with an input of shape "
                f"{tuple(graph.inputs[0].shape)}"
            )
        channels_first = keras.config.image_data_format() == "channels_first"
        ones, zeros = (1,) * self.n, (0,) * self.n
        source = id(graph.inputs[0])
        self.geometry[source] = _Geometry(ones, ones, zeros, channels_first)
        # Whoever calls the model reads its outputs.
        self.consumers.update(self._graph_walk(graph, [source], ()))

    # A tensor seen on both sides of a nested model's boundary keeps one key.
    def key(self, tensor: Any) -> int:
        return self.alias.get(id(tensor), id(tensor))

    def _graph_walk(
        self, graph: Any, input_keys: list[int], owners: tuple[keras.Model, ...]
    ) -> list[int]:
        """Walks one (possibly nested) graph; returns its outputs' keys."""
        for tensor, key in zip(graph.inputs, input_keys, strict=True):
            self.alias[id(tensor)] = key
        for depth in sorted(graph._nodes_by_depth, reverse=True):
            for node in graph._nodes_by_depth[depth]:
                if not node.is_input:
                    self._node(node, owners)
        return [self.key(t) for t in graph.outputs]

    def _node(self, node: Any, owners: tuple[keras.Model, ...]) -> None:
        layer = node.operation
        keys = [self.key(t) for t in node.input_tensors]
        ins = [self.geometry.get(k, _END) for k in keys]
        if isinstance(layer, keras.Model):
            if all(g is _END for g in ins):
                return  # A head on pooled features: nothing spatial inside.
            self._claim(layer)
            if not (
                isinstance(layer, keras.Sequential) or hasattr(layer, "_nodes_by_depth")
            ):
                raise _unsupported(
                    self.model,
                    layer,
                    "it is a nested subclassed model, whose graph cannot be read",
                )
            inner = _graph(layer)
            outputs = self._graph_walk(inner, keys, (*owners, layer))
            for tensor, key in zip(node.outputs, outputs, strict=True):
                self.alias[id(tensor)] = key
            return
        self.consumers.update(keys)
        if all(g is _END for g in ins):
            return
        maps = [g for g in ins if g is not _END]
        if len(maps) < len(ins):
            self._check_per_channel(layer, node)
        out = _layer_geometry(self.model, layer, maps, self.n, node)
        if out is _END:
            return
        for tensor in node.outputs:
            self.geometry[id(tensor)] = out
        self._claim(layer)
        self.placed.append(
            _Placed(layer, out, owners, tuple(keys), id(node.outputs[0]))
        )

    def _claim(self, layer: Any) -> None:
        """Refuses a layer met twice, or two layers of one name."""
        if id(layer) in self.seen:
            raise _unsupported(
                self.model, layer, "it is called more than once in the model"
            )
        self.seen.add(id(layer))
        other = self.names.setdefault(layer.name, layer)
        if other is not layer:
            # Layers are reported and masks named by layer name.
            raise _unsupported(
                self.model,
                layer,
                "another layer of the model (in a nested model) has the same "
                "name; give the layers distinct names",
            )

    def _check_per_channel(self, layer: Any, node: Any) -> None:
        """Accepts a merge of maps with tensors of no spatial extent."""
        merge = isinstance(layer, _ELEMENTWISE_MERGES)
        if merge or _is_elementwise_op(layer):
            rank = len(node.outputs[0].shape)
            channels_first = next(
                self.geometry[k].channels_first
                for k in map(self.key, node.input_tensors)
                if k in self.geometry
            )
            spatial = _spatial_axes(self.n, channels_first)
            if all(
                self.key(t) in self.geometry
                or _no_spatial_extent(tuple(t.shape), rank, spatial, merge)
                for t in node.input_tensors
            ):
                return
        raise _unsupported(
            self.model,
            layer,
            "it combines a feature map with a tensor that is neither a "
            "feature map nor a tensor without spatial extent (such as a "
            "per-channel scale of shape (batch, 1, 1, channels) or "
            "(batch, channels))",
        )


def _no_spatial_extent(
    shape: tuple[Any, ...], rank: int, spatial: range, merge: bool
) -> bool:
    """Whether a tensor of ``shape`` broadcasts over every position."""
    if len(shape) > rank:
        return False
    missing = (1,) * (rank - len(shape))
    # Keras merges expand a lower rank after the batch axis ((B, C) becomes
    # (B, 1, 1, C)); operations broadcast as NumPy does.
    if merge and shape:
        aligned = (shape[0], *missing, *shape[1:])
    else:
        aligned = (*missing, *shape)
    return all(aligned[axis] == 1 for axis in spatial)


def _left_padding(
    padding: str, size: int | None, kernel: int, stride: int, dilation: int
) -> int:
    """The zeros a window op adds before the first input position."""
    extent = (kernel - 1) * dilation + 1
    if padding == "causal":
        return extent - 1
    if padding != "same":
        return 0
    if stride == 1:
        total = extent - 1
    elif size is None:  # Unknown: taken as a multiple of the stride.
        total = max(extent - stride, 0)
    else:
        total = max((-(-size // stride) - 1) * stride + extent - size, 0)
    # Every backend puts the odd zero at the end, as TensorFlow does.
    return total // 2


def _spatial_axes(n: int, channels_first: bool) -> range:
    first = 2 if channels_first else 1
    return range(first, first + n)


def _layer_geometry(
    model: keras.Model,
    layer: Any,
    ins: list[_Geometry],
    n: int,
    node: Any,
) -> Any:
    """The output geometry of ``layer`` given its feature-map inputs'."""
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
        channels_first = layer.data_format == "channels_first"
        shape = node.input_tensors[0].shape
        sizes = [shape[a] for a in _spatial_axes(n, channels_first)]
        left = tuple(
            _left_padding(layer.padding, size, k, s, d)
            for size, k, s, d in zip(
                sizes, kernel, layer.strides, dilation, strict=True
            )
        )
        return _Geometry(
            tuple(j * s for j, s in zip(g.stride, layer.strides, strict=True)),
            tuple(
                r + (k - 1) * d * j
                for r, k, d, j in zip(
                    g.receptive_field, kernel, dilation, g.stride, strict=True
                )
            ),
            tuple(a - p * j for a, p, j in zip(g.start, left, g.stride, strict=True)),
            channels_first,
        )
    if isinstance(layer, _PADDINGS + _CROPPINGS):
        (g,) = ins
        if isinstance(layer, _PADDINGS):
            pairs, sign = layer.padding, -1
        else:
            pairs, sign = layer.cropping, 1
        if n == 1:
            pairs = (pairs,)  # The 1D layers hold one (before, after) pair.
        return g._replace(
            start=tuple(
                a + sign * before * j
                for a, (before, _), j in zip(g.start, pairs, g.stride, strict=True)
            )
        )
    if (
        isinstance(layer, _SAME_GRID)
        or _qualified_name(layer) in _APPLICATION_SAME_GRID
        or _is_elementwise_op(layer)
    ):
        rank = len(node.outputs[0].shape)
        if rank != n + 2:
            return _END
        if len({g.stride for g in ins}) > 1:
            raise _unsupported(
                model,
                layer,
                "it merges feature maps of different strides "
                f"{[g.stride for g in ins]}",
            )
        if isinstance(layer, keras.layers.Concatenate) and layer.axis % rank != (
            1 if ins[0].channels_first else rank - 1
        ):
            raise _unsupported(
                model,
                layer,
                f"it concatenates along axis {layer.axis}, not the channels",
            )
        # A cell sees the union of its branches' fields, wider than the
        # widest when they are not aligned alike.
        ends = [[a + r for a, r in zip(g.start, g.receptive_field)] for g in ins]
        start = tuple(map(min, zip(*(g.start for g in ins))))
        field = tuple(max(e) - a for e, a in zip(zip(*ends), start))
        return _Geometry(ins[0].stride, field, start, ins[0].channels_first)
    raise _unsupported(
        model,
        layer,
        "its effect on the cell geometry is unknown (supported: "
        "convolutions, poolings, padding, cropping, flatten and global "
        "poolings, and layers that keep every position in place)",
    )


def _mask_sites(walk: _Walk) -> list[_Placed]:
    """The entries a mask may follow: never a padded or cropped map."""
    # Nor the pointwise expansion (and its per-position layers) that feeds a
    # padding and opens the next block: the site is then the block input.
    producer = {p.output: p for p in walk.placed}
    excluded: set[int] = set()
    for p in walk.placed:
        if not isinstance(p.layer, _PADDINGS + _CROPPINGS):
            continue
        excluded.add(id(p.layer))
        (key,) = (k for k in p.inputs if k in walk.geometry)
        run: list[_Placed] = []
        q = producer.get(key)
        # Back along the unbranched run of layers that keep the geometry,
        # up to and including the nearest pointwise convolution.
        while q is not None:
            maps = [k for k in q.inputs if k in walk.geometry]
            if (
                len(maps) != 1
                or walk.consumers[q.output] != 1
                or q.geometry[:3] != walk.geometry[maps[0]][:3]
            ):
                break
            run.append(q)
            # A convolution (or Dense) keeping the geometry is pointwise.
            if isinstance(q.layer, _CONVOLUTIONS + _layers("Dense")):
                excluded.update(id(r.layer) for r in run)
                break
            q = producer.get(maps[0])
    return [p for p in walk.placed if id(p.layer) not in excluded]


def cell_sizes(model: keras.Model) -> dict[str, CellSize]:
    """Each layer's output cell side and receptive field, in input pixels.

    Nested Sequential and functional models are read through; layers
    after `Flatten`, a global pooling, `Reshape` or `Permute` are not
    reported. The supported layers are listed in the user guide.

    Args:
        model: A built Sequential or functional `keras.Model` with one
            input of 1 to 3 spatial axes.

    Returns:
        A dict, in graph order, from every layer with a feature-map
        output (the input excluded) to its `CellSize`.

    Raises:
        TypeError: If `model` is not a Sequential or functional model.
        ValueError: If the model is not built, has not one input with 1 to
            3 spatial axes, or holds a layer that is not supported (such as
            upsampling, a layer called twice, or a merge of maps with
            different strides); the message names the layer.

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
        for p in _Walk(model).placed
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
        # On a tie the later (deeper) layer wins.
        if distance <= best_distance + 1e-9:
            best, best_distance = p, min(distance, best_distance)
    return best


def insert_masks(
    model: keras.Model,
    feature_sizes: float | Sequence[float],
    mask_prob: float | Sequence[float] | None = None,
    *,
    layer_class: Callable[..., keras.layers.Layer] = BackdropMasking,
    **layer_kwargs: Any,
) -> keras.Model:
    """A new model with one backdrop mask per feature size.

    Each mask, named ``backdrop_after_<layer name>``, goes after the
    layer whose `CellSize.side` is closest to its feature size on a log
    scale (on a tie, the deepest), never on a padded or cropped map. The
    new model calls the original's layers (same weights, same outputs);
    nested models that get a mask are rebuilt the same way.

    Args:
        model: A built Sequential or functional `keras.Model`.
        feature_sizes: A size or a sequence of sizes, in input pixels, e.g.
            ``[32, 256]`` for features about 32 and 256 pixels across.
        mask_prob: The mask probability, one number for every mask or one
            per feature size; None passes none (then give ``keep_count``).
        layer_class: The mask layer class, or any callable returning a
            layer, called once per mask as ``layer_class(mask_prob=...,
            mask_axes=..., name=..., **layer_kwargs)`` (``mask_prob`` left
            out when None).
        **layer_kwargs: Further arguments for every mask layer, e.g.
            ``seed`` (given to every mask as is) or ``normalize``. A
            ``mask_axes`` here replaces the default: the batch and spatial
            axes (a mask per sample and position).

    Returns:
        A new model of the same kind (Sequential or functional).

    Raises:
        TypeError: If `model` is not a Sequential or functional model, if
            `feature_sizes` or `mask_prob` are not numbers, if
            `layer_kwargs` holds ``name`` (the names are set here), or if
            `layer_class` is not callable.
        ValueError: If a feature size is not positive and finite, if
            `mask_prob` is outside [0, 1] or not one value per size, if
            two sizes land after the same layer or no layer can take a
            mask, or for the models `cell_sizes` refuses.

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
    walk = _Walk(model)
    placed = _mask_sites(walk)
    if not placed:
        raise ValueError(
            "Invalid value for argument `model`: it has no layer with a "
            "feature-map output to place a mask after (padded and cropped "
            f"maps excluded). Received: model={_model_repr(model)}"
        )
    masks: dict[int, keras.layers.Layer] = {}
    chosen: dict[int, float] = {}
    inner: set[int] = set()
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
        inner.update(id(owner) for owner in p.owners)
        # A mask per sample and position, broadcast over the channels.
        axes = (0, *_spatial_axes(walk.n, p.geometry.channels_first))
        kwargs = {"mask_axes": axes, **layer_kwargs}
        if prob is not None:
            kwargs["mask_prob"] = prob
        masks[id(p.layer)] = layer_class(
            name=f"backdrop_after_{p.layer.name}", **kwargs
        )
    return _rebuild(model, masks, inner)


def _rebuild(model: keras.Model, masks: dict[int, Any], inner: set[int]) -> keras.Model:
    """A copy of `model` calling its layers, masks after theirs; `inner` rebuilt."""
    replaced = {
        id(layer): _rebuild(layer, masks, inner)
        for layer in model.layers
        if id(layer) in inner
    }
    if isinstance(model, keras.Sequential):
        source = _graph(model).inputs[0]
        layers: list[Any] = [keras.Input(batch_shape=source.shape, dtype=source.dtype)]
        for layer in model.layers:
            layers.append(replaced.get(id(layer), layer))
            if id(layer) in masks:
                layers.append(masks[id(layer)])
        return keras.Sequential(layers, name=model.name, trainable=model.trainable)

    def call_function(layer: Any, *args: Any, **kwargs: Any) -> Any:
        outputs = layer(*args, **kwargs)
        if id(layer) in masks:
            outputs = masks[id(layer)](outputs)
        return outputs

    rebuilt = keras.models.clone_model(
        model,
        clone_function=lambda layer: replaced.get(id(layer), layer),
        call_function=call_function,
    )
    # A frozen backbone stays frozen; the public setter would also write the
    # flag into the original model's layers.
    rebuilt._trainable = model.trainable
    return rebuilt
