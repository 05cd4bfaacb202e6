"""Helpers of a1's public and hidden checks. Shipped with the public checks: nothing here is hidden."""

from contextlib import contextmanager

from grader.checks import CheckFailure, PartialCredit


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
