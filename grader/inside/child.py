"""The student process: forked from the zygote, it imports one submission and answers probe requests.

Order matters: drop privileges and redirect output first, then receive the files, then set the
resource limits, then run anything the student wrote. Every failure of student code becomes an
``{"ok": False, "error": {...}}`` reply; the process only dies when the student's code kills it.
"""

from __future__ import annotations

import ctypes
import errno
import faulthandler
import functools
import importlib
import importlib.machinery
import importlib.util
import inspect
import io
import os
import re
import resource
import signal
import sys
import tempfile
import time
import traceback
import types
from collections import OrderedDict
from typing import Any, NoReturn

from grader.inside import guards, probe_api, stand_ins, untouched
from grader.inside.gpu import LATER_OPEN_FILES, LATER_THREADS, gpu_problem, runtime_use
from grader.inside.lockdown import (
    drop_capabilities,
    refuse_new_programs,
    refuse_signal_handlers,
    refuse_user_namespaces,
)
from grader.inside.plain import NotPlainData, to_plain
from grader.inside.reachable import (
    LISTEN_SIGNAL,
    HandedIn,
    HungBefore,
    Watchdog,
    call_limit,
    call_small,
    ignored_fault_handler,
    ignored_signal_handler,
    listen_for_calls,
    progress_reports,
    seal_classes,
    stop_hanging_functions,
)
from grader.wire.channel import read_frame, tagged_sender

PR_SET_PDEATHSIG = 1
MAX_MESSAGE = 2000
MAX_TRACEBACK = 4000

_libc = ctypes.CDLL(None, use_errno=True)
_programs_refused = False  # whether this process (and what it forks) can no longer start programs


def serve(fds: list[int], config: dict[str, Any]) -> NoReturn:
    req_fd, resp_fd, out_fd = fds
    try:
        untouched.pin()  # torch's functions, before any code of the student's runs in this process
        _become_student(config, out_fd)
        load = read_frame(req_fd)
        send = tagged_sender(resp_fd, bytes.fromhex(load.pop("key", "") or ""))  # the key stays in it alone
        progress = progress_reports(send)  # what the watchdog thread may sign: progress reports only
        libraries = _Libraries()  # as the grader's code found them, before the student's code runs
        workdir = _write_files(load["files"], config["scratch"], load.get("data") or {})
        # On the GPU, the runtime starts before the limits are taken: its threads, memory and open files
        # are the grader's, and the student's budgets count from there.
        problem = gpu_problem() if load.get("device") == "cuda" else None
        if problem is not None:  # the grader's failure, before any code of the student's could be blamed
            send({"ok": False, "error": {"kind": "grader", "message": problem}, "forbidden_used": []})
            os._exit(0)
        _apply_limits(config["limits"], cuda=load.get("device") == "cuda")
        same_source = config.get("probes_source") == load["probes_source"]  # what the worker compiled
        probes = _load_probes(load["probes_source"], config.get("probes_code") if same_source else None)
        guards.block_imports(load.get("blocked_imports", []))
        guards.forbid_apis(load.get("forbidden_apis", []))
        guards.seal_torch_kernels()  # after the guards' own kernels, before the student's code
        guards.refuse_reaching_in(_trusted_dirs(workdir), raw_memory=load.get("native_code") is not True)
        if load.get("forbidden_apis"):  # a new program would start without the guards
            global _programs_refused
            _programs_refused = refuse_new_programs() is None
        probe_api.set_device(load.get("device", "cpu"))
        stand_ins.install()  # matplotlib, tqdm, google.colab...: a stand-in where not installed, as in a notebook
        guards.hide_the_grader()  # last: nothing of the grader's is imported after this
        refuse_signal_handlers()  # after the grader's own handlers (_become_student)
        signal.signal = ignored_signal_handler
        faulthandler.enable = faulthandler.register = ignored_fault_handler
        sys.meta_path.insert(0, HandedIn(load["files"], workdir, config["scratch"]))
        module, error, let_through = _import_student(load["module"], load["filename"], workdir)
        if module is not None:
            stop_hanging_functions(
                module, load.get("hanging", {}), load.get("hanging_limits", {}), load.get("hanging_stuck", [])
            )
        reply: dict[str, Any] = {
            "ok": error is None,
            "error": error,
            "forbidden_used": list(guards.used),
            "not_installed": let_through,
        }
        send(reply)
        if module is None:
            os._exit(0)
        student = probe_api.StudentModule(module, load["filename"])
        while True:
            request = read_frame(req_fd)
            if request.get("op") != "probe":
                break
            watchdog = Watchdog(
                progress,
                workdir,
                request.get("report_after"),
                request.get("stuck_after"),
                request.get("step_budget"),
                _steps,
            )
            reply = _run_probe(probes, student, request, workdir)
            watchdog.cancel()
            send(libraries.checked(reply))
    except (EOFError, OSError):  # the channel broke: nobody is listening any more
        pass
    except BaseException:  # a bug of the grader's runtime: leave a trace in the captured output
        traceback.print_exc()
        _flush()
    finally:
        os._exit(0)


