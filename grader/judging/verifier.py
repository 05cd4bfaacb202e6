"""The verifier: training outcomes measured from artefacts, never taken from the student's process.

A training probe returns the student's trained weights as plain arrays. Whatever else that process
says ("converged", "accuracy 0.9") is a claim it could forge. The verifier loads the weights into the
assignment's architecture (``assignments/<id>/verify.py``, written from the handout's specification)
and computes predictions on inputs the trusted side picks; targets and labels stay in the trusted
process, where the judge compares.

It runs as its own sandboxed worker, a separate process that never imports student code, under a
uid of its own: the weights reach it as data, the code it runs is the instructor's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from grader.course.model import AssignmentSpec
from grader.errors import FailureKind, RunFailed, SandboxError
from grader.judging.compare import CheckFailure
from grader.sandbox import Limits, LoadSpec
from grader.wire.codec import encode

ARCHITECTURE_MODULE = "architecture"  # an empty module: verify functions never touch student code
MEMO_ENTRIES = 256  # measured outcomes kept per verifier: the reference's runs recur for every student
# ... and the bytes of the requests they answer (their weights): a student's runs are kept too, and an
# isolation round's sums made one hostile a5 student leave 100-300 MB in the slot for the rest of a batch.
MEMO_MB = 64

# Appended to verify.py in the verifier: one request measures every run of a training check.
EACH = '''

def measure_each(_module, function, items, inputs):
    return {"outcomes": [globals()[function](_module, **item, **inputs) for item in items]}
'''


class VerifierError(RuntimeError):
    """The verifier itself failed: a problem of the grading setup, never the student's."""


class Verifier:
    """Runs the functions of one assignment's ``verify.py`` on artefacts (one worker per grader)."""

    def __init__(self, spec: AssignmentSpec, start_worker: Callable[[LoadSpec, Limits], Any]) -> None:
        """``start_worker(load, limits)``: a worker process for the verifier's code (the grader decides
        where it runs: see GradingSlot.verifier_for)."""
        self.spec = spec
        self._start_worker = start_worker
        self._worker: Any = None
        self._memo: dict[str, tuple[Any, int]] = {}  # request's hash -> (outcomes, request's bytes)

    def measure(self, function: str, **args: Any) -> Any:
        """``function(weights=..., inputs...)`` in the verifier; artefacts that do not fit the
        architecture fail the check with the verifier's message."""
        return self._call(function, args)

    def measure_each(self, function: str, items: list[dict[str, Any]], **inputs: Any) -> list[Any]:
        """``function(**item, **inputs)`` for every item (a training check's runs), in one request;
        the same request answered before (the reference's runs, for every student) is not sent again."""
        request = encode({"function": function, "items": items, "inputs": inputs})
        key = hashlib.sha256(request).hexdigest()
        if key in self._memo:
            self._memo[key] = self._memo.pop(key)  # asked again (the reference's runs): kept the longest
        else:
            outcomes = self._call("measure_each", {"function": function, "items": items, "inputs": inputs})
            self._memo[key] = (outcomes, len(request))
            while len(self._memo) > 1 and (
                len(self._memo) > MEMO_ENTRIES or sum(size for _, size in self._memo.values()) > MEMO_MB * 2**20
            ):
                self._memo.pop(next(iter(self._memo)))  # the least recently asked first
        outcomes, _ = self._memo[key]
        return list(outcomes["outcomes"])

    def _call(self, function: str, args: dict[str, Any]) -> Any:
        try:
            return self._get_worker().call(function, args, timeout=self.spec.limits.probe_timeout_s * 3)
        except RunFailed as error:
            if error.failure.kind is FailureKind.PROBE_FAILURE:  # raised by verify.py about the student's artefact
                raise CheckFailure(error.failure.message) from None
            raise VerifierError(f"the verifier failed on {function!r}: {error.failure.message}") from None
        except SandboxError as error:
            raise VerifierError(f"the verifier could not run: {error}") from None

    def _get_worker(self) -> Any:
        if self._worker is None:
            source = self.spec.verify_source()
            if source is None:
                raise VerifierError(f"{self.spec.id} has no verify.py")
            load = LoadSpec(
                module=ARCHITECTURE_MODULE,
                filename=f"{ARCHITECTURE_MODULE}.py",
                files={f"{ARCHITECTURE_MODULE}.py": b""},
                probes_source=source + EACH,
                device="cpu",
            )
            # One verifier serves a whole batch: no per-submission budget applies to it.
            limits = replace(self.spec.limits, submission_timeout_s=float("inf"), max_restarts=10**6, received_mb=0.0)
            self._worker = self._start_worker(load, limits)
        return self._worker

    def close(self) -> None:
        if self._worker is not None:
            self._worker.close()
            self._worker = None
