"""End-to-end run of `examples/nondecomposable.py` and its model wiring."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from examples import nondecomposable

SEEDS = [0, 1]


@pytest.fixture(scope="module")
def fast_run(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("nondecomposable")
    argv = ["--fast", "--seeds", *map(str, SEEDS), "--out-dir", str(out_dir)]
    returned = nondecomposable.main(argv)
    return out_dir, returned


def test_json_has_every_loss_variant_and_seed(fast_run):
    out_dir, returned = fast_run
    report = json.loads((out_dir / "results.json").read_text())
    assert report == json.loads(json.dumps(returned))
    assert report["backend"] == keras.backend.backend()
    assert set(report["results"]) == {"soft_f1", "pairwise_auc"}
    steps = report["config"]["steps"]
    for by_variant in report["results"].values():
        assert set(by_variant) == set(nondecomposable.VARIANTS)
        for r in by_variant.values():
            assert set(r["per_seed"]) == {str(s) for s in SEEDS}
            for run in r["per_seed"].values():
                for key in ("test_f1", "test_auc", "train_f1", "train_auc"):
                    assert 0.0 <= run[key] <= 1.0
                # What the comparison holds equal.
                assert run["steps"] == steps
            for key in ("test_f1", "test_auc"):
                values = [run[key] for run in r["per_seed"].values()]
                assert r[f"{key}_mean"] == pytest.approx(np.mean(values))
                assert r[f"{key}_std"] == pytest.approx(np.std(values))


def test_png_is_written(fast_run):
    out_dir, _ = fast_run
    png = (out_dir / "results.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(png) > 5000  # a drawn figure, not an empty canvas


def test_data_is_imbalanced_and_split_stratified(fast_run):
    _, report = fast_run
    frac = report["config"]["positive_fraction"]
    for info in report["data"].values():
        assert info["train_size"] == report["config"]["n_train"]
        for part in ("train", "test"):
            rate = info[f"{part}_positives"] / info[f"{part}_size"]
            assert rate == pytest.approx(frac, abs=0.01)


def test_backdrop_mask_sits_on_the_batch_axis_of_the_logits():
    # A linear model, so every sample has a nonzero input gradient unless
    # the mask removes it: keep_count=1 leaves exactly one sample.
    x = tf.constant(np.random.default_rng(0).normal(size=(6, 3)), tf.float32)
    model = nondecomposable.build_model(3, (), {"keep_count": 1}, seed=0)
    plain = nondecomposable.build_model(3, (), None, seed=0)
    for layer_weights, plain_weights in zip(
        model.layers[1].get_weights(), plain.layers[1].get_weights()
    ):
        # The same seed gives the same initial weights with or without it.
        np.testing.assert_array_equal(layer_weights, plain_weights)
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = tf.reduce_sum(model(x, training=True))
    grad = tape.gradient(out, x).numpy()
    nonzero_rows = np.flatnonzero(np.any(grad != 0, axis=1))
    assert len(nonzero_rows) == 1
    kernel = model.layers[1].get_weights()[0][:, 0]
    # "count" normalisation: the surviving entry is scaled by 6 / 1.
    np.testing.assert_allclose(grad[nonzero_rows[0]], 6 * kernel, rtol=1e-6)
    # Inference: identity, the output equals the plain model's.
    np.testing.assert_allclose(model(x), plain(x), rtol=1e-6)


@pytest.mark.parametrize(
    "argv, name",
    [
        (["--steps", "0"], "steps"),
        (["--batch-size", "-3"], "batch_size"),
        (["--n-train", "many"], "n_train"),
        (["--losses", "hinge"], "losses"),
        (["--positive-fraction", "0.7"], "positive_fraction"),
        (["--positive-class", "10"], "positive_class"),
        (["--lr", "0"], "lr"),
        (["--lr", "fast"], "lr"),
        (["--positive-fraction", "nan"], "positive_fraction"),
        (["--seeds", "0", "x"], "seeds"),
        (["--mask-prob", "1.5"], "mask_prob"),
        (["--seeds", "1", "1"], "seeds"),
        (["--fast", "--batch-size", "128"], "batch_size"),
        (["--n-train", "5000"], "n_train"),
    ],
)
def test_bad_arguments_raise_naming_the_argument(argv, name, tmp_path):
    with pytest.raises(ValueError, match=f"`{name}`"):
        nondecomposable.main([*argv, "--out-dir", str(tmp_path)])
