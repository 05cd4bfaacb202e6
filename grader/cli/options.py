"""Options and checks that several commands share: the course, limits, late and adjustment files."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import NoReturn

import click

from grader.cli.printing import first_line
from grader.course.model import Course, CourseError, find_course
from grader.sandbox.limits import Limits
from grader.text import lines, terminal

SANDBOX_HELP = (
    "How student code is isolated: 'bubblewrap' (no network, only the submission visible), 'none' "
    "(resource limits only), or 'auto' (bubblewrap when it works here)."
)


DEVICE_HELP = (
    "Run the probes on 'cpu', on 'cuda' (a GPU), or 'auto' (cuda when available). Expected data stays CPU-computed."
)


def device_option(function: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--device", type=click.Choice(["cpu", "cuda", "auto"]), default="cpu", show_default=True, help=DEVICE_HELP
    )(function)


def sandbox_option(function: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--sandbox",
        type=click.Choice(["auto", "bubblewrap", "none"]),
        default="auto",
        show_default=True,
        help=SANDBOX_HELP,
    )(function)


COURSE_DEFAULT = "the instructor's course around the current folder, else the one this grader was installed from"


def course_option(purpose: str, default: str = COURSE_DEFAULT) -> Callable[[click.decorators.FC], click.decorators.FC]:
    """``--course``, its help saying what this command does with the course (``purpose``) and where it
    looks when none is given (a new instructor read the same sentence under every command)."""

    def decorate(function: click.decorators.FC) -> click.decorators.FC:
        return click.option(
            "--course",
            type=click.Path(exists=True, file_okay=False, path_type=Path),
            envvar="GRADER_COURSE",
            help=f"The course {purpose}: the instructor's repository (assignments/ and solutions/) or a student "
            f"copy. Default ($GRADER_COURSE aside): {default}.",
        )(function)

    return decorate


def _parse_limits(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, float]:
    limits: dict[str, float] = {}
    for value in values:
        key, _, number = value.partition("=")
        try:
            limits[key.strip()] = float(number)
            Limits.from_mapping({key.strip(): float(number)})
        except ValueError as exc:
            raise click.BadParameter(f"{value!r}: {exc}" if "=" in value else f"{value!r} is not KEY=VALUE") from None
    return limits


def limit_option(function: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--limit",
        multiple=True,
        callback=_parse_limits,
        metavar="KEY=VALUE",
        help="Override a sandbox limit of every assignment, e.g. --limit probe_timeout_s=60 (repeatable). "
        f"Keys: {', '.join(field.name for field in fields(Limits))}.",
    )(function)


def times_option(function: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--times",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        default=None,
        metavar="FILE",
        help="When each student handed in, for the late policy of course.toml: a CSV with the columns student, "
        "assignment, submitted_at (ISO 8601 with a UTC offset). Default: submission_times.csv beside the "
        "student folders, else the times grade report recorded, else file times (weak evidence, warned).",
    )(function)


def adjustments_option(function: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--adjustments",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        default=None,
        metavar="FILE",
        help="Manual adjustments, applied after the late penalty: a CSV with the columns student, assignment, "
        "delta or override, reason, by. Default: adjustments.csv in the grades folder, when there is one.",
    )(function)


def check_gradebook_inputs(course: Course, out: Path, times: Path | None, adjustments: Path | None) -> None:
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
        fail(str(exc))


def class_mean(out: Path) -> str:
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


def grader_bug(exc: Exception) -> NoReturn:
    """A failure of the grader itself (never of the student's file): one escaped sentence, no traceback."""
    fail(f"the grader failed (a grader bug, not your fault): {type(exc).__name__}: {first_line(str(exc), 300)}")


def load_course(course: Path | None, near: Path, own_copy_first: bool = False) -> Course:
    try:
        return find_course(course, near, own_copy_first)
    except CourseError as exc:
        fail(str(exc))


def check_assignments(course: Course, assignments: tuple[str, ...]) -> None:
    unknown = [a for a in assignments if a not in course.assignments]
    if unknown:
        raise click.BadParameter(
            f"unknown assignment {', '.join(unknown)} in the course at {course.root} (known: "
            f"{', '.join(course.assignments)}); another course is chosen with --course PATH",
            param_hint="--assignment",
        )


def fail(message: str) -> NoReturn:
    escaped = "\n".join(terminal(line) for line in lines(message))  # no line can act on the terminal
    click.secho(f"error: {escaped}", fg="red", err=True)
    sys.exit(1)
