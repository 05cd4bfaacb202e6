"""The verifier: training outcomes measured from artefacts, never taken from the student's process.

A training probe returns the student's trained weights as plain arrays. Whatever else that process
says ("converged", "accuracy 0.9") is a claim it could forge. The verifier loads the weights into the
assignment's architecture (``assignments/<id>/verify.py``, written from the handout's specification)
and computes predictions on inputs the trusted side picks; targets and labels stay in the trusted
process, where the judge compares.

It runs as its own sandboxed worker, a separate process that never imports student code: the
weights reach it as data, the code it runs is the instructor's.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

from .course import AssignmentSpec
from .errors import SandboxError, StudentError
from .judge import CheckFailure
from .sandbox import LoadSpec, Sandbox

ARCHITECTURE_MODULE = "architecture"  # an empty module: verify functions never touch student code


class VerifierError(RuntimeError):
    """The verifier itself failed: a problem of the grading setup, never the student's."""


class Verifier:
    """Runs the functions of one assignment's ``verify.py`` on artefacts (one worker per grader)."""

    def __init__(self, spec: AssignmentSpec, sandbox: Callable[[], Sandbox]) -> None:
        self.spec = spec
        self._sandbox = sandbox
        self._worker: Any = None

    def measure(self, function: str, **args: Any) -> Any:
        """``function(weights=..., inputs...)`` in the verifier; artefacts that do not fit the
        architecture fail the check with the verifier's message."""
        try:
            return self._get_worker().call(function, args, timeout=self.spec.limits.probe_timeout_s * 3)
        except StudentError as error:
            if error.kind == "probe_failure":  # raised by verify.py about the student's artefact
                raise CheckFailure(error.message) from None
            raise VerifierError(f"the verifier failed on {function!r}: {error.message}") from None
        except SandboxError as error:
            raise VerifierError(f"the verifier could not run: {error}") from None

    def _get_worker(self) -> Any:
        if self._worker is None:
            source = self.spec.verify_source()
            if source is None:
                raise VerifierError(f"{self.spec.id} has no verify.py")
            load = LoadSpec(module=ARCHITECTURE_MODULE, filename=f"{ARCHITECTURE_MODULE}.py",
                            files={f"{ARCHITECTURE_MODULE}.py": b""}, probes_source=source, device="cpu")
            # One verifier serves a whole batch: no per-submission budget applies to it.
            limits = replace(self.spec.limits, submission_timeout_s=float("inf"), max_restarts=10**6)
            self._worker = self._sandbox().worker(load, limits)
        return self._worker

    def close(self) -> None:
        if self._worker is not None:
            self._worker.close()
            self._worker = None
