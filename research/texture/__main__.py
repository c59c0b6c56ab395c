"""Runs a texture study: `python -m research.texture --study deciding_512`.

Each finished run's result goes to `<results>/<study>/runs/`; a study
stopped by `--budget-minutes` (or by anything else) resumes where it
stopped when run again with the same options.
"""

from __future__ import annotations

import argparse
import sys

from research.runs import add_run_options, study_parser
from research.texture.settings import (
    MAP_RATIOS,
    MAP_TRAIN_PER_CLASS,
    STUDIES,
    VARIANTS,
    map_cell,
)

#: Outside the repository, at a fixed path, so that a later session finds
#: the checkpoints and the data cache.
DEFAULT_WORK_DIR = "/work/texture_runs"
DEFAULT_RESULTS = "docs/results/texture"


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line's options, checked (errors exit 2, naming them)."""
    parser = study_parser(
        "python -m research.texture",
        __doc__.splitlines()[0],
        [*STUDIES, "map"],
        "the study; 'map' runs every cell of the 512 px map",
    )
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=VARIANTS)
    parser.add_argument(
        "--pilot-steps",
        type=int,
        help="train only this many steps (results stay in the work directory): "
        "says in minutes whether an arm leaves the plateau",
    )
    add_run_options(parser, DEFAULT_WORK_DIR, DEFAULT_RESULTS)
    args = parser.parse_args(argv)
    if args.pilot_steps is not None and args.pilot_steps < 1:
        parser.error(f"--pilot-steps: expected an integer >= 1, got {args.pilot_steps}")
    return args


def main(argv: list[str] | None = None) -> int:
    """Runs the studies asked for; 0 when all finished, 3 when stopped."""
    args = parse(argv)
    from research.texture.protocol import run_study  # noqa: PLC0415 (Keras)

    if args.study == "map":
        studies = [map_cell(n, r) for r in MAP_RATIOS for n in MAP_TRAIN_PER_CLASS]
    else:
        studies = [STUDIES[args.study]]
    results = args.results
    if args.pilot_steps is not None:
        steps = args.pilot_steps
        studies = [
            s.replace(
                name=f"{s.name}_pilot{steps}",
                min_steps=steps,
                max_steps=steps,
                warmup_steps=min(s.warmup_steps, steps),
                select_from_step=min(s.select_from_step, steps),
            )
            for s in studies
        ]
        results = args.work_dir / "pilot_results"
    budget = None if args.budget_minutes is None else 60 * args.budget_minutes
    for study in studies:
        finished = run_study(
            study,
            args.seeds,
            args.work_dir,
            results,
            args.variants,
            budget,
            args.commit,
            log=lambda line: print(line, flush=True),
        )
        if not finished:
            return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
