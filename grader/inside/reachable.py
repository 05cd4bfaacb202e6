"""What of the grader's the student's code meets in its process: the import finder of the files handed
in, the stand-ins of functions that ran past a time limit, the watchdog's thread and its signal
handler, and the watchdog's signer of progress reports.

Each of them is one step from its functions' ``__globals__``, which no scan sees when the name is built
at run time (``threading.enumerate()``, ``sys.meta_path``, ``signal.getsignal``, a module's own
functions). So they live here, in a module that imports nothing of the grader's: those globals lead
to the standard library and nowhere else, never to the training's bookkeeping, the probes or the
reply signer. A hostile round reset the bookkeeping through the globals of the grader's step hooks
(a2 100 where the work earns 70). Keep it so: no ``grader`` import in this module.
"""

from __future__ import annotations

import copy
import functools
import importlib.machinery
import importlib.util
import inspect
import os
import signal
import sys
import threading
import time
import types
from collections.abc import Callable
from typing import Any


class HandedIn:
    """What ``import`` finds: the files handed in (from the bytes the scan read, never from the disk the
    student's code can write) and what is installed; a module written while grading is refused.

    A hostile round's module wrote a helper beside itself (the folder comes first on ``sys.path``) and
    imported it: code no scan had read. Modules found anywhere but the interpreter's own paths (the
    submission's folder, /tmp, a folder added to ``sys.path``) are refused with a sentence, and a handed-in
    module is compiled from its shipped text, so neither its file nor a ``__pycache__`` beside it counts."""

    def __init__(self, files: dict[str, Any], workdir: str, scratch: str) -> None:
        self.shipped = {
            name[:-3]: content.tobytes() for name, content in files.items() if name.endswith(".py") and "/" not in name
        }
        self.workdir = workdir
        # The interpreter's own paths, as the sandbox mounts them (read-only), but for the writable scratch
        # space itself and any folder holding it: an interpreter or checkout under /tmp stays (CI clones the
        # repository there; a first version refused every library of such a checkout).
        writable = {os.path.realpath(path) for path in (workdir, scratch)}
        self.installed = tuple(
            root + os.sep
            for root in {os.path.realpath(entry) for entry in sys.path if entry and os.path.isabs(entry)}
            if not any(place == root or place.startswith(root.rstrip(os.sep) + os.sep) for place in writable)
        )

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name in self.shipped:
            shipped = os.path.join(self.workdir, f"{name}.py")
            loader = _shipped_loader(self.shipped[name], shipped)
            return importlib.util.spec_from_loader(name, loader, origin=shipped)
        found = importlib.machinery.PathFinder.find_spec(name, path)
        origin = getattr(found, "origin", None)
        if not isinstance(origin, str) or not os.path.isabs(origin):
            return None  # built in, frozen, a namespace package, or not found: the usual machinery decides
        if os.path.realpath(origin).startswith(self.installed):
            return None
        raise ImportError(
            f"{name} ({origin}) is not a file you handed in: graded code imports only the files handed in "
            "and the installed libraries",
            name=name,
        )


def _shipped_loader(source: bytes, origin: str) -> Any:
    """A loader of one handed-in module, bound to its scanned text: it takes no other (a hostile round
    built ``type(__loader__)(new_bytes, path)`` from a general one and ran a data file's text)."""

    class ShippedLoader:
        def create_module(self, spec: Any) -> None:
            return None

        def exec_module(self, module: types.ModuleType) -> None:
            module.__file__ = origin
            exec(compile(source, origin, "exec", dont_inherit=True), module.__dict__)

        def get_source(self, name: str) -> str:
            return source.decode("utf-8", "replace")

    return ShippedLoader()


class HungBefore(Exception):
    """Raised instead of running a student function that already ran past a time limit."""


call_limit = [float("inf")]  # the wall-clock limit of the probe call now running
call_small = [False]  # whether it is a plain probe call (small inputs), not a training check's


