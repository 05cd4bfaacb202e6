"""Turn a student's notebook into a module that grades exactly as the same code in a ``.py`` would.

A ``.py`` runs every top-level statement when it is imported, so the converted notebook does too, with
three exceptions that cannot change a grade:

* **Heavy statements nothing graded needs are skipped**: training (top-level loops, calls of the
  notebook's own train/fit/evaluate-like functions, optimizer steps), plots, prints, files saved
  or loaded (``torch.save`` to Colab's Drive), code that uses a library not installed here
  (pandas reading the data: the sandbox lets such an import through and refuses its use), and code
  that uses an API the assignment forbids (a cell comparing one's CraftRNN with ``nn.RNN``: in a
  ``.py`` it would sit under ``if __name__ == "__main__":``, which a notebook has no use for). "Needs" follows
  the names: a statement is kept when it binds (or changes, ``x.append(...)``) a name that a definition
  uses, directly or through other kept statements, or through ``global`` assignments in the functions
  it calls. Statements that read what a skipped statement made are skipped with it (they would fail).
* ``if __name__ == "__main__":`` does not run, as in an imported ``.py``.
* IPython magics and shell lines are dropped silently; ``%%time``/``%%capture`` cells run as Python.

Plotting and progress-bar libraries (matplotlib, seaborn, plotly, IPython.display, tqdm) may be missing
where grading runs: their imports fall back to a stand-in whose every use does nothing (tqdm's passes the
iterable through), defined in a short prelude. The line map (module line -> cell, line) ignores the
prelude and the added ``try:`` lines, so messages name the right cell and line. What was skipped is said
in one short note. The same stand-ins serve a ``.py`` (grader/inside/stand_ins.py, where the sandbox
lacks the library). nbformat is imported only here, only when a notebook is submitted.
"""

from __future__ import annotations

import ast
import re
import symtable
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

from grader.inside import stand_ins
from grader.inside.stand_ins import ROOTS as STAND_IN_ROOTS
from grader.inside.stand_ins import SOURCE as STAND_IN_SOURCE
from grader.intake.static_checks import analyse

PLOT_ROOTS = STAND_IN_ROOTS - {"tqdm"}
PRINTS = frozenset({"print", "pprint", "pp"})
DISPLAYS = frozenset({"display", "clear_output"})
PLOT_METHODS = frozenset({"plot", "show", "imshow", "hist", "scatter", "savefig", "bar", "barh"})
STEP_METHODS = frozenset({"backward", "step", "zero_grad", "fit"})
# Files written or read at top level (torch.save to Colab's Drive, a DataFrame to CSV): kept where graded
# code needs what they bind, else skipped, as the paths they name need not exist where grading runs.
FILE_METHODS = frozenset(
    {"save", "savez", "savez_compressed", "savetxt", "dump", "load", "loadtxt", "download"}
    | {"to_csv", "to_json", "to_pickle", "to_parquet"}
)
TRAINING_NAME = re.compile(r"(^|_)(train|training|trainer|fit|evaluate|experiment|main)(_|\d|[A-Z]|$)")
PYTHON_CELL_MAGICS = ("%%time", "%%timeit", "%%capture", "%%prun")
SCOPED = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
MAX_CELLS_SHOWN = 6
# Choosing what to skip costs up to units x names; past these (no real notebook comes close) every
# statement runs, as in a .py.
MAX_UNITS = 600
MAX_NAMES = 2000
MAX_BROKEN_SHOWN = 3

# Labels of the note, singular and plural ("{n}" is the count); in the order they are first met.
LABELS = {
    "training": ("training", "training"),
    "plot": ("a plot", "{n} plots"),
    "print": ("a print", "{n} prints"),
    "loop": ("a loop", "{n} loops"),
    "file": ("a file saved or loaded", "{n} files saved or loaded"),
    "shell": ("a shell command (pip install, nvidia-smi)", "{n} shell commands (pip install, nvidia-smi)"),
    "missing": ("code that uses a library missing here", "code that uses libraries missing here"),
    "forbidden": ("code that uses an API this assignment does not allow",) * 2,
    "derived": ("code that uses their results", "code that uses their results"),
    "main": ('the `if __name__ == "__main__":` block', 'the `if __name__ == "__main__":` blocks'),
}
HEAVY = frozenset({"training", "plot", "print", "loop", "file", "shell", "missing", "forbidden"})
# Calls that run a shell command at top level (a Colab cell installing packages, `!pip` written out):
# skipped like the `!` lines they stand for, since grading has no network and needs no package.
SHELL_CALLS = frozenset(
    {
        "subprocess.run", "subprocess.call", "subprocess.check_call", "subprocess.check_output",
        "subprocess.Popen", "os.system", "os.popen",
    }
)  # fmt: skip

