"""Run-time enforcement of an assignment's forbidden imports and APIs, inside the sandbox.

The static scan on the trusted side names most uses before anything runs; these guards catch the
dynamic ones (``getattr(nn, "R" + "NN")``). A guard records its use even when student code catches the
exception, so ``try: nn.RNN(...) except Exception: ...`` still counts as using it.

A forbidden torch kernel is refused by torch's dispatcher, whatever Python path calls it
(``torch._C._VariableFunctionsClass.__dict__["rnn_" + "tanh"]`` included). That registration cannot be
undone from Python: its handle is held by no Python object (see :func:`_keep_forever`). Everything else
here lives in Python objects that student code in the same process can reach and change; the static
integrity scan (grader/intake/static_checks.py) flags the code that goes looking for them.
"""

from __future__ import annotations

import ctypes
import importlib
import io
import marshal
import os
import re
import sys
import types
import warnings
from collections.abc import Callable
from typing import Any, NoReturn

from grader.inside.stand_ins import RefusingModule, refusing

used: list[str] = []


class ForbiddenApiUsed(BaseException):
    """Raised when student code touches a forbidden API. BaseException so ``except Exception`` misses it."""


class _BlockedModule(RefusingModule):
    """Stands in for a blocked package: importing it works, using anything from it is refused.

    So an unused ``import torch`` (or ``from torch import nn``, ``import torch.nn.functional as F``)
    costs only the check that looks for it, while code that really uses torch fails the checks that
    run it, each with a message naming what it called.
    """

    def refusal(self) -> BaseException:
        return _refuse(self.__name__)


def _stand_in(dotted: str) -> _BlockedModule:
    stand_in: _BlockedModule = refusing(_BlockedModule, dotted)
    return stand_in


class _BlockedFinder:
    """Finds ``import torch.nn.functional`` and the like as stand-ins, for the blocked packages."""

    def __init__(self, names: list[str]) -> None:
        self.names = tuple(names)

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if not any(fullname == name or fullname.startswith(name + ".") for name in self.names):
            return None
        import importlib.machinery

        return importlib.machinery.ModuleSpec(fullname, self, is_package=True)  # type: ignore[arg-type]

    def create_module(self, spec: Any) -> _BlockedModule:
        return _stand_in(spec.name)

    def exec_module(self, module: Any) -> None:
        pass


def block_imports(names: list[str]) -> None:
    """Replace NAME (loaded in the worker before forking, or not) and its submodules with stand-ins."""
    for name in names:
        keys = [k for k in sys.modules if k == name or k.startswith(name + ".")] or [name]
        for key in set(keys) | {name}:
            sys.modules[key] = _stand_in(key)
    if names:
        sys.meta_path.insert(0, _BlockedFinder(names))


GRADER_PACKAGE = __name__.partition(".")[0]


def hide_the_grader() -> None:
    """Take the grader's own modules out of ``sys.modules`` (a stand-in that refuses every use takes
    each one's place) and refuse importing them again: from here on, the grader's code in this process
    holds what it needs itself. A hostile round reached the training's bookkeeping as
    ``torch.sys.modules["grader.inside.probe_api"]`` through names built with ``chr`` (a2 100 where the
    work earns 70, unflagged): a name built at run time passes the scan, a module that is not there
    cannot be looked up."""
    block_imports([GRADER_PACKAGE])


def real_module(name: str) -> Any:
    """``sys.modules[name]`` unless missing or blocked (never touching a stand-in's attributes)."""
    module = sys.modules.get(name)
    if module is None or isinstance(module, _BlockedModule):
        return None
    return module


