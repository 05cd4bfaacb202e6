"""Turn whatever a probe returns into plain data, inside the sandbox.

Student code may hand back tensors, ndarray subclasses, objects with rigged ``__eq__``, generators...
Here everything is copied into fresh base-class numpy arrays and built-in scalars, or refused with a
message that says what was returned. The trusted side never sees the student's objects.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from grader.inside import untouched
from grader.inside.guards import real_module

MAX_DEPTH = 32


class NotPlainData(TypeError):
    """A value cannot be sent back; the message names what it was."""


def to_plain(value: Any, where: str = "result", depth: int = 0) -> Any:
    if depth > MAX_DEPTH:
        raise NotPlainData(f"{where} is nested too deeply")
    # Exact type checks: a subclass of int or str could override anything.
    kind = type(value)
    if value is None or kind in (bool, int, float, str):
        return value
    if isinstance(value, np.generic):  # numpy's own item(), not a subclass's: no student code runs here
        return to_plain(np.generic.item(value), where, depth)
    if _is_tensor(value):
        return tensor_to_numpy(value, where)
    if isinstance(value, np.ndarray):
        return ndarray_copy(value, where)
    if kind in (list, tuple):
        return [to_plain(item, f"{where}[{i}]", depth + 1) for i, item in enumerate(value)]
    if kind is dict:
        out = {}
        for key, item in value.items():
            if type(key) is not str:
                key = _plain_key(key, where)
            out[key] = to_plain(item, f"{where}[{key!r}]", depth + 1)
        return out
    raise NotPlainData(f"{where} is a {_type_name(value)}, which the grader cannot use here")


def _plain_key(key: Any, where: str) -> str:
    if type(key) in (int, bool):
        return str(int(key))
    if isinstance(key, np.integer):
        return str(int(np.generic.item(key)))
    raise NotPlainData(f"{where} has a key of type {_type_name(key)}; use str or int keys")


def _is_tensor(value: Any) -> bool:
    torch = _loaded_torch()
    return torch is not None and isinstance(value, torch.Tensor)


def _loaded_torch() -> Any:
    return real_module("torch")


def tensor_to_numpy(value: Any, where: str) -> np.ndarray:
    """Read through torch's C tensor type, with modes off (grader.inside.untouched): a student's
    redefinition of torch.Tensor's methods does not choose what is read."""
    torch = _loaded_torch()
    base = untouched.tensor_type()
    with untouched.plain():
        tensor = base.cpu(base.detach(value))
        if base.is_complex(tensor):
            raise NotPlainData(f"{where} is a complex tensor; real numbers expected")
        if base.dtype.__get__(tensor) in (torch.bfloat16,):
            tensor = base.to(tensor, torch.float32)
        if base.layout.__get__(tensor) != torch.strided:
            tensor = base.to_dense(tensor)
        return np.array(base.numpy(base.clone(base.contiguous(tensor))), copy=True)


def ndarray_copy(value: np.ndarray, where: str) -> np.ndarray:
    array = np.array(value, copy=True, subok=False)
    if array.dtype.kind not in "biuf":
        raise NotPlainData(f"{where} is a numpy array of dtype {array.dtype}; numbers were expected")
    return array


def _type_name(value: Any) -> str:
    kind = type(value)
    module = getattr(kind, "__module__", "") or ""
    name = getattr(kind, "__qualname__", kind.__name__)
    return name if module in ("builtins", "") else f"{module}.{name}"
