"""Runs a texture study: `python -m research.texture --study deciding_512`.

Each finished run's result goes to `<results>/<study>/runs/`; a study
stopped by `--budget-minutes` (or by anything else) resumes where it
stopped when run again with the same options. `--study map` runs the
512 px map's cells (`--cell` one of them) and writes the map's overview;
`--study confirm --cell N RATIO` runs the cell the overview chose under a
name of its own, with seeds the map did not use in it.
"""

from __future__ import annotations

import argparse
import sys

from research.runs import add_run_options, commit, study_parser
from research.texture import map_report, report
from research.texture.settings import (
    DEFAULT_RESULTS,
    DEFAULT_WORK_DIR,
    MAP_CELLS,
    MAP_RATIOS,
    MAP_TRAIN_PER_CLASS,
    STUDIES,
    VARIANTS,
    Study,
    confirm_cell,
    map_cell,
    parse_cell,
)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line's options, checked (errors exit 2, naming them)."""
    parser = study_parser(
        "python -m research.texture",
        __doc__.splitlines()[0],
        [*STUDIES, "map", "confirm"],
        "the study; 'map' runs the cells of the 512 px map, 'confirm' one "
        "cell with fresh seeds",
    )
    parser.add_argument(
        "--cell",
        nargs=2,
        metavar=("IMAGES", "RATIO"),
        help="one map cell: training images per class "
        f"({', '.join(map(str, MAP_TRAIN_PER_CLASS))}) and small-length ratio "
        f"({', '.join(f'{r:.3g}' for r in MAP_RATIOS)})",
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
    if args.cell is not None:
        if args.study not in ("map", "confirm"):
            parser.error(f"--cell: only with --study map or confirm, got {args.study}")
        try:
            args.cell = parse_cell(*args.cell)
        except ValueError as error:
            parser.error(f"--cell: {error}")
        if args.study == "confirm":
            cell = map_cell(*args.cell)
            used = report.load_runs(cell, args.results / cell.name)
            reused = sorted(set(args.seeds) & {s for by in used.values() for s in by})
            if reused:
                parser.error(
                    f"--seeds: the map used seeds {reused} in {cell.name}; a "
                    "confirmation needs seeds the map did not use"
                )
    elif args.study == "confirm":
        parser.error("--study confirm: needs --cell IMAGES RATIO")
    return args


def _studies(args: argparse.Namespace) -> list[Study]:
    """The studies the command line asks for."""
    if args.study == "confirm":
        return [confirm_cell(*args.cell)]
    if args.study == "map":
        return [map_cell(*cell) for cell in ([args.cell] if args.cell else MAP_CELLS)]
    return [STUDIES[args.study]]


def main(argv: list[str] | None = None) -> int:
    """Runs the studies asked for; 0 when all finished, 3 when stopped."""
    args = parse(argv)
    from research.texture.protocol import run_study  # noqa: PLC0415 (Keras)

    studies = _studies(args)
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

    def log(line: str) -> None:
        print(line, flush=True)

    finished = True
    for study in studies:
        finished = run_study(
            study,
            args.seeds,
            args.work_dir,
            results,
            args.variants,
            budget,
            args.commit,
            log,
        )
        if not finished:
            break
    if args.study == "map" and args.pilot_steps is None:
        map_report.write(results)
        if args.commit:
            commit(map_report.outputs(results), "Texture map: the overview", log)
    return 0 if finished else 3


if __name__ == "__main__":
    sys.exit(main())
