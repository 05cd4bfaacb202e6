"""Reading a submission folder: which assignments it holds, and the exact files to grade.

Everything here treats the folder as untrusted: paths are resolved and nothing whose real path leaves the
folder is read (a symbolic link leading out is named in a note or a problem), sizes are capped, files that
would change how Python or pytest behave (``conftest.py``, ``numpy.py``, ``sitecustomize.py``, ``*.pth``)
are left behind and reported, and unreadable files become messages rather than exceptions.

When both ``srn.py`` and ``srn.ipynb`` are present, the content decides, not the save time (Jupyter's
autosave touches an untouched notebook): the one that is still the untouched stub (no function the stub
leaves to the student is filled in) is left aside; if both were edited, the one that fills in more of
those functions is graded (the .py when as many). One file, never both: the better of two graded files
would be two tries at the same questions.
"""

from __future__ import annotations

import ast
import hashlib
import io
import os
import re
import sys
import tokenize
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from grader.course.model import GRADING_DIR, AssignmentSpec, Course
from grader.intake.notebook import NotebookError, convert, relabel
from grader.intake.static_checks import imported_helpers
from grader.text import encodable

MAX_MODULE_BYTES = 1 * 2**20
MAX_NOTEBOOK_BYTES = 20 * 2**20
MAX_HELPER_BYTES = 1 * 2**20
SHADOWING = frozenset(
    set(getattr(sys, "stdlib_module_names", ()))
    | {
        "numpy",
        "torch",
        "grader",
        "pytest",
        "nbformat",
        "jinja2",
        "click",
        "conftest",
        "sitecustomize",
        "usercustomize",
        "assignment_probes",
    }
)
IGNORED_DIRS = frozenset({"__MACOSX", "__pycache__", ".ipynb_checkpoints", GRADING_DIR, "feedback"})
# Files that configure Python or pytest: never copied, always reported, so nobody wonders.
CONFIGURATION = frozenset({"pytest.ini", "setup.cfg", "tox.ini", "pyproject.toml", ".pth"})
# Files of data a module may read beside itself (a vocabulary in JSON, a table): handed in with it. They
# are never imported (the sandbox imports only the handed-in .py files, inside.child.HandedIn); what could
# run one's contents (unpickling, YAML's unsafe loaders, a loader run by hand, exec) is flagged by the scan.
DATA_SUFFIXES = frozenset({".json", ".txt", ".csv", ".tsv", ".npy", ".npz", ".yaml", ".yml", ".pt", ".pkl"})


@dataclass
class SubmittedModule:
    """One assignment's work within a submission."""

    assignment_id: str
    module: str
    path: Path | None  # the .py or .ipynb graded (None when missing)
    source: str | None = None  # the Python source that runs (a notebook's converted cells)
    problem: str | None = None  # why it cannot be graded, in a sentence for the student
    notes: list[str] = field(default_factory=list)
    helpers: dict[str, bytes] = field(default_factory=dict)
    data_files: dict[str, bytes] = field(default_factory=dict)  # data beside the module (DATA_SUFFIXES)
    line_map: dict[int, tuple[int, int]] = field(default_factory=dict)  # notebook: line -> (cell, line)
    error: str | None = None  # the grader's own failure reading it (not the student's fault)
    choice: str = ""  # which of a .py and an .ipynb is graded, and why (one line)

    def locate(self, text: str) -> str:
        """Rewrite ``srn.py, line 34`` in a message as ``srn.ipynb, cell 3, line 5`` for notebooks."""
        return relabel(text, self.line_map, f"{self.module}.py", self.filename) if self.line_map else text

    @property
    def filename(self) -> str:
        return self.path.name if self.path else f"{self.module}.py"

    @property
    def kind(self) -> str:
        return "ipynb" if self.path is not None and self.path.suffix == ".ipynb" else "py"

    def files(self) -> dict[str, bytes]:
        """What the sandbox receives: the module and the helper files it imports, exactly the code the scan
        reads (:func:`~grader.intake.static_checks.imported_helpers`). A file it never imports (the student's
        own tests) stays behind: in the folder, first on ``sys.path``, a library importing an optional
        module of that name (numpy's ``show_config`` imports ``yaml``) would run it unscanned."""
        reached = imported_helpers(self.source or "", self.helpers)
        files = {name: data for name, data in self.helpers.items() if name in reached}
        files.update(self.data_files)
        files[f"{self.module}.py"] = as_utf8_source(self.source or "")
        return files


