"""Safe reader for the authors' published dataset file (NumPy only).

Zenodo record 1252464 (DOI 10.5281/zenodo.1252464) distributes
``dataset.zip``, which holds ``GP_9.5-10+80-140.gp``: a Python pickle of
``[[[image, label], ...], {label: name}]`` with float32 ``1024 x 1024``
images and integer labels, as written by the reference ``GP_create.py``.

The pickle is never executed: the bytes are split into opcodes with
:mod:`pickletools`' argument readers (parsing only), and a small stack
machine here interprets the opcodes of plain data, containers and NumPy's
own reductions of numeric arrays and scalars (protocols 0 to 5).  Globals
are looked up by name in :data:`_ADMITTED` and become inert markers; every
other global or opcode is refused.  Arrays are made only by
``np.frombuffer`` with a dtype from a fixed set of numeric codes, after the
shape, dtype and byte count agree and fit the caps (:data:`MAX_FILE_BYTES`,
:data:`MAX_ARRAY_BYTES`, :data:`MAX_ARRAY_ELEMENTS`, :data:`MAX_OPCODES`,
:data:`MAX_ITEMS`, :data:`MAX_RECORDS`, :data:`MAX_ZIP_DIRECTORY_BYTES`),
which are checked before anything of that size is allocated.  Then the
layout is checked: ``[[image, label], ...]`` with finite float images of
the requested size, int labels and the expected ``{label: name}`` table.

Why this is safe (an allow-list of globals for ``pickle.Unpickler`` is not:
NumPy's own names suffice to crash the process), the caps, the memory use
and the layout of this file: ``tfds_gp/gp_textures/README.md``, "Reading
the published file".

Every error is a :class:`PublishedFileError` (a ``ValueError``) whose
message names the file (``dataset.zip:GP_9.5-10+80-140.gp`` for the
member); :class:`RefusedGlobalError` is also a ``pickle.UnpicklingError``.
This module imports nothing else of ``tfds_gp``: the tests load it alone,
from its file, in child processes.
"""

from __future__ import annotations

import codecs
import io
import math
import numbers
import os
import pickle
import pickletools
import reprlib
import zipfile
from collections.abc import Sequence
from typing import IO, Any

import numpy as np

__all__ = [
    "ZIP_NAME",
    "MEMBER_NAME",
    "MAX_FILE_BYTES",
    "MAX_ARRAY_BYTES",
    "MAX_ARRAY_ELEMENTS",
    "MAX_OPCODES",
    "MAX_ITEMS",
    "MAX_RECORDS",
    "MAX_SIZE",
    "MAX_ZIP_DIRECTORY_BYTES",
    "PublishedFileError",
    "RefusedPickleError",
    "RefusedGlobalError",
    "RestrictedUnpickler",
    "restricted_load",
    "read_published",
    "validate_records",
]

ZIP_NAME = "dataset.zip"
MEMBER_NAME = "GP_9.5-10+80-140.gp"

# What the published file needs: 100 float32 images of 1024 x 1024.
_FORMAT_IMAGE_BYTES = 100 * 1024 * 1024 * 4  # 400 MiB

#: All arrays of one file together, in bytes: the format's 400 MiB twice
#: over, so that a re-pickle with float64 images still loads.
MAX_ARRAY_BYTES = 2 * _FORMAT_IMAGE_BYTES
#: All arrays of one file together, in elements: 200 images of 1024 x 1024.
#: Images are converted to float32, so this bounds those copies as well.
MAX_ARRAY_ELEMENTS = 2 * 100 * 1024 * 1024
#: A zip member or a plain ``.gp`` file, in bytes: the arrays plus 16 MiB for
#: the pickle's own opcodes (protocol 2 stores bytes as UTF-8 text, at most
#: twice their size, so a float32 file written with it fits as well).
MAX_FILE_BYTES = MAX_ARRAY_BYTES + 16 * 1024 * 1024
#: Opcodes per pickle: protocol 0 needs about 56 per record.
MAX_OPCODES = 100_000
#: Items in one list, tuple or dict.
MAX_ITEMS = 10_000
#: Records (``[image, label]`` pairs): ten times the published file's 100.
MAX_RECORDS = 1000
#: Central directory of ``dataset.zip``, in bytes (about 10,000 entries;
#: the published archive has one).
MAX_ZIP_DIRECTORY_BYTES = 1 << 20
#: Largest image side ``read_published`` accepts as ``size``.
MAX_SIZE = 4096

# Reads longer than this are done in pieces of this size, so that a length
# field promising more than the file holds allocates only what is there.
_CHUNK = 1 << 20
# Short reads (opcodes, small arguments) are served from a buffer this size.
_BUFFER = 1 << 16
# Most characters of a file's own text (a string, a name) quoted in messages.
_QUOTE = 60


class PublishedFileError(ValueError):
    """The published file is missing, damaged, refused or not in the format."""


class RefusedPickleError(PublishedFileError):
    """The pickle asks for something this reader never builds."""


class RefusedGlobalError(RefusedPickleError, pickle.UnpicklingError):
    """The pickle references a global outside the admitted NumPy names."""


# --- reading the bytes ---------------------------------------------------------


class _WrongMode(TypeError):
    """The file object returns text: a caller's mistake, not the file's."""


