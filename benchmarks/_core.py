"""The framework-free helpers of the benchmarks: timing, ratios, output.

`_common` imports TensorFlow at module level, which the per-backend
benchmark's children must not do: under `KERAS_BACKEND=torch`, importing
TensorFlow before Keras can abort the process (an LLVM option registered
twice, see `shared/design/backends.md`), and a JAX or PyTorch child has no
reason to load it. What needs no framework therefore lives here, and
`_common` re-exports it, so the TensorFlow benchmarks are unchanged.
"""

from __future__ import annotations

import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

# --------------------------------------------------------------------------
# Timing


def finish(out: Any) -> None:
    """Waits for the work behind `out` (any nesting of tensors) to be done.

    TensorFlow and PyTorch on the CPU are synchronous, but JAX dispatches
    asynchronously, and on any accelerator a timer stopped before the
    result is fetched measures only the dispatch.
    """
    if isinstance(out, dict):
        for value in out.values():
            finish(value)
    elif isinstance(out, (list, tuple)):
        for value in out:
            finish(value)
    elif hasattr(out, "block_until_ready"):  # JAX
        out.block_until_ready()
    elif hasattr(out, "detach"):  # PyTorch: numpy() refuses grad tensors
        out.detach().cpu().numpy()
    elif hasattr(out, "numpy"):  # TensorFlow
        out.numpy()


def time_calls(fn: Callable[[], Any], n: int, best: bool = False) -> float:
    """Seconds per call of `fn`: the mean over `n` calls, or the best one.

    Every call's result is fetched (`finish`) so that its work is finished
    before the clock stops. With `best`, each call is timed on its own and
    the fastest is returned: on a machine shared with other jobs,
    interference only ever adds time, so the fastest of a few calls is the
    least disturbed estimate of the cost.
    """
    times = []
    for _ in range(n):
        start = time.perf_counter()
        finish(fn())
        times.append(time.perf_counter() - start)
    return min(times) if best else sum(times) / n


