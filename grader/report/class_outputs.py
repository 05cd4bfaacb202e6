"""Writes what a class gets besides each student's page: gradebook.csv, gradebook.json, index.html."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

from grader.course.model import Course
from grader.files import write_atomic
from grader.report import gradebook
from grader.report.overview import overview_context
from grader.report.pages import render_overview
from grader.report.results import RESULTS_DIR, load_results
from grader.sandbox import Isolation


def write_class_outputs(course: Course, out: Path, assignment_ids: list[str], isolation: Isolation) -> Path:
    results = load_results(out)
    table = gradebook.rows(results, assignment_ids)
    write_atomic(out / "gradebook.csv", gradebook.to_csv(table, assignment_ids).encode("utf-8"))
    write_atomic(out / "gradebook.json", gradebook.to_json(table, assignment_ids).encode("utf-8"))
    context = overview_context(results, course, assignment_ids, RESULTS_DIR)
    context.update(
        generated=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        isolation=isolation.as_dict(),
        summary="",
    )
    index = out / "index.html"
    write_atomic(index, render_overview(context).encode("utf-8"))
    return index