@dataclass
class Submission:
    root: Path
    modules: dict[str, SubmittedModule]
    content_hash: str
    problem: str | None = None  # nothing gradable at all (empty folder, no known assignment)
    notes: list[str] = field(default_factory=list)


def load(folder: Path, course: Course, only: list[str] | None = None, keep_all_cells: bool = False) -> Submission:
    folder = Path(folder)
    if not folder.exists():
        return Submission(folder, {}, _hash({}), problem=f"{folder} does not exist")
    if not folder.is_dir():
        return _load_file(folder, course, only, keep_all_cells)
    root = Path(os.path.realpath(folder))  # the student's own folder: nothing outside it is read
    folder = _unwrap(root, course)
    specs = [course.get(a) for a in only] if only else list(course.assignments.values())
    modules: dict[str, SubmittedModule] = {}
    for spec in specs:
        work = _assignment(folder, root, spec, keep_all_cells)
        if work is not None:
            modules[spec.id] = work
        elif only:
            modules[spec.id] = SubmittedModule(
                spec.id,
                spec.module,
                None,
                problem=f"no {spec.module}.py or {spec.module}.ipynb found in {folder.name}/ or {folder.name}/{spec.id}/",
            )
    submission = Submission(folder, modules, _hash(modules))
    if not modules:
        submission.problem = _nothing_found(folder, specs)
    return submission


def _load_file(path: Path, course: Course, only: list[str] | None, keep_all_cells: bool) -> Submission:
    """One file named on the command line (``grade submit ohlol.py``): the assignment whose module it
    is, read like the same file in a folder (helpers beside it included)."""
    specs = [course.get(a) for a in only] if only else list(course.assignments.values())
    spec = next((s for s in specs if path.suffix in (".py", ".ipynb") and _names_module(path, s.module)), None)
    if spec is None:
        expected = ", ".join(f"{s.module}.py" for s in specs) or "none"
        problem = f"{path.name} is not an assignment file: give one of {expected} (or the same as .ipynb), or a folder"
        return Submission(path, {}, _hash({}), problem=problem)
    root = Path(os.path.realpath(path.parent))  # its folder is the student's: nothing outside it is read
    if not inside(path, root):
        return Submission(path, {}, _hash({}), problem=link_refusal(path, root))
    modules = {spec.id: _read_module(root / path.name, spec, keep_all_cells, root)}
    modules[spec.id].notes[:0] = _renamed([path], spec.module)
    return Submission(root, modules, _hash(modules))


def _assignment(folder: Path, root: Path, spec: AssignmentSpec, keep_all_cells: bool) -> SubmittedModule | None:
    """One assignment's work, or None when absent. A failure of the grader's own reading code becomes
    ``error`` on this assignment alone: the others are still read and graded."""
    try:
        found, refused = _locate(folder, root, spec)
        if not found:
            return SubmittedModule(spec.id, spec.module, None, problem="; ".join(refused)) if refused else None
        work = _choose([_read_module(path, spec, keep_all_cells, root) for path in found])
        work.notes[:0] = refused + _renamed(found, spec.module)
        return work
    except Exception as exc:  # noqa: BLE001 - one assignment's problem must not stop the others
        return SubmittedModule(spec.id, spec.module, None, error=f"reading it failed: {type(exc).__name__}: {exc}")


def _unwrap(folder: Path, course: Course) -> Path:
    """Descend through a lone wrapper folder, as zip files often add one."""
    for _ in range(2):
        entries = [p for p in _entries(folder) if p.name not in IGNORED_DIRS and not p.name.startswith(".")]
        dirs = [p for p in entries if p.is_dir() and not p.is_symlink()]
        if len(entries) == 1 and dirs and dirs[0].name not in course.assignments:
            folder = dirs[0]
        else:
            break
    return folder


def _entries(folder: Path) -> list[Path]:
    try:
        return sorted(folder.iterdir())
    except OSError:
        return []


