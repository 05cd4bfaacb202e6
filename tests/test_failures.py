"""A failure is one value (grader.errors.Failure) with one kind, carried up by one exception (RunFailed).

The kind the worker names on the wire arrives unchanged on the trusted side; a kind the grader does not
know (or one only the trusted side may give) is the grader's failure, never charged as the student's;
and every kind reads right in the feedback. How each failure is provoked for real (an endless loop, a
crash, a memory bomb, a forbidden call) is tested in test_sandbox.py and test_hostile.py.
"""

from __future__ import annotations

import ast
import os
import pickle
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from grader.course.mistakes import Mistake
from grader.errors import REPORTED_BY_WORKER, Failure, FailureKind, RunFailed
from grader.inside import child, guards, probe_api
from grader.judging.plugin import _check_result
from grader.sandbox import Limits, LoadSpec, Sandbox
from grader.sandbox.isolation import UNISOLATED
from grader.wire.channel import FrameReader
from grader.wire.codec import encode

CHILD_SOURCE = Path(child.__file__).read_text(encoding="utf-8")

# -- the worker's side: what inside/child.py sends for each way student code fails ---------------------

STUDENT = """
def fails():
    raise ValueError("bad value")

def todo():
    raise NotImplementedError

def leaves():
    raise SystemExit(3)

def interrupted():
    raise KeyboardInterrupt

def greedy():
    raise MemoryError

def broken():
    compile("def (:", "helper.py", "exec")

def forbidden():
    raise Forbidden("torch.zeros is not allowed in this assignment")

def refused():
    raise ProbeFailure("rnn_forward() returned a list, not an array")

def hung():
    raise HungBefore("`hung` was stopped after running more than 2 s in an earlier check")
"""


