"""Prints the figures of a `run_all.py` result as Markdown, for the README.

    python benchmarks/report.py [benchmarks/results/results.json]

The tables are the ones each benchmark computed; this only adds the
machine, the command and the date in front of them, so the README's
figures can be refreshed by pasting this output.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

DEFAULT = Path(__file__).resolve().parent / "results" / "results.json"


def render(combined: dict[str, Any]) -> str:
    """Markdown: provenance, then one section per benchmark."""
    m = combined["machine"]
    lines = [
        f"Measured {combined['date']} on {m['cpu']}, {m['cores']} cores, "
        f"{'a GPU' if m['gpu'] else 'no GPU'}; Python {m['python']}, "
        f"TensorFlow {m['tensorflow']}, Keras {m['keras']}; repository "
        f"commit {m['repo_commit']}. Command: `{combined['command']}` "
        f"({combined['seconds']:.0f} s).",
        "",
    ]
    for name, result in combined["benchmarks"].items():
        lines.append(f"### {name}")
        lines.append("")
        if result.get("status") != "ok":
            lines.append(
                f"{result.get('status')}: {result.get('error') or result.get('reason')}"
            )
        else:
            if "target" in result:
                met = result.get("target_met")
                verdict = (
                    ""
                    if met is None
                    else (" (met)" if met else " (not met, see below)")
                )
                lines.append(f"Target: {result['target']}{verdict}.")
                lines.append("")
            # Where a benchmark ran other software than the combined
            # header names (the per-backend one: JAX, PyTorch), it says so.
            if result.get("provenance"):
                lines.append(result["provenance"])
                lines.append("")
            lines.append(result.get("table", ""))
            # Further tables of a benchmark (`<what>_table`), each after a
            # blank line.
            for key, value in result.items():
                if key.endswith("_table"):
                    lines.extend(["", f"`{key}`:", "", value])
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    """Prints the table of the combined results file (default: the latest)."""
    path = Path(argv[0]) if argv else DEFAULT
    print(render(json.loads(path.read_text())))


if __name__ == "__main__":
    main(sys.argv[1:])
