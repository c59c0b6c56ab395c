"""``python -m tfds_gp.gp_textures``: the generated table of configs.

See :func:`tfds_gp.gp_textures.describe.main`.
"""

from tfds_gp.gp_textures.describe import main

main()
