"""The pre-started worker: pays the numpy/torch import once, then forks one child per submission.

It runs inside the sandbox (or as a plain subprocess where there is none) and takes orders from the
trusted side over a Unix socket: ``spawn`` (with the child's three pipe ends attached), ``reap``
(wait for or kill a child, say how it ended and which budget it hit), ``usage`` (the budgets a live
child hit so far) and ``cleanup``.

One submission is one box. Where the zygote may create namespaces (root, or CAP_SYS_ADMIN in
bubblewrap's user namespace) each child is the first process of its own pid namespace, with its own
IPC and mount namespaces, a fresh /tmp and /dev/shm of the submission's size and a /proc that shows
only its own processes: when it ends, the kernel ends every process it left and frees its SysV
segments and files, so nothing is scanned for and nothing survives. Where the trusted side gave it
cgroups, each child also gets its own memory and pids budget for all its processes together. Without
namespaces (no root, no bubblewrap) leftovers are killed by cgroup, else by walking the zygote's
descendants (it is a child subreaper), zombies included, and the scratch space is wiped.
The zygote is undumpable, so a child cannot ptrace it or read its memory.
"""

from __future__ import annotations

import ctypes
import gc
import importlib
import json
import os
import shutil
import signal
import socket
import sys
import time
from typing import Any

from grader.wire.channel import recv_with_fds, send_with_fds

PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWUSER = 0x10000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 0x4000, 1 << 18
MNT_DETACH = 2
# statvfs flags that must be kept when a bind mount is made read-only (a user namespace locks them)
_KEPT_FLAGS = {os.ST_NOSUID: MS_NOSUID, os.ST_NODEV: MS_NODEV, os.ST_NOEXEC: MS_NOEXEC}

_libc = ctypes.CDLL(None, use_errno=True)


def main(control_fd: int) -> None:
    control = socket.socket(fileno=control_fd)
    config, _ = recv_with_fds(control)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    box = Box.prepare(config.get("box") or {}, control)  # before the imports: it may fork once
    try:
        versions = _preload(config.get("preload", []), config.get("threads", 1))
        _check_absent(config.get("absent", []))
    except WorkerCannotStart as exc:
        send_with_fds(control, {"error": str(exc)}, [])
        return
    if config.get("warm_optimizer") and "torch" in sys.modules:
        _warm_optimizer()
    gc.freeze()  # children then never write to the zygote's objects' GC headers: fewer copied pages
    _prctl(PR_SET_DUMPABLE, 0)
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    send_with_fds(control, {"ready": True, "pid": os.getpid(), "versions": versions, "box": box.report()}, [])
    Zygote(control, config, box).loop()


class WorkerCannotStart(Exception):
    """Why this worker cannot serve, in one line for the feedback's headline."""


def _preload(modules: list[str], threads: int) -> dict[str, str]:
    versions = {"python": sys.version.split()[0]}
    for name in modules:
        try:
            module = importlib.import_module(name)
        except Exception as exc:  # ImportError, or OSError from a shared library the sandbox lacks
            raise WorkerCannotStart(f"{name} cannot be imported inside the sandbox: {exc}") from None
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
        raise WorkerCannotStart(f"the worker loaded {', '.join(loaded)}, which it must not hold")


def _warm_optimizer() -> None:
    """The first optimizer imports torch._dynamo (over a second); pay that here, once."""
    import torch

    layer = torch.nn.Linear(2, 2)
    optimizer = torch.optim.Adam(layer.parameters(), lr=0.1)
    layer(torch.ones(1, 2)).sum().backward()
    optimizer.step()


def _prctl(option: int, value: int) -> None:
    try:
        _libc.prctl(option, value, 0, 0, 0)
    except (OSError, AttributeError):
        pass


# -- system calls the standard library lacks (Python 3.10/3.11 have no os.unshare/os.setns) --------


def _check(result: int, what: str) -> None:
    if result != 0:
        number = ctypes.get_errno()
        raise OSError(number, f"{what}: {os.strerror(number)}")


def _unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def _setns(fd: int, kind: int) -> None:
    _check(_libc.setns(fd, kind), "setns")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    encode = lambda text: None if text is None else text.encode()  # noqa: E731
    _check(
        _libc.mount(encode(source), target.encode(), encode(fstype), ctypes.c_ulong(flags), encode(data)),
        f"mount {target}",
    )


