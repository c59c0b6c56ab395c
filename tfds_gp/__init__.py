"""The multi-scale Gaussian-process texture dataset, generated locally for TFDS."""
