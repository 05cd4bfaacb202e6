"""`grade rejudge GRADES/`: judge a class again from the probe answers stored with its results.

The checks run exactly as in grading (the same :class:`GradingSlot`, the same pytest plugin, expected
data from the cache or the reference worker), but the student's worker is a :class:`ReplayWorker` that
answers each probe call from the stored recording: changed points, tolerances, judges and the mistake
catalogue apply, and no student code runs (no student sandbox is ever made). The verifier's stored
answers are replayed too, unless verify.py changed (then the instructor's verifier runs again on the
stored weights).

A student needs a regrade (listed, and left as graded until then) when a check asks a probe call the
recording does not hold (its probes or arguments changed), the probes' code changed, their submission
changed or is gone, or an answer was too large to keep. Their result's content hash is cleared so that
``grade report --resume`` re-runs exactly those students.
"""

from __future__ import annotations

import datetime as _dt
import json
import multiprocessing as mp
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from grader.course.model import AssignmentSpec, Course
from grader.files import write_atomic
from grader.grading.batch import cpu_count, mark_missing
from grader.grading.request import GradeRequest
from grader.grading.slot import GradeOptions, GradingSlot
from grader.intake.static_checks import StaticFindings
from grader.intake.students import Student, opened
from grader.intake.submission import SubmittedModule, load
from grader.judging.expected import REFERENCE, References, call_key
from grader.judging.replay import Recording, ReplayVerifier, ReplayWorker, fingerprint
from grader.report.results import RESULTS_DIR, AssignmentResult, SubmissionResult
from grader.sandbox import Limits

REJUDGE_FILE = "rejudge.json"
MAX_WORKERS = 4  # processes that share a class
MIN_PER_WORKER = 10  # students a process must have to be worth forking
NOT_REJUDGED = ("error", "empty", "timeout")  # statuses with nothing stored to judge again


@dataclass
class ScoreChange:
    student: str
    assignment: str
    check: str
    old: float | None  # None: the check is new
    new: float | None  # None: the check is gone
    why: str


@dataclass
class RejudgeReport:
    rejudged: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    needs_regrade: dict[str, list[str]] = field(default_factory=dict)  # student -> reasons
    skipped: dict[str, str] = field(default_factory=dict)  # student -> why nothing was rejudged
    changes: list[ScoreChange] = field(default_factory=list)
    totals: dict[str, tuple[float, float]] = field(default_factory=dict)  # student -> (old, new)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rejudged": self.rejudged,
            "unchanged": self.unchanged,
            "needs_regrade": self.needs_regrade,
            "skipped": self.skipped,
            "totals": {s: {"old": o, "new": n} for s, (o, n) in self.totals.items()},
            "changes": [vars(change) for change in self.changes],
        }


class ReplaySlot(GradingSlot):
    """A grading slot whose student worker replays stored answers: it never runs student code. Its
    verifier, which measures weights the students' processes sent (when verify.py changed), runs in the
    sandbox a grading would use: an isolation round found it running as root with no sandbox at all."""

    def __init__(self, course: Course, options: GradeOptions) -> None:
        super().__init__(course, options)
        self._stored: dict[tuple[str, str], tuple[Recording, str, str]] = {}  # recording, output, hidden output
        self._current: Recording = Recording()
        self.workers: list[ReplayWorker] = []
        self.verifiers: list[ReplayVerifier] = []
        self.stale: list[str] = []  # recordings that cannot be replayed (probes changed)

    def replaying(self, old: SubmissionResult) -> None:
        """Answer the next grading from ``old``'s stored recordings (its questions: ``old.draw``)."""
        self._replayed_draw = old.draw
        self._stored.clear()
        self.workers, self.verifiers, self.stale = [], [], []
        if old.device in ("cpu", "cuda") and old.device != self.options.device:  # its tolerances are the device's
            self.options = replace(self.options, device=old.device)
        for assignment in old.assignments:
            recording = Recording.decode(assignment.recorded)
            if recording is not None and assignment.source:
                self._stored[(assignment.id, assignment.source)] = (
                    recording,
                    assignment.output,
                    assignment.hidden_output,
                )

    def start(self, assignments: list[str] | None = None) -> None:
        """Nothing to start: no student code runs."""

    def references_for(self, spec: AssignmentSpec) -> References:
        if spec.id not in self._references:
            cache = None if spec.shipped_expected else self.cache
            self._references[spec.id] = _KeptReferences(
                spec, self._catalog(spec), cache, lambda: self.trusted_sandbox_for(spec), secret=self._secret_for(spec)
            )
        return self._references[spec.id]

    def _worker(self, work: SubmittedModule, spec: AssignmentSpec, static: StaticFindings, limits: Limits) -> Any:
        if work.problem or static.syntax_error:  # failed before any probe: graded without a worker, as before
            self._current = Recording()
            return super()._worker(work, spec, static, limits)
        stored = self._stored.get((spec.id, work.path.name if work.path else ""))
        if stored is None:
            self.stale.append(f"{spec.id}: no probe answers were stored for {work.filename}")
            recording, output, hidden_output = Recording(), "", ""
        else:
            recording, output, hidden_output = stored
            if recording.probes_hash != fingerprint(spec.probes_source()):
                self.stale.append(f"{spec.id}: the probes changed since this student was graded")
        self._current = recording
        worker = ReplayWorker(recording, output, hidden_output)
        self.workers.append(worker)
        return worker

    def verifier_for(self, spec: AssignmentSpec) -> Any:
        if spec.verify_source() is None:
            return None
        recording = self._current
        if recording.verify_hash != fingerprint(spec.verify_source()):
            recording = Recording()  # verify.py changed: every answer is measured again
        verifier = ReplayVerifier(recording, lambda: GradingSlot.verifier_for(self, spec))
        self.verifiers.append(verifier)
        return verifier

    def misses(self) -> list[str]:
        return [*self.stale, *(miss for worker in self.workers for miss in worker.misses)]


