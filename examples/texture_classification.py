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

VARIANTS = ("no_mask", "backdrop", "random_crops")

# "default" is the dataset chosen by the sweep in TEXTURE_RESULTS.md; every
# config is trained with the same recipe (the flags' defaults).
DEFAULT_CONFIG = "default"


def _dataset_configs() -> dict[str, Any]:
    """Named dataset configs: the built-in ones plus the custom ones."""
    import tfds_gp

    cfg = tfds_gp.GpTexturesConfig
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
    """Images ``(n, size, size, 1)`` float32 and int labels of one split."""
    import tensorflow_datasets as tfds

    import tfds_gp  # noqa: F401  (registers gp_textures)

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
    p.add_argument("--jit-compile", action="store_true",
                   help="compile the training step with XLA")
    p.add_argument("--fast", action="store_true",
                   help="smoke run: a tiny custom config (32 px, 4 images per "
                   "class), 2 epochs, 2 seeds")
    p.add_argument("--out-dir", default="results/texture")
    p.add_argument("--data-dir", default=None,
                   help="TFDS data dir (default: TFDS's own)")
    p.add_argument("--verbose", type=int, choices=(0, 1, 2), default=2,
                   help="Keras fit verbosity")
    args = p.parse_args(argv)
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


def train_one(
    variant: str,
    seed: int,
    data: dict[str, np.ndarray],
    size: int,
    scales: Sequence[Sequence[float]],
    args: argparse.Namespace,
) -> dict[str, Any]:
    """Trains one variant with one seed; returns its accuracies and curve."""
    import keras
    import tensorflow as tf

    from examples import texture_model

    keras.utils.set_random_seed(seed)
    num_classes = math.prod(len(s) for s in scales)
    model = texture_model.build_texture_model(
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
    model.compile(
        optimizer=keras.optimizers.Adam(args.lr),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        jit_compile=args.jit_compile,
        # Tracing costs more than a --fast run's few steps.
        run_eagerly=args.fast,
    )
    x_train, y_train = data["x_train"], data["y_train"]
    train = tf.data.Dataset.from_tensor_slices((x_train, y_train)).shuffle(
        len(y_train), seed=seed, reshuffle_each_iteration=True
    )
    if variant == "random_crops":
        crop = args.crop or size // 2
        _, coarse = texture_model.mask_depths(size, scales)
        if not 2**coarse <= crop <= size:
            raise ValueError(
                f"Invalid value for --crop: {crop}; expected between one "
                f"coarse cell ({2**coarse} px) and the image size ({size} px)"
            )
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
        train = train.batch(args.batch_size).prefetch(2)
        fit_kwargs = {"steps_per_epoch": steps}
    else:
        train = train.batch(args.batch_size).prefetch(2)
        fit_kwargs = {}
    # Keep the first layer's activations of one evaluation batch near
    # 100 MB, whatever the image size.
    eval_batch = max(4, min(32, 2**20 // (size * size) * 4))
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
    # Eager calls: `predict` would trace a new function for every model.
    logits = [
        model(data["x_test"][i : i + eval_batch], training=False).numpy()
        for i in range(0, len(data["x_test"]), eval_batch)
    ]
    pred = np.argmax(np.concatenate(logits), axis=1)
    true_c = scale_choices(data["y_test"], scales)
    pred_c = scale_choices(pred, scales)
    return {
        "test_accuracy": float(np.mean(pred == data["y_test"])),
        "scale_accuracy": [float(a) for a in np.mean(true_c == pred_c, axis=0)],
        "train_accuracy": float(history.history["accuracy"][-1]),
        "test_curve": [float(a) for a in history.history["val_accuracy"]],
        "seconds": seconds,
    }


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
    config = _dataset_configs()[args.config]
    t0 = time.time()
    x_train, y_train = load_split(config, "train", args.data_dir)
    x_test, y_test = load_split(config, "test", args.data_dir)
    data_seconds = time.time() - t0
    import tfds_gp

    recipe = (tfds_gp.PRESETS[config] if isinstance(config, str) else config.recipe)
    size, scales = recipe.size, [list(s) for s in recipe.scales]
    data = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    print(
        f"gp_textures config {args.config!r}: {size}x{size}, scales {scales}, "
        f"{len(y_train)} train / {len(y_test)} test images "
        f"(loaded in {data_seconds:.0f} s)",
        flush=True,
    )
    from examples import texture_model

    fine, coarse = texture_model.mask_depths(size, scales)
    print(f"masks after conv {fine} ({2**fine} px cells) and conv {coarse} "
          f"({2**coarse} px cells)", flush=True)

    results: dict[str, dict[str, dict[str, Any]]] = {}
    for variant in args.variants:
        results[variant] = {}
        for seed in args.seeds:
            print(f"--- {variant}, seed {seed}", flush=True)
            run = train_one(variant, seed, data, size, scales, args)
            results[variant][str(seed)] = run
            print(f"{variant} seed {seed}: test accuracy "
                  f"{run['test_accuracy']:.3f} ({run['seconds']:.0f} s)", flush=True)

    table = summarize(results, args.seeds, scales)
    total = time.time() - started
    print()
    print(f"Test accuracy after {args.epochs} epochs ({len(args.seeds)} seeds; "
          f"chance {1 / len(set(y_train.tolist())):.2f}):")
    print(table)
    print(f"total {total:.0f} s (data {data_seconds:.0f} s)")

    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = {k: v for k, v in vars(args).items() if k not in ("out_dir", "data_dir")}
    summary = {
        v: {
            "mean": float(np.mean([r["test_accuracy"] for r in runs.values()])),
            "std": float(np.std([r["test_accuracy"] for r in runs.values()])),
        }
        for v, runs in results.items()
    }
    payload = {
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
    (out_dir / "results.json").write_text(json.dumps(payload, indent=2))
    plot_curves(
        results, out_dir / "learning_curves.png",
        f"gp_textures {args.config}: {size}px, {len(y_train)} train images, "
        f"{len(args.seeds)} seeds",
    )
    print(f"wrote {out_dir / 'results.json'} and {out_dir / 'learning_curves.png'}")
    return payload


if __name__ == "__main__":
    main(sys.argv[1:])
