"""The layer package's docstring examples, on the backend under test."""

import pytest
from doctest_modules import modules_with_examples, run_doctests

# keras_backdrop's own modules; `distributed` is TensorFlow's alone and
# runs in tests/test_doctests.py.
MODULES = [
    m
    for m in modules_with_examples("keras_backdrop", recursive=False)
    if m != "keras_backdrop.distributed"
]


def test_the_layer_and_functions_have_examples():
    assert {"keras_backdrop.layer", "keras_backdrop.masks"} <= set(MODULES)


@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples(module_name):
    run_doctests(module_name)
