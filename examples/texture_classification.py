"""Texture classification with and without backdrop, on gp_textures.

Builds (or reuses) a ``gp_textures`` TFDS dataset, then trains the paper's
two-mask texture network (`examples/texture_model.py`) three ways, with the
same seeds, epochs, optimizer and batch size:

* ``no_mask``: the same network without `BackdropMasking`, on full images;
* ``backdrop``: the fine and coarse masks on, on full images;
* ``random_crops``: no masks, trained on a fresh random crop of every
  training image at every epoch (side ``--crop`` pixels, half the image by
  default), evaluated on the full test images. The network is fully
  convolutional with an averaged per-cell head, so a crop-trained model
  applies to full images unchanged; this baseline gives "many sub-samples
  per image" without backdrop's full-image forward pass.

It prints test accuracy per seed and the mean with its standard deviation,
plus the accuracy on each scale's choice separately (the small scale is the
hard 5 percent distinction), and writes ``results.json`` and
``learning_curves.png`` (test accuracy against epoch, mean over seeds with
min-max band) to ``--out-dir``. The test split is evaluated after every
epoch only to draw the curves: the reported accuracy is the last epoch's,
nothing is selected on the test set.

Usage (from the repository root)::

    python -m examples.texture_classification            # default, ~3.5 min
    python -m examples.texture_classification --config paper
    python -m examples.texture_classification --fast     # seconds
    python -m examples.texture_classification --fast --strategy mirrored
    KERAS_BACKEND=jax python -m examples.texture_classification --fast

Backends: the single-device run (``--strategy none``) trains with Keras
``fit`` on any Keras backend (``KERAS_BACKEND=jax`` or ``torch``). The data
comes from TFDS when ``tensorflow_datasets`` imports, else from the NumPy
generator (`tfds_gp.load_numpy`, the same arrays, held in memory, nothing
written to ``--data-dir``). On TensorFlow the training input is a
``tf.data`` pipeline; on the other backends a `keras.utils.PyDataset` that
reshuffles (and, for ``random_crops``, re-crops) every epoch from a NumPy
generator keyed by (seed, epoch). ``--strategy mirrored`` and
``multiworker`` are `tf.distribute` and need the TensorFlow backend.
``results.json`` records the backend and the data source. TFDS stores the
examples in hashed-key order and the generator gives them in index order,
so the two sources hold the same images but batch them differently: the
per-seed numbers of a run depend on the source as well as the backend.

Distributed training (``--strategy``):

* ``none`` (default): one device, Keras ``fit``.
* ``mirrored``: `tf.distribute.MirroredStrategy`; the models are built and
  compiled in ``strategy.scope()`` and trained with ``fit`` as above, with
  ``--batch-size`` as the global batch. ``--replicas N`` picks the devices:
  the first N GPUs when TensorFlow sees GPUs (default: all of them), else N
  logical CPU devices carved out of the one physical CPU (default 2), which
  is how the strategy is exercised on a CPU-only machine.
* ``multiworker``: `tf.distribute.MultiWorkerMirroredStrategy`, one process
  per worker, the cluster read from the ``TF_CONFIG`` environment variable.
  Keras 3's ``fit`` does not run under this strategy
  (keras-team/keras#20585), so every variant is trained with a small custom
  loop instead (`train_one_custom`): ``strategy.run`` in a ``tf.function``,
  the summed cross-entropy divided by the global batch's size, Adam, the
  same data pipeline and the same per-epoch test evaluation. Only the chief
  (task ``chief``, or ``worker`` 0 when the cluster has no chief) writes
  ``--out-dir``. Every worker generates or reads the dataset itself: with
  a shared ``--data-dir``, build it once first (e.g. a ``--strategy none``
  run with the same ``--config``), since concurrent TFDS builds into one
  directory can collide.

Under both strategies each replica draws its own backdrop masks: the layer
folds the replica id into the step's mask seed (`keras_backdrop.masks`), so
the masks are independent across replicas and repeat under the same seed.

See `examples/TEXTURE_RESULTS.md` for the sweep behind the defaults.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

# Keras before anything that can import TensorFlow (tensorflow_datasets,
# tfds_gp's builder): with KERAS_BACKEND=torch, TensorFlow imported first
# can abort the process (an LLVM option registered twice via triton).
import keras  # noqa: E402

VARIANTS = ("no_mask", "backdrop", "random_crops")

#: Values of ``--strategy``.
STRATEGIES = ("none", "mirrored", "multiworker")

# "default" is the dataset chosen by the sweep in TEXTURE_RESULTS.md; every
# config is trained with the same recipe (the flags' defaults).
DEFAULT_CONFIG = "default"


def data_source() -> str:
    """``"tfds"`` when tensorflow_datasets imports, else ``"numpy"``.

    `tfds_gp` leaves its builder (``GpTexturesConfig``) as None when
    tensorflow_datasets does not import; the NumPy generator then gives the
    same arrays without TFDS.
    """
    import tfds_gp

    return "numpy" if tfds_gp.GpTexturesConfig is None else "tfds"


def _dataset_configs() -> dict[str, Any]:
    """Named dataset configs: the built-in ones plus the custom ones.

    Custom configs are TFDS ``GpTexturesConfig`` objects when TFDS is there,
    else the NumPy ``GpRecipe`` with the same fields (the same data).
    """
    import tfds_gp

    cfg = tfds_gp.GpTexturesConfig if data_source() == "tfds" else tfds_gp.GpRecipe
    return {
        # The sweep's setting (see TEXTURE_RESULTS.md): 128 x 128 with the
        # paper's lengths x 1/8, i.e. the paper's image geometry (blobs per
        # image side) at an eighth of the side, and more training samples
        # per class than the paper's 25.
        "default": cfg(
            size=128,
            scales=((1.1875, 1.25), (10.0, 17.5)),
            powers=(0.75, 1.25),
            train_per_class=50,
            test_per_class=50,
            seed=11,
        ),
        # Seconds end to end: for tests and smoke runs.
        "fast": cfg(
            size=32,
            scales=((1.0, 1.5), (4.0, 6.0)),
            powers=(0.75, 1.25),
            train_per_class=4,
            test_per_class=4,
            seed=12,
        ),
        "small": "small",
        "medium": "medium",
        "paper": "paper",
        "three_scale": "three_scale",
    }


def load_split(
    config: Any, split: str, data_dir: str | None
) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(n, size, size, 1)`` float32 and int labels of one split.

    From TFDS (built into ``data_dir`` if needed) when it imports, else
    generated in memory by `tfds_gp.load_numpy` (``data_dir`` unused).
    """
    import tfds_gp  # registers gp_textures when TFDS is there

    if data_source() == "numpy":
        images, labels = tfds_gp.load_numpy(config, split)
        return images.astype(np.float32), labels.astype(np.int64)
    import tensorflow_datasets as tfds

    builder = tfds.builder("gp_textures", config=config, data_dir=data_dir)
    builder.download_and_prepare()
    ds = builder.as_dataset(split=split, batch_size=-1, as_supervised=True)
    images, labels = tfds.as_numpy(ds)
    return images.astype(np.float32), labels.astype(np.int64)


