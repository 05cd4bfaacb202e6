"""Run-time enforcement of an assignment's forbidden imports and APIs, inside the sandbox.

The static scan on the trusted side names most uses before anything runs; these guards catch the
dynamic ones (``getattr(nn, "R" + "NN")``). A guard records its use even when student code catches the
exception, so ``try: nn.RNN(...) except Exception: ...`` still counts as using it.
"""

from __future__ import annotations

import importlib
import os
import sys
import types
from typing import Any

used: list[str] = []


class ForbiddenApiUsed(BaseException):
    """Raised when student code touches a forbidden API. BaseException so ``except Exception`` misses it."""


class _BlockedModule(types.ModuleType):
    """Stands in for a blocked package: importing it works, using anything from it is refused.

    So an unused ``import torch`` costs only the check that looks for it, while code that really
    uses torch fails the checks that run it, each with a message naming torch.
    """

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)  # introspection by the import system, not a use
        raise _refuse(f"{self.__name__}.{name}")


def block_imports(names: list[str]) -> None:
    """Replace NAME (loaded in the worker before forking, or not) and its submodules with stand-ins."""
    for name in names:
        keys = [k for k in sys.modules if k == name or k.startswith(name + ".")] or [name]
        for key in set(keys) | {name}:
            stand_in = _BlockedModule(key)
            stand_in.__path__ = []  # type: ignore[attr-defined]
            sys.modules[key] = stand_in


def real_module(name: str) -> Any:
    """``sys.modules[name]`` unless missing or blocked (never touching a stand-in's attributes)."""
    module = sys.modules.get(name)
    if module is None or isinstance(module, _BlockedModule):
        return None
    return module


def forbid_apis(dotted_names: list[str]) -> None:
    """Replace each ``package.attr`` with a guard that records and refuses its use."""
    vf_module = sys.modules.get("torch._VF")  # before any replacement: torch's own kernel table
    for dotted in dotted_names:
        owner_name, _, attr = dotted.rpartition(".")
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
            for alias_owner in _owners_of(original, attr):
                setattr(alias_owner, attr, guard)
            _refuse_in_kernel_table(vf_module, attr, dotted, original)
            _refuse_in_dispatcher(owner_name, attr, dotted)
        setattr(owner, attr, guard)


def _owners_of(original: Any, attr: str) -> list[Any]:
    """Other modules that expose the same object (``torch.nn.modules.rnn.RNN`` for ``torch.nn.RNN``)."""
    owners = []
    for module in list(sys.modules.values()):
        if module is None:
            continue
        try:
            if module.__dict__.get(attr) is original:
                owners.append(module)
        except Exception:
            continue
    return owners


def _refuse_in_kernel_table(vf_module: Any, attr: str, dotted: str, original: Any) -> None:
    """A forbidden kernel (``torch.rnn_tanh``) is also refused where torch's own modules look it up.

    nn.RNN's forward calls ``_VF.rnn_tanh``; without this, reaching the real class some other way
    (``RNNBase.__subclasses__()``) or ``torch._C._VariableFunctions`` would still run it.
    """
    table = getattr(vf_module, "vf", None)
    if table is None or getattr(table, attr, None) is not original:
        return
    if not isinstance(table, _FilteredKernels):
        table = _FilteredKernels(table)
        vf_module.vf = table
    table.refused[attr] = dotted


_libraries: list[Any] = []  # torch.library registrations live as long as these objects


def _refuse_in_dispatcher(owner_name: str, attr: str, dotted: str) -> None:
    """A forbidden torch operator (``torch.rnn_tanh``) also refused by torch's dispatcher.

    That covers every other way to the same kernel: ``torch.ops.aten.rnn_tanh``,
    ``torch._C._VariableFunctions.rnn_tanh``, or nn.RNN's own forward reached around its guard.
    Only operators implemented in terms of others (CompositeImplicitAutograd) can be replaced so.
    """
    torch = real_module("torch")
    if owner_name != "torch" or torch is None:
        return
    try:
        packet = getattr(torch.ops.aten, attr)
        overloads = packet.overloads()
    except (AttributeError, RuntimeError):
        return
    names = [f"{attr}.{overload}" if overload != "default" else attr for overload in overloads]
    key = "CompositeImplicitAutograd"
    names = [n for n in names if torch._C._dispatch_has_kernel_for_dispatch_key(f"aten::{n}", key)]
    if not names:
        return

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise _refuse(dotted)

    import warnings

    library = torch.library.Library("aten", "IMPL")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "overriding a previously registered kernel" is the point
        for name in names:
            library.impl(name, refuse, key)
    _libraries.append(library)


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
        original, package_dir = object.__getattribute__(self, "_original"), object.__getattribute__(self, "_package_dir")
        caller = sys._getframe(1).f_code.co_filename
        if original is not None and package_dir and caller.startswith(package_dir):
            return getattr(original, name)
        raise _refuse(f"{object.__getattribute__(self, '_dotted')}.{name}")
