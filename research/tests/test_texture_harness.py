"""The texture harness on the `fast` study.

End to end, exact and keyed resume, damaged files named, paired arms, and
the report's statistics.
"""

import json

import numpy as np
import pytest

from research import runs
from research.texture import data
from research.texture.settings import STUDIES, Run, Study

HARNESS = "research.texture"  # run by the `harness` fixture (conftest.py)
FAST = STUDIES["fast"]


def result_files(results):
    return sorted((results / "fast" / "runs").glob("*.json"))


def test_fast_study_end_to_end_gives_paired_results_and_a_report(tmp_path, harness):
    harness("--seeds", "0-1", work=tmp_path / "w", results=tmp_path / "r")
    files = result_files(tmp_path / "r")
    assert len(files) == 8  # 4 variants x 2 seeds
    results = [json.loads(f.read_text()) for f in files]
    for result in results:
        assert result["test_size"] == 3 * 4
        assert 0 <= result["test_accuracy"] <= 1
        assert result["steps"] <= FAST.max_steps
        assert len(result["curves"]["val_loss"]) == result["epochs"]
    summary = json.loads((tmp_path / "r" / "fast" / "summary.json").read_text())
    backdrop = summary["variants"]["backdrop"]
    assert backdrop["paired_seeds"] == [0, 1]
    # The paired difference is the mean of the per-seed differences.
    by = {(r["settings"]["variant"], r["settings"]["seed"]): r for r in results}
    diffs = [
        by["backdrop", s]["test_accuracy"] - by["no_mask", s]["test_accuracy"]
        for s in (0, 1)
    ]
    assert backdrop["difference"]["test_accuracy"]["mean"] == pytest.approx(
        np.mean(diffs)
    )
    assert "| backdrop | 2 |" in (tmp_path / "r" / "fast" / "README.md").read_text()
    # The warm-up ramped the masks per step from 0 and the curves record it.
    curves = by["backdrop", 0]["curves"]
    assert curves["coarse_mask_mask_prob"][-1] == pytest.approx(FAST.coarse_prob)
    assert curves["coarse_mask_mask_prob"][0] < FAST.coarse_prob
    # A second call finds every result and trains nothing.
    again = harness("--seeds", "0-1", work=tmp_path / "w", results=tmp_path / "r")
    assert "seed" not in again.stdout


def test_a_stopped_run_resumed_in_a_fresh_process_equals_an_uninterrupted_one(
    tmp_path, harness
):
    common = ["--seeds", "0", "--variants", "backdrop", "random_crops"]
    harness(*common, work=tmp_path / "a", results=tmp_path / "ra")
    stopped = harness(
        *common,
        "--budget-minutes",
        "1e-6",
        work=tmp_path / "b",
        results=tmp_path / "rb",
        check=False,
    )
    assert stopped.returncode == 3, stopped.stdout + stopped.stderr
    assert not result_files(tmp_path / "rb")
    # Resumed in a fresh process: from the checkpoint of the first epoch.
    harness(*common, work=tmp_path / "b", results=tmp_path / "rb")
    a = [json.loads(f.read_text()) for f in result_files(tmp_path / "ra")]
    b = [json.loads(f.read_text()) for f in result_files(tmp_path / "rb")]
    assert [r["name"] for r in a] == [r["name"] for r in b]
    for ra, rb in zip(a, b):
        for name in ("loss", "accuracy", "val_loss", "val_accuracy", "steps"):
            assert ra["curves"][name] == rb["curves"][name], name
        assert ra["test_accuracy"] == rb["test_accuracy"]


@pytest.mark.parametrize(
    "change",
    [
        {"lr": 2e-3},
        {"epochs_unused": None},
        {"filters": 8},
        {"construction": "reference"},
        {"val_per_class": 3},
    ],
)
def test_every_setting_changes_the_run_key(change):
    change = {k: v for k, v in change.items() if k != "epochs_unused"} or {
        "max_steps": 13
    }
    if change.get("construction") == "reference":
        change["size"] = 512
    base = Run(FAST, "backdrop", 0)
    other = Run(FAST.replace(**change), "backdrop", 0)
    assert base.key != other.key and base.name != other.name


