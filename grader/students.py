"""Finding the students of a class: every sub-folder (or zip file) of the submissions folder is one.

Zip files are unpacked safely into a private folder: no paths leaving it, no links, no devices,
capped file count and size (a zip bomb is refused, not unpacked).
"""

from __future__ import annotations

import re
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path

MAX_ZIP_FILES = 500
MAX_ZIP_BYTES = 100 * 2**20
SAFE_ID = re.compile(r"[^A-Za-z0-9._@+-]+")


@dataclass(frozen=True)
class Student:
    id: str
    path: Path          # a folder, or a .zip file
    is_zip: bool = False


class UnsafeZip(ValueError):
    """A zip file that cannot be unpacked safely; the message says why."""


def discover(submissions: Path) -> list[Student]:
    """Students in name order; hidden entries and stray files are skipped."""
    students: dict[str, Student] = {}
    for entry in sorted(submissions.iterdir()):
        if entry.name.startswith(".") or entry.name.startswith("__"):
            continue
        if entry.is_dir() and not entry.is_symlink():
            student = Student(safe_id(entry.name), entry)
        elif entry.is_file() and entry.suffix.lower() == ".zip":
            student = Student(safe_id(entry.stem), entry, is_zip=True)
        else:
            continue
        if student.id in students:  # "alice/" and "alice.zip": keep the folder
            continue
        students[student.id] = student
    return list(students.values())


def safe_id(name: str) -> str:
    """A student id usable as a file name and as a CSV cell (no slashes, no control characters)."""
    cleaned = SAFE_ID.sub("_", name).strip("._") or "student"
    return cleaned[:100]


def unpack(archive: Path, into: Path) -> Path:
    """Extract ``archive`` into ``into``; raise :class:`UnsafeZip` for anything suspicious."""
    try:
        with zipfile.ZipFile(archive) as zipped:
            members = zipped.infolist()
            if len(members) > MAX_ZIP_FILES:
                raise UnsafeZip(f"{archive.name} holds {len(members)} files (at most {MAX_ZIP_FILES})")
            if sum(m.file_size for m in members) > MAX_ZIP_BYTES:
                raise UnsafeZip(f"{archive.name} unpacks to more than {MAX_ZIP_BYTES // 2**20} MB")
            root = into.resolve()
            for member in members:
                kind = stat.S_IFMT(member.external_attr >> 16)
                if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
                    continue  # links and special files are not unpacked (no type bits: a plain file)
                target = (root / member.filename).resolve()
                if target != root and root not in target.parents:
                    raise UnsafeZip(f"{archive.name} contains a path leaving its folder: {member.filename!r}")
                if member.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zipped.open(member) as source, open(target, "wb") as out:
                    remaining = MAX_ZIP_BYTES
                    while chunk := source.read(1 << 16):
                        remaining -= len(chunk)
                        if remaining < 0:
                            raise UnsafeZip(f"{archive.name} unpacks to more than it declares")
                        out.write(chunk)
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as exc:
        raise UnsafeZip(f"{archive.name} is not a readable zip file ({exc})") from None
    return into
