"""Run MultiWorkerMirroredStrategy workers as local processes on loopback.

Shared by the multi-worker tests: each worker is a subprocess with its own
`TF_CONFIG` naming free 127.0.0.1 ports; every process is waited for with a
timeout and killed if it is still running when the test leaves.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def free_ports(n: int) -> list[int]:
    """n distinct loopback ports that were free a moment ago."""
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def worker_env(**extra: str) -> dict[str, str]:
    """This process's environment for a CPU-only, quiet TensorFlow worker."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    env.pop("TF_CONFIG", None)
    env.update(extra)
    return env


def run_workers(
    argv: Callable[[int], Sequence[str]],
    n: int = 2,
    timeout: float = 240,
    cwd: Path = REPO,
) -> list[subprocess.CompletedProcess]:
    """Runs `python *argv(index)` for n workers of one cluster; all must end.

    Returns each worker's completed process (stdout and stderr as text).
    A worker still running after `timeout` seconds fails the caller with
    `subprocess.TimeoutExpired`; no process outlives the call.
    """
    cluster = {"worker": [f"127.0.0.1:{p}" for p in free_ports(n)]}
    procs, logs = [], []
    try:
        for index in range(n):
            tf_config = {"cluster": cluster, "task": {"type": "worker", "index": index}}
            # Files, not pipes: a worker blocked on a full pipe while another
            # waits for it in a collective would hang both.
            out, err = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")
            logs.append((out, err))
            procs.append(
                subprocess.Popen(
                    [sys.executable, *argv(index)],
                    cwd=cwd,
                    env=worker_env(TF_CONFIG=json.dumps(tf_config)),
                    stdout=out,
                    stderr=err,
                    text=True,
                )
            )
        for proc in procs:
            proc.wait(timeout=timeout)
        results = []
        for proc, (out, err) in zip(procs, logs):
            out.seek(0)
            err.seek(0)
            results.append(
                subprocess.CompletedProcess(
                    proc.args, proc.returncode, out.read(), err.read()
                )
            )
        return results
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for out, err in logs:
            out.close()
            err.close()
