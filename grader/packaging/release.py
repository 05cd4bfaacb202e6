"""`grade release`: build the student copy of the course from the instructor's.

For each assignment it writes the handout, the stub (as .py and as .ipynb), the public data files,
and a ``grading/`` folder: assignment.toml, probes, the public checks, the mistake catalog without its
patches, and the expected data of the public checks. That data is recorded by grading the reference
and every catalogued mistake against the public checks, so the student copy can grade (and name
mistakes) without the solutions. ``--check`` compares instead of writing; a test runs it.
"""

from __future__ import annotations

import ast
import hashlib
import shutil
from collections.abc import Callable
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from grader.course.mistakes import CatalogError, load_catalog
from grader.course.model import EXPECTED_FILE, GRADING_DIR, AssignmentSpec, Course
from grader.course.validate import describe, problems_of
from grader.files import write_atomic
from grader.grading.slot import GradeOptions, GradingSlot
from grader.intake.submission import SubmittedModule
from grader.judging.compare import is_close
from grader.judging.expected import REFERENCE, dump, load_bytes
from grader.judging.plugin import collection_problems
from grader.packaging.stubs import StubError, make_stub, notebook_from_stub

EXPECTED_RTOL = 1e-6  # expected data recomputed on another CPU may differ in the last bits
SHIPPED_FORMAT = 1
# Two mistakes whose results agree this closely cannot be told apart by any check's tolerance.
ALIKE = {"rtol": 1e-4, "atol": 1e-5}


class ReleaseError(Exception):
    """The student copy cannot be built (broken markers, a failing reference, a stale patch)."""


def release(
    course: Course,
    target: Path,
    check_only: bool = False,
    only: list[str] | None = None,
    recompute: bool = False,
    log: Callable[[str], None] = print,
) -> list[str]:
    """Write (or with ``check_only`` compare) the student copy; return the differences found.

    Expected data is recomputed only when its inputs (probes, solution, public checks, mistake
    catalog) changed since it was written, as recorded by its fingerprint, or with ``recompute``.
    """
    specs = [course.get(a) for a in only] if only else list(course.assignments.values())
    problems = {spec.id: problems_of(spec) + collection_problems(spec) for spec in specs}
    if any(problems.values()):  # a check author's mistake is found here, never charged to a student
        raise ReleaseError("the course's material has problems (`grade check` lists them):\n" + describe(problems))
    produced: dict[str, bytes] = {}
    stale: list[AssignmentSpec] = []
    for spec in specs:
        log(f"{spec.id}: stubs, handout and public checks")
        produced.update(_static_files(spec))
        path = f"{spec.id}/{GRADING_DIR}/{EXPECTED_FILE}"
        committed = _read(target / path)
        if not recompute and _fingerprint_of(committed) == expected_fingerprint(spec, _public(spec)):
            produced[path] = committed  # type: ignore[assignment]
        else:
            stale.append(spec)
    differences: list[str] = []
    if stale and check_only and not recompute:
        for spec in stale:
            path = f"{spec.id}/{GRADING_DIR}/{EXPECTED_FILE}"
            committed = _read(target / path)
            if committed is None:
                differences.append(f"missing: {path}")
                continue
            produced[path] = committed  # said once, here, and not again as a file release does not make
            differences.append(
                f"differs: {path} (out of date: its probes, solution, public checks or mistake catalog changed)"
            )
    elif stale:
        # The student copy answers the checks' own questions; official grading asks fresh ones.
        with GradingSlot(course, GradeOptions(fresh_seeds=False), assignments=[spec.id for spec in stale]) as grader:
            grader.start()
            for spec in stale:
                log(f"{spec.id}: expected data of the public checks (reference and catalogued mistakes)")
                produced[f"{spec.id}/{GRADING_DIR}/{EXPECTED_FILE}"] = expected_data(grader, spec, _public(spec))
    for spec in specs:
        _warn_indistinguishable(spec, produced.get(f"{spec.id}/{GRADING_DIR}/{EXPECTED_FILE}"), log)
    if only is None:
        produced[STUDENT_README] = student_readme().encode("utf-8")
    if check_only:
        return differences + _differences(produced, target, [spec.id for spec in specs])
    for spec in specs:
        shutil.rmtree(target / spec.id, ignore_errors=True)
    for relative, data in sorted(produced.items()):
        write_atomic(target / relative, data)
    return []


