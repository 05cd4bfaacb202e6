"""The Gradescope autograder as Gradescope runs it: `grade gradescope` builds the zip, which is unpacked
into a fake /autograder root; setup.sh installs the grader into a fresh venv there; run_autograder
grades a correct, a wrong, an empty and a hostile submission, and every results.json is checked
against Gradescope's documented fields.

The venv is made by the system's python3 (readable by any uid, as on Gradescope) and the install is
offline: the packages it needs (torch, numpy, ...) come from this interpreter's site-packages through
PYTHONPATH, and pip is told not to look for an index (PIP_NO_INDEX) nor build in isolation. The fake
root lies in a world-readable folder, as /autograder does (pytest's own temporary folders are root's
alone, which would hide the venv from the uid student code runs under).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, SOLUTIONS

from grader.packaging.gradescope import failure_document, results_document
from grader.report.results import AssignmentResult, CheckResult, SubmissionResult

A1 = "a1_srn_numpy"
SYSTEM_PYTHON = "/usr/bin/python3"
# A container like Docker's default gives root no CAP_SYS_ADMIN: neither bubblewrap nor namespaces work.
NO_SYS_ADMIN = ("setpriv", "--bounding-set=-sys_admin")

# -- Gradescope's results.json, as documented ----------------------------------------------------------

FORMATS = {"text", "html", "simple_format", "md", "ansi"}
VISIBILITIES = {"hidden", "after_due_date", "after_published", "visible"}
TOP_FIELDS = {
    "score",
    "execution_time",
    "output",
    "output_format",
    "test_output_format",
    "test_name_format",
    "visibility",
    "stdout_visibility",
    "extra_data",
    "tests",
    "leaderboard",
}
TEST_FIELDS = {
    "score",
    "max_score",
    "status",
    "name",
    "name_format",
    "number",
    "output",
    "output_format",
    "tags",
    "visibility",
    "extra_data",
}


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def gradescope_problems(document: Any) -> list[str]:
    """What in ``document`` Gradescope's specification does not allow (an empty list: nothing)."""
    if not isinstance(document, dict):
        return ["results.json is not an object"]
    problems = [f"unknown field {key!r}" for key in document if key not in TOP_FIELDS]
    tests = document.get("tests", [])
    if "score" not in document and not (isinstance(tests, list) and tests and all("score" in t for t in tests)):
        problems.append("no score: neither a top-level score nor a score on every test")
    if "score" in document and not _number(document["score"]):
        problems.append(f"score is not a number: {document['score']!r}")
    if "execution_time" in document and not (_number(document["execution_time"]) and document["execution_time"] >= 0):
        problems.append(f"execution_time: {document['execution_time']!r}")
    for key in ("output_format", "test_output_format"):
        if key in document and document[key] not in FORMATS:
            problems.append(f"{key} {document[key]!r} is not one of {sorted(FORMATS)}")
    for key in ("visibility", "stdout_visibility"):
        if key in document and document[key] not in VISIBILITIES:
            problems.append(f"{key} {document[key]!r} is not one of {sorted(VISIBILITIES)}")
    if "output" in document and not isinstance(document["output"], str):
        problems.append("output is not a string")
    if not isinstance(tests, list):
        return [*problems, "tests is not a list"]
    for index, test in enumerate(tests):
        where = f"tests[{index}]"
        if not isinstance(test, dict):
            problems.append(f"{where} is not an object")
            continue
        problems += [f"{where}: unknown field {key!r}" for key in test if key not in TEST_FIELDS]
        for key in ("score", "max_score"):
            if key in test and not _number(test[key]):
                problems.append(f"{where}.{key} is not a number: {test[key]!r}")
        for key in ("name", "number", "output"):
            if key in test and not isinstance(test[key], str):
                problems.append(f"{where}.{key} is not a string")
        if test.get("status", "passed") not in {"passed", "failed"}:
            problems.append(f"{where}.status {test['status']!r}")
        if test.get("output_format", "text") not in FORMATS:
            problems.append(f"{where}.output_format {test['output_format']!r}")
        if test.get("visibility", "visible") not in VISIBILITIES:
            problems.append(f"{where}.visibility {test['visibility']!r}")
        tags = test.get("tags", [])
        if not (isinstance(tags, list) and all(isinstance(tag, str) for tag in tags)):
            problems.append(f"{where}.tags is not a list of strings")
    return problems


