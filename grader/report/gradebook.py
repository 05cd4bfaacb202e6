"""The class gradebook, the one place a student's standing is decided: one row per student, one entry per
assignment (raw score, late penalty, manual adjustments, final score), the total and the points possible.

Every other view (gradebook.csv and .json, the class overview, the line ``grade report`` prints, the LMS
files of ``grade export``, the notes on a student's page) is drawn from it. Missing work stays missing:
``None`` here, an empty cell in the CSV, never 0. Totals are out of each assignment's own points. It is
built from the per-student result files, so it reflects everything graded so far, including earlier runs
kept by ``--resume``, and a run that changed nothing gives the same gradebook.

CSV cells that a spreadsheet would run as a formula are neutralised and control characters escaped. The
``submission`` column keeps each folder's or zip's own name, which the id may not (``bob-2``).
"""

from __future__ import annotations

import csv
import io
import json
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.course.model import Course, LatePolicy
from grader.intake.students import discover
from grader.report.adjustments import Adjustment
from grader.report.late import FILE_TIMES_WARNING, SubmissionTimes, SubmittedAt, lateness, parse_moment
from grader.report.results import SubmissionResult
from grader.text import terminal

SCHEMA = "rnn-autograder/gradebook/1"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
MAX_NOTES_CELL = 1000
CSV_FILE, JSON_FILE = "gradebook.csv", "gradebook.json"


def neutralise(cell: Any) -> Any:
    """Prefix text a spreadsheet would treat as a formula (CSV injection) with an apostrophe, and show
    control characters as escapes (a CSV is also read with ``cat``)."""
    if isinstance(cell, str):
        return ("'" if cell.startswith(FORMULA_STARTS) else "") + terminal(cell)
    return cell


@dataclass
class Entry:
    """One student's standing on one assignment."""

    status: str  # graded | missing | error (the grader could not grade it)
    possible: float  # the assignment's points
    raw: float | None = None  # what the checks earned; None when not graded
    late_penalty: float = 0.0
    final: float | None = None  # after the late penalty and the adjustments; None: missing (empty cell)
    late: str = ""  # how late, and what it cost, in words
    adjustments: list[str] = field(default_factory=list)  # "+5 points by ana: regrade of check 3"
    reason: str = ""  # why it is missing or not graded
    submitted_at: str | None = None
    time_source: str | None = None  # manifest | file time

    def notes(self) -> list[str]:
        """What changed the raw score, for the gradebook's notes and the student's page."""
        late = [f"Late: {self.late}, {-self.late_penalty:g} points"] if self.late_penalty else []
        return late + [f"Adjusted: {text}" for text in self.adjustments]


@dataclass
class Row:
    student: str
    submission: str  # the folder's or zip's own name
    status: str  # graded | incomplete (some work missing or not graded) | empty | error
    entries: dict[str, Entry]
    notes: str = ""

    @property
    def total(self) -> float | None:
        """Sum of the final scores; None when nothing of this student's work was graded."""
        finals = [e.final for e in self.entries.values() if e.final is not None]
        return round(sum(finals), 4) if finals else None

    @property
    def max_total(self) -> float:
        return round(sum(e.possible for e in self.entries.values()), 4)


@dataclass
class Gradebook:
    assignments: list[str]
    points: dict[str, float]  # each assignment's points possible
    titles: dict[str, str]
    rows: list[Row]
    warnings: list[str] = field(default_factory=list)

    def row(self, student: str) -> Row | None:
        return next((r for r in self.rows if r.student == student), None)

    @property
    def max_total(self) -> float:
        return round(sum(self.points[a] for a in self.assignments), 4)

    def summary(self) -> dict[str, Any]:
        """Class statistics over the students with graded work only; how many have none."""
        totals = [r.total for r in self.rows if r.total is not None]
        return {
            "students": len(self.rows),
            "with_work": len(totals),
            "without_work": len(self.rows) - len(totals),
            "mean": round(statistics.fmean(totals), 4) if totals else None,
            "median": round(statistics.median(totals), 4) if totals else None,
            "max_total": self.max_total,
        }


def points_possible(
    course: Course | None, results: list[SubmissionResult], assignment_ids: list[str]
) -> dict[str, float]:
    """Each assignment's points: the course's, else the largest any result recorded, else 100."""
    points = {}
    for assignment_id in assignment_ids:
        spec = course.assignments.get(assignment_id) if course else None
        recorded = [a.max_score for r in results for a in r.assignments if a.id == assignment_id]
        points[assignment_id] = float(spec.points if spec else max(recorded, default=100.0))
    return points