def _become_student(config: dict[str, Any], out_fd: int) -> None:
    os.setpgid(0, 0)
    try:
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    uid = config.get("uid")
    if uid is not None and os.getuid() == 0:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    drop_capabilities()
    refuse_user_namespaces()
    os.dup2(out_fd, 1)
    os.dup2(out_fd, 2)
    os.close(out_fd)
    sys.stdout = io.TextIOWrapper(os.fdopen(1, "wb", closefd=False), "utf-8", "replace", line_buffering=True)
    sys.stderr = io.TextIOWrapper(os.fdopen(2, "wb", closefd=False), "utf-8", "replace", line_buffering=True)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(LISTEN_SIGNAL, listen_for_calls)


def _trusted_dirs(workdir: str) -> tuple[str, ...]:
    """Where the code lives that may read frames: the standard library, the installed packages (torch,
    numpy: their own error handling reads tracebacks), the grader, and the folders the grader's import
    path adds (PYTHONPATH, .pth files: an HPC module's torch; isolation.bootstrap_path gave them to this
    process). Never the student's folder, nor a folder that holds it, nor the one holding the grader
    package (for an editable install, a course's)."""
    import sysconfig

    paths = sysconfig.get_paths()
    dirs = {paths.get(key) for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    grader_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    dirs.add(grader_dir)
    student = os.path.realpath(workdir)
    for entry in sys.path:
        if not entry or not os.path.isabs(entry) or not os.path.isdir(entry):
            continue
        path = os.path.realpath(entry)
        if path != os.path.dirname(grader_dir) and not _within(student, path) and not _within(path, student):
            dirs.add(path)
    return tuple(os.path.join(d, "") for d in sorted(d for d in dirs if d))


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _write_files(files: dict[str, Any], scratch: str, data: dict[str, Any]) -> str:
    """The submission's files, and the course's released data in ``data/`` as the student copy has it
    (a notebook that reads ``data/train.tsv`` at top level runs here as on the student's machine)."""
    workdir = tempfile.mkdtemp(prefix="submission-", dir=scratch)
    for folder, named in ((workdir, files), (os.path.join(workdir, "data"), data)):
        for name, content in named.items():
            if "/" in name or name.startswith("."):
                continue
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, name), "wb") as handle:
                handle.write(content.tobytes())
    os.chdir(workdir)
    os.environ["HOME"] = workdir
    return workdir


def _apply_limits(limits: dict[str, Any], cuda: bool = False) -> None:
    """rlimits the student process sets on itself before importing the student's module.

    Memory: the address space (RLIMIT_AS) on the CPU. On a GPU that would stop CUDA from starting,
    since it reserves tens of GB of address space it never backs, so there the private writable
    memory (RLIMIT_DATA, Linux 4.7 and later: heap and anonymous mappings) is capped instead.
    Each budget counts from what the process holds now; on a GPU (whose runtime has started: see
    ``grader.inside.gpu``) threads and open files get room for what the runtime opens later too.
    """

    def cap(which: int, value: int | None) -> None:
        if value is None:
            return
        _, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(which, (value, value if which != resource.RLIMIT_CPU else hard))

    mb = 2**20
    if limits.get("memory_mb"):
        if cuda:
            cap(resource.RLIMIT_DATA, _status_bytes("VmData:") + int(limits["memory_mb"]) * mb)
        else:
            cap(resource.RLIMIT_AS, _status_bytes("VmSize:") + int(limits["memory_mb"]) * mb)
    if limits.get("cpu_seconds"):
        soft = int(limits["cpu_seconds"])
        resource.setrlimit(resource.RLIMIT_CPU, (soft, soft + 5))
    if limits.get("processes"):
        # Where a pids cgroup holds the same budget it is left to refuse first (it counts refusals,
        # so the feedback can name the limit); RLIMIT_NPROC stays as the second line.
        headroom = int(limits.get("nproc_headroom") or 0) + (LATER_THREADS if cuda else 0)
        cap(resource.RLIMIT_NPROC, _processes_of_this_user() + int(limits["processes"]) + headroom)
    if limits.get("file_size_mb"):
        cap(resource.RLIMIT_FSIZE, int(limits["file_size_mb"]) * mb)
    if limits.get("open_files"):
        runtime = runtime_use()["open_files"] + LATER_OPEN_FILES if cuda else 0
        cap(resource.RLIMIT_NOFILE, int(limits["open_files"]) + runtime)
    cap(resource.RLIMIT_CORE, 0)


