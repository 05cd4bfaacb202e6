"""Where the assignments are: an instructor's course repository, or a student's copy of the template.

Instructor course (full mode, hidden checks included)::

    assignments/<id>/assignment.toml, probes.py, mistakes.toml, checks/test_*.py, data/, README.md
    solutions/<id>/<module>.py

Student copy (public mode: public checks, expected data shipped instead of solutions)::

    <id>/README.md, <module>.py, <module>.ipynb, data/
    <id>/grading/assignment.toml, probes.py, mistakes.toml, checks/test_public.py, expected.bin
"""

from __future__ import annotations

import ast
import datetime as _dt
import functools
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

COURSE_FILE = "course.toml"  # course-wide settings at the course's root (late policy, hand-back, export)
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
    # kinds of arithmetic the integrity scan flags: ARITHMETIC_KINDS (static_checks.ARITHMETIC)
    flagged_arithmetic: tuple[str, ...] = ()
    public_checks: tuple[str, ...] = ("test_public.py",)
    release_data: tuple[str, ...] = ()
    # probes whose official questions are drawn for each submission, not once for the course: answers
    # with few possible values (an accuracy k/N) could otherwise be found by resubmitting guesses
    per_submission_questions: tuple[str, ...] = ()
    limits: Limits = field(default_factory=Limits)
    tolerance: dict[str, float | dict[str, float]] = field(default_factory=dict)
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

    def graded_names(self) -> tuple[str, ...]:
        """The names the probes read from the student's module (``student.collate_fn``): what a notebook's
        conversion must keep, however its statement looks (a teacher round's
        ``collate_fn = make_train_collate(...)`` was skipped as training, and every check that needed it
        failed with "does not define `collate_fn`")."""
        try:
            return _names_read_from_student(self.probes_source())
        except OSError:
            return ()

    def released_data(self) -> dict[str, bytes]:
        """The data files students receive (``release_data``), by name: their code finds them in
        ``data/`` beside the module when it is graded, as in their copy. Never a held-out file."""
        if self.data_dir is None:
            return {}
        found = {}
        for name in self.release_data:
            path = self.data_dir / name
            if "/" not in name and not name.startswith(".") and path.is_file():
                found[name] = path.read_bytes()
        return found

    def tolerance_for(self, device: str) -> dict[str, float]:
        base = {"rtol": 1e-6, "atol": 1e-8}
        base.update({k: float(v) for k, v in self.tolerance.items() if not isinstance(v, dict)})
        on_device = self.tolerance.get(device)
        if device != "cpu" and isinstance(on_device, dict):
            base.update({k: float(v) for k, v in on_device.items()})
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
    note: str = ""  # why this course was chosen over a nearer one, where that needs saying

    @property
    def mode(self) -> str:
        return "public" if any(spec.mode == "public" for spec in self.assignments.values()) else "full"

    def settings(self) -> dict[str, Any]:
        """The course's ``course.toml`` (empty where there is none)."""
        return read_course_file(self.root)

    def late_policy(self) -> LatePolicy | None:
        """The ``[late]`` table of ``course.toml``: None where the course sets no deadline."""
        return LatePolicy.from_table(self.settings().get("late"), self.root / COURSE_FILE)

    def describe(self) -> str:
        """Which course and which checks, in a line for the terminal: a student must know whether a
        score is their copy's self-check or the instructor's grading."""
        if self.kind == "instructor":
            return f"the instructor's course at {self.root}: all checks, hidden ones included (full mode)"
        if self.mode == "public":
            return (
                f"your copy of the course at {self.root}: public checks only (public mode; your "
                "instructor's grading adds hidden checks)"
            )
        return f"the course copy at {self.root}: all its checks (full mode)"

    def get(self, assignment_id: str) -> AssignmentSpec:
        try:
            return self.assignments[assignment_id]
        except KeyError:
            known = ", ".join(self.assignments) or "none"
            raise CourseError(f"unknown assignment {assignment_id!r} (known: {known})") from None


