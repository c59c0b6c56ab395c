"""The README tool: the generated table of the built-in ``gp_textures`` configs.

``tfds_gp/gp_textures/README.md`` (and the root README) show the table of
the builder's built-in configs between the markers :data:`BEGIN` and
:data:`END`.  A test checks that they hold exactly the generated table;
after changing a config, regenerate it with::

    python -m tfds_gp.gp_textures --write README.md

(``--write`` alone writes the dataset README; ``python -m
tfds_gp.gp_textures`` alone prints the table; the command runs
:func:`main`).  This module sits above the builder, whose configs it reads,
and :mod:`tfds_gp.gp_textures.describe`, which writes the rows.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from pathlib import Path

from tfds_gp.checks import value_error
from tfds_gp.gp_textures import describe
from tfds_gp.gp_textures.gp_textures_dataset_builder import BUILT_IN_CONFIGS

__all__ = [
    "BEGIN",
    "END",
    "README",
    "config_table",
    "main",
    "readme_table",
    "update_readme",
]

# The README that shows the table, and the markers around the table in it.
README = Path(__file__).with_name("README.md")
BEGIN = "<!-- BEGIN generated config table: python -m tfds_gp.gp_textures --write -->"
END = "<!-- END generated config table -->"

_SECTION = re.compile(re.escape(BEGIN) + r"\n(.*?)" + re.escape(END), re.DOTALL)


def config_table() -> str:
    """The Markdown table of the builder's built-in configs, default first."""
    return describe.config_table(BUILT_IN_CONFIGS, mark_default=True)


def update_readme(path: str | Path = README, table: str | None = None) -> bool:
    """Replaces the table between :data:`BEGIN` and :data:`END` in ``path``.

    Args:
      path: the Markdown file; it must hold the two markers, each on its own
        line.
      table: the new table; None for :func:`config_table` ``()``.

    Returns:
      True if the file changed.

    Raises:
      ValueError: the file does not hold the markers (once each, in order).
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if len(_SECTION.findall(text)) != 1:
        raise value_error(
            "path",
            f"expected a file holding the lines {BEGIN!r} and {END!r} once each",
            str(path),
        )
    table = config_table() if table is None else table
    new = _SECTION.sub(lambda _: f"{BEGIN}\n{table}{END}", text)
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text


def readme_table(path: str | Path = README) -> str | None:
    """The table between the markers in ``path``, or None without markers."""
    match = _SECTION.search(Path(path).read_text(encoding="utf-8"))
    return None if match is None else match.group(1)


def main(argv: Sequence[str] | None = None) -> None:
    """Prints the config table, or writes it into READMEs (``--write``)."""
    parser = argparse.ArgumentParser(
        prog="python -m tfds_gp.gp_textures",
        description="Print the table of the built-in gp_textures configs, or "
        "write it between the markers of READMEs.",
    )
    parser.add_argument(
        "--write",
        nargs="*",
        metavar="README",
        help="write the table between the markers of these files "
        f"(default: {README.relative_to(README.parents[2])})",
    )
    args = parser.parse_args(argv)
    if args.write is None:
        print(config_table(), end="")
        return
    for path in args.write or [README]:
        try:
            changed = update_readme(path)
        except (OSError, ValueError) as error:
            parser.error(f"argument --write: {error}")
        print(f"{path}: {'updated' if changed else 'up to date'}")