STUDENT_README = "README.md"  # at the student copy's root: install the grader, check your work


def student_readme() -> str:
    """The student copy's own README: the one-line install and how `grade submit` is used in it. The
    same for every course and every release (each folder's README.md is its handout)."""
    return """# Your copy of the course

Install the grader once (Python 3.10 or newer; pip brings numpy and torch), from this folder:

```bash
pip install rnn_autograder-*.whl
```

The wheel beside this file holds the grader only, none of the course. Fill in the functions that raise
`NotImplementedError` in an assignment's folder (its `README.md` is the handout), then check your work:

```bash
grade submit FOLDER/                # one assignment: the folder named after it
grade submit FOLDER/MODULE.py       # one file (or MODULE.ipynb)
grade submit .                      # every assignment in this copy
```

`grade submit` grades with the public checks of this copy and says so on its first line ("public
checks only"); it prints your score with what went wrong and writes `feedback/feedback.html`, every
check with what was expected and what your code gave. Your instructor's grading runs the same checks
with fresh inputs, plus hidden ones. `grade submit --help` lists the options. Leave the `grading/`
folders as they are: they hold the public checks and their expected answers.

What is graded is `MODULE.py` (or `MODULE.ipynb`) in the assignment's folder, with the helper `.py`
files beside it that it imports and the data files beside it (JSON, text, CSV, npy, YAML, pt, pkl; 1 MB
each); nothing is read from other folders, and your code imports only the files handed in and the
installed libraries. Your code finds the folder's `data/` files where it runs, as here. Libraries for plots and progress bars (matplotlib, seaborn, tqdm, IPython, Colab's
`google.colab`) may be missing where your work is graded: there every use of them does nothing.
Other libraries your module imports (pandas, say) may be missing too: the import works there, and a
check whose code uses such a library fails with a message naming it.
"""


def _public(spec: AssignmentSpec) -> list[Path]:
    """The public checks and the helper modules they import: what the student copy's answers depend on."""
    checks = [spec.checks_dir / name for name in spec.public_checks]
    return checks + [spec.checks_dir / name for name in shipped_helpers(spec, list(spec.public_checks))]


# -- helper modules: shared by public and hidden checks, shipped only without hidden data -------------


def helper_modules(spec: AssignmentSpec) -> dict[str, Path]:
    """The helper modules beside the checks (``checks/*.py`` other than ``test_*.py``), by module name."""
    return {
        path.stem: path
        for path in sorted(spec.checks_dir.glob("*.py"))
        if not path.name.startswith("test_") and path.name not in ("__init__.py", "conftest.py")
    }


def shipped_helpers(spec: AssignmentSpec, check_names: list[str]) -> list[str]:
    """The helper modules (file names) the given checks import, directly or through another helper
    (``from .shared import read_split``): they travel with those checks.

    A helper travels only if everything it defines serves those checks: a name that only other
    checks use (the hidden ones, when the student copy is built) may be hidden data (a hidden task,
    its seeds), so it raises :class:`ReleaseError` naming it, instead of reaching the student copy."""
    helpers = helper_modules(spec)
    trees = {name: _parse(path) for name, path in helpers.items()}
    wanted: dict[str, set[str]] = {}  # helper -> names imported from it (EVERYTHING: the whole module)
    pending = [_parse(spec.checks_dir / name) for name in check_names if (spec.checks_dir / name).is_file()]
    seen: set[str] = set()
    while pending:
        for helper, names in _helper_imports(pending.pop(), helpers).items():
            wanted.setdefault(helper, set()).update(names)
            if helper not in seen:
                seen.add(helper)
                pending.append(trees[helper])
    problems = []
    for helper, names in sorted(wanted.items()):
        unused = _unreached(trees[helper], names)
        if unused:
            problems.append(
                f"{spec.id}: checks/{helpers[helper].name} travels with {', '.join(check_names)} (imported there) "
                f"but defines {', '.join(unused)}, which those checks never use: what only other (hidden) "
                "checks use may be hidden data. Move it into the hidden checks, or into a helper module "
                "that only they import"
            )
    if problems:
        raise ReleaseError("\n".join(problems))
    return [helpers[helper].name for helper in sorted(wanted)]