# The kernels behind each ready-made module: refusing the class alone leaves them one call away, and
# torch.gru with saturated gates computes exactly a tanh RNN. Names missing from a torch build are skipped.
KERNELS_BEHIND: dict[str, tuple[str, ...]] = {
    "torch.nn.RNN": ("rnn_tanh", "rnn_relu", "mkldnn_rnn_layer", "_cudnn_rnn", "miopen_rnn"),
    "torch.nn.RNNCell": ("rnn_tanh_cell", "rnn_relu_cell", "quantized_rnn_tanh_cell", "quantized_rnn_relu_cell"),
    "torch.nn.LSTM": (
        "lstm",
        "lstm_cell",
        "quantized_lstm",
        "quantized_lstm_cell",
        "_thnn_fused_lstm_cell",
        "mkldnn_rnn_layer",
        "_cudnn_rnn",
        "miopen_rnn",
    ),
    "torch.nn.GRU": (
        "gru",
        "gru_cell",
        "quantized_gru",
        "quantized_gru_cell",
        "_thnn_fused_gru_cell",
        "_cudnn_rnn",
        "miopen_rnn",
    ),
}
# torch's ready-made recurrent modules written in Python on ordinary operators: no kernel of theirs to
# refuse. The quantizable LSTM (also torch.nn.quantizable.LSTM), with its gates pinned by tiny modules,
# computes exactly a tanh RNN, time loop, layers and h_n included.
PYTHON_IMPLEMENTATIONS: dict[str, tuple[str, ...]] = {
    "torch.nn.RNN": ("torch.ao.nn.quantizable.LSTM", "torch.ao.nn.quantizable.LSTMCell"),
    "torch.nn.LSTM": ("torch.ao.nn.quantizable.LSTM", "torch.ao.nn.quantizable.LSTMCell"),
}
# Where torch's dispatcher may hold a kernel of those operators (others, like Autograd, call one of these).
_KERNEL_KEYS = (
    "CompositeImplicitAutograd",
    "CompositeExplicitAutograd",
    "CompositeExplicitAutogradNonFunctional",
    "CPU",
    "CUDA",
)
# Python helpers of torch._decomp.decompositions that together make a ready-made RNN, LSTM or GRU.
_RNN_HELPER = re.compile(r"rnn|lstm|gru", re.IGNORECASE)


def with_kernels(dotted_names: list[str]) -> list[str]:
    """``dotted_names`` and, after them, the torch kernels behind the forbidden modules among them and
    torch's other implementations of them in Python."""
    names = list(dotted_names)
    for dotted in dotted_names:
        names += [f"torch.{kernel}" for kernel in KERNELS_BEHIND.get(dotted, ())]
        names += PYTHON_IMPLEMENTATIONS.get(dotted, ())
    return list(dict.fromkeys(names))


def forbid_apis(dotted_names: list[str]) -> None:
    """Replace each ``package.attr`` with a guard that records and refuses its use."""
    if not dotted_names:  # a pass over every module's names costs a child 5 ms in pages copied from its worker
        return
    vf_module = sys.modules.get("torch._VF")  # before any replacement: torch's own kernel table
    elsewhere: dict[str, list[tuple[Any, Any]]] = {}  # attr -> (original, guard), for other modules
    operators = False
    for dotted in with_kernels(dotted_names):
        owner_name, _, attr = dotted.rpartition(".")
        if owner_name == "torch":
            operators = _refuse_operator(attr, _refusal(dotted)) or operators
        try:
            owner = importlib.import_module(owner_name)
        except ImportError:
            continue
        original = getattr(owner, attr, None)
        if original is None:
            continue
        guard = _make_guard(dotted, original)
        if _is_module_like(original):
            # Only the student's own access is refused (``torch._VF``, ``import torch._VF``,
            # ``sys.modules``): torch's modules keep their reference, because torch.einsum,
            # torch.split and F.dropout run through torch._VF too.
            if sys.modules.get(dotted) is original:
                sys.modules[dotted] = guard
        else:
            elsewhere.setdefault(attr, []).append((original, guard))
            _refuse_in_kernel_table(vf_module, attr, dotted, original)
        setattr(owner, attr, guard)
    _replace_in_every_module(elsewhere)
    if operators:
        _refuse_decomposition_helpers()


def _replace_in_every_module(replacements: dict[str, list[tuple[Any, Any]]]) -> None:
    """Other modules that expose the same object (``torch.nn.modules.rnn.RNN`` for ``torch.nn.RNN``)
    get the guard too: one pass over ``sys.modules``, whatever the number of names."""
    wanted = list(replacements)
    for module in list(sys.modules.values()):
        try:
            namespace = module.__dict__
            found = [attr for attr in wanted if attr in namespace]  # not every name of every module
        except Exception:
            continue
        for attr in found:
            for original, guard in replacements[attr]:
                if namespace.get(attr) is original:
                    setattr(module, attr, guard)


def _refuse_in_kernel_table(vf_module: Any, attr: str, dotted: str, original: Any) -> None:
    """A forbidden kernel (``torch.rnn_tanh``) is also refused where torch's own modules look it up.

    nn.RNN's forward calls ``_VF.rnn_tanh``; this names the kernel in the message before the
    dispatcher's refusal (below) would, whichever way the real class was reached.
    """
    table = getattr(vf_module, "vf", None)
    if table is None or getattr(table, attr, None) is not original:
        return
    if not isinstance(table, _FilteredKernels):
        table = _FilteredKernels(table)
        vf_module.vf = table
    table.refused[attr] = dotted


