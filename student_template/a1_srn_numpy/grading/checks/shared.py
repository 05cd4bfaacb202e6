"""Helpers of a1's public and hidden checks. Shipped with the public checks: nothing here is hidden."""

from grader.checks import CheckFailure


def require_backpropagation(static, filename):
    """The gradient checks grade backpropagation through time. A backward that differentiates the forward
    numerically in complex, extended or exact arithmetic gives the same gradients to the last digit, so
    the values cannot tell them apart: the code's arithmetic does (assignment.toml's flagged_arithmetic)."""
    if static.arithmetic:
        raise CheckFailure(static.describe_arithmetic(filename))
