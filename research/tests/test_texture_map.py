"""The 512 px map's overview and the confirmation's command line.

The overview is a report over finished runs: these tests write result
files by hand (what a finished run writes, with only the figures the
report reads) and check the choice it makes and the figures it gives.
"""

import json

import numpy as np
import pytest

from research import runs
from research.texture import __main__ as cli
from research.texture import map_report
from research.texture.settings import MAP_RATIOS, Run, map_cell


def write_run(results, study, variant, seed, val, test):
    run = Run(study, variant, seed)
    result = {
        "key": run.key,
        "settings": run.settings(),
        "val_accuracy": val,
        "test_accuracy": test,
        "scale_accuracy": [0.5 + test / 10, 0.9],
    }
    runs.write_result(results / study.name, run.name, result)


def test_the_cell_is_chosen_on_validation_not_test(tmp_path):
    on_val = map_cell(10, MAP_RATIOS[2])  # gains on validation, not on test
    on_test = map_cell(100, MAP_RATIOS[0])  # gains on test, not on validation
    for seed in range(3):
        write_run(tmp_path, on_val, "no_mask", seed, 0.50, 0.50)
        write_run(tmp_path, on_val, "backdrop", seed, 0.55 + seed / 100, 0.49)
        write_run(tmp_path, on_test, "no_mask", seed, 0.60, 0.50)
        write_run(tmp_path, on_test, "backdrop", seed, 0.59, 0.70)
    summary = map_report.summarize(tmp_path)
    assert summary["chosen"] == on_val.name
    assert not summary["complete"]  # seven cells have no runs
    cell = next(c for c in summary["cells"] if c["study"] == on_val.name)
    assert cell["pairs"] == [0, 1, 2]
    gain = cell["difference"]["val_accuracy"]
    assert gain["mean"] == pytest.approx(np.mean([0.05, 0.06, 0.07]))
    assert gain["low"] < gain["mean"] < gain["high"]
    map_report.write(tmp_path)
    text = (tmp_path / "map_512.md").read_text()
    assert f"`{on_val.name}`" in text and "provisional" in text
    assert json.loads((tmp_path / "map_512.json").read_text())["chosen"] == on_val.name
    assert (tmp_path / "map_512.png").stat().st_size > 0


def test_unpaired_runs_do_not_count_and_no_gain_chooses_nothing(tmp_path):
    cell = map_cell(25, MAP_RATIOS[1])
    write_run(tmp_path, cell, "no_mask", 0, 0.5, 0.5)
    write_run(tmp_path, cell, "backdrop", 0, 0.4, 0.6)
    write_run(tmp_path, cell, "backdrop", 1, 0.9, 0.9)  # no no_mask seed 1
    summary = map_report.summarize(tmp_path)
    row = next(c for c in summary["cells"] if c["study"] == cell.name)
    assert row["pairs"] == [0]
    assert summary["chosen"] is None
    assert "no cell to confirm" in map_report.markdown(summary)


def test_a_confirmation_refuses_the_seeds_the_map_used(tmp_path, capsys):
    cell = map_cell(10, MAP_RATIOS[2])
    write_run(tmp_path, cell, "no_mask", 2, 0.5, 0.5)
    common = ["--study", "confirm", "--cell", "10", "1.25", "--results", str(tmp_path)]
    with pytest.raises(SystemExit) as stopped:
        cli.parse([*common, "--seeds", "0-4"])
    assert stopped.value.code == 2
    assert "the map used seeds [2] in map_512_n10_r1.25" in capsys.readouterr().err
    args = cli.parse([*common, "--seeds", "10-19"])
    (study,) = cli._studies(args)
    assert study.name == "confirm_512_n10_r1.25"
    assert study.replace(name=cell.name) == cell


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--study", "confirm"], "needs --cell"),
        (["--study", "deciding_512", "--cell", "10", "1.25"], "only with --study map"),
        (["--study", "map", "--cell", "12", "1.25"], "got 12 1.25"),
        (["--study", "map", "--cell", "10", "1.3"], "got 10 1.3"),
    ],
)
def test_cell_errors_name_the_option(argv, message, capsys):
    with pytest.raises(SystemExit):
        cli.parse(argv)
    assert message in capsys.readouterr().err
