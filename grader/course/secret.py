"""The course secret: official grading draws every probe call's seeds afresh from it.

A student's copy ships the expected data of its public checks, so that students can check their work
offline. If official grading asked the same questions, a submission could answer from that file. So
in full mode every seed a check passes (the call's ``seed`` and any argument named in
:data:`SEED_ARGUMENTS`) is replaced by one derived from an instructor-only key: the student's code and
the reference answer the same fresh question, and replaying shipped answers earns nothing.

The key comes from ``$GRADER_SECRET``, else from the file ``.grader-secret`` at the course's root
(created with a random key the first time an instructor's course grades). Rotating it (delete the
file, or ``grade secret --rotate``) changes every official question; reference answers are
recomputed under the new key, since the seeds are part of each cache key.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path
from typing import Any

SECRET_ENV = "GRADER_SECRET"
SECRET_FILE = ".grader-secret"
SEED_ARGUMENTS = ("seed", "seeds", "data_seed")
SEED_RANGE = 2**31 - 2**20  # room for probes that add small offsets (seed + 1) to a derived seed


class CourseSecret:
    """Maps the seeds a check names to fresh ones; the same seed maps alike in one assignment."""

    def __init__(self, key: bytes) -> None:
        if not key:
            raise ValueError("the course secret is empty")
        self._key = key

    def seed(self, assignment: str, value: int, submission: str = "") -> int:
        """The fresh seed for ``value``; with ``submission`` (its content's hash and its grading's draw),
        that grading's own."""
        message = f"{assignment}\0{int(value)}" + (f"\0{submission}" if submission else "")
        digest = hmac.new(self._key, message.encode(), hashlib.sha256).digest()
        return int.from_bytes(digest[:8], "big") % SEED_RANGE

    def fresh_call(
        self, assignment: str, args: dict[str, Any], seed: int, submission: str = ""
    ) -> tuple[dict[str, Any], int]:
        """The call's arguments with every seed replaced (other arguments untouched); drawn for that
        submission alone where ``submission`` is given."""
        fresh = dict(args)
        for name in SEED_ARGUMENTS:
            if name in fresh:
                fresh[name] = self._fresh_value(assignment, fresh[name], submission)
        return fresh, self.seed(assignment, seed, submission)

    def _fresh_value(self, assignment: str, value: Any, submission: str) -> Any:
        if isinstance(value, bool) or value is None:
            return value
        if isinstance(value, int):
            return self.seed(assignment, value, submission)
        if isinstance(value, (list, tuple)):
            return type(value)(self._fresh_value(assignment, item, submission) for item in value)
        return value


def load_secret(course_root: Path, create: bool = True) -> CourseSecret:
    """The course's key: ``$GRADER_SECRET``, else ``.grader-secret`` at the root (created if missing)."""
    secret = _from_env()
    if secret is not None:
        return secret
    path = Path(course_root) / SECRET_FILE
    try:
        key = path.read_text(encoding="utf-8").strip()
    except OSError:
        key = ""
    if not key and create:
        key = rotate_secret(course_root)
    if not key:
        raise FileNotFoundError(f"no course secret: set ${SECRET_ENV} or create {path}")
    return CourseSecret(key.encode())


def rotate_secret(course_root: Path) -> str:
    """Write a new random key (readable by its owner only) and return it."""
    key = secrets.token_hex(32)
    path = Path(course_root) / SECRET_FILE
    handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(key + "\n")
    return key


def shipped_secret(grading_dir: Path) -> CourseSecret | None:
    """The key an autograder ships beside its expected data (recorded under that key), if any."""
    secret = _from_env()
    if secret is not None:
        return secret
    try:
        key = (Path(grading_dir) / SECRET_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return CourseSecret(key.encode()) if key else None


def _from_env() -> CourseSecret | None:
    """``$GRADER_SECRET``, which wins everywhere (the same key on every machine of a course)."""
    key = os.environ.get(SECRET_ENV, "").strip()
    return CourseSecret(key.encode()) if key else None