EVERYTHING = "*"


def _parse(path: Path) -> ast.Module:
    try:
        return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (OSError, SyntaxError, ValueError) as exc:
        raise ReleaseError(f"{path}: cannot be read ({exc})") from None


def _helper_imports(tree: ast.Module, helpers: dict[str, Path]) -> dict[str, set[str]]:
    """Helper name -> names a module takes from it: ``from .shared import a, b``; with ``from . import
    shared``, the ``shared.a`` it reads (the whole module where ``shared`` is used otherwise, or for
    ``from .shared import *``)."""
    found: dict[str, set[str]] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom) or node.level != 1:
            continue
        if node.module in helpers:
            names = {alias.name for alias in node.names}
            found.setdefault(node.module, set()).update({EVERYTHING} if "*" in names else names)
        elif node.module is None:
            for alias in node.names:
                if alias.name in helpers:
                    found.setdefault(alias.name, set()).update(_attributes_read(tree, alias.asname or alias.name))
    return found


def _attributes_read(tree: ast.Module, module_name: str) -> set[str]:
    """The ``a`` of every ``module_name.a`` in ``tree``; EVERYTHING where the module itself is used."""
    bases = set()
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == module_name:
            names.add(node.attr)
            bases.add(id(node.value))
    used_whole = any(
        isinstance(node, ast.Name) and node.id == module_name and id(node) not in bases for node in ast.walk(tree)
    )
    return names | ({EVERYTHING} if used_whole else set())


def _unreached(tree: ast.Module, roots: set[str]) -> list[str]:
    """The names a helper defines at top level (functions, classes, constants) that nothing reachable
    from ``roots`` uses. Top-level statements that define nothing (an ``if``, a call) always run, so
    what they use counts as used."""
    if EVERYTHING in roots:
        return []
    definitions: dict[str, list[ast.stmt]] = {}
    always: list[ast.stmt] = []
    for statement in tree.body:
        if isinstance(statement, (ast.Import, ast.ImportFrom)):
            continue
        names = _defined(statement)
        for name in names:
            definitions.setdefault(name, []).append(statement)
        if not names and not _is_docstring(statement):
            always.append(statement)
    reached: set[str] = set()
    pending = [name for name in roots if name in definitions] + [
        name for statement in always for name in _used(statement) if name in definitions
    ]
    while pending:
        name = pending.pop()
        if name in reached:
            continue
        reached.add(name)
        pending += [used for statement in definitions[name] for used in _used(statement) if used in definitions]
    return sorted(name for name in definitions if name not in reached and not name.startswith("__"))


def _defined(statement: ast.stmt) -> list[str]:
    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [statement.name]
    targets: list[ast.expr] = []
    if isinstance(statement, ast.Assign):
        targets = statement.targets
    elif isinstance(statement, (ast.AnnAssign, ast.AugAssign)):
        targets = [statement.target]
    return [node.id for target in targets for node in ast.walk(target) if isinstance(node, ast.Name)]


def _used(statement: ast.stmt) -> set[str]:
    return {node.id for node in ast.walk(statement) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}


def _is_docstring(statement: ast.stmt) -> bool:
    return isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant)


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _fingerprint_of(data: bytes | None) -> str | None:
    if data is None:
        return None
    try:
        content = load_bytes(data)
    except ValueError:
        return None
    return content.get("fingerprint") if isinstance(content, dict) else None


def expected_fingerprint(spec: AssignmentSpec, check_files: list[Path]) -> str:
    """What the expected data depends on: probes and solution, the checks that ask, the catalog's
    mistakes (ids, probes, patches: an edited patch makes the data stale, an edited explanation does
    not), and the data files the checks read (their contents become the probes' arguments)."""
    try:
        catalog = load_catalog(spec.mistakes_path).data_fingerprint()
    except CatalogError as exc:
        raise ReleaseError(str(exc)) from None
    digest = hashlib.sha256(f"format {SHIPPED_FORMAT}\n{spec.fingerprint()}\ncatalog {catalog}".encode())
    data_files = sorted(spec.data_dir.iterdir()) if spec.data_dir is not None and spec.data_dir.is_dir() else []
    # Files only: a __pycache__ beside a data script (Python writes one when it imports it) is not data.
    for path in sorted(check_files) + [path for path in data_files if path.is_file()]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:24]


