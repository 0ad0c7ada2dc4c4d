"""Unpacking a submission's zip safely: limits checked first, the members worth extracting, real bytes counted.

Rule: limits on entries, declared member and total size and compression ratio (of members and of
the whole zip once over 1 MiB unpacked) are checked before anything is extracted, and actual
bytes are counted while extracting. Members with absolute paths, drive letters or ``..`` are
skipped, symlinks and other special files are never created, ``__MACOSX/``, ``.DS_Store``,
``._*``, ``.ipynb_checkpoints/``, ``__pycache__/`` and ``.git/`` are ignored, nested zips are not
extracted, and single folders wrapping everything are stripped. Files are written only under the
folder given (``workdir/files/``).
"""

from __future__ import annotations

import hashlib
import re
import stat
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from grader.config import MiB, Settings
from grader.errors import SubmissionRejected
from grader.flags import Flag
from grader.intake.notebook import short_text as _short

# Folders and files that tools add to zips and that never hold the submission.
IGNORED_DIRS = frozenset({"__macosx", ".ipynb_checkpoints", "__pycache__", ".git"})
IGNORED_FILES = frozenset({".ds_store", "thumbs.db", "desktop.ini"})
# A member is only judged by its compression ratio when it unpacks to more than this:
# small text files of blanks legitimately compress 300:1, bombs need size to hurt.
RATIO_MIN_BYTES = 1 * MiB
CHUNK = 64 * 1024
MAX_MEMBER_PATH = 1024
"""Bytes a member's path may have (UTF-8): far below Linux's PATH_MAX (4096) once under the work folder."""


@dataclass
class _Member:
    """A zip member that will be extracted."""

    info: zipfile.ZipInfo
    parts: tuple[str, ...]


