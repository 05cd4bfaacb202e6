"""The instructor's class run, end to end through the CLI (issue 13 items 3-5): missing work stays missing,
class statistics count graded work only, the overview leads with what needs attention, every student has
a page to send back that never shows a hidden check's expected values, and `grade export` zips them."""

from __future__ import annotations

import json
import re
import shutil
import zipfile
from pathlib import Path

import pytest
from conftest import REPO, SOLUTIONS, TEMPLATE, write_submission
from markupsafe import escape

A1 = "a1_srn_numpy"
REFERENCE = (SOLUTIONS / A1 / "srn.py").read_text()
LIMITS = ("--limit", "probe_timeout_s=1", "--limit", "submission_timeout_s=4")
IN_RNN_STEP = "    z = x_t @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh"
assert IN_RNN_STEP in REFERENCE

CLASS: dict[str, dict[str, str]] = {
    "alice": {"srn.py": REFERENCE},
    "bob": {"srn.py": REFERENCE.replace("+ h_prev @ W_hh.T + b_hh", "+ h_prev @ W_hh.T")},
    "carol-syntax": {"srn.py": REFERENCE + "\ndef broken(:\n"},
    "dave-loops": {"srn.py": REFERENCE.replace(IN_RNN_STEP, "    while True:\n        pass\n" + IN_RNN_STEP, 1)},
    "ivan-crashes": {"srn.py": REFERENCE.replace(IN_RNN_STEP, "    import os\n    os._exit(3)\n" + IN_RNN_STEP, 1)},
    "judy-hogs-memory": {
        "srn.py": REFERENCE.replace(IN_RNN_STEP, "    hog = np.ones((2**20, 2**20))\n" + IN_RNN_STEP, 1)
    },
    "erin-empty": {},
    "frank-misnamed": {"SRN_final.py": REFERENCE},
    "gina-other-work": {"ohlol.py": (SOLUTIONS / "a2_rnncell_ohlol" / "ohlol.py").read_text()},
    "hank-stub": {"srn.py": (TEMPLATE / A1 / "srn.py").read_text()},
}
GRADED = {"alice", "bob", "carol-syntax", "dave-loops", "ivan-crashes", "judy-hogs-memory", "hank-stub"}
MISSING = {"erin-empty", "frank-misnamed", "gina-other-work"}


def make_course(root: Path) -> Path:
    """A copy of the course holding a1 only, so a test can write its course.toml."""
    shutil.copytree(REPO / "assignments" / A1, root / "assignments" / A1)
    shutil.copytree(SOLUTIONS / A1, root / "solutions" / A1)
    return root


@pytest.fixture(scope="module")
def graded(tmp_path_factory, run_grade):
    course = make_course(tmp_path_factory.mktemp("course"))
    root = tmp_path_factory.mktemp("class")
    for name, files in CLASS.items():
        (root / name).mkdir()
        write_submission(root / name, files)
    out = tmp_path_factory.mktemp("grades")
    report = ("report", str(root), "--out", str(out), "-a", A1, "--course", str(course), "--workers", "2", *LIMITS)
    process = run_grade(*report)
    results = {name: json.loads((out / "students" / name / "feedback.json").read_text()) for name in CLASS}
    return {"course": course, "root": root, "out": out, "results": results, "process": process, "report": report}


def overview(graded) -> str:
    return (graded["out"] / "index.html").read_text()


def section(page: str, start: str) -> str:
    """The HTML from ``start`` to the end of the section that holds it."""
    part = page[page.index(start) :]
    return part[: part.index("</section>")]


def student_page(graded, name: str) -> str:
    return (graded["out"] / "students" / name / "feedback.student.html").read_text()


