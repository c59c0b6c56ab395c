"""The non-decomposable harness on the `fast` study.

End to end, exact and keyed resume in fresh processes, damaged files
named, the batches and masks of each method, and the report's pairing.
"""

import json
import shutil

import keras
import numpy as np
import pytest

from research.nondecomposable import data, losses, model, report, train
from research.nondecomposable.settings import STUDIES, Run, Study, parse_method

HARNESS = "research.nondecomposable"  # run by the `harness` fixture (conftest.py)
FAST = STUDIES["fast"]


def result_files(results):
    return sorted((results / "fast" / "runs").glob("*.json"))


def splits(seed=0):
    return {
        "train": data.split(FAST, "train", seed),
        "val": data.split(FAST, "val", seed),
        "test": data.split(FAST, "test"),
    }


def test_fast_study_end_to_end_then_a_stopped_run_resumes_exactly(tmp_path, harness):
    methods = ["--methods", "full_batch", "minibatch_32", "backdrop_stratified_32"]
    a, ra = tmp_path / "a", tmp_path / "ra"
    harness("--seeds", "0-1", *methods, work=a, results=ra)
    files = result_files(ra)
    assert len(files) == 3 * 2 * 2  # methods x learning rates x seeds
    results = [json.loads(f.read_text()) for f in files]
    for result in results:
        assert result["sizes"] == {"train": 128, "val": 2000, "test": 2000}
        assert all(0 <= result["test"][f] <= 1 for f in ("f1", "auc", "ap"))
        assert len(result["curves"]["val_f1"]) == 2
        # Equal forward samples: a minibatch of 32 takes 4 steps per pass.
        per_pass = 4 if result["settings"]["method"] == "minibatch_32" else 1
        assert result["steps"] == FAST.budget_epochs * per_pass
        # Wall and CPU time of each chunk's training, and their totals.
        curves = result["curves"]
        assert len(curves["cpu_seconds"]) == len(curves["seconds"]) == 2
        assert result["cpu_seconds"] == pytest.approx(sum(curves["cpu_seconds"]))
        assert result["cpu_seconds"] > 0
    summary = json.loads((ra / "fast" / "summary.json").read_text())
    entry = summary["methods"]["backdrop_stratified_32"]
    by = {
        (r["settings"]["method"], r["settings"]["lr"], r["settings"]["seed"]): r
        for r in results
    }
    lr, base_lr = entry["lr"], summary["methods"]["full_batch"]["lr"]
    # The chosen lr has the best mean validation F1 over the seeds.
    val = {
        k: np.mean([by["backdrop_stratified_32", k, s]["val"]["f1"] for s in (0, 1)])
        for k in FAST.lrs
    }
    assert val[lr] == max(val.values())
    diffs = [
        by["backdrop_stratified_32", lr, s]["test"]["auc"]
        - by["full_batch", base_lr, s]["test"]["auc"]
        for s in (0, 1)
    ]
    difference = entry["difference"]["full_batch"]["auc"]
    assert difference["mean"] == pytest.approx(np.mean(diffs))
    assert difference["n"] == 2
    assert "minibatch_32" in entry["difference"]
    text = (ra / "fast" / "README.md").read_text()
    assert "| backdrop_stratified_32 |" in text and "Bias probe" in text
    assert "CPU seconds (median)" in text
    assert (ra / "fast" / "curves.png").read_bytes()[:4] == b"\x89PNG"
    # A second call finds every result and trains nothing.
    again = harness("--seeds", "0-1", *methods, work=a, results=ra)
    assert "lr" not in again.stdout

    # Stopped after its first chunk, then resumed in a fresh process.
    b, rb = tmp_path / "b", tmp_path / "rb"
    (rb / "fast").mkdir(parents=True)
    shutil.copy(ra / "fast" / "bias.json", rb / "fast" / "bias.json")
    # Compared with the first call's runs of the same settings.
    one = ["--seeds", "0", "--methods", "backdrop_stratified_32", "minibatch_32"]
    stopped = harness(*one, "--budget-minutes", "1e-6", work=b, results=rb, check=False)
    assert stopped.returncode == 3, stopped.stdout + stopped.stderr
    assert not result_files(rb)
    harness(*one, work=b, results=rb)
    names = {f.name for f in result_files(rb)}
    resumed = {f.name: json.loads(f.read_text()) for f in result_files(rb)}
    for name in names:
        uninterrupted = json.loads((ra / "fast" / "runs" / name).read_text())
        for curve in ("loss", "val_f1", "val_auc", "val_ap", "steps"):
            assert resumed[name]["curves"][curve] == uninterrupted["curves"][curve]
        assert resumed[name]["test"] == uninterrupted["test"]