PRELUDE = (
    "# --- added by the grader: stand-ins for plotting and progress-bar libraries missing here ---\n" + STAND_IN_SOURCE
)


class NotebookError(ValueError):
    """The file is not a notebook nbformat can read."""


@dataclass
class Conversion:
    source: str
    kept: int = 0  # top-level statements kept
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (cell, kind) of each skipped statement
    broken: list[tuple[int, str]] = field(default_factory=list)  # (cell, why) of cells not run at all
    line_map: dict[int, tuple[int, int]] = field(default_factory=dict)  # module line -> (cell, cell line)
    everything: bool = False  # too large to choose: every statement ran

    def notes(self, filename: str) -> list[str]:
        """At most one short line: what was not run, grouped by kind, with the cells."""
        parts = []
        if self.skipped:
            count = len(self.skipped)
            what = (
                "statement that nothing graded uses was" if count == 1 else "statements that nothing graded uses were"
            )
            parts.append(f"{count} {what} not run: {_grouped(self.skipped)}.")
        for cell, why in self.broken[:MAX_BROKEN_SHOWN]:
            parts.append(f"cell {cell} was not run: it has a syntax error ({why}).")
        if self.everything:
            parts.append("every statement was run, as in a .py: the notebook is too large to choose what to skip.")
        if len(self.broken) > MAX_BROKEN_SHOWN:
            parts.append(f"{len(self.broken) - MAX_BROKEN_SHOWN} more cells with syntax errors were not run.")
        if not parts:
            return []
        text = " ".join(part[0].upper() + part[1:] for part in parts[1:])
        return [f"From {filename}, {parts[0]}" + (f" {text}" if text else "")]


@dataclass(eq=False)
class _Unit:
    """Top-level statements of one cell that share lines: kept or skipped together."""

    cell: int
    first: int  # first line within the cell (decorators included)
    last: int
    statements: list[ast.stmt]
    lines: list[str]  # all lines of the cell
    binds: set[str] = field(default_factory=set)  # names it may bind or change
    kills: set[str] = field(default_factory=set)  # names it certainly rebinds
    uses: set[str] = field(default_factory=set)  # names it reads when it runs
    later: set[str] = field(default_factory=set)  # names its functions read when called
    assigns: set[str] = field(default_factory=set)  # globals its functions assign when called
    changed: set[str] = field(default_factory=set)  # names whose object it may change in place
    kind: str = "other"
    keep: bool = True


def convert(
    text: str,
    keep_everything: bool = False,
    forbidden: tuple[str, ...] = (),
    graded: tuple[str, ...] = (),
    blocked: tuple[str, ...] = (),
    helpers: tuple[str, ...] = (),
) -> Conversion:
    """The notebook as a module; ``forbidden``: the assignment's forbidden APIs, whose top-level uses
    (imports too) are skipped where nothing graded needs them (definitions that use them stay, and are
    flagged); ``graded``: the names the grader reads from the module, whose statements are kept whatever
    they look like (``collate_fn = make_train_collate(...)`` is not training); ``blocked``: modules the
    assignment does not allow importing (a1's torch), treated as forbidden APIs are; ``helpers``: the
    submission's own helper modules (importable when grading, not "a library missing here")."""
    conversion = Conversion(source="")
    units: list[_Unit] = []
    for number, source in _code_cells(text):
        units += _cell_units(source, number, conversion)
    for unit in units:
        _names(unit)
    conversion.everything = not keep_everything and _too_large(units)
    if keep_everything or conversion.everything:
        for unit in units:
            unit.keep = True
    else:
        _analyse(units, _using_forbidden(units, forbidden, blocked), frozenset(helpers))
        _select(units, frozenset(graded))
    conversion.kept = sum(len(u.statements) for u in units if u.keep)
    conversion.skipped = [(u.cell, u.kind) for u in units if not u.keep for _ in u.statements]
    conversion.source = _emit([u for u in units if u.keep], conversion.line_map)
    return conversion


