"""`grader review`: the TA grades written answers by question in a browser, one key press per typical answer.

The app (a Flask app, `grader.review.app`) serves one batch output folder on 127.0.0.1 with a random
token that every request must carry. It reads the answers from the students' ``results.json`` and
writes every decision at once into the overrides file that ``grader batch`` merges
(`grader.overrides.record`: locked, re-read, replaced atomically, so two TAs' apps on one folder
lose nothing; the last write per student and question wins). Rubric items live in
``rubric_items.json`` beside it; an answer's points are computed from its items whenever the file
is read (`grader.overrides.score`), so the app, grades.csv and the Moodle worksheet agree after an
item's points change. Each page polls for the files' version every 2 s, so one TA sees the other's
decisions. Groups of similar answers: `grader.review.groups`.
"""

from __future__ import annotations

import secrets
import socket
from dataclasses import dataclass
from pathlib import Path

from grader.errors import GraderError


@dataclass(frozen=True)
class Served:
    """Where the app listens."""

    url: str
    port: int


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_server(out: Path, grader_name: str, port: int | None = None, overrides: Path | None = None,
                token: str | None = None) -> tuple[object, Served]:
    """A threaded WSGI server of the app for `out` (not started) and its URL with the token."""
    import logging

    from werkzeug.serving import make_server as wsgi_server

    from grader.review.app import create_app

    token = token or secrets.token_urlsafe(24)
    app = create_app(Path(out), grader_name, token, overrides)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per request (a poll every 2 s) on the terminal
    if port:
        # Werkzeug exits the process on a port in use; say it in a sentence instead.
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError as exc:
                raise GraderError(f"Cannot listen on 127.0.0.1 port {port}: {exc.strerror or exc}. "
                                  "Leave out --port to take a free one.") from exc
    server = wsgi_server("127.0.0.1", port or free_port(), app, threaded=True)
    bound = int(server.server_port)
    return server, Served(f"http://127.0.0.1:{bound}/?token={token}", bound)