def _kernel_keys(torch: Any, name: str) -> list[str]:
    """Every dispatch key with a kernel of its own for operator ``name``: the composite and backend keys
    that every build has, and whatever else the dispatcher lists (MkldnnCPU: mkldnn_rnn_layer ran on
    mkldnn tensors though its CPU kernel was refused; Meta, autocast, quantized backends)."""
    keys = [key for key in _KERNEL_KEYS if torch._C._dispatch_has_kernel_for_dispatch_key(name, key)]
    try:
        table = torch._C._dispatch_dump_table(name)
    except (AttributeError, RuntimeError):
        return keys
    for line in table.splitlines():
        key, _, registered = line.partition(":")
        key = key.strip()
        if registered.rstrip().endswith("[kernel]") and "fallthrough" not in registered and key not in keys:
            keys.append(key)
    return keys


def _refuse_operator(attr: str, refuse: Callable[..., NoReturn]) -> bool:
    """Refuse the torch operator ``aten::attr`` in torch's dispatcher and in its Python kernels.

    That covers every way to the kernel: ``torch.ops.aten.rnn_tanh``, ``torch._C._VariableFunctions``
    and its class's ``__dict__``, nn.RNN's own forward reached around its guard, and the Python
    implementations torch keeps for its compiler (``torch._decomp``). False if there is no such operator.
    """
    torch = real_module("torch")
    if torch is None:
        return False
    try:
        packet = getattr(torch.ops.aten, attr)
        overloads = [getattr(packet, overload) for overload in packet.overloads()]
    except (AttributeError, RuntimeError):
        return False
    names = [op.name() for op in overloads]  # "aten::rnn_tanh.input"
    registrations = [(name.removeprefix("aten::"), key) for name in names for key in _kernel_keys(torch, name)]
    if registrations:
        library = torch._C._dispatch_library("IMPL", "aten", "", __file__, 0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "overriding a previously registered kernel" is the point
            for name, key in registrations:
                try:
                    library.impl(name, key, refuse, False)
                except RuntimeError:  # a key that takes no Python kernel: its neighbours still refuse
                    continue
        _keep_forever(library)
    for op in overloads:
        _refuse_python_kernels(torch, op, refuse)
    return True


# Every way to a new kernel for one of torch's operators, in Python (``torch.library.Library``,
# ``torch.library.impl``, ``register_kernel``, the Python dispatcher's libraries) creates its library
# through this one function of torch's C module.
_LIBRARY_FACTORY = "_dispatch_library"
# Namespaces whose kernels the grader's code in the student's process computes with: torch's operators,
# and "_", where a fallback for a whole dispatch key is registered.
SEALED_NAMESPACES = frozenset({"aten", "_"})
# Dispatch keys the grader's reads switch off (grader.inside.untouched.plain): torch.vmap registers its
# decompositions there the first time it runs.
_KEYS_READS_SKIP = ("FuncTorch",)
KERNEL_OVERRIDE = "torch.library (a new kernel for torch's own operators)"


def seal_torch_kernels() -> None:
    """From now on, refuse new kernels for torch's own operators (the student's code loads next).

    The step bookkeeping and the copy of results read tensors through torch's operators; a kernel of
    the student's own for ``aten::equal`` (``torch.library.Library("aten", "IMPL").impl("equal", ...)``,
    public API, its names built with ``chr``) once told the bookkeeping that weights copied in were the
    last step's: a2 80, a4 86, a5 94.68 where the work earned 50, 60, 68.09. Other namespaces keep
    working (a custom operator of the student's own, torchvision's). The original factory is kept
    where no Python object leads to it (:func:`_keep_hidden`); the integrity scan flags code that goes
    looking for it, and the reply's check (``untouched.kernels_changed``) sees a kernel registered anyway.
    """
    torch = real_module("torch")
    factory = getattr(getattr(torch, "_C", None), _LIBRARY_FACTORY, None)
    if factory is None or getattr(factory, "__wrapped_by_grader__", False):
        return
    address, refuse = _keep_hidden(factory), _refusal(KERNEL_OVERRIDE)
    sealed, skipped, cast, as_object = SEALED_NAMESPACES, _KEYS_READS_SKIP, ctypes.cast, ctypes.py_object
    del factory

    def library(kind: str, namespace: str, dispatch_key: str = "", *rest: Any) -> Any:
        if namespace in sealed and not (dispatch_key and str(dispatch_key).startswith(skipped)):
            refuse()
        return cast(address, as_object).value(kind, namespace, dispatch_key, *rest)

    library.__name__ = library.__qualname__ = _LIBRARY_FACTORY
    library.__wrapped_by_grader__ = True  # type: ignore[attr-defined]
    setattr(torch._C, _LIBRARY_FACTORY, library)


# The attributes that hand out a frame (and through it any local of the grader's code running in the
# process: the trained weights it is about to send). Python announces each read to audit hooks.
FRAME_ATTRIBUTES = frozenset({"tb_frame", "gi_frame", "cr_frame", "ag_frame"})
FRAME_ACCESS = "a frame of the running code (tb_frame, gi_frame, sys._getframe)"
# Audit events of the functions that hand out frames: a regression round reached sys._getframe as
# another module's attribute (``warnings.sys._getframe``), which no scan resolves to sys.
FRAME_EVENTS = frozenset({"sys._getframe", "sys._current_frames"})
# Audit events of what hands frames to a function of the caller's choosing: a profiler's or a tracer's
# callback gets the frame of every call (a regression round: threading._sys.setprofile, named at run time).
HANDING_EVENTS = frozenset({"sys.setprofile", "sys.settrace"})
PROFILING = "a profiler or a tracer (sys.setprofile, sys.settrace: handed the frame of every call)"
# Library functions that read their caller's frame and keep it: the caller gets a name, a summary or a
# registration back, never the frame (by the end of the file's path and the function's name).
KEEP_THE_FRAME = frozenset(
    {
        ("collections/__init__.py", "namedtuple"),  # the caller's module name
        ("traceback.py", "_extract_from_extended_frame_gen"),  # summaries: print_exc, format_exception...
        ("traceback.py", "extract_stack"),  # summaries of the stack
        ("traceback.py", "format_stack"),
        ("traceback.py", "print_stack"),
        ("typing.py", "_caller"),  # the caller's module name
        ("logging/__init__.py", "findCaller"),  # where a log record was made
        ("enum.py", "_create_"),
        ("torch/library.py", "__init__"),  # where a library of operators was made (custom operators)
        ("numpy/lib/_index_tricks_impl.py", "__getitem__"),  # np.r_["..."] builds a matrix from names
        ("numpy/lib/index_tricks.py", "__getitem__"),
        ("numpy/matrixlib/defmatrix.py", "bmat"),
        ("grader/inside/reachable.py", "listen_for_calls"),  # the watchdog's profiler for one call
        ("grader/inside/reachable.py", "_saw_call"),
    }
)


# The name a library uses for what it reads, by audit event (``object.__getattr__``: the attribute's).
NAMES_READ = {
    "sys._getframe": "_getframe",
    "sys._current_frames": "_current_frames",
    "sys.setprofile": "setprofile",
    "sys.settrace": "settrace",
    "gc.get_objects": "get_objects",
    "gc.get_referrers": "get_referrers",
    "gc.get_referents": "get_referents",
}
# Library functions whose work is to hand their caller a frame, or what reads one: (end of the file's
# path, the function's code name or "*" for every function of the file, the names its caller may call
# it by; none: its own name).
FRAME_HANDERS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("inspect.py", "currentframe", ()),
    ("inspect.py", "stack", ()),
    ("inspect.py", "trace", ()),
    ("inspect.py", "getinnerframes", ()),  # a traceback's frames
    ("inspect.py", "getouterframes", ()),
    ("logging/__init__.py", "<lambda>", ("currentframe",)),
    ("traceback.py", "walk_stack", ()),
    ("traceback.py", "walk_tb", ()),
    ("traceback.py", "_walk_tb_with_full_positions", ()),
    ("asyncio/base_tasks.py", "_task_get_stack", ()),  # a task's frames, walked up
    ("asyncio/tasks.py", "get_stack", ()),
    ("types.py", "gi_frame", ("gi_frame", "cr_frame")),  # types.coroutine's wrapper: its generator's frame
    ("bdb.py", "*", ()),  # a debugger keeps the frames it reads (pdb.Pdb.setup: self.curframe)
    ("pdb.py", "*", ()),
    ("torch/_jit_internal.py", "createResolutionCallbackFromFrame", ()),  # a look-up in a frame above
    ("jupyter_core/utils/__init__.py", "_get_frame", ()),  # installed with nbformat
    ("tblib/__init__.py", "*", ()),  # tracebacks made picklable: hands the raw frame to a callable
    ("_pytest/_code/code.py", "*", ()),  # pytest's traceback entries hold the raw frame
)


