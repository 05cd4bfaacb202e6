"""One submission's worker process, as the judges see it: ``call(probe, args)`` returns plain data.

The child is forked lazily from the zygote and re-forked after a crash or a timeout, so one bad call
fails one check, not the rest. Deterministic failures (the module does not import) are remembered and
not retried. Output the child prints is drained while waiting for replies and kept up to a limit.
"""

from __future__ import annotations

import os
import re
import select
import signal
import time
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import numpy as np

from grader.errors import Failure, FailureKind, RunFailed, SandboxError
from grader.sandbox.limits import Limits
from grader.sandbox.zygote_handle import ZygoteHandle
from grader.wire.channel import ChannelClosed, ChannelTimeout, FrameReader, write_frame
from grader.wire.codec import FrameError, FrameLimits


@dataclass
class LoadSpec:
    """Everything a child needs to import one submission of one assignment."""

    module: str  # import name, e.g. "srn"
    filename: str  # what the student calls it, e.g. "srn.py" or "srn.ipynb"
    files: dict[str, bytes]  # file name -> content, written into the child's private directory
    probes_source: str
    blocked_imports: list[str] = field(default_factory=list)
    forbidden_apis: list[str] = field(default_factory=list)
    device: str = "cpu"
    data: dict[str, bytes] = field(default_factory=dict)  # the released data files, written into data/
    # The student's code keeps ctypes (refused in grading: guards.refuse_reaching_in). Only the isolation
    # tests set it: their ctypes stands for native code, which the operating system's limits must stop.
    native_code: bool = False

    def message(
        self,
        hanging: dict[str, str] | None = None,
        hanging_limits: dict[str, float] | None = None,
        hanging_stuck: list[str] | None = None,
    ) -> dict[str, Any]:
        return {
            "hanging": hanging or {},
            "hanging_limits": hanging_limits or {},
            "hanging_stuck": hanging_stuck or [],
            "module": self.module,
            "filename": self.filename,
            "files": {name: np.frombuffer(data, dtype=np.uint8) for name, data in self.files.items()},
            "data": {name: np.frombuffer(data, dtype=np.uint8) for name, data in self.data.items()},
            "probes_source": self.probes_source,
            "blocked_imports": self.blocked_imports,
            "forbidden_apis": self.forbidden_apis,
            "device": self.device,
            "native_code": self.native_code,
        }


NEVER_AGAIN = 1e9  # the limit recorded for a function that ran past a small call's: no call has a longer one
# A call's wall-clock limit is lengthened by the time its main process waited, ready to run, for a CPU (a
# busy machine: a fairness round's correct but slow a3 scored 100 alone and 85 with six gradings on two
# cores), as far as the submission's processes stay within the limit's CPU, up to this many times the
# limit (see _time_the_machine_took). Code that sleeps or waits for input is not ready to run: it gains nothing.
MAKE_UP_AT_MOST = 3.0
MIN_MAKE_UP_S = 0.1


class _MakeUp(NamedTuple):
    """What a call's deadline may be lengthened by a busy machine (see _time_the_machine_took)."""

    until: float  # never past this time (monotonic): MAKE_UP_AT_MOST times the limit from the call's start
    limit_s: float  # the call's limit, also the CPU all the submission's processes may use in it
    at_start: tuple[float, float]  # the zygote's (waited, CPU) figures when the call began


class _Looping(Exception):
    """The child's watchdog counted more optimizer steps than the call's budget."""

    def __init__(self, steps: int) -> None:
        super().__init__(f"{steps} optimizer steps")
        self.steps = steps


class _Stuck(Exception):
    """The child's watchdog saw the student's code stay inside one function call, calling nothing."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"stuck for {seconds:g} s")
        self.seconds = seconds


class OutputCapture:
    """Keeps the first ``limit`` bytes a student process prints and counts the rest.

    :meth:`mark` splits what was printed in two: before the mark (the public checks) and after it (the
    hidden ones). What a student's code prints while hidden checks run can carry their inputs out (a
    hidden task's training data, printed, answered the next submission), so only the instructor sees it.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.kept = bytearray()
        self.total = 0
        self._marked: tuple[int, int] | None = None  # (bytes kept, bytes printed) at the mark

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        room = self.limit - len(self.kept)
        if room > 0:
            self.kept += data[:room]

    def mark(self) -> None:
        if self._marked is None:
            self._marked = (len(self.kept), self.total)

    def text(self) -> str:
        """What was printed before the mark (everything, where nothing was marked)."""
        kept, total = self._marked or (len(self.kept), self.total)
        return _with_rest(bytes(self.kept[:kept]), total - kept)

    def text_after_mark(self) -> str:
        if self._marked is None:
            return ""
        kept, total = self._marked
        return _with_rest(bytes(self.kept[kept:]), self.total - total - (len(self.kept) - kept))


