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

import functools
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
            f"Judged on its own: with your {yours} {differ}, but {instead} gives exactly the reference's "
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
    the student's code raises, the same failure with a sentence naming the first of ``parts`` that gets
    its own check's question wrong: ``(part, its check, probe, question)``, in the order the data flows.
    The training runs the student's whole pipeline, so its points stay lost, but the error shows where it
    was raised, not where it was caused (a teacher round: float labels from a5's SentimentDataset made
    every training check fail "in train_epoch", which was right). ``what`` names the call ("The training")."""
    try:
        return run()
    except RunFailed as failure:
        if failure.failure.kind is not FailureKind.EXCEPTION:
            raise
        for part, check, probe, question in parts:
            if not _passes(functools.partial(judge.compare, probe, **question)):
                raise RunFailed(
                    failure.failure.noted(
                        f". {what} runs your whole pipeline, and your {part} gets its own check's question "
                        f"wrong ({check}): fix it first, and {what[0].lower() + what[1:]} may pass too"
                    )
                ) from None
        raise