def relabel(text: str, line_map: dict[int, tuple[int, int]], module_file: str, notebook: str) -> str:
    """Point ``module.py, line N`` (and traceback lines) at the notebook cell the code came from."""
    pattern = re.compile(r'(File ")?' + re.escape(module_file) + r'("?), line (\d+)')

    def swap(match: re.Match[str]) -> str:
        line = int(match.group(3))
        if line not in line_map:
            return match.group(0)
        cell, cell_line = line_map[line]
        return f"{match.group(1) or ''}{notebook}{match.group(2)}, cell {cell}, line {cell_line}"

    return pattern.sub(swap, text)


# -- reading cells -----------------------------------------------------------------------------------


def _code_cells(text: str) -> list[tuple[int, str]]:
    """Each code cell with its place among all the cells (markdown ones too), counted from 1 at the top:
    "cell 6" is the sixth cell a student sees, not the sixth code cell."""
    import nbformat  # slow to import (jsonschema); only paid when a notebook is submitted

    try:
        with warnings.catch_warnings():  # cells without ids (older Jupyter): nbformat's warning is not the student's
            warnings.simplefilter("ignore")
            notebook = nbformat.reads(text, as_version=4)
    except Exception as exc:  # nbformat raises many kinds (JSON errors, validation, version)
        raise NotebookError(f"not a readable Jupyter notebook ({type(exc).__name__}: {exc})") from None
    sources = []
    for place, cell in enumerate(notebook.get("cells", []), start=1):
        if cell.get("cell_type") == "code":
            source = cell.get("source", "")
            sources.append((place, "".join(source) if isinstance(source, list) else str(source)))
    return sources


def _cell_units(source: str, number: int, conversion: Conversion) -> list[_Unit]:
    """The cell's top-level statements, grouped where they share a line (``a = 1; b = 2``)."""
    lines = re.sub(r"\r\n?", "\n", source).split("\n")
    if lines[0].lstrip().startswith("%%"):
        if lines[0].split()[0] not in PYTHON_CELL_MAGICS:
            return []  # %%bash, %%html, %%writefile...: not Python; dropped silently like other magics
        lines[0] = ""
    tree = _parse(lines, number, conversion)
    if tree is None:
        return []
    units: list[_Unit] = []
    for statement in tree.body:
        if isinstance(statement, ast.Pass):
            continue  # does nothing; also what IPython lines became
        first = min([statement.lineno] + [d.lineno for d in getattr(statement, "decorator_list", [])])
        last = statement.end_lineno or statement.lineno
        if units and first <= units[-1].last:
            units[-1].statements.append(statement)
            units[-1].last = max(units[-1].last, last)
        else:
            units.append(_Unit(number, first, last, [statement], lines))
    return units


def _parse(lines: list[str], number: int, conversion: Conversion) -> ast.Module | None:
    """The cell as Python; IPython lines become ``pass`` (in place) only when the cell needs it."""
    text = "\n".join(lines)
    try:
        return ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        pass
    lines[:] = [_strip_ipython(line) for line in lines]
    try:
        return ast.parse("\n".join(lines))
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        detail = str(getattr(exc, "msg", None) or type(exc).__name__)
        detail = detail if len(detail) <= 80 else detail[:77] + "..."
        line = getattr(exc, "lineno", None)
        conversion.broken.append((number, f"{detail}, line {line}" if line else detail))
        return None


IPYTHON_LINE = re.compile(r"\s*([%!?]|[\w.]+\?\??\s*$|[\w.]+\s*=\s*[%!])")


TIMED_LINE = re.compile(r"(\s*)%(?:time|timeit|prun)\s+([^-\s].*)$")