def scale_choices(labels: np.ndarray, scales: Sequence[Sequence[float]]) -> np.ndarray:
    """Per label, the index chosen on each scale (first scale fastest)."""
    out = np.empty((len(labels), len(scales)), np.int64)
    rest = np.asarray(labels, np.int64)
    for s, choices in enumerate(scales):
        out[:, s] = rest % len(choices)
        rest = rest // len(choices)
    return out


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text}")
    return value


def _seeds(text: str) -> list[int]:
    try:
        if "," not in text and int(text) >= 1:
            return list(range(int(text)))  # "3" means seeds 0, 1, 2
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a count or a comma-separated list of seeds, got {text!r}"
        ) from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"expected distinct seeds, got {text!r}")
    return seeds


def _check_strategy_args(args: argparse.Namespace) -> None:
    """Validates ``--strategy``/``--replicas`` before TensorFlow starts.

    Raises:
        ValueError: naming the argument and the value received.
    """
    if args.strategy not in STRATEGIES:
        raise ValueError(
            f"Invalid value for argument `strategy`: expected one of "
            f"{STRATEGIES}. Received: strategy={args.strategy!r}"
        )
    if args.replicas is not None:
        text = args.replicas
        try:
            args.replicas = int(text)
        except ValueError:
            args.replicas = 0
        if args.replicas < 1:
            raise ValueError(
                "Invalid value for argument `replicas`: expected an integer "
                f">= 1. Received: replicas={text!r}"
            )
        if args.strategy != "mirrored":
            raise ValueError(
                "Invalid value for argument `replicas`: it only applies to "
                "--strategy mirrored (multiworker has one replica per worker "
                "and device, none has one). Received: "
                f"replicas={text!r}, strategy={args.strategy!r}"
            )
    if args.strategy == "multiworker" and args.jit_compile:
        # The custom loop's step holds collective ops; it is not compiled
        # with XLA, and silently ignoring the flag would mislabel results.
        raise ValueError(
            "Invalid value for argument `jit_compile`: not supported with "
            "--strategy multiworker (its custom training loop runs without "
            f"XLA). Received: jit_compile=args.jit_compile, strategy={args.strategy!r}"
        )
    # Fail here, before minutes of dataset building, not in the strategy.
    if args.strategy == "multiworker" and "TF_CONFIG" not in os.environ:
        raise ValueError(
            "Invalid value for argument `strategy`: 'multiworker' needs the "
            "TF_CONFIG environment variable (cluster and task) set in every "
            f"worker. Received: strategy={args.strategy!r} without TF_CONFIG"
        )