def _locate(folder: Path, root: Path, spec: AssignmentSpec) -> tuple[list[Path], list[str]]:
    """The module's files (.py before .ipynb) in the first place that has any, and a note naming each
    link met on the way whose real path leaves ``root`` (it is not read)."""
    bases = [folder / spec.id, folder] if folder.name != spec.id else [folder]
    refused: list[str] = []
    for base in bases:
        if base != folder and os.path.lexists(base) and not inside(base, root):
            refused.append(link_refusal(base, root))
            continue
        present = [base / f"{spec.module}{suffix}" for suffix in (".py", ".ipynb")]
        present = [p for p in present if os.path.lexists(p)] or _copy_named(base, spec.module)
        refused += [link_refusal(p, root) for p in present if not inside(p, root)]
        found = [p for p in present if inside(p, root) and p.is_file()]
        if found or present:
            return found, refused
    return [], refused


def _copy_named(base: Path, module: str) -> list[Path]:
    """``srn (1).py``, ``srn(2).ipynb``, ``srn copy.py``, ``srn - Copy.py``: the name a browser gives a
    second download, or a file manager a copy, where the module itself is absent. One of each kind at
    most: with two copies there is no telling which the student meant."""
    found = []
    for suffix in (".py", ".ipynb"):
        copies = [p for p in _entries(base) if p.suffix == suffix and p.stem != module and _names_module(p, module)]
        found += copies if len(copies) == 1 else []
    return found


def _renamed(paths: list[Path], module: str) -> list[str]:
    """The note for each file graded under a copy's name."""
    return [f"{p.name} was graded as {module}{p.suffix}: name it so" for p in paths if p.stem != module]


def _names_module(path: Path, module: str) -> bool:
    """``path`` is named ``module`` or a copy of it (see :func:`_copy_named`)."""
    copy = r"(?: ?\(\d+\)| - Copy(?: \(\d+\))?| copy(?: \d+)?)?"
    return re.fullmatch(re.escape(module) + copy, path.stem, flags=re.IGNORECASE) is not None


def inside(path: Path, root: Path) -> bool:
    """Whether ``path``'s real path (every link followed) stays within ``root`` (itself a real path)."""
    real = os.path.realpath(path)
    return real == str(root) or real.startswith(str(root).rstrip(os.sep) + os.sep)


def link_refusal(path: Path, root: Path) -> str:
    """The note naming the link through which ``path`` leaves ``root``."""
    link, current = path, Path(root)
    for part in path.relative_to(root).parts if path.is_relative_to(root) else path.parts:
        current = current / part
        if current.is_symlink() and not inside(current, root):
            link = current
            break
    try:
        target = os.readlink(link)
    except OSError:
        target = "?"
    shown = link.relative_to(root) if link.is_relative_to(root) else link
    return (
        f"{shown} is a symbolic link to {target}, outside your folder: it was not read "
        f"(submit the files themselves, not a link)"
    )


def _choose(works: list[SubmittedModule]) -> SubmittedModule:
    """Of a .py and an .ipynb, the one that is not the untouched stub; when both were edited, the one
    that fills in more of the functions the stub leaves to the student (the .py when as many). One file
    is graded, never both: keeping the better of two graded files gave every submission two tries at
    the same questions, and a hostile round guessed a5's one unknowable bit both ways, one way in each
    file, for 94.68 every time where the work earns 68.09."""
    if len(works) == 1:
        return works[0]
    py, notebook = works
    defined = {id(w): _functions(w.source) for w in works}
    edited = [w for w in works if not _untouched(w, defined[id(w)], defined[id(notebook if w is py else py)])]
    if len(edited) == 2:
        left = {name for functions in defined.values() for name, function in functions.items() if function.stub}
        filled = {id(w): _filled_in(defined[id(w)], left) for w in works}
        chosen, other = (notebook, py) if filled[id(notebook)] > filled[id(py)] else (py, notebook)
        mine, theirs = filled[id(chosen)], filled[id(other)]
        if left and theirs == 0 < mine:  # e.g. the stub, beside work that rewrote a function it gives
            chosen.choice = (
                f"{chosen.filename} was graded: {other.filename} beside it fills in none of the functions the stub "
                f"leaves to you (delete the file you do not use)."
            )
            return chosen
        if left and mine != theirs:
            why = f"it fills in {mine} of the {len(left)} functions the stub leaves to you, {other.filename} {theirs}"
        else:
            why = "both fill in as many of the stub's functions, and then the .py is graded"
        chosen.choice = (
            f"Both {py.filename} and {notebook.filename} were edited: only {chosen.filename} was graded ({why}). "
            f"Delete the file you do not use."
        )
        return chosen
    if edited:
        chosen, other = edited[0], (notebook if edited[0] is py else py)
        chosen.choice = (
            f"{chosen.filename} was graded: {other.filename} beside it is still the untouched "
            f"stub (delete the file you do not use)."
        )
        return chosen
    chosen = max(works, key=lambda work: _modified(work.path))
    chosen.choice = (
        f"{py.filename} and {notebook.filename} are both still the untouched stub; {chosen.filename} was graded."
    )
    return chosen


