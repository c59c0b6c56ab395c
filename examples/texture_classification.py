"""Texture classification with and without backdrop, on gp_textures.

Builds (or reuses) a ``gp_textures`` TFDS dataset, then trains the paper's
two-mask texture network
(`keras_backdrop.experiments.texture_network`) three ways, with the
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
comes from TFDS when ``tensorflow_datasets`` imports, streamed by
``tfds.load(..., as_supervised=True)`` into a ``tf.data`` pipeline (on any
backend), else from the NumPy generator (`tfds_gp.load_numpy`, the same
arrays, held in memory, nothing written to ``--data-dir``) through a
`keras.utils.PyDataset` that reshuffles (and, for ``random_crops``,
re-crops) every epoch from a NumPy generator keyed by (seed, epoch).
``--strategy mirrored`` and ``multiworker`` are `tf.distribute` and need
the TensorFlow backend. ``results.json`` records the backend and the data
source. TFDS stores the examples in hashed-key order and the generator
gives them in index order, so the two sources hold the same images but
batch them differently: the per-seed numbers of a run depend on the source
as well as the backend.

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
  loop instead (`keras_backdrop.experiments.texture.train_one_custom`):
  ``strategy.run`` in a ``tf.function``, the summed cross-entropy divided by
  the global batch's size, Adam, the same data pipeline and the same
  per-epoch test evaluation. Only the chief (task ``chief``, or ``worker`` 0
  when the cluster has no chief) writes ``--out-dir``. Every worker
  generates or reads the dataset itself: with a shared ``--data-dir``, build
  it once first (e.g. a ``--strategy none`` run with the same ``--config``),
  since concurrent TFDS builds into one directory can collide.

Under both strategies each replica draws its own backdrop masks: the layer
folds the replica id into the step's mask seed (`keras_backdrop.masks`), so
the masks are independent across replicas and repeat under the same seed.

See `examples/TEXTURE_RESULTS.md` for the sweep behind the defaults.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Keras before anything that can import TensorFlow (tensorflow_datasets,
# tfds_gp's builder): with KERAS_BACKEND=torch, TensorFlow imported first
# can abort the process (an LLVM option registered twice via triton).
import keras  # noqa: E402

from keras_backdrop.experiments import options, texture  # noqa: E402


def parse_args(argv: Sequence[str] | None = None) -> texture.TextureExperiment:
    """The command line as a `texture.TextureExperiment`; errors exit 2."""
    p = options.make_parser(__doc__, show_defaults=True)
    options.add_training_arguments(
        p,
        config_choices=texture.CONFIG_NAMES,
        config_help="gp_textures config (default: 'default', or 'fast' with "
        "--fast); 'default' is the sweep's custom config "
        "(128 px, lengths x1/8, 50 train per class), 'paper' the paper's "
        "1024 px recipe (slow: hours on two CPU cores)",
        variants=texture.VARIANTS,
        variants_default=list(texture.VARIANTS),
        seeds_help="a count N (seeds 0..N-1) or a list like 0,1,2 "
        "(default 3 seeds, 2 with --fast)",
        epochs_help="epochs (default: 30, or 2 with --fast)",
        jit_compile_help="compile the training step (XLA on TensorFlow and "
        "JAX, torch.compile on PyTorch); default on for JAX "
        "without --fast (jax.jit, Keras's own default there), "
        "off otherwise",
        lr_help="Adam learning rate",
    )
    p.add_argument("--fine-prob", type=options.probability, default=0.3)
    p.add_argument("--coarse-prob", type=options.probability, default=0.75)
    p.add_argument("--mask-axes", choices=("sample", "batch"), default="sample")
    p.add_argument("--head", choices=("cell", "gap"), default="cell")
    p.add_argument("--kernel", choices=("crisp", "blurred"), default="crisp")
    p.add_argument(
        "--crop",
        type=options.positive_int,
        default=None,
        help="random-crop side in pixels (default: half the image)",
    )
    options.add_output_arguments(
        p,
        fast_help="smoke run: a tiny custom config (32 px, 4 images per "
        "class), 2 epochs, 2 seeds",
        out_dir="results/texture",
    )
    p.add_argument(
        "--data-dir",
        help="TFDS data dir (default: TFDS's own; unused when "
        "tensorflow_datasets is not importable)",
    )
    p.add_argument(
        "--verbose", type=int, choices=(0, 1, 2), default=2, help="Keras fit verbosity"
    )
    options.add_strategy_arguments(p)
    args = p.parse_args(argv)
    backend = keras.backend.backend()
    options.check_strategy_arguments(p, args, backend)
    if args.strategy == "multiworker" and args.jit_compile:
        # The custom loop's step holds collective ops; it is not compiled
        # with XLA, and silently ignoring the flag would mislabel results.
        p.error(
            "argument --jit-compile: not supported with --strategy "
            "multiworker (its custom training loop runs without XLA). "
            "Received: --jit-compile with --strategy multiworker"
        )
    if args.jit_compile is None:
        # Without jit a JAX step runs op by op, several times slower. On
        # TensorFlow the default stays what it always was (off);
        # torch.compile was slower than eager on CPU. A --fast run is too
        # short to repay any tracing (it runs eagerly).
        args.jit_compile = backend == "jax" and not args.fast
    if args.config is None:
        args.config = "fast" if args.fast else texture.DEFAULT_CONFIG
    if args.epochs is None:
        args.epochs = 2 if args.fast else 30
    if args.seeds is None:
        args.seeds = [0, 1] if args.fast else [0, 1, 2]
    if args.crop is not None:
        recipe = texture.recipe_of(texture.dataset_configs()[args.config])
        try:
            texture.crop_side(recipe.size, recipe.scales, args.crop)
        except ValueError as error:
            p.error(f"argument --crop: {error}")
    return texture.TextureExperiment(**vars(args))


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Runs the comparison; returns the JSON-able results."""
    return texture.run(parse_args(argv))


if __name__ == "__main__":
    main()