def read_course_file(root: Path) -> dict[str, Any]:
    path = root / COURSE_FILE
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CourseError(f"cannot read {path}: {exc}") from None


LATE_RULES = ("percent-per-day", "zero")


@dataclass(frozen=True)
class LatePolicy:
    """When work is due and what lateness costs (``[late]`` in course.toml; docs/gradebook.md).

    A submission later than its deadline (the assignment's, else the course's, moved by the student's
    extension) plus ``grace_minutes`` is late by whole started days counted from the deadline. Rule
    ``percent-per-day`` takes ``percent_per_day`` per day, at most ``max_percent``, of the points earned
    (``of = "earned"``) or of the assignment's points (``of = "possible"``); ``zero_after_days`` makes
    anything later worth 0. Rule ``zero`` makes any late work worth 0.
    """

    deadline: _dt.datetime | None = None
    deadlines: dict[str, _dt.datetime] = field(default_factory=dict)  # per assignment
    # Per student: extra days (float), a new deadline, or a table of either per assignment.
    extensions: dict[str, Any] = field(default_factory=dict)
    grace_minutes: float = 0.0
    rule: str = "percent-per-day"
    percent_per_day: float = 10.0
    max_percent: float = 100.0
    zero_after_days: float | None = None
    of: str = "earned"

    @classmethod
    def from_table(cls, table: Any, where: Path) -> LatePolicy | None:
        if table is None:
            return None

        def fail(why: str) -> CourseError:
            return CourseError(f"{where}, [late]: {why}")

        if not isinstance(table, dict):
            raise fail("must be a table")
        known = {
            "deadline", "deadlines", "extensions", "grace_minutes", "rule", "percent_per_day", "max_percent",
            "zero_after_days", "of",
        }  # fmt: skip
        unknown = sorted(set(table) - known)
        if unknown:
            raise fail(f"unknown key {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        try:
            deadline = _moment(table["deadline"], "deadline") if "deadline" in table else None
            deadlines = {str(k): _moment(v, f"deadlines.{k}") for k, v in dict(table.get("deadlines", {})).items()}
            extensions = {
                str(k): _extension(v, f"extensions.{k}") for k, v in dict(table.get("extensions", {})).items()
            }
            policy = cls(
                deadline=deadline,
                deadlines=deadlines,
                extensions=extensions,
                grace_minutes=_number(table.get("grace_minutes", 0), "grace_minutes"),
                rule=str(table.get("rule", "percent-per-day")),
                percent_per_day=_number(table.get("percent_per_day", 10), "percent_per_day"),
                max_percent=_number(table.get("max_percent", 100), "max_percent"),
                zero_after_days=(
                    _number(table["zero_after_days"], "zero_after_days") if "zero_after_days" in table else None
                ),
                of=str(table.get("of", "earned")),
            )
        except (TypeError, ValueError) as exc:
            raise fail(str(exc)) from None
        if policy.rule not in LATE_RULES:
            raise fail(f"rule {policy.rule!r} is not one of {', '.join(LATE_RULES)}")
        if policy.of not in ("earned", "possible"):
            raise fail(f"of = {policy.of!r}: say \"earned\" or \"possible\"")
        if deadline is None and not deadlines:
            raise fail("no deadline: set deadline (every assignment) or [late.deadlines] (per assignment)")
        return policy

    def deadline_for(self, student: str, assignment: str) -> _dt.datetime | None:
        """The student's deadline for the assignment, extension included (None: no deadline set)."""
        base = self.deadlines.get(assignment, self.deadline)
        extension = self.extensions.get(student)
        if isinstance(extension, dict):
            extension = extension.get(assignment)
        if isinstance(extension, _dt.datetime):
            return extension
        if base is not None and isinstance(extension, float):
            return base + _dt.timedelta(days=extension)
        return base


def _moment(value: Any, name: str) -> _dt.datetime:
    """A TOML offset date-time, or an ISO 8601 string with a UTC offset ("Z" allowed)."""
    if isinstance(value, str):
        try:
            value = _dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{name} = {value!r} is not an ISO 8601 date and time") from None
    if isinstance(value, _dt.date) and not isinstance(value, _dt.datetime):
        raise ValueError(f"{name} = {value}: give a time and a UTC offset too, e.g. {value}T23:59:00+01:00")
    if not isinstance(value, _dt.datetime):
        raise ValueError(f"{name} must be a date and time, e.g. 2026-10-15T23:59:00+02:00")
    if value.tzinfo is None:
        raise ValueError(f"{name} = {value.isoformat()} has no UTC offset: add one, e.g. +01:00 or Z")
    return value


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"{name} must be a number of at least 0, not {value!r}")
    return float(value)


