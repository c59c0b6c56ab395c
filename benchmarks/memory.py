"""Memory: peak resident memory of a training step with / without masks.

How it is measured, and why:

* TensorFlow's allocator statistics (`tf.config.experimental.
  get_memory_info`) exist for GPUs only; on the CPU the only honest figure
  is the process's resident memory.
* Each variant runs in a fresh subprocess, so that one variant's heap
  growth and cached graphs cannot be charged to the other.
* The training step is traced (and, with `jit_compile`, compiled) and run
  a few times first; then the kernel's peak-RSS counter is reset (writing
  `5` to `/proc/self/clear_refs`, Linux >= 4.0) and the timed steps run.
  `VmHWM` then gives the peak resident memory *of the training steps*,
  not of TensorFlow's import or of graph compilation, which dwarf it.
  Where the reset is unavailable, the whole-process peak (`ru_maxrss`) is
  reported instead and flagged.
* Two figures per variant: the peak itself, and the peak minus the
  resident memory just before the measured steps ("step_mb", what the
  steps add on top of the built and traced model). The first includes the
  traced graph, which is larger with the masks (their training ops); the
  second is the step's own working set.
* Subprocesses of the two variants alternate (A/B/A/B) and the medians
  are compared: allocator behaviour varies by a few MB from run to run.

* With `jit_compile`, resident memory also moves with the compilation
  and its caches, by more than the masks could add (a 16 MB spread over
  runs). So the XLA step is also measured where XLA decides its memory:
  its buffer assignment. A child compiles the step with XLA's dump on
  (`XLA_FLAGS=--xla_dump_to=...`), and the assignment of the training
  step's module is read back: the bytes of its parameters, constants,
  outputs and preallocated temporaries (`xla_rows`). This is exact, the
  same in every run.

Target: no measurable increase with the masks (the masks are one float
per cell of a 32x32 and a 4x4 map, negligible beside the activations).

Run: `python benchmarks/memory.py [--quick] [--out PATH.json]`.
"""

from __future__ import annotations

import json
import os
import re
import resource
import statistics
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from _common import main
from _core import (
    benchmark_result,
    child_arguments,
    child_command,
    format_table,
    print_table,
)

NAME = "memory"
VARIANTS = ("none", "backdrop")


def _status_kb(field: str) -> int | None:
    """A `/proc/self/status` field in kB (`VmRSS`, `VmHWM`), if present."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    """Resets the kernel's peak-RSS counter of this process, if it can."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        return True
    except OSError:
        return False


def child(variant: str, size: int, batch: int, jit: bool, steps: int) -> dict:
    """Runs in the subprocess: builds, warms up, then measures the steps."""
    from _common import build_texture_model, texture_batch, texture_train_step

    x, y = texture_batch(size, batch)
    step = texture_train_step(build_texture_model(size, variant), jit)
    for _ in range(3):
        step(x, y).numpy()
    rss_before = _status_kb("VmRSS")
    reset = _reset_peak()
    for _ in range(steps):
        step(x, y).numpy()
    if reset and _status_kb("VmHWM") is not None:
        peak_kb = _status_kb("VmHWM")
    else:
        peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "variant": variant,
        "peak_mb": peak_kb / 1024,
        "rss_before_steps_mb": (rss_before or 0) / 1024,
        "peak_is_steps_only": reset,
    }


def _spawn(
    variant: str,
    size: int,
    batch: int,
    jit: bool,
    steps: int,
    extra_env: dict[str, str] | None = None,
) -> dict:
    """Runs `child` in a fresh interpreter and returns its JSON line."""
    cmd = child_command(__file__, [variant, size, batch, jit, steps])
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(extra_env or {})}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"memory child failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# One line per allocation of an XLA buffer assignment, e.g.
# "allocation 3: size 4194304, preallocated-temp:" or
# "allocation 0: size 1024, parameter 5, shape |f32[...]| at ShapeIndex {}:".
_ALLOCATION = re.compile(r"^allocation \d+: size (\d+), (.*)$")


def buffer_assignment_bytes(text: str) -> dict[str, int]:
    """Bytes by kind in the text of an XLA buffer assignment.

    Kinds: `parameter` (the step's inputs: weights, optimizer slots, the
    batch), `constant`, `output` (live out of the step, not a parameter)
    and `temp` (everything else: the activations, gradients and scratch
    space of the step), and their `total`.
    """
    kinds = {"parameter": 0, "constant": 0, "output": 0, "temp": 0}
    for line in text.splitlines():
        match = _ALLOCATION.match(line.strip())
        if not match:
            continue
        size, flags = int(match.group(1)), match.group(2)
        if "parameter" in flags:
            kinds["parameter"] += size
        elif "constant" in flags:
            kinds["constant"] += size
        elif "maybe-live-out" in flags or "output" in flags:
            kinds["output"] += size
        else:
            kinds["temp"] += size
    kinds["total"] = sum(kinds.values())
    return kinds


