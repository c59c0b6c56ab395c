"""Tests of the safe reader of the authors' published file (pickle inside a zip)."""

from __future__ import annotations

import io
import os
import pickle
import zipfile

import numpy as np
import pytest

from tfds_gp import published
from tfds_gp.published import PublishedFileError

NAMES = ("9.5-80", "10-80", "9.5-140", "10-140")
SIZE = 8


def _records(n_per_class=2, size=SIZE, label_type=int):
    rng = np.random.default_rng(0)
    records = []
    for _ in range(n_per_class):
        for label in range(4):
            image = rng.standard_normal((size, size)).astype(np.float32)
            records.append([image, label_type(label)])
    return [records, dict(enumerate(NAMES))]


def _write_zip(path, payload: bytes, member=published.MEMBER_NAME):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(member, payload)
    return path


@pytest.mark.parametrize("protocol", [0, 2, 3, 4, 5])
@pytest.mark.parametrize("label_type", [int, np.int64])
def test_reads_every_pickle_protocol_from_zip(tmp_path, protocol, label_type):
    # The reference wrote the file with pickle.dump (protocol 3 on the
    # Python of 2018); every protocol NumPy arrays can take must load.
    obj = _records(label_type=label_type)
    path = _write_zip(tmp_path / "dataset.zip", pickle.dumps(obj, protocol=protocol))
    out = published.read_published(path, size=SIZE, class_names=NAMES)
    assert len(out) == 8
    for (image, label), (want_image, want_label) in zip(out, obj[0]):
        assert image.dtype == np.float32
        np.testing.assert_array_equal(image, want_image)
        assert label == int(want_label) and type(label) is int


def test_reads_extracted_member_and_open_file(tmp_path):
    payload = pickle.dumps(_records(), protocol=4)
    path = tmp_path / published.MEMBER_NAME
    path.write_bytes(payload)
    assert len(published.read_published(path, size=SIZE, class_names=NAMES)) == 8
    out = published.read_published(io.BytesIO(payload), size=SIZE, class_names=NAMES)
    assert len(out) == 8


class _Exploit:
    """Pickles to a call of a dangerous global with a marker-file side effect."""

    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


@pytest.mark.parametrize("kind", ["os.system", "builtins.exec", "subprocess", "nested"])
def test_malicious_pickle_is_refused_without_running(tmp_path, kind):
    marker = tmp_path / "pwned"
    if kind == "os.system":
        bomb = _Exploit(os.system, (f"touch {marker}",))
    elif kind == "builtins.exec":
        bomb = _Exploit(exec, (f"open({str(marker)!r}, 'w').close()",))
    elif kind == "subprocess":
        import subprocess

        bomb = _Exploit(subprocess.call, (["touch", str(marker)],))
    else:  # hidden inside an otherwise valid record list
        bomb = _Exploit(os.system, (f"touch {marker}",))
    obj = _records()
    if kind == "nested":
        obj[0][3][1] = bomb
    else:
        obj = bomb
    path = _write_zip(tmp_path / "dataset.zip", pickle.dumps(obj, protocol=4))
    with pytest.raises(pickle.UnpicklingError) as info:
        published.read_published(path, size=SIZE, class_names=NAMES)
    message = str(info.value)
    assert "refused to load global" in message
    assert published.MEMBER_NAME in message and "dataset.zip" in message
    assert not marker.exists()
    # The unpickler alone refuses it too, naming the global.
    with pytest.raises(
        pickle.UnpicklingError,
        match=r"refused to load global '(posix|os|builtins|__builtin__|subprocess|commands)\.",
    ):
        published.restricted_load(io.BytesIO(pickle.dumps(obj, protocol=2)), "x.gp")
    assert not marker.exists()


def test_codecs_encode_is_limited_to_text_encodings():
    # _codecs.encode is admitted for protocol-2 bytes; a bytes-to-bytes codec
    # through it is refused.
    payload = (
        b"\x80\x02c_codecs\nencode\nq\x00X\x03\x00\x00\x00abcq\x01X\x04\x00\x00\x00"
        b"zlibq\x02\x86q\x03Rq\x04."
    )
    with pytest.raises(pickle.UnpicklingError, match="encoding 'zlib'"):
        published.restricted_load(io.BytesIO(payload), "x.gp")


def test_missing_file_names_it(tmp_path):
    path = tmp_path / "dataset.zip"
    with pytest.raises(PublishedFileError) as info:
        published.read_published(path)
    assert str(path) in str(info.value)
    assert "10.5281/zenodo.1252464" in str(info.value)


def test_truncated_pickle_names_file(tmp_path):
    payload = pickle.dumps(_records(), protocol=4)
    path = tmp_path / published.MEMBER_NAME
    path.write_bytes(payload[: len(payload) // 2])
    with pytest.raises(PublishedFileError) as info:
        published.read_published(path, size=SIZE, class_names=NAMES)
    assert str(path) in str(info.value) and "ends early" in str(info.value)
    with pytest.raises(PublishedFileError, match="ends early"):
        published.restricted_load(io.BytesIO(payload[:3]), "x.gp")


def test_truncated_zip_names_file(tmp_path):
    path = _write_zip(tmp_path / "dataset.zip", pickle.dumps(_records(), protocol=4))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(PublishedFileError) as info:
        published.read_published(path, size=SIZE, class_names=NAMES)
    assert str(path) in str(info.value)


def test_zip_without_member(tmp_path):
    path = _write_zip(tmp_path / "dataset.zip", b"x", member="other.gp")
    with pytest.raises(PublishedFileError, match=r"no member GP_9\.5-10\+80-140\.gp"):
        published.read_published(path, size=SIZE, class_names=NAMES)


def test_wrong_shape_says_what_was_expected(tmp_path):
    path = _write_zip(tmp_path / "dataset.zip", pickle.dumps(_records(size=6)))
    with pytest.raises(PublishedFileError) as info:
        published.read_published(path, size=SIZE, class_names=NAMES)
    message = str(info.value)
    assert "dataset.zip" in message
    assert "record 0 has an image of shape (6, 6)" in message
    assert f"float32 array ({SIZE}, {SIZE})" in message


@pytest.mark.parametrize(
    "mutate, words",
    [
        (lambda o: o[0], "top level"),
        (lambda o: [o[0], list(o[1].items())], "found (list, list)"),
        (lambda o: [o[0], {0: "a", 1: "b", 2: "c", 3: "d"}], "class names"),
        (lambda o: [[[r[0], 7] for r in o[0]], o[1]], "label 7"),
        (
            lambda o: [[[r[0].astype(np.int32), r[1]] for r in o[0]], o[1]],
            "dtype int32",
        ),
        (lambda o: [[r[0] for r in o[0]], o[1]], "not an [image, label] pair"),
        (lambda o: [[], o[1]], "holds no records"),
    ],
)
def test_wrong_structure_is_reported(tmp_path, mutate, words):
    path = tmp_path / published.MEMBER_NAME
    path.write_bytes(pickle.dumps(mutate(_records())))
    with pytest.raises(PublishedFileError) as info:
        published.read_published(path, size=SIZE, class_names=NAMES)
    assert words in str(info.value)
    assert str(path) in str(info.value)
