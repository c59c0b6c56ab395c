"""What every study's training of one run shares: exact resume, a deadline.

A run trains epoch by epoch (an epoch being whatever its study trains
between two checkpoints). After each, the model's and its optimizer's
variables, the best weights so far and the loop's state are checkpointed
(`research.runs.save_state`), so that a run stopped after any epoch and
resumed in a fresh process continues exactly where it stopped.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras

from research import runs


class Training(abc.ABC):
    """One run's training loop; a study's subclass gives what differs.

    A subclass gives `build` (the compiled model), `fresh_state` (the
    loop's state before its first epoch: JSON values, and `"best_weights"`),
    `done`, `epoch` (trains one epoch and updates the state) and `result`.
    Its `train_run` is the study's entry point.
    """

    def __init__(
        self, run: Any, data: dict[str, Any], log: Callable[[str], None]
    ) -> None:
        self.run = run
        self.data = data
        self.log = log

    @classmethod
    def train_run(
        cls,
        run: Any,
        data: dict[str, Any],
        work_dir: Path,
        deadline: float | None = None,
        log: Callable[[str], None] = print,
    ) -> dict[str, Any] | None:
        """Trains (or resumes) `run`; its result, or None if `deadline` came first.

        Args:
            run: The run.
            data: The "train", "val" and "test" splits of the run's seed.
            work_dir: Where the run's folder (named by its key) lives.
            deadline: A `time.time()` after which the run stops after the
                current epoch (it resumes from there next time).
            log: Where progress lines go.

        Raises:
            ValueError: a file in the run's folder is damaged or belongs to
                other settings (the message names it and what to delete).
        """
        return cls(run, data, log).train(Path(work_dir) / run.name, deadline)

    def train(self, run_dir: Path, deadline: float | None) -> dict[str, Any] | None:
        """`train_run` in the run's folder `run_dir`."""
        # The seed first: it fixes the initial weights and the masks' streams.
        keras.utils.set_random_seed(self.run.seed)
        model = self.build()
        model.optimizer.build(model.trainable_variables)
        state = runs.start_or_resume(self.run, run_dir, model, self.fresh_state())
        while not self.done(state):
            self.epoch(model, state)
            runs.save_state(self.run, run_dir, model, state)
            if not self.done(state) and deadline is not None and time.time() > deadline:
                return None
        return self.result(model, state)

    @abc.abstractmethod
    def build(self) -> keras.Model:
        """The run's model, compiled (the one whose variables are checkpointed)."""

    @abc.abstractmethod
    def fresh_state(self) -> dict[str, Any]:
        """The loop's state before its first epoch."""

    @abc.abstractmethod
    def done(self, state: dict[str, Any]) -> bool:
        """Whether training has ended."""

    @abc.abstractmethod
    def epoch(self, model: keras.Model, state: dict[str, Any]) -> None:
        """Trains one epoch and records it in `state` (and logs progress)."""

    @abc.abstractmethod
    def result(self, model: keras.Model, state: dict[str, Any]) -> dict[str, Any]:
        """The finished run's result (the only read of the test split)."""
