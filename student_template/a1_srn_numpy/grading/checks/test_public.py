"""Public checks of a1 (shipped to students, 35 points). The hidden checks repeat these on more shapes,
all three activations, h0=None and T=1, and add a gradient check."""

import pytest

from grader.checks import points

from .shared import backpropagation_required, on_a_question_the_forward_answers, require_a_recurrent_network

SHAPE = dict(T=5, B=3, D=4, H=6)
FORWARD_QUESTION = dict(**SHAPE, activation="tanh", seed=12)  # as test_rnn_forward asks it


@points(10)
@pytest.mark.parametrize("activation", ["identity", "tanh"])
def test_worked_example(judge, activation):
    """The worked example of the course notes (outputs 4, 12, 32 with identity; 1.928, 1.998, 2.000 with tanh)"""
    judge.compare("worked_example", activation=activation, check_dtype=True)


@points(5)
def test_rnn_step(judge):
    """rnn_step: one tanh step on random weights"""
    judge.compare("step", B=3, D=4, H=6, activation="tanh", seed=11, check_dtype=True)


@points(5)
def test_rnn_forward(judge):
    """rnn_forward equals torch.nn.RNN (tanh, h0 given)"""
    judge.compare("forward", **FORWARD_QUESTION, check_dtype=True)


@points(5)
def test_linear_output(judge):
    """linear_output applies W_hy and b_y at every step"""
    judge.compare("output", T=4, B=2, H=5, O=3, seed=13)


@points(5)
def test_rnn_backward(judge, reference, static, filename, details):
    """rnn_backward equals torch autograd (tanh, h0 given; each gradient a sixth)"""
    with backpropagation_required(static, filename):
        on_a_question_the_forward_answers(
            judge,
            reference,
            details,
            "backward",
            dict(**SHAPE, activation="tanh", seed=14),
            lambda case: judge.compare("backward", **case, rtol=1e-9, atol=1e-10, check_dtype=True, per_key="grads"),
            [FORWARD_QUESTION],
        )


@points(5)
def test_numpy_only(judge, reference, static, filename):
    """srn runs on numpy alone (no torch)"""
    call = dict(**SHAPE, activation="tanh", seed=12)  # the forward check's: numpy only, for a forward that is one
    answer = judge.run("forward", **call)
    require_a_recurrent_network(answer.get("hs"), reference.expected("forward", **call).get("hs"), "numpy only")
    imports_torch = any(found not in static.integrity for found in static.blocked_imports)
    assert not static.blocked_imports, f"{static.describe_blocked(filename)}; this assignment is numpy only" + (
        ", so remove the torch import" if imports_torch else ""
    )
