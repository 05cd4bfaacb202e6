"""Grading a whole class in parallel: `grade report`.

N slot processes each own a :class:`~grader.grading.slot.GradingSlot` (one pre-started zygote, so no student
pays the torch import). The parent hands out one student at a time, watches a wall-clock limit per
student (a slot that overruns is killed and replaced; the student is recorded as "timed out"), and
updates the progress bar. Each slot writes its student's result atomically as soon as it is done,
so killing the batch loses nothing finished, and ``--resume`` skips students whose submission is
unchanged since their recorded result.
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import queue
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.course.model import Course
from grader.grading.request import GradeRequest
from grader.grading.slot import GradeOptions, GradingSlot
from grader.intake.students import Student, opened
from grader.intake.tree import files_under
from grader.report.results import (
    RESULTS_DIR,
    AssignmentResult,
    SubmissionResult,
    keep_other_assignments,
    result_path,
)
from grader.sandbox import Isolation


@dataclass(frozen=True)
class BatchOptions:
    workers: int = 2
    resume: bool = False
    only: list[str] | None = None
    student_timeout_s: float | None = None  # default: derived from the assignments' budgets
    grade: GradeOptions = field(default_factory=GradeOptions)
    cluster: Any = None  # a prepared grader.grading.cluster.ClusterSession: grade on its Dask workers


@dataclass
class Outcome:
    student: str
    status: str  # graded | empty | error | timeout | skipped (unchanged, --resume)
    score: float = 0.0
    max_score: float = 0.0
    seconds: float = 0.0
    message: str = ""


def student_timeout(course: Course, options: BatchOptions) -> float:
    """Generous: every assignment may use its whole budget, plus start-up and reference answers."""
    if options.student_timeout_s:
        return options.student_timeout_s
    budgets = [options.grade.limits_for(spec).submission_timeout_s for spec in course.assignments.values()]
    return 120.0 + 1.5 * sum(budgets)


def run_batch(
    course: Course,
    students: list[Student],
    out: Path,
    options: BatchOptions,
    isolation: Isolation,
    on_done: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Grade ``students`` in parallel slots. With ``resume``, a slot opens each student's submission
    (a zip unpacked once), reads it once, and grades it only if its content changed since its
    recorded result."""
    out.mkdir(parents=True, exist_ok=True)
    outcomes: list[Outcome] = []
    if students:
        pool: Any = (
            options.cluster.pool(course, out, options)
            if options.cluster is not None
            else _SlotPool(course, out, options, isolation, min(max(options.workers, 1), len(students)))
        )
        try:
            for outcome in pool.run(students, student_timeout(course, options)):
                outcomes.append(outcome)
                if on_done:
                    on_done(outcome)
        finally:
            pool.close()
    order = {s.id: i for i, s in enumerate(students)}
    return sorted(outcomes, key=lambda o: order.get(o.student, 0))


def _recorded_hash(out: Path, student_id: str) -> str | None:
    """The content hash of the student's recorded result, if it may be kept (not an error)."""
    try:
        recorded = SubmissionResult.load(result_path(out, student_id))
    except (OSError, ValueError, TypeError):
        return None
    if recorded.status == "error" or any(a.status == "error" for a in recorded.assignments):
        return None
    return recorded.content_hash or None


# -- slot processes --------------------------------------------------------------------------------


def _slot_main(
    slot: int, course: Course, out: str, options: BatchOptions, isolation: Isolation, tasks: Any, results: Any
) -> None:
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    grader = GradingSlot(course, options.grade, slot=slot, isolation=isolation)  # workers start on first use
    try:
        while True:
            student = tasks.get()
            if student is None:
                break
            started = time.monotonic()
            try:
                outcome = grade_student(grader, student, Path(out), options)
            except Exception as exc:  # a grader bug must not stop the class: record it, go on
                outcome = Outcome(student.id, "error", message=f"grading failed: {type(exc).__name__}: {exc}")
                _record_failure(Path(out), student, outcome.message)
            outcome.seconds = round(time.monotonic() - started, 3)
            results.put((slot, outcome))
    finally:
        grader.close()


def grade_student(grader: GradingSlot, student: Student, out: Path, options: BatchOptions) -> Outcome:
    """Open (a zip: unpack), read and grade one student, once each; write their result and page."""
    from grader.intake.submission import load

    request = GradeRequest.for_student(student, tuple(options.only or ()))
    with opened(request.path, request.refusal) as found:
        if found.folder is None:
            message = found.problem or f"{student.name} could not be unpacked"
            _record_failure(out, student, message, status="empty")
            return Outcome(student.id, "empty", message=message)
        submission = load(found.folder, grader.course, request.only, grader.options.keep_all_cells)
        if options.resume and submission.content_hash == _recorded_hash(out, student.id):
            recorded = SubmissionResult.load(result_path(out, student.id))
            return Outcome(
                student.id, "skipped", recorded.score, recorded.max_score, 0.0, "unchanged since last graded"
            )
        result = grader.grade_loaded(submission, request, found.refused)
        mark_missing(result, found.folder, student.name)
    return record_result(out, student, result, options.only, result.duration)


def record_result(
    out: Path, student: Student, result: SubmissionResult, only: Sequence[str] | None, seconds: float
) -> Outcome:
    """Write a graded student's result and page (an ``-a`` run adds to what earlier runs graded), and
    say how it went; one place for local slots and Dask workers alike."""
    from grader.report.pages import write_feedback

    result.submission = str(student.path)
    result = keep_other_assignments(result, result_path(out, student.id), only or ())
    write_feedback(result, out / RESULTS_DIR / student.id)
    status = result.status
    if status == "graded" and any(a.status == "error" for a in result.assignments):
        status = "error"
    return Outcome(student.id, status, result.score, result.max_score, seconds, result.message)


