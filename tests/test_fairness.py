"""Fairness: correct work never loses marks for the grader's mistakes or the grading machine's limits."""

from __future__ import annotations

import re
import shutil

import pytest
from conftest import REPO, SOLUTIONS, checks_of, score_of

A1 = "a1_srn_numpy"


@pytest.mark.slow
def test_a_check_asking_for_a_missing_probe_is_the_grader_s_error(run_grade, tmp_path):
    """A check author's typo in a probe name: the check is an error "not your fault" for everyone,
    found on the trusted side, and it costs the reference nothing."""
    import json

    course = tmp_path / "course"
    shutil.copytree(REPO / "assignments" / A1, course / "assignments" / A1)
    shutil.copytree(REPO / "solutions" / A1, course / "solutions" / A1)
    checks = course / "assignments" / A1 / "checks" / "test_public.py"
    source = checks.read_text()
    assert 'judge.compare("output"' in source
    checks.write_text(source.replace('judge.compare("output"', 'judge.compare("outputz"'))
    shutil.copytree(SOLUTIONS / A1, tmp_path / "class" / "alice" / A1)
    run_grade("report", str(tmp_path / "class"), "--course", str(course), "--out", str(tmp_path / "grades"))
    result = json.loads((tmp_path / "grades" / "students" / "alice" / "feedback.json").read_text())
    by_name = {c["name"]: c for c in checks_of(result, A1)}
    typo = by_name["test_linear_output"]
    assert typo["status"] == "error", typo
    assert "not your fault" in typo["message"] and "'outputz'" in typo["message"], typo["message"]
    assert all(c["status"] == "passed" for name, c in by_name.items() if name != "test_linear_output")
    assignment = result["assignments"][0]
    assert score_of(result, A1) == assignment["max_score"], "a grader error must not cost the student points"

    # The class overview lists it for the instructor.
    overview = (tmp_path / "grades" / "index.html").read_text()
    assert "could not judge" in overview and "test_linear_output" in overview
    assert "not judged" in overview  # its pass rate is not a 0%

    # `grade check` finds it before anyone is graded, and `grade release` refuses to ship it; and a
    # keyword a probe does not take (a new instructor's `h0`, which `grade check` let through).
    checks.write_text(checks.read_text().replace('judge.compare("step", B=3,', 'judge.compare("step", h0=1, B=3,'))
    process = run_grade("check", "--course", str(course), expect=1)
    assert "test_public.py, line" in process.stdout and "no probe named 'outputz'" in process.stdout
    assert "the probe 'step' does not take h0 (its parameters in probes.py: " in process.stdout
    process = run_grade("release", "--course", str(course), "--out", str(tmp_path / "copy"), expect=None)
    assert process.returncode != 0 and "outputz" in process.stdout + process.stderr


def test_checks_that_could_not_be_judged_are_left_out_and_the_rest_scaled():
    from grader.report.results import AssignmentResult, CheckResult

    def check(name: str, points: float, max_points: float, status: str, counted: bool = True) -> CheckResult:
        return CheckResult(name=name, title=name, points=points, max_points=max_points, status=status, counted=counted)

    result = AssignmentResult(id="a5", title="a5", status="graded", max_score=100, mode="full")
    result.checks = [check("a", 47, 47, "passed"), check("b", 0, 47, "failed"), check("gpu", 0, 6, "skipped", False)]
    result.total()
    assert result.score == 50.0  # 47 of the 94 judged points, scaled to 100
    result.checks[2].counted = True  # a check that counts (at 0) is not scaled away
    result.total()
    assert result.score == 47.0


def test_a_check_left_out_shows_as_not_counted_never_as_points_lost(capsys):
    """A GPU-only check on a CPU: the page, the terminal and Gradescope said "0 / 6" under a 100."""
    from grader.cli.printing import print_summary
    from grader.packaging.gradescope import results_document
    from grader.report.pages import render_feedback
    from grader.report.results import AssignmentResult, CheckResult, SubmissionResult

    gpu = CheckResult(name="gpu", title="On the GPU", points=0, max_points=6, status="skipped", counted=False)
    ok = CheckResult(name="a", title="Forward", points=94, max_points=94, status="passed")
    assignment = AssignmentResult(id="a5", title="a5", status="graded", max_score=100, mode="full", checks=[ok, gpu])
    assignment.total()
    result = SubmissionResult(student="s", submission="s", content_hash="h", assignments=[assignment])
    result.score, result.max_score = assignment.score, assignment.max_score
    assert assignment.score == 100
    page = render_feedback(result)
    assert "not counted" in page and "0 / 6" not in page
    print_summary(result, verbose=False)
    printed = capsys.readouterr().out
    assert "On the GPU (not counted)" in printed and "0/6" not in printed
    (test,) = [t for t in results_document(result)["tests"] if t["name"] == "On the GPU"]
    assert test["score"] == test["max_score"] == 0 and "status" not in test


def test_the_terminal_shows_a_failed_check_s_hint_as_the_page_does(capsys):
    """A float32 forward carried "values agree only to float32 precision" on the page; the terminal
    showed only "18 of 90 values differ", since it printed a diagnosis only for a catalogued mistake."""
    from grader.cli.printing import print_summary
    from grader.report.results import AssignmentResult, CheckResult, SubmissionResult

    hint = "your values agree only to float32 precision: compute in float64"
    failed = CheckResult(name="f", title="Forward", points=0, max_points=10, status="failed", message="values differ")
    failed.diagnosis = hint
    ok = CheckResult(name="a", title="Step", points=90, max_points=90, status="passed")
    assignment = AssignmentResult(id="a1", title="a1", status="graded", max_score=100, mode="full", checks=[ok, failed])
    assignment.total()
    result = SubmissionResult(student="s", submission="s", content_hash="h", assignments=[assignment])
    print_summary(result, verbose=True)
    assert hint in capsys.readouterr().out


def test_an_assignment_with_no_check_judged_is_a_grader_error_not_a_zero(run_grade, tmp_path):
    """A new instructor's probe lacked a parameter its checks pass: the reference failed on every probe,
    every check was "not counted", and `grade submit` printed 0 / 100 with exit status 0."""
    import json

    course = tmp_path / "course"
    shutil.copytree(REPO / "assignments" / A1, course / "assignments" / A1)
    shutil.copytree(REPO / "solutions" / A1, course / "solutions" / A1)
    probes = course / "assignments" / A1 / "probes.py"  # every probe needs a parameter no check passes
    probes.write_text(re.sub(r"^def (\w+)\(student, ", r"def \1(student, needed, ", probes.read_text(), flags=re.M))
    shutil.copytree(SOLUTIONS / A1, tmp_path / "alice" / A1)
    out = tmp_path / "out"
    process = run_grade("submit", str(tmp_path / "alice"), "--course", str(course), "--out", str(out), expect=1)
    result = json.loads((out / "feedback.json").read_text())
    (assignment,) = result["assignments"]
    assert assignment["status"] == "error" and "could not judge any check" in assignment["message"], assignment
    assert "not your fault" in assignment["message"] and "Traceback" not in process.stderr
    assert "does not give needed" in assignment["message"]  # the probe's, not the student's signature
    assert all(not c["counted"] and "compare its signature" not in c["message"] for c in assignment["checks"])
