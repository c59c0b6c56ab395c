"""One run: Keras `fit` with exact resume, selection on validation, one test.

`fit` is called once per epoch on that epoch's batches in a fixed order
(shuffled by the run's seed and the epoch, the same for every variant of a
seed), so a run stopped after any epoch and resumed in a fresh process
continues with the same data order, weights, optimizer state and mask
generators, and gives the same curves as an uninterrupted run.

A checkpoint is one file, `checkpoint.npz`: the model's variables (the mask
generators' states and `mask_prob` included), the optimizer's, the weights
of the best epoch so far and the run's state as JSON, replaced atomically
after each epoch (`research.training`). Keras's `BackupAndRestore` and
`EarlyStopping` do not carry the mask generators' states or the stopping
state across processes, so the loop keeps its own.
"""

from __future__ import annotations

import math
import time
from typing import Any

import keras
import numpy as np

from keras_backdrop.callbacks import LinearWarmup, MaskProbScheduler
from research.texture import model as texture_model
from research.texture.data import Split, scale_choices
from research.texture.settings import Run
from research.training import Training

#: Per-epoch learning curves kept with every run.
CURVES = ("loss", "accuracy", "val_loss", "val_accuracy", "steps", "seconds")
EVAL_BATCH = 16


class _TextureTraining(Training):
    """An epoch is one `fit` pass; the best epoch is selected on validation."""

    run: Run

    def build(self) -> keras.Model:
        study = self.run.study
        model = texture_model.build(study, self.run.variant, self.run.seed)
        model.compile(
            optimizer=keras.optimizers.Adam(study.lr),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
            jit_compile=False,
        )
        self.callbacks = _callbacks(self.run)
        self.tensors = _tensors(self.data)
        return model

    def fresh_state(self) -> dict[str, Any]:
        return {
            "epoch": 0,
            "done": False,
            "best_epoch": -1,
            "best_score": None,
            "best_weights": None,
            "curves": {name: [] for name in CURVES},
        }

    def done(self, state: dict[str, Any]) -> bool:
        return state["done"]

    def epoch(self, model: keras.Model, state: dict[str, Any]) -> None:
        run, study = self.run, self.run.study
        epoch = state["epoch"]
        started = time.time()
        x, y = epoch_batches(self.data["train"], run, epoch, self.tensors["train"])
        history = model.fit(
            x,
            y,
            batch_size=study.batch_size,
            epochs=epoch + 1,
            initial_epoch=epoch,
            shuffle=False,
            validation_data=self.tensors["val"],
            validation_batch_size=EVAL_BATCH,
            callbacks=self.callbacks,
            verbose=0,
        )
        logs = {k: float(v[-1]) for k, v in history.history.items()}
        _record(state, logs, study.steps_per_epoch, time.time() - started)
        steps = state["curves"]["steps"][-1]
        # Validation accuracy first, validation loss on ties: the loss rises
        # from overconfidence long after the accuracy stops improving.
        score = [logs["val_accuracy"], -logs["val_loss"]]
        if steps >= study.select_from_step and (
            state["best_score"] is None or score > state["best_score"]
        ):
            state.update(best_score=score, best_epoch=epoch)
            state["best_weights"] = [np.array(w) for w in model.get_weights()]
        state["epoch"] = epoch + 1
        state["done"] = steps >= study.max_steps or (
            steps >= study.min_steps and epoch - state["best_epoch"] >= study.patience
        )
        if epoch % 10 == 0 or state["done"]:
            self.log(
                f"{run.name} epoch {epoch + 1} step {steps}: loss "
                f"{logs['loss']:.3f} val_loss {logs['val_loss']:.3f} val_acc "
                f"{logs['val_accuracy']:.3f}"
            )

    def result(self, model: keras.Model, state: dict[str, Any]) -> dict[str, Any]:
        model.set_weights(state["best_weights"])
        return _result(self.run, model, state, self.data["test"])


#: Trains (or resumes) a run: `research.training.Training.train_run`, with
#: the "train", "val" and "test" splits of the run's seed as `data`.
train_run = _TextureTraining.train_run


