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
import importlib.util
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


# -- libraries not installed at all: imported, and refused where used ---------------------------------

MAX_LET_THROUGH = 8  # missing libraries one submission may import before its import fails as usual


class RefusingModule(types.ModuleType):
    """A module that imports but refuses every use: each attribute is another such module (what is a
    submodule and what a function cannot be told without the library's files), and calling, indexing
    or looping over one raises :meth:`refusal`. An import nothing uses costs nothing; a use fails the
    checks that reach it, naming what was used. guards' blocked packages are these too."""

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("__") and attribute.endswith("__"):
            raise AttributeError(attribute)  # introspection by the import system, not a use
        child = refusing(type(self), f"{self.__name__}.{attribute}")
        object.__setattr__(self, attribute, child)
        return child

    def refusal(self) -> BaseException:
        raise NotImplementedError

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise self.refusal()

    def __getitem__(self, key: Any) -> Any:
        raise self.refusal()

    def __iter__(self) -> Any:
        raise self.refusal()

    # Asked as a type (``isinstance(x, sys.modules["torch"].Tensor)``, how libraries such as scipy
    # recognise an optional package's values), a stand-in is one that nothing belongs to: no value of a
    # package that is absent or refused can exist here. A refusal would break the library's import.
    def __instancecheck__(self, instance: Any) -> bool:
        return False

    def __subclasscheck__(self, subclass: Any) -> bool:
        return False


def refusing(kind: type[RefusingModule], dotted: str) -> Any:
    """A ``kind`` module named ``dotted``, as a package (its submodules import too)."""
    module = kind(dotted)
    module.__path__ = []
    return module


class MissingModule(RefusingModule):
    """A library that is not installed here, imported by the student's module at its top: code that
    never uses it (pandas read in a training cell, a helper for plots) is graded."""

    def refusal(self) -> BaseException:
        root = self.__name__.split(".")[0]
        return ModuleNotFoundError(
            f"your code used {self.__name__}, but {root} is not installed where grading runs (only the "
            f"assignment's libraries are); if {root} is a file of yours, hand in {root}.py beside your module",
            name=root,
        )


class _MissingLoader(importlib.abc.Loader):
    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        return refusing(MissingModule, spec.name)

    def exec_module(self, module: types.ModuleType) -> None:
        pass


class MissingFinder(importlib.abc.MetaPathFinder):
    """Finds the libraries let through (and their submodules) as :class:`MissingModule`; asked last."""

    def __init__(self) -> None:
        self.roots: list[str] = []

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname.split(".")[0] not in self.roots:
            return None
        return importlib.machinery.ModuleSpec(fullname, _MissingLoader(), is_package=True)


def installed(root: str) -> bool:
    """Whether the top-level package ``root`` can be imported here (where grading runs, the same
    packages as the trusted side's, so the notebook converter asks this too)."""
    try:
        return importlib.util.find_spec(root) is not None
    except (ImportError, ValueError):
        return True  # found, but broken: not for a stand-in to hide


def not_installed(error: ModuleNotFoundError, module: str) -> str | None:
    """The top-level library that ``error`` found missing, where it is missing altogether (not the
    student's own module, not a submodule of an installed package), else None."""
    root = (error.name or "").split(".")[0]
    if not root.isidentifier() or root == module or root in sys.modules or installed(root):
        return None
    return root


def let_through(root: str) -> None:
    """From now on ``import root`` (and its submodules) gives a :class:`MissingModule`."""
    finder = next((f for f in sys.meta_path if isinstance(f, MissingFinder)), None)
    if finder is None:
        finder = MissingFinder()
        sys.meta_path.append(finder)
    if root not in finder.roots:
        finder.roots.append(root)
