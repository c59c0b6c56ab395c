"""The API reference site builds with warnings as errors.

`mkdocs build --strict` reads every public docstring (mkdocstrings, Google
style), so a docstring that breaks the site (a malformed section, a bad
cross-reference) fails here. Skipped where the `docs` extra is not
installed, and in an unpacked sdist (no mkdocs.yml).
"""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PLUGINS = ("mkdocs", "mkdocstrings_handlers.python", "mkdocs_jupyter", "material")


def _missing_plugins():
    missing = []
    for name in PLUGINS:
        try:
            found = importlib.util.find_spec(name) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            missing.append(name)
    return missing


needs_docs = pytest.mark.skipif(
    bool(_missing_plugins()) or not (REPO / "mkdocs.yml").exists(),
    reason="the docs extra is not installed (pip install '.[docs]') "
    "or there is no mkdocs.yml (an unpacked sdist)",
)


@needs_docs
def test_site_builds_strictly(tmp_path):
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log
    assert "WARNING" not in log, log
    for page in (
        "index.html",
        "layer/index.html",
        "tutorial/index.html",
        "dataset/index.html",
        "api/keras_backdrop/index.html",
        "api/callbacks/index.html",
        "api/losses/index.html",
        "api/distributed/index.html",
        "api/tfds_gp/index.html",
    ):
        assert (site / page).is_file(), page
    api = (site / "api" / "keras_backdrop" / "index.html").read_text()
    for name in ("BackdropMasking", "draw_mask", "mask_gradient", "insert_masks"):
        assert f'id="keras_backdrop.{name}"' in api, name
    # The unindented doctests are shown as code, not as Markdown quotes.
    assert "<blockquote>" not in api


def _doctest_examples():
    path = REPO / "docs" / "_ext" / "doctest_examples.py"
    if not path.exists():
        pytest.skip("no docs/_ext (an unpacked sdist)")
    pytest.importorskip("griffe")
    spec = importlib.util.spec_from_file_location("doctest_examples", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_unindented_examples_are_moved_under_a_header():
    indent_examples = _doctest_examples().indent_examples
    text = "Sum.\n\nArgs:\n    x: y.\n\nExample:\n>>> 1 + 1\n2\n\nReturns:\n    z."
    assert indent_examples(text) == (
        "Sum.\n\nArgs:\n    x: y.\n\nExamples:\n    >>> 1 + 1\n    2\n\n"
        "Returns:\n    z."
    )
    bare = "Sum.\n\nRaises:\n    E: bad.\n\n>>> f()\n1"
    assert indent_examples(bare).endswith("\n\nExamples:\n    >>> f()\n    1")
    # An indented section is left as it is.
    indented = "Sum.\n\nExamples:\n    >>> 1\n    1"
    assert indent_examples(indented) == indented
