"""The batch's plan: one Item per submission found, with its cache key, seed, output folder and identity flags.

The rules (who supersedes whom, a shared matriculation number, a zip under someone else's name) are
described in :mod:`grader.batch`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import secrets
import unicodedata
from dataclasses import dataclass, replace
from pathlib import Path

from grader.batch.cache import cache_key, settings_hash, write_json
from grader.config import Settings
from grader.errors import SubmissionRejected
from grader.flags import Flag
from grader.intake.unzip import sha256_of
from grader.moodle import Found
from grader.outfiles import folder_name, output_name

RESERVED = frozenset({"questions", "moodle", "similarity"})
"""Folders of the batch's own outputs, never a submission's folder."""


@dataclass(frozen=True)
class Item:
    """One submission of the batch and what the batch knows about it besides its grading."""

    slot: str
    """Its folder in the output (and the name in grades.csv)."""
    found: Found
    key: str
    """Cache key; empty for a participant without a zip."""
    zip_sha256: str
    seed: int
    counts: bool = True
    """False when superseded by a later zip of the same student."""
    flags: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


def derive_seed(batch_seed: int, zip_sha256: str) -> int:
    """A submission's seed: reproducible from the batch seed and its zip's content."""
    return int(hashlib.sha256(f"{batch_seed}:{zip_sha256}".encode()).hexdigest()[:8], 16) & 0x7FFFFFFF


def stored_batch_seed(path: Path) -> int:
    """The batch seed kept in OUT/.cache/batch.json (drawn on the first run)."""
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        return int(json.loads(path.read_text())["batch_seed"])
    seed = secrets.randbits(31)
    write_json(path, {"batch_seed": seed})
    return seed


def plan(found: list[Found], settings: Settings, batch_seed: int) -> list[Item]:
    """The batch's items: cache keys, seeds, output folders, and the duplicate and mismatch rules applied."""
    from grader.intake import parse_name

    digest = settings_hash(settings)
    items: list[Item] = []
    for f in found:
        if f.zip_path is None:
            base = output_name(f.moodle_name or "submission")
            items.append(Item(base, f, "", "", 0))
            continue
        sha = sha256_of(f.zip_path)
        seed = settings.seed if settings.seed is not None else derive_seed(batch_seed, sha)
        items.append(Item(folder_name(f.name), f, cache_key(sha, f.name, seed, digest), sha, seed))
    items = _assign_slots(items)

    def student(item: Item) -> tuple[str, str] | None:
        with contextlib.suppress(SubmissionRejected):
            s = parse_name(item.found.name, settings.matriculation_digits)
            return s.surname, s.matriculation
        return None

    groups: dict[tuple[str, ...], list[int]] = {}
    identities: dict[str, dict[tuple[str, ...], Item]] = {}
    for index, item in enumerate(items):
        named = student(item) if item.key else None
        if item.found.participant_id:
            identity: tuple[str, ...] = ("participant", item.found.participant_id)
        elif named:
            # Without Moodle the file name is all there is: two surnames on one number are two students.
            identity = ("matriculation", named[1], unicodedata.normalize("NFC", named[0]).casefold())
        else:
            identity = ("slot", item.slot)
        groups.setdefault(identity, []).append(index)
        if named:
            identities.setdefault(named[1], {}).setdefault(identity, item)
        if named and item.found.moodle_name and not _same_person(named[0], item.found.moodle_name):
            items[index] = replace(item, flags=(*item.flags, Flag.MOODLE_MISMATCH), notes=(
                *item.notes, f"The file name names {named[0]} ({named[1]}), but the zip was handed in by the Moodle "
                f"participant {item.found.moodle_name} ({item.found.participant_id}); it is graded for that "
                "participant."))
        if item.found.claimed:
            item = items[index]
            items[index] = replace(item, flags=tuple(dict.fromkeys((*item.flags, Flag.MOODLE_MISMATCH))), notes=(
                *item.notes, f"This zip was found at {item.found.source}, inside the submission of the Moodle "
                f"participant {item.found.moodle_name} ({item.found.participant_id}), in a folder named like another "
                f"participant ({', '.join(item.found.claimed)}); what a submission holds never decides whose it is, "
                "so it is graded for the participant who handed it in."))
    for members in groups.values():
        if len(members) < 2:
            continue
        latest = max(members, key=lambda i: (items[i].found.mtime, items[i].found.name, items[i].found.source))
        for i in members:
            others = ", ".join(items[j].found.name or items[j].slot for j in members if j != i)
            if i == latest:
                note = f"{len(members)} zips were handed in; this one, the latest, counts (the others: {others})."
                items[i] = replace(items[i], flags=(*items[i].flags, Flag.DUPLICATES), notes=(*items[i].notes, note))
            else:
                note = (f"Superseded by {items[latest].found.name}, handed in later by the same student; only that "
                        "one counts.")
                items[i] = replace(items[i], counts=False, flags=(*items[i].flags, Flag.SUPERSEDED),
                                   notes=(*items[i].notes, note))
    for index, item in enumerate(items):
        named = student(item) if item.key else None
        holders = identities.get(named[1], {}) if named else {}
        if named and len(holders) > 1:
            who = ", ".join(_who(other) for other in holders.values())
            items[index] = replace(item, flags=(*item.flags, Flag.MATRICULATION_SHARED), notes=(
                *item.notes, f"The matriculation number {named[1]} is on the zips of {len(holders)} different "
                f"students ({who}): each is graded as a student of their own, none supersedes another, and an "
                "override must name the participant id or the folder, not this number."))
    return items


