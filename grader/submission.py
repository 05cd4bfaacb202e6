"""Reading a submission folder: which assignments it holds, and the exact files to grade.

Everything here treats the folder as untrusted: symlinks are not followed, sizes are capped, files that
would change how Python or pytest behave (``conftest.py``, ``numpy.py``, ``sitecustomize.py``, ``*.pth``)
are left behind and reported, and unreadable files become messages rather than exceptions.
"""

from __future__ import annotations

import hashlib
import io
import sys
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

from .course import GRADING_DIR, AssignmentSpec, Course
from .notebook import NotebookError, convert, relabel

MAX_MODULE_BYTES = 1 * 2**20
MAX_NOTEBOOK_BYTES = 20 * 2**20
MAX_HELPER_BYTES = 1 * 2**20
SHADOWING = frozenset(
    set(getattr(sys, "stdlib_module_names", ()))
    | {"numpy", "torch", "grader", "pytest", "nbformat", "jinja2", "click", "conftest", "sitecustomize",
       "usercustomize", "assignment_probes"}
)
IGNORED_DIRS = frozenset({"__MACOSX", "__pycache__", ".ipynb_checkpoints", GRADING_DIR, "feedback"})
# Files that configure Python or pytest: never copied, always reported, so nobody wonders.
CONFIGURATION = frozenset({"pytest.ini", "setup.cfg", "tox.ini", "pyproject.toml", ".pth"})


@dataclass
class SubmittedModule:
    """One assignment's work within a submission."""

    assignment_id: str
    module: str
    path: Path | None              # the .py or .ipynb graded (None when missing)
    source: str | None = None      # the Python source that runs (a notebook's converted cells)
    problem: str | None = None     # why it cannot be graded, in a sentence for the student
    notes: list[str] = field(default_factory=list)
    helpers: dict[str, bytes] = field(default_factory=dict)
    line_map: dict[int, tuple[int, int]] = field(default_factory=dict)  # notebook: line -> (cell, line)

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
        files = dict(self.helpers)
        files[f"{self.module}.py"] = (self.source or "").encode("utf-8")
        return files


@dataclass
class Submission:
    root: Path
    modules: dict[str, SubmittedModule]
    content_hash: str
    problem: str | None = None     # nothing gradable at all (empty folder, no known assignment)
    notes: list[str] = field(default_factory=list)


def load(folder: Path, course: Course, only: list[str] | None = None,
         keep_all_cells: bool = False) -> Submission:
    folder = Path(folder)
    if not folder.exists():
        return Submission(folder, {}, _hash({}), problem=f"{folder} does not exist")
    if not folder.is_dir():
        return Submission(folder, {}, _hash({}), problem=f"{folder} is not a folder")
    folder = _unwrap(folder, course)
    specs = [course.get(a) for a in only] if only else list(course.assignments.values())
    modules: dict[str, SubmittedModule] = {}
    for spec in specs:
        found = _locate(folder, spec)
        if found is not None:
            modules[spec.id] = _read_module(found, spec, keep_all_cells)
        elif only:
            modules[spec.id] = SubmittedModule(
                spec.id, spec.module, None,
                problem=f"no {spec.module}.py or {spec.module}.ipynb found in {folder.name}/ or {folder.name}/{spec.id}/",
            )
    submission = Submission(folder, modules, _hash(modules))
    if not modules:
        submission.problem = _nothing_found(folder, specs)
    return submission


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


def _locate(folder: Path, spec: AssignmentSpec) -> Path | None:
    """The module file; when both .py and .ipynb exist, the one saved last (the one worked on)."""
    bases = [folder / spec.id, folder] if folder.name != spec.id else [folder]
    for base in bases:
        found = [base / f"{spec.module}{suffix}" for suffix in (".py", ".ipynb")]
        found = [p for p in found if p.is_file() or p.is_symlink()]
        if found:
            return max(found, key=_modified) if len(found) > 1 else found[0]
    return None


def _modified(path: Path) -> float:
    try:
        return path.lstat().st_mtime
    except OSError:
        return 0.0


