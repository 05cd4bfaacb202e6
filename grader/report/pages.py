"""HTML feedback: one self-contained page per submission (and, in batch mode, a class overview).

Rendered with jinja2 with autoescaping on, so text from student processes (messages, printed output,
file names) can never become markup. No external CSS, scripts or fonts: the pages work offline.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jinja2

from grader.files import write_atomic
from grader.report.plots import histogram, line_plot
from grader.report.results import SubmissionResult
from grader.text import printable

STATUS_LABELS = {
    "passed": "passed",
    "partial": "partly",
    "failed": "failed",
    "error": "grader error",
    "skipped": "skipped",
}


@functools.lru_cache(maxsize=1)  # compiled templates are kept: a class renders hundreds of pages
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("grader.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["points"] = format_points
    env.filters["clean"] = printable
    env.filters["percent"] = lambda value, total: f"{100 * value / total:.0f}%" if total else "-"
    env.globals["line_plot"] = line_plot
    env.globals["histogram"] = histogram
    env.globals["status_label"] = lambda status: STATUS_LABELS.get(status, status)
    env.globals["named_mistakes"] = named_mistakes
    env.globals["shared_failure"] = shared_failure
    env.globals["shared_failure_note"] = SHARED_FAILURE_NOTE
    env.globals["original_name"] = original_name
    return env


def original_name(result: SubmissionResult) -> str:
    """The folder or zip the student's id was made from, when it is not the id itself ('' otherwise)."""
    name = Path(str(result.submission)).name
    return name if name and name not in (result.student, f"{result.student}.zip") else ""


def named_mistakes(checks: list[Any]) -> list[dict[str, Any]]:
    """Each catalogued mistake found, once, with how many checks it cost: what to fix first."""
    found: dict[str, dict[str, Any]] = {}
    for check in checks:
        if check.mistake:
            entry = found.setdefault(
                check.mistake,
                {"text": (check.diagnosis or "").removeprefix("Known mistake: "), "checks": 0, "points": 0.0},
            )
            entry["checks"] += 1
            entry["points"] += check.max_points - check.points
    return sorted(found.values(), key=lambda entry: -entry["points"])


SHARED_FAILURE_NOTE = "same error as above"
SHARED_FAILURE_MIN = 2  # checks that fail alike before their message is said once, above them


def shared_failure(assignment: Any) -> str | None:
    """The message every failed check of ``assignment`` shares (a module that cannot be imported fails
    every check alike): said once above the checks, which then point to it. None if they differ."""
    failed = [check for check in assignment.checks if check.status == "failed"]
    messages = {check.message for check in failed}
    if len(failed) < SHARED_FAILURE_MIN or len(messages) != 1:
        return None
    return next(iter(messages)) or None


def format_points(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text or "0"


def render_feedback(result: SubmissionResult, links: dict[str, Any] | None = None, handback: Any = None) -> str:
    """The feedback page; ``handback`` (a :class:`~grader.report.handback.Handback`) marks the student
    version, whose hidden checks were already cut down (:func:`~grader.report.handback.student_version`)."""
    return environment().get_template("feedback.html.j2").render(result=result, links=links or {}, handback=handback)


def render_overview(context: dict[str, Any]) -> str:
    return environment().get_template("overview.html.j2").render(**context)


def write_feedback(result: SubmissionResult, out_dir: Path, stem: str = "feedback") -> tuple[Path, Path]:
    """Write ``<stem>.html`` and ``<stem>.json`` atomically, every field within its cap; return their paths."""
    result.bound()
    out_dir.mkdir(parents=True, exist_ok=True)
    html_path, json_path = out_dir / f"{stem}.html", out_dir / f"{stem}.json"
    write_atomic(json_path, result.to_json().encode("utf-8"))
    write_atomic(html_path, render_feedback(result).encode("utf-8"))
    return html_path, json_path
