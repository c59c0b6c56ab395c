"""TFDS builder of the multi-scale Gaussian-process texture dataset.

Importing this module registers the builder as ``gp_textures``
(``import tfds_gp`` does it).  The data is generated locally from the NumPy
recipe in :mod:`tfds_gp.generator`; nothing is downloaded.

Built-in configs: :data:`BUILT_IN_CONFIGS` (the first, ``small``, is the
default): ``small``, ``medium``, ``paper``, ``three_scale``, ``published``
(the train split is the authors' ``dataset.zip``, placed by the user in the
TFDS manual directory and read by :mod:`tfds_gp.published` without ever
unpickling it; the test split is generated with the authors' construction),
``reference`` (the ``paper`` recipe made with the authors' construction,
:mod:`tfds_gp.reference`), ``reference_half`` (its half-size replica at
512 px), ``paper_large`` and ``paper_2048`` (meant for a Beam build).
Their descriptions are generated from their parameters by
:mod:`tfds_gp.gp_textures.describe`; :mod:`tfds_gp.gp_textures.readme`
writes the table of them in ``tfds_gp/gp_textures/README.md``.

Custom configs: pass a :class:`GpTexturesConfig`, e.g.
``tfds.builder('gp_textures', config=GpTexturesConfig(size=128, scales=...,
train_per_class=500))``.  A config given only a ``size`` gets the paper's
lengths scaled to it (``generator.paper_scales(size)``, the paper's
``[[9.5, 10], [80, 140]]`` times ``size / 1024``) and the paper's powers;
below 54 px the scaled lengths are too short and the error says to pass
``scales``.  Omit ``name`` (or pass None) to get a name
derived from the parameters (so two different recipes never share a cache
directory); TFDS refuses a custom config that reuses a built-in config's name.

A config is checked when it is constructed, before anything is allocated or
written, and cannot be changed afterwards (assignment raises
:class:`ImmutableConfigError`).  Its name becomes the directory
``<data_dir>/gp_textures/<name>``: 1 to 128 characters from ``[A-Za-z0-9_.-]``,
starting with a letter or digit, without ``..``.  The limits of the recipe
(:class:`tfds_gp.generator.GpRecipe`): size 2 to 8192; 1 to 16 scales and at
most 10000 classes; each power 1e-6 to 1e6; 0 to 1000000 examples per class,
not both splits empty, at most 1000000 examples and 2**40 pixels per split;
seed 0 to 2**64 - 1.  A wrong type raises TypeError, a wrong value ValueError,
each naming the argument and the received value.

Example keys are the example indices, and example ``i`` of a split depends only
on ``(seed, split, i)``, so the generation can be split across workers.

Apache Beam: given Beam options (``tfds build ... --beam_pipeline_options=...``
or ``DownloadConfig(beam_options=...)``, see
:func:`tfds_gp.beam_build.beam_download_config`), the builder makes the
examples in Beam workers; the written records are identical to the
single-process build's.  Building a config estimated above
:data:`tfds_gp.beam_build.WARN_BYTES` without Beam emits a ``UserWarning``
with the estimate and the Beam command.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
import warnings
from typing import ClassVar

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

from tfds_gp import beam_build, generator, published, records
from tfds_gp.checks import type_error, value_error
from tfds_gp.gp_textures import describe

__all__ = [
    "BUILT_IN_CONFIGS",
    "GpTextures",
    "GpTexturesConfig",
    "ImmutableConfigError",
    "LargeBuildWarning",
    "MAX_NAME_LENGTH",
    "PUBLISHED_TEST_SEED",
    "check_config_name",
]

_HOMEPAGE = "https://doi.org/10.5281/zenodo.1252464"

SOURCE_GENERATED = "generated"
SOURCE_PUBLISHED = "published"


class LargeBuildWarning(UserWarning):
    """A large config is being built in a single process, without Beam."""


# A config name becomes a directory, <data_dir>/gp_textures/<name>/<version>:
# letters, digits, '_', '.' and '-' only, starting with a letter or digit, so
# it can hold no path separator and cannot be '.' or '..'; '..' anywhere is
# refused too.  128 characters stay well inside every file system's limit.
_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
MAX_NAME_LENGTH = 128

# Computed at import: TFDS's builder tests replace this module's `os` by a
# mock (to catch file access that bypasses tf.io.gfile).
_SEPARATORS = frozenset({"/", "\\", os.sep, os.altsep} - {None})

# The form of a derived name; an explicit name of this form must be the
# derived one, so that "custom_<hash>" always names the data it hashes.
_DERIVED_NAME = re.compile(r"custom_[0-9a-f]{10}")


def check_config_name(name: object) -> str:
    """``name`` if it is a safe config (directory) name.

    Allowed: 1 to 128 characters from ``[A-Za-z0-9_.-]``, starting with a
    letter or digit, without ``..``; in particular no slash, no backslash,
    no ``os.sep`` and no ``os.altsep``.

    Args:
      name: the config name.

    Returns:
      ``name``, unchanged.

    Raises:
      TypeError: ``name`` is not a string.
      ValueError: ``name`` is not a safe directory name.

    Example:
    >>> check_config_name("tiny_test")
    'tiny_test'
    """
    expected = (
        f"expected a string of 1 to {MAX_NAME_LENGTH} characters from "
        "[A-Za-z0-9_.-], starting with a letter or digit, without '..' (it "
        "becomes a directory under data_dir)"
    )
    if not isinstance(name, str):
        raise type_error("name", expected, name)
    if (
        not 1 <= len(name) <= MAX_NAME_LENGTH
        or any(sep in name for sep in _SEPARATORS)
        or ".." in name
        or not _NAME_PATTERN.fullmatch(name)
    ):
        raise value_error("name", expected, name)
    return name


class ImmutableConfigError(dataclasses.FrozenInstanceError):
    """An attribute of a ``GpTexturesConfig`` was assigned after construction."""


@dataclasses.dataclass(eq=False)
class GpTexturesConfig(tfds.core.BuilderConfig):
    """Configuration of a ``gp_textures`` dataset.

    A config is validated when it is constructed (before anything of image
    size is allocated) and is immutable afterwards: assigning or deleting an
    attribute raises :class:`ImmutableConfigError` (a
    ``dataclasses.FrozenInstanceError``), so its name, its fields and its
    :attr:`recipe` always agree.  (TFDS's ``BuilderConfig`` is a non-frozen
    dataclass, which a frozen dataclass cannot subclass; hence the explicit
    ``__setattr__``.)  Make a changed copy with ``dataclasses.replace``
    (without ``name`` if it was derived).

    Attributes:
      name: config name, which becomes the directory
        ``<data_dir>/gp_textures/<name>``: 1 to 128 characters from
        ``[A-Za-z0-9_.-]``, starting with a letter or digit, without ``..``.
        None (the default) means ``custom_<hash of the parameters>``; a name
        of that form must be the derived one.
      size: image side in pixels, 2 to 8192.
      scales: per scale, the correlation lengths (pixels) a class can pick.
        Classes are the cross product, first scale varying fastest; at most
        16 scales and 10000 classes.  None (the default) means the paper's
        lengths scaled to ``size``, :func:`tfds_gp.generator.paper_scales`
        (``[[2.375, 2.5], [20, 35]]`` at the default 256 px, the ``small``
        config's); they fit sizes from 54 px up.
      powers: per scale, the weight of that scale's field, 1e-6 to 1e6.
        None (the default) means the paper's ``(0.75, 1.25)``, for two
        scales.
      train_per_class: training examples per class, 0 to 1000000.
      test_per_class: test examples per class, 0 to 1000000 (not both 0;
        at most 1000000 examples and 2**40 pixels per split).
      seed: root of the per-example random streams, 0 to 2**64 - 1.
      source: ``'generated'`` (default) or ``'published'`` (train split read
        from the authors' ``dataset.zip`` in the manual directory; it must hold
        ``train_per_class`` examples per class of size ``size``).
      construction: how generated fields are made: ``'stationary'`` (default,
        stationary fields of the stated covariance), ``'reference'`` (the
        authors' construction, :mod:`tfds_gp.reference`; sizes that are
        multiples of 512) or ``'reference_torus'`` (a torus-wrapped variant,
        not the authors', :mod:`tfds_gp.reference_torus`).  It enters the
        derived name only when it is not the default, so the names of
        existing configs are unchanged.

    The limits are those of :class:`tfds_gp.generator.GpRecipe`; a bad
    argument raises TypeError (wrong type) or ValueError (wrong value) naming
    the argument and the received value.
    """

    name: str | None = None
    size: int = 256
    scales: tuple | None = None
    powers: tuple | None = None
    train_per_class: int = 50
    test_per_class: int = 50
    seed: int = 0
    source: str = SOURCE_GENERATED
    construction: str = "stationary"

    # Set (last) by __post_init__; from then on no attribute can change.
    _frozen: ClassVar[bool] = False

    def __post_init__(self) -> None:
        recipe = generator.GpRecipe(
            size=self.size,
            scales=_default_scales(self.size) if self.scales is None else self.scales,
            powers=_default_powers(self.scales) if self.powers is None else self.powers,
            train_per_class=self.train_per_class,
            test_per_class=self.test_per_class,
            seed=self.seed,
            construction=self.construction,
        )
        sources = (SOURCE_GENERATED, SOURCE_PUBLISHED)
        expected = f"expected {SOURCE_GENERATED!r} or {SOURCE_PUBLISHED!r}"
        if not isinstance(self.source, str):
            raise type_error("source", expected, self.source)
        if self.source not in sources:
            raise value_error("source", expected, self.source)
        if self.description is not None and not isinstance(self.description, str):
            raise type_error(
                "description", "expected a string or None", self.description
            )
        if self.version is not None:
            try:
                tfds.core.Version(self.version)
            except (TypeError, ValueError) as error:
                raise value_error(
                    "version",
                    f"expected None or 'x.y.z' ({error})",
                    self.version,
                ) from None
        # Store the validated, normalised values (tuples of floats, ints).
        for field in dataclasses.fields(recipe):
            object.__setattr__(self, field.name, getattr(recipe, field.name))
        object.__setattr__(self, "_recipe", recipe)
        derived = "custom_" + self.fingerprint()[:10]
        if self.name is None:
            object.__setattr__(self, "name", derived)
        else:
            check_config_name(self.name)
            if _DERIVED_NAME.fullmatch(self.name) and self.name != derived:
                raise value_error(
                    "name",
                    "expected a name not of the form custom_<10 hex digits> "
                    "unless it is the one derived from the parameters; these "
                    f"parameters derive {derived!r}: omit name (or pass None) "
                    "to get it, or choose another name",
                    self.name,
                )
        if not self.description:
            object.__setattr__(
                self, "description", describe.description(recipe, self.source)
            )
        object.__setattr__(self, "_frozen", True)

    def __setattr__(self, name: str, value: object) -> None:
        if self._frozen:
            raise ImmutableConfigError(
                f"cannot assign to field {name!r}: a GpTexturesConfig cannot be "
                "changed after construction (its name and data directory must "
                "keep matching its recipe); make a new config, e.g. with "
                "dataclasses.replace"
            )
        super().__setattr__(name, value)

    def __delattr__(self, name: str) -> None:
        if self._frozen:
            raise ImmutableConfigError(
                f"cannot delete field {name!r}: a GpTexturesConfig cannot be "
                "changed after construction"
            )
        super().__delattr__(name)

    @property
    def recipe(self) -> generator.GpRecipe:
        """The NumPy recipe (for :func:`tfds_gp.generator.split_arrays`).

        Built once, when the config is constructed: the same (immutable)
        object every time, so its class table is computed once too.
        """
        return self._recipe

    def parameters(self) -> dict:
        """The parameters that determine the data, as plain JSON values.

        ``construction`` is included only when it is not ``'stationary'``
        (the default, and the only construction before it existed), so the
        fingerprints and derived names of stationary configs are unchanged.
        """
        parameters = {
            "size": self.size,
            "scales": _lists(self.scales),
            "powers": list(self.powers),
            "train_per_class": self.train_per_class,
            "test_per_class": self.test_per_class,
            "seed": self.seed,
            "source": self.source,
        }
        if self.construction != "stationary":
            parameters["construction"] = self.construction
        return parameters

    def fingerprint(self) -> str:
        """SHA-256 of :meth:`parameters`; equal iff the data is equal."""
        text = json.dumps(self.parameters(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()


def _default_scales(size: object) -> tuple[tuple[float, ...], ...]:
    """The scales of a config given without them: the paper's, scaled to ``size``.

    A size too small for them is refused here, with a message that says the
    scales were defaults and what to pass, rather than naming a length the
    caller never gave.
    """
    scales = generator.paper_scales(size)  # checks size first
    shortest = min(min(s) for s in scales)
    if shortest < generator.MIN_CL:
        smallest = math.ceil(
            generator.MIN_CL
            * generator.PAPER_SIZE
            / min(min(s) for s in generator.PAPER_SCALES)
        )
        raise value_error(
            "size",
            f"expected a size of at least {smallest} pixels when scales are not "
            "given: the default scales are the paper's lengths "
            f"{_lists(generator.PAPER_SCALES)} scaled by size / "
            f"{generator.PAPER_SIZE}, and at size={size} the shortest, "
            f"{shortest:g} px, is below the {generator.MIN_CL} px minimum; pass "
            "scales (and powers) for smaller images, e.g. scales=[[0.5, 0.75], "
            "[2, 4]], powers=[0.75, 1.25]",
            size,
        )
    return scales


def _default_powers(scales: object) -> tuple[float, ...]:
    """The powers of a config given without them: the paper's two weights."""
    try:
        count = None if scales is None else len(scales)
    except TypeError:
        count = None  # the recipe reports the scales' type
    if count is not None and count != len(generator.PAPER_POWERS):
        # Scales of another count were given: the default cannot fit; say so
        # rather than report a length mismatch with weights never given.
        raise value_error(
            "powers",
            f"expected powers for the {count} scales given: the default powers, "
            f"the paper's {list(generator.PAPER_POWERS)}, weigh exactly two "
            "scales; pass one power per scale",
            None,
        )
    return generator.PAPER_POWERS


def _lists(scales) -> list:
    return [list(s) for s in scales]


def _preset(name: str, **overrides) -> GpTexturesConfig:
    recipe = generator.PRESETS[overrides.pop("recipe", name)]
    params = dict(dataclasses.asdict(recipe), **overrides)
    config_recipe = generator.GpRecipe(
        **{k: v for k, v in params.items() if k != "source"}
    )
    text = describe.description(
        config_recipe,
        params.get("source", SOURCE_GENERATED),
        describe.BUILT_IN_ROLES[name],
    )
    return GpTexturesConfig(name=name, description=text, **params)


#: Seed of the `published` config's generated test split.  (Until version
#: 2.0.0 the split was the stationary `paper` recipe's, seed 3.)
PUBLISHED_TEST_SEED = 9

# The descriptions are generated from the parameters (tfds_gp.gp_textures.
# describe); the README's table of these configs is generated the same way.
BUILT_IN_CONFIGS: tuple[GpTexturesConfig, ...] = (
    _preset("small"),
    _preset("medium"),
    _preset("paper"),
    _preset("three_scale"),
    # The authors' file for training; a test split of the authors'
    # construction (the `reference` recipe) under its own seed, so that it
    # shares no random stream with `paper` or `reference`.
    _preset(
        "published",
        recipe="reference",
        source=SOURCE_PUBLISHED,
        seed=PUBLISHED_TEST_SEED,
    ),
    _preset("reference"),
    _preset("reference_half"),
    _preset("paper_large"),
    _preset("paper_2048"),
)


def _check_builder_config(config: object) -> None:
    """Refuses a config that is not a built-in name or a sound GpTexturesConfig."""
    if config is None or isinstance(config, str):
        # A string must name a built-in config; TFDS refuses any other before
        # building a path from it.
        return
    if not isinstance(config, GpTexturesConfig):
        raise type_error(
            "config",
            "expected a built-in config name or a GpTexturesConfig (a plain "
            "tfds.core.BuilderConfig has no recipe and an unchecked name)",
            config,
        )
    check_config_name(config.name)
    recipe = config.recipe
    if any(
        getattr(config, field.name) != getattr(recipe, field.name)
        for field in dataclasses.fields(recipe)
    ):
        raise value_error(
            "config",
            "expected a config whose fields match its recipe (this one was "
            "changed after construction); make a new GpTexturesConfig",
            config.name,
        )


class GpTextures(tfds.core.GeneratorBasedBuilder):
    """Multi-scale Gaussian-process textures (Golkar and Cranmer, Backdrop)."""

    VERSION = tfds.core.Version("2.1.0")
    RELEASE_NOTES = {
        "2.1.0": (
            "The reference construction is the authors' GP_create.py exactly "
            "(patch kernel of 7.84 grid points on linspace(0, 1, 50), their "
            "int() truncations: patch counts 5135 and 4595, corners in "
            "[0, 1024 - side), the edge band of 59 or 62 px added and copied "
            "back, the large grid's length cl/8*127/128): the reference "
            "config's arrays change. New config reference_half: the half-size "
            "replica of the authors' data (512 px, every length and grid "
            "halved). The published config's test split is generated with "
            "the authors' construction (seed 9) instead of the stationary "
            "paper recipe. The 2.0.0 reference construction is kept as "
            "construction='reference_torus' (not the authors'). Every other "
            "config's arrays are unchanged."
        ),
        "2.0.0": (
            "Faster synthesis, new arrays: the white noise is drawn in "
            "frequency space (one inverse FFT per sample, no forward FFT), "
            "so every image differs from 1.0.0; the covariance, the per-field "
            "normalisation, the classes and the splits are unchanged. Images "
            "are stored as raw float32 bytes (a Tensor feature) instead of a "
            "PNG of their bits: as lossless, much faster to build and read, "
            "about a fifth more disk. The construction option and the "
            "reference config (the authors' construction, tfds_gp.reference) "
            "add data without changing any existing config's arrays."
        ),
        "1.0.0": "Initial release: exact FFT synthesis on the torus.",
    }
    BUILDER_CONFIGS = list(BUILT_IN_CONFIGS)
    MANUAL_DOWNLOAD_INSTRUCTIONS = f"""\
Only the `published` config needs a manual download. Download `dataset.zip`
from https://doi.org/10.5281/zenodo.1252464 and place it (or the extracted
`{published.MEMBER_NAME}`) in the manual directory,
`<data_dir>/downloads/manual/` by default. The pickle inside is never
executed: it is parsed, and only numeric NumPy arrays and plain containers
are built from it.
"""

    def __init__(
        self, *, config: str | GpTexturesConfig | None = None, **kwargs
    ) -> None:
        """As ``tfds.core.GeneratorBasedBuilder``, refusing unsafe configs first.

        TFDS turns the config name into ``<data_dir>/gp_textures/<name>`` and
        reads from that directory while constructing the builder, so the
        config is checked before: it must be a built-in name (TFDS refuses
        any other string before building a path from it) or a
        :class:`GpTexturesConfig` whose name passes :func:`check_config_name`
        (again, in case the object was tampered with) and whose fields still
        match its recipe.  This is the one check of the name on the way to
        the path: a checked name holds no separator and no ``..``, so the
        dataset directory is ``<data_dir>/gp_textures/<name>/<version>``.

        Raises:
          TypeError: ``config`` is neither a string, None nor a
            ``GpTexturesConfig``, or its name is not a string.
          ValueError: its name is unsafe or its fields no longer match its
            recipe.
        """
        _check_builder_config(config)
        super().__init__(config=config, **kwargs)

    def _info(self) -> tfds.core.DatasetInfo:
        config: GpTexturesConfig = self.builder_config
        size = config.size
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    # float32 images stored as their raw bytes: lossless,
                    # and about 250x cheaper to encode than the PNG of
                    # their bits (version 1.0.0), which cost 20 times the
                    # generation of a 1024 px image and saved 4 to 18 % of
                    # the disk (random textures hardly compress).
                    # tfds.show_examples needs an Image feature; plot
                    # tfds.as_numpy's arrays instead.
                    "image": tfds.features.Tensor(
                        shape=(size, size, 1),
                        dtype=np.float32,
                        encoding=tfds.features.Encoding.BYTES,
                    ),
                    "label": tfds.features.ClassLabel(
                        names=[c.name for c in config.recipe.classes]
                    ),
                    "correlation_lengths": tfds.features.Tensor(
                        shape=(len(config.scales),), dtype=np.float32
                    ),
                }
            ),
            supervised_keys=("image", "label"),
            homepage=_HOMEPAGE,
        )

    # The download config of the build in progress, set by
    # download_and_prepare for _split_generators and _generate_examples.
    _download_config: tfds.download.DownloadConfig | None = None

    def download_and_prepare(
        self,
        *,
        download_config: tfds.download.DownloadConfig | None = None,
        **kwargs,
    ) -> None:
        """As ``tfds.core.DatasetBuilder.download_and_prepare``.

        The download config is kept for the build: TFDS hands its Beam
        options to its split builder but not to ``_split_generators``, and
        ``_generate_examples`` must return a Beam transform exactly when the
        build runs on Beam.  (The public ``download_and_prepare`` is the one
        place where a builder sees the download config; ``tfds build`` calls
        it too.)
        """
        self._download_config = download_config or tfds.download.DownloadConfig()
        try:
            super().download_and_prepare(
                download_config=self._download_config, **kwargs
            )
        finally:
            self._download_config = None

    def _on_beam(self) -> bool:
        config = self._download_config
        return config is not None and (
            config.beam_runner is not None or config.beam_options is not None
        )

    def _check_build(self) -> None:
        """Refuses a Beam build without Beam; warns about a large plain build."""
        # A runner given without Beam installed would fail later with a bare
        # import error: say what to install instead.
        # sys.argv is read (by beam_build.requested_on_command_line) because
        # no public route exists: `tfds build` turns --beam_pipeline_options
        # into DownloadConfig.beam_options inside `try: import apache_beam
        # ... except ImportError: pass` (scripts/cli/cli_utils.py), so without
        # Beam the option is dropped before the builder is called and the
        # dataset would quietly be built in one process.  The guard only ever
        # raises when Beam is missing.
        on_beam = self._on_beam()
        if on_beam or beam_build.requested_on_command_line():
            beam_build.import_beam()
        if on_beam:
            return
        config: GpTexturesConfig = self.builder_config
        download_config = self._download_config or tfds.download.DownloadConfig()
        estimate = beam_build.estimate_build(
            config.recipe, download_config.max_examples_per_split
        )
        if estimate.large:
            warnings.warn(
                f"gp_textures config {config.name!r} is large "
                f"({estimate.describe()}) and is being built in a single "
                "process. Build it with Apache Beam instead "
                f"({beam_build.BEAM_INSTALL}), e.g. "
                + beam_build.BEAM_COMMAND.format(config=config.name)
                + " --data_dir=..., or on a cluster runner (Dataflow, "
                "Flink, Spark): see tfds_gp/gp_textures/README.md.",
                LargeBuildWarning,
                stacklevel=2,
            )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        # Called only when the data is actually generated.
        self._check_build()
        config: GpTexturesConfig = self.builder_config
        train = (
            self._generate_published(dl_manager.manual_dir)
            if config.source == SOURCE_PUBLISHED
            else self._generate_examples("train")
        )
        splits = {"train": train, "test": self._generate_examples("test")}
        # TFDS cannot write an empty split: a split of size 0 is left out.
        return {
            name: examples
            for name, examples in splits.items()
            if config.source == SOURCE_PUBLISHED
            and name == "train"
            or config.recipe.num_examples(name) > 0
        }

    def _generate_examples(self, split: str):
        """The ``(index, example)`` pairs of ``split``.

        Example ``index`` depends only on ``(recipe, split, index)``.  On a
        Beam build this returns a Beam transform that makes each example in a
        worker; otherwise a generator that makes them in order.  Both call
        :func:`tfds_gp.records.keyed_record`, so the records are the same.
        """
        recipe = self.builder_config.recipe
        n = recipe.num_examples(split)
        if self._on_beam():
            # TFDS applies max_examples_per_split only to generators.
            cap = self._download_config.max_examples_per_split
            if cap is not None:
                n = min(n, cap)
            beam = beam_build.import_beam()
            # The indices are reshuffled so that the runner can spread them
            # over workers (Create alone may hand them all to one worker).
            return (
                f"Indices_{split}" >> beam.Create(range(n))
                | f"Spread_{split}" >> beam.Reshuffle()
                | f"Generate_{split}"
                >> beam.Map(records.keyed_record, recipe=recipe, split=split)
            )
        return (records.keyed_record(index, recipe, split) for index in range(n))

    def _generate_published(self, manual_dir: epath.Path):
        config: GpTexturesConfig = self.builder_config
        recipe = config.recipe
        candidates = [
            manual_dir / published.ZIP_NAME,
            manual_dir / published.MEMBER_NAME,
        ]
        path = next((p for p in candidates if p.exists()), None)
        if path is None:
            raise published.PublishedFileError(
                f"{candidates[0]}: file not found (nor {candidates[1]}); "
                "download dataset.zip from https://doi.org/10.5281/zenodo.1252464 "
                "into the manual directory"
            )
        with path.open("rb") as f:
            samples = published.read_published(
                f,
                size=config.size,
                class_names=[c.name for c in recipe.classes],
                source=str(path),
            )
        expected = recipe.num_examples("train")
        if len(samples) != expected:
            raise published.PublishedFileError(
                f"{path}: holds {len(samples)} samples, expected {expected} "
                f"({config.train_per_class} per class for "
                f"{recipe.num_classes} classes)"
            )
        classes = recipe.classes
        for index, (image, label) in enumerate(samples):
            yield index, records.record(image, classes[label])
