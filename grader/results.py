"""The result model: check, assignment and submission results, as dataclasses and as JSON.

The JSON schema (``"schema": "rnn-autograder/result/1"``) is documented in docs/results.md. Only the
trusted grader process writes these; nothing a student process prints or writes ends up here except
as escaped text in ``message``, ``output`` and ``details``.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

SCHEMA = "rnn-autograder/result/1"
STATUSES = ("passed", "partial", "failed", "error", "skipped")


@dataclass
class CheckResult:
    name: str                          # stable id within the assignment, e.g. "test_forward[tanh]"
    title: str                         # one line for people
    points: float
    max_points: float
    status: str                        # passed | partial | failed | error (grader fault) | skipped
    message: str = ""
    diagnosis: str | None = None       # what the judge worked out (transposed? NaN? known mistake?)
    mistake: str | None = None         # id from the assignment's mistake catalog, when recognised
    visibility: str = "visible"        # visible | hidden
    duration: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)  # table rows, curves, traceback

    @property
    def passed(self) -> bool:
        return self.status == "passed"


@dataclass
class AssignmentResult:
    id: str
    title: str
    status: str                        # graded | error (grading failed) | missing
    score: float = 0.0
    max_score: float = 100.0
    mode: str = "full"                 # full (all checks) | public (student copy: public checks only)
    source: str | None = None          # file graded, e.g. "srn.ipynb"
    message: str = ""
    notes: list[str] = field(default_factory=list)
    # Constructs that reach around the assignment's rules (ctypes, gc walks, sys.modules surgery...),
    # "craft_rnn.py, line 12: gc.get_objects": listed in the class overview for the instructor's review.
    flags: list[str] = field(default_factory=list)
    output: str = ""                   # what the student's code printed (truncated)
    duration: float = 0.0
    checks: list[CheckResult] = field(default_factory=list)

    def total(self) -> None:
        self.score = round(sum(c.points for c in self.checks), 4)


@dataclass
class SubmissionResult:
    student: str
    submission: str
    content_hash: str
    score: float = 0.0
    max_score: float = 0.0
    status: str = "graded"             # graded | error | empty
    message: str = ""
    graded_at: str = ""
    grader_version: str = ""
    device: str = "cpu"
    isolation: dict[str, Any] = field(default_factory=dict)
    duration: float = 0.0
    notes: list[str] = field(default_factory=list)
    assignments: list[AssignmentResult] = field(default_factory=list)

    def total(self) -> None:
        for assignment in self.assignments:
            assignment.total()
        self.score = round(sum(a.score for a in self.assignments), 4)
        self.max_score = round(sum(a.max_score for a in self.assignments), 4)

    def assignment(self, assignment_id: str) -> AssignmentResult | None:
        return next((a for a in self.assignments if a.id == assignment_id), None)

    def to_dict(self) -> dict[str, Any]:
        data = {"schema": SCHEMA}
        data.update(asdict(self))
        return _finite(data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False, allow_nan=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SubmissionResult":
        if data.get("schema") != SCHEMA:
            raise ValueError(f"not a {SCHEMA} document")
        assignments = [
            AssignmentResult(**{
                **_known(AssignmentResult, a),
                "checks": [CheckResult(**_known(CheckResult, c)) for c in a.get("checks", [])],
            })
            for a in data.get("assignments", [])
        ]
        return cls(**{**_known(cls, data), "assignments": assignments})

    @classmethod
    def load(cls, path: Path) -> "SubmissionResult":
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def _known(kind: type, data: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(kind)}
    return {k: v for k, v in data.items() if k in names}


def _finite(value: Any) -> Any:
    """JSON has no NaN/Infinity: write them as strings so every reader can load the file."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