@pytest.mark.slow
def test_missing_work_stays_missing_with_the_reason(graded):
    results = graded["results"]
    for name in MISSING:
        result = results[name]
        assert result["status"] == "empty", (name, result["status"])
        (assignment,) = result["assignments"]
        assert assignment["status"] == "missing" and assignment["checks"] == [], (name, assignment)
        assert "no srn.py or srn.ipynb found" in assignment["message"]
    assert "(found: SRN_final.py)" in results["frank-misnamed"]["assignments"][0]["message"]
    assert "(found: ohlol.py)" in results["gina-other-work"]["assignments"][0]["message"]
    assert "erin-empty is empty" in results["erin-empty"]["message"]
    assert "(erin-empty is empty)" in results["erin-empty"]["assignments"][0]["message"]
    for name in GRADED:  # handed in, even the untouched stub: graded, whatever the score
        assert results[name]["status"] == "graded" and results[name]["assignments"][0]["status"] == "graded", name
    page = graded["out"] / "students" / "frank-misnamed" / "feedback.html"
    assert "Nothing was graded for this assignment" in page.read_text()


@pytest.mark.slow
def test_statistics_count_graded_work_only_and_say_how_much_is_missing(graded):
    scores = [graded["results"][name]["assignments"][0]["score"] for name in sorted(GRADED)]
    mean = sum(scores) / len(scores)
    assert mean != pytest.approx(sum(scores) / len(CLASS)), "the class must not make the two means equal"
    stats = section(overview(graded), f'id="{A1}"')
    assert f"{len(GRADED)} graded · {len(MISSING)} missing" in stats
    assert f"mean {mean:.2f}".rstrip("0").rstrip(".") in stats
    standing = section(overview(graded), "<h1>Class overview</h1>")
    cells = re.findall(r'<td class="num[^"]*">([^<]*)</td>', standing)
    assert cells[:2] == [str(len(GRADED)), str(len(MISSING))], cells


@pytest.mark.slow
def test_overview_leads_with_what_needs_attention(graded):
    page = overview(graded)
    assert page.index("Needs attention") < page.index('id="students"') < page.index(f'id="{A1}"')
    expected = {
        "Timed out": ("dave-loops", "did not finish"),
        "Crashed": ("ivan-crashes", ""),
        "Memory limit": ("judy-hogs-memory", "memory"),
        "Could not be imported": ("carol-syntax", "syntax error"),
        "Missing work": ("frank-misnamed", "SRN_final.py"),
    }
    for heading, (student, reason) in expected.items():
        group = section(page, f"<h3>{heading} ")
        link = f'href="students/{student}/feedback.html#{A1}"'
        assert link in group and f">{student}</a>" in group, (heading, group[:2000])
        assert reason in group, (heading, group[:2000])
        assert ">alice</a>" not in group and ">bob</a>" not in group, heading
    missing = section(page, "<h3>Missing work ")
    assert all(f">{name}</a>" in missing for name in MISSING)


@pytest.mark.slow
def test_students_table_links_every_page_and_shows_missing_as_missing(graded):
    table = section(overview(graded), 'id="students"')
    for name in CLASS:
        assert f'href="students/{name}/feedback.html"' in table, name
        assert f'href="students/{name}/feedback.student.html"' in table, name
        assert (graded["out"] / "students" / name / "feedback.student.html").is_file(), name
    rows = {re.search(r">([\w-]+)</a>", row).group(1): row for row in table.split("<tr>")[2:]}
    for name in MISSING:
        assert f'feedback.html#{A1}">missing</a>' in rows[name], rows[name]
    assert f'feedback.html#{A1}">100</a>' in rows["alice"]


@pytest.mark.slow
def test_per_check_statistics_mark_hidden_checks(graded):
    checks = graded["results"]["bob"]["assignments"][0]["checks"]
    assert {c["visibility"] for c in checks} == {"visible", "hidden"}
    stats = section(overview(graded), f'id="{A1}"')
    for check in checks:
        cell = re.search(
            rf'<td>{re.escape(str(escape(check["title"])))}( <span class="tag hidden">hidden</span>)?</td>', stats
        )
        assert cell is not None, check["title"]
        assert bool(cell.group(1)) == (check["visibility"] == "hidden"), check["title"]


def hidden_values(result: dict) -> set[str]:
    """What a hidden check of ``result`` showed the instructor that came from the reference: expected cells
    of its tables, its messages and diagnoses (largest errors, where the error starts)."""
    values = set()
    for assignment in result["assignments"]:
        visible_text = json.dumps([c for c in assignment["checks"] if c["visibility"] != "hidden"])
        for check in assignment["checks"]:
            if check["visibility"] != "hidden":
                continue
            table = check["details"].get("table")
            if table:
                column = table["columns"].index("expected")
                values |= {row[column] for row in table["rows"] if len(row[column]) >= 5}
            values |= set(re.findall(r"largest absolute error [\d.e+-]+", check["message"]))
        values = {value for value in values if value not in visible_text}
    return values


