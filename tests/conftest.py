"""Shared fixtures: run the real `grade` command in a subprocess, as students and instructors do."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from warm_grade import WarmGrade

# Official grading draws its seeds from the course secret (grader.course.secret): one fixed key makes the
# suite's scores reproducible on every machine, and keeps it from writing a key into the checkout.
os.environ["GRADER_SECRET"] = "rnn-autograder-test-suite"

REPO = Path(__file__).resolve().parent.parent
SOLUTIONS = REPO / "solutions"
TEMPLATE = REPO / "student_template"


# The longest files first, longest first (seconds on two quiet cores, from `pytest -n 2 --durations=0`).
# pytest-xdist (--dist loadfile --no-loadscope-reorder, pyproject.toml) hands out whole files in this
# order as workers free up, so only short files are left at the end and neither worker waits long for
# the other. A stale list costs only that balance, never a result.
LONGEST_FILES = (
    "test_contract.py",  # 81 s: the whole course (references, stubs, then every mutant)
    "test_integrity.py",  # 79
    "test_sandbox.py",  # 46
    "test_a2_ohlol.py",  # 30
    "test_a5_sentiment.py",  # 27
    "test_report.py",  # 26
    "test_student_workflow.py",  # 21
    "test_notebooks_as_py.py",  # 20
    "test_hostile.py",  # 19
    "test_a3_craft_rnn.py",  # 18
    "test_rejudge.py",  # 16
    "test_isolation.py",  # 15
    "test_intake_and_caps.py",  # 15
    "test_gradescope_build.py",  # 14
    "test_a4_seq2seq.py",  # 13
    "test_release.py",  # 13
    "test_cluster.py",  # 12
    "test_checks_surface.py",  # 10
    "test_untouched.py",  # 9
    "test_a1_torch_absent.py",  # 8
    "test_trained_weights.py",  # 7
    "test_a1_srn.py",  # 7
    "test_mistakes_and_diagnoses.py",  # 6
    "test_a3_integrity.py",  # 6
)


def pytest_configure(config: pytest.Config) -> None:
    """Where Python is told not to write bytecode (PYTHONDONTWRITEBYTECODE, set on some CI machines),
    each of the suite's ~170 `grade` processes and ~350 sandboxed processes would compile the grader and
    the course from source again (about 13 CPU-s in all): compile them once, before any test starts."""
    if sys.dont_write_bytecode and not os.environ.get("PYTEST_XDIST_WORKER"):
        import compileall

        for folder in ("grader", "assignments", "solutions"):
            compileall.compile_dir(REPO / folder, quiet=1)


# Collecting imports torch, the grader and every test module: a million objects that live as long as the
# test process and that the collector would walk at each of its passes (a third of collection's CPU, and
# again at every pass while tests run). As the grader's own workers do (grader/inside/zygote.py): no
# collection while importing, then those objects frozen out of its reach.
gc.disable()


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> None:
    """After collection, before the first test (pytest-xdist's controller, which collects nothing, too)."""
    gc.freeze()
    gc.enable()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: index for index, name in enumerate(LONGEST_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: each file keeps its order


def report_isolation(args: tuple[str, ...] | list[str]) -> list[str]:
    """Where bubblewrap cannot run, `grade report` refuses to grade unless told to: the class tests
    then say so (they test grading, not isolation; tests of isolation are skipped with a reason)."""
    from grader.sandbox.isolation import bubblewrap_works

    if args and args[0] == "report" and "--sandbox" not in args and not bubblewrap_works():
        return ["--allow-unsandboxed"]
    return []


def report_slots(args: tuple[str, ...] | list[str]) -> list[str]:
    """`grade report` grades with one slot per CPU core unless told; here one slot unless the test says
    (``-j``, ``--workers``, a cluster). The suite's two test processes already keep both cores busy, and
    each slot costs a torch start-up (about 1.3 CPU-s) and its own reference worker."""
    told = {"-j", "--workers", "--cluster", "--scheduler"}
    if args and args[0] == "report" and not any(arg in told or arg.startswith(("-j", "--workers=")) for arg in args):
        return ["--workers", "1"]
    return []


def curve_rtol(on_the_cpu: float = 1e-4) -> float:
    """How closely two correct implementations' training curves agree on the tests' grading device: on a
    GPU their float operations round differently (a4's 40-epoch curves by up to 7.7e-4 on an H200), which
    the assignments' own GPU tolerance (rtol 1e-2) allows."""
    return 1e-2 if os.environ.get("GRADER_TESTS_DEVICE") == "cuda" else on_the_cpu


def tests_device(args: tuple[str, ...] | list[str]) -> list[str]:
    """GRADER_TESTS_DEVICE=cuda grades every `grade submit` and `grade report` of the tests on the GPU
    (unless the test names a device): the class tests then check the probes there, where only a
    machine with a GPU can (benchmarks/gpu_check.sh). Tests that call the engine directly stay on the CPU."""
    device = os.environ.get("GRADER_TESTS_DEVICE")
    if device and args and args[0] in ("submit", "report") and not any(arg.startswith("--device") for arg in args):
        return ["--device", device]
    return []


@pytest.fixture(scope="session")
def cache_dir(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One expected-data cache for the whole session: each reference answer is computed once.

    Under pytest-xdist the workers share it (their base folders have one parent): the cache locks each
    entry while it is computed, so two workers never compute the same answer twice. The first to ask
    for it also starts :func:`_compute_reference_answers` in the background."""
    base = tmp_path_factory.getbasetemp()
    cache = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "expected-cache"
    cache.mkdir(exist_ok=True)
    computing = None
    try:
        (cache.parent / "reference-answers").mkdir()  # exactly one process of the run gets to create it
        if not pytestconfig.getoption("markexpr"):
            computing = _compute_reference_answers(cache)
    except FileExistsError:
        pass
    yield cache
    if computing is not None:
        try:
            computing.wait(timeout=60)
        except subprocess.TimeoutExpired:
            computing.kill()
            computing.wait()


def _compute_reference_answers(cache: Path) -> subprocess.Popen[bytes]:
    """Compute the course's reference answers in the background, while the first tests run.

    One `grade submit` of the stubs asks the reference every hidden check's question (the stubs fail at
    once, so the reference answers are nearly all it computes). Without it, each early `grade` run that
    finds an answer missing starts its own trusted worker (a torch start-up) to compute it; with it, they
    wait for the answer being computed (the entry's lock) or find it done. Nothing depends on it: an
    answer a test needs first is computed by that test. Not for a selection by marker (`-m "not slow"`,
    the one-minute loop): there it would cost more than it saves."""
    environment = {**os.environ, "GRADER_CACHE_DIR": str(cache)}
    environment.pop("GRADER_COURSE", None)
    out = cache.parent / "reference-answers"
    return subprocess.Popen(
        [sys.executable, "-m", "grader", "submit", str(TEMPLATE), "--course", str(REPO), "--out", str(out), "--json"],
        cwd=REPO,
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.fixture(scope="session")
def naming_course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The course without the checks that can name no catalogued mistake (catalogue_reach): where tests
    that only ask whether a mistake is named grade their wrong submissions. One copy per test process."""
    from catalogue_reach import course_naming_only

    return course_naming_only(REPO, tmp_path_factory.mktemp("naming") / "course")


@pytest.fixture(scope="session")
def run_grade(cache_dir: Path) -> Iterator[Callable[..., subprocess.CompletedProcess[str]]]:
    """``run_grade(*args)`` runs the `grade` command in a process of its own and checks its exit status.

    The process is forked from a server that has already imported the grader (tests/warm_grade.py): the
    same command as `python -m grader ARGS`, without its 0.3-0.5 CPU-s of imports each time.
    GRADER_TESTS_COLD=1 starts a fresh interpreter for every command instead."""
    warm = None if os.environ.get("GRADER_TESTS_COLD") else WarmGrade()

    def run(
        *args: str,
        expect: int | None = 0,
        cwd: Path | None = None,
        timeout: float = 600,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        environment = {**os.environ, "GRADER_CACHE_DIR": str(cache_dir), **(env or {})}
        environment.pop("GRADER_COURSE", None)
        arguments = [*args, *report_isolation(args), *report_slots(args), *tests_device(args)]
        if warm is not None and warm.serves(environment):
            process = warm.run(arguments, cwd=cwd or REPO, env=environment, timeout=timeout)
        else:
            process = subprocess.run(
                [sys.executable, "-m", "grader", *arguments],
                capture_output=True,
                text=True,
                cwd=cwd or REPO,
                env=environment,
                timeout=timeout,
            )
        if expect is not None:
            assert process.returncode == expect, (
                f"grade {' '.join(args)} exited {process.returncode}, expected {expect}\n"
                f"stdout:\n{process.stdout[-3000:]}\nstderr:\n{process.stderr[-3000:]}"
            )
        return process

    yield run
    if warm is not None:
        warm.close()


@pytest.fixture
def grade(run_grade: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path) -> Callable[..., dict[str, Any]]:
    """``grade(folder, *options)`` runs ``grade submit --json`` and returns the parsed result."""
    counter = iter(range(10**6))

    def run(folder: Path, *options: str, expect: int = 0) -> dict[str, Any]:
        out = tmp_path / f"feedback-{next(counter)}"
        process = run_grade("submit", str(folder), "--out", str(out), "--json", *options, expect=expect)
        result = json.loads(process.stdout)
        assert json.loads((out / "feedback.json").read_text()) == result, "the recorded result differs"
        assert (out / "feedback.html").is_file()
        return result

    return run


def checks_of(result: dict[str, Any], assignment: str) -> list[dict[str, Any]]:
    for entry in result["assignments"]:
        if entry["id"] == assignment:
            return entry["checks"]
    raise AssertionError(f"{assignment} was not graded: {[a['id'] for a in result['assignments']]}")


def score_of(result: dict[str, Any], assignment: str) -> float:
    for entry in result["assignments"]:
        if entry["id"] == assignment:
            return entry["score"]
    raise AssertionError(f"{assignment} was not graded")


def write_submission(folder: Path, files: dict[str, str | bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return folder


def report_class(
    run_grade: Callable[..., subprocess.CompletedProcess[str]],
    root: Path,
    out: Path,
    students: dict[str, Path | dict[str, str | bytes]],
    *options: str,
    workers: int = 1,
) -> dict[str, Any]:
    """Grade ``students`` with one `grade report` (one pre-started worker per slot, so torch is imported
    once, not once per submission); ``{student: result}``. A value is a folder (copied) or files to write.

    One slot unless asked: the suite's two test processes already keep both cores busy, and each slot
    costs a torch start-up (about 1.3 CPU-s) and its own reference worker."""
    import shutil

    root.mkdir(parents=True, exist_ok=True)
    for name, content in students.items():
        if isinstance(content, dict):
            write_submission(root / name, content)
        else:
            shutil.copytree(content, root / name)
    run_grade("report", str(root), "--out", str(out), "--workers", str(workers), *options)
    return {name: json.loads((out / "students" / name / "feedback.json").read_text()) for name in students}


@pytest.fixture
def grade_class(
    run_grade: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path
) -> Callable[..., dict[str, Any]]:
    """``grade_class({"alice": folder_or_files, ...}, *options)``: :func:`report_class` in this test's
    temporary folder."""
    counter = iter(range(10**6))

    def run(students: dict[str, Path | dict[str, str | bytes]], *options: str, workers: int = 1) -> dict[str, Any]:
        number = next(counter)
        return report_class(
            run_grade, tmp_path / f"class-{number}", tmp_path / f"grades-{number}", students, *options, workers=workers
        )

    return run


def expect_stub_scores_zero(result: dict[str, Any], assignment: str) -> list[dict[str, Any]]:
    """The generated stub: 0 points, every check failed with "not implemented", no traceback (checks
    that do not apply on this device, such as a GPU-only rule on a CPU, are skipped and not counted)."""
    checks = [c for c in checks_of(result, assignment) if c["status"] != "skipped" or c.get("counted", True)]
    assert score_of(result, assignment) == 0 and checks, "the stub scored points, or no checks ran"
    for check in checks:
        assert check["status"] == "failed", check
        assert "is not implemented yet" in check["message"], check
        assert "Traceback" not in check["message"]
    return checks


def expect_partial_credit(
    result: dict[str, Any], assignment: str, name: str, mistake: str | None
) -> list[dict[str, Any]]:
    """A wrong submission: strictly between 0 and 100, every lost check explained, and the catalogued
    ``mistake`` (if any) named by at least one check."""
    score = score_of(result, assignment)
    assert 0 < score < 100, f"{name} scored {score}"
    checks = checks_of(result, assignment)
    failed = [c for c in checks if c["status"] != "passed"]
    assert failed and all(c["message"] for c in failed), name
    if mistake is not None:
        named = [c for c in checks if c["mistake"] == mistake]
        assert named, f"{name}: no check named the mistake {mistake}: {[(c['name'], c['message']) for c in failed]}"
        assert all("Known mistake" in c["diagnosis"] for c in named)
    return checks


def nest(folder, levels: int) -> None:
    """``levels`` folders, each inside the last, with a file at the bottom (made relative to the one
    above: a path that long is past what one system call takes)."""
    here = os.open(folder, os.O_RDONLY)
    try:
        for _ in range(levels):
            os.mkdir("d", dir_fd=here)
            inner = os.open("d", os.O_RDONLY, dir_fd=here)
            os.close(here)
            here = inner
        os.close(os.open("x.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=here))
    finally:
        os.close(here)


def unnest(folder) -> None:
    """Remove what :func:`nest` made, one level at a time from the top (each inner folder moved up)."""
    top, spare = folder / "d", folder / "d-next"
    while top.is_dir():
        if (top / "d").is_dir():
            (top / "d").rename(spare)
        for leftover in top.iterdir():
            leftover.unlink()
        top.rmdir()
        if spare.is_dir():
            spare.rename(top)
