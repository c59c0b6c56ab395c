"""The protocol: every variant of a study with every seed, resumable.

Runs go seed by seed (all variants of a seed, then the next), so that the
finished runs always form complete pairs. A finished run's result is
written to `<results>/<study>/runs/<run name>.json` (and committed, when
asked); a run whose result file exists is not run again, so a study
resumes from its committed results alone, and an unfinished run resumes
from its checkpoint in the work directory when that is still there.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from research.runs import train_missing
from research.texture import report
from research.texture.data import Split, load_split
from research.texture.settings import VARIANTS, Run, Study


def run_study(
    study: Study,
    seeds: Sequence[int],
    work_dir: Path,
    results_dir: Path,
    variants: Sequence[str] = VARIANTS,
    budget_s: float | None = None,
    commit: bool = False,
    log: Callable[[str], None] = print,
) -> bool:
    """Trains what is missing of `study`; True once every run has finished.

    Args:
        study: The study.
        seeds: Its seeds.
        work_dir: Checkpoints and the data cache (outside the repository).
        results_dir: The folder of result folders (one per study).
        variants: The variants to run.
        budget_s: Stop cleanly after the epoch that passes this many seconds.
        commit: Commit each finished run's result file with git.
        log: Where progress lines go.
    """
    from research.texture.train import train_run  # noqa: PLC0415 (Keras)

    deadline = None if budget_s is None else time.time() + budget_s
    cache = Path(work_dir) / "data"

    def train(run: Run, splits: dict[str, Split]) -> dict[str, Any] | None:
        log(f"{study.name}: {run.name} ({run.variant}, seed {run.seed})")
        return train_run(run, splits, Path(work_dir) / study.name, deadline, log)

    def message(run: Run, result: dict[str, Any]) -> str:
        return (
            f"Texture study {study.name}: {run.variant} seed {run.seed} "
            f"(test accuracy {result['test_accuracy']:.3f})"
        )

    return train_missing(
        study,
        seeds,
        Path(results_dir) / study.name,
        runs_of=lambda seed: [Run(study, variant, seed) for variant in variants],
        split=lambda name, seed: load_split(study, name, cache, seed),
        train=train,
        report=report,
        message=message if commit else None,
        log=log,
    )