@pytest.mark.slow
def test_student_page_never_shows_a_hidden_checks_expected_values(graded):
    for name in ("bob", "dave-loops", "carol-syntax"):
        result = graded["results"][name]
        instructor = (graded["out"] / "students" / name / "feedback.html").read_text()
        student = student_page(graded, name)
        secrets = hidden_values(result)
        if name == "bob":
            assert len(secrets) > 20  # the instructor's page shows them: the test can fail
        for secret in secrets:
            assert secret in instructor, secret
            assert secret not in student, (name, secret)
        assert "Hidden checks show only their name and your points on them." in student
        for check in result["assignments"][0]["checks"]:
            assert str(escape(check["title"])) in student  # every check is listed, by name
    bob = student_page(graded, "bob")
    assert "The recurrent bias b_hh is missing" in bob  # visible checks keep the mistake they name
    instructor = (graded["out"] / "students" / "bob" / "feedback.html").read_text()
    assert bob.count('<table class="values">') == 0 < instructor.count('<table class="values">')


@pytest.mark.slow
def test_student_page_never_shows_an_official_questions_expected_values(graded):
    """Official questions are drawn from the course's secret, the same for every student and every
    resubmission: a hostile round read the reference's loss curve off three of its own pages (6 epochs a
    page) and returned it in a fourth (a2 60 where the work earns 50). A public check failed by comparing
    with the expected values keeps its points and the mistake it names, not the values."""
    result = graded["results"]["bob"]
    public = [c for c in result["assignments"][0]["checks"] if c["visibility"] != "hidden" and c["status"] != "passed"]
    expected = set()
    for check in public:
        table = check["details"].get("table")
        if table:
            column = table["columns"].index("expected")
            expected |= {row[column] for row in table["rows"] if len(row[column]) >= 5}
        expected |= set(re.findall(r"largest absolute error [\d.e+-]+", check["message"]))
    instructor = (graded["out"] / "students" / "bob" / "feedback.html").read_text()
    student = student_page(graded, "bob")
    assert len(expected) > 5 and all(value in instructor for value in expected)  # the test can fail
    assert not [value for value in expected if value in student]
    assert student.count("on the official question") == len(public)
    assert "`grade submit` there shows where your result differs" in student


def test_the_student_copy_shows_its_own_questions_in_full():
    """Where the questions are the ones the student's copy ships (mode "public"), nothing is held back."""
    from grader.report.handback import Handback, student_version
    from grader.report.results import AssignmentResult, CheckResult, SubmissionResult

    table = {"columns": ["position", "yours", "expected"], "rows": [["0", "1.0", "2.0"]]}
    check = CheckResult("test_a", "a", 0, 5, "failed", "x: expected 2.0", details={"table": table, "compared": {}})
    for mode, shown in (("public", True), ("full", False)):
        assignment = AssignmentResult("a1", "A1", "graded", mode=mode, checks=[check])
        [handed] = student_version(SubmissionResult("s", "s", "h", assignments=[assignment]), Handback()).assignments
        assert ("expected 2.0" in handed.checks[0].message) is shown, mode
        assert ("table" in handed.checks[0].details) is shown, mode
        assert handed.checks[0].points == 0 and handed.checks[0].status == "failed"


@pytest.mark.slow
def test_an_error_every_check_shares_is_kept_on_hidden_checks(graded):
    """A module that cannot be imported fails every check alike: the public checks show the error, so the
    hidden ones may say it too (and the page can say it once), which tells nothing about their answers."""
    from grader.report.handback import Handback, student_version
    from grader.report.results import SubmissionResult

    carol = student_version(SubmissionResult.from_dict(graded["results"]["carol-syntax"]), Handback())
    messages = {check.message for check in carol.assignments[0].checks}
    assert len(messages) == 1 and "syntax error" in messages.pop()
    bob = student_version(SubmissionResult.from_dict(graded["results"]["bob"]), Handback())
    assert {c.message for c in bob.assignments[0].checks if c.visibility == "hidden"} == {""}


