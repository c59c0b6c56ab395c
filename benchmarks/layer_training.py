"""Layer cost in training: texture-network step time, masked / unmasked.

The texture network of the design (section 3) is trained one step at a
time with and without its two `BackdropMasking` layers, with and without
`jit_compile`, at two input sizes and two batch sizes. Beside backdrop,
two peers sit at the same positions: the idiom users write without a
custom gradient (`x*m + stop_gradient(x - x*m)`) and a `SpatialDropout2D`
of the same rate. Target for backdrop: ratio at most 1.03.

Run: `python benchmarks/layer_training.py [--quick] [--out PATH.json]`.
"""

from __future__ import annotations

import itertools
from typing import Any

from _common import (
    TEXTURE_VARIANTS,
    build_texture_model,
    main,
    texture_batch,
    texture_train_step,
)
from _core import (
    RATIO_COLUMNS,
    benchmark_result,
    interleaved_times,
    print_table,
    ratio_row,
)

NAME = "layer_training"
TARGET = 1.03


def settings(quick: bool) -> dict[str, Any]:
    """Grid and repetition counts; quick mode is for CI, not for figures."""
    if quick:
        return {
            "sizes": (32,),
            "batches": (2,),
            "jit": (False, True),
            "rounds": 2,
            "calls": 1,
        }
    return {
        "sizes": (128, 256),
        "batches": (4, 8),
        "jit": (False, True),
        "rounds": 21,
        "calls": 5,
    }


def measure(
    size: int, batch: int, jit: bool, rounds: int, calls: int
) -> list[dict[str, Any]]:
    """One grid point: every variant timed in interleaved rounds."""
    x, y = texture_batch(size, batch)
    steps = {}
    for variant in TEXTURE_VARIANTS:
        step = texture_train_step(build_texture_model(size, variant), jit)
        # Bind per variant: a plain closure would see the last `step`.
        steps[variant] = lambda step=step: step(x, y)
    times = interleaved_times(steps, rounds=rounds, calls_per_round=calls)
    base = times["none"]
    rows = []
    for variant in TEXTURE_VARIANTS[1:]:
        rows.append(
            {
                "size": size,
                "batch": batch,
                "jit_compile": jit,
                "variant": variant,
                **ratio_row(times[variant], base),
            }
        )
    return rows


def run(quick: bool) -> dict[str, Any]:
    """Runs the grid; returns rows, the table and whether the target held."""
    cfg = settings(quick)
    rows: list[dict[str, Any]] = []
    for jit, size, batch in itertools.product(cfg["jit"], cfg["sizes"], cfg["batches"]):
        rows.extend(measure(size, batch, jit, cfg["rounds"], cfg["calls"]))
        print_table(rows[-3:], COLUMNS)
    target = f"backdrop ratio <= {TARGET}"
    met = all(r["ratio"] <= TARGET for r in rows if r["variant"] == "backdrop")
    return benchmark_result(
        NAME, quick, cfg, rows, COLUMNS, target=target, target_met=met
    )


COLUMNS = ("size", "batch", "jit_compile", "variant", "baseline_ms", *RATIO_COLUMNS)

if __name__ == "__main__":
    main(NAME, run)
