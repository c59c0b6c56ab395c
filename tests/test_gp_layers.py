"""The layers of ``tfds_gp``: no import circle, no module using another's privates.

The import graph is read from the source with :mod:`ast`, imports inside
functions included (a lazy import hides a circle from the interpreter, not
from a reader).  ``from tfds_gp import x`` is an edge to the submodule
``tfds_gp.x`` when one exists, else to the package.
"""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pytest

import tfds_gp
from tfds_gp import reference

PACKAGE = Path(tfds_gp.__file__).parent


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _package_of(name: str) -> str:
    path = MODULES[name]
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def _imports(name: str) -> list[tuple[str, list[str], dict[str, str]]]:
    """``(target module, names imported from it, {alias: module})`` per import."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in MODULES:
                    bound = alias.asname or alias.name
                    found.append((alias.name, [], {bound: alias.name}))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = _package_of(name).split(".")
                package = package[: len(package) - node.level + 1]
                base = ".".join(package + ([base] if base else []))
            if base not in MODULES:
                continue
            names, aliases = [], {}
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in MODULES:
                    found.append((sub, [], {alias.asname or alias.name: sub}))
                else:
                    names.append(alias.name)
            if names:
                found.append((base, names, aliases))
    return found


def _graph() -> dict[str, set[str]]:
    return {
        name: {target for target, _, _ in _imports(name) if target != name}
        for name in MODULES
    }


def test_the_package_has_the_expected_modules():
    for name in ("checks", "stationary", "reference", "reference_torus", "generator"):
        assert f"tfds_gp.{name}" in MODULES


def test_the_import_graph_has_no_circle():
    graph = _graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt) :] + [nxt] if nxt in path else [nxt]
                pytest.fail("import circle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


def test_the_layers_point_down():
    graph = _graph()
    # The bottom: errors and checks import nothing of the package, and the
    # pickle reader stands alone (the tests load it from its file).
    assert graph["tfds_gp.checks"] == set()
    assert graph["tfds_gp.published"] == set()
    # The constructions sit beside each other, below the recipe.
    for name in ("stationary", "reference", "reference_torus"):
        assert "tfds_gp.generator" not in graph[f"tfds_gp.{name}"], name
    # The builder and the descriptions do not import each other both ways,
    # and neither imports the README tool.
    builder = "tfds_gp.gp_textures.gp_textures_dataset_builder"
    describe = "tfds_gp.gp_textures.describe"
    assert builder not in graph[describe]
    assert "tfds_gp.gp_textures.readme" not in graph[builder] | graph[describe]


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def test_no_module_uses_another_modules_private_names():
    offences = []
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        bound: dict[str, str] = {}
        for target, names, aliases in _imports(name):
            bound.update(aliases)
            offences += [
                f"{name}: from {target} import {n}" for n in names if _private(n)
            ]
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in bound
                and bound[node.value.id] != name
                and _private(node.attr)
            ):
                offences.append(f"{name}: {node.value.id}.{node.attr}")
    assert not offences, offences


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda: reference.se_sqrt(4, 0.0), "length"),
        (lambda: reference.se_sqrt(4, math.nan), "length"),
        (lambda: reference.se_sqrt(4, math.inf), "length"),
        (lambda: reference.cubic_matrix(1, 5), "n_in"),
        (lambda: reference.cubic_matrix(5, 0), "n_out"),
    ],
)
def test_the_helpers_refuse_degenerate_values_by_name(call, argument):
    with pytest.raises(ValueError, match=f"argument `{argument}`"):
        call()


@pytest.mark.parametrize("cl", [0.0, math.nan, 0.1])
def test_public_routes_refuse_such_lengths_first(cl):
    # A length that would reach se_sqrt as 0 or NaN is refused by the
    # recipe and by the sampler, naming the length, before any matrix.
    from tfds_gp import generator

    with pytest.raises(ValueError, match="argument `scales`"):
        generator.GpRecipe(512, [[cl]], [1.0], 1, 1, construction="reference")
    with pytest.raises(ValueError, match="argument `cl`"):
        reference.sample([cl], [1.0], 512, np.random.default_rng(0))


def test_published_writes_argument_errors_as_checks_does():
    # published.py keeps its own helpers (it imports nothing of the
    # package); the messages are the same.
    from tfds_gp import checks, published

    expected = "expected an int from 1 to 4096 (the image side)"
    with pytest.raises(TypeError) as got:
        published.read_published("unused.zip", size="big")
    assert str(got.value) == str(checks.type_error("size", expected, "big"))
    with pytest.raises(ValueError) as got:
        published.read_published("unused.zip", size=0)
    assert str(got.value) == str(checks.value_error("size", expected, 0))
