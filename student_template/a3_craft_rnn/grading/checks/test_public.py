"""Public checks of a3 (shipped to students, 40 points): parameter names and shapes, forward output
and h_n on four configurations, gradients, and the classifier with given weights. The hidden checks
add more configurations (bias=False, T=1, unbatched, relu, batch_first with h0, three layers),
more gradients, and train the classifier on a task you have not seen.

Expected results come from the reference CraftRNN given the same weights; the course's tests prove
that reference equal to torch.nn.RNN on every configuration, gradients included.
"""

import pytest

from grader.checks import points

from .shared import (  # noqa: F401 (no_ready_made_rnn: an autouse fixture)
    FORWARD_CASES,
    FORWARD_SEED,
    classifier_on_its_own,
    gradients_on_their_own,
    judge_parameters,
    no_ready_made_rnn,
)


@points(5)
def test_parameter_names(student, reference):
    """Parameters are named and shaped like nn.RNN's (two layers, with biases)"""
    judge_parameters(
        student, reference, what="CraftRNN(3, 5, num_layers=2)", input_size=3, hidden_size=5, num_layers=2, bias=True
    )


@points(20)
@pytest.mark.parametrize("case", list(FORWARD_CASES), ids=str)
def test_forward(judge, case):
    """output and h_n equal nn.RNN's with the same weights (each half of the points)"""
    judge.compare("forward", seed=FORWARD_SEED, per_key=True, **FORWARD_CASES[case])


@points(10)
def test_gradients(judge, reference, details):
    """Gradients of every parameter, of x and of h0 equal nn.RNN's (two layers; through output and through h_n, half each)"""
    gradients_on_their_own(judge, reference, details, 32, dict(T=5, B=2, D=3, H=4, num_layers=2, h0=True))


@points(5)
def test_classifier_forward(judge, reference, details):
    """SequenceClassifier: fc of the top layer's last step, with the same weights as the reference"""
    classifier_on_its_own(
        judge, reference, details, input_size=3, hidden_size=6, output_size=4, num_layers=1, B=3, T=5, seed=33
    )
