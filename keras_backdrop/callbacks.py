"""Callbacks that drive `BackdropMasking` layers during `fit`."""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import keras

from keras_backdrop._checks import check_number
from keras_backdrop.layer import BackdropMasking

UNITS = ("epoch", "step")


@keras.saving.register_keras_serializable(package="keras_backdrop")
class LinearWarmup:
    """`mask_prob` ramped linearly from `start` to `target` over `duration`.

    A schedule for `MaskProbScheduler`: called with an epoch or step index
    `i`, it returns `start + (target - start) * min(i / duration, 1)`.

    Args:
        target: Float in [0, 1]: the probability reached at `duration`.
        duration: Integer >= 1: epochs or steps (the scheduler's `unit`)
            of the ramp.
        start: Float in [0, 1]: the probability at index 0.

    Example:
    >>> ramp = LinearWarmup(0.95, duration=4)
    >>> [round(ramp(i), 4) for i in range(6)]
    [0.0, 0.2375, 0.475, 0.7125, 0.95, 0.95]
    """

    def __init__(self, target: float, duration: int, start: float = 0.0):
        self.target = _check_probability("target", target)
        self.start = _check_probability("start", start)
        self.duration = check_number(
            "duration",
            duration,
            "an integer >= 1 (epochs or steps)",
            lambda v: v >= 1,
            numbers.Integral,
        )

    def __call__(self, index: int) -> float:
        fraction = min(index / self.duration, 1.0)
        return self.start + (self.target - self.start) * fraction

    def get_config(self) -> dict[str, Any]:
        return {"target": self.target, "duration": self.duration, "start": self.start}


