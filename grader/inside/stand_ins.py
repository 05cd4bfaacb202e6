"""Stand-ins for libraries that only show things, where grading runs without them.

Plots, progress bars, notebook displays and Colab's drive do not change what graded functions return,
and they may be missing in the sandbox (matplotlib, tqdm and the like are not the grader's
dependencies). A student whose machine has them imports them freely, in a notebook or in a ``.py``;
here each import of one that is not installed gives a stand-in whose every use does nothing (tqdm's
passes its iterable through). An installed library is always used itself: the finder comes last.

:data:`SOURCE` is the stand-in class as text: the notebook converter writes it into the module it
makes (grader/intake/notebook.py), and this module runs it, so both work alike.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import types
from typing import Any

# Top-level packages replaced where missing (what a student's own machine has and grading need not).
ROOTS = frozenset({"matplotlib", "mpl_toolkits", "pylab", "seaborn", "plotly", "IPython", "ipywidgets", "tqdm"})
COLAB = "google.colab"  # Colab's drive and files helpers; "google" itself only where no package has it

SOURCE = '''\
class _GraderStandIn:
    """A library missing where grading runs: every use does nothing (tqdm passes its iterable on)."""

    def __init__(self, name, items=()):
        self._name, self._items = name, items

    def __getattr__(self, attribute):
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        return _GraderStandIn(self._name + "." + attribute)

    def __call__(self, *args, **kwargs):
        last = self._name.rsplit(".", 1)[-1]
        if last == "trange":
            return _GraderStandIn(self._name, range(*args))
        if last == "tqdm" and (args or "iterable" in kwargs):
            return _GraderStandIn(self._name, args[0] if args else kwargs["iterable"])
        if last == "subplots":
            rows, cols = (list(args) + [kwargs.get("nrows", 1), kwargs.get("ncols", 1)])[:2]
            count = rows * cols if isinstance(rows, int) and isinstance(cols, int) else 1
            axes = [_GraderStandIn(self._name) for _ in range(min(count, 64))]
            return _GraderStandIn(self._name), axes[0] if count == 1 else _GraderStandIn(self._name, axes)
        return _GraderStandIn(self._name)

    def __iter__(self):
        return iter(self._items)

    def __len__(self):
        try:
            return len(self._items)
        except TypeError:
            return 0

    def __bool__(self):
        return True

    def __getitem__(self, key):
        try:
            return self._items[key]
        except Exception:
            return _GraderStandIn(self._name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def __repr__(self):
        return "<" + self._name + ": not installed where grading runs>"
'''

_namespace: dict[str, Any] = {}
exec(SOURCE, _namespace)  # noqa: S102 - the grader's own text, the one the notebook converter writes out
StandIn: type = _namespace["_GraderStandIn"]


def covers(name: str) -> bool:
    """Whether a missing module ``name`` gets a stand-in."""
    return name.split(".")[0] in ROOTS or name in ("google", COLAB) or name.startswith(COLAB + ".")


class StandInModule(types.ModuleType):
    """A missing library's module: each attribute a stand-in."""

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        return StandIn(f"{self.__name__}.{attribute}")


class _Loader(importlib.abc.Loader):
    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        return StandInModule(spec.name)

    def exec_module(self, module: types.ModuleType) -> None:
        pass  # nothing to run: every attribute is made when asked for


class StandInFinder(importlib.abc.MetaPathFinder):
    """Asked last, so only for a covered module no other finder found."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if not covers(fullname):
            return None
        return importlib.machinery.ModuleSpec(fullname, _Loader(), is_package=True)


def install() -> None:
    if not any(isinstance(finder, StandInFinder) for finder in sys.meta_path):
        sys.meta_path.append(StandInFinder())
