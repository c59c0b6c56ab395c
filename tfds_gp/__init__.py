"""The multi-scale Gaussian-process texture dataset, generated locally for TFDS.

``import tfds_gp`` registers the TFDS builder ``gp_textures``, after which
``tfds.load('gp_textures')`` builds and loads the default config offline.

The generator itself (:mod:`tfds_gp.generator`), the example records
(:mod:`tfds_gp.records`), the Apache Beam helpers (:mod:`tfds_gp.beam_build`,
which import Beam only when a Beam build is asked for) and the safe reader of
the authors' published file (:mod:`tfds_gp.published`) need only NumPy: if
``tensorflow_datasets`` is not installed, this package still imports and
only the builder is missing.
"""

from tfds_gp import beam_build, generator, published, records
from tfds_gp.beam_build import beam_download_config
from tfds_gp.generator import GpRecipe, PRESETS, class_table, field, sample, split_arrays

try:
    import tensorflow_datasets as _tfds  # noqa: F401
except ImportError:  # NumPy-only use: no builder to register.
    GpTextures = GpTexturesConfig = None
else:
    # Importing the builder module registers `gp_textures` with TFDS.
    from tfds_gp.gp_textures import GpTextures, GpTexturesConfig


def load_numpy(config="small", split: str = "train"):
    """``(images, labels)`` NumPy arrays of a config's split, without TFDS.

    Args:
      config: a built-in name (``'small'``, ``'medium'``, ``'paper'``,
        ``'three_scale'``, ``'paper_large'``, ``'paper_2048'``), a :class:`tfds_gp.generator.GpRecipe` or a
        ``GpTexturesConfig`` with ``source='generated'``.
      split: ``'train'`` or ``'test'``.

    Returns:
      ``images`` float32 ``(n, size, size, 1)`` and ``labels`` int64 ``(n,)``,
      in example-index order; identical to what the TFDS builder stores.
    """
    if isinstance(config, str):
        if config not in PRESETS:
            raise ValueError(
                f"config must be one of {sorted(PRESETS)} (or a GpRecipe / "
                f"GpTexturesConfig), got {config!r}"
            )
        recipe = PRESETS[config]
    elif isinstance(config, GpRecipe):
        recipe = config
    elif getattr(config, "source", None) == "generated":
        recipe = config.recipe
    else:
        raise TypeError(
            "config must be a built-in name, a GpRecipe or a generated "
            f"GpTexturesConfig, got {config!r}"
        )
    return split_arrays(recipe, split)


__all__ = [
    "GpRecipe",
    "GpTextures",
    "GpTexturesConfig",
    "PRESETS",
    "beam_build",
    "beam_download_config",
    "class_table",
    "field",
    "generator",
    "load_numpy",
    "published",
    "records",
    "sample",
    "split_arrays",
]