def load_results(path: Path) -> dict[str, Any]:
    """results.json as Gradescope reads it: strict JSON (no NaN), and valid."""

    def refuse(constant: str) -> None:
        raise AssertionError(f"results.json holds {constant}, which is not JSON")

    document = json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)
    assert not gradescope_problems(document), gradescope_problems(document)
    return document


# -- the document alone (fast) ---------------------------------------------------------------------------


def test_validator_rejects_what_gradescope_would():
    assert gradescope_problems({"score": 1, "tests": [{"status": "error", "score": "1"}], "colour": 1}) == [
        "unknown field 'colour'",
        "tests[0].score is not a number: '1'",
        "tests[0].status 'error'",
    ]
    assert gradescope_problems({"tests": []}) == ["no score: neither a top-level score nor a score on every test"]
    assert gradescope_problems({"score": 0, "output_format": "pdf"})


def test_results_document_escapes_student_text_and_is_valid():
    hostile = '<img src=x onerror="alert(1)"> & <script>'
    check = CheckResult(
        "test_step",
        "rnn_step",
        2.0,
        5.0,
        "partial",
        message=hostile,
        diagnosis="transposed " + hostile,
        visibility="hidden",
        mistake="missing_b_hh",
        details={
            "table": {"columns": ["position", "got"], "rows": [["(0,)", hostile]], "shown": 1, "total": 3},
            "traceback": hostile,
            "curves": {"your loss": [2.0, 1.0, 0.5]},
            "curve_lengths": {"your loss": 40},
        },
    )
    assignment = AssignmentResult(A1, "RNN", "graded", score=2.0, max_score=5.0, output=hostile, checks=[check])
    result = SubmissionResult("s", "s", "h", score=2.0, max_score=5.0, assignments=[assignment])
    document = results_document(result, execution_time=3.4)
    assert not gradescope_problems(document)
    text = json.dumps(document)
    assert "<img" not in text and "<script" not in text and "&lt;script&gt;" in text
    test = document["tests"][0]
    assert test["visibility"] == "after_published" and test["status"] == "failed"
    assert test["output_format"] == "html" and "<table>" in test["output"] and "first 1 of 3" in test["output"]
    assert "at epoch 40" in test["output"]  # the curve's real length, epochs counted from 1
    assert test["tags"] == [A1, "mistake:missing_b_hh"] and document["execution_time"] == 3
    assert not gradescope_problems(failure_document("<b>nothing</b>"))


# -- the zip, built, installed and run as Gradescope would ---------------------------------------------


def _why_not_here() -> str | None:
    if not sys.platform.startswith("linux"):
        return "the autograder runs in a Linux container"
    if os.geteuid() != 0:
        return "run_autograder runs as root (it locks the autograder's files away and lends student code a uid)"
    if not os.path.exists(SYSTEM_PYTHON):
        return f"no {SYSTEM_PYTHON} to make the autograder's venv with"
    said = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import sys, ensurepip, venv; print(sys.version_info[:2])"],
        capture_output=True,
        text=True,
    )
    if said.returncode != 0 or said.stdout.strip() != str(sys.version_info[:2]):
        return f"{SYSTEM_PYTHON} cannot make a venv for this interpreter's packages (Python {sys.version_info[:2]})"
    return None


def _site_packages() -> list[str]:
    paths = sysconfig.get_paths()
    return list(dict.fromkeys([paths["purelib"], paths["platlib"]]))


def _environment(root: Path, **more: str) -> dict[str, str]:
    """What Gradescope gives the scripts, plus the fake root and the offline packages."""
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "AUTOGRADER_ROOT": str(root),
        "PYTHONPATH": os.pathsep.join(_site_packages()),
        **more,
    }


