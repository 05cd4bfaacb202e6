"""Hidden checks of a1 (65 points): more shapes, every activation, h0=None, T=1, and a gradient check."""

import numpy as np
import pytest

from grader.checks import CheckFailure, PartialCredit, assert_close, hidden, is_close, points

from .shared import backpropagation_required, on_a_question_the_forward_answers, require_a_recurrent_network

pytestmark = hidden

FORWARD_CASES = [
    dict(T=7, B=2, D=3, H=5, activation="tanh", h0=False),
    dict(T=6, B=4, D=5, H=3, activation="relu", h0=True),
    dict(T=5, B=3, D=2, H=4, activation="identity", h0=False),
    dict(T=1, B=2, D=3, H=4, activation="tanh", h0=True),
    dict(T=9, B=1, D=4, H=16, activation="relu", h0=False),
]
BACKWARD_CASES = [
    dict(T=6, B=3, D=4, H=5, activation="tanh", h0=False),
    dict(T=5, B=2, D=3, H=4, activation="relu", h0=True),
    dict(T=4, B=3, D=2, H=3, activation="identity", h0=True),
    dict(T=1, B=2, D=3, H=4, activation="tanh", h0=True),
    dict(T=8, B=4, D=3, H=6, activation="tanh", h0=True),
]


FORWARD_QUESTIONS = [dict(**case, seed=22) for case in FORWARD_CASES]  # as test_forward_configurations asks them


def _label(case):
    return f"{case['activation']}-T{case['T']}-{'h0' if case['h0'] else 'no_h0'}"


@points(10)
@pytest.mark.parametrize("activation", ["relu", "identity"])
def test_rnn_step_activations(judge, activation):
    """rnn_step with the other activations"""
    judge.compare("step", B=2, D=3, H=5, activation=activation, seed=21, check_dtype=True)


@points(20)
@pytest.mark.parametrize("case", FORWARD_CASES, ids=_label)
def test_forward_configurations(judge, case):
    """rnn_forward equals torch.nn.RNN"""
    judge.compare("forward", **case, seed=22, check_dtype=True)


@points(25)
@pytest.mark.parametrize("case", BACKWARD_CASES, ids=_label)
def test_backward_configurations(judge, reference, static, filename, details, case):
    """rnn_backward equals torch autograd (each gradient a sixth)"""
    with backpropagation_required(static, filename):
        on_a_question_the_forward_answers(
            judge,
            reference,
            details,
            "backward",
            dict(**case, seed=23),
            lambda asked: judge.compare("backward", **asked, rtol=1e-9, atol=1e-10, check_dtype=True, per_key="grads"),
            FORWARD_QUESTIONS,
        )


# The gradient check holds rnn_backward to the student's own rnn_forward, so it runs on the inputs of
# the forward checks (each case's share, 2.5 points, is below the 4 that forward check is worth; the
# case of one sequence is left out, where summing over the batch and averaging agree) and holds
# the forward it differentiates to that check's answer: a forward simplified for this check's inputs
# alone (so that a trivial backward agrees with it) then fails the forward check it shares them with,
# and one that answers by which check asks fails here.
GRADIENT_CASES = [dict(**case, seed=22) for case in FORWARD_CASES if case["B"] > 1]


@points(10)
@pytest.mark.parametrize("forward_call", GRADIENT_CASES, ids=_label)
def test_gradient_check(judge, reference, static, filename, details, forward_call):
    """rnn_backward agrees with numerical gradients of your own rnn_forward (each gradient a sixth)"""
    with backpropagation_required(static, filename):
        on_a_question_the_forward_answers(
            judge,
            reference,
            details,
            "gradient_check",
            forward_call,
            lambda asked: _judge_gradient_check(judge, reference, asked),
            FORWARD_QUESTIONS,
        )


def _judge_gradient_check(judge, reference, call):
    result = judge.run("gradient_check", **call)
    _same_forward_as_graded(judge, result, call)
    numeric = result.get("numeric") if isinstance(result, dict) else None
    # Where the forward computes the specified states, its derivative is the specified one: the
    # reference's differences stand for the student's, whose perturbed calls are only the student's
    # word (a forward that recognised them answered with the derivative of its one-line backward).
    expected = reference.expected("gradient_check", **call)
    # Within the forward checks' tolerance (assignment.toml) the forward is the reference's: a hostile
    # round's states times (1 + 1e-8) passed every forward check, missed a tighter test here, and
    # answered its own perturbed calls from a backward of ones (10 points without backpropagation).
    if is_close(result.get("forward"), expected.get("forward"), rtol=1e-7, atol=1e-9):
        numeric = expected.get("numeric")
    else:  # agreeing with itself is worth something only for a forward that is the network, with a slip
        require_a_recurrent_network(result.get("forward"), expected.get("forward"), "the gradient check")
    analytic = result.get("analytic") if isinstance(result, dict) else None
    if not isinstance(numeric, dict) or not numeric:
        raise CheckFailure("the gradient check got no numerical gradients back")
    # A forward that ignores an input (all zeros, or NaN everywhere) has nothing there to agree with:
    # a backward of zeros "agrees" with a forward of zeros. Such a gradient earns no share.
    inert = [key for key, value in numeric.items() if not _moves(value)]
    live = {key: value for key, value in numeric.items() if key not in inert}
    why = (
        f"your rnn_forward does not depend on {', '.join(inert)} (a numerical gradient of zeros or NaN), "
        "so there is no gradient of it to check"
    )
    share = len(live) / len(numeric)
    try:
        if live:
            mine = {key: analytic.get(key) for key in live} if isinstance(analytic, dict) else analytic
            assert_close(mine, live, name="analytic gradient", rtol=1e-5, atol=1e-7, per_key=True)
    except PartialCredit as partial:  # a catalogued backward mistake gives the same gradients
        partial.fraction *= share
        partial.message += f"; {why}" if inert else ""
        partial.mistake = judge.known_mistake("gradient_check", result, keys=["analytic"], **call)
        raise
    except CheckFailure as failure:
        failure.message += f"; {why}" if inert else ""
        failure.mistake = judge.known_mistake("gradient_check", result, keys=["analytic"], **call)
        raise
    if inert:
        if not live:
            raise CheckFailure(why)
        raise PartialCredit(share, why)


def _same_forward_as_graded(judge, result, call):
    """The states the numerical differences start from are the ones rnn_forward gave the forward check
    asking the same call (exactly: the same code on the same numbers)."""
    graded = judge.run("forward", **call)  # the answer the forward check got: one question, one answer
    mine = result.get("forward") if isinstance(result, dict) else None
    theirs = graded.get("hs") if isinstance(graded, dict) else None
    if mine is None or theirs is None or not np.array_equal(np.asarray(mine), np.asarray(theirs), equal_nan=True):
        raise CheckFailure(
            "rnn_forward gave other hidden states here than it gave the same inputs in the forward check: "
            "this check compares rnn_backward with your own rnn_forward, so it needs the forward that "
            "the forward checks graded, a function of its arguments only"
        )


def _moves(value):
    """Whether a numerical gradient shows the forward depending on that input: finite, not all zero."""
    array = np.asarray(value, dtype=np.float64)
    return bool(array.size) and bool(np.isfinite(array).all()) and bool(np.abs(array).max() > 0)
