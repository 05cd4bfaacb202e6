"""Helpers of a3's public and hidden checks. Shipped with the public checks: nothing here is hidden
(the hidden configurations and the hidden training task stay in test_hidden.py)."""

import pytest

from grader.checks import CheckFailure, PartialCredit, RunFailed, judged_on_its_own

# The questions of the public forward checks (test_public.py: test_forward).
FORWARD_SEED = 31
FORWARD_CASES = {
    "one-layer": dict(T=6, B=2, D=3, H=5, num_layers=1, h0=True),
    "two-layers-batch-first": dict(T=5, B=3, D=4, H=4, num_layers=2, batch_first=True, h0=False),
    "three-layers-relu": dict(T=4, B=2, D=3, H=6, num_layers=3, nonlinearity="relu", h0=True),
    "unbatched": dict(T=5, B=1, D=3, H=4, num_layers=2, unbatched=True, h0=True),
}

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
            raise CheckFailure(parameter_message(described, got.get(key) or {}, want[key]), compared=True)


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


def classifier_on_its_own(judge, reference, details, **args):
    """The classifier's logits, judged on its own (grader.checks.judged_on_its_own) where the student's
    CraftRNN gets one of test_forward's questions wrong: once more with the grader's stand-in as
    self.rnn (probes._StandInRNN, which does none of CraftRNN's work). SequenceClassifier runs CraftRNN,
    whose checks judge it: a teacher round's CraftRNN that left batch_first's output time-first lost
    its batch_first checks' share and every classifier check too. The classifier's training still
    trains the student's whole model, CraftRNN included."""
    reference.expected("classifier_forward", **args, stand_in_rnn=True)  # asked always: the student copy ships it
    return judged_on_its_own(
        lambda: judge.compare("classifier_forward", **args),
        lambda: judge.compare("classifier_forward", **args, stand_in_rnn=True),
        details=details,
        yours="CraftRNN",
        instead="with the grader's stand-in for CraftRNN as self.rnn, SequenceClassifier",
        parts_differ=lambda: _craft_rnn_differs(judge),
    )


def _craft_rnn_differs(judge):
    for case in FORWARD_CASES.values():
        try:
            judge.compare("forward", seed=FORWARD_SEED, per_key=True, **case)
        except (CheckFailure, PartialCredit, RunFailed):
            return True
    return False