def _warn_indistinguishable(spec: AssignmentSpec, shipped: bytes | None, log: Callable[[str], None]) -> None:
    """Say which catalogued mistakes the public checks can never tell apart (the feedback then names
    them as "one of"), so the author can add a probe call that separates them, or merge them."""
    try:
        entries = load_bytes(shipped).get("entries", {}) if shipped else {}
    except (ValueError, AttributeError):
        return
    order = [m.id for m in load_catalog(spec.mistakes_path).mistakes]
    for first, second in indistinguishable(entries, order):
        log(
            f"warning: {spec.id}: the mistakes {first!r} and {second!r} give the same results on every probe "
            "call of the public checks that shows either; feedback can only say it is one of the two"
        )


def indistinguishable(entries: dict[str, dict[str, Any]], order: list[str]) -> list[tuple[str, str]]:
    """Pairs of mistakes, in catalog order, whose recorded results differ from the reference's on
    the same probe calls and agree with each other on every one of them."""
    reference = entries.get(REFERENCE, {})
    evidence = {mistake: _evidence(entries.get(f"mistake:{mistake}", {}), reference) for mistake in order}
    return [
        (a, b)
        for a, b in combinations(order, 2)
        if evidence[a]
        and evidence[a].keys() == evidence[b].keys()
        and all(_alike(evidence[a][key], evidence[b][key]) for key in evidence[a])
    ]


def _evidence(calls: dict[str, Any], reference: dict[str, Any]) -> dict[str, Any]:
    """The calls on which a mistake shows: its result (or error) differs from the reference's."""
    return {
        key: entry
        for key, entry in calls.items()
        if isinstance(entry, dict) and not (key in reference and _alike(entry, reference[key]))
    }


def _alike(a: dict[str, Any], b: dict[str, Any]) -> bool:
    if a.get("ok") and b.get("ok"):
        return is_close(a.get("data"), b.get("data"), **ALIKE)
    return a.get("ok") == b.get("ok") and a.get("error") == b.get("error")


def _static_files(spec: AssignmentSpec) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    base = spec.id
    solution = spec.solution_files()
    files.update({f"{base}/{name}": data for name, data in grading_files(spec, list(spec.public_checks)).items()})
    try:
        stub = make_stub(solution[f"{spec.module}.py"].decode("utf-8"), f"{spec.module}.py")
    except StubError as exc:
        raise ReleaseError(str(exc)) from None
    files[f"{base}/{spec.module}.py"] = stub.encode("utf-8")
    files[f"{base}/{spec.module}.ipynb"] = notebook_from_stub(stub, spec.title).encode("utf-8")
    if not spec.handout_path.is_file():
        raise ReleaseError(f"{spec.id}: the handout {spec.handout_path} is missing")
    files[f"{base}/README.md"] = spec.handout_path.read_bytes()
    for name in spec.release_data:
        files[f"{base}/data/{name}"] = (spec.data_dir / name).read_bytes()  # type: ignore[operator]
    return files


def grading_files(spec: AssignmentSpec, check_names: list[str]) -> dict[str, bytes]:
    """The ``grading/`` folder of a copy without solutions (expected.bin aside), by relative path."""
    grading = GRADING_DIR
    files = {
        f"{grading}/assignment.toml": (spec.spec_dir / "assignment.toml").read_bytes(),
        f"{grading}/probes.py": spec.probes_path.read_bytes(),
    }
    if spec.verify_path.is_file():  # the architecture that measures trained weights: no answers in it
        files[f"{grading}/verify.py"] = spec.verify_path.read_bytes()
    try:
        files[f"{grading}/mistakes.toml"] = load_catalog(spec.mistakes_path).public_toml().encode("utf-8")
    except CatalogError as exc:
        raise ReleaseError(str(exc)) from None
    for name in check_names + shipped_helpers(spec, check_names):
        files[f"{grading}/checks/{name}"] = (spec.checks_dir / name).read_bytes()
    return files


