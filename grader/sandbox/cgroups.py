"""Cgroups for a submission's memory and process budget, the trusted side's part.

Each sandbox gets a cgroup of its own below the grader's (named by its lease, so no two sandboxes on
a host share one) in cgroup v2 where the grader may enable the memory and pids controllers for its
children, else in the v1 ``memory`` and ``pids`` hierarchies. Bubblewrap shows it to the zygote at
``/run/grader-cgroup/<controller>``; the zygote creates one cgroup per submission below it, with
the submission's limits, and each child hides the mount from itself before student code runs.
Where neither version can be used here, :func:`find` says why and the budget falls back to limits
per process (see ``docs/architecture.md``).
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass, replace
from functools import cache

INSIDE = "/run/grader-cgroup"  # where a bubblewrap sandbox shows its cgroups to the zygote
CONTROLLERS = ("memory", "pids")
# Where the host offers it, each submission also gets a cgroup of the cpu controller (default weight):
# sibling slots then share the CPU cgroup by cgroup, not process by process, so a student who starts 28
# busy processes in sessions of their own no longer takes 15 times a classmate's share of the machine
# (an isolation round: an honest classmate's quick checks near a time limit could have failed). Optional:
# without it, grading works as before.
SHARED_FAIRLY = "cpu"


@dataclass(frozen=True)
class Hierarchy:
    version: int
    dirs: tuple[tuple[str, str], ...]  # (controller, the grader's own cgroup directory); v2: ("unified", dir)
    mounts: tuple[str, ...] = ()  # where every cgroup hierarchy is mounted on this host
    cpu: bool = False  # the cpu controller too (SHARED_FAIRLY)

    def describe(self) -> str:
        return f"cgroup v{self.version} (memory, pids{', cpu' if self.cpu else ''})"


@dataclass(frozen=True)
class _Mount:
    fstype: str
    root: str
    point: str
    options: frozenset[str]


@cache
def find() -> tuple[Hierarchy | None, str]:
    """The grader's own cgroups, where it may create children with a memory and pids budget; else
    None and why not."""
    mounts = _mounts()
    membership = _membership()
    points = tuple(sorted({m.point for m in mounts}, key=len, reverse=True))
    v2, why_not_v2 = _unified(mounts, membership)
    if v2 is not None:
        return replace(v2, mounts=points), ""
    v1, why_not_v1 = _legacy(mounts, membership)
    if v1 is not None:
        return replace(v1, mounts=points), ""
    return None, f"{why_not_v2}; {why_not_v1}"


def _mounts() -> list[_Mount]:
    found = []
    try:
        with open("/proc/self/mountinfo") as info:
            for line in info:
                left, _, right = line.partition(" - ")
                fields, tail = left.split(), right.split()
                if len(fields) >= 5 and len(tail) >= 3 and tail[0] in ("cgroup", "cgroup2"):
                    found.append(_Mount(tail[0], fields[3], fields[4], frozenset(tail[2].split(","))))
    except OSError:
        pass
    return found


def _membership() -> dict[str, str]:
    """controller -> this process's cgroup path ("" for v2's unified hierarchy)."""
    found: dict[str, str] = {}
    try:
        with open("/proc/self/cgroup") as cgroups:
            for line in cgroups:
                _, controllers, path = line.rstrip("\n").split(":", 2)
                for controller in controllers.split(",") if controllers else [""]:
                    found[controller] = path
    except (OSError, ValueError):
        pass
    return found


def _host_dir(mount: _Mount, path: str) -> str | None:
    """Where ``path`` (as /proc/self/cgroup names it) lies under this mount, if it does."""
    root = mount.root.rstrip("/")
    if path != root and not path.startswith(root + "/"):
        return None
    return mount.point + path[len(root) :]


def _unified(mounts: list[_Mount], membership: dict[str, str]) -> tuple[Hierarchy | None, str]:
    mount = next((m for m in mounts if m.fstype == "cgroup2"), None)
    if mount is None or "" not in membership:
        return None, "no cgroup v2 hierarchy"
    own = _host_dir(mount, membership[""])
    if own is None:
        return None, "cgroup v2: this process's cgroup is not under the mounted hierarchy"
    available = _words(os.path.join(own, "cgroup.controllers"))
    missing = [c for c in CONTROLLERS if c not in available]
    if missing:
        return None, f"cgroup v2 does not offer {', '.join(missing)} to {own}"
    if not set(CONTROLLERS) <= _words(os.path.join(own, "cgroup.subtree_control")):
        try:
            _write(os.path.join(own, "cgroup.subtree_control"), " ".join(f"+{c}" for c in CONTROLLERS))
        except OSError as exc:
            return None, (
                f"cgroup v2: memory and pids cannot be enabled below {own} ({exc.strerror}; a cgroup "
                "with processes of its own cannot: start the grader in a delegated cgroup, e.g. "
                "systemd-run --scope -p Delegate=yes)"
            )
    problem = _try_child(own)
    if problem:
        return None, f"cgroup v2: {problem}"
    return Hierarchy(2, (("unified", own),), cpu=_enable_v2(own, SHARED_FAIRLY)), ""


def _enable_v2(directory: str, controller: str) -> bool:
    """Enable an optional controller below ``directory`` where it is offered; whether it is enabled."""
    if controller not in _words(os.path.join(directory, "cgroup.controllers")):
        return False
    try:
        if controller not in _words(os.path.join(directory, "cgroup.subtree_control")):
            _write(os.path.join(directory, "cgroup.subtree_control"), f"+{controller}")
    except OSError:
        return False
    return True


def _legacy(mounts: list[_Mount], membership: dict[str, str]) -> tuple[Hierarchy | None, str]:
    dirs = []
    for controller in CONTROLLERS:
        own, problem = _legacy_dir(mounts, membership, controller)
        if own is None:
            return None, problem
        dirs.append((controller, own))
    cpu, _ = _legacy_dir(mounts, membership, SHARED_FAIRLY)  # optional: without it, as before
    return Hierarchy(1, tuple(dirs + ([(SHARED_FAIRLY, cpu)] if cpu else [])), cpu=cpu is not None), ""


def _legacy_dir(mounts: list[_Mount], membership: dict[str, str], controller: str) -> tuple[str | None, str]:
    """The grader's own cgroup in the v1 hierarchy of ``controller``, where it may create children; else
    None and why not."""
    mount = next((m for m in mounts if m.fstype == "cgroup" and controller in m.options), None)
    if mount is None or controller not in membership:
        return None, f"no cgroup v1 {controller} hierarchy"
    own = _host_dir(mount, membership[controller])
    if own is None:
        return None, f"cgroup v1 {controller}: this process's cgroup is not under the mounted hierarchy"
    problem = _try_child(own)
    return (None, f"cgroup v1 {controller}: {problem}") if problem else (own, "")


def _try_child(parent: str) -> str | None:
    probe = os.path.join(parent, f"rnn-autograder-probe-{os.getpid()}")
    try:
        os.mkdir(probe)
        os.rmdir(probe)
    except OSError as exc:
        return f"cannot create a cgroup in {parent} ({exc.strerror})"
    return None


class SandboxCgroup:
    """One sandbox's cgroup in each hierarchy; the zygote makes one per submission below it."""

    def __init__(self, hierarchy: Hierarchy, name: str) -> None:
        self.hierarchy = hierarchy
        self.dirs = {controller: os.path.join(parent, name) for controller, parent in hierarchy.dirs}
        for path in self.dirs.values():
            remove_tree(path)  # a crashed grader's, whose lease this sandbox now holds
            os.mkdir(path)
        if hierarchy.version == 2:
            _write(os.path.join(self.dirs["unified"], "cgroup.subtree_control"), "+memory +pids")
            if hierarchy.cpu:
                _enable_v2(self.dirs["unified"], SHARED_FAIRLY)

    def bind_args(self) -> list[str]:
        """bubblewrap arguments that show these cgroups to the zygote (and to nothing else)."""
        args: list[str] = []
        for controller, path in self.dirs.items():
            args += ["--bind", path, f"{INSIDE}/{controller}"]
        return args

    def for_zygote(self, sandboxed: bool) -> dict[str, object]:
        dirs = {c: (f"{INSIDE}/{c}" if sandboxed else path) for c, path in self.dirs.items()}
        return {"version": self.hierarchy.version, "dirs": dirs}

    def mount_points(self, sandboxed: bool) -> list[str]:
        """What each child unmounts for itself once it has joined its cgroups, so that student code
        cannot leave them or raise its own limits (without bubblewrap it runs as root, without
        capabilities: unmounted, cgroupfs cannot be mounted again)."""
        if sandboxed:
            return [f"{INSIDE}/{controller}" for controller in self.dirs]
        return list(self.hierarchy.mounts)

    def remove(self) -> None:
        for path in self.dirs.values():
            remove_tree(path)


def remove_tree(path: str) -> None:
    """A cgroup and those below it, their processes killed first."""
    if not os.path.isdir(path):
        return
    for entry in os.scandir(path):
        if entry.is_dir(follow_symlinks=False):
            remove_tree(entry.path)
    for _ in range(100):
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError:
            for pid in _pids(path):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.01)


def _pids(path: str) -> list[int]:
    try:
        with open(os.path.join(path, "cgroup.procs")) as procs:
            return [int(line) for line in procs if line.strip()]
    except (OSError, ValueError):
        return []


def _words(path: str) -> set[str]:
    try:
        with open(path) as handle:
            return set(handle.read().split())
    except OSError:
        return set()


def _write(path: str, text: str) -> None:
    with open(path, "w") as handle:
        handle.write(text)
