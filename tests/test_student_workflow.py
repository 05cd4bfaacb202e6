"""What a student meets (issue 13 items 2 and 7): installing the grader, `grade submit` inside their
copy of the course, a single file, a zip, messages that wrap instead of being cut, one message for an
error every check shares, and an endless loop that costs one time limit, not one per check."""

from __future__ import annotations

import json
import os
import py_compile
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, SOLUTIONS, TEMPLATE, checks_of, report_class, write_submission
from test_sandbox import sandbox, worker  # noqa: F401 - the fixture, and a worker on its test module

from grader.errors import RunFailed
from grader.packaging.wheel import build_student_wheel, course_files_in

A1, A2 = "a1_srn_numpy", "a2_rnncell_ohlol"
REF1 = (SOLUTIONS / A1 / "srn.py").read_text()
REF2 = (SOLUTIONS / A2 / "ohlol.py").read_text()
STUB1 = (TEMPLATE / A1 / "srn.py").read_text()
END = "the-end-of-this-message-says-what-to-fix"


def _student_copy(tmp_path: Path, *assignments: str) -> Path:
    copy = tmp_path / "my-course"
    for assignment in assignments:
        shutil.copytree(TEMPLATE / assignment, copy / assignment, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _with_loop(source: str, function: str) -> str:
    """``source`` with an endless loop at the top of ``function``'s body."""
    lines = []
    for line in source.splitlines():
        lines.append(line)
        if line.lstrip().startswith(f"def {function}("):
            indent = " " * (len(line) - len(line.lstrip()) + 4)
            lines += [f"{indent}while True:", f"{indent}    pass"]
    return "\n".join(lines) + "\n"


# -- a student copy grades with its own public checks ----------------------------------------------


@pytest.mark.slow
def test_submit_inside_a_student_copy_uses_its_public_checks_and_says_so(run_grade, tmp_path):
    """The instructor's editable install picked up the instructor's course for a student copy (hidden
    checks: 0/100 instead of the handout's 0/50): the copy that holds the work decides."""
    copy = _student_copy(tmp_path, A1)
    process = run_grade("submit", f"{A1}/", "--out", str(tmp_path / "out"), cwd=copy)
    said = _one_line(process.stderr)
    assert "Course: your copy of the course" in said and "public checks only" in said
    result = json.loads((tmp_path / "out" / "feedback.json").read_text())
    (work,) = result["assignments"]
    assert work["mode"] == "public" and work["score"] == 0
    assert all(check["visibility"] == "visible" for check in work["checks"])
    assert work["max_score"] == sum(check["max_points"] for check in work["checks"]) < 100

    full = run_grade("submit", f"{A1}/", "--out", str(tmp_path / "full"), "--course", str(REPO), cwd=copy)
    assert "all checks, hidden ones included (full mode)" in _one_line(full.stderr)
    work = json.loads((tmp_path / "full" / "feedback.json").read_text())["assignments"][0]
    assert work["mode"] == "full" and work["max_score"] == 100
    assert any(check["visibility"] == "hidden" for check in work["checks"])

    beside = write_submission(copy.parent / "beside", {"srn.py": REF1})  # next to a copy, not in it
    process = run_grade("submit", str(beside), "--out", str(tmp_path / "beside-out"))
    assert "Course: the instructor's course" in _one_line(process.stderr)

    # The released checks' source with bytecode of other checks beside it (unchecked, so Python would
    # take it whatever the source says): the checks run from their source.
    planted = tmp_path / "planted.py"
    bytecode_ran = tmp_path / "bytecode-ran-here"
    planted.write_text(f"open({str(bytecode_ran)!r}, 'w').close()\n")
    cache = copy / A1 / "grading" / "checks" / "__pycache__" / f"test_public.{sys.implementation.cache_tag}.pyc"
    cache.parent.mkdir(exist_ok=True)
    py_compile.compile(str(planted), cfile=str(cache), invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    process = run_grade("submit", f"{A1}/", "--out", str(tmp_path / "planted-out"), cwd=copy)
    assert "Course: your copy of the course" in _one_line(process.stderr) and not bytecode_ran.exists()

    # A submission that brings grading/ folders of its own: where the instructor's course is at hand, its
    # checks would run in the grader's process (they wrote files as the grader's user, and passed a stub).
    forged = copy / A1 / "grading" / "checks" / "test_public.py"
    proof = tmp_path / "checks-ran-here"
    forged.write_text(forged.read_text() + f"\nopen({str(proof)!r}, 'w').close()\n")
    process = run_grade("submit", f"{A1}/", "--out", str(tmp_path / "forged"), cwd=copy)
    said = _one_line(process.stderr)
    assert "Course: the instructor's course" in said and "are not this course's student copy" in said
    assert not proof.exists()


@pytest.mark.slow
def test_a_single_file_and_a_zip_are_graded(grade, run_grade, tmp_path):
    folder = write_submission(tmp_path / "work", {"srn.py": REF1, "notes.txt": "not graded"})
    result = grade(folder / "srn.py")
    assert [a["id"] for a in result["assignments"]] == [A1] and result["assignments"][0]["score"] == 100
    assert result["student"] == "work"

    archive = tmp_path / "alice.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr(f"alice/{A1}/srn.py", REF1)
    result = grade(archive)
    assert result["student"] == "alice" and result["assignments"][0]["score"] == 100

    wrong = write_submission(tmp_path / "other", {"my_srn.py": REF1})
    process = run_grade("submit", str(wrong / "my_srn.py"), "--out", str(tmp_path / "o"), expect=1)
    assert "my_srn.py is not an assignment file" in _one_line(process.stdout + process.stderr)
    assert "Traceback" not in process.stderr


# -- the terminal: wrapped, never cut; a shared error said once --------------------------------------


@pytest.mark.slow
def test_terminal_messages_wrap_and_are_never_cut(run_grade, tmp_path):
    long_error = f"raise ValueError('{'this message is long on purpose, ' * 6}{END}')"
    source = REF1.replace("    return activate(z, activation)", f"    {long_error}", 1)
    assert source != REF1
    folder = write_submission(tmp_path / "student", {"srn.py": source})
    process = run_grade(
        "submit", str(folder), "-a", A1, "--out", str(tmp_path / "out"), env={"COLUMNS": "80"}, timeout=900
    )
    assert END in _one_line(process.stdout), process.stdout  # the end of the message is there
    assert all(len(line) <= 80 for line in process.stdout.splitlines() if not line.startswith("Feedback:"))


@pytest.mark.slow
def test_an_error_every_check_shares_is_said_once(run_grade, tmp_path):
    error = "settings_xyz.json is missing"  # (a missing library no longer stops the import: it is let through)
    folder = write_submission(tmp_path / "student", {"srn.py": f"raise FileNotFoundError({error!r})\n" + STUB1})
    process = run_grade("submit", str(folder), "-a", A1, "--out", str(tmp_path / "out"))
    shown = _one_line(process.stdout)
    assert shown.count(error) == 1, process.stdout
    result = json.loads((tmp_path / "out" / "feedback.json").read_text())
    failed = [check for check in checks_of(result, A1) if check["status"] == "failed"]
    assert len(failed) > 2 and all(error in check["message"] for check in failed)  # data kept
    assert shown.count("same error as above") == len(failed)
    page = (tmp_path / "out" / "feedback.html").read_text()
    assert page.count("Every failed check below failed with this error") == 1
    assert page.count("same error as above") == len(failed)


# -- an endless loop costs one limit ---------------------------------------------------------------

STUCK_AFTER_S = 2
LOOPS = {
    "forward": _with_loop(REF2, "forward"),
    "train": _with_loop(REF2, "train"),
    "never-ending": REF2.replace(
        "    for _ in range(epochs):\n", "    while not losses or losses[-1] > 0.0:  # never\n", 1
    ),
}


@pytest.fixture(scope="module")
def looping(run_grade, tmp_path_factory) -> dict[str, list[dict[str, Any]]]:
    """The checks of each looping student; the three are graded by one `grade report` (one worker
    start-up, not three)."""
    assert LOOPS["never-ending"] != REF2
    root = tmp_path_factory.mktemp("loops")
    students = {name: {"ohlol.py": source} for name, source in LOOPS.items()}
    stuck = ("--limit", f"stuck_after_s={STUCK_AFTER_S}")  # what ends the loop in train, not the default 6 s
    results = report_class(run_grade, root / "class", root / "grades", students, "-a", A2, *stuck)
    return {name: checks_of(result, A2) for name, result in results.items()}


@pytest.mark.slow
def test_an_endless_loop_costs_one_time_limit_not_one_per_check(looping):
    """A loop in forward: the first plain probe that reaches it times out; every later check that
    needs it (the training checks with their own 30 s and 60 s limits included) is refused at once
    with a message saying why, instead of waiting out its own limit. (Seconds: benchmarks/loop_cost.py.)"""
    checks = looping["forward"]
    # stopped at its limit, or as stuck on the same lines (on a busy machine the limit is lengthened by
    # the time the machine took, and the watchdog's report may come first)
    refused = [c for c in checks if "so it was not run again" in c["message"]]
    stopped = [
        c
        for c in checks
        if c not in refused
        and ("did not finish within" in c["message"] or "your code was stopped after" in c["message"])
    ]
    assert len(stopped) == 1, [(c["name"], c["message"][:300]) for c in stopped]
    assert refused and all(c["status"] == "failed" for c in refused)
    assert {c["status"] for c in checks} - {"passed", "failed"} == set()
    assert all(c["status"] == "passed" for c in checks if c not in stopped and c not in refused)
    assert any("loss curve" in c["title"].lower() for c in refused)  # a training check: not rerun


@pytest.mark.slow
def test_a_loop_only_training_reaches_is_stopped_when_stuck_not_after_the_checks_limit(looping):
    """A loop in train: no plain probe reaches it, so the first training check (30 s limit) meets it.
    The worker's watchdog sees the code stay in one call of `train`, calling nothing, and the check
    ends after `stuck_after_s` (here 2 s); the other training checks are refused at once."""
    checks = looping["train"]
    stuck = [c for c in checks if c["message"].startswith("your code was stopped after")]
    refused = [c for c in checks if "so it was not run again" in c["message"]]
    assert len(stuck) == 1, [c["message"] for c in checks]
    assert "on the same lines of `train` without calling any function" in stuck[0]["message"]
    assert "did not finish within" not in " ".join(c["message"] for c in checks)  # no limit waited out
    assert refused and all(c["status"] == "failed" for c in stuck + refused)
    assert all(c["status"] == "passed" for c in checks if c not in stuck and c not in refused)


@pytest.mark.slow
def test_training_that_never_ends_is_stopped_by_its_optimizer_steps_not_the_checks_limit(looping, grade, tmp_path):
    """`while loss > 0` around real training steps keeps calling functions, so it is never stuck; but it
    takes far more optimizer steps than the reference does for the same call, which working code never
    does however slow it is. The first training check ends there; the others are refused at once."""
    checks = looping["never-ending"]
    stopped = [c for c in checks if "optimizer steps and was still training" in c["message"]]
    refused = [c for c in checks if "it kept training past" in c["message"]]
    assert len(stopped) == 1, [(c["name"], c["message"][:300]) for c in stopped]
    assert "in `train`" in stopped[0]["message"] and "the reference solution takes 15 for" in stopped[0]["message"]
    assert "did not finish within" not in " ".join(c["message"] for c in checks)  # no limit waited out
    assert refused and all(c["status"] == "failed" for c in stopped + refused)
    assert all(c["status"] == "passed" for c in checks if c not in stopped and c not in refused)

    # In a student copy (and on Gradescope) nothing is timed here, but the shipped data carries the
    # reference's step counts (the algorithm's, the same on every machine): the same stop.
    copy = _student_copy(tmp_path, A2)
    write_submission(copy / A2, {"ohlol.py": LOOPS["never-ending"]})
    result = grade(copy / A2)
    public = [c for c in checks_of(result, A2) if "optimizer steps and was still training" in c["message"]]
    assert len(public) == 1 and result["assignments"][0]["mode"] == "public"


def test_a_function_stopped_on_a_plain_call_is_not_run_again_under_a_longer_limit(sandbox):  # noqa: F811
    student = worker(sandbox)
    with pytest.raises(RunFailed, match="within 0.5 s"):
        student.call("call", {"name": "slow"}, timeout=0.5, small=True)
    with pytest.raises(RunFailed, match="`slow` was stopped after running more than 0.5 s"):
        student.call("call", {"name": "slow"}, timeout=5)  # a training check's longer limit: refused at once
    assert student.call("call", {"name": "double", "args": [2]}, timeout=5) == 4  # the rest still runs
    student.close()


# -- the student install: a wheel without course data ----------------------------------------------


@pytest.mark.slow
def test_the_student_wheel_holds_no_course_and_grades_with_the_copy(run_grade, tmp_path, cache_dir):
    wheel = build_student_wheel(REPO, tmp_path / "dist")
    assert wheel.name.startswith("rnn_autograder-") and course_files_in(wheel) == []
    with zipfile.ZipFile(wheel) as zipped:
        names = zipped.namelist()
    assert any(name == "grader/cli/__init__.py" for name in names)
    assert not any(part in name for name in names for part in ("assignments/", "solutions/", "test_hidden"))

    site = tmp_path / "site"  # the wheel installed as a student's pip would, outside the course
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
    )
    copy = _student_copy(tmp_path, A1)
    env = {**os.environ, "PYTHONPATH": str(site), "GRADER_CACHE_DIR": str(cache_dir)}
    env.pop("GRADER_COURSE", None)
    command = [sys.executable, "-m", "grader", "submit", "--out", str(tmp_path / "out")]
    process = subprocess.run([*command, f"{A1}/srn.py"], cwd=copy, env=env, capture_output=True, text=True)
    assert process.returncode == 0, process.stderr
    assert "your copy of the course" in _one_line(process.stderr)
    result = json.loads((tmp_path / "out" / "feedback.json").read_text())
    assert result["assignments"][0]["mode"] == "public" and result["assignments"][0]["score"] == 0

    outside = write_submission(tmp_path / "loose", {"srn.py": REF1})  # no course anywhere near it
    process = subprocess.run([*command, str(outside)], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert process.returncode == 1 and "cannot find the course's checks" in _one_line(process.stderr)


def test_release_writes_the_copy_readme_with_the_one_line_install():
    readme = (TEMPLATE / "README.md").read_text()
    assert "pip install rnn_autograder-*.whl" in readme and "grade submit" in readme
    assert "rnn_autograder-*.whl" in (REPO / ".gitignore").read_text()