def stop_hanging_functions(
    module: Any, hanging: dict[str, str], limits: dict[str, float], stuck: list[str] | None = None
) -> None:
    """Make functions that timed out in an earlier check fail at once, under the same limit.

    Without this, every later check that reaches the same endless loop would wait out its own time
    limit, use up the submission's time budget, and cost the checks that never touch that function.
    A call under a longer limit than the one the function ran past (a training check's ``@timeout``)
    still runs it. A function stopped as stuck (``stuck``) is refused except in plain probe calls,
    whose small inputs and short limits (10 times the reference's time) bound it anyway.
    """
    stuck = stuck or []
    for qualname, message in hanging.items():
        owner, *path = qualname.split(".")
        if "<" in qualname:
            continue  # nested functions and lambdas cannot be reached from the module
        target = module
        for part in [owner, *path][:-1]:
            target = getattr(target, part, None)
        name = qualname.rsplit(".", 1)[-1]
        if target is None or not callable(getattr(target, name, None)):
            continue
        raw = inspect.getattr_static(target, name)
        wrapper = type(raw) if isinstance(raw, (staticmethod, classmethod)) else None
        original = raw.__func__ if wrapper else getattr(target, name)
        ran_past = float(limits.get(qualname, float("-inf") if qualname in stuck else float("inf")))

        def stopped(
            *args: Any,
            _message: str = message,
            _original: Any = original,
            _limit: float = ran_past,
            _stuck: bool = qualname in stuck,
            **kwargs: Any,
        ) -> Any:
            if call_limit[0] <= _limit or (_stuck and not call_small[0]):
                raise HungBefore(_message)
            return _original(*args, **kwargs)

        setattr(target, name, wrapper(stopped) if wrapper else stopped)


LISTEN_SIGNAL = signal.SIGUSR2  # the watchdog's request to the main thread: say when you next call anything
_calls = {"listening": False, "seen": False}


_current_handler = signal.getsignal


def ignored_signal_handler(signalnum: Any, handler: Any) -> Any:
    """``signal.signal`` in the student's process: nothing is installed, and the current handler is
    returned as if it had been replaced. A handler is handed the frame it interrupts, and through it the
    grader's; libraries install handlers on the way (asyncio.run for SIGINT, torch's DataLoader for
    SIGCHLD) and work on without them. The seccomp filter (lockdown.refuse_signal_handlers) refuses
    the system call however else it is reached."""
    print(
        f"note: graded code runs without signal handlers (signal.signal({signalnum!r}, ...) ignored)", file=sys.stderr
    )
    return _current_handler(signalnum)


def ignored_fault_handler(*args: Any, **kwargs: Any) -> None:
    """``faulthandler.enable`` and ``register`` in the student's process: they install signal handlers
    (refused), and a crash is reported by the grader anyway."""
    return None


def listen_for_calls(signum: int, frame: Any) -> None:
    """On the main thread (a signal handler runs there, between two instructions of its code): report
    the next function call, built-in ones included, then stop listening. Costs nothing until asked."""
    _calls["listening"] = True
    sys.setprofile(_saw_call)


def _saw_call(frame: Any, event: str, arg: Any) -> None:
    if event in ("call", "c_call"):
        _calls["seen"] = True
        sys.setprofile(None)


def progress_reports(send: Callable[[Any], None]) -> Callable[..., None]:
    """The watchdog's signer: it signs progress reports only. A hostile round reached the watchdog's
    signer through its thread (``threading.enumerate()``, the thread's target) and signed replies of its
    own making with it (a3 100 where the rules give 10): a report is never taken for a reply."""

    def report(where: Any, function: Any, stuck: Any = None, looping: Any = None) -> None:
        message: dict[str, Any] = {
            "where": where if type(where) is str else None,
            "function": function if type(function) is str else None,
        }
        if type(stuck) in (int, float):
            message["stuck"] = stuck
        if type(looping) is int:
            message["looping"] = looping
        send({**message, "progress": True})

    return report


