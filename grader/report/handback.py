"""What may go back to a student: the student version of a feedback page, and one zip per student.

The instructor's page shows every check in full, hidden ones included: their expected values, the
diagnoses worked out from them (where the error starts, the largest error), the tables of mismatches
and the reference's curves. The student version is made from a copy of the result in which each hidden
check is cut down as the course says (``[handback] hidden`` in course.toml, docs/handback.md), and
each public check of an official grading loses what shows its question's expected values, so the
template never holds what must not be shown: nothing can leak through a forgotten ``if``.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.course.model import Course, CourseError
from grader.files import write_atomic
from grader.report.results import RESULTS_DIR, CheckResult, SubmissionResult, load_results

STUDENT_PAGE = "feedback.student.html"  # beside the instructor's feedback.html, in students/<id>/
HIDDEN_MODES = ("name-and-points", "verdict", "full")
DEFAULT_HIDDEN = "name-and-points"
SETTING = "[handback] hidden"

# What a failed hidden check says under "verdict": the kind of failure, never its message (a message
# or traceback can carry expected values, the largest error, or the hidden inputs' shapes).
VERDICTS = {
    "timeout": "your code took too long",
    "crash": "your code's process crashed",
    "memory": "your code ran out of memory",
    "exit": "your code exited the process",
    "import": "your module could not be imported",
    "syntax": "a syntax error stopped your code",
    "interrupt": "your code was interrupted",
    "not_implemented": "not implemented yet",
    "forbidden": "your code used something this assignment does not allow",
    "budget": "not run: the time budget was spent",
}
OTHER_VERDICTS = {
    "failed": "your result differs from the expected one",
    "partial": "partly right",
    "error": "the grader could not judge this check (not your fault)",
}


# Notes for the instructor only, left off the student version: a clash of ids names another student's
# folder or zip (grader/intake/students.py writes it).
INSTRUCTOR_NOTES = (" give the same student id ",)


class HandbackError(ValueError):
    """The course's ``[handback]`` setting is not one the grader knows; the message says which are."""


@dataclass(frozen=True)
class Handback:
    """How hidden checks appear on the pages handed back to students."""

    hidden: str = DEFAULT_HIDDEN

    @property
    def explanation(self) -> str:
        """One sentence at the top of every student page, so nobody wonders where the details went."""
        if self.hidden == "name-and-points":
            return "Hidden checks show only their name and your points on them."
        if self.hidden == "verdict":
            return "Hidden checks show their name, your points and whether they passed, without details."
        return "Hidden checks are shown in full."


def handback_for(course: Course | None) -> Handback:
    """The course's ``[handback]`` setting (the default, names and points only, where it sets none)."""
    table = _course_table(course)
    hidden = str(table.get("hidden", DEFAULT_HIDDEN)).strip()
    if hidden not in HIDDEN_MODES:
        raise HandbackError(f"course.toml: {SETTING} = {hidden!r} is not one of {', '.join(HIDDEN_MODES)}")
    return Handback(hidden)


def _course_table(course: Course | None) -> dict[str, Any]:
    if course is None:
        return {}
    try:
        settings = course.settings()
    except CourseError as exc:
        raise HandbackError(str(exc)) from None
    table = settings.get("handback", {})
    if not isinstance(table, dict):
        raise HandbackError("course.toml: [handback] must be a table")
    return table


def student_version(result: SubmissionResult, handback: Handback) -> SubmissionResult:
    """A copy of ``result`` fit to send to the student: every hidden check reduced as configured, and no
    note that names another student."""
    copied = copy.deepcopy(result)
    copied.notes = [note for note in copied.notes if not any(mark in note for mark in INSTRUCTOR_NOTES)]
    for assignment in copied.assignments:
        # What the hidden checks' inputs can carry out, whatever the setting: what the code printed while
        # they ran, and how long they took (code waited as long as a hidden label said): the times
        # shown are the public checks' only.
        assignment.hidden_output = ""
        assignment.duration = round(sum(c.duration for c in assignment.checks if c.visibility != "hidden"), 3)
    copied.duration = round(sum(assignment.duration for assignment in copied.assignments), 3)
    for assignment in copied.assignments:
        if assignment.mode == "full":  # official questions: drawn from the course's secret
            assignment.checks = [_without_expected(c) if c.visibility != "hidden" else c for c in assignment.checks]
    if handback.hidden == "full":
        return copied
    for assignment in copied.assignments:
        shared = _shared_message(assignment.checks)
        assignment.checks = [
            _reduced(c, handback, shared) if c.visibility == "hidden" else c for c in assignment.checks
        ]
    return copied


# What a public check that compared with the expected values says on a student's page in official
# grading: where the values differ, not what they should be.
OFFICIAL_QUESTION = (
    "{verdict} on the official question: the same check as in your copy of the assignment, asked with other "
    "inputs, whose expected values are not shown. Your copy asks it with the inputs it ships: `grade submit` "
    "there shows where your result differs."
)