class _Defined(NamedTuple):
    """A function of a submitted module, as the choice between a .py and an .ipynb reads it."""

    stub: bool  # its body raises NotImplementedError directly: left to the student
    body: str  # its syntax tree as text
    empty: bool  # its body is a docstring, ``pass``, ``...`` or ``return None`` alone: it fills in nothing


def _filled_in(functions: dict[str, _Defined], names: set[str]) -> int:
    """How many of ``names`` the module defines with a body of its own (neither a stub nor empty)."""
    return sum(1 for name in names if name in functions and not functions[name].stub and not functions[name].empty)


def _untouched(work: SubmittedModule, functions: dict[str, _Defined], theirs: dict[str, _Defined]) -> bool:
    """The stub as handed out: some function still raises NotImplementedError, and every other one is
    given code, the same as in the other file (``theirs``). Judged against the other file, not against the
    functions either leaves unfinished: a notebook whose functions return None raises nothing, and a .py
    with all but its last function done once counted as the untouched stub beside it (graded 0, not 60).
    A file that cannot be read or parsed is someone's work, not the stub."""
    if work.problem or work.source is None:
        return False
    if not any(function.stub for function in functions.values()):
        return False
    return all(
        function.stub or (name in theirs and theirs[name].body == function.body) for name, function in functions.items()
    )


