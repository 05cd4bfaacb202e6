"""Finding the students of a class: every sub-folder (or zip file) of the submissions folder is one.

Every folder or zip gets exactly one row: two whose names give the same id (`` bob`` and ``bob``,
``josè`` and ``josé``, ``alice/`` and ``alice.zip``) get distinct ids (``bob``, ``bob-2``) and a note
naming both. A symbolic link at the top is not followed: it gets a row saying so.

Zip files are unpacked safely into a private folder: no paths leaving it, no links (each named in a
note), no devices, capped file count and size (a zip bomb is refused, not unpacked).
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
import unicodedata
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from grader.intake.tree import MAX_DEPTH

MAX_ZIP_FILES = 500
MAX_ZIP_BYTES = 100 * 2**20
MAX_ID = 100
SAFE_ID = re.compile(r"[^A-Za-z0-9._@+-]+")


@dataclass(frozen=True)
class Student:
    id: str
    path: Path  # a folder, or a .zip file
    is_zip: bool = False
    notes: tuple[str, ...] = ()  # said on the student's result and in the gradebook (a clash of ids)
    refused: str | None = None  # why nothing of it is read (a symbolic link)

    @property
    def name(self) -> str:
        """The folder's or zip's own name, as found (the id may differ)."""
        return self.path.name


class UnsafeZip(ValueError):
    """A zip file that cannot be unpacked safely; the message says why."""


def discover(submissions: Path) -> list[Student]:
    """Students in name order, one per folder, zip file or link to either; hidden entries and stray
    files are skipped."""
    entries = [entry for entry in sorted(submissions.iterdir()) if _is_student(entry)]
    ids, notes = _unique_ids(entries)
    return [
        Student(
            ids[entry], entry, is_zip=_is_zip(entry), notes=tuple(notes.get(entry, ())), refused=_link_refusal(entry)
        )
        for entry in entries
    ]


def _is_student(entry: Path) -> bool:
    if entry.name.startswith(".") or entry.name.startswith("__"):
        return False
    return _is_zip(entry) or entry.is_dir()


def _is_zip(entry: Path) -> bool:
    return entry.suffix.lower() == ".zip" and (entry.is_file() or entry.is_symlink())


def _link_refusal(entry: Path) -> str | None:
    if not entry.is_symlink():
        return None
    return (
        f"{entry.name} is a symbolic link (to {os.readlink(entry)}): it was not followed, so nothing was "
        f"graded; put the student's files in the folder itself"
    )


def _unique_ids(entries: list[Path]) -> tuple[dict[Path, str], dict[Path, list[str]]]:
    """An id for each entry, unique even where names differ only in case, spaces or accents. A name
    that already is its id keeps it; then folders before zips, in name order. A numbered id is never
    another entry's own: a hostile round's folder ``Bob`` beside ``bob`` and ``bob-2`` pushed ``bob`` to
    ``bob-2`` and the real ``bob-2`` to ``bob-2-2``, so a roster's bob-2 got bob's grade."""
    stems = {entry: entry.stem if _is_zip(entry) else entry.name for entry in entries}
    bases = {entry: safe_id(stem) for entry, stem in stems.items()}
    order = sorted(entries, key=lambda e: (bases[e] != stems[e], _is_zip(e), e.name))
    own = {base.lower() for base in bases.values()}  # the ids entries would take as their own
    taken: dict[str, Path] = {}  # lower-cased id -> entry (ids are folder names, maybe case-blind)
    first: dict[str, Path] = {}  # lower-cased base id -> the entry that holds it
    ids: dict[Path, str] = {}
    notes: dict[Path, list[str]] = {}
    for entry in order:
        base = bases[entry]
        candidate, number = base, 2
        while candidate.lower() in taken or (candidate != base and candidate.lower() in own):
            suffix = f"-{number}"
            candidate, number = base[: MAX_ID - len(suffix)] + suffix, number + 1
        ids[entry] = candidate
        taken[candidate.lower()] = entry
        holder = first.setdefault(base.lower(), entry)
        if holder is not entry:
            mine, theirs = _shown(entry.name, holder.name)
            note = f"{mine} and {theirs} give the same student id {ids[holder]!r}: {mine} is graded as {candidate!r}"
            notes.setdefault(entry, []).append(note)
            notes.setdefault(holder, []).append(note)
    return ids, notes


def _shown(name: str, other: str) -> tuple[str, str]:
    """Two names quoted so that they read differently, even when they look alike (NFC and NFD)."""
    same = unicodedata.normalize("NFC", name) == unicodedata.normalize("NFC", other)
    return (ascii(name), ascii(other)) if same else (repr(name), repr(other))


def safe_id(name: str) -> str:
    """A student id usable as a file name and as a CSV cell (no slashes, no control characters):
    accents dropped (``josé`` -> ``jose``), anything else outside ``A-Za-z0-9._@+-`` made ``_``."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))
    cleaned = SAFE_ID.sub("_", plain).strip("._") or "student"
    return cleaned[:MAX_ID]


def unpack(archive: Path, into: Path, refused: list[str] | None = None) -> Path:
    """Extract ``archive`` into ``into``; raise :class:`UnsafeZip` for anything suspicious. Links and
    special files are left out, each named in ``refused``."""
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
                if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):  # no type bits: a plain file
                    if refused is not None:
                        refused.append(_zip_refusal(zipped, member, kind))
                    continue
                if member.filename.count("/") > MAX_DEPTH:  # Python's walks, and the removal, recurse
                    raise UnsafeZip(f"{archive.name} holds folders nested more than {MAX_DEPTH} deep")
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


def _zip_refusal(zipped: zipfile.ZipFile, member: zipfile.ZipInfo, kind: int) -> str:
    """The note for a zip entry that is a link or a special file: it is named, never unpacked."""
    if kind != stat.S_IFLNK:
        return f"{member.filename} in the zip file is not a regular file: it was not unpacked"
    target = zipped.read(member)[:200].decode("utf-8", "replace") if member.file_size <= 4096 else "?"
    return (
        f"{member.filename} in the zip file is a symbolic link (to {target}): it was not unpacked, "
        f"since nothing outside a student's own files is read; put the file itself in the zip"
    )


@dataclass
class Opened:
    """A submission ready to read: its folder (a zip's private unpacked copy), or why there is none."""

    folder: Path | None
    problem: str | None = None  # why nothing of it can be read (a link, an unsafe zip)
    refused: list[str] = field(default_factory=list)  # entries of a zip that were not unpacked, each named


@contextmanager
def opened(path: Path, refusal: str | None = None) -> Iterator[Opened]:
    """``path`` as a folder to read, for as long as the ``with`` lasts: a folder or file as it is, a zip
    unpacked once into a temporary folder named after it (so messages name the zip), removed afterwards.
    ``refusal``: why it must not be read at all (a student entry that is a symbolic link)."""
    if refusal:
        yield Opened(None, refusal)
        return
    if not _is_zip(path):
        yield Opened(path)
        return
    temporary = tempfile.mkdtemp(prefix="grader-zip-")
    try:
        folder = Path(temporary) / path.name
        folder.mkdir()
        refused: list[str] = []
        try:
            unpack(path, folder, refused)
        except UnsafeZip as exc:
            yield Opened(None, str(exc))
        else:
            yield Opened(folder, refused=refused)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
