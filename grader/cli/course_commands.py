"""The instructor's commands about the course itself: check, list, secret, release, gradescope."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from grader.cli.options import check_assignments, course_option, fail, load_course
from grader.cli.printing import first_line
from grader.text import terminal


@click.command()
@click.option("--assignment", "-a", "assignment", required=True, metavar="ID", help="The assignment to grade.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("autograder.zip"),
    show_default=True,
    help="Where to write the zip to upload to Gradescope.",
)
@course_option("to build a Gradescope autograder of")
def gradescope(assignment: str, out: Path, course: Path | None) -> None:
    """Build a Gradescope autograder (setup.sh, run_autograder) for one assignment.

    The zip holds the grader, the assignment's checks (hidden ones included) and the expected data of
    every check, computed once here: no solution. Upload it as the programming assignment's
    autograder; docs/gradescope.md says how, and how student code is kept away from these files.
    """
    from grader.packaging.gradescope import build_autograder
    from grader.packaging.release import ReleaseError

    loaded = load_course(course, Path.cwd())
    if loaded.kind != "instructor":
        fail("an autograder needs the instructor's course (assignments/ and solutions/)")
    check_assignments(loaded, (assignment,))
    repository = Path(__file__).resolve().parents[2]
    if not (repository / "pyproject.toml").is_file():
        fail("the grader's source (pyproject.toml beside grader/) is needed to build an autograder")
    try:
        build_autograder(loaded, assignment, repository, out, log=lambda m: click.echo(m, err=True))
    except ReleaseError as exc:
        fail(str(exc))
    click.echo(f"Wrote {out}: upload it as the Gradescope autograder of {assignment}")


@click.command()
@click.option("--rotate", is_flag=True, help="Replace the key with a new random one (every official question changes).")
@course_option("whose secret to show or rotate")
def secret(rotate: bool, course: Path | None) -> None:
    """Show where the course secret lives, or rotate it.

    Official grading draws the seeds of every check from this key, so the answers a student copy ships
    for self-checking are never the questions asked. It is $GRADER_SECRET, else .grader-secret at the
    course's root (created on first use). Rotate it each term and after any leak; rebuild Gradescope
    autograders afterwards.
    """
    from grader.course.secret import SECRET_ENV, SECRET_FILE, load_secret, rotate_secret

    loaded = load_course(course, Path.cwd())
    if loaded.kind != "instructor":
        fail("the course secret belongs to the instructor's course (assignments/ and solutions/)")
    path = loaded.root / SECRET_FILE
    if os.environ.get(SECRET_ENV, "").strip():
        if rotate:
            fail(f"the key comes from ${SECRET_ENV}: set a new value there to rotate it")
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


@click.command()
@course_option("to check")
def check(course: Path | None) -> None:
    """Check the course's own material before grading anyone.

    Without grading anything: probes.py and verify.py parse and define every function the checks ask
    for, every catalogued mistake's patches apply to the reference, ids match their folders, the
    public check files exist, the checks' points add up to the assignment's, and checks outside the
    public files are marked hidden, and a helper module the public checks import holds nothing only the
    hidden checks use (it ships to students). `grade release` runs the same check first. Exit status 1
    when something is wrong.
    """
    from grader.course.validate import course_problems, describe
    from grader.judging.plugin import collection_problems
    from grader.packaging.release import ReleaseError, shipped_helpers

    loaded = load_course(course, Path.cwd())
    problems = course_problems(loaded)
    for spec in loaded.assignments.values():
        problems[spec.id] += collection_problems(spec, full=loaded.mode == "full")
        if loaded.mode == "full" and not problems[spec.id]:
            try:  # what `grade release` would refuse to ship: a helper of the public checks holding more
                shipped_helpers(spec, list(spec.public_checks))
            except ReleaseError as refused:
                problems[spec.id] += str(refused).splitlines()
    if any(problems.values()):
        click.echo(describe(problems))
        sys.exit(1)
    click.echo(f"{len(problems)} assignments of the course at {terminal(str(loaded.root))} checked: no problems found")


@click.command(name="list")
@click.option(
    "--checks/--no-checks", default=True, help="Show each check with its points (the default), or only the assignments."
)
@course_option("whose assignments to list")
def list_(checks: bool, course: Path | None) -> None:
    """List the assignments, their checks and points."""
    from grader.judging.plugin import collect_checks
    from grader.report.pages import format_points

    loaded = load_course(course, Path.cwd())
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
            click.secho(f"  could not load checks: {first_line(problem)}", fg="red")
        if checks:
            for c in found:
                tag = " [hidden]" if c.visibility == "hidden" else ""
                click.echo(f"    {format_points(c.points):>5}  {c.title}{tag}")


@click.command()
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
@course_option("to release the student copy of")
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

    loaded = load_course(course, Path.cwd())
    if loaded.kind != "instructor":
        fail("release needs the instructor's course (assignments/ and solutions/), not a student copy")
    check_assignments(loaded, assignments)
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
        fail(str(exc))
    if check_only:
        if differences:
            click.secho(f"{target} is out of date:", fg="red")
            for line in differences:
                click.echo(f"  {line}")
            sys.exit(1)
        click.echo(f"{target} is up to date")
    else:
        click.echo(f"Wrote the student copy to {target}")
        repository = Path(__file__).resolve().parents[2]  # the grader's source, in an editable install
        if wheel or (wheel is None and not assignments and loaded.root == repository):
            _write_student_wheel(repository, target)
        elif wheel is None:  # said, not left for the instructor to find missing (a new instructor round)
            why = (
                "only some assignments were released"
                if assignments
                else "this course is not the grader's own repository"
            )
            click.echo(
                f"The grader's wheel for students was not written ({why}): --wheel writes it into the student "
                "copy; or students install the grader as you did"
            )


def _write_student_wheel(repository: Path, target: Path) -> None:
    from grader.packaging.wheel import WheelError, build_student_wheel

    try:
        built = build_student_wheel(repository, target)
    except WheelError as exc:
        fail(f"{exc} (--no-wheel writes the student copy alone)")
    click.echo(f"Wrote the grader for students to {built}: `pip install {built.name}` (no course data in it)")
