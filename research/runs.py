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
from typing import Any

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


class KeyedRun:
    """What a run dataclass shares: settings as plain JSON, a key, a name.

    A subclass sets `HARNESS_VERSION`, has a `study` field (a dataclass),
    and gives `_own_settings` (its other fields) and `_label`.
    """

    HARNESS_VERSION: int = 0

    def _own_settings(self) -> dict[str, Any]:
        raise NotImplementedError

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
    try:
        recorded = json.loads(settings_path.read_text())
    except (OSError, ValueError) as error:
        raise ValueError(
            f"Damaged run file {settings_path} ({error}): {advice}."
        ) from None
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
    try:
        recorded = json.loads(path.read_text())["key"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(
            f"Damaged result file {path} ({error!r}): delete it to run {name} again."
        ) from None
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
