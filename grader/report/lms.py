"""The gradebook as a learning-management system imports it: Canvas's and Moodle's CSV gradebook imports.

A roster (CSV, one row per enrolled student) maps the grader's student ids (folder or zip names) to the
LMS's own ids, names and emails. Every roster student gets a row, with empty cells for work that is
missing (an LMS leaves an empty cell ungraded rather than entering 0); a graded student the roster does
not know cannot be matched by the LMS and is named in a warning, never dropped silently. The scores are
the gradebook's final ones (after the late penalty and manual adjustments). See docs/gradebook.md.

Canvas (Grades > Import): columns ``Student, ID, SIS User ID, SIS Login ID, Section``, then one column per
assignment named as in Canvas (``Name (assignment id)`` matches an existing assignment; a new name creates
one), and a ``Points Possible`` row. Canvas matches a row by ID, SIS User ID or SIS Login ID.

Moodle (Grades > Import > CSV file): ``First name, Last name, ID number, Email address`` and one column per
grade item; on import, map "Email address" to useremail or "ID number" to useridnumber, and each column
to its grade item.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.report.gradebook import Gradebook, neutralise
from grader.text import terminal

FORMATS = ("canvas", "moodle")

# Roster columns: the names a column may have (lower case, spaces and dashes as underscores).
ROSTER_ALIASES = {
    # grader_id first: in a Canvas export (usable as a roster with a grader_id column added), "Student" is a name.
    "student": ("grader_id", "folder", "submission", "student", "student_id"),
    "name": ("name", "full_name", "student_name", "sortable_name", "student"),
    "first_name": ("first_name", "firstname", "given_name"),
    "last_name": ("last_name", "lastname", "surname", "family_name"),
    "email": ("email", "email_address", "mail"),
    "canvas_id": ("canvas_id", "id", "canvas_user_id"),
    "sis_user_id": ("sis_user_id",),
    "sis_login_id": ("sis_login_id", "login_id", "login"),
    "section": ("section",),
    "id_number": ("id_number", "idnumber", "moodle_id_number", "student_number"),
}


class RosterError(ValueError):
    """A roster that cannot be used for the chosen LMS; the message says what is missing."""


@dataclass
class Enrolled:
    student: str
    fields: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> str:
        return self.fields.get(name, "")

    @property
    def display_name(self) -> str:
        if self.get("name"):
            return self.get("name")
        parts = [p for p in (self.get("last_name"), self.get("first_name")) if p]
        return ", ".join(parts) or self.student

    @property
    def split_name(self) -> tuple[str, str]:
        """(first, last): from the roster's columns, else from ``Last, First`` or ``First Last``."""
        if self.get("first_name") or self.get("last_name"):
            return self.get("first_name"), self.get("last_name")
        name = self.get("name")
        if "," in name:
            last, first = (part.strip() for part in name.split(",", 1))
            return first, last
        first, _, last = name.strip().rpartition(" ")
        return (first, last) if first else (last, "")


def _normal(column: str) -> str:
    return column.strip().lower().replace(" ", "_").replace("-", "_")


def read_roster(path: Path) -> list[Enrolled]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise RosterError(f"cannot read the roster {path}: {exc}") from None
    reader = csv.DictReader(io.StringIO(text))
    found = {_normal(name or ""): name for name in reader.fieldnames or []}
    columns: dict[str, str] = {}
    for key, aliases in ROSTER_ALIASES.items():
        taken = set(columns.values())
        match = next((found[a] for a in aliases if a in found and found[a] not in taken), None)
        if match is not None:
            columns[key] = match
    if "student" not in columns:
        raise RosterError(
            f"{path}: the roster needs a 'student' (or 'grader_id') column holding the grader's student ids (the "
            f"names of the folders or zips graded); found {', '.join(found) or 'no columns'}"
        )
    enrolled, seen = [], set()
    for line, row in enumerate(reader, start=2):
        values = {key: (row.get(column) or "").strip() for key, column in columns.items()}
        student = values.pop("student")
        if not student:
            continue
        if student in seen:
            raise RosterError(f"{path}, line {line}: student {student!r} is listed twice")
        seen.add(student)
        enrolled.append(Enrolled(student, {k: v for k, v in values.items() if v}))
    return enrolled