def build(
    results: list[SubmissionResult],
    assignment_ids: list[str],
    points: dict[str, float],
    titles: dict[str, str] | None = None,
    policy: LatePolicy | None = None,
    times: SubmissionTimes | None = None,
    adjustments: Iterable[Adjustment] = (),
) -> Gradebook:
    """The gradebook of ``results``: late penalties from ``policy`` and ``times``, then ``adjustments``."""
    times = times or SubmissionTimes()
    book = Gradebook(list(assignment_ids), dict(points), dict(titles or {}), [], list(times.warnings))
    by_student: dict[tuple[str, str], list[Adjustment]] = {}
    for adjustment in adjustments:
        by_student.setdefault((adjustment.student, adjustment.assignment), []).append(adjustment)
    students = {r.student for r in results}
    for (student, assignment), found in by_student.items():
        if student not in students or assignment not in assignment_ids:
            what = f"no student {student!r}" if student not in students else f"no assignment {assignment!r}"
            lines = ", ".join(str(a.line) for a in found)
            book.warnings.append(f"adjustments line {lines}: {what} in the gradebook; not applied")
    strangers = sorted({s for (s, _), at in times.times.items() if s not in students and at.source == "manifest"})
    if strangers:
        book.warnings.append(
            f"the submission times name {len(strangers)} student(s) the gradebook does not have: "
            f"{', '.join(strangers[:20])}{' ...' if len(strangers) > 20 else ''}"
        )
    for result in sorted(results, key=lambda r: r.student):
        entries = {}
        for assignment_id in assignment_ids:
            entry = _entry(result, assignment_id, points[assignment_id])
            submitted = times.get(result.student, assignment_id)
            if submitted is not None and entry.status == "graded":
                entry.submitted_at, entry.time_source = submitted.as_dict().values()
                _apply_late(entry, policy, result.student, assignment_id, submitted)
            for adjustment in by_student.get((result.student, assignment_id), []):
                _apply_adjustment(entry, adjustment, book.warnings)
            entries[assignment_id] = entry
        book.rows.append(_row(result, entries))
    untimed = sorted(
        {r.student for r in book.rows for e in r.entries.values() if e.status == "graded" and e.submitted_at is None}
    )
    if policy is not None and untimed:
        book.warnings.append(
            f"no submission time for {len(untimed)} student(s), so no late penalty was applied to them: "
            f"{', '.join(untimed[:20])}{' ...' if len(untimed) > 20 else ''}"
        )
    return book


def _entry(result: SubmissionResult, assignment_id: str, possible: float) -> Entry:
    graded = result.assignment(assignment_id)
    if graded is None and result.status in ("error", "timeout"):  # the whole grading failed: not the student's
        return Entry("error", possible, reason=result.message or "grading failed")
    if graded is None:
        reason = result.message if result.status != "graded" and result.message else "no work submitted"
        return Entry("missing", possible, reason=reason)
    if graded.status == "missing":
        return Entry("missing", possible, reason=graded.message or "no work submitted")
    if graded.status == "error":
        return Entry("error", possible, reason=graded.message or "grading error")
    score = round(graded.score, 4)
    return Entry("graded", possible, raw=score, final=score)


def _apply_late(entry: Entry, policy: LatePolicy | None, student: str, assignment: str, at: SubmittedAt) -> None:
    if policy is None or entry.raw is None:
        return
    late = lateness(policy, student, assignment, at, entry.raw, entry.possible)
    if late is None:
        return
    entry.late = late.describe()
    entry.late_penalty = late.penalty
    entry.final = round(max(entry.raw - late.penalty, 0.0), 4)


def _apply_adjustment(entry: Entry, adjustment: Adjustment, warnings: list[str]) -> None:
    if entry.final is None and adjustment.override is None:
        warnings.append(
            f"adjustments line {adjustment.line}: {adjustment.student} has no graded {adjustment.assignment} to add "
            f"{adjustment.delta:+g} points to; give an override instead. Not applied"
        )
        return
    entry.final = round(max(adjustment.apply(entry.final or 0.0), 0.0), 4)
    entry.adjustments.append(adjustment.describe())


