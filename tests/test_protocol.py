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


def raw_frame(payload: bytes) -> io.BytesIO:
    """A frame of JSON bytes as a hostile worker may write them (no blobs)."""
    return io.BytesIO(protocol.HEADER.pack(protocol.MAGIC, len(payload), 0) + payload)


def read_reply(payload: bytes):
    return protocol.read_message(raw_frame(payload), 1 << 30, protocol.REPLY_BOUNDS)


def test_a_reply_nested_too_deeply_is_refused():
    depth = protocol.REPLY_BOUNDS.max_depth
    assert read_reply(b"[" * depth + b"]" * depth) is not None
    with pytest.raises(protocol.ProtocolError, match="nests deeper"):
        read_reply(b"[" * (depth + 1) + b"]" * (depth + 1))


def test_a_reply_of_too_many_items_is_refused_before_it_is_built():
    # The reply of nested empty lists that took the grading process past 12 GiB, cut to the JSON limit.
    payload = b"[" * 30 + b"[],[]," * (protocol.REPLY_BOUNDS.max_items // 4) + b"[]" + b"]" * 30
    assert len(payload) < protocol.REPLY_BOUNDS.max_json_bytes
    with pytest.raises(protocol.ProtocolError, match="JSON items"):
        read_reply(payload)


def test_a_reply_over_the_json_limit_is_refused_unread():
    payload = b'["' + b"x" * protocol.REPLY_BOUNDS.max_json_bytes + b'"]'
    with pytest.raises(protocol.ProtocolError, match="JSON is"):
        read_reply(payload)


def test_brackets_inside_strings_are_text():
    depth = protocol.REPLY_BOUNDS.max_depth
    text = '\\"' + "[" * (depth + 10) + "{,:" * 10
    got = read_reply(json.dumps({"a": text, "b": "]" * 100 + "[" * 100}).encode())
    assert got["a"] == text
    # A string of closing brackets cannot hide real nesting either.
    with pytest.raises(protocol.ProtocolError, match="nests deeper"):
        read_reply(b'["' + b"]" * 100 + b'", ' + b"[" * (depth + 1) + b"]" * (depth + 1) + b"]")


def test_student_strings_are_cut_once_with_a_note():
    limit = protocol.REPLY_BOUNDS.max_string_chars
    long = "é" * (limit + 12_345)
    got = read_reply(json.dumps({"message": long, long: [long], "short": "ok"}).encode())
    cut = "é" * limit + "… (cut: 12345 characters more)"
    assert got["message"] == cut and got[cut] == [cut] and got["short"] == "ok"
    # The worker reading the grading process's requests keeps them whole.
    assert protocol.read_message(frame({"given": long}, []), 1 << 30)["given"] == long


@pytest.mark.parametrize("payload", [b"[" + b"1" * 5000 + b"]", b"[1, 2", b"\xff\xfe"])
def test_unreadable_json_is_a_protocol_error(payload):
    with pytest.raises(protocol.ProtocolError, match="not valid JSON"):
        read_reply(payload)
