"""Writes what a class gets besides each student's page: gradebook.csv, gradebook.json, index.html."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

from grader.course.model import Course
from grader.files import write_atomic
from grader.report import gradebook
from grader.report.handback import STUDENT_PAGE, handback_for, write_student_page
from grader.report.insight import class_insight
from grader.report.overview import overview_context
from grader.report.pages import render_feedback, render_overview
from grader.report.results import RESULT_FILE, RESULTS_DIR, SubmissionResult, load_results
from grader.sandbox import Isolation

STANDING_MARK = "for the gradebook:"  # in a page's notes: the gradebook's view of the page was shown


def write_class_outputs(
    course: Course,
    out: Path,
    assignment_ids: list[str],
    isolation: Isolation,
    *,
    submissions: Path | None = None,
    times_file: Path | None = None,
    adjustments_file: Path | None = None,
) -> Path:
    results = load_results(out)
    book = gradebook.assemble(
        course,
        out,
        results,
        assignment_ids,
        submissions=submissions,
        times_file=times_file,
        adjustments_file=adjustments_file,
    )
    gradebook.write(book, out)
    show_standing(out, results, book)
    write_student_pages(course, out, results)
    context = overview_context(results, course, assignment_ids, RESULTS_DIR, student_page=STUDENT_PAGE, book=book)
    context.update(
        generated=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        isolation=isolation.as_dict(),
        summary="",
        gradebook=book,
        insight=class_insight(course, out, results, assignment_ids),  # similar work, unexplained mistakes
    )
    index = out / "index.html"
    write_atomic(index, render_overview(context).encode("utf-8"))
    return index


def write_student_pages(course: Course, out: Path, results: list[SubmissionResult]) -> None:
    """Each student's page as it may be sent back (hidden checks reduced as the course says), beside the
    instructor's: students/<id>/feedback.student.html. Rewritten every time, so a page follows the
    course's current ``[handback]`` setting and the late penalties and adjustments shown."""
    handback = handback_for(course)
    for result in results:
        write_student_page(result, out / RESULTS_DIR / result.student, handback)


def show_standing(out: Path, results: list[SubmissionResult], book: gradebook.Gradebook) -> None:
    """The gradebook's view on the student's page (re-rendered; the result file stays as graded, so
    --resume is unaffected): the total out of every assignment's points, as gradebook.csv has it, and the
    late penalties and manual adjustments, as notes. A page that showed them before is re-rendered too,
    so a withdrawn adjustment disappears."""
    for result in results:
        notes = gradebook.page_notes(book, result.student)
        overall = gradebook.total_notes(book, result.student)
        page = out / RESULTS_DIR / result.student / Path(RESULT_FILE).with_suffix(".html").name
        if not notes and not overall and not _showed_standing(page):
            continue
        row = book.row(result.student)
        if overall and row is not None and row.total is not None:
            result.score, result.max_score = row.total, row.max_total
            result.notes[:0] = overall
        for assignment_id, lines in notes.items():
            graded = result.assignment(assignment_id)
            if graded is not None:
                graded.notes[:0] = lines
            else:
                result.notes[:0] = [f"{assignment_id}: {line}" for line in lines]
        result.bound()
        write_atomic(page, render_feedback(result).encode("utf-8"))


def _showed_standing(page: Path) -> bool:
    try:
        return STANDING_MARK in page.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
