"""The ``gp_textures`` configs' descriptions, generated from their parameters.

One source for every description of a config: :func:`description` writes a
config's TFDS description (the builder's ``BUILDER_CONFIGS`` and custom
configs use it) and :func:`config_table` the Markdown table of configs that
the READMEs show.  This module sits below the builder and imports nothing
of it; the README tool that feeds it the built-in configs is
:mod:`tfds_gp.gp_textures.readme` (``python -m tfds_gp.gp_textures``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tfds_gp import beam_build, generator, reference
from tfds_gp.checks import type_error, value_error

__all__ = [
    "BUILT_IN_ROLES",
    "config_table",
    "description",
]

# What each built-in config is for: the one thing its parameters do not say.
# (Everything else in a description is generated from the parameters.)
BUILT_IN_ROLES = {
    "small": "Default, quick to build: the paper's recipe at a quarter of its "
    "image side and lengths",
    "medium": "The paper's recipe at half its image side and lengths",
    "paper": "The paper's recipe (its training set size), plus a held-out test split",
    "three_scale": "The reference's three-scale demonstration",
    "published": "The paper's dataset as its authors published it",
    "reference": "The paper's recipe made the way its authors made their data",
    "reference_half": "The half-size replica of the authors' data: their "
    "construction with every length and grid halved",
    "paper_large": "The paper's recipe with a hundred times its training samples",
    "paper_2048": "The paper's lengths and powers on twice the image side "
    "(four times the small-scale realisations per image)",
}

_PUBLISHED_NOTE = (
    "train split read from the authors' dataset.zip (Zenodo "
    "10.5281/zenodo.1252464) in the manual directory; test split generated"
)
_TORUS_NOTE = (
    "torus-wrapped patch construction (tfds_gp.reference_torus), not the "
    "authors': patches of length 8 grid points wrapped on the torus, no edge band"
)
_BEAM_NOTE = (
    "meant for an Apache Beam build (--beam_pipeline_options); without Beam it warns"
)


def _numbers(values: Sequence[float]) -> str:
    return "[" + ", ".join(generator.format_length(v) for v in values) + "]"


def _scales(scales: Sequence[Sequence[float]]) -> str:
    return "[" + ", ".join(_numbers(s) for s in scales) + "]"


def _stored(num_bytes: float) -> str:
    if num_bytes >= 1e9:
        return f"{num_bytes / 1e9:.1f} GB"
    if num_bytes >= 1e6:
        return f"{num_bytes / 1e6:.0f} MB"
    return f"{num_bytes / 1e3:.0f} kB"


def _check(recipe: object, source: object) -> None:
    if not isinstance(recipe, generator.GpRecipe):
        raise type_error("recipe", "expected a GpRecipe", recipe)
    if not isinstance(source, str):
        raise type_error("source", "expected 'generated' or 'published'", source)
    if source not in ("generated", "published"):
        raise value_error("source", "expected 'generated' or 'published'", source)


def _reference_note(size: int) -> str:
    """The authors' construction at ``size``, its numbers from the module."""
    grid = reference.patch_grid(size)
    coarse = reference.large_grid(size)
    return (
        f"authors' construction (tfds_gp.reference): lengths below "
        f"{reference.small_limit(size):g} px are sums of randomly placed, "
        f"Gaussian-enveloped GP patches ({grid}x{grid} grid upscaled by "
        f"cl/{grid * 8 // 50}) with the edge band copied, longer ones a GP on a "
        f"{coarse}x{coarse} grid upscaled x8"
    )


_CONSTRUCTION_WORDS = {
    "stationary": "stationary fields",
    "reference": "the authors' construction (tfds_gp.reference)",
    "reference_torus": "the torus-wrapped construction (tfds_gp.reference_torus)",
}


