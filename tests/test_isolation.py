"""One submission, one box: nothing of a student outlives its grading or reaches another student.

Each attack is written as a hostile student would write it (issue 11). Attacks that need a second
student are graded with `grade report` over a small class, one slot (so the students follow each
other in the same worker) and assert the other students' exact scores. What needs namespaces,
cgroups, root or bubblewrap is skipped, with the reason, where this machine cannot give it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, SOLUTIONS, checks_of, report_isolation, score_of

from grader.errors import RunFailed, SandboxError
from grader.sandbox import Limits, LoadSpec, Sandbox, cgroups
from grader.sandbox.isolation import (
    BUBBLEWRAP,
    UNISOLATED,
    box_support,
    bubblewrap_problem,
    bubblewrap_works,
    bwrap_option,
    bwrap_prefix,
    choose,
)
from grader.sandbox.leases import SANDBOX_UID_BASE
from grader.sandbox.submission_process import SubmissionProcess
from grader.sandbox.zygote_handle import WorkerSetup, ZygoteHandle

A1 = "a1_srn_numpy"
REFERENCE = (SOLUTIONS / A1 / "srn.py").read_text()
PARTIAL = 85  # the hostile code broke linear_output only (15 points call it)
TAG = "isolation-246810"
KIND = "bubblewrap" if bubblewrap_works() else "none"  # what `grade report` uses here
SYS_EXIT = {"x86_64": 60, "aarch64": 93}


def namespaces_problem() -> str | None:
    box = box_support(KIND)
    return None if box.get("namespaces") else f"no namespaces per submission here: {box.get('problem')}"


def cgroups_problem() -> str | None:
    hierarchy, why_not = cgroups.find()
    return None if hierarchy is not None else f"no cgroups the grader can create here: {why_not}"


needs_namespaces = pytest.mark.skipif(namespaces_problem() is not None, reason=str(namespaces_problem()))
needs_cgroups = pytest.mark.skipif(cgroups_problem() is not None, reason=str(cgroups_problem()))
needs_root_bubblewrap = pytest.mark.skipif(
    os.geteuid() != 0 or not bubblewrap_works(),
    reason="own uids per sandbox need root and bubblewrap"
    + ("" if bubblewrap_works() else f" ({bubblewrap_problem()})"),
)


def at_import(code: str) -> dict[str, str]:
    return {"srn.py": code + "\n" + REFERENCE}


def in_linear_output(code: str) -> dict[str, str]:
    body = "".join(f"    {line}\n" for line in code.strip("\n").splitlines())
    return {
        "srn.py": REFERENCE.replace(
            "def linear_output(hs, W_hy, b_y):\n", f"def linear_output(hs, W_hy, b_y):\n{body}", 1
        )
    }


def leaked(result: dict) -> str:
    for check in checks_of(result, A1):
        if "LEAK:" in check["message"]:
            return check["message"].split("LEAK:", 1)[1]
    raise AssertionError("the probe did not report back")


def messages(result: dict) -> str:
    return (
        " ".join(c["message"] for c in checks_of(result, A1))
        + " "
        + " ".join(a["message"] for a in result["assignments"])
    )


# -- a thread that survives SYS_exit of its main thread ------------------------------------------

LURKER = f"""
import ctypes, os, signal, threading, time

def lurk():  # for a minute: stop every other process it can see, spoil every submission it can reach
    end = time.time() + 60
    while time.time() < end:
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) != os.getpid():
                try:
                    os.kill(int(entry), signal.SIGSTOP)
                except OSError:
                    pass
        for root, _, files in os.walk("/tmp"):
            for name in files:
                try:
                    open(os.path.join(root, name), "a").write("\\nraise SystemExit('spoilt')\\n")
                except OSError:
                    pass
        time.sleep(0.02)

if os.fork() == 0:
    os.setsid()
    threading.Thread(target=lurk).start()
    time.sleep(0.2)
    ctypes.CDLL(None).syscall({SYS_EXIT.get(os.uname().machine, 60)}, 0)  # only this thread ends: "Z" in /proc
"""


@pytest.mark.slow
def test_a_thread_that_outlives_its_main_thread_reaches_no_other_student(grade_class):
    results = grade_class(
        {"a_lurker": at_import(LURKER), "b_victim": {"srn.py": REFERENCE}, "c_victim": {"srn.py": REFERENCE}}, workers=1
    )
    assert score_of(results["b_victim"], A1) == 100, messages(results["b_victim"])
    assert score_of(results["c_victim"], A1) == 100, messages(results["c_victim"])


# -- SysV shared memory --------------------------------------------------------------------------

SHM = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
KEY, IPC_CREAT = 0x5EED, 0o1000
"""

