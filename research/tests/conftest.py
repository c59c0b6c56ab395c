"""What the harness tests share: a study's command line in a fresh process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def harness(
    request: pytest.FixtureRequest,
) -> Callable[..., subprocess.CompletedProcess]:
    """Runs `python -m <HARNESS> --study fast ARGS` from the repository root.

    `HARNESS` is the test module's constant. The fixture is a function of the
    command line's further arguments; `work` and `results` give
    `--work-dir` and `--results`, and `check` (default True) raises with
    the output's tail unless the command succeeded.
    """
    module = request.module.HARNESS
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow"}

    def run(
        *args: str,
        work: Path | None = None,
        results: Path | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess:
        folders = [] if work is None else ["--work-dir", str(work)]
        folders += [] if results is None else ["--results", str(results)]
        done = subprocess.run(
            [sys.executable, "-m", module, "--study", "fast", *args, *folders],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if check and done.returncode != 0:
            raise AssertionError(done.stdout[-3000:] + done.stderr[-3000:])
        return done

    return run