def _strip_ipython(line: str) -> str:
    """``%time x = f()`` runs ``x = f()``; other magics, shell lines and ``name?`` become ``pass``."""
    timed = TIMED_LINE.match(line)
    if timed:
        return timed.group(1) + timed.group(2)
    if IPYTHON_LINE.match(line):
        return line[: len(line) - len(line.lstrip())] + "pass  # IPython line removed by the grader"
    return line


# -- what each statement binds, reads and is --------------------------------------------------------


def _too_large(units: list[_Unit]) -> bool:
    names: set[str] = set()
    for unit in units:
        names |= unit.uses | unit.later | unit.binds | unit.changed
    return len(units) > MAX_UNITS or len(names) > MAX_NAMES


def _using_forbidden(units: list[_Unit], forbidden: tuple[str, ...], blocked: tuple[str, ...] = ()) -> frozenset[int]:
    """The units (by id) whose statements use a forbidden API, read with every import of the notebook
    in front (``nn.RNN`` after ``from torch import nn`` in another cell). Scanned as the grader scans
    a file (static_checks.analyse), so a use the scan would flag is one this finds. Imports of blocked
    modules count too (a regression round's a1 notebook comparing with torch.nn.RNN in a cell scored 0)."""
    if not forbidden and not blocked:
        return frozenset()
    imports = [s for u in units for s in u.statements if isinstance(s, (ast.Import, ast.ImportFrom))]
    header = "\n".join(ast.unparse(s) for s in imports)
    offset = header.count("\n") + 1 if header else 0
    found = set()
    for unit in units:
        if all(_defines(s) for s in unit.statements) and not _imports_only(unit):
            continue  # functions and classes that use them stay (and are flagged); an import may go
        text = "\n".join(unit.lines[unit.first - 1 : unit.last])
        findings = analyse(f"{header}\n{text}" if header else text, "<cell>", blocked=blocked, forbidden=forbidden)
        if any(line > offset for line, _ in findings.forbidden_uses + findings.blocked_imports):
            found.add(id(unit))
    return frozenset(found)


def _analyse(
    units: list[_Unit], forbidden: frozenset[int] = frozenset(), helpers: frozenset[str] = frozenset()
) -> None:
    """Complete what each unit binds and reads with the functions it calls, and tell its kind."""
    aliases = _import_aliases(units, helpers)
    functions = _functions(units)
    later, assigns = _definitions(units)
    reach = _reach(later)
    training = _training_functions(functions, reach)
    plotting = {name for name, uses in later.items() if uses & aliases["plot"]} - training
    for unit in units:
        unit.binds |= unit.changed - aliases["module"]  # `np.random.seed(0)` changes numpy: not a binding
        called = unit.uses & set(later)
        unit.uses |= set().union(*(reach[name] for name in called))
        unit.binds |= set().union(*(assigns[name] for name in _reach_functions(called, reach, later)))
        unit.kind = _kind(unit, aliases, training, plotting)
        if id(unit) in forbidden and (unit.kind != "definition" or _imports_only(unit)) and unit.kind != "main":
            unit.kind = "forbidden"  # skipped unless graded code needs it: then it stays, and is flagged


def _names(unit: _Unit) -> None:
    """Fill binds, kills, uses, later and assigns from Python's own scope analysis of the unit."""
    text = "\n".join(unit.lines[unit.first - 1 : unit.last])
    try:
        table = symtable.symtable(text, "<cell>", "exec")
    except Exception:  # noqa: BLE001 - e.g. top-level `await`; the rough reading is the safe side
        _names_roughly(unit)
        return
    for symbol in table.get_symbols():
        if symbol.is_assigned() or symbol.is_imported():
            unit.binds.add(symbol.get_name())
        if symbol.is_referenced():
            unit.uses.add(symbol.get_name())
    for child in table.get_children():
        _scope_names(child, unit, deferred=False)
    unit.kills = set().union(*(_certainly_bound(s) for s in unit.statements))
    unit.changed = _changed(unit.statements)
    unit.uses |= {t.id for s in unit.statements if isinstance(s, ast.AugAssign) and isinstance(t := s.target, ast.Name)}