def interleaved_times(
    fns: dict[Any, Callable[[], Any]],
    rounds: int,
    calls_per_round: int | dict[Any, int],
    warmup: int = 2,
    best: bool = True,
    order: str = "rotate",
    seed: int = 0,
) -> dict[Any, list[float]]:
    """Per-call seconds of every function, one entry per round.

    Each round times every function once, in an order rotated by one each
    round (A B C, B C A, C A B, ...; `order="shuffle"`: a fresh random
    order each round, from `seed`), so slow phases of the shared machine
    hit all variants and no variant always runs first after another.
    Within a round each function is called `calls_per_round` times and the
    best call is kept (`best=False`: the mean). `warmup` calls of each
    (tracing, XLA compilation, allocator growth) are made first and not
    timed. `calls_per_round` may differ per function (a dict).
    """
    if order not in ("rotate", "shuffle"):
        raise ValueError(f"order must be 'rotate' or 'shuffle'; got {order!r}")
    names = list(fns)
    if isinstance(calls_per_round, int):
        calls_per_round = {name: calls_per_round for name in names}
    for name in names:
        if warmup:
            time_calls(fns[name], warmup)
    rng = random.Random(seed)
    times: dict[Any, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        if order == "shuffle":
            round_order = rng.sample(names, len(names))
        else:
            shift = r % len(names)
            round_order = names[shift:] + names[:shift]
        for name in round_order:
            times[name].append(time_calls(fns[name], calls_per_round[name], best=best))
    return times


def ratio_stats(
    candidate: Sequence[float], baseline: Sequence[float]
) -> dict[str, float]:
    """Median ratio of paired rounds, with its quartiles as a noise band.

    Pairing by round compares timings taken seconds apart, under the same
    machine load; the median of those ratios is robust to a few disturbed
    rounds, and the quartiles show how noisy the measurement was.
    """
    ratios = sorted(c / b for c, b in zip(candidate, baseline))
    # "inclusive": the default "exclusive" method extrapolates beyond the
    # data for a handful of rounds (quick mode), even below zero.
    q = (
        statistics.quantiles(ratios, n=4, method="inclusive")
        if len(ratios) > 1
        else ratios * 3
    )
    return {
        "ratio": statistics.median(ratios),
        "ratio_q25": q[0],
        "ratio_q75": q[-1],
        "ratio_of_medians": statistics.median(candidate) / statistics.median(baseline),
        # Interference only adds time: the best rounds are the least
        # disturbed, so their ratio is a second, load-robust estimate.
        "ratio_of_minima": min(candidate) / min(baseline),
    }


#: The columns of `ratio_stats` that the tables show, in this order.
RATIO_COLUMNS = ("ratio", "ratio_q25", "ratio_q75", "ratio_of_minima")


def ratio_row(
    candidate: Sequence[float], baseline: Sequence[float]
) -> dict[str, float]:
    """`ratio_stats` preceded by `baseline_ms`, the baseline's median round.

    The median is the upper one for an even count (no interpolation
    between two rounds), in milliseconds.
    """
    return {
        "baseline_ms": 1000 * sorted(baseline)[len(baseline) // 2],
        **ratio_stats(candidate, baseline),
    }


def pooled_ratio_stats(
    candidate: Sequence[Sequence[float]],
    baseline: Sequence[Sequence[float]],
    resamples: int = 2000,
    seed: int = 0,
) -> dict[str, float]:
    """Ratio of two variants measured on several instances each.

    `candidate[i][r]` is instance `i`'s time in round `r` (likewise
    `baseline`). Two instances of the same model, built alike, differ in
    step time by one to two percent, steadily within a process (where
    their buffers landed in memory), more than the differences at stake;
    so each variant is timed on several instances and each round's ratio
    is the mean candidate time over the mean baseline time. Reported: the
    median of those ratios, a 95 % bootstrap interval of that median over
    rounds, and, as the size of the instance effect, the baseline's own
    instances' largest median over its smallest (1.0 for one instance).
    """
    rounds = len(baseline[0])
    ratios = [
        statistics.fmean(c[r] for c in candidate)
        / statistics.fmean(b[r] for b in baseline)
        for r in range(rounds)
    ]
    rng = random.Random(seed)
    medians = sorted(
        statistics.median(rng.choices(ratios, k=rounds)) for _ in range(resamples)
    )
    instance_medians = [statistics.median(b) for b in baseline]
    return {
        "ratio": statistics.median(ratios),
        "ratio_ci_low": medians[int(0.025 * resamples)],
        "ratio_ci_high": medians[int(0.975 * resamples) - 1],
        "baseline_instance_spread": max(instance_medians) / min(instance_medians),
    }


#: The columns of `pooled_ratio_stats`, in this order.
POOLED_COLUMNS = (
    "ratio",
    "ratio_ci_low",
    "ratio_ci_high",
    "baseline_instance_spread",
)


# --------------------------------------------------------------------------
# Child processes


def child_command(script: str | Path, arguments: list[Any]) -> list[str]:
    """The command that runs `script` in a fresh interpreter on `arguments`.

    The arguments travel as JSON after `--child`; the child reads them back
    with `child_arguments`.
    """
    return [
        sys.executable,
        str(Path(script).resolve()),
        "--child",
        json.dumps(arguments),
    ]


def child_arguments() -> list[Any] | None:
    """The `arguments` of `child_command` in the child; None elsewhere."""
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        return json.loads(sys.argv[2])
    return None


# --------------------------------------------------------------------------
# Output


def host_info() -> dict[str, Any]:
    """The machine and checkout, without importing any framework."""
    model_name = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    model_name = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu": model_name,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "repo_commit": repo_commit(),
    }


def repo_commit() -> str:
    """The repository's commit, marked `+dirty` if the layer is edited.

    Figures belong to a version of the layer; an uncommitted edit of
    `keras_backdrop/` would make them unreproducible, so it is flagged.
    """
    repo = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "keras_backdrop"],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def format_table(rows: list[dict[str, Any]], columns: Sequence[str]) -> str:
    """A Markdown table of `columns` of `rows` (floats to 3 decimals)."""

    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.3f}"
        return str(v)

    lines = [
        "| " + " | ".join(columns) + " |",
        "|" + "|".join("---" for _ in columns) + "|",
    ]
    for row in rows:
        lines.append("| " + " | ".join(cell(row.get(c, "")) for c in columns) + " |")
    return "\n".join(lines)


def benchmark_result(
    name: str,
    quick: bool,
    settings: dict[str, Any],
    rows: list[dict[str, Any]],
    columns: Sequence[str],
    **extra: Any,
) -> dict[str, Any]:
    """A benchmark's result: its name, mode, settings, `extra`, rows, table.

    The keys come in that order (`extra`'s between the settings and the
    rows), the table being `format_table(rows, columns)`.
    """
    return {
        "name": name,
        "quick": quick,
        "settings": settings,
        **extra,
        "rows": rows,
        "table": format_table(rows, columns),
    }


def print_table(rows: list[dict[str, Any]], columns: Sequence[str]) -> None:
    """Prints `format_table(rows, columns)` at once: progress of a grid."""
    print(format_table(rows, columns), flush=True)


def write_json(result: dict[str, Any], path: str | Path) -> None:
    """Writes `result` as indented JSON, creating the directory."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