def _with_rest(kept: bytes, rest: int) -> str:
    text = kept.decode("utf-8", "replace")
    return text + (f"\n[... {rest:,} more bytes of output not shown]" if rest > 0 else "")


@dataclass
class _Child:
    pid: int
    request_fd: int
    reply_fd: int
    output_fd: int | None
    zygote: ZygoteHandle
    key: bytes = b""  # the tag key of its replies (grader.wire.channel.TAG_SIZE), given in its load message
    received: int = 0  # its frames read so far (each tag covers its number: none can be sent twice)


class _TooMuch(Exception):
    """The replies so far passed Limits.received_mb."""


class SubmissionProcess:
    def __init__(self, zygote_source: Any, spec: LoadSpec, limits: Limits, uid: int | None = None) -> None:
        self._zygotes = zygote_source  # has .zygote() -> a ready ZygoteHandle, restarting a dead one
        self.spec = spec
        self.limits = limits
        self.uid = uid
        self.output = OutputCapture(limits.output_kb * 1024)
        self.frame_limits = FrameLimits(max_body_bytes=limits.result_mb * 2**20)
        self.child: _Child | None = None
        self.import_error: Failure | None = None  # remembered: a module that does not import is not retried
        self.import_forbidden: list[str] = []
        self.not_installed: list[str] = []  # libraries its module imports that are missing here (let through)
        self.restarts = 0
        self.spent = 0.0
        self.made_up = 0.0  # seconds the call now running was given for the time it waited for a CPU
        self.received = 0  # bytes of every reply so far (Limits.received_mb)
        self._last_where: str | None = None
        self._last_function: str | None = None
        self.last_elapsed: float | None = None
        self.last_steps: int | None = None
        self.hanging: dict[str, str] = {}  # student functions that timed out -> why they are not rerun
        self.hanging_limits: dict[str, float] = {}  # ...and the limit each ran past (rerun under longer ones)
        self.hanging_stuck: set[str] = set()  # ...or stopped as stuck: refused except in plain probe calls
        self.last_cleanup: dict[str, Any] = {}  # the zygote's report: processes killed, seconds taken
        self._hits_seen: dict[str, int] = {}  # the child's budget counters at its last failure

    # -- public ------------------------------------------------------------------------------------

    def call(
        self,
        probe: str,
        args: dict[str, Any] | None = None,
        *,
        seed: int = 0,
        timeout: float | None = None,
        small: bool = False,
        steps: tuple[int, int] | None = None,
    ) -> Any:
        """Run ``probe`` on the student's module; plain data back, or :class:`RunFailed`.

        ``small``: a plain probe call, whose limit is 10 times the reference's time for it (at least
        ``timeout_floor_s``) or the fixed ``probe_timeout_s``. A function that runs past it is not run
        again in this submission under any limit: the training checks that call it many times could
        not finish either, and would each wait out their own longer limit (30 s, 60 s) for nothing.

        ``steps``: (budget, the reference's optimizer steps for the same call). A call that takes more
        steps than the budget is training without end, and is stopped as soon as the child says so."""
        timeout = self.limits.probe_timeout_s if timeout is None else timeout
        if self._received_too_much():
            raise RunFailed(Failure(FailureKind.BUDGET, self._received_message()))
        self._ensure_child()
        assert self.child is not None
        if self.import_forbidden:  # e.g. `class MyRNN(nn.RNN)`: used when the module was imported
            message = _forbidden_message(self.import_forbidden) + " (when your module was imported)"
            raise RunFailed(Failure(FailureKind.FORBIDDEN, message))
        budget_left = self.limits.submission_timeout_s - self.spent
        wait = min(timeout, max(budget_left, 0.0))
        started = time.monotonic()
        self._last_where = self._last_function = None
        stuck_after = self.limits.stuck_after_s if 0 < self.limits.stuck_after_s < wait else None
        budget = steps[0] if steps and stuck_after else None  # the same watchdog counts the steps
        request = {
            "op": "probe",
            "name": probe,
            "args": args or {},
            "seed": seed,
            "limit": timeout,
            "report_after": max(wait - min(0.5, wait / 4), 0.05),
            "stuck_after": stuck_after,
            "small": small,
            "step_budget": budget,
        }
        self.made_up = 0.0
        # nothing is made up where the assignment's budget, not the call's limit, ends the call
        at_start = self._scheduled() if wait >= timeout else None
        make_up = _MakeUp(started + MAKE_UP_AT_MOST * wait, timeout, at_start) if at_start else None
        try:
            write_frame(self.child.request_fd, request)
            reply = self._await_reply(
                time.monotonic() + wait,
                stuck_from=started + stuck_after if stuck_after else None,
                step_budget=budget,
                counted=True,
                make_up=make_up,
            )
        except _Looping as looping:
            self._discard_child(kill=True)
            assert steps is not None
            raise RunFailed(self._looping_failure(looping.steps, steps, time.monotonic() - started, timeout)) from None
        except _Stuck as stuck:
            self._discard_child(kill=True)
            elapsed = time.monotonic() - started  # the child's own figure is believed no further than this
            raise RunFailed(self._stuck_failure(min(stuck.seconds, elapsed), elapsed, timeout, small)) from None
        except ChannelTimeout:
            self._discard_child(kill=True)
            if wait < timeout:
                raise RunFailed(Failure(FailureKind.BUDGET, self._budget_message())) from None
            where = f"; it was still running {self._last_where}" if self._last_where else ""
            if self._last_function:
                self.hanging_limits[self._last_function] = NEVER_AGAIN if small else timeout
                self.hanging[self._last_function] = (
                    f"`{self._last_function}` was stopped after running more than {timeout:g} s in an earlier "
                    "check, so it was not run again (look for an endless loop)"
                )
            stopped = Failure(
                FailureKind.TIMEOUT,
                f"your code did not finish within {timeout:g} s{self._made_up_words()} (an endless loop, or far too "
                f"slow?){where}",
                where=self._last_where,
                limit_s=timeout,  # stopped here under this limit, not refused by the child
            )
            raise RunFailed(stopped) from None
        except ChannelClosed:
            status = self._discard_child(kill=False)
            raise RunFailed(Failure(FailureKind.CRASH, _crash_message(status, self.limits))) from None
        except FrameError as exc:
            self._discard_child(kill=True)
            too_large = re.search(r"result of (\d+) bytes exceeds the limit", str(exc))
            if too_large:
                message = (
                    f"your code returned an answer of {int(too_large.group(1)) / 2**20:.0f} MB, more than the "
                    f"{self.limits.result_mb} MB one answer may be (the reference solution's are under 1 MB)"
                )
                raise RunFailed(Failure(FailureKind.BUDGET, message)) from None
            message = f"your code's process sent back data the grader cannot read ({exc})"
            raise RunFailed(Failure(FailureKind.MALFORMED, message)) from None
        except _TooMuch:
            self._discard_child(kill=True)
            raise RunFailed(Failure(FailureKind.BUDGET, self._received_message())) from None
        finally:
            elapsed = time.monotonic() - started
            # what a busy machine took is not the student's: a call given more time is charged its limit
            self.spent += min(elapsed, wait) if self.made_up else elapsed
        self.last_elapsed = reply.get("elapsed")  # the probe's own running time, start-up excluded
        self.last_steps = reply.get("steps")  # optimizer steps it took (where torch is loaded)
        if reply.get("forbidden_used"):
            raise RunFailed(Failure(FailureKind.FORBIDDEN, _forbidden_message(reply["forbidden_used"])))
        if not reply.get("ok"):
            raise RunFailed(self._named_limits(Failure.from_reply(reply.get("error"))))
        return reply.get("data")

    def close(self) -> None:
        if self.child is not None:
            self._discard_child(kill=True)

    def _received_too_much(self) -> bool:
        return 0 < self.limits.received_mb * 2**20 < self.received

    def _received_message(self) -> str:
        return (
            f"your code's answers came to more than {self.limits.received_mb:g} MB in all (the reference "
            "solution's to about 2 MB); the remaining checks were not run"
        )

    # -- child lifecycle ---------------------------------------------------------------------------

    def _ensure_child(self) -> None:
        if self.child is not None:
            return
        if self.import_error is not None:
            raise RunFailed(self.import_error)
        if self.spent >= self.limits.submission_timeout_s:
            raise RunFailed(Failure(FailureKind.BUDGET, self._budget_message()))
        if self.restarts > self.limits.max_restarts:
            message = (
                f"your code's process crashed or timed out {self.restarts} times; the remaining checks were not run"
            )
            raise RunFailed(Failure(FailureKind.BUDGET, message))
        zygote: ZygoteHandle = self._zygotes.zygote()
        request_r, request_w = os.pipe()
        reply_r, reply_w = os.pipe()
        output_r, output_w = os.pipe()
        uid = self.uid if self.uid is not None else zygote.uid
        try:
            pid = zygote.spawn(
                {
                    "uid": uid,
                    "limits": self.limits.for_child(),
                    "scratch": zygote.scratch,
                    "probes_source": self.spec.probes_source,  # compiled once by the worker
                },
                [request_r, reply_w, output_w],
            )
        finally:
            for fd in (request_r, reply_w, output_w):
                os.close(fd)
        self.child = _Child(pid, request_w, reply_r, output_r, zygote, os.urandom(32))
        self._hits_seen = {}
        self._load()

    def _load(self) -> None:
        assert self.child is not None
        started = time.monotonic()
        try:
            load = self.spec.message(self.hanging, self.hanging_limits, sorted(self.hanging_stuck))
            write_frame(self.child.request_fd, {**load, "key": self.child.key.hex()})
            reply = self._await_reply(started + self.limits.import_timeout_s)
        except ChannelTimeout:
            self._discard_child(kill=True)
            self.import_error = Failure(
                FailureKind.IMPORT,
                f"importing {self.spec.filename} took more than {self.limits.import_timeout_s:g} s: does it "
                "train a model or loop at the top level? Put such code under `if __name__ == \"__main__\":`",
            )
        except ChannelClosed:
            status = self._discard_child(kill=False)
            self.import_error = Failure(
                FailureKind.IMPORT, f"while importing {self.spec.filename}, {_crash_message(status, self.limits)}"
            )
        except FrameError as exc:
            self._discard_child(kill=True)
            garbage = f"while importing {self.spec.filename}, the worker sent garbage ({exc})"
            self.import_error = Failure(FailureKind.IMPORT, garbage)
        else:
            self.import_forbidden = list(reply.get("forbidden_used") or [])
            self.not_installed = _library_names(reply.get("not_installed"))
            if not reply.get("ok"):
                error = self._named_limits(Failure.from_reply(reply.get("error")))
                self._discard_child(kill=False)
                if error.kind.students:  # the grader's failure stays the grader's
                    message = f"{self.spec.filename} could not be imported: {error.message}"
                    error = replace(error, kind=FailureKind.IMPORT, message=message)
                self.import_error = error
        finally:
            self.spent += time.monotonic() - started
        if self.import_error is not None:
            raise RunFailed(self.import_error)

    def _named_limits(self, error: Failure) -> Failure:
        """The failure, saying which budget of the whole submission refused or killed something meanwhile
        (a fork refused at the process limit, a forked process killed at the memory limit)."""
        if error.kind is FailureKind.MEMORY:
            error = replace(
                error,
                message=f"your code ran out of memory (the memory limit of {self.limits.memory_mb} MB was reached)",
            )
        if self.child is not None and self.child.zygote.alive:
            try:
                hits = self.child.zygote.usage(self.child.pid).get("hits") or {}
            except SandboxError:
                hits = {}
            new = {key: count for key, count in hits.items() if count > self._hits_seen.get(key, 0)}
            self._hits_seen.update(hits)
            reached = _limits_reached(new, self.limits)
            if reached:
                error = error.noted(f" ({reached} was reached)")
        return error

    def _discard_child(self, kill: bool) -> dict[str, Any]:
        """Close the pipes, make sure the process is gone, clean up after it; how it ended."""
        child, self.child = self.child, None
        if child is None:
            return {}
        self._drain_output(child)
        for fd in (child.request_fd, child.reply_fd, child.output_fd):
            if fd is not None:
                os.close(fd)
        status: dict[str, Any] = {"exitcode": None, "signal": None, "zygote_lost": True}
        if child.zygote.alive:  # else the student's code took it down; the next call starts another
            try:
                status = child.zygote.reap(child.pid, grace=0.0 if kill else 1.0)
                status["killed_by_grader"] = kill
                self.last_cleanup = child.zygote.cleanup()
            except SandboxError:
                pass
        self.restarts += 1
        return status

    def _stuck_failure(self, stuck_s: float, elapsed: float, timeout: float, small: bool) -> Failure:
        """A call stopped early because its code stayed on the same lines of one function call, calling
        nothing: what a `while True` does. The function is not run again in a training check (each would
        wait the same seconds for it), while plain probe calls of it, with small inputs, still run under
        their own short limits (a plain call that runs past its limit is then refused everywhere), unless
        it was stuck in a plain call itself (on a busy machine the time made up can let the report of a
        plain call's loop come before its limit: a second plain call then paid the limit again). The
        message says why, and that working code gets the full limit."""
        function = self._last_function
        place = f"`{function}`" if function else "one function"  # the line follows: `where`
        if function:  # refused in training checks; a plain probe call (small inputs, short limit) still runs
            self.hanging_stuck.add(function)
            if small:
                self.hanging_limits[function] = NEVER_AGAIN
            self.hanging[function] = (
                f"`{function}` was stopped in an earlier check: it ran {stuck_s:.0f} s on the same lines without "
                "calling any function, so it was not run again (look for an endless loop)"
            )
        return Failure(
            FailureKind.TIMEOUT,
            f"your code was stopped after {elapsed:.0f} s: it ran {stuck_s:.0f} s on the same lines of {place} "
            "without calling any function, not even a built-in one, which working code does all the time (an "
            f"endless loop?). Code that keeps working may run for this check's whole {timeout:g} s.",
            where=self._last_where,
        )

    def _looping_failure(self, taken: int, steps: tuple[int, int], elapsed: float, timeout: float) -> Failure:
        """A training call stopped once it took far more optimizer steps than the reference does for the
        same call: it trains without end (``while loss > 1e-9:``). Refused in later training checks."""
        budget, reference = steps
        function = self._last_function
        if function:
            self.hanging_stuck.add(function)
            self.hanging[function] = (
                f"`{function}` was stopped in an earlier check: it kept training past {budget} optimizer steps "
                f"(the reference solution takes {reference}), so it was not run again"
            )
        place = f" in `{function}`" if function else ""
        return Failure(
            FailureKind.TIMEOUT,
            f"your code was stopped after {elapsed:.1f} s{place}: it had taken more than {budget} optimizer steps "
            f"and was still training, where the reference solution takes {reference} for the same call. Does it "
            "train until the loss reaches a value it never reaches? Code that trains as asked may run for this "
            f"check's whole {timeout:g} s.",
            where=self._last_where,
        )

    def _await_reply(
        self,
        deadline: float,
        stuck_from: float | None = None,
        step_budget: int | None = None,
        counted: bool = False,
        make_up: _MakeUp | None = None,
    ) -> dict[str, Any]:
        """The child's reply. Its watchdog's reports on the way name the running line; a report that
        the code is stuck ends the wait, but only from ``stuck_from`` on and only when this call asked
        for one (a child cannot end a call early that the grader meant to wait for). With ``make_up``,
        the deadline moves by the time a busy machine took (:meth:`_time_the_machine_took`)."""
        assert self.child is not None
        reader = FrameReader(self.frame_limits, key=self.child.key, received=self.child.received)
        self.made_up = 0.0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                more = self._time_the_machine_took(make_up) if make_up is not None else 0.0
                if more <= 0:
                    raise ChannelTimeout("timed out")
                deadline += more
                self.made_up += more
                continue
            watched = [self.child.reply_fd] + ([self.child.output_fd] if self.child.output_fd is not None else [])
            ready, _, _ = select.select(watched, [], [], remaining)
            if self.child.output_fd in ready:
                data = os.read(self.child.output_fd, 1 << 16)
                if data:
                    self.output.feed(data)
                else:
                    os.close(self.child.output_fd)
                    self.child.output_fd = None
            if self.child.reply_fd in ready:
                data = os.read(self.child.reply_fd, 1 << 20)
                if not data:
                    raise ChannelClosed("worker closed its reply pipe")
                if counted:  # a probe's reply (Limits.received_mb)
                    self.received += len(data)
                    if self._received_too_much():
                        raise _TooMuch()
                messages = reader.feed(data)
                self.child.received = reader.received
                for message in messages:
                    if isinstance(message, dict) and message.get("progress"):
                        self._last_where = message.get("where")  # the watchdog's report, see child.py
                        self._last_function = message.get("function")
                        stuck, looping = message.get("stuck"), message.get("looping")
                        if step_budget is not None and isinstance(looping, int) and looping > step_budget:
                            raise _Looping(looping)
                        if (
                            stuck_from is not None
                            and isinstance(stuck, (int, float))
                            and time.monotonic() >= stuck_from
                        ):
                            raise _Stuck(float(stuck))
                        continue
                    return message

    def _made_up_words(self) -> str:
        return (
            f" and {self.made_up:.0f} s more for the time a busy machine kept it waiting" if self.made_up >= 1 else ""
        )

    def _scheduled(self) -> tuple[float, float] | None:
        if self.child is None:
            return None
        try:
            return self.child.zygote.scheduled(self.child.pid)
        except SandboxError:
            return None

    def _time_the_machine_took(self, make_up: _MakeUp) -> float:
        """Seconds to add to a call's deadline, read when it passes: how long the child's main process
        has waited, ready to run, for a CPU during the call, less what was added already, and no more
        than leaves the submission's processes the call's limit of CPU (the zygote reads both from the
        scheduler; the student's code cannot change them), never past ``make_up.until``. So the time
        made up is what a busy machine took: a hostile round's own busy processes, niced and pinned to
        the child's CPU, made it look starved (100 where the work earns 60, a1's budget overrun)."""
        now = time.monotonic()
        if now >= make_up.until:
            return 0.0
        current = self._scheduled()
        if current is None:
            return 0.0
        waited, cpu = current[0] - make_up.at_start[0], current[1] - make_up.at_start[1]
        more = min(waited - self.made_up, make_up.limit_s - cpu, make_up.until - now)
        return more if more >= MIN_MAKE_UP_S else 0.0

    def _drain_output(self, child: _Child) -> None:
        if child.output_fd is None:
            return
        os.set_blocking(child.output_fd, False)
        try:
            for _ in range(64):
                data = os.read(child.output_fd, 1 << 16)
                if not data:
                    break
                self.output.feed(data)
        except BlockingIOError:
            pass

    def _budget_message(self) -> str:
        return (
            f"the time allowed for all checks of this assignment ({self.limits.submission_timeout_s:g} s) "
            "was used up; the remaining checks were not run"
        )


