"""The multi-scale Gaussian-process texture dataset, generated locally for TFDS.

``import tfds_gp`` registers the TFDS builder ``gp_textures``, after which
``tfds.load('gp_textures')`` builds and loads the default config offline.

Modules, from the bottom layer up (each imports only those below it):
:mod:`tfds_gp.checks` (argument checks and errors); the three constructions
side by side, :mod:`tfds_gp.stationary`, :mod:`tfds_gp.reference` (the
authors') and :mod:`tfds_gp.reference_torus` (a torus-wrapped variant);
:mod:`tfds_gp.generator` (the recipe, classes and splits, with the table
from construction name to sampler); :mod:`tfds_gp.records` and
:mod:`tfds_gp.beam_build` (which imports Beam only when a Beam build is
asked for); the TFDS builder in :mod:`tfds_gp.gp_textures`, with its README
tool :mod:`tfds_gp.gp_textures.readme`.  The safe reader of the authors'
published file, :mod:`tfds_gp.published`, stands alone.  All but the
builder need only NumPy and SciPy: if ``tensorflow_datasets`` is not
installed, this package still imports and only the builder is missing.
"""

from typing import Any

import numpy as np

from tfds_gp import (
    beam_build,
    checks,
    generator,
    published,
    records,
    reference,
    reference_torus,
    stationary,
)
from tfds_gp.beam_build import beam_download_config
from tfds_gp.checks import type_error, value_error
from tfds_gp.generator import (
    PRESETS,
    GpRecipe,
    class_table,
    field,
    sample,
    split_arrays,
)

try:
    import tensorflow_datasets as _tfds  # noqa: F401
except ImportError:  # NumPy-only use: no builder to register.
    GpTextures = GpTexturesConfig = None
else:
    # Importing the builder module registers `gp_textures` with TFDS.
    from tfds_gp.gp_textures import GpTextures, GpTexturesConfig


def load_numpy(
    config: Any = "small", split: str = "train"
) -> tuple[np.ndarray, np.ndarray]:
    """``(images, labels)`` NumPy arrays of a config's split, without TFDS.

    Args:
      config: a built-in name (``'small'``, ``'medium'``, ``'paper'``,
        ``'three_scale'``, ``'reference'``, ``'reference_half'``,
        ``'paper_large'``,
        ``'paper_2048'``), a
        :class:`tfds_gp.generator.GpRecipe` or a ``GpTexturesConfig`` with
        ``source='generated'``.
      split: ``'train'`` or ``'test'``.

    Returns:
      ``images`` float32 ``(n, size, size, 1)`` and ``labels`` int64 ``(n,)``,
      in example-index order; identical to what the TFDS builder stores.

    Raises:
      TypeError: ``config`` or ``split`` has the wrong type.
      ValueError: an unknown name or split, a ``published`` config (its train
        split is the authors' file: read it through TFDS), or a split larger
        than ``generator.MAX_ARRAY_BYTES`` (16 GiB) in memory.
    """
    if isinstance(config, str):
        if config not in PRESETS:
            raise value_error(
                "config",
                f"expected one of {sorted(PRESETS)} (or a GpRecipe / GpTexturesConfig)",
                config,
            )
        recipe = PRESETS[config]
    elif isinstance(config, GpRecipe):
        recipe = config
    elif GpTexturesConfig is not None and isinstance(config, GpTexturesConfig):
        if config.source != "generated":
            raise value_error(
                "config",
                "expected a generated config: load_numpy generates the data, "
                f"and a config with source={config.source!r} reads its train "
                "split from the authors' file: load it through TFDS",
                config,
            )
        recipe = config.recipe
    else:
        raise type_error(
            "config",
            "expected a built-in name, a GpRecipe or a generated GpTexturesConfig",
            config,
        )
    return split_arrays(recipe, split)


__all__ = [
    "GpRecipe",
    "GpTextures",
    "GpTexturesConfig",
    "PRESETS",
    "beam_build",
    "beam_download_config",
    "checks",
    "class_table",
    "field",
    "generator",
    "load_numpy",
    "published",
    "records",
    "reference",
    "reference_torus",
    "sample",
    "split_arrays",
    "stationary",
]