def test_damaged_and_foreign_files_are_named(tmp_path):
    run = Run(FAST, "backdrop_32", 1e-3, 0)
    data_ = splits()
    # deadline 0: stops after the first chunk, leaving a checkpoint.
    assert train.train_run(run, data_, tmp_path, deadline=0, log=lambda s: None) is None
    checkpoint = tmp_path / run.name / "checkpoint.npz"
    checkpoint.write_bytes(checkpoint.read_bytes()[:300])
    with pytest.raises(ValueError, match=f"Damaged checkpoint {checkpoint}.*delete"):
        train.train_run(run, data_, tmp_path, log=lambda s: None)
    settings = tmp_path / run.name / "settings.json"
    recorded = json.loads(settings.read_text())
    recorded["study"]["signal"] = 9.0
    settings.write_text(json.dumps(recorded))
    with pytest.raises(ValueError, match="other settings.*delete the folder"):
        train.train_run(run, data_, tmp_path, log=lambda s: None)
    settings.write_text("{not json")
    with pytest.raises(ValueError, match=f"Damaged run file {settings}"):
        train.train_run(run, data_, tmp_path, log=lambda s: None)
    # Result and bias files.
    from research.nondecomposable import protocol

    results = tmp_path / "results"
    out = results / "fast"
    (out / "runs").mkdir(parents=True)
    (out / "bias.json").write_text("[")
    with pytest.raises(ValueError, match=f"Damaged result file {out / 'bias.json'}"):
        protocol.run_study(FAST, [0], tmp_path / "w", results, ["full_batch"])
    path = out / "runs" / f"{Run(FAST, 'full_batch', 1e-3, 0).name}.json"
    path.write_text("{")
    (out / "bias.json").write_text(json.dumps({"key": "other"}))
    from research.nondecomposable import bias

    real = bias.measure
    bias.measure = lambda study: {"points": {}}  # the probe is tested apart
    try:
        with pytest.raises(ValueError, match=f"Damaged result file {path}"):
            protocol.run_study(FAST, [0], tmp_path / "w", results, ["full_batch"])
    finally:
        bias.measure = real


def test_every_setting_changes_the_run_key():
    base = Run(FAST, "backdrop_32", 1e-3, 0)
    others = [
        Run(FAST.replace(signal=2.0), "backdrop_32", 1e-3, 0),
        Run(FAST.replace(n_val=3000), "backdrop_32", 1e-3, 0),
        Run(FAST.replace(budget_epochs=6), "backdrop_32", 1e-3, 0),
        Run(FAST, "backdrop_32", 3e-3, 0),
        Run(FAST, "backdrop_32", 1e-3, 1),
        Run(FAST, "backdrop_stratified_32", 1e-3, 0),
    ]
    assert len({base.key, *(o.key for o in others)}) == 1 + len(others)


def test_batches_of_each_method(tmp_path):
    split = data.split(FAST, "train", 0)
    n, n_pos = len(split.y), split.positives
    # Plain minibatches: every pass holds each sample once, order by seed.
    x, y, batch = train.chunk_batches(Run(FAST, "minibatch_32", 1e-3, 0), split, 0)
    assert batch == 32 and len(y) == 2 * n  # two passes per chunk
    first = {tuple(r) for r in x[:n]}
    assert len(first) == n
    # Stratified minibatches: the same positives in every batch of 32.
    run = Run(FAST, "minibatch_stratified_32", 1e-3, 0)
    _, y, _ = train.chunk_batches(run, split, 1)
    k_pos = model.positives_kept(32, n, n_pos)
    assert (y.reshape(-1, 32).sum(axis=1) == k_pos).all()
    # Full batch and backdrop: the training set, once per step.
    x, y, batch = train.chunk_batches(Run(FAST, "backdrop_32", 1e-3, 0), split, 0)
    assert batch == n and len(y) == 2 * n
    (x, masks), _, _ = train.chunk_batches(
        Run(FAST, "backdrop_stratified_32", 1e-3, 0), split, 0
    )
    masks = masks.reshape(2, n)
    assert ((masks > 0).sum(axis=1) == 32).all()
    assert ((masks[:, split.y > 0.5] > 0).sum(axis=1) == k_pos).all()
    # The stream continues across chunks: positions, not chunks, fix batches.
    assert (train.stream(10, 7, 6, [3]) == train.stream(10, 0, 13, [3])[7:]).all()


