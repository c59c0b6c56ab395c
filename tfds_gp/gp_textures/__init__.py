"""The ``gp_textures`` TFDS dataset (multi-scale Gaussian-process textures)."""

from tfds_gp.gp_textures import gp_textures_dataset_builder as _builder
from tfds_gp.gp_textures.gp_textures_dataset_builder import (
    BUILT_IN_CONFIGS,
    GpTextures,
    GpTexturesConfig,
    ImmutableConfigError,
    LargeBuildWarning,
    MAX_NAME_LENGTH,
    check_config_name,
)

# The builder module's public names, listed once there.
__all__ = list(_builder.__all__)
