"""What can be learnt from a submission's source without running it: syntax errors, forbidden imports
and uses of forbidden APIs (resolving ``import torch.nn as nn`` so ``nn.RNN`` is seen as
``torch.nn.RNN``, and catching ``class MyRNN(nn.RNN)`` and ``getattr(torch, "rnn_tanh")``).

An **integrity scan** also flags code that reaches around what the grader runs in the student's own
process (ctypes, ``gc`` object walks, ``sys.modules`` surgery, import hooks, importing the grader,
starting another program (``subprocess``, ``os.exec*``: a new interpreter has no guards), computed
access to torch internals, ``exec`` of built strings: see :class:`_IntegrityScan`). The run-time guards
of forbidden APIs and blocked imports live there, and so do the measurements of training (the optimizer
steps counted, the weights kept after each step): such code could undo the one or forge the other. A
flag lists the student for the instructor's review in every assignment; it fails the assignment's
forbidden-API (or numpy-only) check, and a flag that reaches into the process (:attr:`StaticFindings.reaching`)
fails the training checks (``grader.judging.plugin._refuse_unmeasurable_training``).

Where an assignment grades gradients worked out by hand (a1's backpropagation through time), the scan
also flags **arithmetic that differentiates the forward mechanically** to rounding (complex numbers for
the complex step, extended precision or exact and symbolic arithmetic for differences, number types of
the submission's own for dual numbers): such gradients equal backpropagation's to the last digit, so no
comparison of values can tell them apart. The assignment's gradient checks fail on a flag, and the
student is listed for review. Helper files the module imports are scanned too (:func:`imported_helpers`).

Parsing happens in the trusted process, but parsing never runs code; the size of the source is
capped before it gets here.
"""

from __future__ import annotations

import ast
import functools
import io
import sys
import threading
import tokenize
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePath

REVIEW = "reaches around the course's rules: flagged for your instructor's review"
MAX_FLAGS = 20  # integrity findings kept per file
MAX_CONSTRUCT = 80  # characters of one flagged construct


@dataclass
class StaticFindings:
    syntax_error: str | None = None
    blocked_imports: list[tuple[int, str]] = field(default_factory=list)  # (line, module)
    forbidden_uses: list[tuple[int, str]] = field(default_factory=list)  # (line, dotted name)
    # (line, construct) that reaches around the guards; also in forbidden_uses (assignments with
    # forbidden APIs) and blocked_imports (with blocked imports), so their checks fail on it.
    integrity: list[tuple[int, str]] = field(default_factory=list)
    # (line, construct) computing in a kind of arithmetic the assignment flags (``flagged_arithmetic``)
    arithmetic: list[tuple[int, str]] = field(default_factory=list)
    locate: Callable[[str], str] = field(default=str, repr=False, compare=False)  # module lines -> notebook cells
    # entries found in a helper file beside the module (entry -> that file's name); the rest are the module's
    files: dict[tuple[int, str], str] = field(default_factory=dict)

    def include(self, helper: StaticFindings, filename: str) -> None:
        """Add what the scan found in a helper file the module may import (``gradtools.py``): code moved
        out of the module is still the submission's, and runs in the same process."""
        for mine, found in (
            (self.blocked_imports, helper.blocked_imports),
            (self.forbidden_uses, helper.forbidden_uses),
            (self.integrity, helper.integrity),
            (self.arithmetic, helper.arithmetic),
        ):
            for entry in found:
                if entry not in mine:
                    mine.append(entry)
                    self.files[entry] = filename

    def _where(self, entry: tuple[int, str], module_file: str) -> str:
        return f"{self.files.get(entry, module_file)}, line {entry[0]}"

    def _listed(self, entries: list[tuple[int, str]], filename: str) -> str:
        """```gc.get_objects` (craft_rnn.py, line 12), ...`` for the first five, then how many more."""
        module_file = _module_file(filename)
        shown = ", ".join(f"`{entry[1]}` ({self._where(entry, module_file)})" for entry in entries[:5])
        return shown + (f" and {len(entries) - 5} more" if len(entries) > 5 else "")

    def describe_blocked(self, filename: str) -> str:
        return self._describe_with_integrity(self.blocked_imports, filename, "imports")

    def describe_forbidden(self, filename: str) -> str:
        return self._describe_with_integrity(self.forbidden_uses, filename, "uses")

    def describe_integrity(self, filename: str) -> str:
        """``craft_rnn.py reaches around ...: It uses `gc.get_objects` (craft_rnn.py, line 12)``."""
        return self._review_sentence(self.integrity, filename)

    def _review_sentence(self, entries: list[tuple[int, str]], filename: str) -> str:
        if not entries:
            return ""
        return self.locate(f"{filename} {REVIEW}. It uses {self._listed(entries, filename)}")

    @property
    def reaching(self) -> list[tuple[int, str]]:
        """The integrity findings that could reach what the grader keeps in the student's process (its
        probes, the training's bookkeeping): walks of objects and frames, importing the grader,
        ``sys.modules``, code run from built strings. Starting a program, unpickling, a private torch
        name or ``importlib.reload`` are flagged for review too, but are honest often enough (a
        ``gpu_info`` helper, a vocabulary saved with pickle, a scheduler subclassing ``_LRScheduler``)
        not to cost the training checks on their own."""
        return [entry for entry in self.integrity if reaches_into_process(entry[1])]

    def describe_reaching(self, filename: str) -> str:
        """:meth:`describe_integrity` for :attr:`reaching` only."""
        return self._review_sentence(self.reaching, filename)

    def describe_arithmetic(self, filename: str) -> str:
        """``srn.py computes with `1j` (srn.py, line 96) ...``: why the gradient checks give nothing."""
        if not self.arithmetic:
            return ""
        return self.locate(
            f"{filename} computes with {self._listed(self.arithmetic, filename)}: gradients found by differentiating the forward "
            "mechanically (a complex step, differences in extended or exact arithmetic, dual numbers) equal "
            "backpropagation's to rounding, but backpropagation is what these points are for; "
            "flagged for your instructor's review"
        )

    def review(self, filename: str, locate: Callable[[str], str] = str) -> list[str]:
        """The flags as the instructor's overview lists them (``craft_rnn.py, line 12: gc.get_objects``).
        Also keeps ``locate``, so the checks' messages name notebook cells as the flags do."""
        self.locate = locate
        module_file = _module_file(filename)
        flagged = [(entry, entry[1]) for entry in self.integrity]
        flagged += [(entry, f"{entry[1]} (numerical differentiation?)") for entry in self.arithmetic]
        flagged.sort(key=lambda item: (self.files.get(item[0], ""), item[0]))
        return [locate(f"{self._where(entry, module_file)}: {what}") for entry, what in flagged]

    def _describe_with_integrity(self, found: list[tuple[int, str]], filename: str, verb: str) -> str:
        plain = [entry for entry in found if entry not in self.integrity]
        flagged = any(entry in found for entry in self.integrity)
        # in a notebook the lines are the converted module's: named with its file, locate points at cells
        named = _describe(plain, filename, verb, self.files, _module_file(filename))
        located = self.locate(named)
        parts = [
            located if located != named else _describe(plain, filename, verb, self.files),
            self.describe_integrity(filename) if flagged else "",
        ]
        return "; ".join(part for part in parts if part)


def analyse(
    source: str,
    filename: str,
    blocked: tuple[str, ...] = (),
    forbidden: tuple[str, ...] = (),
    arithmetic: tuple[str, ...] = (),
) -> StaticFindings:
    """``arithmetic``: the kinds of :data:`ARITHMETIC` to flag (an assignment's ``flagged_arithmetic``)."""
    findings = StaticFindings()
    try:
        tree = ast.parse(source, filename=filename)
    except SyntaxError as exc:
        findings.syntax_error = syntax_message(exc, filename)
        return findings
    except (ValueError, RecursionError, MemoryError) as exc:
        findings.syntax_error = f"{filename} cannot be parsed ({type(exc).__name__}: nested too deeply?)"
        return findings
    visitor = _IntegrityScan(blocked, forbidden, tree, arithmetic)
    visitor.main_block_runs, writes = name_changes(tree)
    visitor.integrity += [
        (line, f"{what} (then `if __name__ == \"__main__\":` runs when graded)") for line, what in writes
    ]
    try:
        _with_deep_stack(lambda: visitor.visit(tree))
    except RecursionError:  # deeper than any interpreter imports: Python would refuse the file too
        findings.syntax_error = f"{filename} cannot be parsed (RecursionError: nested too deeply?)"
        return findings
    findings.integrity = _most_specific(visitor.integrity)[:MAX_FLAGS]
    findings.arithmetic = sorted(visitor.arithmetic)[:MAX_FLAGS]
    findings.blocked_imports = visitor.blocked + (findings.integrity if blocked else [])
    findings.forbidden_uses = visitor.forbidden + (findings.integrity if forbidden else [])
    return findings