class Watchdog:
    """Watches the student's code from a thread of its own while a probe runs.

    Shortly before the trusted side gives up on a probe, it says which student line is running (the
    grader names it in its timeout message: "still running rnn_step, line 12").

    Given ``stuck_after``, it also looks at the running frame fifty times a second. When every look for
    that long found the same call of one of the student's functions, on at most three of its lines, it
    asks the main thread (a signal, whose handler runs there) to report its next function call; if
    none comes within a second, not even of a built-in such as ``list.count`` or ``time.sleep``, it
    says "stuck": a ``while True`` with nothing in it that could end it. The grader then stops the call
    instead of waiting out a training check's own limit (30 s, 60 s). Working code, however slow, calls
    something all the time, so it is never called stuck; a library's long call (CUDA starting up) is
    not the student's frame; and where looks are few (a busy machine), or the main thread cannot be
    asked, the code gets the benefit of the doubt.

    Given ``step_budget`` too, it says "looping" once the call has taken more optimizer steps than that
    (many times the reference's for the same call): training that waits for a loss it never reaches
    keeps calling functions, so only its steps tell it from slow training, which takes no extra steps.
    """

    PERIOD_S = 0.02  # often enough that a call taking 1% of the time is seen: 300 looks in 6 s
    MIN_SAMPLES = 50  # fewer looks (the machine was too busy to take them): no verdict
    MAX_LINES = 3  # a loop inlined over more lines of one function is not called stuck
    CONFIRM_S = 1.0  # after the looks, how long the main thread is listened to for any call

    def __init__(
        self,
        send: Callable[..., None],
        workdir: str,
        after: float | None,
        stuck_after: float | None = None,
        step_budget: int | None = None,
        steps: list[int] | None = None,
    ) -> None:
        self.main = threading.main_thread().ident
        self.send, self.workdir = send, workdir  # send(where, function, stuck=, looping=): a progress report
        self.after, self.stuck_after = after, stuck_after
        self.step_budget = step_budget if stuck_after else None  # looked at by the same looks
        self.steps = steps if steps is not None else [0]  # optimizer steps of the call (the step hooks count)
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None
        if after or stuck_after:
            thread = threading.Thread(target=self._watch, daemon=True)
            try:
                thread.start()
            except RuntimeError:  # no thread left under the limit (the student's threads hold them all,
                return  # or the last watchdog's has not quite ended): the trusted side's limits still hold
            self.thread = thread

    def _watch(self) -> None:
        started = time.monotonic()
        same: Any = None  # the running frame object itself: held, so its identity cannot be reused
        since, samples, lines = started, 0, set[int | None]()
        asked: float | None = None  # when the main thread was asked to report its next call
        reported, stuck = not self.after, not self.stuck_after
        while not (reported and stuck):
            pause = self.PERIOD_S if not stuck else max(0.0, started + (self.after or 0.0) - time.monotonic())
            if self.stop.wait(pause):
                return
            now = time.monotonic()
            if not stuck:
                frame = sys._current_frames().get(self.main) if self.main is not None else None
                if frame is not same:
                    same, since, samples, lines, asked = frame, now, 0, set(), None
                samples += 1
                lines.add(frame.f_lineno if frame is not None else None)
                del frame
                if asked is None and self._suspect(same, now - started, now - since, samples, lines):
                    asked = now  # confirm: does the code call anything at all in the next second?
                    _calls.update(listening=False, seen=False)
                    self._ask_main_thread()
                elif self.step_budget is not None and self.steps[0] > self.step_budget:
                    stuck = True  # still training, far past the reference's steps: it will not end
                    self._report(outermost=True, looping=self.steps[0])
                elif asked is not None and now - asked >= self.CONFIRM_S:
                    if _calls["listening"] and not _calls["seen"]:
                        stuck = True
                        self._report(stuck=round(now - since, 1))
                    else:  # it called something (or could not be asked): working, however slowly
                        since, samples, lines, asked = now, 0, set(), None
            if not reported and now - started >= (self.after or 0.0):
                reported = True
                self._report()

    def _ask_main_thread(self) -> None:
        try:
            if self.main is not None:
                signal.pthread_kill(self.main, LISTEN_SIGNAL)
        except (OSError, ValueError):
            pass

    def _suspect(self, frame: Any, running: float, unchanged: float, samples: int, lines: set[int | None]) -> bool:
        assert self.stuck_after is not None
        return (
            min(running, unchanged) >= self.stuck_after
            and samples >= self.MIN_SAMPLES
            and len(lines) <= self.MAX_LINES
            and frame is not None
            and frame.f_code.co_filename.startswith(self.workdir + os.sep)
        )

    def _report(self, outermost: bool = False, **extra: Any) -> None:
        """Where the student's code is running: its innermost frame (the line a loop spins on), or with
        ``outermost`` the student function the probe called (the training that does not end, not the
        forward it happens to be in)."""
        frame = sys._current_frames().get(self.main) if self.main is not None else None
        where = function = None
        while frame is not None:
            if frame.f_code.co_filename.startswith(self.workdir + os.sep):
                code = frame.f_code
                function = getattr(code, "co_qualname", code.co_name)
                line = f", line {frame.f_lineno}" if frame.f_lineno is not None else ""
                where = f"{os.path.basename(code.co_filename)}{line}, in {function}"
                if not outermost:
                    break
            frame = frame.f_back
        try:
            self.send(where, function, **extra)
        except BaseException:
            pass

    def cancel(self) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join()


