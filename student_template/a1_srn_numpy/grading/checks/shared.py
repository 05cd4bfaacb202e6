"""Helpers of a1's public and hidden checks. Shipped with the public checks: nothing here is hidden."""

from contextlib import contextmanager

import numpy as np

from grader.checks import CheckFailure, FailureKind, PartialCredit, RunFailed

# How closely a forward's hidden states must follow the specified network's (their correlation on the
# same inputs) for the checks that credit how the work is done rather than its values. The network with
# a catalogued slip stays at 0.68 and above on the checks' inputs, but for h0 ignored where T=1 (0.49);
# without recurrence, with W_hh not transposed or another activation, 0.7 and above. A hostile round's
# forward returning the sum of all inputs everywhere (whose one-line backward agreed with it) scored
# -0.14, a running sum of the inputs 0.14; it earned 15 points where the work earns 0.
MIN_RESEMBLANCE = 0.3


@contextmanager
def backpropagation_required(static, filename):
    """The gradient checks grade backpropagation through time. A backward that differentiates the forward
    mechanically (complex step, differences in extended or exact arithmetic, dual numbers) gives the same
    gradients to the last digit, so the values cannot tell them apart: the code's arithmetic does
    (assignment.toml's flagged_arithmetic), and code the scan cannot read (exec of a built string) could
    hide it. Such code earns none of the check's points. The comparison runs first, so a backward that
    fails anyway is told why it fails (a cheat reaching for torch finds it absent)."""
    try:
        yield
    except PartialCredit:
        _refuse_flagged(static, filename)
        raise
    _refuse_flagged(static, filename)


def _refuse_flagged(static, filename):
    if static.arithmetic:
        raise CheckFailure(static.describe_arithmetic(filename))
    if static.integrity:
        raise CheckFailure(
            f"{static.describe_integrity(filename)}: code the scan cannot read could compute the gradients "
            "another way than backpropagation, so these points wait for your instructor's review"
        )


def resemblance(mine, specified):
    """The correlation of a forward's hidden states with the specified network's on the same inputs
    (h0 kept in front is allowed); 0 where there is nothing to correlate."""
    try:
        mine, specified = np.asarray(mine, dtype=np.float64), np.asarray(specified, dtype=np.float64)
    except (TypeError, ValueError):
        return 0.0
    if mine.shape == (specified.shape[0] + 1, *specified.shape[1:]):
        mine = mine[1:]
    if mine.shape != specified.shape or mine.size < 3 or not np.isfinite(mine).all():
        return 0.0
    if mine.std() == 0 or specified.std() == 0:
        return 0.0
    return float(np.corrcoef(mine.ravel(), specified.ravel())[0, 1])


def require_a_recurrent_network(mine, specified, what):
    """Fail ``what`` (a check crediting how the work is done) unless the forward is the network, slips
    allowed: a function that is none earns nothing for agreeing with itself."""
    found = resemblance(mine, specified)
    found = 0.0 if abs(found) < 0.005 else found  # shown as 0.00, not -0.00
    if found < MIN_RESEMBLANCE:
        raise CheckFailure(
            f"rnn_forward's hidden states do not follow the specified network's (correlation {found:.2f} on the "
            f"same inputs, {MIN_RESEMBLANCE} needed): {what} is credited for a forward that computes the "
            "recurrent network, a slip allowed, so fix rnn_forward first (see the forward checks)"
        )


# The share of a backward check's points that an answer on the nearer question (D = H) earns. A
# backward judged only where D = H cannot show the mistakes that need D != H (a carried gradient or a
# weight gradient shaped by the wrong size); a regression round's forward that raised on purpose
# wherever D != H earned a backward that works only there its full points (70 where the same work with
# a right forward earns 60). At 3/4, that costs more than it brings (30 + 30 = 60).
NEARER_QUESTION_SHARE = 0.75


def on_a_question_the_forward_answers(judge, reference, details, probe, case, judged_at, forward_questions):
    """``judged_at(case)``, a check of rnn_backward through ``probe`` (which runs the student's
    rnn_forward first, for its cache); where rnn_forward raises on that question, the same check asked
    with D = H, the nearest question such a forward often answers (a teacher round: ``hs =
    np.zeros_like(x)`` raised wherever D != H, and a right rnn_backward lost all 40 of its points to the
    forward's traceback). Where rnn_backward then gives the reference's gradients, it earns
    :data:`NEARER_QUESTION_SHARE` of its points with a note; the forward checks keep charging the
    forward. The reference's answer to the nearer question is asked always, so that the student copy
    ships it.

    Only a forward that raises on every question of the forward checks (``forward_questions``, each
    with its seed) where D != H, as that slip does, is such a forward: a hostile round's rnn_forward
    raised on the inputs a failed backward had seen and nowhere else, so the forward checks charged
    nothing, and a backward that works only where D = H earned 90 where the work earns 60."""
    nearer = dict(case, D=case["H"])
    reference.expected(probe, **nearer)

    def raises(question):
        try:
            judge.run("forward", **question)
        except RunFailed as failure:
            return failure.failure.kind is FailureKind.EXCEPTION
        return False

    def forward_raises():
        question = {key: case[key] for key in ("T", "B", "D", "H", "activation", "seed", "h0") if key in case}
        elsewhere = [asked for asked in forward_questions if asked["D"] != asked["H"]]
        return raises(question) and bool(elsewhere) and all(raises(asked) for asked in elsewhere)

    try:
        return judged_at(case)
    except RunFailed as failure:
        if failure.failure.kind is not FailureKind.EXCEPTION or case["D"] == case["H"] or not forward_raises():
            raise
        first = failure
    shown = dict(details)
    try:
        judged_at(nearer)
    except Exception:  # wrong there too, or failing otherwise: the first failure says why
        details.clear()
        details.update(shown)
        raise first from None
    raise PartialCredit(
        NEARER_QUESTION_SHARE,
        f"Judged on its own: your rnn_forward fails on this check's question "
        f"({first.failure.student_message().strip()[:300]}), so rnn_backward was asked with D = H = {case['H']}, "
        f"a question your rnn_forward answers, and gives the reference's gradients there. Asked only with D = H, "
        f"it earns {NEARER_QUESTION_SHARE:.0%} of the points: mistakes that need D != H cannot show there; the "
        "forward checks judge rnn_forward.",
    )
