"""`grade report -a ID` run assignment by assignment over a term: each run adds to the gradebook."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
A1, A2 = "a1_srn_numpy", "a2_rnncell_ohlol"


@pytest.mark.slow  # two grade report runs, one of them trains a2
def test_one_assignment_at_a_time_keeps_the_earlier_grades(run_grade, tmp_path):
    root, grades = tmp_path / "class", tmp_path / "grades"
    for student, assignments in {"alice": (A1, A2), "bob": (A1,)}.items():
        for assignment in assignments:
            shutil.copytree(REPO / "solutions" / assignment, root / student / assignment)

    run_grade("report", str(root), "--out", str(grades), "-a", A1, "--workers", "1")
    run_grade("report", str(root), "--out", str(grades), "-a", A2, "--workers", "1")

    alice = json.loads((grades / "students" / "alice" / "feedback.json").read_text())
    assert {a["id"]: a["score"] for a in alice["assignments"]} == {A1: 100, A2: 100}
    assert alice["score"] == 200 and alice["max_score"] == 200
    bob = json.loads((grades / "students" / "bob" / "feedback.json").read_text())
    assert {a["id"]: a["status"] for a in bob["assignments"]} == {A1: "graded", A2: "missing"}
    assert bob["status"] == "graded", "work graded earlier stands when the new assignment is missing"
    rows = {row["student"]: row for row in csv.DictReader((grades / "gradebook.csv").open())}
    assert rows["alice"][A1] == "100.0" and rows["alice"][A2] == "100.0"
    assert rows["bob"][A1] == "100.0" and rows["bob"][A2] == ""
