"""What every study of the harness shares: keys, run folders, results, intervals.

* A run's *settings* (every value its result depends on, as plain JSON)
  hash to its *key*; its work folder and result file are named by it, so
  nothing is reused under other settings.
* A run folder holds `settings.json` and `checkpoint.npz` (the variables,
  the best weights so far and the loop's state as JSON, replaced whole
  after each epoch). A folder of other settings, or a damaged file, is
  refused with a `ValueError` naming the file and what to delete; nothing
  in it is unpickled.
* A finished run's result is `<results>/<study>/runs/<run name>.json`;
  `finished` tells whether it is there (for this key), `commit` commits it.
  `train_missing` trains a study's missing runs seed by seed, writing and
  committing each result as it comes.
* A damaged JSON file (`read_json`) or a refused setting (`int_at_least`,
  `one_of`, `at_most`) is a named error; `study_parser` and
  `add_run_options` give the studies' common command-line options.
* Differences between paired arms get a 95 % paired t-interval
  (`scipy.stats.ttest_rel`); standard deviations are sample ones.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np
import scipy.stats

CHECKPOINT = "checkpoint.npz"


def jsonable(value: Any) -> Any:
    """`value` as it reads back from JSON (tuples become lists)."""
    return json.loads(json.dumps(value))


def settings_key(settings: dict[str, Any]) -> str:
    """The SHA-256 of `settings` written as canonical JSON."""
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


class Settings:
    """What a frozen settings dataclass shares: checked copies, tidied fields."""

    def replace(self: _S, **changes: Any) -> _S:
        """A copy with `changes` applied (checked like a new one)."""
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]

    def _tidy(self, **values: Any) -> None:
        """Sets fields in `__post_init__` (a frozen dataclass refuses `=`)."""
        for name, value in values.items():
            object.__setattr__(self, name, value)


_S = TypeVar("_S", bound=Settings)
_T = TypeVar("_T")


class KeyedRun(Settings):
    """What a run dataclass shares: settings as plain JSON, a key, a name.

    A subclass is a dataclass with a `study` field (a dataclass) and other
    fields (its own settings, in the order the result files list them); it
    sets `HARNESS_VERSION` and gives `_label`.
    """

    HARNESS_VERSION: int = 0

    def _own_settings(self) -> dict[str, Any]:
        # Every field but the study, in their order (the result files'
        # `settings` are written in it).
        return {
            field.name: getattr(self, field.name)
            for field in dataclasses.fields(self)  # type: ignore[arg-type]
            if field.name != "study"
        }

    def _label(self) -> str:
        raise NotImplementedError

    def settings(self) -> dict[str, Any]:
        """Every setting the run's result depends on, as plain JSON values."""
        return jsonable(
            {
                "harness_version": self.HARNESS_VERSION,
                "study": dataclasses.asdict(self.study),  # type: ignore[attr-defined]
                **self._own_settings(),
            }
        )

    @property
    def key(self) -> str:
        """A hash of `settings`: two runs share it only if they share those."""
        return settings_key(self.settings())

    @property
    def name(self) -> str:
        """The run's label and the first 12 hex digits of its key."""
        return f"{self._label()}-{self.key[:12]}"


def read_json(
    path: Path,
    kind: str,
    advice: str,
    pick: Callable[[Any], _T] = lambda value: value,
) -> _T:
    """What `pick` takes of the JSON in `path`; a damaged file is named.

    Args:
        path: The file.
        kind: What the file is, for the message: "result", "run", ...
        advice: What to do about a damaged file (ends the message).
        pick: Takes what the caller needs of the JSON value; a `KeyError` or
            `TypeError` it raises means a damaged file too.

    Raises:
        ValueError: `Damaged <kind> file <path> (<error>): <advice>.`
    """
    try:
        return pick(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"Damaged {kind} file {path} ({error!r}): {advice}.") from None


