"""One run: Keras `fit` in chunks of equal forward samples, exact resume.

The budget is `budget_epochs * n_train` forward samples for every method:
a full-batch or backdrop step reads the whole training set, a minibatch
step `b` samples, so a minibatch method takes `n_train / b` times as many
steps. Training goes in chunks of `eval_every_epochs` passes' worth of
forward samples; after each chunk the validation split is scored and the
weights of the best chunk so far (by the study's selection metric, the
earliest on ties) are kept. At the end the best chunk's weights are scored
on the test split, once.

A chunk's batches are a function of the seed and the chunk alone (index
streams cut from seeded permutations), so a run stopped after any chunk
and resumed in a fresh process gives the same curves as an uninterrupted
one. The checkpoint is one file, `checkpoint.npz` (the model's variables,
the mask generator's state included, the optimizer's, the best weights
and the run's state as JSON), replaced whole after each chunk
(`research.training`).
"""

from __future__ import annotations

import math
import time
from typing import Any

import keras
import numpy as np

from research.nondecomposable import model as nd_model
from research.nondecomposable.data import Split
from research.nondecomposable.losses import make_loss
from research.nondecomposable.settings import Run, parse_method, steps_per_epoch
from research.training import Training

FIGURES = ("f1", "auc", "ap")
CURVES = (
    "epochs",
    "steps",
    "loss",
    "val_f1",
    "val_auc",
    "val_ap",
    "seconds",
    "cpu_seconds",
)
SCORE_BATCH = 8192


def scores(y: np.ndarray, logits: np.ndarray) -> dict[str, float]:
    """F1 at logit 0, ROC AUC and average precision of `logits` on `y`."""
    from sklearn.metrics import (  # noqa: PLC0415
        average_precision_score,
        f1_score,
        roc_auc_score,
    )

    logits = np.asarray(logits, np.float64).ravel()
    return {
        "f1": float(f1_score(y, logits > 0, zero_division=0.0)),
        "auc": float(roc_auc_score(y, logits)),
        "ap": float(average_precision_score(y, logits)),
    }


def stream(n: int, start: int, count: int, key: list[int]) -> np.ndarray:
    """Positions `[start, start + count)` of an endless shuffled index stream.

    The stream is `permutation(n)` of `default_rng([*key, 0])`, then of
    `[*key, 1]`, and so on: every pass holds each index once.
    """
    first, last = start // n, (start + count - 1) // n
    passes = [
        np.random.default_rng([*key, c]).permutation(n) for c in range(first, last + 1)
    ]
    joined = np.concatenate(passes)
    offset = start - first * n
    return joined[offset : offset + count]


def chunk_batches(run: Run, train: Split, chunk: int) -> tuple[Any, np.ndarray, int]:
    """`(inputs, labels, batch_size)` of chunk `chunk`, in step order."""
    study = run.study
    kind, size = parse_method(run.method)
    steps = study.eval_every_epochs * steps_per_epoch(study, run.method)
    n = len(train.y)
    if kind == "minibatch":
        index = stream(n, chunk * steps * size, steps * size, [run.seed, 0])
        return train.x[index], train.y[index], size
    if kind == "minibatch_stratified":
        positive = np.flatnonzero(train.y > 0.5)
        negative = np.flatnonzero(train.y <= 0.5)
        k_pos = nd_model.positives_kept(size, n, len(positive))
        parts = [
            members[
                stream(len(members), chunk * steps * k, steps * k, [run.seed, j])
            ].reshape(steps, k)
            for j, (members, k) in enumerate(
                ((positive, k_pos), (negative, size - k_pos)), start=1
            )
        ]
        index = np.concatenate(parts, axis=1).ravel()
        return train.x[index], train.y[index], size
    x, y = np.tile(train.x, (steps, 1)), np.tile(train.y, steps)
    if kind == "backdrop_stratified":
        rng = np.random.default_rng([run.seed, 3, chunk])
        masks = nd_model.stratified_masks(train.y, size, steps, rng).ravel()
        return [x, masks], y, n
    return x, y, n


def compile_model(model: keras.Model, run: Run) -> None:
    """Compiles `model` for `run`: Adam, the study's loss, a chunk per call.

    A chunk's steps run in one call of the compiled step
    (`steps_per_execution`): the same steps, weights and losses as one
    call a step, bit for bit, without the per-step overhead of `fit`
    that dominates minibatch runs.
    """
    study = run.study
    model.compile(
        optimizer=keras.optimizers.Adam(run.lr),
        loss=make_loss(study.loss),
        jit_compile=False,
        steps_per_execution=study.eval_every_epochs
        * steps_per_epoch(study, run.method),
    )


