"""Stored probe outputs: what the student's process answered, recorded while grading, replayed to re-judge.

While the checks run, every probe call the trusted side makes on the student's worker (probe, the
arguments and seed really asked, i.e. after official grading's fresh seeds) is recorded with the
answer: the plain data, or the failure (kind, message, where, traceback, limit). The verifier's answers
are recorded too, keyed by a hash of what it was asked (the student's trained weights included), with
a fingerprint of ``verify.py``: a verifier that changed is run again rather than replayed.

The recording is kept inside the assignment's result (``AssignmentResult.recorded``): one frame in
the wire format of :mod:`grader.wire.codec` (arrays as raw bytes, so floats keep every bit),
compressed and base64-encoded (:mod:`grader.report.recorded`). Inside the result, and not in a file beside it, because a result
travels as one document: from slot processes and Dask workers (``to_dict``) to the one place that
writes it, atomically; a side file could disagree with the result it belongs to after a crash or a
``--resume``. It is bounded (:data:`MAX_RECORDED_BYTES`): past that, the largest answers are left out,
and a re-judge that needs one of them says the student needs a regrade.

Only the trusted side writes it (the grading process, from the values it received); the student's
process never sees it. Replaying it (:class:`ReplayWorker`) answers the same calls without a sandbox:
a call that was not recorded means the check's probes or arguments changed, and is counted as a miss.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from grader.errors import Failure, FailureKind, RunFailed
from grader.judging.compare import CheckFailure
from grader.judging.expected import call_key
from grader.judging.verifier import VerifierError
from grader.report.recorded import pack_measured, resolve_repeats, unpack
from grader.wire.codec import encode

MAX_RECORDED_BYTES = 4 * 2**20  # one assignment's recording, compressed and encoded (what the JSON holds)


def fingerprint(text: str | None) -> str:
    return hashlib.sha256((text or "").encode("utf-8")).hexdigest()[:16]


_LAST_KEY: list[Any] = [None, None, ""]  # (function, the argument objects themselves, key): see verifier_key


def verifier_key(function: str, args: dict[str, Any]) -> str:
    """A digest of a verifier request (the student's weights included). Replaying, the recording wrapper
    and the replaying verifier ask for the same request in a row: the second is not encoded again
    (the objects are held, so their ids cannot be reused, and nothing changes them in between)."""
    values = tuple(args.items())
    last_function, last_values, last_key = _LAST_KEY
    if function == last_function and last_values is not None and len(values) == len(last_values):
        if all(a[0] == b[0] and _same(a[1], b[1]) for a, b in zip(values, last_values)):
            return str(last_key)
    key = hashlib.sha256(encode({"function": function, "args": args})).hexdigest()
    _LAST_KEY[:] = [function, values, key]
    return key


def _same(first: Any, second: Any) -> bool:
    """The same objects (a dict rebuilt from keyword arguments: the same objects in it)."""
    if first is second:
        return True
    if isinstance(first, dict) and isinstance(second, dict) and first.keys() == second.keys():
        return all(first[key] is second[key] for key in first)
    return False


def _failure_dict(failure: Failure) -> dict[str, Any]:
    return {
        "kind": failure.kind.value,
        "message": failure.message,
        "where": failure.where,
        "traceback": failure.traceback,
        "limit_s": failure.limit_s,
    }


def _failure_from(data: dict[str, Any]) -> Failure:
    kind = next((k for k in FailureKind if k.value == data.get("kind")), FailureKind.GRADER)
    return Failure(
        kind,
        str(data.get("message") or ""),
        where=data.get("where"),
        traceback=data.get("traceback"),
        limit_s=data.get("limit_s"),
    )


@dataclass
class Recording:
    """One assignment's recorded calls: student probe calls in order, and the verifier's answers."""

    probes_hash: str = ""  # of the probes' source: changed probes cannot be replayed
    verify_hash: str = ""  # of verify.py: a changed verifier is run again
    calls: list[dict[str, Any]] = field(default_factory=list)  # see grader.report.recorded
    check: str = ""  # the check running now: each call says which check asked it
    verifier: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> {"ok", "data"|"error", "kind"}
    # key -> (its first call's index in ``calls``, ok, the data or the failure): never stored, see student_call
    answers: dict[str, tuple[int, bool, Any]] = field(default_factory=dict, repr=False, compare=False)

    # -- recording (trusted side, while grading) --------------------------------------------------

    def student_call(self, probe: str, args: dict[str, Any], seed: int, call: Callable[[], Any]) -> Any:
        """Run ``call`` (the worker's) and record what it answered. One question, one answer: a call asked
        before in this grading (the same probe, arguments and seed) gets the answer it got then, and the
        student's code is not asked again. A rescue that asks whether the parts a function calls get their
        own checks' questions wrong (grader.checks.judged_on_its_own) then sees what those checks saw: a
        hostile round's init_hidden and tokenize answered right to their checks and wrong when asked again,
        and the functions calling them were rescued on the grader's stand-ins (a2 70, a5 100 where the work
        earns 50 and 91.49). Not kept: a failure of the grader's own, or a used-up time budget."""
        key = call_key(probe, args, seed)
        if key in self.answers:
            first, ok, answer = self.answers[key]
            # stored as a reference to the first: a hostile round's 14 MB answer, asked again by every
            # rescue, once took the grader's process to 681 MB
            self.calls.append({"key": key, "check": self.check, "repeat": first})
            if ok:
                return copy.deepcopy(answer)  # a check that changes what it got cannot change it for the next
            raise RunFailed(answer)
        index = len(self.calls)
        try:
            data = call()
        except RunFailed as error:
            self.calls.append({"key": key, "check": self.check, "ok": False, "failure": _failure_dict(error.failure)})
            if error.failure.kind not in (FailureKind.GRADER, FailureKind.BUDGET):
                self.answers[key] = (index, False, error.failure)
            raise
        kept = copy.deepcopy(data)  # what is stored and answered again, out of the checks' reach
        self.calls.append({"key": key, "check": self.check, "ok": True, "data": kept})
        self.answers[key] = (index, True, kept)
        return data

    def resolved_calls(self) -> list[dict[str, Any]]:
        """The calls, a repeat given its first call's answer (see :func:`resolve_repeats`)."""
        return resolve_repeats(self.calls)

    def verifier_call(self, function: str, args: dict[str, Any], call: Callable[[], Any]) -> Any:
        key = verifier_key(function, args)
        try:
            data = call()
        except CheckFailure as error:
            self.verifier[key] = {"ok": False, "kind": "check", "error": error.message}
            raise
        except VerifierError as error:
            self.verifier[key] = {"ok": False, "kind": "verifier", "error": str(error)}
            raise
        self.verifier[key] = {"ok": True, "data": data}
        return data

    # -- storage ----------------------------------------------------------------------------------

    def encode(self, limit: int = MAX_RECORDED_BYTES) -> str:
        """The recording as text for the result JSON, within ``limit`` characters: the largest answers
        are left out first (a replay that needs one asks for a regrade).

        Each answer's size is measured once, and as many are left out at a time as the last
        compression's ratio says must go: compressing megabytes costs about a second, so a student who
        returns huge answers must not cost one compression per answer left out (it cost 6.5 s)."""
        calls = list(self.calls)
        verifier = dict(self.verifier)
        largest_first: list[tuple[int, int | str]] | None = None
        while True:
            document = {"probes": self.probes_hash, "verify": self.verify_hash, "calls": calls, "verifier": verifier}
            try:
                text, raw = pack_measured(document)
            except TypeError:  # data the codec cannot write (never expected: it came through the codec)
                return ""
            if len(text) <= limit:
                return text
            if largest_first is None:
                largest_first = sorted(
                    [(len(encode(c.get("data"))), i) for i, c in enumerate(calls) if "data" in c]
                    + [(len(encode(v.get("data"))), k) for k, v in verifier.items() if "data" in v],
                    key=lambda item: item[0],
                    reverse=True,
                )
            if not largest_first:
                return ""
            ratio = len(text) / max(raw, 1)  # characters of text per byte of frame
            excess = raw - 0.9 * limit / ratio  # frame bytes to leave out (with a margin)
            while largest_first and excess > 0:
                size, where = largest_first.pop(0)
                excess -= size
                if isinstance(where, int):  # a student's answer: its key stays, so a replay knows it was there
                    kept = calls[where]
                    calls[where] = {"key": kept["key"], "check": kept.get("check"), "left_out": True}
                else:
                    verifier.pop(where)

    @classmethod
    def decode(cls, text: str) -> Recording | None:
        """The recording stored in a result, or None where there is none or it cannot be read."""
        document = unpack(text)
        if document is None:
            return None
        return cls(
            probes_hash=str(document.get("probes") or ""),
            verify_hash=str(document.get("verify") or ""),
            calls=[c for c in document.get("calls") or [] if isinstance(c, dict)],
            verifier={k: v for k, v in (document.get("verifier") or {}).items() if isinstance(v, dict)},
        )


class RecordingVerifier:
    """The ``verifier`` fixture while grading: the real verifier, its answers recorded."""

    def __init__(self, verifier: Any, recording: Recording) -> None:
        self._verifier = verifier
        self._recording = recording

    def measure(self, function: str, **args: Any) -> Any:
        return self._recording.verifier_call(function, args, lambda: self._verifier.measure(function, **args))

    def measure_each(self, function: str, items: list[dict[str, Any]], **inputs: Any) -> list[Any]:
        args = {"items": items, "inputs": inputs, "each": True}
        return self._recording.verifier_call(
            function, args, lambda: self._verifier.measure_each(function, items, **inputs)
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._verifier, name)


# -- replay (rejudge: no student code runs) ---------------------------------------------------------


class NotRecorded(RunFailed):
    """A probe call the recording does not hold: the check asks something it did not ask before."""


class StoredOutput:
    """What the student's code printed, as it was split (before and after the hidden checks began),
    where no code runs now: re-judging (the stored output), or a module that could not start (none)."""

    def __init__(self, text: str = "", after_mark: str = "") -> None:
        self._text = text
        self._after_mark = after_mark

    def text(self) -> str:
        return self._text

    def text_after_mark(self) -> str:
        return self._after_mark

    def mark(self) -> None:
        pass


class ReplayWorker:
    """Stands in for the student's worker: answers each call from the recording, in the order the
    calls were made (a call asked twice gets its answers in turn, then the last one again)."""

    def __init__(self, recording: Recording, output: str = "", hidden_output: str = "") -> None:
        self.output = StoredOutput(output, hidden_output)
        # As the real worker's: non-empty once a call timed out (StudentRunner then caps later limits).
        self.hanging: dict[str, str] = {}
        self.misses: list[str] = []
        self._answers: dict[str, list[dict[str, Any]]] = {}
        for call in recording.resolved_calls():
            self._answers.setdefault(str(call.get("key")), []).append(call)
        self._used: dict[str, int] = {}

    def call(self, probe: str, args: dict[str, Any], seed: int = 0, **_: Any) -> Any:
        key = call_key(probe, args, seed)
        answers = self._answers.get(key)
        if not answers:
            self.misses.append(f"{probe}({_short(args)}, seed={seed}) was not asked when this student was graded")
            raise NotRecorded(Failure(FailureKind.GRADER, f"the probe call {probe} was not recorded"))
        index = self._used.get(key, 0)
        self._used[key] = index + 1
        answer = answers[min(index, len(answers) - 1)]
        if answer.get("left_out"):
            self.misses.append(f"the answer to {probe}({_short(args)}) was too large to keep")
            raise NotRecorded(Failure(FailureKind.GRADER, f"the answer to {probe} was not kept"))
        if answer.get("ok"):
            return answer.get("data")
        failure = _failure_from(answer.get("failure") or {})
        if failure.kind is FailureKind.TIMEOUT:
            self.hanging[probe] = failure.message
        raise RunFailed(failure)

    def close(self) -> None:
        pass


class ReplayVerifier:
    """Answers the verifier's questions from the recording; one it does not hold goes to ``fallback``
    (the real verifier, which runs the instructor's verify.py on the stored weights, never student code)."""

    def __init__(self, recording: Recording, fallback: Callable[[], Any] | None) -> None:
        self._answers = recording.verifier
        self._fallback = fallback
        self.misses = 0

    def _answer(self, function: str, args: dict[str, Any], real: Callable[[Any], Any]) -> Any:
        answer = self._answers.get(verifier_key(function, args))
        if answer is None:
            self.misses += 1
            if self._fallback is None:
                raise VerifierError("the verifier's answer was not recorded and no verifier is available")
            return real(self._fallback())
        if answer.get("ok"):
            return answer.get("data")
        if answer.get("kind") == "check":
            raise CheckFailure(str(answer.get("error")))
        raise VerifierError(str(answer.get("error")))

    def measure(self, function: str, **args: Any) -> Any:
        return self._answer(function, args, lambda verifier: verifier.measure(function, **args))

    def measure_each(self, function: str, items: list[dict[str, Any]], **inputs: Any) -> list[Any]:
        args = {"items": items, "inputs": inputs, "each": True}
        return self._answer(function, args, lambda verifier: verifier.measure_each(function, items, **inputs))


def _short(args: dict[str, Any], limit: int = 80) -> str:
    text = ", ".join(f"{k}={v!r}" for k, v in args.items())
    return text if len(text) <= limit else text[: limit - 1] + "…"
