"""Class insight: copied pairs in both similarity views, and unexplained mistakes grouped with an entry to add."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from conftest import REPO, SOLUTIONS, TEMPLATE, write_submission
from test_a1_srn import student_srn

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

A1 = "a1_srn_numpy"
REFERENCE = (SOLUTIONS / A1 / "srn.py").read_text()
STUB = (TEMPLATE / A1 / "srn.py").read_text()


def renamed(source: str) -> str:
    """The same code with its local variables renamed (what a copier does first)."""
    for old, new in (("dh_next", "carry"), ("dz", "delta"), ("grads", "result"), ("h_init", "first")):
        source = re.sub(rf"\b{old}\b", new, source)
    return source


def reformatted(source: str) -> str:
    """Other layout, same tokens: blank lines doubled, spaces after commas dropped."""
    return "\n\n".join(line.replace(", ", ",") for line in source.splitlines())


def without_b_ih(source: str) -> str:  # uncatalogued (missing_b_hh is the other bias)
    changed = source.replace("x_t @ W_ih.T + b_ih + h_prev", "x_t @ W_ih.T + h_prev")
    assert changed != source
    return changed


def wrong_tanh_grad(source: str) -> str:  # uncatalogued, in the independent implementation's backward
    changed = source.replace("dpre = dh * (1 - hs[t] ** 2)", "dpre = dh * (1 - hs[t])")
    assert changed != source
    return changed


def _course(tmp_path: Path) -> Path:
    course = tmp_path / "course"
    shutil.copytree(REPO / "assignments" / A1, course / "assignments" / A1)
    shutil.copytree(SOLUTIONS / A1, course / "solutions" / A1)
    shutil.copytree(TEMPLATE / A1, course / "student_template" / A1)
    return course


def _insight(course: Path, grades: Path):
    from grader.course.model import load_course
    from grader.report.insight import class_insight
    from grader.report.results import load_results

    found = class_insight(load_course(course), grades, load_results(grades), [A1])
    return found[0] if found else None


@pytest.mark.slow
def test_copied_pairs_rank_first_in_both_views_and_stubs_are_not_flagged(run_grade, tmp_path):
    course = _course(tmp_path)
    copied = without_b_ih(REFERENCE)
    independent = wrong_tanh_grad(student_srn())
    students = {
        "alice": copied,
        "bob": renamed(copied),
        "carol": independent,
        "dave": reformatted(independent),
        "erin": STUB,
        "frank": STUB,
        "grace": student_srn(),  # correct, written independently
    }
    for name, code in students.items():
        write_submission(tmp_path / "class" / name, {"srn.py": code})
    grades = tmp_path / "grades"
    run_grade("report", str(tmp_path / "class"), "--course", str(course), "--out", str(grades))
    for name in students:
        result = json.loads((grades / "students" / name / "feedback.json").read_text())
        assert result["assignments"][0]["status"] == "graded", (name, result)

    insight = _insight(course, grades)
    copies = {frozenset(("alice", "bob")), frozenset(("carol", "dave"))}
    code = [frozenset((item["pair"].first, item["pair"].second)) for item in insight.code_pairs]
    assert set(code[:2]) == copies, code
    outputs = [frozenset((pair.first, pair.second)) for pair in insight.output_pairs]
    assert set(outputs[:2]) == copies, insight.output_pairs
    flagged = {name for pair in code + outputs for name in pair}
    assert not {"erin", "frank"} & flagged, "stub-only submissions are not similar to each other"
    assert all(pair.only_theirs > 0 for pair in insight.output_pairs[:2])
    assert not any({"erin", "frank"} & set(group.students) for group in insight.groups), "a stub is no mistake"

    overview = (grades / "index.html").read_text()
    assert "Similar code" in overview and "Identical wrong outputs" in overview
    link = insight.code_pairs[0]["link"]
    assert f'href="{link}"' in overview
    page = (grades / link).read_text()
    assert 'class="shared"' in page and "never changes a grade" in page


@pytest.mark.slow
def test_six_students_sharing_an_uncatalogued_mistake_form_one_group_and_its_entry_names_it(run_grade, tmp_path):
    course = _course(tmp_path)
    mistake = REFERENCE.replace("return 1.0 - h * h", "return 1.0 - h")
    assert mistake != REFERENCE
    variants = [mistake, renamed(mistake), mistake.replace("# BEGIN SOLUTION", "# my code"), mistake + "\n# done\n"]
    six = [f"s{i}" for i in range(1, 7)]
    for index, name in enumerate(six):
        write_submission(tmp_path / "class" / name, {"srn.py": variants[index % len(variants)]})
    write_submission(tmp_path / "class" / "other", {"srn.py": without_b_ih(REFERENCE)})
    write_submission(tmp_path / "class" / "right", {"srn.py": REFERENCE})
    grades = tmp_path / "grades"
    run_grade("report", str(tmp_path / "class"), "--course", str(course), "--out", str(grades))

    insight = _insight(course, grades)
    assert insight is not None and insight.groups
    group = insight.groups[0]
    assert group.students == six, insight.groups
    assert all(len(g.students) < 6 for g in insight.groups[1:])
    assert "-        return 1.0 - h * h" in group.diff and "+        return 1.0 - h\n" in group.diff
    assert "backward" in group.entry and "told apart by: backward(" in group.entry
    assert "6 students fail" in (grades / "index.html").read_text()

    catalog = course / "assignments" / A1 / "mistakes.toml"
    entry = group.entry.replace("TODO: what the code does wrong, in one line", "tanh's derivative taken as 1 - h")
    tomllib.loads(entry)  # ready to paste: valid TOML as it is
    catalog.write_text(catalog.read_text() + "\n" + entry)
    run_grade("check", "--course", str(course))  # the catalogue accepts it: every patch applies to the reference
    run_grade("rejudge", str(grades), "--course", str(course))
    for name in six:
        result = json.loads((grades / "students" / name / "feedback.json").read_text())
        named = [c for c in result["assignments"][0]["checks"] if c["mistake"] == "unexplained_1"]
        assert named, (name, [(c["name"], c["status"], c["mistake"]) for c in result["assignments"][0]["checks"]])
        page = (grades / "students" / name / "feedback.html").read_text()
        assert "tanh&#39;s derivative taken as 1 - h" in page or "tanh's derivative taken as 1 - h" in page
    after = _insight(course, grades)
    assert after is None or all(set(six) - set(g.students) for g in after.groups)


def test_patch_skeleton_turns_the_reference_into_the_code():
    from grader.report.insight import mistake_entry, patch_skeleton

    code = renamed(REFERENCE.replace("return 1.0 - h * h", "return 1.0 - h"))
    patches = patch_skeleton(REFERENCE, code)
    result = REFERENCE
    for find, replace in patches:
        assert REFERENCE.count(find) == 1
        result = result.replace(find, replace)
    assert result == code
    entry = tomllib.loads(mistake_entry("m", REFERENCE, code, "srn", ["backward"], ["backward(T=2)"], ["a", "b"]))
    assert entry["mistake"][0]["probes"] == ["backward"] and len(entry["mistake"][0]["patch"]) == len(patches)


def test_insight_settings_come_from_course_toml(tmp_path):
    from grader.course.model import CourseError, load_course
    from grader.report.insight import InsightSettings

    course = _course(tmp_path)
    (course / "course.toml").write_text("[insight]\ncode_threshold = 0.8\ntop = 3\n")
    settings = InsightSettings.of(load_course(course))
    assert settings.code_threshold == 0.8 and settings.top == 3
    (course / "course.toml").write_text("[insight]\ncode_treshold = 0.8\n")
    with pytest.raises(CourseError, match="code_treshold"):
        InsightSettings.of(load_course(course))


def test_stored_answers_are_bounded_and_keep_every_bit():
    import numpy as np

    from grader.judging.replay import NotRecorded, Recording, ReplayWorker

    recording = Recording("p", "v")
    small = np.array([0.1, 1 / 3], dtype=np.float64)
    big = np.random.default_rng(0).random(200_000)
    recording.check = "test_a"
    recording.student_call("step", {"B": 1}, 0, lambda: {"h": small})
    recording.student_call("forward", {"B": 2}, 0, lambda: {"hs": big})
    text = recording.encode(limit=100_000)
    assert 0 < len(text) <= 100_000
    replayed = ReplayWorker(Recording.decode(text))
    assert replayed.call("step", {"B": 1}, seed=0)["h"].tobytes() == small.tobytes()
    with pytest.raises(NotRecorded):
        replayed.call("forward", {"B": 2}, seed=0)  # too large to keep: a regrade
    assert replayed.misses and "too large" in replayed.misses[0]
    whole = Recording.decode(recording.encode())
    assert whole.calls[1]["data"]["hs"].tobytes() == big.tobytes() and whole.calls[1]["check"] == "test_a"


def test_unreadable_stored_answers_and_vanished_submissions_are_left_out(tmp_path):
    from grader.course.model import load_course
    from grader.report.insight import class_insight
    from grader.report.results import AssignmentResult, CheckResult, SubmissionResult

    def result(student: str, recorded: str) -> SubmissionResult:
        check = CheckResult("test_x", "x", 0.0, 5.0, "failed", visibility="hidden")
        assignment = AssignmentResult(A1, "a1", "graded", source="srn.py", checks=[check], recorded=recorded)
        return SubmissionResult(student, str(tmp_path / "gone" / student), "hash", assignments=[assignment])

    results = [result("a", "not base64 at all!"), result("b", "eJzLSM3JyVcozy/KSQEAGgQEXQ=="), result("c", "")]
    assert class_insight(load_course(REPO), tmp_path, results, [A1]) == []


def test_no_two_pairs_share_a_page():
    """A hostile round: the pairs (x--y, z) and (x, y--z) both linked x--y--z.html, which showed one
    pair's code under both rows. Ids are what safe_id makes of any folder name."""
    from grader.intake.students import safe_id
    from grader.report.insight import pair_link

    names = ["x--y", "z", "x", "y--z", "a~b", "a", "b~c", "x-", "-y"]
    ids = sorted({safe_id(name) for name in names})
    pairs = [(first, second) for first in ids for second in ids if first < second]
    assert len({pair_link("a1", *pair) for pair in pairs}) == len(pairs)
