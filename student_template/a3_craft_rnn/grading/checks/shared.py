"""Helpers of a3's public and hidden checks. Shipped with the public checks: nothing here is hidden
(the hidden configurations and the hidden training task stay in test_hidden.py)."""

import pytest

from grader.checks import CheckFailure

WHY_FORBIDDEN = (
    "which this assignment does not allow: CraftRNN must compute the recurrence itself from tensors. nn.RNN, "
    "nn.RNNCell, nn.LSTM, nn.GRU and the kernels behind them (torch._VF, torch.rnn_tanh, torch.rnn_relu) are "
    "ready-made RNNs and may not appear in the module at all, not even unused (compare with nn.RNN in a "
    "separate file, or under `if __name__ == \"__main__\":`)"
)


@pytest.fixture(autouse=True)
def no_ready_made_rnn(static, filename):
    """Every check scores 0 where the source uses a ready-made RNN, found without running it (run-time
    uses fail the check that ran them). Autouse in each check module that imports it."""
    if static.forbidden_uses and all(use in static.integrity for use in static.forbidden_uses):
        # only reach-arounds, no ready-made RNN: say so (a regression round's honest mock.patch was told
        # that nn.RNN may not appear in the module)
        raise CheckFailure(
            f"{static.describe_integrity(filename)}: code the scan cannot read could reach a ready-made RNN "
            "(torch.nn.RNN, torch._VF, torch.rnn_tanh), which this assignment does not allow, where the guards do "
            "not see it, so these points wait for your instructor's review"
        )
    if static.forbidden_uses:
        raise CheckFailure(f"{static.describe_forbidden(filename)}, {WHY_FORBIDDEN}")


def judge_parameters(student, reference, *, what, **sizes):
    """CraftRNN's parameter names and shapes equal nn.RNN's, for the given sizes ("shapes") and for
    sizes drawn from the seed ("drawn_shapes")."""
    got, want = student.run("parameters", **sizes), reference.expected("parameters", **sizes)
    for key, described in (("shapes", what), ("drawn_shapes", "CraftRNN of other sizes")):
        if got.get(key) != want[key]:
            raise CheckFailure(parameter_message(described, got.get(key) or {}, want[key]))


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