def make_strategy(name: str, replicas: int | None) -> Any:
    """The `tf.distribute` strategy for ``--strategy``, or None for ``none``.

    Call it before TensorFlow runs any op: the logical CPU devices of
    ``mirrored`` on a CPU-only machine can only be set up before the
    runtime initialises (loading the dataset would initialise it).

    Args:
        name: One of `STRATEGIES`.
        replicas: For ``mirrored``: the first ``replicas`` GPUs if
            TensorFlow sees any (default all), else that many logical CPU
            devices (default 2). Must be None for the other strategies.

    Returns:
        A strategy, or None for ``none`` (plain Keras, no scope at all, so
        that the default path is exactly the single-device script).

    Raises:
        ValueError: on a bad name or replica count.
    """
    if name == "none" and replicas is None:
        return None
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if name == "mirrored" and gpus:
        count = len(gpus) if replicas is None else replicas
        if count > len(gpus):
            raise ValueError(
                "Invalid value for argument `replicas`: at most the "
                f"{len(gpus)} visible GPUs. Received: replicas={replicas}"
            )
        return tf.distribute.MirroredStrategy([f"/gpu:{i}" for i in range(count)])
    # The CPU-only mirrored setup, the TF_CONFIG check and the argument
    # checks are the ones of the distributed-losses example.
    from examples import distributed_losses

    strategy = distributed_losses.make_strategy(name, replicas)
    return None if name == "none" else strategy


