"""Benchmark: what the worker's replies hold, honestly and at the protocol's bounds.

Prints, in one run:
  - the largest reply of the reference submission's whole grading (JSON bytes, blob bytes, items,
    depth, longest string), so the bounds in `grader.worker.protocol.REPLY_BOUNDS` can be judged
    against it;
  - the grading process's memory (peak of Python's allocations while reading, in a fresh process each) while it reads the
    worst replies the bounds let through: as many empty lists as allowed, as many small dicts,
    the longest strings, and the reply of nested empty lists that once took it past 12 GiB.
Never fails: it measures and prints. `python benchmarks/bench_replies.py [--skip-grading]`.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
import time
import tracemalloc
from dataclasses import replace
from pathlib import Path

from grader.config import DEFAULT
from grader.worker import protocol

MAX_MESSAGE_BYTES = DEFAULT.limits.max_message_bytes

WORST = {
    "empty lists": "b'[' + b'[],' * (n - 2) + b'[]]'",
    "one-key dicts": "b'[' + b'{\"a\":1},' * (n // 3) + b'{}]'",
    "long strings": "b'[' + b','.join([b'\"' + b'x' * 30_000 + b'\"'] * (size // 30_003)) + b']'",
    "nested empty lists (the 12 GiB reply)": "b'[' * 60 + b'[],' * (n - 2) + b'[]' + b']' * 60",
    "one blob as large as a reply may be": "b'{\"__bytes__\": 0}'",
}


def measure(kind: str) -> None:
    """In this (fresh) process: read one worst-case frame and print the peak RSS growth."""
    bounds = protocol.REPLY_BOUNDS
    n, size = bounds.max_items // 2, bounds.max_json_bytes  # each `[],` counts as 2 items
    payload: bytes = eval(WORST[kind])[: size]  # noqa: S307 - our own expressions above
    blobs = [bytes(MAX_MESSAGE_BYTES - len(payload) - 8)] if "blob" in kind else []
    frame = io.BytesIO(protocol.HEADER.pack(protocol.MAGIC, len(payload), len(blobs)) + payload
                       + b"".join(protocol.BLOB.pack(len(b)) + b for b in blobs))
    del payload, blobs
    tracemalloc.start()
    started = time.perf_counter()
    try:
        reply = protocol.read_message(frame, MAX_MESSAGE_BYTES, bounds)
        outcome = f"read ({type(reply).__name__} of {len(reply):,})"
    except protocol.ProtocolError as exc:
        outcome = f"refused ({exc})"
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] / (1 << 20)
    print(f"  {kind}: {outcome}; {seconds:.2f} s, peak allocated while reading {peak:.0f} MiB")


def honest_replies() -> None:
    """Grade the reference submission and print the largest reply's figures."""
    from grader.grading import grade_submission
    from grader.selftest import build_reference_zip

    stats: list[dict[str, int]] = []
    original = protocol.read_message

    def recording(stream, max_bytes, bounds=protocol.WORKER_BOUNDS):  # type: ignore[no-untyped-def]
        data = bytearray()

        class Tee:
            def read(self, n: int) -> bytes:
                chunk = stream.read(n)
                data.extend(chunk)
                return chunk

        reply = original(Tee(), max_bytes, bounds)
        _, size, count = protocol.HEADER.unpack(bytes(data[: protocol.HEADER.size]))
        payload = bytes(data[protocol.HEADER.size: protocol.HEADER.size + size])
        tree = json.loads(payload)
        structure = protocol._STRING.sub(b'""', payload)
        strings = [len(s) for s in _strings(tree)]
        stats.append({"json": size, "blobs": len(data) - protocol.HEADER.size - size - 8 * count,
                      "items": 1 + sum(structure.count(c) for c in (b"[", b"{", b",", b":")),
                      "depth": _depth(tree), "string": max(strings, default=0)})
        return reply

    protocol.read_message = recording  # type: ignore[assignment]
    with tempfile.TemporaryDirectory() as tmp:
        zip_path = build_reference_zip(Path(tmp))
        result = grade_submission(zip_path, replace(DEFAULT, out_dir=Path(tmp) / "out", seed=1, device="cpu"))
    protocol.read_message = original  # type: ignore[assignment]
    print(f"reference submission: {sum(c.points for c in result.checks):g} points, {len(stats)} replies")
    for key in ("json", "blobs", "items", "depth", "string"):
        print(f"  largest {key}: {max(s[key] for s in stats):,}")


def _strings(tree: object) -> list[str]:
    out, stack = [], [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            out.append(node)
        elif isinstance(node, dict):
            out.extend(node)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return out


def _depth(tree: object) -> int:
    if isinstance(tree, dict):
        return 1 + max((_depth(v) for v in tree.values()), default=0)
    if isinstance(tree, list):
        return 1 + max((_depth(v) for v in tree), default=0)
    return 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-grading", action="store_true")
    parser.add_argument("--measure", choices=sorted(WORST), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure(args.measure)
        return
    bounds = protocol.REPLY_BOUNDS
    print(f"bounds: JSON {bounds.max_json_bytes >> 20} MiB, {bounds.max_items:,} items, depth {bounds.max_depth}, "
          f"strings {bounds.max_string_chars:,} characters")
    if not args.skip_grading:
        honest_replies()
    print("worst replies the bounds allow (grading process, fresh process each):")
    for kind in WORST:
        subprocess.run([sys.executable, __file__, "--measure", kind], check=False)


if __name__ == "__main__":
    main()
