"""Hardening of the dataset configs: argument checks, bounds, names, immutability.

Every refusal must be a TypeError (wrong type) or a ValueError (wrong value)
whose message names the argument and shows the received value; the limits
(tfds_gp/gp_textures/README.md) must be enforced at construction, before
anything of image size is allocated; a config name must never lead a build
outside its data_dir; and a config cannot change after construction.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import pickle
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import tensorflow_datasets as tfds

import tfds_gp
from tfds_gp import generator as g
from tfds_gp.gp_textures import (
    GpTextures,
    GpTexturesConfig,
    ImmutableConfigError,
    check_config_name,
)

# A valid tiny recipe; each case below overrides one argument.
BASE = dict(
    size=16,
    scales=((1.0, 1.5), (3.0, 4.0)),
    powers=(0.75, 1.25),
    train_per_class=2,
    test_per_class=1,
    seed=5,
)
NAN, INF = float("nan"), float("inf")
HUGE_INT = 10**400  # does not even convert to a float

CONSTRUCTORS = {
    "GpRecipe": g.GpRecipe,
    "GpTexturesConfig": lambda **kw: GpTexturesConfig(name="hardening_probe", **kw),
}


def _assert_names(error: BaseException, argument: str, shown: str) -> None:
    message = str(error)
    assert f"argument `{argument}`" in message, message
    assert f"Received: {argument}=" in message, message
    assert shown in message, message


# (argument, bad value, exception, text the message must show for the value)
BAD_ARGUMENTS = [
    # size: an integer number of pixels from 2 to MAX_SIZE
    ("size", "16", TypeError, "'16'"),
    ("size", 16.0, TypeError, "16.0"),
    ("size", np.float64(16), TypeError, "16"),
    ("size", True, TypeError, "True"),
    ("size", np.bool_(True), TypeError, "True"),
    ("size", None, TypeError, "None"),
    ("size", NAN, TypeError, "nan"),
    ("size", 1, ValueError, "size=1"),
    ("size", 0, ValueError, "size=0"),
    ("size", -16, ValueError, "-16"),
    ("size", g.MAX_SIZE + 1, ValueError, str(g.MAX_SIZE + 1)),
    ("size", 10**9, ValueError, "1000000000"),
    ("size", HUGE_INT, ValueError, "an integer of"),
    # scales: 1..MAX_SCALES sequences of distinct lengths in [0.5, size/4]
    ("scales", None, TypeError, "None"),
    ("scales", "1.0", TypeError, "'1.0'"),
    ("scales", 9.5, TypeError, "9.5"),
    ("scales", {1.0, 2.0}, TypeError, "{1.0, 2.0}"),
    ("scales", [1.0, 2.0], TypeError, "[1.0, 2.0]"),
    ("scales", [[1.0, "2"]], TypeError, "'2'"),
    ("scales", [[True]], TypeError, "True"),
    ("scales", [[None]], TypeError, "None"),
    ("scales", [], ValueError, "[]"),
    ("scales", [[]], ValueError, "[[]]"),
    ("scales", [[1.0, 1.0]], ValueError, "[[1.0, 1.0]]"),
    ("scales", [[NAN]], ValueError, "nan"),
    ("scales", [[INF]], ValueError, "inf"),
    ("scales", [[-INF]], ValueError, "-inf"),
    ("scales", [[HUGE_INT]], ValueError, "Received: scales=[["),
    ("scales", [[0.0]], ValueError, "0.0"),
    ("scales", [[-1.0]], ValueError, "-1.0"),
    ("scales", [[0.49]], ValueError, "0.49"),
    ("scales", [[4.01]], ValueError, "4.01"),  # above size / 4 = 4
    ("scales", [[1.0]] * (g.MAX_SCALES + 1), ValueError, "[[1.0], [1.0]"),
    ("scales", [range(1, 101), range(1, 102)], ValueError, "range(1, 101)"),
    # powers: one finite number per scale in [MIN_POWER, MAX_POWER]
    ("powers", None, TypeError, "None"),
    ("powers", "12", TypeError, "'12'"),
    ("powers", 1.0, TypeError, "1.0"),
    ("powers", ["0.75", 1.25], TypeError, "'0.75'"),
    ("powers", [True, 1.0], TypeError, "True"),
    ("powers", [np.bool_(True), 1.0], TypeError, "True"),
    ("powers", [None, 1.0], TypeError, "None"),
    ("powers", [NAN, 1.0], ValueError, "nan"),
    ("powers", [INF, 1.0], ValueError, "inf"),
    ("powers", [1.0, -INF], ValueError, "-inf"),
    ("powers", [0.0, 1.0], ValueError, "0.0"),
    ("powers", [-0.75, 1.25], ValueError, "-0.75"),
    ("powers", [1e-7, 1.0], ValueError, "1e-07"),
    ("powers", [1.0, 1.0000001e6], ValueError, "1000000.1"),
    ("powers", [3e38, 3e38], ValueError, "3e+38"),  # overflows the float32 image
    ("powers", [1.0, HUGE_INT], ValueError, "Received: powers=[1.0, "),
    ("powers", [1.0], ValueError, "[1.0]"),
    ("powers", [1.0, 1.0, 1.0], ValueError, "[1.0, 1.0, 1.0]"),
    # train_per_class / test_per_class: integers from 0 to MAX_PER_CLASS
    ("train_per_class", 2.0, TypeError, "2.0"),
    ("train_per_class", "2", TypeError, "'2'"),
    ("train_per_class", True, TypeError, "True"),
    ("train_per_class", np.bool_(False), TypeError, "False"),
    ("train_per_class", None, TypeError, "None"),
    ("train_per_class", np.float32(2), TypeError, "2"),
    ("train_per_class", -1, ValueError, "-1"),
    ("train_per_class", g.MAX_PER_CLASS + 1, ValueError, str(g.MAX_PER_CLASS + 1)),
    ("train_per_class", 10**15, ValueError, str(10**15)),
    ("train_per_class", HUGE_INT, ValueError, "an integer of"),
    # 4 classes: 300000 per class is 1.2 million examples in the split
    ("train_per_class", 300_000, ValueError, "300000"),
    ("test_per_class", 1.5, TypeError, "1.5"),
    ("test_per_class", False, TypeError, "False"),
    ("test_per_class", -3, ValueError, "-3"),
    ("test_per_class", np.int64(-3), ValueError, "-3"),
    ("test_per_class", 10**7, ValueError, str(10**7)),
    # seed: an unsigned 64-bit integer
    ("seed", 1.5, TypeError, "1.5"),
    ("seed", "5", TypeError, "'5'"),
    ("seed", True, TypeError, "True"),
    ("seed", None, TypeError, "None"),
    ("seed", -1, ValueError, "-1"),
    ("seed", 2**64, ValueError, str(2**64)),
]


@pytest.mark.parametrize("constructor", sorted(CONSTRUCTORS))
@pytest.mark.parametrize(
    "argument, value, exception, shown",
    BAD_ARGUMENTS,
    ids=[f"{a}={v!r}"[:60] for a, v, _, _ in BAD_ARGUMENTS],
)
def test_bad_argument_is_refused_naming_it(
    constructor, argument, value, exception, shown
):
    if constructor == "GpTexturesConfig" and argument in ("scales", "powers"):
        if value is None:
            pytest.skip("None asks a config for the default (size-scaled) value")
    with pytest.raises(exception) as info:
        CONSTRUCTORS[constructor](**{**BASE, argument: value})
    assert type(info.value) is exception
    _assert_names(info.value, argument, shown)


@pytest.mark.parametrize("constructor", sorted(CONSTRUCTORS))
def test_both_splits_empty_is_refused(constructor):
    with pytest.raises(ValueError) as info:
        CONSTRUCTORS[constructor](**{**BASE, "train_per_class": 0, "test_per_class": 0})
    _assert_names(info.value, "train_per_class", "train_per_class=0")


@pytest.mark.parametrize("constructor", sorted(CONSTRUCTORS))
def test_pixels_per_split_are_bounded(constructor):
    # 8192^2 pixels x 20000 examples = 1.3e12 > 2^40 pixels in one split.
    with pytest.raises(ValueError) as info:
        CONSTRUCTORS[constructor](
            size=8192,
            scales=[[1.0]],
            powers=[1.0],
            train_per_class=20_000,
            test_per_class=0,
        )
    _assert_names(info.value, "train_per_class", "20000")
    assert "2**40" in str(info.value)


CONFIG_ONLY_BAD = [
    ("source", "web", ValueError, "'web'"),
    ("source", ["generated"], TypeError, "['generated']"),
    ("source", None, TypeError, "None"),
    ("version", "../1.0.0", ValueError, "'../1.0.0'"),
    ("version", "1.0", ValueError, "'1.0'"),
    ("description", 5, TypeError, "5"),
]


@pytest.mark.parametrize("argument, value, exception, shown", CONFIG_ONLY_BAD)
def test_bad_config_only_argument_is_refused_naming_it(
    argument, value, exception, shown
):
    with pytest.raises(exception) as info:
        GpTexturesConfig(name="probe", **BASE, **{argument: value})
    assert type(info.value) is exception
    _assert_names(info.value, argument, shown)


# --- accepted values -------------------------------------------------------------


def test_numpy_scalars_and_arrays_are_accepted_and_give_the_same_data():
    plain = g.GpRecipe(**BASE)
    numpy = g.GpRecipe(
        size=np.int64(16),
        scales=np.array([[1.0, 1.5], [3.0, 4.0]], np.float32),
        powers=np.array([0.75, 1.25]),
        train_per_class=np.int32(2),
        test_per_class=np.uint8(1),
        seed=np.uint64(5),
    )
    assert numpy == plain
    # Normalised to plain Python values, so the recipe hashes and prints alike.
    assert type(numpy.size) is int and type(numpy.seed) is int
    assert all(type(p) is float for p in numpy.powers)
    assert all(type(c) is float for s in numpy.scales for c in s)
    config = GpTexturesConfig(
        name="numpy_probe",
        size=np.int16(16),
        scales=[[np.float64(1.0), np.float32(1.5)], (np.int64(3), 4)],
        powers=[np.float16(0.75), np.float64(1.25)],
        train_per_class=np.int64(2),
        test_per_class=1,
        seed=np.int8(5),
    )
    assert config.recipe == plain
    a, _ = g.split_arrays(plain, "train")
    b, _ = tfds_gp.load_numpy(config, "train")
    assert a.tobytes() == b.tobytes()


def test_the_limits_themselves_are_accepted_without_allocating():
    tracemalloc.start()
    try:
        big = g.GpRecipe(
            size=g.MAX_SIZE,
            scales=[[1.0]],
            powers=[g.MAX_POWER],
            train_per_class=1,
            test_per_class=0,
            seed=g.MAX_SEED,
        )
        assert big.size == g.MAX_SIZE
        g.GpRecipe(**{**BASE, "powers": (g.MIN_POWER, g.MAX_POWER)})
        g.GpRecipe(
            **{**BASE, "scales": [[1.0]] * g.MAX_SCALES, "powers": [1.0] * g.MAX_SCALES}
        )
        lengths = [float(c) for c in range(1, 101)]  # 100 x 100 = MAX_CLASSES
        most = g.GpRecipe(
            size=512,
            scales=[lengths, lengths],
            powers=[1.0, 1.0],
            train_per_class=g.MAX_EXAMPLES_PER_SPLIT // g.MAX_CLASSES,
            test_per_class=0,
        )
        assert most.num_classes == g.MAX_CLASSES
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2**20  # nothing of image size


# --- huge requests fail at once ---------------------------------------------------

# Built here, outside the measured call: a million scales of one length.
MANY_SCALES = [[1.0]] * 10**6

HUGE_REQUESTS = {
    "size": lambda: GpTexturesConfig(size=10**9, scales=[[1.0]], powers=[1.0]),
    "classes": lambda: g.GpRecipe(
        size=4096,
        scales=[range(1, 1001)] * 3,
        powers=[1.0] * 3,
        train_per_class=1,
        test_per_class=1,
    ),
    "scales": lambda: g.GpRecipe(
        size=16, scales=MANY_SCALES, powers=[1.0], train_per_class=1, test_per_class=1
    ),
    "per_class": lambda: g.GpRecipe(
        size=16, scales=[[1.0]], powers=[1.0], train_per_class=10**15, test_per_class=1
    ),
    "split_pixels": lambda: GpTexturesConfig(
        size=8192, scales=[[2.0], [3.0]], powers=[1.0, 1.0], train_per_class=100_000
    ),
    "in_memory": lambda: tfds_gp.load_numpy("paper_large", "train"),
    "range": lambda: g.split_arrays(g.PRESETS["small"], "train", 0, 10**12),
    "field": lambda: g.field(2.0, 10**6, np.random.default_rng(0)),
    "sample": lambda: g.sample((2.0,), (1e300,), 4096, np.random.default_rng(0)),
}


@pytest.mark.parametrize("request_name", sorted(HUGE_REQUESTS))
def test_huge_request_fails_fast_without_allocating(request_name):
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(ValueError) as info:
            HUGE_REQUESTS[request_name]()
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "Invalid value for argument `" in str(info.value)
    assert elapsed < 1.0, elapsed
    assert peak < 2**20, peak  # well under one image


# --- the class table is built once ---------------------------------------------------


def test_class_table_is_built_once_per_recipe():
    recipe = g.GpRecipe(**BASE)
    assert recipe.classes is recipe.classes
    g._class_table.cache_clear()
    images, labels = g.split_arrays(recipe, "train")
    assert len(labels) == 8
    info = g._class_table.cache_info()
    assert info.misses == 1 and info.hits == 7  # one build, then 7 look-ups
    # Every example of a class gets the very same GpClass object.
    first = g.example(recipe, "train", 0)[1]
    assert g.example(recipe, "train", 4)[1] is first is recipe.classes[0]
    # A config holds one recipe, so its table is shared too.
    config = GpTexturesConfig(name="table_probe", **BASE)
    assert config.recipe is config.recipe
    assert config.recipe.classes is recipe.classes


# --- names: a config name becomes a directory ------

UNSAFE_NAMES = [
    "../escape",
    "..",
    ".",
    "a/b",
    "/abs",
    "a\\b",
    "a/../b",
    "a..b",
    "x..",
    "",
    " ",
    "-x",
    ".hidden",
    "tab\tname",
    "new\nline",
    "name:1.0.0",
    "é",
    "x" * 129,
] + sorted({os.sep, os.altsep, f"a{os.sep}b", f"..{os.sep}up"} - {None, "a\\b"})


@pytest.mark.parametrize("name", UNSAFE_NAMES, ids=[repr(n)[:40] for n in UNSAFE_NAMES])
def test_unsafe_names_are_refused(name):
    with pytest.raises(ValueError) as info:
        check_config_name(name)
    _assert_names(info.value, "name", repr(name)[:40])
    with pytest.raises(ValueError) as info:
        GpTexturesConfig(name=name, **BASE)
    _assert_names(info.value, "name", repr(name)[:40])


@pytest.mark.parametrize("name", [5, b"tiny", ["tiny"], 1.5])
def test_non_string_names_are_refused(name):
    with pytest.raises(TypeError) as info:
        GpTexturesConfig(name=name, **BASE)
    _assert_names(info.value, "name", repr(name))


@pytest.mark.parametrize("name", ["a", "tiny_test", "my.config-1_2", "x" * 128, "0"])
def test_safe_names_are_accepted(name):
    assert GpTexturesConfig(name=name, **BASE).name == name


def test_derived_name_matches_the_parameters():
    derived = GpTexturesConfig(**BASE)
    assert derived.name.startswith("custom_")
    assert GpTexturesConfig(name=derived.name, **BASE).name == derived.name
    # A name of the derived form that is not this recipe's hash is refused:
    # "custom_<hash>" always names the data it hashes.
    with pytest.raises(ValueError) as info:
        dataclasses.replace(derived, seed=6)
    _assert_names(info.value, "name", derived.name)
    assert dataclasses.replace(derived, seed=6, name=None).name != derived.name


def _files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize(
    "name", ["../escape", "../../escape", "a/../../b", "..", os.sep + "abs"]
)
def test_build_with_unsafe_name_fails_before_writing(tmp_path, name):
    data_dir = tmp_path / "outer" / "data"
    with pytest.raises(ValueError, match="argument `name`"):
        tfds.builder(
            "gp_textures",
            config=GpTexturesConfig(name=name, **BASE),
            data_dir=str(data_dir),
        ).download_and_prepare()
    assert _files_under(tmp_path) == []


def test_builder_refuses_plain_and_tampered_configs_before_writing(tmp_path):
    data_dir = tmp_path / "outer" / "data"
    # A plain BuilderConfig has no recipe and an unchecked name.
    with pytest.raises(TypeError) as info:
        tfds.builder(
            "gp_textures",
            config=tfds.core.BuilderConfig(name="../escape"),
            data_dir=str(data_dir),
        )
    _assert_names(info.value, "config", "escape")
    # A config whose name was forced past the immutability is checked again.
    config = GpTexturesConfig(name="tampered", **BASE)
    object.__setattr__(config, "name", "../escape")
    with pytest.raises(ValueError, match="argument `name`"):
        tfds.builder("gp_textures", config=config, data_dir=str(data_dir))
    config = GpTexturesConfig(name="tampered", **BASE)
    object.__setattr__(config, "size", 32)
    with pytest.raises(ValueError, match="argument `config`"):
        tfds.builder("gp_textures", config=config, data_dir=str(data_dir))
    # A string must be a built-in config's name.
    with pytest.raises(ValueError):
        tfds.builder("gp_textures", config="../escape", data_dir=str(data_dir))
    assert _files_under(tmp_path) == []


def test_build_writes_only_under_data_dir_and_builds_the_table_once(
    tmp_path, monkeypatch
):
    outer = tmp_path / "outer"
    data_dir, scratch = outer / "data", outer / "tmp"
    scratch.mkdir(parents=True)
    # Temporary files, if any, would land here rather than in the system's.
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    config = GpTexturesConfig(name="only_inside", **BASE)
    g._class_table.cache_clear()
    builder = tfds.builder("gp_textures", config=config, data_dir=str(data_dir))
    builder.download_and_prepare()
    assert builder.info.splits["train"].num_examples == 8
    # 12 examples, one class table.
    assert g._class_table.cache_info().misses == 1

    files = _files_under(outer)
    assert files, "the build wrote nothing"
    for path in files:
        assert data_dir in path.parents, path
    assert _files_under(scratch) == []
    version_dir = data_dir / "gp_textures" / "only_inside" / str(GpTextures.VERSION)
    assert (version_dir / "dataset_info.json").is_file()
    assert any(".tfrecord-" in p.name for p in version_dir.iterdir())
    # Everything outside the version directory is TFDS's bookkeeping inside
    # data_dir (downloads, the default-config marker), not data elsewhere.
    assert Path(builder.data_dir) == version_dir


# --- immutability ------


CONFIG_FIELDS = [
    ("name", "other"),
    ("size", 32),
    ("scales", ((1.0,),)),
    ("powers", (1.0, 1.0)),
    ("train_per_class", 3),
    ("test_per_class", 3),
    ("seed", 6),
    ("source", "published"),
    ("description", "changed"),
    ("version", "2.0.0"),
    ("tags", ["x"]),
    ("new_attribute", 1),
]


@pytest.mark.parametrize("field, value", CONFIG_FIELDS)
def test_config_attributes_cannot_be_assigned_or_deleted(field, value):
    config = GpTexturesConfig(name="frozen_probe", **BASE)
    before = (config.name, config.parameters(), config.recipe)
    with pytest.raises(dataclasses.FrozenInstanceError) as info:
        setattr(config, field, value)
    assert isinstance(info.value, (ImmutableConfigError, AttributeError))
    assert repr(field) in str(info.value)
    if field != "new_attribute":
        with pytest.raises(dataclasses.FrozenInstanceError):
            delattr(config, field)
    assert (config.name, config.parameters(), config.recipe) == before


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(g.GpRecipe)])
def test_recipe_inside_a_config_cannot_be_changed(field):
    config = GpTexturesConfig(name="frozen_probe", **BASE)
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(config.recipe, field, getattr(config.recipe, field))
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(g.PRESETS["small"], field, getattr(config.recipe, field))
    with pytest.raises(AttributeError):
        config.recipe = g.PRESETS["small"]
    # The stored values are tuples: no in-place change either.
    assert isinstance(config.scales, tuple) and isinstance(config.scales[0], tuple)
    assert isinstance(config.powers, tuple)


def test_built_in_configs_are_immutable():
    small = GpTextures.builder_configs["small"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        small.size = 4096
    assert small.size == 256


def test_copies_stay_immutable_and_equal():
    config = GpTexturesConfig(name="copy_probe", **BASE)
    for clone in (
        copy.copy(config),
        copy.deepcopy(config),
        pickle.loads(pickle.dumps(config)),
    ):
        assert clone.name == config.name and clone.recipe == config.recipe
        with pytest.raises(dataclasses.FrozenInstanceError):
            clone.size = 32
    changed = dataclasses.replace(config, size=32)
    assert changed.size == 32 and changed.recipe.size == 32 and config.size == 16


# --- splits, ranges and load_numpy ------

RECIPE = g.GpRecipe(**BASE)

BAD_CALLS = [
    ("split", lambda: g.split_arrays(RECIPE, "validation"), ValueError, "'validation'"),
    ("split", lambda: g.split_arrays(RECIPE, "TRAIN"), ValueError, "'TRAIN'"),
    ("split", lambda: g.split_arrays(RECIPE, 0), TypeError, "0"),
    ("split", lambda: g.split_arrays(RECIPE, None), TypeError, "None"),
    ("split", lambda: g.split_arrays(RECIPE, ["train"]), TypeError, "['train']"),
    ("split", lambda: tfds_gp.load_numpy("small", "valid"), ValueError, "'valid'"),
    ("split", lambda: RECIPE.num_examples(b"train"), TypeError, "b'train'"),
    ("start", lambda: g.split_arrays(RECIPE, "train", True), TypeError, "True"),
    ("start", lambda: g.split_arrays(RECIPE, "train", 1.0), TypeError, "1.0"),
    ("start", lambda: g.split_arrays(RECIPE, "train", -1), ValueError, "-1"),
    ("start", lambda: g.split_arrays(RECIPE, "train", 9), ValueError, "9"),
    ("stop", lambda: g.split_arrays(RECIPE, "train", 0, 9), ValueError, "9"),
    ("stop", lambda: g.split_arrays(RECIPE, "train", 5, 3), ValueError, "3"),
    ("stop", lambda: g.split_arrays(RECIPE, "train", 0, "8"), TypeError, "'8'"),
    ("stop", lambda: g.iter_split(RECIPE, "train", 0, 10**12), ValueError, str(10**12)),
    ("recipe", lambda: g.split_arrays("small", "train"), TypeError, "'small'"),
    ("index", lambda: g.example(RECIPE, "train", 8), ValueError, "index=8"),
    ("index", lambda: g.example(RECIPE, "train", -1), ValueError, "index=-1"),
    ("index", lambda: g.example(RECIPE, "train", 1.0), TypeError, "index=1.0"),
    ("index", lambda: g.example_rng(5, "train", -1), ValueError, "index=-1"),
    ("index", lambda: g.example_rng(5, "train", "0"), TypeError, "index='0'"),
    ("rng", lambda: g.field(2.0, 16, 0), TypeError, "rng=0"),
    ("recipe", lambda: g.split_arrays(dict(BASE), "train"), TypeError, "size"),
    ("config", lambda: tfds_gp.load_numpy("nope"), ValueError, "'nope'"),
    ("config", lambda: tfds_gp.load_numpy("../small"), ValueError, "'../small'"),
    ("config", lambda: tfds_gp.load_numpy(5), TypeError, "5"),
    ("config", lambda: tfds_gp.load_numpy(None), TypeError, "None"),
    (
        "config",
        lambda: tfds_gp.load_numpy(GpTextures.builder_configs["published"]),
        ValueError,
        "published",
    ),
    (
        "powers",
        lambda: g.sample((2.0,), (1e39,), 16, np.random.default_rng(0)),
        ValueError,
        "1e+39",
    ),
    (
        "powers",
        lambda: g.sample((2.0,), ("1",), 16, np.random.default_rng(0)),
        TypeError,
        "'1'",
    ),
    (
        "powers",
        lambda: g.sample((2.0, 3.0), (1.0,), 16, np.random.default_rng(0)),
        ValueError,
        "(1.0,)",
    ),
    (
        "cls",
        lambda: g.sample(2.0, (1.0,), 16, np.random.default_rng(0)),
        TypeError,
        "2.0",
    ),
    (
        "size",
        lambda: g.sample((2.0,), (1.0,), 10**5, np.random.default_rng(0)),
        ValueError,
        "100000",
    ),
]


@pytest.mark.parametrize(
    "argument, call, exception, shown",
    BAD_CALLS,
    ids=[f"{a}-{i}" for i, (a, _, _, _) in enumerate(BAD_CALLS)],
)
def test_bad_call_is_refused_naming_the_argument(argument, call, exception, shown):
    with pytest.raises(exception) as info:
        call()
    assert type(info.value) is exception
    _assert_names(info.value, argument, shown)


def test_numpy_integers_are_accepted_for_ranges_and_indices():
    images, labels = g.split_arrays(RECIPE, "train", np.int64(2), np.int32(5))
    whole, whole_labels = g.split_arrays(RECIPE, "train")
    assert images.tobytes() == whole[2:5].tobytes()
    assert labels.tolist() == whole_labels[2:5].tolist()
    image, _ = g.example(RECIPE, "train", np.uint8(3))
    assert image.tobytes() == whole[3, :, :, 0].tobytes()
    assert g.split_arrays(RECIPE, "train", 4, 4)[0].shape == (0, 16, 16, 1)