def _read_module(path: Path, spec: AssignmentSpec, keep_all_cells: bool) -> SubmittedModule:
    work = SubmittedModule(spec.id, spec.module, path)
    other = path.with_suffix(".ipynb" if path.suffix == ".py" else ".py")
    if other.is_file():
        work.notes.append(
            f"both {path.name} and {other.name} are present; {path.name} was graded because it was saved last "
            f"(delete the one you do not use)"
        )
    if path.is_symlink():
        work.problem = f"{path.name} is a symbolic link; submit the file itself"
        return work
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
    if path.suffix == ".ipynb":
        _read_notebook(work, raw, keep_all_cells)
    else:
        work.source, work.problem = decode_source(raw, path.name)
    if work.problem is None and not (work.source or "").strip():
        work.problem = f"{path.name} is empty"
    work.helpers, skipped = _helpers(path.parent, spec.module, spec.limits.submission_files,
                                     spec.limits.submission_mb * 2**20)
    work.notes += skipped
    return work


def _read_notebook(work: SubmittedModule, raw: bytes, keep_all_cells: bool) -> None:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        work.problem = f"{work.filename} is not UTF-8 text (byte {exc.start}); save it again from Jupyter"
        return
    try:
        conversion = convert(text, keep_everything=keep_all_cells)
    except NotebookError as exc:
        work.problem = f"{work.filename} is {exc}"
        return
    work.source = conversion.source
    work.line_map = conversion.line_map
    work.notes += conversion.notes(work.filename)


def decode_source(raw: bytes, name: str) -> tuple[str | None, str | None]:
    """Python source text honouring a BOM or coding cookie, or a sentence on why it cannot be read."""
    if b"\0" in raw:
        return None, f"{name} contains null bytes: it is not a Python text file"
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(raw).readline)
        return raw.decode(encoding), None
    except (SyntaxError, LookupError, UnicodeDecodeError) as exc:
        position = f" (byte {exc.start})" if isinstance(exc, UnicodeDecodeError) else ""
        return None, f"{name} is not valid UTF-8 text{position}; save it with UTF-8 encoding"


def _helpers(folder: Path, module: str, max_files: int, max_bytes: int) -> tuple[dict[str, bytes], list[str]]:
    """Other .py files beside the module that it may import; risky names are left behind."""
    helpers: dict[str, bytes] = {}
    skipped: list[str] = []
    total = 0
    for path in _entries(folder):
        if path.name in CONFIGURATION or path.suffix in CONFIGURATION:
            skipped.append(f"{path.name} was ignored: configuration files in a submission change nothing")
        if path.suffix != ".py" or path.stem == module:
            continue
        if path.stem in SHADOWING:
            skipped.append(f"{path.name} was ignored: it would shadow the `{path.stem}` module")
        elif path.is_symlink() or not path.is_file():
            skipped.append(f"{path.name} was ignored: not a regular file")
        elif path.stat().st_size > MAX_HELPER_BYTES:
            skipped.append(f"{path.name} was ignored: larger than {MAX_HELPER_BYTES // 2**20} MB")
        elif len(helpers) >= max_files or total + path.stat().st_size > max_bytes:
            skipped.append(f"{path.name} was ignored: at most {max_files} helper files "
                           f"({max_bytes // 2**20} MB) are copied")
        else:
            helpers[path.name] = path.read_bytes()
            total += len(helpers[path.name])
    return helpers, skipped


def _too_large(path: Path, size: int, limit: int) -> str:
    advice = " Clear the outputs (Edit > Clear All Outputs) and save." if path.suffix == ".ipynb" else ""
    return f"{path.name} is {size / 2**20:.1f} MB; files over {limit // 2**20} MB are not graded.{advice}"


def _nothing_found(folder: Path, specs: list[AssignmentSpec]) -> str:
    if not _entries(folder):
        return f"{folder.name}/ is empty: there is nothing to grade"
    expected = ", ".join(f"{s.module}.py" for s in specs)
    return (
        f"no assignment found in {folder.name}/: expected one of {expected} (or the same as .ipynb), "
        f"directly or in a folder named after the assignment, such as {specs[0].id}/"
    ) if specs else f"the course has no assignments to look for in {folder.name}/"


def _hash(modules: dict[str, SubmittedModule]) -> str:
    digest = hashlib.sha256()
    for assignment_id in sorted(modules):
        work = modules[assignment_id]
        digest.update(f"{assignment_id}\0{work.filename}\0{work.problem}\0".encode())
        for name, data in sorted(work.files().items()):
            digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    return digest.hexdigest()
