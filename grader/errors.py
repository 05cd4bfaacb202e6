"""Failures of code run in a worker, as the trusted side sees them, and the grader's own errors.

Every way a run can go wrong (the student's code raises, loops, crashes, uses a forbidden API, sends
garbage back, or the grader fails inside the worker) is one value, a :class:`Failure`: a
:class:`FailureKind`, a message written for the student, and what the layers above add to it (the
limit a call was stopped under, the catalogued mistake that fails alike). It travels up as the one
exception :class:`RunFailed`. The pytest plugin turns it into a failed check, or into a grader error
where the kind says the grader is at fault; anything else raised in a check is a grader bug.

The worker names a failure's kind with a string (``{"kind": "timeout", ...}``, see inside/child.py);
:meth:`Failure.from_reply` is the one place where that string becomes a kind, and a string it does
not know is the grader's failure, never the student's.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from typing import Any, Protocol


class Mistake(Protocol):
    """A catalogued mistake as a failure names it (grader.course.mistakes.Mistake is one); typed here so
    that this bottom layer knows no course."""

    @property
    def id(self) -> str: ...

    def feedback(self) -> str: ...


MAX_UNKNOWN_KIND = 60  # characters of an unknown kind quoted in the message (the reply may be forged)


class FailureKind(enum.Enum):
    """What went wrong. The values are the wire's strings (inside/child.py sends the first group)."""

    # Reported by the worker, about the student's code:
    EXCEPTION = "exception"  # it raised
    NOT_IMPLEMENTED = "not_implemented"  # it raised NotImplementedError: a stub left as handed out
    EXIT = "exit"  # it called sys.exit
    INTERRUPT = "interrupt"  # it raised KeyboardInterrupt
    MEMORY = "memory"  # it raised MemoryError: the memory limit was reached
    SYNTAX = "syntax"  # a SyntaxError while it ran (a file it imports, an exec)
    TIMEOUT = "timeout"  # it ran past a time limit (stopped here, or not rerun after an earlier timeout)
    FORBIDDEN = "forbidden"  # it used an API the assignment does not allow
    PROBE_FAILURE = "probe_failure"  # the probe (or verify.py) refused what it returned or produced
    PROBE_ERROR = "probe_error"  # the probe could not use what it returned
    # Found by the trusted side:
    IMPORT = "import"  # the module could not be imported, or not even started
    CRASH = "crash"  # its process died
    MALFORMED = "malformed"  # its process sent back data the grader cannot read
    BUDGET = "budget"  # the assignment's time or restart budget was used up
    # The grader's own failure (a worker's "no probe named ...", a kind this grader does not know):
    GRADER = "grader"

    @property
    def students(self) -> bool:
        """Whether the student's code is the cause (everything but a grader failure)."""
        return self is not FailureKind.GRADER


# The kinds a worker may report; any other string in a reply (or a trusted-side kind claimed by the
# worker, which runs the student's code) is the grader's failure.
REPORTED_BY_WORKER = frozenset(
    {
        FailureKind.EXCEPTION,
        FailureKind.NOT_IMPLEMENTED,
        FailureKind.EXIT,
        FailureKind.INTERRUPT,
        FailureKind.MEMORY,
        FailureKind.SYNTAX,
        FailureKind.TIMEOUT,
        FailureKind.FORBIDDEN,
        FailureKind.PROBE_FAILURE,
        FailureKind.PROBE_ERROR,
        FailureKind.GRADER,
    }
)


@dataclass(frozen=True)
class Failure:
    """One failed run, as a value: what happened, said for the student, and where."""

    kind: FailureKind
    message: str  # one line for the student (for GRADER: for the instructor, the student is told it is not theirs)
    where: str | None = None  # "srn.py, line 12, in rnn_step": the innermost line of the student's code
    traceback: str | None = None  # the student's frames only
    limit_s: float | None = None  # TIMEOUT: the limit the trusted side stopped this very call under
    mistake: Mistake | None = None  # the catalogued mistake whose code fails alike (set by the judge)
    # GRADER only: said by the process that runs the student's code (its own or an unknown kind), so
    # possibly the student's doing: counted at 0 and never worded as "not your fault".
    claimed: bool = False

    @classmethod
    def from_reply(cls, error: object) -> Failure:
        """The worker's ``{"kind", "message", "where", "traceback"}``, as a Failure: the one place
        the wire's kind strings are read."""
        fields: dict[str, Any] = error if isinstance(error, dict) else {}
        message = _optional_str(fields.get("message")) or "your code failed"
        raw = fields.get("kind")
        kind = next((k for k in REPORTED_BY_WORKER if k.value == raw), None)
        if kind is None:
            quoted = repr(raw)[:MAX_UNKNOWN_KIND]
            return cls(
                FailureKind.GRADER,
                f"the grading worker reported a failure of unknown kind {quoted}: {message}",
                claimed=True,
            )
        return cls(
            kind,
            message,
            where=_optional_str(fields.get("where")),
            traceback=_optional_str(fields.get("traceback")),
            claimed=kind is FailureKind.GRADER,
        )

    def noted(self, note: str) -> Failure:
        """The same failure with ``note`` added to its message."""
        return replace(self, message=self.message + note)

    def student_message(self) -> str:
        """What the feedback says about this failure."""
        if self.claimed:
            return (
                "the process that runs your code reported a failure of the grader's, which may be your code's "
                f"doing, so the check counts as 0 until an instructor looks: {self.message}"
            )
        if not self.kind.students:
            return f"the grader could not run this check (not your fault): {self.message}"
        where = f" ({self.where})" if self.where and self.where not in self.message else ""
        return self.message + where


class RunFailed(Exception):
    """Code run in a worker failed: the :class:`Failure` says how, and whose fault it is."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.failure,))


class SandboxError(RuntimeError):
    """The grader could not start or talk to its worker: grading itself failed, not the student."""


def _optional_str(value: object) -> str | None:
    return None if value is None else str(value)


class CheckAuthoringError(RuntimeError):
    """The course's own material is wrong (a check asks for a probe that does not exist): found on
    the trusted side, so never the student's doing, and never charged to the student."""
