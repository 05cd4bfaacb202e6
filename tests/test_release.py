"""The student copy: in sync with the solutions, free of them, and able to grade on its own."""

from __future__ import annotations

import json
import shutil
import zipfile

import pytest
from conftest import REPO, SOLUTIONS, TEMPLATE, checks_of, score_of

A1 = "a1_srn_numpy"


@pytest.mark.slow
def test_committed_student_template_equals_what_release_produces(run_grade):
    process = run_grade("release", "--check", expect=None)
    assert process.returncode == 0, f"student_template/ is stale; run `grade release`:\n{process.stdout}"


def test_expected_data_stays_current_when_python_caches_a_data_script(tmp_path):
    """Importing a5's data script (or `compileall`) writes data/__pycache__: that is not data, and must
    not make `grade release --check` call the shipped expected data stale. An edited data file must."""
    from grader.course.model import load_course
    from grader.packaging.release import expected_fingerprint

    a5 = "a5_sentiment_lstm"
    for part in ("assignments", "solutions"):
        shutil.copytree(REPO / part / a5, tmp_path / part / a5, ignore=shutil.ignore_patterns("__pycache__"))
    spec = load_course(tmp_path).assignments[a5]
    assert spec.data_dir is not None and (spec.data_dir / "make_dataset.py").is_file()
    before = expected_fingerprint(spec, spec.check_files())
    cache = spec.data_dir / "__pycache__"
    cache.mkdir()
    (cache / "make_dataset.cpython-311.pyc").write_bytes(b"bytecode")
    assert expected_fingerprint(spec, spec.check_files()) == before
    dev = spec.data_dir / "dev.tsv"
    dev.write_text(dev.read_text() + "one more line\t1\n")
    assert expected_fingerprint(spec, spec.check_files()) != before


@pytest.mark.slow
def test_release_check_notices_stale_stubs_and_stale_expected_data(run_grade, tmp_path):
    course = tmp_path / "course"
    for part in ("assignments", "solutions", "student_template"):
        shutil.copytree(REPO / part / A1, course / part / A1)
    shutil.copy2(REPO / "student_template" / "README.md", course / "student_template" / "README.md")
    check = ("release", "--check", "--course", str(course))
    assert run_grade(*check).returncode == 0
    probes = course / "assignments" / A1 / "probes.py"
    probes.write_text(probes.read_text().replace("scale = 1.0 / np.sqrt(H)", "scale = 0.5 / np.sqrt(H)"))
    stale = run_grade(*check, expect=1)
    assert "expected.bin (out of date" in stale.stdout
    assert stale.stdout.count("expected.bin") == 1, stale.stdout  # a new instructor saw it listed twice
    solution = course / "solutions" / A1 / "srn.py"
    solution.write_text(solution.read_text().replace("One time step", "A single time step"))
    assert f"differs: {A1}/srn.py" in run_grade(*check, expect=1).stdout
    run_grade("release", "--course", str(course))  # every mistake's results for these probes, now cached
    assert run_grade(*check).returncode == 0
    _edited_patch_is_recomputed(run_grade, course, check)


def _edited_patch_is_recomputed(run_grade, course, check):
    """A retitled mistake needs no new data; an edited patch does, and the cache must not hand back
    the old patch's results (its key covers the patches)."""
    from grader.judging.compare import is_close
    from grader.judging.expected import load_bytes

    mistakes = course / "assignments" / A1 / "mistakes.toml"
    retitled = mistakes.read_text().replace('title = "The recurrent bias b_hh is missing"', 'title = "b_hh is missing"')
    mistakes.write_text(retitled)
    assert "expected.bin" not in run_grade(*check, expect=1).stdout, "a title is not data"
    missing = 'replace = "z = x_t @ W_ih.T + b_ih + h_prev @ W_hh.T"'
    assert missing in retitled
    mistakes.write_text(retitled.replace(missing, 'replace = "z = x_t @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh + 0.0"'))
    assert "expected.bin (out of date" in run_grade(*check, expect=1).stdout
    run_grade("release", "--course", str(course))
    entries = load_bytes((course / "student_template" / A1 / "grading" / "expected.bin").read_bytes())["entries"]
    edited = entries["mistake:missing_b_hh"]
    assert edited, "the edited mistake has no recorded results"
    assert all(
        is_close(entry["data"], entries["reference"][key]["data"], rtol=1e-12, atol=0) for key, entry in edited.items()
    ), "the old patch's results were shipped"


def solution_lines(source: str) -> list[str]:
    """The substantial code lines between solution markers (the markers and their hints excluded)."""
    lines, inside = [], False
    for line in source.splitlines():
        stripped = line.strip()
        if stripped.startswith("# BEGIN SOLUTION"):
            inside = True
        elif stripped.startswith("# END SOLUTION"):
            inside = False
        elif inside and len(stripped) > 25 and not stripped.startswith("#"):
            lines.append(stripped)
    return lines


