"""Manual adjustments: points an instructor adds, takes or sets by hand, each with a reason and a name.

``adjustments.csv`` (in the grades folder, or ``--adjustments FILE``) has the columns
``student, assignment, delta, override, reason, by``: exactly one of ``delta`` (``+5``, ``-2.5``) and
``override`` (the assignment's score, e.g. ``80``) per row, and a reason. They apply after the late
penalty, in the file's order, and are shown on the student's page and in the gradebook's notes.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

FILE = "adjustments.csv"
COLUMNS = ("student", "assignment", "delta", "override", "reason", "by")


class AdjustmentError(ValueError):
    """An adjustments file that cannot be applied as written; the message names the file and line."""


@dataclass(frozen=True)
class Adjustment:
    student: str
    assignment: str
    delta: float | None
    override: float | None
    reason: str
    by: str = ""
    line: int = 0

    def describe(self) -> str:
        what = f"set to {self.override:g}" if self.override is not None else f"{self.delta:+g} points"
        return f"{what} by {self.by or 'the instructor'}: {self.reason}"

    def apply(self, points: float) -> float:
        return self.override if self.override is not None else points + (self.delta or 0.0)


def read_adjustments(path: Path) -> list[Adjustment]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise AdjustmentError(f"cannot read {path}: {exc}") from None
    reader = csv.DictReader(io.StringIO(text))
    columns = {(name or "").strip().lower(): name for name in reader.fieldnames or []}
    missing = [c for c in ("student", "assignment", "reason") if c not in columns]
    if missing or ("delta" not in columns and "override" not in columns):
        raise AdjustmentError(
            f"{path}: needs the columns {', '.join(COLUMNS)} (one of delta and override per row); "
            f"found {', '.join(columns) or 'none'}"
        )
    adjustments = []
    for line, row in enumerate(reader, start=2):

        def cell(name: str, row: dict[str, str | None] = row) -> str:
            return (row.get(columns.get(name, ""), "") or "").strip()

        if not any(cell(name) for name in COLUMNS):
            continue  # a blank line
        where = f"{path}, line {line}"
        student, assignment, reason = cell("student"), cell("assignment"), cell("reason")
        if not student or not assignment:
            raise AdjustmentError(f"{where}: say which student and which assignment")
        if not reason:
            raise AdjustmentError(f"{where}: every adjustment needs a reason (students see it)")
        delta, override = _number(cell("delta"), where, "delta"), _number(cell("override"), where, "override")
        if (delta is None) == (override is None):
            raise AdjustmentError(f"{where}: give exactly one of delta (e.g. +5) and override (e.g. 80)")
        if override is not None and override < 0:
            raise AdjustmentError(f"{where}: override {override:g} is below 0")
        adjustments.append(Adjustment(student, assignment, delta, override, reason, cell("by"), line))
    return adjustments


def _number(text: str, where: str, name: str) -> float | None:
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise AdjustmentError(f"{where}: {name} {text!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise AdjustmentError(f"{where}: {name} {text!r} is not a finite number")
    return value