@pytest.mark.slow
def test_export_makes_one_zip_per_student_with_only_their_page(graded, run_grade, tmp_path):
    target = tmp_path / "handback"
    process = run_grade("export", str(graded["out"]), "--out", str(target))
    assert f"Wrote {len(CLASS)} zips" in process.stdout
    assert sorted(p.name for p in target.iterdir()) == sorted(f"{name}.zip" for name in CLASS)
    for name in CLASS:
        with zipfile.ZipFile(target / f"{name}.zip") as archive:
            assert archive.namelist() == [f"{name}/feedback.html"]
            assert archive.read(f"{name}/feedback.html").decode() == student_page(graded, name)


@pytest.mark.slow
def test_course_chooses_how_hidden_checks_are_handed_back(graded, run_grade):
    course_file = graded["course"] / "course.toml"
    report = graded["report"]
    try:
        course_file.write_text('[handback]\nhidden = "everything"\n')
        process = run_grade(*report, "--resume", expect=1)
        assert "[handback] hidden = 'everything' is not one of name-and-points, verdict, full" in process.stderr

        course_file.write_text('[handback]\nhidden = "verdict"\n')
        run_grade(*report, "--resume")
        bob, secrets = student_page(graded, "bob"), hidden_values(graded["results"]["bob"])
        assert "your result differs from the expected one" in bob
        dave = student_page(graded, "dave-loops")
        assert "your code took too long" in dave or "the time budget was spent" in dave
        assert not [secret for secret in secrets if secret in bob]

        course_file.write_text('[handback]\nhidden = "full"\n')
        run_grade(*report, "--resume")
        assert all(secret in student_page(graded, "bob") for secret in secrets)
    finally:
        course_file.unlink(missing_ok=True)
        run_grade(*report, "--resume")
    assert not [secret for secret in secrets if secret in student_page(graded, "bob")]


def test_reference_curves_of_hidden_checks_stay_off_the_student_page():
    from grader.report.handback import Handback, render_student_page
    from grader.report.pages import render_feedback
    from grader.report.results import AssignmentResult, CheckResult, SubmissionResult

    curves = {"your loss": [2.5, 1.25, 0.75], "reference": [2.4817, 1.0393, 0.3141]}

    def check(visibility: str) -> CheckResult:
        return CheckResult(
            f"test_{visibility}",
            f"training converges ({visibility})",
            0.0,
            10.0,
            "failed",
            message="the loss ends at 0.75; the reference's at 0.3141",
            diagnosis="the error starts at epoch 2 (expected 1.0393)",
            visibility=visibility,
            details={"curves": curves, "table": {"columns": ["expected"], "rows": [["1.0393"]]}, "kind": "x"},
        )

    result = SubmissionResult(
        "zoe", "s/zoe", "0", assignments=[AssignmentResult("a2", "ohlol", "graded", checks=[check("hidden")])]
    )
    result.bound()
    assert "1.0393" in render_feedback(result) and "0.3141" in render_feedback(result)
    for mode in ("name-and-points", "verdict"):
        page = render_student_page(result, Handback(mode))
        assert "training converges (hidden)" in page and "0 / 10" in page
        assert "1.0393" not in page and "0.3141" not in page and "<svg" not in page, mode
        assert "0.3141" in render_feedback(result), "the instructor's result is left as it was"
    assert "0.3141" in render_student_page(result, Handback("full"))


