"""Helpers of a3's public and hidden checks. Shipped with the public checks: nothing here is hidden
(the hidden configurations and the hidden training task stay in test_hidden.py)."""

import numpy as np
import pytest

from grader.checks import CheckFailure, PartialCredit, RunFailed, is_close, judged_on_its_own

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


# How closely a forward must follow nn.RNN's (the correlation of its output, or of its h_n, with nn.RNN's
# on the same inputs) for its gradients to be credited as its own forward's derivative: a slip (a bias
# left out of a layer: 0.33 and above; h_n's layers reversed: output right) is, a function that is no
# recurrent network is not (the bar a1's checks hold a forward to).
MIN_RESEMBLANCE = 0.3
# autograd's derivative along a direction against differences of the forward (probes.STEPS_ALONG:
# about 1e-5 relative where the graph is whole; a cut leaf gives 0 against every difference)
OWN_DERIVATIVE_RTOL = 2e-2


def gradients_on_their_own(judge, reference, details, seed, case):
    """The gradients check (``judge.compare("gradients", ...)``); where it fails because the student's
    forward differs from nn.RNN's on that configuration (a slip: the forward checks charge it), the
    gradients are judged on their own: they pass where autograd's gradients are the student's forward's
    own derivative for every leaf (probes.own_derivative). A teacher round's forward that added bias_ih
    in layer 0 only lost every multi-layer gradient check too, with a message naming weight_ih_l0, which
    layer 0 computes right (53 where a teacher gives about 65)."""
    expected = reference.expected("own_derivative", seed=seed, **case)  # asked always: the student copy ships it
    try:
        return judge.compare("gradients", seed=seed, per_key=True, **case)
    except (CheckFailure, PartialCredit) as failure:
        first = failure
    try:
        own = judge.run("own_derivative", seed=seed, **case)
    except RunFailed:
        raise first from None
    mine, specified = _states(own), _states(expected)
    if any(m is None for m in mine):
        raise first  # unreadable: the forward checks say why
    # The forward judged here is the one a plain call gets: a hostile round's forward recognised this
    # probe (inputs that require gradients after a call under no_grad), answered a slip here with a whole
    # graph, and cut the graph everywhere else, every forward check passed (a3 85 where the work earns 65).
    try:
        plain = _states(judge.run("forward", seed=seed, **case))
    except RunFailed:
        raise first from None
    if not all(p is not None and m.shape == p.shape and is_close(m, p, **judge.tolerance) for m, p in zip(mine, plain)):
        first.message += (
            "; your forward gave other states here when its inputs require gradients than in a plain call, so its "
            "gradients were not judged on their own"
        )
        raise first
    if all(m.shape == e.shape and is_close(m, e, **judge.tolerance) for m, e in zip(mine, specified)):
        raise first  # the forward is right here: the gradients themselves are wrong
    shaped = [(m, e) for m, e in zip(mine, specified) if m.shape == e.shape]  # h_n shaped otherwise: output
    if max((_correlation(m, e) for m, e in shaped), default=0.0) < MIN_RESEMBLANCE:
        raise first
    cut = _not_own_derivative(own.get("along"))
    if cut is None or cut:
        if cut:
            first.message += (
                f"; autograd's gradients of {', '.join(cut)} are not your own forward's derivative either "
                "(numerical differences of your forward disagree): is the graph cut there (.detach(), .data, "
                "numpy, torch.no_grad)?"
            )
        raise first
    # Only what the specified network depends on here has a gradient to check, and a leaf the forward
    # ignores earns no share: a regression round's feed-forward "RNN" (no weight_hh, no h0) was
    # credited every gradient, since 0 agrees with 0.
    specified_leaves = _live_leaves(expected.get("along"))
    ignored = sorted(specified_leaves - _live_leaves(own.get("along")))
    share = 1 - len(ignored) / len(specified_leaves) if specified_leaves else 0.0
    note = (
        "Judged on its own: your forward differs from nn.RNN's on this configuration (the forward checks "
        "charge that), so its gradients cannot equal nn.RNN's; but autograd's gradients are your forward's "
        "own derivative (checked against numerical differences), so the gradient path is right"
    )
    recurrence = [name for name in ignored if name.startswith("weight_hh") or name == "h0"]
    if recurrence or (ignored and share <= 0):  # no recurrence: not the network with a slip
        first.message += f"; your forward does not depend on {', '.join(recurrence or ignored)} here, as nn.RNN's does"
        raise first
    if _recurs(expected.get("through_time")) and not _recurs(own.get("through_time")):
        first.message += (
            "; your forward's later steps do not move with the first step's input, as nn.RNN's do through "
            "its recurrence (is h_{t-1} the state each step reads?)"
        )
        raise first
    if not ignored:
        details["note"] = f"{note} for every parameter, x and h0."
        return None
    raise PartialCredit(
        share,
        f"{note} where your forward depends on a leaf; it does not depend on {', '.join(ignored)}, as nn.RNN's "
        f"does, so there is no gradient of those to check: {share:.0%} of the points",
    )


def _states(answer):
    """output and h_n, flat (None where unreadable)."""
    states = []
    for key in ("output", "h_n"):
        try:
            states.append(np.asarray(answer[key], dtype=np.float64).ravel())
        except (KeyError, TypeError, ValueError):
            states.append(None)
    return states


def _correlation(mine, specified):
    if mine.size < 3 or not np.isfinite(mine).all() or mine.std() == 0 or specified.std() == 0:
        return 0.0
    return float(np.corrcoef(mine, specified)[0, 1])


def _not_own_derivative(along):
    """The leaves whose autograd derivative is not the forward's (sorted), or None if unreadable."""
    if not isinstance(along, dict) or not along:
        return None
    cut = set()
    for leaves in along.values():
        try:
            pairs = {
                name: (float(found["autograd"]), [float(n) for n in found["differences"]])
                for name, found in leaves.items()
            }
        except (AttributeError, KeyError, TypeError, ValueError):
            return None
        scale = max((abs(n) for _, found in pairs.values() for n in found[:1]), default=0.0)
        for name, (analytic, found) in pairs.items():
            agrees = [abs(analytic - n) <= OWN_DERIVATIVE_RTOL * max(abs(n), 0.05 * scale) for n in found]
            if not np.isfinite(analytic) or not any(agrees):
                cut.add(name)
    return sorted(cut)


def _recurs(through_time):
    """The later steps' states move with the first step's input (probes._through_time), beyond rounding:
    the recurrence the gradient checks are about. True where there is one step (nothing to recur over)."""
    if through_time is None:
        return True
    try:
        later, first = float(through_time["later"]), float(through_time["first"])
    except (KeyError, TypeError, ValueError):
        return False
    return later > 1e-4 * max(first, later, 1e-12)


def _live_leaves(along):
    """The leaves the forward depends on here: a numerical difference of its loss along them, in either
    term, that is not zero (next to the largest of that term)."""
    live = set()
    if not isinstance(along, dict):
        return live
    for leaves in along.values():
        try:
            central = {name: abs(float(found["differences"][0])) for name, found in leaves.items()}
        except (AttributeError, KeyError, IndexError, TypeError, ValueError):
            continue
        scale = max(central.values(), default=0.0)
        live |= {name for name, value in central.items() if value > 1e-4 * scale}
    return live