def imported_helpers(source: str, helpers: dict[str, bytes]) -> dict[str, str]:
    """The helper files (name -> text) that the module imports, directly or through each other
    (:func:`_imported_modules`): the code that runs with it. A file it never imports (the student's own
    tests comparing with nn.RNN) does not run when grading imports the module; importing by a computed
    name is itself flagged where a scan runs."""
    texts: dict[str, str] = {}
    for name, raw in helpers.items():
        if name.endswith(".py") and b"\0" not in raw:
            try:  # as Python reads it: a BOM or a coding cookie
                encoding, _ = tokenize.detect_encoding(io.BytesIO(raw).readline)
                texts[name[:-3]] = raw.decode(encoding)
            except (SyntaxError, LookupError, UnicodeDecodeError):
                continue  # Python cannot import it either
    reached: dict[str, str] = {}
    pending = [source]
    while pending:
        for module in _imported_modules(pending.pop()):
            if module in texts and f"{module}.py" not in reached:
                reached[f"{module}.py"] = texts[module]
                pending.append(texts[module])
    return reached


@functools.lru_cache(maxsize=16)  # a submission's module, its helpers and the strings they exec
def _imported_modules(source: str, depth: int = 0) -> frozenset[str]:
    """Modules the source imports when it runs as the graded module: import statements,
    ``importlib.import_module("x")`` / ``__import__("x")`` with a constant, and the same inside an
    ``exec`` of a constant string; not what only ``if __name__ == "__main__":`` imports. Remembered by
    text: a submission asks it when it is hashed, when its files are shipped and when it is scanned
    (a few milliseconds each)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return frozenset()
    found: set[str] = set()
    pending: list[ast.AST] = [tree]
    main_block_runs, _ = name_changes(tree)
    importers = {"import_module", "__import__"}  # and the names they are imported as
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "importlib":
            importers.update(a.asname for a in node.names if a.name in ("import_module", "__import__") and a.asname)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If) and _is_main_guard(node.test) and not main_block_runs:
            pending.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func, text = node.func, node.args[0].value
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name in importers and isinstance(text, str):
                found.add(text.split(".")[0])
            elif name in CODE_RUNNERS and isinstance(text, str) and depth < 3:
                found |= _imported_modules(text, depth + 1)
        pending.extend(ast.iter_child_nodes(node))
    return frozenset(found)


def _with_deep_stack(walk: Callable[[], None]) -> None:
    """Run a recursive walk of the tree where a valid file's depth cannot exhaust the stack: a
    700-term ``a + a + ...`` parses and imports, so scanning it must not fail (the student would be
    charged for the grader's recursion). A thread with a large stack and a high recursion limit."""
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            walk()
        except BaseException as exc:  # handed back to the caller's thread
            outcome.append(exc)

    old_limit, old_stack = sys.getrecursionlimit(), threading.stack_size()
    try:
        threading.stack_size(DEEP_STACK_BYTES)
        sys.setrecursionlimit(max(old_limit, DEEP_RECURSION))
        thread = threading.Thread(target=run, name="integrity-scan")
        thread.start()
        thread.join()
    finally:
        threading.stack_size(old_stack)
        sys.setrecursionlimit(old_limit)
    if outcome:
        raise outcome[0]


DEEP_STACK_BYTES = 512 * 2**20
DEEP_RECURSION = 200_000


def syntax_message(exc: SyntaxError, filename: str) -> str:
    where = f"line {exc.lineno}" + (f", column {exc.offset}" if exc.offset else "")
    text = (exc.text or "").rstrip("\n")
    shown = f":\n    {text.strip()}" if text.strip() else ""
    return f"{filename} has a syntax error ({exc.msg}) at {where}{shown}"


class _Visitor(ast.NodeVisitor):
    def __init__(self, blocked: tuple[str, ...], forbidden: tuple[str, ...]) -> None:
        self.blocked_roots = blocked
        self.forbidden_names = forbidden
        self.aliases: dict[str, str] = {}  # local name -> dotted module/object path
        self.blocked: list[tuple[int, str]] = []
        self.forbidden: list[tuple[int, str]] = []
        self.main_block_runs = False  # the module may change its __name__ (name_changes)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._note_import(node.lineno, alias.name)
            local = alias.asname or alias.name.split(".")[0]
            self.aliases[local] = alias.name if alias.asname else alias.name.split(".")[0]

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level or not node.module:
            return
        self._note_import(node.lineno, node.module)
        for alias in node.names:
            dotted = f"{node.module}.{alias.name}"
            self.aliases[alias.asname or alias.name] = dotted
            self._note_use(node.lineno, dotted)

    def visit_If(self, node: ast.If) -> None:
        if _is_main_guard(node.test) and not self.main_block_runs:
            # `if __name__ == "__main__":` never runs when the module is imported for grading, so a
            # student comparing with nn.RNN there is not using it; the `else:` branch does run.
            for statement in node.orelse:
                self.visit(statement)
            return
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        dotted = self._resolve(node)
        if dotted:
            self._note_use(node.lineno, dotted)
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in self.aliases:
            self._note_use(node.lineno, self.aliases[node.id])

    def visit_Call(self, node: ast.Call) -> None:
        # getattr(torch, "rnn_tanh") and __import__("torch") / importlib.import_module("torch")
        name = self._resolve(node.func) or (node.func.id if isinstance(node.func, ast.Name) else "")
        literal = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
        if name == "getattr" and len(node.args) >= 2 and literal:
            owner = self._resolve(node.args[0])
            if owner:
                self._note_use(node.lineno, f"{owner}.{literal[0]}")
        if name in ("__import__", "importlib.import_module") and literal:
            self._note_import(node.lineno, literal[0])
        self.generic_visit(node)

    def _resolve(self, node: ast.AST) -> str:
        if isinstance(node, ast.Name):
            return self.aliases.get(node.id, "")
        if isinstance(node, ast.Attribute):
            base = self._resolve(node.value)
            return f"{base}.{node.attr}" if base else ""
        return ""

    def _note_import(self, line: int, module: str) -> None:
        for root in self.blocked_roots:
            if module == root or module.startswith(root + "."):
                self.blocked.append((line, module))

    def _note_use(self, line: int, dotted: str) -> None:
        for name in self.forbidden_names:
            if _names_same_api(dotted, name):
                if (line, name) not in self.forbidden:
                    self.forbidden.append((line, name))


# -- the integrity scan ------------------------------------------------------------------------------

# Importing these at all: raw memory (ctypes, cffi), code from bytes (marshal), the grader's own runtime
# and probes, other programs (a new interpreter starts without the guards; where APIs are forbidden the
# sandbox refuses to start one anyway, see grader.inside.lockdown.refuse_new_programs).
ESCAPE_MODULES = (
    *("ctypes", "_ctypes", "cffi", "marshal", "runpy", "grader", "assignment_probes"),
    *("subprocess", "_posixsubprocess", "pty"),
    # Modules by names in strings, or code from files: nothing a graded module needs.
    *("codeop", "pydoc", "pkgutil", "zipimport", "site"),
    *("_frozen_importlib", "_frozen_importlib_external", "_imp"),  # the import machinery's own copies
)
# Starting another program through os.
PROGRAM_STARTERS = tuple(
    f"os.{name}"
    for name in (
        "system", "popen", "posix_spawn", "posix_spawnp", "forkpty",
        "execl", "execle", "execlp", "execlpe", "execv", "execve", "execvp", "execvpe",
        "spawnl", "spawnle", "spawnlp", "spawnlpe", "spawnv", "spawnve", "spawnvp", "spawnvpe",
    )
)  # fmt: skip
# Any use of these names, however they were imported: object walks, import machinery, frames, code
# objects built at run time.
ESCAPE_NAMES = (
    "gc.get_objects",
    "gc.get_referrers",
    "gc.get_referents",
    "importlib.reload",
    "importlib.machinery",
    "importlib.util.spec_from_file_location",
    "importlib.util.module_from_spec",
    "sys.meta_path",
    "sys.path_hooks",
    "sys.path_importer_cache",
    "sys._getframe",
    "sys._current_frames",
    "sys._current_exceptions",
    "traceback.walk_stack",
    "traceback.walk_tb",
    "inspect.getargvalues",
    "inspect.getclosurevars",
    "inspect.getinnerframes",
    "inspect.trace",
    "sys.settrace",
    "sys.setprofile",
    "threading.settrace",
    "inspect.currentframe",
    "logging.currentframe",  # sys._getframe called by the standard library for the student's code
    "inspect.stack",
    "inspect.getouterframes",
    "inspect.getmembers",
    "types.FunctionType",
    "types.CodeType",
    "pickle.loads",
    "pickle.load",
    "pickle.Unpickler",
    "_pickle",  # the same unpickler under its C module's name
    *("pickle._loads", "pickle._load", "pickle._Unpickler"),  # and its Python one's
    "multiprocessing.reduction",  # ForkingPickler.loads
    # YAML's loaders that build any Python object (`!!python/object/apply:builtins.exec`): a hostile round
    # ran a handed-in .yaml file's code so; yaml.safe_load stays unflagged.
    *("yaml.unsafe_load", "yaml.unsafe_load_all", "yaml.full_load", "yaml.full_load_all", "yaml.Loader"),
    *("yaml.UnsafeLoader", "yaml.FullLoader", "yaml.constructor", "yaml.loader", "yaml.unsafe"),
    # importlib's private modules hold the same loaders as importlib.machinery (a hostile round loaded a
    # .txt file as a module through importlib._bootstrap_external.SourceFileLoader)
    *("importlib._bootstrap", "importlib._bootstrap_external", "importlib.util.spec_from_loader"),
    *("importlib.abc", "importlib.util.LazyLoader"),
    "torch.package",
    # Annotations given as strings are evaluated by typing.get_type_hints and inspect.get_annotations
    # (`def f() -> "exec(...)"`: a hostile round): the strings are scanned as code, annotations written at
    # run time (`__annotations__`) are flagged, and these evaluate any string given them.
    *("typing.ForwardRef", "typing._eval_type"),
    "timeit.main",  # timeit's command line: statements as strings
    *("logging.config.DictConfigurator", "logging.config.BaseConfigurator", "logging.config.dictConfigClass"),
    "shelve",
    "dill",
    "cloudpickle",
    "joblib.load",
    "pandas.read_pickle",
    "operator.attrgetter",
    "operator.methodcaller",
    "builtins.__import__",
    "torch.jit.CompilationUnit",  # TorchScript compiled from a string the scan cannot read
    "torch.utils.cpp_extension",  # C++ compiled from strings
    "numpy.f2py",  # Fortran compiled from strings
    # Code from strings, or a hook on every frame, by another name than exec: a hostile round ran a
    # base64-decoded complex-step backward through code.InteractiveInterpreter().runsource, unflagged.
    # Their modules stay importable (a regression round: `import pdb` for a debugging line, profiling
    # with `cProfile.Profile()`, doctests under the main guard); what runs a string is flagged.
    *("code.InteractiveInterpreter", "code.InteractiveConsole", "code.interact", "code.compile_command"),
    *("pdb.run", "pdb.runeval", "pdb.runctx", "pdb.Pdb", "bdb.Bdb", "trace.Trace"),
    *("profile.run", "profile.runctx", "profile.Profile", "cProfile.run", "cProfile.runctx"),
    *("doctest.testmod", "doctest.testfile", "doctest.run_docstring_examples", "doctest.DocTestRunner"),
    *("doctest.DocTestParser", "doctest.DocTestFinder", "doctest.DocTestSuite", "doctest.DocFileSuite"),
    *("doctest.script_from_examples", "doctest.debug", "doctest.debug_src", "doctest.debug_script"),
    *("logging.config.listen", "logging.config.fileConfig"),  # a configuration's strings are evaluated
    "sys.breakpointhook",
    "sys.addaudithook",
    "sys.monitoring",
    "threading.setprofile",
    "threading.setprofile_all_threads",
    "threading.settrace_all_threads",
    *PROGRAM_STARTERS,
    # Arrays over memory numpy never allocated, without bounds (a hostile round read and wrote the
    # training bookkeeping's objects through them, found by id(), unflagged): see ARRAY_PROTOCOLS.
    *("numpy.lib.stride_tricks.as_strided", "numpy.lib._stride_tricks_impl", "numpy.lib.stride_tricks.DummyArray"),
)
# The protocols by which an object tells numpy or torch where its data lies: a made-up object naming any
# address (``{"data": (id(x), False), "typestr": "|O", ...}``) reads and writes any memory of the process,
# objects included, in plain Python (a hostile round reset the training bookkeeping so: a2 90 and a5
# 94.68 where the work earns 60 and 68). Honest code uses the arrays of numpy and torch, never defines or
# reads these: defining, reading or naming one is flagged.
ARRAY_PROTOCOLS = frozenset(
    {"__array_interface__", "__array_struct__", "__cuda_array_interface__", "__dlpack__", "__dlpack_device__"}
)
# Names under which other modules hand out ctypes itself, or raw memory (``np.ctypeslib.ctypes``,
# ``array.ctypes._ctypes``, ``multiprocessing.sharedctypes``): a hostile round reached the C library
# through numpy, unflagged, where ``import ctypes`` was flagged.
RAW_MEMORY = frozenset({"ctypes", "_ctypes", "ctypeslib", "sharedctypes", "cffi"})
# Attributes that lead from any object to others it was never meant to expose (the real class behind a
# guard, a function's module globals, the caller's frame), and the raw-memory names above.
ESCAPE_ATTRIBUTES = (
    RAW_MEMORY
    | ARRAY_PROTOCOLS
    | frozenset(
        {
            "__subclasses__",
            "__globals__",
            "__builtins__",
            "__code__",
            "__closure__",
            "__getattribute__",
            "f_globals",
            "f_locals",
            "f_back",
            "f_builtins",
            "tb_frame",
            "gi_frame",
            "cr_frame",
            "ag_frame",
            "get_stack",  # an asyncio task's frames, read by the library (up to the grader's, by f_back)
            "exec_module",  # a loader run by hand never asks the import system what may be imported
            "load_module",
        }
    )
)
# Computed names on these reach anything in them (``getattr(sys, name)``).
ESCAPE_ROOTS = frozenset(
    {"sys", "builtins", "importlib", "gc", "inspect", "types", "ctypes", "grader", "os"}
    | {"traceback", "logging"}  # their helpers hand out frames (walk_stack, walk_tb, currentframe)
)
CODE_RUNNERS = frozenset({"exec", "eval", "compile"})
# Loaders that unpickle where told to: a pickle calls whatever it names (``exec`` of a string the scan
# never reads), so loading one is unpickling. name -> (keyword, its position when given positionally,
# the value that keeps pickles out).
UNPICKLING_LOADERS = {
    "numpy.load": ("allow_pickle", 2, False),
    "numpy.lib.npyio.load": ("allow_pickle", 2, False),
    "numpy.lib.format.read_array": ("allow_pickle", 1, False),
    "torch.load": ("weights_only", None, True),
    "torch.serialization.load": ("weights_only", None, True),
}
# Timing a statement given as a string runs it: a constant is scanned as code, a lambda is code the scan
# reads already, anything else is flagged (``timeit.timeit(lambda: f(x))`` times honestly).
STATEMENT_RUNNERS = frozenset({"timeit.timeit", "timeit.repeat", "timeit.Timer", "torch.utils.benchmark.Timer"})
# Modules whose objects run a statement given as a string (``cProfile.Profile().run("...")``): where one
# is imported, ``x.run(...)`` / ``x.runctx(...)`` / ``x.runeval(...)`` of anything but a function is flagged.
STATEMENT_RUNNER_MODULES = frozenset({"cProfile", "profile", "pdb", "bdb", "trace"})
STATEMENT_RUNNER_METHODS = frozenset({"run", "runctx", "runeval"})
# unittest.mock's patches name what they replace in a string: flagged where that is a library the probes
# share the process with, the import machinery, or a name the scan cannot read.
PATCHERS = frozenset({"unittest.mock.patch", "unittest.mock.patch.multiple", "unittest.mock.patch.dict"})
IMPORTERS = frozenset({"__import__", "importlib.import_module", "importlib.__import__"})
# Builtins that, passed around as values, run or reach what the scan cannot see (``e = eval``).
INDIRECT = CODE_RUNNERS | {"__import__", "getattr", "vars"}


# Arithmetic in which a numerical derivative of the forward equals backpropagation's to rounding, by kind
# (an assignment's ``flagged_arithmetic``): modules, numpy names, and dtype names as strings.
ARITHMETIC: dict[str, dict[str, frozenset[str]]] = {  # the kinds: grader.course.model.ARITHMETIC_KINDS
    "complex": {
        "modules": frozenset({"cmath"}),
        "numpy": frozenset(
            {"complex64", "complex128", "complex256", "complex_", "cdouble", "csingle", "cfloat", "clongdouble"}
            | {"clongfloat", "complexfloating", "imag", "emath", "lib.scimath"}
            | {"fft", "roots", "polynomial", "linalg.eig", "linalg.eigvals"}  # complex results from real inputs
            | {"real", "real_if_close", "angle", "conj", "conjugate"}  # reading a complex result
        ),
        "dtypes": frozenset({"complex", "complex64", "complex128", "complex256", "c8", "c16", "c32", "F", "D", "G"}),
    },
    "extended": {
        "modules": frozenset(),
        "numpy": frozenset({"longdouble", "longfloat", "float128", "float96", "clongdouble", "clongfloat"}),
        "dtypes": frozenset({"longdouble", "float128", "float96", "f16", "f12", "g", "G"}),
    },
    "exact": {
        "modules": frozenset({"decimal", "fractions", "mpmath", "sympy", "gmpy2"}),
        "numpy": frozenset(),
        "dtypes": frozenset(),
    },
    # Number types of the submission's own (dual numbers carrying derivatives through the forward): a
    # class that defines arithmetic operators or takes part in numpy's ufuncs.
    "overloaded": {"modules": frozenset(), "numpy": frozenset(), "dtypes": frozenset()},
}
# numpy functions that take a dtype among their positional arguments (np.zeros(3, "D")).
DTYPE_TAKERS = frozenset(
    {"zeros", "ones", "empty", "full", "array", "asarray", "asanyarray", "arange", "eye", "identity"}
    | {"zeros_like", "ones_like", "empty_like", "full_like", "frombuffer", "fromiter", "linspace"}
)
OPERATORS = frozenset(
    f"__{name}__"
    for base in ("add", "sub", "mul", "matmul", "truediv", "pow", "neg")
    for name in (base, f"r{base}", f"i{base}")
) | {"__array_ufunc__", "__array_function__", "__array_priority__"}


class _IntegrityScan(_Visitor):
    """The uses of :class:`_Visitor` plus constructs that reach around the guards, each with its line.

    Honest code is not flagged: ``torch.stack``, ``torch.tanh``, ``getattr(torch, "tanh")``,
    ``getattr(torch, self.nonlinearity)`` (a computed name on torch's public namespace, whose forbidden
    names the guards cover), ``getattr(self, f"weight_ih_l{k}")``, ``self.__dict__`` and ``vars(self)``
    (the student's own objects), ``gc.collect()``, ``"google.colab" in sys.modules``, and ``exec`` of a
    constant string (scanned like the rest of the file).
    """

    def __init__(
        self, blocked: tuple[str, ...], forbidden: tuple[str, ...], tree: ast.AST, arithmetic: tuple[str, ...] = ()
    ) -> None:
        super().__init__(blocked, forbidden)
        self.integrity: list[tuple[int, str]] = []
        kinds = [ARITHMETIC[kind] for kind in arithmetic if kind in ARITHMETIC]
        self.arithmetic: list[tuple[int, str]] = []
        self.arithmetic_modules = frozenset().union(*(kind["modules"] for kind in kinds))
        self.arithmetic_numpy = frozenset().union(*(kind["numpy"] for kind in kinds))
        self.arithmetic_dtypes = frozenset().union(*(kind["dtypes"] for kind in kinds))
        self.complex_flagged = "complex" in arithmetic
        self.overloaded_flagged = "overloaded" in arithmetic
        self.parents = _parents(tree)
        self.shadowed = _assigned_names(tree)  # `def compile(...)`: then compile(...) is not the builtin
        self.functions = _functions_only(tree)  # names bound by `def` alone: code, never a string
        self.literals = _dict_literals(tree)  # names bound once, to a dict literal
        self.reloads_own: set[int] = set()  # `importlib.reload` nodes whose argument is the student's own module
        self.classes_of_objects: set[str] = set()  # names bound to `type(x)` or `x.__class__` (x not self/cls)
        self.depth = 0  # of exec'd constant strings within each other

    def visit_Import(self, node: ast.Import) -> None:
        super().visit_Import(node)
        for alias in node.names:
            self._check_module(node.lineno, alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        super().visit_ImportFrom(node)
        if node.module and not node.level:
            self._check_module(node.lineno, node.module)
            for alias in node.names:
                self._check_dotted(node.lineno, f"{node.module}.{alias.name}")

    def visit_Assign(self, node: ast.Assign) -> None:
        # `t = torch`, `m = importlib.import_module("torch")`: later `t._C` or `m.__dict__` are seen
        target = node.targets[0] if len(node.targets) == 1 else None
        dotted = self._resolve(node.value)
        if isinstance(target, ast.Name) and dotted:
            self.aliases[target.id] = dotted
        if isinstance(target, ast.Name) and _class_of_object(node.value):
            self.classes_of_objects.add(target.id)
        for each in node.targets:
            self._replaced(each)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._replaced(node.target)
        self.generic_visit(node)

    def visit_Delete(self, node: ast.Delete) -> None:
        for each in node.targets:
            self._replaced(each)
        self.generic_visit(node)

    def _replaced(self, target: ast.expr) -> None:
        """``np.sum = ...``: a function of a library the grader's probes call too, replaced in the process
        they share (torch.backends' switches are settings, not functions)."""
        if isinstance(target, ast.Attribute):
            owner = self._resolve(target.value)
            if owner == "sys" and target.attr in ("stdin", "__stdin__"):  # a debugger reads its commands there
                self._flag(target.lineno, f"sys.{target.attr} replaced")
            if _shared_library(owner):
                self._flag(target.lineno, f"{owner}.{target.attr} replaced")
            elif self._class_of_object(target.value):
                self._flag(target.lineno, f"{CLASS_CHANGED}: {self._shown(target.value)}.{target.attr} = …")

    def _class_of_object(self, node: ast.expr) -> bool:
        """``type(x)``, ``x.__class__`` or a name bound to one (x not ``self``/``cls``): a class whose
        attributes are changed through an object, as torch.Tensor's are through ``type(t)``."""
        return _class_of_object(node) or (isinstance(node, ast.Name) and node.id in self.classes_of_objects)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        parent = self.parents.get(node)
        if node.attr == "__annotations__" and (
            not isinstance(node.ctx, ast.Load)
            or (isinstance(parent, ast.Subscript) and parent.value is node and not isinstance(parent.ctx, ast.Load))
        ):
            self._flag(node.lineno, "__annotations__ written at run time")
        dotted = self._resolve(node)
        if dotted:
            self._check_dotted(node.lineno, dotted, node)
        if node.attr in ESCAPE_ATTRIBUTES or (node.attr == "__dict__" and not self._own(node.value)):
            self._flag(node.lineno, f"{self._shown(node.value)}.{node.attr}")
        if self.complex_flagged and node.attr in ("imag", "real", "conjugate"):
            self._flag_arithmetic(node.lineno, f"{self._shown(node.value)}.{node.attr}")
        if self.overloaded_flagged and node.attr in OPERATORS and isinstance(node.ctx, ast.Store):
            self._flag_arithmetic(node.lineno, f"{self._shown(node.value)}.{node.attr} = …")
        super().visit_Attribute(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in self.aliases:
            self._check_dotted(node.lineno, self.aliases[node.id], node)
        elif node.id == "__builtins__":
            self._flag(node.lineno, "__builtins__")
        elif node.id in ("__loader__", "__spec__") and node.id not in self.shadowed:
            self._flag(node.lineno, node.id)  # the grader's loader of this module
        elif node.id in INDIRECT and node.id not in self.shadowed and not self._called(node):
            self._flag(node.lineno, f"{node.id} passed around as a value")
        if self.complex_flagged and node.id == "complex" and node.id not in self.shadowed:
            self._flag_arithmetic(node.lineno, "complex")
        super().visit_Name(node)

    def _default_handler(self, node: ast.Call) -> bool:
        """``signal.signal(number, signal.SIG_IGN)`` (or ``SIG_DFL``): no function of the student's gets
        the interrupted frame."""
        handler = (
            node.args[1] if len(node.args) > 1 else next((k.value for k in node.keywords if k.arg == "handler"), None)
        )
        return handler is not None and self._resolve(handler) in ("signal.SIG_IGN", "signal.SIG_DFL")

    def visit_Call(self, node: ast.Call) -> None:
        self._built_name(node)  # "_".join([...])
        name = self._resolve(node.func) or self._builtin(node.func)
        name = name.removeprefix("builtins.")
        if name == "importlib.reload" and node.args and self._own_module(node.args[0]):
            # a helper of the student's, run again from the text the scan read (inside.child.HandedIn);
            # a library's module reloaded gives back classes the guards replaced, and stays flagged
            self.reloads_own.add(id(node.func))
        first = node.args[0] if node.args else None
        text = first.value if isinstance(first, ast.Constant) and isinstance(first.value, (str, bytes)) else None
        if name in CODE_RUNNERS:
            self._code(node, name, text)
        elif name in STATEMENT_RUNNERS:
            self._statements(node, name)
        elif name in PATCHERS or name == "unittest.mock.patch.object":
            self._patch(node, name)
        elif name == "logging.config.dictConfig":
            self._logging_configuration(node)
        elif name in ("operator.attrgetter", "operator.methodcaller") and not all(
            isinstance(arg, ast.Constant) and isinstance(arg.value, str)
            for arg in node.args[: 1 if "method" in name else None]
        ):
            self._flag(node.lineno, f"a computed name through {name}")  # getattr of a name no scan reads
        elif name == "signal.signal" and not self._default_handler(node):
            self._flag(node.lineno, "signal.signal with a handler (handed the frame it interrupts)")
        elif name == "breakpoint" and (node.args or node.keywords):
            self._flag(node.lineno, "breakpoint with arguments (passed to the hook PYTHONBREAKPOINT names)")
        elif (
            isinstance(node.func, ast.Attribute)
            and node.func.attr in STATEMENT_RUNNER_METHODS
            and node.args
            and not self._runs_code(node.args[0])
            and any(module.split(".")[0] in STATEMENT_RUNNER_MODULES for module in self.aliases.values())
        ):
            self._flag(node.lineno, f"{self._shown(node.func.value)}.{node.func.attr} of a statement")
        elif name in IMPORTERS:
            if isinstance(text, str):
                self._check_module(node.lineno, text)
            else:
                self._flag(node.lineno, f"{name} of a computed name")
        elif name in UNPICKLING_LOADERS:
            self._unpickling(node, name)
        elif (
            name in ("setattr", "delattr")
            and len(node.args) > 1
            and self._resolve(node.args[0]) == "sys"
            and (
                not isinstance(node.args[1], ast.Constant)
                or node.args[1].value in ("stdin", "__stdin__", "breakpointhook")
            )
        ):
            self._flag(node.lineno, f"{name}(sys, …)")
        elif name in ("setattr", "delattr") and node.args and _shared_library(self._resolve(node.args[0])):
            self._flag(node.lineno, f"{name}({self._resolve(node.args[0])}, …)")
        elif name in ("setattr", "delattr") and node.args and self._class_of_object(node.args[0]):
            self._flag(node.lineno, f"{CLASS_CHANGED}: {name}({self._shown(node.args[0])}, …)")
        elif name == "getattr" and len(node.args) >= 2:
            self._getattr(node)
        elif name == "vars" and first is not None and not self._own(first):
            self._flag(node.lineno, f"vars({self._shown(first)})")
        if self.overloaded_flagged and name == "type" and len(node.args) == 3:
            self._flag_arithmetic(node.lineno, "type(name, bases, namespace): a class built at run time")
        if self.overloaded_flagged and name == "setattr" and len(node.args) >= 2:
            operator = node.args[1]
            if isinstance(operator, ast.Constant) and operator.value in OPERATORS:
                self._flag_arithmetic(node.lineno, f"setattr(…, {operator.value!r}, …)")
        super().visit_Call(node)

    def _code(self, node: ast.Call, name: str, text: str | bytes | None) -> None:
        """``exec("...")`` of a constant is scanned as code on the call's line; anything else is flagged."""
        if text is None:
            self._flag(node.lineno, f"{name} of a computed string")
            return
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return  # it cannot run either
        if self.depth >= 3:
            self._flag(node.lineno, f"{name} nested in {name}")
            return
        for child in ast.walk(tree):  # every line of the string is reported at the call's line
            if hasattr(child, "lineno"):
                child.lineno = node.lineno
        self.parents.update(_parents(tree))
        self.depth += 1
        self.visit(tree)
        self.depth -= 1

    def _unpickling(self, node: ast.Call, name: str) -> None:
        """``np.load(..., allow_pickle=True)``, ``torch.load(..., weights_only=False)``, or a value the
        scan cannot read there: flagged as unpickling (the defaults keep pickles out)."""
        keyword, position, safe = UNPICKLING_LOADERS[name]
        given = [(k.arg, k.value) for k in node.keywords]
        if position is not None and len(node.args) > position:
            given.append((keyword, node.args[position]))
        if name.startswith("torch") and len(node.args) > 2:  # torch.load(f, map_location, pickle_module)
            given.append(("pickle_module", node.args[2]))
        for arg, value in given:
            if arg == keyword and not (isinstance(value, ast.Constant) and value.value is safe):
                self._flag(node.lineno, f"{name} with pickles ({keyword}={self._shown(value)})")
            elif arg == "pickle_module":
                self._flag(node.lineno, f"{name} with a pickle module (then pickles load unless weights_only=True)")
            elif arg is None or any(isinstance(a, ast.Starred) for a in node.args):
                self._flag(node.lineno, f"{name} with unpacked arguments")

    def _own_module(self, value: ast.expr) -> bool:
        """A module the file imported that is not installed here: one of the student's helper files."""
        from grader.inside.stand_ins import installed

        dotted = self._resolve(value) if isinstance(value, (ast.Name, ast.Attribute)) else ""
        return bool(dotted) and not installed(dotted.split(".")[0])

    def _runs_code(self, value: ast.expr) -> bool:
        """A lambda, a function the file defines (and binds no other way), or ``functools.partial``
        of one: code the scan reads, never a string."""
        if isinstance(value, ast.Lambda):
            return True
        if isinstance(value, ast.Name):
            return value.id in self.functions
        # functools.partial refuses anything not callable, so never a string
        return isinstance(value, ast.Call) and self._resolve(value.func) == "functools.partial"

    def _statements(self, node: ast.Call, name: str) -> None:
        """``timeit.timeit(stmt, setup)``: each statement given as a constant string is read as code."""
        given = {keyword.arg: keyword.value for keyword in node.keywords if keyword.arg}
        for position, argument in enumerate(("stmt", "setup")):
            value = node.args[position] if len(node.args) > position else given.get(argument)
            if value is None or self._runs_code(value):
                continue
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                self._code(node, name, value.value)
            else:
                self._flag(node.lineno, f"{name} of a computed {argument}")
        if any(keyword.arg is None for keyword in node.keywords) or any(isinstance(a, ast.Starred) for a in node.args):
            self._flag(node.lineno, f"{name} with unpacked arguments")

    def _patch(self, node: ast.Call, name: str) -> None:
        """``mock.patch("random.random", ...)`` patches the student's own world; ``"numpy.sum"``, the import
        machinery (``patch.dict("sys.modules", ...)``) or a target the scan cannot read is flagged."""
        target = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "target"), None)
        if name == "unittest.mock.patch.object":
            owner = self._resolve(target) if target is not None else ""
            risky = _patched_risky(owner)
            shown = owner
        elif isinstance(target, ast.Constant) and isinstance(target.value, str):
            shown = target.value
            risky = _patched_risky(shown) or shown == "sys.modules" or self._through_an_import(shown.split(".")[1:])
        elif _own_module_name(target):  # __name__ + ".helper", f"{__name__}.helper": the student's own
            shown = "this module" + _folded_tail(target)
            risky = self._through_an_import(_folded_tail(target).split(".")[1:])
        else:
            risky, shown = True, "a computed target"
        if risky:
            self._flag(node.lineno, f"{name.removeprefix('unittest.')}({shown[:40]}, …)")

    def _through_an_import(self, names: list[str]) -> bool:
        """Whether a patch target's path passes a module the file imported (``"srn.np.sum"``: numpy's
        ``sum`` itself, reached through the module's own ``np``), where patching a library is flagged."""
        return any(name in self.aliases and _patched_risky(self.aliases[name]) for name in names[:-1])

    def _logging_configuration(self, node: ast.Call) -> None:
        """``logging.config.dictConfig({...})`` builds what its strings name: a literal naming only logging's
        own classes is honest set-up; a factory (``"()"``), ``ext://`` or anything computed is flagged."""
        config = node.args[0] if node.args else None
        if isinstance(config, ast.Name):  # CONFIG = {...} bound once in the file: that literal
            config = self.literals.get(config.id, config)
        if not isinstance(config, ast.Dict):
            self._flag(node.lineno, "logging.config.dictConfig of a computed configuration")
            return
        for inner in ast.walk(config):
            if isinstance(inner, ast.Dict) and any(
                isinstance(key, ast.Constant) and key.value in ("()", "class") and not _logging_class(value)
                for key, value in zip(inner.keys, inner.values)
            ):
                self._flag(node.lineno, "logging.config.dictConfig naming a callable outside logging")
                return
            if isinstance(inner, ast.Constant) and isinstance(inner.value, str) and inner.value.startswith("ext://"):
                if not inner.value.startswith(("ext://sys.stdout", "ext://sys.stderr")):
                    self._flag(node.lineno, "logging.config.dictConfig with ext://")
                    return

    def _getattr(self, node: ast.Call) -> None:
        owner, name = self._resolve(node.args[0]), node.args[1]
        if isinstance(name, ast.Constant) and isinstance(name.value, str):
            if owner:
                self._check_dotted(node.lineno, f"{owner}.{name.value}")
            if name.value in ESCAPE_ATTRIBUTES:
                self._flag(node.lineno, f"getattr(…, {name.value!r})")
        elif _torch_internal(owner) or owner.split(".")[0] in ESCAPE_ROOTS:
            self._flag(node.lineno, f"getattr({owner}, …) with a computed name")

    def _check_module(self, line: int, module: str) -> None:
        if module.split(".")[0] in self.arithmetic_modules:
            self._flag_arithmetic(line, f"import {module}")
        if module.split(".")[0] in ESCAPE_MODULES:
            self._flag(line, f"import {module}")
        else:
            self._check_dotted(line, module)

    def _check_dotted(self, line: int, dotted: str, node: ast.AST | None = None) -> None:
        """``node`` (when the dotted name is written as such) tells how ``sys.modules`` is used."""
        if dotted.startswith("numpy.") and any(
            dotted[6:] == name or dotted[6:].startswith(name + ".") for name in self.arithmetic_numpy
        ):
            self._flag_arithmetic(line, dotted.replace("numpy.", "np.", 1))
        mode = next((name for name in TORCH_MODES if dotted == name or dotted.startswith(name + ".")), "")
        if mode:  # answers every torch call of the process in torch's place (reviewed: grader.inside.untouched)
            self._flag(line, mode)
        internal = _torch_internal(dotted)
        if internal and not any(_names_same_api(internal, name) for name in self.forbidden_names):
            self._flag(line, internal)  # a forbidden one (torch._VF) is reported as a forbidden use
        route = _kernel_route(dotted)
        if route:
            self._flag(line, route)
        escape = next((name for name in ESCAPE_NAMES if dotted == name or dotted.startswith(name + ".")), "")
        if escape and node is not None and id(node) in self.reloads_own:
            escape = ""
        if escape:
            self._flag(line, escape)
        elif any(part in RAW_MEMORY for part in dotted.split(".")[1:]):  # from numpy.ctypeslib import ctypes
            self._flag(line, dotted)
        if dotted == "sys.modules":
            self._sys_modules(line, node)

    def _sys_modules(self, line: int, node: ast.AST | None) -> None:
        """Any use of ``sys.modules`` but a membership test (``"google.colab" in sys.modules``)."""
        parent = self.parents.get(node) if node is not None else None
        if (
            isinstance(parent, ast.Compare)
            and node in parent.comparators
            and all(isinstance(op, (ast.In, ast.NotIn)) for op in parent.ops)
        ):
            return
        if isinstance(parent, ast.Subscript) and parent.value is node:
            shown = {ast.Store: "sys.modules[…] = …", ast.Del: "del sys.modules[…]"}.get(type(parent.ctx))
            self._flag(line, shown or "sys.modules[…]")
        elif isinstance(parent, ast.Attribute):
            self._flag(line, f"sys.modules.{parent.attr}")
        else:
            self._flag(line, "sys.modules")

    def _resolve(self, node: ast.AST) -> str:
        """Also ``importlib.import_module("torch")._C`` and ``__import__("sys").modules``."""
        return super()._resolve(node) or (self._imported(node) if isinstance(node, ast.expr) else "")

    def _builtin(self, node: ast.expr) -> str:
        """``exec`` in ``exec(...)``, unless the file defines a name of its own so."""
        return node.id if isinstance(node, ast.Name) and node.id not in self.shadowed else ""

    def _imported(self, node: ast.expr) -> str:
        """``importlib.import_module("torch")`` / ``__import__("torch")`` with a constant: the module."""
        if not (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)):
            return ""
        name = (self._resolve(node.func) or self._builtin(node.func)).removeprefix("builtins.")
        module = node.args[0].value
        if name not in IMPORTERS or not isinstance(module, str):
            return ""
        return module if name == "importlib.import_module" else module.split(".")[0]

    def _shown(self, node: ast.expr) -> str:
        """How to name ``node`` in a flag: its resolved name, else its (shortened) source."""
        try:
            text = self._resolve(node) or ast.unparse(node)
        except (RecursionError, ValueError):
            text = "…"
        return text if len(text) <= 40 else text[:39] + "…"

    def _own(self, node: ast.expr) -> bool:
        """``self``, ``self.cell``, a local or the student's own class: not an imported module."""
        while isinstance(node, ast.Attribute):
            node = node.value
        return isinstance(node, ast.Name) and node.id not in self.aliases and node.id != "__builtins__"

    def _called(self, node: ast.Name) -> bool:
        parent = self.parents.get(node)
        return isinstance(parent, ast.Call) and parent.func is node

    def _flag(self, line: int, construct: str) -> None:
        entry = (line, construct[:MAX_CONSTRUCT])
        if entry not in self.integrity:
            self.integrity.append(entry)

    def _flag_arithmetic(self, line: int, construct: str) -> None:
        entry = (line, construct[:MAX_CONSTRUCT])
        if entry not in self.arithmetic:
            self.arithmetic.append(entry)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        """``class Dual: def __mul__(...)``: numbers of its own, which carry derivatives through a forward.
        ``class Raw: __array_interface__ = ...`` (or a method or property of that name): see ARRAY_PROTOCOLS."""
        for statement in node.body:
            for name in _defined_names(statement):
                if name in ARRAY_PROTOCOLS:
                    self._flag(statement.lineno, f"class {node.name} defines {name}")
        if self.overloaded_flagged:
            for statement in node.body:
                for name in _defined_names(statement):
                    if name in OPERATORS:
                        self._flag_arithmetic(statement.lineno, f"class {node.name} defines {name}")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        """``1j``; a dtype named by a string (``astype("complex128")``, ``dtype="D"``): one letter only
        where a dtype goes, since ``"D"`` is also an honest key. ``"PYTHONBREAKPOINT"``: the variable
        that makes ``breakpoint()`` call any function named in a string (a regression round ran a computed
        string through ``builtins.exec`` so)."""
        if node.value == "PYTHONBREAKPOINT":
            self._flag(node.lineno, "PYTHONBREAKPOINT")
        if node.value == "__annotations__":  # type(name, bases, {"__annotations__": ...}), setattr(f, ...)
            self._flag(node.lineno, "__annotations__ written at run time")
        if node.value in ARRAY_PROTOCOLS:  # type(name, bases, {"__array_interface__": ...}), getattr(x, ...)
            self._flag(node.lineno, f"{node.value!r} (an array over any memory of the process)")
        if isinstance(node.value, str) and self._annotation(node) and self.depth < 3:
            self._code(_evaluated(node), "an annotation", node.value)  # evaluated by get_type_hints & co.
        if self.complex_flagged and isinstance(node.value, complex):
            self._flag_arithmetic(node.lineno, repr(node.value))
        elif isinstance(node.value, str) and node.value in self.arithmetic_dtypes:
            if len(node.value) > 1 or self._dtype_position(node):
                self._flag_arithmetic(node.lineno, repr(node.value))

    def _annotation(self, node: ast.Constant) -> bool:
        """Whether the string is an annotation (of an argument, a return, or an annotated name)."""
        parent = self.parents.get(node)
        if isinstance(parent, ast.arg):
            return parent.annotation is node
        if isinstance(parent, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return parent.returns is node
        if isinstance(parent, ast.AnnAssign):
            return parent.annotation is node
        return False

    def visit_BinOp(self, node: ast.BinOp) -> None:
        """``"PYTHON" + "BREAKPOINT"``: constants joined are read as one."""
        self._built_name(node)
        self.generic_visit(node)

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        self._built_name(node)
        self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        self._built_name(node)
        self.generic_visit(node)

    def _built_name(self, node: ast.expr) -> None:
        """A flagged name built from constants (``"__array_" + "interface__"``) is the name itself."""
        folded = _folded(node)
        if folded == "PYTHONBREAKPOINT":
            self._flag(node.lineno, "PYTHONBREAKPOINT")
        elif folded in ARRAY_PROTOCOLS:
            self._flag(node.lineno, f"{folded!r} (an array over any memory of the process)")
        elif folded in ESCAPE_ATTRIBUTES:  # getattr(hook, "__glob" + "als__"): no honest code builds these
            self._flag(node.lineno, f"{folded!r} built from pieces")

    def _dtype_position(self, node: ast.Constant) -> bool:
        parent = self.parents.get(node)
        if isinstance(parent, ast.keyword):
            return parent.arg == "dtype"
        if isinstance(parent, ast.Call) and node in parent.args:
            func = parent.func
            called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            return called in DTYPE_TAKERS or (parent.args[0] is node and called in ("astype", "view", "dtype"))
        return False


SHARED_LIBRARIES = frozenset({"numpy", "torch", "builtins", "math", "random", "json", "pytest", "_pytest"})


def _folded(node: ast.expr) -> str | None:
    """The string that string constants make when summed, put in an f-string, joined by a constant
    (``"_".join(["__array", "interface__"])``) or sliced by constants (``"..."[::-1]``), or None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _folded(node.left), _folded(node.right)
        return None if left is None or right is None else left + right
    if isinstance(node, ast.JoinedStr):
        parts = [_folded(part.value if isinstance(part, ast.FormattedValue) else part) for part in node.values]
        return None if any(part is None for part in parts) else "".join(parts)  # type: ignore[arg-type]
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "join"
        and len(node.args) == 1
        and isinstance(node.args[0], (ast.List, ast.Tuple))
    ):
        separator, parts = _folded(node.func.value), [_folded(part) for part in node.args[0].elts]
        if separator is None or any(part is None for part in parts):
            return None
        return separator.join(parts)  # type: ignore[arg-type]
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice):
        text = _folded(node.value)
        try:
            bounds = [
                None if b is None else ast.literal_eval(b)
                for b in (node.slice.lower, node.slice.upper, node.slice.step)
            ]
        except ValueError:
            return None
        if text is None or not all(b is None or isinstance(b, int) for b in bounds):
            return None
        return text[slice(*bounds)]
    return None


def _evaluated(node: ast.Constant) -> ast.Call:
    """A stand-in call at the annotation's line, for :meth:`_IntegrityScan._code`'s messages."""
    return ast.Call(func=ast.Name(id="annotation", ctx=ast.Load()), args=[], keywords=[], lineno=node.lineno)


def _patched_risky(target: str) -> bool:
    """A patch of a library the probes share the process with (numpy, torch, builtins, ...) or of the
    import machinery; ``random``'s functions are the student's own draws (a4's teacher forcing)."""
    root = target.split(".")[0]
    return (_shared_library(target) and root != "random") or root in ESCAPE_ROOTS


def _folded_tail(target: ast.expr | None) -> str:
    """What follows ``__name__`` in ``__name__ + ".x.y"`` or ``f"{__name__}.x.y"`` (``".x.y"``)."""
    if isinstance(target, ast.BinOp):
        return _folded(target.right) or ""
    if isinstance(target, ast.JoinedStr):
        return "".join(str(part.value) for part in target.values[1:] if isinstance(part, ast.Constant))
    return ""


def _own_module_name(target: ast.expr | None) -> bool:
    """``__name__ + ".x"`` or ``f"{__name__}.x"``: a name in the module itself."""
    if isinstance(target, ast.BinOp) and isinstance(target.op, ast.Add):
        return isinstance(target.left, ast.Name) and target.left.id == "__name__" and _folded(target.right) is not None
    if isinstance(target, ast.JoinedStr) and target.values:
        first = target.values[0]
        return (
            isinstance(first, ast.FormattedValue)
            and isinstance(first.value, ast.Name)
            and first.value.id == "__name__"
            and all(isinstance(part, ast.Constant) for part in target.values[1:])
        )
    return False


def _dict_literals(tree: ast.AST) -> dict[str, ast.Dict]:
    """Names the file binds exactly once, to a dict literal, and reads once (where it is used, so
    nothing changed it in between)."""
    bound: dict[str, list[ast.expr | None]] = {}
    reads: dict[str, int] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            bound.setdefault(node.targets[0].id, []).append(node.value)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            bound.setdefault(node.id, []).append(None)
        elif isinstance(node, ast.Name):
            reads[node.id] = reads.get(node.id, 0) + 1
    return {
        name: values[0]
        for name, values in bound.items()
        # the Assign and its own Name target, and the one read
        if len(values) == 2 and isinstance(values[0], ast.Dict) and reads.get(name) == 1
    }


def _logging_class(value: ast.expr) -> bool:
    """``"logging.StreamHandler"`` (or a short name dictConfig resolves within logging)."""
    if not (isinstance(value, ast.Constant) and isinstance(value.value, str)):
        return False
    return value.value.startswith("logging.") or "." not in value.value


def _functions_only(tree: ast.AST) -> frozenset[str]:
    """Names the file binds with ``def``, a lambda or ``functools.partial(...)`` (which refuses anything
    not callable, so never a string), and in no other way."""
    defined: set[str] = set()
    other: set[str] = set()
    code: set[int] = set()  # the Name targets of `f = lambda ...` / `f = partial(...)`
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            value = node.value
            partial = isinstance(value, ast.Call) and (
                (isinstance(value.func, ast.Name) and value.func.id == "partial")
                or (isinstance(value.func, ast.Attribute) and value.func.attr == "partial")
            )
            if isinstance(value, ast.Lambda) or partial:
                code.add(id(node.targets[0]))
                defined.add(node.targets[0].id)
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            defined.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)) and id(node) not in code:
            other.add(node.id)
        elif isinstance(node, ast.alias):
            other.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, (ast.ClassDef,)):
            other.add(node.name)
    return frozenset(defined - other)