def test_attention_lists_what_no_score_shows():
    """Results no small class run produces cheaply: a student stopped at the class's time limit, one whose
    grading failed, an assignment the grader failed on, checks it could not judge, flagged code."""
    from grader.course.model import load_course
    from grader.report.overview import overview_context
    from grader.report.pages import render_overview
    from grader.report.results import AssignmentResult, CheckResult, SubmissionResult

    def graded(student: str, **fields) -> SubmissionResult:
        return SubmissionResult(student, f"s/{student}", "0", assignments=[AssignmentResult(A1, "SRN", **fields)])

    unjudged = CheckResult("test_x", "x", 0.0, 5.0, "error", message="the grader could not run this check")
    untouched = CheckResult(
        "test_y", "y", 0.0, 5.0, "failed", message="not implemented yet", details={"kind": "not_implemented"}
    )
    results = [
        SubmissionResult("tom-slow", "s/tom-slow", "", status="timeout", message="grading took longer than 99 s"),
        SubmissionResult("uma-broke", "s/uma-broke", "", status="error", message="the grading process died"),
        graded("vic", status="error", message="a grader bug, not your fault"),
        graded("wes", status="graded", checks=[unjudged]),
        graded("xia", status="graded", flags=["srn.py, line 3: ctypes"]),
        graded("yan", status="graded", score=80.0),
        graded("zed", status="graded", checks=[untouched, untouched]),  # the stub as handed out
    ]
    context = overview_context(results, load_course(REPO), [A1], "students", student_page="feedback.student.html")
    groups = {g["heading"]: g["rows"] for g in context["attention"]}
    assert [row["student"] for row in groups["Timed out"]] == ["tom-slow"]
    assert [row["student"] for row in groups["Not graded"]] == ["uma-broke"]
    assert [row["student"] for row in groups["Grader errors"]] == ["vic", "wes"]
    assert "could not judge" in groups["Grader errors"][1]["reason"]
    assert [row["student"] for row in groups["Flagged for review"]] == ["xia"]
    assert groups["Grader errors"][0]["link"] == f"students/vic/feedback.html#{A1}"
    assert not any(row["student"] == "yan" for rows in groups.values() for row in rows)
    # a new instructor: an untouched stub scored 0 and was listed nowhere
    assert [row["student"] for row in groups["The stub, unchanged"]] == ["zed"]
    (summary,) = context["assignments"]
    assert (summary.graded, summary.ungraded, summary.missing) == (4, 3, 0)  # wes, xia, yan, zed; tom, uma, vic
    assert summary.mean == pytest.approx(80 / 4)
    context.update(generated="now", isolation={"isolated": True, "description": "test"}, summary="")
    page = render_overview(context)
    assert page.index("Needs attention") < page.index("Timed out") < page.index('id="students"')
    assert 'href="students/tom-slow/feedback.student.html"' in page and ">not graded</a>" in page


def test_an_assignment_nobody_handed_in_is_not_listed_as_missing_work():
    """Graded before a2 is due: nobody's a2 is "missing work" to look at; once someone hands it in, the
    others' absence is."""
    from grader.course.model import load_course
    from grader.report.overview import overview_context
    from grader.report.results import AssignmentResult, SubmissionResult

    A2 = "a2_rnncell_ohlol"

    def student(name: str, *assignments: str) -> SubmissionResult:
        return SubmissionResult(
            name, f"s/{name}", "0", assignments=[AssignmentResult(a, a, "graded") for a in assignments]
        )

    course = load_course(REPO)
    context = overview_context([student("amy", A1), student("ben", A1)], course, [A1, A2], "students")
    assert context["attention"] == [] and context["headers"] == {A1: "a1", A2: "a2"}
    assert [s.missing for s in context["assignments"]] == [0, 2]  # still counted as missing in the statistics
    context = overview_context([student("amy", A1, A2), student("ben", A1)], course, [A1, A2], "students")
    (group,) = context["attention"]
    assert group["heading"] == "Missing work" and [(r["student"], r["assignment"]) for r in group["rows"]] == [
        ("ben", A2)
    ]


def test_student_version_leaves_out_notes_naming_other_students(tmp_path):
    """Two folders that give one id ('bob ' and 'bob'): each page says so to the instructor, never to the
    student, whose hand-back must hold nothing of anyone else."""
    from grader.intake.students import discover
    from grader.report.handback import Handback, student_version
    from grader.report.results import SubmissionResult

    (tmp_path / "bob").mkdir()
    (tmp_path / "bob ").mkdir()
    clash = [student for student in discover(tmp_path) if student.id != "bob"][0]
    assert clash.notes and "'bob'" in clash.notes[0]
    result = SubmissionResult(clash.id, str(clash.path), "0", notes=[*clash.notes, "srn.py was graded"])
    for mode in ("name-and-points", "verdict", "full"):
        assert student_version(result, Handback(mode)).notes == ["srn.py was graded"]
    assert result.notes[0] == clash.notes[0]


