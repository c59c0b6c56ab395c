"""Backdrop: stochastic backpropagation masks for Keras 3.

`BackdropMasking` is the layer; `mask_gradient` and `draw_mask` are the same
mechanism as functions, for custom training loops. They run on the
TensorFlow, JAX and PyTorch backends; TensorFlow is imported only when it is
the backend.
"""

from keras_backdrop.layer import BackdropMasking
from keras_backdrop.masks import draw_mask, mask_gradient
from keras_backdrop.version import __version__

__all__ = ["BackdropMasking", "__version__", "draw_mask", "mask_gradient"]
