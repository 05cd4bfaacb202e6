"""Student stubs from reference solutions: the code between solution markers becomes
``raise NotImplementedError``; signatures, docstrings, constants and imports stay.

    def rnn_step(x_t, h_prev, ...):
        \"\"\"One time step ...\"\"\"
        # BEGIN SOLUTION
        z = x_t @ W_ih.T + ...           ->      raise NotImplementedError  # your code here
        return activate(z, activation)
        # END SOLUTION

Text after ``# BEGIN SOLUTION:`` becomes a hint comment in the stub. A block at module level is removed.
"""

from __future__ import annotations

import ast
import json

BEGIN = "# BEGIN SOLUTION"
END = "# END SOLUTION"


class StubError(ValueError):
    """Solution markers are unbalanced or the stub would not be valid Python."""


def make_stub(source: str, filename: str = "solution") -> str:
    lines = source.splitlines(keepends=True)
    out: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        stripped = line.strip()
        if stripped.startswith(END):
            raise StubError(f"{filename}:{index + 1}: {END} without {BEGIN}")
        if not stripped.startswith(BEGIN):
            out.append(line)
            index += 1
            continue
        indent = line[: len(line) - len(line.lstrip())]
        hint = stripped[len(BEGIN) :].lstrip(":").strip()
        end = index + 1
        while end < len(lines) and not lines[end].strip().startswith(END):
            if lines[end].strip().startswith(BEGIN):
                raise StubError(f"{filename}:{end + 1}: nested {BEGIN}")
            end += 1
        if end == len(lines):
            raise StubError(f"{filename}:{index + 1}: {BEGIN} is never closed by {END}")
        if hint:
            out.append(f"{indent}# Hint: {hint}\n")
        if indent:
            out.append(f"{indent}raise NotImplementedError  # your code here\n")
        index = end + 1
    stub = "".join(out)
    try:
        ast.parse(stub)
    except SyntaxError as exc:
        raise StubError(f"{filename}: the stub is not valid Python ({exc.msg}, line {exc.lineno})") from None
    return stub


def notebook_from_stub(stub: str, title: str, handout: str = "README.md") -> str:
    """The same stub as a notebook: an introduction, then one code cell per top-level definition."""
    import nbformat

    cells = [
        nbformat.v4.new_markdown_cell(
            f"# {title}\n\nFill in every function that raises `NotImplementedError`; the handout is {handout}. "
            "The notebook is graded as the same code in a .py would be; training runs, plots and prints "
            "that nothing graded needs are skipped (the feedback says which).\n\nCheck your work with "
            "`grade submit .` in this folder.",
            id="intro",
        )
    ]
    for number, chunk in enumerate(_chunks(stub), start=1):
        cells.append(nbformat.v4.new_code_cell(chunk, id=f"cell-{number}"))
    notebook = nbformat.v4.new_notebook(
        cells=cells,
        metadata={
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
    )
    text = nbformat.writes(notebook)
    json.loads(text)  # always valid JSON
    return text if text.endswith("\n") else text + "\n"


def _chunks(source: str) -> list[str]:
    """Split at top-level definitions, keeping comments and decorators with what follows them."""
    tree = ast.parse(source)
    lines = source.splitlines()
    starts = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            first = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
            while first > 0 and lines[first - 1].startswith("#"):
                first -= 1
            starts.append(first)
    bounds = [0] + [s for s in starts if s > 0] + [len(lines)]
    chunks = []
    for begin, end in zip(bounds, bounds[1:]):
        text = "\n".join(lines[begin:end]).strip("\n")
        if text.strip():
            chunks.append(text)
    return chunks
