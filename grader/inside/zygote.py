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
import os
import shutil
import signal
import socket
import sys
import time
from typing import Any

from grader.inside.box import Box, kill
from grader.inside.gpu import LATER_THREADS, gpu_trial_of_a_child
from grader.wire.channel import recv_with_fds, send_with_fds

PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36

_libc = ctypes.CDLL(None, use_errno=True)


def main(control_fd: int) -> None:
    control = socket.socket(fileno=control_fd)
    config, _ = recv_with_fds(control)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    box = Box.prepare(config.get("box") or {}, control)  # before the imports: it may fork once
    # The imports make a million objects and free almost none: the collector's passes over them are a
    # quarter of a torch worker's start-up (2.1 CPU-s, 1.6 without). It runs again before any child.
    gc.disable()
    try:
        versions = _preload(config.get("preload", []), config.get("threads", 1), bool(config.get("warm_optimizer")))
        _check_absent(config.get("absent", []))
        if config.get("warm_optimizer") and "torch" in sys.modules:
            _warm_optimizer()
        _ready_what_every_child_runs()
        _check_cuda_not_started(sys.modules.get("torch"))  # after all of this process's own work
        problem, gpu_runtime = gpu_trial_of_a_child() if config.get("device") == "cuda" else (None, {})
        if problem is not None:
            raise WorkerCannotStart(problem)
    except WorkerCannotStart as exc:
        gc.enable()
        send_with_fds(control, {"error": str(exc)}, [])
        return
    gc.freeze()  # children then never write to the zygote's objects' GC headers: fewer copied pages
    gc.enable()
    _prctl(PR_SET_DUMPABLE, 0)
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    send_with_fds(control, {"ready": True, "pid": os.getpid(), "versions": versions, "box": box.report()}, [])
    Zygote(control, config, box, gpu_runtime).loop()


class WorkerCannotStart(Exception):
    """Why this worker cannot serve, in one line for the feedback's headline."""


def _preload(modules: list[str], threads: int, steps_optimizers: bool) -> dict[str, str]:
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
        _be_deterministic(torch, steps_optimizers)
    return versions


def _be_deterministic(torch: Any, steps_optimizers: bool) -> None:
    """``torch.use_deterministic_algorithms`` also sets torch._inductor's flag, and importing that
    config imports torch._dynamo and sympy: about 0.7 CPU-s, half of a worker's start-up. A worker
    whose children step optimizers pays that import anyway (the first step makes it); the verifier's,
    which only runs forward passes and gradients, sets the same switch of torch's core without it."""
    core = getattr(torch._C, "_set_deterministic_algorithms", None)
    if steps_optimizers or core is None:
        torch.use_deterministic_algorithms(True, warn_only=True)
    else:
        core(True, warn_only=True)


def _check_absent(names: list[str]) -> None:
    """Refuse to serve if preloading brought in a package this worker must not hold (torch for a1):
    whatever is loaded here, every child inherits and can find, whatever its import guards say."""
    loaded = sorted({key.split(".")[0] for key in sys.modules} & set(names))
    if loaded:
        raise WorkerCannotStart(f"the worker loaded {', '.join(loaded)}, which it must not hold")


def _ready_what_every_child_runs() -> None:
    """Import the child's code and take torch's functions (untouched.pin) here, once, not in every
    child after its fork: a child that runs no submission took 11-12 ms, now 5
    (`benchmarks/engine_speed.py --per-submission`), and a torch child's pin took 4 ms more; so do the
    libraries every child imported (numpy.random: 4 ms of each a1 child). None holds anything of a
    process's own, and no student code has run in this process: each child finds what its own imports
    and pin would have given it, except that numpy's global generator starts where this process left it
    rather than from fresh entropy (each probe seeds it anyway: probe_api.seed_everything)."""
    importlib.import_module("grader.inside.child")
    importlib.import_module("sysconfig")  # where the child's guards find the libraries (_trusted_dirs)
    if "numpy" in sys.modules:  # numpy imports numpy.random at its first use: the probes' seeding
        importlib.import_module("numpy.random")
    from grader.inside import untouched

    untouched.pin()


def _warm_optimizer() -> None:
    """The first optimizer step imports torch._dynamo (over a second); pay that here, once.

    Without starting CUDA, which no process forked after it could use ("Cannot re-initialize CUDA in
    forked subprocess", "CUDA error: initialization error": on the first GPU lent to us, every check of
    every student, the reference's too). So gradients are set by hand, never by a backward pass
    (autograd's engine starts a thread per GPU at its first backward), and the step's check for a CUDA
    graph being captured, which asks the GPU for its current stream, is skipped."""
    import torch

    layer = torch.nn.Linear(2, 2)
    optimizer = torch.optim.Adam(layer.parameters(), lr=0.1)
    for parameter in layer.parameters():
        parameter.grad = torch.ones_like(parameter)
    for check in ("_accelerator_graph_capture_health_check", "_cuda_graph_capture_health_check"):
        setattr(optimizer, check, lambda: None)  # this instance only: the class keeps its check
    optimizer.step()


