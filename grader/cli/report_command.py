"""`grade report`: a class graded on this machine or on a Dask cluster, with its gradebook and overview."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click

from grader.cli.export_command import check_handback
from grader.cli.options import (
    adjustments_option,
    check_assignments,
    check_gradebook_inputs,
    class_mean,
    course_option,
    device_option,
    fail,
    limit_option,
    load_course,
    sandbox_option,
    times_option,
)
from grader.cli.printing import ReferenceProgress
from grader.course.model import CourseError
from grader.text import terminal

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


def default_workers(device: str) -> int:
    """Students graded at once without ``--workers``: one per CPU core; on a GPU one, since the students
    of one machine share its GPU and one student's process can take all of its memory and time (an
    isolation round's reading; the cluster gives each student a GPU of its own)."""
    from grader.grading.batch import cpu_count

    return 1 if device == "cuda" else cpu_count()


def _open_cluster(scheduler: str | None, local_workers: int | None, device: str) -> Any:
    """A connected :class:`~grader.grading.cluster.ClusterSession`, closed when the command ends."""
    if scheduler and local_workers:
        raise click.UsageError("give --scheduler or --cluster, not both")
    try:
        from grader.grading.cluster import ClusterError, ClusterSession
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in ("dask", "distributed"):
            raise
        fail(CLUSTER_INSTALL)
    try:
        session = ClusterSession(scheduler, local_workers, device)
    except (ClusterError, ValueError) as exc:
        fail(str(exc))
    click.get_current_context().call_on_close(session.close)
    return session


@click.command()
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
    help="Students graded at once. Default: the number of CPU cores; with --device cuda, one (the students "
    "share the GPU, and one student's process can take all its memory).",
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
@device_option
@sandbox_option
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
@times_option
@adjustments_option
@limit_option
@course_option("to grade the class against")
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
    from grader.grading.batch import BatchOptions, run_batch
    from grader.grading.slot import GradeOptions, resolve_device
    from grader.intake.students import discover
    from grader.sandbox import choose

    loaded = load_course(course, submissions)
    check_assignments(loaded, assignments)
    check_gradebook_inputs(loaded, out, times, adjustments)
    check_handback(loaded)
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
        fail(str(exc))
    if not isolation.isolated and not allow_unsandboxed:
        fail(
            f"{isolation.description}. Install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap) or pass "
            "--allow-unsandboxed to grade anyway."
        )
    if out.resolve() == submissions.resolve() or submissions.resolve() in out.resolve().parents:
        fail(
            f"--out {terminal(out)} is inside {terminal(submissions)}: its folders would be graded as students "
            "the next time; choose a grades folder outside the submissions"
        )
    students = discover(submissions)
    if not students:
        fail(f"{terminal(submissions)} holds no student folders or zip files")
    work = sorted(s.name for s in students if s.name in loaded.assignments)
    if work:
        fail(
            f"{terminal(submissions)} looks like one student's work (it holds {', '.join(work)}/): give the folder "
            "that holds one folder or zip file per student, or grade one student with `grade submit`"
        )
    click.echo(f"Course: {terminal(loaded.describe())}", err=True)  # which checks decide these grades
    if loaded.note:
        click.secho(f"note: {terminal(loaded.note)}", fg="yellow", err=True)
    for warning in sorted({note for student in students for note in student.notes}):
        click.secho(f"warning: {terminal(warning)}", fg="yellow", err=True)
    options = BatchOptions(
        workers=session.slots if session else workers or default_workers(device),
        resume=resume,
        only=list(assignments) or None,
        student_timeout_s=student_timeout,
        cluster=session,
        grade=GradeOptions(device=device, sandbox=isolation.kind, keep_all_cells=run_all_cells, limits=limit),
    )
    started = time.monotonic()
    counts: dict[str, int] = {}
    label = f"Grading {len(students)} students"
    references = ReferenceProgress(loaded, list(assignments) or list(loaded.assignments), options.grade, label)
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
            fail(f"{exc}")
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
        fail(str(exc))
    seconds = time.monotonic() - started
    parts = [f"{n} {status}" for status, n in sorted(counts.items())]
    click.echo(
        f"Graded {len(students)} student{'s' if len(students) != 1 else ''} in {seconds:.1f} s with "
        f"{options.workers} worker{'s' if options.workers != 1 else ''}"
        f"{f' on the Dask cluster at {session.address}' if session else ''} "
        f"({', '.join(parts)}); {class_mean(out)}."
    )
    click.echo(f"Class overview: {terminal(index)}  Gradebook: {terminal(out / 'gradebook.csv')}")
    from grader.report.handback import STUDENT_PAGE

    click.echo(
        f"To send back: {terminal(out / 'students')}/<id>/{STUDENT_PAGE} (hidden checks reduced); "
        f"`grade export {terminal(out)}` zips one per student"
    )
