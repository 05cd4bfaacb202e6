"""torch as it was before the student's module loaded: what the step bookkeeping reads weights with.

The bookkeeping (probe_api: which optimizer steps moved the trained weights, and the trained weights
themselves) runs in the student's process, where the student's code can redefine what Python code of
torch looks up at call time: ``type(t).__eq__ = ...`` (torch.Tensor is a Python class), a Parameter
subclass's methods, its own model's ``parameters``/``state_dict``, or a torch-function or dispatch mode
that answers every torch call. Redefining ``==`` once made weights trained elsewhere and copied in pass
for the last step's (a2 80, a4 86, a5 95 where the work earned 50, 60, 68). So the bookkeeping calls
only what :func:`pin` took before the student's module loaded: torch's C functions and the C type's
methods (which no Python code can redefine), with torch-function and dispatch handling switched off,
and a module's own registries read through ``nn.Module``'s real ``__dict__``.
"""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, nullcontext
from typing import Any

_PINNED: dict[str, Any] = {}
_KERNELS_AT_PIN: dict[str, str] = {}
# Switched off as well where this torch has them (torch 2.1 lacks some).
_ALSO_OFF = ("_DisablePythonDispatcher", "_DisableAutocast", "_DisableFuncTorch")
# The operators that same, copy, further_than, has_gradient and plain.tensor_to_numpy run (as torch's
# profiler lists them), whose kernels no student's code may replace.
_OPERATORS = (
    "_local_scalar_dense", "_to_copy", "abs", "all", "any", "as_strided", "clone", "contiguous", "copy_",
    "detach", "empty", "empty_like", "empty_strided", "eq", "equal", "is_same_size", "isnan", "item", "le",
    "logical_and", "logical_not", "logical_or", "ne", "resolve_conj", "resolve_neg", "sub", "to", "to_dense",
)  # fmt: skip


def pin() -> None:
    """Take torch's functions now (once torch is loaded, before the student's module is)."""
    torch = sys.modules.get("torch")
    if _PINNED or torch is None or not hasattr(torch, "_C"):
        return
    functions = torch._C._VariableFunctions
    base = torch._C.TensorBase
    _PINNED.update(
        switched_off=[
            getattr(torch._C, name)
            for name in ("DisableTorchFunction", "_DisableTorchDispatch") + _ALSO_OFF
            if hasattr(torch._C, name)
        ],
        tensor=base,
        module_dict=torch.nn.Module.__dict__["__dict__"].__get__,
        grad=base.grad.__get__,
        requires_grad=base.requires_grad.__get__,
        size=base.size,
        item=base.item,
        is_floating_point=functions.is_floating_point,
        **{
            name: getattr(functions, name)
            for name in ("equal", "eq", "isnan", "logical_and", "logical_or", "logical_not", "all", "any")
            + ("sub", "abs", "le", "ne", "detach", "clone")
        },
        dump=torch._C._dispatch_dump,
        collecting=gc.isenabled,
        stop_collecting=gc.disable,
        collect=gc.enable,
    )
    _KERNELS_AT_PIN.update(_kernel_table(torch))


def _torch() -> dict[str, Any]:
    if not _PINNED:
        pin()  # torch was not preloaded: taken at first use (the grader's own probes run first)
    return _PINNED


def tensor_type() -> Any:
    """torch's C tensor type, whose methods no Python code can redefine (``TensorBase.detach(t)``)."""
    return _torch()["tensor"]


class plain(ExitStack):  # noqa: N801 (used as a function: ``with plain():``)
    """Torch-function and dispatch handling off: no mode or subclass answers in torch's place, nor a
    kernel the student's code gave the Python dispatcher (``torch.ops.aten.equal.default.py_impl``),
    autocast or a functorch transform left on."""

    def __enter__(self) -> plain:
        super().__enter__()
        depth = getattr(_PLAIN, "depth", 0)
        _PLAIN.depth = depth + 1
        self.callback(_leave_plain)  # last out: after the switches below are back on
        if depth:  # this thread is plain already: the switches are off, the collector stopped
            return self
        try:
            pinned = _torch()
            for switch_off in pinned["switched_off"]:
                self.enter_context(switch_off())
            if pinned["collecting"]():  # no finalizer of the student's runs inside a read (a collection would)
                pinned["stop_collecting"]()
                self.callback(pinned["collect"])
        except BaseException:  # undo what was entered, the depth included: no __exit__ follows
            self.close()
            raise
        return self


_PLAIN = threading.local()  # depth: how many plain() this thread is inside (torch's switches are per thread)
_ALREADY_PLAIN = nullcontext()


def _leave_plain() -> None:
    _PLAIN.depth -= 1


def _plainly() -> AbstractContextManager[Any]:
    """:class:`plain`, or nothing where this thread is plain already: the step hooks enter it once for
    all the reads of a step (entering it for each read was most of what the bookkeeping cost a step)."""
    return _ALREADY_PLAIN if getattr(_PLAIN, "depth", 0) else plain()


def kernels_changed() -> str | None:
    """The first operator the reads here compute with whose kernels changed since :func:`pin` (a
    kernel registered by a route around ``guards.seal_torch_kernels``), or None."""
    before = _KERNELS_AT_PIN
    if not before:
        return None
    dump = _torch()["dump"]
    for name, registered in before.items():
        try:
            if dump(name) != registered:
                return name
        except Exception:
            return name
    return None


