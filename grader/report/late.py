"""When each piece of work came in, and what the course's late policy takes for it.

Times come from a manifest (``submission_times.csv``: ``student, assignment, submitted_at``, the LMS's
or the hand-in system's record) or, failing that, from file modification times, which copying, unpacking
or ``touch`` change: weak evidence, said so in a warning. The policy itself is read from course.toml by
:class:`grader.course.model.LatePolicy`; see docs/gradebook.md.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import math
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path

from grader.course.model import LatePolicy
from grader.intake.tree import files_under

MANIFEST = "submission_times.csv"  # beside the student folders, used when present
FILE_TIMES_WARNING = (
    "submission times come from file modification times, which copying, unpacking or touching a file "
    f"changes: weak evidence for a late penalty; give the hand-in system's times in {MANIFEST} "
    "(columns student, assignment, submitted_at) or with --times"
)
ALL = "*"  # a manifest row without an assignment holds for all of the student's work


class ManifestError(ValueError):
    """A submission-times manifest that cannot be read; the message names the file and line."""


@dataclass(frozen=True)
class SubmittedAt:
    when: _dt.datetime
    source: str  # "manifest" | "file time"

    def as_dict(self) -> dict[str, str]:
        return {"submitted_at": self.when.isoformat(timespec="seconds"), "time_source": self.source}


class SubmissionTimes:
    """Times by (student, assignment); a student's row for ``*`` answers for every assignment."""

    def __init__(self, times: dict[tuple[str, str], SubmittedAt] | None = None, warnings: list[str] | None = None):
        self.times = dict(times or {})
        self.warnings = list(warnings or [])

    def get(self, student: str, assignment: str) -> SubmittedAt | None:
        return self.times.get((student, assignment)) or self.times.get((student, ALL))

    def __bool__(self) -> bool:
        return bool(self.times)


def parse_moment(text: str) -> _dt.datetime:
    """ISO 8601 with a UTC offset ("Z" allowed): a time without one would depend on this machine's zone."""
    moment = _dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset (add one, e.g. +01:00 or Z)")
    return moment


