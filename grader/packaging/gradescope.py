"""Gradescope: the results.json format, and an autograder zip for one assignment.

The zip holds setup.sh (installs Python, bubblewrap and the grader), run_autograder (grades
/autograder/submission and writes /autograder/results/results.json, see
:mod:`grader.packaging.gradescope_run`), the grader's source, and the assignment's checks with the
expected data of every check, computed once here: no solution travels, and no Gradescope run
recomputes reference answers. docs/gradescope.md is the instructor's guide.
"""

from __future__ import annotations

import html
import json
import os
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from grader.course.model import EXPECTED_FILE, GRADING_DIR, Course
from grader.files import write_atomic
from grader.report.results import CheckResult, SubmissionResult
from grader.text import printable

VISIBILITY = {"visible": "visible", "hidden": "after_published"}
HIDDEN_NOTE = "<p>A hidden check: the course shows its name and your points, not its details.</p>"
ROOT_FILES = ("pyproject.toml", "constraints.txt", "README.md")
SCRIPTS = ("setup.sh", "run_autograder")
PYTHON_MIN = (3, 11)  # what the versions in constraints.txt need (numpy 2.4)
MAX_TEST_OUTPUT = 8000  # characters of one test's output: Gradescope shows every test on one page
MAX_OUTPUT = 16000


def results_document(result: SubmissionResult, execution_time: float | None = None) -> dict[str, Any]:
    """Gradescope's results.json for one graded submission: a test per check, each with its message,
    diagnosis, mismatch table and traceback as HTML (every student-derived string escaped)."""
    tests = []
    for number, assignment in enumerate(result.assignments, start=1):
        for index, check in enumerate(assignment.checks, start=1):
            title = check.title if len(result.assignments) == 1 else f"{assignment.id}: {check.title}"
            test: dict[str, Any] = {
                "name": printable(title, limit=300),
                "number": f"{number}.{index}",
                "score": round(check.points, 4) if check.counted else 0,
                "max_score": round(check.max_points, 4) if check.counted else 0,  # shown as a note, not a 0
                **({"status": "passed" if check.status == "passed" else "failed"} if check.counted else {}),
                "output": check_html(check) or (HIDDEN_NOTE if check.visibility == "hidden" else ""),
                "output_format": "html",
                "visibility": VISIBILITY.get(check.visibility, "visible"),
                "tags": [assignment.id] + ([f"mistake:{check.mistake}"] if check.mistake else []),
            }
            tests.append(test)
    document: dict[str, Any] = {
        "score": round(result.score, 4),
        "output": summary_html(result),
        "output_format": "html",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    }
    if execution_time is not None:
        document["execution_time"] = max(0, round(execution_time))
    return document


def failure_document(message: str, execution_time: float | None = None) -> dict[str, Any]:
    """A results.json that says why nothing was graded (score 0, no tests): never a crash."""
    document: dict[str, Any] = {
        "score": 0,
        "output": f"<p>{_escape(message, MAX_OUTPUT)}</p>",
        "output_format": "html",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": [],
    }
    if execution_time is not None:
        document["execution_time"] = max(0, round(execution_time))
    return document


def check_html(check: CheckResult) -> str:
    """One check's feedback, as the feedback page words it (without its plot)."""
    parts = []
    if check.message:
        parts.append(f"<p>{_escape(check.message, 3000)}</p>")
    elif check.status == "passed":
        parts.append("<p>Passed.</p>")
    if check.diagnosis:
        parts.append(f"<p><strong>Diagnosis:</strong> {_escape(check.diagnosis, 1500)}</p>")
    table = check.details.get("table") if isinstance(check.details, dict) else None
    if isinstance(table, dict) and table.get("rows"):
        parts.append(_table_html(table))
    curves = check.details.get("curves") if isinstance(check.details, dict) else None
    if isinstance(curves, dict) and curves:
        parts.append(_curves_html(curves, check.details.get("curve_lengths")))
    traceback = check.details.get("traceback") if isinstance(check.details, dict) else None
    if traceback:
        parts.append(f"<p><strong>Traceback</strong></p><pre>{_escape(str(traceback), 3000)}</pre>")
    return _fit("\n".join(parts), MAX_TEST_OUTPUT)


def summary_html(result: SubmissionResult) -> str:
    """The submission's headline: each assignment's score and notes, and what the student's code printed."""
    parts = []
    if result.message:
        parts.append(f"<p><strong>{_escape(result.message, 2000)}</strong></p>")
    parts += [f"<p>{_escape(note, 1000)}</p>" for note in result.notes]
    for assignment in result.assignments:
        parts.append(
            f"<h3>{_escape(assignment.title, 300)}: {assignment.score:g} / {assignment.max_score:g}</h3>"
            + (f"<p>Graded {_escape(assignment.source, 300)}</p>" if assignment.source else "")
        )
        if assignment.message:
            parts.append(f"<p><strong>{_escape(assignment.message, 2000)}</strong></p>")
        for note in dict.fromkeys([assignment.choice, *assignment.notes]):
            if note:
                parts.append(f"<p>{_escape(note, 1000)}</p>")
        if assignment.output:
            parts.append(f"<p>What your code printed:</p><pre>{_escape(assignment.output, 4000)}</pre>")
    return _fit("\n".join(parts), MAX_OUTPUT)


def _table_html(table: dict[str, Any]) -> str:
    columns = "".join(f"<th>{_escape(str(c), 100)}</th>" for c in table.get("columns", []))
    rows = "".join(
        "<tr>" + "".join(f"<td>{_escape(str(cell), 100)}</td>" for cell in row) + "</tr>"
        for row in list(table.get("rows", []))[:20]
        if isinstance(row, list)
    )
    shown, total = table.get("shown"), table.get("total")
    more = f"<p>first {shown} of {total} mismatches</p>" if isinstance(total, int) and total != shown else ""
    return f"<table><tr>{columns}</tr>{rows}</table>{more}"