MAX_LISTED = 5  # files named in a missing assignment's reason


def mark_missing(result: SubmissionResult, folder: Path, name: str) -> None:
    """Work that is not there stays missing: an assignment for which no file was found (none handed in,
    a wrongly named file, a link leading out) is "missing" with the reason, never "graded" at 0 with its
    checks failed; where every assignment asked for is missing, the submission itself is "empty"."""
    files = _listing(folder)
    for index, assignment in enumerate(result.assignments):
        if assignment.status != "graded" or assignment.source is not None:
            continue
        reason = assignment.message or "no file for it was found"
        reason += f" (found: {files})" if files else f" ({name} is empty)"
        result.assignments[index] = AssignmentResult(
            id=assignment.id,
            title=assignment.title,
            status="missing",
            max_score=assignment.max_score,
            mode=assignment.mode,
            message=reason,
            notes=assignment.notes,
        )
    if result.status == "graded" and result.assignments and all(a.status == "missing" for a in result.assignments):
        result.status = "empty"
        result.message = (
            f"{name} is empty: there is nothing to grade"
            if not files
            else f"nothing to grade in {name}: {'; '.join(a.message for a in result.assignments)}"
        )
    result.total()


def _listing(folder: Path, limit: int = 200) -> str:
    """The first few files of a student's folder (links not followed, at most ``limit`` looked at), for
    the instructor wondering why nothing was found."""
    names: list[str] = []
    hidden = (".", "__")
    for path in files_under(
        folder, skip_folder=lambda name: name.startswith(hidden), skip_file=lambda name: name.startswith(".")
    ):
        names.append(str(path.relative_to(folder)))
        if len(names) >= limit:
            break
    shown = ", ".join(names[:MAX_LISTED])
    return shown + (f" and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else "")


def _record_failure(out: Path, student: Student, message: str, status: str = "error") -> None:
    """Even a student whose grading failed gets a result file (and so a row and a page)."""
    import datetime as _dt

    import grader as package
    from grader.report.pages import write_feedback

    result = SubmissionResult(
        student=student.id,
        submission=str(student.path),
        content_hash="",
        status=status,
        message=message,
        graded_at=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        grader_version=package.__version__,
        notes=list(student.notes),
    )
    write_feedback(result, out / RESULTS_DIR / student.id)


def _die_with_parent() -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class _SlotPool:
    def __init__(self, course: Course, out: Path, options: BatchOptions, isolation: Isolation, size: int) -> None:
        self.context = mp.get_context("spawn")  # the queues: a slot started either way can be handed them
        self.course, self.out, self.options, self.isolation = course, out, options, isolation
        self.results = self.context.Queue()
        self.slots: dict[int, tuple[Any, Any]] = {}
        for slot in range(size):
            self._start(slot)

    def _start(self, slot: int) -> None:
        tasks = self.context.Queue()
        starter: Any = mp.get_context(_start_method())  # typeshed's BaseContext lacks Process
        process = starter.Process(
            target=_slot_main,
            args=(slot, self.course, str(self.out), self.options, self.isolation, tasks, self.results),
            daemon=True,
        )
        process.start()
        self.slots[slot] = (process, tasks)

    def run(self, students: list[Student], timeout: float):
        pending = list(reversed(students))
        busy: dict[int, tuple[Student, float]] = {}
        for slot in self.slots:
            if pending:
                student = pending.pop()
                self.slots[slot][1].put(student)
                busy[slot] = (student, time.monotonic())
        while busy:
            try:
                slot, outcome = self.results.get(timeout=0.5)
            except queue.Empty:
                for slot, (student, started) in list(busy.items()):
                    process = self.slots[slot][0]
                    overran = time.monotonic() - started > timeout
                    if overran or not process.is_alive():
                        yield self._replace(slot, student, started, overran)
                        del busy[slot]
                        if pending:
                            nxt = pending.pop()
                            self.slots[slot][1].put(nxt)
                            busy[slot] = (nxt, time.monotonic())
                continue
            if slot not in busy:
                continue
            del busy[slot]
            yield outcome
            if pending:
                student = pending.pop()
                self.slots[slot][1].put(student)
                busy[slot] = (student, time.monotonic())

    def _replace(self, slot: int, student: Student, started: float, overran: bool) -> Outcome:
        process, _ = self.slots[slot]
        if process.is_alive():
            process.kill()
        process.join(5)
        seconds = round(time.monotonic() - started, 3)
        message = (
            f"grading took longer than {seconds:.0f} s and was stopped"
            if overran
            else "the grading process died unexpectedly"
        )
        _record_failure(self.out, student, message, status="timeout" if overran else "error")
        self._start(slot)
        return Outcome(student.id, "timeout" if overran else "error", seconds=seconds, message=message)

    def close(self) -> None:
        for _process, tasks in self.slots.values():
            try:
                tasks.put(None)
            except (OSError, ValueError):
                pass
        deadline = time.monotonic() + 30
        for process, _ in self.slots.values():
            process.join(max(0.1, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join(5)


def _start_method() -> str:
    """How a slot process starts: forked while the grader runs no other thread, so that it begins with
    the course and the grader's imports already loaded (a spawned slot imports them again: about 0.35
    CPU-s per slot, as long again before its first student); spawned otherwise, since a lock another
    thread held at the fork would stay held in the copy. A slot replaced mid-run is spawned: by then
    the queues' feeder threads run."""
    return "fork" if threading.active_count() == 1 else "spawn"


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1
