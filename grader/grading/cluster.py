"""Grading a class on Dask distributed: ``grade report --scheduler tcp://HOST:8786`` or ``--cluster local:N``.

Who does what (docs/cluster.md has the how-to):

- The instructor's machine (the Dask *client*) reads every submission exactly as local grading does (same
  caps, same link rules, zips unpacked safely) and ships what it read: workers never need the submissions
  folder. It writes every result atomically by student id, then the gradebook and the pages, with the
  same progress bar and ``--resume`` as ``grade report`` on one machine.
- Each Dask worker runs a :class:`GradingPlugin`, which starts one grading slot per worker thread (a
  :class:`~grader.grading.slot_host.SlotHost`: each slot its own sandbox, pre-started worker and
  reference answers). Student code never runs in the Dask worker's process, only in a slot's sandbox.
- A Dask worker that dies mid-student: the scheduler gives that student to another worker. The client
  takes one result per student (a future completes once) and writes it under the student's id, so no
  student is lost or counted twice. A student that brings down worker after worker is given up and
  recorded as an error (Dask's ``distributed.scheduler.allowed-failures``, 3 by default).
- ``--device cuda``: each student needs the Dask resource ``GPU`` (1, or 1/N when the assignment's
  ``students_per_gpu = N``), so only workers started with ``--resources GPU=1`` take them.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask
from distributed import Client, Future, LocalCluster, WorkerPlugin, get_worker, wait
from distributed.scheduler import KilledWorker

from grader.course.model import COURSE_ENV, AssignmentSpec, Course, load_course
from grader.course.secret import load_secret, shipped_secret
from grader.grading.batch import (
    BatchOptions,
    Outcome,
    _record_failure,
    _recorded_hash,
    mark_missing,
    record_result,
)
from grader.grading.request import GradeRequest
from grader.grading.slot import GradeOptions, resolve_device
from grader.grading.slot_host import GradingJob, SlotHost, failure
from grader.intake.students import Opened, Student, opened
from grader.report.results import SubmissionResult, result_path
from grader.sandbox import Isolation, choose

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

# A local cluster's workers share this machine's cores with the slots: no statistical profiler sampling
# every 10 ms, system statistics every 2 s instead of 0.5 s (remote workers: docs/cluster.md).
QUIET_WORKERS = {"distributed.worker.profile.enabled": False, "distributed.admin.system-monitor.interval": "2s"}
POLL_S = 5.0  # how often a batch waiting for results checks that some worker is still there
WORKER_WAIT_S = 120.0  # how long a scheduler may have no worker (a batch system still starting them)
GPU = "GPU"  # the Dask resource a GPU worker declares: dask worker ... --resources GPU=1


class ClusterError(RuntimeError):
    """The cluster cannot grade this class; the message says what to change."""


class WorkerUnfit(RuntimeError):
    """Raised by a task on a worker that cannot grade (no course, another course version, no sandbox)."""


def parse_local(spec: str) -> int:
    """``local:N`` -> N (``local`` alone: one worker per CPU core)."""
    kind, _, count = spec.partition(":")
    if kind != "local":
        raise ValueError(f"{spec!r}: expected local:N (N worker processes on this machine)")
    if not count:
        from grader.grading.batch import cpu_count

        return cpu_count()
    if not count.isdigit() or not 1 <= int(count) <= 256:
        raise ValueError(f"{spec!r}: N must be a whole number from 1 to 256")
    return int(count)


# -- what must match on every worker ---------------------------------------------------------------


def _graded(course: Course, only: list[str] | None) -> list[AssignmentSpec]:
    return [course.get(a) for a in only] if only else list(course.assignments.values())


def course_fingerprint(course: Course, only: list[str] | None) -> str:
    """Changes with any file of the graded assignments' checks, probes, data or references."""
    digest = hashlib.sha256()
    for spec in _graded(course, only):
        digest.update(spec.id.encode() + b"\0")
        for folder in (spec.spec_dir, spec.solution_dir):
            if folder is None:
                continue
            for path in sorted(folder.rglob("*")):
                relative = path.relative_to(folder)
                if not path.is_file() or any(p.startswith(".") or p == "__pycache__" for p in relative.parts):
                    continue
                digest.update(str(relative).encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


def secret_fingerprint(course: Course, options: GradeOptions, only: list[str] | None, create: bool) -> str:
    """A value that differs between course secrets without revealing one: the same fresh seeds need
    the same key on every machine."""
    parts = []
    for spec in _graded(course, only):
        if not options.fresh_seeds or spec.mode != "full":
            parts.append("-")
            continue
        secret = (
            load_secret(course.root, create=create) if course.kind == "instructor" else shipped_secret(spec.spec_dir)
        )
        parts.append("-" if secret is None else str(secret.seed("cluster-fingerprint", 0)))
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:16]


