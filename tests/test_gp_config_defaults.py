"""A config given only a size gets the paper's lengths scaled to that size."""

from __future__ import annotations

import pytest

pytest.importorskip("tensorflow_datasets")

from tfds_gp import generator  # noqa: E402
from tfds_gp.gp_textures import GpTexturesConfig  # noqa: E402


def test_only_a_size_gives_the_paper_lengths_scaled_to_it():
    config = GpTexturesConfig(name="tiny", size=64)
    assert config.scales == ((0.59375, 0.625), (5.0, 8.75))
    assert config.powers == generator.PAPER_POWERS
    assert config.recipe.scales == generator.paper_scales(64)


def test_the_default_config_is_the_small_recipe_as_before():
    small = generator.PRESETS["small"]
    config = GpTexturesConfig()
    assert (config.size, config.scales, config.powers) == (
        small.size,
        small.scales,
        small.powers,
    )
    # Same parameters as when the defaults were the small preset's scales.
    explicit = GpTexturesConfig(scales=small.scales, powers=small.powers)
    assert config.name == explicit.name


def test_a_size_too_small_for_the_defaults_says_what_to_pass():
    with pytest.raises(ValueError) as info:
        GpTexturesConfig(size=32)
    message = str(info.value)
    assert "argument `size`" in message and "at least 54 pixels" in message
    assert "scales are not given" in message and "pass scales" in message
    GpTexturesConfig(size=54)  # the smallest that fits
    GpTexturesConfig(size=32, scales=[[0.5, 0.75], [2, 4]])


def test_scales_of_another_count_without_powers_ask_for_powers():
    with pytest.raises(ValueError, match="argument `powers`.*3 scales given"):
        GpTexturesConfig(size=64, scales=[[1], [2], [3]])
    GpTexturesConfig(size=64, scales=[[1], [2], [3]], powers=[1, 1, 1])
