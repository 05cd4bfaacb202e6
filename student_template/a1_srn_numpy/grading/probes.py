"""Probes of assignment a1: they run inside the sandbox, call the student's `srn` module and return
plain data. The same probes run on the reference solution to produce the expected data.

Every input is float64 and drawn from a seeded generator, so the reference and the student see
exactly the same numbers.
"""

import numpy as np

from grader.inside.probe_api import ProbeFailure, as_array, unpack

GRAD_KEYS = ("x", "h0", "W_ih", "W_hh", "b_ih", "b_hh")


def _params(rng, D, H):
    scale = 1.0 / np.sqrt(H)
    return {
        "W_ih": rng.uniform(-scale, scale, (H, D)),
        "W_hh": rng.uniform(-scale, scale, (H, H)),
        "b_ih": rng.uniform(-scale, scale, H),
        "b_hh": rng.uniform(-scale, scale, H),
    }


def _inputs(seed, T, B, D, H, with_h0):
    rng = np.random.default_rng(seed)
    params = _params(rng, D, H)
    x = rng.standard_normal((T, B, D))
    h0 = rng.standard_normal((B, H)) * 0.5 if with_h0 else None
    return x, h0, params


def _copy(value):
    """What a student's function receives: its own copy, so that changing an input in place (allowed)
    never changes what the probe computes with afterwards."""
    return None if value is None else np.array(value, copy=True)


def _forward(student, x, h0, params, activation):
    result = student.rnn_forward(
        _copy(x),
        _copy(h0),
        *(_copy(params[key]) for key in ("W_ih", "W_hh", "b_ih", "b_hh")),
        activation=activation,
    )
    hs, cache = unpack(result, "rnn_forward(...)", ("hs", "cache"))
    return as_array(hs, "hs returned by rnn_forward"), cache


def worked_example(student, activation, seed=0):
    """The course notes' example: inputs [[1,1],[1,1],[2,2]], every weight 1, every bias 0; then the
    same weights on inputs drawn from the seed (fresh in official grading)."""
    ones, zeros = np.ones((2, 2)), np.zeros(2)
    weights = {"W_ih": ones, "W_hh": ones, "b_ih": zeros, "b_hh": zeros}
    result = {}
    drawn = np.round(np.random.default_rng(seed).uniform(-2, 2, (3, 1, 2)), 1)
    for name, x in (("ys", np.array([[[1.0, 1.0]], [[1.0, 1.0]], [[2.0, 2.0]]])), ("ys_drawn", drawn)):
        hs, _ = _forward(student, x, None, weights, activation)
        result[name] = as_array(student.linear_output(hs, np.ones((2, 2)), np.zeros(2)), "linear_output(hs, W_hy, b_y)")
    return result


def step(student, B, D, H, activation, seed):
    rng = np.random.default_rng(seed)
    params = _params(rng, D, H)
    x_t, h_prev = rng.standard_normal((B, D)), rng.standard_normal((B, H))
    h_t = student.rnn_step(
        x_t, h_prev, params["W_ih"], params["W_hh"], params["b_ih"], params["b_hh"], activation=activation
    )
    return {"h_t": as_array(h_t, "h_t returned by rnn_step")}


def forward(student, T, B, D, H, activation, seed, h0=True):
    x, h0_value, params = _inputs(seed, T, B, D, H, h0)
    hs, _ = _forward(student, x, h0_value, params, activation)
    return {"hs": hs, "_time_axes": {"hs": 0}}


def output(student, T, B, H, O, seed):
    rng = np.random.default_rng(seed)
    hs = rng.standard_normal((T, B, H))
    W_hy, b_y = rng.standard_normal((O, H)), rng.standard_normal(O)
    return {
        "ys": as_array(student.linear_output(hs, W_hy, b_y), "ys returned by linear_output"),
        "_time_axes": {"ys": 0},
    }


