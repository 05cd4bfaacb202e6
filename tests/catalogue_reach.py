"""Which checks can name a catalogued mistake, and a course in which the others are skipped.

A mistake is named only through a probe its catalogue entry covers (``Catalog.for_probe``), so a check
whose every probe no entry covers can only pass or fail. The training checks of a4 and a5 are such
checks, and they cost most of each student's grading time (a5: 3.5 of 4 CPU-s). Tests about naming
mistakes grade their wrong submissions on :func:`course_naming_only` (conftest's ``naming_course``),
a copy of the course in which those checks are skipped; the reference, the stub and every test about
what training earns still run them on the course itself.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

from grader.course.mistakes import load_catalog
from grader.course.model import AssignmentSpec, load_course

SKIP_REASON = "left out here: this check can name no catalogued mistake (tests/catalogue_reach.py)"


def probe_names(spec: AssignmentSpec) -> set[str]:
    tree = ast.parse(spec.probes_source())
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef) and not node.name.startswith("_")}


def probes_of_checks(spec: AssignmentSpec) -> dict[str, set[str]]:
    """check function -> the probes it names: string literals that are probe names, in its body or in
    the bodies of the functions of the checks folder it calls (helpers such as ``shared.py``'s)."""
    probes = probe_names(spec)
    functions = {
        node.name: node
        for path in sorted(spec.checks_dir.glob("*.py"))
        for node in ast.parse(path.read_text(encoding="utf-8")).body
        if isinstance(node, ast.FunctionDef)
    }

    def literals(name: str, seen: set[str]) -> set[str]:
        seen.add(name)
        found: set[str] = set()
        for node in (n for part in functions[name].body for n in ast.walk(part)):
            if isinstance(node, ast.Constant) and node.value in probes:
                found.add(str(node.value))
            called = node.func if isinstance(node, ast.Call) else None
            callee = called.id if isinstance(called, ast.Name) else getattr(called, "attr", None)
            if callee in functions and callee not in seen:
                found |= literals(callee, seen)
        return found

    return {name: literals(name, set()) for name in functions if name.startswith("test_")}


def checks_naming_no_mistake(spec: AssignmentSpec) -> set[str]:
    """The checks that call probes, none of which a catalogue entry covers."""
    catalog = load_catalog(spec.mistakes_path)
    return {
        name
        for name, probes in probes_of_checks(spec).items()
        if probes and not any(catalog.for_probe(probe) for probe in probes)
    }


def course_naming_only(source: Path, copy: Path) -> Path:
    """A copy of the course at ``source`` (an instructor's course or a student copy) in which the checks
    that can name no catalogued mistake are skipped: left out of the score, as a rule that cannot apply
    on this device is. Each is skipped by a line appended to its checks file, which stays as it was."""
    ignore = shutil.ignore_patterns("__pycache__")
    if (source / "assignments").is_dir():  # an instructor's course: what grading reads of it
        for part in ("assignments", "solutions", "course.toml"):
            if (source / part).is_dir():
                shutil.copytree(source / part, copy / part, ignore=ignore)
            elif (source / part).is_file():
                shutil.copy2(source / part, copy / part)
    else:
        shutil.copytree(source, copy, ignore=ignore)
    course = load_course(copy)
    for spec in course.assignments.values():
        unnameable = checks_naming_no_mistake(spec)
        for path in sorted(spec.checks_dir.glob("test_*.py")):
            source_text = path.read_text(encoding="utf-8")
            defined = {node.name for node in ast.parse(source_text).body if isinstance(node, ast.FunctionDef)}
            skipped = sorted(unnameable & defined)
            if skipped:
                lines = "".join(
                    f"{name} = _reach_pytest.mark.skip(reason={SKIP_REASON!r})({name})\n" for name in skipped
                )
                path.write_text(f"{source_text}\n\nimport pytest as _reach_pytest\n\n{lines}", encoding="utf-8")
    return copy
