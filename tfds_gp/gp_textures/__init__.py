"""The ``gp_textures`` TFDS dataset (multi-scale Gaussian-process textures)."""

from tfds_gp.gp_textures.gp_textures_dataset_builder import (
    BUILT_IN_CONFIGS,
    GpTextures,
    GpTexturesConfig,
    LargeBuildWarning,
)

__all__ = ["BUILT_IN_CONFIGS", "GpTextures", "GpTexturesConfig", "LargeBuildWarning"]
