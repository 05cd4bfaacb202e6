"""`grade report` on Dask distributed (issue 14): the same gradebook as one machine, every student exactly
once when a Dask worker dies mid-batch, --resume, GPU scheduling, and Dask staying optional."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from conftest import REPO, SOLUTIONS, write_submission
from test_hostile import B_HH_MISSING

A1 = "a1_srn_numpy"
REFERENCE = (SOLUTIONS / A1 / "srn.py").read_text()
LIMITS = ("--limit", "probe_timeout_s=1", "--limit", "submission_timeout_s=4")
CLASS = {
    "alice": {"srn.py": REFERENCE},
    "bob": {"srn.py": REFERENCE.replace("+ h_prev @ W_hh.T + b_hh", "+ h_prev @ W_hh.T")},
    "carol-crashes": {"srn.py": REFERENCE.replace("def rnn_step(", "import os\nos._exit(1)\ndef rnn_step(", 1)},
    "dave-loops": {
        "srn.py": REFERENCE.replace("    z = x_t @ W_ih.T", "    while True:\n        pass\n    z = x_t @ W_ih.T", 1)
    },
    "erin-empty": {},
}


def make_class(root: Path, students: dict[str, dict[str, str]] = CLASS) -> Path:
    for name, files in students.items():
        (root / name).mkdir(parents=True)
        write_submission(root / name, files)
    with zipfile.ZipFile(root / "frank.zip", "w") as archive:  # a zip: unpacked by the instructor's machine
        archive.writestr("frank-hw1/a1_srn_numpy/srn.py", REFERENCE)
    return root


def gradebook(out: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO((out / "gradebook.csv").read_text())))


def results(out: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in out.glob("students/*/feedback.json")}


@pytest.fixture(scope="module")
def both_runs(tmp_path_factory, run_grade):
    """The same class graded on one machine (2 slots) and on a 2-worker local Dask cluster."""
    pytest.importorskip("distributed")
    root = make_class(tmp_path_factory.mktemp("class"))
    local = tmp_path_factory.mktemp("local")
    cluster = tmp_path_factory.mktemp("cluster")
    run_grade("report", str(root), "--out", str(local), "--workers", "2", *LIMITS)
    process = run_grade("report", str(root), "--out", str(cluster), "--cluster", "local:2", *LIMITS)
    return root, local, cluster, process


@pytest.mark.slow
def test_cluster_gradebook_equals_the_local_one(both_runs):
    root, local, cluster, process = both_runs
    assert "on the Dask cluster at tcp://" in process.stdout
    assert gradebook(cluster) == gradebook(local)
    assert {row["student"] for row in gradebook(cluster)} == set(CLASS) | {"frank"}
    on_cluster, here = results(cluster), results(local)
    assert set(on_cluster) == set(here)
    for student, result in here.items():
        other = on_cluster[student]
        for key in ("status", "score", "max_score", "content_hash", "message", "notes", "isolation"):
            assert other[key] == result[key], (student, key)
        assert [(a["id"], a["status"], a["score"]) for a in other["assignments"]] == [
            (a["id"], a["status"], a["score"]) for a in result["assignments"]
        ]
        assert other["submission"] == result["submission"]  # the instructor's path, not a worker's
    assert on_cluster["alice"]["score"] == 100 and on_cluster["frank"]["score"] == 100
    assert (cluster / "index.html").is_file() and (cluster / "students" / "bob" / "feedback.html").is_file()


@pytest.mark.slow
def test_resume_on_the_cluster_regrades_only_what_changed(both_runs, run_grade):
    root, _, cluster, _ = both_runs
    before = {p.parent.name: p.stat().st_mtime_ns for p in cluster.glob("students/*/feedback.json")}
    write_submission(root / "bob", CLASS["alice"])  # bob fixes his mistake
    time.sleep(0.05)
    process = run_grade("report", str(root), "--out", str(cluster), "--cluster", "local:2", "--resume", *LIMITS)
    after = {p.parent.name: p.stat().st_mtime_ns for p in cluster.glob("students/*/feedback.json")}
    assert after["bob"] != before["bob"] and results(cluster)["bob"]["score"] == 100
    kept = [s for s in before if s != "bob" and after[s] == before[s]]
    assert "alice" in kept and "frank" in kept
    assert f"{len(kept)} skipped" in process.stdout
    rows = gradebook(cluster)
    assert len(rows) == len({row["student"] for row in rows}) == len(CLASS) + 1


@pytest.mark.slow
def test_a_worker_killed_mid_batch_loses_no_student_and_counts_none_twice(tmp_path, cache_dir):
    """The Python API, so that the test can kill a Dask worker while it grades someone."""
    pytest.importorskip("distributed")
    from grader.course.model import load_course
    from grader.grading.batch import BatchOptions, run_batch
    from grader.grading.cluster import ClusterSession
    from grader.grading.slot import GradeOptions
    from grader.intake.students import discover
    from grader.report.class_outputs import write_class_outputs

    students = {f"student-{i}": CLASS["alice"] for i in range(8)}
    students["bob"] = CLASS["bob"]
    root = make_class(tmp_path / "class", students)
    out = tmp_path / "grades"
    course = load_course(REPO)
    limits = {"probe_timeout_s": 1.0, "submission_timeout_s": 4.0}
    options = GradeOptions(cache_dir=cache_dir, limits=limits)
    session = ClusterSession(local_workers=2)
    killed: list[str] = []
    try:
        isolation = session.prepare(course, options, [A1], require_isolation=False)
        pids = session.client.run(os.getpid)

        def done(outcome) -> None:
            if killed:
                return
            busy = [worker for worker, keys in session.client.processing().items() if keys]
            if busy:  # a worker in the middle of a student
                killed.append(busy[0])
                os.kill(pids[busy[0]], signal.SIGKILL)

        batch = BatchOptions(only=[A1], cluster=session, grade=options)
        outcomes = run_batch(course, discover(root), out, batch, isolation, on_done=done)
        write_class_outputs(course, out, [A1], isolation)
    finally:
        session.close()
    assert killed, "no worker was busy when the first student finished"
    ids = [o.student for o in outcomes]
    assert sorted(ids) == sorted([*students, "frank"]), "a student was lost or reported twice"
    graded = results(out)
    assert set(graded) == set(ids)
    for student in [*students, "frank"]:
        expected = B_HH_MISSING if student == "bob" else 100.0
        assert graded[student]["status"] == "graded", graded[student]
        assert graded[student]["score"] == pytest.approx(expected, abs=1e-4), graded[student]
    rows = gradebook(out)
    assert sorted(row["student"] for row in rows) == sorted(ids)


def test_without_dask_the_scheduler_option_says_what_to_install(tmp_path, run_grade):
    blocked = tmp_path / "no-dask"
    for name in ("dask", "distributed"):
        (blocked / name).mkdir(parents=True)
        (blocked / name / "__init__.py").write_text(
            f'raise ModuleNotFoundError("No module named {name}", name={name!r})\n'
        )
    root = make_class(tmp_path / "class", {"alice": CLASS["alice"]})
    env = {"PYTHONPATH": os.pathsep.join([str(blocked), os.environ.get("PYTHONPATH", "")])}
    process = run_grade(
        "report", str(root), "--out", str(tmp_path / "o"), "--scheduler", "tcp://127.0.0.1:1", env=env, expect=1
    )
    assert process.stderr.strip().splitlines() == [
        'error: grading on a Dask cluster needs Dask: pip install "rnn-autograder[cluster]"'
    ]
    assert not (tmp_path / "o" / "students").exists()


def test_local_grading_never_imports_dask():
    code = (
        "import sys, grader.cli, grader.grading.batch; sys.exit('distributed' in sys.modules or 'dask' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO, timeout=120).returncode == 0


def test_cluster_options_are_checked_before_anything_starts(tmp_path, run_grade):
    root = make_class(tmp_path / "class", {"alice": CLASS["alice"]})
    both = run_grade(
        "report", str(root), "--scheduler", "tcp://127.0.0.1:1", "--cluster", "local:2", expect=2
    )  # click's usage error
    assert "not both" in both.stderr
    wrong = run_grade("report", str(root), "--cluster", "remote:2", expect=2)
    assert "expected local:N" in wrong.stderr


def test_gpu_students_need_a_gpu_share_as_the_course_says(tmp_path):
    pytest.importorskip("distributed")
    from grader.course.model import load_course
    from grader.grading.cluster import task_resources

    course = load_course(REPO)
    assert task_resources(course, [A1], "cpu") is None
    assert task_resources(course, [A1], "cuda") == {"GPU": 1.0}
    copy = tmp_path / "course"
    shutil.copytree(REPO / "assignments" / A1, copy / "assignments" / A1)
    shutil.copytree(SOLUTIONS / A1, copy / "solutions" / A1)
    toml = copy / "assignments" / A1 / "assignment.toml"
    toml.write_text("students_per_gpu = 4\n" + toml.read_text())
    assert task_resources(load_course(copy), [A1], "cuda") == {"GPU": 0.25}


@pytest.mark.slow
def test_cuda_needs_a_worker_that_declares_a_gpu():
    pytest.importorskip("distributed")
    from distributed import LocalCluster

    from grader.grading.cluster import ClusterError, ClusterSession

    with LocalCluster(n_workers=1, processes=False, dashboard_address=None) as plain:
        with pytest.raises(ClusterError, match="--resources GPU=1"):
            ClusterSession(plain.scheduler_address, device="cuda")
        session = ClusterSession(plain.scheduler_address, device="auto")
        assert session.device == "cpu"
        session.close()
    with LocalCluster(n_workers=1, processes=False, dashboard_address=None, resources={"GPU": 1}) as gpus:
        session = ClusterSession(gpus.scheduler_address, device="auto")
        assert session.device == "cuda"
        session.close()


@pytest.mark.slow
def test_a_worker_with_another_version_of_the_course_is_refused(tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    from distributed import LocalCluster

    from grader.course.model import load_course
    from grader.grading.cluster import ClusterError, ClusterSession
    from grader.grading.slot import GradeOptions

    copy = tmp_path / "course"
    shutil.copytree(REPO / "assignments" / A1, copy / "assignments" / A1)
    shutil.copytree(SOLUTIONS / A1, copy / "solutions" / A1)
    (copy / "solutions" / A1 / "srn.py").write_text(REFERENCE + "\n# edited on this machine only\n")
    monkeypatch.setenv("GRADER_COURSE", str(copy))  # what the (in-process) worker grades against
    with LocalCluster(n_workers=1, processes=False, dashboard_address=None) as cluster:
        session = ClusterSession(cluster.scheduler_address)
        try:
            with pytest.raises(ClusterError, match="differs from the instructor's"):
                session.prepare(load_course(REPO), GradeOptions(), [A1], require_isolation=False)
        finally:
            session.close()


def test_a_student_that_keeps_killing_workers_is_recorded_once_as_an_error(tmp_path):
    """Dask gives up on a task after ``allowed-failures`` dead workers (KilledWorker): that student gets an
    error result of their own, and the batch goes on."""
    pytest.importorskip("distributed")
    from types import SimpleNamespace

    from distributed.scheduler import KilledWorker

    from grader.course.model import load_course
    from grader.grading.batch import BatchOptions
    from grader.grading.cluster import ClusterPool, _Pending
    from grader.intake.students import discover, opened

    class GivenUp:  # what Client.submit returns, once the scheduler has given up on the task
        def result(self) -> None:
            raise KilledWorker("grade-mallory", SimpleNamespace(address="tcp://10.0.0.9:1234"), 3)

        def release(self) -> None:
            pass

    root = make_class(tmp_path / "class", {"mallory": CLASS["alice"]})
    mallory = next(s for s in discover(root) if s.id == "mallory")
    out = tmp_path / "grades"
    pool = ClusterPool(SimpleNamespace(client=None), load_course(REPO), out, BatchOptions())
    opening = opened(mallory.path)
    outcome = pool._collect(GivenUp(), _Pending(mallory, opening.__enter__(), opening))
    assert outcome.student == "mallory" and outcome.status == "error"
    recorded = results(out)["mallory"]
    assert recorded["status"] == "error" and "died while grading it" in recorded["message"]


def test_a_batch_whose_workers_are_all_gone_stops_with_a_reason(monkeypatch):
    pytest.importorskip("distributed")
    from grader.grading import cluster as module

    class NoWorkers:
        def nthreads(self) -> dict:
            return {}

    class Session:
        client = NoWorkers()
        address = "tcp://10.0.0.1:8786"

    monkeypatch.setattr(module, "WORKER_WAIT_S", 0.0)
    pool = module.ClusterPool.__new__(module.ClusterPool)
    pool.session, pool.client = Session(), NoWorkers()
    alone_since = pool._still_served(None)
    assert alone_since is not None
    time.sleep(0.01)
    with pytest.raises(module.ClusterError, match="rerun with --resume"):
        pool._still_served(alone_since)
