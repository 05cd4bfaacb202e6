"""The pre-started worker: pays the numpy/torch import once, then forks one child per submission.

It runs inside the sandbox (or as a plain subprocess where there is none) and takes orders from the
trusted side over a Unix socket: ``spawn`` (with the child's three pipe ends attached),
``reap`` (wait for or kill a child and report how it ended) and ``cleanup`` (kill every process a
submission left behind and wipe the scratch space, so nothing survives into the next submission).
It makes itself undumpable, so a child cannot ptrace it or read its memory, and a child subreaper, so
daemonised grandchildren stay findable.
"""

from __future__ import annotations

import ctypes
import importlib
import os
import shutil
import signal
import socket
import sys
import time
from typing import Any

from .channel import recv_with_fds, send_with_fds

PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36


def main(control_fd: int) -> None:
    control = socket.socket(fileno=control_fd)
    config, _ = recv_with_fds(control)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    versions = _preload(config.get("preload", []), config.get("threads", 1))
    _check_absent(config.get("absent", []))
    if config.get("warm_optimizer") and "torch" in sys.modules:
        _warm_optimizer()
    _prctl(PR_SET_DUMPABLE, 0)
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    send_with_fds(control, {"ready": True, "pid": os.getpid(), "versions": versions}, [])
    Zygote(control, config).loop()


def _preload(modules: list[str], threads: int) -> dict[str, str]:
    versions = {"python": sys.version.split()[0]}
    for name in modules:
        module = importlib.import_module(name)
        versions[name] = str(getattr(module, "__version__", ""))
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(max(1, threads))
        torch.use_deterministic_algorithms(True, warn_only=True)
    return versions


def _check_absent(names: list[str]) -> None:
    """Refuse to serve if preloading brought in a package this worker must not hold (torch for a1):
    whatever is loaded here, every child inherits and can find, whatever its import guards say."""
    loaded = sorted({key.split(".")[0] for key in sys.modules} & set(names))
    if loaded:
        raise RuntimeError(f"the worker loaded {', '.join(loaded)}, which it must not hold")


def _warm_optimizer() -> None:
    """The first optimizer imports torch._dynamo (over a second); pay that here, once."""
    import torch

    layer = torch.nn.Linear(2, 2)
    optimizer = torch.optim.Adam(layer.parameters(), lr=0.1)
    layer(torch.ones(1, 2)).sum().backward()
    optimizer.step()


def _prctl(option: int, value: int) -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)
    except (OSError, AttributeError):
        pass


class Zygote:
    def __init__(self, control: socket.socket, config: dict[str, Any]) -> None:
        self.control = control
        self.config = config
        self.statuses: dict[int, int] = {}
        self.in_pid_namespace = bool(config.get("pid_namespace"))

    def loop(self) -> None:
        while True:
            try:
                message, fds = recv_with_fds(self.control)
            except (EOFError, OSError):
                break
            op = message.get("op")
            if op == "spawn":
                reply = self.spawn(message["config"], fds)
            elif op == "reap":
                reply = self.reap(int(message["pid"]), float(message.get("grace", 0.5)))
            elif op == "cleanup":
                reply = self.cleanup()
            elif op == "exit":
                break
            else:
                reply = {"error": f"unknown op {op!r}"}
            send_with_fds(self.control, reply, [])
        self.cleanup()

    def spawn(self, child_config: dict[str, Any], fds: list[int]) -> dict[str, Any]:
        pid = os.fork()
        if pid == 0:
            try:
                self.control.close()
                from .child import serve

                serve(fds, child_config)
            finally:
                os._exit(0)
        for fd in fds:
            os.close(fd)
        return {"pid": pid}

    def reap(self, pid: int, grace: float) -> dict[str, Any]:
        deadline = time.monotonic() + grace
        while pid not in self.statuses and time.monotonic() < deadline:
            if not self._wait(pid):
                time.sleep(0.01)
        if pid not in self.statuses:
            _kill(pid)
            self._wait(pid, block=True)
        return _describe_status(self.statuses.pop(pid, None))

    def _wait(self, pid: int, block: bool = False) -> bool:
        try:
            got, status = os.waitpid(pid, 0 if block else os.WNOHANG)
        except ChildProcessError:
            self.statuses.setdefault(pid, -1)
            return True
        if got == pid:
            self.statuses[pid] = status
            return True
        return False

    def cleanup(self) -> dict[str, Any]:
        """Kill every process left behind, then wipe the scratch directories."""
        start, killed = time.monotonic(), 0
        for _ in range(200):
            victims = self._leftovers()
            if not victims:
                break
            for pid in victims:
                killed += _kill(pid)
            self._reap_any()
            time.sleep(0.002)
        self._reap_any()
        for directory in self.config.get("wipe", []):
            _wipe(directory)
        return {"killed": killed, "seconds": time.monotonic() - start}

    def _leftovers(self) -> list[int]:
        me = os.getpid()
        parents: dict[int, int] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat", "rb") as stat:
                    fields = stat.read().rsplit(b")", 1)[1].split()
                if fields[0] == b"Z":
                    continue
                parents[int(entry)] = int(fields[1])
            except (OSError, IndexError, ValueError):
                continue
        if self.in_pid_namespace:
            return [pid for pid in parents if pid not in (1, me)]
        descendants, frontier = set(), {me}
        while frontier:
            frontier = {pid for pid, parent in parents.items() if parent in frontier} - descendants
            descendants |= frontier
        return sorted(descendants)

    def _reap_any(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.statuses[pid] = status


def _kill(pid: int) -> int:
    try:
        os.kill(pid, signal.SIGKILL)
        return 1
    except (ProcessLookupError, PermissionError):
        return 0


def _describe_status(status: int | None) -> dict[str, Any]:
    if status is None or status < 0:
        return {"exitcode": None, "signal": None}
    if os.WIFSIGNALED(status):
        return {"exitcode": None, "signal": os.WTERMSIG(status)}
    return {"exitcode": os.WEXITSTATUS(status), "signal": None}


def _wipe(directory: str) -> None:
    try:
        entries = os.listdir(directory)
    except OSError:
        return
    for name in entries:
        path = os.path.join(directory, name)
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.unlink(path)
        except OSError:
            pass
