"""The class overview page. First what needs the instructor: work not graded, crashed, timed out, stopped
at the memory limit or not importable, code flagged for review, grader errors, missing work, each with
the reason and a link. Then every student's standing on every assignment (links to each page), and per
assignment the statistics of the graded submissions (missing work counted apart), the pass rate of every
check (hidden ones marked) and the most frequent mistakes."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from grader.course.mistakes import CatalogError, load_catalog
from grader.course.model import Course
from grader.report.gradebook import Gradebook
from grader.report.results import SubmissionResult


@dataclass
class AssignmentSummary:
    """One assignment across the class. Statistics count graded submissions only: missing work and work
    the grader could not grade are counted apart, never averaged in as zeros."""

    id: str
    title: str
    max_score: float = 100.0
    scores: list[float] = field(default_factory=list)  # graded submissions only
    missing: int = 0  # nothing handed in (or nothing found: a wrongly named file, an empty folder)
    ungraded: int = 0  # grading failed or was stopped: no score to count
    checks: list[dict[str, Any]] = field(default_factory=list)  # name, title, hidden, passed, graded, rate
    mistakes: list[dict[str, Any]] = field(default_factory=list)  # id, title, students

    @property
    def graded(self) -> int:
        return len(self.scores)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.scores) if self.scores else 0.0

    @property
    def median(self) -> float:
        return statistics.median(self.scores) if self.scores else 0.0


def standing(result: SubmissionResult, assignment_id: str) -> str:
    """Where a student stands on an assignment: graded, missing (nothing handed in or found), or
    ungraded (the grader failed on it, or the whole submission's grading failed or was stopped)."""
    entry = result.assignment(assignment_id)
    if entry is None:
        return "ungraded" if result.status in ("error", "timeout") else "missing"
    return {"missing": "missing", "error": "ungraded"}.get(entry.status, "graded")


def summarise(results: list[SubmissionResult], course: Course, assignment_ids: list[str]) -> list[AssignmentSummary]:
    summaries = []
    for assignment_id in assignment_ids:
        spec = course.assignments.get(assignment_id)
        summary = AssignmentSummary(
            assignment_id, spec.title if spec else assignment_id, float(spec.points) if spec else 100.0
        )
        passed: Counter[str] = Counter()
        graded: Counter[str] = Counter()
        titles: dict[str, str] = {}
        hidden: set[str] = set()
        mistakes: Counter[str] = Counter()
        for result in results:
            where = standing(result, assignment_id)
            if where != "graded":
                summary.missing += where == "missing"
                summary.ungraded += where == "ungraded"
                continue
            entry = result.assignment(assignment_id)
            assert entry is not None
            summary.scores.append(entry.score)
            summary.max_score = entry.max_score or summary.max_score
            seen = set()
            for check in entry.checks:
                titles.setdefault(check.name, check.title)
                if check.visibility == "hidden":
                    hidden.add(check.name)
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
                "hidden": name in hidden,
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


# The groups of "Needs attention", in the order shown: (key, heading, what it means for the instructor).
ATTENTION_GROUPS = (
    ("ungraded", "Not graded", "Grading failed or was stopped: these have no score until they are graded again."),
    ("crash", "Crashed", "The student's process crashed or exited while being graded."),
    ("timeout", "Timed out", "The student's code ran past its time limit (an endless loop, or far too slow)."),
    ("memory", "Memory limit", "The student's code was stopped at the memory limit."),
    ("import", "Could not be imported", "A syntax error or an error at import: every check of it failed."),
    (
        "flagged",
        "Flagged for review",
        "Code that reaches around the course's rules (ctypes, object walks, sys.modules "
        "surgery, computed access to torch internals, exec of built strings): the check of the assignment's rules "
        "failed on it; read the lines and decide.",
    ),
    (
        "grader",
        "Grader errors",
        "Checks the grader could not judge (not the student's fault): decide how to count them.",
    ),
    (
        "missing",
        "Missing work",
        "Nothing was found to grade: nothing handed in, an empty folder or a wrongly named file.",
    ),
    (
        "stub",
        "The stub, unchanged",
        "Every check found only the handout's 'not implemented': the stub as it was handed out (nothing "
        "done yet, or the wrong file handed in).",
    ),
)
# Kinds of failure of the student's code (``details.kind`` of its checks, grader/errors.py) -> group.
FAILURE_GROUPS = {
    "crash": "crash",
    "exit": "crash",
    "interrupt": "crash",
    "timeout": "timeout",
    "memory": "memory",
    "import": "import",
    "syntax": "import",
}
MAX_ATTENTION = 200  # rows of one group, then "and N more"
MAX_REASON = 300  # characters of the message quoted as a reason


def attention(
    results: list[SubmissionResult], assignment_ids: list[str], results_dir: str, page: str = "feedback.html"
) -> list[dict[str, Any]]:
    """The groups of "Needs attention" that have rows: each row a student, an assignment, the reason and
    a link to the place on the student's page that shows it (flagged code: the lines, :func:`flagged`)."""
    rows: dict[str, list[dict[str, str]]] = {key: [] for key, _, _ in ATTENTION_GROUPS}

    def add(group: str, result: SubmissionResult, assignment: str, reason: str) -> None:
        anchor = f"#{assignment}" if assignment in assignment_ids else ""
        link = f"{results_dir}/{result.student}/{page}{anchor}"
        rows[group].append({"student": result.student, "assignment": assignment, "reason": reason, "link": link})

    # An assignment nobody handed in work for is not due yet (or was not asked for): its absence is not listed.
    handed_in = {a for a in assignment_ids if any(standing(result, a) != "missing" for result in results)}
    for result in sorted(results, key=lambda r: r.student):
        if result.status in ("error", "timeout"):
            add(
                "timeout" if result.status == "timeout" else "ungraded",
                result,
                "all",
                result.message or "grading failed",
            )
        elif result.status == "empty" and not result.assignments:  # else: a row per missing assignment
            add("missing", result, "all", result.message or "nothing to grade")
        ids = assignment_ids + [a.id for a in result.assignments if a.id not in assignment_ids]
        for assignment_id in ids:
            entry = result.assignment(assignment_id)
            if entry is None:
                if result.status == "graded" and assignment_id in handed_in:
                    add("missing", result, assignment_id, f"no work for {assignment_id} was handed in")
                continue
            if entry.status == "missing":
                add("missing", result, assignment_id, entry.message or "nothing was found to grade")
                continue
            if entry.status == "error":
                add("grader", result, assignment_id, entry.message or "grading error")
                continue
            if any(c.status == "error" for c in entry.checks):
                add("grader", result, assignment_id, _check_errors(entry))
            for group, reason in _failures(entry).items():
                add(group, result, assignment_id, reason)
    rows["flagged"] = [
        {**row, "reason": "", "link": f"{results_dir}/{row['student']}/{page}#{row['assignment']}"}
        for row in flagged(results)
    ]
    groups = []
    for key, heading, explanation in ATTENTION_GROUPS:
        found = rows[key]
        if found:
            more = max(len(found) - MAX_ATTENTION, 0)
            groups.append(
                {
                    "key": key,
                    "heading": heading,
                    "explanation": explanation,
                    "rows": found[:MAX_ATTENTION],
                    "more": more,
                }
            )
    return groups


def _failures(entry: Any) -> dict[str, str]:
    """Group -> reason, for each way the student's code failed on the assignment's checks: the first such
    check's message (or the assignment's, for an import failure) and how many checks it cost. Checks left
    unrun once the assignment's budget was spent count with the timeouts or crashes that spent it."""
    by_group: dict[str, list[Any]] = {}
    unrun = []
    for check in entry.checks:
        kind = str(check.details.get("kind")) if isinstance(check.details, dict) else ""
        if check.status not in ("failed", "partial"):
            continue
        if kind == "budget":
            unrun.append(check)
            continue
        group = FAILURE_GROUPS.get(kind)
        if group == "crash" and "memory limit" in check.message:  # killed when its processes hit the limit
            group = "memory"
        if group:
            by_group.setdefault(group, []).append(check)
    if unrun:
        spender = next((g for g in ("timeout", "crash", "memory") if g in by_group), "timeout")
        by_group.setdefault(spender, []).extend(unrun)
    kinds = [str(c.details.get("kind")) if isinstance(c.details, dict) else "" for c in entry.checks if c.counted]
    if kinds and all(kind == "not_implemented" for kind in kinds):  # a new instructor's untouched stub: 0, unlisted
        return {"stub": f"every check: not implemented ({len(kinds)} of {len(entry.checks)} checks)"}
    reasons = {}
    for group, checks in by_group.items():
        first = entry.message if group == "import" and entry.message else checks[0].message
        count = f"{len(checks)} of {len(entry.checks)} checks"
        reasons[group] = f"{_shorten(first or checks[0].title, MAX_REASON)} ({count})"
    return reasons


def _check_errors(assignment: Any) -> str:
    """The checks of one assignment the grader could not judge, for the instructor to decide on:
    those left out of the score, and those counted at 0 until someone looks."""
    errors = [c for c in assignment.checks if c.status == "error"]
    left_out = [c.name for c in errors if not c.counted]
    counted = [c.name for c in errors if c.counted]
    parts = ([f"left out of the score: {', '.join(left_out[:5])}"] if left_out else []) + (
        [f"counted as 0 until you decide: {', '.join(counted[:5])}"] if counted else []
    )
    return f"{len(errors)} check(s) the grader could not judge ({'; '.join(parts)})"


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


def _shorten(text: str, limit: int = MAX_FLAG_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def student_table(
    results: list[SubmissionResult],
    summaries: list[AssignmentSummary],
    groups: list[dict[str, Any]],
    book: Gradebook | None = None,
) -> list[dict[str, Any]]:
    """One row per student, one cell per assignment: the score, or "missing" / "not graded" with the
    reason; the groups of "Needs attention" it appears in; the total of the graded scores ("graded": whether
    there is any). With the gradebook, scores and totals are its final ones (late penalty and adjustments
    applied), so the overview shows the number gradebook.csv and the student's page show."""
    marks: dict[tuple[str, str], list[str]] = {}
    for group in groups:
        for row in group["rows"]:
            marks.setdefault((row["student"], row["assignment"]), []).append(group["heading"])
    table = []
    for result in sorted(results, key=lambda r: r.student):
        cells, total = [], 0.0
        for summary in summaries:
            entry = result.assignment(summary.id)
            where = standing(result, summary.id)
            if where == "graded" and entry is not None:
                total += entry.score
            reason = entry.message if entry is not None and where != "graded" else result.message
            cells.append(
                {
                    "id": summary.id,
                    "standing": where,
                    "score": entry.score if entry is not None else None,
                    "max": entry.max_score if entry is not None else summary.max_score,
                    "reason": reason or "",
                    "marks": marks.get((result.student, summary.id), []) + marks.get((result.student, "all"), []),
                }
            )
        row = book.row(result.student) if book is not None else None
        if row is not None:
            for cell in cells:
                entry_in_book = row.entries.get(str(cell["id"]))
                if entry_in_book is None or entry_in_book.final is None or entry_in_book.final == cell["score"]:
                    continue
                changes = "; ".join(entry_in_book.notes())
                checks = "no checks' score" if entry_in_book.raw is None else f"checks {entry_in_book.raw:g}"
                cell["reason"] = checks + (f"; {changes}" if changes else "")
                cell["score"], cell["standing"] = entry_in_book.final, "graded"  # an override can score missing work
            total = row.total if row.total is not None else total
        table.append(
            {
                "result": result,
                "cells": cells,
                "total": total,
                "graded": any(cell["standing"] == "graded" for cell in cells),
                # the gradebook's (its assignments: those someone handed in), where there is one
                "max_total": row.max_total if row is not None else sum(s.max_score for s in summaries),
            }
        )
    return table


def overview_context(
    results: list[SubmissionResult],
    course: Course,
    assignment_ids: list[str],
    results_dir: str,
    student_page: str | None = None,
    book: Gradebook | None = None,
) -> dict[str, Any]:
    """What the class overview shows; ``student_page`` names the student version beside each
    instructor's page, where one was written; ``book``, the gradebook whose final scores it shows."""
    summaries = summarise(results, course, assignment_ids)
    groups = attention(results, assignment_ids, results_dir)
    prefixes = [assignment_id.split("_")[0] for assignment_id in assignment_ids]
    unique = len(set(prefixes)) == len(prefixes)
    return {
        "headers": dict(zip(assignment_ids, prefixes if unique else assignment_ids)),  # a1, a2... where unique
        "assignments": summaries,
        "attention": groups,
        "flagged": flagged(results),
        "students": student_table(results, summaries, groups, book),
        "assignment_ids": assignment_ids,
        "results_dir": results_dir,
        "student_page": student_page,
        "count": len(results),
    }
