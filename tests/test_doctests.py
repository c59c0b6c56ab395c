"""The docstring examples of the public modules run and print what they show.

The layer's own modules (`keras_backdrop/*.py`) run once per Keras backend in
tests/backend_spec/test_spec_doctests.py; here run the rest, on the default
backend: `keras_backdrop.experiments`, the TensorFlow-only
`keras_backdrop.distributed`, and `tfds_gp`.
"""

import pytest
from backend_spec.doctest_modules import modules_with_examples, run_doctests

MODULES = (
    modules_with_examples("keras_backdrop/experiments")
    + [
        m
        for m in modules_with_examples("keras_backdrop", recursive=False)
        if m == "keras_backdrop.distributed"
    ]
    + modules_with_examples("tfds_gp")
)


def test_the_shared_option_types_have_examples():
    # The finder must see at least the modules known to hold examples, or
    # an empty parametrisation would pass silently.
    assert "keras_backdrop.experiments.options" in MODULES


@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples(module_name):
    run_doctests(module_name)
