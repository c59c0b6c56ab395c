"""The command line of the NumPy-only benchmarks (no TensorFlow import).

`_common.main` serves the TensorFlow benchmarks; the generator and
dataset-build benchmarks keep their start-up free of it (the generator's
runs NumPy alone), and so does the per-backend benchmark, whose children
must choose their own framework; they share this one instead.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path


def main(
    description: str,
    run: Callable[[bool], dict],
    quick_help: str,
    default_out: Path | None = None,
) -> dict:
    """`--quick` and `--out PATH.json`; prints the result's table.

    Without `--out` the JSON goes to `default_out`, or nowhere if that is
    None.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument(
        "--out",
        type=Path,
        default=default_out,
        help="write the result as JSON here",
    )
    args = parser.parse_args()
    result = run(args.quick)
    print(result["table"])
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))
    return result