def _shared_library(dotted: str) -> bool:
    """A module (or a name in one) of the libraries the probes use in the student's process."""
    root = dotted.split(".")[0]
    return root in SHARED_LIBRARIES and not dotted.startswith("torch.backends")


# Flagged for review, but not a way into the process's own objects: other programs (a new interpreter
# shares no memory with this one), unpickling (kept here though it can name any module: honest code
# saves vocabularies with it), torch's private names but its hooks, and a few introspection helpers.
# Modes that answer every torch call in the process in torch's place (the private dispatch modes are
# torch internals, flagged as such).
TORCH_MODES = ("torch.overrides.TorchFunctionMode", "torch.overrides.BaseTorchFunctionMode")
# torch's ways to give one of its operators a kernel of one's own, or to route operators through
# Python: a kernel for ``aten::equal`` once answered the step bookkeeping's reads (refused at run time
# by grader.inside.guards.seal_torch_kernels; these reach into the process all the same). A custom
# operator of the student's own (``torch.library.custom_op``) is only reviewed.
KERNEL_ROUTES = frozenset(
    {"Library", "impl", "register_kernel", "fallback", "_dispatch_library", "py_impl", "py_kernels"}
    | {"load_library", "_EnablePythonDispatcher", "enable_python_dispatcher", "_python_dispatcher"}
    | {"cpp_extension"}  # compiles and loads native code, whose kernels register themselves as it loads
    # the compiler's frame evaluation hook is handed every frame the interpreter runs, the grader's too
    | {"set_eval_frame", "eval_frame", "convert_frame"}
)
# A class changed through one of its objects (``type(t).__eq__ = f``): reviewed, not refused, since the
# bookkeeping no longer reads weights through anything a class defines (grader.inside.untouched).
CLASS_CHANGED = "a class changed through its object"
NOT_REACHING = (
    CLASS_CHANGED, "import subprocess", "import _posixsubprocess", "import pty", *PROGRAM_STARTERS, "pickle.", "_pickle",
    "shelve", "dill", "cloudpickle", "joblib.load", "pandas.read_pickle", "numpy.load with", "torch.load with",
    "pickle._", "multiprocessing.reduction", "torch.package", "numpy.lib.npyio.load with", "yaml.",
    "numpy.lib.format.read_array with", "torch.serialization.load with",
    "importlib.reload", "inspect.getmembers", "operator.attrgetter", "operator.methodcaller",
)  # fmt: skip


