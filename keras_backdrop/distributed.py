"""Batch-level losses and backdrop on the global batch of a `tf.distribute` strategy.

TensorFlow only. The design (gradient scaling, one mask for the global
batch) is explained on the module's documentation page.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_backdrop._checks import check_number
from keras_backdrop.masks import (
    MAX_MASK_SIZE,
    draw_mask,
    mask_gradient,
    mix_seed,
    validate_mask_args,
)

__all__ = [
    "GlobalBatchMask",
    "distribute_full_batch",
    "gather_global_batch",
    "global_batch_loss",
    "make_gradient_fn",
    "make_train_step",
]

LossFn = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]


_GLOBAL_SIZE_RANGE = (
    "Invalid value for argument `global_size`: expected an integer in "
    f"[1, {MAX_MASK_SIZE}] (the number of samples of the global batch)."
)


def _checked_global_size(global_size: Any) -> tf.Tensor:
    """`global_size` as an int32 scalar tensor, refused if it is no size."""
    expected = "an integer (a Python or NumPy integer, or an integer scalar tensor)"
    if isinstance(global_size, tf.Variable):
        # A tensor: its value eagerly, a symbolic read inside a function.
        global_size = tf.convert_to_tensor(global_size)
    if isinstance(global_size, tf.Tensor):
        if not global_size.dtype.is_integer:
            raise TypeError(
                f"Invalid type for argument `global_size`: expected {expected}. "
                f"Received: global_size={global_size!r} (dtype "
                f"{global_size.dtype.name})"
            )
        if global_size.shape.rank not in (0, None):
            raise ValueError(
                "Invalid shape for argument `global_size`: expected a scalar. "
                f"Received: global_size.shape={global_size.shape}"
            )
        if tf.is_symbolic_tensor(global_size):
            size = tf.cast(global_size, tf.int64)
            low, high = (tf.constant(b, tf.int64) for b in (1, MAX_MASK_SIZE))
            tf.debugging.assert_greater_equal(size, low, message=_GLOBAL_SIZE_RANGE)
            tf.debugging.assert_less_equal(size, high, message=_GLOBAL_SIZE_RANGE)
            return tf.cast(size, tf.int32)
        global_size = int(global_size.numpy())
    check_number("global_size", global_size, expected, kind=numbers.Integral)
    if not 1 <= int(global_size) <= MAX_MASK_SIZE:
        raise ValueError(f"{_GLOBAL_SIZE_RANGE} Received: global_size={global_size!r}")
    return tf.constant(int(global_size), tf.int32)


class GlobalBatchMask:
    """One backdrop mask over the global batch, the same on every replica.

    The same seed gives the same masks as with one device. Create it
    inside `strategy.scope()`.

    Args:
        mask_prob: Probability that a sample's gradient is dropped. Exactly
            one of `mask_prob` and `keep_count` must be given.
        keep_count: Alternative: exactly this many samples of the *global*
            batch carry gradient at each step.
        normalize: `"count"` (the reference), `"expected"` or `None`; see
            `keras_backdrop.draw_mask`.
        seed: Integer, required: workers of a MultiWorkerMirroredStrategy
            draw the same masks only from the same seed.
        pinned_index: Optional diagnostic: the single surviving sample, an
            index into the global batch, read when the step is traced.

    Raises:
        TypeError: if an argument has the wrong type.
        ValueError: if an argument has a bad value.
    """

    def __init__(
        self,
        mask_prob: float | None = None,
        keep_count: int | None = None,
        normalize: str | None = "count",
        seed: int = 0,
        pinned_index: int | None = None,
    ):
        self.mask_prob, self.keep_count = validate_mask_args(
            mask_prob, keep_count, normalize
        )
        self.seed = check_number(
            "seed",
            seed,
            "an integer (workers share masks only through a shared seed)",
            kind=numbers.Integral,
        )
        if pinned_index is not None:
            pinned_index = check_number(
                "pinned_index",
                pinned_index,
                "None or an integer >= 0",
                lambda v: v >= 0,
                numbers.Integral,
            )
        self.normalize = normalize
        self.pinned_index = pinned_index
        # Hashed as the layer hashes its seed, so that the same seed gives
        # the layer's masks.
        self.seed_generator = keras.random.SeedGenerator(mix_seed(self.seed))

    def _draw_here(self, size: tf.Tensor) -> tf.Tensor:
        pinned = -1 if self.pinned_index is None else self.pinned_index
        tf.debugging.assert_less(
            tf.constant(pinned, tf.int32),
            size,
            message="`pinned_index` is outside the global batch",
        )
        return draw_mask(
            tf.reshape(size, [1]),
            mask_prob=self.mask_prob,
            keep_count=self.keep_count,
            normalize=self.normalize,
            seed=self.seed_generator,
            pinned_flat_index=pinned,
        )

    def draw(self, global_size: tf.Tensor | int) -> tf.Tensor:
        """The mask for this step, in replica or cross-replica context.

        Args:
            global_size: The number of samples of the global batch, an
                integer or an integer scalar tensor (`tf.shape(logits)[0]`).

        Returns:
            A float32 tensor of shape `(global_size,)`, the same on every
            replica.

        Raises:
            TypeError: if `global_size` is not an integer.
            ValueError: if `global_size` is not a scalar in [1, 2**31 - 1]
                (a traced tensor: `InvalidArgumentError` when run).
        """
        size = _checked_global_size(global_size)
        context = tf.distribute.get_replica_context()
        if context is None:  # Already in cross-replica context.
            return self._draw_here(size)
        # Once for the local replicas, in cross-replica context.
        return context.merge_call(lambda _strategy: self._draw_here(size))


def gather_global_batch(
    y_true: tf.Tensor, logits: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor]:
    """Labels and logits of all replicas, concatenated in replica order.

    Called in replica context; outside a strategy it returns its inputs.
    Only the logits carry a gradient through the gather.

    Args:
        y_true: This replica's labels.
        logits: This replica's logits, `(local_batch, ...)`.

    Returns:
        `(y_all, logits_all)`, the global batch.

    Raises:
        RuntimeError: if called in cross-replica context.
    """
    context = tf.distribute.get_replica_context()
    if context is None:
        raise RuntimeError(
            "gather_global_batch must run in replica context (inside "
            "strategy.run); it was called in cross-replica context."
        )
    if context.num_replicas_in_sync == 1:
        return y_true, logits
    y_all = context.all_gather(tf.stop_gradient(y_true), axis=0)
    z_all = context.all_gather(logits, axis=0)
    return y_all, z_all


def global_batch_loss(
    loss_fn: LossFn,
    y_true: tf.Tensor,
    logits: tf.Tensor,
    mask: GlobalBatchMask | None = None,
) -> tuple[tf.Tensor, tf.Tensor]:
    """The batch-level loss on the global batch, and its per-replica share.

    Args:
        loss_fn: A batch-level loss on logits, `loss_fn(y_true, logits)`,
            e.g. `keras_backdrop.losses.SoftF1(from_logits=True)`.
        y_true: This replica's labels, one per sample.
        logits: This replica's logits, `(local_batch, ...)`.
        mask: Optional `GlobalBatchMask`: backdrop on the gathered batch.

    Returns:
        `(scaled, loss)`: the global batch's `loss` (the same on every
        replica) and `scaled = loss / num_replicas_in_sync`, whose summed
        replica gradients are the single-device full-batch gradient.
    """
    y_all, z_all = gather_global_batch(y_true, logits)
    if mask is not None:
        # One entry per sample, broadcast along the feature axes.
        batch_mask = mask.draw(tf.shape(z_all)[0])
        batch_mask = tf.reshape(batch_mask, [-1] + [1] * (len(z_all.shape) - 1))
        z_all = mask_gradient(z_all, batch_mask)
    loss = loss_fn(y_all, z_all)
    replicas = tf.distribute.get_replica_context().num_replicas_in_sync
    return loss / replicas, loss


def distribute_full_batch(
    strategy: tf.distribute.Strategy, x: np.ndarray, y: np.ndarray
) -> tuple[Any, Any]:
    """Splits one global batch into contiguous per-replica parts.

    Replica `r` (global id, across workers) gets the `r`-th chunk
    (`np.array_split`: sizes may differ by one), so gathering in replica
    order restores the original order. Every worker must hold the same
    `x` and `y`.

    Args:
        strategy: The `tf.distribute.Strategy`.
        x: The global batch's inputs, one row per sample.
        y: Its labels, one per sample.

    Returns:
        `(x, y)` as per-replica values for `strategy.run`.

    Raises:
        ValueError: if `x` and `y` differ in length or hold fewer samples
            than there are replicas.
    """
    if len(x) != len(y):
        raise ValueError(
            "Invalid value for argument `y`: expected one label per row of "
            f"x ({len(x)}). Received: y with {len(y)} entries"
        )
    replicas = strategy.num_replicas_in_sync
    if len(x) < replicas:
        raise ValueError(
            f"Invalid value for argument `x`: the global batch must have at "
            f"least one sample per replica ({replicas}). Received: "
            f"{len(x)} samples"
        )

    def part(values: np.ndarray) -> Any:
        parts = np.array_split(np.asarray(values, np.float32), replicas)
        return strategy.experimental_distribute_values_from_function(
            lambda ctx: tf.constant(parts[ctx.replica_id_in_sync_group])
        )

    return part(x), part(y)


def _replica_loss_and_grads(
    model: keras.Model,
    loss_fn: LossFn,
    x: tf.Tensor,
    y: tf.Tensor,
    mask: GlobalBatchMask | None,
) -> tuple[tf.Tensor, list[tf.Tensor]]:
    """One replica's global loss and its gradient of the scaled share."""
    with tf.GradientTape() as tape:
        logits = model(x, training=True)
        scaled, loss = global_batch_loss(loss_fn, y, logits, mask)
    grads = tape.gradient(scaled, model.trainable_variables)
    return loss, grads


