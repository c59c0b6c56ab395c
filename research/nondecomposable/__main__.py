"""Runs a non-decomposable study: `python -m research.nondecomposable --study soft_f1`.

The bias probe goes to `<results>/<study>/bias.json`, each finished run's
result to `<results>/<study>/runs/`, and the report (`README.md`,
`summary.json`, `curves.png`) beside them. A study stopped by
`--budget-minutes` (or by anything else) resumes where it stopped when run
again with the same options; checkpoints live in `--work-dir`, keyed by
every setting of a run.

The full study, both losses, ten seeds, committing each result:

    nice -n 10 python -m research.nondecomposable --study soft_f1 --seeds 0-9 --commit
    nice -n 10 python -m research.nondecomposable --study pairwise_auc --seeds 0-9 --commit

Each study is 11 methods x 3 learning rates x 10 seeds = 330 runs plus a
bias probe (about 10 minutes: 22,000 backward passes). Estimated time
on the two shared cores: at most about 5.5 hours for `soft_f1`, and about
3 hours for `pairwise_auc` (about 2 when two processes share the seeds,
`--seeds 0-4` and `--seeds 5-9`, each in its own git worktree so that
their reports and commits do not collide; merge them after);
`research/nondecomposable/__init__.py` gives the basis. `--study fast`
runs the whole pipeline on toy sizes in about a minute.
"""

from __future__ import annotations

import argparse
import sys

from research.nondecomposable.settings import STUDIES
from research.runs import add_run_options, study_parser

#: Outside the repository, at a fixed path, so that a later session finds
#: the checkpoints.
DEFAULT_WORK_DIR = "/work/nondecomposable_runs"
DEFAULT_RESULTS = "docs/results/nondecomposable"


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line's options, checked (errors exit 2, naming them)."""
    parser = study_parser(
        "python -m research.nondecomposable", __doc__.splitlines()[0], list(STUDIES)
    )
    parser.add_argument(
        "--methods", nargs="+", help="a subset of the study's methods (default all)"
    )
    add_run_options(parser, DEFAULT_WORK_DIR, DEFAULT_RESULTS)
    args = parser.parse_args(argv)
    study = STUDIES[args.study]
    unknown = [m for m in args.methods or () if m not in study.methods]
    if unknown:
        parser.error(
            f"argument --methods: {unknown} are not methods of {args.study!r} "
            f"(choose from {', '.join(study.methods)})"
        )
    return args


def main(argv: list[str] | None = None) -> int:
    """Runs the study asked for; 0 when all finished, 3 when stopped."""
    args = parse(argv)
    from research.nondecomposable.protocol import run_study  # noqa: PLC0415

    budget = None if args.budget_minutes is None else 60 * args.budget_minutes
    finished = run_study(
        STUDIES[args.study],
        args.seeds,
        args.work_dir,
        args.results,
        args.methods,
        budget,
        args.commit,
        log=lambda line: print(line, flush=True),
    )
    return 0 if finished else 3


if __name__ == "__main__":
    sys.exit(main())
