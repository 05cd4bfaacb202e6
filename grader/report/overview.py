"""The class overview page: score distributions, pass rate of every check, frequent mistakes,
students flagged for review, students whose grading failed, and a link to each student's feedback page."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from grader.course.mistakes import CatalogError, load_catalog
from grader.course.model import Course
from grader.report.results import SubmissionResult


@dataclass
class AssignmentSummary:
    id: str
    title: str
    scores: list[float] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)  # name, title, passed, graded, rate
    mistakes: list[dict[str, Any]] = field(default_factory=list)  # id, title, students

    @property
    def mean(self) -> float:
        return statistics.fmean(self.scores) if self.scores else 0.0

    @property
    def median(self) -> float:
        return statistics.median(self.scores) if self.scores else 0.0


def summarise(results: list[SubmissionResult], course: Course, assignment_ids: list[str]) -> list[AssignmentSummary]:
    summaries = []
    for assignment_id in assignment_ids:
        spec = course.assignments.get(assignment_id)
        summary = AssignmentSummary(assignment_id, spec.title if spec else assignment_id)
        passed: Counter[str] = Counter()
        graded: Counter[str] = Counter()
        titles: dict[str, str] = {}
        mistakes: Counter[str] = Counter()
        for result in results:
            entry = result.assignment(assignment_id)
            if entry is None:
                continue
            summary.scores.append(entry.score)
            seen = set()
            for check in entry.checks:
                titles.setdefault(check.name, check.title)
                if not check.counted:
                    continue  # not judged (a grader error, a GPU-only rule on a CPU): no pass, no fail
                graded[check.name] += 1
                passed[check.name] += check.status == "passed"
                if check.mistake and check.mistake not in seen:
                    seen.add(check.mistake)
                    mistakes[check.mistake] += 1
        summary.checks = [
            {
                "name": name,
                "title": titles[name],
                "passed": passed[name],
                "graded": graded[name],
                "rate": passed[name] / graded[name] if graded[name] else 0.0,
            }
            for name in titles
        ]
        catalog_titles = _mistake_titles(spec)
        summary.mistakes = [
            {"id": mistake, "title": catalog_titles.get(mistake, mistake), "students": count}
            for mistake, count in mistakes.most_common()
        ]
        summaries.append(summary)
    return summaries


def _mistake_titles(spec: Any) -> dict[str, str]:
    if spec is None:
        return {}
    try:
        return {m.id: m.title for m in load_catalog(spec.mistakes_path).mistakes}
    except (CatalogError, OSError):
        return {}


def problems(results: list[SubmissionResult]) -> list[dict[str, str]]:
    found = []
    for result in results:
        reasons = [] if result.status == "graded" else [result.message or result.status]
        reasons += [f"{a.id}: {a.message or 'grading error'}" for a in result.assignments if a.status == "error"]
        reasons += [_check_errors(a) for a in result.assignments if any(c.status == "error" for c in a.checks)]
        if reasons:
            found.append({"student": result.student, "status": result.status, "reason": "; ".join(reasons)})
    return found


def _check_errors(assignment: Any) -> str:
    """The checks of one assignment the grader could not judge, for the instructor to decide on:
    those left out of the score, and those counted at 0 until someone looks."""
    errors = [c for c in assignment.checks if c.status == "error"]
    left_out = [c.name for c in errors if not c.counted]
    counted = [c.name for c in errors if c.counted]
    parts = ([f"left out of the score: {', '.join(left_out[:5])}"] if left_out else []) + (
        [f"counted as 0 until you decide: {', '.join(counted[:5])}"] if counted else []
    )
    return f"{assignment.id}: {len(errors)} check(s) the grader could not judge ({'; '.join(parts)})"


MAX_FLAGGED = 200  # rows of the "Flagged for review" table
MAX_FLAG_LINES = 5  # flagged constructs shown per row
MAX_FLAG_CHARS = 160  # characters of one


def flagged(results: list[SubmissionResult]) -> list[dict[str, Any]]:
    """Each (student, assignment) whose code reaches around the course's rules, with the lines flagged:
    the instructor decides. Bounded in rows, lines per row and characters per line."""
    rows = []
    for result in sorted(results, key=lambda r: r.student):
        for assignment in result.assignments:
            if assignment.flags:
                lines = [_shorten(flag) for flag in assignment.flags[:MAX_FLAG_LINES]]
                more = len(assignment.flags) - len(lines)
                rows.append({"student": result.student, "assignment": assignment.id, "lines": lines, "more": more})
    return rows[:MAX_FLAGGED]


def _shorten(text: str) -> str:
    return text if len(text) <= MAX_FLAG_CHARS else text[: MAX_FLAG_CHARS - 1] + "…"


def overview_context(
    results: list[SubmissionResult], course: Course, assignment_ids: list[str], results_dir: str
) -> dict[str, Any]:
    return {
        "assignments": summarise(results, course, assignment_ids),
        "problems": problems(results),
        "flagged": flagged(results),
        "students": sorted(results, key=lambda r: r.student),
        "assignment_ids": assignment_ids,
        "results_dir": results_dir,
        "count": len(results),
    }