class MaskProbScheduler(keras.callbacks.Callback):
    """Sets the `mask_prob` of `BackdropMasking` layers during training.

    At the start of every epoch or training step the schedule is called
    with the epoch index or the global step (the optimizer's iteration
    count, so a resumed `fit` continues) and the result is written into
    the layers' `mask_prob`, and logged as `"<layer name>_mask_prob"`.

    Args:
        schedule: A function from an index (integer, from 0) to a float in
            [0, 1], applied to every layer; or a mapping from layer names to
            such functions, one per layer.
        layers: Optional sequence of layer names. Without it (and without a
            mapping), every `BackdropMasking` layer of the model built with
            `mask_prob` is scheduled, nested models included.
        unit: `"epoch"` or `"step"`.
        verbose: 0 (quiet) or 1 (print each change).

    Example:
    >>> import numpy as np
    >>> model = keras.Sequential([
    ...     keras.Input((8, 8, 1)),
    ...     keras.layers.Conv2D(4, 2, strides=2),
    ...     BackdropMasking(mask_prob=0.9, mask_axes=(1, 2), name="coarse"),
    ...     keras.layers.GlobalAveragePooling2D(),
    ...     keras.layers.Dense(2),
    ... ])
    >>> model.compile("sgd", "mse")
    >>> warmup = MaskProbScheduler({"coarse": LinearWarmup(0.9, duration=2)})
    >>> history = model.fit(np.ones((4, 8, 8, 1)), np.zeros((4, 2)),
    ...                     epochs=3, callbacks=[warmup], verbose=0)
    >>> [round(p, 2) for p in history.history["coarse_mask_prob"]]
    [0.0, 0.45, 0.9]
    """

    def __init__(
        self,
        schedule: Callable[[int], float] | Mapping[str, Callable[[int], float]],
        layers: Sequence[str] | None = None,
        unit: str = "epoch",
        verbose: int = 0,
    ):
        super().__init__()
        if isinstance(schedule, Mapping):
            if layers is not None:
                raise ValueError(
                    "Give the layer names either as the keys of `schedule` or "
                    f"as `layers`, not both. Received: layers={layers!r}"
                )
            layers = list(schedule)
            functions = dict(schedule)
        else:
            functions = None
        for name, function in (functions or {None: schedule}).items():
            if not callable(function):
                where = "" if name is None else f" (for layer {name!r})"
                raise TypeError(
                    "Invalid type for argument `schedule`: expected a function "
                    "from an index to a probability, or a mapping from layer "
                    f"names to such functions. Received{where}: {function!r}"
                )
        if layers is not None and (
            isinstance(layers, str) or not all(isinstance(name, str) for name in layers)
        ):
            raise TypeError(
                "Invalid type for argument `layers`: expected a sequence of "
                f"layer names. Received: layers={layers!r}"
            )
        if unit not in UNITS:
            raise ValueError(
                f"Invalid value for argument `unit`: expected one of {UNITS}. "
                f"Received: unit={unit!r}"
            )
        self.schedule = schedule
        self.layer_names = None if layers is None else tuple(layers)
        self._functions = functions
        self.unit = unit
        self.verbose = verbose
        self._layers: list[BackdropMasking] = []
        self._step = 0
        self._values: dict[str, float] = {}

    def on_train_begin(self, logs=None):
        self._layers = self._scheduled_layers()
        # The global step, restored with the optimizer on a resumed run.
        self._step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))

    def on_epoch_begin(self, epoch, logs=None):
        if self.unit == "epoch":
            self._apply(epoch)

    def on_train_batch_begin(self, batch, logs=None):
        if self.unit == "step":
            self._apply(self._step)
        self._step += 1

    def on_train_batch_end(self, batch, logs=None):
        if self.unit == "step" and logs is not None:
            logs.update(self._logged())

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs.update(self._logged())

    def _logged(self) -> dict[str, float]:
        return {f"{name}_mask_prob": value for name, value in self._values.items()}

    def _apply(self, index: int) -> None:
        synced = False
        for layer in self._layers:
            function = self._functions[layer.name] if self._functions else self.schedule
            value = function(index)
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise TypeError(
                    f"The schedule for layer '{layer.name}' returned "
                    f"{value!r} (type {type(value).__name__}) at {self.unit} "
                    f"{index}; expected a float in [0, 1]."
                )
            value = float(value)
            if self._values.get(layer.name) == value:
                continue  # Unchanged: no write, and on JAX no state sync.
            if not synced and keras.backend.backend() == "jax":
                # The JAX trainer holds the variables' values apart from the
                # variables during fit; a sync hands them back, and the next
                # step reads the variables again, this write included.
                self.model.jax_state_sync()
                synced = True
            try:
                layer.mask_prob = value
            except ValueError as error:
                raise ValueError(
                    f"The schedule for layer '{layer.name}' returned an invalid "
                    f"value at {self.unit} {index}: {error}"
                ) from None
            self._values[layer.name] = value
            if self.verbose:
                keras.utils.io_utils.print_msg(
                    f"\n{self.unit.capitalize()} {index}: MaskProbScheduler "
                    f"setting mask_prob of '{layer.name}' to {value:.6g}."
                )

    def _scheduled_layers(self) -> list[BackdropMasking]:
        found = {layer.name: layer for layer in _backdrop_layers(self.model)}
        if self.layer_names is None:
            layers = [layer for layer in found.values() if layer.keep_count is None]
            if not layers:
                raise ValueError(
                    "MaskProbScheduler found no BackdropMasking layer built "
                    f"with `mask_prob` in model '{self.model.name}'."
                )
            return layers
        missing = [name for name in self.layer_names if name not in found]
        if missing:
            raise ValueError(
                f"Invalid value for argument `layers`: no BackdropMasking "
                f"layer named {missing} in model '{self.model.name}' (it has "
                f"{sorted(found)}). Received: layers={list(self.layer_names)!r}"
            )
        fixed = [
            name for name in self.layer_names if found[name].keep_count is not None
        ]
        if fixed:
            raise ValueError(
                f"Invalid value for argument `layers`: {fixed} keep exactly "
                "`keep_count` entries and have no `mask_prob` to schedule. "
                f"Received: layers={list(self.layer_names)!r}"
            )
        return [found[name] for name in self.layer_names]


def _backdrop_layers(layer: Any) -> Iterator[BackdropMasking]:
    """Every `BackdropMasking` inside `layer`, nested models included."""
    for sublayer in getattr(layer, "layers", ()):
        if isinstance(sublayer, BackdropMasking):
            yield sublayer
        else:
            yield from _backdrop_layers(sublayer)


def _check_probability(name: str, value: Any) -> float:
    return check_number(name, value, "a float in [0, 1]", lambda v: 0.0 <= v <= 1.0)
