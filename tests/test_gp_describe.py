"""The configs' descriptions and the READMEs' table come from one function."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tfds_gp import generator as g
from tfds_gp.gp_textures import GpTextures, GpTexturesConfig, describe, readme

ROOT = Path(__file__).resolve().parents[1]


def test_readme_table_is_the_generated_one():
    # Regenerate with `python -m tfds_gp.gp_textures --write`.
    assert readme.readme_table(readme.README) == readme.config_table()


def test_top_readme_table_if_any_is_the_generated_one():
    table = readme.readme_table(ROOT / "README.md")
    if table is None:
        pytest.skip("README.md holds no generated config table")
    assert table == readme.config_table()


def test_built_in_descriptions_are_generated_from_the_parameters():
    for config in GpTextures.BUILDER_CONFIGS:
        role = describe.BUILT_IN_ROLES[config.name]
        assert config.description == describe.description(
            config.recipe, config.source, role
        )
    paper = GpTextures.builder_configs["paper"].description
    # Written out by hand from the paper's recipe (design page, section 4).
    assert (
        "1024x1024, scales [[9.5, 10], [80, 140]], powers [0.75, 1.25], 4 classes, "
        in paper
    )
    assert "25 train + 25 test per class (200 examples, about " in paper
    assert paper.endswith("seed 3.")
    published = GpTextures.builder_configs["published"].description
    assert "dataset.zip" in published and "10.5281/zenodo.1252464" in published
    # The configs above 4 GB say to build them with Beam; the others do not.
    beam = {
        c.name for c in GpTextures.BUILDER_CONFIGS if "Apache Beam" in c.description
    }
    assert beam == {"paper_large", "paper_2048"}


def test_table_rows_follow_the_configs():
    table = readme.config_table().splitlines()
    assert len(table) == 2 + len(GpTextures.BUILDER_CONFIGS)
    assert table[2].startswith(
        "| `small` (default) | 256x256 | [[2.375, 2.5], [20, 35]] | [0.75, 1.25] "
        "| 4 | 50 + 50 | 400, "
    )
    assert table[5].startswith(
        "| `three_scale` | 1024x1024 | [[9.5, 10], [60, 80], [140, 200]] "
        "| [0.5, 1, 2] | 8 | 25 + 25 | 400, "
    )
    # 12000 examples of 1024^2 pixels at 4 bytes a pixel: 50.3 GB.
    assert "| 2500 + 500 | 12000, about 50.3 GB | 5 |" in table[-2]


def test_custom_config_description():
    config = GpTexturesConfig(
        size=16,
        scales=[[1.0, 1.5], [3.0]],
        powers=[0.5, 2.0],
        train_per_class=3,
        test_per_class=0,
        seed=9,
    )
    # 2 classes x 3 examples of 16 x 16 pixels at 4 bytes a pixel: 6 kB.
    assert config.description == (
        "16x16, scales [[1, 1.5], [3]], powers [0.5, 2], 2 classes, 3 train + 0 test "
        "per class (6 examples, about 6 kB), seed 9."
    )
    assert describe.config_table([config]).splitlines()[2] == (
        f"| `{config.name}` | 16x16 | [[1, 1.5], [3]] | [0.5, 2] | 2 | 3 + 0 "
        "| 6, about 6 kB | 9 |  |"
    )


def test_description_checks_its_arguments():
    recipe = g.PRESETS["small"]
    with pytest.raises(TypeError) as info:
        describe.description({"size": 16})
    assert "argument `recipe`" in str(
        info.value
    ) and "Received: recipe={'size': 16}" in str(info.value)
    with pytest.raises(ValueError) as info:
        describe.description(recipe, "web")
    assert "argument `source`" in str(info.value) and "Received: source='web'" in str(
        info.value
    )
    with pytest.raises(TypeError) as info:
        describe.description(recipe, "generated", 5)
    assert "argument `role`" in str(info.value) and "Received: role=5" in str(
        info.value
    )


def test_update_readme_rewrites_only_the_table(tmp_path):
    path = tmp_path / "README.md"
    path.write_text(f"before\n{readme.BEGIN}\nold table\n{readme.END}\nafter\n")
    assert readme.update_readme(path)
    assert path.read_text() == (
        f"before\n{readme.BEGIN}\n{readme.config_table()}{readme.END}\nafter\n"
    )
    assert not readme.update_readme(path)  # up to date
    (tmp_path / "plain.md").write_text("no markers\n")
    with pytest.raises(ValueError, match="argument `path`"):
        readme.update_readme(tmp_path / "plain.md")


def test_command_prints_the_table_and_refuses_a_file_without_markers(tmp_path):
    run = [sys.executable, "-m", "tfds_gp.gp_textures"]
    out = subprocess.run(run, cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout == readme.config_table()
    (tmp_path / "plain.md").write_text("no markers\n")
    bad = subprocess.run(
        [*run, "--write", str(tmp_path / "plain.md")],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2
    assert "argument --write" in bad.stderr and "plain.md" in bad.stderr