def sha256_of(path: Path) -> str:
    """The file's SHA-256 (hex), read in 1 MiB pieces: what the batch and the similarity cache key a zip by."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def unpack(zip_path: Path, files_dir: Path, settings: Settings) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """Check a zip and extract it under files_dir: ({relative path: name in the zip}, (flag, note) per member skipped).

    Raises SubmissionRejected (with its flag) when the zip cannot be unpacked.
    """
    try:
        zf = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, EOFError, ValueError) as exc:
        raise SubmissionRejected("The submission is not a readable zip file (it is corrupt or not a zip).",
                                 flag=Flag.CORRUPT_ZIP) from exc
    except UnicodeDecodeError as exc:
        raise SubmissionRejected("The zip's file names are not valid UTF-8 although the zip says they are.",
                                 flag=Flag.CORRUPT_ZIP) from exc
    with zf:
        infos = zf.infolist()
        check_before_extracting(infos, settings)
        members, skipped = select_members(infos)
        if not members:
            raise SubmissionRejected("The zip holds no files (or only folders and system files).", flag=Flag.EMPTY_ZIP)
        extracted = extract(zf, members, files_dir, settings)
    return extracted, skipped


def check_before_extracting(infos: list[zipfile.ZipInfo], settings: Settings) -> None:
    """Reject encrypted zips and zips over the limits, by their declared sizes."""
    limits = settings.zip_limits
    if len(infos) > limits.max_entries:
        raise SubmissionRejected(f"The zip holds {len(infos)} entries; at most {limits.max_entries} are accepted.",
                                 flag=Flag.ZIP_LIMITS)
    if any(info.flag_bits & 0x1 for info in infos):
        raise SubmissionRejected("The zip is password-protected (encrypted); submit it without a password.",
                                 flag=Flag.ENCRYPTED_ZIP)
    total = 0
    packed = 0
    for info in infos:
        if info.file_size > limits.max_member_bytes:
            raise SubmissionRejected(
                f"The zip member {_short(info.filename)!r} unpacks to {info.file_size} bytes; at most "
                f"{limits.max_member_bytes} bytes per file are accepted.", flag=Flag.ZIP_LIMITS)
        if info.file_size > RATIO_MIN_BYTES:
            ratio = info.file_size / max(info.compress_size, 1)
            if ratio > limits.max_compression_ratio:
                raise SubmissionRejected(
                    f"The zip member {_short(info.filename)!r} is compressed {ratio:.0f}:1 ({info.compress_size} "
                    f"bytes unpacking to {info.file_size}); at most {limits.max_compression_ratio:.0f}:1 is "
                    "accepted.", flag=Flag.ZIP_LIMITS)
        total += info.file_size
        packed += info.compress_size
    if total > limits.max_total_bytes:
        raise SubmissionRejected(f"The zip unpacks to {total} bytes; at most {limits.max_total_bytes} are accepted.",
                                 flag=Flag.ZIP_LIMITS)
    if total > RATIO_MIN_BYTES and total / max(packed, 1) > limits.max_compression_ratio:
        raise SubmissionRejected(
            f"The zip is compressed {total / max(packed, 1):.0f}:1 ({packed} bytes unpacking to {total}); at most "
            f"{limits.max_compression_ratio:.0f}:1 is accepted.", flag=Flag.ZIP_LIMITS)


def select_members(infos: list[zipfile.ZipInfo]) -> tuple[list[_Member], list[tuple[str, str]]]:
    """The regular, safe, non-system files of a zip (one wrapping folder stripped); (flag, note) per one skipped."""
    members: list[_Member] = []
    skipped: list[tuple[str, str]] = []

    def skip(flag: str, note: str) -> None:
        skipped.append((flag, note))

    for info in infos:
        mode = info.external_attr >> 16
        if info.is_dir():
            continue
        parts = safe_parts(info.filename)
        if parts is None:
            skip(Flag.UNSAFE_MEMBER,
                 f"The zip member {_short(info.filename)!r} points outside the submission (absolute path, drive "
                 "or '..'); it was skipped.")
            continue
        if not parts or any(p.lower() in IGNORED_DIRS for p in parts[:-1]) \
                or parts[-1].lower() in IGNORED_FILES or parts[-1].startswith("._"):
            continue
        if len("/".join(parts).encode("utf-8")) > MAX_MEMBER_PATH:
            # Unpacked, it would end grading with "File name too long" instead of a verdict (#15).
            skip(Flag.UNSAFE_MEMBER,
                 f"The zip member {_short(info.filename)!r} has a path of {len('/'.join(parts).encode('utf-8'))} "
                 f"bytes, longer than the {MAX_MEMBER_PATH} a file in a submission may have; it was skipped.")
            continue
        if stat.S_ISLNK(mode):
            skip(Flag.UNSAFE_MEMBER,
                 f"The zip member {_short(info.filename)!r} is a symbolic link; it was skipped.")
            continue
        if mode and stat.S_IFMT(mode) and not stat.S_ISREG(mode):
            skip(Flag.UNSAFE_MEMBER,
                 f"The zip member {_short(info.filename)!r} is not a regular file; it was skipped.")
            continue
        if parts[-1].lower().endswith(".zip"):
            skip(Flag.NESTED_ZIP,
                 f"The zip holds another zip, {_short(info.filename)!r}; zips inside the zip are not opened.")
            continue
        members.append(_Member(info, parts))
    # Students often zip the folder rather than its contents; strip such wrappers.
    while members and all(len(m.parts) > 1 for m in members) and len({m.parts[0] for m in members}) == 1:
        for m in members:
            m.parts = m.parts[1:]
    return members, skipped


_ODD_CHARS = re.compile(r'[\x00-\x1f\x7f<>:"|?*]')


def safe_parts(name: str) -> tuple[str, ...] | None:
    """A member name as safe relative path parts, or None when it escapes (absolute, drive, '..')."""
    name = unicodedata.normalize("NFC", name.replace("\\", "/"))
    if name.startswith("/") or re.match(r"[A-Za-z]:", name):
        return None
    parts = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            return None
        part = _ODD_CHARS.sub("_", part).encode("utf-8", "replace").decode("utf-8")
        part = part.encode("utf-8")[:200].decode("utf-8", "ignore").strip() or "_"
        if part in (".", ".."):
            part = "_"
        parts.append(part)
    return tuple(parts)


def extract(zf: zipfile.ZipFile, members: list[_Member], files_dir: Path, settings: Settings) -> dict[str, str]:
    """Write members under files_dir, counting real bytes; {relative path: name in the zip}."""
    limits = settings.zip_limits
    root = files_dir.resolve()
    written_total = 0
    extracted: dict[str, str] = {}
    seen: set[str] = set()
    for member in members:
        rel = PurePosixPath(*member.parts).as_posix()
        target = files_dir.joinpath(*member.parts)
        # Case-insensitive: the same zip must unpack the same way on macOS and Windows.
        if rel.lower() in seen or not target.resolve().is_relative_to(root):
            continue  # a duplicate name: the first one stays
        seen.add(rel.lower())
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            dst = open(target, "xb")
        except (FileExistsError, NotADirectoryError, IsADirectoryError):
            continue  # a file and a folder of the same name: the first one stays
        try:
            with dst, zf.open(member.info) as src:
                while chunk := src.read(CHUNK):
                    written_total += len(chunk)
                    # Declared sizes can lie; the real bytes decide.
                    if dst.tell() + len(chunk) > limits.max_member_bytes or written_total > limits.max_total_bytes:
                        raise SubmissionRejected(
                            f"The zip unpacks to more than its limits ({limits.max_member_bytes} bytes per file, "
                            f"{limits.max_total_bytes} in total) although it declared less.", flag=Flag.ZIP_LIMITS)
                    dst.write(chunk)
        except BaseException as exc:
            target.unlink(missing_ok=True)  # no half-written file is left to be mistaken for a whole one
            if isinstance(exc, (zipfile.BadZipFile, zlib.error, EOFError)):
                raise SubmissionRejected(f"The zip is corrupt: {_short(member.info.filename)!r} cannot be unpacked.",
                                         flag=Flag.CORRUPT_ZIP) from exc
            if isinstance(exc, NotImplementedError):
                raise SubmissionRejected(f"The zip member {_short(member.info.filename)!r} uses a compression "
                                         "method that is not supported; use ordinary (deflate) zip.",
                                         flag=Flag.CORRUPT_ZIP) from exc
            raise
        extracted[rel] = member.info.filename
    return extracted
