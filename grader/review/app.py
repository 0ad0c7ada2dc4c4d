"""The review app: question pages, the overview, and the JSON API the page's script calls.

Every decision goes straight to the overrides file (`grader.overrides.record`), every item change to
``rubric_items.json`` (under the same lock); what the app shows is always read back from those files,
so it shows what ``grader batch`` will merge.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from flask import Flask, Response, abort, jsonify, redirect, render_template, request

from grader import overrides as ov
from grader.config import RUBRIC_PATH, Rubric, load_rubric
from grader.errors import GraderError, OverridesError
from grader.flags import Flag
from grader.review.groups import Group, group_answers

POLL_MS = 2000


@dataclass(frozen=True)
class Answer:
    """One counting submission's answer to one question."""

    key: str
    """The student's folder in OUT (what the app writes in the overrides' student column)."""
    names: frozenset[str]
    """What an overrides row may call this student: folder, matriculation number, participant id."""
    text: str


@dataclass(frozen=True)
class Question:
    """A written question as the batch's results hold it."""

    id: str
    text: str
    max_points: float


def read_batch(out: Path) -> tuple[dict[str, Question], dict[str, list[Answer]]]:
    """The written questions and each one's answers from the counting submissions in `out`."""
    counting: dict[str, str] | None = None
    batch = out / "batch.json"
    if batch.is_file():
        data = json.loads(batch.read_text(encoding="utf-8"))
        counting = {s["folder"]: str(s.get("participant_id") or "") for s in data.get("submissions", [])
                    if s.get("counts", True) and s.get("folder")}
    folders = sorted(counting) if counting is not None else sorted(p.parent.name for p in out.glob("*/results.json"))
    questions: dict[str, Question] = {}
    answers: dict[str, list[Answer]] = {}
    for folder in folders:
        path = out / folder / "results.json"
        if not path.is_file():
            continue
        extra = json.loads(path.read_text(encoding="utf-8")).get("extra_data", {})
        if Flag.SUPERSEDED in extra.get("flags", []):
            continue
        names = {folder}
        matriculation = (extra.get("student") or {}).get("matriculation")
        if matriculation and Flag.MATRICULATION_SHARED not in extra.get("flags", []):
            names.add(str(matriculation))
        if counting and counting.get(folder):
            names.add(counting[folder])
        for m in extra.get("manual", []):
            questions.setdefault(m["id"], Question(m["id"], m["question"], float(m["max_points"])))
            answers.setdefault(m["id"], []).append(Answer(folder, frozenset(names), str(m.get("answer") or "")))
    return questions, answers


