"""The ``gp_textures`` TFDS dataset (multi-scale Gaussian-process textures)."""

from tfds_gp.gp_textures.gp_textures_dataset_builder import (
    BUILT_IN_CONFIGS,
    GpTextures,
    GpTexturesConfig,
    ImmutableConfigError,
    LargeBuildWarning,
    MAX_NAME_LENGTH,
    check_config_name,
)

__all__ = [
    "BUILT_IN_CONFIGS",
    "GpTextures",
    "GpTexturesConfig",
    "ImmutableConfigError",
    "LargeBuildWarning",
    "MAX_NAME_LENGTH",
    "check_config_name",
]
