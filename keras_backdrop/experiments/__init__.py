"""Support for the examples and experiments: tasks, training loops, results.

The layer and its functions live in `keras_backdrop`; this subpackage holds
what the scripts in `examples/` run, so that those scripts only parse their
options and call in here, and so that a study of one's own can reuse the
same pieces:

* `options`: command-line value types (positive numbers, probabilities,
  seeds) and the ``--strategy``/``--replicas`` pair;
* `strategies`: the `tf.distribute` strategy for a ``--strategy`` name;
* `results`: summary statistics, Markdown tables, JSON and plots;
* `bootstrap`: paired bootstrap intervals of differences between variants;
* `nondecomposable`: the digits task for batch-level losses;
* `imbalanced`: a hard, imbalanced task for batch-level losses and the
  study of full batch, minibatches and backdrop on it;
* `texture_network`, `texture`, `mask_picture`: the paper's texture
  network (masks placed by `keras_backdrop.insert_masks`), the texture
  experiment and the picture of the masks' input gradient;
* `paper_protocol`: the texture experiment as a protocol (variants, seeds,
  validation-based selection, checkpoints and resume).

Nothing here is imported by ``import keras_backdrop``; TensorFlow is
imported only by the functions that need it.
"""