def int_at_least(name: str, value: Any, low: int) -> None:
    """Refuses `value` unless it is an integer >= `low` (named errors)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(
            f"Invalid type for `{name}`: expected an integer. Received: "
            f"{name}={value!r}"
        )
    if value < low:
        raise ValueError(
            f"Invalid value for `{name}`: expected an integer >= {low}. "
            f"Received: {name}={value!r}"
        )


def ints_at_least(settings: Any, names: Sequence[str], low: int) -> None:
    """Refuses the fields `names` of `settings` unless each is an integer >= `low`."""
    for name in names:
        int_at_least(name, getattr(settings, name), low)


def one_of(name: str, value: Any, choices: Sequence[Any]) -> None:
    """Refuses `value` unless it is one of `choices` (a named error)."""
    if value not in choices:
        raise ValueError(
            f"Invalid value for `{name}`: expected one of {choices}. "
            f"Received: {name}={value!r}"
        )


def at_most(name: str, value: Any, limit_name: str, limit: Any) -> None:
    """Refuses `value` above the setting `limit_name`'s `limit` (a named error)."""
    if value > limit:
        raise ValueError(
            f"Invalid value for `{name}`: expected at most {limit_name}={limit}. "
            f"Received: {name}={value}"
        )


# --------------------------------------------------------------------------
# Run folders and checkpoints


def open_run(run_dir: Path, settings: dict[str, Any]) -> Path | None:
    """The checkpoint to resume from, or None for a fresh start.

    A new folder is made with `settings.json`; an existing one must hold
    exactly `settings`.

    Raises:
        ValueError: the folder holds another run, or a damaged file.
    """
    settings_path = run_dir / "settings.json"
    if not run_dir.exists():
        run_dir.mkdir(parents=True)
        settings_path.write_text(json.dumps(settings, indent=1))
        return None
    advice = _advice(run_dir)
    recorded = read_json(settings_path, "run", advice)
    if recorded != settings:
        raise ValueError(
            f"The run folder {run_dir} holds a run of other settings "
            f"({settings_path} differs from this run's): {advice}."
        )
    checkpoint = run_dir / CHECKPOINT
    # No checkpoint: stopped before its first epoch ended.
    return checkpoint if checkpoint.exists() else None


def save_checkpoint(
    run_dir: Path,
    groups: dict[str, Sequence[Any]],
    best_weights: Sequence[np.ndarray] | None,
    state: dict[str, Any],
) -> None:
    """Writes the variables of `groups`, the best weights and `state` at once."""
    arrays = {
        f"{group}/{i}": np.asarray(_numpy(v))
        for group, variables in groups.items()
        for i, v in enumerate(variables)
    }
    for i, w in enumerate(best_weights or []):
        arrays[f"best/{i}"] = w
    arrays["state"] = np.frombuffer(json.dumps(state).encode(), np.uint8)
    partial = run_dir / "checkpoint.partial.npz"
    np.savez(partial, **arrays)
    # One file replaced whole: a checkpoint is never half written.
    os.replace(partial, run_dir / CHECKPOINT)


def load_checkpoint(
    path: Path, groups: dict[str, Sequence[Any]]
) -> tuple[dict[str, Any], list[np.ndarray] | None]:
    """Assigns the saved values to `groups`' variables; `(state, best weights)`.

    Raises:
        ValueError: the file is damaged or does not fit the variables (the
            message names it and what to delete).
    """
    try:
        with np.load(path, allow_pickle=False) as file:
            arrays = {name: file[name] for name in file.files}
        state = json.loads(arrays.pop("state").tobytes().decode())
        for group, variables in groups.items():
            for i, v in enumerate(variables):
                value = arrays[f"{group}/{i}"]
                if value.shape != tuple(v.shape):
                    raise ValueError(f"{v.path} has shape {value.shape}")
                v.assign(value)
        count = sum(1 for name in arrays if name.startswith("best/"))
        best = [arrays[f"best/{i}"] for i in range(count)] if count else None
    except Exception as error:  # Any damage: the file is named, never a traceback.
        raise ValueError(
            f"Damaged checkpoint {path} ({error!r}): {_advice(path.parent)}."
        ) from None
    return state, best


def start_or_resume(
    run: KeyedRun, run_dir: Path, model: Any, fresh: dict[str, Any]
) -> dict[str, Any]:
    """The training loop's state: `fresh`, or the checkpoint's.

    Resuming assigns the saved values to the model's and its optimizer's
    variables (the mask generators' states among them) and puts the best
    weights so far under `"best_weights"`.
    """
    checkpoint = open_run(run_dir, run.settings())
    if checkpoint is None:
        return fresh
    state, best = load_checkpoint(checkpoint, _groups(model))
    return {**state, "best_weights": best}


