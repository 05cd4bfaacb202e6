"""`grade report` over a small class: gradebook, overview, zips, resume after SIGKILL, CSV safety."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
import zipfile

import pytest
from conftest import REPO, SOLUTIONS, report_isolation, write_submission

A1 = "a1_srn_numpy"
REFERENCE = (SOLUTIONS / A1 / "srn.py").read_text()
LIMITS = ("--limit", "probe_timeout_s=1", "--limit", "submission_timeout_s=60")  # the loop costs 1 s, once

CLASS = {
    "alice": {"srn.py": REFERENCE},
    "bob": {"srn.py": REFERENCE.replace("+ h_prev @ W_hh.T + b_hh", "+ h_prev @ W_hh.T")},
    "carol-crashes": {"srn.py": REFERENCE.replace("def rnn_step(", "import os\nos._exit(1)\ndef rnn_step(", 1)},
    "dave-loops": {
        "srn.py": REFERENCE.replace('    z = x_t @ W_ih.T', '    while True:\n        pass\n    z = x_t @ W_ih.T', 1)
    },
    "erin-empty": {},
    "-1+1": {"srn.py": REFERENCE.replace("dh = dhs[t] + dh_next", "dh = dhs[t]")},
}


def make_class(root):
    for name, files in CLASS.items():
        (root / name).mkdir(parents=True)
        write_submission(root / name, files)
    with zipfile.ZipFile(root / "frank.zip", "w") as archive:  # a zip with a wrapper folder
        archive.writestr("frank-hw1/a1_srn_numpy/srn.py", REFERENCE)
    return root


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory, run_grade):
    root = make_class(tmp_path_factory.mktemp("class"))
    out = tmp_path_factory.mktemp("grades")
    process = run_grade("report", str(root), "--out", str(out), "--workers", "2", *LIMITS)
    return root, out, process


def gradebook(out):
    return list(csv.DictReader(io.StringIO((out / "gradebook.csv").read_text())))


@pytest.mark.slow
def test_every_student_has_a_row_a_page_and_a_result(graded_class):
    root, out, process = graded_class
    rows = {row["student"].lstrip("'"): row for row in gradebook(out)}
    assert set(rows) == set(CLASS) | {"frank"}
    for student in rows:
        assert (out / "students" / student / "feedback.html").is_file()
    assert float(rows["alice"][A1]) == 100 and float(rows["frank"][A1]) == 100
    assert 0 < float(rows["bob"][A1]) < 100
    assert float(rows["carol-crashes"][A1]) == 0
    assert float(rows["dave-loops"][A1]) == 5  # only linear_output works without rnn_step
    assert rows["erin-empty"]["status"] == "empty"
    assert "Graded 7 students" in process.stdout


@pytest.mark.slow
def test_gradebook_equals_individual_grade_submit(graded_class, run_grade, tmp_path):
    root, out, _ = graded_class
    rows = {row["student"].lstrip("'"): row for row in gradebook(out)}
    for student in ("bob", "carol-crashes"):  # a mistake named, a crash
        process = run_grade("submit", str(root / student), "--out", str(tmp_path / student), "--json", *LIMITS)
        alone = json.loads(process.stdout)
        assert float(rows[student][A1]) == pytest.approx(alone["score"], abs=0.005)  # the CSV has 2 decimals
        assert float(rows[student]["total"]) == pytest.approx(alone["score"], abs=0.005)
        recorded = json.loads((out / "students" / student / "feedback.json").read_text())
        assert [c["points"] for c in recorded["assignments"][0]["checks"]] == [
            c["points"] for c in alone["assignments"][0]["checks"]
        ]


@pytest.mark.slow
def test_csv_cells_that_look_like_formulas_are_neutralised(graded_class):
    _, out, _ = graded_class
    text = (out / "gradebook.csv").read_text()
    assert "\n'-1+1," in text and "\n-1+1," not in text
    from grader.report.gradebook import neutralise

    for cell in ("=SUM(A1)", "+1", "-1", "@cmd", "\tx"):
        assert neutralise(cell).startswith("'")
    assert neutralise("alice") == "alice" and neutralise(3.5) == 3.5


@pytest.mark.slow
def test_class_overview_lists_scores_mistakes_and_problems(graded_class):
    _, out, _ = graded_class
    page = (out / "index.html").read_text()
    assert "Class overview" in page and "<svg" in page
    assert "The recurrent bias b_hh is missing" in page  # bob's mistake, counted
    assert "erin-empty" in page and "nothing to grade" in page  # a grading problem, listed
    assert 'href="students/alice/feedback.html"' in page
    assert not re.search(r'(src|href)\s*=\s*"https?:', page)  # self-contained: nothing fetched
    assert "<script" not in page and "<link" not in page


@pytest.mark.slow
def test_resume_after_sigkill_regrades_only_the_unfinished(tmp_path, cache_dir):
    root = make_class(tmp_path / "class")
    slow = REFERENCE.replace("    z = x_t @ W_ih.T", "    import time\n    time.sleep(30)\n    z = x_t @ W_ih.T", 1)
    assert slow != REFERENCE
    for index in range(4):  # slow students make the kill land mid-run (asleep: slow without taking a core)
        write_submission(root / f"slow-{index}", {"srn.py": slow})
    out = tmp_path / "grades"
    env = {**os.environ, "GRADER_CACHE_DIR": str(cache_dir)}

    def report(into):
        args = ["report", str(root), "--out", str(into), "--workers", "2", *LIMITS]
        return [sys.executable, "-m", "grader", *args, *report_isolation(args)]

    command = report(out)
    batch = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(out.glob("students/*/feedback.json"))) < 3:
        time.sleep(0.05)
    os.killpg(batch.pid, signal.SIGKILL)
    batch.wait()
    finished = {p.parent.name: p.stat().st_mtime_ns for p in out.glob("students/*/feedback.json")}
    total = len(CLASS) + 1 + 4
    assert 3 <= len(finished) < total, "the kill did not land mid-run"
    for path in out.glob("students/*/feedback.json"):
        json.loads(path.read_text())  # no half-written file
    time.sleep(0.2)
    resumed = subprocess.run(command + ["--resume"], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{len(finished)} skipped" in resumed.stdout
    for student, mtime in finished.items():
        assert (out / "students" / student / "feedback.json").stat().st_mtime_ns == mtime, f"{student} was regraded"
    assert len(list(out.glob("students/*/feedback.json"))) == total
    fresh = tmp_path / "fresh"
    subprocess.run(report(fresh), cwd=REPO, env=env, check=True, capture_output=True, timeout=600)
    assert gradebook(out) == gradebook(fresh)


@pytest.mark.slow
def test_a_student_past_the_time_limit_is_timed_out_and_a_new_slot_grades_the_next(run_grade, tmp_path):
    """The overrunning slot is killed and replaced mid-run (spawned then: the grader runs threads by
    that time); the next student is graded as if nothing had happened."""
    root = tmp_path / "class"
    sleeps = REFERENCE.replace("    z = x_t @ W_ih.T", "    import time\n    time.sleep(120)\n    z = x_t @ W_ih.T", 1)
    assert sleeps != REFERENCE
    write_submission(root / "a-sleeps", {"srn.py": sleeps})
    write_submission(root / "b-honest", {"srn.py": REFERENCE})
    out = tmp_path / "grades"
    # Every call may take 300 s (no limit from the reference's time), and a call stuck in one sleep is
    # not stopped early (a function stuck once is refused in every later plain call): the student's 5 s
    # come first.
    limits = (
        "--student-timeout",
        "5",
        "--limit",
        "probe_timeout_s=300",
        "--limit",
        "timeout_factor=0",
        "--limit",
        "stuck_after_s=0",
    )
    run_grade("report", str(root), "--out", str(out), "--workers", "1", *limits)
    rows = {row["student"]: row for row in gradebook(out)}
    assert rows["a-sleeps"]["status"] == "timeout", rows["a-sleeps"]
    assert "grading took longer than" in rows["a-sleeps"]["notes"], rows["a-sleeps"]
    assert float(rows["b-honest"][A1]) == 100 and "took longer" not in rows["b-honest"]["notes"], rows["b-honest"]


def test_slots_are_forked_only_while_the_grader_runs_no_other_thread():
    """A fork copies the locks other threads hold: with a second thread alive, slots are spawned."""
    script = (
        "import threading, time\n"
        "from grader.grading.batch import _start_method\n"
        "alone = _start_method()\n"
        "threading.Thread(target=time.sleep, args=(2,), daemon=True).start()\n"
        "print(alone, _start_method())\n"
    )
    said = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True)
    assert said.stdout.split() == ["fork", "spawn"]


@pytest.mark.slow
def test_report_refuses_to_grade_unisolated_without_permission(run_grade, tmp_path):
    make_class(tmp_path / "class")
    process = run_grade("report", str(tmp_path / "class"), "--out", str(tmp_path / "o"), "--sandbox", "none", expect=1)
    assert "--allow-unsandboxed" in process.stderr
    write_submission(tmp_path / "one" / "alice", CLASS["alice"])  # one student shows it as well as seven
    allowed = run_grade(
        "report",
        str(tmp_path / "one"),
        "--out",
        str(tmp_path / "o"),
        "--sandbox",
        "none",
        "--allow-unsandboxed",
        *LIMITS,
    )
    assert "Graded 1 student" in allowed.stdout
    result = json.loads((tmp_path / "o" / "students" / "alice" / "feedback.json").read_text())
    assert result["isolation"]["isolated"] is False and "NOT ISOLATED" in result["isolation"]["description"]


@pytest.mark.slow
def test_unsafe_zip_is_recorded_not_unpacked(run_grade, tmp_path):
    root = tmp_path / "class"
    root.mkdir()
    with zipfile.ZipFile(root / "mallory.zip", "w") as archive:
        archive.writestr("../../escaped.py", "x = 1")
    run_grade("report", str(root), "--out", str(tmp_path / "o"))
    result = json.loads((tmp_path / "o" / "students" / "mallory" / "feedback.json").read_text())
    assert result["status"] == "empty" and "path leaving its folder" in result["message"]
    assert not (tmp_path / "escaped.py").exists()


def test_on_a_gpu_one_student_is_graded_at_a_time_unless_told():
    """Local slots share the machine's GPU, and one student's process can take all its memory: an
    isolation round's reading. One slot unless ``--workers`` says otherwise; on CPUs, one per core."""
    from grader.cli.report_command import default_workers
    from grader.grading.batch import cpu_count

    assert default_workers("cuda") == 1 and default_workers("cpu") == cpu_count()
