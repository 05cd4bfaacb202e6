"""Grading slots hosted on one machine for someone else: a Dask worker (see :mod:`grader.grading.cluster`).

A :class:`SlotHost` keeps ``size`` slot processes, each owning a :class:`~grader.grading.slot.GradingSlot`
(its own sandbox, pre-started worker and reference answers). It takes one already-read submission at a
time per slot and gives back the result as plain data; it writes nothing. A slot that overruns the
student's wall-clock limit is killed and replaced (the student is "timed out"), as in ``grade report``.

Slot processes are started with :mod:`subprocess`, not :mod:`multiprocessing`: a Dask worker runs as a
daemonic process, which multiprocessing forbids to have children. They talk over a pair of pipes
with :class:`multiprocessing.connection.Connection` (pickle between two trusted processes; student code
runs only in the slot's own sandbox, further down).
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from grader.course.model import Course
from grader.grading.request import GradeRequest
from grader.grading.slot import GradeOptions
from grader.intake.submission import Submission
from grader.sandbox import Isolation

SLOT_START_TIMEOUT_S = 120.0


@dataclass
class GradingJob:
    """One student, already read by the instructor's machine: what a slot needs to grade it."""

    request: GradeRequest  # who (id, notes); its path names the instructor's copy and is never opened here
    submission: Submission  # what local grading would have read, with the same caps and link rules
    refused: list[str]  # what opening it left out (links in a zip), said on the result


@dataclass
class SlotConfig:
    slot: int
    course: Course
    options: GradeOptions
    isolation: Isolation


def failure(status: str, message: str, seconds: float) -> dict[str, Any]:
    """The reply for a student the slot could not finish (timeout, a dead slot, a grader bug)."""
    return {"kind": "failure", "status": status, "message": message, "seconds": round(seconds, 3)}


class _Slot:
    """One slot process and the two pipe ends that talk to it."""

    def __init__(self, config: SlotConfig) -> None:
        self.config = config
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "grader.grading.slot_host", str(to_child_r), str(from_child_w)],
            pass_fds=(to_child_r, from_child_w),
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # a signal for the Dask worker's group is not the slot's
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self.send = Connection(to_child_w, readable=False)
        self.receive = Connection(from_child_r, writable=False)
        self.send.send(config)

    def grade(self, job: GradingJob, timeout: float) -> tuple[dict[str, Any], bool]:
        """The reply for ``job``, and whether this slot is still usable."""
        started = time.monotonic()
        try:
            self.send.send(job)
        except OSError:
            return failure("error", "the grading process died unexpectedly", 0.0), False
        while True:
            waited = time.monotonic() - started
            if waited > timeout:
                return failure("timeout", f"grading took longer than {waited:.0f} s and was stopped", waited), False
            if self.receive.poll(min(1.0, max(0.0, timeout - waited))):
                try:
                    return self.receive.recv(), True
                except (EOFError, OSError):
                    break
            if self.process.poll() is not None:
                break
        return failure("error", "the grading process died unexpectedly", time.monotonic() - started), False

    def close(self, wait_s: float = 30.0) -> None:
        try:
            self.send.send(None)
        except OSError:
            pass
        try:
            self.process.wait(wait_s)
        except subprocess.TimeoutExpired:
            self.kill()
        self._close_pipes()

    def kill(self) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)  # the slot and its sandboxes' zygotes
            except OSError:
                self.process.kill()
        self.process.wait(10)
        self._close_pipes()

    def _close_pipes(self) -> None:
        self.send.close()
        self.receive.close()


class SlotHost:
    """``size`` slots; :meth:`grade` may be called from ``size`` threads at once (a Dask worker's)."""

    def __init__(self, course: Course, options: GradeOptions, isolation: Isolation, size: int) -> None:
        self._free: queue.Queue[_Slot] = queue.Queue()
        self._slots: list[_Slot] = []
        self._lock = threading.Lock()
        self._closed = False
        for slot in range(max(size, 1)):
            started = _Slot(SlotConfig(slot, course, options, isolation))
            self._slots.append(started)
            self._free.put(started)

    @property
    def size(self) -> int:
        return len(self._slots)

    def grade(self, job: GradingJob, timeout: float) -> dict[str, Any]:
        """Grade ``job`` on the next free slot: ``{"kind": "result", "result": ...}`` or a failure."""
        slot = self._free.get()
        try:
            reply, usable = slot.grade(job, timeout)
        except BaseException:
            self._replace(slot)
            raise
        if usable:
            self._free.put(slot)
        else:
            self._replace(slot)
        return reply

    def _replace(self, slot: _Slot) -> None:
        slot.kill()
        with self._lock:
            if self._closed:
                return
            fresh = _Slot(slot.config)
            self._slots[self._slots.index(slot)] = fresh
        self._free.put(fresh)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            slots = list(self._slots)
        for slot in slots:
            slot.close()


# -- inside a slot process -------------------------------------------------------------------------


def serve(receive: Connection, send: Connection) -> None:
    """Grade the jobs that arrive until ``None`` or the host's end closes; reply to each."""
    from grader.grading.slot import GradingSlot

    _die_with_host()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    config: SlotConfig = receive.recv()
    grader = GradingSlot(config.course, config.options, slot=config.slot, isolation=config.isolation)
    try:
        while True:
            try:
                job = receive.recv()
            except (EOFError, OSError):
                break
            if job is None:
                break
            started = time.monotonic()
            try:
                result = grader.grade_loaded(job.submission, job.request, job.refused)  # starts workers it needs
                reply = {"kind": "result", "result": result.to_dict(), "seconds": round(time.monotonic() - started, 3)}
            except Exception as exc:  # a grader bug must not stop the class: say so, go on
                reply = failure("error", f"grading failed: {type(exc).__name__}: {exc}", time.monotonic() - started)
            try:
                send.send(reply)
            except OSError:  # the host is gone
                break
    finally:
        grader.close()


def _die_with_host() -> None:
    """End this slot (and its sandboxes, in its process group) soon after the Dask worker that started it
    dies. Not PR_SET_PDEATHSIG: that fires when the starting *thread* ends, and a Dask worker's threads come
    and go."""
    host = os.getppid()

    def watch() -> None:
        while os.getppid() == host:
            time.sleep(1.0)
        os.killpg(os.getpgid(0), signal.SIGKILL)

    threading.Thread(target=watch, name="die-with-host", daemon=True).start()


def main(argv: list[str]) -> None:
    receive = Connection(int(argv[0]), writable=False)
    send = Connection(int(argv[1]), readable=False)
    serve(receive, send)


if __name__ == "__main__":
    main(sys.argv[1:])