def _normal_path(path: str) -> str:
    """``path`` without ``.``, ``..`` and repeated separators, by string operations alone (os.path's
    functions look up globals the student's code can replace)."""
    if not path.startswith("/"):
        return path
    parts: list[str] = []
    for part in path.split("/"):
        if part == "..":
            if parts:
                parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    return "/" + "/".join(parts)


# Audit events of the garbage collector's walks: every object of the process, the grader's included, is
# one step from gc.get_objects (or get_referrers of anything the grader's objects hold).
GC_EVENTS = frozenset({"gc.get_objects", "gc.get_referrers", "gc.get_referents"})
GC_WALK = "a walk of the garbage collector's objects (gc.get_objects, gc.get_referrers, gc.get_referents)"
# Audit events of ctypes' ways to the process's memory and C functions. A regression round reached
# ctypes as torch.ctypes (a name built with chr) and took the running frame from
# pythonapi.PyEval_GetFrame, which raises no frame event (a2 100 where the work earns 70). Calling a
# function already looked up and ctypes.cast raise none: what is left needs the addresses of one
# build of Python.
RAW_MEMORY_EVENTS = frozenset(
    {"ctypes.dlopen", "ctypes.dlsym", "ctypes.dlsym/handle", "ctypes.cdata", "ctypes.cdata/buffer"}
    | {"ctypes.PyObj_FromPtr", "ctypes.addressof", "ctypes.string_at", "ctypes.wstring_at"}
)
RAW_MEMORY = "ctypes (a C function looked up, or memory read at an address)"
# Audit events of the making of code and functions. The rules above trust code by the file it says it
# comes from, and code made at run time says what it is told: a hostile round compiled a frame walk
# under a made-up file of the standard library's folder, made functions of it with type(some_function)
# (no scan reads either) and rewrote the judged weights (a2 100 where the work earns 70, unflagged).
CODE_EVENTS = frozenset({"compile", "code.__new__", "marshal.loads", "function.__new__"})
FORGED_CODE = "code that claims a library's file (compile, marshal, or a code object or function made with one)"


