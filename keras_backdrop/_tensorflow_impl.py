"""The backdrop mechanism on the TensorFlow backend.

`tf.custom_gradient` and a stateless Philox draw: the fastest path measured
on TensorFlow, with and without XLA (benchmarks/README.md). The contract is
`keras_backdrop._backend.Backend`; the mask rule is `keras_backdrop._rule`,
here in TensorFlow ops (`TensorFlowOps`). Only TensorFlow has mask sizes
known at run time alone (a mask over the batch axis), hence the run-time
checks below.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import keras
import tensorflow as tf

from keras_backdrop import _rule


def as_tensor(x):
    """`x` as a tensor, its dtype kept."""
    return tf.convert_to_tensor(x)


def mask_gradient(x: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """Identity forward; the gradient is `upstream * mask` backward."""
    x = tf.convert_to_tensor(x)
    mask = tf.convert_to_tensor(mask)

    @tf.custom_gradient
    def _identity(x):
        def grad(upstream):
            # multiply_no_nan: a blocked entry passes exactly zero, even
            # where the upstream gradient is NaN or infinite.
            return tf.math.multiply_no_nan(upstream, tf.cast(mask, upstream.dtype))

        # `tf.custom_gradient` puts its own identity on the output.
        return x, grad

    return _identity(x)


class TensorFlowOps:
    """`_rule.RuleOps` in TensorFlow ops, for static and run-time sizes.

    Every op here is executor time at every training step, so each is the
    shortest spelling found: 29 ops per masked layer, was 39
    (benchmarks/README.md, "What the layer costs").
    """

    def largest_at(self, uniform, size):
        if not isinstance(size, int):
            # argmax needs an entry: an empty mask (an empty batch) gets a
            # sentinel, whose index is then outside the (empty) one_hot.
            uniform = tf.concat([uniform, [-1.0]], axis=0)
        return tf.math.argmax(uniform, output_type=tf.int32)

    def add_at(self, values, at, amount, size):
        # An argmax, a one_hot and an add (the README's figure above): no
        # select over the whole mask.
        return values + tf.one_hot(at, size, on_value=amount, off_value=0.0)

    def one_hot(self, at, size):
        return tf.one_hot(at, size)

    def as_index(self, value, like):
        return tf.cast(value, tf.int32)

    def where(self, condition, x, y):
        return tf.where(condition, x, y)

    def flags(self, condition):
        return tf.cast(condition, tf.float32)

    def count(self, condition):
        return tf.reduce_sum(tf.cast(condition, tf.int32))

    def top_k_indices(self, values, k, sorted):
        return tf.math.top_k(values, k=k, sorted=sorted).indices

    def scatter(self, indices, updates, size):
        return tf.scatter_nd(indices[:, None], updates, [size])

    def arange(self, n):
        return tf.range(n)

    def abs(self, x):
        return tf.abs(x)

    def cond(self, predicate, true_fn, false_fn):
        return tf.cond(predicate, true_fn, false_fn)

    def zeros(self, size):
        return tf.zeros([size], tf.float32)

    def ones(self, n):
        return tf.ones([n], tf.float32)

    def per_survivor(self, keep, size):
        # size / count as one division by the surviving fraction: two ops
        # where `keep * (size / sum)` takes three (README, as above).
        return keep / tf.reduce_mean(keep)

    def size_over(self, size, keep_count):
        return tf.cast(size, tf.float32) / keep_count


TF_OPS = TensorFlowOps()


def draw_mask(
    mask_shape: Sequence[int] | tf.Tensor,
    mask_prob: float | tf.Tensor | None,
    keep_count: int | None,
    normalize: str | None,
    seed: int | keras.random.SeedGenerator | None,
    pinned_flat_index: tf.Tensor | int | None,
) -> tf.Tensor:
    """One mask by the rule (see `keras_backdrop.draw_mask`)."""
    # Static sizes stay Python numbers: every op saved here is executor time
    # at every training step (benchmarks/layer_cost_breakdown.py).
    static_shape = _static_dims(mask_shape)
    if static_shape is not None:
        size = math.prod(static_shape)
        mask_shape = static_shape
        # Known now: the error the run-time check below gives, when tracing.
        _rule.check_keep_count(
            keep_count,
            size,
            f"a mask of shape {static_shape}",
            error=lambda message: tf.errors.InvalidArgumentError(None, None, message),
        )
    else:
        mask_shape = tf.convert_to_tensor(mask_shape, dtype=tf.int32)
        size = tf.reduce_prod(mask_shape)
        if keep_count is not None:
            tf.debugging.assert_less_equal(
                keep_count,
                tf.where(size > 0, size, keep_count),  # An empty mask is allowed.
                message=_rule.keep_count_message(
                    keep_count, mask="the mask (the product of the masked axes' sizes)"
                ),
            )
    # Drawn even for an empty mask, so that a generator advances at every
    # draw whether or not the batch is empty.
    uniform = _uniform(size, seed)
    if isinstance(size, int) and size == 0:  # Static and empty: nothing kept.
        return tf.zeros(mask_shape, tf.float32)
    keep = _rule.draw(
        TF_OPS, uniform, size, mask_prob, keep_count, normalize, pinned_flat_index
    )
    return tf.reshape(keep, mask_shape)


def keep_exactly(
    uniform: tf.Tensor, keep_count: int, size: int, window: int | None = None
) -> tf.Tensor:
    """`_rule.keep_exactly` in TensorFlow ops."""
    return _rule.keep_exactly(TF_OPS, uniform, keep_count, size, window)


def _static_dims(mask_shape: Any) -> tuple[int, ...] | None:
    """The shape as Python ints where every dimension is known, else None."""
    if isinstance(mask_shape, (list, tuple)) and all(
        isinstance(d, int) for d in mask_shape
    ):
        return tuple(mask_shape)
    value = tf.get_static_value(mask_shape)
    return None if value is None else tuple(int(d) for d in value)


def mask_dims(inputs: tf.Tensor, axes: Sequence[int]) -> tf.Tensor:
    """The mask's shape for `inputs`.

    A constant where every masked dimension is static, else dynamic (the
    batch axis usually is).
    """
    static = [inputs.shape[a] for a in axes]
    if all(d is not None for d in static):
        return tuple(static)
    in_shape = tf.shape(inputs)
    return tf.stack([in_shape[a] for a in axes])


def checked_pin_value(
    value: tf.Tensor, dims: tuple[int | None, ...], message: str
) -> tf.Tensor:
    """`value`, written inside a traced function, checked in that graph.

    Either -1 on every axis (nothing pinned) or within `dims` on every
    axis (None: any size).
    """
    value = tf.convert_to_tensor(value, tf.int32)
    upper = tf.constant([tf.int32.max if d is None else d for d in dims], tf.int32)
    fits = tf.logical_or(
        tf.reduce_all(tf.equal(value, -1)),
        tf.reduce_all(tf.logical_and(value >= 0, value < upper)),
    )
    with tf.control_dependencies([tf.debugging.Assert(fits, [message, value])]):
        return tf.identity(value)


def pinned_flat_index(
    pinned_var: keras.Variable,
    dims: tf.Tensor,
    layer_name: str,
    axes: Sequence[int],
) -> tf.Tensor:
    """The flat index of the pinned entry, or a negative one when unpinned."""
    index = tf.convert_to_tensor(pinned_var)
    if isinstance(dims, tuple):
        # Static dimensions: the strides are constants, and an unpinned
        # index (all -1) is below every dimension and gives a negative flat
        # index, so the result needs no select.
        strides = [math.prod(dims[i + 1 :]) for i in range(len(dims))]
        flat = tf.reduce_sum(index * tf.constant(strides, index.dtype))
        if getattr(pinned_var, "checked_dims", None) == dims:
            # Every write of the variable was checked against these
            # dimensions (layer.py): nothing to check at every step.
            return flat
        # Other dimensions (a fully convolutional input of another size):
        # the variable may hold a pin that fits the built shape only.
        tf.debugging.assert_less(
            index,
            tf.constant(dims, index.dtype),
            message=(
                f"`pinned_index` of layer '{layer_name}' is outside the "
                f"mask over axes {tuple(axes)} of this input"
            ),
        )
        return flat
    pinned = index[0] >= 0
    # At run time: the batch axis may be dynamic, and `set_weights` or a
    # shared layer may bring a pin that does not fit this input. An error
    # rather than the NaN gradient of an empty mask.
    tf.debugging.assert_less(
        tf.where(pinned, index, -1),  # -1 < 0: an unpinned empty batch passes
        dims,
        message=(
            f"`pinned_index` of layer '{layer_name}' is outside the "
            f"mask over axes {tuple(axes)} of this input"
        ),
    )
    # Row-major strides of the mask, so that the flat index matches
    # tf.reshape of the flat mask back to dims.
    strides = tf.math.cumprod(dims, exclusive=True, reverse=True)
    flat = tf.reduce_sum(index * strides)
    return tf.where(pinned, flat, -1)


def broadcast_mask(
    mask: tf.Tensor, dims: tf.Tensor, axes: Sequence[int], rank: int
) -> tf.Tensor:
    """`mask` reshaped with size 1 on the unmasked axes, to broadcast."""
    shape = [1] * rank
    for position, axis in enumerate(axes):
        shape[axis] = dims[position]
    return tf.reshape(mask, shape if isinstance(dims, tuple) else tf.stack(shape))


# The key with which TensorFlow scrambles a stateless Philox seed
# (`random_ops_util._philox_scramble_seed`, core/kernels/stateless_random_ops.cc).
_PHILOX_SCRAMBLE_KEY = 0x02461E293EC8F720
_PHILOX = 1  # tf.random.Algorithm.PHILOX


def _uniform(size: int | tf.Tensor, seed: Any) -> tf.Tensor:
    """`size` float32 uniforms in [0, 1) for one draw, from Philox.

    Philox explicitly: the automatic choice is several times slower under
    XLA on CPU (benchmarks/README.md).
    """
    if isinstance(seed, keras.random.SeedGenerator):
        key, counter = _generator_key_counter(seed)
    else:
        key, counter = _seed_key_counter(_step_seed(seed))
    return tf.raw_ops.StatelessRandomUniformV2(
        shape=[size] if isinstance(size, int) else tf.reshape(size, [1]),
        key=key,
        counter=counter,
        alg=_PHILOX,
        dtype=tf.float32,
    )


def _generator_key_counter(
    generator: keras.random.SeedGenerator,
) -> tuple[tf.Tensor, tf.Tensor]:
    """Philox's key and counter for the next draw of `generator`; advances it.

    The generator's state is `[seed, n]` (int64), and each draw adds one to
    `n`. The seed is the key and `n` the counter's high word: a draw's
    blocks only step the low word, so no two draws of a generator share a
    block, and generators of other seeds have other keys. (The layer's
    seeds are hashed already, `masks.mix_seed`.) Seven graph ops (the
    state's read, add and assignment, a bitcast, a slice, a product, the
    draw) where Keras's `next()` followed by TensorFlow's seed-to-key
    scramble took eleven: at every training step each op is executor time
    (benchmarks/README.md). The key comes from the state, not from a
    constant known when tracing: with a constant key, XLA's CPU draw took
    about 35 us more for 2048 uniforms (measured, 120 against 97 us).
    Draws from a given seed differ from those of
    `tf.random.stateless_uniform`.
    """
    advanced = _advance(generator)
    context = tf.distribute.get_replica_context()
    if context is not None and context.num_replicas_in_sync > 1:
        # Replicas share the generator's state: the replica's id in the
        # key's high half gives each replica its own key, so their masks
        # are independent yet reproducible.
        replica = tf.cast(context.replica_id_in_sync_group, tf.int64)
        advanced += replica * tf.constant([1 << 32, 0], tf.int64)
    return _key_counter(tf.bitcast(advanced, tf.uint64))


def _key_counter(words: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Philox's key and counter from two uint64 words: `[w0]`, `[0, w1]`."""
    return words[:1], words * tf.constant([0, 1], tf.uint64)


