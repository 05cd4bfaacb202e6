"""`grade submit`: one student's work, graded with the feedback page."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from grader.cli.options import (
    COURSE_DEFAULT,
    check_assignments,
    course_option,
    device_option,
    fail,
    grader_bug,
    limit_option,
    load_course,
    sandbox_option,
)
from grader.cli.printing import print_summary, say
from grader.text import terminal


@click.command()
@click.argument("folder", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--assignment",
    "-a",
    "assignments",
    multiple=True,
    metavar="ID",
    help="Grade only this assignment (repeatable). Default: every assignment found in FOLDER.",
)
@device_option
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("feedback"),
    show_default=True,
    help="Folder for the feedback page (feedback.html) and the result (feedback.json).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON instead of the score table.")
@click.option("--gradescope", is_flag=True, help="Also write results.json in Gradescope's format into --out.")
@sandbox_option
@click.option(
    "--run-all-cells",
    is_flag=True,
    help="For notebooks, run every top-level statement (by default training runs, plots and prints "
    "that nothing graded uses are skipped).",
)
@click.option(
    "--verbose", "-v", is_flag=True, help="List every check in the terminal, not only those that lost points."
)
@limit_option
@course_option("to grade against", "the student copy holding the submission, else " + COURSE_DEFAULT)
def submit(
    folder: Path,
    assignments: tuple[str, ...],
    device: str,
    out: Path,
    as_json: bool,
    gradescope: bool,
    sandbox: str,
    run_all_cells: bool,
    verbose: bool,
    limit: dict[str, float],
    course: Path | None,
) -> None:
    """Grade the work in FOLDER and write an HTML feedback page.

    FOLDER holds your assignment files (srn.py or srn.ipynb, ohlol.py, ...) directly or in folders
    named after the assignments (a1_srn_numpy/, a2_rnncell_ohlol/, ...); it may also be one such file
    (grade submit a2_rnncell_ohlol/ohlol.py) or a zip of the folder. Inside your copy of the course, the
    copy's public checks run (the first line says so); your instructor's grading adds hidden checks.
    """
    from grader.grading.request import GradeRequest
    from grader.grading.slot import GradeOptions, GradingSlot, resolve_device
    from grader.report.pages import write_feedback

    loaded = load_course(course, folder, own_copy_first=True)
    check_assignments(loaded, assignments)
    try:
        device = resolve_device(device)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    # Built once, handed down once: how to grade to the slot, what to grade to slot.grade.
    options = GradeOptions(device=device, sandbox=sandbox, keep_all_cells=run_all_cells, limits=limit)
    request = GradeRequest(folder, tuple(assignments))
    try:
        slot = GradingSlot(loaded, options)
    except RuntimeError as exc:
        fail(str(exc))
    except Exception as exc:  # noqa: BLE001 - a grader bug: one sentence, never a traceback
        grader_bug(exc)
    if not as_json:
        say(f"Course: {loaded.describe()}", err=True)
        if loaded.note:
            say(f"note: {loaded.note}", fg="yellow", err=True)
        if not slot.isolation.isolated:
            say(f"warning: {slot.isolation.description}", fg="yellow", err=True)
    try:
        with slot:
            if not as_json:
                click.echo(f"Grading {terminal(folder)} on {device} ({slot.isolation.kind} sandbox) ...", err=True)
            result = slot.grade(request)
        html_path, json_path = write_feedback(result, out)
        if gradescope:
            from grader.packaging.gradescope import write_results

            write_results(result, out / "results.json")
    except Exception as exc:  # noqa: BLE001
        grader_bug(exc)
    if as_json:  # ASCII: no character of a student's text can act on the terminal
        click.echo(json.dumps(result.to_dict(), indent=2, ensure_ascii=True, allow_nan=False))
    else:
        print_summary(result, verbose)
        click.echo(f"Feedback: {terminal(html_path)}  (result: {terminal(json_path)})")
    if result.status == "empty" or any(a.status == "error" for a in result.assignments):
        sys.exit(1)