def _scope_names(table: symtable.SymbolTable, unit: _Unit, deferred: bool) -> None:
    """Globals read by a nested scope: now (class bodies, comprehensions) or when called (functions)."""
    comprehension = table.get_name() in ("listcomp", "setcomp", "dictcomp", "genexpr")
    deferred = deferred or (table.get_type() == "function" and not comprehension)
    for symbol in table.get_symbols():
        if not symbol.is_global():
            continue
        # A function that assigns a global makes its own value: what a top-level call of it left there
        # is not what it reads (so `train(...)` at top level is not needed by `train` itself).
        assigned = symbol.is_declared_global() and symbol.is_assigned()
        if symbol.is_referenced() and not (assigned and deferred):
            (unit.later if deferred else unit.uses).add(symbol.get_name())
        if assigned:
            (unit.assigns if deferred else unit.binds).add(symbol.get_name())
    for child in table.get_children():
        _scope_names(child, unit, deferred)


def _names_roughly(unit: _Unit) -> None:
    """When scope analysis fails (top-level ``await``): every name stored binds, every name read is used."""
    for statement in unit.statements:
        for node in ast.walk(statement):
            if isinstance(node, ast.Name):
                (unit.uses if isinstance(node.ctx, ast.Load) else unit.binds).add(node.id)


def _certainly_bound(statement: ast.stmt) -> set[str]:
    """Names a statement always rebinds (so an earlier binding of them is no longer what counts)."""
    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {statement.name}
    if isinstance(statement, (ast.Import, ast.ImportFrom)):
        return {(a.asname or a.name).split(".")[0] for a in statement.names if a.name != "*"}
    targets = (
        statement.targets
        if isinstance(statement, ast.Assign)
        else ([statement.target] if isinstance(statement, ast.AnnAssign) and statement.value is not None else [])
    )
    names = set()
    for target in targets:
        for node in ast.walk(target):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
    return names


def _changed(statements: list[ast.stmt]) -> set[str]:
    """Names whose object a statement may change: ``x.append(1)``, ``x[0] = 1``, ``x.a = 1``, ``x += 1``."""
    names = set()
    for node in _module_scope(statements):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            names.add(_root(node.func.value))
        elif isinstance(node, (ast.Attribute, ast.Subscript)) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(_root(node.value))
    return names - {""}


def _module_scope(statements: list[ast.stmt]) -> list[ast.AST]:
    """Every node that runs when the statements run (not the bodies of functions, lambdas or classes)."""
    found: list[ast.AST] = []
    pending: list[ast.AST] = list(statements)
    while pending:
        node = pending.pop()
        found.append(node)
        if isinstance(node, SCOPED):
            pending += getattr(node, "decorator_list", []) + getattr(node, "bases", [])
            continue
        pending += list(ast.iter_child_nodes(node))
    return found


def _root(node: ast.AST) -> str:
    """The name whose object ``node`` reaches into (``model`` of ``model.fc.weight[0]``); none past a
    call: what ``encode(s).unsqueeze(0)`` or ``CraftRNN(3, 4).state_dict()`` works on is the call's new
    result, not ``encode`` or ``CraftRNN`` (counting them changed kept exploration lines, and with them
    the cells they read: correct notebooks scored 0). A call that changes its object in a chain
    (``model.to(device).train()``) is a node of its own, counted for ``model``."""
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else ""


def _import_aliases(units: list[_Unit], helpers: frozenset[str] = frozenset()) -> dict[str, set[str]]:
    """Names bound to plotting libraries ("plot"), to any module ("module"), and to libraries not
    installed here ("missing": the sandbox lets their import through and refuses their use); the
    submission's own helper modules (``helpers``) are there when grading."""
    aliases: dict[str, set[str]] = {"plot": set(DISPLAYS), "module": set(), "missing": set()}
    for unit in units:
        for node in _module_scope(unit.statements):
            for local, module in _imported(node):
                aliases["module"].add(local)
                root = module.split(".")[0]
                if root in PLOT_ROOTS:
                    aliases["plot"].add(local)
                elif root not in helpers and not stand_ins.installed(root):
                    aliases["missing"].add(local)
    return aliases