def is_chief(strategy: Any) -> bool:
    """Whether this process writes the outputs (always, without a cluster).

    The chief is the task of type ``chief`` if the cluster has one, else
    ``worker`` 0, TensorFlow's own convention for MultiWorkerMirroredStrategy.
    """
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    if task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return task_type == "worker" and task_id == 0 and not has_chief


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line arguments."""
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--config",
        default=None,
        choices=sorted(_dataset_configs()),
        help="gp_textures config; 'default' is the sweep's custom config "
        "(128 px, lengths x1/8, 50 train per class), 'paper' the paper's "
        "1024 px recipe (slow: hours on two CPU cores)",
    )
    p.add_argument("--epochs", type=_positive_int, default=None,
                   help="epochs (default: 30, or 2 with --fast)")
    p.add_argument("--seeds", type=_seeds, default=None,
                   help="a count N (seeds 0..N-1) or a list like 0,1,2 "
                   "(default 3 seeds, 2 with --fast)")
    p.add_argument("--variants", default=",".join(VARIANTS),
                   help="comma-separated subset of " + ", ".join(VARIANTS))
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    p.add_argument("--batch-size", type=_positive_int, default=8)
    p.add_argument("--fine-prob", type=float, default=0.3)
    p.add_argument("--coarse-prob", type=float, default=0.75)
    p.add_argument("--mask-axes", choices=("sample", "batch"), default="sample")
    p.add_argument("--head", choices=("cell", "gap"), default="cell")
    p.add_argument("--filters", type=_positive_int, default=32)
    p.add_argument("--kernel", choices=("crisp", "blurred"), default="crisp")
    p.add_argument("--crop", type=_positive_int, default=None,
                   help="random-crop side in pixels (default: half the image)")
    p.add_argument("--jit-compile", action=argparse.BooleanOptionalAction,
                   default=None,
                   help="compile the training step (XLA on TensorFlow and "
                   "JAX, torch.compile on PyTorch); default on for JAX "
                   "without --fast (jax.jit, Keras's own default there), "
                   "off otherwise")
    p.add_argument("--fast", action="store_true",
                   help="smoke run: a tiny custom config (32 px, 4 images per "
                   "class), 2 epochs, 2 seeds")
    p.add_argument("--out-dir", default="results/texture")
    p.add_argument("--data-dir", default=None,
                   help="TFDS data dir (default: TFDS's own; unused when "
                   "tensorflow_datasets is not importable)")
    p.add_argument("--verbose", type=int, choices=(0, 1, 2), default=2,
                   help="Keras fit verbosity")
    # Checked below rather than by argparse so that a bad value raises a
    # ValueError naming the argument, as `examples.distributed_losses` does.
    p.add_argument("--strategy", default="none",
                   help="tf.distribute strategy: one of " + ", ".join(STRATEGIES))
    p.add_argument("--replicas", default=None,
                   help="replicas for --strategy mirrored: the first N GPUs, "
                   "or N logical CPU devices without GPUs (default: all "
                   "GPUs, else 2)")
    args = p.parse_args(argv)
    backend = keras.backend.backend()
    if args.strategy in STRATEGIES and args.strategy != "none" and (
        backend != "tensorflow"
    ):
        # tf.distribute strategies hold TensorFlow variables and run
        # TensorFlow functions: they cannot drive a JAX or PyTorch model.
        p.error(
            f"--strategy: {args.strategy!r} is a tf.distribute strategy and "
            "needs the TensorFlow Keras backend; with the "
            f"{backend!r} backend only 'none' is allowed. Received: "
            f"--strategy {args.strategy} under KERAS_BACKEND={backend}"
        )
    _check_strategy_args(args)
    if args.jit_compile is None:
        # Without jit a JAX step runs op by op, several times slower. On
        # TensorFlow the default stays what it always was (off);
        # torch.compile was slower than eager on CPU. A --fast run is too
        # short to repay any tracing (it runs eagerly).
        args.jit_compile = backend == "jax" and not args.fast
    if args.config is None:
        args.config = "fast" if args.fast else DEFAULT_CONFIG
    if args.epochs is None:
        args.epochs = 2 if args.fast else 30
    if args.seeds is None:
        args.seeds = [0, 1] if args.fast else [0, 1, 2]
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    bad = [v for v in variants if v not in VARIANTS]
    if bad or not variants:
        p.error(f"--variants: expected a subset of {VARIANTS}, got {args.variants!r}")
    args.variants = variants
    for name in ("lr",):
        if not (math.isfinite(getattr(args, name)) and getattr(args, name) > 0):
            p.error(f"--{name} must be positive")
    for name in ("fine_prob", "coarse_prob"):
        if not 0.0 <= getattr(args, name) <= 1.0:
            p.error(f"--{name.replace('_', '-')} must be in [0, 1]")
    return args


def _build_model(
    variant: str,
    seed: int,
    size: int,
    scales: Sequence[Sequence[float]],
    args: argparse.Namespace,
) -> Any:
    """The texture network of one variant and seed (seeds Keras first)."""
    from keras_backdrop.experiments import texture_network as texture_model

    keras.utils.set_random_seed(seed)
    num_classes = math.prod(len(s) for s in scales)
    return texture_model.build_texture_model(
        size,
        scales,
        num_classes,
        masks=variant == "backdrop",
        fine_prob=args.fine_prob,
        coarse_prob=args.coarse_prob,
        mask_axes=args.mask_axes,
        head=args.head,
        filters=args.filters,
        kernel=args.kernel,
        seed=seed,
    )


def _crop_side(
    size: int, scales: Sequence[Sequence[float]], args: argparse.Namespace
) -> int:
    """The random-crop side: ``--crop``, or half the image, checked."""
    from keras_backdrop.experiments import texture_network as texture_model

    crop = args.crop or size // 2
    _, coarse = texture_model.mask_depths(size, scales)
    if not 2**coarse <= crop <= size:
        raise ValueError(
            f"Invalid value for --crop: {crop}; expected between one "
            f"coarse cell ({2**coarse} px) and the image size ({size} px)"
        )
    return crop


class TrainBatches(keras.utils.PyDataset):
    """All epochs' training batches, from NumPy, for the non-TF backends.

    Epoch ``e`` shuffles the images (and, with ``crop``, picks one random
    ``crop x crop`` window per image) with
    ``numpy.random.default_rng([seed, e])``, so a batch depends only on
    (seed, its index): runs repeat exactly under the same seed, whatever
    order or thread Keras fetches batches in, and without relying on when
    Keras calls ``on_epoch_end``. Train with
    ``fit(epochs=epochs, steps_per_epoch=steps_per_epoch)``: the iterator
    then runs on across epochs, as the ``tf.data`` pipeline's ``repeat``
    does on TensorFlow.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int,
                 epochs: int, seed: int, crop: int | None = None) -> None:
        super().__init__()
        self.x, self.y = x, y
        self.batch_size, self.epochs, self.seed, self.crop = (
            batch_size, epochs, seed, crop)
        self.steps_per_epoch = math.ceil(len(y) / batch_size)

    def __len__(self) -> int:
        return self.epochs * self.steps_per_epoch

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} out of range [0, {len(self)})")
        epoch, step = divmod(index, self.steps_per_epoch)
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(len(self.y))
        # Drawn for every image, then sliced, so that an image's window
        # does not depend on which batch it falls in.
        corners = None
        if self.crop is not None:
            corners = rng.integers(0, self.x.shape[1] - self.crop + 1,
                                   size=(len(self.y), 2))
        picked = order[step * self.batch_size:(step + 1) * self.batch_size]
        if corners is None:
            return self.x[picked], self.y[picked]
        c = self.crop
        images = np.stack([
            self.x[i, r:r + c, k:k + c] for i, (r, k) in zip(picked, corners[picked])
        ])
        return images, self.y[picked]