LEAVES_SEGMENTS = (
    SHM
    + """
def _leave(key, size, text=b""):
    ident = libc.shmget(key, size, IPC_CREAT | 0o666)
    address = libc.shmat(ident, None, 0)
    ctypes.memset(address, 1, size)
    ctypes.memmove(address, text, len(text))
    libc.shmdt(ctypes.c_void_p(address))

_leave(KEY, 2**20, b"a message for the next student")
for extra in range(3):
    _leave(KEY + 1 + extra, 64 * 2**20)
"""
)

LOOKS_FOR_SEGMENTS = (
    SHM
    + """
ident = libc.shmget(KEY, 0, 0)
if ident >= 0:
    address = libc.shmat(ident, None, 0)
    found = ctypes.string_at(address, 30)
else:
    found = os.strerror(ctypes.get_errno())
listed = len(open("/proc/sysvipc/shm").read().splitlines()) - 1
raise ValueError("LEAK:" + repr([found, listed]))
"""
)


@needs_namespaces
def test_sysv_segments_die_with_their_submission(sandbox):
    """Segments one student's native code leaves in SysV shared memory are gone for the next one (each
    process has an IPC namespace of its own). ctypes stands for native code: graded code may not use
    it (guards.refuse_reaching_in), so these processes keep it (LoadSpec.native_code)."""

    def process(source: str) -> Any:
        spec = LoadSpec("mod", "mod.py", {"mod.py": source.encode()}, PROBES, native_code=True)
        return sandbox.worker(spec, Limits(probe_timeout_s=30))

    writer = process(LEAVES_SEGMENTS + "\ndef done():\n    return 1\n")
    assert writer.call("call", {"name": "done"}) == 1
    writer.close()
    looking = "def look():\n" + "".join(f"    {line}\n" for line in LOOKS_FOR_SEGMENTS.strip("\n").splitlines())
    reader = process(looking)
    with pytest.raises(RunFailed) as caught:
        reader.call("call", {"name": "look"})
    reader.close()
    assert "LEAK:['No such file or directory', 0]" in str(caught.value), str(caught.value)


# -- memory for all processes together -------------------------------------------------------------

FORK_AND_TOUCH = """
import os
ready_r, ready_w = os.pipe()
release_r, release_w = os.pipe()
children = []
for _ in range(3):
    pid = os.fork()
    if pid == 0:
        os.close(release_w)
        block = bytearray(300 * 2**20)  # touched: every page written
        os.write(ready_w, b"x")
        os.close(ready_w)
        os.read(release_r, 1)  # held until every child has its block or was killed, however slow the machine
        os._exit(0)
    children.append(pid)
os.close(ready_w)
while os.read(ready_r, 16):  # end of file: every child wrote, or died
    pass
os.close(release_w)
ended = sorted("killed" if os.WIFSIGNALED(status) else "finished" for status in (os.waitpid(pid, 0)[1] for pid in children))
raise ValueError("LEAK:" + repr(ended))
"""


@pytest.mark.slow
@needs_cgroups
def test_memory_limit_holds_for_all_processes_together(grade_class):
    results = grade_class(
        {"a_forker": in_linear_output(FORK_AND_TOUCH), "b_victim": {"srn.py": REFERENCE}},
        "--limit",
        "memory_mb=400",
        "--limit",
        "probe_timeout_s=60",
        workers=1,
    )
    ended = json.loads(leaked(results["a_forker"]).split("]")[0].replace("'", '"') + "]")
    assert ended.count("killed") >= 2, ended  # 3 x 300 MB never fit in 400 MB together
    assert "the memory limit of 400 MB for all your processes together was reached" in messages(results["a_forker"])
    assert score_of(results["a_forker"], A1) == PARTIAL
    assert score_of(results["b_victim"], A1) == 100


# -- uids unique per grader instance ---------------------------------------------------------------

HOG = f"""
import os, time
for _ in range(20):
    if os.fork() == 0:
        os.execv("/bin/sleep", ["{TAG}", "60"])  # named by argv[0], found in /proc
time.sleep(60)
"""

REPORTS_UID = in_linear_output("import os\nraise ValueError('LEAK:' + repr(os.getuid()))")