def epoch_batches(
    train: Split, run: Run, epoch: int, images: Any = None
) -> tuple[Any, np.ndarray]:
    """The training images of `epoch` in their order (and crops).

    The order depends on the seed and the epoch only, so the variants of a
    seed see the same batches; the random-crops variant then crops each
    image at a position drawn from its own stream.

    Args:
        train: The training split.
        run: The run.
        epoch: The epoch (from 0).
        images: `train.images` as a backend tensor, if held as one: the
            uncropped images are then gathered from it, a tensor.
    """
    rng = np.random.default_rng([run.seed, epoch])
    order = rng.permutation(len(train.labels))
    labels = train.labels[order]
    if run.variant != "random_crops":
        if images is not None:
            return keras.ops.take(images, order, axis=0), labels
        return train.images[order], labels
    side = int(run.study.size * run.study.crop_fraction)
    crop_rng = np.random.default_rng([run.seed, epoch, 1])
    corners = crop_rng.integers(0, run.study.size - side + 1, (len(order), 2))
    crops = [
        train.images[i, r : r + side, c : c + side] for i, (r, c) in zip(order, corners)
    ]
    return np.stack(crops), labels


def _tensors(data: dict[str, Split]) -> dict[str, Any]:
    """The training images and the validation split as backend tensors.

    Converted once per run: given arrays, every `fit` call (one per epoch)
    would copy them into new tensors (a large part of a short epoch at
    these image sizes).
    """
    val = data["val"]
    return {
        "train": keras.ops.convert_to_tensor(data["train"].images),
        "val": (
            keras.ops.convert_to_tensor(val.images),
            keras.ops.convert_to_tensor(val.labels),
        ),
    }


def _callbacks(run: Run) -> list[keras.callbacks.Callback]:
    study = run.study
    if run.variant not in texture_model.MASK_AXES or study.warmup_steps == 0:
        return []
    # Both masks ramp from 0, per step, over the same steps.
    return [
        MaskProbScheduler(
            {
                texture_model.FINE: LinearWarmup(study.fine_prob, study.warmup_steps),
                texture_model.COARSE: LinearWarmup(
                    study.coarse_prob, study.warmup_steps
                ),
            },
            unit="step",
        )
    ]


def _record(state: dict, logs: dict[str, float], steps: int, seconds: float) -> None:
    curves = state["curves"]
    for name in ("loss", "accuracy", "val_loss", "val_accuracy"):
        curves[name].append(logs[name])
    curves["steps"].append((curves["steps"][-1] if curves["steps"] else 0) + steps)
    curves["seconds"].append(seconds)
    for name, value in logs.items():
        if name.endswith("_mask_prob"):
            curves.setdefault(name, []).append(value)


def _result(run: Run, model: keras.Model, state: dict, test: Split) -> dict[str, Any]:
    """Test figures of the selected epoch: the test set's only read."""
    study = run.study
    logits = model.predict(test.images, batch_size=EVAL_BATCH, verbose=0)
    predicted = np.argmax(logits, axis=1)
    # A label's choice per scale: the first scale's choice varies fastest.
    sizes = [len(s) for s in study.scales]
    strides = np.cumprod([1, *sizes[:-1]])
    predicted_choices = (predicted[:, None] // strides) % sizes
    per_scale = np.mean(predicted_choices == scale_choices(test.lengths, study), axis=0)
    curves = state["curves"]
    best = state["best_epoch"]
    return {
        "name": run.name,
        "key": run.key,
        "settings": run.settings(),
        "test_accuracy": float(np.mean(predicted == test.labels)),
        "scale_accuracy": [float(a) for a in per_scale],
        "test_size": len(test.labels),
        "selected_epoch": best + 1,
        "selected_step": curves["steps"][best],
        "val_loss": curves["val_loss"][best],
        "val_accuracy": curves["val_accuracy"][best],
        "train_loss": curves["loss"][best],
        "train_accuracy": curves["accuracy"][best],
        "steps": curves["steps"][-1],
        "epochs": state["epoch"],
        "left_plateau_step": _left_plateau(curves, study.num_classes),
        "seconds": float(sum(curves["seconds"])),
        "curves": curves,
    }


def _left_plateau(curves: dict, num_classes: int) -> int | None:
    """When training left the plateau of a uniform guess (None: never).

    The step count after the first epoch whose training loss fell below
    90 % of ln(classes), the loss of a uniform guess.
    """
    for loss, step in zip(curves["loss"], curves["steps"]):
        if loss < 0.9 * math.log(num_classes):
            return step
    return None