def _functions(source: str | None) -> dict[str, _Defined]:
    """Qualified name -> the function as :class:`_Defined` reads it (``{}`` if unparsable)."""
    try:
        tree = ast.parse(source or "")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return {}
    found: dict[str, _Defined] = {}

    def visit(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                stub = any(_raises_not_implemented(s) for s in node.body)
                found[prefix + node.name] = _Defined(stub, ast.dump(node), _empty(node.body))
            elif isinstance(node, ast.ClassDef):
                visit(node.body, f"{prefix}{node.name}.")

    visit(tree.body, "")
    return found


def _empty(body: list[ast.stmt]) -> bool:
    for statement in body:
        if isinstance(statement, ast.Pass):
            continue
        if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
            continue  # a docstring, or ``...``
        if isinstance(statement, ast.Return) and (
            statement.value is None or (isinstance(statement.value, ast.Constant) and statement.value.value is None)
        ):
            continue
        return False
    return True


def _raises_not_implemented(statement: ast.stmt) -> bool:
    if not isinstance(statement, ast.Raise) or statement.exc is None:
        return False
    exc = statement.exc.func if isinstance(statement.exc, ast.Call) else statement.exc
    return isinstance(exc, ast.Name) and exc.id == "NotImplementedError"


def _modified(path: Path | None) -> float:
    if path is None:
        return 0.0
    try:
        return path.lstat().st_mtime
    except OSError:
        return 0.0


def _read_module(path: Path, spec: AssignmentSpec, keep_all_cells: bool, root: Path) -> SubmittedModule:
    work = SubmittedModule(spec.id, spec.module, path)
    limit = MAX_NOTEBOOK_BYTES if path.suffix == ".ipynb" else MAX_MODULE_BYTES
    try:
        size = path.stat().st_size
        if size > limit:
            work.problem = _too_large(path, size, limit)
            return work
        raw = path.read_bytes()
    except OSError as exc:
        work.problem = f"{path.name} could not be read ({exc.strerror})"
        return work
    work.helpers, work.data_files, skipped = _helpers(
        path.parent, root, spec.module, spec.limits.submission_files, spec.limits.submission_mb * 2**20
    )
    if path.suffix == ".ipynb":
        local = tuple(name[:-3] for name in work.helpers)
        _read_notebook(work, raw, keep_all_cells, spec.forbidden_apis, spec.graded_names(), spec.blocked_imports, local)
    else:
        work.source, work.problem = decode_source(raw, path.name)
    if work.problem is None and not (work.source or "").strip():
        work.problem = f"{path.name} is empty"
    work.notes += skipped
    return work


def _read_notebook(
    work: SubmittedModule,
    raw: bytes,
    keep_all_cells: bool,
    forbidden: tuple[str, ...],
    graded: tuple[str, ...] = (),
    blocked: tuple[str, ...] = (),
    helpers: tuple[str, ...] = (),
) -> None:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        work.problem = f"{work.filename} is not UTF-8 text (byte {exc.start}); save it again from Jupyter"
        return
    try:
        conversion = convert(
            text, keep_everything=keep_all_cells, forbidden=forbidden, graded=graded, blocked=blocked, helpers=helpers
        )
    except NotebookError as exc:
        work.problem = f"{work.filename} is {exc}"
        return
    work.source = conversion.source
    work.line_map = conversion.line_map
    work.notes += conversion.notes(work.filename)
    if not _reads_alike(work.source, as_utf8_source(work.source)):  # the module that runs is the one scanned
        work.problem = f"{work.filename} converts to code that Python would read otherwise; save it again from Jupyter"


def decode_source(raw: bytes, name: str) -> tuple[str | None, str | None]:
    """The Python source text that runs, or a sentence on why it cannot be read.

    Decoded honouring a BOM or coding cookie, with every line end made ``\\n`` (Python reads ``\\r`` and
    ``\\r\\n`` as ``\\n`` too, string literals included). This text is what the integrity scan reads, and
    :func:`as_utf8_source` writes it for the sandbox; where Python would read those bytes as other code,
    the file is refused. A hostile round made the scan read one text while Python ran another: a utf-7
    coding line; a ``\\r`` that tokenize takes for part of a line and Python for its end (a cookie read
    from "line 1" that Python never sees)."""
    if b"\0" in raw:
        return None, f"{name} contains null bytes: it is not a Python text file"
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(raw).readline)
        text = raw.decode(encoding)
    except (SyntaxError, LookupError, UnicodeDecodeError) as exc:
        unknown = str(exc.msg if isinstance(exc, SyntaxError) else exc)
        if isinstance(exc, LookupError) or unknown.startswith("unknown encoding"):
            return None, f"{name} has a coding line Python cannot use ({unknown}); save it as UTF-8 without one"
        position = f" (byte {exc.start})" if isinstance(exc, UnicodeDecodeError) else ""
        return None, f"{name} is not valid UTF-8 text{position}; save it with UTF-8 encoding"
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    if not _reads_alike(text, as_utf8_source(text)):
        return None, (
            f"{name} reads as different code depending on how its coding line and line ends are taken; save "
            "it as UTF-8 with ordinary line ends and no coding line"
        )
    return text, None


def _reads_alike(text: str, data: bytes) -> bool:
    """Whether Python parses ``data`` (as it imports a file: its own decoding) to the same program as
    ``text`` (what the scan reads). Both failing alike counts as alike: neither runs. Bytes that are
    the text's own UTF-8 (the common case: no coding line rewritten, no carriage return) read as it."""
    if data == text.encode("utf-8"):
        return True

    def program(source: str | bytes) -> str:
        try:
            return ast.dump(ast.parse(source))
        except (SyntaxError, ValueError) as exc:
            return f"fails: {type(exc).__name__}"
        except (RecursionError, MemoryError):
            return "fails: too deep"

    return program(text) == program(data)


CODING_COOKIE = re.compile(r"^[ \t\f]*#.*?coding[:=][ \t]*[-\w.]+")  # PEP 263, as tokenize reads it