def _curves_html(curves: dict[str, Any], lengths: Any = None) -> str:
    """Plots do not travel to Gradescope: each curve as its first and last value, epochs counted from 1
    (``lengths``: the curves' lengths before they were thinned for the page)."""
    items = []
    for name, values in list(curves.items())[:6]:
        numbers = [v for v in values if isinstance(v, (int, float))] if isinstance(values, list) else []
        length = lengths.get(name) if isinstance(lengths, dict) else None
        if numbers:
            items.append(
                f"<li>{_escape(str(name), 100)}: {numbers[0]:.4g} at epoch 1, {numbers[-1]:.4g} at "
                f"epoch {length if isinstance(length, int) else len(numbers)}</li>"
            )
    return f"<ul>{''.join(items)}</ul>" if items else ""


def _escape(text: str, limit: int) -> str:
    return html.escape(printable(str(text), limit=limit))


def _fit(text: str, limit: int) -> str:
    """Markup cut at a tag boundary: dropped whole parts rather than a half-open tag."""
    if len(text) <= limit:
        return text
    kept, size = [], 0
    for part in text.split("\n"):
        if size + len(part) > limit - 80:
            break
        kept.append(part)
        size += len(part) + 1
    return "\n".join(kept) + "\n<p>[... more feedback than Gradescope shows; see the grader's page]</p>"


def write_results(result: SubmissionResult, path: Path, execution_time: float | None = None) -> None:
    write_document(results_document(result, execution_time), path)


def write_document(document: dict[str, Any], path: Path) -> None:
    write_atomic(path, json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False).encode("utf-8"))


SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image (docs/gradescope.md).
# Outside Gradescope (a test, a trial on your machine) these change what it does; Gradescope sets none:
#   AUTOGRADER_ROOT=DIR        the autograder's root instead of /autograder
#   AUTOGRADER_SKIP_APT=1      use the system's packages as they are (no apt-get)
#   AUTOGRADER_VENV_OPTIONS    more options for `python3 -m venv` (e.g. --system-site-packages)
#   PIP_*                      pip's own settings (e.g. PIP_NO_INDEX=1 PIP_FIND_LINKS=DIR for an offline install)
set -euo pipefail
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
SOURCE="$ROOT/source"
VENV="$ROOT/venv"
umask 022  # the venv must be readable by the uid student code runs under
PYTHON=python3
recent() {{ "$1" -c 'import sys; sys.exit(sys.version_info < ({python_min}))' 2> /dev/null; }}
if [ "${{AUTOGRADER_SKIP_APT:-0}}" != 1 ] && command -v apt-get > /dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends python3 python3-venv python3-pip
  if ! recent python3; then  # the pinned numpy needs Python {python_version} (Ubuntu 22.04 has 3.10)
    apt-get install -y -q --no-install-recommends python{python_version} python{python_version}-venv
    PYTHON=python{python_version}
  fi
  # bubblewrap isolates student code where the container allows namespaces; where it cannot run,
  # student code still runs under an unprivileged uid of its own that cannot read $SOURCE.
  apt-get install -y -q --no-install-recommends bubblewrap || echo "setup.sh: bubblewrap is not available" >&2
fi
recent "$PYTHON" || {{ echo "setup.sh: the grader needs Python {python_version} or newer" >&2; exit 1; }}
"$PYTHON" -m venv ${{AUTOGRADER_VENV_OPTIONS:-}} "$VENV"
# The CPU build of torch is enough (and far smaller than the default CUDA build).
"$VENV/bin/pip" install -q "torch=={torch}" --index-url https://download.pytorch.org/whl/cpu
"$VENV/bin/pip" install -q -c "$SOURCE/grader-src/constraints.txt" "$SOURCE/grader-src"
# From here on the autograder's own files (hidden checks, expected data, the course secret) are root's
# alone. No account is created for student code: each grading sandbox lends it a uid of its own
# from 61000 up that belongs to no account (one that did would never be lent).
chmod -R go-rwx "$SOURCE"
# Which isolation student code will get in this container (a line in the build log; run_autograder
# refuses to grade where student code could read these files).
"$VENV/bin/python" -m grader.packaging.gradescope_run --root "$ROOT" --check || true
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this, as root, for every submission: grade $ROOT/submission, write
# $ROOT/results/results.json. It never fails: whatever goes wrong, results.json says so.
set -uo pipefail
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
PYTHON="${{AUTOGRADER_PYTHON:-$ROOT/venv/bin/python}}"
mkdir -p "$ROOT/results"
# Never from the submission's folder: `python -m` imports from the working directory first.
cd "$ROOT/source" || cd /
"$PYTHON" -m grader.packaging.gradescope_run --root "$ROOT" --assignment {assignment}
status=$?
if [ ! -s "$ROOT/results/results.json" ]; then
  printf '%s\\n' '{{"score": 0, "tests": [], "output": "The autograder could not run (exit status '"$status"'). Please contact your instructor."}}' \\
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
    files["setup.sh"] = SETUP_SH.format(
        torch=torch_version, python_min="%d, %d" % PYTHON_MIN, python_version="%d.%d" % PYTHON_MIN
    ).encode()
    files["run_autograder"] = RUN_AUTOGRADER.format(assignment=spec.id).encode()
    out_zip.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out_zip, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in sorted(files.items()):
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info.external_attr = (0o100755 if name in SCRIPTS else 0o100644) << 16
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
