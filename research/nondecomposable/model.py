"""The network of a method, and the stratified backdrop mask.

A ReLU MLP ending in one logit. Its initial weights depend on the seed
alone (every initializer has its own seed), so the methods of a seed start
from the same weights. Backdrop adds a mask on the logits, after the last
layer, so the loss still sees every sample's logit while the gradient
flows back through the masked samples only:

* `backdrop_<k>`: the library's `BackdropMasking(keep_count=k,
  mask_axes=(0,))`, which keeps `k` samples drawn uniformly and scales
  their gradient by `n / k`.
* `backdrop_stratified_<k>`: `StratifiedMask`, a mask drawn per class in
  NumPy (`stratified_masks`) and fed to the model as a second input; the
  gradient passes through it by `keras_backdrop.mask_gradient`.
"""

from __future__ import annotations

import keras
import numpy as np

from keras_backdrop import BackdropMasking, mask_gradient
from research.nondecomposable.settings import Study, parse_method


class StratifiedMask(keras.layers.Layer):
    """Identity on `[logits, mask]`'s logits; the gradient times the mask.

    In training the gradient of each logit is multiplied by its entry of
    the per-sample `mask`; in inference the mask is ignored.
    """

    def call(self, inputs, training=None):
        logits, mask = inputs
        if not training:
            return logits
        return mask_gradient(logits, keras.ops.reshape(mask, (-1, 1)))

    def compute_output_shape(self, input_shape):
        return input_shape[0]


def build(study: Study, method: str, seed: int) -> tuple[keras.Model, keras.Model]:
    """`(trained, scorer)`: the model `fit` trains, and logits from inputs.

    The two share their layers. `trained` takes `[x, mask]` for the
    stratified backdrop methods and `x` otherwise; `scorer` always takes
    `x` and applies no mask.
    """
    kind, size = parse_method(method)
    inputs = keras.Input((study.features,), name="x")
    h = inputs
    for i, units in enumerate(study.hidden):
        h = keras.layers.Dense(
            units,
            activation="relu",
            kernel_initializer=keras.initializers.GlorotUniform(seed=1000 * seed + i),
            name=f"dense{i}",
        )(h)
    logits = keras.layers.Dense(
        1,
        kernel_initializer=keras.initializers.GlorotUniform(seed=1000 * seed + 999),
        name="logit",
    )(h)
    scorer = keras.Model(inputs, logits, name="scorer")
    if kind == "backdrop":
        masked = BackdropMasking(
            keep_count=size, mask_axes=(0,), seed=seed, name="backdrop"
        )(logits)
        return keras.Model(inputs, masked, name=method), scorer
    if kind == "backdrop_stratified":
        mask = keras.Input((), name="mask")
        masked = StratifiedMask(name="stratified_backdrop")([logits, mask])
        return keras.Model([inputs, mask], masked, name=method), scorer
    return scorer, scorer


def positives_kept(count: int, n: int, n_positive: int) -> int:
    """Positives among `count` samples of a stratified draw from `n`.

    The training set's share of positives, rounded, and at least one (at
    most all positives, and leaving one negative).

    >>> positives_kept(32, 2048, 41), positives_kept(512, 2048, 41)
    (1, 10)
    """
    share = round(count * n_positive / n)
    return int(min(n_positive, count - 1, max(1, share)))


def stratified_masks(y: np.ndarray, keep: int, steps: int, rng) -> np.ndarray:
    """`steps` stratified backdrop masks over the samples of labels `y`.

    Each mask keeps `positives_kept(keep, ...)` positives and the rest of
    `keep` in negatives, drawn without replacement within each class; a
    kept sample's entry is its class's size over its class's kept count
    (the inverse inclusion rate), every other entry 0. Every entry's
    expectation is 1, so the masked gradient's expectation is the
    full-batch gradient.

    Returns:
        float32 array of shape `(steps, len(y))`.
    """
    positive = np.flatnonzero(y > 0.5)
    negative = np.flatnonzero(y <= 0.5)
    k_pos = positives_kept(keep, len(y), len(positive))
    k_neg = keep - k_pos
    masks = np.zeros((steps, len(y)), np.float32)
    rows = np.arange(steps)[:, None]
    for members, kept in ((positive, k_pos), (negative, k_neg)):
        # The first `kept` of a random order of the class, per step.
        order = np.argsort(rng.random((steps, len(members))), axis=1)[:, :kept]
        masks[rows, members[order]] = len(members) / kept
    return masks