def test_what_the_code_printed_during_hidden_checks_is_never_handed_back():
    """Printing carried a hidden task's inputs out (the next submission came with weights prepared for
    it): whatever the [handback] setting, the student version has no output of the hidden checks."""
    from grader.report.handback import Handback, student_version
    from grader.report.results import AssignmentResult, CheckResult, SubmissionResult

    checks = [
        CheckResult("test_public", "public", 5, 5, "passed", duration=1.5),
        CheckResult("test_hidden", "hidden", 5, 5, "passed", visibility="hidden", duration=4.0),
    ]
    assignment = AssignmentResult(
        "a2", "A2", "graded", output="public print", hidden_output="RECON eholl", duration=6.0, checks=checks
    )
    result = SubmissionResult("s", "s", "hash", duration=7.0, assignments=[assignment])
    for mode in ("name-and-points", "verdict", "full"):
        handed_back = student_version(result, Handback(mode))
        [handed] = handed_back.assignments
        assert (handed.output, handed.hidden_output) == ("public print", ""), mode
        # a code that waits as long as a hidden label says: the times shown are the public checks' only
        assert (handed.duration, handed_back.duration) == (1.5, 1.5), mode
    assert result.assignments[0].hidden_output == "RECON eholl"  # the instructor's copy keeps it
    assert (result.duration, result.assignments[0].duration) == (7.0, 6.0)


def test_printed_output_is_split_where_the_hidden_checks_begin():
    from grader.sandbox.submission_process import OutputCapture

    capture = OutputCapture(limit=12)
    capture.feed(b"public ")
    assert (capture.text(), capture.text_after_mark()) == ("public ", "")  # nothing marked: all of it
    capture.mark()
    capture.feed(b"hidden data")
    capture.mark()  # the first mark holds
    assert capture.text() == "public "
    assert capture.text_after_mark() == "hidde\n[... 6 more bytes of output not shown]"
    full = OutputCapture(limit=4)
    full.feed(b"public ")
    full.mark()
    full.feed(b"secret")  # the count of what the hidden checks printed is not shown before the mark either
    assert full.text() == "publ\n[... 3 more bytes of output not shown]"
    assert full.text_after_mark() == "\n[... 6 more bytes of output not shown]"


def test_a_handed_back_page_counts_a_mistake_s_cost_on_the_checks_it_shows():
    """A new instructor: the student's page said a mistake cost "(1 check, 20 points)" where it cost 80,
    60 of them on hidden checks the page cuts down to their points."""
    from grader.report.handback import Handback, render_student_page
    from grader.report.pages import render_feedback
    from grader.report.results import AssignmentResult, CheckResult, SubmissionResult

    def check(name: str, visibility: str, lost: float) -> CheckResult:
        return CheckResult(
            name,
            name,
            0.0,
            lost,
            "failed",
            "differs",
            diagnosis="Known mistake: alpha swapped",
            mistake="alpha",
            visibility=visibility,
        )

    work = AssignmentResult(A1, "a1", "graded", score=20.0, max_score=100.0)
    work.checks = [check("test_public", "visible", 20.0), check("test_hidden", "hidden", 60.0)]
    result = SubmissionResult("erin", "s/erin", "0", assignments=[work])
    assert "(2 checks, 80 points)" in render_feedback(result)
    student = render_student_page(result, Handback("name-and-points"))
    assert "(1 check shown in full, 20 points)" in student and "80 points" not in student
    assert "(2 checks, 80 points)" in render_student_page(result, Handback("full"))


def test_a_failure_passed_on_keeps_showing_the_expected_values():
    """a5's dataset check passes a comparison's message on in a PartialCredit of its own: the expected
    values of an official question reached the student's page that way (a regression round)."""
    from grader.checks import CheckFailure, PartialCredit, assert_close

    with pytest.raises(CheckFailure) as caught:
        assert_close(1.0, 2.0, name="x")
    assert caught.value.compared
    assert PartialCredit(0.5, caught.value.message, compared=caught.value.compared).compared
    assert CheckFailure("x differs", table={"columns": [], "rows": []}).compared  # a table shows them
    assert not CheckFailure("x is not implemented").compared
