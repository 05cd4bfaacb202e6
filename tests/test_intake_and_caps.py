"""What reaches the grader and what leaves it: symbolic links, clashing ids, .py beside .ipynb, caps on
everything student-derived, trusted-side failures of one assignment, and control characters.

Most cases are students of one class graded with one `grade report` (a1 is cheap; one a2 student
forges a training probe), each asserting its recorded result; the students that attack others sit
beside honest ones whose exact scores are asserted. Issues 11 (items 4-8) and 10 (which file is graded).
"""

from __future__ import annotations

import csv
import io
import json
import os
import stat
import time
import zipfile
from pathlib import Path

import nbformat
import pytest
from conftest import REPO, SOLUTIONS, TEMPLATE, checks_of, score_of, write_submission

from grader.course.model import load_course
from grader.intake.students import discover
from grader.intake.submission import load
from grader.packaging.stubs import notebook_from_stub
from grader.report.results import (
    MAX_CURVE_POINTS,
    MAX_MESSAGE,
    MAX_NOTES,
    AssignmentResult,
    CheckResult,
    SubmissionResult,
    downsample,
)
from grader.text import terminal

A1, A2, A3 = "a1_srn_numpy", "a2_rnncell_ohlol", "a3_craft_rnn"
REF1 = (SOLUTIONS / A1 / "srn.py").read_text()
STUB1 = (TEMPLATE / A1 / "srn.py").read_text()
STUB1_NOTEBOOK = (TEMPLATE / A1 / "srn.ipynb").read_text()
MISTAKE1 = REF1.replace("+ h_prev @ W_hh.T + b_hh", "+ h_prev @ W_hh.T")
REF1_NOTEBOOK = nbformat.writes(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(REF1)]))
REF2 = (SOLUTIONS / A2 / "ohlol.py").read_text()
STUB2 = (TEMPLATE / A2 / "ohlol.py").read_text()
LONG_SUM = "\nLONG_SUM = " + " + ".join(["1"] * 700) + "\n"  # valid Python; once crashed the static scan
ESCAPES = "\x1b]0;pwned\x07\x1b[2J\nAll checks passed"  # retitles the window, clears the screen
CURVE_POINTS = 1_000_000
HELPER_FILES = 3000

# The student's process raises the child's own caps, then raises a 3 MB message.
SHOUTER = '''import sys as _sys
_child = _sys.modules.get("grader.inside.child")
for _name in ("MAX_MESSAGE", "MAX_TRACEBACK"):
    if hasattr(_child, _name):
        setattr(_child, _name, 10**9)
''' + REF1.replace(
    "def linear_output(hs, W_hy, b_y):\n",
    "def linear_output(hs, W_hy, b_y):\n    raise ValueError('X' * 3_000_000)\n",
    1,
)

# The student replaces the training probes: a loss curve of a million points (on the first seed).
LONG_CURVE = (
    REF2
    + f"""

import numpy as _np

_honest_train = train


def train(model, inputs, labels, epochs=15, lr=0.1):  # trains, and returns a million losses
    _honest_train(model, inputs, labels, epochs, lr)
    return _np.linspace(5.0, 0.1, {CURVE_POINTS})
"""
)