def read_manifest(path: Path) -> SubmissionTimes:
    """``student, assignment, submitted_at`` (assignment may be empty: every assignment of the student)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"cannot read {path}: {exc}") from None
    reader = csv.DictReader(io.StringIO(text))
    columns = {(name or "").strip().lower(): name for name in reader.fieldnames or []}
    if "student" not in columns or "submitted_at" not in columns:
        raise ManifestError(f"{path}: needs the columns student and submitted_at (and optionally assignment)")
    times: dict[tuple[str, str], SubmittedAt] = {}
    for line, row in enumerate(reader, start=2):
        student = (row.get(columns["student"]) or "").strip()
        assignment = (row.get(columns.get("assignment", ""), "") or "").strip() or ALL
        if not student:
            continue
        try:
            when = parse_moment(row.get(columns["submitted_at"]) or "")
        except ValueError as exc:
            raise ManifestError(f"{path}, line {line}: submitted_at: {exc}") from None
        times[(student, assignment)] = SubmittedAt(when, "manifest")
    return SubmissionTimes(times)


def file_times(submissions: dict[str, Path], module_names: dict[str, str]) -> SubmissionTimes:
    """The newest modification time of each student's files, per assignment where its files can be told
    apart (an ``<assignment>/`` folder or the module's ``.py``/``.ipynb``), else of the whole folder or zip."""
    times: dict[tuple[str, str], SubmittedAt] = {}
    for student, path in submissions.items():
        stamps = {**_stamps(path), **_module_stamps(path, module_names)}
        if not stamps:
            continue
        times[(student, ALL)] = _at(max(stamps.values()))
        for assignment, module in module_names.items():
            own = [
                stamp for name, stamp in stamps.items() if assignment in Path(name).parts or Path(name).stem == module
            ]
            if own:
                times[(student, assignment)] = _at(max(own))
    return SubmissionTimes(times, [FILE_TIMES_WARNING] if times else [])


def _module_stamps(path: Path, module_names: dict[str, str]) -> dict[str, float]:
    """Relative name -> modification time of the graded modules' own files, looked up by name, as
    :func:`_stamps` names them (its walk is bounded: a hostile round put 20,001 hidden files before the
    module, the walk ended before it, and no time meant no late penalty)."""
    found = {}
    for assignment, module in module_names.items():
        for folder in (Path(), Path(assignment)):
            for name in (f"{module}.py", f"{module}.ipynb"):
                try:
                    status = (path / folder / name).lstat()
                except OSError:
                    continue
                if stat.S_ISREG(status.st_mode) and _representable(status.st_mtime):
                    found[str(folder / name)] = status.st_mtime
    return found


def _representable(seconds: float) -> bool:
    """A file time a date can hold: a file kept its year-36812 time through tar on tmpfs, and the date
    that could not be made stopped the class's gradebook (such a time says nothing: it is passed over)."""
    try:
        _dt.datetime.fromtimestamp(seconds, _dt.timezone.utc)
    except (OverflowError, ValueError, OSError):
        return False
    return True


def _at(seconds: float) -> SubmittedAt:
    return SubmittedAt(_dt.datetime.fromtimestamp(seconds, _dt.timezone.utc), "file time")


def _stamps(path: Path) -> dict[str, float]:
    """Relative name -> modification time of each regular file (links are not followed)."""
    try:
        if path.is_symlink():
            return {}
        if path.is_file() and path.suffix.lower() == ".zip":
            return _zip_stamps(path)
        if not path.is_dir():
            return {}
        found = {}
        hidden = lambda name: name.startswith(".")  # noqa: E731
        for entry in files_under(path, skip_folder=hidden, skip_file=hidden):
            stamp = entry.lstat().st_mtime
            if _representable(stamp):
                found[str(entry.relative_to(path))] = stamp
        return found
    except OSError:
        return {}


def _zip_stamps(path: Path) -> dict[str, float]:
    """A zip's entries carry local times without a zone: the zip file's own time is used for them all."""
    stamp = path.lstat().st_mtime
    try:
        with zipfile.ZipFile(path) as archive:
            return {info.filename: stamp for info in archive.infolist() if not info.is_dir()}
    except (OSError, zipfile.BadZipFile):
        return {"": stamp}


@dataclass(frozen=True)
class Lateness:
    days: int  # whole started days after the deadline (0: on time or within the grace period)
    percent: float  # of the base the policy names
    penalty: float  # points taken
    deadline: _dt.datetime
    submitted: SubmittedAt

    def describe(self) -> str:
        when = self.submitted.when.isoformat(sep=" ", timespec="minutes")
        due = self.deadline.isoformat(sep=" ", timespec="minutes")
        source = "" if self.submitted.source == "manifest" else f" ({self.submitted.source})"
        if self.days == 0:
            return f"submitted {when}{source}, within the grace period of the deadline {due}"
        plural = "s" if self.days != 1 else ""
        return f"{self.days} day{plural} after the deadline (submitted {when}{source}, due {due}): -{self.percent:g}%"


def lateness(
    policy: LatePolicy, student: str, assignment: str, submitted: SubmittedAt, raw: float, possible: float
) -> Lateness | None:
    """What the policy takes from ``raw`` points (None: on time, or no deadline for this assignment)."""
    deadline = policy.deadline_for(student, assignment)
    if deadline is None or submitted.when <= deadline:
        return None
    late = submitted.when - deadline
    if late <= _dt.timedelta(minutes=policy.grace_minutes):
        return Lateness(0, 0.0, 0.0, deadline, submitted)
    days = max(math.ceil(late / _dt.timedelta(days=1)), 1)
    if policy.rule == "zero" or (policy.zero_after_days is not None and days > policy.zero_after_days):
        percent = 100.0
        base = raw
    else:
        percent = min(policy.percent_per_day * days, policy.max_percent, 100.0)
        base = raw if policy.of == "earned" else possible
    penalty = round(min(base * percent / 100.0, raw), 4)
    return Lateness(days, percent, penalty, deadline, submitted)
