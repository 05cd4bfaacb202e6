"""The worker layer: every way student code can fail becomes a clear Failure (raised as RunFailed), and the worker
recovers for the next call. Runs under each isolation this machine supports."""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from grader.errors import FailureKind, RunFailed, SandboxError
from grader.sandbox import Limits, LoadSpec, Sandbox
from grader.sandbox.isolation import (
    BUBBLEWRAP,
    UNISOLATED,
    absent_packages,
    bubblewrap_problem,
    bubblewrap_works,
    python_paths,
)

A1_ABSENT = absent_packages(["torch"], ["numpy"])  # a1's worker: numpy preloaded, torch and its kin absent

PROBES = '''
import numpy as np
from grader.inside.probe_api import ProbeFailure, as_array

def call(student, name, args=()):
    return getattr(student, name)(*args)

def array(student, name):
    return {"value": as_array(getattr(student, name)(), f"{name}()")}
'''

STUDENT = '''
import os, sys, time
import numpy as np
print("imported")

def double(x):
    return 2 * np.asarray(x)
def fails():
    raise ValueError("bad value")
def todo():
    raise NotImplementedError
def leave():
    os._exit(0)
def spin():
    while True:
        pass
def slow():
    time.sleep(1.2)
    return "done"
def step(n):
    return n + sum(range(20000))  # one training step's work, in a call of its own
def working():  # slow, but calls its steps all the time, as training code does
    end, n = time.monotonic() + 2.5, 0
    while time.monotonic() < end:
        n = step(n)
    return "done"
def counting():
    n = 0
    while True:
        n += 1
def total_to(n):  # quick for small inputs; "stuck" (no call, two lines) for huge ones
    total = 0
    for i in range(n):
        total += i
    return total
def waiting():
    while True:
        time.sleep(0.05)
def cpu_seconds(seconds):  # work measured in the CPU time it takes, so the same on a fast or a slow machine
    end = time.process_time() + seconds
    while time.process_time() < end:
        sum(range(1000))
    return "done"
def starved_by_its_own(seconds):  # busy processes of its own, niced, on its CPU: it looks starved
    core = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    for _ in range(3):
        if os.fork() == 0:
            os.nice(19)
            stop = time.monotonic() + 15
            while time.monotonic() < stop:
                pass
            os._exit(0)
    return cpu_seconds(seconds)
def counting_words():  # correct, slow, one frame, two lines: but it calls a built-in (list.count) all the time
    words, end, total = [str(i % 500) for i in range(5000)], time.monotonic() + 2.5, 0
    while time.monotonic() < end:
        total += words.count("7")
    return "done"
class Lazy:
    @staticmethod
    def nap():
        time.sleep(1.2)
        return "done"
def slow_method():
    return Lazy.nap()
def greedy():
    blocks = []
    while True:
        blocks.append(bytearray(400 * 2**20))  # over the limit at once: refused however slow the machine
def chatty():
    for _ in range(20000):
        print("x" * 100)
    return 1
def rigged():
    class Rigged:
        def __eq__(self, other):
            return True
    return Rigged()
def identity():
    return [os.getuid(), sorted(os.listdir("/"))]
def exists(path):
    return os.path.exists(path)
def uses_torch():
    import torch
    return torch.zeros(2).tolist()
def loaded_torch():
    import sys
    return sorted({m.__name__ for m in list(sys.modules.values()) if type(m).__name__ == "module" and m.__name__.startswith("torch")})
def walked():
    import gc
    return len(gc.get_objects())
def listing(path):
    return sorted(os.listdir(path)) if os.path.isdir(path) else None
def tmp_files():
    return sorted(os.listdir(os.environ.get("TMPDIR", "/tmp")))
def install_handlers():
    import importlib.util
    sig = __import__("sig" + "nal")
    handler = lambda number, frame: frame  # noqa: E731
    outcome = []
    for install in (getattr(sig, "sig" + "nal"), importlib.util.module_from_spec(importlib.util.find_spec("_sig" + "nal")).signal):
        try:
            install(sig.SIGALRM, handler)
            outcome.append("returned")
        except OSError as error:
            outcome.append(type(error).__name__)
        outcome.append(sig.getsignal(sig.SIGALRM) is handler)
    import asyncio, faulthandler
    async def three():
        return 3
    faulthandler.enable()  # installs handlers for crashes: nothing is installed, nothing fails
    return outcome + [asyncio.run(three())]  # asyncio.run installs a SIGINT handler on the way
def visible_gpus():
    return os.environ.get("CUDA_VISIBLE_DEVICES")
def user_name():
    import getpass
    return getpass.getuser()
def leave_file():
    open(os.path.join(os.environ.get("TMPDIR", "/tmp"), "left-behind.txt"), "w").write("x")
    return 1
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
    box = Sandbox(request.param, preload=["numpy"], hide=A1_ABSENT)
    yield box
    box.close()


def worker(sandbox, source=STUDENT, **limits):
    spec = LoadSpec("mod", "mod.py", {"mod.py": source.encode()}, PROBES, blocked_imports=["torch"])
    return sandbox.worker(spec, Limits(**{"probe_timeout_s": 5, **limits}))


def test_results_come_back_as_plain_data(sandbox):
    student = worker(sandbox)
    result = student.call("call", {"name": "double", "args": [[1, 2]]})
    assert type(result) is np.ndarray and result.tolist() == [2, 4]
    student.close()


@pytest.mark.parametrize(
    "name, kind, phrase",
    [
        ("fails", "exception", "ValueError: bad value"),
        ("todo", "not_implemented", "`todo` is not implemented yet"),
        ("rigged", "probe_failure", "rigged() is a"),
    ],
)
def test_student_failures_are_classified(sandbox, name, kind, phrase):
    student = worker(sandbox)
    probe, args = ("array", {"name": name}) if name == "rigged" else ("call", {"name": name})
    with pytest.raises(RunFailed) as caught:
        student.call(probe, args)
    assert caught.value.failure.kind == FailureKind(kind) and phrase in caught.value.failure.message
    assert student.call("call", {"name": "double", "args": [1]}) == 2  # the worker carries on
    student.close()


def test_a_timeout_names_the_running_line_and_the_worker_restarts(sandbox):
    student = worker(sandbox, probe_timeout_s=1)
    with pytest.raises(RunFailed) as caught:
        student.call("call", {"name": "spin"})
    failure = caught.value.failure
    assert failure.kind is FailureKind.TIMEOUT and failure.limit_s == 1
    assert "within 1 s" in failure.message and "it was still running mod.py, line" in failure.message
    assert failure.message.endswith("in spin")
    assert student.call("call", {"name": "double", "args": [3]}) == 6
    student.close()


def test_a_stopped_function_is_refused_under_the_same_limit_and_rerun_under_a_longer_one(sandbox):
    _refused_then_rerun(worker(sandbox), "slow", "slow")


def test_a_stopped_method_is_named_with_its_class(watched):
    """What was stopped is named inside the student's process, whatever the isolation: once, unisolated."""
    _refused_then_rerun(worker(watched), "slow_method", "Lazy.nap")


def _refused_then_rerun(student, name, stopped):
    with pytest.raises(RunFailed, match="within 0.5 s") as caught:
        student.call("call", {"name": name}, timeout=0.5)
    assert caught.value.failure.kind is FailureKind.TIMEOUT
    with pytest.raises(RunFailed, match=f"`{stopped}` was stopped after running more than 0.5 s") as caught:
        student.call("call", {"name": name}, timeout=0.5)  # not waited out a second time
    assert caught.value.failure.kind is FailureKind.TIMEOUT and caught.value.failure.limit_s is None  # refused
    assert student.call("call", {"name": "double", "args": [2]}, timeout=5) == 4
    assert student.call("call", {"name": name}, timeout=5) == "done"
    with pytest.raises(RunFailed, match="was stopped"):
        student.call("call", {"name": name}, timeout=0.5)
    student.close()


@pytest.fixture(scope="module")
def watched():
    """The watchdog runs inside the student's process, whatever the isolation: its cases run once,
    unisolated (the plain endless loop runs under each isolation)."""
    box = Sandbox(UNISOLATED, preload=["numpy"], hide=A1_ABSENT)
    yield box
    box.close()


def _stopped_as_stuck(box, name):
    student = worker(box, stuck_after_s=1)
    with pytest.raises(RunFailed) as caught:
        student.call("call", {"name": name}, timeout=60)  # a training check's limit
    failure = caught.value.failure
    assert failure.kind is FailureKind.TIMEOUT and failure.limit_s is None  # not the check's limit
    assert f"on the same lines of `{name}` without" in failure.message
    assert failure.where and failure.where.startswith("mod.py, line") and failure.where.endswith(f"in {name}")
    assert "without calling any function" in failure.message and "whole 60 s" in failure.message
    with pytest.raises(RunFailed, match=f"`{name}` was stopped in an earlier check"):
        student.call("call", {"name": name}, timeout=120)  # refused at once, under any limit
    assert student.call("call", {"name": "double", "args": [3]}) == 6  # the rest still runs
    student.close()


def test_code_stuck_in_one_call_is_stopped_long_before_a_long_limit_and_not_run_again(sandbox):
    _stopped_as_stuck(sandbox, "spin")


def test_a_loop_that_only_counts_is_stuck_too(watched):
    _stopped_as_stuck(watched, "counting")


def test_a_function_stopped_as_stuck_still_runs_in_plain_calls_with_small_inputs(watched):
    """A training check's huge input stopped it; a plain probe's small input, under its short limit, may
    still finish (a false alarm then costs the training check, not every check of the function)."""
    student = worker(watched, stuck_after_s=1)
    with pytest.raises(RunFailed, match="on the same lines of `total_to`"):
        student.call("call", {"name": "total_to", "args": [10**12]}, timeout=60)
    assert student.call("call", {"name": "total_to", "args": [10]}, timeout=3, small=True) == 45
    with pytest.raises(RunFailed, match="`total_to` was stopped in an earlier check"):
        student.call("call", {"name": "total_to", "args": [10]}, timeout=60)  # a training check's call
    student.close()


@pytest.mark.parametrize("name", ["working", "counting_words"])
def test_slow_code_that_keeps_calling_functions_gets_the_whole_limit(watched, name):
    """`counting_words` stays in one frame on two lines, as a loop does; asked, it calls list.count."""
    student = worker(watched, stuck_after_s=1)
    assert student.call("call", {"name": name}, timeout=60) == "done"  # 2.5 s: past a verdict's 2 s
    student.close()


def test_waiting_in_a_loop_calls_a_built_in_so_it_gets_the_benefit_of_the_doubt(watched):
    student = worker(watched, stuck_after_s=1)
    with pytest.raises(RunFailed, match="did not finish within 3 s"):
        student.call("call", {"name": "waiting"}, timeout=3)
    student.close()


def test_time_a_busy_machine_took_is_made_up(watched):
    """A fairness round: a correct but slow a3 scored 100 graded alone and 85 with six gradings on two
    cores (its training check ran past 60 s of wall clock). Here 0.8 s of work under a 1.5 s limit, on a
    core shared with two busy processes (about 2.4 s of wall clock), finishes: the limit is lengthened
    by the time the child waited, ready to run, for the CPU; a process that sleeps gains nothing."""
    student = worker(watched, stuck_after_s=0)
    assert student.call("call", {"name": "double", "args": [1]}) == 2  # the child is running
    core = min(os.sched_getaffinity(0))
    os.sched_setaffinity(student.child.pid, {core})
    hogs = [
        subprocess.Popen(
            [sys.executable, "-c", f"import os; os.sched_setaffinity(0, {{{core}}})\nwhile True: pass"],
            start_new_session=True,  # each its own share of the core (the scheduler shares it by session)
        )
        for _ in range(2)
    ]
    try:
        assert student.call("call", {"name": "cpu_seconds", "args": [0.8]}, timeout=1.5) == "done"
        assert student.made_up > 0
        with pytest.raises(RunFailed, match=r"did not finish within 1 s \(an endless loop"):
            student.call("call", {"name": "waiting"}, timeout=1)  # asleep, not kept waiting: nothing added
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
        student.close()


def test_busy_processes_of_its_own_make_up_no_time(watched):
    """A hostile round's code forked busy processes, niced and pinned to its own CPU: counted as the
    machine's, their wait made it look starved and its 3 s limit became 9 s (a1 100 where the work earns
    60). What is made up leaves all the submission's processes no more CPU than the limit: 2.5 s of work
    under 1.5 s does not finish (it did in about 2.6 s)."""
    student = worker(watched, stuck_after_s=0)
    try:
        with pytest.raises(RunFailed, match="did not finish within 1.5 s"):
            student.call("call", {"name": "starved_by_its_own", "args": [2.5]}, timeout=1.5)
    finally:
        student.close()


def test_with_stuck_reports_switched_off_a_loop_waits_out_the_limit(watched):
    student = worker(watched, stuck_after_s=0)  # switched off: the loop waits out the limit
    with pytest.raises(RunFailed, match="did not finish within 1.5 s") as caught:
        student.call("call", {"name": "spin"}, timeout=1.5)
    assert caught.value.failure.limit_s == 1.5
    student.close()


def test_exiting_the_process_is_a_crash_never_a_pass(sandbox):
    student = worker(sandbox)
    with pytest.raises(RunFailed, match="exit code 0") as caught:
        student.call("call", {"name": "leave"})
    assert caught.value.failure.kind is FailureKind.CRASH
    assert student.call("call", {"name": "double", "args": [4]}) == 8
    student.close()


def test_memory_limit_stops_a_memory_bomb(sandbox):
    student = worker(sandbox, memory_mb=300, probe_timeout_s=60)  # the memory limit, never the time limit
    with pytest.raises(RunFailed) as caught:
        student.call("call", {"name": "greedy"})
    assert caught.value.failure.kind in (FailureKind.MEMORY, FailureKind.CRASH)
    student.close()


def test_printed_output_is_captured_and_truncated(sandbox):
    student = worker(sandbox, output_kb=4)
    assert student.call("call", {"name": "chatty"}) == 1
    text = student.output.text()
    assert text.startswith("imported") and "more bytes of output not shown" in text
    assert len(student.output.kept) == 4096
    student.close()


def test_each_child_runs_the_probes_of_its_own_source(sandbox):
    """The worker compiles probes once per source and hands each child the code of the source it was
    sent: another source gives other probes, and one that does not compile fails its own child's
    calls only (the worker serves on)."""

    def worker_with(probes):
        spec = LoadSpec("mod", "mod.py", {"mod.py": STUDENT.encode()}, probes, blocked_imports=["torch"])
        return sandbox.worker(spec, Limits(probe_timeout_s=5))

    tagged = PROBES + "\ndef tag(student):\n    return 'the second source'\n"
    for probes, probe, expected in ((PROBES, "call", [2, 4]), (tagged, "tag", "the second source")):
        student = worker_with(probes)
        args = {"name": "double", "args": [[1, 2]]} if probe == "call" else {}
        answer = student.call(probe, args)
        assert (answer.tolist() if probe == "call" else answer) == expected
        student.close()
    broken = worker_with(PROBES + "\ndef tag(student:\n")
    with pytest.raises(RunFailed):
        broken.call("call", {"name": "double", "args": [[1, 2]]})
    broken.close()
    student = worker_with(PROBES)
    with pytest.raises(RunFailed, match="tag"):  # the first source's probes: no `tag` there
        student.call("tag", {})
    assert student.call("call", {"name": "double", "args": [[3]]}).tolist() == [6]
    student.close()


def test_import_failures_are_remembered(sandbox):
    student = worker(sandbox, source="import sys\nsys.exit(3)\n")
    with pytest.raises(RunFailed, match=r"called sys.exit\(3\) while importing mod.py") as caught:
        student.call("call", {"name": "double"})
    assert caught.value.failure.kind is FailureKind.IMPORT
    with pytest.raises(RunFailed) as caught:
        student.call("call", {"name": "double"})
    assert caught.value.failure.kind is FailureKind.IMPORT
    assert student.restarts == 1
    student.close()


def test_blocked_import_fails_only_when_used(sandbox):
    student = worker(sandbox, source="import torch\n" + STUDENT)
    assert student.call("call", {"name": "double", "args": [1]}) == 2
    with pytest.raises(RunFailed, match="torch.zeros") as caught:
        student.call("call", {"name": "uses_torch"})
    assert caught.value.failure.kind is FailureKind.FORBIDDEN
    student.close()


def test_a_blocked_or_missing_package_is_no_class_anything_belongs_to(sandbox):
    """Libraries ask whether a value is an optional package's type by what ``sys.modules`` holds:
    scipy's ``issubclass(type(x), sys.modules["torch"].Tensor)`` raised TypeError against a1's stand-in
    torch, and an a1 that imports seaborn (scipy under it) could not be imported at all (seen on the first
    GPU machine lent to us, which has scipy). Nothing belongs to a stand-in's types."""
    source = (
        "import sys, torch\n"
        "import pandas_not_installed_here as pd\n"
        "def types():\n"
        "    tensor = sys.modules['torch'].Tensor\n"
        "    return [isinstance(1.0, tensor), issubclass(float, tensor), isinstance([], (torch.nn.Module, list)),\n"
        "            isinstance({}, pd.DataFrame), issubclass(dict, pd.DataFrame)]\n"
    )
    spec = LoadSpec("mod", "mod.py", {"mod.py": source.encode()}, PROBES, blocked_imports=["torch"])
    student = sandbox.worker(spec, Limits(probe_timeout_s=5))
    assert student.call("call", {"name": "types"}) == [False, False, True, False, False]
    student.close()


def test_a_worker_without_torch_never_loads_it(sandbox):
    """Only stand-ins: nothing of the real torch is anywhere in the process for student code to find."""
    student = worker(sandbox, source="import torch\n" + STUDENT)
    assert student.call("call", {"name": "loaded_torch"}) == []
    # nor by the garbage collector's walks, which student code may not take (every object is one step away)
    with pytest.raises(RunFailed) as caught:
        student.call("call", {"name": "walked"})
    assert caught.value.failure.kind is FailureKind.FORBIDDEN and "garbage collector" in str(caught.value)
    student.close()


def test_libraries_that_ask_for_the_users_name_get_one(sandbox):
    """The sandbox has no /etc/passwd, so getpass.getuser() has only the environment to go by: torch 2.11's
    torch.use_deterministic_algorithms (its inductor cache's folder is named after the user) raised
    there, and no worker started on a machine with that torch (seen on the first GPU lent to us)."""
    student = worker(sandbox)
    assert student.call("call", {"name": "user_name"}) == "student"
    student.close()


def test_no_signal_handler_can_be_installed(sandbox):
    """A handler is handed the frame it interrupts, and through it the grader's: an integrity round
    installed one through names built at run time (which no scan reads) and a timer's signal handed it
    the probe's frame. signal.signal installs nothing (libraries that install one on the way, such as
    asyncio.run, work on); a fresh copy of the _signal module meets the seccomp filter (EPERM); Python's
    table of handlers stays as it was."""
    student = worker(sandbox)
    assert student.call("call", {"name": "install_handlers"}) == ["returned", False, "PermissionError", False, 3]
    student.close()


def test_a_cpu_worker_is_shown_no_gpu_without_bubblewrap_too(sandbox):
    """Grading on the CPU is the same wherever it runs: without bubblewrap (which binds no GPU device for
    a CPU worker) a student's laptop GPU would take a model built with ``"cuda" if available`` away from
    the probes' CPU tensors, and the feedback would differ from the official grading's."""
    student = worker(sandbox)
    assert student.call("call", {"name": "visible_gpus"}) == ""
    student.close()


def test_a_worker_that_steps_no_optimizer_is_deterministic_without_loading_torchs_compiler():
    """The verifier's worker (forward passes and gradients only): torch's deterministic switch is on, as
    in every worker, but without torch.use_deterministic_algorithms's import of torch._inductor's
    config, which brings torch._dynamo and sympy (about two CPU-seconds, half of its start-up)."""
    source = (
        "import sys, torch\n"
        "def state():\n"
        "    loaded = [name for name in ('torch._dynamo', 'torch._inductor', 'sympy') if name in sys.modules]\n"
        "    return [torch.are_deterministic_algorithms_enabled(),\n"
        "            torch.is_deterministic_algorithms_warn_only_enabled(), loaded]\n"
    )
    box = Sandbox(UNISOLATED, preload=["numpy", "torch"], warm_optimizer=False)
    try:
        student = box.worker(LoadSpec("mod", "mod.py", {"mod.py": source.encode()}, PROBES), Limits(probe_timeout_s=30))
        assert student.call("call", {"name": "state"}) == [True, True, []]
        student.close()
    finally:
        box.close()


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_a_library_on_the_graders_import_path_may_read_its_own_frames(isolation, monkeypatch):
    """Packages the grader imports from PYTHONPATH or a .pth file (an HPC module's torch) are libraries
    like those of site-packages: a frame one of them reads for itself is not the student's. torch 2.11
    from PYTHONPATH read one in every training step, and the reference lost 30 points on a2 (seen on the
    first GPU lent to us, whose torch 2.11 the suite's test of such a grader ran with)."""
    folder = Path(tempfile.mkdtemp(prefix="grader-test-lib-"))  # pytest's tmp_path is 0700: root's alone
    os.chmod(folder, 0o755)
    library = folder / "lib" / "framed"
    library.mkdir(parents=True)
    (library / "__init__.py").write_text("from framed.inner import caller\ndef name():\n    return caller()\n")
    (library / "inner.py").write_text("import sys\ndef caller():\n    return sys._getframe(1).f_code.co_name\n")
    monkeypatch.syspath_prepend(str(folder / "lib"))
    box = Sandbox(isolation, preload=["numpy"], hide=A1_ABSENT)
    try:
        source = b"import framed\ndef named():\n    return framed.name()\n"
        student = box.worker(LoadSpec("mod", "mod.py", {"mod.py": source}, PROBES), Limits(probe_timeout_s=30))
        assert student.call("call", {"name": "named"}) == "name"
        student.close()
    finally:
        box.close()
        shutil.rmtree(folder)


def test_the_worker_warms_its_optimizer_without_starting_cuda():
    """A process forked after CUDA started cannot use the GPU, and the zygote forks every child: on the
    first GPU lent to us every check of every student failed so (the reference's too), from the zygote's
    warm-up step. Its backward pass started autograd's GPU threads; the step's check for a CUDA graph
    capture asked the GPU for its stream. The warm-up still pays torch._dynamo's import, without either."""
    script = (
        "import sys, torch\n"
        "from torch.autograd.variable import Variable\n"
        "asked = []\n"
        "class Recorder:\n"
        "    def __init__(self, engine): self.engine = engine\n"
        "    def run_backward(self, *args, **kwargs):\n"
        "        asked.append('backward')\n"
        "        return self.engine.run_backward(*args, **kwargs)\n"
        "    def __getattr__(self, name): return getattr(self.engine, name)\n"
        "Variable._execution_engine = Recorder(Variable._execution_engine)\n"
        "def spy(module, name):\n"
        "    real = getattr(module, name)\n"
        "    def spying(*args, **kwargs):\n"
        "        asked.append(name)\n"
        "        return real(*args, **kwargs)\n"
        "    setattr(module, name, spying)\n"
        "for name in ('current_accelerator', 'current_stream', 'current_device_index'):\n"
        "    if hasattr(torch, 'accelerator') and hasattr(torch.accelerator, name): spy(torch.accelerator, name)\n"
        "for name in ('is_available', 'device_count', 'current_stream', 'current_device', '_lazy_init', 'init'):\n"
        "    spy(torch.cuda, name)\n"
        "torch.ones(1, requires_grad=True).sum().backward()  # the recorder sees a backward pass\n"
        "torch.cuda.is_available()  # and the spies a question to the GPU\n"
        "from grader.inside.zygote import _warm_optimizer\n"
        "_warm_optimizer()\n"
        "print(','.join(asked), 'torch._dynamo' in sys.modules)\n"
    )
    ran = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert ran.stdout.split() == ["backward,is_available", "True"], ran.stdout + ran.stderr[-2000:]


@pytest.mark.skipif(any(name.startswith("nvidia") for name in os.listdir("/dev")), reason="a GPU is here")
def test_a_worker_that_cannot_use_the_gpu_says_so_as_the_graders_failure():
    """With --device cuda, a worker whose process cannot compute on the GPU (here: there is none) fails
    as the grader, before the student's code runs: not as every check's "could not use what your code
    returned" (what the first GPU lent to us showed for each student, from a worker forked after CUDA
    had started)."""
    box = Sandbox(UNISOLATED, preload=["numpy", "torch"])
    try:
        spec = LoadSpec("mod", "mod.py", {"mod.py": b"def one():\n    return 1\n"}, PROBES, device="cuda")
        student = box.worker(spec, Limits(probe_timeout_s=30))
        with pytest.raises(RunFailed) as caught:
            student.call("call", {"name": "one"})
        failure = caught.value.failure
        assert failure.kind is FailureKind.GRADER and "the GPU cannot be used in the grading worker" in failure.message
        student.close()
    finally:
        box.close()


@pytest.mark.skipif(any(name.startswith("nvidia") for name in os.listdir("/dev")), reason="a GPU is here")
def test_a_gpu_worker_whose_children_cannot_use_the_gpu_does_not_start():
    """The zygote asks once, in a throwaway child, before it serves anyone: one clear failure of the
    grader's for the whole batch ("not your fault" on every check), never a failure per student."""
    box = Sandbox(UNISOLATED, preload=["numpy", "torch"], device="cuda")
    try:
        spec = LoadSpec("mod", "mod.py", {"mod.py": b"def one():\n    return 1\n"}, PROBES, device="cuda")
        with pytest.raises(SandboxError, match="could not start: the GPU cannot be used in the grading worker"):
            box.worker(spec, Limits(probe_timeout_s=30)).call("call", {"name": "one"})
    finally:
        box.close()


def test_a_worker_refuses_to_serve_where_its_start_up_started_cuda():
    from types import SimpleNamespace

    from grader.inside.zygote import WorkerCannotStart, _check_cuda_not_started

    _check_cuda_not_started(SimpleNamespace(cuda=SimpleNamespace(is_initialized=lambda: False)))
    with pytest.raises(WorkerCannotStart, match="CUDA was started before the worker forked"):
        _check_cuda_not_started(SimpleNamespace(cuda=SimpleNamespace(is_initialized=lambda: True)))


def test_the_scratch_of_a_grader_killed_outright_is_removed_by_the_next_and_no_other():
    """A grader killed with SIGKILL cannot remove its scratch folder (empty, or holding what an
    unsandboxed child wrote): the next worker started on the host removes those whose grader is gone."""
    import subprocess
    import tempfile

    from grader.sandbox.zygote_handle import SCRATCH_PREFIX, remove_abandoned_scratch

    gone = subprocess.Popen(["true"])
    gone.wait()
    root = Path(tempfile.gettempdir())
    abandoned = root / f"{SCRATCH_PREFIX}{gone.pid}-test"
    live = root / f"{SCRATCH_PREFIX}{os.getpid()}-test"
    other = root / f"{SCRATCH_PREFIX}notapid"
    for folder in (abandoned, live, other):
        folder.mkdir(exist_ok=True)
    (abandoned / "left-behind.txt").write_text("x")
    try:
        remove_abandoned_scratch()
        assert not abandoned.exists() and live.is_dir() and other.is_dir()
    finally:
        for folder in (live, other):
            folder.rmdir()


def test_reference_answers_of_a_numpy_assignment_never_wait_for_torch():
    """One trusted reference worker per set of preloads, as for students: a1's answers are computed
    in a worker that imports numpy only (torch's start-up costs over 2 CPU-s), and the torch
    assignments share one."""
    from conftest import REPO

    from grader.course.model import load_course
    from grader.grading.slot import GradeOptions, GradingSlot

    course = load_course(REPO)
    slot = GradingSlot(course, GradeOptions(sandbox="none"))
    try:
        numpy_only = slot.trusted_sandbox_for(course.get("a1_srn_numpy"))
        with_torch = {
            id(slot.trusted_sandbox_for(spec)) for spec in course.assignments.values() if "torch" in spec.preload
        }
        assert numpy_only.setup.preload == ("numpy",) and not numpy_only.setup.warm_optimizer
        assert len(with_torch) == 1 and id(numpy_only) not in with_torch
    finally:
        slot.close()


def test_a_worker_refuses_to_start_holding_what_it_must_not():
    box = Sandbox(UNISOLATED, preload=["numpy"], hide=["numpy"])
    try:
        with pytest.raises(SandboxError, match="numpy, which it must not hold"):
            box.zygote()
    finally:
        box.close()


def test_finding_the_packages_to_hide_does_not_import_them():
    import subprocess
    import sys

    script = (
        "import sys, importlib.util\n"
        "from grader.sandbox.isolation import absent_packages, package_locations\n"
        "found = package_locations(absent_packages(['torch'], ['numpy']))\n"
        "spec = importlib.util.find_spec('torch')\n"
        "assert spec is None or spec.submodule_search_locations[0] in found, found\n"
        "assert not [k for k in sys.modules if k.startswith(('torch', 'functorch', 'triton'))]\n"
    )
    process = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert process.returncode == 0, process.stderr


@pytest.mark.skipif(
    not bubblewrap_works(), reason=f"bubblewrap cannot create a sandbox on this machine: {bubblewrap_problem()}"
)
def test_bubblewrap_shows_hidden_packages_as_empty_read_only_directories():
    import importlib.util

    from grader.sandbox.isolation import package_locations

    hidden = package_locations(A1_ABSENT)
    if not hidden:
        pytest.skip("torch is not installed here, so there is nothing to hide")
    box = Sandbox(BUBBLEWRAP, preload=["numpy"], hide=A1_ABSENT)
    try:
        student = worker(box)
        for path in hidden:
            assert student.call("call", {"name": "listing", "args": [path]}) in ([], None), path
        numpy_dir = str(Path(importlib.util.find_spec("numpy").origin).parent)
        assert "__init__.py" in student.call("call", {"name": "listing", "args": [numpy_dir]})
        student.close()
    finally:
        box.close()


def test_scratch_space_is_wiped_between_submissions(sandbox):
    first = worker(sandbox)
    first.call("call", {"name": "leave_file"})
    first.close()
    second = worker(sandbox)
    assert "left-behind.txt" not in second.call("call", {"name": "tmp_files"})
    second.close()


@pytest.mark.skipif(
    not bubblewrap_works(), reason=f"bubblewrap cannot create a sandbox on this machine: {bubblewrap_problem()}"
)
def test_bubblewrap_hides_the_course_and_drops_root():
    box = Sandbox(BUBBLEWRAP, preload=["numpy"])
    try:
        student = worker(box)
        uid, root = student.call("call", {"name": "identity"})
        # Only the system, the interpreter's own directories and the grader package are mounted, so the
        # top level holds system names plus the first component of wherever those happen to live.
        interpreter_tops = {Path(path).parts[1] for path in python_paths()}
        # /run holds the mount points of the sandbox's cgroups, which each child unmounts for itself.
        system = {"bin", "dev", "etc", "lib", "lib32", "lib64", "libx32", "proc", "run", "sbin", "tmp", "usr"}
        assert set(root) <= system | interpreter_tops
        course = Path(__file__).resolve().parent.parent
        for hidden in ("solutions", "assignments", "tests"):
            assert not student.call("call", {"name": "exists", "args": [str(course / hidden)]}), hidden
        if os.geteuid() == 0:
            assert uid >= 61000
        student.close()
    finally:
        box.close()


GPU_MEMORY_LIMIT = """
import mmap, sys
import numpy as np
from grader.inside.child import _apply_limits
_apply_limits({"memory_mb": 300}, cuda=sys.argv[1] == "cuda")
try:  # what CUDA does when it starts: reserve a large range of address space it never writes to
    reserved = mmap.mmap(-1, 64 * 2**30, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | getattr(mmap, "MAP_NORESERVE", 0),
                         prot=mmap.PROT_READ)
    print("reserved")
except OSError:
    print("no reservation")
try:
    np.ones(100 * 2**20)  # 800 MB of real memory
    print("allocated")
except MemoryError:
    print("memory error")
"""


@pytest.mark.parametrize(
    "device, expected",
    [
        ("cpu", ["no reservation", "memory error"]),  # the address space is capped
        ("cuda", ["reserved", "memory error"]),  # private writable memory is capped, reservations are not
    ],
)
def test_memory_limit_lets_cuda_reserve_address_space_but_not_use_memory(device, expected):
    import subprocess
    import sys

    process = subprocess.run(
        [sys.executable, "-c", GPU_MEMORY_LIMIT, device], capture_output=True, text=True, timeout=60
    )
    assert process.stdout.split("\n")[:2] == expected, process.stdout + process.stderr


def test_on_the_gpu_the_runtimes_threads_and_open_files_are_not_the_students():
    """On the second GPU lent to us every training step of every reference failed ("CUDA error: out of
    memory", "OS call failed") under the budgets the student's own code gets, the GPU runtime's threads
    and open files counted in them. On the GPU the runtime starts first and the budgets count from
    there, with room for what it opens later; on the CPU the budgets are as they were."""
    script = (
        "import os, resource, json\n"
        "import grader.inside.child as child\n"
        "child._processes_of_this_user = lambda: 5  # threads and processes of this uid now\n"
        "from grader.inside.gpu import LATER_OPEN_FILES, LATER_THREADS\n"
        "held = [os.open('/dev/null', os.O_RDONLY) for _ in range(300)]  # as a started runtime holds them\n"
        "open_now = len(os.listdir('/proc/self/fd'))\n"
        "child._apply_limits({'open_files': 256, 'processes': 32}, cuda=__import__('sys').argv[1] == 'cuda')\n"
        "print(json.dumps([open_now, resource.getrlimit(resource.RLIMIT_NOFILE)[0], LATER_OPEN_FILES,\n"
        "                  resource.getrlimit(resource.RLIMIT_NPROC)[0], LATER_THREADS]))\n"
    )
    found = {}
    for device in ("cuda", "cpu"):
        ran = subprocess.run([sys.executable, "-c", script, device], capture_output=True, text=True, timeout=60)
        assert ran.returncode == 0, ran.stderr[-2000:]
        found[device] = json.loads(ran.stdout)
    open_now, files, later_files, threads, later_threads = found["cuda"]
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    assert files == min(hard, 256 + open_now + later_files)  # the student's 256 after what the runtime holds
    assert found["cpu"][1] == min(hard, 256)
    nproc = resource.getrlimit(resource.RLIMIT_NPROC)[1]
    assert threads == min(nproc, 5 + 32 + later_threads) and found["cpu"][3] == min(nproc, 5 + 32)


def test_what_the_gpu_runtime_takes_in_the_trial_child_is_added_to_each_childs_cgroup():
    """The zygote's trial child measures what starting the runtime took (here a stand-in start: threads and
    open files, as CUDA's driver holds them), and each child's cgroup holds that on top of the student's
    budget; a CPU worker's cgroup holds the student's budget and the worker's own pages only."""
    script = (
        "import json, os, sys, threading, time\n"
        "sys.modules.setdefault('torch', type(sys)('torch'))  # the trial runs only where torch is loaded\n"
        "import grader.inside.gpu as gpu\n"
        "def started():\n"
        "    for _ in range(3):\n"
        "        threading.Thread(target=time.sleep, args=(30,), daemon=True).start()\n"
        "    global held; held = [os.open('/dev/null', os.O_RDONLY) for _ in range(7)]\n"
        "gpu.gpu_problem = started\n"
        "print(json.dumps(gpu.gpu_trial_of_a_child()))\n"
    )
    ran = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr[-2000:]
    problem, added = json.loads(ran.stdout)
    assert problem is None and added["threads"] == 3 and added["open_files"] == 7, added

    from grader.inside.gpu import LATER_THREADS
    from grader.inside.zygote import cgroup_budgets

    limits = {"memory_mb": 100, "processes": 32}
    runtime = {"threads": 17, "resident": 300 * 2**20, "open_files": 40}
    assert cgroup_budgets(limits, 50 * 2**20, runtime) == (450 * 2**20, 33 + 17 + LATER_THREADS)
    assert cgroup_budgets(limits, 50 * 2**20, {}) == (150 * 2**20, 33)
