"""`grade rejudge`: the checks run again over the stored answers, without running student code."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from grader.cli.options import (
    adjustments_option,
    check_gradebook_inputs,
    course_option,
    fail,
    load_course,
    times_option,
)
from grader.course.model import CourseError
from grader.text import terminal


@click.command()
@click.argument("grades", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--quiet", "-q", is_flag=True, help="Print only the summary, not each change of a score.")
@times_option
@adjustments_option
@course_option("whose checks judge the recorded answers again")
def rejudge(grades: Path, quiet: bool, times: Path | None, adjustments: Path | None, course: Path | None) -> None:
    """Judge a graded class again from the probe answers stored with its results, without running student code.

    Changed points, tolerances, judges and the mistake catalogue apply at once (seconds for a class).
    A student whose checks now ask something that was not asked when they were graded (changed probes or
    arguments), or whose submission changed, is listed as needing a regrade: `grade report SUBMISSIONS
    --out GRADES --resume` re-runs exactly those. Each change of a score is listed (old, new, why) here
    and in GRADES/rejudge.json; pages, gradebook and overview are rewritten.
    """
    from grader.grading.rejudge import REJUDGE_FILE, rejudge_class
    from grader.report.class_outputs import write_class_outputs
    from grader.report.results import holds_results, load_results

    loaded = load_course(course, grades)
    if not holds_results(grades):  # before anything is written into a folder that is not a grades folder
        fail(f"{terminal(grades)} holds no graded students (students/<id>/feedback.json): run grade report first")
    check_gradebook_inputs(loaded, grades, times, adjustments)
    started = time.monotonic()
    report = rejudge_class(loaded, grades)
    seconds = time.monotonic() - started
    if not quiet:
        for change in report.changes:
            old = "-" if change.old is None else f"{change.old:g}"
            new = "-" if change.new is None else f"{change.new:g}"
            click.echo(
                f"{terminal(change.student)}  {change.assignment}  {change.check}: {old} -> {new}  ({terminal(change.why)})"
            )
    for student, (old_total, new_total) in report.totals.items():
        if old_total != new_total:
            click.echo(f"{terminal(student)}: total {old_total:g} -> {new_total:g}")
    if quiet and report.needs_regrade:  # one line, not every changed probe call of every student
        names = ", ".join(terminal(student) for student in list(report.needs_regrade)[:20])
        more = len(report.needs_regrade) - 20
        click.secho(f"need a regrade: {names}{f' and {more} more' if more > 0 else ''}", fg="yellow")
    for student, reasons in ({} if quiet else report.needs_regrade).items():
        click.secho(f"needs a regrade: {terminal(student)}: {terminal('; '.join(reasons))}", fg="yellow")
    results = load_results(grades)
    assignment_ids = [a for a in loaded.assignments if any(r.assignment(a) for r in results)]
    isolation = _RecordedIsolation(results[0].isolation if results else {})
    try:
        write_class_outputs(loaded, grades, assignment_ids, isolation, times_file=times, adjustments_file=adjustments)  # type: ignore[arg-type]
    except (CourseError, ValueError) as exc:
        fail(str(exc))
    click.echo(
        f"Judged {len(report.rejudged) + len(report.unchanged)} students again in {seconds:.1f} s: "
        f"{len(report.rejudged)} changed, {len(report.unchanged)} unchanged, {len(report.needs_regrade)} need a "
        f"regrade, {len(report.skipped)} not judged (nothing stored). Changes: {terminal(grades / REJUDGE_FILE)}"
    )
    if report.needs_regrade:
        click.echo(f"To regrade those: grade report SUBMISSIONS --out {terminal(grades)} --resume")


class _RecordedIsolation:
    """The isolation the stored answers were produced under, for the overview of a rejudged class."""

    def __init__(self, recorded: dict[str, Any]) -> None:
        self._recorded = recorded

    def as_dict(self) -> dict[str, Any]:
        return dict(self._recorded)