def _row(result: SubmissionResult, entries: dict[str, Entry]) -> Row:
    problems = []
    for assignment_id, entry in entries.items():
        if entry.status == "missing" and entry.final is None:
            said = entry.reason in ("no work submitted", result.message)  # nothing more to say than "missing"
            problems.append(f"{assignment_id} missing" + ("" if said else f" ({entry.reason})"))
        elif entry.status == "error" and result.assignment(assignment_id) is None:
            pass  # the whole submission's grading failed: its message, first in the notes, says why
        elif entry.status == "error":
            problems.append(f"{assignment_id}: grading error" + ("" if entry.final is None else " (score set by hand)"))
        problems += [f"{assignment_id}: {note}" for note in entry.notes()]
    status = result.status
    if status == "graded" and any(e.status != "graded" for e in entries.values()):
        status = "incomplete"
    # The submission's own notes (an id clash, a link not followed) before the per-assignment ones: a long
    # cell is cut at its end.
    notes = "; ".join(([result.message] if result.message else []) + list(result.notes) + problems)
    return Row(
        student=result.student,
        submission=terminal(Path(str(result.submission)).name),
        status=status,
        entries=entries,
        notes=terminal(notes, MAX_NOTES_CELL),
    )


# -- files -----------------------------------------------------------------------------------------


def _cell(value: float | None) -> str | float:
    return "" if value is None else round(value, 2)


def csv_columns(assignment_ids: list[str]) -> list[str]:
    return [
        "student",
        *assignment_ids,
        "total",
        "max_total",
        "status",
        "notes",
        "submission",
        *(f"{a}_raw" for a in assignment_ids),
    ]


def flat(row: Row, book: Gradebook) -> dict[str, Any]:
    """A row as the CSV's cells: missing work and a student without graded work are empty cells."""
    cells: dict[str, Any] = {"student": row.student}
    for assignment_id in book.assignments:
        cells[assignment_id] = _cell(row.entries[assignment_id].final)
        cells[f"{assignment_id}_raw"] = _cell(row.entries[assignment_id].raw)
    cells.update(
        total=_cell(row.total),
        max_total=_cell(row.max_total),
        status=row.status,
        notes=row.notes,
        submission=row.submission,
    )
    return cells


def to_csv(book: Gradebook) -> str:
    columns = csv_columns(book.assignments)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in book.rows:
        cells = flat(row, book)
        writer.writerow({key: neutralise(cells.get(key, "")) for key in columns})
    return buffer.getvalue()


def to_json(book: Gradebook) -> str:
    students = []
    for row in book.rows:
        record = flat(row, book)
        for key, value in record.items():
            if value == "" and key not in ("notes", "submission", "student", "status"):
                record[key] = None
        record["entries"] = {a: vars(entry) for a, entry in row.entries.items()}
        students.append(record)
    document = {
        "schema": SCHEMA,
        "assignments": book.assignments,
        "points": book.points,
        "titles": book.titles,
        "summary": book.summary(),
        "warnings": book.warnings,
        "students": students,
    }
    return json.dumps(document, indent=2, ensure_ascii=False)


def recorded_times(path: Path) -> SubmissionTimes:
    """The submission times an earlier ``grade report`` recorded in gradebook.json (for ``grade export``)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return SubmissionTimes()
    times: dict[tuple[str, str], SubmittedAt] = {}
    warned = False
    for student in document.get("students", []) if isinstance(document, dict) else []:
        for assignment, entry in (student.get("entries") or {}).items():
            if isinstance(entry, dict) and entry.get("submitted_at"):
                try:
                    at = SubmittedAt(parse_moment(str(entry["submitted_at"])), str(entry.get("time_source")))
                except ValueError:
                    continue
                times[(str(student.get("student")), assignment)] = at
                warned = warned or at.source != "manifest"
    return SubmissionTimes(times, [FILE_TIMES_WARNING] if warned else [])


def page_notes(book: Gradebook, student: str) -> dict[str, list[str]]:
    """Per assignment, what the student's page says about a late penalty or an adjustment."""
    row = book.row(student)
    if row is None:
        return {}
    found = {}
    for assignment_id, entry in row.entries.items():
        notes = entry.notes()
        if notes and entry.final is not None:
            raw = "not graded" if entry.raw is None else f"{entry.raw:g}"
            notes.append(f"Score for the gradebook: {entry.final:g} / {entry.possible:g} (checks: {raw})")
        if notes:
            found[assignment_id] = notes
    return found