def _read_only(path: str) -> None:
    """Remount a bind mount read-only, keeping the flags a user namespace may have locked."""
    kept = os.statvfs(path).f_flag
    flags = MS_BIND | MS_REMOUNT | MS_RDONLY
    flags |= sum(flag for st, flag in _KEPT_FLAGS.items() if kept & st)
    _mount(None, path, None, flags)


def _write(path: str, text: str) -> None:
    with open(path, "w") as handle:
        handle.write(text)


# -- the box: namespaces per submission ------------------------------------------------------------


class Box:
    """What each child gets besides the zygote's own view: its namespaces, mounts and cgroups."""

    def __init__(self, config: dict[str, Any], pid_namespace: int | None, problem: str | None) -> None:
        self.config = config
        self.pid_namespace = pid_namespace  # the zygote's own pid namespace, to return to after a fork
        self.problem = problem  # why children share the zygote's namespaces (None: they don't)
        self.cgroups = Cgroups(config["cgroups"]) if config.get("cgroups") else None
        self.user_namespaces = "not tested"  # what a child found when it tried to create one

    @property
    def namespaces(self) -> bool:
        return self.pid_namespace is not None

    @classmethod
    def prepare(cls, config: dict[str, Any], control: socket.socket | None) -> Box:
        """Find out, by trying once, whether children can have their own namespaces here."""
        if not config.get("namespaces"):
            return cls(config, None, config.get("why_not") or "not requested")
        try:
            own = _own_pid_namespace(control)
            box = cls(config, own, None)
            box.self_test()
            return box
        except OSError as exc:
            return cls(config, None, f"namespaces cannot be created here ({exc.strerror or exc})")

    def report(self) -> dict[str, Any]:
        return {
            "namespaces": self.namespaces,
            "problem": self.problem,
            "cgroups": self.cgroups is not None,
            "user_namespaces": self.user_namespaces,
        }

    def fork(self) -> int:
        """Fork a child that is pid 1 of a new pid namespace (a plain fork without namespaces)."""
        if self.pid_namespace is None:
            return os.fork()
        _unshare(CLONE_NEWPID)
        try:
            pid = os.fork()
        except BaseException:
            _setns(self.pid_namespace, CLONE_NEWPID)
            raise
        if pid:
            _setns(self.pid_namespace, CLONE_NEWPID)  # the zygote's next child is not in this one
        return pid

    def self_test(self) -> None:
        """One child through every step a submission's child takes, so a failure shows at start-up;
        it also finds out whether that child could still create a user namespace."""
        read_end, write_end = os.pipe()
        pid = self.fork()
        if pid == 0:
            os.close(read_end)
            os.write(write_end, json.dumps(self._test_child()).encode()[:2000])
            os._exit(0)
        os.close(write_end)
        said = os.read(read_end, 4000).decode(errors="replace")
        os.close(read_end)
        os.waitpid(pid, 0)
        outcome = json.loads(said or '{"errno": 0, "error": "the test child died"}')
        if "error" in outcome:
            raise OSError(int(outcome["errno"]), outcome["error"])
        self.user_namespaces = outcome["user_namespaces"]

    def _test_child(self) -> dict[str, Any]:
        from grader.inside.child import _drop_capabilities, _refuse_user_namespaces

        try:
            self.enter({"tmp_mb": 1}, {}, budget=2**20)
        except OSError as exc:
            return {"errno": exc.errno or 0, "error": str(exc.strerror or exc)}
        _drop_capabilities()
        problem = _refuse_user_namespaces()
        try:
            _unshare(CLONE_NEWUSER)
        except OSError as exc:
            return {"user_namespaces": f"refused ({exc.strerror})"}
        return {"user_namespaces": f"allowed ({problem or 'the seccomp filter did not hold'})"}

    def enter(self, limits: dict[str, Any], cgroup_dirs: dict[str, str], budget: int) -> None:
        """In the child, before anything else: join its cgroups, then build its own namespaces."""
        if self.cgroups is not None:
            self.cgroups.join(cgroup_dirs)
        if not self.namespaces:
            return
        _unshare(CLONE_NEWIPC | CLONE_NEWNS)
        _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing mounted here reaches the zygote
        megabytes = max(1, int(limits.get("tmp_mb") or 256))
        # Files too are bounded (64 per MB): each costs kernel memory whatever its size.
        size = f"size={megabytes}m,nr_inodes={max(1024, 64 * megabytes)},mode=1777"
        scratch = self.config.get("scratch", "/tmp")
        kept = [(path, os.open(path, os.O_PATH)) for path in self.config.get("keep", []) if os.path.exists(path)]
        _mount("tmpfs", scratch, "tmpfs", MS_NOSUID | MS_NODEV, size)
        _bind_again(kept)
        os.chdir(scratch)  # the old directory stays reachable through the working directory otherwise
        _mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, size)
        for path in self.config.get("unmount", []):
            _check(_libc.umount2(path.encode(), MNT_DETACH), f"umount {path}")
        if self.config.get("proc"):
            _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
            _bound_sysv_memory(budget)
            _mount("/proc/sys", "/proc/sys", None, MS_BIND | MS_REC)
            _read_only("/proc/sys")


