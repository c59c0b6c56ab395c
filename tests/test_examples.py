"""The keras.io-style examples: they run with --fast, and read as notebooks.

`examples/texture_classification.py` (the tutorial) and
`examples/mask_picture.py` are scripts with top-level code, so each run is
a fresh interpreter from the repository root, as the README runs them.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = ("texture_classification", "mask_picture")
HEADER = re.compile(
    r'^"""\nTitle: .+\nAuthor: .+\nDate created: \d{4}/\d\d/\d\d\n'
    r"Last modified: \d{4}/\d\d/\d\d\nDescription: .+\nAccelerator: None\n"
    r'"""\n'
)


def _run(module: str, *args: str, backend: str | None = None) -> str:
    """Runs ``python -m examples.<module> *args``; its stdout + stderr."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    if backend is not None:
        env["KERAS_BACKEND"] = backend
    proc = subprocess.run(
        [sys.executable, "-m", f"examples.{module}", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    return output


def _rows(output: str, title: str, count: int) -> dict[str, list[float]]:
    """The table after the line starting with `title`: arm -> numbers."""
    lines = output.split(f"\n{title}", 1)[1].splitlines()[2 : 2 + count]
    rows = {}
    for line in lines:
        words = line.split()
        numbers = [w for w in words if re.fullmatch(r"\d+\.\d+", w)]
        arm = " ".join(w for w in words if w not in numbers)
        rows[arm] = [float(n) for n in numbers]
    return rows


def _check_tutorial_output(output: str, backend: str) -> None:
    texture = _rows(output, "Texture task", 2)
    assert f"backend {backend})" in output
    assert set(texture) == {"no mask", "backdrop"}
    for values in texture.values():
        assert len(values) == 3 and all(0.0 <= v <= 1.0 for v in values)
    losses = _rows(output, "Soft-F1", 3)
    assert set(losses) == {"full batch", "minibatches", "backdrop"}
    for values in losses.values():
        assert len(values) == 2 and all(0.0 <= v <= 1.0 for v in values)
    # The masks were placed by feature size and ramped up by the scheduler.
    assert "backdrop_after_conv1: mask_prob 0.3" in output
    assert "backdrop_after_conv4: mask_prob 0.95" in output
    assert "backdrop_after_conv4_mask_prob: 0.9500" in output


def test_tutorial_fast(tmp_path):
    output = _run("texture_classification", "--fast", "--data-dir", str(tmp_path))
    _check_tutorial_output(output, "tensorflow")
    # The tiny config was built by TFDS into --data-dir.
    assert (tmp_path / "gp_textures" / "tutorial_tiny").is_dir()


def _needs(module: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(
        importlib.util.find_spec(module) is None,
        reason=f"{module} is not installed, so its Keras backend cannot run",
    )


@pytest.mark.parametrize(
    "backend",
    [
        pytest.param("jax", marks=_needs("jax"), id="jax"),
        pytest.param("torch", marks=_needs("torch"), id="torch"),
    ],
)
def test_tutorial_fast_on_backend(backend, tmp_path):
    output = _run(
        "texture_classification",
        "--fast",
        "--data-dir",
        str(tmp_path),
        backend=backend,
    )
    _check_tutorial_output(output, backend)


def test_mask_picture_fast(tmp_path):
    output = _run("mask_picture", "--fast", "--out-dir", str(tmp_path))
    for name in ("crisp", "blurred", "pinned"):
        path = tmp_path / f"mask_{name}.png"
        assert path.read_bytes()[:4] == b"\x89PNG", name
        share = re.search(rf"{re.escape(str(path))}: ([\d.]+)% of pixels", output)
        # Masks leave part of the image without gradient, never all of it.
        assert share is not None and 0.0 < float(share.group(1)) < 100.0, output


@pytest.mark.parametrize("name", EXAMPLES)
def test_examples_have_the_keras_io_header(name):
    text = (REPO / "examples" / f"{name}.py").read_text()
    assert HEADER.match(text), text[:400]
    assert "keras_backdrop.experiments" not in text


def test_tutorial_converts_to_a_notebook(tmp_path):
    jupytext = pytest.importorskip("jupytext")
    from jupytext.cli import jupytext as jupytext_command

    notebook_path = tmp_path / "texture_classification.ipynb"
    jupytext_command(
        [
            "--to",
            "notebook",
            str(REPO / "examples" / "texture_classification.py"),
            "--output",
            str(notebook_path),
        ]
    )
    notebook = jupytext.read(notebook_path)
    kinds = [cell.cell_type for cell in notebook.cells]
    assert kinds.count("markdown") >= 10 and kinds.count("code") >= 10, kinds
    markdown = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    for heading in ("## Introduction", "## Part 1", "## Part 2"):
        assert heading in markdown
    # The prose is markdown, not commented code; the code cells compile.
    assert not any(line.startswith("# ") for line in markdown.splitlines())
    code = "\n\n".join(c.source for c in notebook.cells if c.cell_type == "code")
    compile(code, "notebook", "exec")
