"""The imbalanced study of batch-level losses, and its command line.

`examples/nondecomposable_study.py` runs end to end as a subprocess
(`--fast`); its pieces (the paired bootstrap, the validation selection,
the data split) are checked against hand-computed values.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_errors import command_line_outcomes

from keras_backdrop.experiments import imbalanced
from keras_backdrop.experiments.bootstrap import paired_bootstrap_ci

REPO = Path(__file__).resolve().parent.parent
SEEDS = [0, 1]
MODULE = "examples.nondecomposable_study"


def _run(out_dir):
    argv = ["--fast", "--seeds", ",".join(map(str, SEEDS)), "--out-dir", str(out_dir)]
    done = subprocess.run(
        [sys.executable, "-m", MODULE, *argv],
        cwd=REPO,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.fixture(scope="module")
def fast_run(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("study")
    stdout = _run(out_dir)
    report = json.loads((out_dir / "nondecomposable_study.json").read_text())
    return out_dir, report, stdout


# -- paired bootstrap ------------------------------------------------------


def test_bootstrap_of_a_constant_difference_is_that_constant():
    # Paired: the seeds' spread (1 to 3) cancels; unpaired it would not.
    r = paired_bootstrap_ci([1.1, 2.1, 3.1], [1.0, 2.0, 3.0])
    assert r["mean"] == pytest.approx(0.1)
    assert r["ci_low"] == pytest.approx(0.1)
    assert r["ci_high"] == pytest.approx(0.1)
    assert (r["n"], r["level"]) == (3, 0.95)


def test_bootstrap_of_two_seeds():
    # Differences 0 and 1: resampled means 0, 0.5, 1 with probabilities
    # 1/4, 1/2, 1/4, so the 2.5 % and 97.5 % quantiles are 0 and 1.
    r = paired_bootstrap_ci([1.0, 2.0], [1.0, 1.0])
    assert (r["mean"], r["ci_low"], r["ci_high"]) == (0.5, 0.0, 1.0)


def test_bootstrap_of_three_seeds():
    # Differences 0, 0, 3: the resampled mean is k (the number of 3s
    # drawn, binomial(3, 1/3)): P(0) = 8/27, P(3) = 1/27 = 0.037 > 0.025.
    r = paired_bootstrap_ci([0.0, 0.0, 3.0], [0.0, 0.0, 0.0])
    assert r["mean"] == pytest.approx(1.0)
    assert (r["ci_low"], r["ci_high"]) == (0.0, 3.0)
    # A 90 % interval: P(mean <= 2) = 26/27 = 0.963 > 0.95, so it ends at 2.
    r = paired_bootstrap_ci([0.0, 0.0, 3.0], [0.0, 0.0, 0.0], level=0.9)
    assert (r["ci_low"], r["ci_high"]) == (0.0, 2.0)


def test_bootstrap_is_seeded():
    a, b = [0.3, 0.1, 0.5, 0.2, 0.4], [0.2, 0.2, 0.2, 0.2, 0.2]
    assert paired_bootstrap_ci(a, b, seed=3) == paired_bootstrap_ci(a, b, seed=3)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"variant": [1.0], "baseline": [1.0, 2.0]}, ValueError, "`variant`"),
        ({"variant": [], "baseline": []}, ValueError, "`variant`"),
        ({"variant": [np.nan], "baseline": [1.0]}, ValueError, "finite"),
        ({"n_boot": 0}, ValueError, "`n_boot`"),
        ({"n_boot": 10.0}, TypeError, "`n_boot`"),
        ({"level": 1.0}, ValueError, "`level`"),
        ({"seed": "0"}, TypeError, "`seed`"),
    ],
)
def test_bootstrap_refuses_bad_arguments(kwargs, error, match):
    args = {"variant": [1.0, 2.0], "baseline": [1.0, 1.0], **kwargs}
    with pytest.raises(error, match=match):
        paired_bootstrap_ci(args.pop("variant"), args.pop("baseline"), **args)


# -- validation selection --------------------------------------------------


def test_select_best_takes_the_earliest_maximum_and_skips_nan():
    assert imbalanced.select_best([0.1, 0.5, 0.9, 0.9, 0.3]) == 2
    assert imbalanced.select_best([np.nan, 0.2, 0.1]) == 1
    with pytest.raises(ValueError, match="`values`"):
        imbalanced.select_best([np.nan])
    with pytest.raises(ValueError, match="`values`"):
        imbalanced.select_best([])


class _ScriptedModel:
    """Returns, at its i-th call, the i-th of some logits; weights = [i]."""

    def __init__(self, logits):
        self.logits, self.calls, self.restored = logits, 0, None

    def __call__(self, x, training=False):
        assert training is False
        out = np.asarray(self.logits[self.calls], np.float32)[:, None]
        self.calls += 1
        return out

    def get_weights(self):
        return [np.array(self.calls)]

    def set_weights(self, weights):
        self.restored = int(weights[0])


def test_validation_selection_picks_the_best_step_of_a_crafted_curve():
    y_val = np.array([0, 0, 1, 1], np.float32)
    # ROC AUC of each: 0.5, 1, 0, 1, 0.5 (positives are the last two).
    logits = [[0, 3, 1, 2], [0, 1, 2, 3], [3, 2, 1, 0], [0, 1, 2, 3], [0, 3, 1, 2]]
    model = _ScriptedModel(logits)
    selector = imbalanced.ValidationSelection(
        np.zeros((4, 1)), y_val, "auc", every=10, total_steps=45
    )
    selector.set_model(model)
    for batch in range(45):
        selector.on_train_batch_end(batch)
    selector.on_train_end()
    # Evaluated after steps 10, 20, 30, 40 and the last, 45.
    assert selector.steps == [10, 20, 30, 40, 45]
    assert selector.curves["auc"] == [0.5, 1.0, 0.0, 1.0, 0.5]
    # The earliest of the two best evaluations, and its weights restored.
    assert selector.best_step == 20
    assert model.restored == 2
    # F1 at logit 0 of the same logits (only logits > 0 are positive):
    # [0, 3, 1, 2] -> tp 2, fp 1: 0.8; [0, 1, 2, 3] -> tp 2, fp 1: 0.8;
    # [3, 2, 1, 0] -> tp 1, fp 2, fn 1: 0.4.
    assert selector.curves["f1"] == pytest.approx([0.8, 0.8, 0.4, 0.8, 0.8])


def test_validation_selection_refuses_an_unknown_metric():
    with pytest.raises(ValueError, match="`metric`"):
        imbalanced.ValidationSelection(np.zeros((2, 1)), np.zeros(2), "acc", 1, 1)


# -- the task --------------------------------------------------------------


def test_split_sizes_and_positives():
    cfg = imbalanced.make_config()
    data = imbalanced.load_task(cfg, seed=0)
    x_train, y_train, x_val, y_val, x_test, y_test = data
    # 2 % positives in every split: 20 of 1000, 20 of 1000, 80 of 4000.
    assert [len(y) for y in (y_train, y_val, y_test)] == [1000, 1000, 4000]
    assert [int(y.sum()) for y in (y_train, y_val, y_test)] == [20, 20, 80]
    assert all(x.shape[1] == 100 for x in (x_train, x_val, x_test))
    assert set(np.unique(np.concatenate([y_train, y_val, y_test]))) == {0.0, 1.0}
    # Standardised on the training split.
    np.testing.assert_allclose(x_train.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(x_train.std(axis=0), 1.0, atol=1e-3)
    # Disjoint splits: no sample in two of them.
    rows = np.concatenate([x_train, x_val, x_test]).round(4)
    assert len(np.unique(rows, axis=0)) == len(rows)
    # The same seed gives the same split; another seed another one, of
    # the same pool (the task is fixed by task_seed).
    again = imbalanced.load_task(cfg, seed=0)
    np.testing.assert_array_equal(again[0], x_train)
    other = imbalanced.load_task(cfg, seed=1)
    assert not np.array_equal(other[1], y_train) or not np.allclose(other[0], x_train)
    assert [int(y.sum()) for y in other[1::2]] == [20, 20, 80]


def test_minibatch_positive_odds_by_hand():
    odds = imbalanced.minibatch_positive_odds(0.02, 32)
    assert odds["p_none"] == pytest.approx(0.98**32)  # 0.524
    assert odds["p_at_most_one"] == pytest.approx(0.98**32 + 32 * 0.02 * 0.98**31)
    assert odds["p_at_most_one"] > 0.85  # most minibatches: none or one


def test_config_refuses_bad_settings():
    with pytest.raises(ValueError, match="`keep_counts`"):
        imbalanced.make_config(fast=True, keep_counts=(200,))
    with pytest.raises(ValueError, match="`overrides`"):
        imbalanced.make_config(batch=3)
    with pytest.raises(ValueError, match="`positive_fraction`"):
        imbalanced.make_config(positive_fraction=0.6)
    with pytest.raises(ValueError, match="`n_train`"):
        imbalanced.make_config(fast=True, n_train=20)  # one positive at 5 %


# -- end to end ------------------------------------------------------------


def test_fast_run_has_every_loss_variant_and_seed(fast_run):
    out_dir, report, _ = fast_run
    cfg = report["config"]
    assert cfg["fast"] is True
    assert set(report["runs"]) == {"soft_f1", "pairwise_auc"}
    variants = ["full_batch", "minibatch_16", "backdrop_keep_8"]
    for loss_name, by_variant in report["runs"].items():
        metric = imbalanced.SELECTION_METRIC[loss_name]
        assert list(by_variant) == variants
        for by_seed in by_variant.values():
            assert set(by_seed) == {str(s) for s in SEEDS}
            for r in by_seed.values():
                assert r["steps"] == cfg["steps"]
                assert r["curve_steps"] == [5, 10, 15, 20]
                curve = r[f"val_{metric}"]
                # The selected step is the earliest best on validation.
                best = r["curve_steps"][int(np.argmax(curve))]
                assert r["selected_step"] == best
                assert r[f"val_{metric}_selected"] == max(curve)
                for key in ("test_f1", "test_auc", "train_f1", "train_auc"):
                    assert 0.0 <= r[key] <= 1.0
    for seed in SEEDS:
        assert report["data"][str(seed)] == {
            "train": {"size": 200, "positives": 10},
            "val": {"size": 200, "positives": 10},
            "test": {"size": 400, "positives": 20},
        }
    text = (out_dir / "nondecomposable_study.md").read_text()
    # Settings, then one table row per loss and variant.
    assert "200 / 200 / 400 training / validation / test samples" in text
    assert "| loss | variant |" in text
    assert sum(line.startswith("| soft_f1 |") for line in text.splitlines()) == 3
    assert (out_dir / "nondecomposable_study.png").stat().st_size > 0


def test_fast_run_summary_matches_its_runs(fast_run):
    _, report, _ = fast_run
    for loss_name, summary in report["summary"].items():
        runs = report["runs"][loss_name]
        base = [runs["full_batch"][str(s)]["test_auc"] for s in SEEDS]
        for variant, entry in summary.items():
            values = [runs[variant][str(s)]["test_auc"] for s in SEEDS]
            assert entry["test_auc"]["mean"] == pytest.approx(np.mean(values))
            assert entry["test_auc"]["std"] == pytest.approx(np.std(values, ddof=1))
            if variant == "full_batch":
                assert "test_auc_diff" not in entry
                continue
            diff = entry["test_auc_diff"]
            d = np.subtract(values, base)
            assert diff["mean"] == pytest.approx(d.mean())
            # Two seeds: the bootstrap means lie between the two differences.
            assert d.min() - 1e-12 <= diff["ci_low"] <= diff["ci_high"]
            assert diff["ci_high"] <= d.max() + 1e-12


def test_fast_run_resumes_without_training(fast_run):
    out_dir, report, _ = fast_run
    stdout = _run(out_dir)
    assert "resuming from" in stdout
    assert " test F1 " not in stdout.split("resuming from", 1)[1].split("\n\n")[0]
    again = json.loads((out_dir / "nondecomposable_study.json").read_text())
    assert again["runs"] == report["runs"]


BAD_COMMAND_LINES = [
    (["--seeds", "1,1"], "--seeds"),
    (["--losses", "hinge"], "--losses"),
    (["--steps", "0"], "--steps"),
    (["--positive-fraction", "0.5"], "--positive-fraction"),
    (["--keep-counts", "8,x"], "--keep-counts"),
    (["--fast", "--keep-counts", "8,200"], "--keep-counts"),
    (["--fast", "--minibatch-sizes", "500"], "--minibatch-sizes"),
    (["--fast", "--n-train", "20"], "--n-train"),
    (["--fast", "--positive-fraction", "0.001"], "--positive-fraction"),
]


def test_bad_command_lines_exit_through_the_parser(tmp_path):
    cases = [[*argv, "--out-dir", str(tmp_path)] for argv, _ in BAD_COMMAND_LINES]
    # --out-dir last: the value received must still be named.
    cases = [[*c[-2:], *c[:-2]] for c in cases]
    outcomes = command_line_outcomes(MODULE, cases)
    for (argv, option), (code, stderr) in zip(BAD_COMMAND_LINES, outcomes, strict=True):
        assert code == 2, (argv, code, stderr)
        error = stderr.strip().splitlines()[-1]
        assert f"error: argument {option}" in error, (argv, error)
        assert argv[-1] in error, (argv, error)  # the value received
    assert not any(tmp_path.iterdir())  # nothing ran


def test_validation_selection_restores_the_selected_weights_in_fit():
    # A real fit that overfits (full batch, large learning rate): after
    # training the model scores on validation what the selected (earlier)
    # evaluation recorded, not what the last step gave.
    import keras

    from keras_backdrop.experiments import nondecomposable as nd

    cfg = imbalanced.make_config(fast=True)
    x_train, y_train, x_val, y_val, _, _ = imbalanced.load_task(cfg, seed=0)
    model = nd.build_model(x_train.shape[1], (64,), None, seed=0)
    model.compile(
        optimizer=keras.optimizers.Adam(0.05), loss=nd.make_loss("pairwise_auc")
    )
    selector = imbalanced.ValidationSelection(x_val, y_val, "auc", 5, 60)
    model.fit(
        nd.FullBatches(x_train, y_train, 60), epochs=1, verbose=0, callbacks=[selector]
    )
    assert selector.steps == list(range(5, 61, 5))
    curve = selector.curves["auc"]
    best = selector.steps.index(selector.best_step)
    assert curve[best] == max(curve)
    # The premise: the last evaluation is worse than the best one.
    assert selector.best_step < 60 and curve[-1] < curve[best]
    z = keras.ops.convert_to_numpy(model(x_val, training=False)).ravel()
    assert imbalanced.score("auc", y_val, z) == pytest.approx(curve[best])
