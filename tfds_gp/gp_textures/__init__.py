"""The ``gp_textures`` TFDS dataset (multi-scale Gaussian-process textures)."""

from tfds_gp.gp_textures import gp_textures_dataset_builder as _builder
from tfds_gp.gp_textures.gp_textures_dataset_builder import (  # noqa: F401 (__all__)
    BUILT_IN_CONFIGS,
    MAX_NAME_LENGTH,
    GpTextures,
    GpTexturesConfig,
    ImmutableConfigError,
    LargeBuildWarning,
    check_config_name,
)

# The builder module's public names, listed once there.
__all__ = list(_builder.__all__)
