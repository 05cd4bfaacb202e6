"""Grading one submission: load it, run each assignment's checks against a sandboxed worker, total.

A :class:`GradingSlot` owns one sandbox (one zygote) per worker profile (a1's holds numpy and cannot see
torch, a2-a5's hold torch) and, lazily, one trusted worker for reference answers.
``grade submit`` uses one; ``grade report`` uses one per parallel slot.
"""

from __future__ import annotations

import ast
import datetime as _dt
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grader
from grader.course.mistakes import Catalog, CatalogError, load_catalog
from grader.course.model import AssignmentSpec, Course
from grader.course.secret import CourseSecret, load_secret, shipped_secret
from grader.errors import Failure, FailureKind, RunFailed, SandboxError
from grader.grading.request import GradeRequest
from grader.intake.static_checks import StaticFindings, analyse, imported_helpers
from grader.intake.students import opened
from grader.intake.submission import Submission, SubmittedModule, load
from grader.judging.expected import DiskCache, References, default_cache_dir
from grader.judging.plugin import CheckContext, run_checks
from grader.judging.replay import Recording, StoredOutput, fingerprint
from grader.judging.verifier import Verifier
from grader.report.results import AssignmentResult, SubmissionResult, with_choice
from grader.sandbox import Isolation, Limits, LoadSpec, Sandbox, SubmissionProcess, choose
from grader.sandbox.isolation import UNISOLATED, absent_packages
from grader.sandbox.leases import Lease, NoLeaseLeft, claim
from grader.text import printable

DEVICES = ("cpu", "cuda", "auto")
VERIFIER_SLOT_OFFSET = 500  # where the verifier's uid lease search starts (sandbox.leases keeps every uid unique)


@dataclass(frozen=True)
class GradeOptions:
    """How to grade: the same for every submission one slot grades (what to grade is a GradeRequest)."""

    device: str = "cpu"
    sandbox: str = "auto"  # auto | bubblewrap | none
    cache_dir: Path | None = None
    keep_all_cells: bool = False
    threads: int = 1  # BLAS/OpenMP threads of each worker
    limits: Mapping[str, float] = field(default_factory=dict)  # Limits field -> value, for every assignment
    fresh_worker: bool = False  # restart the worker for every submission (benchmarks only)
    fresh_seeds: bool = True  # official grading draws seeds from the course secret (not release)

    def limits_for(self, spec: AssignmentSpec) -> Limits:
        return Limits.from_mapping(self.limits, base=spec.limits) if self.limits else spec.limits


def resolve_device(requested: str) -> str:
    """``auto`` means cuda when this machine has a usable GPU; asking for cuda without one is an error."""
    if requested not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}")
    if requested == "cpu":
        return "cpu"
    available = _cuda_available()
    if requested == "cuda" and not available:
        raise ValueError("--device cuda was requested, but torch sees no CUDA GPU on this machine")
    return "cuda" if available else "cpu"


