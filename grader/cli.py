"""The `grade` command: what students and instructors type.

Exit status: 0 whenever grading ran, whatever the score; 1 when there was nothing to grade or the
grader itself could not run; 2 for a mistyped command line (click's usage errors).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

import click

from grader.course.model import Course, CourseError, find_course
from grader.report.results import SubmissionResult
from grader.text import terminal

SANDBOX_HELP = (
    "How student code is isolated: 'bubblewrap' (no network, only the submission visible), 'none' "
    "(resource limits only), or 'auto' (bubblewrap when it works here)."
)
DEVICE_HELP = (
    "Run the probes on 'cpu', on 'cuda' (a GPU), or 'auto' (cuda when available). Expected data stays CPU-computed."
)


def _course_option(function: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--course",
        type=click.Path(exists=True, file_okay=False, path_type=Path),
        envvar="GRADER_COURSE",
        help="The course to grade against: the instructor's repository (assignments/ and solutions/) or a "
        "student copy. Default: found automatically.",
    )(function)


def _parse_limits(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, float]:
    from grader.sandbox.limits import Limits

    limits: dict[str, float] = {}
    for value in values:
        key, _, number = value.partition("=")
        try:
            limits[key.strip()] = float(number)
            Limits.from_mapping({key.strip(): float(number)})
        except ValueError as exc:
            raise click.BadParameter(f"{value!r}: {exc}" if "=" in value else f"{value!r} is not KEY=VALUE") from None
    return limits


def _limit_option(function: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--limit",
        multiple=True,
        callback=_parse_limits,
        metavar="KEY=VALUE",
        help="Override a sandbox limit of every assignment, e.g. --limit probe_timeout_s=60 (repeatable). "
        "Keys: memory_mb, cpu_seconds, probe_timeout_s, import_timeout_s, submission_timeout_s, processes, "
        "file_size_mb, open_files, output_kb, result_mb, tmp_mb.",
    )(function)


def _times_option(function: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--times",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        default=None,
        metavar="FILE",
        help="When each student handed in, for the late policy of course.toml: a CSV with the columns student, "
        "assignment, submitted_at (ISO 8601 with a UTC offset). Default: submission_times.csv beside the "
        "student folders, else the times grade report recorded, else file times (weak evidence, warned).",
    )(function)


def _adjustments_option(function: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--adjustments",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        default=None,
        metavar="FILE",
        help="Manual adjustments, applied after the late penalty: a CSV with the columns student, assignment, "
        "delta or override, reason, by. Default: adjustments.csv in the grades folder, when there is one.",
    )(function)


def _check_gradebook_inputs(course: Course, out: Path, times: Path | None, adjustments: Path | None) -> None:
    """A wrong course.toml, times manifest or adjustments file is said before any grading, not after."""
    from grader.report.adjustments import FILE, read_adjustments
    from grader.report.late import read_manifest

    if adjustments is None and (out / FILE).is_file():
        adjustments = out / FILE
    from grader.report.insight import InsightSettings

    try:
        course.late_policy()
        InsightSettings.of(course)  # [insight] of course.toml, checked before anyone is graded
        if times is not None:
            read_manifest(times)
        if adjustments is not None:
            read_adjustments(adjustments)
    except (CourseError, ValueError) as exc:
        _fail(str(exc))


def _class_mean(out: Path) -> str:
    """The class mean as the gradebook states it (students with graded work only, out of its points), after
    its warnings (file times taken as submission times, adjustments that match no one)."""
    from grader.report.gradebook import JSON_FILE

    try:
        document = json.loads((out / JSON_FILE).read_text(encoding="utf-8"))
        summary, warnings = document["summary"], document.get("warnings", [])
    except (OSError, ValueError, KeyError, TypeError):
        return "no gradebook"
    for warning in warnings:
        click.secho(f"warning: {terminal(warning)}", fg="yellow", err=True)
    if summary.get("mean") is None:
        return "no graded work"
    without = summary["without_work"]
    return f"mean total {summary['mean']:.1f} / {summary['max_total']:g} over {summary['with_work']} students" + (
        f" ({without} with nothing graded, left out)" if without else ""
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="rnn-autograder")
def main() -> None:
    """Autograder of the recurrent-neural-network course.

    \b
    Students:     grade submit a1_srn_numpy/        check your work, get an HTML feedback page
    Instructors:  grade report submissions/ --out grades/    grade a whole class
                  grade export grades/              one zip per student of the page to send back
                  grade release                     rebuild student_template/ from solutions/
                  grade list                        assignments, checks and points
    """


@main.command()
@click.argument("folder", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--assignment",
    "-a",
    "assignments",
    multiple=True,
    metavar="ID",
    help="Grade only this assignment (repeatable). Default: every assignment found in FOLDER.",
)
@click.option(
    "--device", type=click.Choice(["cpu", "cuda", "auto"]), default="cpu", show_default=True, help=DEVICE_HELP
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("feedback"),
    show_default=True,
    help="Folder for the feedback page (feedback.html) and the result (feedback.json).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON instead of the score table.")
@click.option("--gradescope", is_flag=True, help="Also write results.json in Gradescope's format into --out.")
@click.option(
    "--sandbox", type=click.Choice(["auto", "bubblewrap", "none"]), default="auto", show_default=True, help=SANDBOX_HELP
)
@click.option(
    "--run-all-cells",
    is_flag=True,
    help="For notebooks, run every top-level statement (by default training runs, plots and prints "
    "that nothing graded uses are skipped).",
)
@click.option(
    "--verbose", "-v", is_flag=True, help="List every check in the terminal, not only those that lost points."
)
@_limit_option
@_course_option
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

    loaded = _load_course(course, folder, own_copy_first=True)
    _check_assignments(loaded, assignments)
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
        _fail(str(exc))
    except Exception as exc:  # noqa: BLE001 - a grader bug: one sentence, never a traceback
        _grader_bug(exc)
    if not as_json:
        _say(f"Course: {loaded.describe()}", err=True)
        if not slot.isolation.isolated:
            _say(f"warning: {slot.isolation.description}", fg="yellow", err=True)
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
        _grader_bug(exc)
    if as_json:  # ASCII: no character of a student's text can act on the terminal
        click.echo(json.dumps(result.to_dict(), indent=2, ensure_ascii=True, allow_nan=False))
    else:
        _print_summary(result, verbose)
        click.echo(f"Feedback: {terminal(html_path)}  (result: {terminal(json_path)})")
    if result.status == "empty" or any(a.status == "error" for a in result.assignments):
        sys.exit(1)


def _grader_bug(exc: Exception) -> NoReturn:
    """A failure of the grader itself (never of the student's file): one escaped sentence, no traceback."""
    _fail(f"the grader failed (a grader bug, not your fault): {type(exc).__name__}: {_first_line(str(exc), 300)}")


def _print_summary(result: SubmissionResult, verbose: bool) -> None:
    """The score table. Everything in it that came from a student (names, messages, output) is escaped
    by :func:`_say` or :func:`terminal` (no control character reaches the terminal) and wrapped, never
    cut: the end of a message is often the part that says what to fix."""
    from grader.report.pages import SHARED_FAILURE_NOTE, format_points, shared_failure

    if result.message:
        _say(result.message, fg="red")
    for note in result.notes[:3]:
        _say(f"note: {note}", indent="  ")
    for a in result.assignments:
        checks = len(a.checks)
        source = terminal(a.source or "-")
        line = f"  {a.id:<20} {source:<16} {format_points(a.score):>6} / {format_points(a.max_score):<4}"
        click.echo(f"{line} {checks} checks, {a.duration:.1f} s")
        if a.message:
            _say(a.message, indent="      ", fg="red")
        shared = shared_failure(a)
        if shared:
            _say(f"every failed check: {shared}", indent="      ", fg="red")
        if a.choice:  # which file was graded
            _say(f"note: {a.choice}", indent="      ", fg="yellow")
        for note in [n for n in a.notes if n != a.choice][:3]:
            _say(f"note: {note}", indent="      ")
        for c in a.checks:
            if c.status == "passed" and not verbose:
                continue
            mark = {"passed": "ok", "partial": "~", "skipped": "-"}.get(c.status, "x")
            message = SHARED_FAILURE_NOTE if shared and c.message == shared else c.message
            _say(
                f"{mark} {c.title} ({format_points(c.points)}/{format_points(c.max_points)})"
                + (f": {message}" if message and c.status != "passed" else ""),
                indent="      ",
            )
            if c.mistake and c.diagnosis:
                _say(c.diagnosis, indent="          ", fg="magenta")
    if len(result.assignments) > 1:
        click.echo(f"  {'Total':<37} {format_points(result.score):>6} / {format_points(result.max_score)}")


MAX_TERMINAL_LINES = 12  # of one message: the feedback page has the rest


def _say(text: str, indent: str = "", fg: str | None = None, err: bool = False) -> None:
    """``text`` escaped for the terminal and wrapped to its width (continuation lines indented two more
    spaces), never cut mid-sentence; a message of many lines shows its first :data:`MAX_TERMINAL_LINES`."""
    import shutil
    import textwrap

    width = max(shutil.get_terminal_size((100, 24)).columns, 60)
    lines: list[str] = []
    for paragraph in (text.strip() or "").splitlines() or [""]:
        lines += textwrap.wrap(
            terminal(paragraph),
            width=width,
            initial_indent=indent if not lines else indent + "  ",
            subsequent_indent=indent + "  ",
            break_long_words=False,  # a path or a name stays whole, even past the width
            break_on_hyphens=False,
        ) or [indent]
    if len(lines) > MAX_TERMINAL_LINES:
        lines = lines[:MAX_TERMINAL_LINES] + [f"{indent}  [... more in the feedback page]"]
    click.secho("\n".join(lines), fg=fg, err=err)


def _first_line(text: str, limit: int = 300) -> str:
    """The first line of ``text``, escaped for the terminal (a grader's own error, for one-line reports)."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    return terminal(line, limit)


CLUSTER_INSTALL = 'grading on a Dask cluster needs Dask: pip install "rnn-autograder[cluster]"'


def _parse_local_cluster(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    """``local:N`` -> N worker processes (``local``: one per CPU core)."""
    if value is None:
        return None
    kind, _, count = value.partition(":")
    if kind != "local" or (count and not (count.isdigit() and 1 <= int(count) <= 256)):
        raise click.BadParameter(f"{value!r}: expected local:N, N from 1 to 256 worker processes on this machine")
    if not count:
        from grader.grading.batch import cpu_count

        return cpu_count()
    return int(count)


def _open_cluster(scheduler: str | None, local_workers: int | None, device: str) -> Any:
    """A connected :class:`~grader.grading.cluster.ClusterSession`, closed when the command ends."""
    if scheduler and local_workers:
        raise click.UsageError("give --scheduler or --cluster, not both")
    try:
        from grader.grading.cluster import ClusterError, ClusterSession
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in ("dask", "distributed"):
            raise
        _fail(CLUSTER_INSTALL)
    try:
        session = ClusterSession(scheduler, local_workers, device)
    except (ClusterError, ValueError) as exc:
        _fail(str(exc))
    click.get_current_context().call_on_close(session.close)
    return session


@main.command()
@click.argument("submissions", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("grades"),
    show_default=True,
    help="Folder for the gradebook, the class overview (index.html) and each student's feedback.",
)
@click.option(
    "--workers",
    "-j",
    type=click.IntRange(1, 64),
    default=None,
    help="Students graded at once. Default: the number of CPU cores.",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Skip students whose submission is unchanged since their result in --out was recorded.",
)
@click.option(
    "--assignment",
    "-a",
    "assignments",
    multiple=True,
    metavar="ID",
    help="Grade only this assignment (repeatable). Default: every assignment.",
)
@click.option(
    "--device", type=click.Choice(["cpu", "cuda", "auto"]), default="cpu", show_default=True, help=DEVICE_HELP
)
@click.option(
    "--sandbox", type=click.Choice(["auto", "bubblewrap", "none"]), default="auto", show_default=True, help=SANDBOX_HELP
)
@click.option(
    "--allow-unsandboxed",
    is_flag=True,
    help="Grade even where bubblewrap does not work (student code then runs with resource limits only).",
)
@click.option(
    "--student-timeout",
    type=float,
    default=None,
    metavar="SECONDS",
    help="Stop grading a student after this long (default: from the assignments' time budgets).",
)
@click.option("--run-all-cells", is_flag=True, help="For notebooks, run every top-level statement.")
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    default=None,
    help="Grade on a Dask cluster: its scheduler's address (tcp://HOST:8786). Each worker needs the course, "
    "bubblewrap and torch; see docs/cluster.md. Needs: pip install \"rnn-autograder[cluster]\".",
)
@click.option(
    "--cluster",
    "local_cluster",
    metavar="local:N",
    default=None,
    callback=_parse_local_cluster,
    help="Start a Dask cluster of N worker processes on this machine and grade on it (--workers then does not apply).",
)
@_times_option
@_adjustments_option
@_limit_option
@_course_option
def report(
    submissions: Path,
    out: Path,
    workers: int | None,
    resume: bool,
    assignments: tuple[str, ...],
    device: str,
    sandbox: str,
    allow_unsandboxed: bool,
    student_timeout: float | None,
    run_all_cells: bool,
    times: Path | None,
    adjustments: Path | None,
    limit: dict[str, float],
    course: Path | None,
    scheduler: str | None = None,
    local_cluster: int | None = None,
) -> None:
    """Grade a whole class: every sub-folder (or .zip) of SUBMISSIONS is one student.

    Writes OUT/index.html (class overview), OUT/gradebook.csv and .json, and each student's
    feedback in OUT/students/<id>/. Student code runs in a sandbox; without bubblewrap this command
    refuses to run unless --allow-unsandboxed is given.
    """
    from grader.grading.batch import BatchOptions, cpu_count, run_batch
    from grader.grading.slot import GradeOptions, resolve_device
    from grader.intake.students import discover
    from grader.sandbox import choose

    loaded = _load_course(course, submissions)
    _check_assignments(loaded, assignments)
    _check_gradebook_inputs(loaded, out, times, adjustments)
    _check_handback(loaded)
    session = _open_cluster(scheduler, local_cluster, device) if scheduler or local_cluster else None
    try:
        device = session.device if session else resolve_device(device)
        isolation = (
            session.prepare(  # each Dask worker chooses its own sandbox and refuses one without isolation
                loaded,
                GradeOptions(device=device, sandbox=sandbox, keep_all_cells=run_all_cells, limits=limit),
                list(assignments) or None,
                require_isolation=not allow_unsandboxed,
            )
            if session
            else choose(sandbox)
        )
    except (ValueError, RuntimeError) as exc:
        _fail(str(exc))
    if not isolation.isolated and not allow_unsandboxed:
        _fail(
            f"{isolation.description}. Install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap) or pass "
            "--allow-unsandboxed to grade anyway."
        )
    students = discover(submissions)
    if not students:
        _fail(f"{terminal(submissions)} holds no student folders or zip files")
    for warning in sorted({note for student in students for note in student.notes}):
        click.secho(f"warning: {terminal(warning)}", fg="yellow", err=True)
    options = BatchOptions(
        workers=session.slots if session else workers or cpu_count(),
        resume=resume,
        only=list(assignments) or None,
        student_timeout_s=student_timeout,
        cluster=session,
        grade=GradeOptions(device=device, sandbox=isolation.kind, keep_all_cells=run_all_cells, limits=limit),
    )
    started = time.monotonic()
    counts: dict[str, int] = {}
    label = f"Grading {len(students)} students"
    references = _ReferenceProgress(loaded, list(assignments) or list(loaded.assignments), options.grade, label)
    with (
        click.progressbar(length=len(students), label=label, show_pos=True, file=sys.stderr) as bar,
        references.on(bar),
    ):

        def done(outcome: Any) -> None:
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
            bar.update(1)

        try:
            run_batch(loaded, students, out, options, isolation, on_done=done)
        except RuntimeError as exc:  # a cluster that can no longer grade (ClusterError); what was graded is saved
            if session is None:
                raise
            _fail(f"{exc}")
    from grader.report.class_outputs import write_class_outputs
    from grader.report.results import load_results

    # -a adds to what earlier runs graded: the gradebook covers every assignment graded so far.
    graded_before = {a.id for r in load_results(out) for a in r.assignments} if assignments else set()
    try:
        index = write_class_outputs(
            loaded,
            out,
            [a for a in loaded.assignments if a in assignments or a in graded_before]
            if assignments
            else list(loaded.assignments),
            isolation,
            submissions=submissions,
            times_file=times,
            adjustments_file=adjustments,
        )
    except (CourseError, ValueError) as exc:  # course.toml, times or adjustments edited during the run
        _fail(str(exc))
    seconds = time.monotonic() - started
    parts = [f"{n} {status}" for status, n in sorted(counts.items())]
    click.echo(
        f"Graded {len(students)} students in {seconds:.1f} s with {options.workers} workers"
        f"{f' on the Dask cluster at {session.address}' if session else ''} "
        f"({', '.join(parts)}); {_class_mean(out)}."
    )
    click.echo(f"Class overview: {terminal(index)}  Gradebook: {terminal(out / 'gradebook.csv')}")
    from grader.report.handback import STUDENT_PAGE

    click.echo(
        f"To send back: {terminal(out / 'students')}/<id>/{STUDENT_PAGE} (hidden checks reduced); "
        f"`grade export {terminal(out)}` zips one per student"
    )


@main.command()
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
@_times_option
@_adjustments_option
@_course_option
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


@main.command()
@click.argument("grades", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--quiet", "-q", is_flag=True, help="Print only the summary, not each change of a score.")
@_times_option
@_adjustments_option
@_course_option
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
    from grader.report.results import load_results

    loaded = _load_course(course, grades)
    _check_gradebook_inputs(loaded, grades, times, adjustments)
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
    for student, reasons in report.needs_regrade.items():
        click.secho(f"needs a regrade: {terminal(student)}: {terminal('; '.join(reasons))}", fg="yellow")
    results = load_results(grades)
    assignment_ids = [a for a in loaded.assignments if any(r.assignment(a) for r in results)]
    isolation = _RecordedIsolation(results[0].isolation if results else {})
    try:
        write_class_outputs(loaded, grades, assignment_ids, isolation, times_file=times, adjustments_file=adjustments)  # type: ignore[arg-type]
    except (CourseError, ValueError) as exc:
        _fail(str(exc))
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


def _check_handback(course: Course) -> None:
    """A [handback] setting in course.toml that the grader does not know stops `grade report` before
    anyone is graded, not after."""
    from grader.report.handback import HandbackError, handback_for

    try:
        handback_for(course)
    except HandbackError as exc:
        _fail(str(exc))


def _export_zips(grades: Path, out: Path | None, course: Path | None) -> None:
    """OUT/<id>.zip per student, holding only the student version of their page (hidden checks reduced
    as course.toml's [handback] says), ready to send."""
    from grader.report.handback import HandbackError, export_zips, handback_for

    def handback() -> Any:  # needed only for a page grade report did not write (an older grades folder)
        try:
            return handback_for(_load_course(course, grades))
        except HandbackError as exc:
            _fail(str(exc))

    target = out or grades / "handback"
    exported = export_zips(grades, target, handback)
    if not exported.zips:
        _fail(f"{terminal(grades)} holds no graded students (students/<id>/feedback.json): run grade report first")
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
    loaded = _load_course(course, Path.cwd())
    results = load_results(grades)
    if not results:
        _fail(f"{terminal(grades)} holds no graded students (students/<id>/feedback.json): run grade report first")
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
        _fail(str(exc))
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


@main.command()
@click.option("--assignment", "-a", "assignment", required=True, metavar="ID", help="The assignment to grade.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("autograder.zip"),
    show_default=True,
    help="Where to write the zip to upload to Gradescope.",
)
@_course_option
def gradescope(assignment: str, out: Path, course: Path | None) -> None:
    """Build a Gradescope autograder (setup.sh, run_autograder) for one assignment.

    The zip holds the grader, the assignment's checks (hidden ones included) and the expected data of
    every check, computed once here: no solution. Upload it as the programming assignment's
    autograder; docs/gradescope.md says how, and how student code is kept away from these files.
    """
    from grader.packaging.gradescope import build_autograder
    from grader.packaging.release import ReleaseError

    loaded = _load_course(course, Path.cwd())
    if loaded.kind != "instructor":
        _fail("an autograder needs the instructor's course (assignments/ and solutions/)")
    _check_assignments(loaded, (assignment,))
    repository = Path(__file__).resolve().parent.parent
    if not (repository / "pyproject.toml").is_file():
        _fail("the grader's source (pyproject.toml beside grader/) is needed to build an autograder")
    try:
        build_autograder(loaded, assignment, repository, out, log=lambda m: click.echo(m, err=True))
    except ReleaseError as exc:
        _fail(str(exc))
    click.echo(f"Wrote {out}: upload it as the Gradescope autograder of {assignment}")


@main.command()
@click.option("--rotate", is_flag=True, help="Replace the key with a new random one (every official question changes).")
@_course_option
def secret(rotate: bool, course: Path | None) -> None:
    """Show where the course secret lives, or rotate it.

    Official grading draws the seeds of every check from this key, so the answers a student copy ships
    for self-checking are never the questions asked. It is $GRADER_SECRET, else .grader-secret at the
    course's root (created on first use). Rotate it each term and after any leak; rebuild Gradescope
    autograders afterwards.
    """
    from grader.course.secret import SECRET_ENV, SECRET_FILE, load_secret, rotate_secret

    loaded = _load_course(course, Path.cwd())
    if loaded.kind != "instructor":
        _fail("the course secret belongs to the instructor's course (assignments/ and solutions/)")
    path = loaded.root / SECRET_FILE
    if os.environ.get(SECRET_ENV, "").strip():
        if rotate:
            _fail(f"the key comes from ${SECRET_ENV}: set a new value there to rotate it")
        click.echo(f"The course secret comes from ${SECRET_ENV}.")
        return
    if rotate:
        rotate_secret(loaded.root)
        click.echo(f"Wrote a new key to {path}: official grading asks fresh questions from now on.")
        return
    existed = path.is_file()
    load_secret(loaded.root)
    click.echo(
        f"The course secret is in {path}"
        + ("" if existed else " (just created)")
        + ": keep it out of anything students can read."
    )


@main.command()
@_course_option
def check(course: Path | None) -> None:
    """Check the course's own material before grading anyone.

    Without running anything: every probe and verify function the checks ask for exists, every
    catalogued mistake's patches apply to the reference, ids match their folders. `grade release`
    runs the same check first. Exit status 1 when something is wrong.
    """
    from grader.course.validate import course_problems, describe

    loaded = _load_course(course, Path.cwd())
    problems = course_problems(loaded)
    if any(problems.values()):
        click.echo(describe(problems))
        sys.exit(1)
    click.echo(f"{len(problems)} assignments checked: no problems found")


@main.command(name="list")
@click.option("--checks/--no-checks", default=True, help="Show each check with its points.")
@_course_option
def list_(checks: bool, course: Path | None) -> None:
    """List the assignments, their checks and points."""
    from grader.judging.plugin import collect_checks
    from grader.report.pages import format_points

    loaded = _load_course(course, Path.cwd())
    mode = "all checks" if loaded.mode == "full" else "public checks only (student copy)"
    click.echo(f"Course at {loaded.root} ({mode})")
    for spec in loaded.assignments.values():
        found, problems = collect_checks(spec)
        hidden = sum(1 for c in found if c.visibility == "hidden")
        total = sum(c.points for c in found)
        click.echo(
            f"\n{spec.id}  module {spec.module}.py  {format_points(total)} points  "
            f"({len(found) - hidden} public, {hidden} hidden checks)"
        )
        click.echo(f"  {spec.title}")
        for problem in problems:
            click.secho(f"  could not load checks: {_first_line(problem)}", fg="red")
        if checks:
            for c in found:
                tag = " [hidden]" if c.visibility == "hidden" else ""
                click.echo(f"    {format_points(c.points):>5}  {c.title}{tag}")


@main.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to write the student copy. Default: student_template/ in the course.",
)
@click.option(
    "--check",
    "check_only",
    is_flag=True,
    help="Do not write; exit 1 if the committed student copy differs from what would be written.",
)
@click.option(
    "--assignment",
    "-a",
    "assignments",
    multiple=True,
    metavar="ID",
    help="Release only this assignment (repeatable). Default: all.",
)
@click.option(
    "--recompute",
    is_flag=True,
    help="Recompute the expected data even where its inputs did not change (slow; with --check, "
    "compares the values within a tolerance).",
)
@click.option(
    "--wheel/--no-wheel",
    default=None,
    help="Also write the grader's wheel (no course data in it) into the student copy, for students to "
    "`pip install rnn_autograder-*.whl`. Default: when the course is the grader's own repository.",
)
@_course_option
def release(
    out: Path | None,
    check_only: bool,
    assignments: tuple[str, ...],
    recompute: bool,
    wheel: bool | None,
    course: Path | None,
) -> None:
    """Build the student copy (stubs, handouts, public checks, expected data, its README) from
    solutions/, and the grader's wheel students install (git ignores it: hand students the folder)."""
    from grader.packaging.release import ReleaseError
    from grader.packaging.release import release as build

    loaded = _load_course(course, Path.cwd())
    if loaded.kind != "instructor":
        _fail("release needs the instructor's course (assignments/ and solutions/), not a student copy")
    _check_assignments(loaded, assignments)
    target = out or loaded.root / "student_template"
    try:
        differences = build(
            loaded,
            target,
            check_only=check_only,
            only=list(assignments) or None,
            recompute=recompute,
            log=lambda m: click.echo(m, err=True),
        )
    except ReleaseError as exc:
        _fail(str(exc))
    if check_only:
        if differences:
            click.secho(f"{target} is out of date:", fg="red")
            for line in differences:
                click.echo(f"  {line}")
            sys.exit(1)
        click.echo(f"{target} is up to date")
    else:
        click.echo(f"Wrote the student copy to {target}")
        repository = Path(__file__).resolve().parent.parent  # the grader's source, in an editable install
        if wheel or (wheel is None and not assignments and loaded.root == repository):
            _write_student_wheel(repository, target)


def _write_student_wheel(repository: Path, target: Path) -> None:
    from grader.packaging.wheel import WheelError, build_student_wheel

    try:
        built = build_student_wheel(repository, target)
    except WheelError as exc:
        _fail(f"{exc} (--no-wheel writes the student copy alone)")
    click.echo(f"Wrote the grader for students to {built}: `pip install {built.name}` (no course data in it)")


class _ReferenceProgress:
    """While a class is graded, say how many reference answers have been computed: on the first run
    of a course version the first students wait for them, and a bar sitting at 0/N says nothing."""

    EVERY_S = 2.0  # how often the count is looked at (and, without a terminal, at most one line per change)

    def __init__(self, course: Course, assignments: list[str], options: Any, label: str) -> None:
        """Says at once (before the bar) when reference answers are missing, and for which assignments."""
        import threading

        from grader.judging.expected import DiskCache, default_cache_dir

        self.cache = DiskCache(options.cache_dir or default_cache_dir())
        self.specs = [course.get(a) for a in assignments if course.get(a).solution_dir is not None]
        self.bar: Any = None
        self.label = label
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.first = self._count()
        self.cold = [spec.id for spec in self.specs if self.cache.count(spec) == 0]
        if self.cold:
            _say(
                f"First run with this version of {', '.join(self.cold)}: the reference answers are computed "
                "once, while the first students are graded (they wait for them), then cached for later runs.",
                err=True,
            )

    def _count(self) -> int:
        return sum(self.cache.count(spec) for spec in self.specs)

    def on(self, bar: Any) -> _ReferenceProgress:
        self.bar = bar
        return self

    def __enter__(self) -> _ReferenceProgress:
        if self.cold:
            self.thread.start()
        return self

    def _watch(self) -> None:
        shown = self.first
        while not self.stop.wait(self.EVERY_S):
            now = self._count()
            if now != shown:
                shown = now
                self.bar.label = f"{self.label} (reference answers computed: {now - self.first})"
                self.bar.render_progress()

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join(5)


def _load_course(course: Path | None, near: Path, own_copy_first: bool = False) -> Course:
    try:
        return find_course(course, near, own_copy_first)
    except CourseError as exc:
        _fail(str(exc))


def _check_assignments(course: Course, assignments: tuple[str, ...]) -> None:
    unknown = [a for a in assignments if a not in course.assignments]
    if unknown:
        raise click.BadParameter(
            f"unknown assignment {', '.join(unknown)}; known: {', '.join(course.assignments)}",
            param_hint="--assignment",
        )


def _fail(message: str) -> NoReturn:
    escaped = "\n".join(terminal(line) for line in message.splitlines())  # no line can act on the terminal
    click.secho(f"error: {escaped}", fg="red", err=True)
    sys.exit(1)