def test_a_run_folder_of_other_settings_is_refused(tmp_path):
    from research.texture import train

    run = Run(FAST, "no_mask", 0)
    folder = tmp_path / run.name
    folder.mkdir()
    settings = run.settings()
    settings["study"]["lr"] = 0.5
    (folder / "settings.json").write_text(json.dumps(settings))
    splits = {
        "train": data.load_split(FAST, "train", tmp_path / "d", 0),
        "val": data.load_split(FAST, "val", tmp_path / "d", 0),
        "test": data.load_split(FAST, "test", tmp_path / "d"),
    }
    with pytest.raises(ValueError, match="settings.json.*delete the folder"):
        train.train_run(run, splits, tmp_path, log=lambda line: None)
    (folder / "settings.json").write_text("{not json")
    with pytest.raises(ValueError, match="Damaged run file .*settings.json"):
        train.train_run(run, splits, tmp_path, log=lambda line: None)


def test_damaged_checkpoint_and_result_files_are_named(tmp_path, harness):
    one = ["--seeds", "0", "--variants", "no_mask"]
    work, results = tmp_path / "w", tmp_path / "r"
    harness(*one, "--budget-minutes", "1e-6", work=work, results=results, check=False)
    (checkpoint,) = (work / "fast").glob("*/checkpoint.npz")
    checkpoint.write_bytes(checkpoint.read_bytes()[:200])
    done = harness(*one, work=work, results=results, check=False)
    assert done.returncode != 0
    assert f"ValueError: Damaged checkpoint {checkpoint}" in done.stderr
    assert "delete the folder" in done.stderr
    assert "Traceback" in done.stderr  # raised, but the last line names the file
    work, results = tmp_path / "w2", tmp_path / "r2"
    harness(*one, work=work, results=results)
    (result,) = result_files(results)
    result.write_text("{")
    done = harness(*one, work=work, results=results, check=False)
    assert f"ValueError: Damaged result file {result}" in done.stderr


@pytest.mark.parametrize("damage", ["images.npy", "labels.npy", "meta.json"])
def test_a_damaged_data_cache_is_named(tmp_path, damage):
    data.load_split(FAST, "val", tmp_path, 1)
    (folder,) = tmp_path.glob("val-*")
    path = folder / damage
    path.write_bytes(path.read_bytes()[:-7] + b"garbage")
    with pytest.raises(ValueError, match=f"Damaged data cache file {path}"):
        data.load_split(FAST, "val", tmp_path, 1)