def _check_cuda_not_started(torch: Any) -> None:
    """Refuse to serve where start-up started CUDA: every child would fail at its first GPU use, each
    failure blamed on its student's code. ``torch``: None where the worker has none."""
    cuda = getattr(torch, "cuda", None) if torch is not None else None
    if cuda is not None and cuda.is_initialized():
        raise WorkerCannotStart("CUDA was started before the worker forked, so no submission could use the GPU")


def _prctl(option: int, value: int) -> None:
    try:
        _libc.prctl(option, value, 0, 0, 0)
    except (OSError, AttributeError):
        pass


# -- serving --------------------------------------------------------------------------------------


class Zygote:
    def __init__(
        self, control: socket.socket, config: dict[str, Any], box: Box, gpu_runtime: dict[str, int] | None = None
    ) -> None:
        self.control = control
        self.config = config
        self.box = box
        # What the GPU runtime took in the trial child (threads, resident bytes): each child's cgroup
        # holds that much more, since its own start of the runtime is the grader's, not the student's.
        self.gpu_runtime = gpu_runtime or {}
        self.statuses: dict[int, int] = {}
        self.cgroups: dict[int, dict[str, str]] = {}  # child pid -> its cgroup directories
        self.count = 0
        self.killed = 0
        # Each assignment's probes, compiled once by source: every child compiled them again (a5's in
        # about 4 ms, in pages copied from this process).
        self.compiled_probes: dict[str, Any] = {}

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
            elif op == "scheduled":
                reply = self.scheduled(int(message["pid"]))
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
        budget, pids = cgroup_budgets(limits, _resident_bytes(), self.gpu_runtime)
        dirs: dict[str, str] = {}
        if self.box.cgroups is not None:
            self.count += 1
            try:
                dirs = self.box.cgroups.create(f"submission-{self.count}", budget, pids)
            except OSError as exc:
                for fd in fds:
                    os.close(fd)
                return {"error": f"the submission's cgroup could not be created: {exc}"}
            limits["nproc_headroom"] = 2  # let the pids cgroup refuse first: it counts what it refused
        child_config = {
            **child_config,
            "limits": limits,
            "probes_code": self._compiled(child_config.get("probes_source")),  # of that source, or None
        }
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

    def _compiled(self, source: Any) -> Any:
        """``source`` compiled, once per source, or None where it does not compile (the child then
        compiles it itself and fails there, as it did before the worker compiled)."""
        if not isinstance(source, str):
            return None
        if source not in self.compiled_probes:
            try:
                self.compiled_probes[source] = compile(source, "<probes>", "exec")
            except (SyntaxError, ValueError):
                return None
        return self.compiled_probes[source]

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
            kill(pid)
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

    def scheduled(self, pid: int) -> dict[str, Any]:
        """What the scheduler gave a live child: how long its main process waited, ready to run, for a
        CPU, and the CPU seconds of all the submission's processes (its cgroup's, wherever they were
        reparented; else the child's descendants). The trusted side makes up the first only as far as
        the second leaves room (a hostile round's own busy processes, niced and pinned to the child's
        CPU, made the child look starved)."""
        dirs = self.cgroups.get(pid)
        # asked at the start of every probe call: the cgroup's list where there is one, not a walk of /proc
        pids = self.box.cgroups.processes(dirs) if dirs and self.box.cgroups is not None else _descendants(pid)
        return {"waited_s": waited_for_a_cpu(pid), "cpu_s": cpu_seconds(sorted({pid, *pids}), pid)}

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
            killed += sum(kill(pid) for pid in victims)
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


def cgroup_budgets(limits: dict[str, Any], worker_resident: int, gpu_runtime: dict[str, int]) -> tuple[int, int]:
    """A child's cgroup budgets, memory bytes and tasks: the student's own, plus what the child holds that
    is not the student's: the worker's pages it copies (the memory counts what the child adds to the
    worker), and on a GPU what the runtime's start took in the zygote's trial child, with room for the
    threads it starts later."""
    memory = int(limits.get("memory_mb") or 0)
    processes = int(limits.get("processes") or 0)
    budget = memory * 2**20 + worker_resident + gpu_runtime.get("resident", 0) if memory else 2**62
    runtime_threads = gpu_runtime.get("threads", 0) + LATER_THREADS if gpu_runtime else 0
    return budget, processes + 1 + runtime_threads if processes else 2**30


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


CLOCK_TICKS = float(os.sysconf("SC_CLK_TCK"))  # the unit of /proc/PID/stat's CPU times


def waited_for_a_cpu(pid: int) -> float | None:
    """Seconds the process ``pid`` (its main thread, where the student's Python runs) has spent ready to
    run but waiting for a CPU: the scheduler's run-queue time (/proc/PID/schedstat). None where the
    kernel keeps no such figure. A process that sleeps or waits for input is not ready to run."""
    try:
        with open(f"/proc/{pid}/schedstat", "rb") as stat:
            return int(stat.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return None


def cpu_seconds(pids: list[int], child: int) -> float:
    """CPU seconds the processes ``pids`` have used, with what ``child`` has reaped of its own."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        # after the name: state(0) ... utime(11) stime(12) cutime(13) cstime(14)
        total += int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if pid == child else 0)
    return total / CLOCK_TICKS


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
