"""The pipes between the grading process and one worker process: requests written by a thread of their own,
replies read with a deadline, and the worker's stdout and stderr pumped into a log that keeps its ends."""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time
from typing import IO, Any, Iterator

from grader.worker import protocol

START_OUTPUT_BYTES = 600
"""How much of a launch's first output a failed start reports (bubblewrap's error fits)."""


class OutputLog:
    """The worker's stdout and stderr, keeping the first and last bytes only."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.head = bytearray()
        self.tail = bytearray()
        self.dropped = 0
        self.lock = threading.Lock()

    def feed(self, chunk: bytes) -> None:
        with self.lock:
            room = self.keep - len(self.head)
            if room > 0:
                self.head += chunk[:room]
                chunk = chunk[room:]
            self.tail += chunk
            if len(self.tail) > self.keep:
                self.dropped += len(self.tail) - self.keep
                del self.tail[: len(self.tail) - self.keep]

    def text(self) -> str:
        with self.lock:
            middle = f"\n[… {self.dropped} bytes of output left out …]\n" if self.dropped else ""
            return (bytes(self.head) + middle.encode() + bytes(self.tail)).decode("utf-8", "replace")


class DeadlineReader:
    """A file-like reader on a pipe that gives up at a deadline."""

    def __init__(self, fd: int, deadline: float) -> None:
        self.fd = fd
        self.deadline = deadline

    def read(self, n: int) -> bytes:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0 or not select.select([self.fd], [], [], remaining)[0]:
            raise TimeoutError
        return os.read(self.fd, min(n, 1 << 20))


class Channel:
    """One worker process's pipes: its request pipe, its reply pipe, and its output feeding `log`."""

    def __init__(self, request_w: int, reply_r: int, output: IO[bytes], log: OutputLog) -> None:
        self.request_w, self.reply_r = request_w, reply_r
        self.log = log
        self.first = bytearray()
        """The first bytes of this launch's output, which a failed start reports."""
        self._pump = threading.Thread(target=self._feed, args=(output,), daemon=True)
        self._pump.start()

    def _feed(self, stream: Any) -> None:
        """Feed the log; also keep the first bytes of this launch."""
        with stream:
            for chunk in iter(lambda: stream.read1(65536), b""):
                self.log.feed(chunk)
                if len(self.first) < START_OUTPUT_BYTES:
                    self.first += chunk[:START_OUTPUT_BYTES - len(self.first)]

    def first_output(self, wait_s: float) -> str:
        """This launch's first output, once the ended process's last words (bubblewrap's error) are in, or after `wait_s`."""
        self._pump.join(timeout=wait_s)
        return self.first.decode("utf-8", "replace").strip()

    @contextlib.contextmanager
    def sending(self, message: dict[str, Any]) -> Iterator[None]:
        """Write `message` from a thread of its own while the body reads the reply (a large request need not fit the
        pipe first); on leaving, wait a second at most for the writer (a dead reader ends it with a broken pipe)."""

        def send() -> None:
            try:
                with open(self.request_w, "wb", buffering=0, closefd=False) as fh:
                    protocol.write_message(fh, message)
            except OSError:
                pass  # a worker gone or hung: the reply's reader says which

        writer = threading.Thread(target=send, daemon=True)
        writer.start()
        try:
            yield
        finally:
            writer.join(timeout=1)

    def receive(self, deadline: float, max_bytes: int) -> Any:
        """The worker's next message, within the reply bounds; TimeoutError past `deadline`, EOFError when the
        worker closed its end, `protocol.ProtocolError` when it is not a message."""
        return protocol.read_message(DeadlineReader(self.reply_r, deadline), max_bytes, protocol.REPLY_BOUNDS)

    def close(self) -> None:
        """Close this side's pipe ends (the output pump ends by itself when the process is gone)."""
        for fd in (self.request_w, self.reply_r):
            try:
                os.close(fd)
            except OSError:
                pass
        self.request_w = self.reply_r = -1