def tagged() -> dict[int, int]:
    """pid -> uid of the processes the hog started."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if TAG.encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                    found[int(entry)] = os.stat(f"/proc/{entry}").st_uid
            except OSError:
                continue
    return found


@pytest.mark.slow
@needs_root_bubblewrap
def test_two_graders_on_one_host_never_share_a_uid(run_grade, tmp_path, grade_class, cache_dir):
    hog_class = tmp_path / "hog-class"
    (hog_class / "hog").mkdir(parents=True)
    (hog_class / "hog" / "srn.py").write_text(HOG + REFERENCE)
    command = [
        sys.executable,
        "-m",
        "grader",
        "report",
        str(hog_class),
        "--out",
        str(tmp_path / "hog-out"),
        "--workers",
        "1",
        "--limit",
        "import_timeout_s=90",
        "--limit",
        "processes=40",
    ]
    environment = {**os.environ, "GRADER_CACHE_DIR": str(cache_dir)}
    hog = subprocess.Popen(
        command + report_isolation(command[3:]),
        cwd=REPO,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while len(tagged()) < 20 and time.monotonic() < deadline:
            time.sleep(0.2)
        hog_uids = set(tagged().values())
        assert len(tagged()) >= 20 and len(hog_uids) == 1, "the first grader's student did not start"
        results = grade_class(
            {"a_honest": {"srn.py": REFERENCE}, "b_reports": REPORTS_UID, "c_honest": {"srn.py": REFERENCE}}, workers=1
        )
    finally:
        hog.terminate()
        hog.wait(30)
    uid = int(leaked(results["b_reports"]).split()[0])
    assert uid >= SANDBOX_UID_BASE and uid not in hog_uids
    assert score_of(results["a_honest"], A1) == 100 and score_of(results["c_honest"], A1) == 100
    assert score_of(results["b_reports"], A1) == PARTIAL


def test_leases_are_exclusive_across_processes(tmp_path):
    script = (  # each holds its lease until told to let go: all three are held at once, however slow the start
        "import sys; from grader.sandbox.leases import claim; "
        "lease = claim(0); print(lease.number, flush=True); sys.stdin.read()"
    )
    holders = [
        subprocess.Popen(
            [sys.executable, "-c", script], cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    numbers = [int(process.stdout.readline()) for process in holders]
    for process in holders:
        process.stdin.close()
        process.wait(60)
    assert len(set(numbers)) == 3, numbers


@needs_root_bubblewrap
def test_every_sandbox_of_a_grader_has_its_own_uid_the_verifier_included():
    from grader.course.model import load_course
    from grader.grading.slot import GradingSlot

    course = load_course(REPO)
    with GradingSlot(course) as grader:
        boxes = [
            grader.sandbox_for(course.get(A1)),
            grader.sandbox_for(course.get("a2_rnncell_ohlol")),
            grader._verifying_sandbox(),
        ]
        for box in boxes:
            box._claim()
        uids = [box.uid for box in boxes]
    assert len(set(uids)) == 3 and all(uid >= SANDBOX_UID_BASE for uid in uids), uids


# -- one submission's box, seen from inside ------------------------------------------------------

PROBES = '''
def call(student, name, args=()):
    return getattr(student, name)(*args)
'''

INSIDE = b'''
import ctypes, os, subprocess, tempfile, time
def leave():
    for folder in (tempfile.gettempdir(), "/dev/shm"):
        open(os.path.join(folder, "left-behind"), "w").write("x")
    return 1
def look():
    return {"tmp": sorted(os.listdir(tempfile.gettempdir())), "shm": sorted(os.listdir("/dev/shm")),
            "tmp_mb": os.statvfs(os.getcwd()).f_blocks * os.statvfs(os.getcwd()).f_frsize // 2**20,
            "procs": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()), "pid": os.getpid()}
def leave_cgroup():
    moved = []
    for top in ("/sys/fs/cgroup", "/run"):
        for root, _, files in os.walk(top):
            if "cgroup.procs" in files:
                try:
                    open(os.path.join(root, "cgroup.procs"), "w").write("0")
                    moved.append(root)
                except OSError:
                    pass
    return moved
def user_namespace():
    libc = ctypes.CDLL(None, use_errno=True)
    direct = libc.unshare(0x10000000)
    tool = subprocess.run(["unshare", "-Ur", "true"], capture_output=True)
    return [direct, tool.returncode]
def keyring():
    libc = ctypes.CDLL(None, use_errno=True)
    calls = {"x86_64": (248, 250), "aarch64": (217, 219)}[os.uname().machine]
    added = libc.syscall(calls[0], b"user", b"hidden-pairs", b"data", 4, ctypes.c_int(-4))  # the uid's keyring
    errors = [ctypes.get_errno()]
    found = libc.syscall(calls[1], 0, ctypes.c_int(-4), 0)  # keyctl(KEYCTL_GET_KEYRING_ID, user keyring)
    return [added, found, errors + [ctypes.get_errno()]]
def reuse_the_loader():
    try:
        type(__loader__)(b"VALUE = 1", "notes.py")
        return "a loader of other text"
    except TypeError as exc:
        return "refused: " + str(exc)
def write_and_import():
    import importlib
    with open("written_later.py", "w") as handle:
        handle.write("VALUE = 1")
    try:
        importlib.import_module("written_later")
        return "imported"
    except ImportError as exc:
        return str(exc)
def shared_file_locks():
    import fcntl
    import numpy
    first = open(numpy.__file__)
    fcntl.flock(first, fcntl.LOCK_EX)  # another sandbox's process would see it: it reads the same file
    pid = os.fork()
    if pid == 0:
        try:
            fcntl.flock(open(numpy.__file__), fcntl.LOCK_EX | fcntl.LOCK_NB)
            os._exit(0)
        except OSError:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    libc = ctypes.CDLL(None, use_errno=True)
    watch = libc.inotify_init1(0)
    return [os.waitstatus_to_exitcode(status), watch, ctypes.get_errno()]
def page_cache():
    import mmap
    import numpy
    libc = ctypes.CDLL(None, use_errno=True)
    said = {}
    with open(numpy.__file__, "rb") as handle:  # every sandbox reads it: one file, one page cache
        for name, call in (
            ("fadvise", lambda: os.posix_fadvise(handle.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)),
            ("nowait", lambda: os.preadv(handle.fileno(), [bytearray(1)], 0, os.RWF_NOWAIT)),
            ("plain", lambda: os.preadv(handle.fileno(), [bytearray(1)], 0)),
        ):
            try:
                said[name] = call()
            except OSError as exc:
                said[name] = -exc.errno
        mapped = mmap.mmap(handle.fileno(), mmap.PAGESIZE, access=mmap.ACCESS_COPY)
        holder = ctypes.c_char.from_buffer(mapped)
        address, pages = ctypes.c_void_p(ctypes.addressof(holder)), (ctypes.c_ubyte * 1)()
        for name, call in (
            ("mincore", lambda: libc.mincore(address, mmap.PAGESIZE, pages)),
            ("pageout", lambda: libc.madvise(address, mmap.PAGESIZE, 21)),  # MADV_PAGEOUT
            ("dontneed", lambda: libc.madvise(address, mmap.PAGESIZE, 4)),  # MADV_DONTNEED: the allocators'
        ):
            said[name] = call() or 0
            said[name] = -ctypes.get_errno() if said[name] == -1 else said[name]
        del holder
    return said
def host_counters():
    paths = ("/proc/sys/fs/dentry-state", "/proc/sys/fs/inode-nr", "/proc/pressure/cpu", "/proc/meminfo")
    return {path: os.path.exists(path) for path in paths}
def linger():
    import socket
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    client = socket.create_connection(server.getsockname())
    accepted, _ = server.accept()
    client.close()  # the side that closes first keeps the connection in TIME_WAIT after it exits
    accepted.close()
    return len(open("/proc/net/tcp").read().splitlines()) - 1
def sockets():
    return len(open("/proc/net/tcp").read().splitlines()) - 1
def cgroup_lines():
    return open("/proc/self/cgroup").read().splitlines()
def answer_mb(megabytes):
    import numpy
    return numpy.zeros(int(megabytes * 2**20 / 8))
def fork_bomb():
    count = 0
    try:
        while True:
            if os.fork() == 0:
                time.sleep(60)
                os._exit(0)
            count += 1
    except OSError:
        pass
    raise RuntimeError(f"forked {count}")
def memory_pair():
    ready_r, ready_w = os.pipe()
    release_r, release_w = os.pipe()
    children = []
    for _ in range(3):
        pid = os.fork()
        if pid == 0:
            os.close(release_w)
            block = bytearray(100 * 2**20)  # within the 200 MB a process may add, but not 3 together
            os.write(ready_w, b"x")
            os.close(ready_w)
            os.read(release_r, 1)  # held until every child has its block or was killed
            os._exit(0)
        children.append(pid)
    os.close(ready_w)
    while os.read(ready_r, 16):
        pass
    os.close(release_w)
    statuses = [os.waitpid(pid, 0)[1] for pid in children]
    raise RuntimeError(f"the children ended with {statuses}")
'''

ISOLATIONS = [pytest.param(UNISOLATED, id="plain")]
ISOLATIONS.append(
    pytest.param(
        BUBBLEWRAP,
        id="bubblewrap",
        marks=pytest.mark.skipif(
            not bubblewrap_works(), reason=f"bubblewrap cannot create a sandbox on this machine: {bubblewrap_problem()}"
        ),
    )
)


@pytest.fixture(scope="module", params=ISOLATIONS)
def sandbox(request):
    box = Sandbox(request.param, preload=["numpy"])
    yield box
    box.close()


def inside(sandbox, **limits) -> SubmissionProcess:
    spec = LoadSpec("mod", "mod.py", {"mod.py": INSIDE}, PROBES, native_code=True)  # ctypes: native code
    return sandbox.worker(spec, Limits(**{"probe_timeout_s": 10, **limits}))


def test_each_submission_has_its_own_tmp_shm_and_processes(sandbox):
    if not sandbox.zygote().box.get("namespaces"):
        pytest.skip(f"no namespaces per submission here: {sandbox.zygote().box.get('problem')}")
    first = inside(sandbox, tmp_mb=32)
    first.call("call", {"name": "leave"})
    first.close()
    second = inside(sandbox, tmp_mb=32)
    seen = second.call("call", {"name": "look"})
    second.close()
    assert "left-behind" not in seen["tmp"] + seen["shm"]
    assert seen["tmp_mb"] == 32
    assert seen["pid"] == 1 and seen["procs"] == [1]  # the first process of its own pid namespace


def test_each_submission_has_its_own_network(sandbox):
    """Closed connections outlive their processes (TIME_WAIT, listed in /proc/net/tcp for a minute):
    in one network namespace per slot, a hostile round carried a4's hidden word pairs in the addresses
    of such connections to the next student graded. Each child now has a namespace of its own."""
    if not sandbox.zygote().box.get("namespaces"):
        pytest.skip(f"no namespaces per submission here: {sandbox.zygote().box.get('problem')}")
    first = inside(sandbox)
    try:
        first.call("call", {"name": "linger"})
    except RunFailed:
        pass  # loopback is down in a namespace of its own: nothing to leave behind at all
    first.close()
    second = inside(sandbox)
    assert second.call("call", {"name": "sockets"}) == 0
    second.close()


@needs_cgroups
def test_each_submission_shares_the_cpu_as_a_cgroup_of_its_own(sandbox):
    """An isolation round: with two slots, a student who started 28 busy processes, each in a session of
    its own, took 15 times a classmate's share of the CPU. Where the host offers the cpu controller, each
    submission's processes are one cgroup of it (default weight), as they are one of memory and pids."""
    hierarchy, _ = cgroups.find()
    if hierarchy is None or not hierarchy.cpu:
        pytest.skip("this host offers no cpu controller to the grader")
    student = inside(sandbox)
    lines = student.call("call", {"name": "cgroup_lines"})
    student.close()
    paths = {controller: line.split(":", 2)[2] for line in lines for controller in line.split(":", 2)[1].split(",")}
    if hierarchy.version == 1:
        assert paths["cpu"] != "/" and paths["cpu"].rsplit("/", 1)[-1] == paths["pids"].rsplit("/", 1)[-1], paths
    else:
        assert paths[""] != "/", paths


