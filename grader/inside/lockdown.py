"""What a student's process may never do, set on itself before the student's code runs: hold a
capability, gain privileges, create a user namespace, or (where the course's guards are in force)
start another program.

Standard library only: the trusted side's trial launch (:func:`grader.inside.box.probe_box`) runs
these too, and it should not pay for numpy.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
from dataclasses import dataclass

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2
PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
LINUX_CAPABILITY_VERSION_3 = 0x20080522

_libc = ctypes.CDLL(None, use_errno=True)


def drop_capabilities() -> None:
    """No capability survives into student code, whatever the zygote held.

    A uid change from root clears them by itself; in bubblewrap's user namespace (grading as a
    normal user) the uid stays, so the zygote's CAP_SYS_ADMIN there is cleared here. No new
    privileges either: a setuid program cannot give any back.
    """
    _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    _libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    header = (ctypes.c_uint32 * 2)(LINUX_CAPABILITY_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable, for both 32-bit halves
    if _libc.capset(header, data) != 0:
        raise RuntimeError(f"capset failed ({os.strerror(ctypes.get_errno())}): student code would keep capabilities")
    held = _status_field("CapEff:") + _status_field("CapPrm:")
    if held.strip("0 "):
        raise RuntimeError(f"capabilities remain after dropping them ({held.split()})")


def _status_field(name: str) -> str:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(name):
                return line[len(name) :].strip() + " "
    return ""


# seccomp: unshare(CLONE_NEWUSER) and clone(CLONE_NEWUSER) fail with EPERM; clone3 (whose flags a
# classic filter cannot read) with ENOSYS, so the C library falls back to clone; other ABIs refused.
# The kernel's key management (add_key, request_key, keyctl) fails with EPERM: a uid's keyrings are not
# namespaced and outlive every process, so a student's key was read by the next student graded under
# the same uid (a hostile round carried a4's hidden word pairs onto a page sent back), and request_key
# could make the kernel start a program as root. Docker's default profile refuses them too.
# Files every sandbox reads (the interpreter's, numpy's) are one file for all of them: a lock taken on
# one is seen by every other sandbox, and so is each read by a watch. An isolation round moved a4's
# hidden word pairs to a classmate graded at the same time through flock() on numpy's files. So flock
# and fcntl's record locks succeed without locking (a student's own processes have nothing to share a
# file with but each other), and watching files (inotify, fanotify, fcntl's F_NOTIFY) fails with EPERM.
# The page cache is one for the whole host and outlives every process: whether a page of a shared file
# is cached is a bit every sandbox can set and read. An isolation round wrote a3's hidden training data
# as such bits (a read sets one, posix_fadvise(DONTNEED) clears it) and read them back in a classmate's
# process, graded after it or in another batch, with os.preadv(RWF_NOWAIT) (it fails where the page is
# not cached). So what reads the cache without touching it (mincore, cachestat, preadv2's RWF_NOWAIT,
# io_uring) and what empties it (fadvise, madvise's MADV_COLD and MADV_PAGEOUT; readahead too) fail:
# ENOSYS where a library may fall back, EPERM for the flags. Only timing reads remains (docs/integrity.md).
@dataclass(frozen=True)
class _Calls:
    audit_arch: int
    unshare: int
    clone: int
    refused: tuple[int, ...]  # add_key, request_key, keyctl, then the file watches
    flock: int
    fcntl: int
    page_cache: tuple[int, ...]  # readahead, fadvise64, mincore, io_uring_setup/enter/register, cachestat
    madvise: int
    rw_flagged: tuple[int, ...]  # preadv2, pwritev2


_ARCHES = {
    "x86_64": _Calls(
        0xC000003E,
        272,
        56,
        (248, 249, 250, 253, 254, 294, 300),
        flock=73,
        fcntl=72,
        page_cache=(187, 221, 27, 425, 426, 427, 451),
        madvise=28,
        rw_flagged=(327, 328),
    ),
    "aarch64": _Calls(
        0xC00000B7,
        97,
        220,
        (217, 218, 219, 26, 27, 262),
        flock=32,
        fcntl=25,
        page_cache=(213, 223, 232, 425, 426, 427, 451),
        madvise=233,
        rw_flagged=(286, 287),
    ),
}
MADV_COLD, MADV_PAGEOUT, RWF_NOWAIT = 20, 21, 0x8
CLONE_NEWUSER = 0x10000000
_SYS_CLONE3 = 435
F_SETLK, F_SETLKW, F_OFD_SETLK, F_OFD_SETLKW, F_NOTIFY = 6, 7, 37, 38, 1026


def refuse_user_namespaces() -> str | None:
    """Student code cannot create user namespaces (``unshare -Ur``), whatever bubblewrap allowed (as
    root, bubblewrap's ``--disable-userns`` does not apply), leave anything in the kernel's keyrings, or
    signal another sandbox through locks on or watches of the files they share. A seccomp filter,
    inherited by every process the student starts and never removable. Why it could not be installed,
    or None; the zygote tries it at start-up and the isolation notice says so."""
    calls = _ARCHES.get(os.uname().machine)
    if calls is None:
        return f"no seccomp filter for {os.uname().machine}"
    return _install(_child_filter(calls))


def _install(program: bytes) -> str | None:
    """Install a classic seccomp filter on this thread's process (inherited by every child, never
    removable); why it could not be, or None."""
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = struct.pack("HL", len(program) // 8, ctypes.addressof(buffer))
    if _libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.c_char_p(fprog), 0, 0) != 0:
        return f"seccomp refused the filter ({os.strerror(ctypes.get_errno())})"
    return None


def _assemble(program: list[tuple[str | None, int, int, str | None, str | None]]) -> bytes:
    """Classic BPF from ``(label, code, k, jump if true, jump if false)``, jumps named by label."""
    where = {label: index for index, (label, *_) in enumerate(program) if label}

    def offset(index: int, target: str | None) -> int:
        return 0 if target is None else where[target] - index - 1

    return b"".join(
        struct.pack("HBBI", code, offset(i, true), offset(i, false), k)
        for i, (_, code, k, true, false) in enumerate(program)
    )


def _child_filter(calls: _Calls) -> bytes:
    load, jeq, jset, jge, ret = 0x20, 0x15, 0x45, 0x35, 0x06
    allow, eperm, enosys = 0x7FFF0000, 0x00050000 | errno.EPERM, 0x00050000 | errno.ENOSYS
    unlocked = 0x00050000  # SECCOMP_RET_ERRNO with 0: the call returns 0 without running
    return _assemble(
        [
            (None, load, 4, None, None),  # arch
            (None, jeq, calls.audit_arch, "ours", None),
            (None, ret, eperm, None, None),
            ("ours", load, 0, None, None),  # the system call's number
            (None, jge, 0x40000000, "refuse", None),  # x32 ABI numbers
            (None, jeq, _SYS_CLONE3, "unknown", None),
            (None, jeq, calls.unshare, "flags", None),
            (None, jeq, calls.clone, "flags", None),
            (None, jeq, calls.flock, "unlocked", None),
            (None, jeq, calls.fcntl, "command", None),
            *[(None, jeq, refused, "refuse", None) for refused in calls.refused],
            *[(None, jeq, cache, "unknown", None) for cache in calls.page_cache],
            (None, jeq, calls.madvise, "advice", None),
            *[(None, jeq, rw, "rw_flags", None) for rw in calls.rw_flagged],
            (None, ret, allow, None, None),
            ("flags", load, 16, None, None),  # the first argument, low 32 bits
            (None, jset, CLONE_NEWUSER, "refuse", None),
            (None, ret, allow, None, None),
            ("command", load, 24, None, None),  # fcntl's second argument, low 32 bits
            (None, jeq, F_NOTIFY, "refuse", None),
            *[(None, jeq, lock, "unlocked", None) for lock in (F_SETLK, F_SETLKW, F_OFD_SETLK, F_OFD_SETLKW)],
            (None, ret, allow, None, None),
            ("advice", load, 32, None, None),  # madvise's third argument, low 32 bits
            (None, jeq, MADV_COLD, "refuse", None),
            (None, jeq, MADV_PAGEOUT, "refuse", None),
            (None, ret, allow, None, None),
            ("rw_flags", load, 56, None, None),  # preadv2's and pwritev2's sixth argument, low 32 bits
            (None, jset, RWF_NOWAIT, "refuse", None),
            (None, ret, allow, None, None),
            ("unlocked", ret, unlocked, None, None),
            ("refuse", ret, eperm, None, None),
            ("unknown", ret, enosys, None, None),
        ]
    )


# execve and execveat, by architecture.
_EXEC_CALLS = {"x86_64": (59, 322), "aarch64": (221, 281)}


def refuse_new_programs() -> str | None:
    """Student code cannot start another program (execve, execveat; so no subprocess, no os.exec*, no
    ``python -c``), in this process or any it forks. For assignments whose guards live in the
    student's process (a3's ban on torch's RNN kernels): a new interpreter would start without them.
    Forked processes keep the guards, so fork stays allowed. A seccomp filter, never removable. Why it
    could not be installed, or None."""
    arch = _ARCHES.get(os.uname().machine)
    calls = _EXEC_CALLS.get(os.uname().machine)
    if arch is None or calls is None:
        return f"no seccomp filter for {os.uname().machine}"
    return _install(_exec_filter(arch.audit_arch, *calls))


def _exec_filter(audit_arch: int, execve: int, execveat: int) -> bytes:
    def op(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
        return struct.pack("HBBI", code, jt, jf, k)

    load, jeq, ret = 0x20, 0x15, 0x06
    allow, eperm = 0x7FFF0000, 0x00050000 | errno.EPERM
    return b"".join(
        [
            op(load, 4),  # 0: arch
            op(jeq, audit_arch, 1, 0),  # 1: ours? go on, else refuse
            op(ret, eperm),  # 2
            op(load, 0),  # 3: syscall number
            op(jeq, execve, 2, 0),  # 4: -> 7
            op(jeq, execveat, 1, 0),  # 5: -> 7
            op(ret, allow),  # 6
            op(ret, eperm),  # 7
        ]
    )


# rt_sigaction, by architecture.
_SIGACTION_CALLS = {"x86_64": 13, "aarch64": 134}


def refuse_signal_handlers() -> str | None:
    """Student code cannot install a signal handler, in this process or any it forks: a handler is
    handed the frame it interrupts, and through it every frame of the grader's below (an integrity round
    installed one through names built at run time, which no scan reads, and a timer's signal handed it
    the probe's frame). ``sigaction`` with a new action fails with EPERM, so Python leaves its own table
    of handlers as it was; asking for the current action still works. A seccomp filter, never removable;
    installed after the grader's own handlers. Why it could not be installed, or None."""
    arch = _ARCHES.get(os.uname().machine)
    sigaction = _SIGACTION_CALLS.get(os.uname().machine)
    if arch is None or sigaction is None:
        return f"no seccomp filter for {os.uname().machine}"
    load, jeq, ret = 0x20, 0x15, 0x06
    allow, eperm = 0x7FFF0000, 0x00050000 | errno.EPERM
    return _install(
        _assemble(
            [
                (None, load, 4, None, None),  # arch
                (None, jeq, arch.audit_arch, "ours", None),
                (None, ret, eperm, None, None),
                ("ours", load, 0, None, None),  # the system call's number
                (None, jeq, sigaction, "action", None),
                (None, ret, allow, None, None),
                ("action", load, 24, None, None),  # the new action's address (second argument), low half
                (None, jeq, 0, "high", "refuse"),
                ("high", load, 28, None, None),  # its high half
                (None, jeq, 0, "allow", "refuse"),
                ("allow", ret, allow, None, None),
                ("refuse", ret, eperm, None, None),
            ]
        )
    )
