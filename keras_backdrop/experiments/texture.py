"""The texture experiment: gp_textures data, training loops, summaries.

Trains the paper's texture network (`texture_network`) three ways with the
same seeds, epochs, optimizer and batch size (`VARIANTS`):

* ``no_mask``: the network without `BackdropMasking`, on full images;
* ``backdrop``: the fine and coarse masks on, on full images;
* ``random_crops``: no masks, trained on a fresh random crop of every
  training image at every epoch, evaluated on the full test images (the
  network is fully convolutional with an averaged per-cell head).

`run` does the whole comparison for a `TextureExperiment` and returns the
JSON-able results; ``python -m examples.texture_classification`` is its
command line.

Data: from TFDS when ``tensorflow_datasets`` imports, streamed by
``tfds.load(..., as_supervised=True)`` into ``fit`` (on any backend; read
into memory first under a `tf.distribute` strategy), else
generated in memory by `tfds_gp.load_numpy` and fed by `TrainBatches`, a
`keras.utils.PyDataset` (on JAX or PyTorch without TensorFlow). Both give
the same images, in another order: TFDS stores the examples in
hashed-key order, the generator in index order.

Training: Keras ``fit``, under a `tf.distribute.MirroredStrategy` scope
when one is given; under `tf.distribute.MultiWorkerMirroredStrategy`,
where Keras 3's ``fit`` does not run (keras-team/keras#20585), a small
custom loop (`train_one_custom`) with the same recipe.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from keras_backdrop.experiments import results as results_lib
from keras_backdrop.experiments import texture_network

#: The three trainings compared.
VARIANTS = ("no_mask", "backdrop", "random_crops")

#: The dataset chosen by the sweep in examples/TEXTURE_RESULTS.md.
DEFAULT_CONFIG = "default"

#: Dataset config names (`dataset_configs`).
CONFIG_NAMES = ("default", "fast", "medium", "paper", "small", "three_scale")


@dataclasses.dataclass
class TextureExperiment:
    """The settings of one comparison; the defaults are the default run.

    Attributes:
        config: A name of `dataset_configs`.
        epochs: Training epochs.
        seeds: Seeds; each variant is trained once per seed.
        variants: A subset of `VARIANTS`.
        lr: Adam learning rate.
        batch_size: Global batch size.
        fine_prob: Mask probability of the fine mask.
        coarse_prob: Mask probability of the coarse mask.
        mask_axes: ``"sample"`` or ``"batch"`` (see `texture_network`).
        head: ``"cell"`` or ``"gap"``.
        filters: Filters per convolution.
        kernel: ``"crisp"`` or ``"blurred"``.
        crop: Random-crop side in pixels; None for half the image.
        jit_compile: Whether ``fit`` compiles the step.
        fast: Smoke-run mode: Keras runs eagerly (tracing costs more than
            a few steps).
        verbose: Keras ``fit`` verbosity.
        strategy: ``"none"``, ``"mirrored"`` or ``"multiworker"``.
        replicas: Replicas for ``"mirrored"`` (see
            `keras_backdrop.experiments.strategies.make_strategy`).
        out_dir: Where the chief writes ``results.json`` and the plot.
        data_dir: TFDS data directory (None: TFDS's own).
    """

    config: str = DEFAULT_CONFIG
    epochs: int = 30
    seeds: list[int] = dataclasses.field(default_factory=lambda: [0, 1, 2])
    variants: list[str] = dataclasses.field(default_factory=lambda: list(VARIANTS))
    lr: float = 1e-3
    batch_size: int = 8
    fine_prob: float = 0.3
    coarse_prob: float = 0.75
    mask_axes: str = "sample"
    head: str = "cell"
    filters: int = 32
    kernel: str = "crisp"
    crop: int | None = None
    jit_compile: bool = False
    fast: bool = False
    verbose: int = 2
    strategy: str = "none"
    replicas: int | None = None
    out_dir: str = "results/texture"
    data_dir: str | None = None

    def network_kwargs(self) -> dict[str, Any]:
        """The settings that `texture_network.build_texture_model` takes.

        Returns:
            `NETWORK_FIELDS` and their values, as keyword arguments.
        """
        return {name: getattr(self, name) for name in NETWORK_FIELDS}


#: The `TextureExperiment` fields that `network_kwargs` passes to the network.
NETWORK_FIELDS = ("fine_prob", "coarse_prob", "mask_axes", "head", "filters", "kernel")


# --------------------------------------------------------------------------
# Data


def data_source() -> str:
    """``"tfds"`` when tensorflow_datasets imports, else ``"numpy"``.

    `tfds_gp` leaves its builder (``GpTexturesConfig``) as None when
    tensorflow_datasets does not import; the NumPy generator then gives the
    same arrays without TFDS.
    """
    import tfds_gp

    return "numpy" if tfds_gp.GpTexturesConfig is None else "tfds"


def dataset_configs() -> dict[str, Any]:
    """Named dataset configs: the built-in ones plus the custom ones.

    Custom configs are TFDS ``GpTexturesConfig`` objects when TFDS is there,
    else the NumPy ``GpRecipe`` with the same fields (the same data).
    """
    import tfds_gp

    cfg = tfds_gp.GpTexturesConfig if data_source() == "tfds" else tfds_gp.GpRecipe

    def custom(size: int, scales: tuple, per_class: int, seed: int) -> Any:
        # The paper's powers; as many test as training images per class.
        return cfg(
            size=size,
            scales=scales,
            powers=(0.75, 1.25),
            train_per_class=per_class,
            test_per_class=per_class,
            seed=seed,
        )

    return {
        # The sweep's setting (see TEXTURE_RESULTS.md): 128 x 128 with the
        # paper's lengths x 1/8, i.e. the paper's image geometry (blobs per
        # image side) at an eighth of the side, and more training samples
        # per class than the paper's 25.
        "default": custom(128, ((1.1875, 1.25), (10.0, 17.5)), per_class=50, seed=11),
        # Seconds end to end: for tests and smoke runs.
        "fast": custom(32, ((1.0, 1.5), (4.0, 6.0)), per_class=4, seed=12),
        "small": "small",
        "medium": "medium",
        "paper": "paper",
        "three_scale": "three_scale",
    }


def recipe_of(config: Any) -> Any:
    """The `tfds_gp.GpRecipe` of a config name, recipe or TFDS config."""
    import tfds_gp

    if isinstance(config, str):
        return tfds_gp.PRESETS[config]
    if isinstance(config, tfds_gp.GpRecipe):
        return config
    return config.recipe


def load_split(
    config: Any, split: str, data_dir: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(n, size, size, 1)`` float32 and int64 labels of one split.

    From TFDS (built into ``data_dir`` if needed) when it imports, else
    generated in memory by `tfds_gp.load_numpy` (``data_dir`` unused).
    """
    import tfds_gp  # registers gp_textures when TFDS is there

    if data_source() == "numpy":
        images, labels = tfds_gp.load_numpy(config, split)
        return images.astype(np.float32), labels.astype(np.int64)
    import tensorflow_datasets as tfds

    ds = load_tfds(config, split, data_dir).batch(1 << 30)
    images, labels = next(iter(tfds.as_numpy(ds)))
    return images.astype(np.float32), labels.astype(np.int64)


def load_tfds(config: Any, split: str, data_dir: str | None = None) -> Any:
    """One split as a `tf.data.Dataset` of ``(image, label)``, in file order.

    ``tfds.load(..., as_supervised=True)``, building the dataset into
    ``data_dir`` first if needed.
    """
    import tensorflow_datasets as tfds

    import tfds_gp  # noqa: F401  (registers gp_textures)

    return tfds.load(
        "gp_textures",
        split=split,
        data_dir=data_dir,
        as_supervised=True,
        shuffle_files=False,
        builder_kwargs={"config": config},
    )


@dataclasses.dataclass
class TextureData:
    """The training and test data of a run, streamed or in memory.

    `train` and `test` are either `tf.data.Dataset` of single ``(image,
    label)`` pairs (streamed from TFDS) or ``(images, labels)`` arrays (in
    memory). `source` is where they come from, ``"tfds"`` or ``"numpy"``
    (`data_source`); `y_test` holds the test labels in order.
    """

    source: str
    train: Any
    test: Any
    n_train: int
    y_test: np.ndarray

    @property
    def in_memory(self) -> bool:
        """Whether the splits are arrays rather than datasets."""
        return isinstance(self.train, tuple)


@dataclasses.dataclass(frozen=True, eq=False)
class RunSpec:
    """One training run: a variant and a seed on a run's data and settings.

    Attributes:
        variant: One of `VARIANTS`.
        seed: The run's seed (weights, masks, shuffling, crops).
        data: The run's `TextureData`.
        size: The image side in pixels.
        scales: The dataset's length scales, one list per scale.
        exp: The comparison's `TextureExperiment`.
    """

    variant: str
    seed: int
    data: TextureData
    size: int
    scales: Sequence[Sequence[float]]
    exp: TextureExperiment


def load_data(
    config: Any, data_dir: str | None = None, *, in_memory: bool = False
) -> TextureData:
    """The data of one config (see the module docstring).

    Args:
        config: A dataset config (`dataset_configs`).
        data_dir: TFDS data directory.
        in_memory: Read both splits into arrays even where TFDS streams.
    """
    if data_source() == "numpy" or in_memory:
        train = load_split(config, "train", data_dir)
        test = load_split(config, "test", data_dir)
        return TextureData(data_source(), train, test, len(train[1]), test[1])
    import tensorflow_datasets as tfds

    train, test = (
        load_tfds(config, "train", data_dir),
        load_tfds(config, "test", data_dir),
    )
    y_test = np.concatenate([y for _, y in tfds.as_numpy(test.batch(1024))]).astype(
        np.int64
    )
    n_train = int(train.cardinality())
    if n_train < 0:
        n_train = sum(1 for _ in train)
    return TextureData("tfds", train, test, n_train, y_test)


def scale_choices(labels: np.ndarray, scales: Sequence[Sequence[float]]) -> np.ndarray:
    """Per label, the index chosen on each scale (first scale fastest).

    >>> scale_choices(np.array([0, 1, 2, 3]), [[1, 2], [3, 4]]).tolist()
    [[0, 0], [1, 0], [0, 1], [1, 1]]
    """
    out = np.empty((len(labels), len(scales)), np.int64)
    rest = np.asarray(labels, np.int64)
    for s, choices in enumerate(scales):
        out[:, s] = rest % len(choices)
        rest = rest // len(choices)
    return out


class TrainBatches(keras.utils.PyDataset):
    """All epochs' training batches, from NumPy, where TensorFlow is absent.

    Epoch ``e`` shuffles the images (and, with ``crop``, picks one random
    ``crop x crop`` window per image) with
    ``numpy.random.default_rng([seed, e])``, so a batch depends only on
    (seed, its index): runs repeat exactly under the same seed, whatever
    order or thread Keras fetches batches in, and without relying on when
    Keras calls ``on_epoch_end``. Train with
    ``fit(epochs=epochs, steps_per_epoch=steps_per_epoch)``: the iterator
    then runs on across epochs, as the ``tf.data`` pipeline's ``repeat``
    does.
    """

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        batch_size: int,
        epochs: int,
        seed: int,
        crop: int | None = None,
    ) -> None:
        super().__init__()
        self.x, self.y = x, y
        self.batch_size, self.epochs, self.seed, self.crop = (
            batch_size,
            epochs,
            seed,
            crop,
        )
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
            corners = rng.integers(
                0, self.x.shape[1] - self.crop + 1, size=(len(self.y), 2)
            )
        picked = order[step * self.batch_size : (step + 1) * self.batch_size]
        if corners is None:
            return self.x[picked], self.y[picked]
        c = self.crop
        images = np.stack(
            [
                self.x[i, r : r + c, k : k + c]
                for i, (r, k) in zip(picked, corners[picked], strict=True)
            ]
        )
        return images, self.y[picked]