def test_stratified_masks_are_unbiased_per_sample():
    y = np.zeros(200, np.float32)
    y[:7] = 1
    masks = model.stratified_masks(y, 20, 20000, np.random.default_rng(0))
    np.testing.assert_allclose(masks.mean(axis=0), 1.0, atol=0.1)
    assert ((masks[:, :7] > 0).sum(axis=1) == model.positives_kept(20, 200, 7)).all()
    assert model.positives_kept(8, 4096, 82) == 1
    assert model.positives_kept(512, 4096, 82) == 10
    assert model.positives_kept(4, 10, 9) == 3  # leaves a negative


def test_methods_of_a_seed_share_initial_weights():
    weights = {
        m: model.build(FAST, m, 3)[1].get_weights()
        for m in ("full_batch", "backdrop_32", "backdrop_stratified_32")
    }
    for m in ("backdrop_32", "backdrop_stratified_32"):
        for a, b in zip(weights[m], weights["full_batch"]):
            np.testing.assert_array_equal(a, b)
    layer = model.build(FAST, "backdrop_32", 3)[0].get_layer("backdrop")
    assert layer.mask_axes == (0,) and layer.keep_count == 32


def test_the_bias_probe_on_the_fast_study():
    from research.nondecomposable import bias

    probe = bias.measure(FAST.replace(bias_draws=20, bias_steps=1))
    assert len(probe["points"]) == 2
    for figures in probe["points"].values():
        assert figures["backdrop_32"]["loss_bias"] == 0.0
        assert figures["minibatch_stratified_32"]["share_without_positive"] == 0.0
        assert figures["backdrop_stratified_32"]["share_without_positive"] == 0.0
        for method in FAST.methods[1:]:
            assert figures[method]["grad_bias"] >= 0
            assert 0 <= figures[method]["grad_bias_p"] <= 1
            assert -1 <= figures[method]["cosine"] <= 1


def test_gradient_bias_p_value_is_calibrated_and_finds_a_bias():
    from research.nondecomposable.bias import gradient_bias

    # Draws whose covariance is dominated by a few directions, as a few
    # rare positives make it: the case a noise estimate can get wrong.
    rng = np.random.default_rng(0)
    scales = np.r_[np.full(3, 10.0), np.full(47, 0.3)]
    g = np.ones(50)

    def draws(shift):
        return g + shift + rng.standard_normal((200, 50)) * scales

    ps = [gradient_bias(draws(0.0), g)["grad_bias_p"] for _ in range(400)]
    assert 0.02 < np.mean(np.array(ps) < 0.05) < 0.09
    assert 0.4 < np.mean(ps) < 0.6
    unbiased = gradient_bias(draws(0.0), g)
    expected = np.sqrt(np.sum(scales**2) / 200) / np.linalg.norm(g)
    assert abs(unbiased["grad_bias_noise"] / expected - 1) < 0.15
    # A shift of three noise sizes along a dominant direction.
    shift = np.zeros(50)
    shift[0] = 3 * expected * np.linalg.norm(g)
    assert gradient_bias(draws(shift), g)["grad_bias_p"] < 1e-3


def test_the_generator_holds_its_prevalence_and_ceiling():
    study = FAST.replace(n_test=50000)
    test = data.split(study, "test")
    assert abs(test.y.mean() - study.prevalence) < 0.005
    ceiling = data.ceiling(test)
    assert 0.5 < ceiling["auc"] <= 1 and 0 < ceiling["ap"] <= 1
    assert not np.array_equal(
        data.split(FAST, "val", 0).x, data.split(FAST, "val", 1).x
    )
    with pytest.raises(ValueError, match="seed"):
        data.split(FAST, "test", 0)


def test_bad_settings_and_command_lines_are_refused(harness):
    with pytest.raises(ValueError, match="loss"):
        Study("x", loss="hinge")
    with pytest.raises(ValueError, match="eval_every_epochs"):
        Study("x", budget_epochs=10, eval_every_epochs=3)
    with pytest.raises(ValueError, match="keep_counts"):
        Study("x", n_train=64, batch_sizes=(8,), keep_counts=(64,))
    with pytest.raises(ValueError, match="lr"):
        Run(FAST, "full_batch", 0.5, 0)
    with pytest.raises(ValueError, match="method"):
        parse_method("dropout")
    done = harness("--methods", "backdrop_7", check=False)
    assert done.returncode == 2 and "--methods" in done.stderr


