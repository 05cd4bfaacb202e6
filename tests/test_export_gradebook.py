"""One gradebook truth (issue 13 item 6): totals from each assignment's points, missing work empty, --resume
stable, a late policy with submission times, manual adjustments, and `grade export --format canvas|moodle`.

Most tests write graded result files by hand (with the submissions' real content hashes) and run
`grade report --resume`, which then grades nothing and only builds the class outputs: fast, and through
the CLI as an instructor runs it. The course is a copy of this one with a2 worth 40 points and a course.toml.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import REPO, SOLUTIONS, nest, unnest, write_submission

from grader.report.results import AssignmentResult, SubmissionResult

A1, A2 = "a1_srn_numpy", "a2_rnncell_ohlol"
OTHERS = ("a3_craft_rnn", "a4_seq2seq", "a5_sentiment_lstm")
POINTS = {A1: 100.0, A2: 40.0, **{a: 100.0 for a in OTHERS}}
# Out of the assignments someone handed in (a1 and a2 in CLASS): 140, not 5 x 100 nor every assignment's
# 440 (a new instructor's first assignment of six read "20 / 600" everywhere).
MAX_TOTAL = POINTS[A1] + POINTS[A2]
SRN = (SOLUTIONS / A1 / "srn.py").read_text()
OHLOL = (SOLUTIONS / A2 / "ohlol.py").read_text()


@pytest.fixture
def course(tmp_path: Path) -> Path:
    """This course, with a2 worth 40 points, and room for a course.toml."""
    root = tmp_path / "course"
    shutil.copytree(REPO / "assignments", root / "assignments")
    shutil.copytree(REPO / "solutions", root / "solutions")
    toml = root / "assignments" / A2 / "assignment.toml"
    toml.write_text(toml.read_text().replace("points = 100", "points = 40"))
    return root


def _content_hash(course: Path, folder: Path) -> str:
    from grader.course.model import load_course
    from grader.intake.submission import load

    return load(folder, load_course(course)).content_hash


def make_class(course: Path, root: Path, grades: Path, scores: dict[str, dict[str, float]]) -> Path:
    """Students' folders and their results as if graded: ``scores[student][assignment]``; a student with
    no scores has an empty folder (recorded as grade report records it: status empty)."""
    files = {A1: ("srn.py", SRN), A2: ("ohlol.py", OHLOL)}
    for student, earned in scores.items():
        folder = write_submission(root / student, {files[a][0]: files[a][1] for a in earned})
        result = SubmissionResult(
            student=student,
            submission=str(folder),
            content_hash=_content_hash(course, folder),
            status="graded" if earned else "empty",
            message="" if earned else f"{student}/ is empty: there is nothing to grade",
            assignments=[
                AssignmentResult(id=a, title=a, status="graded", score=s, max_score=POINTS[a])
                for a, s in earned.items()
            ],
        )
        result.score = sum(earned.values())
        result.max_score = sum(POINTS[a] for a in earned)
        (grades / "students" / student).mkdir(parents=True)
        (grades / "students" / student / "feedback.json").write_text(result.to_json())
    return root


CLASS = {"alice": {A1: 90.0, A2: 30.0}, "bob": {A1: 80.0}, "erin-empty": {}}


def report(run_grade, course: Path, root: Path, grades: Path, *options: str, expect: int = 0):
    return run_grade(
        "report", str(root), "--out", str(grades), "--resume", "--course", str(course), *options, expect=expect
    )


def export(run_grade, course: Path, grades: Path, *options: str, expect: int = 0):
    return run_grade("export", str(grades), "--course", str(course), *options, expect=expect)


def gradebook(grades: Path) -> dict[str, dict[str, str]]:
    return {row["student"]: row for row in csv.DictReader(io.StringIO((grades / "gradebook.csv").read_text()))}


@pytest.fixture
def graded(course: Path, tmp_path: Path):
    root, grades = tmp_path / "class", tmp_path / "grades"
    make_class(course, root, grades, CLASS)
    return course, root, grades


# totals, missing, the class mean ------------------------------------------------------------------


@pytest.mark.slow  # a grade report run (it grades no one, but starts its slots)
def test_totals_are_out_of_each_assignments_points_and_missing_work_is_empty(run_grade, graded):
    course, root, grades = graded
    process = report(run_grade, course, root, grades)
    rows = gradebook(grades)
    assert rows["alice"][A1] == "90.0" and rows["alice"][A2] == "30.0" and rows["alice"]["total"] == "120.0"
    assert rows["bob"][A2] == "" and rows["bob"]["total"] == "80.0"  # missing: empty, not 0.0
    assert all(rows["erin-empty"][a] == "" for a in (A1, A2)) and rows["erin-empty"]["total"] == ""
    assert not set(OTHERS) & set(rows["alice"])  # nobody handed them in: no column, not in any total
    assert {row["max_total"] for row in rows.values()} == {f"{MAX_TOTAL}"}
    assert "a2_rnncell_ohlol missing" in rows["bob"]["notes"]
    book = json.loads((grades / "gradebook.json").read_text())
    assert book["points"][A2] == 40
    bob = next(s for s in book["students"] if s["student"] == "bob")
    assert bob[A2] is None and bob["entries"][A2]["status"] == "missing" and bob["total"] == 80
    # The mean counts students with graded work only (the empty folder is not a 0), out of 140.
    assert book["summary"]["mean"] == 100 and book["summary"]["without_work"] == 1
    assert "mean total 100.0 / 140 over 2 students (1 with nothing graded, left out)" in process.stdout
    assert "nobody handed in a3_craft_rnn, a4_seq2seq, a5_sentiment_lstm: left out of the gradebook" in (
        process.stdout + process.stderr
    )
    # The student's page states the same total as the gradebook, out of those assignments' points.
    page = (grades / "students" / "bob" / "feedback.html").read_text()
    assert "Total for the gradebook: 80 / 140; no score for a2_rnncell_ohlol" in page
    assert "80 / 140" in page.split("Total for the gradebook")[0]  # the page's own total, above
    assert ">80 / 140</td>" in (grades / "index.html").read_text()  # and the class overview's (it said / 440)


@pytest.mark.slow
def test_resume_that_changes_nothing_changes_no_number(run_grade, tmp_path):
    """Fresh grading, then --resume: the same gradebook and the same class mean (an empty folder, skipped
    on resume, was counted as 0 in the mean: 133.7 became 114.6)."""
    root = tmp_path / "class"
    write_submission(root / "alice", {"srn.py": SRN})
    write_submission(root / "bob", {"srn.py": SRN.replace("+ h_prev @ W_hh.T + b_hh", "+ h_prev @ W_hh.T")})
    (root / "erin-empty").mkdir()
    grades = tmp_path / "grades"
    limits = ("--limit", "probe_timeout_s=5", "--workers", "2")
    fresh = run_grade("report", str(root), "--out", str(grades), *limits)
    csv_text, json_text = (grades / "gradebook.csv").read_text(), (grades / "gradebook.json").read_text()
    resumed = run_grade("report", str(root), "--out", str(grades), "--resume", *limits)
    assert "3 skipped" in resumed.stdout
    assert (grades / "gradebook.csv").read_text() == csv_text
    assert (grades / "gradebook.json").read_text() == json_text

    def mean(process):
        return process.stdout.split("); ", 1)[1].splitlines()[0]

    assert mean(resumed) == mean(fresh) and "over 2 students (1 with nothing graded" in mean(fresh)


# late policy ---------------------------------------------------------------------------------------

LATE = """
[late]
deadline = 2026-10-15T23:59:00+02:00
grace_minutes = 15
rule = "percent-per-day"
percent_per_day = 10
max_percent = 30
[late.deadlines]
a2_rnncell_ohlol = 2026-10-22T23:59:00+02:00
[late.extensions]
carol = 3
"""


@pytest.mark.slow  # a grade report run (it grades no one, but starts its slots)
def test_late_policy_from_a_manifest_keeps_raw_and_final(run_grade, course, tmp_path):
    (course / "course.toml").write_text(LATE)
    root, grades = tmp_path / "class", tmp_path / "grades"
    make_class(
        course,
        root,
        grades,
        {"alice": {A1: 90.0, A2: 40.0}, "bob": {A1: 80.0}, "carol": {A1: 70.0}, "dave": {A1: 50.0}},
    )
    (root / "submission_times.csv").write_text(
        "student,assignment,submitted_at\n"
        "alice,a1_srn_numpy,2026-10-16T00:10:00+02:00\n"  # 11 minutes late: within the grace period
        "alice,a2_rnncell_ohlol,2026-10-23T10:00:00+02:00\n"  # its own deadline: 1 started day late
        "bob,,2026-10-17T12:00:00+02:00\n"  # every assignment of bob's: 2 started days late
        "carol,a1_srn_numpy,2026-10-18T12:00:00+02:00\n"  # within her 3-day extension
        "dave,a1_srn_numpy,2026-10-25T12:00:00Z\n"  # 10 days late: the 30% cap
        "mallory,,2026-10-25T12:00:00Z\n"  # not in the class: warned
    )
    process = report(run_grade, course, root, grades)
    assert "the submission times name 1 student(s) the gradebook does not have: mallory" in process.stderr
    assert "no submission time" not in process.stderr  # every graded assignment has one
    rows = gradebook(grades)
    assert rows["alice"][A1] == "90.0" and rows["alice"][f"{A1}_raw"] == "90.0"
    assert rows["alice"][A2] == "36.0" and rows["alice"][f"{A2}_raw"] == "40.0"
    assert rows["bob"][A1] == "64.0" and rows["bob"][f"{A1}_raw"] == "80.0"
    assert rows["carol"][A1] == "70.0"
    assert rows["dave"][A1] == "35.0"
    assert "Late: 2 days after the deadline" in rows["bob"]["notes"] and "-20%, -16 points" in rows["bob"]["notes"]
    entry = next(s for s in json.loads((grades / "gradebook.json").read_text())["students"] if s["student"] == "bob")
    assert entry["entries"][A1]["late_penalty"] == 16 and entry["entries"][A1]["time_source"] == "manifest"
    page = (grades / "students" / "bob" / "feedback.html").read_text()
    assert "2 days after the deadline" in page and "Score for the gradebook: 64 / 100 (checks: 80)" in page
    recorded = json.loads((grades / "students" / "bob" / "feedback.json").read_text())
    assert recorded["assignments"][0]["score"] == 80  # the result stays as graded
    overview = (grades / "index.html").read_text()  # the class overview shows the gradebook's number too
    bob_row = overview[overview.index('href="students/bob/feedback.html">bob</a>') :].split("</tr>", 1)[0]
    assert ">64<" in bob_row.replace(" ", "") and "checks 80" in bob_row, bob_row
    # grade export uses the times grade report recorded (the submissions folder may be gone by then).
    (root / "submission_times.csv").unlink()
    (grades / "roster.csv").write_text("student,sis_user_id\nbob,S002\n")
    process = export(run_grade, course, grades, "--format", "canvas", "--roster", str(grades / "roster.csv"))
    assert "changed since grade report" not in process.stderr
    assert list(csv.reader(io.StringIO((grades / "canvas.csv").read_text())))[2][5] == "64"


@pytest.mark.slow  # a grade report run (it grades no one, but starts its slots)
def test_zero_after_a_grace_period_and_file_times_are_warned(run_grade, course, tmp_path):
    (course / "course.toml").write_text(
        '[late]\ndeadline = "2026-10-15T23:59:00Z"\nrule = "zero"\ngrace_minutes = 60\n'
    )
    root, grades = tmp_path / "class", tmp_path / "grades"
    make_class(course, root, grades, {"alice": {A1: 90.0}, "bob": {A1: 80.0}})
    on_time = 1792108800  # 2026-10-16T00:00:00Z: within the hour of grace
    os.utime(root / "alice" / "srn.py", (on_time, on_time))
    os.utime(root / "bob" / "srn.py", (on_time + 7200, on_time + 7200))
    process = report(run_grade, course, root, grades)
    assert "file modification times" in process.stderr and "weak evidence" in process.stderr
    rows = gradebook(grades)
    assert rows["alice"][A1] == "90.0" and rows["bob"][A1] == "0.0" and rows["bob"][f"{A1}_raw"] == "80.0"
    assert "(file time)" in rows["bob"]["notes"]


def test_a_wrong_late_policy_is_refused_before_grading(run_grade, course, tmp_path):
    (course / "course.toml").write_text('[late]\ndeadline = 2026-10-15T23:59:00\nrule = "percent-per-day"\n')
    root, grades = tmp_path / "class", tmp_path / "grades"
    make_class(course, root, grades, {"alice": {A1: 90.0}})
    process = report(run_grade, course, root, grades, expect=1)
    assert "course.toml" in process.stderr and "UTC offset" in process.stderr


# manual adjustments --------------------------------------------------------------------------------


@pytest.mark.slow  # a grade report run (it grades no one, but starts its slots)
def test_adjustments_apply_after_the_late_penalty_with_their_reason(run_grade, course, tmp_path):
    (course / "course.toml").write_text(LATE)
    root, grades = tmp_path / "class", tmp_path / "grades"
    make_class(course, root, grades, {"bob": {A1: 80.0}, "carl": {A1: 60.0}, "erin-empty": {}})
    (root / "submission_times.csv").write_text("student,assignment,submitted_at\nbob,,2026-10-17T12:00:00+02:00\n")
    (grades / "adjustments.csv").write_text(
        "student,assignment,delta,override,reason,by\n"
        "bob,a1_srn_numpy,+5,,check 3 regraded by hand: the tolerance was too strict,ana\n"
        "erin-empty,a1_srn_numpy,,50,handed in by email (the upload failed),ana\n"
        "nobody,a1_srn_numpy,+1,,a typo,ana\n"
    )
    process = report(run_grade, course, root, grades)
    rows = gradebook(grades)
    assert rows["bob"][A1] == "69.0" and rows["bob"][f"{A1}_raw"] == "80.0"  # 80 - 20% + 5
    assert "+5 points by ana: check 3 regraded by hand" in rows["bob"]["notes"]
    assert rows["erin-empty"][A1] == "50.0" and rows["erin-empty"]["total"] == "50.0"
    assert "no student 'nobody'" in process.stderr
    assert "no submission time for 1 student(s), so no late penalty was applied to them: carl" in process.stderr
    page = (grades / "students" / "bob" / "feedback.html").read_text()
    assert "check 3 regraded by hand" in page and "Score for the gradebook: 69 / 100" in page
    # Withdrawn: the page and the gradebook no longer show it.
    (grades / "adjustments.csv").write_text("student,assignment,delta,override,reason,by\n")
    report(run_grade, course, root, grades)
    assert gradebook(grades)["bob"][A1] == "64.0"
    assert "check 3 regraded" not in (grades / "students" / "bob" / "feedback.html").read_text()


def test_an_adjustment_without_a_reason_is_refused(run_grade, graded):
    course, root, grades = graded
    (grades / "adjustments.csv").write_text("student,assignment,delta,override,reason,by\nbob,a1_srn_numpy,+5,,,ana\n")
    process = report(run_grade, course, root, grades, expect=1)
    assert "adjustments.csv, line 2: every adjustment needs a reason" in process.stderr


# LMS exports ---------------------------------------------------------------------------------------

ROSTER = (
    "student,name,canvas_id,sis_user_id,sis_login_id,section,email,id_number\n"
    "alice,\"Liddell, Alice\",101,S001,aliddell,Lab 1,alice@uni.example,S001\n"
    "bob,Bob Builder,102,S002,bbuilder,Lab 2,bob@uni.example,S002\n"
    "zed,\"Zed, Zoe\",103,S003,zzed,Lab 1,zoe@uni.example,S003\n"
)


def test_canvas_export_lists_the_roster_with_points_possible_and_empty_missing(run_grade, graded):
    course, root, grades = graded  # graded: export rebuilds the gradebook from the result files
    (grades / "roster.csv").write_text(ROSTER)
    out = grades / "canvas.csv"
    process = export(run_grade, course, grades, "--format", "canvas", "--roster", str(grades / "roster.csv"))
    rows = list(csv.reader(io.StringIO(out.read_text())))
    titles = [t for t in rows[0][5:]]
    # a column per assignment someone handed in (a3..a5: none, so Canvas makes no empty assignments)
    assert rows[0][:5] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"] and len(titles) == 2
    assert rows[1][:5] == ["Points Possible", "", "", "", ""] and rows[1][5:] == ["100", "40"]
    by_name = {row[0]: row for row in rows[2:]}
    assert by_name["Liddell, Alice"][1:7] == ["101", "S001", "aliddell", "Lab 1", "90", "30"]
    assert by_name["Bob Builder"][5:7] == ["80", ""]  # missing a2: empty, never 0
    assert by_name["Zed, Zoe"][5:] == [""] * 2  # on the roster, no submission
    assert "erin-empty" in process.stderr and "not in the roster" in process.stderr  # warned, not silently dropped
    assert "zed" in process.stderr and "no submission" in process.stderr
    # Canvas's own export as the roster, with a grader_id column added: its Student column is the name.
    (grades / "canvas-export.csv").write_text(
        "Student,ID,SIS User ID,SIS Login ID,Section,A1 (777),grader_id\n"
        "    Points Possible,,,,,100,\n"
        '"Liddell, Alice",101,S001,aliddell,Lab 1,,alice\n'
    )
    export(run_grade, course, grades, "--format", "canvas", "--roster", str(grades / "canvas-export.csv"))
    rows = list(csv.reader(io.StringIO(out.read_text())))
    assert len(rows) == 3 and rows[2][:7] == ["Liddell, Alice", "101", "S001", "aliddell", "Lab 1", "90", "30"]


def test_moodle_export_matches_by_email_or_id_number(run_grade, graded):
    course, root, grades = graded
    (course / "course.toml").write_text('[export.columns]\na1_srn_numpy = "Assignment 1: SRN"\n')
    (grades / "roster.csv").write_text(ROSTER)
    out = grades / "moodle-grades.csv"
    export(run_grade, course, grades, "--format", "moodle", "--roster", str(grades / "roster.csv"), "--out", str(out))
    rows = list(csv.reader(io.StringIO(out.read_text())))
    assert rows[0][:5] == ["First name", "Last name", "ID number", "Email address", "Assignment 1: SRN"]
    by_email = {row[3]: row for row in rows[1:]}
    assert by_email["alice@uni.example"][:2] == ["Alice", "Liddell"] and by_email["alice@uni.example"][4:6] == [
        "90",
        "30",
    ]
    assert by_email["bob@uni.example"][:2] == ["Bob", "Builder"] and by_email["bob@uni.example"][5] == ""
    (grades / "names.csv").write_text("student,name\nalice,Alice\n")
    refused = export(run_grade, course, grades, "--format", "moodle", "--roster", str(grades / "names.csv"), expect=1)
    assert "Moodle matches students by an email address or an ID number" in refused.stderr


@pytest.mark.slow  # a grade report run (it grades no one, but starts its slots)
def test_export_applies_adjustments_edited_after_the_report(run_grade, graded):
    course, root, grades = graded
    report(run_grade, course, root, grades)
    (grades / "roster.csv").write_text(ROSTER)
    (grades / "adjustments.csv").write_text(
        "student,assignment,delta,override,reason,by\nbob,a2_rnncell_ohlol,,20,oral exam instead,ana\n"
    )
    process = export(run_grade, course, grades, "--format", "canvas", "--roster", str(grades / "roster.csv"))
    bob = next(r for r in csv.reader(io.StringIO((grades / "canvas.csv").read_text())) if r[0] == "Bob Builder")
    assert bob[5:7] == ["80", "20"]
    assert "the gradebook changed since grade report" in process.stderr
    no_roster = export(run_grade, course, grades, "--format", "canvas", expect=2)
    assert "--roster" in no_roster.stderr


# the gradebook's rules, without the CLI --------------------------------------------------------------


def test_failed_grading_is_not_missing_work_and_a_delta_needs_graded_work():
    from grader.report.adjustments import Adjustment
    from grader.report.gradebook import build, to_csv

    failed = SubmissionResult("carl", "/class/carl", "", status="error", message="grading took longer than 90 s")
    partial = SubmissionResult(
        "dora",
        "/class/dora",
        "h",
        assignments=[
            AssignmentResult(A1, A1, "graded", score=50.0),
            AssignmentResult(A2, A2, "error", max_score=40.0, message="a grader bug"),
        ],
    )
    book = build(
        [failed, partial],
        [A1, A2],
        {A1: 100.0, A2: 40.0},
        adjustments=[
            Adjustment("dora", A2, None, 35.0, "graded by hand", "ana", 2),
            Adjustment("carl", A1, 5.0, None, "bonus", "ana", 3),
        ],
    )
    carl, dora = book.row("carl"), book.row("dora")
    assert carl.entries[A1].status == "error" and carl.total is None
    assert carl.notes == "grading took longer than 90 s"  # said once, not once per assignment
    assert dora.entries[A2].final == 35 and dora.total == 85 and "(score set by hand)" in dora.notes
    assert any("line 3" in w and "give an override instead" in w for w in book.warnings)
    assert to_csv(book).splitlines()[1].startswith("carl,,,,140.0,error,")  # empty cells and total; out of 140


def test_file_times_of_a_deep_folder_and_of_a_time_no_date_holds_are_read_without_failing(tmp_path):
    """A hostile round stopped a class's gradebook and overview (with a late policy reading file times)
    with one student's folder: 1,500 levels deep (RecursionError in the walk), or a file whose time
    kept a year of 36812 through tar on tmpfs (no date holds it). Such a file is passed over; the
    student's other files give the time."""
    from grader.report.late import _representable, file_times

    student = tmp_path / "alice"
    write_submission(student, {"ohlol.py": "x = 1\n"})
    os.utime(student / "ohlol.py", (1_700_000_000, 1_700_000_000))
    nest(student, 1500)
    try:
        far = student / "far.txt"
        far.write_text("x")
        os.utime(far, (2**40, 2**40))  # a filesystem that cannot hold it keeps what it can
        times = file_times({"alice": student}, {"a2_rnncell_ohlol": "ohlol"})
        assert times.times[("alice", "a2_rnncell_ohlol")].when.timestamp() == 1_700_000_000
    finally:
        unnest(student)
    assert not _representable(2**40) and not _representable(float("nan")) and _representable(1_700_000_000)


