"""A function judged on its own: not charged again for a mistake in the graded parts it calls.

a2's train runs the student's forward, a3's SequenceClassifier runs their CraftRNN, a4's translate runs
their greedy_decode: each of those has checks of its own, and one slip there once cost every check of
every function that calls it too (a teacher round: init_hidden with its sizes swapped cost the loss
curves and predict, 25 points where a teacher gives about 60). So such a check, where it fails, runs
once more with the grader's stand-ins for the parts called; where that gives the reference's results,
the function's own logic is right and earns its points, with a note saying where the difference comes
from. The stand-ins are the check author's (a probe argument): they are handed to the student's
process, which may keep them, so they must do none of the work the handout asks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from grader.errors import FailureKind, RunFailed
from grader.judging.compare import CheckFailure, PartialCredit

# Failures of the student's code worth a second run on the stand-ins: it raised (in the called part,
# say), or returned what the probe cannot use. Not a time or memory limit: a second run would pay it again.
RAISED = frozenset(
    {FailureKind.EXCEPTION, FailureKind.NOT_IMPLEMENTED, FailureKind.PROBE_FAILURE, FailureKind.PROBE_ERROR}
)


def judged_on_its_own(
    judged: Callable[[], Any],
    on_stand_ins: Callable[[], Any],
    *,
    details: dict[str, Any],
    yours: str,
    instead: str,
    parts_differ: Callable[[], bool] | None = None,
) -> Any:
    """``judged()`` (the check's own comparison); where it fails because the results differ or the
    student's code raised, and ``parts_differ()`` (when given) says the parts it calls get their own
    checks' questions wrong, ``on_stand_ins()``: the same comparison with the grader's stand-ins for
    those parts. Where that passes, the check passes with a note; otherwise the first failure stands.

    ``yours`` names the student's parts ("Encoder and Decoder"), ``instead`` the second run ("on the
    grader's stand-in encoder and decoder this function"). ``parts_differ`` keeps the rescue to where
    the parts can explain the difference (a regression round: an a2 init_hidden that returned the last
    forward's state passed its own check, and its curves were rescued to 100). What ``details`` held after
    the first comparison (its plot: the student's own curve) is what the check shows."""
    try:
        return judged()
    except (CheckFailure, PartialCredit, RunFailed) as failure:
        if isinstance(failure, RunFailed) and failure.failure.kind not in RAISED:
            raise
        shown = dict(details)
        try:
            rescued = (parts_differ is None or parts_differ()) and _passes(on_stand_ins)
        finally:
            details.clear()
            details.update(shown)
        if not rescued:
            raise failure from None
        if isinstance(failure, RunFailed):
            differ = f"it fails ({failure.failure.student_message().strip()[:300]})"
        else:  # how they differ would show the expected values, on a passed check (handback.py)
            differ = "the results differ from the reference's"
        details["note"] = (
            f"Judged on its own: with your {yours}, {differ}, but {instead} gives exactly the reference's "
            f"results, so its own logic is right; the checks of {yours} judge where the difference comes from."
        )
        return None


def _passes(comparison: Callable[[], Any]) -> bool:
    try:
        comparison()
    except Exception:  # the function fails on the stand-ins too: the first failure says why
        return False
    return True


def naming_the_wrong_part(
    judge: Any, run: Callable[[], Any], parts: Sequence[tuple[str, str, str, dict[str, Any]]], *, what: str
) -> Any:
    """``run()`` (a call that runs many graded parts of the student's code: a whole training), and where
    the student's code raises, the same failure with a sentence naming the part that caused it, among
    ``parts`` (``(part, its check, probe, question)``, in the order the data flows): the first whose own
    check's question raises the same error; or, where none raises at all, the first whose own check's
    question gives other results than the reference's (a teacher round: float labels from a5's
    SentimentDataset made every training check fail "in train_epoch", which was right). Where parts raise
    other errors, none is named: a regression round's train_epoch that left out the lengths was blamed on
    a wrong encode. The training runs the student's whole pipeline, so its points stay lost; the sentence
    says where to look. ``what`` names the call ("The training")."""
    try:
        return run()
    except RunFailed as failure:
        if failure.failure.kind is not FailureKind.EXCEPTION:
            raise
        cause = _cause(judge, failure.failure.message, parts)
        if cause is None:
            raise
        part, check = cause
        raise RunFailed(
            failure.failure.noted(
                f"{'' if failure.failure.message.rstrip().endswith('.') else '.'} {what} runs your whole pipeline, "
                f"and your {part} gets its own check's question wrong ({check}): fix it first, and "
                f"{what[0].lower() + what[1:]} may pass too"
            )
        ) from None


def first_wrong_part(judge: Any, parts: Sequence[tuple[str, str, str, dict[str, Any]]]) -> tuple[str, str] | None:
    """(part, its check) of the first of ``parts`` (as for :func:`naming_the_wrong_part`) whose own
    check's question gives other results than the reference's, or fails; None where all are right.
    For a training that ran but learned too little: a fairness round's collate_fn that took the
    lengths after padding was named by its own check, and the training checks said only that the
    accuracy was too low. The answers are those the parts' checks got (one question, one answer)."""
    for part, check, probe, question in parts:
        try:
            judge.compare(probe, **question)
        except (CheckFailure, PartialCredit, RunFailed):
            return part, check
    return None


def _cause(judge: Any, error: str, parts: Sequence[tuple[str, str, str, dict[str, Any]]]) -> tuple[str, str] | None:
    differs: tuple[str, str] | None = None
    raises_otherwise = False
    for part, check, probe, question in parts:
        try:
            judge.compare(probe, **question)
        except RunFailed as raised:
            if raised.failure.kind is not FailureKind.EXCEPTION:  # its result is unusable, or missing
                differs = differs or (part, check)
            elif raised.failure.message == error:
                return part, check
            else:
                raises_otherwise = True
        except (CheckFailure, PartialCredit):
            differs = differs or (part, check)
    return None if raises_otherwise else differs