class _BoundedReader:
    """A read-only, buffered view of ``raw`` that never goes past ``limit``.

    The opcode loop reads through it.  A request longer than what
    is left is refused before anything is read or allocated, and at most
    ``limit`` bytes are ever requested from ``raw``, so a zip member whose
    header lies about its size cannot inflate beyond it.  Long requests are
    served in :data:`_CHUNK` pieces, so memory follows the data actually
    present.  Errors of the underlying stream (a damaged zip member: bad
    deflate data, bad CRC, a truncated archive) become
    :class:`PublishedFileError` naming ``source``.
    """

    def __init__(
        self, raw: IO[bytes], source: str, limit: int, known_size: bool
    ) -> None:
        self._raw = raw
        self._source = source
        self._limit = limit
        # True when ``limit`` is the real size of the data (a plain file, a
        # zip member's declared size) rather than only the cap.
        self._known_size = known_size
        self._pulled = 0  # bytes taken from raw
        self._buf = b""
        self._bufpos = 0
        self.pos = 0  # bytes handed out
        self.short = False  # a read came back short: the data ended early
        self.line_limit = 1024  # longest line readline() hands out

    def tell(self) -> int:
        return self.pos

    def _pull(self, n: int) -> bytes:
        """Up to ``n`` bytes from ``raw``, never past the limit."""
        n = min(n, self._limit - self._pulled)
        if n <= 0:
            return b""
        try:
            data = self._raw.read(n)
        except Exception as err:  # zlib.error, BadZipFile, EOFError, OSError, ...
            raise PublishedFileError(
                f"{self._source}: damaged data at byte {self._pulled} "
                f"({type(err).__name__}: {_clip(str(err))})"
            ) from err
        if not isinstance(data, (bytes, bytearray)):
            raise _WrongMode(
                f"{self._source}: the file object returned "
                f"{type(data).__name__} from read(); open it in binary mode"
            )
        if len(data) > n:
            raise PublishedFileError(
                f"{self._source}: the file object returned {len(data)} bytes "
                f"for a read of {n}"
            )
        self._pulled += len(data)
        return bytes(data)

    def read(self, n: int) -> bytes:
        left = self._limit - self.pos
        if n > left:
            if n > MAX_FILE_BYTES:
                raise RefusedPickleError(
                    f"{self._source}: a length field at byte {self.pos} declares "
                    f"{n} bytes, more than the {MAX_FILE_BYTES} this format can "
                    "hold; refused before reading"
                )
            if self._known_size:
                self.short = True
                raise PublishedFileError(
                    f"{self._source}: the file ends early: {n} bytes are "
                    f"declared at byte {self.pos} but only {left} remain "
                    "(truncated download?)"
                )
            raise RefusedPickleError(
                f"{self._source}: {n} bytes are declared at byte {self.pos}, "
                f"beyond the {MAX_FILE_BYTES}-byte cap of this format"
            )
        if n >= _BUFFER:
            return self._read_long(n)
        pieces = []
        got = 0
        while got < n:
            if not self._refill():
                break
            take = min(n - got, len(self._buf) - self._bufpos)
            pieces.append(self._buf[self._bufpos : self._bufpos + take])
            self._bufpos += take
            got += take
        self.pos += got
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def _refill(self) -> bool:
        """Refills an exhausted buffer; False at the end of the data."""
        if self._bufpos < len(self._buf):
            return True
        self._buf = self._pull(_BUFFER)
        self._bufpos = 0
        if not self._buf:
            self.short = True
            return False
        return True

    def _read_long(self, n: int) -> bytearray:
        """``n`` bytes (fewer at the end of the data) as a bytearray.

        The bytearray grows with the data actually read, a piece at a time,
        rather than being allocated at the declared length.  An array made
        from it uses it as its memory (see ``_ArrayBuilder.make_array``), so the
        image data exist once.
        """
        out = bytearray(self._buf[self._bufpos : self._bufpos + n])
        self._bufpos += len(out)
        while len(out) < n:
            piece = self._pull(min(_CHUNK, n - len(out)))
            if not piece:
                self.short = True
                break
            out += piece
        self.pos += len(out)
        return out

    def readline(self) -> bytes:
        # Protocol 0 arguments, and GLOBAL names, end with a newline.  A line
        # longer than ``line_limit`` (set per opcode by the caller) is
        # refused as soon as it is seen, so that neither the line nor an
        # error message quoting it can be large.
        pieces = []
        got = 0
        while True:
            if not self._refill():
                break
            end = self._buf.find(b"\n", self._bufpos)
            stop = len(self._buf) if end < 0 else end + 1
            if got + stop - self._bufpos > self.line_limit:
                raise RefusedPickleError(
                    f"{self._source}: a text argument at byte {self.pos - got} "
                    f"is longer than the {self.line_limit} bytes its opcode "
                    "needs here"
                )
            pieces.append(self._buf[self._bufpos : stop])
            got += stop - self._bufpos
            self.pos += stop - self._bufpos
            self._bufpos = stop
            if end >= 0:
                break
        return b"".join(pieces)

    def at_end(self) -> bool:
        """Whether the data end here.

        Reads one byte past the pickle at most; for a zip member, reaching
        its end makes :mod:`zipfile` check the CRC.
        """
        return self._bufpos == len(self._buf) and not self._pull(1)


# A caller's bad argument (not the file's content) is a TypeError or a
# ValueError in the package's form, "Invalid value for argument `x`:
# expected ... Received: x=...", as tfds_gp.checks writes it.  This module
# keeps its own three helpers because it imports nothing of the package (the
# tests load it alone); a test checks that both write the same messages.
_REPR = reprlib.Repr()
_REPR.maxlevel = 3
_REPR.maxlist = _REPR.maxtuple = 8
_REPR.maxstring = _REPR.maxother = 120