def _imported(node: ast.AST) -> list[tuple[str, str]]:
    """(local name, dotted module or object) bound by an import statement."""
    if isinstance(node, ast.Import):
        return [(a.asname or a.name.split(".")[0], a.name if a.asname else a.name.split(".")[0]) for a in node.names]
    if isinstance(node, ast.ImportFrom) and not node.level and node.module:
        return [(a.asname or a.name, f"{node.module}.{a.name}") for a in node.names if a.name != "*"]
    return []


def _functions(units: list[_Unit]) -> dict[str, list[ast.AST]]:
    functions: dict[str, list[ast.AST]] = {}
    for unit in units:
        for statement in unit.statements:
            if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
                functions.setdefault(statement.name, []).append(statement)
    return functions


def _definitions(units: list[_Unit]) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """For each function and class name: the globals it reads and assigns when called."""
    later: dict[str, set[str]] = {}
    assigns: dict[str, set[str]] = {}
    for unit in units:
        for statement in unit.statements:
            if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                later.setdefault(statement.name, set()).update(unit.later)
                assigns.setdefault(statement.name, set()).update(unit.assigns)
    return later, assigns


def _reach(later: dict[str, set[str]]) -> dict[str, set[str]]:
    """For each function and class: every global it reads when called, through the functions it calls."""
    reach: dict[str, set[str]] = {}
    for start in later:
        seen: set[str] = set()
        pending = [start]
        while pending:
            for used in later[pending.pop()] - seen:
                seen.add(used)
                if used in reach:
                    seen |= reach[used]  # already complete
                elif used in later:
                    pending.append(used)
        reach[start] = seen
    return reach


def _reach_functions(called: set[str], reach: dict[str, set[str]], later: dict[str, set[str]]) -> set[str]:
    """The functions (and classes) that calling ``called`` may run."""
    return set(called).union(*(reach[name] & later.keys() for name in called))


def _training_functions(functions: dict[str, list[ast.AST]], reach: dict[str, set[str]]) -> set[str]:
    """The notebook's own functions that train: by name, by an optimizer step inside, or by calling one."""
    training = {
        name for name, nodes in functions.items() if TRAINING_NAME.search(name) or any(_steps(node) for node in nodes)
    }
    return training | {name for name in functions if reach.get(name, set()) & training}


def _steps(function: ast.AST) -> bool:
    return any(
        isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in STEP_METHODS
        for n in ast.walk(function)
    )


def _kind(unit: _Unit, aliases: dict[str, set[str]], training: set[str], plotting: set[str]) -> str:
    """definition, main, training, plot, print, file, shell, missing, loop or other."""
    if all(_defines(s) for s in unit.statements):
        return "definition"
    if any(_is_main_guard(s) for s in unit.statements):
        return "main"
    signals = {
        _signal(node, aliases, training, plotting)
        for node in _module_scope(unit.statements)
        if isinstance(node, ast.Call)
    }
    for kind in ("training", "plot", "print", "file", "shell"):
        if kind in signals:
            return kind
    if unit.uses & aliases["missing"]:
        return "missing"
    if any(isinstance(s, (ast.For, ast.AsyncFor, ast.While)) for s in unit.statements):
        return "loop"
    return "other"


def _imports_only(unit: _Unit) -> bool:
    """A unit of import statements alone: kept like a definition, unless what it imports is forbidden and
    nothing kept needs it (a cell comparing with ``nn.RNN`` that begins ``from torch.nn import RNN``:
    kept, the import alone gave a correct notebook 0)."""
    return all(isinstance(s, (ast.Import, ast.ImportFrom)) for s in unit.statements)


def _defines(statement: ast.stmt) -> bool:
    """Imports, functions and classes (and docstrings, ``pass``): what graded code is made of."""
    if isinstance(
        statement, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Pass)
    ):
        return True
    return isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant)


