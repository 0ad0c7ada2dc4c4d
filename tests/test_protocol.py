"""The wire format between grader and worker: round trips, and strictness on malformed frames."""

from __future__ import annotations

import io
import json
import struct

import numpy as np
import pytest

from grader.worker import protocol


def roundtrip(obj):
    buffer = io.BytesIO()
    protocol.write_message(buffer, obj)
    buffer.seek(0)
    return protocol.read_message(buffer, 1 << 30)


def test_arrays_bytes_and_scalars_round_trip():
    arr = np.arange(12, dtype=np.float32).reshape(3, 4)
    got = roundtrip({"a": arr, "b": [1, 2.5, "x", None, True], "png": b"\x89PNG", "n": np.int64(3)})
    assert np.array_equal(got["a"], arr) and got["a"].dtype == np.float32
    assert got["b"] == [1, 2.5, "x", None, True] and got["png"] == b"\x89PNG" and got["n"] == 3


def test_nan_and_empty_arrays():
    got = roundtrip({"x": float("nan"), "e": np.zeros((0, 3), np.int64)})
    assert np.isnan(got["x"]) and got["e"].shape == (0, 3)


def test_object_arrays_are_refused_on_the_sending_side():
    with pytest.raises(TypeError):
        protocol.encode({"o": np.array([object()], dtype=object)})
    with pytest.raises(TypeError):
        protocol.encode({"f": lambda: 0})


def frame(payload: dict, blobs: list[bytes], magic: bytes = protocol.MAGIC) -> io.BytesIO:
    data = json.dumps(payload).encode()
    parts = [protocol.HEADER.pack(magic, len(data), len(blobs)), data]
    for b in blobs:
        parts += [struct.pack("!Q", len(b)), b]
    return io.BytesIO(b"".join(parts))


@pytest.mark.parametrize("payload, blobs, message", [
    ({"__nd__": 0, "dtype": "object", "shape": [1]}, [b"x" * 8], "dtype"),
    ({"__nd__": 0, "dtype": "float32", "shape": [3]}, [b"x" * 8], "cannot hold"),
    ({"__nd__": 5, "dtype": "float32", "shape": [1]}, [b"x" * 4], "blob"),
    ({"__nd__": 0, "dtype": "float32", "shape": [-1]}, [b"x" * 4], "shape"),
])
def test_malformed_arrays_are_rejected(payload, blobs, message):
    with pytest.raises(protocol.ProtocolError, match=message):
        protocol.read_message(frame(payload, blobs), 1 << 20)


def test_size_limit_and_magic():
    with pytest.raises(protocol.ProtocolError, match="limit"):
        protocol.read_message(frame({"a": 1}, [b"x" * 2048]), 1024)
    with pytest.raises(protocol.ProtocolError, match="magic"):
        protocol.read_message(frame({"a": 1}, [], magic=b"NOPE"), 1024)
    with pytest.raises(EOFError):
        protocol.read_message(io.BytesIO(b""), 1024)