def make_gradient_fn(
    strategy: tf.distribute.Strategy,
    model: keras.Model,
    loss_fn: LossFn,
    mask: GlobalBatchMask | None = None,
) -> Callable[[Any, Any], tuple[tf.Tensor, list[tf.Tensor]]]:
    """A `tf.function` returning `(global loss, summed gradients)`.

    The gradients are summed over replicas, as the optimizer would apply
    them (no weight changes): the single-device gradient of `loss_fn` on
    the global batch.

    Args:
        strategy: The `tf.distribute.Strategy`.
        model: A model built under `strategy.scope()`, returning logits.
        loss_fn: A batch-level loss on logits.
        mask: Optional `GlobalBatchMask`, created under `strategy.scope()`.

    Returns:
        `gradient_fn(x, y)` for per-replica `x` and `y`.
    """

    @tf.function
    def gradient_fn(x, y):
        loss, grads = strategy.run(
            _replica_loss_and_grads, args=(model, loss_fn, x, y, mask)
        )
        summed = [strategy.reduce("SUM", g, axis=None) for g in grads]
        # Every replica holds the same global loss: the mean is that value.
        return strategy.reduce("MEAN", loss, axis=None), summed

    return gradient_fn


def make_train_step(
    strategy: tf.distribute.Strategy,
    model: keras.Model,
    optimizer: keras.optimizers.Optimizer,
    loss_fn: LossFn,
    mask: GlobalBatchMask | None = None,
) -> Callable[[Any, Any], tf.Tensor]:
    """A distributed training step: `step(x, y)` returns the global loss.

    `x` and `y` are per-replica values (e.g. from `distribute_full_batch`).
    The update is the single-device full-batch update, under the default
    strategy, MirroredStrategy and MultiWorkerMirroredStrategy. Create and
    build the model, the optimizer and the mask inside `strategy.scope()`.

    Args:
        strategy: The `tf.distribute.Strategy`.
        model: The model, returning logits.
        optimizer: A built Keras optimizer.
        loss_fn: A batch-level loss on logits.
        mask: Optional `GlobalBatchMask` (backdrop on the global batch).

    Returns:
        `train_step(x, y)`, a `tf.function` returning the global loss.
    """

    def replica_step(x, y):
        loss, grads = _replica_loss_and_grads(model, loss_fn, x, y, mask)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    @tf.function
    def train_step(x, y):
        loss = strategy.run(replica_step, args=(x, y))
        return strategy.reduce("MEAN", loss, axis=None)

    return train_step
