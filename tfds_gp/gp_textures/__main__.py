"""``python -m tfds_gp.gp_textures``: the generated table of configs.

See :func:`tfds_gp.gp_textures.readme.main`.
"""

from tfds_gp.gp_textures.readme import main

main()
