"""Moodle's "Download all submissions": its folder names, and the zips found in a download (zip or folder)."""

from __future__ import annotations

import functools
import io
import os
import re
import time
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable

from grader.config import ZipLimits
from grader.errors import InputError

SUBMISSION_PLUGIN = "assignsubmission_file"
FEEDBACK_FILE = "report.html"
# Files and folders that zip tools and operating systems add; never a submission.
IGNORED = frozenset({"__macosx", ".ds_store", "thumbs.db", "desktop.ini"})
CHUNK = 1024 * 1024


# --------------------------------------------------------------------------- names


@dataclass(frozen=True)
class MoodleName:
    """A path part of Moodle's download: ``<full name>_<participant id>_<subtype>_<type>_<rest>``."""

    full_name: str
    participant_id: str
    plugin: str
    """E.g. ``assignsubmission_file``."""
    rest: str
    """What follows the plugin: "" for a folder, the student's file name in the flat layout."""


def parse_moodle_name(part: str) -> MoodleName | None:
    """The participant a download path part names, split the way Moodle's importer splits it; else None."""
    pieces = part.split("_", 4)
    if len(pieces) < 4:
        return None
    name, pid, subtype, kind = pieces[:4]
    if not (pid.isascii() and pid.isdigit()) or not subtype.startswith("assign") or not name.strip() or not kind:
        return None
    return MoodleName(name.strip(), pid, f"{subtype}_{kind}", pieces[4] if len(pieces) == 5 else "")


def feedback_folder(full_name: str, participant_id: str) -> str:
    """The folder Moodle's feedback-zip import attaches files from to this participant."""
    # Moodle replaces underscores in names with blanks; a slash or control character would
    # make a path of its own.
    clean = re.sub(r"[\x00-\x1f/\\:*?\"<>|]", " ", full_name.replace("_", " ")).strip() or "Participant"
    return f"{clean}_{participant_id}_{SUBMISSION_PLUGIN}_"


# --------------------------------------------------------------------------- discovery


@dataclass(frozen=True)
class Found:
    """One submission found in the batch input."""

    zip_path: Path | None
    """The zip to grade (under its name as submitted); None when the participant handed in no zip."""
    name: str
    """The zip's file name as the student submitted it."""
    source: str
    """Where it was found, relative to the input, for the TA."""
    participant_id: str | None = None
    moodle_name: str | None = None
    """The full name of the Moodle folder (or flat-layout prefix) it came in."""
    mtime: float = 0.0
    other_files: tuple[str, ...] = ()
    """Files of the participant that are not zips (only kept when no zip was handed in)."""
    claimed: tuple[str, ...] = ()
    """Folders (or the file name) inside the participant's own submission named like another participant:
    the student's content, which never decides the owner, but which a TA is told about."""


def find_submissions(source: Path, staging: Path, limits: ZipLimits, exclude: Path | None = None) -> list[Found]:
    """Every submission in a folder of zips or a Moodle download (zip or unpacked), in a stable order.

    Zips inside a downloaded zip, and flat-layout zips whose name carries Moodle's prefix, are
    copied to `staging` under the name the student gave them; other zips are graded in place.
    """
    source = Path(source)
    stage = _Stager(staging)
    if source.is_dir():
        found = _from_folder(source, stage, exclude)
    elif source.is_file() and zipfile.is_zipfile(source):
        found = _from_download_zip(source, stage, limits)
    elif source.exists():
        raise InputError(f"{source} is neither a folder nor a zip; give a folder of submission zips or "
                         "Moodle's \"Download all submissions\" zip.")
    else:
        raise InputError(f"{source} does not exist.")
    return sorted(found, key=lambda f: (f.participant_id or "", f.source.casefold(), f.source))


def _ignored(parts: tuple[str, ...]) -> bool:
    return any(p.casefold() in IGNORED or p.startswith((".", "~")) for p in parts)


