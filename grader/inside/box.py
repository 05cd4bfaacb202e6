"""One submission's box, as the zygote builds it for each child: its own pid, IPC and mount namespaces
(a fresh /tmp and /dev/shm, a /proc of its own) and its cgroups (a memory and pids budget for all its
processes together). See :mod:`grader.inside.zygote` for what a box guarantees.

Standard library only: the trusted side's trial launch (:func:`probe_box`, once per `grade` command)
asks what a box can hold here without paying for numpy.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import time
from typing import Any

from grader.inside.lockdown import drop_capabilities, refuse_user_namespaces

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWUSER = 0x10000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 0x4000, 1 << 18
MNT_DETACH = 2
# statvfs flags that must be kept when a bind mount is made read-only (a user namespace locks them)
_KEPT_FLAGS = {os.ST_NOSUID: MS_NOSUID, os.ST_NODEV: MS_NODEV, os.ST_NOEXEC: MS_NOEXEC}

_libc = ctypes.CDLL(None, use_errno=True)


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
        try:
            self.enter({"tmp_mb": 1}, {}, budget=2**20)
        except OSError as exc:
            return {"errno": exc.errno or 0, "error": str(exc.strerror or exc)}
        drop_capabilities()
        problem = refuse_user_namespaces()
        try:
            _unshare(CLONE_NEWUSER)
        except OSError as exc:
            return {"user_namespaces": f"cannot be created by student code (tried: {exc.strerror})"}
        return {"user_namespaces": f"CAN be created by student code ({problem or 'the seccomp filter did not hold'})"}

    def enter(self, limits: dict[str, Any], cgroup_dirs: dict[str, str], budget: int) -> None:
        """In the child, before anything else: join its cgroups, then build its own namespaces."""
        if self.cgroups is not None:
            self.cgroups.join(cgroup_dirs)
        if not self.namespaces:
            return
        # A network namespace of its own (loopback down): the slot's children shared one, whose state
        # outlives them (a closed connection stays in TIME_WAIT, listed in /proc/net/tcp for a minute),
        # and a hostile round carried a4's hidden word pairs to the next student that way.
        _unshare(CLONE_NEWIPC | CLONE_NEWNS | CLONE_NEWNET)
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
            for hidden in HOST_COUNTERS:
                if os.path.isdir(hidden):
                    _mount(
                        "tmpfs", hidden, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, "size=4k,nr_inodes=2"
                    )


# Counters of the whole host that one submission moves and the next reads, left empty in the box: an
# isolation round carried a2's hidden task to a later student, in another batch, through the count of
# cached failed lookups (/proc/sys/fs/dentry-state: stat() of names that do not exist moves it);
# /proc/pressure gives the host's stall totals to the microsecond. The load counters (/proc/loadavg,
# /proc/meminfo, CPU time) stay: libraries read them to size their thread pools.
HOST_COUNTERS = ("/proc/sys/fs", "/proc/pressure")


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
                killed += sum(kill(pid) for pid in victims)
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
                    kill(pid)
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


def kill(pid: int) -> int:
    """SIGKILL, quietly: 1 if it reached a process, 0 if none was there."""
    try:
        os.kill(pid, signal.SIGKILL)
        return 1
    except (ProcessLookupError, PermissionError):
        return 0


def probe_box(config_json: str) -> None:
    """For the trusted side's trial launch: print what a zygote started like this gives each child."""
    box = Box.prepare(json.loads(config_json), None)
    print(json.dumps(box.report()), flush=True)
