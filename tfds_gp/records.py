"""The ``gp_textures`` example dict, made the same way by every build path.

Both the single-process build and the Apache Beam build of the TFDS builder
make their examples with :func:`keyed_record`, so the two paths cannot drift
apart.  This module needs only NumPy and lives outside the builder module on
purpose: Beam pickles the per-example function by reference, and a Beam worker
must be able to import it under one canonical name
(``tfds_gp.records.keyed_record``).  The builder module itself is imported
under another name when ``tfds build tfds_gp/gp_textures`` loads it from the
folder, which a worker process could not import.
"""

from __future__ import annotations

import numpy as np

from tfds_gp import generator

__all__ = ["record", "keyed_record"]


def record(image: np.ndarray, gp_class: generator.GpClass) -> dict:
    """The TFDS example dict of one image of class ``gp_class``.

    Args:
      image: ``(size, size)`` array (stored as float32).
      gp_class: the image's class (label and correlation lengths).

    Returns:
      ``{'image': float32 (size, size, 1), 'label': int,
      'correlation_lengths': float32 (num_scales,)}``.
    """
    return {
        "image": np.asarray(image, np.float32)[:, :, None],
        "label": gp_class.label,
        "correlation_lengths": np.asarray(gp_class.cls, np.float32),
    }


def keyed_record(
    index: int, recipe: generator.GpRecipe, split: str
) -> tuple[int, dict]:
    """``(index, example)`` of example ``index`` of ``split``.

    The example depends only on ``(recipe, split, index)`` (its own random
    stream ``SeedSequence([seed, split_id, index])``), so any worker can make
    any example, in any order, and get the same bytes.  The key is the index,
    which TFDS hashes to order the written records; equal keys therefore give
    equal files whatever the build path.
    """
    image, gp_class = generator.example(recipe, split, int(index))
    return int(index), record(image, gp_class)
