"""Runs every benchmark and writes one combined JSON.

    python benchmarks/run_all.py [--quick] [--out-dir DIR] [--only NAME ...]

Each module is a script of this directory with `run(quick: bool) -> dict`.
The generator and dataset-build benchmarks (`generator.py`,
`dataset_build.py`) are run when present and reported as skipped
otherwise; the per-backend benchmark (`backends.py`) runs one child
process per installed Keras backend and lists the missing ones as
skipped in its result. Every module's result is written to `DIR/<name>.json` as soon
as it finishes (so a late failure loses nothing), and all of them to
`DIR/results.json` (default `DIR`: `benchmarks/results/`, or
`benchmarks/results/quick/` with `--quick`). A module that raises is
recorded with its error and the run goes on; the exit status is then 1.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import importlib.util
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
# The modules import their helpers as `_common`, from this directory.
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from _common import machine_info  # noqa: E402
from _core import write_json  # noqa: E402

# Cheapest first, so that a quick run shows problems early; memory spawns
# subprocesses and goes last of the layer benchmarks; backends spawns one
# per Keras backend and waits for torch.compile, the slowest of all.
MODULES = (
    "layer_inference",
    "layer_training",
    "layer_cost_breakdown",
    "batch_mask",
    "mask_draw",
    "memory",
    "input_pipeline",
    "backends",
    "texture_precision",
    "generator",
    "dataset_build",
)
OPTIONAL = {"generator", "dataset_build"}


def run_module(name: str, quick: bool) -> dict[str, Any]:
    """Imports and runs one benchmark module; never raises."""
    if name in OPTIONAL and importlib.util.find_spec(name) is None:
        return {"name": name, "status": "skipped", "reason": "module absent"}
    start = time.perf_counter()
    try:
        result = importlib.import_module(name).run(quick)
    except Exception as exc:  # noqa: BLE001 - reported, the others still run
        return {
            "name": name,
            "status": "error",
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc(),
            "seconds": time.perf_counter() - start,
        }
    result = dict(result)
    result.setdefault("name", name)
    result["status"] = "ok"
    result["seconds"] = time.perf_counter() - start
    return result


def run_all(
    quick: bool, out_dir: Path, only: Sequence[str] | None = None
) -> dict[str, Any]:
    """Runs the selected modules in order; returns the combined result."""
    names = [m for m in MODULES if not only or m in only]
    started = datetime.datetime.now(datetime.timezone.utc)
    combined: dict[str, Any] = {
        "quick": quick,
        "date": started.isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": machine_info(),
        "benchmarks": {},
    }
    t0 = time.perf_counter()
    for name in names:
        print(f"== {name}", flush=True)
        result = run_module(name, quick)
        combined["benchmarks"][name] = result
        write_json(result, out_dir / f"{name}.json")
        if result["status"] == "ok":
            print(result.get("table", ""), flush=True)
        else:
            print(result.get("error") or result.get("reason"), flush=True)
        print(
            f"   {name}: {result['status']}, {result.get('seconds', 0.0):.1f} s",
            flush=True,
        )
    combined["seconds"] = time.perf_counter() - t0
    write_json(combined, out_dir / "results.json")
    return combined


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI settings")
    parser.add_argument("--out-dir", type=Path, default=None)
    parser.add_argument(
        "--only", nargs="+", choices=MODULES, help="run only these modules"
    )
    args = parser.parse_args(argv)
    out_dir = args.out_dir or (
        HERE / "results" / "quick" if args.quick else HERE / "results"
    )
    combined = run_all(args.quick, out_dir, args.only)
    print(f"total {combined['seconds']:.1f} s; wrote {out_dir / 'results.json'}")
    failed = [n for n, r in combined["benchmarks"].items() if r["status"] == "error"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
