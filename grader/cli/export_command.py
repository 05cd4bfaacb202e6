"""`grade export`: per-student zips to hand back, or the gradebook in an LMS's import format."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from grader.cli.options import adjustments_option, course_option, fail, load_course, times_option
from grader.course.model import Course, CourseError
from grader.text import terminal


@click.command()
@click.argument("grades", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--format",
    "format_",
    type=click.Choice(["zips", "canvas", "moodle"]),
    default="zips",
    show_default=True,
    help="zips: one zip per student of the pages to hand back; canvas, moodle: the gradebook as that LMS's "
    "CSV grade import (needs --roster).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="zips: a folder (default GRADES/handback); canvas, moodle: a file (default GRADES/canvas.csv or "
    "GRADES/moodle.csv).",
)
@click.option(
    "--roster",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="CSV of the enrolled students: a 'student' (or 'grader_id') column with the grader's ids (folder or zip "
    "names) and the LMS's: Canvas needs canvas_id, sis_user_id or sis_login_id (name, section optional); Moodle "
    "needs email or id_number (name or first_name/last_name optional). See docs/gradebook.md.",
)
@times_option
@adjustments_option
@course_option("the grades belong to (its [handback] and late policy)")
def export(
    grades: Path,
    format_: str,
    out: Path | None,
    roster: Path | None,
    times: Path | None,
    adjustments: Path | None,
    course: Path | None,
) -> None:
    """Export what `grade report` wrote in GRADES: per-student zips, or an LMS gradebook.

    A zip (OUT/<id>.zip) holds only that student's feedback.student.html, as <id>/feedback.html: the page
    whose hidden checks are reduced as course.toml's [handback] says (docs/handback.md).

    The LMS file holds each student's final score per assignment (after the late policy of course.toml
    and the manual adjustments in GRADES/adjustments.csv); missing work is an empty cell.
    """
    if format_ == "zips":
        _export_zips(grades, out, course)
        return
    _export_lms(grades, format_, out, roster, times, adjustments, course)


def check_handback(course: Course) -> None:
    """A [handback] setting in course.toml that the grader does not know stops `grade report` before
    anyone is graded, not after."""
    from grader.report.handback import HandbackError, handback_for

    try:
        handback_for(course)
    except HandbackError as exc:
        fail(str(exc))


def _export_zips(grades: Path, out: Path | None, course: Path | None) -> None:
    """OUT/<id>.zip per student, holding only the student version of their page (hidden checks reduced
    as course.toml's [handback] says), ready to send."""
    from grader.report.handback import HandbackError, export_zips, handback_for

    def handback() -> Any:  # needed only for a page grade report did not write (an older grades folder)
        try:
            return handback_for(load_course(course, grades))
        except HandbackError as exc:
            fail(str(exc))

    target = out or grades / "handback"
    exported = export_zips(grades, target, handback)
    if not exported.zips:
        fail(f"{terminal(grades)} holds no graded students (students/<id>/feedback.json): run grade report first")
    if exported.rendered:
        click.secho(
            f"note: {len(exported.rendered)} student pages were not in {terminal(grades)} and were rendered from "
            "their results now: rerun grade report --resume to write them there too",
            fg="yellow",
            err=True,
        )
    click.echo(f"Wrote {len(exported.zips)} zips to {terminal(target)}: one per student, their page only")


def _standings(text: str) -> Any:
    """What a gradebook says of each student (its warnings and summary aside)."""
    try:
        return json.loads(text).get("students")
    except (ValueError, AttributeError):
        return None


def _export_lms(
    grades: Path,
    lms: str,
    out: Path | None,
    roster_path: Path | None,
    times: Path | None,
    adjustments: Path | None,
    course: Path | None,
) -> None:
    """The gradebook rebuilt exactly as `grade report` builds it, written as ``lms``'s CSV import."""
    from grader.files import write_atomic
    from grader.report import gradebook
    from grader.report import lms as lms_formats
    from grader.report.results import load_results

    if roster_path is None:
        raise click.UsageError(f"--format {lms} needs --roster (which LMS id belongs to which student)")
    loaded = load_course(course, Path.cwd())
    results = load_results(grades)
    if not results:
        fail(f"{terminal(grades)} holds no graded students (students/<id>/feedback.json): run grade report first")
    recorded = grades / gradebook.JSON_FILE
    try:
        assignment_ids = list(json.loads(recorded.read_text(encoding="utf-8"))["assignments"])
    except (OSError, ValueError, KeyError, TypeError):
        assignment_ids = list(loaded.assignments)
    try:
        book = gradebook.assemble(
            loaded, grades, results, assignment_ids, times_file=times, adjustments_file=adjustments
        )
        roster = lms_formats.read_roster(roster_path)
        names = loaded.settings().get("export", {}).get("columns", {})
        exported = lms_formats.export(book, roster, lms, names if isinstance(names, dict) else {})
    except (CourseError, ValueError) as exc:
        fail(str(exc))
    for warning in [*book.warnings, *exported.warnings]:
        click.secho(f"warning: {terminal(warning)}", fg="yellow", err=True)
    if recorded.is_file() and _standings(recorded.read_text(encoding="utf-8")) != _standings(gradebook.to_json(book)):
        click.secho(
            f"warning: the gradebook changed since grade report wrote {terminal(recorded)} (adjustments or "
            "course.toml edited): this export uses the new one; rerun grade report with --resume to update the "
            "pages and gradebook.csv",
            fg="yellow",
            err=True,
        )
    target = out or grades / f"{lms}.csv"
    write_atomic(target, exported.text.encode("utf-8"))
    click.echo(
        f"Wrote {terminal(target)}: {exported.rows} students, {len(book.assignments)} assignments ({lms} import)"
    )
