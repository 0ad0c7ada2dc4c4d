"""The wire format between the grading process and the student's worker: JSON plus raw arrays.

A message is one frame: a header `!4sQI` (magic, JSON length, number of blobs), the UTF-8
JSON, then each blob as `!Q` length + bytes. In the JSON an array is `{"__nd__": i, "dtype":
..., "shape": [...]}` naming blob i, raw bytes are `{"__bytes__": i}`. Nothing is pickled,
so a hostile worker can at worst send wrong numbers, never code.
"""

from __future__ import annotations

import json
import struct
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


def read_message(stream: Readable, max_bytes: int) -> Any:
    """Receive one message; arrays come back as read-only numpy arrays, blobs as bytes."""
    magic, size, count = HEADER.unpack(_read_exact(stream, HEADER.size))
    if magic != MAGIC:
        raise ProtocolError("the reply does not start with the protocol's magic bytes")
    if count > MAX_BLOBS:
        raise ProtocolError(f"the reply holds {count} arrays, more than {MAX_BLOBS}")
    total = size
    if total > max_bytes:
        raise ProtocolError(f"the reply is {total} bytes, more than the limit of {max_bytes}")
    payload = _read_exact(stream, size)
    blobs = []
    for _ in range(count):
        (length,) = BLOB.unpack(_read_exact(stream, BLOB.size))
        total += length
        if total > max_bytes:
            raise ProtocolError(f"the reply is over the limit of {max_bytes} bytes")
        blobs.append(_read_exact(stream, length))
    try:
        tree = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(f"the reply is not valid JSON: {exc}") from None
    return decode(tree, blobs)


def decode(tree: Any, blobs: list[bytes]) -> Any:
    """Resolve array and bytes references in a decoded JSON tree, strictly."""
    if isinstance(tree, dict):
        if "__nd__" in tree:
            return _array(tree, blobs)
        if "__bytes__" in tree:
            return blobs[_index(tree["__bytes__"], blobs)]
        return {k: decode(v, blobs) for k, v in tree.items()}
    if isinstance(tree, list):
        return [decode(v, blobs) for v in tree]
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
