"""Turn a student's notebook into a module that defines things without running the training cells.

Magics (``%time``), shell lines (``!pip``) and cell magics are dropped. By default only top-level
statements that define something cheaply are kept: imports, functions, classes, and assignments of
literals, lambdas and a few harmless built-in calls. Loops, bare calls and assignments that call
anything else (``model = Model()``) would train models or print during grading, so they are dropped
and listed in the feedback. nbformat is imported only here, only when a notebook is submitted.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

SAFE_CALLS = frozenset({
    "len", "range", "list", "dict", "set", "tuple", "frozenset", "str", "int", "float", "bool",
    "enumerate", "zip", "sorted", "reversed", "min", "max", "sum", "ord", "chr", "abs", "round",
    "torch.device", "torch.cuda.is_available", "torch.backends.mps.is_available",
})
MAX_NOTES = 12


class NotebookError(ValueError):
    """The file is not a notebook nbformat can read."""


@dataclass
class Conversion:
    source: str
    kept: int = 0
    dropped: list[str] = field(default_factory=list)
    line_map: dict[int, tuple[int, int]] = field(default_factory=dict)  # module line -> (cell, cell line)

    def notes(self, filename: str) -> list[str]:
        if not self.dropped:
            return []
        shown = self.dropped[:MAX_NOTES]
        more = len(self.dropped) - len(shown)
        lines = [
            f"{filename}: kept {self.kept} definitions; {len(self.dropped)} top-level statements that would "
            "run work at import were not run:"
        ]
        lines += [f"  {item}" for item in shown]
        if more:
            lines.append(f"  ... and {more} more")
        return lines


def convert(text: str, keep_everything: bool = False) -> Conversion:
    import nbformat  # slow to import (jsonschema); only paid when a notebook is submitted

    try:
        notebook = nbformat.reads(text, as_version=4)
    except Exception as exc:  # nbformat raises many kinds (JSON errors, validation, version)
        raise NotebookError(f"not a readable Jupyter notebook ({type(exc).__name__}: {exc})") from None
    conversion = Conversion(source="")
    lines: list[str] = []
    code_cells = [cell for cell in notebook.get("cells", []) if cell.get("cell_type") == "code"]
    for number, cell in enumerate(code_cells, start=1):
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(source)
        kept = _convert_cell(str(source), number, keep_everything, conversion)
        if not kept:
            continue
        lines.append(f"# --- code cell {number} ---")
        for text, cell_line in kept:
            lines.append(text)
            conversion.line_map[len(lines)] = (number, cell_line)
        lines.append("")
    conversion.source = "\n".join(lines) + "\n"
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


def _convert_cell(source: str, number: int, keep_everything: bool,
                  conversion: Conversion) -> list[tuple[str, int]]:
    """The kept lines of one cell, each with its line number within the cell."""
    if source.lstrip().startswith("%%"):
        conversion.dropped.append(f"cell {number}: cell magic `{_first_line(source)}`")
        return []
    lines = [_strip_ipython(line) for line in source.splitlines()]
    text = "\n".join(lines)
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        detail = getattr(exc, "msg", None) or type(exc).__name__
        line = getattr(exc, "lineno", None)
        conversion.dropped.append(f"cell {number}: skipped, it has a syntax error ({detail}, line {line})")
        return []
    kept: list[tuple[str, int]] = []
    for statement in tree.body:
        first = min([statement.lineno] + [d.lineno for d in getattr(statement, "decorator_list", [])])
        if keep_everything or keeps(statement):
            kept += [(lines[i - 1], i) for i in range(first, (statement.end_lineno or first) + 1)]
            conversion.kept += 1
        else:
            segment = ast.get_source_segment(text, statement) or ""
            conversion.dropped.append(f"cell {number}, line {statement.lineno}: `{_first_line(segment)}`")
    return kept


def _strip_ipython(line: str) -> str:
    stripped = line.lstrip()
    if stripped.startswith(("%", "!")) or (stripped.endswith("?") and not stripped.startswith("#")):
        return line[: len(line) - len(stripped)] + "pass  # IPython line removed by the grader"
    return line


def keeps(statement: ast.stmt) -> bool:
    """Whether a top-level statement only defines something (and so is safe and cheap to run)."""
    if isinstance(statement, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return True
    if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
        return True  # a docstring
    if isinstance(statement, ast.Assign):
        return _static(statement.value)
    if isinstance(statement, ast.AnnAssign):
        return statement.value is None or _static(statement.value)
    if isinstance(statement, ast.Try):
        body = statement.body + statement.orelse + statement.finalbody
        body += [s for handler in statement.handlers for s in handler.body]
        return all(keeps(s) or isinstance(s, ast.Pass) for s in body)
    return False


def _static(node: ast.AST) -> bool:
    """An expression that evaluates quickly and without side effects (a lambda's body runs later)."""
    if isinstance(node, ast.Lambda):
        return all(_static(default) for default in node.args.defaults + node.args.kw_defaults if default)
    if isinstance(node, ast.Call) and _dotted(node.func) not in SAFE_CALLS:
        return False
    if isinstance(node, (ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr)):
        return False
    return all(_static(child) for child in ast.iter_child_nodes(node))


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _first_line(text: str) -> str:
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first if len(first) <= 70 else first[:67] + "..."