def xla_step_buffers(variant: str, size: int, batch: int) -> dict[str, int]:
    """The XLA buffer assignment of one compiled training step, by kind.

    The step is compiled in a child with XLA's dump switched on; of the
    modules dumped, the training step's is the one with the most
    parameter bytes (it takes every weight and optimizer slot).
    """
    with tempfile.TemporaryDirectory() as dump:
        flags = f"--xla_dump_to={dump} --xla_dump_hlo_as_text"
        _spawn(variant, size, batch, True, 1, {"XLA_FLAGS": flags})
        found = [
            buffer_assignment_bytes(path.read_text())
            for path in Path(dump).glob("*buffer-assignment.txt")
        ]
    if not found:
        raise RuntimeError("XLA wrote no buffer assignment (XLA_FLAGS ignored?)")
    return max(found, key=lambda kinds: kinds["parameter"])


def settings(quick: bool) -> dict[str, Any]:
    """Grid and repetition counts; quick mode is for CI, not for figures."""
    if quick:
        return {
            "points": ((64, 2, False),),
            "repeats": 1,
            "steps": 3,
            "xla_points": ((32, 2),),
        }
    return {
        "points": ((256, 8, False), (256, 8, True)),
        "repeats": 3,
        "steps": 10,
        "xla_points": ((128, 4), (128, 8), (256, 4), (256, 8)),
    }


def xla_rows(points: tuple[tuple[int, int], ...]) -> list[dict[str, Any]]:
    """Per point, the XLA step's buffers without and with the masks, in MB."""
    rows = []
    for size, batch in points:
        kinds = {v: xla_step_buffers(v, size, batch) for v in VARIANTS}
        row: dict[str, Any] = {"size": size, "batch": batch}
        for kind in ("parameter", "output", "temp", "total"):
            without, with_ = kinds["none"][kind], kinds["backdrop"][kind]
            row[f"{kind}_mb_without"] = without / 2**20
            row[f"{kind}_mb_with"] = with_ / 2**20
            row[f"{kind}_delta_bytes"] = with_ - without
        rows.append(row)
        print_table(rows[-1:], XLA_COLUMNS)
    return rows


def run(quick: bool) -> dict[str, Any]:
    """Alternates subprocesses of both variants; compares median peaks."""
    cfg = settings(quick)
    rows = []
    for size, batch, jit in cfg["points"]:
        peaks: dict[str, list[dict]] = {v: [] for v in VARIANTS}
        for r in range(cfg["repeats"]):
            order = VARIANTS if r % 2 == 0 else VARIANTS[::-1]
            for variant in order:
                peaks[variant].append(_spawn(variant, size, batch, jit, cfg["steps"]))
        med = {v: statistics.median(p["peak_mb"] for p in peaks[v]) for v in VARIANTS}
        # What the steps themselves add on top of the memory held once the
        # model is built and traced: the step's own working set.
        step_mb = {
            v: statistics.median(
                p["peak_mb"] - p["rss_before_steps_mb"] for p in peaks[v]
            )
            for v in VARIANTS
        }
        spread = {
            v: max(p["peak_mb"] for p in peaks[v]) - min(p["peak_mb"] for p in peaks[v])
            for v in VARIANTS
        }
        rows.append(
            {
                "size": size,
                "batch": batch,
                "jit_compile": jit,
                "peak_mb_without": med["none"],
                "peak_mb_with": med["backdrop"],
                "delta_mb": med["backdrop"] - med["none"],
                "ratio": med["backdrop"] / med["none"],
                "step_mb_without": step_mb["none"],
                "step_mb_with": step_mb["backdrop"],
                "run_to_run_spread_mb": max(spread.values()),
                "peak_is_steps_only": all(
                    p["peak_is_steps_only"] for v in VARIANTS for p in peaks[v]
                ),
                "runs": peaks,
            }
        )
        print_table(rows[-1:], COLUMNS)
    xla = xla_rows(cfg["xla_points"])
    target = "no measurable increase of peak RSS with the masks"
    return benchmark_result(
        NAME,
        quick,
        cfg,
        rows,
        COLUMNS,
        target=target,
        xla_rows=xla,
        xla_table=format_table(xla, XLA_COLUMNS),
    )


COLUMNS = (
    "size",
    "batch",
    "jit_compile",
    "peak_mb_without",
    "peak_mb_with",
    "delta_mb",
    "ratio",
    "step_mb_without",
    "step_mb_with",
    "run_to_run_spread_mb",
)

XLA_COLUMNS = (
    "size",
    "batch",
    "parameter_mb_without",
    "parameter_delta_bytes",
    "temp_mb_without",
    "temp_delta_bytes",
    "output_delta_bytes",
    "total_mb_without",
    "total_delta_bytes",
)

if __name__ == "__main__":
    arguments = child_arguments()
    if arguments is None:
        main(NAME, run)
    else:
        print(json.dumps(child(*arguments)))
