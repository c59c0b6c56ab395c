"""Safe reader for the authors' published dataset file (NumPy only).

Zenodo record 1252464 (DOI 10.5281/zenodo.1252464) distributes
``dataset.zip``, which holds ``GP_9.5-10+80-140.gp``: a Python pickle of
``[[[image, label], ...], {label: name}]`` with float32 ``1024 x 1024``
images and integer labels, as written by the reference ``GP_create.py``.

A pickle can run arbitrary code when loaded, so this module never calls
``pickle.load``.  :class:`RestrictedUnpickler` resolves only the globals that
NumPy arrays, dtypes and scalars need; any other global (``os.system``,
``builtins.eval``, ``subprocess.Popen``, ...) makes it raise
``pickle.UnpicklingError`` before anything is called.  Lists, tuples, dicts,
ints, floats and strings are built by pickle opcodes and need no global.
"""

from __future__ import annotations

import importlib
import io
import os
import pickle
import zipfile
from typing import IO, Any, Sequence

import numpy as np

__all__ = [
    "ZIP_NAME",
    "MEMBER_NAME",
    "PublishedFileError",
    "RefusedGlobalError",
    "RestrictedUnpickler",
    "restricted_load",
    "read_published",
]

ZIP_NAME = "dataset.zip"
MEMBER_NAME = "GP_9.5-10+80-140.gp"


class PublishedFileError(ValueError):
    """The published file is missing, truncated or not in the expected format."""


class RefusedGlobalError(pickle.UnpicklingError):
    """The pickle references a global outside the allowed NumPy set."""


def _numpy_module(name: str):
    # NumPy 2 moved numpy.core to numpy._core; pickles written by either
    # version name either module, and both resolve to the same objects.
    try:
        return importlib.import_module(f"numpy._core.{name}")
    except ImportError:  # NumPy < 2
        return importlib.import_module(f"numpy.core.{name}")


def _allowed_globals() -> dict[tuple[str, str], Any]:
    multiarray = _numpy_module("multiarray")
    numeric = _numpy_module("numeric")
    allowed: dict[tuple[str, str], Any] = {}
    for package in ("numpy.core", "numpy._core"):
        # ndarray.__reduce__ (protocols 0-4) and numpy scalars (e.g. an
        # np.int64 label) go through these two functions.
        allowed[(f"{package}.multiarray", "_reconstruct")] = multiarray._reconstruct
        allowed[(f"{package}.multiarray", "scalar")] = multiarray.scalar
        # ndarray.__reduce_ex__ with protocol 5.
        allowed[(f"{package}.numeric", "_frombuffer")] = numeric._frombuffer
    allowed[("numpy", "ndarray")] = np.ndarray
    allowed[("numpy", "dtype")] = np.dtype
    # Python 3 pickles bytes as _codecs.encode(str, 'latin1') below protocol
    # 3; encoding text to bytes cannot execute code.
    allowed[("_codecs", "encode")] = _codecs_encode
    return allowed


