"""Finds the public modules whose docstrings hold examples, and runs them.

Shared by tests/test_doctests.py (the default backend) and
tests/backend_spec/test_spec_doctests.py (once per Keras backend).
"""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def modules_with_examples(package: str, *, recursive: bool = True) -> list[str]:
    """Dotted names of the package's public modules whose source has `>>>`.

    Private modules (a path part starting with `_`, `__init__` aside) are
    left out: their docstrings are not the documentation users read.
    """
    root = REPO / package.replace(".", "/")
    files = root.rglob("*.py") if recursive else root.glob("*.py")
    names = []
    for path in sorted(files):
        parts = path.relative_to(REPO).with_suffix("").parts
        if any(p.startswith("_") and p != "__init__" for p in parts):
            continue
        if ">>>" in path.read_text(encoding="utf-8"):
            names.append(".".join(p for p in parts if p != "__init__"))
    return names


def run_doctests(module_name: str) -> None:
    """Runs one module's doctests; fails on a failure or on no example."""
    module = importlib.import_module(module_name)
    result = doctest.testmod(
        module,
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
        verbose=False,
        report=True,
    )
    assert result.attempted > 0, f"{module_name}: no example ran"
    assert result.failed == 0, f"{module_name}: {result.failed} example(s) failed"