def _defined_names(statement: ast.stmt) -> list[str]:
    """The names a statement of a class body defines (``def f``, ``a = ...``, ``a, b = ...``, ``a: T = ...``)."""
    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [statement.name]
    if isinstance(statement, (ast.Assign, ast.AnnAssign)):
        targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
        return [each.id for target in targets for each in ast.walk(target) if isinstance(each, ast.Name)]
    return []


def _class_of_object(node: ast.expr) -> bool:
    """``type(x)`` with one argument, or ``x.__class__``, where x is not ``self`` or ``cls``."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "type"
        and len(node.args) == 1
    ):
        subject = node.args[0]
    elif isinstance(node, ast.Attribute) and node.attr == "__class__":
        subject = node.value
    else:
        return False
    return not (isinstance(subject, ast.Name) and subject.id in ("self", "cls"))


def reaches_into_process(construct: str) -> bool:
    """Whether a flagged construct could reach what the grader keeps in the student's process."""
    if construct.startswith("torch.") and " " not in construct:  # a private torch name (_torch_internal)
        # the optimizer's and modules' global hooks lead to the bookkeeping, a kernel to its reads
        return "hook" in construct or construct.rpartition(".")[2] in KERNEL_ROUTES
    return not construct.startswith(NOT_REACHING)