def save_state(run: KeyedRun, run_dir: Path, model: Any, state: dict[str, Any]) -> None:
    """Checkpoints the model, its optimizer and the loop's `state`."""
    plain = {k: v for k, v in state.items() if k != "best_weights"}
    plain["key"] = run.key
    save_checkpoint(run_dir, _groups(model), state["best_weights"], plain)


def _groups(model: Any) -> dict[str, Sequence[Any]]:
    return {"model": model.variables, "optimizer": model.optimizer.variables}


def _advice(run_dir: Path) -> str:
    return f"delete the folder {run_dir} to start this run again"


def _numpy(variable: Any) -> Any:
    import keras  # noqa: PLC0415 (the data workers never need it)

    return keras.ops.convert_to_numpy(variable)


# --------------------------------------------------------------------------
# Result files


def result_path(out: Path, name: str) -> Path:
    """Where the finished run `name` of a study's result folder goes."""
    return out / "runs" / f"{name}.json"


def write_result(out: Path, name: str, result: dict[str, Any]) -> Path:
    """Writes a finished run's result file; its path."""
    path = result_path(out, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")
    return path


def finished(out: Path, name: str, key: str) -> bool:
    """Whether the run's result file is there, for this key.

    Raises:
        ValueError: the file is damaged or holds another key.
    """
    path = result_path(out, name)
    if not path.exists():
        return False
    advice = f"delete it to run {name} again"
    recorded = read_json(path, "result", advice, lambda result: result["key"])
    if recorded != key:
        raise ValueError(
            f"The result file {path} is of other settings than its name says: "
            "delete it to run it again."
        )
    return True


def commit(paths: Sequence[Path], message: str, log: Callable[[str], None]) -> None:
    """Commits exactly `paths` (others' staged changes are left alone)."""
    names = [str(p) for p in paths if p.exists()]
    for attempt in range(10):
        added = subprocess.run(["git", "add", "--", *names], capture_output=True)
        done = added.returncode == 0 and (
            subprocess.run(
                ["git", "commit", "-q", "-m", message, "--", *names],
                capture_output=True,
            ).returncode
            == 0
        )
        if done:
            return
        time.sleep(3 * (attempt + 1))  # Another commit holds the index.
    log(f"could not commit {names}: commit them by hand")


# --------------------------------------------------------------------------
# A study, seed by seed


class Report(Protocol):
    """What `train_missing` needs of a study's report module."""

    def write(self, study: Any, out: Path) -> None:
        """Writes the report of `study`'s results in `out`."""

    def outputs(self, out: Path) -> list[Path]:
        """The report's files in `out`."""


def train_missing(
    study: Any,
    seeds: Sequence[int],
    out: Path,
    *,
    runs_of: Callable[[int], Sequence[KeyedRun]],
    split: Callable[[str, int | None], Any],
    train: Callable[[Any, dict[str, Any]], dict[str, Any] | None],
    report: Report,
    message: Callable[[Any, dict[str, Any]], str] | None,
    log: Callable[[str], None],
) -> bool:
    """Trains the runs of `seeds` whose result is missing; True once all are.

    Seed by seed (all the runs of a seed, then the next), so that the
    finished runs always form complete pairs. A run's result is written to
    `out/runs` as soon as it finishes, the report rewritten and, with a
    `message`, both committed; a run whose result is there is not run again.

    Args:
        study: The study (its `name` starts the log lines).
        seeds: The seeds, in order.
        out: The study's result folder.
        runs_of: A seed's runs, in order.
        split: `split(name, seed)`: the `"train"` or `"val"` split of a
            seed, or with seed None the `"test"` split every run shares.
        train: `train(run, splits)`: the run's result, or None once the
            budget is spent (the run resumes from its checkpoint next time).
        report: The study's report module.
        message: A run's commit message (None: nothing is committed).
        log: Where progress lines go.
    """
    test = None
    for seed in seeds:
        missing = [r for r in runs_of(seed) if not finished(out, r.name, r.key)]
        if not missing:
            continue
        if test is None:  # Read once, and only when a run needs it.
            test = split("test", None)
        splits = {
            "train": split("train", seed),
            "val": split("val", seed),
            "test": test,
        }
        for run in missing:
            result = train(run, splits)
            if result is None:
                log(f"{study.name}: budget spent; run again to resume")
                return False
            path = write_result(out, run.name, result)
            report.write(study, out)
            if message is not None:
                commit([path, *report.outputs(out)], message(run, result), log)
    report.write(study, out)
    return True


# --------------------------------------------------------------------------
# Statistics and their text


def paired_difference(a: Sequence[float], b: Sequence[float]) -> dict[str, Any]:
    """Mean of `a - b` and its 95 % paired t-interval (None below 2 pairs)."""
    a_, b_ = np.asarray(a, float), np.asarray(b, float)
    mean = float(np.mean(a_ - b_))
    if len(a_) < 2:
        return {"mean": mean, "low": None, "high": None, "n": len(a_)}
    if np.all(a_ - b_ == a_[0] - b_[0]):
        return {"mean": mean, "low": mean, "high": mean, "n": len(a_)}
    interval = scipy.stats.ttest_rel(a_, b_).confidence_interval(0.95)
    return {
        "mean": mean,
        "low": float(interval.low),
        "high": float(interval.high),
        "n": len(a_),
    }


def mean_sd(values: Sequence[float]) -> dict[str, float | None]:
    """Mean and sample standard deviation (None for one value)."""
    sd = float(np.std(values, ddof=1)) if len(values) > 1 else None
    return {"mean": float(np.mean(values)), "sd": sd}


def format_mean_sd(entry: dict[str, Any]) -> str:
    """`0.512 ± 0.034`, or the mean alone."""
    if entry["sd"] is None:
        return f"{entry['mean']:.3f}"
    return f"{entry['mean']:.3f} ± {entry['sd']:.3f}"


def format_difference(d: dict[str, Any]) -> str:
    """`+0.012 [-0.020, +0.044]`, or the mean alone."""
    if d["low"] is None:
        return f"{d['mean']:+.3f}"
    return f"{d['mean']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}]"


# --------------------------------------------------------------------------
# Command lines


def study_parser(
    prog: str, description: str, studies: Sequence[str], study_help: str | None = None
) -> argparse.ArgumentParser:
    """A study's command line with `--study` and `--seeds`.

    The caller adds its choice of runs, then `add_run_options`.
    """
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--study", required=True, choices=studies, help=study_help)
    parser.add_argument("--seeds", type=seed_range, default=[0])
    return parser


def add_run_options(
    parser: argparse.ArgumentParser, work_dir: str, results: str
) -> None:
    """Adds `--work-dir`, `--results`, `--budget-minutes` and `--commit`."""
    parser.add_argument("--work-dir", type=Path, default=Path(work_dir))
    parser.add_argument("--results", type=Path, default=Path(results))
    parser.add_argument(
        "--budget-minutes", type=positive_minutes, help="stop cleanly after this long"
    )
    parser.add_argument(
        "--commit", action="store_true", help="git-commit each finished result"
    )


def positive_minutes(text: str) -> float:
    """A number of minutes > 0 (an argparse type)."""
    try:
        minutes = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid float value: {text!r}") from None
    if not minutes > 0:
        raise argparse.ArgumentTypeError(f"expected > 0, got {minutes}")
    return minutes


def seed_range(text: str) -> list[int]:
    """`"0-9"` or `"0,3,5"` as a list of seeds (an argparse type)."""
    try:
        if "-" in text:
            low, high = (int(t) for t in text.split("-"))
            seeds = list(range(low, high + 1))
        else:
            seeds = [int(t) for t in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected seeds as 'LOW-HIGH' or 'A,B,C', got {text!r}"
        ) from None
    if not seeds or min(seeds) < 0:
        raise argparse.ArgumentTypeError(f"expected seeds >= 0, got {text!r}")
    return seeds


def pyplot() -> Any:
    """`matplotlib.pyplot` on the file-only Agg backend, or None without it.

    Plots are optional: matplotlib comes with the `examples` extra.
    """
    try:
        import matplotlib  # noqa: PLC0415

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        return None
    return plt
