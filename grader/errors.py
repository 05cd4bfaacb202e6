"""Failures attributed to the student's code, as the trusted side sees them.

Every way a submission can go wrong (an exception, a timeout, a crash, a forbidden API, garbage sent
back) arrives as a :class:`StudentError` with a ``kind`` and a message written for the student. The
pytest plugin turns these into failed checks; anything else raised in a check is a grader bug.
"""

from __future__ import annotations


class StudentError(Exception):
    """The student's code failed in a way the feedback should explain."""

    kind = "exception"

    def __init__(
        self, message: str, *, kind: str | None = None, where: str | None = None, traceback: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        if kind is not None:
            self.kind = kind
        self.where = where
        self.traceback = traceback

    @classmethod
    def from_reply(cls, error: dict) -> StudentError:
        kind = str(error.get("kind", "exception"))
        error_class = _BY_KIND.get(kind, StudentError)
        return error_class(
            str(error.get("message", "your code failed")),
            kind=kind,
            where=_optional_str(error.get("where")),
            traceback=_optional_str(error.get("traceback")),
        )


class ImportFailed(StudentError):
    kind = "import"


class ProbeTimeout(StudentError):
    kind = "timeout"


class WorkerCrashed(StudentError):
    kind = "crash"


class MalformedResult(StudentError):
    kind = "malformed"


class ForbiddenApi(StudentError):
    kind = "forbidden"


class BudgetExhausted(StudentError):
    kind = "budget"


class SandboxError(RuntimeError):
    """The grader could not start or talk to its worker: grading itself failed, not the student."""


def _optional_str(value: object) -> str | None:
    return None if value is None else str(value)


_BY_KIND = {"forbidden": ForbiddenApi, "timeout": ProbeTimeout, "crash": WorkerCrashed}


class CheckAuthoringError(RuntimeError):
    """The course's own material is wrong (a check asks for a probe that does not exist): found on
    the trusted side, so never the student's doing, and never charged to the student."""