def _signal(call: ast.Call, aliases: dict[str, set[str]], training: set[str], plotting: set[str]) -> str:
    """What a call at top level does: training, plot, print, file, shell, or '' (anything else)."""
    func = call.func
    if isinstance(func, ast.Name):
        name = func.id
        if name in training or TRAINING_NAME.search(name):  # own, imported from a helper, or undefined
            return "training"
        if name in plotting or name in aliases["plot"]:
            return "plot"
        return "print" if name in PRINTS else ""
    if isinstance(func, ast.Attribute):
        if isinstance(func.value, ast.Name) and f"{func.value.id}.{func.attr}" in SHELL_CALLS:
            return "shell"
        if func.attr in STEP_METHODS or (TRAINING_NAME.search(func.attr) and (call.args or call.keywords)):
            return "training"
        if _root(func) in aliases["plot"] or func.attr in PLOT_METHODS:
            return "plot"
        if func.attr in FILE_METHODS and (_root(func) in aliases["module"] or func.attr.startswith("to_")):
            return "file"
    return ""


def _is_main_guard(statement: ast.stmt) -> bool:
    """``if __name__ == "__main__":`` without ``else`` (which would run in a ``.py``)."""
    if not isinstance(statement, ast.If) or statement.orelse:
        return False
    test = statement.test
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)):
        return False
    sides = [test.left, test.comparators[0]]
    return (
        sum(isinstance(s, ast.Name) and s.id == "__name__" for s in sides) == 1
        and sum(isinstance(s, ast.Constant) and s.value == "__main__" for s in sides) == 1
    )


# -- choosing what runs ------------------------------------------------------------------------------


def _select(units: list[_Unit], graded: frozenset[str] = frozenset()) -> None:
    """Keep what definitions and the graded names need (backwards, following names), then skip heavy
    statements and what reads their results (forwards)."""
    needed = _needed(units, graded)
    # Objects the notebook made (not its functions, classes or modules): a skipped statement may change
    # those it reads in place (``train(model, ...)``, an optimizer's ``step()`` on the model's weights),
    # so what reads them after it would read them untrained. A teacher round's correct notebooks scored 0:
    # ``assert predict(model, inputs) == "ohlol"`` after the skipped training failed the import.
    made = set().union(*(u.binds for u in units if u.kind != "definition"))
    made -= set().union(*(u.binds for u in units if u.kind == "definition"))
    holding = _holding(units, made)
    tainted: set[str] = set()
    for unit in units:
        if unit in needed:
            unit.keep = True
        elif unit.kind in HEAVY or unit.kind == "main":
            unit.keep = False
        elif unit.uses & tainted:
            unit.keep, unit.kind = False, "derived"
        else:
            unit.keep = True
        if unit.keep:
            tainted -= unit.kills
        else:
            tainted |= unit.binds | set().union(*(holding[name] for name in unit.uses & made))


def _holding(units: list[_Unit], made: set[str]) -> dict[str, set[str]]:
    """Each object the notebook made -> the objects that may hold it or be held by it: those a statement
    binds with those it reads (``opt = Adam(clf.parameters())``: the optimizer's step changes the
    classifier), taken together, since one changed in place may change the others."""
    group = {name: {name} for name in made}
    for unit in units:
        names = (unit.binds | unit.uses) & made
        if unit.kind == "definition" or len(names) < 2:
            continue
        merged = set().union(*(group[name] for name in names))
        for name in merged:
            group[name] = merged
    return group


def _needed(units: list[_Unit], graded: frozenset[str] = frozenset()) -> set[_Unit]:
    """Definitions, statements that bind a graded name, and every statement whose bindings they read
    (at definition or when called)."""
    live = set(graded).union(*(u.later for u in units if u.kind == "definition"))
    needed: set[_Unit] = set()
    for unit in reversed(units):
        if unit.kind == "main" or (unit.kind != "definition" and not unit.binds & live):
            continue
        needed.add(unit)
        live -= unit.kills
        live |= unit.uses | unit.later
    return needed


# -- writing the module ------------------------------------------------------------------------------