def test_what_a_submission_sends_back_is_bounded_in_all(sandbox):
    """An isolation round returned 59 MB from every a1 function, under the 64 MB a reply could be: the
    trusted grader held 3.5 GB while it judged them. Replies are bounded one by one (result_mb) and all
    together (received_mb), with a sentence, and the rest of the submission is not run."""
    student = inside(sandbox, result_mb=2, received_mb=3)
    with pytest.raises(RunFailed, match="returned an answer of 3 MB, more than the 2 MB one answer may be"):
        student.call("call", {"name": "answer_mb", "args": [3]})
    assert len(student.call("call", {"name": "answer_mb", "args": [1.5]})) == 196608
    with pytest.raises(RunFailed) as caught:
        student.call("call", {"name": "answer_mb", "args": [1.8]})
    assert caught.value.failure.kind.value == "budget"
    assert "came to more than 3 MB in all" in caught.value.failure.message
    with pytest.raises(RunFailed):  # and nothing more is asked of it
        student.call("call", {"name": "answer_mb", "args": [0.001]})
    student.close()


@needs_cgroups
def test_student_code_cannot_leave_its_cgroup(sandbox):
    if not sandbox.zygote().box.get("namespaces"):
        pytest.skip(f"no namespaces per submission here: {sandbox.zygote().box.get('problem')}")
    student = inside(sandbox)
    assert student.call("call", {"name": "leave_cgroup"}) == []
    student.close()