def test_student_copy_contains_no_solution_code():
    from grader.course.model import load_course

    for spec in load_course(REPO).assignments.values():
        solution = spec.solution_dir / f"{spec.module}.py"
        stub = TEMPLATE / spec.id / solution.name
        assert stub.is_file(), f"{stub} missing"
        solution_text, stub_text = solution.read_text(), stub.read_text()
        assert "# BEGIN SOLUTION" not in stub_text
        leaked = [line for line in solution_lines(solution_text) if line in stub_text]
        assert not leaked, f"{stub} leaks solution code: {leaked[:3]}"
        grading = TEMPLATE / solution.parent.name / "grading"
        assert not (grading / "checks" / "test_hidden.py").exists()
        assert "[[mistake.patch]]" not in (grading / "mistakes.toml").read_text()


@pytest.mark.slow
def test_student_copy_grades_public_checks_without_the_solutions(run_grade, tmp_path):
    copy = tmp_path / "course"
    shutil.copytree(TEMPLATE, copy)
    shutil.copy(SOLUTIONS / A1 / "srn.py", copy / A1 / "srn.py")
    (copy / A1 / "srn.ipynb").unlink()
    out = tmp_path / "out"
    run_grade("submit", str(copy / A1), "--course", str(copy), "--out", str(out), "--json")
    result = json.loads((out / "feedback.json").read_text())
    assignment = result["assignments"][0]
    assert assignment["mode"] == "public" and assignment["score"] == assignment["max_score"] == 35
    assert all(check["visibility"] == "visible" for check in assignment["checks"])
    assert "Only the public checks ran" in assignment["notes"][0]


@pytest.mark.slow
def test_student_copy_names_mistakes_offline(run_grade, tmp_path):
    copy = tmp_path / "course"
    shutil.copytree(TEMPLATE / A1, copy / A1)
    wrong = (SOLUTIONS / A1 / "srn.py").read_text().replace("dh = dhs[t] + dh_next", "dh = dhs[t]")
    (copy / A1 / "srn.py").write_text(wrong)
    (copy / A1 / "srn.ipynb").unlink()
    process = run_grade("submit", str(copy / A1), "--course", str(copy), "--out", str(tmp_path / "o"), "--json")
    result = json.loads(process.stdout)
    assert 0 < score_of(result, A1) < 35
    assert any(c["mistake"] == "bptt_not_carried" for c in checks_of(result, A1))


@pytest.mark.slow
def test_gradescope_autograder_grades_without_solutions(run_grade, tmp_path):
    archive = tmp_path / "autograder.zip"
    run_grade("gradescope", "--assignment", A1, "--out", str(archive))
    with zipfile.ZipFile(archive) as zipped:
        names = zipped.namelist()
        assert {"setup.sh", "run_autograder"} <= set(names)
        assert not any(name.startswith("course/solutions") or "/solutions/" in name for name in names)
        assert zipped.getinfo("run_autograder").external_attr >> 16 & 0o111
        zipped.extractall(tmp_path / "autograder" / "source")
    root = tmp_path / "autograder"
    submission = root / "submission"
    submission.mkdir()
    (submission / "srn.py").write_text(
        (SOLUTIONS / A1 / "srn.py").read_text().replace("+ h_prev @ W_hh.T + b_hh", "+ h_prev @ W_hh.T")
    )
    import os
    import subprocess
    import sys

    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "AUTOGRADER_PYTHON": sys.executable}
    env.pop("GRADER_CACHE_DIR", None)
    env.pop("GRADER_SECRET", None)  # the autograder asks the questions its shipped answers were recorded for
    assert (root / "source" / "course" / A1 / "grading" / ".grader-secret").read_text().strip() == os.environ[
        "GRADER_SECRET"
    ]
    assert not list(TEMPLATE.rglob(".grader-secret")), "the student copy must not carry the course secret"
    subprocess.run(["bash", str(root / "source" / "run_autograder")], check=True, env=env, cwd=REPO, timeout=300)
    document = json.loads((root / "results" / "results.json").read_text())
    assert 0 < document["score"] < 100
    assert {"name", "score", "max_score", "output", "visibility"} <= set(document["tests"][0])
    assert {test["visibility"] for test in document["tests"]} == {"visible", "after_published"}
    assert any("b_hh is missing" in test["output"] for test in document["tests"])
    assert round(sum(test["max_score"] for test in document["tests"]), 4) == 100


def test_a_reference_failing_its_own_checks_stops_the_release_with_the_first_reason():
    """A new instructor's probe lacked a parameter the check passes: release said only which checks
    failed, not the TypeError that said why."""
    from types import SimpleNamespace

    from grader.course.model import load_course
    from grader.packaging.release import ReleaseError, grade_reference_and_mistakes
    from grader.report.results import AssignmentResult, CheckResult

    why = "the reference solution failed on probe 'forward': TypeError: forward() got an unexpected keyword 'h0'"
    result = AssignmentResult(id="a1_srn_numpy", title="", status="graded", max_score=100)
    result.checks = [CheckResult("test_forward[T5]", "", 0.0, 10.0, "error", message=why, counted=False)]
    grader = SimpleNamespace(grade_assignment=lambda *args: result)
    spec = load_course(REPO).get("a1_srn_numpy")
    with pytest.raises(ReleaseError) as raised:
        grade_reference_and_mistakes(grader, spec, spec.check_files())  # type: ignore[arg-type]
    assert "fails its own checks: test_forward[T5]" in str(raised.value) and "unexpected keyword 'h0'" in str(
        raised.value
    )
