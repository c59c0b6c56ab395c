"""Run a script's command line on bad values, all in one fresh process.

Shared by the script tests: each bad command line must end in argparse's
usage error (exit code 2) with a message naming the option. Starting one
interpreter per case would cost seconds of imports each, so one child
runs the module with `runpy` once per command line and reports every exit
code and stderr text.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

_CHILD = textwrap.dedent(
    """
    import contextlib, io, json, runpy, sys

    module, cases = sys.argv[1], json.loads(sys.argv[2])
    outcomes = []
    for argv in cases:
        sys.argv = [module, *argv]
        stderr = io.StringIO()
        try:
            with contextlib.redirect_stderr(stderr):
                runpy.run_module(module, run_name="__main__", alter_sys=True)
            outcomes.append([0, stderr.getvalue()])
        except SystemExit as exit:
            outcomes.append([exit.code, stderr.getvalue()])
    print("OUTCOMES", json.dumps(outcomes))
    """
)


def command_line_outcomes(
    module: str,
    cases: Sequence[Sequence[str]],
    env: Mapping[str, str] | None = None,
    timeout: float = 300,
) -> list[tuple[int, str]]:
    """`(exit code, stderr)` of `python -m module *argv` for each case.

    Every case must fail before any work starts: one that parses would
    run the script for real.
    """
    child_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    child_env.pop("TF_CONFIG", None)
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, module, json.dumps([list(c) for c in cases])],
        cwd=REPO,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = done.stdout.split("OUTCOMES", 1)[1].splitlines()[0]
    return [(code, message) for code, message in json.loads(line)]
