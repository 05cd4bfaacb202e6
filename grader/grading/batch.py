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
import shutil
import signal
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.course.model import Course
from grader.grading.slot import GradeOptions, GradingSlot
from grader.intake.students import Student, UnsafeZip, unpack
from grader.report.results import RESULTS_DIR, AssignmentResult, SubmissionResult, result_path
from grader.sandbox import Isolation


@dataclass(frozen=True)
class BatchOptions:
    workers: int = 2
    resume: bool = False
    only: list[str] | None = None
    student_timeout_s: float | None = None  # default: derived from the assignments' budgets
    grade: GradeOptions = field(default_factory=GradeOptions)


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
    out.mkdir(parents=True, exist_ok=True)
    outcomes: list[Outcome] = []
    todo: list[Student] = []
    for student in students:
        skipped = _unchanged(course, student, out, options) if options.resume else None
        if skipped is not None:
            outcomes.append(skipped)
            if on_done:
                on_done(skipped)
        else:
            todo.append(student)
    if todo:
        pool = _SlotPool(course, out, options, isolation, min(max(options.workers, 1), len(todo)))
        try:
            for outcome in pool.run(todo, student_timeout(course, options)):
                outcomes.append(outcome)
                if on_done:
                    on_done(outcome)
        finally:
            pool.close()
    order = {s.id: i for i, s in enumerate(students)}
    return sorted(outcomes, key=lambda o: order.get(o.student, 0))


def _unchanged(course: Course, student: Student, out: Path, options: BatchOptions) -> Outcome | None:
    from grader.intake.submission import load

    path = result_path(out, student.id)
    try:
        recorded = SubmissionResult.load(path)
    except (OSError, ValueError, TypeError):
        return None
    if recorded.status == "error" or any(a.status == "error" for a in recorded.assignments):
        return None
    with _materialised(student) as unpacked:
        if unpacked.folder is None:
            return None
        current = load(unpacked.folder, course, options.only, options.grade.keep_all_cells).content_hash
    if current != recorded.content_hash:
        return None
    return Outcome(student.id, "skipped", recorded.score, recorded.max_score, 0.0, "unchanged since last graded")


class _materialised:
    """A student's folder: the folder itself, or a zip unpacked into a temporary folder (``refused``
    names the links it held, which were not unpacked)."""

    def __init__(self, student: Student) -> None:
        self.student = student
        self.temporary: str | None = None
        self.error: str | None = None
        self.refused: list[str] = []
        self.folder: Path | None = None

    def __enter__(self) -> _materialised:
        self.folder = self._open()
        return self

    def _open(self) -> Path | None:
        if self.student.refused:
            return None
        if not self.student.is_zip:
            return self.student.path
        self.temporary = tempfile.mkdtemp(prefix="grader-zip-")
        folder = Path(self.temporary) / self.student.name  # messages name the zip, not a temporary folder
        folder.mkdir()
        try:
            return unpack(self.student.path, folder, self.refused)
        except UnsafeZip as exc:
            self.error = str(exc)
            return None

    def __exit__(self, *exc: object) -> None:
        if self.temporary:
            shutil.rmtree(self.temporary, ignore_errors=True)


# -- slot processes --------------------------------------------------------------------------------


def _slot_main(
    slot: int, course: Course, out: str, options: BatchOptions, isolation: Isolation, tasks: Any, results: Any
) -> None:
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    grader = GradingSlot(course, options.grade, slot=slot, isolation=isolation, assignments=options.only)
    grader.start()
    try:
        while True:
            student = tasks.get()
            if student is None:
                break
            started = time.monotonic()
            try:
                outcome = grade_student(grader, student, Path(out), options.only)
            except Exception as exc:  # a grader bug must not stop the class: record it, go on
                outcome = Outcome(student.id, "error", message=f"grading failed: {type(exc).__name__}: {exc}")
                _record_failure(Path(out), student, outcome.message)
            outcome.seconds = round(time.monotonic() - started, 3)
            results.put((slot, outcome))
    finally:
        grader.close()


def grade_student(grader: GradingSlot, student: Student, out: Path, only: list[str] | None) -> Outcome:
    from grader.report.pages import write_feedback

    with _materialised(student) as unpacked:
        if unpacked.folder is None:
            message = student.refused or unpacked.error or f"{student.name} could not be unpacked"
            _record_failure(out, student, message, status="empty")
            return Outcome(student.id, "empty", message=message)
        result = grader.grade(unpacked.folder, student=student.id, only=only)
        result.notes = [*student.notes, *unpacked.refused, *result.notes]
        mark_missing(result, unpacked.folder, student.name)
    result.submission = str(student.path)
    write_feedback(result, out / RESULTS_DIR / student.id)
    status = result.status
    if status == "graded" and any(a.status == "error" for a in result.assignments):
        status = "error"
    return Outcome(student.id, status, result.score, result.max_score, result.duration, result.message)


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
        if "found:" not in reason and "empty" not in reason:
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
    for top, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__")))
        names += sorted(str(Path(top, f).relative_to(folder)) for f in files if not f.startswith("."))
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
        self.context = mp.get_context("spawn")
        self.course, self.out, self.options, self.isolation = course, out, options, isolation
        self.results = self.context.Queue()
        self.slots: dict[int, tuple[Any, Any]] = {}
        for slot in range(size):
            self._start(slot)

    def _start(self, slot: int) -> None:
        tasks = self.context.Queue()
        process = self.context.Process(
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


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1