class _ChunkTraining(Training):
    """An epoch is one chunk; the best chunk is selected on validation."""

    run: Run

    def build(self) -> keras.Model:
        study = self.run.study
        trained, self.scorer = nd_model.build(study, self.run.method, self.run.seed)
        compile_model(trained, self.run)
        return trained

    def fresh_state(self) -> dict[str, Any]:
        return {
            "chunk": 0,
            "best_chunk": -1,
            "best_score": -math.inf,
            "best_weights": None,
            "curves": {name: [] for name in CURVES},
        }

    def done(self, state: dict[str, Any]) -> bool:
        study = self.run.study
        return state["chunk"] >= study.budget_epochs // study.eval_every_epochs

    def epoch(self, model: keras.Model, state: dict[str, Any]) -> None:
        run, study, scorer = self.run, self.run.study, self.scorer
        metric = study.selection_metric
        chunk = state["chunk"]
        inputs, labels, batch = chunk_batches(run, self.data["train"], chunk)
        started, cpu_started = time.perf_counter(), time.process_time()
        history = model.fit(
            inputs,
            labels,
            batch_size=batch,
            epochs=chunk + 1,
            initial_epoch=chunk,
            shuffle=False,
            verbose=0,
        )
        seconds = time.perf_counter() - started
        cpu_seconds = time.process_time() - cpu_started
        val = self.data["val"]
        figures = scores(val.y, scorer.predict(val.x, SCORE_BATCH, verbose=0))
        curves = state["curves"]
        curves["epochs"].append((chunk + 1) * study.eval_every_epochs)
        curves["steps"].append(
            int(keras.ops.convert_to_numpy(model.optimizer.iterations))
        )
        curves["loss"].append(float(history.history["loss"][-1]))
        for name in FIGURES:
            curves[f"val_{name}"].append(figures[name])
        curves["seconds"].append(seconds)
        curves["cpu_seconds"].append(cpu_seconds)
        if figures[metric] > state["best_score"]:
            state.update(best_score=figures[metric], best_chunk=chunk)
            state["best_weights"] = [np.array(w) for w in scorer.get_weights()]
        state["chunk"] = chunk + 1
        if chunk % 10 == 0 or self.done(state):
            self.log(
                f"{run.name} epoch {curves['epochs'][-1]} step {curves['steps'][-1]}"
                f": loss {curves['loss'][-1]:.4f} val {metric} {figures[metric]:.4f}"
            )

    def result(self, model: keras.Model, state: dict[str, Any]) -> dict[str, Any]:
        train = self.data["train"]
        final_train = scores(
            train.y, self.scorer.predict(train.x, SCORE_BATCH, verbose=0)
        )
        self.scorer.set_weights(state["best_weights"])
        return _result(self.run, self.scorer, state, self.data, final_train)


#: Trains (or resumes) a run: `research.training.Training.train_run`, with
#: the "train", "val" and "test" splits of the run's seed as `data`; the
#: deadline is checked after each evaluation chunk.
train_run = _ChunkTraining.train_run


def _result(
    run: Run,
    scorer: keras.Model,
    state: dict,
    data: dict[str, Split],
    final_train: dict[str, float],
) -> dict[str, Any]:
    """Figures of the selected chunk; the test split's only read."""
    best, curves = state["best_chunk"], state["curves"]
    test = data["test"]
    return {
        "name": run.name,
        "key": run.key,
        "settings": run.settings(),
        "test": scores(test.y, scorer.predict(test.x, SCORE_BATCH, verbose=0)),
        "val": {name: curves[f"val_{name}"][best] for name in FIGURES},
        "train": scores(
            data["train"].y, scorer.predict(data["train"].x, SCORE_BATCH, verbose=0)
        ),
        "final_train": final_train,
        "final_val": {name: curves[f"val_{name}"][-1] for name in FIGURES},
        "selected_epoch": curves["epochs"][best],
        "selected_step": curves["steps"][best],
        "steps": curves["steps"][-1],
        "seconds": float(sum(curves["seconds"])),
        "cpu_seconds": float(sum(curves["cpu_seconds"])),
        "positives": {name: data[name].positives for name in ("train", "val", "test")},
        "sizes": {name: len(data[name].y) for name in ("train", "val", "test")},
        "curves": curves,
    }