def _own_pid_namespace(control: socket.socket | None) -> int:
    """A handle on the zygote's pid namespace that it may return to after each child's.

    Under bubblewrap's ``--disable-userns`` the zygote sits in a user namespace nested below the one
    that owns its pid namespace, so it may not enter that again. It then moves once into a pid
    namespace of its own making (its old self waits and exits as it does).
    """
    handle = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    try:
        _setns(handle, CLONE_NEWPID)  # a no-op where permitted
        return handle
    except PermissionError:
        os.close(handle)
    _unshare(CLONE_NEWPID)
    pid = os.fork()
    if pid:
        if control is not None:
            control.close()
        _, status = os.waitpid(pid, 0)
        os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
    handle = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    _setns(handle, CLONE_NEWPID)
    return handle


def _bind_again(kept: list[tuple[str, int]]) -> None:
    """Interpreter directories that lived under the scratch directory, mounted again (read-only) on
    the fresh tmpfs that now covers it."""
    for path, handle in kept:
        if os.path.isdir(f"/proc/self/fd/{handle}"):
            os.makedirs(path, mode=0o755, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
            open(path, "a").close()
        _mount(f"/proc/self/fd/{handle}", path, None, MS_BIND | MS_REC)
        os.close(handle)
        _read_only(path)


def _bound_sysv_memory(budget: int) -> None:
    """SysV shared memory of this IPC namespace capped at the submission's budget (where permitted:
    inside a user namespace these files belong to its root, which the zygote is not)."""
    page = os.sysconf("SC_PAGE_SIZE")
    for name, value in (("shmmax", budget), ("shmall", max(1, budget // page)), ("shmmni", 64)):
        try:
            _write(f"/proc/sys/kernel/{name}", str(value))
        except OSError:
            return


# -- cgroups: a memory and pids budget per submission -----------------------------------------------


class Cgroups:
    """Per-submission cgroups below the sandbox's own, which the trusted side created and mounted.

    ``config``: ``{"version": 1 or 2, "dirs": {controller: directory}}`` (v1: "memory" and/or "pids";
    v2: "unified").
    """

    def __init__(self, config: dict[str, Any]) -> None:
        self.version = int(config["version"])
        self.parents: dict[str, str] = dict(config["dirs"])

    def create(self, name: str, memory: int, processes: int) -> dict[str, str]:
        dirs = {}
        for controller, parent in self.parents.items():
            path = os.path.join(parent, name)
            self._remove(path)  # a leftover of the same name (a crashed zygote's) would refuse mkdir
            os.mkdir(path)
            dirs[controller] = path
        if self.version == 2:
            self._limit_v2(dirs["unified"], memory, processes)
        else:
            self._limit_v1(dirs, memory, processes)
        return dirs

    @staticmethod
    def _limit_v1(dirs: dict[str, str], memory: int, processes: int) -> None:
        if "memory" in dirs:
            _write(os.path.join(dirs["memory"], "memory.limit_in_bytes"), str(memory))
            for name, value in (("memory.memsw.limit_in_bytes", memory), ("memory.swappiness", 0)):
                path = os.path.join(dirs["memory"], name)
                if os.path.exists(path):  # swap accounting may be off: then keep anonymous memory in RAM
                    _write(path, str(value))
        if "pids" in dirs:
            _write(os.path.join(dirs["pids"], "pids.max"), str(processes))

    @staticmethod
    def _limit_v2(path: str, memory: int, processes: int) -> None:
        _write(os.path.join(path, "memory.max"), str(memory))
        for name, value in (("memory.swap.max", "0"), ("memory.oom.group", "1")):
            if os.path.exists(os.path.join(path, name)):
                _write(os.path.join(path, name), value)
        _write(os.path.join(path, "pids.max"), str(processes))

    @staticmethod
    def join(dirs: dict[str, str]) -> None:
        for path in dirs.values():
            _write(os.path.join(path, "cgroup.procs"), "0")

    def hits(self, dirs: dict[str, str]) -> dict[str, int]:
        """How often each budget refused or killed: ``{"memory": OOM kills, "processes": refused forks}``."""
        memory = dirs.get("memory") or dirs.get("unified")
        pids = dirs.get("pids") or dirs.get("unified")
        oom_file = "memory.events" if self.version == 2 else "memory.oom_control"
        return {
            "memory": _counter(os.path.join(memory, oom_file), "oom_kill") if memory else 0,
            "processes": _counter(os.path.join(pids, "pids.events"), "max") if pids else 0,
        }

    def processes(self, dirs: dict[str, str]) -> list[int]:
        path = dirs.get("pids") or dirs.get("unified") or dirs.get("memory")
        return _pids_in(path) if path else []

    def kill(self, dirs: dict[str, str]) -> int:
        """Every process of the cgroups, killed by cgroup (``cgroup.kill`` where the kernel has it)."""
        killed = 0
        for path in dirs.values():
            if self.version == 2 and os.path.exists(os.path.join(path, "cgroup.kill")):
                killed += len(_pids_in(path))
                _write(os.path.join(path, "cgroup.kill"), "1")
                continue
            for _ in range(200):  # v1: new forks may land between two reads
                victims = _pids_in(path)
                if not victims:
                    break
                killed += sum(_kill(pid) for pid in victims)
                time.sleep(0.002)
        return killed

    def remove(self, dirs: dict[str, str]) -> None:
        for path in dirs.values():
            self._remove(path)

    @staticmethod
    def _remove(path: str) -> None:
        for _ in range(50):  # the last process may still be on its way out
            try:
                os.rmdir(path)
                return
            except FileNotFoundError:
                return
            except OSError:
                for pid in _pids_in(path):
                    _kill(pid)
                time.sleep(0.01)


def _counter(path: str, key: str) -> int:
    try:
        with open(path) as handle:
            for line in handle:
                name, _, value = line.partition(" ")
                if name == key:
                    return int(value)
    except (OSError, ValueError):
        pass
    return 0


def _pids_in(cgroup: str) -> list[int]:
    try:
        with open(os.path.join(cgroup, "cgroup.procs")) as handle:
            return [int(line) for line in handle if line.strip()]
    except (OSError, ValueError):
        return []


# -- serving --------------------------------------------------------------------------------------


class Zygote:
    def __init__(self, control: socket.socket, config: dict[str, Any], box: Box) -> None:
        self.control = control
        self.config = config
        self.box = box
        self.statuses: dict[int, int] = {}
        self.cgroups: dict[int, dict[str, str]] = {}  # child pid -> its cgroup directories
        self.count = 0
        self.killed = 0

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
            elif op == "usage":
                reply = self.usage(int(message["pid"]))
            elif op == "cleanup":
                reply = self.cleanup()
            elif op == "exit":
                break
            else:
                reply = {"error": f"unknown op {op!r}"}
            send_with_fds(self.control, reply, [])
        for pid in list(self.cgroups):
            self.reap(pid, 0.0)
        self.cleanup()

    def spawn(self, child_config: dict[str, Any], fds: list[int]) -> dict[str, Any]:
        limits = dict(child_config.get("limits", {}))
        memory = int(limits.get("memory_mb") or 0)
        processes = int(limits.get("processes") or 0)
        # The budget counts what the child adds to the worker: pages it copies from the zygote count.
        budget = memory * 2**20 + _resident_bytes() if memory else 2**62
        dirs: dict[str, str] = {}
        if self.box.cgroups is not None:
            self.count += 1
            try:
                dirs = self.box.cgroups.create(
                    f"submission-{self.count}", budget, processes + 1 if processes else 2**30
                )
            except OSError as exc:
                for fd in fds:
                    os.close(fd)
                return {"error": f"the submission's cgroup could not be created: {exc}"}
            limits["nproc_headroom"] = 2  # let the pids cgroup refuse first: it counts what it refused
        child_config = {**child_config, "limits": limits}
        ready_r, ready_w = os.pipe()  # the child's word on its box, on a pipe student code never holds
        try:
            pid = self.box.fork()
        except OSError as exc:
            for fd in (ready_r, ready_w, *fds):
                os.close(fd)
            if self.box.cgroups is not None:
                self.box.cgroups.remove(dirs)
            return {"error": f"the worker could not start a process for this submission: {exc}"}
        if pid == 0:
            os.close(ready_r)
            self._become_child(fds, child_config, dirs, budget, ready_w)
        os.close(ready_w)
        for fd in fds:
            os.close(fd)
        self.cgroups[pid] = dirs
        problem = _read_to_end(ready_r)
        if problem:
            self.reap(pid, 1.0)
            return {"error": f"the sandbox could not be set up for this submission: {problem}"}
        return {"pid": pid}

    def _become_child(
        self, fds: list[int], config: dict[str, Any], dirs: dict[str, str], budget: int, ready: int
    ) -> None:
        try:
            self.control.close()
            if self.box.pid_namespace is not None:
                os.close(self.box.pid_namespace)
            try:
                self.box.enter(config["limits"], dirs, budget)
            except OSError as exc:
                os.write(ready, str(exc).encode()[:1000])
                os._exit(1)
            os.close(ready)
            from grader.inside.child import serve

            serve(fds, config)
        finally:
            os._exit(0)

    def reap(self, pid: int, grace: float) -> dict[str, Any]:
        """Wait for a child (or kill it: with namespaces, that ends every process it started) and say
        how it ended and whether one of its budgets stopped it."""
        deadline = time.monotonic() + grace
        while pid not in self.statuses and time.monotonic() < deadline:
            if not self._wait(pid):
                time.sleep(0.01)
        dirs = self.cgroups.pop(pid, {})
        left = len(self.box.cgroups.processes(dirs)) if self.box.cgroups is not None else 0
        if pid not in self.statuses:
            _kill(pid)
            self._wait(pid, block=True)
        self.killed = max(left - 1, 0)
        if not self.box.namespaces:  # nothing ended the rest with the child: end them by cgroup or by tree
            self.killed = self.box.cgroups.kill(dirs) if dirs and self.box.cgroups else self._kill_descendants()
        reply = _describe_status(self.statuses.pop(pid, None))
        if self.box.cgroups is not None and dirs:
            reply["hits"] = self.box.cgroups.hits(dirs)
            self.box.cgroups.remove(dirs)
        return reply

    def usage(self, pid: int) -> dict[str, Any]:
        dirs = self.cgroups.get(pid)
        if not dirs or self.box.cgroups is None:
            return {"hits": {}}
        return {"hits": self.box.cgroups.hits(dirs)}

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
        """After a child is reaped: wipe the scratch space where no private tmpfs held it."""
        start = time.monotonic()
        self._reap_any()
        if not self.box.namespaces:
            for directory in self.config.get("wipe", []):
                _wipe(directory)
        killed, self.killed = self.killed, 0
        return {"killed": killed, "seconds": time.monotonic() - start}

    def _kill_descendants(self) -> int:
        """Without namespaces or cgroups: every descendant, found through the process tree, killed.
        Zombies too: a thread group whose first thread exited looks like one while others run on."""
        killed = 0
        for _ in range(200):
            victims = _descendants(os.getpid())
            if not victims:
                break
            killed += sum(_kill(pid) for pid in victims)
            self._reap_any()
            time.sleep(0.002)
        return killed

    def _reap_any(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.statuses[pid] = status


def _read_to_end(fd: int) -> str:
    chunks = []
    while True:
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks).decode("utf-8", "replace")


def _resident_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _descendants(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                parents[int(entry)] = int(stat.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
    found: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return sorted(found)


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


def probe_box(config_json: str) -> None:
    """For the trusted side's trial launch: print what a zygote started like this gives each child."""
    box = Box.prepare(json.loads(config_json), None)
    print(json.dumps(box.report()), flush=True)