def _extension(value: Any, name: str) -> Any:
    """Extra days, a new deadline, or a table of either per assignment."""
    if isinstance(value, dict):
        return {str(k): _extension(v, f"{name}.{k}") for k, v in value.items()}
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _number(value, name)
    return _moment(value, name)


ARITHMETIC_KINDS = ("complex", "extended", "exact", "overloaded")


def _arithmetic(kinds: Any) -> tuple[str, ...]:
    unknown = [kind for kind in kinds if kind not in ARITHMETIC_KINDS]
    if unknown:
        raise ValueError(f"flagged_arithmetic: unknown kind {unknown[0]!r}; use one of {', '.join(ARITHMETIC_KINDS)}")
    return tuple(kinds)


@functools.cache
def _names_read_from_student(probes: str) -> tuple[str, ...]:
    """``student.<name>`` in the probes' source (parsed once per source: every notebook asks)."""
    try:
        tree = ast.parse(probes)
    except (SyntaxError, ValueError):
        return ()
    found = {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "student"
    }
    return tuple(sorted(found))


ASSIGNMENT_KEYS = frozenset(
    {
        "id",
        "title",
        "module",
        "points",
        "preload",
        "blocked_imports",
        "forbidden_apis",
        "flagged_arithmetic",
        "public_checks",
        "release_data",
        "per_submission_questions",
        "limits",
        "tolerance",
        "students_per_gpu",  # read by grader.grading.cluster
    }
)