def _notes(recipe: generator.GpRecipe, source: str) -> list[str]:
    notes = []
    if source == "published":
        # The generated data is the test split only; its construction is
        # named there.
        notes.append(
            f"{_PUBLISHED_NOTE} with {_CONSTRUCTION_WORDS[recipe.construction]}"
        )
    elif recipe.construction == "reference":
        notes.append(_reference_note(recipe.size))
    elif recipe.construction == "reference_torus":
        notes.append(_TORUS_NOTE)
    if beam_build.estimate_build(recipe).large:
        notes.append(_BEAM_NOTE)
    return notes


def description(
    recipe: generator.GpRecipe, source: str = "generated", role: str | None = None
) -> str:
    """A config's one-paragraph description, generated from its parameters.

    Args:
      recipe: the config's recipe (size, scales, powers, counts, seed).
      source: ``'generated'`` or ``'published'`` (train split from the
        authors' file).
      role: what the config is for, put first (the built-in configs'
        :data:`BUILT_IN_ROLES`); None for none.

    Returns:
      The description: the role, the parameters, the number of examples and
      the estimated stored size, then notes (the authors' construction, the
      published train split, a Beam build for configs that
      :mod:`tfds_gp.beam_build` deems large).

    Raises:
      TypeError: ``recipe`` is not a ``GpRecipe``, ``source`` or ``role`` not
        a string.
      ValueError: ``source`` is neither ``'generated'`` nor ``'published'``.

    Example:
    >>> from tfds_gp import generator
    >>> recipe = generator.GpRecipe(
    ...     size=16, scales=[[1, 1.5]], powers=[1], train_per_class=3,
    ...     test_per_class=1, seed=7)
    >>> print(description(recipe, role="A tiny config"))
    A tiny config: 16x16, scales [[1, 1.5]], powers [1], 2 classes, 3 train + 1 test per class (8 examples, about 8 kB), seed 7.
    """  # noqa: E501
    _check(recipe, source)
    if role is not None and not isinstance(role, str):
        raise type_error("role", "expected a string or None", role)
    estimate = beam_build.estimate_build(recipe)
    text = (
        f"{recipe.size}x{recipe.size}, scales {_scales(recipe.scales)}, powers "
        f"{_numbers(recipe.powers)}, {recipe.num_classes} classes, "
        f"{recipe.train_per_class} train + {recipe.test_per_class} test per "
        f"class ({estimate.num_examples} examples, about "
        f"{_stored(estimate.num_bytes)}), seed {recipe.seed}"
    )
    if role:
        text = f"{role}: {text}"
    notes = _notes(recipe, source)
    if notes:
        text += "; " + "; ".join(notes)
    return text + "."


def config_table(configs: Sequence[Any], *, mark_default: bool = False) -> str:
    """The Markdown table of configs shown in the READMEs.

    Args:
      configs: ``GpTexturesConfig`` objects (anything with ``name``,
        ``recipe`` and ``source``), in the order of the rows.
      mark_default: whether the first config is marked ``(default)`` (the
        builder's built-in configs, default first).

    Returns:
      The table, one row per config, ending with a newline.
    """
    rows = [
        "| config | image | scales (lengths, pixels) | powers | classes "
        "| train + test per class | examples, stored | seed | notes |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for index, config in enumerate(configs):
        recipe = config.recipe
        _check(recipe, config.source)
        estimate = beam_build.estimate_build(recipe)
        name = f"`{config.name}`" + (
            " (default)" if mark_default and index == 0 else ""
        )
        notes = [BUILT_IN_ROLES.get(config.name, "")] + _notes(recipe, config.source)
        rows.append(
            f"| {name} | {recipe.size}x{recipe.size} | {_scales(recipe.scales)} "
            f"| {_numbers(recipe.powers)} | {recipe.num_classes} "
            f"| {recipe.train_per_class} + {recipe.test_per_class} "
            f"| {estimate.num_examples}, about {_stored(estimate.num_bytes)} "
            f"| {recipe.seed} | {'; '.join(n for n in notes if n)} |"
        )
    return "\n".join(rows) + "\n"