def students_per_gpu(spec: AssignmentSpec) -> int:
    """``students_per_gpu`` in assignment.toml: students graded at once on one GPU (default 1)."""
    try:
        raw = tomllib.loads((spec.spec_dir / "assignment.toml").read_text(encoding="utf-8"))
        return max(1, int(raw.get("students_per_gpu", 1)))
    except (OSError, ValueError, TypeError, tomllib.TOMLDecodeError):
        return 1


def task_resources(course: Course, only: list[str] | None, device: str) -> dict[str, float] | None:
    """The Dask resources one student needs: a GPU share with ``--device cuda``, nothing otherwise."""
    if device != "cuda":
        return None
    return {GPU: 1.0 / min(students_per_gpu(spec) for spec in _graded(course, only))}


# -- on each Dask worker ---------------------------------------------------------------------------


class GradingPlugin(WorkerPlugin):
    """Hosts this worker's grading slots (one per worker thread) for one ``grade report`` run.

    Setup never raises: a worker that cannot grade keeps the reason in ``problem``; the client asks
    every worker at the start, and a task on a worker that joins later raises :class:`WorkerUnfit`."""

    def __init__(
        self,
        course_root: str,
        options: GradeOptions,
        only: list[str] | None,
        require_isolation: bool,
        fingerprint: str,
        secret: str,
    ) -> None:
        self.course_root = course_root
        self.options = options
        self.only = only
        self.require_isolation = require_isolation
        self.fingerprint = fingerprint
        self.secret = secret
        self.host: SlotHost | None = None
        self.problem: str | None = None
        self.isolation: Isolation | None = None

    async def setup(self, worker: Any) -> None:
        """Off the worker's event loop (a sandbox trial and reading the course take seconds): the worker
        keeps answering the scheduler meanwhile."""
        await asyncio.get_running_loop().run_in_executor(None, self._setup, worker)

    def _setup(self, worker: Any) -> None:
        try:
            self.problem = self._unfit()
            if self.problem is None:
                assert self.isolation is not None
                self.host = SlotHost(self._course, self.options, self.isolation, max(1, worker.state.nthreads))
        except Exception as exc:  # noqa: BLE001 - reported to the client, which stops with the reason
            self.problem = f"the grader could not start here: {type(exc).__name__}: {exc}"

    def _unfit(self) -> str | None:
        root = Path(os.environ.get(COURSE_ENV) or self.course_root)
        try:
            self._course = load_course(root)
            for assignment in self.only or []:
                self._course.get(assignment)
        except Exception as exc:  # noqa: BLE001
            return f"no course at {root} ({exc}); put the course there or set ${COURSE_ENV} on this worker"
        if course_fingerprint(self._course, self.only) != self.fingerprint:
            return (
                f"the course at {root} differs from the instructor's (checks, probes, data or references): "
                "give every worker the same version"
            )
        try:
            secret = secret_fingerprint(self._course, self.options, self.only, create=False)
        except (OSError, ValueError) as exc:
            return f"no course secret here ({exc}): set $GRADER_SECRET to the course's key on every worker"
        if secret != self.secret:
            return "the course secret here differs from the instructor's: set $GRADER_SECRET to the same key"
        try:
            self.isolation = choose(self.options.sandbox)
        except (ValueError, RuntimeError) as exc:
            return str(exc)
        if self.require_isolation and not self.isolation.isolated:
            return f"{self.isolation.description}. Install bubblewrap on this worker or pass --allow-unsandboxed"
        return None

    async def teardown(self, worker: Any) -> None:
        if self.host is not None:
            host, self.host = self.host, None
            await asyncio.get_running_loop().run_in_executor(None, host.close)