def _status_bytes(field: str) -> int:
    """A size from /proc/self/status (``VmSize:`` the address space, ``VmData:`` private data)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1]) * 1024
    return 0


def _processes_of_this_user() -> int:
    """Threads and processes already counted against RLIMIT_NPROC for this uid (0 after a uid drop)."""
    uid, count = os.getuid(), 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    count += len(os.listdir(f"/proc/{entry}/task"))
            except OSError:
                continue
    return count


def _load_probes(source: str, compiled: types.CodeType | None = None) -> types.ModuleType:
    """The probes, reachable from this function's callers only: in ``sys.modules`` (where ``import``
    finds a module) only while their source runs. Student code that replaced a probe made the gradient
    check agree with itself; reaching them now takes frames or the garbage collector, which the integrity
    scan flags. ``compiled``: ``source`` compiled by the worker before this child's fork (zygote.spawn)."""
    module = types.ModuleType("assignment_probes")
    module.__file__ = "<probes>"
    sys.modules["assignment_probes"] = module
    try:
        exec(compiled or compile(source, "<probes>", "exec"), module.__dict__)
    finally:
        del sys.modules["assignment_probes"]
    seal_classes(vars(module))  # what the probes hand to the student's code leads nowhere (reachable.py)
    return module


def _import_student(name: str, filename: str, workdir: str) -> tuple[Any, dict | None, list[str]]:
    """The student's module, or the error that stopped its import; and the libraries it imports that are
    not installed here, each let through (stand_ins.let_through) and the import tried again."""
    sys.path.insert(0, workdir)
    let_through: list[str] = []
    while True:
        sys.modules.pop(name, None)
        importlib.invalidate_caches()
        try:
            return importlib.import_module(name), None, let_through
        except ModuleNotFoundError as exc:
            missing = stand_ins.not_installed(exc, name)
            if missing is None or len(let_through) >= stand_ins.MAX_LET_THROUGH:
                return None, describe(exc, workdir, during=f"importing {filename}"), let_through
            stand_ins.let_through(missing)
            let_through.append(missing)
        except BaseException as exc:
            return None, describe(exc, workdir, during=f"importing {filename}"), let_through
        finally:
            _flush()


_steps = probe_api.OPTIMIZER_STEPS  # in the probe call now running (torch's global step hook counts them)
_counting = probe_api.STEPS_COUNTED


STEP_EVENT = "grader.optimizer_step"  # the audit event torch's step hooks raise (_count_optimizer_steps)