class _KeptReferences(References):
    """Reference answers kept in memory for the whole class (read from the disk cache once, not per student)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._kept: dict[tuple[str, str, str], dict[str, Any]] = {}

    def entry(self, probe: str, args: dict[str, Any], seed: int = 0, variant: str = REFERENCE) -> dict[str, Any]:
        key = (probe, call_key(probe, args, seed), variant)
        if key not in self._kept:
            self._kept[key] = super().entry(probe, args, seed, variant)
        return self._kept[key]


def rejudge_class(
    course: Course, grades: Path, options: GradeOptions | None = None, workers: int | None = None
) -> RejudgeReport:
    """Judge every stored result under ``grades`` again; write the changed results and rejudge.json.

    ``workers`` processes (default: one per CPU, at most 4, none for a small class) share the class."""
    paths = sorted((grades / RESULTS_DIR).glob("*/feedback.json"))
    if workers is None:
        workers = min(cpu_count(), MAX_WORKERS, max(len(paths) // MIN_PER_WORKER, 1))
    workers = max(min(workers, len(paths)), 1)
    if workers > 1 and "fork" in mp.get_all_start_methods():
        with mp.get_context("fork").Pool(workers) as pool:  # forked: the course and imports are already here
            parts = pool.starmap(_rejudge_paths, [(course, grades, options, paths[i::workers]) for i in range(workers)])
    else:
        parts = [_rejudge_paths(course, grades, options, paths)]
    report = RejudgeReport()
    for part in parts:
        report.rejudged += part.rejudged
        report.unchanged += part.unchanged
        report.needs_regrade.update(part.needs_regrade)
        report.skipped.update(part.skipped)
        report.changes += part.changes
        report.totals.update(part.totals)
    report.rejudged.sort()
    report.unchanged.sort()
    report.changes.sort(key=lambda change: (change.student, change.assignment))
    report.needs_regrade = dict(sorted(report.needs_regrade.items()))
    report.skipped = dict(sorted(report.skipped.items()))
    report.totals = dict(sorted(report.totals.items()))
    write_atomic(grades / REJUDGE_FILE, json.dumps(report.to_dict(), indent=2).encode("utf-8"))
    return report


def _rejudge_paths(course: Course, grades: Path, options: GradeOptions | None, paths: list[Path]) -> RejudgeReport:
    from grader.report.pages import write_feedback

    report = RejudgeReport()
    slot = ReplaySlot(course, options or GradeOptions())
    try:
        for path in paths:
            student_id = path.parent.name
            try:
                old = SubmissionResult.load(path)
            except (OSError, ValueError, TypeError) as exc:
                report.skipped[student_id] = f"its result cannot be read ({exc})"
                continue
            new, why = _rejudge_one(slot, course, old, student_id)
            if new is None:
                if why and old.status not in NOT_REJUDGED:
                    report.needs_regrade[student_id] = why
                    _mark_for_regrade(old, path, why)
                else:
                    report.skipped[student_id] = "; ".join(why) or f"nothing stored to judge ({old.status})"
                continue
            changes = score_changes(student_id, old, new)
            report.totals[student_id] = (old.score, new.score)
            (report.rejudged if changes or old.score != new.score else report.unchanged).append(student_id)
            report.changes += changes
            write_feedback(new, grades / RESULTS_DIR / student_id)
    finally:
        slot.close()
    return report


def _rejudge_one(
    slot: ReplaySlot, course: Course, old: SubmissionResult, student_id: str
) -> tuple[SubmissionResult | None, list[str]]:
    """The student's result judged again, or None and the reasons it needs a regrade."""
    if old.status in NOT_REJUDGED or not old.content_hash:
        return None, []
    graded = [a.id for a in old.assignments if a.status != "missing"]
    if not any(a.recorded for a in old.assignments):
        return None, ["no probe answers were stored with this result (graded before they were)"]
    unknown = [a for a in graded if a not in course.assignments]
    if unknown:
        return None, [f"the course no longer has {', '.join(unknown)}"]
    path = Path(old.submission)
    if not path.exists():
        return None, [f"the submission {old.submission} is no longer there"]
    request = GradeRequest.for_student(Student(student_id, path, is_zip=path.suffix.lower() == ".zip"))
    request = GradeRequest(request.path, tuple(a.id for a in old.assignments), student_id, tuple(request.notes))
    slot.replaying(old)
    with opened(request.path, request.refusal) as found:
        if found.folder is None:
            return None, [found.problem or f"{path.name} could not be read"]
        submission = load(found.folder, course, request.only, slot.options.keep_all_cells)
        if submission.content_hash != old.content_hash:
            return None, ["the submission changed since it was graded"]
        new = slot.grade_loaded(submission, request, found.refused)
        mark_missing(new, found.folder, path.name)
    misses = slot.misses()
    if misses:
        return None, sorted(set(misses))
    new.submission, new.isolation, new.duration = old.submission, old.isolation, old.duration
    new.device = old.device
    for assignment in new.assignments:
        before = old.assignment(assignment.id)
        if before is not None:
            assignment.duration = before.duration
    new.notes.append(f"Judged again on {_now()} from the answers stored when it was graded (grade rejudge).")
    return new, []  # bounded where it is written (write_feedback)