def crop_side(size: int, scales: Sequence[Sequence[float]], crop: int | None) -> int:
    """The random-crop side: ``crop``, or half the image, checked.

    Raises:
        ValueError: If the crop is smaller than one coarse cell or larger
            than the image.
    """
    side = crop or size // 2
    _, coarse = texture_network.mask_depths(size, scales)
    if not 2**coarse <= side <= size:
        raise ValueError(
            f"Invalid value for argument `crop`: expected between one coarse "
            f"cell ({2**coarse} px) and the image size ({size} px). "
            f"Received: crop={side}"
        )
    return side


def train_dataset(run: RunSpec) -> tuple[Any, int | None]:
    """The batched training data of `run` and its steps per epoch.

    A ``tf.data`` pipeline when TensorFlow is there (streamed from TFDS,
    or from the arrays when TFDS is not); steps are None when the dataset
    is one epoch (reshuffled at every pass); ``random_crops`` gives all
    epochs in one dataset instead, so the crop counter runs on across
    epochs, with a step count per epoch. Without TensorFlow a
    `TrainBatches` over all epochs, with its steps per epoch.
    """
    data, exp, seed = run.data, run.exp, run.seed
    crop = (
        crop_side(run.size, run.scales, exp.crop)
        if run.variant == "random_crops"
        else None
    )
    if data.in_memory and keras.backend.backend() != "tensorflow":
        train = TrainBatches(*data.train, exp.batch_size, exp.epochs, seed, crop)
        return train, train.steps_per_epoch

    import tensorflow as tf

    source = data.train
    if data.in_memory:
        source = tf.data.Dataset.from_tensor_slices(data.train)
    train = source.shuffle(data.n_train, seed=seed, reshuffle_each_iteration=True)
    if crop is None:
        return train.batch(exp.batch_size).prefetch(2), None
    # The stateless crop is keyed by (seed, epoch-wise counter) so
    # that runs repeat exactly under the same seed.
    counter = tf.data.Dataset.counter()
    train = tf.data.Dataset.zip((train.repeat(exp.epochs), counter)).map(
        lambda xy, i: (
            tf.image.stateless_random_crop(
                xy[0], (crop, crop, 1), seed=tf.stack([seed, tf.cast(i, tf.int32)])
            ),
            xy[1],
        )
    )
    steps = math.ceil(data.n_train / exp.batch_size)
    return train.batch(exp.batch_size).prefetch(2), steps