@dataclass
class Export:
    text: str
    warnings: list[str]
    rows: int


def column_names(book: Gradebook, names: dict[str, str] | None = None) -> dict[str, str]:
    """The LMS column of each assignment: course.toml's ``[export.columns]``, else the assignment's title."""
    names = names or {}
    return {a: str(names.get(a) or book.titles.get(a) or a) for a in book.assignments}


def export(book: Gradebook, roster: list[Enrolled], lms: str, names: dict[str, str] | None = None) -> Export:
    if lms not in FORMATS:
        raise ValueError(f"unknown LMS format {lms!r} (known: {', '.join(FORMATS)})")
    warnings = _check_roster(roster, lms)
    columns = column_names(book, names)
    enrolled = {e.student for e in roster}
    unknown = [row.student for row in book.rows if row.student not in enrolled]
    if unknown:
        warnings.append(
            f"{len(unknown)} graded student(s) are not in the roster, so the LMS could not match them and they "
            f"are not in the file: {', '.join(unknown[:20])}{' ...' if len(unknown) > 20 else ''}"
        )
    absent = [e.student for e in roster if book.row(e.student) is None]
    if absent:
        warnings.append(
            f"{len(absent)} roster student(s) have no submission and are listed with empty cells: "
            f"{', '.join(absent[:20])}{' ...' if len(absent) > 20 else ''}"
        )
    writer_rows = _canvas(book, roster, columns) if lms == "canvas" else _moodle(book, roster, columns)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for cells in writer_rows:
        writer.writerow(cells)
    return Export(buffer.getvalue(), warnings, len(roster))


def _check_roster(roster: list[Enrolled], lms: str) -> list[str]:
    keys: tuple[str, ...]
    if lms == "canvas":
        keys, what = ("canvas_id", "sis_user_id", "sis_login_id"), "a Canvas ID, SIS User ID or SIS Login ID"
    else:
        keys, what = ("email", "id_number"), "an email address or an ID number"
    unmatched = [e.student for e in roster if not any(e.get(k) for k in keys)]
    if roster and len(unmatched) == len(roster):
        raise RosterError(
            f"{lms.capitalize()} matches students by {what}: the roster needs one of the columns {', '.join(keys)}"
        )
    if unmatched:
        return [
            f"{len(unmatched)} roster student(s) have no {what}, so {lms} cannot match them: {', '.join(unmatched)}"
        ]
    return []


def _score(book: Gradebook, student: str, assignment: str) -> str:
    row = book.row(student)
    final = row.entries[assignment].final if row is not None else None
    return "" if final is None else f"{final:.2f}".rstrip("0").rstrip(".")


def _text(value: str) -> Any:
    return neutralise(terminal(value))


def _canvas(book: Gradebook, roster: list[Enrolled], columns: dict[str, str]) -> list[list[Any]]:
    header = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", *columns.values()]
    possible = ["Points Possible", "", "", "", "", *(f"{book.points[a]:g}" for a in columns)]
    rows = [header, possible]
    for e in roster:
        rows.append(
            [
                _text(e.display_name),
                e.get("canvas_id"),
                e.get("sis_user_id"),
                e.get("sis_login_id"),
                _text(e.get("section")),
                *(_score(book, e.student, a) for a in columns),
            ]
        )
    return rows


def _moodle(book: Gradebook, roster: list[Enrolled], columns: dict[str, str]) -> list[list[Any]]:
    rows: list[list[Any]] = [["First name", "Last name", "ID number", "Email address", *columns.values()]]
    for e in roster:
        first, last = e.split_name
        rows.append(
            [
                _text(first),
                _text(last),
                e.get("id_number"),
                e.get("email"),
                *(_score(book, e.student, a) for a in columns),
            ]
        )
    return rows
