"""The backdrop mechanism on TensorFlow: `tf.custom_gradient`, a stateless Philox draw.

The only backend with mask sizes known at run time alone (the batch axis).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import keras
import tensorflow as tf

from keras_backdrop import _rule
from keras_backdrop._portable import strides

# The contract's tensor conversion: the dtype is kept.
as_tensor = tf.convert_to_tensor


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
    """`_rule.RuleOps` in TensorFlow ops: the fewest ops per step found."""

    one_hot = staticmethod(tf.one_hot)
    where = staticmethod(tf.where)
    arange = staticmethod(tf.range)
    abs = staticmethod(tf.abs)
    cond = staticmethod(tf.cond)

    def largest_at(self, uniform, size):
        if not isinstance(size, int):
            # An empty mask (an empty batch) gets a sentinel for argmax,
            # whose index is then outside the (empty) one_hot.
            uniform = tf.concat([uniform, [-1.0]], axis=0)
        return tf.math.argmax(uniform, output_type=tf.int32)

    def add_at(self, values, at, amount, size):
        # No select over the whole mask.
        return values + tf.one_hot(at, size, on_value=amount, off_value=0.0)

    def as_index(self, value, like):
        return tf.cast(value, tf.int32)

    def flags(self, condition):
        return tf.cast(condition, tf.float32)

    def count(self, condition):
        return tf.reduce_sum(tf.cast(condition, tf.int32))

    def top_k_indices(self, values, k, sorted):
        return tf.math.top_k(values, k=k, sorted=sorted).indices

    def scatter(self, indices, updates, size):
        return tf.scatter_nd(indices[:, None], updates, [size])

    def zeros(self, size):
        return tf.zeros([size], tf.float32)

    def ones(self, n):
        return tf.ones([n], tf.float32)

    def per_survivor(self, keep, size):
        # Two ops where `keep * (size / sum)` takes three.
        return keep / tf.reduce_mean(keep)

    def size_over(self, size, keep_count):
        return tf.cast(size, tf.float32) / keep_count


TF_OPS = TensorFlowOps()
keep_exactly = functools.partial(_rule.keep_exactly, TF_OPS)


def draw_mask(
    mask_shape: Sequence[int] | tf.Tensor,
    mask_prob: float | tf.Tensor | None,
    keep_count: int | None,
    normalize: str | None,
    seed: int | keras.random.SeedGenerator | None,
    pinned_flat_index: tf.Tensor | int | None,
) -> tf.Tensor:
    """One mask by the rule (see `keras_backdrop.draw_mask`)."""
    # Static sizes stay Python numbers: fewer ops at every step.
    static_shape = _static_dims(mask_shape)
    if static_shape is not None:
        size = math.prod(static_shape)
        mask_shape = static_shape
        # The run-time check's error, raised when tracing.
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
    # Drawn even for an empty mask: a generator advances at every draw.
    uniform = _uniform(size, seed)
    if isinstance(size, int) and size == 0:  # Static and empty: nothing kept.
        return tf.zeros(mask_shape, tf.float32)
    keep = _rule.draw(
        TF_OPS, uniform, size, mask_prob, keep_count, normalize, pinned_flat_index
    )
    return tf.reshape(keep, mask_shape)


def _static_dims(mask_shape: Any) -> tuple[int, ...] | None:
    """The shape as Python ints where every dimension is known, else None."""
    if isinstance(mask_shape, (list, tuple)) and all(
        isinstance(d, int) for d in mask_shape
    ):
        return tuple(mask_shape)
    value = tf.get_static_value(mask_shape)
    return None if value is None else tuple(int(d) for d in value)


def mask_dims(inputs: tf.Tensor, axes: Sequence[int]) -> tf.Tensor:
    """The mask's shape for `inputs`: a tuple where static, else a 1-D tensor."""
    static = [inputs.shape[a] for a in axes]
    if all(d is not None for d in static):
        return tuple(static)
    in_shape = tf.shape(inputs)
    return tf.stack([in_shape[a] for a in axes])


