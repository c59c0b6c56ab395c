"""A `.keras` save and load on the same backend keeps config and behaviour."""

import keras
import numpy as np
from spec_helpers import input_gradient, masks_from_layer, nonzero_upstream

from keras_backdrop import BackdropMasking


def test_keras_file_round_trip_keeps_config_and_behaviour(tmp_path):
    layer = BackdropMasking(
        keep_count=2,
        mask_axes=(1, -2),
        normalize="expected",
        seed=9,
        pinned_index=(1, 0),
        name="bd",
    )
    model = keras.Sequential([keras.Input((3, 4, 2)), layer, keras.layers.Dense(1)])
    path = tmp_path / "model.keras"
    model.save(path)
    # No custom_objects: the class is found by its registered name.
    loaded = keras.models.load_model(path)
    loaded_layer = loaded.get_layer("bd")
    assert type(loaded_layer) is BackdropMasking

    config = loaded_layer.get_config()
    assert config["mask_prob"] is None
    assert config["keep_count"] == 2
    assert tuple(config["mask_axes"]) == (1, -2)
    assert config["normalize"] == "expected"
    assert config["seed"] == 9
    assert tuple(config["pinned_index"]) == (1, 0)
    assert loaded_layer.pinned_index == (1, 0)

    x = np.random.default_rng(0).standard_normal((2, 3, 4, 2)).astype(np.float32)
    np.testing.assert_array_equal(
        loaded.predict(x, verbose=0), model.predict(x, verbose=0)
    )

    # The pin is in force after loading: one cell of the 3x4 mask survives,
    # scaled by size / keep_count = 6 ("expected" with keep_count).
    upstream = nonzero_upstream(x.shape, 1)
    expected = np.zeros_like(upstream)
    expected[:, 1, 0, :] = upstream[:, 1, 0, :] * 6.0
    # On both layers: a pinned step still advances the seed generator, and
    # the sequences are compared below from equal states.
    for each in (loaded_layer, layer):
        _, grad = input_gradient(each, x, upstream)
        np.testing.assert_allclose(grad, expected, rtol=1e-6)

    # Unpinned, the loaded layer draws the original's seeded sequence (no
    # training happened before saving, so both started at the same state).
    layer.pinned_index = None
    loaded_layer.pinned_index = None
    original_masks = masks_from_layer(layer, x, 3)
    loaded_masks = masks_from_layer(loaded_layer, x, 3)
    for a, b in zip(original_masks, loaded_masks):
        np.testing.assert_allclose(a, b, rtol=1e-6)
        # keep_count=2 of 12 cells, scaled by 6, broadcast over batch and
        # channels: 2 cells x 2 samples x 2 channels are nonzero.
        assert np.count_nonzero(a) == 8
        np.testing.assert_allclose(a[a != 0], 6.0, rtol=1e-6)
    assert not np.array_equal(original_masks[0] != 0, original_masks[1] != 0)


def test_from_config_round_trip_keeps_behaviour():
    layer = BackdropMasking(mask_prob=0.25, mask_axes=2, normalize=None, seed=1)
    clone = BackdropMasking.from_config(layer.get_config())
    x = np.ones((2, 3, 8), np.float32)
    for a, b in zip(masks_from_layer(layer, x, 2), masks_from_layer(clone, x, 2)):
        np.testing.assert_array_equal(a, b)
