"""The class gradebook: one row per student, a column per assignment and the total.

CSV for spreadsheets and LMS imports (cells that a spreadsheet would run as a formula are
neutralised, control characters escaped), JSON for scripts. Built from the per-student result files,
so it always reflects everything graded so far, including earlier runs kept by ``--resume``. The
``submission`` column keeps each folder's or zip's own name, which the id may not (``bob-2``).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from grader.report.results import SubmissionResult
from grader.text import terminal

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
MAX_NOTES_CELL = 1000


def neutralise(cell: Any) -> Any:
    """Prefix text a spreadsheet would treat as a formula (CSV injection) with an apostrophe, and show
    control characters as escapes (a CSV is also read with ``cat``)."""
    if isinstance(cell, str):
        return ("'" if cell.startswith(FORMULA_STARTS) else "") + terminal(cell)
    return cell


def rows(results: list[SubmissionResult], assignment_ids: list[str]) -> list[dict[str, Any]]:
    table = []
    for result in sorted(results, key=lambda r: r.student):
        row: dict[str, Any] = {"student": result.student}
        scores = {a.id: a for a in result.assignments}
        problems = []
        for assignment_id in assignment_ids:
            graded = scores.get(assignment_id)
            row[assignment_id] = round(graded.score, 2) if graded else 0.0
            if graded is None:
                problems.append(f"{assignment_id} missing")
            elif graded.status == "error":
                problems.append(f"{assignment_id}: grading error")
        row["total"] = round(sum(row[a] for a in assignment_ids), 2)
        row["max_total"] = round(100.0 * len(assignment_ids), 2)
        row["status"] = result.status if result.status != "graded" or not problems else "incomplete"
        notes = "; ".join(([result.message] if result.message else []) + problems + list(result.notes))
        row["notes"] = terminal(notes, MAX_NOTES_CELL)
        row["submission"] = terminal(Path(str(result.submission)).name)
        table.append(row)
    return table


def to_csv(table: list[dict[str, Any]], assignment_ids: list[str]) -> str:
    columns = ["student", *assignment_ids, "total", "max_total", "status", "notes", "submission"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in table:
        writer.writerow({key: neutralise(row.get(key, "")) for key in columns})
    return buffer.getvalue()


def to_json(table: list[dict[str, Any]], assignment_ids: list[str]) -> str:
    return json.dumps({"assignments": assignment_ids, "students": table}, indent=2, ensure_ascii=False)