def total_notes(book: Gradebook, student: str) -> list[str]:
    """What the student's page says about the whole, where the gradebook's total differs from the sum the
    page shows (missing work counted out of its points, a late penalty, an adjustment)."""
    row = book.row(student)
    if row is None or row.total is None:
        return []
    missing = [a for a, e in row.entries.items() if e.final is None]
    changed = [a for a, e in row.entries.items() if e.final is not None and e.final != e.raw]
    if not missing and not changed:
        return []
    note = f"Total for the gradebook: {row.total:g} / {row.max_total:g}"
    if missing:
        note += f"; no score for {', '.join(missing)} (missing or not graded)"
    return [note]


def assemble(
    course: Course,
    out: Path,
    results: list[SubmissionResult],
    assignment_ids: list[str],
    *,
    submissions: Path | None = None,
    times_file: Path | None = None,
    adjustments_file: Path | None = None,
) -> Gradebook:
    """The class's gradebook from the grades folder ``out``, as ``grade report`` and ``grade export`` both
    build it: the course's late policy with times from ``times_file``, else ``submission_times.csv`` in
    ``submissions``, else the times recorded by the last report, else file times (warned); then
    ``adjustments_file``, else ``out/adjustments.csv`` when present. Raises CourseError, ManifestError,
    AdjustmentError with a message for the instructor."""
    from grader.report.adjustments import FILE as ADJUSTMENTS
    from grader.report.adjustments import read_adjustments
    from grader.report.late import MANIFEST, file_times, read_manifest

    policy = course.late_policy()
    times = SubmissionTimes()
    if policy is not None:
        if times_file is not None:
            times = read_manifest(times_file)
        elif submissions is not None and (submissions / MANIFEST).is_file():
            times = read_manifest(submissions / MANIFEST)
        elif submissions is None and (recorded := recorded_times(out / JSON_FILE)):
            times = recorded
        else:
            modules = {a: course.assignments[a].module for a in assignment_ids if a in course.assignments}
            times = file_times(_submitted_paths(results, submissions), modules)
    if adjustments_file is None and (out / ADJUSTMENTS).is_file():
        adjustments_file = out / ADJUSTMENTS
    adjustments = read_adjustments(adjustments_file) if adjustments_file is not None else []
    assignment_ids, unseen = _handed_in_by_someone(results, assignment_ids, adjustments)
    titles = {a: course.assignments[a].title if a in course.assignments else a for a in assignment_ids}
    book = build(
        results,
        assignment_ids,
        points_possible(course, results, assignment_ids),
        titles,
        policy=policy,
        times=times,
        adjustments=adjustments,
    )
    if unseen:
        book.warnings.append(
            f"nobody handed in {', '.join(unseen)}: left out of the gradebook and its totals until someone does"
        )
    return book


def _submitted_paths(results: list[SubmissionResult], submissions: Path | None) -> dict[str, Path]:
    """Each student's folder or zip, for its file times: as found in ``submissions`` when the report has
    it, else as recorded. A recorded path is text for people (a folder name's bytes that are not UTF-8
    are written as escapes), so it may no longer name the folder: a hostile round named theirs so and no
    file time, so no late penalty, was found."""
    found = {student.id: student.path for student in discover(submissions)} if submissions is not None else {}
    return {r.student: found.get(r.student, Path(str(r.submission))) for r in results}


def _handed_in_by_someone(
    results: list[SubmissionResult], assignment_ids: list[str], adjustments: list[Adjustment]
) -> tuple[list[str], list[str]]:
    """The assignments someone in the class handed in (or that an adjustment names), and the others. A
    new instructor graded a term's first assignment of six: every total read "20 / 600", every page "no
    score for a1 ... a5". An assignment not yet due is nobody's missing work (the overview says the same)."""
    seen = {a.id for r in results for a in r.assignments if a.status != "missing"}
    seen |= {adjustment.assignment for adjustment in adjustments}
    kept = [a for a in assignment_ids if a in seen]
    if not kept:  # nothing handed in at all: the columns stay, every student missing alike
        return assignment_ids, []
    return kept, [a for a in assignment_ids if a not in seen]


def write(book: Gradebook, out: Path) -> None:
    from grader.files import write_atomic

    write_atomic(out / CSV_FILE, to_csv(book).encode("utf-8"))
    write_atomic(out / JSON_FILE, to_json(book).encode("utf-8"))