def refuse_reaching_in(trusted_dirs: tuple[str, ...], raw_memory: bool = True) -> None:
    """From now on, refuse the frame attributes to code outside ``trusted_dirs`` (the standard
    library's, the installed packages', the grader's): the student's files, and code compiled from
    strings. A hostile round read a traceback's frame through a name decoded at run time
    (``getattr(e.__traceback__, codecs.decode("go_senzr", "rot13"))``, which no scan reads), walked up
    to the probe's frame and rewrote the judged weights before they were sent (a4 86, a5 94.68, a2 100
    where the work earns 60, 68.09, 50). The garbage collector's walks likewise: every object of the
    process is one step from ``gc.get_objects()``; and ctypes' look-ups of C functions and reads of
    memory at an address. An audit hook cannot be removed once added.

    The hook holds everything it uses (no global, no built-in looked up when it runs): the student's
    code can reach this module's globals (through the import finder in ``sys.meta_path``) and
    ``builtins``, and a regression round's ``builtins.len = lambda x: 0`` made it wave a frame read
    through. File names are compared in their normal form (``/usr/lib/python3/../../tmp/x.py`` is not
    the standard library's)."""
    record, error, current = used, ForbiddenApiUsed, sys._getframe
    frames, walks, trusted, inside = FRAME_ATTRIBUTES, GC_EVENTS, tuple(trusted_dirs), [False]
    raw = RAW_MEMORY_EVENTS if raw_memory else frozenset()  # off: the isolation tests' native code
    keep, handers, names_read = KEEP_THE_FRAME, FRAME_HANDERS, NAMES_READ
    frame_events, code_events, strict = FRAME_EVENTS, CODE_EVENTS, HANDING_EVENTS
    frame_access, gc_walk, raw_memory_use, forged_code = FRAME_ACCESS, GC_WALK, RAW_MEMORY, FORGED_CODE
    profiling = PROFILING
    separator, normal, importing = os.sep, _normal_path, "<frozen importlib._bootstrap"
    forges = _forgery_test(trusted)

    def hook(event: str, args: tuple[Any, ...]) -> None:
        what = frame_access
        name = names_read.get(event, "")
        if event in frame_events or event in strict:  # sys._getframe however reached (``warnings.sys._getframe``)
            if inside[0]:
                return  # the hook's own look at its caller
            if event in strict:
                what = profiling
        elif event in walks:  # gc.get_objects however reached (a name built at run time)
            what = gc_walk
        elif event in raw:  # ctypes however reached (torch.ctypes)
            what = raw_memory_use
        elif event in code_events or (event == "object.__setattr__" and args[1:2] == ("__code__",)):
            what = forged_code
        elif event != "object.__getattr__" or args[1:2] == () or args[1] not in frames:
            return
        else:
            name = args[1]
        inside[0] = True
        try:
            reader = current(1)
        finally:
            inside[0] = False
        if what == forged_code and not forges(event, args, reader):
            return
        filename = normal(reader.f_code.co_filename)
        # A library reads by name what it reads for itself (``sys._getframe``, ``tb.tb_frame``): one
        # that reads what it never names was handed the reading function by other code (a library's
        # global swapped for ``sys._getframe``).
        if filename.startswith(trusted) and (name == "" or name in reader.f_code.co_names):
            # A library's read, for the library, or for a caller that gets no frame back (namedtuple's
            # module name, traceback.extract_stack's summaries, logging's caller): judged by who called
            # into the library's file (string.Formatter.get_field read a traceback's frame for a
            # regression round's code; ctypes' __getattr__ looks a C function up through __getitem__).
            chain, above = [reader.f_code], reader.f_back
            while above is not None and normal(above.f_code.co_filename) == filename:
                chain.append(above.f_code)
                above = above.f_back
            path = filename.replace(separator, "/")
            if event in strict:
                # What hands frames to a function of the caller's choosing (a profiler, a tracer): refused
                # while any code outside the libraries is running, however many libraries are between
                # (profile.Profile.runcall called for the student by another library's function).
                for code in chain:
                    for end, function in keep:
                        if path.endswith("/" + end) and code.co_name == function:
                            return  # the grader's own watch for calls (a signal handler, over any code)
                outer = above
                while outer is not None and normal(outer.f_code.co_filename).startswith(trusted):
                    outer = outer.f_back
                if outer is None:
                    return
            else:
                # A function whose work is to hand its caller a frame (inspect.currentframe, inspect.stack,
                # asyncio's get_stack) counts as its caller's read, so the caller must name it, and so on
                # up a chain of such functions: a regression round had functools.cached_property call
                # inspect.stack for it, tempfile call currentframe in place of a function of its own, and
                # asyncio's Task.get_stack return the stack its helper read.
                handed, entry = True, chain[-1]
                while handed:
                    names: tuple[str, ...] = ()
                    for end, function, called in handers:
                        if path.endswith("/" + end) and (function == "*" or entry.co_name == function):
                            names = called or (entry.co_name,)
                    if names == ():
                        break
                    if above is None:
                        handed = False
                        break
                    handed = False
                    for called_name in names:
                        if called_name in above.f_code.co_names:
                            handed = True
                    caller_file = normal(above.f_code.co_filename)
                    if not caller_file.startswith(trusted):
                        break
                    # the read is the caller's now: its file's frames are judged from here on
                    chain, above, path = [above.f_code], above.f_back, caller_file.replace(separator, "/")
                    while above is not None and normal(above.f_code.co_filename) == caller_file:
                        chain.append(above.f_code)
                        above = above.f_back
                    entry = chain[-1]
                if handed and (above is None or normal(above.f_code.co_filename).startswith(trusted)):
                    return
                if handed and above is not None and above.f_code.co_filename.startswith(importing):
                    # A library module's own code as it is imported (networkx's import, which
                    # torch.compile starts, makes functions of its own code): whoever imported it
                    # handed it nothing.
                    for code in chain:
                        if code.co_name == "<module>":
                            return
            for end, function in keep:
                if path.endswith("/" + end):
                    for code in chain:
                        if code.co_name == function:
                            return
        if what not in record:
            record.append(what)
        raise error(f"{what} is not allowed in graded code")

    sys.addaudithook(hook)


