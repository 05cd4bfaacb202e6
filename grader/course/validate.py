"""Checking a course's own material before it grades anyone: a check author's mistake is found here,
not charged to a student (``grade check``, and the first step of ``grade release``).

Read without running anything: the probes and verifier functions the checks ask for exist, every
catalogued mistake's patches apply to the reference and name existing probes, and each assignment's
id matches its folder and module.
"""

from __future__ import annotations

import ast
import fnmatch
import functools
from collections.abc import Iterable
from dataclasses import dataclass

from grader.course.mistakes import CatalogError, load_catalog
from grader.course.model import AssignmentSpec, Course, CourseError

# Calls whose first string argument names a probe (``judge.compare("forward", ...)``), or a verify function.
PROBE_CALLS = {("judge", "compare"), ("judge", "run"), ("student", "run"), ("reference", "expected")}
# Keywords of those calls that are the judge's options, not the probe's arguments.
JUDGE_OPTIONS = frozenset(
    {"seed", "rtol", "atol", "keys", "check_dtype", "timeout", "per_key", "curve", "name", "explain"}
)
VERIFY_CALLS = {("verifier", "measure")}


@functools.lru_cache(maxsize=32)
def defined_functions(source: str | None) -> frozenset[str]:
    """The top-level functions a probes.py or verify.py defines, read without running it."""
    try:
        tree = ast.parse(source or "")
    except SyntaxError:
        return frozenset()
    return frozenset(node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)))


def probe_names(spec: AssignmentSpec) -> frozenset[str]:
    """The probes ``spec`` defines, read again only when probes.py changes (asked on every probe call)."""
    path = spec.probes_path
    return _probe_names_of(str(path), path.stat().st_mtime_ns)


@functools.lru_cache(maxsize=32)
def _probe_names_of(path: str, mtime_ns: int) -> frozenset[str]:
    with open(path, encoding="utf-8") as source:
        return defined_functions(source.read())


@dataclass(frozen=True)
class ProbeParameters:
    """What a probe takes after the student's module: its parameters' names, those without a default,
    and whether it takes any keyword (``**kwargs``)."""

    names: frozenset[str]
    required: frozenset[str]
    any_keyword: bool

    def refuses(self, given: Iterable[str]) -> str:
        """Why a call with the keywords ``given`` cannot bind (the seed is passed only where taken), or ''."""
        given = set(given) - {"seed"}
        unknown = sorted(given - self.names) if not self.any_keyword else []
        missing = sorted(self.required - given - {"seed"})
        if unknown:
            return f"it does not take {', '.join(unknown)} (its parameters: {', '.join(sorted(self.names)) or 'none'})"
        if missing:
            return f"the call does not give {', '.join(missing)}, which it needs"
        return ""


def probe_parameters(spec: AssignmentSpec) -> dict[str, ProbeParameters]:
    """Each probe's parameters, read without running probes.py (again only when it changes)."""
    path = spec.probes_path
    return _probe_parameters_of(str(path), path.stat().st_mtime_ns)


@functools.lru_cache(maxsize=32)
def _probe_parameters_of(path: str, mtime_ns: int) -> dict[str, ProbeParameters]:
    with open(path, encoding="utf-8") as source:
        try:
            tree = ast.parse(source.read())
        except SyntaxError:
            return {}
    found = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            arguments = node.args
            positional = [*arguments.posonlyargs, *arguments.args][1:]  # after the student's module
            defaults = len(arguments.defaults)
            required = (
                [a.arg for a in positional[: len(positional) - defaults]] if defaults else [a.arg for a in positional]
            )
            required += [a.arg for a, d in zip(arguments.kwonlyargs, arguments.kw_defaults) if d is None]
            names = [a.arg for a in positional] + [a.arg for a in arguments.kwonlyargs]
            found[node.name] = ProbeParameters(frozenset(names), frozenset(required), arguments.kwarg is not None)
    return found


def keywords_given(check_source: str) -> list[tuple[int, str, frozenset[str]]]:
    """(line, probe, literal keywords) of each probe call a check file makes by a literal name (also
    ``judge.compare_curve``); keywords spread from a dict (``**case``) are not known here."""
    calls = []
    for node in ast.walk(ast.parse(check_source)):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        target = node.func
        pair = (target.value.id, target.attr) if isinstance(target.value, ast.Name) else None
        name = _first_string(node.args[0]) if node.args else None
        if name and (pair in PROBE_CALLS or pair == ("judge", "compare_curve")):
            given = frozenset(k.arg for k in node.keywords if k.arg is not None) - JUDGE_OPTIONS
            calls.append((node.lineno, name, given))
    return calls