def _kernel_table(torch: Any) -> dict[str, str]:
    """Each overload of the operators the reads here use, with torch's account of its kernels."""
    table = {}
    for packet_name in _OPERATORS:
        packet = getattr(torch.ops.aten, packet_name, None)
        for overload in packet.overloads() if packet is not None else ():
            name = getattr(packet, overload).name()
            table[name] = torch._C._dispatch_dump(name)
    return table


def copy(tensor: Any) -> Any:
    """A detached copy of ``tensor``'s values now."""
    pinned = _torch()
    with _plainly():
        return pinned["clone"](pinned["detach"](tensor))


def same(tensor: Any, value: Any) -> bool:
    """``tensor`` holds ``value`` (NaN where NaN was); False for anything that is not a tensor of its shape."""
    pinned = _torch()
    try:
        with _plainly():
            now = pinned["detach"](tensor)
            if tuple(pinned["size"](now)) != tuple(pinned["size"](value)):
                return False
            if pinned["equal"](now, value):  # the common case, in one pass
                return True
            equal = pinned["eq"](now, value)
            if pinned["is_floating_point"](now):
                both_nan = pinned["logical_and"](pinned["isnan"](now), pinned["isnan"](value))
                equal = pinned["logical_or"](equal, both_nan)
            return bool(pinned["item"](pinned["all"](equal)))
    except Exception:  # a parameter replaced by something else
        return False


def further_than(tensor: Any, value: Any, bound: float) -> bool:
    """Some entry of ``tensor`` lies further than ``bound`` from ``value`` (NaN on either side does)."""
    pinned = _torch()
    with _plainly():
        distance = pinned["abs"](pinned["sub"](pinned["detach"](tensor), value))
        return bool(pinned["item"](pinned["any"](pinned["logical_not"](pinned["le"](distance, bound)))))


def has_gradient(parameter: Any) -> bool:
    """``parameter.grad`` holds a nonzero entry (read from the C type: no subclass property answers)."""
    pinned = _torch()
    try:
        with _plainly():
            grad = pinned["grad"](parameter)
            return grad is not None and bool(pinned["item"](pinned["any"](pinned["ne"](grad, 0))))
    except Exception:
        return False


def _registries(module: Any) -> tuple[dict, dict]:
    """The module's own parameters and submodules, from its real ``__dict__`` (no ``parameters``,
    ``named_parameters``, ``state_dict``, ``__getattr__`` or ``__dict__`` of its class consulted). A
    registry that is not a plain dict (a subclass whose ``items`` answers otherwise) is refused: nn.Module
    never makes one, and what it walks would differ from what is read here."""
    attributes = _torch()["module_dict"](module)
    if type(attributes) is not dict or not _plain_keys(attributes):
        raise TypeError(f"{type(module).__name__} holds its attributes in something else than a dict of names")
    parameters, children = (dict.get(attributes, key) for key in ("_parameters", "_modules"))
    if type(parameters) is not dict or type(children) is not dict:
        raise TypeError(f"{type(module).__name__} holds its parameters or submodules in something else than a dict")
    if not (_plain_keys(parameters) and _plain_keys(children)):
        raise TypeError(f"{type(module).__name__} names a parameter or submodule with something else than a str")
    return dict(dict.items(parameters)), dict(dict.items(children))


def _plain_keys(registry: dict) -> bool:
    """Every key is a str itself: looking one up, hashing or joining it then runs no code of the
    student's. A hostile round registered a ``None`` parameter under a str subclass whose ``__hash__``
    ran in the middle of the grader's read, and swapped the trained weights in and out around it."""
    return all(type(key) is str for key in dict.keys(registry))


def _walk(module: Any, prefix: str, path: tuple[int, ...]) -> Iterator[tuple[str, Any]]:
    """(name, parameter) of ``module`` and its submodules, each occurrence, as ``state_dict`` names them."""
    parameters, children = _registries(module)
    for name, tensor in parameters.items():
        if tensor is not None:
            yield prefix + name, tensor
    for name, child in children.items():
        if child is not None and id(child) not in path:  # a module inside itself is walked once
            yield from _walk(child, f"{prefix}{name}.", (*path, id(child)))


def named_parameters(module: Any) -> list[tuple[str, Any]]:
    """Every (name, parameter) the module holds, a shared one under each of its names, as nn.Module's
    ``named_parameters(remove_duplicate=False)`` lists them. Buffers are not weights training made (a
    hostile round registered prepared weights as buffers under the parameters' names: a2 80 where the
    work earns 50), so they are never read as trained weights."""
    return list(_walk(module, "", (id(module),)))


def parameters(module: Any) -> list[Any]:
    """The module's parameters, each once, as ``module.parameters()`` of nn.Module lists them."""
    seen: set[int] = set()
    found = []
    for _, tensor in named_parameters(module):
        if id(tensor) not in seen:
            seen.add(id(tensor))
            found.append(tensor)
    return found


def requires_grad(tensor: Any) -> bool:
    """``tensor.requires_grad``, read from the C type (no subclass property answers)."""
    return bool(_torch()["requires_grad"](tensor))