def test_splits_are_generated_apart_and_the_test_set_is_shared(tmp_path):
    train0 = data.load_split(FAST, "train", tmp_path, 0)
    val0 = data.load_split(FAST, "val", tmp_path, 0)
    train1 = data.load_split(FAST, "train", tmp_path, 1)
    assert len(train0.labels) == 4 * FAST.train_per_class
    assert len(val0.labels) == 4 * FAST.val_per_class
    # No validation image is a training image, and seeds differ.
    for image in val0.images:
        assert not any(np.array_equal(image, t) for t in train0.images)
    assert not np.array_equal(train0.images, train1.images)
    # The test recipe does not depend on a seed.
    assert data.recipe(FAST, "test") == data.recipe(FAST, "test")
    with pytest.raises(ValueError, match="seed"):
        data.recipe(FAST, "test", 0)
    # The lengths kept with each example are its class's.
    choices = data.scale_choices(train0.lengths, FAST)
    assert (choices[:, 0] == train0.labels % 2).all()
    assert (choices[:, 1] == train0.labels // 2).all()


def test_the_cache_version_is_the_builders():
    from tfds_gp.gp_textures import gp_textures_dataset_builder as builder

    assert str(builder.GpTextures.VERSION) == data.DATASET_VERSION


def test_variants_of_a_seed_share_initial_weights_and_batches(tmp_path):
    import keras

    from research.texture import model, train

    nets = {
        v: model.build(FAST, v, 3)
        for v in ("no_mask", "backdrop", "backdrop_per_sample")
    }
    weights = {
        v: [w for w in n.get_weights() if w.dtype == np.float32 and w.ndim]
        for v, n in nets.items()
    }
    for v in ("backdrop", "backdrop_per_sample"):
        assert len(weights[v]) == len(weights["no_mask"])
        for a, b in zip(weights[v], weights["no_mask"]):
            np.testing.assert_array_equal(a, b)
    assert nets["backdrop"].get_layer("coarse_mask").mask_axes == (1, 2)
    assert nets["backdrop_per_sample"].get_layer("coarse_mask").mask_axes == (0, 1, 2)
    split = data.load_split(FAST, "train", tmp_path, 3)
    _, y_a = train.epoch_batches(split, Run(FAST, "no_mask", 3), 5)
    x_c, y_c = train.epoch_batches(split, Run(FAST, "random_crops", 3), 5)
    np.testing.assert_array_equal(y_a, y_c)
    assert x_c.shape[1:3] == (FAST.size // 2, FAST.size // 2)
    _, y_other = train.epoch_batches(split, Run(FAST, "no_mask", 3), 6)
    assert not np.array_equal(y_a, y_other)
    # Gathered from the images held as a tensor: the same batches.
    held = keras.ops.convert_to_tensor(split.images)
    x_a, _ = train.epoch_batches(split, Run(FAST, "no_mask", 3), 5)
    x_t, y_t = train.epoch_batches(split, Run(FAST, "no_mask", 3), 5, held)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(x_t), x_a)
    np.testing.assert_array_equal(y_t, y_a)


def test_paired_t_interval_against_a_hand_computation():
    # Differences 0.1, 0.2, 0.3: mean 0.2, sample sd 0.1, n 3; the 97.5 %
    # quantile of Student's t with 2 degrees of freedom is 4.302653.
    d = runs.paired_difference([0.6, 0.7, 0.8], [0.5, 0.5, 0.5])
    half = 4.302653 * 0.1 / np.sqrt(3)
    assert d["mean"] == pytest.approx(0.2)
    assert d["low"] == pytest.approx(0.2 - half, abs=1e-6)
    assert d["high"] == pytest.approx(0.2 + half, abs=1e-6)
    assert runs.paired_difference([0.6], [0.5])["low"] is None


def test_bad_study_settings_are_refused():
    with pytest.raises(ValueError, match="min_steps"):
        Study("x", min_steps=10, max_steps=5)
    with pytest.raises(TypeError, match="filters"):
        Study("x", filters=2.5)
    with pytest.raises(ValueError, match="size"):
        Study("x", size=96)
    with pytest.raises(ValueError, match="variant"):
        Run(FAST, "dropout", 0)


def test_command_line_errors_name_the_option(harness):
    done = harness("--seeds", "x", check=False)
    assert done.returncode == 2 and "--seeds" in done.stderr


def test_a_one_scale_study_reports_no_per_scale_figures(tmp_path):
    from research.texture import protocol

    study = FAST.replace(name="fast_one_scale", scales=((1.5, 3.0),), powers=(1.0,))
    done = protocol.run_study(
        study,
        [0],
        tmp_path / "w",
        tmp_path / "r",
        ("no_mask", "backdrop"),
        log=lambda line: None,
    )
    assert done
    summary = json.loads((tmp_path / "r" / study.name / "summary.json").read_text())
    backdrop = summary["variants"]["backdrop"]
    # Two classes, the one scale's choice: there is no large scale to report.
    assert set(backdrop["difference"]) == {"test_accuracy"}
    assert "large_scale_accuracy" not in backdrop
    table = (tmp_path / "r" / study.name / "README.md").read_text()
    assert "test accuracy" in table and "large scale" not in table
