"""Run-time enforcement of an assignment's forbidden imports and APIs, inside the sandbox.

The static scan on the trusted side names most uses before anything runs; these guards catch the
dynamic ones (``getattr(nn, "R" + "NN")``). A guard records its use even when student code catches the
exception, so ``try: nn.RNN(...) except Exception: ...`` still counts as using it.
"""

from __future__ import annotations

import importlib
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
        for alias_owner in _owners_of(original, attr):
            setattr(alias_owner, attr, guard)
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


def _refuse(dotted: str) -> ForbiddenApiUsed:
    if dotted not in used:
        used.append(dotted)
    return ForbiddenApiUsed(f"{dotted} is not allowed in this assignment")


def _make_guard(dotted: str, original: Any) -> Any:
    if isinstance(original, type):

        class Guard(original):  # type: ignore[misc, valid-type]
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
    return _ForbiddenNamespace(dotted)


def _is_module_like(value: Any) -> bool:
    return type(value).__name__ in ("module", "VFModule")


class _ForbiddenNamespace:
    def __init__(self, dotted: str) -> None:
        object.__setattr__(self, "_dotted", dotted)

    def __getattr__(self, name: str) -> Any:
        raise _refuse(f"{object.__getattribute__(self, '_dotted')}.{name}")
