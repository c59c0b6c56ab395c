"""Backdrop: stochastic backpropagation masks for Keras 3.

`BackdropMasking` is the layer, `mask_gradient` and `draw_mask` the same
mechanism as functions, and `insert_masks` places masks by feature size.
"""

from keras_backdrop import callbacks
from keras_backdrop.layer import BackdropMasking
from keras_backdrop.masks import draw_mask, mask_gradient
from keras_backdrop.placement import CellSize, cell_sizes, insert_masks
from keras_backdrop.version import __version__

__all__ = [
    "BackdropMasking",
    "CellSize",
    "__version__",
    "callbacks",
    "cell_sizes",
    "draw_mask",
    "insert_masks",
    "mask_gradient",
]
