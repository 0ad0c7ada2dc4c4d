"""The wire format between the grading process and the student's worker: JSON plus raw arrays.

A message is one frame: a header `!4sQI` (magic, JSON length, number of blobs), the UTF-8
JSON, then each blob as `!Q` length + bytes. In the JSON an array is `{"__nd__": i, "dtype":
..., "shape": [...]}` naming blob i, raw bytes are `{"__bytes__": i}`. Nothing is pickled,
so a hostile worker can at worst send wrong numbers, never code.

What a reply may hold is bounded while it is read (`Bounds`): the frame's bytes, the JSON's
bytes, its nesting depth and its number of items (containers, keys and values), all checked on
the raw bytes before `json.loads` builds anything, and each string, cut once here with a visible
note, so that nothing downstream ever holds or copies a longer one. With the grading side's
bounds (`REPLY_BOUNDS`) a reply's JSON tree costs the grading process at most about 16 MiB
(measured), and its blobs at most twice the frame limit (256 MiB) for a moment while they are
read: under 0.6 GiB per reply, whatever the worker sends. The reference submission's largest
reply holds 7.9 KB of JSON (1,051 items, depth 10, longest string 435 characters) and 2.9 MB of
blobs (`benchmarks/bench_replies.py` measures both).
"""

from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol

import numpy as np

MAGIC = b"EX4\x01"
HEADER = struct.Struct("!4sQI")
BLOB = struct.Struct("!Q")
MAX_BLOBS = 10_000
# Only plain numeric dtypes cross the boundary; object arrays could smuggle Python objects.
DTYPES = {
    "bool", "uint8", "int8", "int16", "int32", "int64",
    "float16", "float32", "float64",
}


@dataclass(frozen=True)
class Bounds:
    """What one message may hold beyond its byte size; checked while it is read."""

    max_json_bytes: int = 4 << 20
    """Bytes of the JSON part (arrays and bytes travel as blobs and do not count here)."""
    max_depth: int = 64
    """Nesting of lists and objects."""
    max_items: int = 250_000
    """Containers, keys and values together (counted, a little generously, on the raw bytes)."""
    max_string_chars: int | None = None
    """Longer strings (values and keys) are cut to this many characters with a note; None keeps them."""


WORKER_BOUNDS = Bounds()
"""The worker reading the grading process's requests: trusted, so strings are kept whole."""
REPLY_BOUNDS = Bounds(max_string_chars=20_000)
"""The grading process reading the student's worker: every student string is cut here, once."""

# A JSON string as the decoder reads it (unrolled, so that long strings cost no backtracking).
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_DEPTH = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
_NOT_BRACKET = bytes(c for c in range(256) if c not in b"[]{}")
_SCAN_CHUNK = 1 << 20


class Readable(Protocol):
    """Anything with `read(n) -> bytes`: a pipe, a file, a reader with a deadline."""

    def read(self, n: int, /) -> bytes: ...


class ProtocolError(Exception):
    """A frame that is malformed, too large or not plain data."""


