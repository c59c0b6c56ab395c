"""The docstring examples of the public modules run and print what they show.

The layer's own modules (`keras_backdrop/*.py`) run once per Keras backend in
tests/backend_spec/test_spec_doctests.py; here run the rest, on the default
backend: the TensorFlow-only `keras_backdrop.distributed`, `tfds_gp` and the
research harness.
"""

import pytest
from backend_spec.doctest_modules import modules_with_examples, run_doctests

MODULES = (
    [
        m
        for m in modules_with_examples("keras_backdrop", recursive=False)
        if m == "keras_backdrop.distributed"
    ]
    + modules_with_examples("tfds_gp")
    + modules_with_examples("research")
)


def test_the_finder_sees_the_modules_known_to_hold_examples():
    # Or an empty parametrisation would pass silently.
    assert "tfds_gp.generator" in MODULES
    assert "research.nondecomposable.settings" in MODULES


@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples(module_name):
    run_doctests(module_name)