@pytest.fixture(scope="module")
def student(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    """The functions above, compiled as if from a student's file in the worker's directory, so their
    frames are the student's (as child.describe tells them apart)."""
    workdir = str(tmp_path_factory.mktemp("work"))
    namespace: dict[str, Any] = {
        "Forbidden": guards.ForbiddenApiUsed,
        "ProbeFailure": probe_api.ProbeFailure,
        "HungBefore": child.HungBefore,
    }
    exec(compile(STUDENT, os.path.join(workdir, "mod.py"), "exec"), namespace)
    return namespace, workdir


def _reply_for(function: Any, workdir: str, during: str | None = None) -> dict[str, Any]:
    """What the worker sends when ``function`` raises, after a trip through the frame codec."""
    try:
        function()
    except BaseException as exc:  # noqa: BLE001 - every way student code fails is the point
        error = child.describe(exc, workdir, during)
    else:
        raise AssertionError("the function did not raise")
    (message,) = FrameReader().feed(encode({"ok": False, "error": error}))
    return message["error"]


def _not_from_the_student() -> None:
    raise TypeError("unsupported operand type(s)")  # raised in the probe's own code: no student frame


# name (None: raised outside the student's code), kind, what the student reads
WORKER_KINDS = [
    ("fails", FailureKind.EXCEPTION, "ValueError: bad value (mod.py, line 3, in fails)"),
    ("todo", FailureKind.NOT_IMPLEMENTED, "`todo` is not implemented yet (it raises NotImplementedError)"),
    ("leaves", FailureKind.EXIT, "your code called sys.exit(3) while importing mod.py"),
    ("interrupted", FailureKind.INTERRUPT, "your code raised KeyboardInterrupt"),
    ("greedy", FailureKind.MEMORY, "your code ran out of memory"),
    ("broken", FailureKind.SYNTAX, "SyntaxError: "),
    ("forbidden", FailureKind.FORBIDDEN, "torch.zeros is not allowed in this assignment"),
    ("refused", FailureKind.PROBE_FAILURE, "rnn_forward() returned a list, not an array"),
    ("hung", FailureKind.TIMEOUT, "`hung` was stopped after running more than 2 s"),
    (None, FailureKind.PROBE_ERROR, "the grader could not use what your code returned: TypeError"),
]


@pytest.mark.parametrize("name, kind, says", WORKER_KINDS, ids=[kind.value for _, kind, _ in WORKER_KINDS])
def test_the_kind_the_worker_names_arrives_on_the_trusted_side(student, name, kind, says):
    namespace, workdir = student
    function = namespace[name] if name else _not_from_the_student
    reply = _reply_for(function, workdir, during="importing mod.py" if name == "leaves" else None)
    failure = Failure.from_reply(reply)
    assert failure.kind is kind and failure.kind.students
    assert says in failure.student_message()
    if name is not None:  # the probe's own code has no student frame to point at
        assert failure.where and failure.where.startswith("mod.py, line ") and failure.traceback


def _kinds_in_child_source() -> set[str]:
    """Every kind string inside/child.py can put on the wire: the first item of what _classify returns
    and every ``"kind": "..."`` it writes."""
    found = set()
    for node in ast.walk(ast.parse(CHILD_SOURCE)):
        if isinstance(node, ast.FunctionDef) and node.name == "_classify":
            for returned in ast.walk(node):
                if isinstance(returned, ast.Return) and isinstance(returned.value, ast.Tuple):
                    first = returned.value.elts[0]
                    if isinstance(first, ast.Constant):
                        found.add(first.value)
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and key.value == "kind" and isinstance(value, ast.Constant):
                    found.add(value.value)
    return found


def test_every_kind_the_worker_sends_is_one_the_trusted_side_reads():
    sent = _kinds_in_child_source()
    assert sent >= {"exception", "timeout", "forbidden"}, "the source scan found too little to be trusted"
    assert sent == {kind.value for kind in REPORTED_BY_WORKER}, "child.py and grader.errors disagree on the kinds"


def test_every_kind_is_tested_here():
    tested = {kind for _, kind, _ in WORKER_KINDS} | set(TRUSTED_KINDS) | {FailureKind.GRADER}
    assert tested == set(FailureKind)


# -- unknown kinds: the grader's failure, never the student's -------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        {"kind": "sabotage", "message": "nothing to see"},
        {"kind": "budget", "message": "a kind only the trusted side gives"},
        {"kind": "import", "message": "likewise"},
        {"kind": ["exception"], "message": "not even a string"},
        {"message": "no kind at all"},
        {},
        None,
        "a string instead of the error's fields",
    ],
)
def test_a_kind_the_grader_does_not_know_is_a_grader_failure(error):
    failure = Failure.from_reply(error)
    assert failure.kind is FailureKind.GRADER and not failure.kind.students and failure.claimed
    # said by the process that runs the student's code: never worded as "not your fault"
    assert failure.student_message().startswith("the process that runs your code reported a failure of the grader's")
    assert "not your fault" not in failure.student_message()


def test_an_unknown_kind_is_quoted_briefly():
    failure = Failure.from_reply({"kind": "x" * 10_000, "message": "m"})
    assert "unknown kind 'xxx" in failure.message and len(failure.message) < 200


def test_the_workers_own_grader_failure_stays_the_graders():
    failure = Failure.from_reply({"kind": "grader", "message": "no probe named 'fowrard'"})
    assert failure.kind is FailureKind.GRADER and failure.claimed
    assert "no probe named 'fowrard'" in failure.student_message()
    assert "not your fault" not in failure.student_message()  # a student's process can say it too


# -- into the feedback ----------------------------------------------------------------------------------


class _Item:
    """What the plugin reads of a pytest item."""

    name = originalname = "test_forward"
    obj = None

    def __init__(self) -> None:
        self.stash: dict[Any, Any] = {}

    def get_closest_marker(self, name: str) -> None:
        return None


def _feedback(error: BaseException) -> Any:
    report = SimpleNamespace(passed=False, skipped=False, duration=0.0, longreprtext="")
    call = SimpleNamespace(excinfo=SimpleNamespace(value=error))
    return _check_result(_Item(), report, call, str)  # type: ignore[arg-type]


