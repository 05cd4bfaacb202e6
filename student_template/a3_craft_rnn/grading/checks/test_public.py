"""Public checks of a3 (shipped to students, 40 points): parameter names and shapes, forward output
and h_n on four configurations, gradients, and the classifier with given weights. The hidden checks
add more configurations (bias=False, T=1, unbatched, relu, batch_first with h0, three layers),
more gradients, and train the classifier on a task you have not seen.

Expected results come from the reference CraftRNN given the same weights; the course's tests prove
that reference equal to torch.nn.RNN on every configuration, gradients included.
"""

import pytest

from grader.checks import CheckFailure, points

WHY_FORBIDDEN = (
    "which this assignment does not allow: CraftRNN must compute the recurrence itself from tensors. nn.RNN, "
    "nn.RNNCell, nn.LSTM, nn.GRU and the kernels behind them (torch._VF, torch.rnn_tanh, torch.rnn_relu) are "
    "ready-made RNNs and may not appear in the module at all, not even unused (compare with nn.RNN in a "
    "separate file, or under `if __name__ == \"__main__\":`)"
)

FORWARD_CASES = {
    "one-layer": dict(T=6, B=2, D=3, H=5, num_layers=1, h0=True),
    "two-layers-batch-first": dict(T=5, B=3, D=4, H=4, num_layers=2, batch_first=True, h0=False),
    "three-layers-relu": dict(T=4, B=2, D=3, H=6, num_layers=3, nonlinearity="relu", h0=True),
    "unbatched": dict(T=5, B=1, D=3, H=4, num_layers=2, unbatched=True, h0=True),
}


@pytest.fixture(autouse=True)
def no_ready_made_rnn(static, filename):
    """Found in the source without running it (run-time uses fail the check that ran them)."""
    if static.forbidden_uses:
        raise CheckFailure(f"{static.describe_forbidden(filename)}, {WHY_FORBIDDEN}")


@points(5)
def test_parameter_names(student, reference):
    """Parameters are named and shaped like nn.RNN's (two layers, with biases)"""
    args = dict(input_size=3, hidden_size=5, num_layers=2, bias=True)
    got, want = student.run("parameters", **args), reference.expected("parameters", **args)
    for key, what in (("shapes", "CraftRNN(3, 5, num_layers=2)"), ("drawn_shapes", "CraftRNN of other sizes")):
        if got.get(key) != want[key]:
            raise CheckFailure(parameter_message(what, got.get(key) or {}, want[key]))


def parameter_message(what, found, expected):
    missing = [name for name in expected if name not in found]
    unexpected = [name for name in found if name not in expected]
    wrong = [
        f"{name} is {tuple(found[name])}, not {tuple(expected[name])}"
        for name in expected
        if name in found and list(found[name]) != list(expected[name])
    ]
    problems = (
        ([f"missing {', '.join(missing)}"] if missing else [])
        + ([f"unexpected {', '.join(unexpected)}"] if unexpected else [])
        + wrong
    )
    listing = ", ".join(f"{name} {tuple(shape)}" for name, shape in expected.items())
    return (
        f"{what} cannot load nn.RNN's state_dict: {'; '.join(problems)}. nn.RNN's parameters are {listing}; "
        f"yours are {', '.join(f'{name} {tuple(shape)}' for name, shape in found.items()) or 'none'}"
    )


@points(20)
@pytest.mark.parametrize("case", list(FORWARD_CASES), ids=str)
def test_forward(judge, case):
    """output and h_n equal nn.RNN's with the same weights"""
    judge.compare("forward", seed=31, **FORWARD_CASES[case])


@points(10)
def test_gradients(judge):
    """Gradients of every parameter, of x and of h0 equal nn.RNN's (two layers)"""
    judge.compare("gradients", seed=32, T=5, B=2, D=3, H=4, num_layers=2, h0=True)


@points(5)
def test_classifier_forward(judge):
    """SequenceClassifier: fc of the top layer's last step, with the same weights as the reference"""
    judge.compare("classifier_forward", input_size=3, hidden_size=6, output_size=4, num_layers=1, B=3, T=5, seed=33)