def expected_data(grader: GradingSlot, spec: AssignmentSpec, check_files: list[Path]) -> bytes:
    """Every expected answer the given checks can ask for, recorded while grading the reference and
    each catalogued mistake: the ``expected.bin`` of a copy without solutions."""
    references = grader.references_for(spec)
    references.recorded = {}
    try:
        grade_reference_and_mistakes(grader, spec, check_files)
        recorded = references.recorded
    finally:
        references.recorded = None
    return dump({"format": SHIPPED_FORMAT, "fingerprint": expected_fingerprint(spec, check_files), "entries": recorded})


def grade_reference_and_mistakes(grader: GradingSlot, spec: AssignmentSpec, check_files: list[Path]) -> None:
    """Grade the reference (it must pass) and every catalogued mistake, so every expected answer a
    student can need (reference and mutants alike) is computed and recorded or cached."""
    catalog = load_catalog(spec.mistakes_path)
    solution = spec.solution_files()
    reference = grader.grade_assignment(_as_submission(spec, solution), spec, check_files)
    # a rule only a GPU can show is skipped on a CPU: not a failure (a5's zip could not be built there)
    failing = [c for c in reference.checks if not c.passed and c.status != "skipped"]
    if failing or reference.status != "graded":
        first = f"; {failing[0].name} says: {failing[0].message.strip()[:400]}" if failing else ""
        raise ReleaseError(
            f"{spec.id}: the reference solution fails its own checks: "
            f"{', '.join(c.name for c in failing) or reference.message}{first}"
        )
    for mistake in catalog.mistakes:
        try:
            mutant = mistake.mutate(solution, spec.module)
        except CatalogError as exc:
            raise ReleaseError(str(exc)) from None
        grader.grade_assignment(_as_submission(spec, mutant), spec, check_files)


def _as_submission(spec: AssignmentSpec, files: dict[str, bytes]) -> SubmittedModule:
    main = f"{spec.module}.py"
    return SubmittedModule(
        spec.id,
        spec.module,
        (spec.solution_dir or Path(".")) / main,
        source=files[main].decode("utf-8"),
        helpers={name: data for name, data in files.items() if name != main},
    )


def _differences(produced: dict[str, bytes], target: Path, assignment_ids: list[str]) -> list[str]:
    found = []
    present = (
        {
            str(path.relative_to(target)): path
            for spec_id in assignment_ids
            for path in (target / spec_id).rglob("*")
            if path.is_file() and "__pycache__" not in path.parts
        }
        if target.is_dir()
        else {}
    )
    present.update({name: target / name for name in produced if "/" not in name and (target / name).is_file()})
    for relative, data in sorted(produced.items()):
        if relative not in present:
            found.append(f"missing: {relative}")
        elif relative.endswith(EXPECTED_FILE):
            problem = _compare_expected(present[relative].read_bytes(), data)
            if problem:
                found.append(f"differs: {relative} ({problem})")
        elif present[relative].read_bytes() != data:
            found.append(f"differs: {relative}")
    for relative in sorted(set(present) - set(produced)):
        found.append(f"not produced by release (stale): {relative}")
    return found


def _compare_expected(committed: bytes, fresh: bytes) -> str | None:
    try:
        old, new = load_bytes(committed).get("entries", {}), load_bytes(fresh).get("entries", {})
    except (ValueError, AttributeError) as exc:
        return f"unreadable: {exc}"
    for variant in sorted(set(old) | set(new)):
        old_keys, new_keys = set(old.get(variant, {})), set(new.get(variant, {}))
        if old_keys != new_keys:
            return f"{variant}: {len(old_keys ^ new_keys)} probe calls differ"
        for key in new_keys:
            if not _close(old[variant][key], new[variant][key]):
                return f"{variant}: values differ for {key}"
    return None


def _close(a: object, b: object) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        return (
            a.shape == b.shape
            and a.dtype == b.dtype
            and bool(np.allclose(a, b, rtol=EXPECTED_RTOL, atol=1e-8, equal_nan=True))
        )
    if isinstance(a, float) and isinstance(b, float):
        return bool(np.isclose(a, b, rtol=EXPECTED_RTOL, atol=1e-8, equal_nan=True))
    return a == b
