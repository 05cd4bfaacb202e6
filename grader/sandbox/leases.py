"""Numbers no other sandbox on this host holds: each sandbox's student uid and cgroup name.

A number is held by an ``flock`` on its own lock file, so it is released by the kernel whenever its
holder ends, however it ends, and two ``grade report`` runs on one host (or a grader and its
verifier) never share a uid: ``RLIMIT_NPROC`` counts per uid host-wide, so a shared uid would let one
instance's student starve another's of processes.
"""

from __future__ import annotations

import fcntl
import os
import pwd
import stat
from dataclasses import dataclass
from pathlib import Path

SANDBOX_UID_BASE = 61000  # student processes run as SANDBOX_UID_BASE + lease number when the grader is root
POOL = 1000  # numbers 0..999: uids 61000-61999


class NoLeaseLeft(RuntimeError):
    """Every number of the pool is held (or its uid is in use on this host)."""


@dataclass
class Lease:
    number: int
    handle: int  # the open, locked file; closing it releases the number

    @property
    def uid(self) -> int:
        return SANDBOX_UID_BASE + self.number

    def release(self) -> None:
        if self.handle >= 0:
            os.close(self.handle)
            self.handle = -1


def lock_dir() -> Path:
    """One directory per user, the same for every grader instance of that user on this host."""
    if os.geteuid() == 0 and os.path.isdir("/run"):
        return Path("/run/rnn-autograder")
    return Path(f"/tmp/rnn-autograder-{os.geteuid()}")


def claim(hint: int = 0) -> Lease:
    """The first free number from ``hint`` on (wrapping round the pool), locked for this process."""
    folder = _private_dir(lock_dir())
    busy = _uids_in_use() if os.geteuid() == 0 else set()
    for offset in range(POOL):
        number = (hint + offset) % POOL
        if os.geteuid() == 0 and (SANDBOX_UID_BASE + number in busy or _named(SANDBOX_UID_BASE + number)):
            continue
        handle = os.open(folder / f"{number}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(handle)
            continue
        return Lease(number, handle)
    raise NoLeaseLeft(f"all {POOL} sandbox numbers in {folder} are in use")


def _private_dir(path: Path) -> Path:
    """The lock directory, refused if someone else owns it (they could hold every lock)."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o022:
        raise NoLeaseLeft(f"{path} is not a private directory of this user; remove it")
    return path


def _uids_in_use() -> set[int]:
    """Real uids of the processes this host shows (a leftover of a crashed grader keeps its uid busy)."""
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                found.add(os.stat(f"/proc/{entry}").st_uid)
            except OSError:
                continue
    return found


def _named(uid: int) -> bool:
    """A uid that belongs to an account of this host is never lent to student code."""
    try:
        pwd.getpwuid(uid)
        return True
    except KeyError:
        return False