def _train_dataset(
    variant: str,
    seed: int,
    data: dict[str, np.ndarray],
    size: int,
    scales: Sequence[Sequence[float]],
    args: argparse.Namespace,
) -> tuple[Any, int | None]:
    """The batched training data and its steps per epoch.

    On TensorFlow a ``tf.data`` pipeline; steps are None when the dataset
    is one epoch (reshuffled at every pass); ``random_crops`` gives all
    epochs in one dataset instead, so the crop counter runs on across
    epochs, with a step count per epoch. On the other backends a
    `TrainBatches` over all epochs, with its steps per epoch.
    """
    x_train, y_train = data["x_train"], data["y_train"]
    crop = _crop_side(size, scales, args) if variant == "random_crops" else None
    if keras.backend.backend() != "tensorflow":
        train = TrainBatches(x_train, y_train, args.batch_size, args.epochs,
                             seed, crop)
        return train, train.steps_per_epoch

    import tensorflow as tf

    train = tf.data.Dataset.from_tensor_slices((x_train, y_train)).shuffle(
        len(y_train), seed=seed, reshuffle_each_iteration=True
    )
    if crop is None:
        return train.batch(args.batch_size).prefetch(2), None
    # The stateless crop is keyed by (seed, epoch-wise counter) so
    # that runs repeat exactly under the same seed.
    counter = tf.data.Dataset.counter()
    train = tf.data.Dataset.zip((train.repeat(args.epochs), counter)).map(
        lambda xy, i: (
            tf.image.stateless_random_crop(
                xy[0], (crop, crop, 1), seed=tf.stack([seed, tf.cast(i, tf.int32)])
            ),
            xy[1],
        )
    )
    steps = math.ceil(len(y_train) / args.batch_size)
    return train.batch(args.batch_size).prefetch(2), steps