def _forbidden_message(names: list[str]) -> str:
    listed = ", ".join(f"`{name}`" for name in dict.fromkeys(names))
    if all(any(marker in name for marker in _IN_EVERY_ASSIGNMENT) for name in names):
        return (
            f"your code used {listed}, which graded code may not use: the grader's own code runs in your "
            "process, and reads your results there"
        )
    return f"your code used {listed}, which this assignment does not allow: write it yourself from tensors"


# What grader.inside.guards refuses in every assignment (KERNEL_OVERRIDE, FRAME_ACCESS, the grader's own
# modules, a walk of the garbage collector's objects, ctypes)
_IN_EVERY_ASSIGNMENT = (
    "torch's own operators",
    "a frame of the running code",
    "grader.",
    "the garbage collector's",
    "ctypes (a C function",
)


_SIGNAL_HINTS: dict[int, str] = {
    signal.SIGKILL: "was killed (usually the memory limit, or too many processes)",
    signal.SIGXCPU: "used more CPU time than allowed",
    signal.SIGXFSZ: "wrote a file larger than allowed",
    signal.SIGSEGV: "crashed with a segmentation fault",
    signal.SIGABRT: "aborted (a native library failed, often when memory ran out)",
    signal.SIGBUS: "crashed (bus error)",
}


