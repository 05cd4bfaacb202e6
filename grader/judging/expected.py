"""Expected data: the reference's (and the catalogued mistakes') answers to each probe call.

Instructor copies compute them by running the same probe on the reference solution in a trusted
worker and cache them on disk, keyed by (assignment, probe, arguments, seed, variant, fingerprint of
reference + probes, and a mistake's own patches), so a class of 300 computes each answer once.
Student copies ship the answers of the public checks in ``grading/expected.bin`` instead of the
solutions.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

from grader.course.mistakes import Catalog
from grader.course.model import AssignmentSpec
from grader.course.secret import CourseSecret
from grader.errors import RunFailed
from grader.files import write_atomic
from grader.sandbox import Limits, LoadSpec
from grader.wire.codec import PREFIX, FrameLimits, decode, encode, parse_prefix

REFERENCE = "reference"
CACHE_ENV = "GRADER_CACHE_DIR"
BIG = FrameLimits(max_header_bytes=2**30, max_body_bytes=2**31)


class ReferenceUnavailable(RuntimeError):
    """Expected data is missing or the reference failed: a problem of the grading setup."""


def call_key(probe: str, args: dict[str, Any], seed: int) -> str:
    """A canonical text key for one probe call (also readable in the shipped data file)."""
    return json.dumps({"probe": probe, "args": args, "seed": seed}, sort_keys=True, separators=(",", ":"))


def mistake_variant(mistake_id: str) -> str:
    return f"mistake:{mistake_id}"


def default_cache_dir() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "rnn-autograder"


def dump(value: Any) -> bytes:
    return encode(value)


def load_bytes(data: bytes) -> Any:
    header_len, body_len = parse_prefix(data[: PREFIX.size], BIG)
    header = data[PREFIX.size : PREFIX.size + header_len]
    return decode(header, data[PREFIX.size + header_len : PREFIX.size + header_len + body_len], BIG)


CACHE_LAYOUT = "v3"  # entries carry the reference's running time since v2, its optimizer steps since v3
TIMED = ("seconds",)  # this machine's timing: never in shipped data, whose bytes stay the same on every release


class DiskCache:
    """Entries are ``{"ok": True, "data": ..., "seconds": ...}`` or ``{"ok": False, "error": "..."}``,
    in one folder per assignment and fingerprint of its reference and probes (:meth:`folder`)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def folder(self, spec: AssignmentSpec) -> Path:
        """Where ``spec``'s answers are kept: reading and hashing its reference and probes, so a
        caller asking many answers (:class:`References`) asks this once."""
        return self.root / CACHE_LAYOUT / spec.id / spec.fingerprint()

    @staticmethod
    def _path(folder: Path, variant: str, key: str) -> Path:
        digest = hashlib.sha256(f"{variant}\n{key}".encode()).hexdigest()[:32]
        return folder / f"{digest}.bin"

    def get(self, folder: Path, variant: str, key: str) -> dict[str, Any] | None:
        try:
            return load_bytes(self._path(folder, variant, key).read_bytes())
        except (OSError, ValueError):
            return None

    def put(self, folder: Path, variant: str, key: str, entry: dict[str, Any]) -> None:
        try:
            write_atomic(self._path(folder, variant, key), dump(entry))
        except OSError:
            pass  # a read-only cache only costs speed

    def count(self, spec: AssignmentSpec) -> int:
        """How many answers are cached for ``spec``'s current reference and probes (a first class run
        shows this grow while it computes them)."""
        try:
            return sum(1 for path in self.folder(spec).glob("*.bin"))
        except OSError:
            return 0

    @contextmanager
    def computing(self, folder: Path, variant: str, key: str) -> Iterator[None]:
        """Hold a per-key lock, so parallel slots of a batch compute each reference answer once:
        the second waits, then finds the first one's answer in the cache."""
        path = self._path(folder, variant, key).with_suffix(".lock")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(path, "a+b")
        except OSError:
            yield
            return
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()


