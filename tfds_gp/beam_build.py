"""Building ``gp_textures`` with Apache Beam, and when to recommend it.

TFDS runs a builder on Beam when the build is given Beam options
(``tfds build ... --beam_pipeline_options=...`` or
``tfds.download.DownloadConfig(beam_options=...)``): the ``gp_textures``
builder then returns a Beam transform that makes every example in a worker,
from the example's own random stream, and TFDS's Beam writer stores them.
The records are identical to the single-process build's.

Apache Beam is an optional extra (``pip install 'keras-backdrop[beam]'``);
this module imports it only when a Beam build is asked for, and then says
what to install if it is missing.  It needs no TensorFlow at import time.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from tfds_gp import generator, reference, reference_torus
from tfds_gp.checks import check_int, show, type_error, value_error

__all__ = [
    "BEAM_INSTALL",
    "BEAM_COMMAND",
    "WARN_BYTES",
    "BuildEstimate",
    "beam_download_config",
    "estimate_build",
    "import_beam",
    "requested_on_command_line",
]

# What to install for a Beam build (the package's optional extra).
BEAM_INSTALL = "pip install 'keras-backdrop[beam]'"

# A local Beam build on every core of this machine; `{config}` is the config.
BEAM_COMMAND = (
    "tfds build gp_textures --imports tfds_gp --config {config} "
    '--beam_pipeline_options="runner=DirectRunner,direct_num_workers=0,'
    'direct_running_mode=multi_processing"'
)

# Stored bytes per pixel of an example: the float32 image's raw bytes (the
# label and lengths are noise); measured 4.00 bytes/pixel for `paper`.
_BYTES_PER_PIXEL = 4.0

# Single-core seconds per megapixel to generate, encode and write an example.
# Measured on a shared two-core machine (benchmarks/dataset_build.py): the
# single-process build of `paper` (200 examples of 1024x1024, 210
# megapixels) takes about 4.2 s, that of `small` (26 megapixels) about
# 0.8 s. A rough guide only.
_SECONDS_PER_MEGAPIXEL = 0.03

# Extra single-core seconds per megapixel of each patch-made field of the
# patch constructions (construction='reference' or 'reference_torus', a
# length below 50 px at 1024 px): about 0.3 s for the 5135 patches of a
# 1024x1024 field of length 9.5; at 512 px the 5442 smaller patches of a
# field of length 4.75 take about 0.08 s, a rate close enough for a rough
# guide.  A coarse upscaled field costs milliseconds.
_REFERENCE_SECONDS_PER_MEGAPIXEL = 0.3

# Above this estimated size a build without Beam warns: it means hours of one
# core and tens of gigabytes written by one process.  The paper-sized configs
# (about 0.8 and 1.7 GB) stay below it.
WARN_BYTES = 4e9


class BuildEstimate:
    """Rough size and single-core time of building a recipe.

    Attributes:
      num_examples: examples over both splits.
      num_bytes: estimated bytes of the written records.
      seconds: estimated seconds on one core, without Beam.
    """

    def __init__(self, num_examples: int, num_bytes: float, seconds: float) -> None:
        self.num_examples = num_examples
        self.num_bytes = num_bytes
        self.seconds = seconds

    @property
    def large(self) -> bool:
        """True if the build is large enough to recommend Beam."""
        return self.num_bytes > WARN_BYTES

    def describe(self) -> str:
        """E.g. ``'12000 examples, about 50.3 GB, about 6 min on one core'``."""
        if self.seconds >= 3600.0:
            time = f"{self.seconds / 3600.0:.1f} h"
        elif self.seconds >= 60.0:
            time = f"{self.seconds / 60.0:.0f} min"
        else:
            time = f"{self.seconds:.0f} s"
        return (
            f"{self.num_examples} examples, about {self.num_bytes / 1e9:.1f} GB, "
            f"about {time} on one core"
        )

    def __repr__(self) -> str:
        return f"BuildEstimate({self.describe()})"


def estimate_build(
    recipe: generator.GpRecipe, max_examples_per_split: int | None = None
) -> BuildEstimate:
    """Estimated size and single-core time of building ``recipe``.

    Args:
      recipe: the dataset recipe.
      max_examples_per_split: TFDS's debugging cap on examples per split, if
        the build sets one.

    Returns:
      The estimate.

    Raises:
      TypeError: ``recipe`` is not a ``GpRecipe``, or the cap not an integer
        or None.
      ValueError: a negative cap.

    Example:
    >>> estimate_build(generator.PRESETS["paper_large"]).describe()
    '12000 examples, about 50.3 GB, about 6 min on one core'
    """
    generator.check_recipe(recipe)
    if max_examples_per_split is not None:
        max_examples_per_split = check_int(
            max_examples_per_split,
            "max_examples_per_split",
            0,
            2**63 - 1,
            "TFDS's cap on examples per split, or None",
        )
    counts = [recipe.num_examples(split) for split in generator.SPLIT_IDS]
    if max_examples_per_split is not None:
        counts = [min(n, max_examples_per_split) for n in counts]
    n = sum(counts)
    pixels = recipe.size * recipe.size
    per_megapixel = _SECONDS_PER_MEGAPIXEL
    if recipe.construction != "stationary":
        # Each scale adds the share of its lengths that are made of patches
        # (below 50 px scaled with the size for the authors' construction,
        # below 50 px at every size for the torus variant).
        limit = (
            reference.small_limit(recipe.size)
            if recipe.construction == "reference"
            else reference_torus.SMALL_LIMIT
        )
        per_megapixel += _REFERENCE_SECONDS_PER_MEGAPIXEL * sum(
            sum(cl < limit for cl in choices) / len(choices)
            for choices in recipe.scales
        )
    return BuildEstimate(
        num_examples=n,
        num_bytes=n * pixels * _BYTES_PER_PIXEL,
        seconds=n * pixels / 1e6 * per_megapixel,
    )


def import_beam() -> Any:
    """``apache_beam``, or an ImportError that says what to install."""
    try:
        import apache_beam  # pylint: disable=g-import-not-at-top
    except ImportError as error:
        raise ImportError(
            "A Beam build of gp_textures needs Apache Beam, which is not "
            f"installed: {BEAM_INSTALL} (or pip install 'apache-beam>=2.50'). "
            "Without Beam options the dataset builds in a single process."
        ) from error
    return apache_beam


def requested_on_command_line(argv: Sequence[str] | None = None) -> bool:
    """True if the command line passes ``--beam_pipeline_options``.

    ``tfds build`` turns the option into Beam options inside a
    ``try: import apache_beam ... except ImportError: pass`` (TFDS
    ``scripts/cli/cli_utils.py``), so where the CLI can start without Beam the
    option would be dropped and the dataset built in one process.  The builder
    looks at the command line so that it refuses instead.  (In TFDS 4.9.10
    the ``tfds`` CLI does not start at all without Beam, tensorflow/datasets
    #5463; the guard is for versions where it does.)

    Args:
      argv: the command line; None for ``sys.argv``.

    Returns:
      Whether ``argv`` holds the option.

    Example:
    >>> requested_on_command_line(["tfds", "build", "--beam_pipeline_options=x=1"])
    True
    """
    # No public route exists: the tfds CLI drops the option (without Beam)
    # before the builder is called, so only the command line still holds it.
    argv = sys.argv if argv is None else argv
    return any(
        arg == "--beam_pipeline_options" or arg.startswith("--beam_pipeline_options=")
        for arg in argv
    )


def beam_download_config(
    pipeline_options: str | Sequence[str] = (
        "runner=DirectRunner,direct_num_workers=0,direct_running_mode=multi_processing"
    ),
    **download_config_kwargs: Any,
):
    """A ``tfds.download.DownloadConfig`` that builds on Apache Beam.

    Args:
      pipeline_options: Beam pipeline options, in the ``tfds build
        --beam_pipeline_options`` syntax (``'runner=DirectRunner,
        direct_num_workers=2'``) or as a list of ``'name=value'`` strings.
        The default runs locally on every core.
      **download_config_kwargs: other ``DownloadConfig`` arguments (e.g.
        ``manual_dir``).

    Returns:
      (tfds.download.DownloadConfig): The config, for
        ``builder.download_and_prepare(download_config=...)``.

    Raises:
      ImportError: Apache Beam is not installed (says what to install).
      TypeError: ``pipeline_options`` is neither a string nor a sequence of
        strings.
      ValueError: an option is not of the form ``name=value``.
    """
    beam = import_beam()
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

    expected = (
        "expected 'name=value' items (e.g. "
        "'runner=DirectRunner,direct_num_workers=2'), as one comma-separated "
        "string or a list of strings"
    )
    if isinstance(pipeline_options, str):
        items = [p for p in pipeline_options.split(",") if p]
    elif isinstance(pipeline_options, Sequence):
        items = list(pipeline_options)
    else:
        raise type_error("pipeline_options", expected, pipeline_options)
    for item in items:
        if not isinstance(item, str):
            raise type_error(
                "pipeline_options",
                f"{expected}; got {show(item)}",
                pipeline_options,
            )
        if "=" not in item:
            raise value_error(
                "pipeline_options", f"{expected}; got {item!r}", pipeline_options
            )
    options = beam.options.pipeline_options.PipelineOptions(
        flags=[f"--{item}" for item in items]
    )
    return tfds.download.DownloadConfig(beam_options=options, **download_config_kwargs)