def _mark_for_regrade(old: SubmissionResult, path: Path, why: list[str]) -> None:
    """Keep the result as it is, but make ``grade report --resume`` grade this student again."""
    old.content_hash = ""
    note = "Needs a regrade (grade report --resume): " + "; ".join(why)
    if note not in old.notes:
        old.notes.append(note)
    old.bound()
    write_atomic(path, old.to_json().encode("utf-8"))


def score_changes(student: str, old: SubmissionResult, new: SubmissionResult) -> list[ScoreChange]:
    """Each check whose points changed, with why: its points, its outcome, the mistake named."""
    changes = []
    for assignment in new.assignments:
        before = old.assignment(assignment.id) or AssignmentResult(assignment.id, assignment.title, "missing")
        old_checks = {c.name: c for c in before.checks}
        new_checks = {c.name: c for c in assignment.checks}
        for name in [*new_checks, *(n for n in old_checks if n not in new_checks)]:
            was, now = old_checks.get(name), new_checks.get(name)
            if was is None and now is not None:
                changes.append(ScoreChange(student, assignment.id, name, None, now.points, "a new check"))
            elif now is None and was is not None:
                changes.append(ScoreChange(student, assignment.id, name, was.points, None, "the check was removed"))
            elif was is not None and now is not None and (was.points != now.points or was.counted != now.counted):
                changes.append(ScoreChange(student, assignment.id, name, was.points, now.points, _why(was, now)))
    return changes


def _why(was: Any, now: Any) -> str:
    reasons = []
    if was.max_points != now.max_points:
        reasons.append(f"the check is now worth {now.max_points:g} points (was {was.max_points:g})")
    if was.status != now.status:
        reasons.append(f"{was.status} -> {now.status}" + (f": {now.message}" if now.message else ""))
    elif was.status == now.status == "partial" and was.message != now.message:
        reasons.append(f"partial credit changed: {now.message}")
    if was.mistake != now.mistake and now.mistake:
        reasons.append(f"now recognised as the mistake {now.mistake}")
    if was.counted != now.counted:
        reasons.append("now counted" if now.counted else "no longer counted")
    return "; ".join(reasons) or "judged differently"


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
