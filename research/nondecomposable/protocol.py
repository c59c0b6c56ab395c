"""The protocol: the bias probe, then every method x learning rate x seed.

Seed by seed, as the texture protocol (`research.texture.protocol`): the
finished runs form complete pairs, each result file is written (and
committed) as its run finishes, and a study resumes from those files and
from the checkpoints still in the work directory.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from research.nondecomposable import data, report
from research.nondecomposable.settings import Study
from research.runs import commit as git_commit
from research.runs import jsonable, read_json, settings_key, train_missing


def run_study(
    study: Study,
    seeds: Sequence[int],
    work_dir: Path,
    results_dir: Path,
    methods: Sequence[str] | None = None,
    budget_s: float | None = None,
    commit: bool = False,
    log: Callable[[str], None] = print,
) -> bool:
    """Trains what is missing of `study`; True once every run has finished.

    As `research.texture.protocol.run_study`, with `methods` (default: all
    of the study's) in place of variants; the budget is checked after each
    evaluation chunk.
    """
    from research.nondecomposable.settings import Run  # noqa: PLC0415
    from research.nondecomposable.train import train_run  # noqa: PLC0415

    deadline = None if budget_s is None else time.time() + budget_s
    out = Path(results_dir) / study.name
    _bias(study, out, commit, log)

    def train(run: Run, splits: dict[str, data.Split]) -> dict[str, Any] | None:
        log(f"{study.name}: {run.name}")
        return train_run(run, splits, Path(work_dir) / study.name, deadline, log)

    def message(run: Run, result: dict[str, Any]) -> str:
        metric = study.selection_metric
        return (
            f"Non-decomposable study {study.name}: {run.method} lr {run.lr:g} "
            f"seed {run.seed} (test {metric} {result['test'][metric]:.3f})"
        )

    return train_missing(
        study,
        seeds,
        out,
        runs_of=lambda seed: [
            Run(study, method, lr, seed)
            for method in methods or study.methods
            for lr in study.lrs
        ],
        split=lambda name, seed: data.split(study, name, seed),
        train=train,
        report=report,
        message=message if commit else None,
        log=log,
    )


def _bias(study: Study, out: Path, commit: bool, log: Callable[[str], None]) -> None:
    """Measures the minibatch bias once per study (`bias.json`)."""
    from research.nondecomposable import bias  # noqa: PLC0415

    path = out / "bias.json"
    key = settings_key({"bias_probe": 2, "study": jsonable(dataclasses.asdict(study))})
    advice = "delete it to measure the bias again"
    if path.exists() and read_json(path, "result", advice, lambda r: r["key"]) == key:
        return
    log(f"{study.name}: measuring the minibatch bias")
    measured = {"key": key, **bias.measure(study)}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(measured, indent=1) + "\n")
    if commit:
        git_commit([path], f"Non-decomposable study {study.name}: bias probe", log)