def test_the_graded_modules_time_is_read_however_many_files_come_before_it(tmp_path):
    """A hostile round put 20,001 hidden files before ohlol.py: the bounded walk of the folder ended
    before the module, no time was found, and no late penalty was applied. The module's own files are
    looked up by name."""
    from grader.intake.tree import MAX_ENTRIES
    from grader.report.late import file_times

    student = tmp_path / "hidey"
    write_submission(student, {"ohlol.py": "x = 1\n"})
    os.utime(student / "ohlol.py", (1_800_000_000, 1_800_000_000))
    for number in range(MAX_ENTRIES + 1):
        (student / f".h{number:05d}").touch()
    times = file_times({"hidey": student}, {"a2_rnncell_ohlol": "ohlol"})
    assert times.times[("hidey", "a2_rnncell_ohlol")].when.timestamp() == 1_800_000_000


def test_a_folder_named_in_bytes_that_are_not_utf8_keeps_its_file_times(course, tmp_path):
    """A hostile round named their folder ``jos\\xe9``: the result records the name as text for people
    (``jos\\udce9`` escaped), which names no folder, so no file time and no late penalty was found. The
    times are read from the folders the report found."""
    from grader.course.model import load_course
    from grader.intake.students import discover
    from grader.report import gradebook as books
    from grader.report.results import load_results

    (course / "course.toml").write_text('[late]\ndeadline = "2026-10-15T23:59:00Z"\nrule = "zero"\n')
    root, grades = tmp_path / "class", tmp_path / "grades"
    folder = root / os.fsdecode(b"jos\xe9")
    write_submission(folder, {"srn.py": SRN})
    os.utime(folder / "srn.py", (1_800_000_000, 1_800_000_000))  # 2027: late
    [student] = discover(root)
    result = SubmissionResult(
        student=student.id,
        submission=str(folder),
        content_hash="",
        status="graded",
        assignments=[AssignmentResult(id=A1, title=A1, status="graded", score=90.0, max_score=100.0)],
    )
    result.bound()  # as the report writes it
    (grades / "students" / student.id).mkdir(parents=True)
    (grades / "students" / student.id / "feedback.json").write_text(result.to_json())
    [recorded] = load_results(grades)
    assert not Path(str(recorded.submission)).exists()  # the record alone names no folder
    book = books.assemble(load_course(course), grades, [recorded], [A1], submissions=root)
    row = book.row(student.id)
    assert row is not None and row.entries[A1].final == 0.0 and row.entries[A1].late_penalty == 90.0
