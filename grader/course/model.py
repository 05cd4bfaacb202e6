"""Where the assignments are: an instructor's course repository, or a student's copy of the template.

Instructor course (full mode, hidden checks included)::

    assignments/<id>/assignment.toml, probes.py, mistakes.toml, checks/test_*.py, data/, README.md
    solutions/<id>/<module>.py

Student copy (public mode: public checks, expected data shipped instead of solutions)::

    <id>/README.md, <module>.py, <module>.ipynb, data/
    <id>/grading/assignment.toml, probes.py, mistakes.toml, checks/test_public.py, expected.bin
"""

from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from grader.sandbox.limits import Limits

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

GRADING_DIR = "grading"  # inside a student's assignment folder
EXPECTED_FILE = "expected.bin"  # shipped expected data, inside GRADING_DIR
COURSE_ENV = "GRADER_COURSE"


class CourseError(Exception):
    """The course material is missing or inconsistent (an instructor's problem, not a student's)."""


@dataclass(frozen=True)
class AssignmentSpec:
    id: str
    title: str
    module: str
    spec_dir: Path
    mode: str  # "full" (instructor) or "public" (student copy)
    solution_dir: Path | None = None
    points: float = 100.0
    preload: tuple[str, ...] = ("numpy",)
    blocked_imports: tuple[str, ...] = ()
    forbidden_apis: tuple[str, ...] = ()
    public_checks: tuple[str, ...] = ("test_public.py",)
    release_data: tuple[str, ...] = ()
    limits: Limits = field(default_factory=Limits)
    tolerance: dict[str, dict[str, float]] = field(default_factory=dict)
    data_dir: Path | None = None

    @property
    def checks_dir(self) -> Path:
        return self.spec_dir / "checks"

    @property
    def probes_path(self) -> Path:
        return self.spec_dir / "probes.py"

    @property
    def mistakes_path(self) -> Path:
        return self.spec_dir / "mistakes.toml"

    @property
    def expected_path(self) -> Path:
        return self.spec_dir / EXPECTED_FILE

    @property
    def shipped_expected(self) -> bool:
        """No solution here: the expected data must come from ``expected.bin``."""
        return self.solution_dir is None

    @property
    def handout_path(self) -> Path:
        return (self.spec_dir.parent if self.spec_dir.name == GRADING_DIR else self.spec_dir) / "README.md"

    def check_files(self) -> list[Path]:
        """Public checks first, so feedback lists what students could try themselves before the rest."""
        return sorted(self.checks_dir.glob("test_*.py"), key=lambda p: (p.name not in self.public_checks, p.name))

    @property
    def verify_path(self) -> Path:
        return self.spec_dir / "verify.py"

    def verify_source(self) -> str | None:
        """The verifier's code (the architecture that measures trained weights), if the assignment has one."""
        try:
            return self.verify_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def probes_source(self) -> str:
        return self.probes_path.read_text(encoding="utf-8")

    def tolerance_for(self, device: str) -> dict[str, float]:
        base = {"rtol": 1e-6, "atol": 1e-8}
        base.update({k: v for k, v in self.tolerance.items() if not isinstance(v, dict)})
        if device != "cpu" and isinstance(self.tolerance.get(device), dict):
            base.update(self.tolerance[device])
        return base

    def solution_files(self) -> dict[str, bytes]:
        """The reference's Python files (the module and any helpers beside it)."""
        if self.solution_dir is None:
            raise CourseError(f"{self.id}: no reference solution in this copy of the course")
        files = {p.name: p.read_bytes() for p in sorted(self.solution_dir.glob("*.py"))}
        if f"{self.module}.py" not in files:
            raise CourseError(f"{self.id}: {self.solution_dir}/{self.module}.py is missing")
        return files

    def fingerprint(self) -> str:
        """Changes whenever the reference or the probes change: part of every expected-data key."""
        digest = hashlib.sha256(self.probes_source().encode())
        if self.solution_dir is not None:
            for name, data in self.solution_files().items():
                digest.update(name.encode() + b"\0" + data)
        return digest.hexdigest()[:16]