class ShippedExpected:
    """The expected data file of a copy without solutions:
    ``{"format": 1, "fingerprint": ..., "entries": {variant: {call key: entry}}}``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._entries: dict[str, dict[str, Any]] | None = None

    def entries(self) -> dict[str, dict[str, Any]]:
        if self._entries is None:
            try:
                content = load_bytes(self.path.read_bytes())
                self._entries = content.get("entries", {}) if isinstance(content, dict) else {}
            except (OSError, ValueError):
                self._entries = {}
        return self._entries

    def get(self, variant: str, key: str) -> dict[str, Any] | None:
        return self.entries().get(variant, {}).get(key)


class ReferenceWorkers(Protocol):
    """Where reference answers are computed: a trusted :class:`~grader.sandbox.Sandbox`, or children of
    the students' worker that a grading slot keeps apart from them (``GradingSlot.trusted_child``)."""

    def worker(self, load: LoadSpec, limits: Limits) -> Any: ...


class References:
    """Answers ``expected(probe, args, seed, variant)`` for one assignment, from wherever it can."""

    def __init__(
        self,
        spec: AssignmentSpec,
        catalog: Catalog,
        cache: DiskCache | None,
        reference_workers: Callable[[], ReferenceWorkers] | None,
        secret: CourseSecret | None = None,
    ) -> None:
        """``secret``: official grading's fresh seeds (see :mod:`grader.course.secret`); None asks the
        checks' own questions (a release records those for the student copy)."""
        self.spec = spec
        self.secret = secret
        self.catalog = catalog
        self.cache = cache
        self.shipped = ShippedExpected(spec.expected_path) if spec.shipped_expected else None
        self._workers_from = reference_workers
        self._workers: dict[str, Any] = {}
        self._folder: Path | None = None
        self.recorded: dict[str, dict[str, Any]] | None = None  # set to {} to record (release)
        # what draws the questions of per_submission_questions: the submission being graded and its
        # grading's draw (GradingSlot.grade_loaded); none, the course's questions
        self.own_questions = ""

    def expected(self, probe: str, args: dict[str, Any], seed: int = 0, variant: str = REFERENCE) -> Any:
        entry = self.entry(probe, args, seed, variant)
        if not entry.get("ok"):
            raise ReferenceUnavailable(str(entry.get("error")))
        return entry.get("data")

    def fresh_call(self, probe: str, args: dict[str, Any], seed: int) -> tuple[dict[str, Any], int]:
        """The call that is really asked: the check's own, or with fresh seeds in official grading (drawn
        for this submission and grading, ``own_questions``, where the assignment says so for ``probe``)."""
        if self.secret is None:
            return args, seed
        # not where the answers are shipped (a Gradescope autograder holds the course's questions only)
        own = self.own_questions if probe in self.spec.per_submission_questions and self.shipped is None else ""
        return self.secret.fresh_call(self.spec.id, args, seed, own)

    def entry(self, probe: str, args: dict[str, Any], seed: int = 0, variant: str = REFERENCE) -> dict[str, Any]:
        args, seed = self.fresh_call(probe, args, seed)
        key = call_key(probe, args, seed)
        entry = self._lookup(variant, key)
        if entry is None and self.cache is not None:
            cached = self.cache_variant(variant)
            folder = self._cache_folder()
            with self.cache.computing(folder, cached, key):
                entry = self.cache.get(folder, cached, key)
                if entry is None:
                    entry = self._compute(probe, args, seed, variant)
                    self.cache.put(folder, cached, key, entry)
        elif entry is None:
            entry = self._compute(probe, args, seed, variant)
        if self.recorded is not None:  # shipped data: the same bytes on every release, so no timing (the
            # optimizer steps are kept: a count the algorithm fixes, the same on every machine)
            self.recorded.setdefault(variant, {})[key] = {k: v for k, v in entry.items() if k not in TIMED}
        return entry

    def reference_seconds(self, probe: str, args: dict[str, Any], seed: int = 0) -> float | None:
        """How long the reference took for this call on this machine (computing it if need be);
        None where unknown, and for shipped data, which was timed on another machine."""
        if self.shipped is not None:
            return None
        try:
            entry = self._unrecorded(probe, args, seed)  # a time is never shipped: not a question to record
        except ReferenceUnavailable:
            return None
        seconds = entry.get("seconds")
        return float(seconds) if entry.get("ok") and isinstance(seconds, (int, float)) else None

    def reference_steps(self, probe: str, args: dict[str, Any], seed: int = 0) -> int | None:
        """How many optimizer steps the reference takes for this call (shipped data carries the count:
        it is the algorithm's, not the machine's); None where unknown or where it does not train."""
        try:
            entry = self._unrecorded(probe, args, seed)
        except ReferenceUnavailable:
            return None
        steps = entry.get("steps")
        if not (entry.get("ok") and isinstance(steps, int) and steps > 0):
            return None
        if self.recorded is not None:  # a training call's count is shipped: the student copy's budgets
            self.entry(probe, args, seed)
        return steps

    def _unrecorded(self, probe: str, args: dict[str, Any], seed: int) -> dict[str, Any]:
        """The reference's entry for this call, not recorded for the student copy: asked only for its
        time or step count (a call a check compares is recorded when it asks; a3's forward asked only to
        judge a rescue was shipped, and no check compares it)."""
        recorded, self.recorded = self.recorded, None
        try:
            return self.entry(probe, args, seed)
        finally:
            self.recorded = recorded

    def _lookup(self, variant: str, key: str) -> dict[str, Any] | None:
        if self.shipped is not None:
            entry = self.shipped.get(variant, key)
            if entry is None:
                raise ReferenceUnavailable(
                    "this copy of the course has no expected data for this check; it may be out of date "
                    "(instructors: run `grade release`)"
                )
            return entry
        if self.cache is None:
            return None
        return self.cache.get(self._cache_folder(), self.cache_variant(variant), key)

    def _cache_folder(self) -> Path:
        """The cache's folder for this reference, found once: the reference this object's workers run
        is the one they loaded first, and finding it hashes the reference and probes (a class of 100
        students asks it about 14,000 times)."""
        if self._folder is None:
            assert self.cache is not None
            self._folder = self.cache.folder(self.spec)
        return self._folder

    def cache_variant(self, variant: str) -> str:
        """The variant as the disk cache keys it: a mistake's with its patches' fingerprint, since the
        reference's fingerprint (probes + solution) does not cover the catalog."""
        if variant == REFERENCE or self.catalog is None:
            return variant
        try:
            return f"{variant}@{self.catalog.get(variant.split(':', 1)[1]).data_fingerprint()}"
        except KeyError:
            return variant

    def _compute(self, probe: str, args: dict[str, Any], seed: int, variant: str) -> dict[str, Any]:
        worker = self._worker(variant)
        try:
            data = worker.call(probe, args, seed=seed, timeout=self.spec.limits.probe_timeout_s * 5)
            entry: dict[str, Any] = {"ok": True, "data": data}
            seconds = getattr(worker, "last_elapsed", None)
            if isinstance(seconds, (int, float)):
                entry["seconds"] = round(float(seconds), 4)
            steps = getattr(worker, "last_steps", None)
            if isinstance(steps, int) and steps > 0:
                entry["steps"] = steps
            return entry
        except RunFailed as exc:
            failure = exc.failure
            if variant == REFERENCE or not failure.kind.students:  # a grader failure is no mistake's answer
                raise ReferenceUnavailable(
                    f"the {'reference solution' if variant == REFERENCE else variant} failed on probe {probe!r}: "
                    f"{failure.message}" + (f"\n{failure.traceback}" if failure.traceback else "")
                ) from None
            return {"ok": False, "error": failure.message}

    def _worker(self, variant: str) -> Any:
        if variant not in self._workers:
            if self._workers_from is None:
                raise ReferenceUnavailable("no reference solution is available to compute expected data")
            files = self.spec.solution_files()
            if variant != REFERENCE:
                files = self.catalog.get(variant.split(":", 1)[1]).mutate(files, self.spec.module)
            load = LoadSpec(
                module=self.spec.module,
                filename=f"{self.spec.module}.py",
                files=files,
                probes_source=self.spec.probes_source(),
                device="cpu",  # expected data is always computed on the CPU
            )
            # A reference worker lives for a whole batch: no per-submission budget applies to it.
            limits = replace(self.spec.limits, submission_timeout_s=float("inf"), max_restarts=10**6, received_mb=0.0)
            self._workers[variant] = self._workers_from().worker(load, limits)
        return self._workers[variant]

    def close(self) -> None:
        for worker in self._workers.values():
            worker.close()
        self._workers.clear()
