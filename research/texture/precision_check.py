"""Does `mixed_bfloat16` change what a texture run learns? A paired check.

Trains `no_mask` and `backdrop` on the deciding study's data (seeds 0 and
1) for 390 steps (a 200-step warm-up, selection from step 200) in float32
and under `mixed_bfloat16`, and writes the test figures, the training-loss
curves and the wall time of each to
`docs/results/texture/precision_check.json`:
`python -m research.texture.precision_check [--out PATH]`.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from research.texture.data import load_split
from research.texture.settings import DEFAULT_WORK_DIR, PRECISIONS, STUDIES, Run
from research.texture.train import train_run


def main() -> None:
    """Runs the 8 paired runs and writes their figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=Path("docs/results/texture/precision_check.json")
    )
    args = parser.parse_args()
    base = STUDIES["deciding_512"].replace(
        name="precision_check",
        min_steps=390,
        max_steps=390,
        warmup_steps=200,
        select_from_step=200,
    )
    work = Path(DEFAULT_WORK_DIR)
    out = {}
    for seed in (0, 1):
        data = {
            "train": load_split(base, "train", work / "data", seed),
            "val": load_split(base, "val", work / "data", seed),
            "test": load_split(base, "test", work / "data"),
        }
        for precision in PRECISIONS:
            for variant in ("no_mask", "backdrop"):
                run = Run(base.replace(precision=precision), variant, seed)
                started = time.time()
                result = train_run(run, data, work / "precision_check", log=print)
                out[f"{precision}/{variant}/{seed}"] = {
                    "test": result["test_accuracy"],
                    "scales": result["scale_accuracy"],
                    "val": result["val_accuracy"],
                    "loss": [round(x, 3) for x in result["curves"]["loss"]],
                    "seconds": time.time() - started,
                }
    args.out.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
