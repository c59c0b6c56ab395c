"""Hostile files for the reader of the authors' published file.

Each crafted file must be refused with a ``ValueError`` whose message names
the file; none may crash the interpreter, run code or allocate far beyond its
size.  The pickles are written opcode by opcode (protocol 2 opcodes unless
said otherwise) so that they can say what ``pickle.dumps`` never would:
object or structured dtypes, a dtype changed after an array used it, a data
length that does not match the shape, a shape of 10**12 elements.  With a
reader built on ``pickle.Unpickler`` and an allow-list of the NumPy globals,
several of these kill the process with a segmentation fault; the reader now
interprets the opcodes itself and builds arrays only from validated numeric
dtypes (see ``tfds_gp/published.py``).

Crash checks run the reader in child processes that import only
``tfds_gp/published.py`` (NumPy, no TensorFlow), so that they start fast.
"""

from __future__ import annotations

import io
import json
import pickle
import struct
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tfds_gp import published
from tfds_gp.published import PublishedFileError

NAMES = ("9.5-80", "10-80", "9.5-140", "10-140")
SIZE = 8
PUBLISHED_PY = Path(published.__file__)

# --- writing pickles opcode by opcode -------------------------------------------

MARK, STOP, NONE, TRUE, FALSE = b"(", b".", b"N", b"\x88", b"\x89"
REDUCE, BUILD, APPEND, SETITEM = b"R", b"b", b"a", b"s"
PROTO2 = b"\x80\x02"
MULTIARRAY = "numpy.core.multiarray"