def _worker_report(name: str, dask_worker: Any = None) -> dict[str, Any]:
    """Run by ``Client.run`` on each worker (which passes ``dask_worker``): can it grade, and how isolated."""
    plugin = dask_worker.plugins.get(name)
    if plugin is None:
        return {"problem": "the grader was not set up here", "isolation": None, "slots": 0}
    return {
        "problem": plugin.problem,
        "isolation": plugin.isolation.as_dict() if plugin.isolation else None,
        "slots": plugin.host.size if plugin.host else 0,
    }


def grade_on_worker(plugin_name: str, job: GradingJob, timeout: float) -> dict[str, Any]:
    """The Dask task: grade one student in one of this worker's slots; plain data back."""
    worker = get_worker()
    plugin = worker.plugins.get(plugin_name)
    if not isinstance(plugin, GradingPlugin) or plugin.host is None:
        problem = plugin.problem if isinstance(plugin, GradingPlugin) else "the grader was not set up here"
        raise WorkerUnfit(f"Dask worker {worker.address} cannot grade: {problem}")
    reply = plugin.host.grade(job, timeout)
    reply["worker"] = worker.address
    return reply


# -- on the instructor's machine -------------------------------------------------------------------


class ClusterSession:
    """A Dask client (and the local cluster it started, for ``local:N``) for one ``grade report``."""

    def __init__(self, scheduler: str | None = None, local_workers: int | None = None, device: str = "cpu") -> None:
        self.cluster: LocalCluster | None = None
        self.plugin_name: str | None = None
        self.resources: dict[str, float] | None = None
        self.slots = 0
        try:
            if local_workers:
                self.device = resolve_device(device)  # the workers are this machine
                dask.config.set(QUIET_WORKERS)  # inherited by the local workers
                self.cluster = LocalCluster(
                    n_workers=local_workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    memory_limit=0,  # each sandbox has its own limits; the worker process stays small
                    silence_logs=logging.ERROR,
                    resources={GPU: 1} if self.device == "cuda" else None,
                )
                self.client = Client(self.cluster)
            else:
                self.client = Client(scheduler, timeout=30)
        except ValueError:  # a device this machine lacks, an address Dask cannot read: said as it is
            self.close()
            raise
        except Exception as exc:  # noqa: BLE001 - whatever stops Dask from starting, in one line
            self.close()
            if local_workers:
                raise ClusterError(f"could not start a local Dask cluster: {type(exc).__name__}: {exc}") from None
            raise ClusterError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
        if not local_workers:
            try:
                self.device = self._remote_device(device)
            except ClusterError:
                self.close()
                raise

    @property
    def address(self) -> str:
        return str(self.client.scheduler_info()["address"])

    def _remote_device(self, requested: str) -> str:
        if requested not in ("cpu", "cuda", "auto"):
            raise ClusterError("device must be one of cpu, cuda, auto")
        try:
            self.client.wait_for_workers(1, timeout=WORKER_WAIT_S)
        except TimeoutError:
            raise ClusterError(
                f"no Dask worker joined the scheduler at {self.address} within {WORKER_WAIT_S:.0f} s"
            ) from None
        if requested == "cpu":
            return "cpu"
        workers = self.client.scheduler_info(n_workers=-1)["workers"].values()
        gpus = sum(1 for info in workers if info.get("resources", {}).get(GPU, 0) > 0)
        if requested == "cuda" and not gpus:
            raise ClusterError(
                "--device cuda was requested, but no Dask worker declares a GPU: start GPU workers with "
                f"`dask worker {self.address} --resources {GPU}=1`"
            )
        return "cuda" if gpus else "cpu"

    def prepare(
        self, course: Course, options: GradeOptions, only: list[str] | None, require_isolation: bool
    ) -> Isolation:
        """Start grading slots on every worker; the isolation they use (for the class overview).
        Raises :class:`ClusterError` naming each worker that cannot grade, and why."""
        plugin = GradingPlugin(
            str(course.root),
            options,
            only,
            require_isolation,
            course_fingerprint(course, only),
            secret_fingerprint(course, options, only, create=True),
        )
        self.plugin_name = f"rnn-grader-{uuid.uuid4().hex[:12]}"
        self.resources = task_resources(course, only, options.device)
        self.client.register_plugin(plugin, name=self.plugin_name)
        reports = self.client.run(_worker_report, self.plugin_name)
        problems = [
            f"Dask worker {address}: {report['problem']}" for address, report in reports.items() if report["problem"]
        ]
        if problems:
            raise ClusterError("\n".join(problems))
        self.slots = sum(report["slots"] for report in reports.values())
        return combined_isolation([report["isolation"] for report in reports.values()])

    def pool(self, course: Course, out: Path, options: BatchOptions) -> ClusterPool:
        if self.plugin_name is None:
            raise ClusterError("the cluster was not prepared for this course")
        return ClusterPool(self, course, out, options)

    def close(self) -> None:
        client = getattr(self, "client", None)
        if client is not None:
            if self.plugin_name is not None:
                try:
                    client.unregister_worker_plugin(self.plugin_name)  # its teardown stops the slots
                except Exception:  # noqa: BLE001 - a worker that is gone has nothing to stop
                    pass
                self.plugin_name = None
            client.close()
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None


