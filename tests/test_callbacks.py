"""Argument checks of `keras_backdrop.callbacks` (the behaviour in fit is
tested per backend in tests/backend_spec/test_spec_schedule.py)."""

import keras
import numpy as np
import pytest

from keras_backdrop import BackdropMasking
from keras_backdrop.callbacks import LinearWarmup, MaskProbScheduler


def model_with(*masks):
    model = keras.Sequential(
        [keras.Input((4, 4, 1)), keras.layers.Conv2D(2, 2), *masks]
        + [keras.layers.Flatten(), keras.layers.Dense(1)]
    )
    model.compile("sgd", "mse")
    return model


def fit(model, callback):
    model.fit(np.ones((2, 4, 4, 1)), np.zeros((2, 1)), callbacks=[callback], verbose=0)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"schedule": 0.5}, TypeError, "schedule"),
        ({"schedule": {"a": 0.5}}, TypeError, "for layer 'a'"),
        ({"schedule": lambda i: 0.0, "unit": "batch"}, ValueError, "unit='batch'"),
        ({"schedule": lambda i: 0.0, "layers": "a"}, TypeError, "layers='a'"),
        (
            {"schedule": {"a": lambda i: 0.0}, "layers": ["a"]},
            ValueError,
            "not both",
        ),
    ],
)
def test_scheduler_arguments_are_checked_when_made(kwargs, error, match):
    with pytest.raises(error, match=match):
        MaskProbScheduler(**kwargs)


def test_unknown_and_keep_count_layers_are_named():
    model = model_with(
        BackdropMasking(mask_prob=0.5, name="p"),
        BackdropMasking(keep_count=1, name="k"),
    )
    with pytest.raises(ValueError, match=r"\['nope'\].*'k', 'p'"):
        fit(model, MaskProbScheduler(lambda i: 0.1, layers=["nope"]))
    with pytest.raises(ValueError, match=r"\['k'\] keep exactly"):
        fit(model, MaskProbScheduler(lambda i: 0.1, layers=["k"]))
    with pytest.raises(ValueError, match="no BackdropMasking"):
        fit(model_with(), MaskProbScheduler(lambda i: 0.1))


def test_every_mask_prob_layer_is_scheduled_nested_models_included():
    inner = keras.Sequential(
        [keras.Input((3, 3, 2)), BackdropMasking(mask_prob=0.9, name="inner")]
    )
    model = model_with(BackdropMasking(mask_prob=0.5, name="outer"), inner)
    fit(model, MaskProbScheduler(lambda i: 0.125))
    assert inner.get_layer("inner").mask_prob == 0.125
    assert model.get_layer("outer").mask_prob == 0.125


@pytest.mark.parametrize(
    "value, error", [(1.5, ValueError), ("0.5", TypeError), (True, TypeError)]
)
def test_a_bad_scheduled_value_names_layer_and_epoch(value, error):
    model = model_with(BackdropMasking(mask_prob=0.5, name="p"))
    with pytest.raises(error, match=r"layer 'p'.*epoch 0"):
        fit(model, MaskProbScheduler(lambda i: value))
    assert model.get_layer("p").mask_prob == 0.5


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"target": 1.2, "duration": 3}, ValueError, "target=1.2"),
        ({"target": 0.5, "duration": 0}, ValueError, "duration=0"),
        ({"target": 0.5, "duration": 2.5}, TypeError, "duration=2.5"),
        ({"target": 0.5, "duration": 2, "start": -1}, ValueError, "start=-1"),
        ({"target": "0.5", "duration": 2}, TypeError, "target='0.5'"),
    ],
)
def test_linear_warmup_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        LinearWarmup(**kwargs)


def test_linear_warmup_values_and_config():
    ramp = LinearWarmup(0.8, duration=4, start=0.4)
    assert [ramp(i) for i in (0, 2, 4, 9)] == pytest.approx([0.4, 0.6, 0.8, 0.8])
    assert LinearWarmup(**ramp.get_config())(1) == pytest.approx(0.5)