def test_student_code_cannot_create_user_namespaces(sandbox):
    student = inside(sandbox)
    direct, tool = student.call("call", {"name": "user_namespace"})
    student.close()
    assert direct == -1 and tool != 0


def test_student_code_cannot_reach_the_kernels_keyrings(sandbox):
    """A uid's keyrings outlive its processes and are not namespaced: a hostile round stored a4's hidden
    word pairs in one under a slot's uid, and the next student graded under it printed them onto a page
    sent back. add_key, request_key and keyctl are refused (EPERM), as Docker's default profile does."""
    import errno

    student = inside(sandbox)
    added, found, errors = student.call("call", {"name": "keyring"})
    student.close()
    assert added == -1 and found == -1 and errors == [errno.EPERM, errno.EPERM]


def test_a_module_written_while_grading_is_not_imported(sandbox):
    """A hostile round's module wrote a helper beside itself (its folder comes first on sys.path) and
    imported it: code the scan never read, a complex-step backward, 100 where the work earns 60."""
    student = inside(sandbox)
    said = student.call("call", {"name": "write_and_import"})
    student.close()
    assert "is not a file you handed in" in said, said


def test_the_loader_of_a_handed_in_module_runs_no_other_text(sandbox):
    """A hostile round built ``type(__loader__)(new_bytes, path)`` from the handed-in module's loader and
    ran a data file's text through it: each loader is bound to its module's scanned text."""
    student = inside(sandbox)
    said = student.call("call", {"name": "reuse_the_loader"})
    student.close()
    assert said.startswith("refused: "), said