def _codecs_encode(text: str, encoding: str = "utf-8") -> bytes:
    # Only the text encodings pickle itself emits; no bytes-to-bytes codecs.
    if encoding not in ("latin1", "latin-1", "utf-8", "utf8", "ascii"):
        raise RefusedGlobalError(
            f"refused _codecs.encode with encoding {encoding!r}"
        )
    return text.encode(encoding)


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that admits only NumPy arrays and builtin containers.

    Args:
      file: a binary file object.
      source: the file's name, used in error messages.
    """

    def __init__(self, file: IO[bytes], source: str = "<pickle>") -> None:
        # latin1 lets NumPy arrays pickled by Python 2 load; it does not
        # affect Python 3 pickles.
        super().__init__(file, encoding="latin1")
        self._source = source
        self._allowed = _allowed_globals()

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise RefusedGlobalError(
                f"{self._source}: refused to load global '{module}.{name}': "
                "only NumPy arrays, dtypes and builtin containers are "
                "allowed in this file"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise RefusedGlobalError(
            f"{self._source}: refused persistent id {pid!r}"
        )


def restricted_load(file: IO[bytes], source: str = "<pickle>") -> Any:
    """Unpickles ``file`` with :class:`RestrictedUnpickler`.

    Raises:
      RefusedGlobalError: (a ``pickle.UnpicklingError``) a refused global.
      PublishedFileError: a truncated or malformed pickle.
    """
    try:
        return RestrictedUnpickler(file, source).load()
    except RefusedGlobalError:
        raise
    except EOFError as err:
        raise PublishedFileError(
            f"{source}: the file ends early (truncated download?)"
        ) from err
    except pickle.UnpicklingError as err:
        # The C unpickler reports a short read as "pickle data was truncated".
        raise PublishedFileError(
            f"{source}: the file ends early or is not a pickle ({err})"
        ) from err
    except (ValueError, TypeError, AttributeError, IndexError, KeyError) as err:
        # Malformed opcodes or corrupted data surface as these.
        raise PublishedFileError(
            f"{source}: not a readable pickle ({type(err).__name__}: {err})"
        ) from err


def _expected(size: int) -> str:
    return (
        f"expected a pickle of [[[float32 array ({size}, {size}), int label], "
        "...], {label: name}] as written by the reference GP_create.py"
    )


def validate_records(
    obj: Any,
    source: str,
    size: int,
    class_names: Sequence[str],
) -> list[tuple[np.ndarray, int]]:
    """Checks the unpickled structure; returns ``[(image, label), ...]``.

    Raises:
      PublishedFileError: naming ``source`` and what was expected.
    """
    expected = _expected(size)
    if not isinstance(obj, (list, tuple)) or len(obj) != 2:
        raise PublishedFileError(
            f"{source}: top level is {type(obj).__name__}; {expected}"
        )
    records, lookup = obj
    if not isinstance(records, (list, tuple)) or not isinstance(lookup, dict):
        raise PublishedFileError(
            f"{source}: found ({type(records).__name__}, "
            f"{type(lookup).__name__}); {expected}"
        )
    want = dict(enumerate(class_names))
    got = {_as_int(k, source, expected): v for k, v in lookup.items()}
    if got != want:
        raise PublishedFileError(
            f"{source}: class names {got!r} do not match the expected {want!r}"
        )
    out = []
    for i, record in enumerate(records):
        if not isinstance(record, (list, tuple)) or len(record) != 2:
            raise PublishedFileError(
                f"{source}: record {i} is not an [image, label] pair; {expected}"
            )
        image, label = record
        if not isinstance(image, np.ndarray) or image.shape != (size, size):
            shape = getattr(image, "shape", type(image).__name__)
            raise PublishedFileError(
                f"{source}: record {i} has an image of shape {shape}; {expected}"
            )
        if not np.issubdtype(image.dtype, np.floating):
            raise PublishedFileError(
                f"{source}: record {i} has an image of dtype {image.dtype}; "
                f"{expected}"
            )
        label = _as_int(label, source, expected)
        if label not in want:
            raise PublishedFileError(
                f"{source}: record {i} has label {label}, expected one of "
                f"{sorted(want)}"
            )
        out.append((image.astype(np.float32, copy=False), label))
    if not out:
        raise PublishedFileError(f"{source}: holds no records; {expected}")
    return out


def _as_int(value: Any, source: str, expected: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (int, np.integer)
    ):
        raise PublishedFileError(f"{source}: label {value!r} is not an int; {expected}")
    return int(value)


def read_published(
    path: str | os.PathLike | IO[bytes],
    size: int = 1024,
    class_names: Sequence[str] = ("9.5-80", "10-80", "9.5-140", "10-140"),
    source: str | None = None,
) -> list[tuple[np.ndarray, int]]:
    """Reads the authors' file safely and returns ``[(image, label), ...]``.

    Args:
      path: ``dataset.zip`` (the member ``GP_9.5-10+80-140.gp`` is read), the
        extracted ``.gp`` file, or an open binary file of either.
      size: expected image side.
      class_names: expected ``{label: name}`` table, label order.
      source: name used in error messages (defaults to ``path``).

    Raises:
      PublishedFileError: missing, truncated or wrong-shaped file.
      RefusedGlobalError: (a ``pickle.UnpicklingError``) the pickle
        references a global other than the NumPy ones it needs.
    """
    if isinstance(path, (str, os.PathLike)):
        source = os.fspath(path) if source is None else source
        try:
            with open(path, "rb") as f:
                return read_published(f, size, class_names, source)
        except FileNotFoundError as err:
            raise PublishedFileError(
                f"{source}: file not found; expected the Zenodo file "
                f"{ZIP_NAME} (DOI 10.5281/zenodo.1252464) or its member "
                f"{MEMBER_NAME}"
            ) from err
    f = path
    if source is None:
        source = str(getattr(f, "name", "<stream>"))
    head = f.read(4)
    f.seek(0)
    if head[:2] == b"PK":
        try:
            archive = zipfile.ZipFile(f)
        except zipfile.BadZipFile as err:
            raise PublishedFileError(
                f"{source}: damaged zip archive (truncated download?)"
            ) from err
        with archive:
            if MEMBER_NAME not in archive.namelist():
                raise PublishedFileError(
                    f"{source}: no member {MEMBER_NAME} in the archive "
                    f"(found {archive.namelist()})"
                )
            member_source = f"{source}:{MEMBER_NAME}"
            try:
                with archive.open(MEMBER_NAME) as member:
                    # A buffered reader: pickle reads many small pieces.
                    obj = restricted_load(io.BufferedReader(member), member_source)
            except (zipfile.BadZipFile, EOFError) as err:
                raise PublishedFileError(
                    f"{member_source}: damaged archive member ({err})"
                ) from err
        return validate_records(obj, member_source, size, class_names)
    obj = restricted_load(f, source)
    return validate_records(obj, source, size, class_names)
