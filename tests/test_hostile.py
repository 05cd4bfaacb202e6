"""Hostile submissions: untrusted code cannot fool, harm or outlive the grader.

Each case is the a1 reference with something hostile added, graded as one class with `grade report`
(in the bubblewrap sandbox where it works). Every case asserts its recorded score and message, and
the module checks that nothing leaked: no process left running, no file written outside, no network
connection, no secret seen, no markup injected into the feedback pages. The cases that must hold even
without bubblewrap run again with `--sandbox none`.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import SOLUTIONS, checks_of, write_submission

from grader.sandbox.isolation import box_support, bubblewrap_problem, bubblewrap_works
from grader.wire.codec import encode

pytestmark = pytest.mark.slow  # grades the hostile corpus with `grade report`, twice

A1 = "a1_srn_numpy"
REFERENCE = (SOLUTIONS / A1 / "srn.py").read_text()
TAG = "hostile-987654"  # argv[0] of every process the corpus starts, to find leftovers
OUTSIDE = Path("/tmp") / f"{TAG}-outside"  # a hostile write that must never land here
SECRET = "s3cr3t-token-value"
LINEAR_OUTPUT_POINTS = 15  # worked example (10) and linear_output (5) call it
NUMPY_ONLY_POINTS = 5  # a1's numpy-only check: fails where the integrity scan flags the source


def at_import(code: str) -> dict[str, str]:
    return {"srn.py": code + "\n" + REFERENCE}


def in_linear_output(code: str, then: str = "") -> dict[str, str]:
    """The reference whose linear_output first runs ``code`` (indented into the function)."""
    body = "".join(f"    {line}\n" for line in code.strip("\n").splitlines())
    body += "".join(f"    {line}\n" for line in then.strip("\n").splitlines())
    return {
        "srn.py": REFERENCE.replace(
            "def linear_output(hs, W_hy, b_y):\n", f"def linear_output(hs, W_hy, b_y):\n{body}", 1
        )
    }


def returning(expression: str, setup: str = "") -> dict[str, str]:
    """linear_output returns ``expression`` (a value the test reads back from the feedback)."""
    return in_linear_output(setup + f"\nraise ValueError('LEAK:' + repr({expression}))")


SPAWN_DAEMON = f"""
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv("/bin/sleep", ["{TAG}", "3000"])
    os._exit(0)
time.sleep(0.2)
"""

# What a probe's reply looks like on the wire (grader.wire.codec), claiming linear_output's answer; and
# one whose 200 arrays all refer to the same megabyte (the codec refuses an array referred to twice).
FORGED_REPLY = encode({"ok": True, "data": {"ys": np.zeros((4, 2, 3))}, "elapsed": 0.001, "forbidden_used": []})
_HEADER = json.dumps(
    {
        "msg": {"ok": True, "data": {"ys": [{"__nd__": 0}] * 200}},
        "arrays": [{"dtype": "<f8", "shape": [2**17], "offset": 0}],
    }
).encode()
AMPLIFIED_REPLY = f"{struct.pack('<4sIQ', b'RNG1', len(_HEADER), 2**20) + _HEADER!r} + bytes(2**20)"  # code
# Student code writing ``frame`` (an expression) to its process's reply pipe (the write-only pipe among its descriptors).
WRITTEN_TO_THE_REPLY_PIPE = """
import os
for name in os.listdir("/proc/self/fd"):
    fd = int(name)
    try:
        flags = int(open(f"/proc/self/fdinfo/{{fd}}").read().split("flags:")[1].split()[0], 8)
        if fd > 2 and os.readlink(f"/proc/self/fd/{{fd}}").startswith("pipe:") and flags & 3 == 1:
            os.write(fd, {frame})
    except (OSError, IndexError, ValueError):
        pass
"""

CASES: dict[str, dict[str, str | bytes]] = {
    "loop_at_import": at_import("while True:\n    pass"),
    "loop_in_function": in_linear_output("while True:\n    pass"),
    "sleep_forever": in_linear_output("import time\ntime.sleep(10**6)"),
    "ignores_sigterm": in_linear_output(
        "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nwhile True:\n    pass"
    ),
    "fork_bomb": in_linear_output(f"""
import os, time
children = 0
try:
    for _ in range(500):
        if os.fork() == 0:
            os.execv("/bin/sleep", ["{TAG}", "3000"])
        children += 1
except OSError:
    pass