def asked_for(check_source: str) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """(line, name) of every probe and every verify function a check file asks for by a literal name."""
    probes: list[tuple[int, str]] = []
    verified: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(check_source)):
        if not isinstance(node, ast.Call):
            continue
        name = _first_string(node.args[0]) if node.args else None
        target = node.func
        if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and name:
            pair = (target.value.id, target.attr)
            if pair in PROBE_CALLS:
                probes.append((node.lineno, name))
            elif pair in VERIFY_CALLS:
                verified.append((node.lineno, name))
            elif pair == ("reference", "mistake") and len(node.args) > 1 and _first_string(node.args[1]):
                probes.append((node.lineno, _first_string(node.args[1]) or ""))
        elif isinstance(target, ast.Name) and target.id == "measured_runs" and len(node.args) > 2:
            function = _first_string(node.args[2])
            if function:
                verified.append((node.lineno, function))
    return probes, verified


def grader_imports(source: str) -> list[tuple[int, str]]:
    """(line, module) of every import of the grader package in ``source`` (none where it does not parse)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if alias.name.split(".")[0] == "grader"]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "grader":
            found.append((node.lineno, node.module or ""))
    return found


def _first_string(node: ast.expr) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def problems_of(spec: AssignmentSpec) -> list[str]:
    """Everything wrong with one assignment's material, one sentence each."""
    found: list[str] = []
    if spec.spec_dir.name not in (spec.id, "grading"):
        found.append(
            f"{spec.spec_dir}: the folder is named {spec.spec_dir.name!r} but assignment.toml says id = {spec.id!r}"
        )
    sources = {"probes.py": spec.probes_source() or "", "verify.py": spec.verify_source() or ""}
    broken = {name: _syntax_error(name, source) for name, source in sources.items()}
    found += [problem for problem in broken.values() if problem]
    probes = defined_functions(sources["probes.py"])
    verifiers = defined_functions(sources["verify.py"])
    found += [
        f"assignment.toml: public_checks names {name}, which is not in checks/"
        for name in spec.public_checks
        if not (spec.checks_dir / name).is_file()
    ]
    found += [
        f"{name}, line {line}: imports {module}, but it runs in the sandbox: only grader.inside is there"
        for name, source in sources.items()
        for line, module in grader_imports(source)
        if not module.startswith("grader.inside")
    ]
    for path in sorted(spec.checks_dir.glob("*.py")):  # the checks and their helper modules
        try:
            text = path.read_text(encoding="utf-8")
            asked, verified = asked_for(text)
        except (OSError, SyntaxError, ValueError) as exc:
            found.append(f"{path}: cannot be read ({exc})")
            continue
        found += [
            f"{path.name}, line {line}: imports {module}; checks take what they need from grader.checks "
            "(the grader's internals change between versions)"
            for line, module in grader_imports(text)
            if module != "grader.checks"
        ]
        found += [
            f"{path.name}, line {line}: no probe named {name!r} in probes.py"
            for line, name in asked
            if name not in probes and not broken["probes.py"]
        ]
        parameters = _probe_parameters_of(str(spec.probes_path), spec.probes_path.stat().st_mtime_ns)
        for line, name, given in keywords_given(text):
            taken = parameters.get(name)
            unknown = sorted(given - taken.names) if taken is not None and not taken.any_keyword else []
            if taken is not None and unknown:
                found.append(
                    f"{path.name}, line {line}: the probe {name!r} does not take {', '.join(unknown)} "
                    f"(its parameters in probes.py: {', '.join(sorted(taken.names)) or 'none'})"
                )
        found += [
            f"{path.name}, line {line}: no function named {name!r} in verify.py"
            for line, name in verified
            if name not in verifiers and not broken["verify.py"]
        ]
    try:
        catalog = load_catalog(spec.mistakes_path)
    except CatalogError as exc:
        return found + [str(exc)]
    try:
        solution = spec.solution_files() if spec.solution_dir is not None else None
    except CourseError:  # said below: no module file among the solution's files
        solution = None
    for mistake in catalog.mistakes:
        found += [
            f"mistakes.toml, {mistake.id}: shows in {pattern!r}, which matches no probe of probes.py"
            for pattern in mistake.probes
            if not fnmatch.filter(probes, pattern)
        ]
        if solution is not None:
            try:
                mistake.mutate(solution, spec.module)
            except CatalogError as exc:
                found.append(f"mistakes.toml, {mistake.id}: {exc}")
    if spec.solution_dir is not None and not (spec.solution_dir / f"{spec.module}.py").is_file():
        found.append(f"{spec.solution_dir}: no {spec.module}.py (assignment.toml says module = {spec.module!r})")
    return found


def _syntax_error(name: str, source: str) -> str:
    """Where ``source`` cannot be parsed, in a sentence (every probe it defines would seem missing)."""
    try:
        ast.parse(source)
    except SyntaxError as exc:
        return f"{name}, line {exc.lineno}: syntax error ({exc.msg}): none of its functions can be found"
    return ""


def course_problems(course: Course) -> dict[str, list[str]]:
    return {spec.id: problems_of(spec) for spec in course.assignments.values()}


def describe(problems: dict[str, list[str]]) -> str:
    lines = [f"{assignment}: {problem}" for assignment, listed in problems.items() for problem in listed]
    return "\n".join(lines)