def _who(item: Item) -> str:
    """A submission as a TA finds it: its zip's name and, with Moodle, the participant."""
    if item.found.participant_id:
        return f"{item.found.name} of participant {item.found.participant_id} ({item.found.moodle_name})"
    return item.found.name


def shared_matriculations(items: list[Item], digits: tuple[int, ...]) -> dict[str, list[Item]]:
    """Matriculation numbers that several students' zips carry (flagged by `plan`), with those zips."""
    from grader.intake import parse_name

    shared: dict[str, list[Item]] = {}
    for item in items:
        if Flag.MATRICULATION_SHARED in item.flags:
            with contextlib.suppress(SubmissionRejected):
                shared.setdefault(parse_name(item.found.name, digits).matriculation, []).append(item)
    return shared


def override_label(item: Item) -> str:
    """How an overrides row can name this submission alone."""
    pid = item.found.participant_id
    return f"{item.slot} (participant id {pid}, {item.found.moodle_name})" if pid else item.slot


def identity_notices(items: list[Item], shared: dict[str, list[Item]]) -> list[str]:
    """Sentences for the TA (batch summary, index) on who handed in what where the zips alone would mislead."""
    notices = [f"the matriculation number {m} is on the zips of several students: "
               + "; ".join(override_label(i) for i in group)
               + ". Each is graded as a student of their own; overrides must name the folder or participant id."
               for m, group in sorted(shared.items())]
    notices.extend(f"{i.slot}: found at {i.found.source}, inside the submission of participant "
                   f"{i.found.participant_id} ({i.found.moodle_name}), in a folder named like another participant; "
                   f"it is graded for {i.found.participant_id} only." for i in items if i.found.claimed)
    return notices


def _assign_slots(items: list[Item]) -> list[Item]:
    """Unique output folder names: the zip's name; `_<participant id>` or `_<n>` added where two collide."""
    counts: dict[str, int] = {}
    for item in items:
        counts[item.slot.casefold()] = counts.get(item.slot.casefold(), 0) + 1
    taken: set[str] = set()
    out = []
    for item in items:
        slot = item.slot
        if counts[slot.casefold()] > 1 or slot.casefold() in RESERVED:
            slot = f"{slot}_{item.found.participant_id}" if item.found.participant_id else f"{slot}_1"
        n = 1
        while slot.casefold() in taken:
            n += 1
            slot = f"{item.slot}_{n}"
        taken.add(slot.casefold())
        out.append(replace(item, slot=slot))
    return out


UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})


def _words(text: str) -> set[str]:
    """Name words, case- and accent-insensitive, with German umlauts also as ae/oe/ue/ss."""
    text = unicodedata.normalize("NFC", text).casefold()
    variants = {text, text.translate(UMLAUTS)}
    words: set[str] = set()
    for variant in variants:
        plain = "".join(c for c in unicodedata.normalize("NFKD", variant) if not unicodedata.combining(c))
        for v in (variant, plain):
            words.update(w for w in v.replace("-", " ").replace("'", " ").replace("\u2019", " ").split() if w)
    return words


def _same_person(surname: str, full_name: str) -> bool:
    """Whether any part of the file name's surname is a word of the Moodle full name."""
    return bool(_words(surname) & _words(full_name))