raise RuntimeError(f"forked {{children}}")
"""),
    "subprocess_bomb": in_linear_output(f"""
import subprocess
started = []
try:
    for _ in range(200):
        started.append(subprocess.Popen(["{TAG}", "3000"], executable="/bin/sleep"))
except OSError:
    pass
raise RuntimeError(f"started {{len(started)}}")
"""),
    "thread_bomb": in_linear_output("""
import threading, time
threads = []
try:
    for _ in range(10000):
        t = threading.Thread(target=time.sleep, args=(1000,), daemon=True)
        t.start()
        threads.append(t)
except RuntimeError:
    pass
raise RuntimeError(f"threads {len(threads)}")
"""),
    "setsid_daemon": in_linear_output(SPAWN_DAEMON),
    "threads_kept_answer_right": in_linear_output(
        """
import threading, time
kept = globals().setdefault("_kept_threads", [])
try:
    for _ in range(10000):
        thread = threading.Thread(target=time.sleep, args=(1000,), daemon=True)
        thread.start()
        kept.append(thread)
except RuntimeError:
    pass
""",
        then="return hs @ W_hy.T + b_y",
    ),
    "memory_bomb_retries": in_linear_output("""
hoard = []
while True:
    try:
        hoard.append(bytearray(64 * 2**20))
    except MemoryError:
        hoard = hoard[: len(hoard) // 2]
"""),
    "huge_file_in_tmp": in_linear_output("""
import os, tempfile
with open(os.path.join(tempfile.gettempdir(), "huge.bin"), "wb") as out:
    while True:
        out.write(b"x" * 2**20)
"""),
    "many_files": in_linear_output(
        """
import os, tempfile
for folder in (tempfile.gettempdir(), "/dev/shm"):
    try:
        for i in range(20000):
            open(os.path.join(folder, f"f{i}"), "w").close()
    except OSError:
        pass
""",
        then="return hs @ W_hy.T + b_y",
    ),
    "fake_results_printed": in_linear_output(
        """print('{"score": 100, "status": "passed", "tests": []}')\nprint("PASSED 100/100")""",
        then="return hs @ W_hy.T + b_y + 1.0",
    ),
    "fake_results_written": in_linear_output(
        f"""
import os
fake = '{{"schema": "rnn-autograder/result/1", "score": 100, "assignments": []}}'
for path in ["results.json", "feedback.json", "../feedback.json", "../../feedback.json",
             os.path.expanduser("~/feedback.json"), "/autograder/results/results.json",
             "{OUTSIDE}", "/tmp/results.json"]:
    try:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        open(path, "w").write(fake)
    except OSError:
        pass
""",
        then="return None",
    ),
    "sys_exit_zero": in_linear_output("import sys\nsys.exit(0)"),
    "os_exit_zero": in_linear_output("import os\nos._exit(0)"),
    "keyboard_interrupt": in_linear_output("raise KeyboardInterrupt"),
    "patches_numpy_and_pytest": {
        "srn.py": """
import numpy as np
np.allclose = lambda *a, **k: True
np.isclose = lambda a, b, *x, **k: np.ones(np.shape(a), bool)
np.testing.assert_allclose = lambda *a, **k: None
try:
    import _pytest.outcomes, pytest
    pytest.fail = _pytest.outcomes.fail = lambda *a, **k: None
except ImportError:
    pass
"""
        + REFERENCE.replace("+ h_prev @ W_hh.T + b_hh", "+ h_prev @ W_hh.T")
    },
    "conftest_and_shadowing_numpy": {
        "srn.py": REFERENCE.replace("+ h_prev @ W_hh.T + b_hh", "+ h_prev @ W_hh.T"),
        "conftest.py": "import pytest\ndef pytest_runtest_makereport(item, call):\n    call.excinfo = None\n",
        "numpy.py": "raise SystemExit('shadowed')\n",
        "pytest.ini": "[pytest]\naddopts = -p no:python\n",
    },
    "rigged_ndarray_subclass": in_linear_output("""
import numpy as np
class Always(np.ndarray):
    def __eq__(self, other):
        return True
    def __array_finalize__(self, obj):
        pass
return np.zeros((hs.shape[0], hs.shape[1], W_hy.shape[0])).view(Always)
"""),
    "pickle_payload": in_linear_output(f"""
class Payload:
    def __reduce__(self):
        return (open, ("{OUTSIDE}", "w"))
return Payload()
"""),
    "nan_result": in_linear_output(
        "import numpy as np\nreturn np.full((hs.shape[0], hs.shape[1], W_hy.shape[0]), np.nan)"
    ),
    "wrong_dtype": in_linear_output("return (hs @ W_hy.T + b_y).astype('int64')"),
    "billion_elements": in_linear_output("import numpy as np\nreturn np.broadcast_to(0.0, (10**9,))"),
    "searches_for_solutions": returning(
        "found",
        setup="""
import os
found = []
for top in ("/", "/work", os.path.expanduser("~")):
    for root, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if d not in ("proc", "sys", "usr", "lib", "dev")]
        found += [os.path.join(root, f) for f in files if f in ("test_hidden.py", "expected.bin") or root.endswith("solutions/a1_srn_numpy")]
        if len(found) > 5:
            break
