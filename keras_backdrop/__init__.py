"""Backdrop: stochastic backpropagation masks for Keras 3."""