def as_utf8_source(source: str) -> bytes:
    """The text that was read (and scanned) as UTF-8 bytes that Python reads as the same text.

    The text was decoded honouring its coding line; written out as UTF-8 under a coding line that
    still names another encoding, Python would decode it a second time: a utf-7 line turns what the
    scan read as a comment (``+-...-``) into code that runs unseen. The coding line is rewritten to
    say UTF-8, on the same line, so line numbers stay."""
    source = source.replace("\r\n", "\n").replace("\r", "\n")  # as Python reads them: string literals too
    data = source.encode("utf-8")
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError:  # a coding line naming no encoding Python knows: rewritten below too
        encoding = "unknown"
    if encoding in ("utf-8", "utf-8-sig"):
        return data
    lines = source.split("\n")
    for number in range(min(2, len(lines))):
        if CODING_COOKIE.match(lines[number]):
            lines[number] = "# coding: utf-8 (rewritten by the grader, which read the file in its declared encoding)"
    return "\n".join(lines).encode("utf-8")


def _helpers(
    folder: Path, root: Path, module: str, max_files: int, max_bytes: int
) -> tuple[dict[str, bytes], dict[str, bytes], list[str]]:
    """Other .py files beside the module that it may import, and files of data it may read (a regression
    round's module reading letters.json beside itself failed to import: only .py files were handed in);
    risky names and links leading out of the student's folder are left behind."""
    helpers: dict[str, bytes] = {}
    data: dict[str, bytes] = {}
    skipped: list[str] = []
    total = 0
    for path in _entries(folder):
        if path.name in CONFIGURATION or path.suffix in CONFIGURATION:
            skipped.append(f"{path.name} was ignored: configuration files in a submission change nothing")
        if path.suffix in DATA_SUFFIXES and encodable(path.name) == path.name and not path.name.startswith("."):
            if not inside(path, root) or not path.is_file():
                continue
            size = path.stat().st_size
            if size > MAX_HELPER_BYTES or len(helpers) + len(data) >= max_files or total + size > max_bytes:
                skipped.append(f"{path.name} was not handed to your code: data files beside it may be 1 MB each")
                continue
            data[path.name] = path.read_bytes()
            total += size
            continue
        if path.suffix != ".py" or path.stem == module:
            continue
        if encodable(path.name) != path.name:
            skipped.append(f"{encodable(path.name)} was ignored: its name is not valid UTF-8 (rename it)")
        elif path.stem in SHADOWING:
            skipped.append(f"{path.name} was ignored: it would shadow the `{path.stem}` module")
        elif not inside(path, root):
            skipped.append(f"{path.name} was ignored: {link_refusal(path, root)}")
        elif not path.is_file():
            skipped.append(f"{path.name} was ignored: not a regular file")
        elif path.stat().st_size > MAX_HELPER_BYTES:
            skipped.append(f"{path.name} was ignored: larger than {MAX_HELPER_BYTES // 2**20} MB")
        elif len(helpers) >= max_files or total + path.stat().st_size > max_bytes:
            skipped.append(
                f"{path.name} was ignored: at most {max_files} helper files ({max_bytes // 2**20} MB) are copied"
            )
        else:
            text, problem = decode_source(path.read_bytes(), path.name)
            if problem:
                skipped.append(f"{path.name} was ignored ({problem})")
            else:
                helpers[path.name] = as_utf8_source(text or "")
                total += len(helpers[path.name])
    return helpers, data, skipped


def _too_large(path: Path, size: int, limit: int) -> str:
    advice = " Clear the outputs (Edit > Clear All Outputs) and save." if path.suffix == ".ipynb" else ""
    return f"{path.name} is {size / 2**20:.1f} MB; files over {limit // 2**20} MB are not graded.{advice}"


def _nothing_found(folder: Path, specs: list[AssignmentSpec]) -> str:
    if not _entries(folder):
        return f"{folder.name}/ is empty: there is nothing to grade"
    expected = ", ".join(f"{s.module}.py" for s in specs)
    return (
        (
            f"no assignment found in {folder.name}/: expected one of {expected} (or the same as .ipynb), "
            f"directly or in a folder named after the assignment, such as {specs[0].id}/"
        )
        if specs
        else f"the course has no assignments to look for in {folder.name}/"
    )


def _hash(modules: dict[str, SubmittedModule]) -> str:
    digest = hashlib.sha256()
    for assignment_id in sorted(modules):
        work = modules[assignment_id]
        digest.update(f"{assignment_id}\0{work.filename}\0{work.problem}\0".encode())
        for name, data in sorted(work.files().items()):
            digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    return digest.hexdigest()