def test_files_every_sandbox_reads_carry_no_locks_or_watches(sandbox):
    """An isolation round moved a4's hidden word pairs to a classmate graded at the same time through
    flock() on numpy's files, which every sandbox reads. Locks now succeed without locking (a second
    process takes the same exclusive lock) and watches are refused."""
    import errno

    student = inside(sandbox)
    second_lock, watch, error = student.call("call", {"name": "shared_file_locks"})
    student.close()
    assert second_lock == 0 and watch == -1 and error == errno.EPERM


def test_the_page_cache_of_files_every_sandbox_reads_is_neither_read_nor_emptied(sandbox):
    """The page cache is one for the host and outlives every process: an isolation round wrote a3's hidden
    training data as which pages of a file under /usr were cached (a read sets one, posix_fadvise clears
    it) and read them back in a classmate's process, graded after it and in another batch, with
    os.preadv(RWF_NOWAIT). What reads the cache without touching it or empties it now fails; plain reads
    and the allocators' madvise still work."""
    import errno

    student = inside(sandbox)
    said = student.call("call", {"name": "page_cache"})
    student.close()
    assert said["plain"] == 1 and said["dontneed"] == 0, said
    assert said["fadvise"] == -errno.ENOSYS and said["mincore"] == -errno.ENOSYS, said
    assert said["nowait"] == -errno.EPERM and said["pageout"] == -errno.EPERM, said


def test_counters_of_the_host_that_one_submission_moves_are_not_in_the_box(sandbox):
    """An isolation round carried a2's hidden task to a student graded later, in another batch, through the
    host's count of cached failed lookups (/proc/sys/fs/dentry-state, moved by stat() of names that do
    not exist). /proc/sys/fs and /proc/pressure are empty in the box; the load counters stay."""
    if not sandbox.zygote().box.get("namespaces"):
        pytest.skip(f"no namespaces per submission here: {sandbox.zygote().box.get('problem')}")
    student = inside(sandbox)
    seen = student.call("call", {"name": "host_counters"})
    student.close()
    assert seen == {
        "/proc/sys/fs/dentry-state": False,
        "/proc/sys/fs/inode-nr": False,
        "/proc/pressure/cpu": False,
        "/proc/meminfo": True,
    }, seen


@pytest.mark.skipif(not bubblewrap_works(), reason="bubblewrap does not work here")
def test_on_a_gpu_the_sandbox_shows_the_devices_but_not_the_hosts_cgroups():
    """``--device cuda`` binds /sys for CUDA: an isolation round read there, live, the memory use of every
    other submission on the host (/sys/fs/cgroup). The devices stay, the cgroup tree is an empty tmpfs."""
    command = "ls /sys/fs/cgroup | wc -l; ls /sys/bus | wc -l"
    shown = subprocess.run(
        [*bwrap_prefix(scratch_mb=8, device="cuda"), "/bin/sh", "-c", command],
        capture_output=True,
        text=True,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},  # where the grader found bwrap
    )
    cgroups_seen, buses = shown.stdout.split()
    assert shown.returncode == 0 and cgroups_seen == "0" and int(buses) > 0, shown.stderr


