"""The trusted side's handle on a zygote: start it (sandboxed or not), and ask it to spawn, reap, clean."""

from __future__ import annotations

import functools
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from grader.errors import SandboxError
from grader.sandbox.isolation import Isolation, bootstrap_path, bwrap_prefix, clean_environment, kept_under
from grader.wire.channel import ChannelClosed, ChannelTimeout, read_frame, send_with_fds
from grader.wire.codec import FrameError

REQUEST_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class WorkerSetup:
    """What a zygote is started with; every child it forks inherits it."""

    preload: tuple[str, ...] = ()  # packages imported once, before any child is forked
    hide: tuple[str, ...] = ()  # packages it must never load; under bubblewrap their files are not shown
    device: str = "cpu"
    threads: int = 1  # BLAS/OpenMP threads
    warm_optimizer: bool = False  # run one optimiser step at start-up (torch's lazy imports, paid once)
    tmp_mb: int = 256  # size of the worker's /tmp under bubblewrap


class ZygoteHandle:
    """One pre-started worker process. Not thread-safe: one grading slot owns one zygote."""

    def __init__(
        self,
        isolation: Isolation,
        setup: WorkerSetup,
        *,
        uid: int | None = None,
        box: dict[str, Any] | None = None,
        bwrap_extra: Sequence[str] = (),
    ) -> None:
        """``uid``: what each child runs as (root only). ``box``: what each child gets of its own
        (``{"namespaces": bool, "cgroups": ..., "unmount": [...]}``; None: nothing, the trusted
        reference worker). ``bwrap_extra``: more bubblewrap arguments (the cgroup binds)."""
        self.isolation = isolation
        self.setup = setup
        self.uid = uid
        self.box_request = box
        self.bwrap_extra = tuple(bwrap_extra)
        self.box: dict[str, Any] = {}  # what the started zygote found it can give each child
        self.process: subprocess.Popen[bytes] | None = None
        self.control: socket.socket | None = None
        self.ready = False
        self.started_at = 0.0
        self.ready_seconds = 0.0
        self._host_scratch: str | None = None
        self._stderr: Any = None

    @property
    def sandboxed(self) -> bool:
        return self.isolation.kind == "bubblewrap"

    @property
    def scratch(self) -> str:
        """Where children create their private directories, as seen from inside the worker."""
        return "/tmp" if self.sandboxed else str(self._host_scratch)

    def start(self) -> None:
        """Launch without waiting for the imports to finish (see :meth:`wait_ready`)."""
        _remove_abandoned_scratch_once()
        self._host_scratch = tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-")
        os.chmod(self._host_scratch, 0o1777)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        bootstrap = f"{bootstrap_path()}; from grader.inside.zygote import main; main({theirs.fileno()})"
        command = [sys.executable, "-I", "-B", "-c", bootstrap]
        if self.sandboxed:
            command = (
                bwrap_prefix(
                    scratch_mb=self.setup.tmp_mb, device=self.setup.device, hide=self.setup.hide, extra=self.bwrap_extra
                )
                + command
            )
        self._stderr = tempfile.TemporaryFile()
        self.started_at = time.monotonic()
        self.process = subprocess.Popen(
            command,
            env=clean_environment(self.setup.threads, tmpdir=self.scratch, device=self.setup.device),
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            cwd=self._host_scratch,
            start_new_session=True,
        )
        theirs.close()
        self.control = ours
        send_with_fds(
            ours,
            {
                "preload": list(self.setup.preload),
                "absent": list(self.setup.hide),
                "threads": self.setup.threads,
                "warm_optimizer": self.setup.warm_optimizer,
                "device": self.setup.device,
                "box": self._box_config(),
                "wipe": ["/tmp", "/dev/shm"] if self.sandboxed else [self.scratch],
            },
            [],
        )

    def _box_config(self) -> dict[str, Any]:
        if self.box_request is None:
            return {"namespaces": False, "why_not": "the trusted reference worker runs instructor code only"}
        return {
            "proc": True,
            "scratch": self.scratch,
            "keep": kept_under(self.scratch) if self.sandboxed else [],
            **self.box_request,
        }

    def wait_ready(self, timeout: float = 180.0) -> None:
        if self.ready:
            return
        if self.control is None:
            self.start()
        try:
            reply = self._read(timeout)
        except (ChannelClosed, ChannelTimeout, FrameError, OSError) as exc:
            raise SandboxError(f"the grading worker did not start ({exc}){self._stderr_tail()}") from None
        if reply.get("error"):  # the headline: why, in one line ("torch cannot be imported inside ...")
            self.close()
            raise SandboxError(f"the grading worker could not start: {reply['error']}")
        self.box = dict(reply.get("box", {}))
        self.ready = True
        self.ready_seconds = time.monotonic() - self.started_at

    def spawn(self, child_config: dict[str, Any], fds: list[int]) -> int:
        reply = self.request({"op": "spawn", "config": child_config}, fds)
        if reply.get("error"):  # the zygote's word (never the student process's): not the student's fault
            raise SandboxError(str(reply["error"]))
        return int(reply["pid"])

    def reap(self, pid: int, grace: float = 0.5) -> dict[str, Any]:
        return self.request({"op": "reap", "pid": pid, "grace": grace})

    def usage(self, pid: int) -> dict[str, Any]:
        """How often each budget of a live child refused or killed so far."""
        return self.request({"op": "usage", "pid": pid})

    def scheduled(self, pid: int) -> tuple[float, float] | None:
        """(seconds a live child's main process has waited, ready to run, for a CPU; CPU seconds of all
        its processes), or None where the kernel keeps no run-queue figure."""
        reply = self.request({"op": "scheduled", "pid": pid})
        waited, cpu = reply.get("waited_s"), reply.get("cpu_s")
        if not isinstance(waited, (int, float)) or not isinstance(cpu, (int, float)):
            return None
        return float(waited), float(cpu)

    def cleanup(self) -> dict[str, Any]:
        return self.request({"op": "cleanup"})

    def request(self, message: dict[str, Any], fds: list[int] | None = None) -> dict[str, Any]:
        self.wait_ready()
        assert self.control is not None
        try:
            send_with_fds(self.control, message, fds or [])
            return self._read(REQUEST_TIMEOUT_S)
        except (ChannelClosed, ChannelTimeout, FrameError, OSError) as exc:
            self.close()
            raise SandboxError(f"the grading worker stopped answering ({exc}){self._stderr_tail()}") from None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None and self.control is not None

    def close(self) -> None:
        if self.control is not None:
            try:
                send_with_fds(self.control, {"op": "exit"}, [])
            except OSError:
                pass
            self.control.close()
            self.control = None
        if self.process is not None:
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                _kill_group(self.process)
            self.process = None
        if self._host_scratch:
            shutil.rmtree(self._host_scratch, ignore_errors=True)
            self._host_scratch = None
        self.ready = False

    def _read(self, timeout: float) -> dict[str, Any]:
        assert self.control is not None
        return read_frame(self.control.fileno(), deadline=time.monotonic() + timeout)

    def _stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        try:
            self._stderr.seek(0, os.SEEK_END)
            size = self._stderr.tell()
            self._stderr.seek(max(0, size - 2000))
            tail = self._stderr.read().decode("utf-8", "replace").strip()
        except (OSError, ValueError):
            return ""
        return f"\n{tail}" if tail else ""


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, 9)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


SCRATCH_PREFIX = "grader-worker-"


def remove_abandoned_scratch() -> None:
    """Remove the scratch folders of graders that died without cleaning up (killed with SIGKILL): each
    is named after its grader's pid, and one whose pid no longer runs is left to nobody. A folder of a
    live pid, or named otherwise, is never touched (another grader on this host may be using it)."""
    root = tempfile.gettempdir()
    try:
        names = os.listdir(root)
    except OSError:
        return
    for name in names:
        if not name.startswith(SCRATCH_PREFIX):
            continue
        pid = name[len(SCRATCH_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(os.path.join(root, name), ignore_errors=True)


@functools.cache
def _remove_abandoned_scratch_once() -> None:
    """Once per grader process: graders killed later are swept by the next grader, not by every
    worker restart of this one."""
    remove_abandoned_scratch()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: alive
        return True
    return True
