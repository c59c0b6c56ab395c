"""Griffe extension: read this project's doctest examples as Examples sections.

The docstrings put their doctests at the section header's indentation
(``Example:`` then ``>>> ...`` on the next line, as Keras does), which
doctest runs but Griffe's Google parser does not take as a section: it
would render the ``>>>`` lines as Markdown quotes. This extension indents
such a block under an ``Examples:`` header before the docstring is parsed,
so the site shows it as code; so is a doctest block that follows the
sections with no header of its own. Sphinx cross-reference roles
(``:mod:`tfds_gp.checks```, which some docstrings use) become code spans.
The source files are not changed.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_HEADER = re.compile(r"^(?P<indent>\s*)Examples?:\s*$")
# Another Google section header, which ends the examples.
_SECTION = re.compile(r"^[A-Z][A-Za-z ]*:\s*$")
_ROLE = re.compile(
    r":(?:py:)?(?:mod|class|func|meth|attr|data|obj|exc|const):`~?([^`]+)`"
)


def indent_examples(text: str) -> str:
    """``text`` with each unindented doctest block under an ``Examples:`` header."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        match = _HEADER.match(lines[i])
        following = next((line for line in lines[i + 1 :] if line.strip()), "")
        if match and following.startswith(match["indent"] + ">>>"):
            indent = match["indent"]
            i += 1
        elif lines[i].startswith(">>>") and (i == 0 or not lines[i - 1].strip()):
            indent = ""  # a doctest block after the sections, with no header
        else:
            out.append(lines[i])
            i += 1
            continue
        out.append(f"{indent}Examples:")
        while i < len(lines):
            line = lines[i]
            body = line[len(indent) :]
            if line.strip() and line.startswith(indent) and _SECTION.match(body):
                break
            out.append(f"{indent}    {body}" if line.strip() else line)
            i += 1
    return "\n".join(out)


class DoctestExamples(griffe.Extension):
    """Indents unindented doctest examples before Griffe parses them."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            text = _ROLE.sub(r"`\1`", obj.docstring.value)
            obj.docstring.value = indent_examples(text)