CHOOSE_COUNTING_LAUNCHES = """
import json, subprocess, sys
import grader.sandbox.isolation as isolation
launches, run = [], subprocess.run
def counted(command, *args, **kwargs):
    if "--help" not in command:  # bwrap_option asks bubblewrap what it knows: not a launch
        launches.append(command[0])
    return run(command, *args, **kwargs)
subprocess.run = counted
if sys.argv[1] == "broken":
    isolation.bwrap_prefix = lambda **_: ["bwrap", "--no-such-option"]
chosen = isolation.choose("auto")
print(json.dumps([chosen.kind, chosen.description, launches.count("bwrap")]))
"""


@pytest.mark.skipif(not bubblewrap_works(), reason=f"bubblewrap cannot run here: {bubblewrap_problem()}")
def test_choosing_the_isolation_starts_one_trial_and_a_failed_one_says_why():
    """Every `grade` command chooses its isolation: one trial under bubblewrap both shows that it
    works and finds what each submission's box holds (there were two launches, about 25 ms each). A
    bubblewrap that cannot start the interpreter leaves grading unsandboxed, saying why."""

    def chosen(case: str) -> tuple[str, str, int]:
        said = subprocess.run(
            [sys.executable, "-c", CHOOSE_COUNTING_LAUNCHES, case], capture_output=True, text=True, cwd=REPO
        )
        assert said.returncode == 0, said.stderr
        kind, description, launches = json.loads(said.stdout.splitlines()[-1])
        return kind, description, launches

    kind, description, launches = chosen("working")
    assert (kind, launches) == ("bubblewrap", 1)
    assert description == choose("auto").description and "the trial worker failed" not in description
    kind, description, launches = chosen("broken")
    assert kind == "none" and launches == 1
    assert "a trial launch failed: bwrap: Unknown option --no-such-option" in description, description