def checked_pin_value(
    value: tf.Tensor, dims: tuple[int | None, ...], message: str
) -> tf.Tensor:
    """`value`, written inside a traced function, checked in that graph."""
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
    message = (
        f"`pinned_index` of layer '{layer_name}' is outside the "
        f"mask over axes {tuple(axes)} of this input"
    )
    if isinstance(dims, tuple):
        # Unpinned (all -1) gives a negative flat index: no select needed.
        flat = tf.reduce_sum(index * tf.constant(strides(dims), index.dtype))
        if getattr(pinned_var, "checked_dims", None) != dims:
            # Every write was checked against the built dimensions only.
            tf.debugging.assert_less(
                index, tf.constant(dims, index.dtype), message=message
            )
        return flat
    pinned = index[0] >= 0
    # The batch axis may be dynamic: an error rather than the NaN gradient
    # of an empty mask. -1 < 0: an unpinned empty batch passes.
    tf.debugging.assert_less(tf.where(pinned, index, -1), dims, message=message)
    # Row-major, so that the flat index matches the reshape to dims.
    row_strides = tf.math.cumprod(dims, exclusive=True, reverse=True)
    return tf.where(pinned, tf.reduce_sum(index * row_strides), -1)


def broadcast_mask(
    mask: tf.Tensor, dims: tf.Tensor, axes: Sequence[int], rank: int
) -> tf.Tensor:
    """`mask` reshaped with size 1 on the unmasked axes, to broadcast."""
    shape = [dims[axes.index(a)] if a in axes else 1 for a in range(rank)]
    return tf.reshape(mask, shape if isinstance(dims, tuple) else tf.stack(shape))


# The key with which TensorFlow scrambles a stateless Philox seed
# (`random_ops_util._philox_scramble_seed`, core/kernels/stateless_random_ops.cc).
_PHILOX_SCRAMBLE_KEY = 0x02461E293EC8F720
_PHILOX = 1  # tf.random.Algorithm.PHILOX


def _uniform(size: int | tf.Tensor, seed: Any) -> tf.Tensor:
    """`size` float32 uniforms in [0, 1) from Philox (the fastest under XLA)."""
    if isinstance(seed, keras.random.SeedGenerator):
        key, counter = _generator_key_counter(seed)
    else:
        key, counter = _seed_key_counter(seed)
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
    """Philox's key and counter for `generator`'s next draw; advances it."""
    # The seed is the key and the draw count the counter's high word (no two
    # draws share a Philox block), stepped through the Keras variable.
    state = tf.convert_to_tensor(generator.state.value)
    advanced = state + tf.constant([0, 1], tf.int64)
    generator.state.assign(advanced)
    context = tf.distribute.get_replica_context()
    if context is not None and context.num_replicas_in_sync > 1:
        # Replicas share the state: the replica's id in the key's high half
        # gives each its own, reproducible masks.
        replica = tf.cast(context.replica_id_in_sync_group, tf.int64)
        advanced += replica * tf.constant([1 << 32, 0], tf.int64)
    return _key_counter(tf.bitcast(advanced, tf.uint64))


def _key_counter(words: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Philox's key and counter from two uint64 words: `[w0]`, `[0, w1]`."""
    return words[:1], words * tf.constant([0, 1], tf.uint64)


def _seed_key_counter(seed: int | None) -> tuple[tf.Tensor, tf.Tensor]:
    """The key and counter of a stateless Philox draw from `seed` on this replica."""
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
    words = tf.raw_ops.StatelessRandomUniformFullIntV2(
        shape=[2],
        key=tf.constant([_PHILOX_SCRAMBLE_KEY], tf.uint64),
        counter=tf.cast(step_seed, tf.uint64),
        alg=_PHILOX,
        dtype=tf.uint64,
    )
    return _key_counter(words)