def _kernel_route(dotted: str) -> str:
    """``torch.library.Library`` of ``torch.library.Library.impl``: the part of a torch name up to one
    of :data:`KERNEL_ROUTES`, or ''."""
    parts = dotted.split(".")
    if parts[0] != "torch":
        return ""
    index = next((i for i, part in enumerate(parts[1:], start=1) if part in KERNEL_ROUTES), 0)
    return ".".join(parts[: index + 1]) if index else ""


def _torch_internal(dotted: str) -> str:
    """The part of ``dotted`` that names torch's internals (``torch._C``, ``torch.ops``, ``torch.library``,
    ``torch.nn.modules.rnn._VF``), or ''. Dunder names (``torch.__version__``) are public."""
    parts = dotted.split(".")
    if parts[0] != "torch":
        return ""
    for index, part in enumerate(parts[1:], start=1):
        private = part.startswith("_") and not (part.startswith("__") and part.endswith("__"))
        if private or (index == 1 and part in ("ops", "library")):
            return ".".join(parts[: index + 1])
    return ""


def _most_specific(found: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Sorted by line, without ``torch._C`` where the same line has ``torch._C._VariableFunctionsClass.__dict__``."""
    return sorted(
        {
            (line, what)
            for line, what in found
            if not any(other_line == line and other.startswith(what + ".") for other_line, other in found)
        }
    )


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def _assigned_names(tree: ast.AST) -> set[str]:
    """Names the file binds itself (assignments, functions, classes, parameters, imports)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
    return names


def _module_file(filename: str) -> str:
    """``craft_rnn.py`` for ``craft_rnn.ipynb``: the name the notebook's line map answers to."""
    return PurePath(filename).with_suffix(".py").name


def _names_same_api(dotted: str, forbidden: str) -> bool:
    """``dotted`` reaches ``forbidden``: the name itself or something inside it, or the same object by
    another path of the same package (torch.nn.modules.rnn.RNN for torch.nn.RNN,
    torch._C._VariableFunctions.rnn_tanh or torch.ops.aten.rnn_tanh for torch.rnn_tanh)."""
    if dotted == forbidden or dotted.startswith(forbidden + "."):
        return True
    parts, wanted = dotted.split("."), forbidden.split(".")
    return len(wanted) > 1 and parts[0] == wanted[0] and wanted[-1] in parts[1:]


def name_changes(tree: ast.AST) -> tuple[bool, list[tuple[int, str]]]:
    """Whether the module may write its own ``__name__``, so that an ``if __name__ == "__main__":`` block
    may run when graded, and the lines that write it. A hostile round ended a module with
    ``__name__ = "__main__"`` and hid a numerical backward in such a block, which the scan skipped (a1
    100 where the work earns 60). Writes: ``__name__ = ...``, ``global __name__``, a store into
    ``globals()`` or ``vars()`` (any key: it may be computed), their ``update``, ``setattr(..., "__name__",
    ...)``, and ``.__name__ = ...`` on an imported module (the module imported as itself). Reading the
    name, ``vars(args)``, ``getattr(f, "__name__")`` or a decorator's ``wrapper.__name__ = f.__name__`` are
    not (a regression round: honest argparse and decorators made main-guard demos count as running)."""
    imported = {
        (alias.asname or alias.name).split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    }

    def namespace_call(node: ast.AST) -> bool:
        return (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("globals", "vars")
            and not node.args
        )

    def other_name(key: ast.AST) -> bool:
        """A constant key that is not "__name__" (``globals()["threads"] = []`` keeps state, honestly)."""
        return isinstance(key, ast.Constant) and isinstance(key.value, str) and key.value != "__name__"

    def namespace_keys_known(call: ast.Call, method: str) -> bool:
        """Every key the call may write is a constant other than "__name__"."""
        if method in ("setdefault", "__setitem__"):
            return bool(call.args) and other_name(call.args[0])
        literal = all(
            isinstance(arg, ast.Dict) and all(key is not None and other_name(key) for key in arg.keys)
            for arg in call.args
        )
        return literal and all(keyword.arg not in (None, "__name__") for keyword in call.keywords)

    writes: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == "__name__" and not isinstance(node.ctx, ast.Load):
            writes.append((node.lineno, "__name__ = …"))
        elif isinstance(node, (ast.Global, ast.Nonlocal)) and "__name__" in node.names:
            writes.append((node.lineno, "global __name__"))
        elif isinstance(node, ast.Subscript) and not isinstance(node.ctx, ast.Load) and namespace_call(node.value):
            if not other_name(node.slice):
                writes.append((node.lineno, f"{ast.unparse(node.value)}[…] = …"))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and namespace_call(node.func.value)
            and node.func.attr in ("update", "setdefault", "__setitem__")
            and not namespace_keys_known(node, node.func.attr)
        ):
            writes.append((node.lineno, f"{ast.unparse(node.func.value)}.{node.func.attr}"))
        elif (
            isinstance(node, ast.Attribute)
            and node.attr == "__name__"
            and not isinstance(node.ctx, ast.Load)
            and isinstance(node.value, ast.Name)
            and node.value.id in imported
        ):
            writes.append((node.lineno, f"{node.value.id}.__name__ = …"))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "setattr"
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and node.args[1].value == "__name__"
        ):
            writes.append((node.lineno, 'setattr(…, "__name__", …)'))
    return bool(writes), writes


def _is_main_guard(test: ast.expr) -> bool:
    """``__name__ == "__main__"`` (either way round)."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)):
        return False
    sides = [test.left, test.comparators[0]]
    names = [s for s in sides if isinstance(s, ast.Name) and s.id == "__name__"]
    texts = [s for s in sides if isinstance(s, ast.Constant) and s.value == "__main__"]
    return len(names) == 1 and len(texts) == 1


def _describe(
    found: list[tuple[int, str]],
    filename: str,
    verb: str,
    files: dict[tuple[int, str], str] | None = None,
    module_file: str | None = None,
) -> str:
    """``module_file``: the file the lines are counted in, named even where it is the module itself."""
    if not found:
        return ""
    files = files or {}
    places = {entry: files.get(entry, module_file) for entry in found[:5]}
    shown = ", ".join(
        f"`{name}` ({f'{place}, ' if place else ''}line {line})" for (line, name), place in places.items()
    )
    more = f" and {len(found) - 5} more" if len(found) > 5 else ""
    return f"{filename} {verb} {shown}{more}"