def aged(path: Path, seconds: float) -> None:
    """Make ``path`` look saved ``seconds`` ago (Jupyter's autosave touches the other file later)."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def symlink_zip(path: Path, member: str, target: str, extra: dict[str, str]) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        info = zipfile.ZipInfo(member)
        info.create_system = 3
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, target)
        for name, text in extra.items():
            archive.writestr(name, text)


def build_class(root: Path) -> None:
    """The class on disk: 20 folders, zip files and links. (Links at other depths: see
    test_links_at_any_depth_are_not_read, which needs no grading.)"""
    alice = write_submission(root / "alice", {"srn.py": REF1})
    write_submission(root / "carol", {"srn.py": STUB1})
    # symbolic links leading out of the student's folder, at every depth
    (root / "mallory").mkdir()
    (root / "mallory" / A1).symlink_to("../alice")
    (root / "eve").mkdir()
    (root / "eve" / A1).symlink_to(SOLUTIONS / A1)
    write_submission(root / "kim", {"work/srn.py": REF1})  # a link inside the folder is followed
    (root / "kim" / A1).symlink_to("work")
    symlink_zip(root / "zoe.zip", f"{A1}/srn.py", str(alice / "srn.py"), {"README.txt": "my work"})
    (root / "linked").symlink_to("alice")
    # names that give the same id
    write_submission(root / " bob", {"srn.py": REF1})
    write_submission(root / "bob", {"srn.py": STUB1})
    write_submission(root / "jos\u00e9", {"srn.py": REF1})  # NFC
    write_submission(root / "jose\u0301", {"srn.py": STUB1})  # NFD: the same name on screen
    write_submission(root / "carl", {"srn.py": STUB1})
    with zipfile.ZipFile(root / "carl.zip", "w") as archive:
        archive.writestr("srn.py", REF1)
    # .py beside .ipynb
    chooser = write_submission(root / "chooser", {"srn.py": REF1, "srn.ipynb": STUB1_NOTEBOOK})
    aged(chooser / "srn.py", 100)
    both = write_submission(root / "both", {"srn.py": REF1, "srn.ipynb": notebook_from_stub(MISTAKE1, "A1")})
    aged(both / "srn.py", 100)
    both_the_py_wrong = write_submission(root / "both_the_py_wrong", {"srn.py": MISTAKE1, "srn.ipynb": REF1_NOTEBOOK})
    aged(both_the_py_wrong / "srn.py", 100)
    # unbounded data
    write_submission(root / "helpers", {"srn.py": REF1, **{f"h{i:05d}.py": "X = 1\n" for i in range(HELPER_FILES)}})
    write_submission(root / "shouter", {"srn.py": SHOUTER})
    write_submission(root / "curve", {f"{A2}/ohlol.py": LONG_CURVE})
    # a valid file the trusted side once crashed on, beside another assignment
    write_submission(root / "deep", {f"{A1}/srn.py": REF1 + LONG_SUM, f"{A2}/ohlol.py": STUB2})
    write_submission(root / ESCAPES, {"srn.py": REF1})


@pytest.fixture(scope="module")
def graded(tmp_path_factory, run_grade):
    root = tmp_path_factory.mktemp("intake-class")
    build_class(root)
    out = tmp_path_factory.mktemp("intake-grades")
    process = run_grade("report", str(root), "--out", str(out))  # one slot: one torch start-up for the two a2 students
    results = {path.parent.name: json.loads(path.read_text()) for path in (out / "students").glob("*/feedback.json")}
    return results, out, process


def a1(result: dict) -> dict:
    return next(a for a in result["assignments"] if a["id"] == A1)


def gradebook(out: Path) -> dict[str, dict[str, str]]:
    rows = csv.DictReader(io.StringIO((out / "gradebook.csv").read_text()))
    return {row["student"].lstrip("'"): row for row in rows}


# symbolic links (issue 11, item 4) ---------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    "student, link",
    [
        ("mallory", f"{A1} is a symbolic link to ../alice"),
        ("eve", f"{A1} is a symbolic link to {SOLUTIONS / A1}"),
    ],
)
def test_links_out_of_the_folder_are_not_followed(graded, student, link):
    results = graded[0]
    assert score_of(results["alice"], A1) == 100 and score_of(results["carol"], A1) == 0
    work = a1(results[student])
    assert work["score"] == 0, f"{student} got another folder's score"
    assert link in work["message"] and "outside your folder: it was not read" in work["message"]


def test_a_report_refuses_a_grades_folder_inside_the_submissions_and_one_student_s_folder(run_grade, tmp_path):
    """Found by a new instructor: `grade report subs --out subs` was accepted (its folders were graded as
    students the next time), and so was one student's folder, whose assignment folders became students.
    Both are refused with a sentence before anything is graded or written."""
    subs = tmp_path / "subs"
    write_submission(subs / "alice", {f"{A1}/srn.py": REF1})
    inside = run_grade("report", str(subs), "--out", str(subs / "grades"), expect=1)
    assert "is inside" in inside.stderr and "Traceback" not in inside.stderr and not (subs / "grades").exists()
    one = run_grade("report", str(subs / "alice"), "--out", str(tmp_path / "grades"), expect=1)
    assert f"looks like one student's work (it holds {A1}/)" in one.stderr and "grade submit" in one.stderr
    assert not (tmp_path / "grades").exists()
    rejudged = run_grade("rejudge", str(subs), expect=1)  # not a grades folder: nothing written into it
    assert "holds no graded students" in rejudged.stderr and sorted(p.name for p in subs.iterdir()) == ["alice"]


def test_links_at_any_depth_are_not_read(tmp_path):
    course = load_course(REPO)
    alice = write_submission(tmp_path / "alice", {"srn.py": REF1})
    walter = tmp_path / "walter" / A1
    walter.mkdir(parents=True)
    (walter / "srn.py").symlink_to(alice / "srn.py")
    wendy = tmp_path / "wendy" / "hw"
    wendy.mkdir(parents=True)
    (wendy / A1).symlink_to("../../alice")
    harry = write_submission(tmp_path / "harry", {"srn.py": "from helper import *\n"})
    (harry / "helper.py").symlink_to(alice / "srn.py")
    for folder, link in (
        (walter.parent, f"{A1}/srn.py is a symbolic link to {alice / 'srn.py'}"),
        (wendy.parent, f"hw/{A1} is a symbolic link to ../../alice"),
    ):
        work = load(folder, course).modules[A1]
        assert work.source is None and link in work.problem, work.problem
    work = load(harry, course).modules[A1]
    assert work.helpers == {} and any("helper.py is a symbolic link to" in note for note in work.notes)


@pytest.mark.slow
def test_a_link_inside_the_folder_is_followed(graded):
    assert score_of(graded[0]["kim"], A1) == 100


@pytest.mark.slow
def test_zip_links_are_named_in_a_note_not_unpacked(graded):
    zoe = graded[0]["zoe"]
    assert zoe["status"] == "empty" and zoe["score"] == 0
    assert any(f"{A1}/srn.py in the zip file is a symbolic link" in note for note in zoe["notes"])


@pytest.mark.slow
def test_a_linked_student_folder_gets_a_row_saying_so(graded):
    results, out, _ = graded
    linked = results["linked"]
    assert linked["status"] == "empty" and linked["assignments"] == []
    assert "linked is a symbolic link (to alice)" in linked["message"]
    assert gradebook(out)["linked"]["status"] == "empty"


# ids (item 5) ------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    "kept, renamed, kept_score, renamed_score",
    [
        ("bob", "bob-2", 0, 100),  # "bob" (the stub) keeps its name; " bob" (the reference) becomes bob-2
        ("jose", "jose-2", 0, 100),  # NFD sorts first; the NFC folder holds the reference
        ("carl", "carl-2", 0, 100),  # the folder keeps the id; carl.zip is no longer dropped
    ],
)
def test_clashing_names_each_get_a_row_and_a_note_naming_both(graded, kept, renamed, kept_score, renamed_score):
    results, out, process = graded
    assert score_of(results[kept], A1) == kept_score and score_of(results[renamed], A1) == renamed_score
    for student in (kept, renamed):
        note = next(n for n in results[student]["notes"] if "give the same student id" in n)
        assert f"is graded as '{renamed}'" in note
        assert note in gradebook(out)[student]["notes"]
        assert "warning: " + terminal(note) in process.stderr
    assert gradebook(out)[renamed]["submission"] in (" bob", "carl.zip", "jos\u00e9")


@pytest.mark.slow
def test_every_folder_and_zip_has_exactly_one_row(graded):
    _, out, _ = graded
    rows = gradebook(out)
    assert len(rows) == 21
    assert {" bob", "bob", "carl", "carl.zip", "jos\u00e9", "jose\u0301"} <= {r["submission"] for r in rows.values()}


# which file is graded (issue 10) ------------------------------------------------------------------


@pytest.mark.slow
def test_the_untouched_stub_saved_later_is_not_graded(graded):
    work = a1(graded[0]["chooser"])
    assert work["score"] == 100 and work["source"] == "srn.py"
    assert (
        work["choice"] == "srn.py was graded: srn.ipynb beside it is still the untouched stub "
        "(delete the file you do not use)."
    )
    assert work["notes"][0] == work["choice"]


@pytest.mark.slow
def test_of_two_edited_files_only_one_is_graded(graded):
    """The notebook (a catalogued mistake, saved last) is not graded beside the finished .py: one file
    only, and the page says which and why."""
    work = a1(graded[0]["both"])
    assert work["score"] == 100 and work["source"] == "srn.py"
    assert work["choice"].startswith("Both srn.py and srn.ipynb were edited: only srn.py was graded (")
    assert work["choice"].endswith("). Delete the file you do not use.") and work["notes"][0] == work["choice"]
    assert not any("srn.ipynb scored" in note for note in work["notes"])
    # the better file does not count: the .py, as complete as the notebook, is graded (a missing b_hh)
    work = a1(graded[0]["both_the_py_wrong"])
    assert work["source"] == "srn.py" and 0 < work["score"] < 100, work["score"]
    assert "both fill in as many of the stub's functions, and then the .py is graded" in work["choice"]


def test_a2_finished_py_beside_an_autosaved_stub_notebook(tmp_path):
    """The measured case: the stub ohlol.ipynb saved after the finished ohlol.py."""
    course = load_course(REPO)
    stub_notebook = (TEMPLATE / A2 / "ohlol.ipynb").read_text()
    folder = write_submission(tmp_path / "s", {"ohlol.py": REF2, "ohlol.ipynb": stub_notebook})
    aged(folder / "ohlol.py", 100)
    work = load(folder, course).modules[A2]
    assert work.filename == "ohlol.py" and "untouched stub" in work.choice
    stubs = write_submission(tmp_path / "t", {"ohlol.py": STUB2, "ohlol.ipynb": stub_notebook})
    work = load(stubs, course).modules[A2]
    assert "both still the untouched stub" in work.choice


# caps (item 6) -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_million_point_curve_is_downsampled(graded):
    results, out, _ = graded
    feedback = out / "students" / "curve"
    assert (feedback / "feedback.json").stat().st_size < 1_000_000  # was 70 MB
    assert (feedback / "feedback.html").stat().st_size < 1_000_000
    plotted = [c for c in checks_of(results["curve"], A2) if "curves" in c["details"]]
    assert plotted
    for check in plotted:
        curve = check["details"]["curves"]["your loss"]
        assert len(curve) <= MAX_CURVE_POINTS and curve[0] == 5.0 and curve[-1] == pytest.approx(0.1)
        assert check["details"]["curve_lengths"] == {"your loss": CURVE_POINTS}
    assert "<polyline" in (feedback / "feedback.html").read_text()


@pytest.mark.slow
def test_thousands_of_helper_files_give_twenty_notes_and_a_count(graded):
    results, out, _ = graded
    notes = a1(results["helpers"])["notes"]
    assert a1(results["helpers"])["score"] == 100
    assert len(notes) == MAX_NOTES + 1 and notes[-1] == f"and {HELPER_FILES - 50 - MAX_NOTES:,} more notes not shown"
    assert (out / "students" / "helpers" / "feedback.html").stat().st_size < 100_000


@pytest.mark.slow
def test_a_megabyte_message_is_cut(graded):
    results, out, _ = graded
    checks = checks_of(results["shouter"], A1)
    assert max(len(c["message"]) for c in checks) <= MAX_MESSAGE
    assert any("more characters not shown" in c["message"] for c in checks)
    assert (out / "students" / "shouter" / "feedback.json").stat().st_size < 1_000_000  # was 18 MB


# trusted-side failures (item 7) ------------------------------------------------------------------


@pytest.mark.slow
def test_a_valid_file_too_deep_for_a_recursive_walk_is_scanned_and_graded(graded):
    """700 terms in one expression: Python imports it, so the scan walks it too (with a deep stack)."""
    results, out, process = graded
    deep = results["deep"]
    assert deep["status"] == "graded"
    work = a1(deep)
    assert work["status"] == "graded" and work["score"] == 100, work["message"]
    stub = next(a for a in deep["assignments"] if a["id"] == A2)
    assert stub["status"] == "graded" and stub["checks"]
    assert all("is not implemented yet" in c["message"] for c in stub["checks"])
    assert "Traceback" not in process.stderr


def test_an_exception_in_one_assignment_leaves_the_others_graded(tmp_path):
    from grader.grading.slot import GradeOptions, GradingSlot

    class Exploding(GradingSlot):
        def grade_assignment(self, work, spec, check_files=None):
            if spec.id == A1:
                raise RecursionError("maximum recursion depth exceeded")
            check = CheckResult("test_x", "x", 5.0, 5.0, "passed")
            return AssignmentResult(id=spec.id, title=spec.title, status="graded", checks=[check])

    folder = write_submission(tmp_path / "s", {f"{A1}/srn.py": REF1, f"{A2}/ohlol.py": REF2})
    grader = Exploding(load_course(REPO), GradeOptions(sandbox="none", cache_dir=tmp_path / "cache"))
    result = grader.grade(folder)
    first, second = result.assignments
    assert first.status == "error" and "grader bug, not your fault (RecursionError" in first.message
    assert second.status == "graded" and second.score == 5 and result.status == "graded"


# control characters (item 8), and the terminal line of the choice ----------------------------------


@pytest.mark.slow
def test_report_prints_no_control_character(graded):
    results, out, process = graded
    assert "\x1b" not in process.stdout + process.stderr and "\x07" not in process.stdout + process.stderr
    assert score_of(results["0_pwned_2J_All_checks_passed"], A1) == 100
    text = (out / "gradebook.csv").read_text()
    assert "\x1b" not in text and "\\x1b]0;pwned\\x07\\x1b[2J\\x0aAll checks passed" in text


@pytest.mark.slow
def test_submit_escapes_names_and_prints_the_choice_whole(run_grade, tmp_path):
    folder = write_submission(
        tmp_path / ESCAPES,
        {
            f"{A1}/srn.py": REF1,
            f"{A1}/srn.ipynb": notebook_from_stub(MISTAKE1, "A1"),
            f"{A3}/craft_rnn.py": (SOLUTIONS / A3 / "craft_rnn.py").read_text() + LONG_SUM,
        },
    )
    aged(folder / A1 / "srn.py", 100)
    process = run_grade("submit", str(folder), "--out", str(tmp_path / "out"))
    shown = process.stdout + process.stderr
    assert "\x1b" not in shown and "\x07" not in shown and "Traceback" not in shown
    assert not any(line.strip().startswith("All checks passed") for line in shown.splitlines())
    result = json.loads((tmp_path / "out" / "feedback.json").read_text())
    work = result["assignments"][0]
    shown_whole = " ".join(process.stdout.split())  # wrapped to the terminal's width, never cut
    assert work["score"] == 100 and f"note: {' '.join(work['choice'].split())}" in shown_whole
    craft = result["assignments"][1]
    assert craft["status"] == "graded" and craft["score"] == 100, craft["message"]


# units ---------------------------------------------------------------------------------------------


def test_downsampling_keeps_the_ends_and_the_shape():
    values = [float(i % 1000) for i in range(100_000)] + [-5.0, 7.0]
    kept = downsample(values, MAX_CURVE_POINTS)
    assert len(kept) <= MAX_CURVE_POINTS and kept[0] == values[0] and kept[-1] == values[-1]
    assert min(kept) == -5.0 and max(kept) == 999.0
    assert downsample([1.0, 2.0], MAX_CURVE_POINTS) == [1.0, 2.0]


def test_bounding_is_idempotent_and_covers_every_field():
    check = CheckResult(
        "c",
        "t" * 10_000,
        0.0,
        1.0,
        "failed",
        message="m" * 10**6,
        diagnosis="d" * 10**5,
        details={
            "curves": {f"s{i}": list(range(5000)) for i in range(20)},
            "table": {"columns": list("abcdefghijk"), "rows": [["x" * 500] * 11] * 1000, "shown": 1000, "total": 5000},
            "traceback": "t" * 10**6,
            "other": {"deep": [[[[[["x"]]]]]] * 1000},
        },
    )
    assignment = AssignmentResult(
        "a", "A", "graded", notes=["n" * 5000] * 100, flags=["f"] * 100, output="o" * 10**6, checks=[check]
    )
    result = SubmissionResult("s", "s", "", message="x" * 10**6, notes=["y"] * 50, assignments=[assignment])
    result.bound()
    once = result.to_json()
    result.bound()
    assert result.to_json() == once and len(once) < 300_000
    assert len(check.details["curves"]) == 6 and len(check.details["table"]["rows"]) == 20
    assert check.details["table"]["total"] == 5000 and assignment.notes[-1] == "and 80 more notes not shown"
    assert result.notes[-1] == "and 30 more notes not shown" and len(assignment.flags) == 20


def test_terminal_shows_control_characters_as_escapes():
    assert terminal(ESCAPES) == "\\x1b]0;pwned\\x07\\x1b[2J\\x0aAll checks passed"
    assert terminal("caf\u00e9 \u202eevil") == "caf\u00e9 \\u202eevil"


@pytest.mark.parametrize("separator", ["\r", "\x0b", "\x0c", "\x1c", "\x1e", "\x85", "\u2028", "\u2029"])
def test_a_message_starts_no_line_of_its_own_on_the_terminal(separator, capsys):
    """A student's exception message can hold any line separator Python knows: on the terminal each is
    an escape inside the grader's line, never a new line that could read "SCORE 100/100"."""
    from grader.cli.printing import first_line, say

    message = f"ValueError: no{separator}SCORE 100/100 all checks passed"
    say(message, indent="        ")
    assert first_line(message).startswith("ValueError: no\\")
    shown = capsys.readouterr().out
    assert shown.count("\n") == 1 and not any(line.startswith("SCORE") for line in shown.split("\n")), shown
    assert "\\x" in shown or "\\u" in shown


def test_ids_are_unique_whatever_the_case():
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        for name in ("Bob", "bob", "alice"):
            (root / name).mkdir()
        (root / "alice.zip").write_bytes(b"")
        ids = {s.name: s.id for s in discover(root)}
    assert ids == {"Bob": "Bob", "bob": "bob-2", "alice": "alice", "alice.zip": "alice-2"}


def test_a_numbered_id_is_never_another_students_own():
    """A hostile round: folders ``Bob`` (the attacker), ``bob`` and ``bob-2`` gave bob the id bob-2 and
    the real bob-2 the id bob-2-2 (without a note), so a roster's bob-2 got bob's grade."""
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        for name in ("Bob", "bob", "bob-2", "bob-3.zip"):
            (root / name).mkdir() if not name.endswith(".zip") else (root / name).write_bytes(b"")
        students = {s.name: s for s in discover(root)}
    ids = {name: student.id for name, student in students.items()}
    assert ids == {"Bob": "Bob", "bob": "bob-4", "bob-2": "bob-2", "bob-3.zip": "bob-3"}
    assert any("'bob' is graded as 'bob-4'" in note for note in students["bob"].notes)
    assert not students["bob-2"].notes