def _forgery_test(trusted: tuple[str, ...]) -> Callable[[str, tuple[Any, ...], Any], bool]:
    """``forges(event, args, maker)``: whether code or a function being made claims a file in ``trusted``
    without being that file's own: compiled from other text than the file's, decoded from other bytes
    than its cached bytecode, or built from parts (a code object's filename, a function over a
    library's code with globals of the maker's choosing). Whoever makes it is then judged as a frame's
    reader is: a library making code for itself (torch.compile's bytecode) is not refused.

    The functions it calls are held here, not looked up when it runs: the student's code can reach
    ``marshal`` and ``builtins`` and replace what they hold."""
    loads, read_file, code_type = marshal.loads, io.open, types.CodeType
    decoding = [False]

    def claims(filename: object) -> bool:
        return isinstance(filename, str) and filename.startswith(trusted)

    def file_bytes(path: object) -> bytes | None:
        try:
            with read_file(path, "rb") as handle:  # type: ignore[call-overload]
                return bytes(handle.read())
        except (OSError, TypeError, ValueError):
            return None

    def filenames(code: Any) -> list[str]:
        found, stack = [], [code]
        while stack:
            current_code = stack.pop()
            found.append(current_code.co_filename)
            stack.extend(const for const in current_code.co_consts if type(const) is code_type)
        return found

    def forges(event: str, args: tuple[Any, ...], maker: Any) -> bool:
        if event == "compile":  # args: source (text, bytes or a syntax tree), filename
            if not claims(args[1]):
                return False
            source = args[0].encode() if isinstance(args[0], str) else args[0]
            return not isinstance(source, bytes) or source != file_bytes(args[1])  # an import compiles the file
        if event == "code.__new__":  # CodeType(...) and code.replace(...): args[1] is the filename
            return claims(args[1])
        if event == "function.__new__":  # type(some_function)(code, globals)
            return type(args[0]) is code_type and claims(args[0].co_filename)
        if event == "object.__setattr__":  # some_function.__code__ = code
            return type(args[2]) is code_type and claims(args[2].co_filename)
        # marshal.loads: an import decodes a module's cached bytecode, which it read from bytecode_path
        if decoding[0] or type(args[0]) is not bytes:
            return False
        cached = maker.f_locals.get("bytecode_path") if maker.f_code.co_name == "_compile_bytecode" else None
        whole = file_bytes(cached) if cached is not None else None
        if whole is not None and whole[16:] == args[0]:
            return False
        decoding[0] = True
        try:
            made = loads(args[0])
        except Exception:  # not marshal's data: nothing is made of it
            return False
        finally:
            decoding[0] = False
        return type(made) is code_type and any(claims(name) for name in filenames(made))

    return forges