TRUSTED_KINDS = {  # found by the trusted side (grader/sandbox/submission_process.py words them)
    FailureKind.IMPORT: "srn.py could not be imported: NameError: name 'np' is not defined",
    FailureKind.CRASH: "your code's process crashed with a segmentation fault (SIGSEGV)",
    FailureKind.MALFORMED: "your code's process sent back data the grader cannot read (frame too large)",
    FailureKind.BUDGET: "the time allowed for all checks of this assignment (180 s) was used up",
}


@pytest.mark.parametrize(
    "kind, message",
    [(kind, says) for _, kind, says in WORKER_KINDS] + list(TRUSTED_KINDS.items()),
    ids=[kind.value for _, kind, _ in WORKER_KINDS] + [kind.value for kind in TRUSTED_KINDS],
)
def test_each_students_failure_fails_the_check_with_its_message(kind, message):
    where = "srn.py, line 12, in rnn_step"
    result = _feedback(RunFailed(Failure(kind, message, where=where, traceback="Traceback ...")))
    assert result.status == "failed" and result.points == 0 and result.counted
    assert result.message == f"{message} ({where})"  # where the code failed, said once
    assert result.details["kind"] == kind.value and result.details["traceback"] == "Traceback ..."
    assert "not your fault" not in result.message


def test_where_is_not_repeated_when_the_message_says_it():
    result = _feedback(RunFailed(Failure(FailureKind.TIMEOUT, "still running srn.py, line 3", where="srn.py, line 3")))
    assert result.message == "still running srn.py, line 3"


def test_a_grader_failure_is_an_error_that_still_counts_at_zero():
    """Counted like a SandboxError: the student's code runs in the process that reports it and could
    claim one, so it must not be a way to have a check left out of the score."""
    result = _feedback(RunFailed(Failure.from_reply({"kind": "sabotage", "message": "m"})))
    assert result.status == "error" and result.points == 0 and result.counted
    assert result.message.startswith("the process that runs your code reported a failure of the grader's")
    assert result.details["kind"] == "grader"
    trusted = _feedback(RunFailed(Failure(FailureKind.GRADER, "the probe call forward was not recorded")))
    assert trusted.message.startswith("the grader could not run this check (not your fault)")


def test_a_failure_that_a_catalogued_mistake_shares_names_it():
    mistake = Mistake("enforce_sorted", "pack_padded_sequence with enforce_sorted=True", "Why it is wrong.")
    failure = Failure(FailureKind.EXCEPTION, "RuntimeError: lengths must be sorted", mistake=mistake)
    result = _feedback(RunFailed(failure))
    assert result.status == "failed" and result.mistake == "enforce_sorted"
    assert result.diagnosis.startswith("Known mistake: pack_padded_sequence")


# -- the value itself -----------------------------------------------------------------------------------


def test_a_failure_is_a_value():
    failure = Failure(FailureKind.TIMEOUT, "your code did not finish within 2 s", limit_s=2.0)
    with pytest.raises(AttributeError):
        failure.message = "changed"  # type: ignore[misc]
    noted = failure.noted(" (a call may take 10 times as long as the reference solution's)")
    assert failure.message == "your code did not finish within 2 s" and noted.limit_s == 2.0
    assert noted.message.endswith("solution's)")


def test_the_exception_carries_the_failure_across_processes():
    failure = Failure(FailureKind.CRASH, "your code's process crashed", where="srn.py, line 1, in f", limit_s=None)
    copied = pickle.loads(pickle.dumps(RunFailed(failure)))
    assert isinstance(copied, RunFailed) and copied.failure == failure and str(copied) == failure.message


def test_no_old_failure_classes_remain():
    """One exception, its kind a value: the subclasses chosen by a string kind are gone."""
    import grader.errors

    for old in ("StudentError", "ProbeTimeout", "WorkerCrashed", "ImportFailed", "MalformedResult", "BudgetExhausted"):
        assert not hasattr(grader.errors, old), old


