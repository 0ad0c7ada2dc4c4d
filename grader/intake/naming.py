"""The submission's file name, ``Surname-MatriculationNumber.zip``: the student it names, or what is wrong.

Rule: the name is NFC-normalized first (macOS zips and file systems hand out NFD). The surname
is one or more hyphen-joined parts of Unicode letters of any script (combining marks allowed
after a letter), with apostrophes (``'`` or ``’``) only between letters; the last
hyphen-separated part is the matriculation number, ASCII digits of an allowed length; ``.zip``
in any case. The students' ``make_submission.py`` keeps its own copy of this rule as one regular
expression (``tests/test_naming_agreement.py`` checks that the two agree).
"""

from __future__ import annotations

import re
import unicodedata

from grader.config import DEFAULT
from grader.errors import SubmissionRejected
from grader.flags import Flag
from grader.scoring import Student

EXAMPLE_NAME = "Mustermann-123456.zip"

# The shape only; surname letters and number length are checked by `parse_name`, which can
# then say precisely what is wrong.
NAME_PATTERN = re.compile(r"(?P<surname>[^\s/\\]+)-(?P<number>[^-\s/\\]+)\.zip", re.IGNORECASE)

APOSTROPHES = "'\u2019"


def parse_name(filename: str, digits: tuple[int, ...] = DEFAULT.matriculation_digits) -> Student:
    """The student named by a submission's file name; SubmissionRejected (flag `naming`) if it is wrong."""
    name = unicodedata.normalize("NFC", filename)
    problem = _name_problem(name, digits)
    if problem is not None:
        lengths = _or_list([str(d) for d in sorted(digits)])
        raise SubmissionRejected(
            f"The file name {filename!r} {problem}. It should look like {EXAMPLE_NAME}: your surname, "
            f"a hyphen, your matriculation number ({lengths} digits) and .zip.", flag=Flag.NAMING)
    match = NAME_PATTERN.fullmatch(name)
    assert match is not None  # _name_problem accepted it
    return Student(surname=match["surname"], matriculation=match["number"])


def _name_problem(name: str, digits: tuple[int, ...]) -> str | None:
    """What is wrong with an NFC file name, as a clause after "The file name …", or None."""
    if not name.lower().endswith(".zip"):
        ext = name.rsplit(".", 1)[-1] if "." in name else ""
        return f"does not end in .zip (it ends in .{ext})" if ext and len(ext) <= 8 else "does not end in .zip"
    stem = name[:-4]
    if any(ch.isspace() for ch in stem):
        return "contains spaces"
    if "/" in stem or "\\" in stem:
        return "contains a slash"
    if "." in stem:
        return "has more than one extension (a dot before .zip)"
    if "-" not in stem:
        return "has no hyphen between surname and matriculation number"
    surname, number = stem.rsplit("-", 1)
    if not number:
        return "has no matriculation number after the last hyphen"
    if not (number.isascii() and number.isdigit()):
        return f"should end in the matriculation number, digits only, but the part after the last hyphen is {number!r}"
    if len(number) not in digits:
        return f"has a matriculation number of {len(number)} digits ({number})"
    if not surname:
        return "has no surname before the matriculation number"
    for part in surname.split("-"):
        if not part:
            return "has an empty surname part (a leading hyphen or two hyphens in a row)"
        bad = _surname_part_problem(part)
        if bad is not None:
            return bad
    return None


def _surname_part_problem(part: str) -> str | None:
    """What is wrong with one hyphen-separated part of a surname, or None."""
    for i, ch in enumerate(part):
        cat = unicodedata.category(ch)
        if ch.isalpha():
            continue
        if cat.startswith("M") and i > 0:
            continue  # combining marks left after NFC (e.g. Devanagari vowel signs)
        if ch in APOSTROPHES and 0 < i < len(part) - 1 and part[i - 1] not in APOSTROPHES:
            continue
        if ch in APOSTROPHES:
            return f"has an apostrophe that is not between two letters in the surname part {part!r}"
        if ch.isdigit():
            return f"has a digit in the surname part {part!r}"
        return (f"has the character {ch!r} in the surname part {part!r}; only letters, hyphens and "
                "apostrophes belong there")
    return None


def _or_list(items: list[str]) -> str:
    """'6, 7 or 8'."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]
