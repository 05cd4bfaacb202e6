"""The package's layout is its architecture: each folder imports only the folders below it.

Data flows down the list in LAYERS: a submission is taken in (intake) for a course, judged by checks
that talk to the sandbox, graded slot by slot, then packaged or reported. A folder may import a folder
of a lower layer (or itself), never one above it; ``inside`` (what runs next to student code) may
import only itself and the wire format, since the sandbox shows it nothing else it could trust.
"""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "grader"

# Lowest first. Top-level modules (grader/text.py, grader/checks.py, ...) are named by their stem.
LAYERS: list[set[str]] = [
    {"grader", "text", "files", "errors", "wire"},
    {"inside", "sandbox"},
    {"course"},
    {"intake"},
    {"report"},
    {"judging"},
    {"grading", "checks"},
    {"packaging"},
    {"cli"},
    {"__main__"},
]
INSIDE_MAY_IMPORT = {"inside", "wire"}


def _rank(part: str) -> int:
    for rank, layer in enumerate(LAYERS):
        if part in layer:
            return rank
    raise AssertionError(f"grader/{part} is in no layer of tests/test_layout.py: place it there")


def _part(module: str) -> str:
    """grader.judging.plugin -> judging; grader.cli -> cli; grader -> grader."""
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 else "grader"


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
        found[name] = path
    return found


def _imports(path: Path) -> list[tuple[int, str, int]]:
    """(line, imported grader module, relative level) for each import in the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                found.append((node.lineno, node.module or "", node.level))
            elif node.module and (node.module == "grader" or node.module.startswith("grader.")):
                found.append((node.lineno, node.module, 0))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, 0) for alias in node.names if alias.name.split(".")[0] == "grader"]
    return found


MODULES = _modules()


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_import_runs_back_up(module):
    mine = _part(module)
    wrong = []
    for line, imported, level in _imports(MODULES[module]):
        assert level == 0, f"{MODULES[module]}:{line}: a relative import; write `from grader.… import …`"
        theirs = _part(imported)
        if theirs == mine:
            continue
        if mine == "inside" and theirs not in INSIDE_MAY_IMPORT:
            wrong.append(
                f"line {line}: {imported} (code inside the sandbox imports only grader.inside and grader.wire)"
            )
        elif _rank(theirs) > _rank(mine):
            wrong.append(f"line {line}: {imported} (a higher layer than grader/{mine})")
    assert not wrong, f"{MODULES[module]} imports upward:\n" + "\n".join(wrong)


def test_no_two_modules_share_a_name():
    stems = Counter(path.stem for path in MODULES.values() if path.name != "__init__.py")
    assert [stem for stem, count in stems.items() if count > 1] == []


def test_every_folder_is_placed_in_a_layer():
    for module in MODULES:
        _rank(_part(module))


def test_the_layer_rule_can_fail(tmp_path):
    """The checker itself: an upward import and a relative one are found."""
    bad = tmp_path / "bad.py"
    bad.write_text("from grader.cli import main\nfrom . import x\n")
    found = _imports(bad)
    assert (1, "grader.cli", 0) in found and any(level == 1 for _, _, level in found)
    assert _rank("cli") > _rank("report")


# Python's recursive walks and copies (``Path.rglob``, ``os.walk`` before 3.12, ``shutil.copytree``) fail
# with RecursionError on a folder deeper than the recursion limit: only folders the course or the grader
# owns are walked so. A student's folder is walked by grader.intake.tree.files_under (a hostile round's
# 1,500 nested folders said the grader had failed, and stopped a class's gradebook).
RECURSIVE_WALKS = {"rglob", "walk", "copytree"}
WALKS_OF_TRUSTED_FOLDERS = {
    "grader.course.model",  # the course's data folder
    "grader.grading.cluster",  # the course's checks, probes and references (its fingerprint)
    "grader.packaging.release",  # the student copy the release writes
    "grader.packaging.gradescope",  # the grader's own source, into the autograder zip
    "grader.packaging.wheel",  # the grader's own source, into the students' wheel
    "grader.packaging.gradescope_run",  # the autograder's source on Gradescope (lock_down)
}


def _recursive_walks(path: Path) -> list[int]:
    """Lines calling ``X.rglob(...)``, ``os.walk(...)`` or ``shutil.copytree(...)``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in RECURSIVE_WALKS:
            owner = node.func.value
            if node.func.attr == "rglob" or (isinstance(owner, ast.Name) and owner.id in ("os", "shutil")):
                found.append(node.lineno)
    return found


def test_no_folder_a_student_shapes_is_walked_by_recursion():
    walking = {module for module, path in MODULES.items() if _recursive_walks(path)}
    assert walking <= WALKS_OF_TRUSTED_FOLDERS, sorted(walking - WALKS_OF_TRUSTED_FOLDERS)


def test_the_walk_rule_can_fail(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import os, shutil\nos.walk(x)\nfolder.rglob('*')\nshutil.copytree(a, b)\nast.walk(t)\n")
    assert _recursive_walks(sample) == [2, 3, 4]