def load_spec(
    spec_dir: Path, mode: str, solution_dir: Path | None = None, data_dir: Path | None = None
) -> AssignmentSpec:
    toml_path = spec_dir / "assignment.toml"
    try:
        raw: dict[str, Any] = tomllib.loads(toml_path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CourseError(f"cannot read {toml_path}: {exc}") from None
    unknown = sorted(set(raw) - ASSIGNMENT_KEYS)
    if unknown:  # a misspelt key (``point = 100``) would silently keep its default
        raise CourseError(
            f"{toml_path}: unknown key {', '.join(unknown)} (known: {', '.join(sorted(ASSIGNMENT_KEYS))})"
        )
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
            flagged_arithmetic=_arithmetic(raw.get("flagged_arithmetic", [])),
            public_checks=tuple(raw.get("public_checks", ["test_public.py"])),
            release_data=tuple(raw.get("release_data", [])),
            per_submission_questions=tuple(raw.get("per_submission_questions", [])),
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


def _copy_holding(submission: Path) -> Course | None:
    """The copy of the course without solutions (a student copy) that holds ``submission``: the
    submission's folder (a file's folder) is the copy, or one of its assignment folders. Never a
    folder beside it: work kept next to somebody's copy is not graded with that copy."""
    folder = submission if submission.is_dir() else submission.parent
    try:
        return load_template_course(folder.resolve())
    except (CourseError, OSError):
        return None


def _released_from(copy: Course, repository: Path) -> bool:
    """Whether every grading/ folder of ``copy`` is, file for file, the one this course's student copy
    holds (``student_template/``, as `grade release` wrote it). Checks run in the grader's own process:
    where the instructor's course is at hand, a folder of someone else's (a student's submission) must not
    bring checks of its own."""
    for spec in copy.assignments.values():
        released = _files_of(repository / "student_template" / spec.id / GRADING_DIR)
        try:
            if not released or set(_files_of(spec.spec_dir, most=len(released) + 1)) != set(released):
                return False
            if any((spec.spec_dir / name).read_bytes() != (released[name]).read_bytes() for name in released):
                return False
        except OSError:
            return False
    return True


def _a_release(copy: Course) -> bool:
    """Whether ``copy`` is the ``student_template/`` of an instructor's course (or one of its assignment
    folders): what `grade release` wrote for a course of one's own (a copy of the course being extended,
    as in docs/authoring.md's walk-through), not a folder handed in."""
    for folder in (copy.root, copy.root.parent):
        course = folder.parent
        if folder.name == "student_template" and (course / "assignments").is_dir() and (course / "solutions").is_dir():
            return True
    return False


def _files_of(folder: Path, most: int = 1000) -> dict[str, Path]:
    """The files under ``folder`` by relative name (caches left out), the first ``most`` of them."""
    found: dict[str, Path] = {}
    for path in folder.rglob("*"):
        if len(found) >= most:
            break
        if path.is_file() and "__pycache__" not in path.parts:
            found[path.relative_to(folder).as_posix()] = path
    return found


def load_course(path: Path) -> Course:
    path = path.resolve()
    if (path / "assignments").is_dir():
        return load_instructor_course(path)
    return load_template_course(path)


def _instructor_course_around(folder: Path) -> Path | None:
    """The instructor's course (``assignments/`` beside ``solutions/``) that holds
    ``folder``, if any."""
    folder = folder.resolve()
    for candidate in (folder, *folder.parents):
        if (candidate / "assignments").is_dir() and (candidate / "solutions").is_dir():
            return candidate
    return None


def find_course(explicit: Path | None = None, submission: Path | None = None, own_copy_first: bool = False) -> Course:
    """The course to grade against, most specific first.

    1. ``--course`` or ``$GRADER_COURSE``; 2. with ``own_copy_first`` (``grade submit``), the student copy
    that holds the submission (the copy itself or one of its assignment folders): a student checks their work with
    their copy's public checks, whichever grader is installed; where the instructor's course is at hand, only
    a copy that is this course's own release (:func:`_released_from`); 3. the instructor's course in the
    current folder or a folder above it (an instructor working in a copy of the course: an editable install
    would otherwise find the repository it was installed from, and `grade check` there said nothing of the
    copy's new assignment); 4. the course repository this grader was installed from (an editable install
    inside the instructor's repository); 5. the grading material in the submission's folder or the folder
    above it. ``grade report`` never takes a copy from inside a submission first: a student's own
    ``grading/`` folder must not decide their official grade.
    """
    if explicit is None and os.environ.get(COURSE_ENV):
        explicit = Path(os.environ[COURSE_ENV])
    if explicit is not None:
        return load_course(explicit)
    repository = Path(__file__).resolve().parents[2]
    instructor = (repository / "assignments").is_dir() and (repository / "solutions").is_dir()
    note = ""
    if own_copy_first and submission is not None:
        copy = _copy_holding(submission)
        if copy is not None and (not instructor or _released_from(copy, repository) or _a_release(copy)):
            return copy
        if copy is not None:
            note = (
                f"the grading/ folders at {copy.root} are not this course's student copy, so their checks "
                "were not run (they would run outside the sandbox); pass --course to choose a course"
            )
    here = _instructor_course_around(Path.cwd())
    if here is not None and here != repository:
        return replace(load_instructor_course(here), note=note)
    if instructor:
        return replace(load_instructor_course(repository), note=note)
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