def now_utc() -> str:
    """The time now in ISO 8601 UTC, to the second."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Review:
    """One batch folder under review: its answers (read once), groups, and the decisions (read when the files change)."""

    def __init__(self, out: Path, grader_name: str, overrides_path: Path | None = None,
                 rubric_path: Path = RUBRIC_PATH) -> None:
        self.out = out
        self.grader_name = grader_name
        self.overrides_path = overrides_path or out / "overrides.csv"
        self.items_path = ov.items_path(self.overrides_path)
        self.rubric: Rubric = load_rubric(rubric_path)
        self.questions, self.answers = read_batch(out)
        if not self.questions:
            raise GraderError(f"{out} holds no graded submission with written answers; run `grader batch` first.")
        self._groups: dict[str, list[Group]] = {}
        self._groups_lock = threading.Lock()
        self._lock = threading.Lock()
        self._seen: tuple[Any, ...] | None = None
        self._items: dict[str, dict[str, ov.RubricItem]] = {}
        self._decided: dict[tuple[str, str], ov.Override] = {}

    # ------------------------------------------------------------------ reading back
    def version(self) -> str:
        """Changes whenever the overrides or the items file changes (either app's write)."""
        parts = []
        for path in (self.overrides_path, self.items_path):
            try:
                st = path.stat()
                parts.append(f"{st.st_mtime_ns}.{st.st_size}.{st.st_ino}")
            except OSError:
                parts.append("0")
        return "-".join(parts)

    def refresh(self) -> None:
        """Re-read the files when they changed since the last look."""
        with self._lock:
            seen = (self.version(),)
            if seen == self._seen:
                return
            items = ov.load_items(self.items_path, self.rubric)
            rows = ov.load_overrides(self.overrides_path, self.rubric, items)
            by_name: dict[str, list[ov.Override]] = {}
            for row in rows:
                by_name.setdefault(row.student, []).append(row)
            decided: dict[tuple[str, str], ov.Override] = {}
            for qid, answers in self.answers.items():
                for a in answers:
                    mine = [r for n in a.names for r in by_name.get(n, ()) if r.question == qid]
                    if mine:
                        decided[(a.key, qid)] = max(mine, key=lambda r: r.line)
            self._items, self._decided, self._seen = items, decided, seen

    def groups(self, qid: str) -> list[Group]:
        """The question's answer groups (computed once per app)."""
        with self._groups_lock:
            if qid not in self._groups:
                self._groups[qid] = group_answers({a.key: a.text for a in self.answers.get(qid, [])})
            return self._groups[qid]

    def group_all(self) -> None:
        """Group every question's answers (the app starts this in the background, so pages open at once)."""
        for qid in self.questions:
            self.groups(qid)

    def items(self, qid: str) -> list[dict[str, Any]]:
        """The question's rubric items as the page shows them."""
        self.refresh()
        return [{"id": i.id, "points": i.points, "text": i.text} for i in self._items.get(qid, {}).values()]

    def decision(self, key: str, qid: str) -> dict[str, Any]:
        """The latest decision on one answer, or an open one."""
        row = self._decided.get((key, qid))
        if row is None:
            return {"graded": False, "points": None, "items": [], "adjust": None, "comment": "", "flag": False,
                    "grader": "", "time": ""}
        return {"graded": row.points is not None, "points": row.points, "items": list(row.items), "adjust": row.adjust,
                "comment": row.comment, "flag": row.flag, "grader": row.grader, "time": row.time}

    def state(self, qid: str, texts: bool = True) -> dict[str, Any]:
        """Everything the question page shows, decisions read back from the files."""
        self.refresh()
        question = self.questions[qid]
        group_of = {k: g.id for g in self.groups(qid) for k in g.members}
        order = [k for g in self.groups(qid) for k in g.members]
        by_key = {a.key: a for a in self.answers[qid]}
        answers = []
        for key in order:
            entry: dict[str, Any] = {"key": key, "group": group_of[key], **self.decision(key, qid)}
            if texts:
                entry["text"] = by_key[key].text
            answers.append(entry)
        state: dict[str, Any] = {"version": self.version(), "question": qid, "items": self.items(qid),
                                 "answers": answers}
        if texts:
            state.update(text=question.text, max_points=question.max_points,
                         groups=[{"id": g.id, "size": len(g.members), "typical": g.typical}
                                 for g in self.groups(qid)],
                         questions=list(self.questions))
        return state

    def overview(self) -> list[dict[str, Any]]:
        """Per question: graded of total, the points' distribution, and the answers flagged "look again"."""
        self.refresh()
        rows = []
        for qid, question in self.questions.items():
            decisions = [(a.key, self.decision(a.key, qid)) for a in self.answers[qid]]
            points = [d["points"] for _, d in decisions if d["graded"]]
            spread: dict[str, int] = {}
            for p in sorted(points):
                spread[f"{p:g}"] = spread.get(f"{p:g}", 0) + 1
            rows.append({"id": qid, "text": question.text, "graded": len(points), "total": len(decisions),
                         "max": question.max_points, "spread": spread,
                         "flagged": [k for k, d in decisions if d["flag"]]})
        return rows

    # ------------------------------------------------------------------ writing
    def decide(self, qid: str, decisions: list[dict[str, Any]]) -> None:
        """Write decisions on answers of one question to the overrides file (one locked, atomic append)."""
        self.refresh()
        known = {a.key for a in self.answers[qid]}
        question = self.questions[qid]
        items = self._items.get(qid, {})
        rows = []
        for d in decisions:
            key = str(d.get("key", ""))
            if key not in known:
                raise ValueError(f"no counting submission {key!r} answers question {qid}")
            chosen = tuple(str(i) for i in d.get("items", []))
            unknown = [i for i in chosen if i not in items]
            if unknown:
                raise ValueError(f"question {qid} has no item {', '.join(unknown)}")
            adjust = d.get("adjust")
            adjust = float(adjust) if adjust not in (None, "") else None
            if adjust is not None and abs(adjust) > 1000:
                raise ValueError("the adjustment is out of range")
            cleared = bool(d.get("clear"))
            points = None if cleared else ov.score(chosen, adjust, items, question.max_points)
            rows.append({"student": key, "question": qid, "points": "" if points is None else f"{points:g}",
                         "comment": str(d.get("comment") or ""), "items": ";".join(chosen),
                         "adjust": "" if adjust is None else f"{adjust:g}", "grader": self.grader_name,
                         "time": now_utc(), "flag": "1" if d.get("flag") else ""})
        def still_defined() -> None:
            # Under the lock: another TA may have removed an item since this app last looked.
            now = ov.load_items(self.items_path, self.rubric).get(qid, {})
            gone = sorted({i for r in rows for i in r["items"].split(";") if i and i not in now})
            if gone:
                raise ValueError(f"item {', '.join(gone)} of question {qid} was just removed; reload the page")

        if rows:
            ov.record(self.overrides_path, rows, still_defined)

    def edit_item(self, qid: str, change: dict[str, Any]) -> None:
        """Add, change or remove one rubric item of a question; every answer carrying it is re-scored by that."""
        if qid not in self.questions:
            raise ValueError(f"no question {qid}")
        with ov.locked(self.overrides_path):
            items = ov.load_items(self.items_path, self.rubric)
            mine = dict(items.get(qid, {}))
            item_id = str(change.get("id") or "")
            if change.get("delete"):
                self.refresh()
                if any(item_id in r.items for (k, q), r in self._decided.items() if q == qid):
                    raise ValueError(f"item {item_id} is on answers; take it off them before removing it")
                mine.pop(item_id, None)
            else:
                if not item_id:
                    item_id = next(c for c in "abcdefghijklmnopqrstuvwxyz" + "".join(map(str, range(10)))
                                   if c not in mine) if len(mine) < 36 else f"i{len(mine)}"
                old = mine.get(item_id)
                raw = {"id": item_id, "points": change.get("points", old.points if old else 0.0),
                       "text": change.get("text", old.text if old else "")}
                if isinstance(raw["points"], str):
                    raw["points"] = float(raw["points"].replace(",", "."))
                mine[item_id] = ov.check_item(raw, "the new item")
            items[qid] = mine
            ov.save_items(self.items_path, items)


def create_app(out: Path, grader_name: str, token: str, overrides_path: Path | None = None,
               rubric_path: Path = RUBRIC_PATH) -> Flask:
    """The Flask app for one output folder; every request must carry `token` (query `token` or X-Review-Token)."""
    review = Review(Path(out), grader_name, overrides_path, rubric_path)
    threading.Thread(target=review.group_all, name="review-groups", daemon=True).start()
    app = Flask("grader.review", template_folder=str(Path(__file__).resolve().parent.parent / "templates"))
    app.config["review"] = review
    app.jinja_env.autoescape = True  # Flask escapes only *.html by default; ours are *.html.j2 (student text!)

    @app.before_request
    def check_token() -> None:
        given = request.args.get("token") or request.headers.get("X-Review-Token") or ""
        if not secrets.compare_digest(given.encode(), token.encode()):
            abort(403)
        host = (request.host or "").rsplit(":", 1)[0]
        if host not in ("127.0.0.1", "localhost"):
            abort(403)  # a page on another site resolving its name to 127.0.0.1 (DNS rebinding)

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Content-Security-Policy"] = "default-src 'self'; style-src 'self' 'unsafe-inline'"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    @app.errorhandler(OverridesError)
    def unreadable(exc: OverridesError) -> Any:
        # Someone edited the overrides or items file by hand and broke it: say where, keep the app running.
        if request.path.startswith("/api/"):
            return jsonify({"error": exc.message}), 409
        return Response(f"The overrides cannot be read: {exc.message}\n", status=409, mimetype="text/plain")

    @app.get("/")
    def home() -> Any:
        return redirect(f"/q/{next(iter(review.questions))}?token={token}")

    @app.get("/q/<qid>")
    def question(qid: str) -> Any:
        if qid not in review.questions:
            abort(404)
        return render_template("review.html.j2", state=review.state(qid), token=token, poll_ms=POLL_MS,
                               grader=review.grader_name)

    @app.get("/overview")
    def overview() -> Any:
        return render_template("review_overview.html.j2", rows=review.overview(), token=token)

    @app.get("/review.js")
    def script() -> Any:
        path = Path(__file__).resolve().parent.parent / "templates" / "review.js"
        return Response(path.read_text(encoding="utf-8"), mimetype="text/javascript")

    @app.get("/api/q/<qid>")
    def api_state(qid: str) -> Any:
        if qid not in review.questions:
            abort(404)
        review.refresh()
        if request.args.get("since") == review.version():
            return jsonify({"version": review.version(), "changed": False})
        return jsonify({**review.state(qid, texts=False), "changed": True})

    @app.post("/api/q/<qid>/decide")
    def api_decide(qid: str) -> Any:
        if qid not in review.questions:
            abort(404)
        body = request.get_json(silent=True) or {}
        try:
            review.decide(qid, list(body.get("decisions", [])))
        except (ValueError, TypeError) as exc:
            return jsonify({"error": str(exc)}), 400
        return jsonify({**review.state(qid, texts=False), "changed": True})

    @app.post("/api/q/<qid>/items")
    def api_items(qid: str) -> Any:
        body = request.get_json(silent=True) or {}
        try:
            review.edit_item(qid, body)
        except (ValueError, TypeError, OverridesError) as exc:
            return jsonify({"error": str(exc)}), 400
        return jsonify({**review.state(qid, texts=False), "changed": True})

    return app


def default_grader_name() -> str:
    """The login of whoever runs the app."""
    try:
        return os.getlogin()
    except OSError:
        import getpass

        return getpass.getuser()