def _grads(student, dhs, cache, keys=GRAD_KEYS):
    """The gradients ``keys`` from rnn_backward (``dhs`` passed as a copy: see _copy). Without an h0
    the handout's "shaped like that input" says nothing, so "h0" is then not asked for (None, zeros
    or the gradient of the zero state are all right)."""
    grads = student.rnn_backward(_copy(dhs), cache)
    if not isinstance(grads, dict):
        raise ProbeFailure(f"rnn_backward must return a dict of gradients; it returned a {type(grads).__name__}")
    missing = [key for key in keys if key not in grads]
    if missing:
        found = ", ".join(repr(key)[:40] for key in list(grads)[:8]) + (", ..." if len(grads) > 8 else "")
        raise ProbeFailure(
            f"the dict returned by rnn_backward has no key {', '.join(map(repr, missing))}"
            + (f"; its keys are {found}" if grads else "; it is empty")
        )
    return {key: as_array(grads[key], f"grads[{key!r}] from rnn_backward") for key in keys}


def backward(student, T, B, D, H, activation, seed, h0=True):
    """Gradients of loss = sum(hs * dhs) for a random upstream gradient dhs."""
    x, h0_value, params = _inputs(seed, T, B, D, H, h0)
    _, cache = _forward(student, x, h0_value, params, activation)
    dhs = np.random.default_rng(seed + 1).standard_normal((T, B, H))
    keys = GRAD_KEYS if h0 else tuple(key for key in GRAD_KEYS if key != "h0")
    return {"grads": _grads(student, dhs, cache, keys), "_time_axes": {"grads": {"x": 0}}}


def gradient_check(student, T, B, D, H, activation, seed, h0=True, eps=1e-6):
    """rnn_backward against central differences of the student's own rnn_forward.

    Passing this means forward and backward agree with each other, whatever else is wrong. The
    check runs it on a forward check's inputs and holds ``forward`` (the states the differences start
    from) to the student's answer there, so a forward made simple for this check alone fails that
    forward check. The forward must be a function of its inputs: its states before rnn_backward is called and after the
    differences are the same, and the order of the +eps and -eps calls is drawn from the seed, so a
    forward that answers by call count, or with the dhs it was shown, does not agree with itself.
    """
    x, h0_value, params = _inputs(seed, T, B, D, H, h0)
    dhs = np.random.default_rng(seed + 1).standard_normal((T, B, H))
    order = np.random.default_rng(seed + 2)
    keys = GRAD_KEYS if h0 else tuple(key for key in GRAD_KEYS if key != "h0")

    def states():
        hs, _ = _forward(student, x, h0_value, params, activation)
        return _after_each_input(hs, dhs.shape)

    def loss():
        return float(np.sum(states() * dhs))

    hs, cache = _forward(student, x, h0_value, params, activation)
    before = _after_each_input(hs, dhs.shape)
    analytic = _grads(student, dhs, cache, keys)
    inputs = {"x": x, "h0": h0_value, **params}
    numeric = {}
    for key in keys:
        value = inputs[key]
        estimate = np.zeros_like(value)
        for index in np.ndindex(value.shape):
            saved = value[index]
            signs = (1, -1) if order.random() < 0.5 else (-1, 1)
            losses = {}
            for sign in signs:
                value[index] = saved + sign * eps
                losses[sign] = loss()
            value[index] = saved
            estimate[index] = (losses[1] - losses[-1]) / (2 * eps)
        numeric[key] = estimate
    if not np.array_equal(states(), before, equal_nan=True):
        raise ProbeFailure(
            "rnn_forward gave other hidden states for the same inputs after rnn_backward had run: the "
            "gradient check needs a forward that depends on its arguments only"
        )
    return {"analytic": analytic, "numeric": numeric, "forward": hs}


def _after_each_input(hs, shape):
    """The T states that dhs weighs. An hs with h0 kept in front (T + 1 states: the forward checks name
    that) still has them last, so a backward consistent with that forward earns this check's credit."""
    if hs.shape == shape:
        return hs
    if hs.shape == (shape[0] + 1, *shape[1:]):
        return hs[1:]
    raise ProbeFailure(
        f"hs returned by rnn_forward has shape {hs.shape}: the gradient check weighs the hidden state after "
        f"each input by dhs, which has shape (T, B, H) = {shape}"
    )
