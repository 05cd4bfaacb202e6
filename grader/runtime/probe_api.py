"""What probe authors use inside the sandbox: the device, seeding, and checks on student return values.

A probe is a plain function ``probe(student, **args)`` in an assignment's ``probes.py``. It calls the
student's module, converts what comes back with the helpers below (which raise :class:`ProbeFailure`
with a message a student understands), and returns plain data for the judges.
"""

from __future__ import annotations

import random
from typing import Any, Iterable

import numpy as np

from .guards import real_module
from .plain import NotPlainData, to_plain

_state = {"device": "cpu"}


class ProbeFailure(Exception):
    """The student's code returned something the probe cannot use; the message is shown as is."""


class MissingName(ProbeFailure):
    """The student's module lacks a function or class the assignment asks for."""


def device() -> str:
    """The device the probes of this run use ("cpu" or "cuda")."""
    return _state["device"]


def set_device(name: str) -> None:
    _state["device"] = name


def torch_device() -> Any:
    import torch

    return torch.device(device())


def seed_everything(seed: int) -> None:
    """Seed every generator a student's code might draw from, so runs are reproducible."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch = real_module("torch")
    if torch is not None:
        torch.manual_seed(seed)


def as_array(value: Any, what: str, *, ndim: int | None = None) -> np.ndarray:
    """A numpy copy of a student's tensor/array/list, or a clear :class:`ProbeFailure`."""
    if value is None:
        raise ProbeFailure(f"{what} is None: did you forget a return statement?")
    try:
        plain = to_plain(value, what)
    except NotPlainData as exc:
        raise ProbeFailure(str(exc)) from None
    if isinstance(plain, list):
        try:
            plain = np.asarray(plain, dtype=np.float64)
        except (TypeError, ValueError):
            raise ProbeFailure(f"{what} is a list that is not a rectangular array of numbers") from None
    if not isinstance(plain, np.ndarray):
        raise ProbeFailure(f"{what} is a {type(value).__name__}; an array was expected")
    if ndim is not None and plain.ndim != ndim:
        raise ProbeFailure(
            f"{what} has {plain.ndim} dimensions (shape {tuple(plain.shape)}); {ndim} were expected"
        )
    return plain


def unpack(value: Any, what: str, names: Iterable[str]) -> tuple:
    """Check that a function returned a tuple of the documented length, e.g. ``(hs, cache)``."""
    names = tuple(names)
    if not isinstance(value, (tuple, list)) or len(value) != len(names):
        shown = type(value).__name__
        if isinstance(value, (tuple, list)):
            shown = f"{shown} of length {len(value)}"
        raise ProbeFailure(f"{what} must return a tuple ({', '.join(names)}); it returned a {shown}")
    return tuple(value)


def as_number(value: Any, what: str) -> float:
    try:
        plain = to_plain(value, what)
    except NotPlainData as exc:
        raise ProbeFailure(str(exc)) from None
    if isinstance(plain, np.ndarray) and plain.size == 1:
        plain = plain.reshape(()).item()
    if type(plain) not in (int, float):
        raise ProbeFailure(f"{what} is a {type(value).__name__}; a number was expected")
    return float(plain)


class StudentModule:
    """The student's module as probes see it: a missing name is a clear failure, not AttributeError."""

    def __init__(self, module: Any, filename: str) -> None:
        object.__setattr__(self, "_module", module)
        object.__setattr__(self, "_filename", filename)

    def __getattr__(self, name: str) -> Any:
        module = object.__getattribute__(self, "_module")
        try:
            return getattr(module, name)
        except AttributeError:
            filename = object.__getattribute__(self, "_filename")
            raise MissingName(f"{filename} does not define `{name}` (check the spelling)") from None