def _show(value: object) -> str:
    """A short, always printable representation of a received value."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        if int(value).bit_length() > 256:
            return f"<an integer of {int(value).bit_length()} bits>"
    try:
        return _REPR.repr(value)
    except Exception:  # a failing __repr__ must not hide the real error
        return f"<{type(value).__name__} object>"


def _type_error(argument: str, expected: str, received: object) -> TypeError:
    return TypeError(
        f"Invalid type for argument `{argument}`: {expected}. Received: "
        f"{argument}={_show(received)} (type {type(received).__name__})"
    )


def _value_error(argument: str, expected: str, received: object) -> ValueError:
    return ValueError(
        f"Invalid value for argument `{argument}`: {expected}. Received: "
        f"{argument}={_show(received)}"
    )


def _clip(text: str, n: int = 200) -> str:
    return text if len(text) <= n else text[:n] + "..."


def _brief(value: Any) -> str:
    """A short description of a value from the file, safe to put in messages.

    Never calls ``repr`` on a container (it may be deep or huge).
    """
    if value is None or isinstance(value, (bool, float)):
        return repr(value)
    if isinstance(value, (int, np.integer)):
        text = str(int(value))
        return text if len(text) <= 30 else f"an integer of {len(text)} digits"
    if isinstance(value, str):
        head = repr(value[:_QUOTE])
        return (
            head
            if len(value) <= _QUOTE
            else f"{head[:-1]}...' ({len(value)} characters)"
        )
    if isinstance(value, (bytes, bytearray)):
        return f"{type(value).__name__} of length {len(value)}"
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape} and dtype {value.dtype}"
    if isinstance(value, (list, tuple, dict)):
        return f"{type(value).__name__} of length {len(value)}"
    return _describe_type(value)


def _describe_type(value: Any) -> str:
    if isinstance(value, _Admitted):
        return f"the NumPy name {value.qualname}"
    if isinstance(value, _Dtype):
        return "a NumPy dtype"
    if isinstance(value, _PendingArray):
        return "an unfinished NumPy array"
    return type(value).__name__


# --- the stack machine ---------------------------------------------------------

# Admitted globals, by (module, name) as the file spells them, mapped to the
# role they play.  Nothing here is imported or called.
_ADMITTED = {}
for _package in ("numpy.core", "numpy._core"):
    # ndarray.__reduce__ (protocols 0-4) and numpy scalars (an np.int64 label).
    _ADMITTED[(f"{_package}.multiarray", "_reconstruct")] = "reconstruct"
    _ADMITTED[(f"{_package}.multiarray", "scalar")] = "scalar"
    # ndarray.__reduce_ex__ with protocol 5.
    _ADMITTED[(f"{_package}.numeric", "_frombuffer")] = "frombuffer"
_ADMITTED[("numpy", "ndarray")] = "ndarray"
_ADMITTED[("numpy", "dtype")] = "dtype"
# Python 3 pickles bytes below protocol 3 as _codecs.encode(text, 'latin1'),
# and empty bytes as bytes().
_ADMITTED[("_codecs", "encode")] = "encode"
_ADMITTED[("builtins", "bytes")] = "bytes"
_ADMITTED[("__builtin__", "bytes")] = "bytes"
del _package

# The only dtype codes (kind + item size) an array or scalar may have: plain
# little/big-endian floats and integers.
_NUMERIC_CODES = frozenset(
    ["f2", "f4", "f8", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8"]
)
_INT_LIMIT = 1 << 63  # ints in the file fit in 64 bits (shapes, labels, ...)
_DICT_KEY_TYPES = (str, int, float, bytes, type(None), np.integer)


class _Admitted:
    """An admitted global: a name and its role, never a callable."""

    __slots__ = ("kind", "qualname")

    def __init__(self, kind: str, qualname: str) -> None:
        self.kind = kind
        self.qualname = qualname


class _Dtype:
    """A dtype as declared by the file: a numeric code and a byte order."""

    __slots__ = ("code", "byteorder", "state_set", "used")

    def __init__(self, code: str) -> None:
        self.code = code
        self.byteorder = "="  # numpy's default until a BUILD sets it
        self.state_set = False
        self.used = False

    def numpy(self) -> np.dtype:
        # One-byte types have no byte order; numpy spells that '|'.
        order = "|" if self.code[1] == "1" else self.byteorder
        return np.dtype(order + self.code)


class _PendingArray:
    """``_reconstruct(ndarray, ...)`` before the ``BUILD`` that gives its data."""

    __slots__ = ("array",)

    def __init__(self) -> None:
        self.array: np.ndarray | None = None


class _Machine:
    """Interprets the opcodes of one pickle; see the module docstring."""

    def __init__(self, source: str, max_elements: int) -> None:
        self.source = source
        self.max_elements = max_elements
        self.stack: list[Any] = []
        # Stack heights at each MARK, kept apart from the values as in
        # pickle's own machine, so that a MARK can never be taken for a value.
        self.marks: list[int] = []
        self.memo: dict[int, Any] = {}
        self.pos: int | None = 0
        self.arrays = _ArrayBuilder(self.refuse, max_elements)

    # -- errors --

    def refuse(self, what: str, error: type = RefusedPickleError) -> PublishedFileError:
        where = "" if self.pos is None else f" (opcode at byte {self.pos})"
        return error(f"{self.source}: {what}{where}")

    # -- the stack --

    def _floor(self) -> int:
        return self.marks[-1] if self.marks else 0

    def pop(self) -> Any:
        if len(self.stack) <= self._floor():
            raise self.refuse(
                "the pickle pops an empty stack or a MARK; the file is not a valid pickle"
            )
        return self.stack.pop()

    def pop_mark(self) -> list[Any]:
        """The values above the topmost MARK, which is removed."""
        if not self.marks:
            raise self.refuse(
                "the pickle has no MARK where one is needed; the file is not a valid pickle"
            )
        start = self.marks.pop()
        items = self.stack[start:]
        del self.stack[start:]
        return items

    def top(self) -> Any:
        if len(self.stack) <= self._floor():
            raise self.refuse(
                "the pickle needs a value on an empty stack or at a MARK; the file is not a valid pickle"
            )
        return self.stack[-1]

    def item(self, value: Any) -> Any:
        """``value`` as it may go into a container or be returned.

        An array is finished by the ``BUILD`` right after its ``REDUCE``;
        one used before that is refused.
        """
        if isinstance(value, _PendingArray):
            if value.array is None:
                raise self.refuse(
                    "an array is used before its data were given (no BUILD)"
                )
            return value.array
        return value

    def items(self, values: list[Any]) -> list[Any]:
        if len(values) > MAX_ITEMS:
            raise self.refuse(
                f"a container gets {len(values)} items; at most {MAX_ITEMS} are allowed"
            )
        return [self.item(v) for v in values]

    def check_size(self, container: list | dict, extra: int) -> None:
        if len(container) + extra > MAX_ITEMS:
            raise self.refuse(
                f"a {type(container).__name__} grows beyond {MAX_ITEMS} items"
            )

    def integer(self, value: int) -> int:
        if not isinstance(value, bool) and not -_INT_LIMIT <= value < _INT_LIMIT:
            raise self.refuse(
                f"an integer of {value.bit_length()} bits; at most 64 bits are allowed"
            )
        return value

    # -- opcodes --

    def run(self, reader: _BoundedReader) -> Any:
        """Reads and interprets opcodes up to STOP.

        The loop is :func:`pickletools.genops` with checks between reading
        an opcode and reading its argument: a refused opcode is refused
        before its argument is read, and text arguments get a length limit.
        """
        for count in range(MAX_OPCODES + 1):
            self.pos = reader.pos
            code = reader.read(1)
            if not code:
                reader.short = True
                raise PublishedFileError(
                    f"{self.source}: the file ends early (truncated "
                    f"download?) at byte {reader.pos}; the pickle has no STOP"
                )
            opcode = _OPCODES.get(code)
            if opcode is None:
                raise self.refuse(
                    f"byte {code!r} is not a pickle opcode", PublishedFileError
                )
            name = opcode.name
            if name == "STOP":
                return self.stop()
            handler = _HANDLERS.get(name)
            if handler is None:
                raise self.refuse(
                    f"opcode {name} is refused: this reader admits only the "
                    "opcodes of plain data, containers and NumPy numeric arrays"
                )
            if count == MAX_OPCODES:
                break
            if opcode.arg is None:
                arg = None
            else:
                reader.line_limit = self.line_limit(name)
                arg = _ARG_READERS.get(name, opcode.arg.reader)(reader)
            handler(self, arg)
        raise self.refuse(
            f"the pickle has more than {MAX_OPCODES} opcodes; the published "
            "format needs far fewer"
        )

    def line_limit(self, name: str) -> int:
        """Longest newline-terminated argument of opcode ``name``."""
        if name in ("UNICODE", "STRING"):
            # Protocol 0 stores an array's bytes as one text line: one byte
            # per byte, at most 6 (an escape such as \u0000) for UNICODE, 4
            # (\x00) for Python 2's STRING.
            return 6 * 8 * self.max_elements + 1024
        # Numbers (ints have at most 4300 digits anyway), names, memo keys.
        return 8192

    def stop(self) -> Any:
        result = self.item(self.pop())
        if self.stack or self.marks:
            raise self.refuse(
                f"the pickle leaves {len(self.stack)} values and "
                f"{len(self.marks)} marks on the stack at STOP; the file is "
                "not a valid pickle"
            )
        self.check_result(result)
        return result

    def check_result(self, result: Any) -> None:
        """Refuses markers (an admitted name, a dtype) left in the result.

        Walks each container once (iteratively: the structure may be deep or
        refer to itself).
        """
        seen: set[int] = set()
        todo = [result]
        while todo:
            value = todo.pop()
            if isinstance(value, (_Admitted, _Dtype, _PendingArray)):
                raise self.refuse(
                    f"the pickle returns {_describe_type(value)} where the "
                    "format has data (lists, tuples, dicts, numbers, strings, "
                    "numeric arrays)"
                )
            if isinstance(value, bytearray) and id(value) in self.arrays.lent:
                raise self.refuse(
                    "the pickle returns the data of an array also as a byte "
                    "string; an array's data appear only in the array"
                )
            if isinstance(value, (list, tuple, dict)) and id(value) not in seen:
                seen.add(id(value))
                if isinstance(value, dict):
                    todo.extend(value.keys())
                    todo.extend(value.values())
                else:
                    todo.extend(value)

    # -- opcodes with an effect beyond one push (the pushes: _PUSHES) --

    def op_proto(self, arg: int) -> None:
        if not 0 <= arg <= 5:
            raise self.refuse(f"pickle protocol {arg}; protocols 0 to 5 are read")

    def op_frame(self, arg: int) -> None:
        # Framing only groups opcodes for buffered reading; the opcodes that
        # follow are read one by one anyway.
        pass

    def op_mark(self, arg: None) -> None:
        self.marks.append(len(self.stack))

    def target(self, kind: type) -> Any:
        target = self.top()
        if type(target) is not kind:
            raise self.refuse(
                f"the pickle adds items to {_describe_type(target)}; only a "
                f"{kind.__name__} takes them here"
            )
        return target

    def op_append(self, arg: None) -> None:
        value = self.item(self.pop())
        target = self.target(list)
        self.check_size(target, 1)
        target.append(value)

    def op_appends(self, arg: None) -> None:
        values = self.items(self.pop_mark())
        target = self.target(list)
        self.check_size(target, len(values))
        target.extend(values)

    def set_items(self, target: dict, values: list[Any]) -> dict:
        if len(values) % 2:
            raise self.refuse(
                "SETITEMS with an odd number of values; the file is not a valid pickle"
            )
        self.check_size(target, len(values) // 2)
        for key, value in zip(values[::2], values[1::2], strict=True):
            # Only scalar keys: hashing them is shallow (a deeply nested
            # tuple key could exhaust the C stack while being hashed).
            if not isinstance(key, _DICT_KEY_TYPES):
                raise self.refuse(
                    f"a dict key is {_brief(key)}; keys may be ints, floats, "
                    "strings, bytes or None"
                )
            target[key] = value
        return target

    def op_setitem(self, arg: None) -> None:
        value = self.item(self.pop())
        key = self.item(self.pop())
        self.set_items(self.target(dict), [key, value])

    def op_setitems(self, arg: None) -> None:
        values = self.items(self.pop_mark())
        self.set_items(self.target(dict), values)

    def op_pop(self, arg: None) -> None:
        if self.marks and self.marks[-1] == len(self.stack):
            self.marks.pop()  # pickle's POP also discards a bare MARK
        else:
            self.pop()

    def op_pop_mark(self, arg: None) -> None:
        self.pop_mark()

    def op_put(self, arg: int) -> None:
        if not isinstance(arg, int) or arg < 0:
            raise self.refuse(
                f"memo index {_brief(arg)}; the file is not a valid pickle"
            )
        self.memo[arg] = self.top()

    def op_memoize(self, arg: None) -> None:
        self.memo[len(self.memo)] = self.top()

    def memo_get(self, arg: int) -> Any:
        try:
            return self.memo[arg]
        except (KeyError, TypeError):
            raise self.refuse(
                f"memo index {_brief(arg)} was never stored; the file is not a valid pickle"
            ) from None

    def make_tuple(self, n: int) -> tuple:
        values = [self.pop() for _ in range(n)][::-1]
        return tuple(self.items(values))

    def admit(self, module: Any, name: Any) -> _Admitted:
        if not isinstance(module, str) or not isinstance(name, str):
            raise self.refuse(
                f"a global named by {_brief(module)} and {_brief(name)}; "
                "names must be strings",
                RefusedGlobalError,
            )
        kind = _ADMITTED.get((module, name))
        if kind is None:
            raise self.refuse(
                f"refused to load global '{_clip(module, _QUOTE)}.{_clip(name, _QUOTE)}': "
                "only the NumPy names of numeric arrays, dtypes and scalars "
                "are allowed in this file",
                RefusedGlobalError,
            )
        return _Admitted(kind, f"{module}.{name}")

    def stack_global(self) -> _Admitted:
        name = self.pop()
        module = self.pop()
        return self.admit(module, name)

    def op_reduce(self, arg: None) -> None:
        args = self.pop()
        func = self.pop()
        if not isinstance(func, _Admitted):
            raise self.refuse(
                f"REDUCE calls {_describe_type(func)}; nothing but the admitted NumPy names is called"
            )
        if type(args) is not tuple:
            raise self.refuse(
                f"REDUCE with {_describe_type(args)} as arguments; the file is not a valid pickle"
            )
        self.stack.append(getattr(self.arrays, "reduce_" + func.kind)(func, args))

    def op_build(self, arg: None) -> None:
        state = self.item(self.pop())
        target = self.top()
        if isinstance(target, _PendingArray) and target.array is None:
            array = self.arrays.build_array(state)
            target.array = array
            self.stack[-1] = array
        elif isinstance(target, _Dtype):
            self.arrays.build_dtype(target, state)
        elif isinstance(target, (np.ndarray, _PendingArray)):
            raise self.refuse("BUILD changes an array after it was made; refused")
        else:
            raise self.refuse(
                f"BUILD sets the state of {_describe_type(target)}; only a "
                "NumPy array or dtype being made takes a state"
            )


# --- the opcode table ------------------------------------------------------------
#
# Every opcode this reader admits, and nothing else: an opcode missing here
# is refused before its argument is read.  Each push computes one value from
# the opcode's argument (already parsed by pickletools' reader) and the
# machine, and puts it on the stack.


def _argument(machine: _Machine, arg: Any) -> Any:
    return arg


_PUSHES: dict[str, Any] = {
    **dict.fromkeys(
        ["INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4"],
        _Machine.integer,  # at most 64 bits
    ),
    **dict.fromkeys(
        ["FLOAT", "BINFLOAT", "STRING", "BINSTRING", "SHORT_BINSTRING"]
        + ["UNICODE", "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8"]
        + ["BINBYTES", "SHORT_BINBYTES", "BINBYTES8", "BYTEARRAY8"],
        _argument,
    ),
    "NONE": lambda m, arg: None,
    "NEWTRUE": lambda m, arg: True,
    "NEWFALSE": lambda m, arg: False,
    "EMPTY_LIST": lambda m, arg: [],
    "EMPTY_TUPLE": lambda m, arg: (),
    "EMPTY_DICT": lambda m, arg: {},
    "LIST": lambda m, arg: m.items(m.pop_mark()),
    "TUPLE": lambda m, arg: tuple(m.items(m.pop_mark())),
    "TUPLE1": lambda m, arg: m.make_tuple(1),
    "TUPLE2": lambda m, arg: m.make_tuple(2),
    "TUPLE3": lambda m, arg: m.make_tuple(3),
    "DICT": lambda m, arg: m.set_items({}, m.items(m.pop_mark())),
    "DUP": lambda m, arg: m.top(),
    **dict.fromkeys(["GET", "BINGET", "LONG_BINGET"], _Machine.memo_get),
    # Names only: an inert marker, nothing imported (_ADMITTED).
    "GLOBAL": lambda m, arg: m.admit(*arg.partition(" ")[::2]),
    "STACK_GLOBAL": lambda m, arg: m.stack_global(),
}

_EFFECTS: dict[str, Any] = {
    "PROTO": _Machine.op_proto,
    "FRAME": _Machine.op_frame,
    "MARK": _Machine.op_mark,
    "APPEND": _Machine.op_append,
    "APPENDS": _Machine.op_appends,
    "SETITEM": _Machine.op_setitem,
    "SETITEMS": _Machine.op_setitems,
    "POP": _Machine.op_pop,
    "POP_MARK": _Machine.op_pop_mark,
    **dict.fromkeys(["PUT", "BINPUT", "LONG_BINPUT"], _Machine.op_put),
    "MEMOIZE": _Machine.op_memoize,
    # The two that reach the array builder (_ArrayBuilder).
    "REDUCE": _Machine.op_reduce,
    "BUILD": _Machine.op_build,
}


def _pusher(compute: Any) -> Any:
    def push(machine: _Machine, arg: Any) -> None:
        machine.stack.append(compute(machine, arg))

    return push


_HANDLERS = {name: _pusher(f) for name, f in _PUSHES.items()} | _EFFECTS


# --- the array builder -----------------------------------------------------------


class _ArrayBuilder:
    """Interprets REDUCE and BUILD on the admitted NumPy names.

    The only place that makes NumPy objects from file contents: a dtype from
    a fixed set of numeric codes, an array by ``np.frombuffer`` of a byte
    string whose length has been checked against that dtype and shape.  It
    keeps the budgets of one file (array bytes and elements, text turned
    into bytes) and the byte strings lent to arrays as their memory.
    """

    def __init__(self, refuse: Any, max_elements: int) -> None:
        self.refuse = refuse  # the machine's: names the file and the opcode
        self.max_elements = max_elements
        self.array_bytes = 0
        self.array_elements = 0
        self.text_bytes = 0  # bytes made by _codecs.encode
        # Byte strings that became the memory of an array, by id.
        self.lent: dict[int, bytearray] = {}

    def reduce_reconstruct(self, func: _Admitted, args: tuple) -> _PendingArray:
        # numpy writes _reconstruct(ndarray, (0,), b'b'); the BUILD that
        # follows gives the real shape, dtype and data.
        if (
            len(args) != 3
            or not (isinstance(args[0], _Admitted) and args[0].kind == "ndarray")
            or type(args[1]) is not tuple
            or not _one_of(args[2], (b"b", "b"))
        ):
            raise self.refuse(
                f"{func.qualname} with unexpected arguments; only "
                "_reconstruct(numpy.ndarray, shape, b'b') as NumPy writes it is read"
            )
        return _PendingArray()

    def reduce_ndarray(self, func: _Admitted, args: tuple) -> Any:
        raise self.refuse(
            "numpy.ndarray is called directly; only NumPy's own array pickles are read"
        )

    def reduce_dtype(self, func: _Admitted, args: tuple) -> _Dtype:
        if not 1 <= len(args) <= 3 or not isinstance(args[0], str):
            raise self.refuse(
                "numpy.dtype with unexpected arguments; expected "
                "dtype(code, align, copy) as NumPy writes it"
            )
        code = args[0]
        if code not in _NUMERIC_CODES:
            raise self.refuse(
                f"dtype {_brief(code)} is refused: only the numeric dtypes "
                f"{', '.join(sorted(_NUMERIC_CODES))} are allowed"
            )
        for flag in args[1:]:
            if not _one_of(flag, (0, 1)):
                raise self.refuse(
                    f"numpy.dtype flag {_brief(flag)}; expected a boolean"
                )
        if len(args) >= 2 and args[1]:
            raise self.refuse(
                "an aligned dtype (align=True) is refused; plain numeric dtypes only"
            )
        return _Dtype(code)

    def build_dtype(self, dtype: _Dtype, state: Any) -> None:
        # numpy.dtype.__setstate__ can turn a dtype into a structured or
        # object dtype in place; here it may only set the byte order, once,
        # before any array uses the dtype.
        if dtype.used or dtype.state_set:
            raise self.refuse(
                "BUILD changes a dtype after it was set or used; refused "
                "(a dtype changed in place could reinterpret an array's bytes)"
            )
        expected = (
            "expected (3, byteorder, None, None, None, -1, -1, 0) as NumPy "
            "writes for a numeric dtype"
        )
        if type(state) is not tuple or len(state) not in (8, 9):
            raise self.refuse(f"dtype state {_brief(state)}; {expected}")
        version, order, subarray, names, fields, elsize, alignment, flags = state[:8]
        metadata = state[8] if len(state) == 9 else None
        if type(version) is not int or (version, len(state)) not in ((3, 8), (4, 9)):
            raise self.refuse(f"dtype state version {_brief(version)}; {expected}")
        if (
            subarray is not None
            or names is not None
            or fields is not None
            or metadata is not None
        ):
            raise self.refuse(
                "a dtype with a sub-array, fields, names or metadata is "
                f"refused; {expected}"
            )
        for value in (elsize, alignment):
            if type(value) is not int or value != -1:
                raise self.refuse(
                    f"dtype item size or alignment {_brief(value)}; {expected}"
                )
        if type(flags) is not int or flags != 0:
            # Flags mark dtypes that hold Python objects, among others.
            raise self.refuse(f"dtype flags {_brief(flags)}; {expected}")
        if not _one_of(order, ("<", ">", "=", "|")):
            raise self.refuse(f"dtype byte order {_brief(order)}; {expected}")
        if order == "|" and dtype.code[1] != "1":
            raise self.refuse(
                f"byte order '|' for the {dtype.code} dtype; multi-byte "
                "numbers need '<', '>' or '='"
            )
        dtype.byteorder = order
        dtype.state_set = True

    def dtype_of(self, value: Any, what: str) -> np.dtype:
        if not isinstance(value, _Dtype):
            raise self.refuse(
                f"{what} has {_describe_type(value)} as its dtype; expected a numeric NumPy dtype"
            )
        value.used = True
        return value.numpy()

    def raw_bytes(self, raw: Any, nbytes: int, what: str) -> bytes | bytearray:
        if isinstance(raw, str):
            # Python 2 pickles (read as latin-1 text) and protocol-0 bytes.
            if len(raw) != nbytes:
                raise self.length_error(what, len(raw), nbytes)
            try:
                return _latin1(raw)
            except UnicodeEncodeError:
                raise self.refuse(f"{what} has text data that are not bytes") from None
        if not isinstance(raw, (bytes, bytearray)):
            raise self.refuse(
                f"{what} has {_describe_type(raw)} as its data; expected bytes"
            )
        if len(raw) != nbytes:
            raise self.length_error(what, len(raw), nbytes)
        return raw

    def length_error(self, what: str, got: int, want: int) -> PublishedFileError:
        return self.refuse(
            f"{what} has {got} bytes of data; its shape and dtype need {want}"
        )

    def make_array(
        self, dtype_value: Any, shape: Any, raw: Any, order: str
    ) -> np.ndarray:
        """A numeric array from validated parts.

        Nothing large exists before every check has passed.
        """
        if (
            type(shape) is not tuple
            or len(shape) > 3
            or not all(type(d) is int and d >= 0 for d in shape)
        ):
            raise self.refuse(
                f"array shape {_brief(shape) if type(shape) is not tuple else _shape_text(shape)}; "
                "expected a tuple of at most 3 non-negative ints"
            )
        dtype = self.dtype_of(dtype_value, "an array")
        count = math.prod(shape)
        if count > self.max_elements:
            raise self.refuse(
                f"an array of shape {shape} ({count} elements) is larger than "
                f"an image of the expected size ({self.max_elements} elements); "
                "refused before allocating"
            )
        nbytes = count * dtype.itemsize
        if (
            self.array_bytes + nbytes > MAX_ARRAY_BYTES
            or self.array_elements + count > MAX_ARRAY_ELEMENTS
        ):
            raise self.refuse(
                f"the arrays exceed {MAX_ARRAY_BYTES} bytes or "
                f"{MAX_ARRAY_ELEMENTS} elements in all, more than this format "
                "holds; refused before allocating"
            )
        data = self.raw_bytes(
            raw, nbytes, f"an array of shape {shape} and dtype {dtype}"
        )
        self.array_bytes += nbytes
        self.array_elements += count
        array = np.frombuffer(data, dtype=dtype).reshape(shape, order=order)
        if isinstance(data, bytearray) and id(data) not in self.lent:
            # A long byte string read from the file (or protocol 5's
            # bytearray) becomes the array's memory: writeable, no copy.  It
            # is lent once; the reader keeps it alive so that its id stays
            # unique, and a second array from the same string gets a copy.
            self.lent[id(data)] = data
            return array
        # A copy owns its memory and is writeable (bytes are read-only).
        return array.copy(order="K")

    def build_array(self, state: Any) -> np.ndarray:
        # ndarray.__setstate__'s state: (version, shape, dtype, is_fortran,
        # data), or the same without the version (older NumPy).
        if type(state) is tuple and len(state) == 5:
            version, *state_rest = state
            if type(version) is not int or version != 1:
                raise self.refuse(f"array state version {_brief(version)}; expected 1")
        elif type(state) is tuple and len(state) == 4:
            state_rest = list(state)
        else:
            raise self.refuse(
                f"array state {_brief(state)}; expected (1, shape, dtype, "
                "is_fortran, data) as NumPy writes it"
            )
        shape, dtype, fortran, raw = state_rest
        if not _one_of(fortran, (0, 1)):
            raise self.refuse(
                f"array is_fortran flag {_brief(fortran)}; expected a boolean"
            )
        return self.make_array(dtype, shape, raw, "F" if fortran else "C")

    def reduce_frombuffer(self, func: _Admitted, args: tuple) -> np.ndarray:
        # Protocol 5: _frombuffer(buffer, dtype, shape, order), the buffer
        # in-band (out-of-band buffers are refused with NEXT_BUFFER).
        if len(args) != 4 or not _one_of(args[3], ("C", "F")):
            raise self.refuse(
                f"{func.qualname} with unexpected arguments; expected "
                "(data, dtype, shape, 'C' or 'F') as NumPy writes it"
            )
        buf, dtype, shape, order = args
        if isinstance(buf, str):
            raise self.refuse(f"{func.qualname} with text data; expected bytes")
        return self.make_array(dtype, shape, buf, order)

    def reduce_scalar(self, func: _Admitted, args: tuple) -> np.generic:
        if len(args) != 2:
            raise self.refuse(
                f"{func.qualname} with {len(args)} arguments; expected "
                "(dtype, data) of a numeric scalar"
            )
        dtype = self.dtype_of(args[0], "a scalar")
        data = self.raw_bytes(args[1], dtype.itemsize, f"a scalar of dtype {dtype}")
        return np.frombuffer(data, dtype=dtype)[0]

    def reduce_encode(self, func: _Admitted, args: tuple) -> bytes | bytearray:
        if len(args) != 2 or not isinstance(args[0], str):
            raise self.refuse(
                "_codecs.encode with unexpected arguments; expected "
                "(text, 'latin1') as pickle writes bytes"
            )
        if not _one_of(args[1], ("latin1", "latin-1")):
            raise self.refuse(
                f"refused _codecs.encode with encoding {_brief(args[1])}: only "
                "'latin1', which pickle itself writes, is allowed",
                RefusedGlobalError,
            )
        # One string in the file could be encoded many times over.
        self.text_bytes += len(args[0])
        if self.text_bytes > MAX_FILE_BYTES:
            raise self.refuse(
                f"the byte strings made from text exceed {MAX_FILE_BYTES} "
                "bytes in all, more than this format holds"
            )
        try:
            return _latin1(args[0])
        except UnicodeEncodeError:
            raise self.refuse("_codecs.encode of text that is not latin-1") from None

    def reduce_bytes(self, func: _Admitted, args: tuple) -> bytes:
        if args:
            raise self.refuse(
                "bytes() with arguments; pickle writes only bytes() for b''"
            )
        return b""


def _latin1(text: str) -> bytes | bytearray:
    """``text.encode('latin-1')``.

    Long results come as a bytearray that an array can use as its memory
    without a copy (see ``_ArrayBuilder.make_array``).
    """
    if len(text) >= _BUFFER:
        return bytearray(text, "latin-1")
    return text.encode("latin-1")


def _one_of(value: Any, options: tuple) -> bool:
    """``value in options`` for the file's scalars only.

    Comparing an array with ``in`` would raise instead of answering.
    """
    return type(value) in (bool, int, str, bytes) and value in options


def _shape_text(shape: tuple) -> str:
    if len(shape) > 8:
        return f"of {len(shape)} dimensions"
    return "(" + ", ".join(_brief(d) for d in shape) + ")"


_OPCODES = {op.code.encode("latin-1"): op for op in pickletools.opcodes}


def _read_string_nl(f: _BoundedReader) -> str:
    """Python 2's STRING argument: a quoted, escaped line, as latin-1 text.

    Replaces pickletools' reader, which quotes the whole line in its error
    messages and decodes as ASCII; the C unpickler with ``encoding='latin1'``
    gives the same text as this.
    """
    data = f.readline()
    if not data.endswith(b"\n"):
        raise ValueError("no newline after a STRING argument")
    data = data[:-1]
    if len(data) < 2 or data[:1] not in (b"'", b'"') or data[-1:] != data[:1]:
        raise ValueError("a STRING argument without matching quotes")
    return codecs.escape_decode(data[1:-1])[0].decode("latin-1")


_ARG_READERS = {"STRING": _read_string_nl}


def _load(reader: _BoundedReader, source: str, max_elements: int) -> Any:
    machine = _Machine(source, max_elements)
    try:
        result = machine.run(reader)
    except (PublishedFileError, _WrongMode):
        raise
    except Exception as err:
        # pickletools' argument readers report malformed or short data as
        # ValueError (or an AssertionError); anything else from a malformed
        # file lands here too, so that every failure names the file.
        if reader.short:
            raise PublishedFileError(
                f"{source}: the file ends early (truncated download?) at byte "
                f"{reader.pos}"
            ) from err
        raise PublishedFileError(
            f"{source}: not a readable pickle at byte {reader.pos} "
            f"({type(err).__name__}: {_clip(str(err))})"
        ) from err
    if not reader.at_end():
        raise PublishedFileError(
            f"{source}: data continue after the pickle's end at byte "
            f"{reader.pos}; expected the file to end there"
        )
    return result


def _stream_size(f: IO[bytes]) -> int | None:
    """Bytes from the current position to the end, or None if unknown."""
    try:
        start = f.tell()
        end = f.seek(0, io.SEEK_END)
        f.seek(start)
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None
    if not isinstance(start, int) or not isinstance(end, int):
        return None
    return max(end - start, 0)


def _plain_reader(f: IO[bytes], source: str) -> _BoundedReader:
    size = _stream_size(f)
    if size is not None and size > MAX_FILE_BYTES:
        raise RefusedPickleError(
            f"{source}: the file has {size} bytes, more than the "
            f"{MAX_FILE_BYTES} this format needs; refused before reading"
        )
    if size is None:
        return _BoundedReader(f, source, MAX_FILE_BYTES, known_size=False)
    return _BoundedReader(f, source, size, known_size=True)


def restricted_load(
    file: IO[bytes], source: str = "<pickle>", *, max_elements: int = 1024 * 1024
) -> Any:
    """Loads a pickle of plain data and numeric NumPy arrays without running it.

    Args:
      file: a binary file object positioned at the pickle.
      source: the file's name, used in error messages.
      max_elements: most elements of one array (an image's ``size * size``).

    Returns:
      Lists, tuples, dicts, ints, floats, strings, bytes, and numeric NumPy
      arrays and scalars (see the module docstring for what is refused).
      Byte strings of 64 KiB or more come back as ``bytearray``.

    Raises:
      RefusedGlobalError: (a ``pickle.UnpicklingError`` and ``ValueError``)
        a global other than the admitted NumPy names.
      RefusedPickleError: an opcode, dtype, size or structure this reader
        does not build.
      PublishedFileError: a truncated, damaged or malformed pickle.
    """
    if not hasattr(file, "read"):
        raise _type_error("file", "expected a binary file object", file)
    if type(max_elements) is not int:
        raise _type_error("max_elements", "expected a non-negative int", max_elements)
    if max_elements < 0:
        raise _value_error("max_elements", "expected a non-negative int", max_elements)
    return _load(_plain_reader(file, source), source, max_elements)


class RestrictedUnpickler:
    """The reader behind :func:`restricted_load`, with an unpickler's interface.

    It is no longer a ``pickle.Unpickler``: see the module docstring for why
    restricting ``find_class`` is not enough.

    Args:
      file: a binary file object.
      source: the file's name, used in error messages.
    """

    def __init__(self, file: IO[bytes], source: str = "<pickle>") -> None:
        self._file = file
        self._source = source

    def load(self) -> Any:
        """The file's contents, as :func:`restricted_load` reads them."""
        return restricted_load(self._file, self._source)


# --- the layout of the published file --------------------------------------------


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
    """Checks the loaded structure; returns ``[(image, label), ...]``.

    Images come back as float32 ``(size, size)`` arrays with finite values,
    labels as ints.

    Raises:
      PublishedFileError: naming ``source`` and what was expected.
    """
    expected = _expected(size)
    if not isinstance(obj, (list, tuple)) or len(obj) != 2:
        raise PublishedFileError(f"{source}: top level is {_brief(obj)}; {expected}")
    records, lookup = obj
    if not isinstance(records, (list, tuple)) or not isinstance(lookup, dict):
        raise PublishedFileError(
            f"{source}: found ({type(records).__name__}, "
            f"{type(lookup).__name__}); {expected}"
        )
    want = dict(enumerate(class_names))
    got = {_as_int(k, source, expected): v for k, v in lookup.items()}
    if got.keys() != want.keys() or any(
        not isinstance(got[k], str) or got[k] != want[k] for k in want
    ):
        shown = (
            "{"
            + ", ".join(f"{k}: {_brief(v)}" for k, v in list(got.items())[:10])
            + (", ..." if len(got) > 10 else "")
            + "}"
        )
        raise PublishedFileError(
            f"{source}: class names {shown} do not match the expected {want!r}"
        )
    if len(records) > MAX_RECORDS:
        raise PublishedFileError(
            f"{source}: holds {len(records)} records, more than the "
            f"{MAX_RECORDS} this reader accepts; {expected}"
        )
    out = []
    seen: dict[int, int] = {}
    for i, record in enumerate(records):
        if not isinstance(record, (list, tuple)) or len(record) != 2:
            raise PublishedFileError(
                f"{source}: record {i} is not an [image, label] pair; {expected}"
            )
        image, label = record
        if not isinstance(image, np.ndarray) or image.shape != (size, size):
            shape = image.shape if isinstance(image, np.ndarray) else _brief(image)
            raise PublishedFileError(
                f"{source}: record {i} has an image of shape {shape}; {expected}"
            )
        if image.dtype.kind != "f":
            raise PublishedFileError(
                f"{source}: record {i} has an image of dtype {image.dtype}; {expected}"
            )
        # One array stored once and referenced by many records would be
        # converted (and copied) once per record.
        if id(image) in seen:
            raise PublishedFileError(
                f"{source}: record {i} repeats the image of record "
                f"{seen[id(image)]}; every record has its own image"
            )
        seen[id(image)] = i
        label = _as_int(label, source, expected)
        if label not in want:
            raise PublishedFileError(
                f"{source}: record {i} has label {label}, expected one of "
                f"{sorted(want)}"
            )
        with np.errstate(over="ignore", invalid="ignore"):
            image = image.astype(np.float32, copy=False)
        if not np.isfinite(image).all():
            raise PublishedFileError(
                f"{source}: record {i} has non-finite image values (NaN or "
                "infinity, or beyond the float32 range); images must be finite"
            )
        out.append((image, label))
    if not out:
        raise PublishedFileError(f"{source}: holds no records; {expected}")
    return out


def _as_int(value: Any, source: str, expected: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise PublishedFileError(
            f"{source}: label {_brief(value)} is not an int; {expected}"
        )
    return int(value)


# Compression methods read: stored and deflate (what zip tools write by
# default, and the Zenodo file).  zipfile inflates deflate data no further
# than asked; its bzip2 and lzma readers decompress a whole compressed chunk
# at once, which a small bomb turns into gigabytes, so they are refused.
_ZIP_METHODS = {
    zipfile.ZIP_STORED: "stored",
    zipfile.ZIP_DEFLATED: "deflate",
}


def _check_zip_directory(f: IO[bytes], source: str) -> None:
    """Refuses a central directory larger than :data:`MAX_ZIP_DIRECTORY_BYTES`.

    :class:`zipfile.ZipFile` reads the whole directory and makes an object
    per entry, several times the entry's size; the published archive has
    one entry.  This reads the end record the way ``ZipFile`` does (with
    its helper, where this Python has it) before ``ZipFile`` parses the
    directory.
    """
    end_record = getattr(zipfile, "_EndRecData", None)
    size_index = getattr(zipfile, "_ECD_SIZE", None)
    if end_record is None or size_index is None:
        return  # ZipFile itself still reports a damaged archive
    try:
        start = f.tell()
    except Exception:
        return
    try:
        record = end_record(f)
    except Exception:
        return  # ditto: ZipFile raises BadZipFile for it, named below
    finally:
        try:
            f.seek(start)
        except Exception:
            pass
    if record and record[size_index] > MAX_ZIP_DIRECTORY_BYTES:
        raise PublishedFileError(
            f"{source}: the zip archive's directory declares "
            f"{record[size_index]} bytes, more than the "
            f"{MAX_ZIP_DIRECTORY_BYTES} this reader accepts (the published "
            "archive has one member)"
        )


def _read_zip(f: IO[bytes], source: str, size: int) -> tuple[Any, str]:
    """Loads the member of ``dataset.zip``; returns it and its name."""
    _check_zip_directory(f, source)
    try:
        archive = zipfile.ZipFile(f)
    except Exception as err:  # BadZipFile, EOFError, OSError, ValueError, ...
        raise PublishedFileError(
            f"{source}: damaged zip archive ({type(err).__name__}: "
            f"{_clip(str(err))}); truncated download?"
        ) from err
    with archive:
        try:
            info = archive.getinfo(MEMBER_NAME)
        except KeyError:
            names = archive.namelist()
            shown = ", ".join(repr(_clip(n, _QUOTE)) for n in names[:5])
            more = f" and {len(names) - 5} more" if len(names) > 5 else ""
            raise PublishedFileError(
                f"{source}: no member {MEMBER_NAME} in the archive "
                f"(found [{shown}]{more})"
            ) from None
        member_source = f"{source}:{MEMBER_NAME}"
        if info.flag_bits & 0x1:
            raise PublishedFileError(
                f"{member_source}: the member is encrypted; expected the "
                "unencrypted Zenodo file"
            )
        if info.compress_type not in _ZIP_METHODS:
            raise PublishedFileError(
                f"{member_source}: unsupported compression method "
                f"{info.compress_type}; supported are "
                + ", ".join(f"{k} ({v})" for k, v in _ZIP_METHODS.items())
            )
        if info.file_size > MAX_FILE_BYTES:
            raise RefusedPickleError(
                f"{member_source}: the member declares {info.file_size} bytes "
                f"uncompressed, more than the {MAX_FILE_BYTES} this format "
                "needs; refused before decompressing"
            )
        try:
            member = archive.open(info)
        except Exception as err:  # RuntimeError, NotImplementedError, BadZipFile
            raise PublishedFileError(
                f"{member_source}: cannot open the archive member "
                f"({type(err).__name__}: {_clip(str(err))})"
            ) from err
        with member:
            # The reader stops at the declared size (checked above) and
            # zipfile stops there too, so a lying header cannot inflate
            # beyond it; reading to the end checks the CRC.
            reader = _BoundedReader(
                member, member_source, info.file_size, known_size=True
            )
            obj = _load(reader, member_source, size * size)
    return obj, member_source


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
      size: expected image side (1 to :data:`MAX_SIZE`); also caps the
        elements of any array in the file at ``size * size``.
      class_names: expected ``{label: name}`` table, label order.
      source: name used in error messages (defaults to ``path``).

    Returns:
      ``(image, label)`` pairs: float32 ``(size, size)`` arrays with finite
      values, int labels.

    Raises:
      PublishedFileError: (a ``ValueError``) missing, truncated, damaged,
        refused or wrong-shaped file; the message names the file.
      RefusedGlobalError: (a ``PublishedFileError`` and a
        ``pickle.UnpicklingError``) the pickle references a global other
        than the NumPy ones it needs.
      TypeError: an argument of the wrong type.
    """
    if type(size) is not int:
        raise _type_error(
            "size", f"expected an int from 1 to {MAX_SIZE} (the image side)", size
        )
    if not 1 <= size <= MAX_SIZE:
        raise _value_error(
            "size", f"expected an int from 1 to {MAX_SIZE} (the image side)", size
        )
    if isinstance(class_names, str) or not all(isinstance(n, str) for n in class_names):
        raise _type_error("class_names", "expected a sequence of strings", class_names)
    if source is not None and not isinstance(source, str):
        raise _type_error("source", "expected a string or None", source)
    if isinstance(path, (str, os.PathLike)):
        source = os.fspath(path) if source is None else source
        try:
            f = open(path, "rb")
        except FileNotFoundError as err:
            raise PublishedFileError(
                f"{source}: file not found; expected the Zenodo file "
                f"{ZIP_NAME} (DOI 10.5281/zenodo.1252464) or its member "
                f"{MEMBER_NAME}"
            ) from err
        except OSError as err:  # a directory, no permission, ...
            raise PublishedFileError(
                f"{source}: cannot open the file ({type(err).__name__}: "
                f"{_clip(str(err))})"
            ) from err
        with f:
            return read_published(f, size, class_names, source)
    if not hasattr(path, "read"):
        raise _type_error("path", "expected a path or a binary file object", path)
    f = path
    if source is None:
        source = str(getattr(f, "name", "<stream>"))
    try:
        start = f.tell()
        head = f.read(4)
        f.seek(start)
    except Exception as err:
        raise PublishedFileError(
            f"{source}: cannot read the file ({type(err).__name__}: "
            f"{_clip(str(err))}); expected a seekable binary file"
        ) from err
    if not isinstance(head, bytes):
        raise _type_error(
            "path",
            f"expected a file opened in binary mode; {source} returned "
            f"{type(head).__name__} from read()",
            path,
        )
    if head[:2] == b"PK":
        obj, source = _read_zip(f, source, size)
    else:
        obj = _load(_plain_reader(f, source), source, size * size)
    return validate_records(obj, source, size, class_names)
