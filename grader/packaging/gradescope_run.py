"""What run_autograder does for each submission in a Gradescope container (and setup.sh's check).

In order: make the autograder's own files (hidden checks, expected data, the course secret) root's
alone; make sure student code cannot reach them (bubblewrap, or an unprivileged uid of its own that
the sandbox drops to), else refuse to run it; grade with ``grade submit`` in a private folder; write
results.json from its result. Whatever fails, results.json says so: never a crash, never no file.

Run as ``python -m grader.packaging.gradescope_run --root /autograder --assignment ID`` (the root,
and the sandbox, may also come from $AUTOGRADER_ROOT and $AUTOGRADER_SANDBOX, for tests).
"""

from __future__ import annotations

import argparse
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from grader.course.secret import SECRET_ENV
from grader.intake.tree import files_under
from grader.judging.expected import CACHE_ENV
from grader.packaging.gradescope import failure_document, results_document, write_document
from grader.report.handback import Handback, HandbackError, handback_for, student_version
from grader.report.results import SubmissionResult

ROOT_ENV = "AUTOGRADER_ROOT"
SANDBOX_ENV = "AUTOGRADER_SANDBOX"
TIMEOUT_ENV = "AUTOGRADER_TIMEOUT_S"
DEFAULT_ROOT = "/autograder"
DEFAULT_TIMEOUT_S = 3000.0  # Gradescope stops a run after its own limit (10 minutes unless raised) anyway
CONTACT = "Please contact your instructor."


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m grader.packaging.gradescope_run",
        description="Grade a Gradescope submission (run_autograder), or say how student code would be isolated.",
    )
    parser.add_argument("--root", default=os.environ.get(ROOT_ENV) or DEFAULT_ROOT, help="the autograder's root")
    parser.add_argument("--assignment", help="the assignment to grade")
    parser.add_argument(
        "--sandbox", default=os.environ.get(SANDBOX_ENV) or "auto", choices=("auto", "bubblewrap", "none")
    )
    parser.add_argument("--check", action="store_true", help="only say how student code would be isolated here")
    args = parser.parse_args(argv)
    root = Path(args.root)
    if args.check:
        safe, line = isolation_verdict(args.sandbox)
        print(f"{'ok' if safe else 'REFUSED'}: {line}")
        return 0
    started = time.monotonic()
    try:
        if not args.assignment:
            raise ValueError("run_autograder names no assignment")
        document = grade(root, args.assignment, args.sandbox, started)
    except Exception as exc:  # noqa: BLE001 - a bug of the grader: results.json says so, the run goes on
        traceback.print_exc()
        document = failure_document(
            f"The autograder failed ({type(exc).__name__}); this is not your fault. {CONTACT}",
            time.monotonic() - started,
        )
    write_document(document, root / "results" / "results.json")
    return 0


def grade(root: Path, assignment: str, sandbox: str, started: float) -> dict[str, Any]:
    lock_down(root / "source")
    safe, line = isolation_verdict(sandbox)
    print(f"Isolation: {line}", flush=True)
    if not safe:
        return failure_document(
            "The autograder did not run your code: in this container it could not keep your code away from "
            f"the autograder's own files. {CONTACT}",
            time.monotonic() - started,
        )
    submission = root / "submission"
    if not submission.is_dir() or next(files_under(submission), None) is None:
        return failure_document(
            "Your submission is empty: there was nothing to grade. Upload your assignment's files "
            "(for example srn.py or srn.ipynb) and submit again.",
            time.monotonic() - started,
        )
    work = Path(tempfile.mkdtemp(prefix="autograder-"))  # 0700: root's alone, like the course
    try:
        return _grade_in(work, root, submission, assignment, sandbox, started)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _grade_in(
    work: Path, root: Path, submission: Path, assignment: str, sandbox: str, started: float
) -> dict[str, Any]:
    out = work / "feedback"
    environment = {key: value for key, value in os.environ.items() if key not in (SECRET_ENV, "GRADER_COURSE")}
    # The key the expected data was recorded under is the one shipped beside it; a cache of the run's own.
    environment[CACHE_ENV] = str(work / "cache")
    command = [sys.executable, "-m", "grader", "submit", str(submission), "--assignment", assignment]
    command += ["--course", str(root / "source" / "course"), "--out", str(out), "--sandbox", sandbox]
    try:
        process = subprocess.run(
            command,
            cwd=work,
            env=environment,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=float(os.environ.get(TIMEOUT_ENV) or DEFAULT_TIMEOUT_S),
        )
    except subprocess.TimeoutExpired:
        return failure_document(f"Grading took too long and was stopped. {CONTACT}", time.monotonic() - started)
    print(process.stdout, process.stderr, sep="\n", flush=True)  # Gradescope's stdout: hidden from students
    feedback = out / "feedback.json"
    if feedback.is_file():
        # Gradescope shows hidden tests to the student once grades are published: reduce them as the
        # course's [handback] setting says, as on the pages handed back.
        handed_back = student_version(SubmissionResult.load(feedback), _handback(root / "source" / "course"))
        # its time is the public checks' (the hidden checks' time can carry their inputs out)
        return results_document(handed_back, handed_back.duration)
    said = [line[len("error: ") :] for line in process.stderr.splitlines() if line.startswith("error: ")]
    reason = said[-1] if said else f"the grader stopped with exit status {process.returncode}"
    return failure_document(f"Your submission could not be graded: {reason}", time.monotonic() - started)


def _handback(course_folder: Path) -> Handback:
    """The course's [handback] setting; the default (names and points) where it cannot be read."""
    from grader.course.model import CourseError, load_course

    try:
        return handback_for(load_course(course_folder))
    except (CourseError, HandbackError, OSError):
        return handback_for(None)


def lock_down(source: Path) -> None:
    """The autograder's files readable by root alone (setup.sh did it once; a re-extracted source
    would undo it). Student code never runs as root, so it finds nothing there."""
    if os.geteuid() != 0 or not source.is_dir():
        return
    for directory, folders, files in os.walk(source):
        for name in [*folders, *files]:
            _owner_only(Path(directory) / name)
    _owner_only(source)


def _owner_only(path: Path) -> None:
    if path.is_symlink():
        return
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        os.chmod(path, mode & 0o700)


def isolation_verdict(sandbox: str) -> tuple[bool, str]:
    """Whether student code would be kept from the autograder's files here, and how, in one line."""
    from grader.sandbox.isolation import choose, drops_to_own_uid

    try:
        isolation = choose(sandbox)
    except (RuntimeError, ValueError) as exc:
        return False, str(exc)
    if isolation.kind == "bubblewrap":
        return True, "bubblewrap: student code sees the interpreter and its own files only"
    if drops_to_own_uid(isolation.kind):
        return True, (
            "no bubblewrap here; student code runs under an unprivileged uid of its own, which cannot read "
            f"the autograder's root-only files ({isolation.description})"
        )
    return False, f"student code could read the autograder's files: {isolation.description}"


if __name__ == "__main__":
    sys.exit(main())
