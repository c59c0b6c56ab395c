"""The backdrop mechanism as plain functions: draw a gradient mask, apply it.

These are what `BackdropMasking` is made of, exposed for custom training
loops: `draw_mask` builds one mask by the reference rules, and
`mask_gradient` is the identity in the forward pass and multiplies the
gradient by the mask in the backward pass.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import keras
import tensorflow as tf

NORMALIZE_MODES = ("count", "expected", None)


def mask_gradient(x: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """Identity forward; the gradient is multiplied by `mask` backward.

    Args:
        x: Any tensor.
        mask: A tensor broadcastable to `x`. It is cast to the gradient's
            dtype, so a float32 mask works under a `mixed_float16` policy.

    Returns:
        `x`, unchanged; its gradient is `upstream_gradient * mask`.

    Example:

    >>> x = tf.constant([1.0, 2.0, 3.0])
    >>> with tf.GradientTape() as tape:
    ...     tape.watch(x)
    ...     y = tf.reduce_sum(mask_gradient(x, tf.constant([0.0, 3.0, 0.0])))
    >>> tape.gradient(y, x).numpy()
    array([0., 3., 0.], dtype=float32)
    """
    x = tf.convert_to_tensor(x)
    mask = tf.convert_to_tensor(mask)

    @tf.custom_gradient
    def _identity(x):
        def grad(upstream):
            return upstream * tf.cast(mask, upstream.dtype)

        return tf.identity(x), grad

    return _identity(x)


def validate_mask_args(
    mask_prob: Any, keep_count: Any, normalize: Any
) -> tuple[float | None, int | None]:
    """Checks the mask arguments; returns `(mask_prob, keep_count)`.

    Raises `ValueError` or `TypeError` naming the argument and the received
    value, so that bad input is refused before any graph is built.
    """
    if (mask_prob is None) == (keep_count is None):
        raise ValueError(
            "Exactly one of `mask_prob` and `keep_count` must be given. "
            f"Received: mask_prob={mask_prob!r}, keep_count={keep_count!r}"
        )
    if mask_prob is not None:
        if isinstance(mask_prob, bool) or not isinstance(
            mask_prob, (int, float)
        ):
            raise TypeError(
                "Invalid type for argument `mask_prob`: expected a float "
                "in [0, 1]. "
                f"Received: mask_prob={mask_prob!r} "
                f"(type {type(mask_prob).__name__})"
            )
        if math.isnan(mask_prob) or not 0.0 <= mask_prob <= 1.0:
            raise ValueError(
                "Invalid value for argument `mask_prob`: expected a float "
                f"in [0, 1]. Received: mask_prob={mask_prob!r}"
            )
        mask_prob = float(mask_prob)
    if keep_count is not None:
        if isinstance(keep_count, bool) or not isinstance(keep_count, int):
            raise TypeError(
                "Invalid type for argument `keep_count`: expected an "
                "integer >= 1. "
                f"Received: keep_count={keep_count!r} "
                f"(type {type(keep_count).__name__})"
            )
        if keep_count < 1:
            raise ValueError(
                "Invalid value for argument `keep_count`: expected an "
                f"integer >= 1. Received: keep_count={keep_count!r}"
            )
    if normalize not in NORMALIZE_MODES:
        raise ValueError(
            "Invalid value for argument `normalize`: expected one of "
            f"'count', 'expected' or None. Received: normalize={normalize!r}"
        )
    if normalize == "expected" and mask_prob == 1.0:
        raise ValueError(
            "`normalize='expected'` divides by `1 - mask_prob`, which is 0 "
            "for mask_prob=1.0. Use normalize='count' or a mask_prob below "
            f"1. Received: mask_prob={mask_prob!r}, normalize={normalize!r}"
        )
    return mask_prob, keep_count


def draw_mask(
    mask_shape: Sequence[int] | tf.Tensor,
    mask_prob: float | None = None,
    keep_count: int | None = None,
    normalize: str | None = "count",
    seed: int | keras.random.SeedGenerator | None = None,
    pinned_flat_index: tf.Tensor | int | None = None,
) -> tf.Tensor:
    """Draws one backdrop mask of shape `mask_shape` (float32).

    The rules are the reference's: every entry survives independently with
    probability `1 - mask_prob` (or exactly `keep_count` entries survive,
    chosen uniformly); if none survives, one uniformly chosen entry does;
    the mask is then rescaled per `normalize`:

    * `"count"`: `mask * size / count_surviving`, so the entries sum to the
      number of entries (the reference);
    * `"expected"`: `mask / (1 - mask_prob)` (like dropout); with
      `keep_count` the expected count is `keep_count`, so this is
      `mask * size / keep_count`;
    * `None`: the plain 0/1 mask.

    Args:
        mask_shape: The mask's shape; may be a dynamic shape tensor.
        mask_prob: Probability that an entry is masked (its gradient zeroed).
        keep_count: Alternative to `mask_prob`: exactly this many entries
            survive. It must not exceed the mask's size.
        normalize: `"count"`, `"expected"` or `None`, as above.
        seed: A `keras.random.SeedGenerator` (a new mask at every call, the
            same sequence for the same initial seed), an integer (the same
            mask at every call: stateless) or `None` (a fresh random mask).
            Under a `tf.distribute` strategy with several replicas, the
            replica's id is folded into the seed, so each replica draws its
            own mask.
        pinned_flat_index: Optional scalar int. When it is >= 0 the mask
            has its single surviving entry at this flat (row-major) index,
            rescaled per `normalize` (the reference's diagnostic mode).
            A negative value means "not pinned".

    Returns:
        A float32 tensor of shape `mask_shape`.
    """
    mask_prob, keep_count = validate_mask_args(mask_prob, keep_count, normalize)
    mask_shape = tf.convert_to_tensor(mask_shape, dtype=tf.int32)
    size = tf.reduce_prod(mask_shape)
    # Philox explicitly: the automatic choice is several times slower under
    # XLA on CPU (benchmarks/README.md).
    uniform = tf.random.stateless_uniform(
        [size], seed=_step_seed(seed), alg="philox"
    )
    if keep_count is not None:
        tf.debugging.assert_less_equal(
            keep_count,
            size,
            message=(
                f"`keep_count`={keep_count} exceeds the number of mask "
                "entries (the product of the masked axes' sizes)"
            ),
        )
        # The keep_count largest of size i.i.d. uniforms are a uniformly
        # random subset of exactly keep_count entries.
        kept_idx = tf.math.top_k(uniform, k=keep_count, sorted=False).indices
        keep = tf.scatter_nd(
            kept_idx[:, None], tf.ones([keep_count], tf.float32), [size]
        )
    else:
        keep = tf.cast(uniform >= mask_prob, tf.float32)
        # A mask is never all zero: one uniformly chosen entry survives. When
        # nothing survived, the uniforms are i.i.d. below mask_prob, so the
        # position of the largest is uniform and no second draw is needed.
        fallback = tf.one_hot(tf.argmax(uniform, output_type=tf.int32), size)
        keep = tf.where(tf.reduce_any(keep > 0), keep, fallback)
    if pinned_flat_index is not None:
        pinned_flat_index = tf.cast(pinned_flat_index, tf.int32)
        keep = tf.where(
            pinned_flat_index >= 0, tf.one_hot(pinned_flat_index, size), keep
        )
    size_f = tf.cast(size, tf.float32)
    if normalize == "count":
        keep = keep * (size_f / tf.reduce_sum(keep))
    elif normalize == "expected":
        if keep_count is not None:
            keep = keep * (size_f / keep_count)
        else:
            keep = keep / (1.0 - mask_prob)
    return tf.reshape(keep, mask_shape)


def _step_seed(seed: int | keras.random.SeedGenerator | None) -> tf.Tensor:
    """A stateless seed (int32, shape [2]) for this draw on this replica."""
    if isinstance(seed, keras.random.SeedGenerator):
        state = seed.next()
        # Stateless ops under XLA want int32 seeds; the generator's state is
        # int64.
        step_seed = tf.cast(tf.math.floormod(state, tf.int32.max - 1), tf.int32)
    elif seed is None:
        step_seed = tf.random.uniform([2], maxval=tf.int32.max, dtype=tf.int32)
    elif isinstance(seed, int) and not isinstance(seed, bool):
        step_seed = tf.constant([seed % (2**31 - 1), 0], tf.int32)
    else:
        raise TypeError(
            "Invalid type for argument `seed`: expected a "
            "keras.random.SeedGenerator, an integer or None. "
            f"Received: seed={seed!r} (type {type(seed).__name__})"
        )
    context = tf.distribute.get_replica_context()
    if context is not None and context.num_replicas_in_sync > 1:
        # Replicas share the generator's state; folding in the replica id
        # keeps their masks independent yet reproducible.
        step_seed = tf.random.experimental.stateless_fold_in(
            step_seed, context.replica_id_in_sync_group
        )
    return step_seed
