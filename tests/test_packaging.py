"""The version is written once and reaches the metadata and the changelog."""

import importlib.metadata
import re
from pathlib import Path

import keras_backdrop

REPO = Path(__file__).resolve().parents[1]


def test_installed_metadata_reads_the_package_version():
    assert importlib.metadata.version("keras-backdrop") == keras_backdrop.__version__


def test_pyproject_does_not_write_a_version_of_its_own():
    text = (REPO / "pyproject.toml").read_text()
    assert re.search(r'^version\s*=\s*"', text, re.M) is None
    assert 'attr = "keras_backdrop.version.__version__"' in text


def test_changelog_opens_with_the_current_version():
    text = (REPO / "CHANGELOG.md").read_text()
    first = re.search(r"^## \[?([0-9][^\]\s]*)", text, re.M)
    assert first is not None, "CHANGELOG.md has no '## <version>' heading"
    assert first.group(1) == keras_backdrop.__version__


def test_both_packages_declare_inline_types():
    for package in ("keras_backdrop", "tfds_gp"):
        assert (REPO / package / "py.typed").is_file()