def combined_isolation(reported: list[dict[str, Any] | None]) -> Isolation:
    """One isolation for the overview: the workers' own when they agree, each named when they differ."""
    kinds = [Isolation(**entry) for entry in reported if entry]
    if not kinds:
        return Isolation("none", "no Dask worker reported its isolation", False)
    distinct = list(dict.fromkeys(kinds))
    if len(distinct) == 1:
        return distinct[0]
    description = " | ".join(f"{sum(k == d for k in kinds)} worker(s): {d.description}" for d in distinct)
    isolated = all(k.isolated for k in distinct)
    return Isolation("bubblewrap" if isolated else "none", f"Dask workers differ: {description}", isolated)


@dataclass
class _Pending:
    """A student in flight. Their submission stays open (a zip: unpacked) until the result is back, so
    the result is finished exactly as on one machine (missing work named from the files found)."""

    student: Student
    found: Opened
    opening: AbstractContextManager[Opened]
    submitted: float = 0.0


class ClusterPool:
    """The client's side of a batch: ships students to the workers, writes what comes back."""

    def __init__(self, session: ClusterSession, course: Course, out: Path, options: BatchOptions) -> None:
        self.session, self.course, self.out, self.options = session, course, out, options
        self.client = session.client
        self.futures: dict[Future, _Pending] = {}

    def run(self, students: list[Student], timeout: float) -> Iterator[Outcome]:
        waiting = iter(students)
        exhausted = False
        alone_since: float | None = None  # since when no worker is connected
        while True:
            window = self._window()
            while not exhausted and len(self.futures) < window:
                student = next(waiting, None)
                if student is None:
                    exhausted = True
                    break
                read = self._read(student)
                if isinstance(read, Outcome):
                    yield read
                    continue
                self._submit(*read, timeout)
            if not self.futures:
                return
            try:
                done, _ = wait(list(self.futures), timeout=POLL_S, return_when="FIRST_COMPLETED")
            except TimeoutError:
                alone_since = self._still_served(alone_since)
                continue
            for future in done:
                yield self._collect(future, self.futures.pop(future))

    def _still_served(self, alone_since: float | None) -> float | None:
        """Raise once no worker has been connected for :data:`WORKER_WAIT_S` (every one died, or the batch
        system took them back): students in flight would otherwise wait for ever."""
        if self.client.nthreads():
            return None
        now = time.monotonic()
        if alone_since is not None and now - alone_since > WORKER_WAIT_S:
            raise ClusterError(
                f"no Dask worker has been connected to {self.session.address} for {WORKER_WAIT_S:.0f} s; the "
                "students already graded are saved: start workers and rerun with --resume"
            )
        return alone_since if alone_since is not None else now

    def _window(self) -> int:
        """Students in flight: enough to keep every slot busy (workers may join later), few enough that
        the submissions read ahead stay small."""
        return max(8, 3 * sum(self.client.nthreads().values()))

    def _read(self, student: Student) -> tuple[GradingJob, _Pending] | Outcome:
        """Open and read one student as ``grade report`` does on one machine: the job to ship, or the
        outcome already known (nothing readable, unchanged since last time with ``--resume``)."""
        from grader.intake.submission import load

        request = GradeRequest.for_student(student, tuple(self.options.only or ()))
        opening = opened(request.path, request.refusal)
        found = opening.__enter__()
        keep = False
        try:
            if found.folder is None:
                message = found.problem or f"{student.name} could not be unpacked"
                _record_failure(self.out, student, message, status="empty")
                return Outcome(student.id, "empty", message=message)
            try:
                submission = load(found.folder, self.course, request.only, self.options.grade.keep_all_cells)
            except Exception as exc:  # noqa: BLE001 - a grader bug: a recorded result, never a traceback
                message = f"grading failed: {type(exc).__name__}: {exc}"
                _record_failure(self.out, student, message)
                return Outcome(student.id, "error", message=message)
            if self.options.resume and submission.content_hash == _recorded_hash(self.out, student.id):
                recorded = SubmissionResult.load(result_path(self.out, student.id))
                return Outcome(
                    student.id, "skipped", recorded.score, recorded.max_score, 0.0, "unchanged since last graded"
                )
            keep = True
            return GradingJob(request, submission, list(found.refused)), _Pending(student, found, opening)
        finally:
            if not keep:
                opening.__exit__(None, None, None)

    def _submit(self, job: GradingJob, pending: _Pending, timeout: float) -> None:
        future = self.client.submit(
            grade_on_worker,
            self.session.plugin_name,
            job,
            timeout,
            key=f"grade-{pending.student.id}-{uuid.uuid4().hex[:8]}",
            pure=False,
            resources=self.session.resources,
        )
        pending.submitted = time.monotonic()
        self.futures[future] = pending

    def _collect(self, future: Future, pending: _Pending) -> Outcome:
        try:
            return self._finish(future, pending)
        finally:
            future.release()
            pending.opening.__exit__(None, None, None)

    def _finish(self, future: Future, pending: _Pending) -> Outcome:

        student = pending.student
        try:
            reply = future.result()
        except WorkerUnfit as exc:
            raise ClusterError(str(exc)) from None
        except KilledWorker:
            reply = failure(
                "error",
                "every Dask worker that graded this submission died while grading it, so it was given up",
                time.monotonic() - pending.submitted,
            )
        except Exception as exc:  # noqa: BLE001 - one student's failure must not stop the class
            reply = failure(
                "error",
                f"grading failed on the cluster: {type(exc).__name__}: {exc}",
                time.monotonic() - pending.submitted,
            )
        if reply.get("kind") != "result":
            status, message = str(reply["status"]), str(reply["message"])
            _record_failure(self.out, student, message, status=status)
            return Outcome(student.id, status, seconds=float(reply["seconds"]), message=message)
        result = SubmissionResult.from_dict(reply["result"])
        assert pending.found.folder is not None
        mark_missing(result, pending.found.folder, student.name)
        return record_result(self.out, student, result, self.options.only, float(reply["seconds"]))

    def close(self) -> None:
        """Stop what is still queued (an interrupted batch); finished students are already written."""
        if self.futures:
            self.client.cancel(list(self.futures))
            for pending in self.futures.values():
                pending.opening.__exit__(None, None, None)
            self.futures.clear()