def _keep_hidden(value: Any) -> int:
    """Keep ``value`` alive where no Python object refers to it, and out of ``gc.get_objects()``: its
    address, an integer, is all that is left (turning it back into the object takes ctypes)."""
    ctypes.pythonapi.Py_IncRef(ctypes.py_object(value))
    ctypes.pythonapi.PyObject_GC_UnTrack(ctypes.py_object(value))
    return id(value)


def _keep_forever(handle: Any) -> None:
    """Keep a dispatcher registration for the life of the process, out of reach of student code.

    The registration lasts as long as its handle; ``handle.reset()`` (or dropping the last reference)
    undoes it. A reference of our own would be found (``sys.modules``, ``gc.get_referrers``), so the
    handle gets one reference that no Python object holds. ``gc.get_objects()`` lists only objects the
    collector tracks, and torch's library handle is not one of them, so nothing in Python leads to it.
    """
    ctypes.pythonapi.Py_IncRef(ctypes.py_object(handle))


def _refuse_python_kernels(torch: Any, op: Any, refuse: Callable[..., NoReturn]) -> None:
    """torch also keeps a Python implementation of RNN operators (``torch._decomp``): in the operator's
    ``py_kernels`` (run under the Python dispatcher), in the decomposition tables and as module functions."""
    originals = []
    for key, kernel in list(getattr(op, "py_kernels", {}).items()):
        originals.append(kernel)
        op.py_kernels[key] = refuse
    getattr(op, "_dispatch_cache", {}).clear()
    for table in _decomposition_tables(torch):
        if op in table:
            originals.append(table[op])
            table[op] = refuse
    for original in originals:  # the function in its own module (torch._decomp.decompositions.rnn_tanh_input)
        module, name = sys.modules.get(getattr(original, "__module__", "")), getattr(original, "__name__", "")
        if module is not None and getattr(module, name, None) is original:
            setattr(module, name, refuse)