def eval_batch_size(size: int) -> int:
    """Evaluation batch keeping one batch's first activations near 100 MB."""
    return max(4, min(32, 2**20 // (size * size) * 4))


def _test_batches(data: TextureData, eval_batch: int) -> Any:
    """The test images in batches, in order (NumPy arrays or a dataset)."""
    if data.in_memory:
        x = data.test[0]
        return (x[i : i + eval_batch] for i in range(0, len(x), eval_batch))
    return data.test.map(lambda x, y: x).batch(eval_batch)


def predict_classes(model: Any, data: TextureData, eval_batch: int) -> np.ndarray:
    """Predicted classes of the test images, in order, by eager calls.

    Eager calls: `predict` would trace a new function for every model.
    """
    logits = [
        keras.ops.convert_to_numpy(model(x, training=False))
        for x in _test_batches(data, eval_batch)
    ]
    return np.argmax(np.concatenate(logits), axis=1)


def _run_result(
    pred: np.ndarray,
    y_test: np.ndarray,
    scales: Sequence[Sequence[float]],
    train_accuracy: float,
    test_curve: Sequence[float],
    seconds: float,
) -> dict[str, Any]:
    """One run's entry of ``results.json``."""
    true_c = scale_choices(y_test, scales)
    pred_c = scale_choices(pred, scales)
    return {
        "test_accuracy": float(np.mean(pred == y_test)),
        "scale_accuracy": [float(a) for a in np.mean(true_c == pred_c, axis=0)],
        "train_accuracy": float(train_accuracy),
        "test_curve": [float(a) for a in test_curve],
        "seconds": seconds,
    }


def build_variant_model(run: RunSpec) -> keras.Model:
    """The texture network of `run`'s variant and seed (seeds Keras first)."""
    keras.utils.set_random_seed(run.seed)
    num_classes = math.prod(len(s) for s in run.scales)
    return texture_network.build_texture_model(
        run.size,
        run.scales,
        num_classes,
        masks=run.variant == "backdrop",
        seed=run.seed,
        **run.exp.network_kwargs(),
    )


def train_one(run: RunSpec, strategy: Any = None) -> dict[str, Any]:
    """Trains `run` (one variant with one seed) with Keras fit; its results.

    With a `strategy` (MirroredStrategy) the model is built and compiled
    in its scope, and ``fit`` splits every global batch over the replicas.
    """
    data, exp = run.data, run.exp
    scope = strategy.scope() if strategy is not None else contextlib.nullcontext()
    with scope:
        model = build_variant_model(run)
        model.compile(
            optimizer=keras.optimizers.Adam(exp.lr),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
            jit_compile=exp.jit_compile,
            # Tracing costs more than a --fast run's few steps.
            run_eagerly=exp.fast,
        )
    train, steps = train_dataset(run)
    fit_kwargs = {} if steps is None else {"steps_per_epoch": steps}
    eval_batch = eval_batch_size(run.size)
    if data.in_memory:
        fit_kwargs.update(validation_data=data.test, validation_batch_size=eval_batch)
    else:
        fit_kwargs["validation_data"] = data.test.batch(eval_batch)
    started = time.time()
    history = model.fit(
        train,
        epochs=exp.epochs,
        verbose=exp.verbose,
        shuffle=False,  # the dataset reshuffles itself every epoch
        **fit_kwargs,
    )
    seconds = time.time() - started
    pred = predict_classes(model, data, eval_batch)
    return _run_result(
        pred,
        data.y_test,
        run.scales,
        history.history["accuracy"][-1],
        history.history["val_accuracy"],
        seconds,
    )


def train_one_custom(run: RunSpec, strategy: Any) -> dict[str, Any]:
    """Trains `run` (one variant with one seed) by a custom loop under `strategy`.

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

    data, exp = run.data, run.exp
    with strategy.scope():
        model = build_variant_model(run)
        optimizer = keras.optimizers.Adam(exp.lr)
        optimizer.build(model.trainable_variables)
    train, steps = train_dataset(run)
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
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        correct = tf.reduce_sum(
            tf.cast(tf.equal(tf.argmax(logits, -1), tf.cast(y, tf.int64)), tf.float32)
        )
        return correct, local

    @tf.function
    def train_step(batch: Any) -> tuple[tf.Tensor, tf.Tensor]:
        correct, count = strategy.run(replica_step, args=batch)
        return (
            strategy.reduce("SUM", correct, axis=None),
            strategy.reduce("SUM", count, axis=None),
        )

    eval_batch = eval_batch_size(run.size)
    # random_crops: one iterator over all epochs, `steps` batches per epoch.
    iterator = None if steps is None else iter(dist_train)
    curve: list[float] = []
    train_accuracy = 0.0
    started = time.time()
    for epoch in range(exp.epochs):
        correct = count = 0.0
        batches = dist_train if steps is None else range(steps)
        for batch in batches:
            c, n = train_step(batch if steps is None else next(iterator))
            correct, count = correct + float(c), count + float(n)
        train_accuracy = correct / max(count, 1.0)
        pred = predict_classes(model, data, eval_batch)
        curve.append(float(np.mean(pred == data.y_test)))
        if exp.verbose:
            print(
                f"epoch {epoch + 1}/{exp.epochs}: train accuracy "
                f"{train_accuracy:.3f}, test accuracy {curve[-1]:.3f}",
                flush=True,
            )
    seconds = time.time() - started
    return _run_result(pred, data.y_test, run.scales, train_accuracy, curve, seconds)


# --------------------------------------------------------------------------
# Summaries


def results_table(
    results: dict[str, dict[str, dict[str, Any]]],
    seeds: Sequence[int],
    scales: Sequence[Sequence[float]],
) -> str:
    """The results table (Markdown): per seed, mean ± sample std, per scale.

    >>> run = {"test_accuracy": 0.5, "scale_accuracy": [0.5, 1.0],
    ...        "train_accuracy": 1.0, "seconds": 2.0}
    >>> print(results_table({"no_mask": {"0": run}}, [0], [[1, 2], [3, 4]]))
    | variant | seed 0 | mean ± std | scale 1/2 acc. | scale 3/4 acc. | train acc. | s/run |
    |---|---|---|---|---|---|---|
    | no_mask | 0.500 | 0.500 ± nan | 0.500 | 1.000 | 1.000 | 2 |
    """  # noqa: E501
    scale_names = ["/".join(f"{c:g}" for c in s) for s in scales]
    header = (
        ["variant"]
        + [f"seed {s}" for s in seeds]
        + ["mean ± std"]
        + [f"scale {n} acc." for n in scale_names]
        + ["train acc.", "s/run"]
    )
    rows = []
    for variant, runs in results.items():
        accs = [runs[str(s)]["test_accuracy"] for s in seeds]
        stats = results_lib.summarize(accs)
        per_scale = np.mean([runs[str(s)]["scale_accuracy"] for s in seeds], axis=0)
        train = np.mean([runs[str(s)]["train_accuracy"] for s in seeds])
        secs = np.mean([runs[str(s)]["seconds"] for s in seeds])
        rows.append(
            [variant]
            + [float(a) for a in accs]
            + [f"{stats['mean']:.3f} ± {stats['std']:.3f}"]
            + [float(a) for a in per_scale]
            + [float(train), f"{secs:.0f}"]
        )
    return results_lib.markdown_table(header, rows)


def plot_results(
    results: dict[str, dict[str, dict[str, Any]]], path: str | Path, title: str
) -> Path:
    """Test accuracy against epoch: mean over seeds, min-max band."""
    curves = {
        variant: [run["test_curve"] for run in runs.values()]
        for variant, runs in results.items()
    }
    return results_lib.plot_curves(curves, path, title=title, ylabel="test accuracy")


# --------------------------------------------------------------------------
# The whole comparison


def run(exp: TextureExperiment) -> dict[str, Any]:
    """Runs the comparison; returns the JSON-able results.

    Prints the progress and the table; the chief (every process without a
    cluster) writes ``results.json`` and ``learning_curves.png`` to
    ``exp.out_dir``.
    """
    from keras_backdrop.experiments import strategies

    started = time.time()
    # Before anything runs a TensorFlow op (the dataset loading does). No
    # strategy at all for "none": the default path is plain Keras.
    strategy = (
        None
        if exp.strategy == "none"
        else strategies.make_strategy(exp.strategy, exp.replicas)
    )
    chief = strategies.is_chief(strategy)
    if strategy is not None:
        print(
            f"strategy {exp.strategy}: {strategy.num_replicas_in_sync} "
            f"replicas, global batch {exp.batch_size}"
            + ("" if chief else " (not the chief: writes no outputs)"),
            flush=True,
        )
    config = dataset_configs()[exp.config]
    t0 = time.time()
    # Under a tf.distribute strategy the splits are read into memory: with
    # TensorFlow 2.21, MirroredStrategy fails on a TFDS stream's last,
    # partial batch (an AddN of per-replica shapes [16, ...] and [0, ...]),
    # which it splits fine from arrays.
    data = load_data(config, exp.data_dir, in_memory=strategy is not None)
    data_seconds = time.time() - t0
    recipe = recipe_of(config)
    size, scales = recipe.size, [list(s) for s in recipe.scales]
    num_classes = math.prod(len(s) for s in scales)
    backend = keras.backend.backend()
    print(
        f"gp_textures config {exp.config!r}: {size}x{size}, scales {scales}, "
        f"{data.n_train} train / {len(data.y_test)} test images "
        f"(loaded in {data_seconds:.0f} s, "
        + (
            "generated by tfds_gp.load_numpy: tensorflow_datasets not importable"
            if data.source == "numpy"
            else "read from TFDS"
            if data.in_memory
            else "streamed from TFDS"
        )
        + f"); Keras backend {backend}",
        flush=True,
    )
    fine, coarse = texture_network.mask_depths(size, scales)
    print(
        f"masks after conv {fine} ({2**fine} px cells) and conv {coarse} "
        f"({2**coarse} px cells)",
        flush=True,
    )

    results: dict[str, dict[str, dict[str, Any]]] = {}
    for variant in exp.variants:
        results[variant] = {}
        for seed in exp.seeds:
            print(f"--- {variant}, seed {seed}", flush=True)
            spec = RunSpec(variant, seed, data, size, scales, exp)
            if exp.strategy == "multiworker":
                one = train_one_custom(spec, strategy)
            else:
                one = train_one(spec, strategy)
            results[variant][str(seed)] = one
            print(
                f"{variant} seed {seed}: test accuracy "
                f"{one['test_accuracy']:.3f} ({one['seconds']:.0f} s)",
                flush=True,
            )

    table = results_table(results, exp.seeds, scales)
    total = time.time() - started
    print()
    print(
        f"Test accuracy after {exp.epochs} epochs ({len(exp.seeds)} seeds; "
        f"chance {1 / num_classes:.2f}; backend {backend}):"
    )
    print(table)
    print(f"total {total:.0f} s (data {data_seconds:.0f} s)")

    # The distribution settings join the settings only when used, so that
    # a default run writes what it wrote before they existed.
    hidden = ("out_dir", "data_dir") + (
        ("strategy", "replicas") if strategy is None else ()
    )
    settings = {k: v for k, v in dataclasses.asdict(exp).items() if k not in hidden}
    if strategy is not None:
        settings["replicas"] = strategy.num_replicas_in_sync
    summary = {
        v: results_lib.summarize([r["test_accuracy"] for r in runs.values()])
        for v, runs in results.items()
    }
    payload = {
        "backend": backend,
        "data_source": data.source,
        "config": exp.config,
        "dataset": {
            "size": size,
            "scales": scales,
            "powers": list(recipe.powers),
            "train_per_class": recipe.train_per_class,
            "test_per_class": recipe.test_per_class,
            "seed": recipe.seed,
        },
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
    out_dir = Path(exp.out_dir)
    results_lib.write_json(payload, out_dir / "results.json")
    plot_results(
        results,
        out_dir / "learning_curves.png",
        f"gp_textures {exp.config}: {size}px, {data.n_train} train images, "
        f"{len(exp.seeds)} seeds, {backend}",
    )
    print(f"wrote {out_dir / 'results.json'} and {out_dir / 'learning_curves.png'}")
    return payload