def _from_folder(root: Path, stage: _Stager, exclude: Path | None) -> list[Found]:
    skip = {p.resolve() for p in (stage.root, exclude) if p is not None}
    zips: list[Found] = []
    others: dict[tuple[str, str], list[str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if (here / d).resolve() not in skip)
        for filename in sorted(filenames):
            path = here / filename
            rel = path.relative_to(root)
            if _ignored(rel.parts) or path.is_symlink() or not path.is_file():
                continue
            owner, name, claimed = _owner(rel.parts)
            if not filename.lower().endswith(".zip"):
                if owner is not None:
                    others.setdefault((owner.participant_id, owner.full_name), []).append(rel.as_posix())
                continue
            mtime = path.stat().st_mtime
            if name != filename:
                # The flat layout prefixes the student's name; grade it under the name they gave it.
                path = stage.copy(owner, name, path.read_bytes, mtime)
            zips.append(Found(path, name, rel.as_posix(), owner.participant_id if owner else None,
                              owner.full_name if owner else None, mtime, claimed=claimed))
    return zips + _without_zip(zips, others)


def _from_download_zip(download: Path, stage: _Stager, limits: ZipLimits) -> list[Found]:
    zips: list[Found] = []
    others: dict[tuple[str, str], list[str]] = {}
    try:
        with zipfile.ZipFile(download) as zf:
            members = [m for m in zf.infolist() if not m.is_dir()]
            if len(members) > 100 * limits.max_entries:
                raise InputError(f"{download} holds {len(members)} files, too many for a download of submissions.")
            for member in members:
                parts = tuple(p for p in PurePosixPath(member.filename.replace("\\", "/")).parts if p not in ("", "/"))
                if not parts or ".." in parts or _ignored(parts):
                    continue
                owner, name, claimed = _owner(parts)
                if not parts[-1].lower().endswith(".zip"):
                    if owner is not None:
                        others.setdefault((owner.participant_id, owner.full_name), []).append("/".join(parts))
                    continue
                if member.file_size > limits.max_total_bytes:
                    raise InputError(f"{member.filename} in {download} unpacks to {member.file_size} bytes, more "
                                     f"than a submission may hold ({limits.max_total_bytes}).")
                mtime = time.mktime((*member.date_time, 0, 0, -1))
                path = stage.copy(owner, name, functools.partial(_read_member, zf, member, limits), mtime,
                                  fallback="/".join(parts[:-1]))
                zips.append(Found(path, name, "/".join(parts), owner.participant_id if owner else None,
                                  owner.full_name if owner else None, mtime, claimed=claimed))
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise InputError(f"{download} cannot be read as a zip: {exc}") from exc
    if not zips and not others:
        raise InputError(f"{download} holds no submission zips. Give a folder of zips or Moodle's \"Download all "
                         "submissions\" zip; to grade one student's zip use `grader run`.")
    return zips + _without_zip(zips, others)


def _owner(parts: tuple[str, ...]) -> tuple[MoodleName | None, str, tuple[str, ...]]:
    """The participant a path belongs to, the file's own name, and deeper parts that name another participant.

    The owner is the outermost part named like a participant: in a download that is the top-level
    ``<Full name>_<id>_assignsubmission_file_`` folder Moodle made (or, in the flat layout, the file's
    prefix). Everything below it is the student's own upload, so a folder in there named like someone
    else never makes the zip theirs (#15: a planted ``B_1002_assignsubmission_file_/`` folder).
    """
    for index, part in enumerate(parts):
        owner = parse_moodle_name(part)
        if owner is None:
            continue
        if index == len(parts) - 1:
            if not owner.rest:
                break
            inner = parse_moodle_name(owner.rest)  # a file the student named like someone else's download
            return owner, owner.rest, (owner.rest,) if inner and inner.participant_id != owner.participant_id else ()
        claimed = tuple(p for p in parts[index + 1:]
                        if (other := parse_moodle_name(p)) is not None and other.participant_id != owner.participant_id)
        return owner, parts[-1], claimed
    return None, parts[-1], ()


def _read_member(zf: zipfile.ZipFile, member: zipfile.ZipInfo, limits: ZipLimits) -> bytes:
    """A member's bytes, counted while reading so a lying header cannot unpack more than allowed."""
    out = io.BytesIO()
    with zf.open(member) as handle:
        while chunk := handle.read(CHUNK):
            out.write(chunk)
            if out.tell() > limits.max_total_bytes:
                raise InputError(f"{member.filename} unpacks to more than {limits.max_total_bytes} bytes.")
    return out.getvalue()


def _safe_part(text: str) -> str:
    text = re.sub(r"[\x00-\x1f/\\]", "_", unicodedata.normalize("NFC", text)).strip()
    data = text.encode("utf-8")
    if len(data) > 200:
        # A member of a download zip may have any length; a file name at most 255 bytes.
        _, dot, ext = text.rpartition(".")
        tail = (dot + ext).encode("utf-8")[-16:] if dot else b""
        text = (data[:200 - len(tail)] + tail).decode("utf-8", "ignore")
    return text if text and not text.startswith(".") else "_" + text


class _Stager:
    """Writes zips into the staging folder under their submitted names, one folder per participant."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.written: set[Path] = set()

    def copy(self, owner: MoodleName | None, name: str, read: Callable[[], bytes], mtime: float,
             fallback: str = "") -> Path:
        """The staged path of one zip; its bytes are only rewritten when they changed."""
        folder = self.root / _safe_part(f"{owner.full_name}_{owner.participant_id}" if owner else (fallback or "_"))
        dest = folder / _safe_part(name)
        n = 1
        while dest in self.written:
            n += 1
            dest = folder / str(n) / _safe_part(name)
        self.written.add(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        data = read()
        if not dest.exists() or dest.read_bytes() != data:
            tmp = dest.with_name(f".{dest.name}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, dest)
        # Keep the submission time: "the latest submission counts" reads it.
        os.utime(dest, (mtime, mtime))
        return dest


def _without_zip(zips: list[Found], others: dict[tuple[str, str], list[str]]) -> list[Found]:
    """Participants whose folder holds files but no zip: each a submission that cannot be graded."""
    with_zip = {f.participant_id for f in zips if f.participant_id}
    return [Found(None, "", files[0].split("/", 1)[0] if "/" in files[0] else files[0], pid, full_name, 0.0,
                  tuple(sorted(f.rsplit("/", 1)[-1] for f in files)))
            for (pid, full_name), files in sorted(others.items()) if pid not in with_zip]


