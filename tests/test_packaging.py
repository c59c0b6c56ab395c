"""The version is written once and reaches the metadata and the changelog;
the distribution carries its licence, citation and PyPI page, installs by
backend, and its sdist is enough to run the tests."""

import importlib.metadata
import json
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

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


# --- Distribution: licence, citation, PyPI page, dependencies, sdist -------

TENSORFLOW_DISTRIBUTIONS = {
    "tensorflow",
    "tensorflow-cpu",
    "tensorflow-datasets",
    "tensorboard",
    "tf-keras",
}


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_license_file_is_the_apache_2_text():
    text = (REPO / "LICENSE").read_text()
    assert text.strip().startswith("Apache License")
    assert "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text
    assert 'license = "Apache-2.0"' in (REPO / "pyproject.toml").read_text()


def test_citation_file_cites_this_version_and_the_paper():
    text = (REPO / "CITATION.cff").read_text()
    assert re.search(r"^cff-version: 1\.2\.0$", text, re.M)
    assert re.search(r"^version: \"?([^\"\n]+)", text, re.M).group(1) == (
        keras_backdrop.__version__
    )
    assert "arXiv:1806.01337" in text
    assert "preferred-citation:" in text
    assert "Golkar" in text and "Cranmer" in text


def test_pypi_description_has_only_absolute_links():
    # PyPI renders the long description without the repository around it: a
    # relative link or picture there is broken.
    assert 'readme = "docs/pypi.md"' in (REPO / "pyproject.toml").read_text()
    text = (REPO / "docs" / "pypi.md").read_text()
    targets = re.findall(r"\]\(([^)\s]+)", text) + re.findall(
        r"^\[[^\]]+\]:\s*(\S+)", text, re.M
    )
    assert all(re.match(r"https?://", t) for t in targets), targets
    assert "<img" not in text and "![" not in text


def _resolve(tmp_path, extra: str) -> set[str]:
    """The distributions `pip install ".[extra]"` would install, resolved
    against the configured index without installing anything."""
    report = tmp_path / "report.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--ignore-installed",
            "--quiet",
            # The project's own metadata is built with this environment's
            # setuptools (the test extra brings it): no download for that.
            "--no-build-isolation",
            "--report",
            str(report),
            f"{REPO}[{extra}]",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        unreachable = (
            "NewConnectionError",
            "Failed to establish a new connection",
            "Network is unreachable",
            "Temporary failure in name resolution",
            "Max retries exceeded",
            "ConnectTimeout",
            "Could not fetch URL",
        )
        if any(s in done.stderr for s in unreachable):
            pytest.skip(f"the package index is unreachable: {done.stderr[-500:]}")
        pytest.fail(done.stderr[-3000:])
    installs = json.loads(report.read_text())["install"]
    return {_normalized(item["metadata"]["name"]) for item in installs}


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_backend_extra_resolves_without_tensorflow(tmp_path, backend):
    names = _resolve(tmp_path, backend)
    assert {"keras-backdrop", "keras", "numpy", backend} <= names
    assert not names & TENSORFLOW_DISTRIBUTIONS, sorted(names)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The sdist, and the wheel built from it, with this environment's
    setuptools (no network); the sdist unpacked beside them."""
    pytest.importorskip("build", reason="needs the `build` package (test extra)")
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    unpacked = tmp_path_factory.mktemp("sdist")
    with tarfile.open(sdist) as archive:
        # The "data" filter (no absolute paths, links out or devices) where
        # this Python has it (3.10.12 and later).
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        archive.extractall(unpacked, **safe)
    (root,) = unpacked.iterdir()
    return sdist, wheel, root


def test_unpacked_sdist_collects_its_tests(built):
    _, _, root = built
    # The helpers the tests import, the scripts they start and the files
    # they read.
    for path in (
        "tests/loopback_workers.py",
        "tests/cli_errors.py",
        "tests/backend_spec/spec_helpers.py",
        "examples/texture_classification.py",
        "benchmarks/run_all.py",
        "README.md",
        "CHANGELOG.md",
        "pyproject.toml",
        "LICENSE",
        "CITATION.cff",
        "keras_backdrop/py.typed",
        "tfds_gp/py.typed",
    ):
        assert (root / path).is_file(), path
    # One process: it checks that the packages come from the unpacked tree,
    # not from this checkout, then collects the tree's tests.
    code = (
        "import sys, keras_backdrop, tfds_gp, pytest\n"
        "print('FROM', keras_backdrop.__file__, tfds_gp.__file__)\n"
        "sys.exit(pytest.main(['-p', 'no:cacheprovider', '-q', '--collect-only']))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root), "TF_CPP_MIN_LOG_LEVEL": "2"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    (line,) = [x for x in done.stdout.splitlines() if x.startswith("FROM ")]
    assert all(Path(p).is_relative_to(root) for p in line.split()[1:]), line
    summary = done.stdout.strip().splitlines()[-1]
    assert "collected" in summary and "error" not in summary, summary


def test_wheel_requires_no_backend(built):
    _, wheel, _ = built
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = archive.read(name).decode()
        assert any(
            n.endswith(".dist-info/licenses/LICENSE") for n in archive.namelist()
        )
    core = [
        line.split(":", 1)[1].strip()
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist:") and "extra ==" not in line
    ]
    names = {_normalized(re.split(r"[\s<>=!~;\[(]", r, maxsplit=1)[0]) for r in core}
    assert names == {"keras", "numpy", "scipy"}, core
    assert "Provides-Extra: tensorflow" in metadata


def test_twine_check_passes(built):
    pytest.importorskip("twine", reason="needs twine (test extra)")
    sdist, wheel, _ = built
    done = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", str(sdist), str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_check_wheel_contents_passes(built):
    pytest.importorskip(
        "check_wheel_contents", reason="needs check-wheel-contents (test extra)"
    )
    _, wheel, _ = built
    # W009 (several top-level packages) is expected: the wheel holds
    # keras_backdrop and tfds_gp, and `import tfds_gp` is what registers
    # gp_textures with TFDS, so the dataset package keeps its name.
    done = subprocess.run(
        [sys.executable, "-m", "check_wheel_contents", "--ignore", "W009", str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