def glob(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def integer(value: int) -> bytes:
    return b"J" + struct.pack("<i", value)


def text(value: str) -> bytes:
    data = value.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def raw(value: bytes) -> bytes:
    return b"B" + struct.pack("<I", len(value)) + value


def tup(*items: bytes) -> bytes:
    return MARK + b"".join(items) + b"t"


def lst(*items: bytes) -> bytes:
    return MARK + b"".join(items) + b"l"


def dct(pairs: dict) -> bytes:
    return MARK + b"".join(integer(k) + text(v) for k, v in pairs.items()) + b"d"


def put(i: int) -> bytes:
    return b"r" + struct.pack("<I", i)


def get(i: int) -> bytes:
    return b"j" + struct.pack("<I", i)


def dtype_state(
    order="<", subarray=NONE, names=NONE, fields=NONE, elsize=-1, align=-1, flags=0
):
    return tup(
        integer(3),
        text(order),
        subarray,
        names,
        fields,
        integer(elsize),
        integer(align),
        integer(flags),
    )


def dtype(code: str, state: bytes | None = None) -> bytes:
    """numpy.dtype(code, False, True) and its BUILD, as NumPy pickles it."""
    state = dtype_state("|" if code[1:] == "1" else "<") if state is None else state
    return (
        glob("numpy", "dtype") + tup(text(code), FALSE, TRUE) + REDUCE + state + BUILD
    )


def array(dtype_ops: bytes, shape: tuple, data: bytes, fortran=FALSE) -> bytes:
    """_reconstruct(ndarray, (0,), b'b') and the BUILD with its state."""
    shape_ops = tup(
        *(
            integer(d) if d < 2**31 else b"\x8a\x08" + struct.pack("<q", d)
            for d in shape
        )
    )
    return (
        glob(MULTIARRAY, "_reconstruct")
        + tup(glob("numpy", "ndarray"), tup(integer(0)), raw(b"b"))
        + REDUCE
        + tup(integer(1), shape_ops, dtype_ops, fortran, raw(data))
        + BUILD
    )


def image(value=0.5, code="f4", size=SIZE) -> bytes:
    data = np.full((size, size), value, dtype="<" + code).tobytes()
    return array(dtype(code), (size, size), data)


def published_file(images: list[bytes], labels=None) -> bytes:
    """[[[image, label], ...], {label: name}] around the given array opcodes."""
    labels = [i % 4 for i in range(len(images))] if labels is None else labels
    records = lst(*(lst(im, integer(lb)) for im, lb in zip(images, labels)))
    return PROTO2 + tup(records, dct(dict(enumerate(NAMES)))) + STOP


def good_images(n=8) -> list[bytes]:
    return [image(float(i)) for i in range(n)]


def zip_bytes(payload: bytes, method=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=method) as archive:
        archive.writestr(published.MEMBER_NAME, payload)
    return buf.getvalue()


def patch_zip(data: bytes, **fields) -> bytes:
    """Rewrites fields of the first local header and its central entry.

    Supported: flag_bits, compress_type, file_size, compress_size.
    """
    data = bytearray(data)
    local = data.index(b"PK\x03\x04")
    central = data.index(b"PK\x01\x02")
    offsets = {  # (local header offset, central entry offset, struct format)
        "flag_bits": (6, 8, "<H"),
        "compress_type": (8, 10, "<H"),
        "compress_size": (18, 20, "<I"),
        "file_size": (22, 24, "<I"),
    }
    for name, value in fields.items():
        lo, co, fmt = offsets[name]
        struct.pack_into(fmt, data, local + lo, value)
        struct.pack_into(fmt, data, central + co, value)
    return bytes(data)


# --- the hostile files ----------------------------------------------------------

# Each: (name, bytes, words expected in the message).  Files are plain
# pickles (written as GP_9.5-10+80-140.gp) unless the name starts with
# "zip_" (written as dataset.zip).


def _dtype_changed_after_use() -> bytes:
    # The first image's dtype is memoised; after the array is made, a BUILD
    # on that dtype gives it the object flags (63) in place.
    first = array(dtype("f8") + put(1), (SIZE, SIZE), b"\x41" * (SIZE * SIZE * 8))
    later = get(1) + dtype_state("<", flags=63) + BUILD + b"0"  # BUILD, then POP
    return (
        PROTO2
        + tup(lst(lst(first + later, integer(0))), dct(dict(enumerate(NAMES))))
        + STOP
    )


def _array_rebuilt() -> bytes:
    # BUILD again on a finished array, now with an object dtype.
    first = image() + put(1)
    again = (
        get(1)
        + tup(integer(1), tup(integer(2)), dtype("f8"), FALSE, raw(b"A" * 16))
        + BUILD
        + b"0"
    )
    return (
        PROTO2
        + tup(lst(lst(first + again, integer(0))), dct(dict(enumerate(NAMES))))
        + STOP
    )


def _structured_dtype() -> bytes:
    # A 'V16' dtype with two fields, one of them an object: NumPy would read
    # pointers from the data bytes.
    fields = (
        MARK
        + text("a")
        + tup(dtype("O8", dtype_state("|", flags=63)), integer(0))
        + text("b")
        + tup(dtype("f8"), integer(8))
        + b"d"
    )
    state = dtype_state(
        "|",
        names=tup(text("a"), text("b")),
        fields=fields,
        elsize=16,
        align=1,
        flags=63,
    )
    return published_file(
        [array(dtype("V16", state), (SIZE, SIZE), b"\x41" * (SIZE * SIZE * 16))]
    )


def _fields_on_float() -> bytes:
    # A float code whose state claims fields: the state must not change it.
    fields = MARK + text("a") + tup(dtype("f8"), integer(0)) + b"d"
    state = dtype_state("<", names=tup(text("a")), fields=fields)
    return published_file(
        [array(dtype("f8", state), (SIZE, SIZE), b"\x41" * (SIZE * SIZE * 8))]
    )


def _subarray_dtype() -> bytes:
    state = dtype_state("|", subarray=tup(dtype("f8"), tup(integer(2))))
    return published_file(
        [array(dtype("f8", state), (SIZE, SIZE), b"\x41" * (SIZE * SIZE * 8))]
    )


def _deep_nesting() -> bytes:
    # 20,000 nested lists: fine for the stack machine, and nothing recurses
    # over them afterwards.
    return PROTO2 + b"]" * 20000 + b"a" * 19999 + STOP


def _self_reference() -> bytes:
    # records = [records, records]: a list that holds itself.
    records = b"]" + put(1) + get(1) + APPEND + get(1) + APPEND
    return PROTO2 + tup(records, dct(dict(enumerate(NAMES)))) + STOP


def _tuple_key_chain() -> bytes:
    # A 50,000-deep tuple as a dict key: hashing it would recurse in C.
    key = b")" + b"\x85" * 50000
    return PROTO2 + b"}" + key + integer(1) + SETITEM + STOP


def _many_references() -> bytes:
    # One 4 KiB array referenced by 9,000 records: each conversion would
    # copy; the reader refuses a repeated image.
    first = image() + put(1)
    records = lst(lst(first, integer(0)), *(lst(get(1), integer(0)) for _ in range(30)))
    return PROTO2 + tup(records, dct(dict(enumerate(NAMES)))) + STOP


def hostile_files() -> list[tuple[str, bytes, str]]:
    size_bytes = SIZE * SIZE * 4
    zeros = bytes(size_bytes)
    good = published_file(good_images())
    files = [
        # dtypes that are not plain numbers
        (
            "object_dtype",
            published_file(
                [
                    array(
                        dtype("O8", dtype_state("|", flags=63)),
                        (SIZE, SIZE),
                        b"\x41" * (SIZE * SIZE * 8),
                    )
                ]
            ),
            "dtype 'O8' is refused",
        ),
        (
            "void_dtype",
            published_file([array(dtype("V4"), (SIZE, SIZE), zeros)]),
            "dtype 'V4' is refused",
        ),
        ("structured_dtype", _structured_dtype(), "is refused"),
        ("fields_on_float", _fields_on_float(), "fields, names or metadata"),
        ("subarray_dtype", _subarray_dtype(), "sub-array"),
        (
            "bytes_dtype",
            published_file([array(dtype("S4"), (SIZE, SIZE), zeros)]),
            "dtype 'S4' is refused",
        ),
        (
            "unicode_dtype",
            published_file([array(dtype("U1"), (SIZE, SIZE), zeros)]),
            "dtype 'U1' is refused",
        ),
        (
            "datetime_dtype",
            published_file([array(dtype("M8"), (SIZE, SIZE), bytes(SIZE * SIZE * 8))]),
            "dtype 'M8' is refused",
        ),
        (
            "bool_dtype",
            published_file([array(dtype("b1"), (SIZE, SIZE), bytes(SIZE * SIZE))]),
            "dtype 'b1' is refused",
        ),
        (
            "complex_dtype",
            published_file([array(dtype("c8"), (SIZE, SIZE), bytes(SIZE * SIZE * 8))]),
            "dtype 'c8' is refused",
        ),
        (
            "object_flags_on_float",
            published_file(
                [
                    array(
                        dtype("f8", dtype_state("<", flags=63)),
                        (SIZE, SIZE),
                        bytes(SIZE * SIZE * 8),
                    )
                ]
            ),
            "dtype flags 63",
        ),
        (
            "dtype_changed_after_use",
            _dtype_changed_after_use(),
            "BUILD changes a dtype",
        ),
        ("array_rebuilt", _array_rebuilt(), "BUILD changes an array"),
        # sizes
        (
            "length_mismatch",
            published_file([array(dtype("f4"), (SIZE, SIZE), bytes(size_bytes - 1))]),
            f"has {size_bytes - 1} bytes of data; its shape and dtype need {size_bytes}",
        ),
        (
            "huge_shape",
            published_file([array(dtype("f4"), (10**6, 10**6), zeros)]),
            "refused before allocating",
        ),
        (
            "huge_shape_3d",
            published_file([array(dtype("f8"), (2**31, 2**31, 2**31), zeros)]),
            "refused before allocating",
        ),
        (
            "four_dimensions",
            published_file([array(dtype("f4"), (1, 1, SIZE, SIZE), zeros)]),
            "at most 3 non-negative ints",
        ),
        (
            "negative_shape",
            published_file([array(dtype("f4"), (-1, SIZE), zeros)]),
            "at most 3 non-negative ints",
        ),
        (
            "huge_bytes8_length",
            PROTO2 + b"\x8e" + struct.pack("<Q", 2**40) + b"xx" + STOP,
            "more than the",
        ),
        (
            "huge_bytes4_length",
            PROTO2 + b"B" + struct.pack("<I", 2**31) + b"xx" + STOP,
            "more than the",
        ),
        (
            "long_bytes4_length",
            PROTO2 + b"B" + struct.pack("<I", 1 << 20) + b"xx" + STOP,
            "ends early",
        ),
        (
            "huge_unicode_length",
            PROTO2 + b"X" + struct.pack("<I", 2**32 - 1) + b"xx" + STOP,
            "more than the",
        ),
        (
            "huge_integer",
            PROTO2 + b"\x8a\xff" + b"\x01" * 255 + STOP,
            "at most 64 bits",
        ),
        (
            "too_many_opcodes",
            PROTO2 + b"N0" * (published.MAX_OPCODES // 2 + 10) + b"N" + STOP,
            "more than 100000 opcodes",
        ),
        (
            "too_many_items",
            PROTO2 + b"]" + MARK + b"N" * (published.MAX_ITEMS + 1) + b"e" + STOP,
            "at most 10000 are allowed",
        ),
        ("many_references", _many_references(), "repeats the image of record 0"),
        # structures
        ("deep_nesting", _deep_nesting(), "top level is list of length 1"),
        (
            "self_reference",
            _self_reference(),
            "record 0 has an image of shape list of length 2",
        ),
        ("tuple_key_chain", _tuple_key_chain(), "a dict key is tuple"),
        # globals and opcodes that run code
        (
            "os_system",
            PROTO2 + glob("os", "system") + tup(text("true")) + REDUCE + STOP,
            "refused to load global 'os.system'",
        ),
        (
            "posix_system",
            PROTO2 + glob("posix", "system") + tup(text("true")) + REDUCE + STOP,
            "refused to load global 'posix.system'",
        ),
        (
            "builtins_eval",
            PROTO2 + glob("builtins", "eval") + tup(text("1")) + REDUCE + STOP,
            "refused to load global 'builtins.eval'",
        ),
        (
            "numpy_load",
            PROTO2 + glob("numpy", "load") + tup(text("x.npy")) + REDUCE + STOP,
            "refused to load global 'numpy.load'",
        ),
        (
            "numpy_frombuffer",
            PROTO2 + glob("numpy", "frombuffer") + tup(raw(b"abcd")) + REDUCE + STOP,
            "refused to load global 'numpy.frombuffer'",
        ),
        (
            "stack_global_eval",
            b"\x80\x04"
            + b"\x8c\x08builtins\x8c\x04eval\x93"
            + tup(text("1"))
            + REDUCE
            + STOP,
            "refused to load global 'builtins.eval'",
        ),
        (
            "stack_global_not_str",
            b"\x80\x04" + integer(1) + integer(2) + b"\x93" + STOP,
            "names must be strings",
        ),
        (
            "ndarray_called",
            PROTO2 + glob("numpy", "ndarray") + tup(tup(integer(2))) + REDUCE + STOP,
            "numpy.ndarray is called directly",
        ),
        (
            "codecs_zlib",
            PROTO2
            + glob("_codecs", "encode")
            + tup(text("x"), text("zlib_codec"))
            + REDUCE
            + STOP,
            "encoding 'zlib_codec'",
        ),
        (
            "inst_opcode",
            b"ios\nsystem\n" + MARK + text("true") + STOP,
            "opcode INST is refused",
        ),
        (
            "obj_opcode",
            PROTO2 + MARK + glob("os", "system") + text("true") + b"o" + STOP,
            "refused to load global",
        ),
        (
            "newobj_opcode",
            PROTO2 + glob("numpy", "dtype") + tup(text("f4")) + b"\x81" + STOP,
            "opcode NEWOBJ is refused",
        ),
        (
            "persistent_id",
            PROTO2 + text("x") + b"Q" + STOP,
            "opcode BINPERSID is refused",
        ),
        ("extension_code", PROTO2 + b"\x82\x01" + STOP, "opcode EXT1 is refused"),
        ("out_of_band_buffer", b"\x80\x05\x97" + STOP, "opcode NEXT_BUFFER is refused"),
        ("set_opcode", b"\x80\x04\x8f" + STOP, "opcode EMPTY_SET is refused"),
        ("unknown_opcode", PROTO2 + b"\xff" + STOP, "is not a pickle opcode"),
        (
            "pop_below_mark",
            PROTO2 + b"NN(" + REDUCE + STOP,
            "pops an empty stack or a MARK",
        ),
        ("mark_left_at_stop", PROTO2 + b"(N" + STOP, "1 marks on the stack at STOP"),
        (
            "build_on_list",
            PROTO2 + b"]" + b"}" + BUILD + STOP,
            "BUILD sets the state of list",
        ),
        (
            "array_before_build",
            PROTO2
            + glob(MULTIARRAY, "_reconstruct")
            + tup(glob("numpy", "ndarray"), tup(integer(0)), raw(b"b"))
            + REDUCE
            + b"\x85"
            + STOP,
            "used before its data were given",
        ),
        ("dtype_returned", PROTO2 + dtype("f4") + STOP, "returns a NumPy dtype"),
        (
            "global_returned",
            PROTO2 + lst(glob("numpy", "ndarray")) + STOP,
            "returns the NumPy name numpy.ndarray",
        ),
        ("trailing_data", good + b"junk", "data continue after the pickle"),
        ("truncated", good[: len(good) // 2], "ends early"),
        ("empty", b"", "ends early"),
        # values
        (
            "nan_image",
            published_file([image(float("nan"))] + good_images(7)),
            "non-finite",
        ),
        (
            "inf_image",
            published_file(good_images(7) + [image(float("inf"))]),
            "non-finite",
        ),
        (
            "float64_overflow",
            published_file([image(1e300, code="f8")] + good_images(7)),
            "non-finite",
        ),
    ]
    # --- zip archives ---
    good_zip = zip_bytes(good)
    stored = zip_bytes(good, method=zipfile.ZIP_STORED)
    member_at = stored.index(good)
    bad_crc = bytearray(stored)
    bad_crc[member_at + 40] ^= 0xFF
    start = good_zip.index(b"PK\x03\x04") + 30 + len(published.MEMBER_NAME)
    bad_deflate = bytearray(good_zip)
    for i in range(start + 2, start + 40):
        bad_deflate[i] = 0xFF
    # A member that inflates to 64 MiB while its header says 2,000 bytes.
    bomb_payload = (
        PROTO2 + b"\x8e" + struct.pack("<Q", 64 << 20) + bytes(64 << 20) + STOP
    )
    lying = zip_bytes(bomb_payload)
    files += [
        (
            "zip_declares_huge_size",
            patch_zip(good_zip, file_size=2**31),
            "more than the",
        ),
        ("zip_lying_size", patch_zip(lying, file_size=2000), "Bad CRC-32"),
        ("zip_encrypted", patch_zip(good_zip, flag_bits=0x1), "encrypted"),
        (
            "zip_strong_encryption",
            patch_zip(good_zip, flag_bits=0x40),
            "cannot open the archive member",
        ),
        (
            "zip_unsupported_method",
            patch_zip(good_zip, compress_type=99),
            "unsupported compression method 99",
        ),
        (
            "zip_deflate64",
            patch_zip(good_zip, compress_type=9),
            "unsupported compression method 9",
        ),
        (
            "zip_bzip2",
            zip_bytes(good, method=zipfile.ZIP_BZIP2),
            "unsupported compression method 12",
        ),
        (
            "zip_lzma",
            zip_bytes(good, method=zipfile.ZIP_LZMA),
            "unsupported compression method 14",
        ),
        ("zip_bad_crc", bytes(bad_crc), "BadZipFile"),
        ("zip_bad_deflate", bytes(bad_deflate), "damaged data"),
        ("zip_truncated", good_zip[: len(good_zip) // 2], "damaged zip archive"),
        ("zip_truncated_member", patch_zip(good_zip, compress_size=40), "damaged data"),
        (
            "zip_refused_global",
            zip_bytes(
                PROTO2 + glob("os", "system") + tup(text("true")) + REDUCE + STOP
            ),
            "refused to load global 'os.system'",
        ),
        (
            "zip_object_dtype",
            zip_bytes(
                published_file(
                    [
                        array(
                            dtype("O8", dtype_state("|", flags=63)),
                            (SIZE, SIZE),
                            b"\x41" * (SIZE * SIZE * 8),
                        )
                    ]
                )
            ),
            "dtype 'O8' is refused",
        ),
    ]
    return files


HOSTILE = hostile_files()
# Files that an unpickler-based reader (pickle.Unpickler with the NumPy
# globals allowed) turned into a crash or a corrupted array: a segmentation
# fault ("datetime_dtype"), a SystemError ("object_flags_on_float"), a dtype
# changed under a live array ("dtype_changed_after_use": a RuntimeError when
# the array is freed), arrays with fields or sub-arrays loaded as images.
CRASHERS = [
    "datetime_dtype",
    "object_dtype",
    "structured_dtype",
    "fields_on_float",
    "subarray_dtype",
    "object_flags_on_float",
    "dtype_changed_after_use",
    "array_rebuilt",
]


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    path = folder / (
        published.ZIP_NAME if name.startswith("zip_") else published.MEMBER_NAME
    )
    path.write_bytes(data)
    return path


def test_crafting_helpers_make_a_readable_file(tmp_path):
    # The crafted layout is the real one: without the hostile part it loads.
    path = _write(tmp_path, "good", published_file(good_images()))
    out = published.read_published(path, size=SIZE, class_names=NAMES)
    assert [lb for _, lb in out] == [i % 4 for i in range(8)]
    np.testing.assert_array_equal(out[3][0], np.full((SIZE, SIZE), 3.0, np.float32))
    assert out[3][0].flags.writeable and out[3][0].flags.owndata
    zipped = _write(tmp_path, "zip_good", zip_bytes(published_file(good_images())))
    assert len(published.read_published(zipped, size=SIZE, class_names=NAMES)) == 8


@pytest.mark.parametrize("name, data, words", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_file_is_refused_naming_it(tmp_path, name, data, words):
    path = _write(tmp_path, name, data)
    with pytest.raises(ValueError) as info:
        published.read_published(path, size=SIZE, class_names=NAMES)
    message = str(info.value)
    assert isinstance(info.value, PublishedFileError)
    assert str(path) in message, message
    if name.startswith("zip_") and "damaged zip archive" not in words:
        assert published.MEMBER_NAME in message, message
    assert words in message, message
    assert len(message) < 1000, message


_CHILD = textwrap.dedent(
    """
    import importlib.util, json, resource, sys
    spec = importlib.util.spec_from_file_location("published", sys.argv[1])
    published = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(published)
    results = {}
    for path in sys.argv[2:]:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            published.read_published(path, size=8, class_names=("9.5-80", "10-80", "9.5-140", "10-140"))
            results[path] = ["loaded", "", 0]
        except ValueError as err:
            grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
            results[path] = [type(err).__name__, str(err), grown]
    print(json.dumps(results))
    """
)


def _run_child(paths: list[Path]) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(PUBLISHED_PY), *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    # A negative return code is a signal (-11: segmentation fault).
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    return json.loads(proc.stdout)


def test_every_hostile_file_in_one_child_process(tmp_path):
    paths = [_write(tmp_path, name, data) for name, data, _ in HOSTILE]
    results = _run_child(paths)
    for path in paths:
        kind, message, _ = results[str(path)]
        assert kind in (
            "PublishedFileError",
            "RefusedPickleError",
            "RefusedGlobalError",
        ), (path, kind)
        assert str(path) in message


@pytest.mark.parametrize("name", CRASHERS)
def test_crash_candidate_in_its_own_child_process(tmp_path, name):
    data = next(d for n, d, _ in HOSTILE if n == name)
    path = _write(tmp_path, name, data)
    kind, message, _ = _run_child([path])[str(path)]
    assert kind.endswith("Error") and str(path) in message


_FUZZ_CHILD = textwrap.dedent(
    """
    import importlib.util, io, pickle, random, sys, zipfile
    import numpy as np
    spec = importlib.util.spec_from_file_location("published", sys.argv[1])
    published = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(published)
    names = ("9.5-80", "10-80", "9.5-140", "10-140")
    rng = np.random.default_rng(0)
    seeds = []
    for protocol in range(6):
        for label in (int, np.int64):
            records = [[rng.standard_normal((8, 8)).astype(np.float32), label(i % 4)] for i in range(4)]
            payload = pickle.dumps((records, dict(enumerate(names))), protocol=protocol)
            seeds.append(("fuzz.gp", payload))
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                archive.writestr(published.MEMBER_NAME, payload)
            seeds.append(("fuzz.zip", buf.getvalue()))
    r = random.Random(int(sys.argv[2]))
    outcomes = {"loaded": 0, "refused": 0}
    for _ in range(int(sys.argv[3])):
        source, data = r.choice(seeds)
        data = bytearray(data)
        for _ in range(r.randint(1, 4)):
            pos = r.randrange(len(data))
            k = r.random()
            if k < 0.6:
                data[pos] = r.randrange(256)
            elif k < 0.8:
                del data[pos:pos + r.randint(1, 8)]
            else:
                j = r.randrange(len(data))
                data[pos:pos] = data[j:j + r.randint(1, 40)]
        try:
            published.read_published(io.BytesIO(bytes(data)), size=8, class_names=names, source=source)
            outcomes["loaded"] += 1
        except published.PublishedFileError as err:
            assert str(err).startswith(source), str(err)
            outcomes["refused"] += 1
    print(outcomes)
    """
)


def test_mutated_files_never_crash_and_errors_name_the_file():
    # 3000 random mutations (bytes changed, removed, duplicated) of valid
    # files of every protocol, plain and zipped, in a child process: each
    # either loads or raises PublishedFileError naming the file.
    proc = subprocess.run(
        [sys.executable, "-c", _FUZZ_CHILD, str(PUBLISHED_PY), "7", "3000"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    assert "'refused'" in proc.stdout


def test_huge_sizes_are_refused_without_allocating(tmp_path):
    # Peak memory (ru_maxrss, KiB) of the child grows by less than 32 MiB
    # while it refuses a 10**12-element shape, a 2**40-byte string and a
    # member that inflates to 64 MiB behind a 2,000-byte header.
    names = [
        "huge_shape",
        "huge_shape_3d",
        "huge_bytes8_length",
        "huge_bytes4_length",
        "zip_lying_size",
        "zip_declares_huge_size",
    ]
    paths = [
        _write(tmp_path, n, next(d for m, d, _ in HOSTILE if m == n)) for n in names
    ]
    results = _run_child(paths)
    for path in paths:
        kind, message, grown_kib = results[str(path)]
        assert str(path) in message
        assert grown_kib < 32 * 1024, (path, grown_kib)


def test_refused_globals_are_unpickling_errors_and_run_nothing(tmp_path):
    marker = tmp_path / "pwned"
    payload = (
        PROTO2 + glob("os", "system") + tup(text(f"touch {marker}")) + REDUCE + STOP
    )
    path = _write(tmp_path, "zip_system", zip_bytes(payload))
    with pytest.raises(pickle.UnpicklingError) as info:
        published.read_published(path, size=SIZE, class_names=NAMES)
    assert isinstance(info.value, ValueError)
    assert str(path) in str(info.value)
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_pickle_dumps_of_hostile_reductions(tmp_path, protocol):
    # pickle.dumps with only admitted globals: an object array reduced by
    # NumPy's own functions, and a hand-made reduction to a structured dtype.
    reconstruct = getattr(np, "_core", None) or np.core
    reconstruct = reconstruct.multiarray._reconstruct

    class Evil:
        def __init__(self, dt):
            self.dt = dt

        def __reduce__(self):
            return (
                reconstruct,
                (np.ndarray, (0,), b"b"),
                (
                    1,
                    (SIZE, SIZE),
                    self.dt,
                    False,
                    b"\x41" * (SIZE * SIZE * self.dt.itemsize),
                ),
            )

    for dt in (
        np.dtype("O"),
        np.dtype([("a", "O"), ("b", "f8")]),
        np.dtype("V8"),
        np.dtype(("f8", (2,))),
    ):
        obj = [[[Evil(dt), 0]], dict(enumerate(NAMES))]
        path = tmp_path / f"{protocol}_{len(list(tmp_path.iterdir()))}.gp"
        path.write_bytes(pickle.dumps(obj, protocol=protocol))
        with pytest.raises(PublishedFileError) as info:
            published.read_published(path, size=SIZE, class_names=NAMES)
        assert str(path) in str(info.value) and "refused" in str(info.value)
    # NumPy's own pickle of an object array (a list inside, not bytes).
    path = tmp_path / f"object_array_{protocol}.gp"
    path.write_bytes(
        pickle.dumps([[[np.array([1, "x"], dtype=object), 0]], {}], protocol=protocol)
    )
    with pytest.raises(PublishedFileError, match="dtype 'O8' is refused") as info:
        published.read_published(path, size=SIZE, class_names=NAMES)
    assert str(path) in str(info.value)


def test_numeric_variants_still_load(tmp_path):
    # Big-endian float32, float64, float16 and Fortran-ordered images are
    # converted to float32; numpy int64 labels become ints.
    rng = np.random.default_rng(1)
    images = [
        rng.standard_normal((SIZE, SIZE)).astype(dt)
        for dt in (">f4", "<f8", "<f2", "<f4")
    ]
    images[3] = np.asfortranarray(images[3])
    obj = ([[im, np.int64(i)] for i, im in enumerate(images)], dict(enumerate(NAMES)))
    for protocol in (0, 2, 3, 4, 5):
        path = tmp_path / f"variants_{protocol}.gp"
        path.write_bytes(pickle.dumps(obj, protocol=protocol))
        out = published.read_published(path, size=SIZE, class_names=NAMES)
        for (got, label), want, i in zip(out, images, range(4)):
            assert got.dtype == np.float32 and label == i and type(label) is int
            np.testing.assert_array_equal(got, want.astype(np.float32))


def test_restricted_load_rejects_wrong_argument_types():
    with pytest.raises(
        TypeError, match=r"`file`: expected a binary file object.*file=b'not a file'"
    ):
        published.restricted_load(b"not a file")
    with pytest.raises(
        TypeError, match=r"`size`: expected an int from 1 to 4096.*size='8'"
    ):
        published.read_published("x", size="8")
    with pytest.raises(
        ValueError, match=r"`size`: expected an int from 1 to 4096.*size=0"
    ):
        published.read_published("x", size=0)
    with pytest.raises(
        TypeError, match=r"`path`: expected a path or a binary file object.*path=42"
    ):
        published.read_published(42)
    with pytest.raises(
        TypeError,
        match=r"`max_elements`: expected a non-negative int.*max_elements=1.5",
    ):
        published.restricted_load(io.BytesIO(b""), max_elements=1.5)
    with pytest.raises(
        ValueError,
        match=r"`max_elements`: expected a non-negative int.*max_elements=-1",
    ):
        published.restricted_load(io.BytesIO(b""), max_elements=-1)
    with pytest.raises(
        TypeError,
        match=r"`class_names`: expected a sequence of strings.*class_names='ab'",
    ):
        published.read_published("x", class_names="ab")
    with pytest.raises(
        TypeError,
        match=r"`path`: expected a file opened in binary mode.*\(type StringIO\)",
    ):
        published.read_published(io.StringIO("text"))


def test_tfds_build_of_hostile_zip_names_the_file(tmp_path):
    # The `published` config's train split reads the manual directory's
    # dataset.zip; the build fails with an error naming it, in-process.
    tfds = pytest.importorskip("tensorflow_datasets")
    from tfds_gp.gp_textures import GpTexturesConfig

    config = GpTexturesConfig(
        name="tiny_published_hostile",
        size=SIZE,
        scales=[[0.5, 0.75], [1.0, 1.5]],
        powers=[0.75, 1.25],
        train_per_class=2,
        test_per_class=1,
        seed=5,
        source="published",
    )
    names = [c.name for c in config.recipe.classes]
    manual = tmp_path / "manual"
    manual.mkdir()
    for name in ("zip_object_dtype", "zip_bad_deflate"):
        data = next(d for n, d, _ in HOSTILE if n == name)
        if name == "zip_object_dtype":
            # The hostile array inside a file with this config's class names.
            bad = array(
                dtype("O8", dtype_state("|", flags=63)),
                (SIZE, SIZE),
                b"\x41" * (SIZE * SIZE * 8),
            )
            records = lst(
                *(lst(bad if i == 0 else image(), integer(i % 4)) for i in range(8))
            )
            pairs = (
                MARK
                + b"".join(integer(i) + text(n) for i, n in enumerate(names))
                + b"d"
            )
            data = zip_bytes(PROTO2 + tup(records, pairs) + STOP)
        (manual / published.ZIP_NAME).write_bytes(data)
        builder = tfds.builder(
            "gp_textures", config=config, data_dir=str(tmp_path / f"data_{name}")
        )
        with pytest.raises(PublishedFileError) as info:
            builder.download_and_prepare(
                download_config=tfds.download.DownloadConfig(manual_dir=str(manual))
            )
        assert str(manual / published.ZIP_NAME) in str(info.value)


def test_text_made_into_bytes_many_times_is_capped(tmp_path, monkeypatch):
    # One memoised 64 KiB string encoded over and over (protocol 2 bytes):
    # the total is capped (here lowered to 1 MiB to keep the test small).
    monkeypatch.setattr(published, "MAX_FILE_BYTES", 1 << 20)
    text64k = text("a" * (1 << 16)) + put(1)
    encode = glob("_codecs", "encode") + put(2)
    once = get(2) + tup(get(1), text("latin1")) + REDUCE
    payload = PROTO2 + lst(encode + b"0" + text64k + b"0" + once, *([once] * 20)) + STOP
    path = _write(tmp_path, "encoded_often", payload)
    with pytest.raises(
        PublishedFileError, match="byte strings made from text exceed 1048576"
    ) as info:
        published.read_published(path, size=SIZE, class_names=NAMES)
    assert str(path) in str(info.value)


def test_total_array_elements_are_capped(tmp_path, monkeypatch):
    monkeypatch.setattr(published, "MAX_ARRAY_ELEMENTS", 5 * SIZE * SIZE)
    path = _write(tmp_path, "many_images", published_file(good_images(8)))
    with pytest.raises(PublishedFileError, match="refused before allocating") as info:
        published.read_published(path, size=SIZE, class_names=NAMES)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    "payload, words",
    [
        (b"I" + b"1" * 10000 + b"\n.", "longer than the 8192 bytes"),
        (b"S" + b"x" * 5000 + b"\n.", "longer than the 4096 bytes"),
        (b"S'abc\n.", "without matching quotes"),
        (b"F" + b"9" * 9000 + b"\n.", "longer than the 8192 bytes"),
        (b"cos\n" + b"s" * 9000 + b"\n.", "longer than the 8192 bytes"),
    ],
    ids=["int", "string", "string_quotes", "float", "global"],
)
def test_protocol0_text_arguments_are_bounded(tmp_path, payload, words):
    # A long line is refused as soon as it passes its limit, before the
    # parser could quote it in a message.
    path = _write(tmp_path, "text", payload)
    with pytest.raises(PublishedFileError, match=words) as info:
        published.read_published(path, size=SIZE, class_names=NAMES)
    assert str(path) in str(info.value) and len(str(info.value)) < 1000


def _py2_array(data: bytes, protocol0: bool) -> bytes:
    """An array as Python 2's NumPy pickled it: byte strings as STRING
    (protocol 0, quoted and escaped) or BINSTRING (protocol 2), ints for the
    dtype flags."""

    def py2str(value: bytes) -> bytes:
        if protocol0:
            return b"S" + repr(value)[1:].encode("ascii") + b"\n"
        return b"T" + struct.pack("<i", len(value)) + value

    dtype_ops = (
        glob("numpy", "dtype")
        + tup(py2str(b"f4"), integer(0), integer(1))
        + REDUCE
        + tup(
            integer(3),
            py2str(b"<"),
            NONE,
            NONE,
            NONE,
            integer(-1),
            integer(-1),
            integer(0),
        )
        + BUILD
    )
    return (
        glob(MULTIARRAY, "_reconstruct")
        + tup(glob("numpy", "ndarray"), tup(integer(0)), py2str(b"b"))
        + REDUCE
        + tup(
            integer(1),
            tup(integer(SIZE), integer(SIZE)),
            dtype_ops,
            integer(0),
            py2str(data),
        )
        + BUILD
    )


@pytest.mark.parametrize("protocol0", [True, False], ids=["string", "binstring"])
def test_python2_style_pickles_load(tmp_path, protocol0):
    rng = np.random.default_rng(2)
    images = [rng.standard_normal((SIZE, SIZE)).astype("<f4") for _ in range(4)]
    records = lst(
        *(
            lst(_py2_array(im.tobytes(), protocol0), integer(i))
            for i, im in enumerate(images)
        )
    )
    path = _write(
        tmp_path, "py2", PROTO2 + tup(records, dct(dict(enumerate(NAMES)))) + STOP
    )
    out = published.read_published(path, size=SIZE, class_names=NAMES)
    for (got, label), want, i in zip(out, images, range(4)):
        np.testing.assert_array_equal(got, want)
        assert label == i


def test_zip_with_a_huge_directory_is_refused_before_parsing(tmp_path):
    # 12,000 entries (1.5 MB of central directory): zipfile would make an
    # object for each; the directory's size is checked first.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(published.MEMBER_NAME, published_file(good_images()))
        for i in range(12000):
            archive.writestr(f"{i:080d}", b"")
    path = _write(tmp_path, "zip_many_entries", buf.getvalue())
    with pytest.raises(PublishedFileError, match="directory declares") as info:
        published.read_published(path, size=SIZE, class_names=NAMES)
    assert str(path) in str(info.value)


def test_zip_read_from_an_offset_in_a_stream(tmp_path):
    # A file object positioned after other data still reads (the directory
    # check puts the position back).
    data = zip_bytes(published_file(good_images()))
    stream = io.BytesIO(b"x" * 100 + data)
    stream.seek(100)
    assert (
        len(
            published.read_published(
                stream, size=SIZE, class_names=NAMES, source="s.zip"
            )
        )
        == 8
    )
