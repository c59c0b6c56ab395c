"""A reference classifier: can the classes be told apart from few images?

Each image becomes its log power spectrum averaged over rings of equal
spatial frequency; a logistic regression per scale (its regularisation
chosen by cross-validation on the training images alone) predicts the
scale's length, and the two predictions give the class. It is trained on
exactly the training images of a study's seed and scored on the study's
shared test set, so its accuracy says how much of each scale the same data
identify, against which the network's accuracy can be read.

    python -m research.texture.spectral --study deciding_512 --seeds 0-9
    python -m research.texture.spectral --study map --cell 25 1.25 --seeds 0-2

writes `<results>/<study>/spectral.json` (missing images are generated
into the work directory's data cache, as the studies do).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from research.runs import mean_sd, seed_range
from research.texture.data import load_split, scale_choices
from research.texture.settings import (
    DEFAULT_RESULTS,
    DEFAULT_WORK_DIR,
    STUDIES,
    Study,
    map_cell,
    parse_cell,
)

#: Rings of the power spectrum, over spatial frequencies 0 to 0.5 per pixel,
#: at 512 px and below.
RINGS = 48


def rings_for(size: int) -> int:
    """Rings for `size`-pixel images: 48, and 48 per 512 px above 512.

    Above 512 px a ring spans the same frequencies in cycles per image as at
    512 (about 5.3), so that the half-size replica's spectrum and the full
    size's fall into the same rings; at 1024 px 48 rings would put both
    large lengths (80 and 140 px) in the first one.
    """
    return RINGS * max(1, size // 512)


def ring_spectrum(images: np.ndarray, rings: int = RINGS) -> np.ndarray:
    """Log power per ring of spatial frequency, (n, rings), of (n, h, w, 1) images.

    A ring holds the nonzero frequencies whose modulus lies in
    `[i, i + 1) * 0.5 / rings` (the corners beyond 0.5 go to the last ring);
    a ring that holds none reads log(1e-30).
    """
    x = np.asarray(images, np.float64)[..., 0]
    power = np.abs(np.fft.rfft2(x)) ** 2
    radius = np.hypot(
        np.fft.fftfreq(x.shape[1])[:, None], np.fft.rfftfreq(x.shape[2])[None, :]
    )
    ring = np.minimum((radius / 0.5 * rings).astype(int), rings - 1).ravel()
    # Frequency zero (the image's mean) is left out of every ring.
    weight = (radius.ravel() > 0).astype(np.float64)
    counts = np.bincount(ring, weights=weight, minlength=rings)
    sums = np.stack(
        [np.bincount(ring, weights=weight * p.ravel(), minlength=rings) for p in power]
    )
    return np.log(sums / np.maximum(counts, 1) + 1e-30)


def score_seed(study: Study, seed: int, cache: Path) -> dict[str, float]:
    """Test accuracy (class, then per scale) trained on the seed's images."""
    from sklearn.linear_model import LogisticRegressionCV  # noqa: PLC0415
    from sklearn.pipeline import make_pipeline  # noqa: PLC0415
    from sklearn.preprocessing import StandardScaler  # noqa: PLC0415

    train = load_split(study, "train", cache, seed)
    test = load_split(study, "test", cache)
    rings = rings_for(study.size)
    x_train = ring_spectrum(train.images, rings)
    x_test = ring_spectrum(test.images, rings)
    c_train = scale_choices(train.lengths, study)
    c_test = scale_choices(test.lengths, study)
    right = []
    for scale in range(len(study.scales)):
        model = make_pipeline(StandardScaler(), LogisticRegressionCV(max_iter=10_000))
        model.fit(x_train, c_train[:, scale])
        right.append(model.predict(x_test) == c_test[:, scale])
    scores = {"test_accuracy": float(np.mean(np.all(right, axis=0)))}
    if len(right) > 1:
        scores["small_scale_accuracy"] = float(np.mean(right[0]))
        scores["large_scale_accuracy"] = float(np.mean(right[-1]))
    return scores


def main(argv: list[str] | None = None) -> int:
    """Scores the seeds asked for and writes the study's spectral files."""
    parser = argparse.ArgumentParser(
        prog="python -m research.texture.spectral", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--study", required=True, choices=[*STUDIES, "map"])
    parser.add_argument("--cell", nargs=2, metavar=("IMAGES", "RATIO"))
    parser.add_argument("--seeds", type=seed_range, default=[0])
    parser.add_argument("--work-dir", type=Path, default=Path(DEFAULT_WORK_DIR))
    parser.add_argument("--results", type=Path, default=Path(DEFAULT_RESULTS))
    args = parser.parse_args(argv)
    if (args.study == "map") != (args.cell is not None):
        parser.error("--cell IMAGES RATIO: with --study map, and only then")
    try:
        study = map_cell(*parse_cell(*args.cell)) if args.cell else STUDIES[args.study]
    except ValueError as error:
        parser.error(f"--cell: {error}")
    per_seed = {}
    for seed in args.seeds:
        per_seed[seed] = score_seed(study, seed, args.work_dir / "data")
        print(f"{study.name} seed {seed}: {per_seed[seed]}", flush=True)
    figures = list(next(iter(per_seed.values())))
    summary: dict[str, Any] = {
        "study": study.name,
        "classifier": f"log power in {rings_for(study.size)} rings, logistic "
        "regression per scale "
        "(regularisation by cross-validation on the training images)",
        "seeds": args.seeds,
        "per_seed": per_seed,
        **{f: mean_sd([r[f] for r in per_seed.values()]) for f in figures},
    }
    out = args.results / study.name
    out.mkdir(parents=True, exist_ok=True)
    (out / "spectral.json").write_text(json.dumps(summary, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