""",
    ),
    "reads_environment": returning("dict(os.environ)", setup="import os"),
    "opens_network": returning(
        "outcome",
        setup="""
import os, socket
try:
    with socket.create_connection(("127.0.0.1", int(os.environ.get("HOSTILE_PORT", "0") or PORT)), timeout=2) as s:
        s.sendall(b"stolen")
    outcome = "connected"
except OSError as exc:
    outcome = f"refused: {exc}"
""",
    ),
    "writes_site_packages": returning(
        "outcome",
        setup="""
import numpy, os
target = os.path.join(os.path.dirname(numpy.__file__), "hostile_987654.py")
try:
    open(target, "w").write("pwned = True")
    outcome = "written " + target
except OSError as exc:
    outcome = f"refused: {exc}"
""",
    ),
    "kills_parent": in_linear_output(
        "import os, signal\ntry:\n    os.kill(os.getppid(), signal.SIGKILL)\nexcept OSError:\n    pass"
    ),
    "symlink_to_passwd": {"srn.py": REFERENCE},  # plus a symlink helper, added in the fixture
    "script_in_output": in_linear_output(
        "print('<script>alert(1)</script>')", then="raise ValueError('<script>alert(2)</script>')"
    ),
    "huge_notebook": {"srn.ipynb": b'{"cells": [], "x": "' + b"x" * (100 * 2**20) + b'"}'},
    # Honest work with a backward that does not carry the gradient back in time, plus code that finds the
    # probes module and makes the gradient check agree with itself (+10 where the probes were reachable).
    "replaces_probes": {
        "srn.py": REFERENCE.replace("dh = dhs[t] + dh_next", "dh = dhs[t]")
        + """
import numpy as _np
_probes = __import__("assignment_" + "probes")

def _agreeing(student, T, B, D, H, activation, seed, eps=1e-6):
    shapes = {"x": (T, B, D), "h0": (B, H), "W_ih": (H, D), "W_hh": (H, H), "b_ih": (H,), "b_hh": (H,)}
    grads = {key: _np.ones(shape) for key, shape in shapes.items()}
    return {"analytic": grads, "numeric": grads}

_probes.gradient_check = _agreeing
"""
    },
    # No work, a forward that answers by call count with the dhs rnn_backward was shown, and a backward
    # of ones: each central difference came out 1, and the gradient check gave 10 points.
    "stateful_forward": {
        "srn.py": """
import numpy as np
_state = {"dhs": None, "calls": 0}

def rnn_step(x_t, h_prev, W_ih, W_hh, b_ih, b_hh, activation="tanh"):
    raise NotImplementedError

def rnn_forward(x, h0, W_ih, W_hh, b_ih, b_hh, activation="tanh"):
    T, B, H = x.shape[0], x.shape[1], W_hh.shape[0]
    _state["D"], dhs = x.shape[2], _state["dhs"]
    if dhs is None or dhs.shape != (T, B, H):
        return np.zeros((T, B, H)), None
    _state["calls"] += 1
    return dhs * ((1.0 if _state["calls"] % 2 else 1.0 - 2e-6) / np.sum(dhs * dhs)), None

def linear_output(hs, W_hy, b_y):
    raise NotImplementedError

def rnn_backward(dhs, cache):
    _state["dhs"], _state["calls"] = np.array(dhs), 0
    (T, B, H), D = dhs.shape, _state["D"]
    shapes = {"x": (T, B, D), "h0": (B, H), "W_ih": (H, D), "W_hh": (H, H), "b_ih": (H,), "b_hh": (H,)}
    return {key: np.ones(shape) for key, shape in shapes.items()}