def _cuda_available() -> bool:
    # Asked in a subprocess: importing torch here would cost the trusted process seconds.
    import subprocess
    import sys

    probe = "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"
    try:
        return subprocess.run([sys.executable, "-c", probe], capture_output=True, timeout=120).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _fault(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _parses(source: str) -> bool:
    try:
        ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def _grader_error(work: SubmittedModule, spec: AssignmentSpec, why: str) -> AssignmentResult:
    """The result of an assignment the grader itself failed on: status error, no points, the reason."""
    return AssignmentResult(
        id=spec.id,
        title=spec.title,
        status="error",
        max_score=spec.points,
        mode=spec.mode,
        source=work.path.name if work.path else None,
        notes=list(work.notes),
        message=f"{work.filename} could not be graded because of a grader bug, not your fault "
        f"({why}); your instructor will see this",
    )


class FailingWorker:
    """Stands in for a worker when the module cannot even be started: every probe call fails alike."""

    def __init__(self, failure: Failure) -> None:
        self.failure = failure
        self.output = StoredOutput()

    def call(self, *args: Any, **kwargs: Any) -> Any:
        raise RunFailed(self.failure)  # a fresh exception each time: one re-raised grows its traceback

    def close(self) -> None:
        pass


Profile = tuple[tuple[str, ...], tuple[str, ...]]  # (packages preloaded, packages absent)


def profile(spec: AssignmentSpec) -> Profile:
    """What a worker for ``spec`` holds (its preloads) and must not (its blocked packages)."""
    preload = tuple(sorted(set(spec.preload)))
    return preload, absent_packages(spec.blocked_imports, preload)


class GradingSlot:
    def __init__(
        self,
        course: Course,
        options: GradeOptions | None = None,
        slot: int = 0,
        isolation: Isolation | None = None,
        assignments: list[str] | None = None,
    ) -> None:
        """``assignments``: those that will be graded (default all); :meth:`start` starts their workers."""
        self.course = course
        self.options = options or GradeOptions()
        self.isolation = isolation or choose(self.options.sandbox)
        self._specs = [course.get(a) for a in assignments] if assignments else list(course.assignments.values())
        self._tmp_mb = max(spec.limits.tmp_mb for spec in course.assignments.values())
        self._sandboxes: dict[Profile, Sandbox] = {}
        self.cache = DiskCache(self.options.cache_dir or default_cache_dir())
        self._trusted: dict[tuple[str, ...], Sandbox] = {}  # by preload: see trusted_sandbox_for
        self._slot = slot
        self._verifier_sandbox: Sandbox | None = None
        self._verifier_lease: Lease | None = None
        self._verifiers: dict[str, Verifier] = {}
        self._references: dict[str, References] = {}
        self._own_questions = ""  # the submission being graded and its draw (grade_loaded)
        self._replayed_draw: str | None = None  # the draw of the result being judged again (grade rejudge)
        self._catalogs: dict[str, Catalog] = {}

    def start(self, assignments: list[str] | None = None) -> None:
        """Start the workers of ``assignments`` (default: those given when the slot was made) in the
        background; grading waits for one only when it needs it. Workers already started are kept."""
        specs = [self.course.get(a) for a in assignments] if assignments is not None else self._specs
        for spec in specs:
            self.sandbox_for(spec).start()
        if any(spec.verify_source() is not None and not self._verifier_shares(spec) for spec in specs):
            self._verifying_sandbox().start()  # imports torch beside the students' worker, not after it

    def sandbox_for(self, spec: AssignmentSpec) -> Sandbox:
        """The worker for ``spec``'s profile, created on first use.

        One per profile, not one for all: a worker that preloaded torch for a2 would hand it to a1's
        students, whatever a1's import guards say. Each sandbox holds its own lease, so each
        profile's children run under a uid and in a cgroup no other sandbox on this host has
        (``slot`` only says where the search for a free one starts).
        """
        key = profile(spec)
        if key not in self._sandboxes:
            preload, hide = key
            self._sandboxes[key] = Sandbox(
                self.isolation,
                preload=list(preload),
                hide=hide,
                device=self.options.device,
                threads=self.options.threads,
                slot=self._slot,
                tmp_mb=self._tmp_mb,
            )
        return self._sandboxes[key]

    def _close_sandboxes(self) -> None:
        for sandbox in self._sandboxes.values():
            sandbox.close()

    def grade(self, request: GradeRequest | Path) -> SubmissionResult:
        """Grade what ``request`` names (a bare path: everything found there): a zip is unpacked once,
        the submission read once, and only the workers of the assignments it holds are started."""
        request = request if isinstance(request, GradeRequest) else GradeRequest(Path(request))
        with opened(request.path, request.refusal) as found:
            if found.folder is None:
                result = self._result(request)
                result.status, result.message = "empty", found.problem or f"{request.path.name} could not be read"
                return result
            try:
                submission = load(found.folder, self.course, request.only, self.options.keep_all_cells)
            except Exception as exc:  # noqa: BLE001 - a grader bug: a recorded result, never a traceback
                result = self._result(request)
                result.status = "error"
                result.message = (
                    f"the grader could not read {request.path.name}: a grader bug, not your fault ({_fault(exc)})"
                )
                return result
            return self.grade_loaded(submission, request, found.refused)

    def grade_loaded(
        self, submission: Submission, request: GradeRequest, intake_notes: list[str] | None = None
    ) -> SubmissionResult:
        """Grade a submission already read (``grade report --resume`` compares its content hash first);
        ``intake_notes``: what opening it left out (links in a zip)."""
        started = time.monotonic()
        result = self._result(request)
        if self.options.fresh_worker:
            self._close_sandboxes()  # measures what the pre-started worker saves: the full start-up each time
        try:
            self.start(list(submission.modules))  # in the background: grading waits for a worker when it needs one
        except SandboxError:
            pass  # each assignment then says why its worker could not start
        result.content_hash = submission.content_hash
        result.draw = secrets.token_hex(8) if self._replayed_draw is None else self._replayed_draw
        # the questions drawn for this submission and grading (none where a replay's result had no draw)
        self._own_questions = f"{submission.content_hash}:{result.draw}" if result.draw else ""
        if submission.problem:
            result.status = "empty"
            result.message = submission.problem
        for assignment_id, work in submission.modules.items():
            spec = self.course.get(assignment_id)
            result.assignments.append(with_choice(self._grade_contained(work, spec), work.choice))
        result.notes = [*request.notes, *(intake_notes or []), *submission.notes]
        result.total()
        result.bound()
        result.duration = round(time.monotonic() - started, 3)
        return result

    def _result(self, request: GradeRequest) -> SubmissionResult:
        return SubmissionResult(
            student=request.name,
            submission=str(request.path),
            content_hash="",
            graded_at=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            grader_version=grader.__version__,
            device=self.options.device,
            isolation=self.isolation.as_dict(),
            notes=list(request.notes),
        )  # grade_loaded adds what reading the submission noted

    def _grade_contained(self, work: SubmittedModule, spec: AssignmentSpec) -> AssignmentResult:
        """:meth:`grade_assignment`, where any exception on the trusted side becomes this assignment's
        status "error" with a clear message (not the student's fault); the other assignments are graded."""
        try:
            if work.error:
                return _grader_error(work, spec, work.error)
            result = self.grade_assignment(work, spec)
            result.bound()
            return result
        except Exception as exc:  # noqa: BLE001 - one assignment's problem must not fail the student
            return _grader_error(work, spec, _fault(exc))

    def grade_assignment(
        self, work: SubmittedModule, spec: AssignmentSpec, check_files: list[Path] | None = None
    ) -> AssignmentResult:
        """Grade one assignment; ``check_files`` narrows the checks (release uses the public ones)."""
        started = time.monotonic()
        result = AssignmentResult(
            id=spec.id,
            title=spec.title,
            status="graded",
            max_score=spec.points,
            mode=spec.mode,
            source=work.path.name if work.path else None,
            notes=list(work.notes),
        )
        if spec.mode == "public":
            result.notes.insert(0, "Only the public checks ran here; your instructor's grading adds hidden checks.")
        static = StaticFindings()
        if work.source is not None and work.problem is None:
            rules = (spec.blocked_imports, spec.forbidden_apis, spec.flagged_arithmetic)
            static = analyse(work.source, work.filename, *rules)
            if static.syntax_error and _parses(work.source):  # Python reads it: the grader's failure
                raise RuntimeError(f"its code scan failed on a file Python reads: {static.syntax_error}")
            for name, text in imported_helpers(work.source, work.helpers).items():  # code moved out is scanned too
                static.include(analyse(text, name, *rules), name)
        result.flags = static.review(work.filename, work.locate)  # for the overview; check messages name cells too
        limits = self.options.limits_for(spec)
        worker = self._worker(work, spec, static, limits)
        try:
            catalog = self._catalog(spec)
            references = self.references_for(spec)
            references.own_questions = self._own_questions  # per_submission_questions
            context = CheckContext(
                spec,
                worker,
                references,
                catalog,
                static,
                work.filename,
                self.options.device,
                locate=work.locate,
                limits=limits,
                verifier=self.verifier_for(spec),
                recording=Recording(fingerprint(spec.probes_source()), fingerprint(spec.verify_source())),
            )
            run_checks(context, [str(path) for path in (check_files or spec.check_files())])
            result.checks = context.results
            result.recorded = context.recording.encode() if context.recording is not None else ""
            if context.problems:
                result.status = "error"
                result.message = "; ".join(context.problems)
        except (SandboxError, CatalogError, OSError) as exc:
            result.status = "error"
            result.message = f"grading could not run: {exc}"
        finally:
            worker.close()
        if work.problem and not result.message:
            result.message = work.problem
        elif static.syntax_error and not result.message:
            result.message = work.locate(static.syntax_error)
        missing = getattr(worker, "not_installed", [])
        if missing:
            listed = missing[0] if len(missing) == 1 else f"{', '.join(missing[:-1])} and {missing[-1]}"
            are = "is" if len(missing) == 1 else "are"
            result.notes.append(
                f"Your {work.filename} imports {listed}, which {are} not installed where grading runs: the "
                "import was let through, so only a check whose code uses it fails (and says so)."
            )
        result.output = printable(worker.output.text())
        result.hidden_output = printable(worker.output.text_after_mark())
        result.total()
        if result.status == "graded" and result.checks and not any(c.counted for c in result.checks):
            # Nothing judged is no grade: a new instructor's probe lacked a parameter its checks pass, and
            # the reference "scored" 0 / 100 with exit status 0.
            result.status = "error"
            result.message = result.message or (
                f"the grader could not judge any check (not your fault): {result.checks[0].message.strip()[:300]}"
            )
        if spec.mode == "public":
            result.max_score = round(sum(check.max_points for check in result.checks), 4) or result.max_score
        result.duration = round(time.monotonic() - started, 3)
        return result

    def _worker(self, work: SubmittedModule, spec: AssignmentSpec, static: StaticFindings, limits: Limits) -> Any:
        if work.problem:
            return FailingWorker(Failure(FailureKind.IMPORT, work.problem))
        if static.syntax_error:
            return FailingWorker(Failure(FailureKind.IMPORT, static.syntax_error))
        load_spec = LoadSpec(
            module=spec.module,
            filename=work.filename,
            files=work.files(),
            probes_source=spec.probes_source(),
            blocked_imports=list(spec.blocked_imports),
            forbidden_apis=list(spec.forbidden_apis),
            device=self.options.device,
            data=spec.released_data(),
        )
        return self.sandbox_for(spec).worker(load_spec, limits)

    def _catalog(self, spec: AssignmentSpec) -> Catalog:
        if spec.id not in self._catalogs:
            self._catalogs[spec.id] = load_catalog(spec.mistakes_path)
        return self._catalogs[spec.id]

    def references_for(self, spec: AssignmentSpec) -> References:
        """The source of expected data for ``spec``, kept for the grader's life (workers included)."""
        if spec.id not in self._references:
            cache = None if spec.shipped_expected else self.cache
            self._references[spec.id] = References(
                spec, self._catalog(spec), cache, lambda: self._reference_workers(spec), secret=self._secret_for(spec)
            )
        return self._references[spec.id]

    def _reference_workers(self, spec: AssignmentSpec) -> Sandbox | _TrustedChildren:
        """Where ``spec``'s reference answers are computed when the cache lacks them: children of the
        students' own pre-started worker, under the verifier's uid, where that worker can be shared
        (:meth:`_verifier_shares`), else the unsandboxed trusted worker. A slot then starts no second
        torch for the answers it must compute (a5's per-submission questions: one for every
        `grade submit`, about 3 CPU-s), and the reference runs as the students' code does."""
        if self._verifier_shares(spec):
            return _TrustedChildren(self, spec)
        return self.trusted_sandbox_for(spec)

    def _secret_for(self, spec: AssignmentSpec) -> CourseSecret | None:
        """Fresh seeds in official grading: an instructor's course, or an autograder that shipped
        the key with its expected data; never in a student's copy (its answers are for practice)."""
        if not self.options.fresh_seeds or spec.mode != "full":
            return None
        if self.course.kind == "instructor":
            return load_secret(self.course.root)
        return shipped_secret(spec.spec_dir)

    def verifier_for(self, spec: AssignmentSpec) -> Verifier | None:
        """The verifier of ``spec`` (None without a verify.py), kept for the grader's life."""
        if spec.verify_source() is None:
            return None
        if spec.id not in self._verifiers:
            self._verifiers[spec.id] = Verifier(spec, lambda load, limits: self._verifier_worker(spec, load, limits))
        return self._verifiers[spec.id]

    def _verifier_shares(self, spec: AssignmentSpec) -> bool:
        """Whether the verifier is forked from the students' own pre-started worker. Only where each
        child runs under its own uid in its own pid, IPC and mount namespaces (bubblewrap as root):
        there a student's processes can neither see, signal, trace nor share memory with it, and the
        worker it forks from never ran student code. That saves a second torch start-up per slot."""
        sandbox = self.sandbox_for(spec)
        sandbox.start()
        return sandbox.uid is not None

    def _verifier_worker(self, spec: AssignmentSpec, load: LoadSpec, limits: Limits) -> Any:
        if not self._verifier_shares(spec):
            return self._verifying_sandbox().worker(load, limits)
        return self.trusted_child(spec, load, limits)

    def trusted_child(self, spec: AssignmentSpec, load: LoadSpec, limits: Limits) -> SubmissionProcess:
        """A child of ``spec``'s students' worker for the grader's own code (the verifier, the
        reference), under a uid no student's child has: see :meth:`_verifier_shares`."""
        if self._verifier_lease is None:
            try:
                self._verifier_lease = claim(VERIFIER_SLOT_OFFSET + self._slot)
            except (NoLeaseLeft, OSError) as exc:
                raise SandboxError(f"no uid is free on this host for the verifier and the reference: {exc}") from None
        return SubmissionProcess(self.sandbox_for(spec), load, limits, uid=self._verifier_lease.uid)

    def _verifying_sandbox(self) -> Sandbox:
        """The verifier's own sandbox (own zygote, own uid), where children cannot be kept apart by
        uid and namespaces: it never shares a process or a pid namespace with student code."""
        if self._verifier_sandbox is None:
            self._verifier_sandbox = Sandbox(
                self.isolation,
                preload=["numpy", "torch"],
                device="cpu",
                threads=self.options.threads,
                slot=VERIFIER_SLOT_OFFSET + self._slot,
                warm_optimizer=False,
            )
        return self._verifier_sandbox

    def trusted_sandbox_for(self, spec: AssignmentSpec) -> Sandbox:
        """The unsandboxed worker that runs ``spec``'s reference solution for expected data, created on
        first use. One per set of preloads, as for students: a numpy assignment's answers never wait
        for a torch start-up (over a CPU-second) they do not use."""
        preload, _ = profile(spec)
        if preload not in self._trusted:
            self._trusted[preload] = Sandbox(
                UNISOLATED, preload=list(preload), device="cpu", threads=self.options.threads, trusted=True
            )
        return self._trusted[preload]

    def close(self) -> None:
        for references in self._references.values():
            references.close()
        self._references.clear()
        for verifier in self._verifiers.values():
            verifier.close()
        self._verifiers.clear()
        if self._verifier_sandbox is not None:
            self._verifier_sandbox.close()
            self._verifier_sandbox = None
        if self._verifier_lease is not None:
            self._verifier_lease.release()
            self._verifier_lease = None
        self._close_sandboxes()
        for sandbox in self._trusted.values():
            sandbox.close()
        self._trusted.clear()

    def __enter__(self) -> GradingSlot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _TrustedChildren:
    """What :class:`References` asks for workers, as a :class:`Sandbox` answers: here each is a child of
    the students' own worker (:meth:`GradingSlot.trusted_child`)."""

    def __init__(self, slot: GradingSlot, spec: AssignmentSpec) -> None:
        self.slot, self.spec = slot, spec

    def worker(self, load: LoadSpec, limits: Limits) -> SubmissionProcess:
        return self.slot.trusted_child(self.spec, load, limits)
