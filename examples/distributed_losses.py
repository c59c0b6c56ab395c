"""Non-decomposable losses and backdrop under a `tf.distribute` strategy.

A batch-level loss such as the soft-F1 or the pairwise AUC surrogate of
`examples/batch_losses.py` is not a sum of per-sample terms, so under a
data-parallel strategy it must not be computed per replica and averaged:
the F1 of two half batches is not the F1 of the batch, and a half batch of
an imbalanced task may hold no positive at all. Here every replica gathers
the logits and labels of all replicas (`ReplicaContext.all_gather`) and
computes the loss on the *global* batch.

The gradient scaling. `all_gather`'s gradient is the **sum over replicas**
of the upstream gradients with respect to the gathered tensor, sliced back
to the replica's own rows. Every replica computes the same global loss
`L`, so replica `r` receives `R * dL/dz_r` for its logits `z_r` (`R`
replicas). The strategy then sums the replicas' weight gradients (Keras
optimizers all-reduce with SUM). Dividing the loss by `R` on each replica
therefore gives exactly `dL/dw`, the single-device full-batch gradient:
`sum_r (1/R) * R * dL/dz_r * dz_r/dw = dL/dw`. The tests check this
numerically against one device on the same global batch.

The backdrop mask on the batch axis. Two designs were possible:

* A: each replica masks its local part of the batch, with its own mask
  (what `BackdropMasking(mask_axes=(0,))` on the model's logits does under a
  strategy: the replica id is folded into the seed). The count rule is then
  per replica: `keep_count=k` keeps `k * R` samples of the global batch, and
  `normalize="count"` rescales over the local samples only.
* B (implemented): gather first, then mask the *global* logits with one
  mask over the global batch, identical on every replica. Because every
  replica back-propagates through the same mask, the summed gradient is the
  single-device backdrop gradient for that mask (`keep_count=k` keeps `k`
  samples of the global batch, the count rule runs over the global batch).
  Were the masks different per replica, the sum of the gathered gradients
  would average the masks into a non-binary weight, which is neither
  backdrop nor design A.

B is chosen because it equals the single-device backdrop on the same
global batch: the same seed gives the same masks with one device or many.
`GlobalBatchMask` draws the mask once per step in cross-replica context
(`merge_call`), where `draw_mask` does not fold in a replica id, from a
seeded `keras.random.SeedGenerator`; every replica receives the same mask,
and under MultiWorkerMirroredStrategy every worker advances an identically
seeded generator, so the workers draw the same masks too. The model itself
then has no `BackdropMasking` layer: the mask is applied in the loss, after
the gather.

Run from the repository root (the backdrop variant of the digits task of
`examples/nondecomposable.py`, whose data and model it reuses):

    python -m examples.distributed_losses --strategy mirrored --replicas 2
    python -m examples.distributed_losses --strategy none   # one device

and, for MultiWorkerMirroredStrategy, one process per worker with
`TF_CONFIG` set (see `README.md`, "Scaling out"). Keras 3's `fit` does not
run under MultiWorkerMirroredStrategy (keras-team/keras#20585), which is
one reason this module trains with a custom loop.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_backdrop import draw_mask, mask_gradient  # noqa: E402
from keras_backdrop.masks import mix_seed, validate_mask_args  # noqa: E402

try:  # Run as `python -m examples.distributed_losses` or imported by tests.
    from examples.nondecomposable import (
        DEFAULTS, LOSSES, build_model, load_task)
except ImportError:  # Run as `python examples/distributed_losses.py`.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from examples.nondecomposable import (
        DEFAULTS, LOSSES, build_model, load_task)

STRATEGIES = ("none", "mirrored", "multiworker")

LossFn = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]


class GlobalBatchMask:
    """One backdrop mask over the global batch, the same on every replica.

    Design B of the module docstring. `draw(global_size)` is called in
    replica context (inside `strategy.run`); it draws the mask once, in
    cross-replica context through `merge_call`, so no replica id is folded
    into the seed and every replica gets the same mask. With one device
    (no strategy) the same seed gives the same sequence of masks, which is
    what makes the distributed run equal the single-device one.

    Create it inside `strategy.scope()`: the generator's state is then a
    mirrored variable, advanced once per step for all local replicas.

    Args:
        mask_prob: Probability that a sample's gradient is dropped. Exactly
            one of `mask_prob` and `keep_count` must be given.
        keep_count: Alternative: exactly this many samples of the *global*
            batch carry gradient at each step.
        normalize: `"count"` (the reference), `"expected"` or `None`; see
            `keras_backdrop.draw_mask`.
        seed: Integer, required: workers of a MultiWorkerMirroredStrategy
            draw the same masks only from the same seed.
        pinned_index: Optional diagnostic: the single surviving sample, as
            an index into the global batch (replica 0's rows first). It is
            read when the training step is traced.

    Raises:
        ValueError: on a bad argument (naming it and the value received).
    """

    def __init__(
        self,
        mask_prob: float | None = None,
        keep_count: int | None = None,
        normalize: str | None = "count",
        seed: int = 0,
        pinned_index: int | None = None,
    ):
        try:
            self.mask_prob, self.keep_count = validate_mask_args(
                mask_prob, keep_count, normalize
            )
        except TypeError as err:  # This module's contract: ValueError.
            raise ValueError(str(err)) from None
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(
                "Invalid value for argument `seed`: expected an integer "
                "(workers share masks only through a shared seed). "
                f"Received: seed={seed!r}"
            )
        if pinned_index is not None and (
            isinstance(pinned_index, bool)
            or not isinstance(pinned_index, int)
            or pinned_index < 0
        ):
            raise ValueError(
                "Invalid value for argument `pinned_index`: expected None or "
                f"an integer >= 0. Received: pinned_index={pinned_index!r}"
            )
        self.normalize = normalize
        self.seed = seed
        self.pinned_index = pinned_index
        # Hashed as the layer hashes its seed, so that the same seed gives
        # the layer's masks.
        self.seed_generator = keras.random.SeedGenerator(mix_seed(seed))

    def _draw_here(self, size: tf.Tensor) -> tf.Tensor:
        pinned = -1 if self.pinned_index is None else self.pinned_index
        tf.debugging.assert_less(
            tf.constant(pinned, tf.int32), size,
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
        """The mask for this step: float32, shape `(global_size,)`."""
        size = tf.cast(global_size, tf.int32)
        context = tf.distribute.get_replica_context()
        if context is None:  # Already in cross-replica context.
            return self._draw_here(size)
        # merge_call runs the function once for the local replicas, in
        # cross-replica context, and hands its result to each of them.
        return context.merge_call(lambda _strategy: self._draw_here(size))


def gather_global_batch(
    y_true: tf.Tensor, logits: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor]:
    """Labels and logits of all replicas, concatenated in replica order.

    Called in replica context. The labels carry no gradient and are
    gathered on their own (`stop_gradient`), so that only the logits go
    through `all_gather`'s gradient. Outside a strategy this returns its
    inputs.

    Every replica then holds the whole global batch of logits and computes
    the loss on it: cheap for per-sample logits, though the pairwise AUC
    surrogate costs `O(global_batch ** 2)` on each replica.

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
        loss_fn: A batch-level loss `loss_fn(y_true, logits)` returning a
            scalar, e.g. `soft_f1_loss` or `pairwise_auc_loss`.
        y_true: This replica's labels, one per sample.
        logits: This replica's logits, `(local_batch, ...)`.
        mask: Optional `GlobalBatchMask`: backdrop on the batch axis of the
            gathered logits (identity forward, masked gradient backward).

    Returns:
        `(scaled, loss)`: `loss` is the loss of the global batch (the same
        value on every replica); `scaled = loss / num_replicas_in_sync` is
        what each replica differentiates, so that the strategy's sum of the
        replicas' gradients is the single-device full-batch gradient (see
        the module docstring for why).
    """
    y_all, z_all = gather_global_batch(y_true, logits)
    if mask is not None:
        global_size = tf.shape(z_all)[0]
        batch_mask = mask.draw(global_size)
        # One entry per sample, broadcast along the feature axes.
        rank = len(z_all.shape)
        batch_mask = tf.reshape(batch_mask, [-1] + [1] * (rank - 1))
        z_all = mask_gradient(z_all, batch_mask)
    loss = loss_fn(y_all, z_all)
    replicas = tf.distribute.get_replica_context().num_replicas_in_sync
    return loss / replicas, loss


def distribute_full_batch(
    strategy: tf.distribute.Strategy, x: np.ndarray, y: np.ndarray
) -> tuple[Any, Any]:
    """Splits one global batch into contiguous per-replica parts.

    Replica `r` (global id, across workers) gets the `r`-th of
    `num_replicas_in_sync` contiguous chunks (`np.array_split`, so sizes
    may differ by one). Gathering in replica order then restores the
    original order, which is what makes a pinned index or a seeded mask
    refer to the same samples as on one device. Every worker must hold
    the same `x` and `y`.
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
    x_parts = np.array_split(np.asarray(x, np.float32), replicas)
    y_parts = np.array_split(np.asarray(y, np.float32), replicas)

    def part(parts: list[np.ndarray]) -> Any:
        return strategy.experimental_distribute_values_from_function(
            lambda ctx: tf.constant(parts[ctx.replica_id_in_sync_group])
        )

    return part(x_parts), part(y_parts)


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
    them; no weight changes. It is the check of the scaling: the result
    equals the single-device gradient of `loss_fn` on the global batch.
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
    Each replica computes the global-batch loss, differentiates its share
    and hands its gradients to the optimizer, whose all-reduce (SUM) makes
    the update the single-device full-batch update. Works with the default
    strategy, MirroredStrategy and MultiWorkerMirroredStrategy. Create the
    model, the optimizer and the mask inside `strategy.scope()`, and build
    the optimizer (`optimizer.build(model.trainable_variables)`) there too.
    """

    def replica_step(x, y):
        loss, grads = _replica_loss_and_grads(model, loss_fn, x, y, mask)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    @tf.function
    def train_step(x, y):
        loss = strategy.run(replica_step, args=(x, y))
        return strategy.reduce("MEAN", loss, axis=None)

    return train_step


def make_strategy(name: str, replicas: int | None) -> tf.distribute.Strategy:
    """The strategy for `--strategy`; call before TensorFlow initialises.

    `mirrored` splits the CPU into `replicas` logical devices (which must
    happen before any op runs); `multiworker` reads the cluster from the
    `TF_CONFIG` environment variable, one replica per worker process.
    """
    if name not in STRATEGIES:
        raise ValueError(
            f"Invalid value for argument `strategy`: expected one of "
            f"{STRATEGIES}. Received: strategy={name!r}"
        )
    if name == "mirrored":
        replicas = 2 if replicas is None else replicas
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * replicas
        )
        devices = [f"/cpu:{i}" for i in range(replicas)]
        return tf.distribute.MirroredStrategy(devices)
    if replicas is not None:
        raise ValueError(
            "Invalid value for argument `replicas`: it only applies to "
            "--strategy mirrored (multiworker has one replica per worker, "
            f"none has one). Received: replicas={replicas}, strategy={name!r}"
        )
    if name == "multiworker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError(
                "Invalid value for argument `strategy`: 'multiworker' needs "
                "the TF_CONFIG environment variable (cluster and task). "
                f"Received: strategy={name!r} without TF_CONFIG"
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def train(
    strategy: tf.distribute.Strategy,
    loss_name: str,
    mask_args: dict[str, Any] | None,
    steps: int,
    seed: int,
    lr: float,
) -> dict[str, Any]:
    """Trains the digits task full batch under `strategy`; test F1 and AUC.

    `mask_args` (`mask_prob` or `keep_count`) enables backdrop through a
    `GlobalBatchMask` seeded with `seed`; `None` trains plain full batch.
    """
    from sklearn.metrics import f1_score, roc_auc_score

    x_train, y_train, x_test, y_test = load_task(
        DEFAULTS["positive_class"], DEFAULTS["positive_fraction"],
        DEFAULTS["n_train"], seed,
    )
    with strategy.scope():
        # No BackdropMasking in the model: the mask goes on the gathered
        # logits (design B), so that it covers the global batch.
        model = build_model(x_train.shape[1], DEFAULTS["hidden"], None, seed)
        optimizer = keras.optimizers.Adam(lr)
        optimizer.build(model.trainable_variables)
        mask = None if mask_args is None else GlobalBatchMask(
            seed=seed, **mask_args
        )
    step = make_train_step(strategy, model, optimizer, LOSSES[loss_name], mask)
    x, y = distribute_full_batch(strategy, x_train, y_train)
    start = time.perf_counter()
    losses = [float(step(x, y)) for _ in range(steps)]
    seconds = time.perf_counter() - start
    z_test = np.asarray(model(x_test, training=False)).ravel()
    return {
        "replicas": strategy.num_replicas_in_sync,
        "final_train_loss": losses[-1],
        "test_f1": float(f1_score(y_test, z_test > 0, zero_division=0.0)),
        "test_auc": float(roc_auc_score(y_test, z_test)),
        "seconds": round(seconds, 2),
    }


def _positive(name: str, text: str, cast: type) -> Any:
    """`cast(text)` if positive, else a ValueError naming the argument."""
    try:
        value = cast(text)
    except ValueError:
        value = None
    if value is None or not 0 < value < math.inf:
        raise ValueError(
            f"Invalid value for argument `{name}`: expected a positive "
            f"{cast.__name__}. Received: {name}={text!r}"
        )
    return value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parses and checks the command line; bad values raise ValueError."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--strategy", default="mirrored",
                        help=f"one of {STRATEGIES}, default mirrored")
    parser.add_argument("--replicas",
                        help="logical CPU devices for mirrored, default 2")
    parser.add_argument("--loss", default="soft_f1",
                        help=f"one of {list(LOSSES)}, default soft_f1")
    parser.add_argument("--steps", default="300",
                        help="full-batch gradient steps, default 300")
    parser.add_argument("--lr", default=str(DEFAULTS["lr"]),
                        help=f"Adam learning rate, default {DEFAULTS['lr']}")
    parser.add_argument("--seed", default="0", help="data, weights, masks")
    parser.add_argument("--keep-count",
                        help="samples of the global batch carrying gradient "
                        f"per step, default {DEFAULTS['batch_size']}")
    parser.add_argument("--mask-prob",
                        help="instead of --keep-count: drop probability")
    parser.add_argument("--no-mask", action="store_true",
                        help="plain full-batch training, no backdrop")
    args = parser.parse_args(argv)
    if args.strategy not in STRATEGIES:
        raise ValueError(
            f"Invalid value for argument `strategy`: expected one of "
            f"{STRATEGIES}. Received: strategy={args.strategy!r}"
        )
    if args.loss not in LOSSES:
        raise ValueError(
            f"Invalid value for argument `loss`: expected one of "
            f"{list(LOSSES)}. Received: loss={args.loss!r}"
        )
    if args.replicas is not None:
        args.replicas = _positive("replicas", args.replicas, int)
    args.steps = _positive("steps", args.steps, int)
    args.lr = _positive("lr", args.lr, float)
    seed_text = args.seed
    try:
        args.seed = int(seed_text)
    except ValueError:
        args.seed = -1
    if args.seed < 0:
        raise ValueError(
            "Invalid value for argument `seed`: expected an integer >= 0. "
            f"Received: seed={seed_text!r}"
        )
    given = [n for n in ("keep_count", "mask_prob") if getattr(args, n)]
    if len(given) + args.no_mask > 1:
        raise ValueError(
            "Invalid value for argument `keep_count`/`mask_prob`/`no_mask`: "
            f"give at most one. Received: keep_count={args.keep_count!r}, "
            f"mask_prob={args.mask_prob!r}, no_mask={args.no_mask}"
        )
    if args.no_mask:
        args.mask_args = None
    elif args.mask_prob is not None:
        try:
            p = float(args.mask_prob)
        except ValueError:
            p = math.nan
        if not 0.0 <= p <= 1.0:
            raise ValueError(
                "Invalid value for argument `mask_prob`: expected a float "
                f"in [0, 1]. Received: mask_prob={args.mask_prob!r}"
            )
        args.mask_args = {"mask_prob": p}
    else:
        k = (DEFAULTS["batch_size"] if args.keep_count is None
             else _positive("keep_count", args.keep_count, int))
        if k > DEFAULTS["n_train"]:
            raise ValueError(
                "Invalid value for argument `keep_count`: at most the "
                f"global batch, {DEFAULTS['n_train']}. Received: "
                f"keep_count={k}"
            )
        args.mask_args = {"keep_count": k}
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Trains once under the chosen strategy and prints the result."""
    args = parse_args(argv)
    strategy = make_strategy(args.strategy, args.replicas)
    result = train(
        strategy, args.loss, args.mask_args, args.steps, args.seed, args.lr
    )
    result = {"strategy": args.strategy, "loss": args.loss,
              "mask": args.mask_args, "steps": args.steps, **result}
    resolver = getattr(strategy, "cluster_resolver", None)
    task = getattr(resolver, "task_id", None)
    prefix = "" if task is None else f"worker {task}: "
    print(prefix + json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    main()