def _eval_batch(size: int) -> int:
    """Evaluation batch keeping one batch's first activations near 100 MB."""
    return max(4, min(32, 2**20 // (size * size) * 4))


def _test_predictions(model: Any, x_test: np.ndarray, eval_batch: int) -> np.ndarray:
    """Predicted classes of the test images, by eager calls.

    Eager calls: `predict` would trace a new function for every model.
    """
    logits = [
        keras.ops.convert_to_numpy(model(x_test[i : i + eval_batch], training=False))
        for i in range(0, len(x_test), eval_batch)
    ]
    return np.argmax(np.concatenate(logits), axis=1)


def _run_result(
    pred: np.ndarray,
    data: dict[str, np.ndarray],
    scales: Sequence[Sequence[float]],
    train_accuracy: float,
    test_curve: Sequence[float],
    seconds: float,
) -> dict[str, Any]:
    """One run's entry of ``results.json``."""
    true_c = scale_choices(data["y_test"], scales)
    pred_c = scale_choices(pred, scales)
    return {
        "test_accuracy": float(np.mean(pred == data["y_test"])),
        "scale_accuracy": [float(a) for a in np.mean(true_c == pred_c, axis=0)],
        "train_accuracy": float(train_accuracy),
        "test_curve": [float(a) for a in test_curve],
        "seconds": seconds,
    }


def train_one(
    variant: str,
    seed: int,
    data: dict[str, np.ndarray],
    size: int,
    scales: Sequence[Sequence[float]],
    args: argparse.Namespace,
    strategy: Any = None,
) -> dict[str, Any]:
    """Trains one variant with one seed with Keras fit; its results.

    With a `strategy` (MirroredStrategy) the model is built and compiled
    in its scope, and ``fit`` splits every global batch over the replicas.
    """
    import contextlib

    scope = strategy.scope() if strategy is not None else contextlib.nullcontext()
    with scope:
        model = _build_model(variant, seed, size, scales, args)
        model.compile(
            optimizer=keras.optimizers.Adam(args.lr),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
            jit_compile=args.jit_compile,
            # Tracing costs more than a --fast run's few steps.
            run_eagerly=args.fast,
        )
    train, steps = _train_dataset(variant, seed, data, size, scales, args)
    fit_kwargs = {} if steps is None else {"steps_per_epoch": steps}
    eval_batch = _eval_batch(size)
    started = time.time()
    history = model.fit(
        train,
        epochs=args.epochs,
        validation_data=(data["x_test"], data["y_test"]),
        validation_batch_size=eval_batch,
        verbose=args.verbose,
        shuffle=False,  # the dataset reshuffles itself every epoch
        **fit_kwargs,
    )
    seconds = time.time() - started
    pred = _test_predictions(model, data["x_test"], eval_batch)
    return _run_result(
        pred, data, scales, history.history["accuracy"][-1],
        history.history["val_accuracy"], seconds,
    )


def train_one_custom(
    variant: str,
    seed: int,
    data: dict[str, np.ndarray],
    size: int,
    scales: Sequence[Sequence[float]],
    args: argparse.Namespace,
    strategy: Any,
) -> dict[str, Any]:
    """Trains one variant with one seed by a custom loop under `strategy`.

    For MultiWorkerMirroredStrategy, where Keras 3's ``fit`` does not run
    (keras-team/keras#20585). The recipe is ``fit``'s: Adam on the mean
    cross-entropy of each global batch, the same data pipeline (every
    worker builds it with the same seeds; the strategy shards each global
    batch over the replicas), the test set evaluated after every epoch and
    the training accuracy of the last epoch as measured during training
    (masks on). Each replica differentiates the sum of its samples' losses
    divided by the global batch's size, so the optimizer's sum over
    replicas is the mean over the global batch, also for a last, smaller
    batch. Every worker ends with the same weights, hence the same results.
    """
    import tensorflow as tf

    with strategy.scope():
        model = _build_model(variant, seed, size, scales, args)
        optimizer = keras.optimizers.Adam(args.lr)
        optimizer.build(model.trainable_variables)
    train, steps = _train_dataset(variant, seed, data, size, scales, args)
    options = tf.data.Options()
    # Split every global batch by samples: the workers hold the same data,
    # there are no files to shard by.
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA
    )
    dist_train = strategy.experimental_distribute_dataset(train.with_options(options))

    def replica_step(x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        context = tf.distribute.get_replica_context()
        local = tf.cast(tf.shape(y)[0], tf.float32)
        global_size = context.all_reduce("SUM", local)
        with tf.GradientTape() as tape:
            logits = model(x, training=True)
            losses = keras.losses.sparse_categorical_crossentropy(
                y, logits, from_logits=True
            )
            loss = tf.reduce_sum(losses) / global_size
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        correct = tf.reduce_sum(
            tf.cast(tf.equal(tf.argmax(logits, -1), tf.cast(y, tf.int64)), tf.float32)
        )
        return correct, local

    @tf.function
    def train_step(batch: Any) -> tuple[tf.Tensor, tf.Tensor]:
        correct, count = strategy.run(replica_step, args=batch)
        return (strategy.reduce("SUM", correct, axis=None),
                strategy.reduce("SUM", count, axis=None))

    eval_batch = _eval_batch(size)
    # random_crops: one iterator over all epochs, `steps` batches per epoch.
    iterator = None if steps is None else iter(dist_train)
    curve: list[float] = []
    train_accuracy = 0.0
    started = time.time()
    for epoch in range(args.epochs):
        correct = count = 0.0
        batches = dist_train if steps is None else range(steps)
        for batch in batches:
            c, n = train_step(batch if steps is None else next(iterator))
            correct, count = correct + float(c), count + float(n)
        train_accuracy = correct / max(count, 1.0)
        pred = _test_predictions(model, data["x_test"], eval_batch)
        curve.append(float(np.mean(pred == data["y_test"])))
        if args.verbose:
            print(f"epoch {epoch + 1}/{args.epochs}: train accuracy "
                  f"{train_accuracy:.3f}, test accuracy {curve[-1]:.3f}",
                  flush=True)
    seconds = time.time() - started
    return _run_result(pred, data, scales, train_accuracy, curve, seconds)


def summarize(results: dict[str, dict[str, dict[str, Any]]], seeds: Sequence[int],
              scales: Sequence[Sequence[float]]) -> str:
    """The results table (markdown) as a string."""
    scale_names = ["/".join(f"{c:g}" for c in s) for s in scales]
    head = ["variant"] + [f"seed {s}" for s in seeds] + ["mean ± std"] + [
        f"scale {n} acc." for n in scale_names
    ] + ["train acc.", "s/run"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for variant, runs in results.items():
        accs = [runs[str(s)]["test_accuracy"] for s in seeds]
        per_scale = np.mean([runs[str(s)]["scale_accuracy"] for s in seeds], axis=0)
        train = np.mean([runs[str(s)]["train_accuracy"] for s in seeds])
        secs = np.mean([runs[str(s)]["seconds"] for s in seeds])
        row = [variant] + [f"{a:.3f}" for a in accs] + [
            f"{np.mean(accs):.3f} ± {np.std(accs):.3f}"
        ] + [f"{a:.3f}" for a in per_scale] + [f"{train:.3f}", f"{secs:.0f}"]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def plot_curves(results: dict[str, dict[str, dict[str, Any]]], path: Path,
                title: str) -> None:
    """Test accuracy against epoch: mean over seeds, min-max band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for variant, runs in results.items():
        curves = np.array([r["test_curve"] for r in runs.values()])
        epochs = np.arange(1, curves.shape[1] + 1)
        mean = curves.mean(axis=0)
        line, = ax.plot(epochs, mean, label=f"{variant} (n={len(curves)})")
        ax.fill_between(epochs, curves.min(axis=0), curves.max(axis=0),
                        color=line.get_color(), alpha=0.2)
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Runs the comparison; returns the JSON-able results."""
    args = parse_args(argv)
    started = time.time()
    # Before anything runs a TensorFlow op (the dataset loading does).
    strategy = make_strategy(args.strategy, args.replicas)
    chief = is_chief(strategy)
    if strategy is not None:
        print(f"strategy {args.strategy}: {strategy.num_replicas_in_sync} "
              f"replicas, global batch {args.batch_size}"
              + ("" if chief else " (not the chief: writes no outputs)"),
              flush=True)
    config = _dataset_configs()[args.config]
    t0 = time.time()
    x_train, y_train = load_split(config, "train", args.data_dir)
    x_test, y_test = load_split(config, "test", args.data_dir)
    data_seconds = time.time() - t0
    import tfds_gp

    if isinstance(config, str):
        recipe = tfds_gp.PRESETS[config]
    elif isinstance(config, tfds_gp.GpRecipe):
        recipe = config
    else:
        recipe = config.recipe
    size, scales = recipe.size, [list(s) for s in recipe.scales]
    data = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    backend, source = keras.backend.backend(), data_source()
    print(
        f"gp_textures config {args.config!r}: {size}x{size}, scales {scales}, "
        f"{len(y_train)} train / {len(y_test)} test images "
        f"(loaded in {data_seconds:.0f} s, "
        + ("from TFDS" if source == "tfds" else
           "generated by tfds_gp.load_numpy: tensorflow_datasets not importable")
        + f"); Keras backend {backend}",
        flush=True,
    )
    from keras_backdrop.experiments import texture_network as texture_model

    fine, coarse = texture_model.mask_depths(size, scales)
    print(f"masks after conv {fine} ({2**fine} px cells) and conv {coarse} "
          f"({2**coarse} px cells)", flush=True)

    results: dict[str, dict[str, dict[str, Any]]] = {}
    for variant in args.variants:
        results[variant] = {}
        for seed in args.seeds:
            print(f"--- {variant}, seed {seed}", flush=True)
            if args.strategy == "multiworker":
                run = train_one_custom(variant, seed, data, size, scales, args,
                                       strategy)
            else:
                run = train_one(variant, seed, data, size, scales, args, strategy)
            results[variant][str(seed)] = run
            print(f"{variant} seed {seed}: test accuracy "
                  f"{run['test_accuracy']:.3f} ({run['seconds']:.0f} s)", flush=True)

    table = summarize(results, args.seeds, scales)
    total = time.time() - started
    print()
    print(f"Test accuracy after {args.epochs} epochs ({len(args.seeds)} seeds; "
          f"chance {1 / len(set(y_train.tolist())):.2f}; backend {backend}):")
    print(table)
    print(f"total {total:.0f} s (data {data_seconds:.0f} s)")

    out_dir = Path(args.out_dir)
    # The distribution flags join the settings only when used, so that a
    # default run writes exactly what it wrote before they existed.
    hidden = ("out_dir", "data_dir") + (
        ("strategy", "replicas") if strategy is None else ()
    )
    settings = {k: v for k, v in vars(args).items() if k not in hidden}
    if strategy is not None:
        settings["replicas"] = strategy.num_replicas_in_sync
    summary = {
        v: {
            "mean": float(np.mean([r["test_accuracy"] for r in runs.values()])),
            "std": float(np.std([r["test_accuracy"] for r in runs.values()])),
        }
        for v, runs in results.items()
    }
    payload = {
        "backend": backend,
        "data_source": source,
        "config": args.config,
        "dataset": {"size": size, "scales": scales, "powers": list(recipe.powers),
                    "train_per_class": recipe.train_per_class,
                    "test_per_class": recipe.test_per_class, "seed": recipe.seed},
        "mask_depths": [fine, coarse],
        "settings": settings,
        "results": results,
        "summary": summary,
        "seconds": {"total": total, "data": data_seconds},
    }
    if not chief:
        # The workers hold identical weights and results; one writer
        # avoids several processes racing on the same files.
        return payload
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(payload, indent=2))
    plot_curves(
        results, out_dir / "learning_curves.png",
        f"gp_textures {args.config}: {size}px, {len(y_train)} train images, "
        f"{len(args.seeds)} seeds, {backend}",
    )
    print(f"wrote {out_dir / 'results.json'} and {out_dir / 'learning_curves.png'}")
    return payload


if __name__ == "__main__":
    main(sys.argv[1:])