"""
    },
    # One array sent, named 200 times in the reply's header: the trusted side made 200 copies of it.
    "forged_reply_on_the_pipe": in_linear_output(
        WRITTEN_TO_THE_REPLY_PIPE.format(frame=repr(FORGED_REPLY)), then="return None"
    ),
    # a library the grader's code sends replies with, replaced through an alias the scan cannot follow
    # (a hostile round emptied a3's record of forbidden APIs so before each reply was tagged: 100 for 10)
    "json_replaced_through_an_alias": at_import("""
import json
_libraries = [json]
_dumps = json.dumps
_libraries[0].dumps = lambda *args, **kwargs: _dumps(*args, **kwargs)
"""),
    "amplified_reply_frame": in_linear_output(
        WRITTEN_TO_THE_REPLY_PIPE.format(frame=AMPLIFIED_REPLY), then="return None"
    ),
}


@pytest.fixture(scope="module")
def listener():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    received: list[bytes] = []
    done = threading.Event()

    def accept() -> None:
        server.settimeout(0.5)
        while not done.is_set():
            try:
                connection, _ = server.accept()
                received.append(connection.recv(100))
                connection.close()
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], received
    done.set()
    thread.join(2)
    server.close()


def build_class(root: Path, port: int, names: list[str]) -> Path:
    for name in names:
        files = dict(CASES[name])
        if name == "opens_network":
            files["srn.py"] = files["srn.py"].replace("PORT", str(port))
        write_submission(root / name, files)
    if "symlink_to_passwd" in names:
        (root / "symlink_to_passwd" / "helper.py").symlink_to("/etc/passwd")
    return root


def leftovers() -> list[str]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                    if TAG.encode() in cmdline.read():
                        found.append(entry)
            except OSError:
                continue
    return found


def grade_corpus(tmp_path_factory, run_grade, port, names, *sandbox):
    root = build_class(tmp_path_factory.mktemp("hostile"), port, names)
    out = tmp_path_factory.mktemp("hostile-grades")
    process = run_grade(
        "report",
        str(root),
        "--out",
        str(out),
        "--workers",
        "2",
        *sandbox,
        "--limit",
        "probe_timeout_s=2",
        "--limit",
        "submission_timeout_s=120",  # never reached: honest checks take milliseconds, hanging ones are not rerun
        "--limit",
        "import_timeout_s=3",
        "--limit",
        "memory_mb=400",
        "--limit",
        "processes=24",
        "--limit",
        "tmp_mb=64",
        "--limit",
        "file_size_mb=16",
        env={"SECRET_TOKEN": SECRET, "HOSTILE_PORT": str(port)},
        timeout=900,
    )
    results = {name: json.loads((out / "students" / name / "feedback.json").read_text()) for name in names}
    return results, out, process


@pytest.fixture(scope="module")
def sandboxed(tmp_path_factory, run_grade, listener):
    if not bubblewrap_works():
        pytest.skip(f"bubblewrap cannot create a sandbox on this machine: {bubblewrap_problem()}")
    OUTSIDE.unlink(missing_ok=True)
    return grade_corpus(tmp_path_factory, run_grade, listener[0], list(CASES))


def score(result) -> float:
    return result["assignments"][0]["score"] if result["assignments"] else 0.0


def text(result) -> str:
    parts = [result["message"]]
    for assignment in result["assignments"]:
        parts += [assignment["message"], *assignment["notes"]]
        parts += [f"{c['message']} {c.get('diagnosis') or ''}" for c in checks_of(result, assignment["id"])]
    return " ".join(parts)


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 25


def test_every_case_has_a_recorded_result_and_nothing_outlives_grading(sandboxed):
    results, out, process = sandboxed
    assert set(results) == set(CASES)
    assert leftovers() == [], "hostile processes survived grading"
    assert not OUTSIDE.exists()
    assert "Traceback" not in process.stderr


PARTIAL = 100 - LINEAR_OUTPUT_POINTS  # the hostile code broke linear_output only
# Where the student's process is the first of its own pid namespace, it cannot name its parent
# (os.getppid() is 0), and where it runs under its own uid (root grading under bubblewrap) signalling
# the worker is refused: the reference's answer comes back. Elsewhere it kills the worker, which is
# restarted, and only that student's linear_output checks fail.
KILLS_PARENT = 100 if os.geteuid() == 0 or box_support("bubblewrap").get("namespaces") else PARTIAL
# A flagged source (it reaches around the scan) also earns none of a1's backward points (public 5,
# hidden 25, gradient check 10): code the scan cannot read could compute the gradients another way.
BACKWARD_POINTS = 40
FLAGGED = NUMPY_ONLY_POINTS + BACKWARD_POINTS
# Starting another program (subprocess, os.exec*) is flagged by the integrity scan: a new interpreter
# would run without the course's guards. The flag fails a1's numpy-only and backward checks and lists
# the student.
STARTS_PROGRAMS = 100 - FLAGGED
# The catalogued "b_hh missing" mistake the corpus dresses up: the worked example, linear_output and the
# numpy-only check (20), and credit per gradient where its gradients still match: five of six in the
# identity backward case (5 points), and all but b_hh's in the four cases of the gradient check against
# its own forward (2.5 each: five of six, four of five where no h0 is given).
B_HH_MISSING = 20 + 5 * 5 / 6 + 2.5 * (4 / 5 + 5 / 6 + 4 / 5 + 5 / 6)
# A backward that does not carry the gradient back in time, honest (what "replaces_probes" builds on):
# every backward case (25) and the gradient check against its own forward (10) fail.
BPTT_NOT_CARRIED = 100 - 25 - 10


@pytest.mark.parametrize(
    "name, expected_score, phrase",
    [
        ("loop_at_import", 0, "took more than 3 s"),
        ("loop_in_function", PARTIAL, "did not finish within 2 s"),
        ("sleep_forever", PARTIAL, "did not finish within 2 s"),
        ("ignores_sigterm", PARTIAL, "did not finish within 2 s"),  # its handler is never installed
        ("fork_bomb", PARTIAL - FLAGGED, "RuntimeError: forked"),
        ("subprocess_bomb", PARTIAL - FLAGGED, "RuntimeError: started"),
        ("thread_bomb", PARTIAL, "RuntimeError: threads"),
        ("setsid_daemon", STARTS_PROGRAMS, "uses `os.execv`"),
        # Every thread under the limit held, the answer right: the grader's watchdog gets no thread and
        # does without (it ended the process, and the later checks read "exit code 0").
        ("threads_kept_answer_right", 100, ""),
        ("memory_bomb_retries", PARTIAL, "did not finish within 2 s"),
        ("huge_file_in_tmp", PARTIAL, "File too large"),
        ("many_files", 100, ""),
        ("fake_results_printed", PARTIAL, "off by the same constant 1"),
        ("fake_results_written", PARTIAL, "ys returned by linear_output is None"),
        ("sys_exit_zero", PARTIAL, "sys.exit(0)"),
        ("os_exit_zero", PARTIAL, "never counts as passing"),
        ("keyboard_interrupt", PARTIAL, "KeyboardInterrupt"),
        # numpy's own functions replaced: flagged, and every reply of that process refused (the grader's
        # code sends them with numpy): nothing gained
        ("patches_numpy_and_pytest", 0, "your code replaced numpy."),
        ("conftest_and_shadowing_numpy", B_HH_MISSING, "conftest.py was ignored"),
        ("rigged_ndarray_subclass", PARTIAL, "values differ"),
        ("pickle_payload", PARTIAL, "which the grader cannot use here"),
        ("nan_result", PARTIAL, "contains NaN"),
        ("billion_elements", PARTIAL, "memory"),
        ("kills_parent", KILLS_PARENT, ""),
        ("symlink_to_passwd", 100, "helper.py was ignored"),  # not a regular file: a link leading out
        ("script_in_output", PARTIAL, "alert(2)"),
        ("huge_notebook", 0, "files over 20 MB are not graded"),
        # flagged: the public backward case its honest work would pass (5) is lost with the numpy-only check
        ("replaces_probes", BPTT_NOT_CARRIED - 5 - NUMPY_ONLY_POINTS, "__import__ of a computed name"),
        # no work: "numpy only" credits a forward that computes the network (it gave 5 before)
        ("stateful_forward", 0, "a forward that depends on its arguments only"),
        # untagged (grader.wire.channel.TAG_SIZE): refused before its arrays are read (test_codec.py
        # holds the codec to an array referred to twice)
        ("amplified_reply_frame", PARTIAL, "did not write (its tag is wrong)"),
        ("json_replaced_through_an_alias", 0, "your code replaced json.dumps"),
        # a reply written to the reply pipe by the student's code, with no flagged name (a hostile round
        # rewrote every reply so: a2 80 where the work earns 50): untagged, refused
        ("forged_reply_on_the_pipe", PARTIAL, "did not write (its tag is wrong)"),
    ],
)
def test_score_and_message(sandboxed, name, expected_score, phrase):
    result = sandboxed[0][name]
    assert score(result) == pytest.approx(expected_score, abs=1e-4), text(result)  # scores keep 4 decimals
    assert phrase in text(result)


def test_starting_a_program_is_named_as_such_not_as_a_torch_import(sandboxed):
    message = text(sandboxed[0]["setsid_daemon"])
    assert "reaches around the course's rules" in message and "remove the torch import" not in message, message


def test_shadowing_files_and_configuration_are_reported(sandboxed):
    notes = text(sandboxed[0]["conftest_and_shadowing_numpy"])
    assert "numpy.py was ignored" in notes and "pytest.ini was ignored" in notes


def test_wrong_dtype_fails_the_exact_checks(sandboxed):
    result = sandboxed[0]["wrong_dtype"]
    assert score(result) < 100 and ("dtype int64" in text(result) or "values differ" in text(result))


def leaked(result) -> str:
    marker = "LEAK:"
    for check in checks_of(result, A1):
        if marker in check["message"]:
            return check["message"].split(marker, 1)[1]
    raise AssertionError("the probe did not report back")


def test_solutions_hidden_checks_and_expected_data_are_invisible(sandboxed):
    assert leaked(sandboxed[0]["searches_for_solutions"]).startswith("[]")


def test_environment_holds_no_secrets(sandboxed):
    seen = leaked(sandboxed[0]["reads_environment"])
    assert SECRET not in seen and "GRADER_CACHE_DIR" not in seen and "HOSTILE_PORT" not in seen


def test_no_network(sandboxed, listener):
    assert leaked(sandboxed[0]["opens_network"]).startswith("'refused")
    assert listener[1] == []


def test_interpreter_packages_are_read_only(sandboxed):
    assert "refused: [Errno 30] Read-only file system" in leaked(sandboxed[0]["writes_site_packages"])
    import numpy

    assert not (Path(numpy.__file__).parent / "hostile_987654.py").exists()


def test_feedback_pages_escape_markup(sandboxed):
    _, out, _ = sandboxed
    page = (out / "students" / "script_in_output" / "feedback.html").read_text()
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)" in page and "&lt;script&gt;alert(2)" in page
    assert "<script>alert" not in (out / "index.html").read_text()
    student = (out / "students" / "script_in_output" / "feedback.student.html").read_text()
    assert "<script>alert" not in student and "&lt;script&gt;alert(1)" in student


def test_fake_results_change_nothing(sandboxed):
    _, out, _ = sandboxed
    recorded = json.loads((out / "students" / "fake_results_written" / "feedback.json").read_text())
    assert recorded["score"] == 100 - LINEAR_OUTPUT_POINTS
    written = {p.name for p in (out / "students" / "fake_results_written").iterdir()}
    assert written == {"feedback.json", "feedback.html", "feedback.student.html"}


UNSANDBOXED = {  # must hold even without bubblewrap: limits, cleanup, integrity
    "loop_in_function": PARTIAL,
    "ignores_sigterm": PARTIAL,
    "fork_bomb": PARTIAL - FLAGGED,
    "setsid_daemon": STARTS_PROGRAMS,
    "os_exit_zero": PARTIAL,
    "pickle_payload": PARTIAL,
    "rigged_ndarray_subclass": PARTIAL,
    "fake_results_printed": PARTIAL,
    "kills_parent": None,
}


def test_without_bubblewrap_limits_and_cleanup_still_hold(tmp_path_factory, run_grade, listener):
    results, out, _ = grade_corpus(
        tmp_path_factory, run_grade, listener[0], list(UNSANDBOXED), "--sandbox", "none", "--allow-unsandboxed"
    )
    for name, expected in UNSANDBOXED.items():
        if expected is not None:
            assert score(results[name]) == pytest.approx(expected), (name, text(results[name]))
        assert results[name]["isolation"]["isolated"] is False
    # Killing its own worker only costs the student (how much depends on which process dies first);
    # the worker is restarted and every other student above was graded as expected.
    killer = results["kills_parent"]
    assert PARTIAL <= score(killer) <= 100
    assert score(killer) == 100 or "took the grading worker with it" in text(killer)
    assert leftovers() == [], "hostile processes survived grading"