@dataclass
class Course:
    root: Path
    kind: str  # "instructor" or "template" (no solutions)
    assignments: dict[str, AssignmentSpec]

    @property
    def mode(self) -> str:
        return "public" if any(spec.mode == "public" for spec in self.assignments.values()) else "full"

    def get(self, assignment_id: str) -> AssignmentSpec:
        try:
            return self.assignments[assignment_id]
        except KeyError:
            known = ", ".join(self.assignments) or "none"
            raise CourseError(f"unknown assignment {assignment_id!r} (known: {known})") from None


def load_spec(
    spec_dir: Path, mode: str, solution_dir: Path | None = None, data_dir: Path | None = None
) -> AssignmentSpec:
    toml_path = spec_dir / "assignment.toml"
    try:
        raw: dict[str, Any] = tomllib.loads(toml_path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CourseError(f"cannot read {toml_path}: {exc}") from None
    try:
        return AssignmentSpec(
            id=str(raw["id"]),
            title=str(raw.get("title", raw["id"])),
            module=str(raw["module"]),
            spec_dir=spec_dir,
            mode=mode,
            solution_dir=solution_dir,
            points=float(raw.get("points", 100)),
            preload=tuple(raw.get("preload", ["numpy"])),
            blocked_imports=tuple(raw.get("blocked_imports", [])),
            forbidden_apis=tuple(raw.get("forbidden_apis", [])),
            public_checks=tuple(raw.get("public_checks", ["test_public.py"])),
            release_data=tuple(raw.get("release_data", [])),
            limits=Limits.from_mapping(raw.get("limits")),
            tolerance=dict(raw.get("tolerance", {})),
            data_dir=data_dir,
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise CourseError(f"{toml_path}: {exc}") from None


def load_instructor_course(root: Path) -> Course:
    assignments = {}
    for toml_path in sorted((root / "assignments").glob("*/assignment.toml")):
        spec_dir = toml_path.parent
        solution = root / "solutions" / spec_dir.name
        spec = load_spec(spec_dir, "full", solution if solution.is_dir() else None, spec_dir / "data")
        assignments[spec.id] = spec
    if not assignments:
        raise CourseError(f"{root}/assignments holds no assignment.toml")
    return Course(root, "instructor", assignments)


def load_template_course(root: Path) -> Course:
    """A copy without solutions: ``root`` is the folder of assignment folders, or one assignment folder.

    Expected data comes from ``grading/expected.bin``. A student copy holds only the public checks
    (public mode); a Gradescope autograder holds them all (full mode).
    """
    folders = (
        [root]
        if (root / GRADING_DIR / "assignment.toml").is_file()
        else sorted(p for p in root.iterdir() if (p / GRADING_DIR / "assignment.toml").is_file())
    )
    assignments = {}
    for folder in folders:
        spec = load_spec(folder / GRADING_DIR, "public", None, folder / "data")
        if any(path.name not in spec.public_checks for path in spec.check_files()):
            spec = replace(spec, mode="full")
        assignments[spec.id] = spec
    if not assignments:
        raise CourseError(f"{root} holds no assignment with a {GRADING_DIR}/assignment.toml")
    return Course(root, "template", assignments)


def load_course(path: Path) -> Course:
    path = path.resolve()
    if (path / "assignments").is_dir():
        return load_instructor_course(path)
    return load_template_course(path)


def find_course(explicit: Path | None = None, submission: Path | None = None) -> Course:
    """The course to grade against, most specific first.

    1. ``--course`` or ``$GRADER_COURSE``; 2. the course repository this grader was installed from
    (an editable install inside the instructor's repository); 3. the grading material shipped inside
    the submission itself (a student's copy of the template: public checks only).
    """
    if explicit is None and os.environ.get(COURSE_ENV):
        explicit = Path(os.environ[COURSE_ENV])
    if explicit is not None:
        return load_course(explicit)
    repository = Path(__file__).resolve().parents[2]
    if (repository / "assignments").is_dir() and (repository / "solutions").is_dir():
        return load_instructor_course(repository)
    if submission is not None:
        for candidate in (submission, submission.parent):
            try:
                return load_template_course(candidate.resolve())
            except (CourseError, OSError):
                continue
    raise CourseError(
        "cannot find the course's checks: run this inside your copy of the course (the folders with a "
        f"{GRADING_DIR}/ subfolder), or pass --course DIR"
    )