def _without_expected(check: CheckResult) -> CheckResult:
    """A public check of an official grading, without what shows the expected values of its question.

    Official questions are the same for every student of a course until its secret is rotated, and for
    every submission of one student: a hostile round read the reference's loss curve off three pages of
    its own (6 epochs a page, with the plot) and returned it in a fourth (a2 60 where the work earns 50),
    and a5's `evaluate` answer off one. So a check failed by comparing with the expected values keeps its
    points, its status and the catalogued mistake it names, and says where to see the details: the
    student's copy asks the same check with the inputs it ships, and shows everything."""
    details = check.details if isinstance(check.details, dict) else {}
    compared = details.get("compared")
    if check.status not in ("failed", "partial"):
        return check
    curves = details.get("curves")
    if isinstance(curves, dict):  # a training's plot: the student's own curves stay, the reference's go
        details = {**details, "curves": {name: curve for name, curve in curves.items() if name.startswith("your")}}
    if not isinstance(compared, dict):
        return dataclasses.replace(check, details=details)
    verdict = "Your result differs from the expected one" if check.status == "failed" else "Partly right"
    kept = {key: value for key, value in details.items() if key in ("kind", "traceback", "curves", "curve_lengths")}
    accuracy = details.get("accuracy")
    if isinstance(accuracy, dict) and "yours" in accuracy:
        kept["accuracy"] = {"yours": accuracy["yours"]}
    return dataclasses.replace(
        check, message=OFFICIAL_QUESTION.format(verdict=verdict), diagnosis=compared.get("mistake"), details=kept
    )


def _shared_message(checks: list[CheckResult]) -> str | None:
    """The one message of every failed check, where a public check shows it too (a module that cannot
    be imported fails every check alike): a hidden check keeps it, since it tells nothing the public
    checks do not, and the page can say it once above the checks."""
    failed = [check for check in checks if check.status == "failed"]
    messages = {check.message for check in failed}
    if len(messages) != 1 or not any(check.visibility != "hidden" for check in failed):
        return None
    return messages.pop() or None


def _reduced(check: CheckResult, handback: Handback, shared: str | None) -> CheckResult:
    """The check's name, points and visibility; with "verdict", its status and the kind of failure; the
    assignment's shared failure where this check failed with it."""
    kind = check.details.get("kind") if isinstance(check.details, dict) else None
    verdict = handback.hidden == "verdict" and check.status != "passed"
    if shared is not None and check.status == "failed" and check.message == shared:
        return CheckResult(
            check.name,
            check.title,
            check.points,
            check.max_points,
            "failed",
            shared,
            counted=check.counted,
            visibility="hidden",
        )
    return CheckResult(
        name=check.name,
        title=check.title,
        points=check.points,
        max_points=check.max_points,
        status=check.status,  # says no more than the points do (or that the grader, not the student, failed)
        message=(VERDICTS.get(str(kind)) or OTHER_VERDICTS.get(check.status, "")) if verdict else "",
        visibility="hidden",
        counted=check.counted,
    )


def render_student_page(result: SubmissionResult, handback: Handback) -> str:
    from grader.report.pages import render_feedback

    return render_feedback(student_version(result, handback), handback=handback)


def write_student_page(result: SubmissionResult, folder: Path, handback: Handback) -> Path:
    """``folder/feedback.student.html``, written atomically beside the instructor's page."""
    path = folder / STUDENT_PAGE
    write_atomic(path, render_student_page(result, handback).encode("utf-8"))
    return path


def student_zip(student: str, page: bytes) -> bytes:
    """One student's hand-back: their page as ``<id>/feedback.html``, and nothing of anyone else's."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{student}/feedback.html", page)
    return buffer.getvalue()


@dataclass
class Exported:
    zips: list[Path]
    rendered: list[str]  # students whose page was rendered here (their grades folder had none)


def export_zips(grades: Path, out: Path, handback: Callable[[], Handback]) -> Exported:
    """``out/<id>.zip`` for every student graded in ``grades``, holding the student version of their page
    exactly as `grade report` wrote it (what was looked at is what is sent); a page that is not there (a
    folder graded before student versions existed) is rendered from the result with ``handback()``."""
    out.mkdir(parents=True, exist_ok=True)
    exported = Exported([], [])
    for result in load_results(grades):
        student = Path(result.student).name  # an id is a plain name; never a path out of ``out``
        page = grades / RESULTS_DIR / student / STUDENT_PAGE
        try:
            content = page.read_bytes()
        except FileNotFoundError:
            content = render_student_page(result, handback()).encode("utf-8")
            exported.rendered.append(student)
        target = out / f"{student}.zip"
        write_atomic(target, student_zip(student, content))
        exported.zips.append(target)
    return exported
