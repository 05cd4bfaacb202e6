"""Helpers of a4's public and hidden checks. Shipped with the public checks: nothing here is hidden."""

from grader.checks import CheckFailure, FailureKind, PartialCredit, RunFailed, is_close

# Failures of the student's code worth a second run on the stand-ins: it raised (in the Decoder, say),
# or returned what the probe cannot use. Not a time or memory limit: a second run would pay it again.
RAISED = {FailureKind.EXCEPTION, FailureKind.NOT_IMPLEMENTED, FailureKind.PROBE_FAILURE, FailureKind.PROBE_ERROR}


def compare_on_its_own(judge, reference, details, probe, **args):
    """Seq2Seq.forward, greedy_decode and translate run the student's Encoder and Decoder, which have
    checks of their own: a mistake there would be charged again on every function that calls them.
    So where the student's model gives other results, or fails (a Decoder that raises), the function is
    run once more on the grader's stand-in encoder and decoder (probes.with_stand_ins); if it then gives
    the reference's results, its own logic is right and it earns its points, with a note saying where
    the difference comes from."""
    alone = reference.expected(probe, **args, stand_ins=True)  # asked always: the student copy ships it
    try:
        return judge.compare(probe, **args)
    except (CheckFailure, PartialCredit, RunFailed) as failure:
        if isinstance(failure, RunFailed) and failure.failure.kind not in RAISED:
            raise
        try:
            mine = judge.run(probe, **args, stand_ins=True)
        except Exception:  # the function fails on the stand-ins too: the first failure says why
            raise failure from None
        if not is_close(mine, alone, **judge.tolerance):
            raise failure from None
        if isinstance(failure, RunFailed):
            differ = f"it fails ({failure.failure.student_message().strip()[:300]})"
        else:
            differ = f"the results differ from the reference's ({failure.message.strip()[:300]})"
        details["note"] = (
            f"Judged on its own: with your Encoder and Decoder {differ}, but on the grader's stand-in "
            "encoder and decoder this function gives exactly the reference's results, so its own logic is right; the encoder and "
            "decoder checks judge where the difference comes from."
        )
