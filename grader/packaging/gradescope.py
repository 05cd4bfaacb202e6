"""Gradescope: the results.json format, and an autograder zip for one assignment.

The zip holds setup.sh (installs Python, bubblewrap and the grader), run_autograder (grades
/autograder/submission and writes /autograder/results/results.json), the grader's source, and the
assignment's checks with the expected data of every check, computed once here: no solution travels,
and no Gradescope run recomputes reference answers.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from grader.course.model import EXPECTED_FILE, GRADING_DIR, Course
from grader.files import write_atomic
from grader.report.results import SubmissionResult
from grader.text import printable

VISIBILITY = {"visible": "visible", "hidden": "after_published"}
ROOT_FILES = ("pyproject.toml", "constraints.txt", "README.md")


def results_document(result: SubmissionResult) -> dict[str, Any]:
    tests = []
    for assignment in result.assignments:
        for check in assignment.checks:
            output = "\n".join(part for part in (check.message, check.diagnosis) if part)
            tests.append(
                {
                    "name": f"{check.title}" if len(result.assignments) == 1 else f"{assignment.id}: {check.title}",
                    "number": f"{assignment.id}.{check.name}",
                    "score": round(check.points, 4),
                    "max_score": round(check.max_points, 4),
                    "status": "passed" if check.status == "passed" else "failed",
                    "output": printable(output, limit=8000),
                    "visibility": VISIBILITY.get(check.visibility, "visible"),
                }
            )
    summary = [
        f"{a.title}: {a.score:g} / {a.max_score:g}" + (f"\n{a.message}" if a.message else "")
        for a in result.assignments
    ]
    if result.message:
        summary.insert(0, result.message)
    return {
        "score": round(result.score, 4),
        "output": printable("\n".join(summary), limit=8000),
        "stdout_visibility": "hidden",
        "tests": tests,
    }


def write_results(result: SubmissionResult, path: Path) -> None:
    write_atomic(path, json.dumps(results_document(result), indent=2, ensure_ascii=False).encode("utf-8"))


SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once when the autograder image is built.
set -euo pipefail
apt-get update -q
apt-get install -y -q python3 python3-venv python3-pip bubblewrap
cd /autograder/source
python3 -m venv /autograder/venv
# The CPU build of torch is enough (and far smaller than the default CUDA build).
/autograder/venv/bin/pip install -q torch=={torch} --index-url https://download.pytorch.org/whl/cpu
/autograder/venv/bin/pip install -q -c constraints.txt ./grader-src
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission: grade it, write results/results.json.
set -uo pipefail
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
GRADE="${{GRADE_COMMAND:-$ROOT/venv/bin/grade}}"
mkdir -p "$ROOT/results"
$GRADE submit "$ROOT/submission" --assignment {assignment} --course "$ROOT/source/course" \\
    --gradescope --out "$ROOT/results" --json > "$ROOT/results/feedback-stdout.json"
status=$?
if [ ! -s "$ROOT/results/results.json" ]; then
  echo '{{"score": 0, "output": "The autograder could not grade this submission (exit status '$status'). Please contact your instructor."}}' \\
    > "$ROOT/results/results.json"
fi
exit 0
"""


def build_autograder(
    course: Course, assignment_id: str, repository: Path, out_zip: Path, log: Callable[[str], None] = print
) -> Path:
    """Write a Gradescope autograder zip for one assignment of an instructor's course.

    The zip holds no solution: the expected data of every check (and of every catalogued mistake)
    is computed here and shipped, as in a student copy, so even a container without bubblewrap
    gives student code nothing to find.
    """
    from grader.course.secret import SECRET_ENV, SECRET_FILE
    from grader.grading.slot import GradeOptions, GradingSlot
    from grader.packaging.release import expected_data, grading_files

    spec = course.get(assignment_id)
    files: dict[str, bytes] = {}
    for name in ROOT_FILES:
        if (repository / name).is_file():
            files[f"grader-src/{name}"] = (repository / name).read_bytes()
    for path in sorted((repository / "grader").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            files[f"grader-src/{path.relative_to(repository)}"] = path.read_bytes()
    base = f"course/{spec.id}"
    checks = [path.name for path in spec.check_files()]
    files.update({f"{base}/{name}": data for name, data in grading_files(spec, checks).items()})
    if spec.data_dir is not None and spec.data_dir.is_dir():
        for path in sorted(spec.data_dir.iterdir()):
            if path.is_file():
                files[f"{base}/data/{path.name}"] = path.read_bytes()
    log(f"{spec.id}: computing the expected data of every check (reference and catalogued mistakes)")
    with GradingSlot(course, GradeOptions(), assignments=[spec.id]) as grader:
        files[f"{base}/{GRADING_DIR}/{EXPECTED_FILE}"] = expected_data(grader, spec, spec.check_files())
    # The data was recorded under the course's fresh seeds: the autograder asks the same questions.
    secret_text = os.environ.get(SECRET_ENV, "").strip() or (course.root / SECRET_FILE).read_text().strip()
    files[f"{base}/{GRADING_DIR}/{SECRET_FILE}"] = (secret_text + "\n").encode()
    torch_version = _pinned(repository / "constraints.txt", "torch") or "2.13.0"
    files["setup.sh"] = SETUP_SH.format(torch=torch_version).encode()
    files["run_autograder"] = RUN_AUTOGRADER.format(assignment=spec.id).encode()
    out_zip.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out_zip, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in sorted(files.items()):
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info.external_attr = (0o100755 if name in ("setup.sh", "run_autograder") else 0o100644) << 16
            archive.writestr(info, data, zipfile.ZIP_DEFLATED)
    return out_zip


def _pinned(constraints: Path, package: str) -> str | None:
    try:
        for line in constraints.read_text().splitlines():
            if line.lower().startswith(f"{package}=="):
                return line.split("==", 1)[1].split("+", 1)[0].strip()
    except OSError:
        return None
    return None