def _decomposition_tables(torch: Any) -> list[dict[Any, Any]]:
    """torch._decomp's tables (imported here if the worker did not: a later import would restore them)."""
    try:
        decomp = importlib.import_module("torch._decomp")
        importlib.import_module("torch._decomp.decompositions")
    except ImportError:
        return []
    tables = [getattr(decomp, "decomposition_table", {})]
    tables += list(getattr(decomp, "global_decomposition_table", {}).values())
    return [table for table in tables if isinstance(table, dict)]


def _refuse_decomposition_helpers() -> None:
    """The helpers of torch._decomp.decompositions that the refused decompositions were built from
    (``_rnn_helper``, ``one_layer_rnn``, ``gru_cell``...): together they are a ready-made RNN too."""
    module = sys.modules.get("torch._decomp.decompositions")
    if module is None:
        return
    for name, value in list(vars(module).items()):
        if isinstance(value, types.FunctionType) and _RNN_HELPER.search(name):
            setattr(module, name, _refusal(f"{module.__name__}.{name}"))


def _refusal(dotted: str) -> Callable[..., NoReturn]:
    """A function that refuses ``dotted``, for torch to call in place of a kernel. It holds what it
    needs itself: rebinding this module's names later changes nothing it does."""
    record, error = used, ForbiddenApiUsed

    def refuse(*args: Any, **kwargs: Any) -> NoReturn:
        if dotted not in record:
            record.append(dotted)
        raise error(f"{dotted} is not allowed in this assignment")

    refuse.__name__ = dotted.rpartition(".")[2]
    return refuse


class _FilteredKernels:
    """torch._VF's table of kernels with the forbidden ones refused and everything else passed on."""

    def __init__(self, table: Any) -> None:
        self.table = table
        self.refused: dict[str, str] = {}

    def __getattr__(self, name: str) -> Any:
        if name in self.refused:
            raise _refuse(self.refused[name])
        return getattr(self.table, name)


def _refuse(dotted: str) -> ForbiddenApiUsed:
    if dotted not in used:  # the child empties `used` before each probe call, so each call reports its own
        used.append(dotted)
    return ForbiddenApiUsed(f"{dotted} is not allowed in this assignment")


def _make_guard(dotted: str, original: Any) -> Any:
    if isinstance(original, type):
        # The guard stands in for the class but does not inherit from it, so the real class is not
        # one ``nn.RNN.__bases__[0]`` away; it keeps the bases, so isinstance(guard(), nn.Module) holds.

        class Guard(*original.__bases__):  # type: ignore[misc]
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                raise _refuse(dotted)

            def __init_subclass__(cls, **kwargs: Any) -> None:
                _refuse(dotted)

        Guard.__name__ = Guard.__qualname__ = original.__name__
        return Guard
    if callable(original) and not _is_module_like(original):

        def guard(*args: Any, **kwargs: Any) -> Any:
            raise _refuse(dotted)

        guard.__name__ = getattr(original, "__name__", "forbidden")
        return guard
    return _ForbiddenNamespace(dotted, original, _package_dir(dotted))


def _is_module_like(value: Any) -> bool:
    return type(value).__name__ in ("module", "VFModule")


def _package_dir(dotted: str) -> str | None:
    """The folder of the top-level package (torch's), whose own code may still use the namespace."""
    path = getattr(sys.modules.get(dotted.split(".")[0]), "__file__", None)
    return os.path.dirname(path) + os.sep if path else None


class _ForbiddenNamespace:
    """A forbidden module (``torch._VF``): refused to student code, passed on to the package's own.

    torch itself looks up ``torch._VF.split_with_sizes`` in ``Tensor.split``; only a lookup made
    directly by code outside the package counts as a use.
    """

    def __init__(self, dotted: str, original: Any = None, package_dir: str | None = None) -> None:
        object.__setattr__(self, "_dotted", dotted)
        object.__setattr__(self, "_original", original)
        object.__setattr__(self, "_package_dir", package_dir)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)  # the import system asking for __spec__, not a use
        original, package_dir = (
            object.__getattribute__(self, "_original"),
            object.__getattribute__(self, "_package_dir"),
        )
        caller = sys._getframe(1).f_code.co_filename
        if original is not None and package_dir and caller.startswith(package_dir):
            return getattr(original, name)
        raise _refuse(f"{object.__getattribute__(self, '_dotted')}.{name}")