def _emit(units: list[_Unit], line_map: dict[int, tuple[int, int]]) -> str:
    """Future imports first (Python requires it), then the prelude if any stand-in is needed, then the
    cells; ``line_map`` records where each line came from."""
    out: list[str] = []

    def add(text: str, origin: tuple[int, int] | None = None) -> None:
        out.append(text)
        if origin is not None:
            line_map[len(out)] = origin

    futures = [u for u in units if all(_is_future(s) for s in u.statements)]
    for unit in futures:
        for number in range(unit.first, unit.last + 1):
            add(unit.lines[number - 1], (unit.cell, number))
    wraps = {id(u): _wrapped_imports(u) for u in units}
    display = _missing_display(units)
    if any(wraps.values()) or display:
        out += PRELUDE.splitlines()
        if display:
            out.append('display = _GraderStandIn("IPython.display.display")')
        out.append("")
    cell = 0
    for unit in units:
        if unit in futures:
            continue
        if unit.cell != cell:
            if cell:
                add("")
            cell = unit.cell
            add(f"# --- cell {cell} ---")
        _emit_unit(unit, wraps[id(unit)], add)
    return "\n".join(out) + "\n"


def _emit_unit(
    unit: _Unit, wraps: dict[int, tuple[int, str, list[str]]], add: Callable[[str, tuple[int, int] | None], None]
) -> None:
    """The unit's lines, imports of stand-in libraries inside ``try:``/``except ImportError:``."""
    number = unit.first
    while number <= unit.last:
        if number not in wraps:
            add(unit.lines[number - 1], (unit.cell, number))
            number += 1
            continue
        end, indent, fallbacks = wraps[number]
        add(f"{indent}try:", None)
        add(indent + "    " + unit.lines[number - 1][len(indent) :], (unit.cell, number))  # tabs stay first
        for inner in range(number + 1, end + 1):
            add("    " + unit.lines[inner - 1], (unit.cell, inner))
        add(f"{indent}except ImportError:", None)
        for fallback in fallbacks or ["pass"]:
            add(f"{indent}    {fallback}", None)
        number = end + 1


def _wrapped_imports(unit: _Unit) -> dict[int, tuple[int, str, list[str]]]:
    """Imports of stand-in libraries that sit on lines of their own: first line -> (last line, indent,
    the assignments of stand-ins that replace the import when it fails)."""
    wraps = {}
    for node in ast.walk(ast.Module(body=unit.statements, type_ignores=[])):
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        imported = _imported(node)
        if not imported or not all(module.split(".")[0] in STAND_IN_ROOTS for _, module in imported):
            continue
        first, last = node.lineno, node.end_lineno or node.lineno
        line = unit.lines[first - 1]
        indent = line[: len(line) - len(line.lstrip())]
        rest = unit.lines[last - 1].encode()[node.end_col_offset or 0 :].decode(errors="replace").strip()
        if len(indent.encode()) != node.col_offset or (rest and not rest.startswith("#")):
            continue  # shares its line with other code: left as it is
        wraps[first] = (last, indent, [f"{local} = _GraderStandIn({module!r})" for local, module in imported])
    return wraps


def _missing_display(units: list[_Unit]) -> bool:
    """``display(...)``, IPython's built-in in notebooks, used but never defined or imported."""
    used = set().union(*(u.uses | u.later for u in units))
    bound = set().union(*(u.binds for u in units))
    return "display" in used and "display" not in bound


def _is_future(statement: ast.stmt) -> bool:
    return isinstance(statement, ast.ImportFrom) and statement.module == "__future__"


def _grouped(skipped: list[tuple[int, str]]) -> str:
    """``training (cell 5), 2 plots (cells 6 and 8), a print (cell 7)``: kinds counted once per cell."""
    cells: dict[str, list[int]] = {}
    for cell, kind in skipped:
        if cell not in cells.setdefault(kind, []):
            cells[kind].append(cell)
    parts = []
    for kind, numbers in cells.items():
        singular, plural = LABELS.get(kind, ("a statement", "{n} statements"))
        label = (singular if len(numbers) == 1 else plural).format(n=len(numbers))
        parts.append(f"{label} ({_cells(numbers)})")
    return ", ".join(parts)


def _cells(numbers: list[int]) -> str:
    shown = [str(n) for n in numbers[:MAX_CELLS_SHOWN]]
    if len(numbers) > MAX_CELLS_SHOWN:
        return f"cells {', '.join(shown)}, ..."
    if len(shown) == 1:
        return f"cell {shown[0]}"
    return f"cells {', '.join(shown[:-1])} and {shown[-1]}"
