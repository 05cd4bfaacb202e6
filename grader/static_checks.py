"""What can be learnt from a submission's source without running it: syntax errors, forbidden imports
and uses of forbidden APIs (resolving ``import torch.nn as nn`` so ``nn.RNN`` is seen as
``torch.nn.RNN``, and catching ``class MyRNN(nn.RNN)`` and ``getattr(torch, "rnn_tanh")``).

Parsing happens in the trusted process, but parsing never runs code; the size of the source is
capped before it gets here.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field


@dataclass
class StaticFindings:
    syntax_error: str | None = None
    blocked_imports: list[tuple[int, str]] = field(default_factory=list)   # (line, module)
    forbidden_uses: list[tuple[int, str]] = field(default_factory=list)    # (line, dotted name)

    def describe_blocked(self, filename: str) -> str:
        return _describe(self.blocked_imports, filename, "imports")

    def describe_forbidden(self, filename: str) -> str:
        return _describe(self.forbidden_uses, filename, "uses")


def analyse(source: str, filename: str, blocked: tuple[str, ...] = (),
            forbidden: tuple[str, ...] = ()) -> StaticFindings:
    findings = StaticFindings()
    try:
        tree = ast.parse(source, filename=filename)
    except SyntaxError as exc:
        findings.syntax_error = syntax_message(exc, filename)
        return findings
    except (ValueError, RecursionError, MemoryError) as exc:
        findings.syntax_error = f"{filename} cannot be parsed ({type(exc).__name__}: nested too deeply?)"
        return findings
    visitor = _Visitor(blocked, forbidden)
    visitor.visit(tree)
    findings.blocked_imports = visitor.blocked
    findings.forbidden_uses = visitor.forbidden
    return findings


def syntax_message(exc: SyntaxError, filename: str) -> str:
    where = f"line {exc.lineno}" + (f", column {exc.offset}" if exc.offset else "")
    text = (exc.text or "").rstrip("\n")
    shown = f":\n    {text.strip()}" if text.strip() else ""
    return f"{filename} has a syntax error ({exc.msg}) at {where}{shown}"


class _Visitor(ast.NodeVisitor):
    def __init__(self, blocked: tuple[str, ...], forbidden: tuple[str, ...]) -> None:
        self.blocked_roots = blocked
        self.forbidden_names = forbidden
        self.aliases: dict[str, str] = {}   # local name -> dotted module/object path
        self.blocked: list[tuple[int, str]] = []
        self.forbidden: list[tuple[int, str]] = []

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
        if _is_main_guard(node.test):
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


def _names_same_api(dotted: str, forbidden: str) -> bool:
    """``dotted`` reaches ``forbidden``: the name itself or something inside it, or the same object by
    another path of the same package (torch.nn.modules.rnn.RNN for torch.nn.RNN,
    torch._C._VariableFunctions.rnn_tanh or torch.ops.aten.rnn_tanh for torch.rnn_tanh)."""
    if dotted == forbidden or dotted.startswith(forbidden + "."):
        return True
    parts, wanted = dotted.split("."), forbidden.split(".")
    return len(wanted) > 1 and parts[0] == wanted[0] and wanted[-1] in parts[1:]


def _is_main_guard(test: ast.expr) -> bool:
    """``__name__ == "__main__"`` (either way round)."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)):
        return False
    sides = [test.left, test.comparators[0]]
    names = [s for s in sides if isinstance(s, ast.Name) and s.id == "__name__"]
    texts = [s for s in sides if isinstance(s, ast.Constant) and s.value == "__main__"]
    return len(names) == 1 and len(texts) == 1


def _describe(found: list[tuple[int, str]], filename: str, verb: str) -> str:
    if not found:
        return ""
    shown = ", ".join(f"`{name}` (line {line})" for line, name in found[:5])
    more = f" and {len(found) - 5} more" if len(found) > 5 else ""
    return f"{filename} {verb} {shown}{more}"