def _advance(generator: keras.random.SeedGenerator) -> tf.Tensor:
    """Steps the generator; returns its new state (int64 `[seed, n + 1]`).

    Through the Keras variable, so that a stateless scope records the
    update and a distributed variable takes it as Keras's own `next()`
    would: one read, an add and an assignment, where `next()` takes five
    ops (two reads, a copy, an add, an assignment).
    """
    advanced = tf.convert_to_tensor(generator.state.value) + tf.constant(
        [0, 1], tf.int64
    )
    generator.state.assign(advanced)
    return advanced


def _seed_key_counter(step_seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Key and counter of `tf.random.stateless_uniform(seed=step_seed, alg="philox")`.

    TensorFlow turns the seed into Philox's key and counter with a draw of
    four uint32 split and reassembled into two uint64 (about ten small
    ops); one uint64 draw gives the same two words in four.
    """
    words = tf.raw_ops.StatelessRandomUniformFullIntV2(
        shape=[2],
        key=tf.constant([_PHILOX_SCRAMBLE_KEY], tf.uint64),
        counter=tf.cast(step_seed, tf.uint64),
        alg=_PHILOX,
        dtype=tf.uint64,
    )
    return _key_counter(words)


def _step_seed(seed: int | None) -> tf.Tensor:
    """A stateless seed (shape [2], int32) for this draw on this replica."""
    if seed is None:
        step_seed = tf.random.uniform([2], maxval=tf.int32.max, dtype=tf.int32)
    else:
        step_seed = tf.constant([seed, 0], tf.int32)
    context = tf.distribute.get_replica_context()
    if context is not None and context.num_replicas_in_sync > 1:
        # Folding in the replica id gives each replica its own mask.
        step_seed = tf.random.experimental.stateless_fold_in(
            step_seed, context.replica_id_in_sync_group
        )
    return step_seed