# -- through a real worker ------------------------------------------------------------------------------


def test_a_grader_failure_from_a_real_worker_arrives_as_one():
    """The worker's own "no probe named ..." crosses the pipe and stays the grader's failure; the worker
    carries on with the student's next call."""
    box = Sandbox(UNISOLATED, preload=[])
    try:
        probes = "def call(student, name):\n    return getattr(student, name)()\n"
        source = b"def todo():\n    raise NotImplementedError\n\ndef one():\n    return 1\n"
        worker = box.worker(LoadSpec("mod", "mod.py", {"mod.py": source}, probes), Limits(probe_timeout_s=10))
        with pytest.raises(RunFailed) as caught:
            worker.call("no_such_probe", {})
        assert caught.value.failure.kind is FailureKind.GRADER and "no probe named" in caught.value.failure.message
        with pytest.raises(RunFailed) as caught:
            worker.call("call", {"name": "todo"})
        assert caught.value.failure.kind is FailureKind.NOT_IMPLEMENTED
        assert caught.value.failure.where == "mod.py, line 2, in todo"
        assert worker.call("call", {"name": "one"}) == 1
        worker.close()
    finally:
        box.close()


def test_a_call_the_students_signature_does_not_take_is_charged_to_the_signature(student):
    """A teacher round's Model.__init__ without batch_size (the probes pass batch_size=1) was told "the
    grader could not use what your code returned": the TypeError is raised calling the student's code
    with the handout's arguments, where no frame of it runs yet."""
    namespace, workdir = student

    def calling_with_the_handouts_arguments() -> None:
        def model(input_size, hidden_size):  # the student's signature, without batch_size
            return None

        model(4, 4, batch_size=1)

    failure = Failure.from_reply(_reply_for(calling_with_the_handouts_arguments, workdir))
    assert failure.kind is FailureKind.EXCEPTION, failure
    assert "does not take the arguments the handout gives it" in failure.student_message()
    assert "could not use what your code returned" not in failure.student_message()


LIBRARY_RAISES = '''
import torch


class Misspelt(torch.nn.Module):
    def foward(self, x):  # the handout's forward, misspelt: torch's Module raises NotImplementedError
        return x


def misspelt_forward():
    return Misspelt()(torch.ones(1))


def kernel_missing():  # torch has no kernel for this dtype, as nll_loss on a GPU for float labels
    return torch.tensor([True, False]).lerp(torch.tensor([True, True]), 0.5)


def todo():
    raise NotImplementedError("write this function")
'''


@pytest.mark.parametrize(
    "name, kind, says",
    [
        (
            "misspelt_forward",
            FailureKind.EXCEPTION,
            'NotImplementedError: Module [Misspelt] is missing the required "forward"',
        ),
        (
            "kernel_missing",
            FailureKind.EXCEPTION,
            "NotImplementedError: \"lerp_kernel_scalar\" not implemented for 'Bool'",
        ),
        ("todo", FailureKind.NOT_IMPLEMENTED, "`todo` is not implemented yet (it raises NotImplementedError)"),
    ],
)
def test_a_libraries_not_implemented_is_the_students_error_not_a_stub_left(tmp_path, name, kind, says):
    """torch's NotImplementedError (a misspelt forward, a dtype without a kernel: a5's float labels on
    the GPU) was reported as the student's function "not implemented yet", the kind of a stub left as
    handed out (which the class overview leaves unlisted); only a ``raise`` of the student's own is."""
    import importlib.util

    path = tmp_path / "lib_mod.py"
    path.write_text(LIBRARY_RAISES)
    spec = importlib.util.spec_from_file_location("lib_mod", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    error = _reply_for(getattr(module, name), str(tmp_path))
    assert FailureKind(error["kind"]) is kind and says in error["message"], error