def encode(obj: Any) -> tuple[bytes, list[bytes]]:
    """JSON bytes and blobs for a tree of dicts, lists, scalars, numpy arrays and bytes."""
    blobs: list[bytes] = []

    def walk(value: Any) -> Any:
        if isinstance(value, np.ndarray):
            # np.ascontiguousarray would turn a 0-d array (a BatchNorm's num_batches_tracked) into shape (1,).
            arr = value if value.flags.c_contiguous else np.ascontiguousarray(value)
            if arr.dtype.name not in DTYPES:
                raise TypeError(f"cannot send an array of dtype {arr.dtype.name}")
            blobs.append(arr.tobytes())
            return {"__nd__": len(blobs) - 1, "dtype": arr.dtype.name, "shape": list(arr.shape)}
        if isinstance(value, (bytes, bytearray, memoryview)):
            blobs.append(bytes(value))
            return {"__bytes__": len(blobs) - 1}
        if isinstance(value, dict):
            return {str(k): walk(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [walk(v) for v in value]
        if isinstance(value, np.generic):
            return value.item()
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        raise TypeError(f"cannot send a {type(value).__name__}")

    tree = walk(obj)
    return json.dumps(tree, allow_nan=True).encode("utf-8"), blobs


def write_message(stream: BinaryIO, obj: Any) -> None:
    """Send one message."""
    payload, blobs = encode(obj)
    parts = [HEADER.pack(MAGIC, len(payload), len(blobs)), payload]
    for blob in blobs:
        parts.append(BLOB.pack(len(blob)))
        parts.append(blob)
    stream.write(b"".join(parts))
    stream.flush()


def _read_exact(stream: Readable, n: int) -> bytes:
    chunks = []
    while n:
        chunk = stream.read(n)
        if not chunk:
            raise EOFError("the other side closed the channel")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def read_message(stream: Readable, max_bytes: int, bounds: Bounds = WORKER_BOUNDS) -> Any:
    """Receive one message; arrays come back as read-only numpy arrays, blobs as bytes."""
    magic, size, count = HEADER.unpack(_read_exact(stream, HEADER.size))
    if magic != MAGIC:
        raise ProtocolError("the reply does not start with the protocol's magic bytes")
    if count > MAX_BLOBS:
        raise ProtocolError(f"the reply holds {count} arrays, more than {MAX_BLOBS}")
    total = size
    if total > max_bytes:
        raise ProtocolError(f"the reply is {total} bytes, more than the limit of {max_bytes}")
    if size > bounds.max_json_bytes:
        raise ProtocolError(f"the reply's JSON is {size} bytes, more than the limit of {bounds.max_json_bytes}")
    payload = _read_exact(stream, size)
    check_structure(payload, bounds)
    blobs = []
    for _ in range(count):
        (length,) = BLOB.unpack(_read_exact(stream, BLOB.size))
        total += length
        if total > max_bytes:
            raise ProtocolError(f"the reply is over the limit of {max_bytes} bytes")
        blobs.append(_read_exact(stream, length))
    try:
        tree = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        # ValueError also covers an integer of more digits than Python converts.
        raise ProtocolError(f"the reply is not valid JSON: {str(exc)[:200]}") from None
    return decode(tree, blobs, bounds.max_string_chars)


def check_structure(payload: bytes, bounds: Bounds) -> None:
    """ProtocolError unless the JSON bytes nest at most `max_depth` deep and hold at most `max_items` items.

    Strings are blanked first (their brackets are text), the way the decoder reads them; the count
    of items is containers plus commas plus colons, which is at least the number of values and keys.
    """
    structure = _STRING.sub(b'""', payload)
    items = 1 + sum(structure.count(c) for c in (b"[", b"{", b",", b":"))
    if items > bounds.max_items:
        raise ProtocolError(f"the reply holds about {items} JSON items, more than the limit of {bounds.max_items}")
    brackets = structure.translate(None, _NOT_BRACKET).translate(_DEPTH)
    depth = 0
    for start in range(0, len(brackets), _SCAN_CHUNK):
        steps = np.frombuffer(brackets[start:start + _SCAN_CHUNK], dtype=np.int8).cumsum(dtype=np.int64) + depth
        if int(steps.max()) > bounds.max_depth:
            raise ProtocolError(f"the reply nests deeper than the limit of {bounds.max_depth}")
        depth = int(steps[-1])


def cut(text: str, limit: int | None) -> str:
    """A student's string cut to `limit` characters, saying how much was left out (the one place strings are cut)."""
    if limit is None or len(text) <= limit:
        return text
    return f"{text[:limit]}… (cut: {len(text) - limit} characters more)"


def decode(tree: Any, blobs: list[bytes], max_string_chars: int | None = None) -> Any:
    """Resolve array and bytes references in a decoded JSON tree, strictly; strings cut to `max_string_chars`."""
    if isinstance(tree, dict):
        if "__nd__" in tree:
            return _array(tree, blobs)
        if "__bytes__" in tree:
            return blobs[_index(tree["__bytes__"], blobs)]
        return {cut(k, max_string_chars): decode(v, blobs, max_string_chars) for k, v in tree.items()}
    if isinstance(tree, list):
        return [decode(v, blobs, max_string_chars) for v in tree]
    if isinstance(tree, str):
        return cut(tree, max_string_chars)
    return tree


def _index(value: Any, blobs: list[bytes]) -> int:
    if type(value) is not int or not 0 <= value < len(blobs):
        raise ProtocolError("an array refers to a blob that is not there")
    return value


def _array(ref: dict[str, Any], blobs: list[bytes]) -> np.ndarray:
    dtype = ref.get("dtype")
    shape = ref.get("shape")
    if dtype not in DTYPES:
        raise ProtocolError(f"arrays of dtype {dtype!r} are not accepted")
    if not isinstance(shape, list) or not all(type(s) is int and s >= 0 for s in shape):
        raise ProtocolError("an array's shape is not a list of sizes")
    blob = blobs[_index(ref["__nd__"], blobs)]
    expected = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    if expected != len(blob):
        raise ProtocolError(f"an array of shape {shape} and dtype {dtype} cannot hold {len(blob)} bytes")
    return np.frombuffer(blob, dtype=dtype).reshape(shape)