# -- what the probes hand to the student's code ---------------------------------------------------------

GRADER_PACKAGES = ("grader", "assignment_probes")  # the grader's modules, and the probes' (child._load_probes)


def handed(function: Any) -> Any:
    """``function`` as the probes may hand it to the student's code (a stand-in forward set on the
    student's model, a DataLoader's ``collate_fn``): a copy whose globals hold the libraries and the
    constants of the probes' globals, nothing else. Its ``__globals__`` are one step from anything that
    holds it, and the probes' own lead to the probes and the training's bookkeeping; a name it needs
    from the probes goes in its closure or its arguments. A ``functools.partial`` is copied with its
    function handed."""
    if isinstance(function, functools.partial):
        return functools.partial(handed(function.func), *function.args, **function.keywords)
    if not isinstance(function, types.FunctionType):
        return function
    return _with_globals(function, sealed_globals(function.__globals__))


def seal_classes(namespace: dict[str, Any]) -> None:
    """Give the methods of every class defined in ``namespace`` (the probes': stand-in models the probes
    hand to the student's code, a3's ``_StandInRNN``, a5's ``MeanOfEmbeddings``) globals holding the
    libraries and constants only, as :func:`handed` does: ``type(x).forward`` is one step from any
    such object."""
    sealed = sealed_globals(namespace)
    name = namespace.get("__name__")
    for cls in [value for value in namespace.values() if isinstance(value, type) and value.__module__ == name]:
        for attribute, method in list(vars(cls).items()):
            if isinstance(method, types.FunctionType):
                setattr(cls, attribute, _with_globals(method, sealed))


def _with_globals(function: types.FunctionType, namespace: dict[str, Any]) -> types.FunctionType:
    """A copy of ``function`` (its code, defaults and closure) that looks its globals up in ``namespace``."""
    twin = types.FunctionType(
        function.__code__, namespace, function.__name__, function.__defaults__, function.__closure__
    )
    twin.__qualname__, twin.__kwdefaults__, twin.__doc__ = (
        function.__qualname__,
        function.__kwdefaults__,
        function.__doc__,
    )
    return twin


def sealed_globals(namespace: dict[str, Any]) -> dict[str, Any]:
    """The libraries (modules, classes and functions not of the grader's) and constants of ``namespace``
    (plain data in lists, dicts and sets copied: a table of the probes' stays theirs)."""
    sealed = {name: value for name, value in namespace.items() if _a_library_s(value)}
    sealed.update((name, copy.deepcopy(value)) for name, value in namespace.items() if _plain_data(value))
    sealed["__builtins__"] = namespace.get("__builtins__", __builtins__)
    sealed["__name__"] = f"{namespace.get('__name__')} (handed)"  # not the module's own globals
    return sealed


def _a_library_s(value: Any) -> bool:
    """A module, class or function of a library (constants are :func:`_plain_data`)."""
    if isinstance(value, types.ModuleType):  # a library's module (a stand-in is none)
        return type(value) is types.ModuleType and value.__name__.partition(".")[0] not in GRADER_PACKAGES
    if isinstance(value, (type, types.FunctionType, types.BuiltinFunctionType)):
        return (getattr(value, "__module__", None) or "").partition(".")[0] not in GRADER_PACKAGES
    return False


def _plain_data(value: Any, depth: int = 0) -> bool:
    if isinstance(value, (int, float, str, bytes, bool, type(None))):
        return True
    if depth > 4 or type(value) not in (list, tuple, dict, set, frozenset):
        return False
    items = [*value.keys(), *value.values()] if type(value) is dict else list(value)
    return len(items) <= 10_000 and all(_plain_data(item, depth + 1) for item in items)
