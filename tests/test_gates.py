"""Gated checks (grader/judging/gates.py): training judged on data students have earns at most what
training on a task they have never seen earned, and nothing is lowered by the grader's own failures."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from grader.judging.gates import apply_gates
from grader.judging.plugin import collect_checks
from grader.report.results import CheckResult


def check(name: str, points: float, max_points: float, status: str = "", counted: bool = True) -> CheckResult:
    if not status:
        status = "passed" if points >= max_points else "partial" if points > 0 else "failed"
    return CheckResult(
        name=name,
        title=f"{name} title",
        points=points,
        max_points=max_points,
        status=status,
        message="judged alone",
        counted=counted,
    )


def test_a_gated_check_earns_at_most_its_gate_s_share():
    public, gate = check("test_public", 9, 9), check("test_hidden_task", 0, 8)
    apply_gates([public, gate], {"test_public": "test_hidden_task"})
    assert (public.points, public.status) == (0, "failed")
    assert public.message.startswith("Counted only as far as your code also learns a task it has never seen")
    assert '"test_hidden_task title" earned none of its points' in public.message
    assert public.message.endswith("Judged alone: judged alone")


def test_a_partly_learnt_hidden_task_keeps_that_share():
    public, gate = check("test_public", 10, 10), check("test_hidden_task", 5, 20)
    apply_gates([public, gate], {"test_public": "test_hidden_task"})
    assert (public.points, public.status) == (2.5, "partial") and "earned 25% of its points" in public.message


def test_a_parametrized_gate_counts_all_its_cases():
    public = check("test_public", 8, 8)
    cases = [check("test_task[a]", 4, 4), check("test_task[b]", 0, 4)]
    apply_gates([public, *cases], {"test_public": "test_task"})
    assert public.points == 4


def test_nothing_is_lowered_where_the_gate_was_not_judged_or_earned_as_much():
    lower = check("test_lower", 2, 8)  # already below its gate's share: unchanged, message too
    grader_error = check("test_public", 9, 9)
    gates = {"test_lower": "test_task", "test_public": "test_broken", "test_alone": "test_absent"}
    alone = check("test_alone", 5, 5)  # the student copy: no hidden checks, judged alone
    results = [lower, grader_error, alone, check("test_task", 4, 8), check("test_broken", 0, 8, "error", counted=False)]
    apply_gates(results, gates)
    assert (lower.points, lower.message) == (2, "judged alone")
    assert (grader_error.points, grader_error.status) == (9, "passed")
    assert (alone.points, alone.status) == (5, "passed")


def test_a_gate_that_ended_in_an_error_the_student_may_have_caused_counts_at_its_zero():
    """A verifier that failed on the student's weights (or a grader failure their process claimed) is
    an error counted at 0: turning the hidden task into an error must not lift the public one."""
    public = check("test_public", 9, 9)
    apply_gates([public, check("test_hidden_task", 0, 8, "error", counted=True)], {"test_public": "test_hidden_task"})
    assert (public.points, public.status) == (0, "failed")


def _course(tmp_path: Path, hidden: str) -> SimpleNamespace:
    checks = tmp_path / "checks"
    checks.mkdir()
    (checks / "test_public.py").write_text(
        "from grader.checks import gated_by, points\n\n"
        "@points(5)\n@gated_by('test_hidden_task')\ndef test_public():\n    pass\n"
    )
    (checks / "test_hidden.py").write_text(hidden)
    return SimpleNamespace(
        id="a9_demo", checks_dir=checks, spec_dir=tmp_path, check_files=lambda: sorted(checks.glob("test_*.py"))
    )


def test_a_gate_naming_no_check_is_an_authoring_error_where_hidden_checks_are_present(tmp_path):
    typo = "from grader.checks import hidden\n\npytestmark = hidden\n\ndef test_hidden_tsak():\n    pass\n"
    checks, problems = collect_checks(_course(tmp_path, typo))  # type: ignore[arg-type]
    assert {c.name for c in checks} == {"test_public", "test_hidden_tsak"}
    assert problems == ["test_public: @gated_by names 'test_hidden_task', which is no check"]


def test_a_gate_that_exists_is_no_problem(tmp_path):
    fine = "from grader.checks import hidden\n\npytestmark = hidden\n\ndef test_hidden_task():\n    pass\n"
    _, problems = collect_checks(_course(tmp_path, fine))  # type: ignore[arg-type]
    assert problems == []