def _count_optimizer_steps() -> None:
    """Count every optimizer step of this process, once torch is loaded: a training call that has taken
    many times the reference's steps for the same call is training without end (see reachable.Watchdog)."""
    optim = sys.modules.get("torch.optim.optimizer")  # the real torch's (a1's stand-in has none)
    if _counting[0] or optim is None:
        return

    before: list[tuple[Any, Any]] = []  # (parameter, its value before the step now running)
    watched = probe_api.WATCHED
    ours: list[Any] = []  # the two hooks below, once registered

    def hooked(optimizer: Any) -> bool:
        """Step hooks other than ours: the student's code runs them inside the step, where a write
        into the weights would pass for the step's own update. Read as the built-in types hold them
        (:func:`_own_attribute`): a hostile round's hook registry, a dict subclass whose ``__len__``
        said 0, ran the student's code inside this hook and hid the hooks it held."""
        own = [_own_attribute(optimizer, name) for name in ("_optimizer_step_pre_hooks", "_optimizer_step_post_hooks")]
        shared = [
            _own_attribute(optim, name) for name in ("_global_optimizer_pre_hooks", "_global_optimizer_post_hooks")
        ]
        for hooks in own:
            if hooks is not None and (type(hooks) not in (dict, OrderedDict) or dict.__len__(hooks)):
                return True
        for hooks in shared:
            if hooks is None:
                continue
            if type(hooks) not in (dict, OrderedDict):
                return True
            if any(not any(hook is mine for mine in ours) for hook in dict.values(hooks)):
                return True
        return False

    def remember(optimizer: Any, args: Any, kwargs: Any) -> None:
        # The trained model's weights changed since its last step (or since the probe made its
        # optimizer): written outside the optimizer (copied in). A step with hooks of the student's
        # own steers them. Judged on one read of each weight (probe_api.read_now), taken after
        # everything else this hook reads.
        parameters = _parameters_of(optimizer)
        steered = hooked(optimizer)
        now = probe_api.read_now([*parameters, *(p for p, _ in list(watched.values()))])
        written = probe_api.written_since_last_step(now=now)
        if written:
            probe_api.note_written(written)
        elif steered and any(id(p) in watched for p in parameters):
            probe_api.note_written(probe_api.HOOKED)
        # Only parameters with a gradient can move (Adam, SGD): stepping with none does not train.
        before[:] = [(p, now[id(p)]) for p in parameters if untouched.has_gradient(p)]

    def counted(optimizer: Any, args: Any, kwargs: Any) -> None:
        # A step counts where it moved a weight: not with no gradient, nor at a learning rate of 0.
        # Every judgement here, and the values kept as the last step's, come from one read.
        stepped = {id(p): p for p in _parameters_of(optimizer)}
        steered = hooked(optimizer)
        now = probe_api.read_now([*stepped.values(), *(p for p, _ in list(watched.values()))])
        moved = any(not probe_api.same_values(now.get(id(p), p), value) for p, value in before)
        before.clear()
        if moved:
            _steps[0] += 1  # every optimizer's: what the watchdog's step budget counts
        if not watched:
            if moved:  # no probe said what it trains: what the first step that moves anything moves
                watched.update((key, (p, None)) for key, p in stepped.items())
                probe_api.MODEL_STEPS[0] += 1
        else:
            moving = [(now.get(key, p), watched[key][1]) for key, p in stepped.items() if key in watched]
            mine = any(not probe_api.same_values(read, value) for read, value in moving)
            written = probe_api.written_since_last_step(skip=frozenset(stepped), now=now)  # during another's step
            if written:
                probe_api.note_written(written)
            elif any(probe_api.moved_too_far(read, value) for read, value in moving):
                probe_api.note_written(probe_api.TOO_FAR)
            elif mine and steered:
                probe_api.note_written(probe_api.HOOKED)
            elif mine:
                probe_api.MODEL_STEPS[0] += 1
        probe_api.note_states(stepped=not probe_api.WEIGHTS_WRITTEN[0], now=now)

    # torch's registries, which the student's code can read, hold no function of the grader's: a
    # function's ``__globals__`` leads to this module and to the bookkeeping. A hostile round took the
    # hooks out of ``torch.optim.optimizer._global_optimizer_post_hooks`` and reset the bookkeeping
    # through their globals, every name built with ``chr`` (a2 100, a4 86, a5 94.68 where the work earns
    # 70, 60, 68.09, unflagged). The hooks there only raise an audit event; the hook that runs
    # ``remember`` and ``counted`` is an audit hook, which Python gives no way to list.
    event, audit, run, plain = STEP_EVENT, sys.audit, {"pre": remember, "post": counted}, untouched.plain

    def on_step(name: str, args: tuple[Any, ...]) -> None:
        if name == event and len(args) == 4 and args[0] in run:
            with plain():  # once for every read of the hook, not once per read
                run[args[0]](*args[1:])

    try:
        pre, post = functools.partial(audit, event, "pre"), functools.partial(audit, event, "post")
        optim.register_optimizer_step_pre_hook(pre)
        optim.register_optimizer_step_post_hook(post)
        ours.extend([pre, post])
    except Exception:  # an older torch, or a module a student replaced: no step limit, as before
        return
    sys.addaudithook(on_step)
    _counting[0] = True