def test_report_reads_only_its_studys_runs(tmp_path):
    out = tmp_path / "fast"
    (out / "runs").mkdir(parents=True)
    other = {"settings": {"study": {"name": "other"}}, "key": "k"}
    (out / "runs" / "x.json").write_text(json.dumps(other))
    assert report.load_runs(FAST, out) == {}
    (out / "runs" / "y.json").write_text("{")
    with pytest.raises(ValueError, match="Damaged result file"):
        report.load_runs(FAST, out)


def _pairwise_spec(z, y, w):
    """The weighted logistic pair loss and its gradient, in float64 NumPy."""
    pos, neg = np.flatnonzero(w * y > 0), np.flatnonzero(w * (1 - y) > 0)
    pair_w = np.outer(w[pos], w[neg])
    d = z[pos][:, None] - z[neg][None, :]
    total = pair_w.sum()
    if total == 0:
        return 0.0, np.zeros_like(z)
    value = float(np.sum(pair_w * np.logaddexp(0.0, -d)) / total)
    slope = pair_w / (1.0 + np.exp(d)) / total  # -d/dd of the penalty
    grad = np.zeros_like(z)
    grad[pos] -= slope.sum(axis=1)
    grad[neg] += slope.sum(axis=0)
    return value, grad


class _Scores(keras.layers.Layer):
    """Returns a trainable score per sample: `fit`'s gradient is the loss's."""

    def __init__(self, z, **kwargs):
        super().__init__(**kwargs)
        self.z = self.add_weight(
            shape=(len(z),), initializer=keras.initializers.Constant(z)
        )

    def call(self, x):
        return keras.ops.reshape(self.z, (-1, 1)) + 0.0 * x


@pytest.mark.parametrize("positives", [5, 0], ids=["rare_positives", "no_positive"])
def test_gathered_pairwise_auc_is_the_pair_loss_in_fit(positives):
    # One SGD step of rate 1 in `fit`, compiled as the harness compiles:
    # the scores move by minus the specification's gradient.
    rng = np.random.default_rng(positives)
    n = 64
    z = rng.normal(size=n)
    y = np.zeros(n)
    y[rng.choice(n, positives, replace=False)] = 1.0
    w = rng.uniform(0.5, 2.0, size=n)
    w[rng.choice(n, 4, replace=False)] = 0.0  # samples that make no pair
    want_value, want_grad = _pairwise_spec(z, y, w)
    loss = losses.make_loss("pairwise_auc")
    assert isinstance(loss, losses.GatheredPairwiseAUC)
    got = float(loss(y, z.astype(np.float32), sample_weight=w.astype(np.float32)))
    assert got == pytest.approx(want_value, rel=1e-5, abs=1e-7)
    model = keras.Sequential([keras.Input((1,)), _Scores(z.astype(np.float32))])
    model.compile(optimizer=keras.optimizers.SGD(1.0), loss=loss, jit_compile=False)
    x = np.ones((n, 1), np.float32)
    model.fit(x, y, sample_weight=w, batch_size=n, epochs=1, shuffle=False, verbose=0)
    moved = z - keras.ops.convert_to_numpy(model.layers[0].z)
    np.testing.assert_allclose(moved, want_grad, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("method", ["minibatch_32", "backdrop_32"])
def test_a_chunk_in_one_call_is_a_chunk_step_by_step(method):
    # `compile_model` runs a chunk's steps in one call: the weights and the
    # loss after two chunks are those of one call a step, bit for bit.
    run = Run(FAST, method, 3e-3, 0)
    train_split = data.split(FAST, "train", 0)
    trained = []
    for step_by_step in (False, True):
        fitted, _ = model.build(FAST, method, 0)
        if step_by_step:
            fitted.compile(
                optimizer=keras.optimizers.Adam(run.lr),
                loss=losses.make_loss(FAST.loss),
                jit_compile=False,
            )
        else:
            train.compile_model(fitted, run)
        losses_seen = []
        for chunk in range(2):
            x, y, batch = train.chunk_batches(run, train_split, chunk)
            history = fitted.fit(
                x,
                y,
                batch_size=batch,
                epochs=chunk + 1,
                initial_epoch=chunk,
                shuffle=False,
                verbose=0,
            )
            losses_seen.append(history.history["loss"][-1])
        trained.append((fitted.get_weights(), losses_seen))
    (weights, seen), (weights_1, seen_1) = trained
    assert seen == seen_1
    for w, w_1 in zip(weights, weights_1):
        np.testing.assert_array_equal(w, w_1)
