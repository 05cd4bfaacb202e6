"""`grade rejudge`: changed points and tolerances applied to the stored probe answers, no student code run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import REPO, SOLUTIONS, TEMPLATE, write_submission

A1, A2 = "a1_srn_numpy", "a2_rnncell_ohlol"
MODULE = "ohlol.py"


def _course(tmp_path: Path) -> Path:
    course = tmp_path / "course"
    shutil.copytree(REPO / "assignments" / A2, course / "assignments" / A2)
    shutil.copytree(REPO / "solutions" / A2, course / "solutions" / A2)
    # The loop student is stopped as stuck after 1 s of its loop instead of the 3 s limit of its call: the
    # replay of a stopped call is what is tested here, not the watchdog (test_sandbox, test_student_workflow).
    toml = course / "assignments" / A2 / "assignment.toml"
    toml.write_text(toml.read_text().replace("[limits]\n", "[limits]\nstuck_after_s = 1\n", 1))
    return course


def _class(root: Path) -> Path:
    """Correct, a catalogued mistake, a forward step off by 3e-5 (fails rtol 1e-5, passes 1e-3), a stub, an
    endless loop in predict and a module that ends its process when imported."""
    from grader.course.mistakes import load_catalog

    solution = (SOLUTIONS / A2 / MODULE).read_text()
    catalog = load_catalog(REPO / "assignments" / A2 / "mistakes.toml")
    mutated = catalog.get("zero_grad_forgotten").mutate({MODULE: solution.encode()}, "ohlol")[MODULE].decode()
    close = solution.replace("return self.rnncell(x_t, hidden)", "return self.rnncell(x_t, hidden) * (1 + 3e-5)")
    assert close != solution
    write_submission(root / "correct", {MODULE: solution})
    write_submission(root / "mistake", {MODULE: mutated})
    write_submission(root / "close", {MODULE: close})
    write_submission(root / "stub", {MODULE: (TEMPLATE / A2 / MODULE).read_text()})
    loop = solution.replace(
        "    with torch.no_grad():\n        hidden = model.init_hidden()", "    while True:\n        pass"
    )
    assert loop != solution
    write_submission(root / "loop", {MODULE: loop})  # predict never returns: timeouts, then "not run again"
    write_submission(root / "crash", {MODULE: "import os\nos._exit(3)\n" + solution})
    return root


def _checks(grades: Path) -> dict[str, dict[str, tuple]]:
    found = {}
    for path in sorted((grades / "students").glob("*/feedback.json")):
        result = json.loads(path.read_text())
        found[path.parent.name] = {
            check["name"]: (
                check["points"],
                check["max_points"],
                check["status"],
                check["message"],
                check["mistake"],
                check["diagnosis"],
            )
            for assignment in result["assignments"]
            for check in assignment["checks"]
        } | {"score": result["score"]}
    return found


@pytest.mark.slow
def test_rejudge_equals_a_full_regrade_and_runs_no_student_code(run_grade, tmp_path, monkeypatch, cache_dir):
    from grader.course.model import load_course
    from grader.grading import rejudge
    from grader.sandbox import submission_process

    course = _course(tmp_path)
    submissions = _class(tmp_path / "class")
    first = tmp_path / "grades"
    run_grade("report", str(submissions), "--course", str(course), "--out", str(first))
    before = _checks(first)
    assert before["close"]["test_forward_step"][2] == "failed"
    stored = json.loads((first / "students" / "correct" / "feedback.json").read_text())
    assert stored["assignments"][0]["recorded"], "the probe answers are stored with the result"

    # The instructor changes one check's points and the assignment's tolerance.
    public = course / "assignments" / A2 / "checks" / "test_public.py"
    source = public.read_text()
    assert "@points(5)\ndef test_encode" in source
    public.write_text(source.replace("@points(5)\ndef test_encode", "@points(8)\ndef test_encode"))
    toml = course / "assignments" / A2 / "assignment.toml"
    text = toml.read_text()
    assert "[tolerance]\nrtol = 1e-5" in text
    toml.write_text(text.replace("[tolerance]\nrtol = 1e-5", "[tolerance]\nrtol = 1e-3"))

    started = tmp_path / "a-sandbox-was-used"  # a file: the forked processes that rejudge say so too

    def no_student_code(*args, **kwargs):
        started.touch()
        raise AssertionError("rejudge started a student's process")

    monkeypatch.setattr(submission_process.SubmissionProcess, "__init__", no_student_code)
    monkeypatch.setattr("grader.sandbox.Sandbox.worker", no_student_code)
    monkeypatch.setattr("grader.sandbox.Sandbox.start", no_student_code)  # no sandbox at all: answers are cached
    monkeypatch.setenv("GRADER_CACHE_DIR", str(cache_dir))
    report = rejudge.rejudge_class(load_course(course), first, workers=2)  # forked processes: patched too
    assert not started.exists(), "no student code runs in a rejudge, no sandbox is started"
    assert not report.needs_regrade and not report.skipped, report
    assert sorted(report.unchanged + report.rejudged) == ["close", "correct", "crash", "loop", "mistake", "stub"]
    changed = {(c.student, c.check): c for c in report.changes}
    assert changed[("correct", "test_encode")].old == 5 and changed[("correct", "test_encode")].new == 8
    assert "worth 8 points (was 5)" in changed[("correct", "test_encode")].why
    assert (
        changed[("close", "test_forward_step")].new == 10
        and "failed -> passed" in changed[("close", "test_forward_step")].why
    )
    assert ("stub", "test_encode") not in changed  # 0 of 5, 0 of 8: the student's points did not move
    monkeypatch.undo()

    regraded = tmp_path / "regraded"
    run_grade("report", str(submissions), "--course", str(course), "--out", str(regraded))
    assert _checks(first) == _checks(regraded)
    assert _checks(first)["mistake"] == {**before["mistake"], **_checks(first)["mistake"]}


@pytest.mark.slow
def test_a_changed_probe_call_needs_a_regrade_and_resume_regrades_only_it(run_grade, tmp_path):
    course = tmp_path / "course"  # a1's: the same replay as a2's, without a torch start-up
    shutil.copytree(REPO / "assignments" / A1, course / "assignments" / A1)
    shutil.copytree(REPO / "solutions" / A1, course / "solutions" / A1)
    submissions = tmp_path / "class"
    write_submission(submissions / "alice", {"srn.py": (SOLUTIONS / A1 / "srn.py").read_text()})
    write_submission(submissions / "bob", {"srn.py": "def rnn_step(x:\n"})  # graded without running it
    grades = tmp_path / "grades"
    run_grade("report", str(submissions), "--course", str(course), "--out", str(grades))

    public = course / "assignments" / A1 / "checks" / "test_public.py"
    source = public.read_text()
    call = 'judge.compare("output", T=4, B=2, H=5, O=3, seed=13)'
    assert call in source
    public.write_text(source.replace(call, call.replace("T=4", "T=6")))
    shutil.copytree(grades, tmp_path / "grades-quiet")
    quiet = run_grade("rejudge", str(tmp_path / "grades-quiet"), "--course", str(course), "-q")
    assert "need a regrade: alice" in quiet.stdout and "needs a regrade: alice:" not in quiet.stdout, quiet.stdout
    process = run_grade("rejudge", str(grades), "--course", str(course))
    assert "needs a regrade: alice" in process.stdout and "--resume" in process.stdout, process.stdout
    report = json.loads((grades / "rejudge.json").read_text())
    assert sorted(report["needs_regrade"]) == ["alice"], report  # bob's syntax error asked no probe: replayed
    assert any("output" in why for why in report["needs_regrade"]["alice"])
    alice = json.loads((grades / "students" / "alice" / "feedback.json").read_text())
    assert alice["content_hash"] == "" and any("Needs a regrade" in note for note in alice["notes"])

    process = run_grade("report", str(submissions), "--course", str(course), "--out", str(grades), "--resume")
    assert "1 graded" in process.stdout and "1 skipped" in process.stdout, process.stdout


def test_a_recording_over_its_cap_leaves_out_the_largest_answers_compressing_few_times(monkeypatch):
    """Huge answers (a student's million-point curves) are left out largest first until the stored text
    fits, their keys kept so a replay asks for a regrade; each answer is measured once and several go per
    compression (one compression per answer left out made such a student cost the grader 6.5 s)."""
    import numpy as np

    from grader.judging import replay

    rng = np.random.default_rng(0)
    recording = replay.Recording(probes_hash="p", verify_hash="v")
    sizes = [4, 300_000, 8, 250_000, 16, 200_000, 150_000, 100_000, 32, 50_000]  # floats per answer
    for i, size in enumerate(sizes):
        recording.check = f"check_{i}"
        recording.student_call("probe", {"i": i}, 0, lambda size=size: {"losses": rng.standard_normal(size)})
    recording.verifier["measure"] = {"ok": True, "data": {"accuracy": 1.0}}
    packs = []
    real = replay.pack_measured
    monkeypatch.setattr(replay, "pack_measured", lambda document: packs.append(1) or real(document))

    limit = 2 * 2**20  # characters: room for about 200,000 incompressible floats
    text = recording.encode(limit)
    assert 0 < len(text) <= limit and len(packs) <= 3, len(packs)
    stored = replay.Recording.decode(text)
    left_out = {c["check"] for c in stored.calls if c.get("left_out")}
    kept = {c["check"]: len(c["data"]["losses"]) for c in stored.calls if "data" in c}
    assert left_out and set(kept) | left_out == {f"check_{i}" for i in range(len(sizes))}
    assert min(sizes[int(c.split("_")[1])] for c in left_out) >= max(kept.values())  # the largest went first
    assert {"check_0", "check_2", "check_4", "check_8"} <= set(kept) and stored.verifier["measure"]["ok"]
    assert [c["key"] for c in stored.calls] == [c["key"] for c in recording.calls]  # every key kept, in order


def test_a_rejudges_verifier_runs_in_the_sandbox_a_grading_uses():
    """When verify.py changed, rejudge measures the weights the students' processes sent again: an
    isolation round found that verifier running as root with no sandbox (the replaying slot was built
    unisolated, since it runs no student code)."""
    from grader.course.model import load_course
    from grader.grading.rejudge import ReplaySlot
    from grader.grading.slot import GradeOptions
    from grader.sandbox import choose

    slot = ReplaySlot(load_course(REPO), GradeOptions())
    assert slot.isolation == choose(GradeOptions().sandbox)
