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
  study of full batch, minibatches and backdrop on it.

The texture side has left: the tutorial (`examples/texture_classification.py`)
and the mask picture (`examples/mask_picture.py`) are self-contained, the
texture studies are `python -m research.texture` (outside the package), and
the network the benchmarks time is `benchmarks/texture_network.py`.

Nothing here is imported by ``import keras_backdrop``; TensorFlow is
imported only by the functions that need it.
"""
