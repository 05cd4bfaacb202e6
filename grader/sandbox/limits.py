"""Resource limits for student workers, with defaults an assignment can override in assignment.toml."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any


@dataclass(frozen=True)
class Limits:
    memory_mb: int = 2048  # memory a submission may add to what the worker holds: per process
    # (address space) and, where cgroups exist, all its processes together
    cpu_seconds: int = 300  # CPU time of one student process (SIGXCPU beyond)
    probe_timeout_s: float = 20.0  # wall clock for one probe call (a check's @timeout overrides)
    timeout_factor: float = 10.0  # ...and at most this many times the reference's time for the same
    timeout_floor_s: float = 3.0  # call, but never less than this (factor 0: probe_timeout_s only)
    stuck_after_s: float = 6.0  # a call with a longer limit ends once its code has run this long inside one
    # function call, on the same lines, without calling any function: a `while True` (0: wait out the limit)
    step_factor: float = 10.0  # a training call may take this many times the reference's optimizer steps
    # for the same call, and 100 more, before it counts as training without end (0: no step limit)
    import_timeout_s: float = 10.0  # wall clock for importing the student's module
    submission_timeout_s: float = 180.0  # wall clock for all probe calls of one assignment
    processes: int = 32  # processes and threads a submission may start (all together)
    file_size_mb: int = 64  # largest file a student process may write
    open_files: int = 256
    output_kb: int = 64  # printed output kept for the feedback (the rest is counted, dropped)
    result_mb: int = 16  # largest result a probe may send back (the course's largest honest one: 0.7 MB)
    received_mb: float = 64.0  # all results of one assignment together (honest ones: 1.7 MB at most); the
    # trusted side holds them while it judges, so a student returning 59 MB per call held 3.5 GB (0: no cap)
    tmp_mb: int = 256  # size of each submission's own /tmp and /dev/shm
    max_restarts: int = 6  # worker restarts after crashes/timeouts before giving up
    submission_files: int = 50  # files copied from the submission into the sandbox
    submission_mb: int = 20  # their total size

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None, base: Limits | None = None) -> Limits:
        base = base or cls()
        values = dict(values or {})
        known = {f.name: f.type for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(f"unknown limit(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        typed: dict[str, Any] = {name: (float(v) if known[name] == "float" else int(v)) for name, v in values.items()}
        return replace(base, **typed)

    def for_child(self) -> dict[str, Any]:
        """The limits of one child: rlimits it applies to itself, its budget and its tmpfs size."""
        return {
            key: value
            for key, value in asdict(self).items()
            if key in ("memory_mb", "cpu_seconds", "processes", "file_size_mb", "open_files", "tmp_mb")
        }