def _limits_reached(hits: dict[str, int], limits: Limits) -> str:
    """The budgets named for the student: "the memory limit of 400 MB for all your processes together"."""
    named = []
    if hits.get("memory"):
        named.append(f"the memory limit of {limits.memory_mb} MB for all your processes together")
    if hits.get("processes"):
        named.append(f"the limit of {limits.processes} processes and threads for all your processes together")
    return " and ".join(named)


def _crash_message(status: dict[str, Any], limits: Limits) -> str:
    reached = _limits_reached(status.get("hits") or {}, limits)
    if status.get("zygote_lost"):
        return "your code's process ended and took the grading worker with it"
    if status.get("signal"):
        number = int(status["signal"])
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        if reached:
            return f"your code's process was stopped: it reached {reached} ({name})"
        hint = _SIGNAL_HINTS.get(number, "was stopped by a signal")
        return f"your code's process {hint} ({name})"
    code = status.get("exitcode")
    after = f" (after reaching {reached})" if reached else ""
    if code is not None:
        return (
            f"your code ended the process with exit code {code} (sys.exit or os._exit?) before returning "
            f"a result; ending the process never counts as passing{after}"
        )
    return f"your code's process ended unexpectedly{after}"


def _library_names(value: Any) -> list[str]:
    """The names the student's process says it let through: only plain module names, a few at most."""
    names = value if isinstance(value, list) else []
    return [name for name in names if isinstance(name, str) and name.isidentifier() and len(name) <= 40][:8]