def test_bubblewrap_disables_user_namespaces_where_it_can(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    args = bwrap_prefix(scratch_mb=8, device="cpu")
    assert ("--disable-userns" in args) == bwrap_option("--disable-userns")
    assert "--cap-add" in args and "--unshare-user" in args


@needs_cgroups
def test_the_process_limit_is_named(sandbox):
    student = inside(sandbox, processes=12)
    with pytest.raises(RunFailed) as caught:
        student.call("call", {"name": "fork_bomb"})
    student.close()
    message = caught.value.failure.message
    assert "RuntimeError: forked" in message
    assert "the limit of 12 processes and threads for all your processes together was reached" in message


@needs_cgroups
def test_the_memory_limit_is_named_when_it_kills(sandbox):
    student = inside(sandbox, memory_mb=200)
    with pytest.raises(RunFailed) as caught:  # the child killed, or the process itself
        student.call("call", {"name": "memory_pair"})
    student.close()
    assert "the memory limit of 200 MB for all your processes together" in caught.value.failure.message


# -- the fallback: no namespaces --------------------------------------------------------------------

LINGERS = b'''
import ctypes, os, threading, time
def linger(path):
    if os.fork() == 0:
        def beat():
            while True:
                open(path, "w").write(str(time.time()))
                time.sleep(0.02)
        threading.Thread(target=beat).start()
        time.sleep(0.2)
        ctypes.CDLL(None).syscall(%d, 0)
    while not os.path.exists(path):  # the lingering thread has started, however slow the machine
        time.sleep(0.02)
    return 1
''' % SYS_EXIT.get(os.uname().machine, 60)


class _Source:
    def __init__(self, zygote: ZygoteHandle) -> None:
        self._zygote = zygote

    def zygote(self) -> ZygoteHandle:
        self._zygote.wait_ready()
        return self._zygote


@pytest.mark.parametrize("budget", ["process tree", "cgroup"])
def test_without_namespaces_a_zombie_looking_process_is_killed_too(tmp_path, budget):
    group = None
    if budget == "cgroup":
        hierarchy, why_not = cgroups.find()
        if hierarchy is None:
            pytest.skip(f"no cgroups the grader can create here: {why_not}")
        group = cgroups.SandboxCgroup(hierarchy, f"rnn-autograder-test-{os.getpid()}")
    zygote = ZygoteHandle(
        UNISOLATED,
        WorkerSetup(preload=("numpy",)),
        box={"namespaces": False, "cgroups": group.for_zygote(False) if group else None},
    )
    heartbeat = tmp_path / "beat"
    os.chmod(tmp_path, 0o777)
    try:
        student = SubmissionProcess(
            _Source(zygote),
            LoadSpec("mod", "mod.py", {"mod.py": LINGERS}, PROBES, native_code=True),
            Limits(probe_timeout_s=30),
        )
        assert student.call("call", {"name": "linger", "args": [str(heartbeat)]}) == 1
        student.close()
        time.sleep(0.3)
        last = heartbeat.stat().st_mtime
        time.sleep(0.5)
        assert heartbeat.stat().st_mtime == last, "the lingering thread is still running"
    finally:
        zygote.close()
        if group is not None:
            group.remove()


# -- the worker's import path ---------------------------------------------------------------------


def test_a_worker_that_cannot_import_a_preload_says_why_in_one_line():
    box = Sandbox(BUBBLEWRAP if bubblewrap_works() else UNISOLATED, preload=["numpy", "no_such_module_246810"])
    try:
        with pytest.raises(SandboxError) as caught:
            box.zygote()
    finally:
        box.close()
    assert str(caught.value) == (
        "the grading worker could not start: no_such_module_246810 cannot be imported "
        "inside the sandbox: No module named 'no_such_module_246810'"
    )


def bare_venv(folder: Path) -> Path:
    """An interpreter with no packages of its own: everything comes from PYTHONPATH or a .pth file."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True, timeout=120)
    return folder / "bin" / "python"


def site_packages() -> str:
    import numpy

    return str(Path(numpy.__file__).resolve().parent.parent)


@pytest.mark.slow
@pytest.mark.parametrize("how", ["PYTHONPATH", ".pth file"])
def test_a_grader_whose_packages_come_from_its_path_grades_in_the_sandbox(tmp_path, cache_dir, how):
    python = bare_venv(tmp_path / "venv")
    environment = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "GRADER_COURSE")}
    environment["GRADER_CACHE_DIR"] = str(cache_dir)
    if how == "PYTHONPATH":
        environment["PYTHONPATH"] = site_packages()
        assignment, folder = "a2_rnncell_ohlol", SOLUTIONS  # torch, on PYTHONPATH only
    else:
        venv_site = next((tmp_path / "venv" / "lib").glob("python3*/site-packages"))
        (venv_site / "course-packages.pth").write_text(site_packages() + "\n")
        assignment, folder = A1, SOLUTIONS  # numpy, through a .pth file only
    out = tmp_path / "out"
    process = subprocess.run(
        [str(python), "-m", "grader", "submit", str(folder), "--assignment", assignment, "--out", str(out), "--json"],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert process.returncode == 0, process.stderr[-3000:]
    result = json.loads(process.stdout)
    assert score_of(result, assignment) == 100, messages_of(result, assignment)


def messages_of(result: dict, assignment: str) -> str:
    return " | ".join(c["message"] for c in checks_of(result, assignment) if c["status"] != "passed")


# -- the notice ------------------------------------------------------------------------------------


def test_the_isolation_notice_says_what_each_submission_gets():
    notice = choose("none").description
    assert notice.startswith("NOT ISOLATED")
    if os.geteuid() != 0:
        assert "namespaces per submission need root or bubblewrap" in notice
    assert ("budgeted for all of a submission's processes together" in notice) == (cgroups_problem() is None)
    assert "user namespaces" in notice
    if bubblewrap_works():  # one reading, no contradiction (a new instructor: "private /tmp" twice, "refused (...)")
        notice = choose("bubblewrap").description
        assert notice.count("/tmp") == 1 and "only the submission visible" in notice, notice
        if os.geteuid() == 0:
            assert "user namespaces cannot be created by student code" in notice, notice


def test_what_a_student_may_import_keeps_an_interpreter_that_lives_under_the_scratch_space(monkeypatch, tmp_path):
    """CI clones the repository (and its virtual environment) under /tmp, the sandbox's scratch space: a
    first version of HandedIn refused every library there. Refused stays what the student can write: the
    submission's folder and the scratch space itself (or a folder holding it)."""
    from grader.inside.child import HandedIn

    scratch = tmp_path / "scratch"
    venv, workdir = scratch / "checkout" / ".venv" / "site-packages", scratch / "submission-1"
    monkeypatch.setattr(sys, "path", [str(workdir), str(venv), str(scratch), str(tmp_path), "relative"])
    finder = HandedIn({}, str(workdir), str(scratch))
    assert finder.installed == (os.path.realpath(venv) + os.sep,)