def _parameters_of(optimizer: Any) -> list[Any]:
    """The parameters of the optimizer's groups, read as the built-in types hold them: groups that are
    not a list of dicts of lists (replaced by the student's code, whose methods would run inside the
    step hooks) give none."""
    groups = _own_attribute(optimizer, "param_groups")
    if type(groups) is not list:
        return []
    found: list[Any] = []
    for group in list.copy(groups):
        if type(group) is not dict or not _plain_keys(group):
            return []
        params = dict.get(group, "params")
        if type(params) is not list:
            return []
        found += list.copy(params)
    return found


def _own_attribute(owner: Any, name: str) -> Any:
    """``owner``'s attribute ``name`` from its own ``__dict__`` (an instance's or a module's), read
    without running any code of the student's: no ``__getattr__``, property or dict subclass; None
    where there is none, or where that dict is not a plain one."""
    try:
        attributes = object.__getattribute__(owner, "__dict__")
    except AttributeError:
        return None
    if type(attributes) is not dict or not _plain_keys(attributes):
        return None
    return dict.get(attributes, name)


def _plain_keys(registry: dict) -> bool:
    return all(type(key) is str for key in dict.keys(registry))


def _run_probe(probes: types.ModuleType, student: Any, request: dict[str, Any], workdir: str) -> dict:
    name = request["name"]
    probe = getattr(probes, name, None)
    if probe is None:
        return {"ok": False, "error": {"kind": "grader", "message": f"no probe named {name!r}"}}
    seed = int(request.get("seed", 0))
    call_limit[0] = float(request.get("limit") or float("inf"))
    call_small[0] = request.get("small") is True
    _count_optimizer_steps()
    _steps[0] = 0
    probe_api.MODEL_STEPS[0] = 0
    probe_api.new_run()  # no parameter of an earlier call is kept alive or compared
    probe_api.seed_everything(seed)
    args = dict(request.get("args", {}))
    if "seed" in inspect.signature(probe).parameters:
        args["seed"] = seed
    guards.used.clear()  # uses recorded by earlier calls (or the import) are not this call's
    start = time.perf_counter()
    try:
        result = probe(student, **args)
        data = to_plain(result, f"probe {name}")
    except NotPlainData as exc:
        reply = {"ok": False, "error": {"kind": "probe_failure", "message": str(exc)}}
    except BaseException as exc:
        reply = {"ok": False, "error": describe(exc, workdir)}
    else:
        reply = {"ok": True, "data": data}
    finally:
        _flush()
    reply["elapsed"] = time.perf_counter() - start
    reply["forbidden_used"] = list(guards.used)
    if _counting[0]:
        reply["steps"] = _steps[0]
    return reply


class _Libraries:
    """The libraries the grader's code in this process sends replies with (the codec's numpy, json,
    struct, os), as they were before the student's code ran. Replacing one of their functions through an
    alias the integrity scan cannot follow (``[np][0].array = ...``) could change a reply, trained weights
    included, before it is tagged: a probe's reply then says so instead, and counts for nothing."""

    NAMES = ("numpy", "json", "json.encoder", "struct", "os", "posix")

    def __init__(self) -> None:
        self.before = {name: dict(vars(sys.modules[name])) for name in self.NAMES if name in sys.modules}

    def changed(self) -> str | None:
        for name, before in self.before.items():
            now = vars(sys.modules[name]) if name in sys.modules else {}
            for key, value in before.items():
                if now.get(key, _GONE) is not value:
                    return f"{name}.{key}"
        return None

    def checked(self, reply: dict[str, Any]) -> dict[str, Any]:
        changed = self.changed()
        if changed is not None:
            message = (
                f"your code replaced {changed}, which the grader's code in your process uses to send your "
                "results back, so nothing of this call counts (leave the libraries' own functions as they are)"
            )
        elif reply.get("steps") and (kernel := untouched.kernels_changed()) is not None:
            # the step bookkeeping read the weights with torch's operators: only a training call depends on it
            message = (
                f"your code changed torch's kernel of {kernel}, which the grader's code in your process uses "
                "to read the weights your training made, so nothing of this call counts"
            )
        else:
            return reply
        return {"ok": False, "error": {"kind": "forbidden", "message": message}, "forbidden_used": []}


_GONE = object()


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass


def describe(exc: BaseException, workdir: str, during: str | None = None) -> dict[str, Any]:
    """A student-facing account of an exception: kind, one-line message, where, and a short traceback."""
    frames = traceback.extract_tb(exc.__traceback__)
    mine = [f for f in frames if f.filename.startswith(workdir + os.sep)]
    last = mine[-1] if mine else None
    where = f"{os.path.basename(last.filename)}, line {last.lineno}, in {last.name}" if last else None
    kind, message = _classify(
        exc, _student_function(exc, workdir), last, during, _raised_by_the_student(frames, workdir)
    )
    trace = "".join(traceback.format_list(mine)).replace(workdir + os.sep, "")
    trace += "".join(traceback.format_exception_only(type(exc), exc))
    return {
        "kind": kind,
        "type": type(exc).__name__,
        "message": _clip(message, MAX_MESSAGE),
        "where": where,
        "traceback": _clip(trace, MAX_TRACEBACK),
    }


def _student_function(exc: BaseException, workdir: str) -> str | None:
    """The qualified name (``Model.__init__``) of the innermost student frame of a traceback."""
    name, tb = None, exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_filename.startswith(workdir + os.sep):
            name = getattr(code, "co_qualname", code.co_name)
        tb = tb.tb_next
    return name


def _raised_by_the_student(frames: traceback.StackSummary, workdir: str) -> bool:
    """The exception was raised by a ``raise`` of the student's own code (its innermost frame is theirs, on
    a line that raises, or whose text is unknown), not by a library they called: torch raises
    NotImplementedError for a kernel a dtype lacks ("not implemented for 'Float'", a5's float labels on a
    GPU) and for a module without ``forward`` (a misspelt ``def foward``), and each was reported as the
    student's stub left "not implemented yet"."""
    if not frames or not frames[-1].filename.startswith(workdir + os.sep):
        return False
    line = (frames[-1].line or "").lstrip()
    return not line or line.startswith("raise")


def _classify(
    exc: BaseException, function: str | None, last: Any, during: str | None, raised_by_the_student: bool = True
) -> tuple[str, str]:
    text = _safe_str(exc)
    if isinstance(exc, guards.ForbiddenApiUsed):
        return "forbidden", text
    if isinstance(exc, probe_api.ProbeFailure):
        return "probe_failure", text
    if isinstance(exc, HungBefore):
        return "timeout", text
    if isinstance(exc, NotImplementedError) and raised_by_the_student:
        return "not_implemented", f"`{function or 'a function'}` is not implemented yet (it raises NotImplementedError)"
    if isinstance(exc, SystemExit):
        return "exit", f"your code called sys.exit({_safe_str(exc.code) if exc.code is not None else ''})" + (
            f" while {during}" if during else ""
        )
    if isinstance(exc, KeyboardInterrupt):
        return "interrupt", "your code raised KeyboardInterrupt"
    if isinstance(exc, MemoryError):
        return "memory", "your code ran out of memory (the memory limit was reached)"
    if isinstance(exc, PermissionError) and exc.errno == errno.EPERM and _programs_refused:
        return "exception", (
            f"PermissionError: {text} (your code may not start another program in this assignment: "
            "its rules hold only in the process the grader started)"
        )
    if isinstance(exc, RecursionError):
        return "exception", f"RecursionError: {text} (a function calls itself without end?)"
    if isinstance(exc, SyntaxError):
        return "syntax", f"SyntaxError: {exc.msg} ({os.path.basename(exc.filename or '')}, line {exc.lineno})"
    message = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    if last is None and not during and isinstance(exc, TypeError) and SIGNATURE_MISMATCH.search(text):
        # raised calling the student's function or class with the handout's arguments: its signature
        # (a teacher round's Model.__init__ without batch_size was told the grader could not use a result)
        return "exception", f"{message} (it does not take the arguments the handout gives it: compare its signature)"
    if last is None and not during:
        return "probe_error", f"the grader could not use what your code returned: {message}"
    if during:
        message = f"{message} (while {during})"
    return "exception", message


# TypeError's own words for a call whose arguments a function's signature does not take.
SIGNATURE_MISMATCH = re.compile(
    r"unexpected keyword argument|positional arguments? but \d+ (?:was|were) given|"
    r"missing \d+ required (?:positional|keyword-only) argument"
)


def _safe_str(value: Any) -> str:
    try:
        return str(value)
    except BaseException:
        return "<unprintable>"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"... [{len(text) - limit} more characters]"