@pytest.fixture(scope="module")
def autograder(run_grade, tmp_path_factory) -> Iterator[Path]:
    """The autograder zip unpacked into a fake /autograder and set up by its own setup.sh."""
    reason = _why_not_here()
    if reason:
        pytest.skip(reason)
    archive = tmp_path_factory.mktemp("zip") / "autograder.zip"
    run_grade("gradescope", "--assignment", A1, "--out", str(archive))
    root = Path(tempfile.mkdtemp(prefix="fake-autograder-"))
    os.chmod(root, 0o755)
    try:
        with zipfile.ZipFile(archive) as zipped:
            zipped.extractall(root / "source")
            for info in zipped.infolist():  # zipfile drops the modes: restore the scripts' exec bits
                os.chmod(root / "source" / info.filename, info.external_attr >> 16 & 0o777)
        setup = subprocess.run(
            ["bash", str(root / "source" / "setup.sh")],
            env=_environment(
                root,
                AUTOGRADER_SKIP_APT="1",
                PIP_NO_INDEX="1",
                PIP_NO_BUILD_ISOLATION="0",  # pip reads its no- options inverted: "0" builds without isolation
                PIP_DISABLE_PIP_VERSION_CHECK="1",
            ),
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert setup.returncode == 0, f"setup.sh failed\n{setup.stdout[-3000:]}\n{setup.stderr[-3000:]}"
        (root / "setup.log").write_text(setup.stdout + setup.stderr)
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run_autograder(
    root: Path, files: dict[str, str], sandbox: str = "auto", prefix: tuple[str, ...] = (), **env: str
) -> dict[str, Any]:
    """One Gradescope run: a fresh submission folder and results folder, run_autograder, results.json.
    ``prefix``: a command that starts it (``setpriv`` taking capabilities away, as a container would)."""
    for folder in ("submission", "results"):
        shutil.rmtree(root / folder, ignore_errors=True)
        (root / folder).mkdir()
    for name, text in files.items():
        (root / "submission" / name).write_text(text)
    process = subprocess.run(
        [*prefix, str(root / "source" / "run_autograder")],
        env=_environment(root, AUTOGRADER_SANDBOX=sandbox, **env),
        cwd=root / "submission",  # where a student's file could shadow a module, were it imported from here
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert process.returncode == 0, process.stderr[-3000:]
    document = load_results(root / "results" / "results.json")
    document["_log"] = process.stdout + process.stderr
    return document


def _reference() -> str:
    return (SOLUTIONS / A1 / "srn.py").read_text()


@pytest.mark.slow
def test_zip_and_setup(autograder):
    source = autograder / "source"
    assert (source / "grader-src" / "constraints.txt").is_file()
    assert not list(source.rglob("solutions")) and not (source / "course" / A1 / "srn.py").exists()
    # The key its expected data was recorded under travels with it (the runner never takes $GRADER_SECRET).
    assert (source / "course" / A1 / "grading" / ".grader-secret").read_text().strip() == os.environ["GRADER_SECRET"]
    setup = (source / "setup.sh").read_text()
    assert "apt-get install" in setup and "bubblewrap" in setup and "PIP_NO_INDEX=1\n" not in setup
    assert "--index-url https://download.pytorch.org/whl/cpu" in setup  # a real install on Gradescope
    installed = subprocess.run(
        [str(autograder / "venv" / "bin" / "python"), "-c", "import grader; print(grader.__file__)"],
        env=_environment(autograder),
        capture_output=True,
        text=True,
        cwd="/",
    )
    assert installed.stdout.startswith(str(autograder / "venv")), installed  # installed, not the checkout
    # The autograder's files are root's alone; the build log says how student code will be isolated.
    for path in [source, *source.rglob("*")]:
        assert not path.stat().st_mode & 0o077, path
    assert "ok: " in (autograder / "setup.log").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("container", [False, True], ids=["here", "container"])
def test_correct_submission_earns_full_marks(autograder, container):
    """Also where student code runs under its own uid with no namespaces (a container without CAP_SYS_ADMIN)."""
    if container and shutil.which(NO_SYS_ADMIN[0]) is None:
        pytest.skip("no setpriv to take CAP_SYS_ADMIN away")
    document = run_autograder(autograder, {"srn.py": _reference()}, prefix=NO_SYS_ADMIN if container else ())
    assert document["score"] == 100
    assert all(test["status"] == "passed" for test in document["tests"])
    assert round(sum(test["max_score"] for test in document["tests"]), 4) == 100
    assert {test["visibility"] for test in document["tests"]} == {"visible", "after_published"}
    assert document["output_format"] == "html" and "100 / 100" in document["output"]
    assert document["stdout_visibility"] == "hidden" and isinstance(document["execution_time"], int)


@pytest.mark.slow
def test_wrong_submission_is_explained(autograder):
    wrong = _reference().replace("+ h_prev @ W_hh.T + b_hh", "+ h_prev @ W_hh.T")
    document = run_autograder(autograder, {"srn.py": wrong})
    assert 0 < document["score"] < 100
    failed = [test for test in document["tests"] if test["status"] == "failed"]
    assert failed and all(test["output"] and test["output_format"] == "html" for test in failed)
    assert any("b_hh is missing" in test["output"] for test in failed)
    assert any("mistake:missing_b_hh" in test["tags"] for test in failed)
    # Hidden tests are shown once grades are published: reduced as the course's [handback] says (names
    # and points by default), so no expected value of a hidden check reaches the student that way.
    hidden = [test for test in failed if test["visibility"] == "after_published"]
    assert hidden and all("<table" not in test["output"] and "b_hh" not in test["output"] for test in hidden)
    # Visible (public) tests ask official questions, the same on every resubmission: the mistake and the
    # points are shown, not the expected values (a hostile round collected them page by page).
    visible = [test for test in failed if test["visibility"] == "visible"]
    assert visible and all("<table" not in test["output"] for test in visible)
    assert all("on the official question" in test["output"] for test in visible)
    assert any("b_hh is missing" in test["output"] for test in visible)


@pytest.mark.slow
def test_empty_submission_gets_a_clear_message(autograder):
    document = run_autograder(autograder, {})
    assert document["score"] == 0 and document["tests"] == []
    assert "Your submission is empty" in document["output"]


@pytest.mark.slow
def test_a_grader_that_cannot_start_still_writes_results(autograder):
    document = run_autograder(autograder, {"srn.py": _reference()}, AUTOGRADER_PYTHON=str(autograder / "missing"))
    assert document["score"] == 0 and "could not run" in document["output"]


HOSTILE = '''
import os

TARGETS = {targets!r}


def _spy():
    found = []
    for path in TARGETS:
        try:
            if os.path.isdir(path):
                found.append(f"LISTED {{path}}: {{os.listdir(path)}}")
            else:
                with open(path, "rb") as handle:
                    found.append(f"READ {{path}}: {{handle.read(300)!r}}")
        except OSError as exc:
            found.append(f"DENIED {{path}}: {{type(exc).__name__}}")
    found.append(f"uid={{os.getuid()}}")
    return "SPY " + "; ".join(found)


print(_spy())


def rnn_step(*args, **kwargs):
    raise RuntimeError(_spy())


rnn_forward = linear_output = rnn_backward = rnn_step
'''


def _hostile(root: Path) -> tuple[str, list[str]]:
    """A submission that reports what it can read: the autograder's files, and a world-readable control."""
    grading = root / "source" / "course" / A1 / "grading"
    secret_targets = [
        str(root / "source"),
        str(grading),
        str(grading / ".grader-secret"),
        str(grading / "expected.bin"),
        str(grading / "checks" / "test_hidden.py"),
        str(root / "source" / "grader-src" / "constraints.txt"),
    ]
    control = root / "control.txt"
    control.write_text("CONTROL-VISIBLE")
    control.chmod(0o644)
    return HOSTILE.format(targets=[*secret_targets, str(control)]), secret_targets


@pytest.mark.slow
@pytest.mark.parametrize("sandbox", ["bubblewrap", "none", "container"])
def test_hostile_submission_reads_none_of_the_autograders_files(autograder, sandbox):
    from grader.sandbox.isolation import bubblewrap_works

    if sandbox == "bubblewrap" and not bubblewrap_works():
        pytest.skip("bubblewrap does not work here")
    if sandbox == "container" and shutil.which(NO_SYS_ADMIN[0]) is None:
        pytest.skip("no setpriv to take CAP_SYS_ADMIN away")
    code, targets = _hostile(autograder)
    if sandbox == "container":
        document = run_autograder(autograder, {"srn.py": code}, prefix=NO_SYS_ADMIN)
        assert "namespaces cannot be created here" in document["_log"]  # as in such a container
    else:
        document = run_autograder(autograder, {"srn.py": code}, sandbox=sandbox)
    text = json.dumps(document)
    assert "SPY " in text, "the hostile code did not run"
    secret = (autograder / "source" / "course" / A1 / "grading" / ".grader-secret").read_text().strip()
    hidden = (autograder / "source" / "course" / A1 / "grading" / "checks" / "test_hidden.py").read_text()
    assert secret not in text and hidden[:200] not in text
    for target in targets:
        assert f"DENIED {target}: " in text, target
        assert f"READ {target}" not in text and f"LISTED {target}" not in text, target
    if sandbox != "bubblewrap":  # (bubblewrap shows no file of the host's but the interpreter's)
        assert "CONTROL-VISIBLE" in text, "the spy cannot read a world-readable file either: the test proves nothing"
    assert "uid=0" not in text and "uid=6" in text  # one of the lent uids, 61000 and up
    assert document["score"] == 0


@pytest.mark.slow
def test_refuses_to_run_student_code_that_could_read_its_files(autograder):
    """Without bubblewrap, where no unprivileged uid can load the interpreter (this checkout's venv
    under a root-only home, say), student code would run as root: the autograder does not run it."""
    from grader.sandbox.isolation import own_uid_problem

    if own_uid_problem() is None:
        pytest.skip(f"any uid can load {sys.executable} here, so nothing would be refused")
    code, _ = _hostile(autograder)
    document = run_autograder(autograder, {"srn.py": code}, sandbox="none", AUTOGRADER_PYTHON=sys.executable)
    assert document["score"] == 0 and document["tests"] == []
    assert "did not run your code" in document["output"]
    assert "SPY" not in json.dumps(document) and "SPY" not in document["_log"]
    assert "student code could read" in document["_log"]


def test_a_check_only_a_gpu_can_show_does_not_stop_the_build_on_a_cpu():
    """a5's zip could not be built without a GPU: its GPU-only check, skipped on a CPU, counted as the
    reference failing its own checks (a regression round)."""
    from grader.course.mistakes import load_catalog
    from grader.course.model import load_course
    from grader.packaging.release import ReleaseError, grade_reference_and_mistakes
    from grader.report.results import AssignmentResult, CheckResult

    spec = load_course(REPO).get("a5_sentiment_lstm")
    graded: list[str] = []

    class Grader:
        def grade_assignment(self, work, spec, check_files):
            graded.append(work.path.name)
            checks = [
                CheckResult("test_forward", "forward", 5, 5, "passed"),
                CheckResult("test_on_gpu", "gpu", 0, 6, "skipped", counted=False),
            ]
            return AssignmentResult(spec.id, spec.title, "graded", checks=checks)

    grade_reference_and_mistakes(Grader(), spec, [])  # type: ignore[arg-type]
    assert len(graded) == 1 + len(load_catalog(spec.mistakes_path).mistakes)  # the reference, then every mutant

    class Failing(Grader):
        def grade_assignment(self, work, spec, check_files):
            result = super().grade_assignment(work, spec, check_files)
            result.checks[0].status = "failed"
            return result

    with pytest.raises(ReleaseError, match="fails its own checks: test_forward"):
        grade_reference_and_mistakes(Failing(), spec, [])  # type: ignore[arg-type]
