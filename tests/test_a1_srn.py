"""Assignment a1 graded end to end: independent correct work scores 100, wrong work partial credit
with the mistake named (the reference, the stub and the catalogue's own mutants: tests/test_contract.py;
notebooks: tests/test_notebooks_as_py.py). The wrong submissions are variants of a student-style implementation written
independently of the reference (so fingerprinting is shown to match behaviour, not text)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, checks_of, expect_partial_credit, report_class, score_of

A1 = "a1_srn_numpy"

STUDENT_SRN = '''
import numpy as np

def rnn_step(x_t, h_prev, W_ih, W_hh, b_ih, b_hh, activation="tanh"):
    pre = np.dot(x_t, W_ih.T) + b_ih + {RECURRENT}
    if activation == "tanh" {ACTIVATION_GUARD}:
        return np.tanh(pre)
    if activation == "relu":
        return pre * (pre > 0)
    return pre

def rnn_forward(x, h0, W_ih, W_hh, b_ih, b_hh, activation="tanh"):
    steps, batch = x.shape[0], x.shape[1]
    hidden = W_hh.shape[0]
    h = {H0}
    states = []
    for t in range(steps):
        h = rnn_step(x[t], h, W_ih, W_hh, b_ih, b_hh, activation)
        states.append(h)
    hs = np.stack(states){LAYOUT}
    start = np.zeros((batch, hidden)) if h0 is None else h0
    return hs{DTYPE}, (x, start, np.stack(states), W_ih, W_hh, activation)

def linear_output(hs, W_hy, b_y):
    return np.einsum("tbh,oh->tbo", hs, W_hy) + b_y

def rnn_backward(dhs, cache):
    x, h0, hs, W_ih, W_hh, activation = cache
    grads = {{"x": np.zeros_like(x), "W_ih": np.zeros_like(W_ih), "W_hh": np.zeros_like(W_hh),
             "b_ih": np.zeros(W_ih.shape[0]), "b_hh": np.zeros(W_hh.shape[0])}}
    carry = np.zeros_like(h0)
    for t in range(x.shape[0] - 1, -1, -1):
        dh = dhs[t] {CARRY}
        if activation == "tanh":
            dpre = dh * (1 - hs[t] ** 2)
        elif activation == "relu":
            dpre = dh * (hs[t] > 0)
        else:
            dpre = dh
        previous = hs[t - 1] if t > 0 else h0
        grads["W_ih"] += dpre.T @ x[t]
        grads["W_hh"] += dpre.T @ {PREVIOUS}
        grads["b_ih"] += dpre.sum(0)
        grads["b_hh"] += dpre.sum(0)
        grads["x"][t] = dpre @ W_ih
        carry = dpre @ W_hh
    grads["h0"] = carry
    return grads
'''

CORRECT = dict(
    RECURRENT="np.dot(h_prev, W_hh.T) + b_hh",
    ACTIVATION_GUARD="",
    H0="np.zeros((batch, hidden)) if h0 is None else h0",
    LAYOUT="",
    DTYPE="",
    CARRY="+ carry",
    PREVIOUS="previous",
)

# name: (changes to CORRECT, the catalogued mistake the feedback must name, or None)
WRONG = {
    "missing_b_hh": (dict(RECURRENT="np.dot(h_prev, W_hh.T)"), "missing_b_hh"),
    "activation_ignored": (dict(ACTIVATION_GUARD="or True"), "activation_ignored"),
    "w_hh_not_transposed": (dict(RECURRENT="np.dot(h_prev, W_hh) + b_hh"), "w_hh_not_transposed"),
    "bptt_not_carried": (dict(CARRY=""), "bptt_not_carried"),
    "h0_ignored": (dict(H0="np.zeros((batch, hidden))"), "h0_ignored"),
    "dw_hh_uses_h_t": (dict(PREVIOUS="hs[t]"), "dw_hh_uses_h_t"),
    "float32": (dict(DTYPE=".astype(np.float32)"), None),
    "batch_first_output": (dict(LAYOUT=".transpose(1, 0, 2)"), None),
}


def student_srn(**changes: str) -> str:
    return STUDENT_SRN.format(**{**CORRECT, **changes})


TORCH_IMPORTED = "import torch\n" + student_srn()
TORCH_USED = student_srn().replace(
    "def linear_output(hs, W_hy, b_y):\n",
    "def linear_output(hs, W_hy, b_y):\n    import torch\n    return torch.nn.functional.linear("
    "torch.tensor(hs), torch.tensor(W_hy), torch.tensor(b_y)).numpy()\n",
)


SOLUTION = (REPO / "solutions" / A1 / "srn.py").read_text(encoding="utf-8")


def reference_changed(*replacements: tuple[str, str]) -> str:
    source = SOLUTION
    for old, new in replacements:
        assert source.count(old) == 1, old
        source = source.replace(old, new)
    return source


# Correct work in other styles the handout allows: it changes the caller's dhs in place (a buffer it
# reuses), and it gives no gradient for an h0 it was not given (the handout's "shaped like that input"
# says nothing of None). The first lost the gradient check (the probe computed its numerical loss with
# the changed dhs), the second a whole backward case.
CHANGES_DHS = reference_changed(("    grads[\"h0\"] = dh_next\n", "    grads[\"h0\"] = dh_next\n    dhs *= 0.0\n"))
NO_H0_NO_GRADIENT = reference_changed(
    ('"activation": activation}', '"activation": activation, "h0_given": h0 is not None}'),
    ("    grads[\"h0\"] = dh_next\n", "    grads[\"h0\"] = dh_next if cache[\"h0_given\"] else None\n"),
)

# Wrong work whose backward is consistent with its own forward: hs keeps h0 in front (T + 1 states).
# The handout gives the gradient check's points to such a backward; the check failed with a numpy
# broadcast error.
H0_KEPT_IN_FRONT = reference_changed(
    (
        "    return hs, cache\n    # END SOLUTION",
        "    return np.concatenate([h_init[None], hs]), cache\n    # END SOLUTION",
    )
)

# Gradients without backpropagation: the honest work underneath is the reference with no backward; the
# cheats differentiate the reference's own forward numerically, in complex numbers (the complex step:
# exact to rounding, it earned all 40 backward points) or in extended precision.
NO_BACKWARD = reference_changed(
    ("def rnn_backward(dhs, cache):\n", "def rnn_backward(dhs, cache):\n    raise NotImplementedError\n")
)
# A backward that agrees with a forward simplified where the gradient check looks, on top of the honest
# work NO_BACKWARD (found by a hostile-student round: the check held rnn_backward to the student's own
# rnn_forward on inputs of a shape no other check used, so a forward that is a plain sum there only,
# with its one-line backward, earned the gradient check: 70 where the work earns 60). The check now runs
# on the forward checks' inputs and holds its forward to theirs: a forward simplified for a shape fails
# the forward check of that shape, and one that switches once it sees inputs again fails the check.
SIMPLE_WHERE = '''

_real_forward, _SEEN, _SIMPLE = rnn_forward, set(), [False]


def _seen_again(x):  # batches of several sequences only: the worked example's come twice
    if x.shape[1] > 1:
        _SIMPLE[0] = _SIMPLE[0] or x.tobytes() in _SEEN
        _SEEN.add(x.tobytes())
    return _SIMPLE[0]


def rnn_forward(x, h0, W_ih, W_hh, b_ih, b_hh, activation="tanh"):
    if {condition}:
        total = x.sum() + (0.0 if h0 is None else h0.sum()) + W_ih.sum() + W_hh.sum() + b_ih.sum() + b_hh.sum()
        inputs = {{"x": x, "h0": h0, "W_ih": W_ih, "W_hh": W_hh, "b_ih": b_ih, "b_hh": b_hh}}
        return np.full((x.shape[0], x.shape[1], W_hh.shape[0]), total), {{"simple": inputs}}
    return _real_forward(x, h0, W_ih, W_hh, b_ih, b_hh, activation)


def rnn_backward(dhs, cache):
    if "simple" in cache:
        return {{k: None if v is None else np.full_like(v, dhs.sum()) for k, v in cache["simple"].items()}}
    raise NotImplementedError
'''
# A forward that recognises the gradient check's differences (a call one number away from the last, by
# less than 1e-4) and answers them from its one-line backward (found by a hostile-student round: 70
# where the work earns 60). Where the forward computes the specified states, the check now takes the
# reference's differences.
RECOGNISES_DIFFERENCES = '''

_real_forward, _LAST = rnn_forward, {}


def rnn_forward(x, h0, W_ih, W_hh, b_ih, b_hh, activation="tanh"):
    arrays = [np.asarray(a, dtype=float) for a in (x, np.zeros(0) if h0 is None else h0, W_ih, W_hh, b_ih, b_hh)]
    last = _LAST.get("inputs")
    if last is not None and all(a.shape == b.shape for a, b in zip(arrays, last)):
        diffs = [a - b for a, b in zip(arrays, last)]
        if sum(int(np.count_nonzero(d)) for d in diffs) == 1 and abs(sum(float(d.sum()) for d in diffs)) < 1e-4:
            hs = _LAST["hs"] + sum(float(d.sum()) for d in diffs)
            return hs, {"simple": {"x": x, "h0": h0, "W_ih": W_ih, "W_hh": W_hh, "b_ih": b_ih, "b_hh": b_hh}}
    hs, cache = _real_forward(x, h0, W_ih, W_hh, b_ih, b_hh, activation)
    _LAST.update(inputs=[a.copy() for a in arrays], hs=hs.copy())
    return hs, {**cache, "simple": {"x": x, "h0": h0, "W_ih": W_ih, "W_hh": W_hh, "b_ih": b_ih, "b_hh": b_hh}}


def rnn_backward(dhs, cache):
    return {k: None if v is None else np.full_like(v, dhs.sum()) for k, v in cache["simple"].items()}
'''
# A forward that is no recurrent network, with the one-line backward that agrees with it (a hostile round:
# the gradient check held the backward to the student's own forward "whatever else is wrong", and
# "numpy only" credited any forward that ran: 15 where the work earns 0). Both now ask for a forward whose
# states follow the network's (a slip allowed); the network with W_hh not transposed in the forward and
# the backward alike keeps the gradient check.
SUM_EVERYWHERE = """
import numpy as np

def rnn_forward(x, h0, W_ih, W_hh, b_ih, b_hh, activation="tanh"):
    h0 = np.zeros((x.shape[1], W_hh.shape[0])) if h0 is None else h0
    total = x.sum() + h0.sum() + W_ih.sum() + W_hh.sum() + b_ih.sum() + b_hh.sum()
    shapes = {"x": x.shape, "h0": h0.shape, "W_ih": W_ih.shape, "W_hh": W_hh.shape, "b_ih": b_ih.shape, "b_hh": b_hh.shape}
    return np.full((x.shape[0], x.shape[1], W_hh.shape[0]), total), shapes

def rnn_backward(dhs, cache):
    return {key: np.full(shape, dhs.sum()) for key, shape in cache.items()}
"""
W_HH_NOT_TRANSPOSED_THROUGHOUT = (
    student_srn(RECURRENT="np.dot(h_prev, W_hh) + b_hh", PREVIOUS="previous")
    .replace('grads["W_hh"] += dpre.T @ previous', 'grads["W_hh"] += previous.T @ dpre')
    .replace("carry = dpre @ W_hh", "carry = dpre @ W_hh.T")
)
# A hostile round's sixth pass: states times (1 + 1e-8) pass every forward check (rtol 1e-7) but missed
# the gradient check's tighter "is the reference's" test, so the student's own differences were used,
# and the forward answered them from a backward of ones (70 where the work earns 60).
ECHO_OFF_BY_1E8 = """

_real_forward, _LAST = rnn_forward, {}


def _near_last(*args):  # the call one number away from the last rnn_backward's inputs: by how much
    base, delta = _LAST.get("args"), None
    if base is None:
        return None
    for mine, theirs in zip(args, base):
        if (mine is None) != (theirs is None) or (mine is not None and mine.shape != theirs.shape):
            return None
        moved = [] if mine is None else np.flatnonzero(mine - theirs)
        if len(moved) > 1 or (len(moved) == 1 and delta is not None):
            return None
        if len(moved) == 1:
            delta = (mine - theirs).ravel()[moved[0]]
    return delta if delta is not None and abs(delta) < 1e-4 else None


def rnn_forward(x, h0, W_ih, W_hh, b_ih, b_hh, activation="tanh"):
    hs = _real_forward(x, h0, W_ih, W_hh, b_ih, b_hh, activation)[0] * (1.0 + 1e-8)
    seen = _near_last(x, h0, W_ih, W_hh, b_ih, b_hh)
    if seen is not None:
        hs = _LAST["hs"] + seen * _LAST["dhs"] / np.sum(_LAST["dhs"] ** 2)
    return hs, {"args": (x, h0, W_ih, W_hh, b_ih, b_hh), "hs": hs}


def rnn_backward(dhs, cache):
    _LAST.update(args=cache["args"], hs=cache["hs"], dhs=np.array(dhs, copy=True))
    names = ("x", "h0", "W_ih", "W_hh", "b_ih", "b_hh")
    return {name: np.ones_like(value) for name, value in zip(names, cache["args"]) if value is not None}
"""
SIMPLE_FOR_A_SHAPE = {
    # the shape of the gradient check's inputs before (a shape no other check used), and one it shares now
    "simple_for_the_old_shape": "x.shape == (3, 2, 2) and W_hh.shape == (3, 3) and h0 is not None",
    "simple_for_a_shared_shape": "x.shape == (1, 2, 3) and W_hh.shape == (4, 4) and h0 is not None",
    "simple_once_inputs_come_again": "_seen_again(x)",  # from the second time it sees the same inputs on
}

# The reference's forward, with a cache holding every input (the reference's keeps no biases).
WHOLE_CACHE = """

_states = rnn_forward


def rnn_forward(x, h0, W_ih, W_hh, b_ih, b_hh, activation="tanh"):
    hs, _ = _states(x, h0, W_ih, W_hh, b_ih, b_hh, activation)
    return hs, dict(x=x, h0=h0, W_ih=W_ih, W_hh=W_hh, b_ih=b_ih, b_hh=b_hh, activation=activation)
"""
NUMERICAL_BACKWARD = """

def rnn_backward(dhs, cache):
    names = ("x", "h0", "W_ih", "W_hh", "b_ih", "b_hh")
    h0 = cache["h0"] if cache["h0"] is not None else np.zeros(dhs.shape[1:])
    values = {{name: np.asarray(h0 if name == "h0" else cache[name], dtype={dtype}) for name in names}}
    grads = {{}}
    for name in names:
        grad = np.zeros(values[name].shape)
        for index in np.ndindex(grad.shape):
            losses = []
            for step in {steps}:
                moved = {{key: value.copy() for key, value in values.items()}}
                moved[name][index] += step
                hs, _ = rnn_forward(*(moved[key] for key in names), cache["activation"])
                losses.append(np.sum(hs * dhs))
            grad[index] = {derivative}
        grads[name] = grad
    return grads
"""
COMPLEX = dict(dtype="complex", steps="(1e-30j,)", derivative="losses[0].imag / 1e-30")
COMPLEX_STEP = SOLUTION + WHOLE_CACHE + NUMERICAL_BACKWARD.format(**COMPLEX)
EXTENDED_DIFFERENCES = (
    SOLUTION
    + WHOLE_CACHE
    + NUMERICAL_BACKWARD.format(
        dtype="np.longdouble", steps="(1e-7, -1e-7)", derivative="float((losses[0] - losses[1]) / 2e-7)"
    )
)
# The complex step moved into a file beside srn.py (the scan read only srn.py).
COMPLEX_STEP_IN_A_HELPER = {
    "srn.py": SOLUTION + WHOLE_CACHE + "\n\nfrom gradtools import rnn_backward  # noqa: E402\n",
    "gradtools.py": "import numpy as np\n\nfrom srn import rnn_forward\n" + NUMERICAL_BACKWARD.format(**COMPLEX),
}
# The complex step in a string built at run time: the scan cannot read it, and flags the exec.
HIDDEN_BACKWARD = base64.b64encode(NUMERICAL_BACKWARD.format(**COMPLEX).encode()).decode()
COMPLEX_STEP_IN_EXEC = (
    SOLUTION + WHOLE_CACHE + f"\n\nimport base64\n\nexec(base64.b64decode({HIDDEN_BACKWARD!r}).decode())\n"
)
# Dual numbers: the forward run again on numbers of its own that carry the derivatives along.
DUAL_NUMBERS = (
    SOLUTION
    + WHOLE_CACHE
    + """

class _Dual:
    def __init__(self, value, tangent):
        self.value, self.tangent = value, tangent

    def __add__(self, other):
        return _Dual(self.value + other.value, self.tangent + other.tangent)

    def __matmul__(self, other):
        return _Dual(self.value @ other.value, self.tangent @ other.value + self.value @ other.tangent)

    def act(self, activation):
        if activation == "tanh":
            out = np.tanh(self.value)
            return _Dual(out, self.tangent * (1 - out**2))
        if activation == "relu":
            return _Dual(np.maximum(self.value, 0.0), self.tangent * (self.value > 0))
        return self


def rnn_backward(dhs, cache):
    names = ("x", "h0", "W_ih", "W_hh", "b_ih", "b_hh")
    h0 = cache["h0"] if cache["h0"] is not None else np.zeros(dhs.shape[1:])
    values = {name: np.asarray(h0 if name == "h0" else cache[name], dtype=float) for name in names}
    grads = {}
    for name in names:
        grad = np.zeros(values[name].shape)
        for index in np.ndindex(grad.shape):
            dual = {key: _Dual(value, np.zeros_like(value)) for key, value in values.items()}
            dual[name].tangent[index] = 1.0
            W_ih_T = _Dual(dual["W_ih"].value.T, dual["W_ih"].tangent.T)
            W_hh_T = _Dual(dual["W_hh"].value.T, dual["W_hh"].tangent.T)
            h, total = dual["h0"], 0.0
            for t in range(dhs.shape[0]):
                x_t = _Dual(dual["x"].value[t], dual["x"].tangent[t])
                h = (x_t @ W_ih_T + dual["b_ih"] + h @ W_hh_T + dual["b_hh"]).act(cache["activation"])
                total += np.sum(h.tangent * dhs[t])
            grad[index] = total
        grads[name] = grad
    return grads
"""
)


def states_shaped_like_x(**changes: str) -> str:
    """The student's srn with its states kept in a buffer shaped like x: rnn_forward raises wherever
    D != H (a teacher round's ``hs = np.zeros_like(x)``)."""
    source = student_srn(**changes)
    for old, new in (("    states = []\n", "    states = np.zeros_like(x)\n"), ("states.append(h)", "states[t] = h")):
        assert source.count(old) == 1, old
        source = source.replace(old, new)
    return source


# A regression round's backward written for D = H only (its buffers shaped like an input), under a
# right forward, and under one that raises on purpose wherever D != H so that the backward is asked
# only where it works: that must not pay.
SQUARE_ONLY_BACKWARD = """import numpy as np

def rnn_step(x_t, h_prev, W_ih, W_hh, b_ih, b_hh, activation="tanh"):
    z = x_t @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh
    return {"tanh": np.tanh, "relu": lambda v: np.maximum(v, 0), "identity": lambda v: v}[activation](z)

def rnn_forward(x, h0, W_ih, W_hh, b_ih, b_hh, activation="tanh"):
    T, B, D = x.shape; H = W_hh.shape[0]
    h = np.zeros((B, H)) if h0 is None else h0
    hs = np.zeros((T, B, H))
    for t in range(T):
        h = rnn_step(x[t], h, W_ih, W_hh, b_ih, b_hh, activation); hs[t] = h
    return hs, (x, np.zeros((B, H)) if h0 is None else h0, hs, W_ih, W_hh, activation)

def linear_output(hs, W_hy, b_y):
    return hs @ W_hy.T + b_y

def rnn_backward(dhs, cache):
    # written for square shapes only: the carried gradient is shaped like an input
    x, h0, hs, W_ih, W_hh, a = cache
    gx = np.zeros_like(x); gWih = np.zeros_like(W_hh); gWhh = np.zeros_like(W_hh); gb = np.zeros_like(x[0, 0])
    carry = np.zeros_like(x[0])
    for t in range(len(x) - 1, -1, -1):
        loc = {"tanh": 1 - hs[t] ** 2, "relu": (hs[t] > 0) * 1.0, "identity": 1.0}[a]
        dz = (dhs[t] + carry) * loc
        gWih += dz.T @ x[t]; gWhh += dz.T @ (hs[t - 1] if t else h0); gb += dz.sum(0)
        gx[t] = dz @ W_ih; carry = dz @ W_hh
    return {"x": gx, "h0": carry, "W_ih": gWih, "W_hh": gWhh, "b_ih": gb, "b_hh": gb.copy()}
"""
SQUARE_ONLY_FORWARD_RAISES = SQUARE_ONLY_BACKWARD.replace(
    "    h = np.zeros((B, H)) if h0 is None else h0\n",
    "    if D != H:\n        raise ValueError('input_size must equal hidden_size')\n    h = np.zeros((B, H)) if h0 is None else h0\n",
)


@pytest.fixture(scope="module")
def graded(run_grade, tmp_path_factory) -> dict[str, Any]:
    """Every submission of this module, graded by one `grade report` (the reference and the stub are
    graded by tests/test_contract.py)."""
    students: dict[str, Path | dict[str, str | bytes]] = {
        "independent": {"srn.py": student_srn()},
        "changes_dhs": {"srn.py": CHANGES_DHS},
        "no_h0_no_gradient": {"srn.py": NO_H0_NO_GRADIENT},
        "h0_kept_in_front": {"srn.py": H0_KEPT_IN_FRONT},
        "torch_imported": {"srn.py": TORCH_IMPORTED},
        "torch_used": {"srn.py": TORCH_USED},
        "no_backward": {"srn.py": NO_BACKWARD},
        "complex_step": {"srn.py": COMPLEX_STEP},
        "extended_differences": {"srn.py": EXTENDED_DIFFERENCES},
        "dual_numbers": {"srn.py": DUAL_NUMBERS},
        "complex_step_in_a_helper": COMPLEX_STEP_IN_A_HELPER,
        "complex_step_in_exec": {"srn.py": COMPLEX_STEP_IN_EXEC},
        **{
            name: {"srn.py": NO_BACKWARD + SIMPLE_WHERE.format(condition=when)}
            for name, when in SIMPLE_FOR_A_SHAPE.items()
        },
        "recognises_differences": {"srn.py": NO_BACKWARD + RECOGNISES_DIFFERENCES},
        "sum_everywhere": {"srn.py": SUM_EVERYWHERE},
        "echo_off_by_1e-8": {"srn.py": NO_BACKWARD + ECHO_OFF_BY_1E8},
        "w_hh_not_transposed_throughout": {"srn.py": W_HH_NOT_TRANSPOSED_THROUGHOUT},
        "states_shaped_like_x": {"srn.py": states_shaped_like_x()},
        "states_shaped_like_x_bptt_not_carried": {"srn.py": states_shaped_like_x(CARRY="")},
        "square_only_backward": {"srn.py": SQUARE_ONLY_BACKWARD},
        "square_only_backward_forward_raises": {"srn.py": SQUARE_ONLY_FORWARD_RAISES},
        **{name: {"srn.py": student_srn(**changes)} for name, (changes, _) in WRONG.items()},
    }
    root = tmp_path_factory.mktemp("a1")
    return report_class(run_grade, root / "class", root / "grades", students, "--assignment", A1)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["independent", "changes_dhs", "no_h0_no_gradient"])
def test_independent_correct_implementation_scores_full_marks(graded, name):
    assert score_of(graded[name], A1) == 100, [
        c["message"] for c in checks_of(graded[name], A1) if c["points"] < c["max_points"]
    ]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(WRONG))
def test_wrong_submission_partial_credit_and_mistake_named(graded, name):
    expect_partial_credit(graded[name], A1, name, WRONG[name][1])


@pytest.mark.slow
def test_float32_and_layout_mistakes_are_diagnosed(graded):
    assert any("dtype float32" in c["message"] for c in checks_of(graded["float32"], A1))
    diagnoses = " ".join(c["diagnosis"] or "" for c in checks_of(graded["batch_first_output"], A1))
    assert "first two dimensions are swapped" in diagnoses


@pytest.mark.slow
def test_backward_consistent_with_a_forward_that_keeps_h0_earns_the_gradient_check(graded):
    checks = {c["name"]: c for c in checks_of(graded["h0_kept_in_front"], A1)}
    gradient = [c for name, c in checks.items() if name.startswith("test_gradient_check")]
    assert gradient and all(c["status"] == "passed" for c in gradient), [c["message"] for c in gradient]
    forward = [c for name, c in checks.items() if name.startswith("test_forward")]
    assert forward and all(c["status"] == "failed" for c in forward)
    assert all("initial state (h0)" in (c["diagnosis"] or "") for c in forward)


@pytest.mark.slow
def test_a_right_backward_is_judged_on_a_question_its_raising_forward_answers(graded):
    """A forward that raises wherever D != H costs the forward checks, not rnn_backward's: the
    backward and gradient checks ask again with D = H, and only a right backward passes there."""
    checks = {c["name"]: c for c in checks_of(graded["states_shaped_like_x"], A1)}
    backward = [c for name, c in checks.items() if "backward" in name or name.startswith("test_gradient_check")]
    assert len(backward) == 10 and all(c["status"] == "partial" for c in backward), [c["message"] for c in backward]
    assert all(c["points"] == pytest.approx(0.75 * c["max_points"]) for c in backward)
    assert all("asked with D = H" in c["message"] and "ValueError" in c["message"] for c in backward)
    forward = [c for name, c in checks.items() if name.startswith(("test_forward", "test_rnn_forward"))]
    assert forward and all(c["status"] == "failed" and "in rnn_forward" in c["message"] for c in forward)
    assert score_of(graded["states_shaped_like_x"], A1) == 60

    wrong = {c["name"]: c for c in checks_of(graded["states_shaped_like_x_bptt_not_carried"], A1)}
    backward = [c for name, c in wrong.items() if "backward" in name and "-T1-" not in name]  # T=1: nothing to carry
    assert backward and all(c["points"] < c["max_points"] for c in backward), [c["message"] for c in backward]
    assert score_of(graded["states_shaped_like_x_bptt_not_carried"], A1) < 60

    # Raising on purpose where D != H, to be asked only where a square-only backward works, does not pay.
    honest = score_of(graded["square_only_backward"], A1)
    assert score_of(graded["square_only_backward_forward_raises"], A1) <= honest == 60


@pytest.mark.slow
def test_torch_import_costs_only_the_numpy_only_check(graded):
    failed = [c for c in checks_of(graded["torch_imported"], A1) if c["status"] != "passed"]
    assert [c["name"] for c in failed] == ["test_numpy_only"]
    assert "imports `torch` (line 1)" in failed[0]["message"]


@pytest.mark.slow
def test_torch_use_fails_the_checks_that_use_it(graded):
    failed = {c["name"]: c for c in checks_of(graded["torch_used"], A1) if c["status"] != "passed"}
    uses = {"test_worked_example[identity]", "test_worked_example[tanh]", "test_linear_output"}
    assert set(failed) == uses | {"test_numpy_only"}
    assert all("torch" in failed[name]["message"] and "not allow" in failed[name]["message"] for name in uses)
    assert "imports `torch` (line" in failed["test_numpy_only"]["message"]


@pytest.mark.slow
@pytest.mark.parametrize(
    "cheat",
    ["complex_step", "extended_differences", "dual_numbers", "complex_step_in_a_helper", "complex_step_in_exec"],
)
def test_a_backward_by_numerical_differentiation_earns_no_more_than_no_backward(graded, cheat):
    assert score_of(graded["no_backward"], A1) == 60
    assert score_of(graded[cheat], A1) <= score_of(graded["no_backward"], A1)
    checks = {c["name"]: c for c in checks_of(graded[cheat], A1)}
    gradients = [c for name, c in checks.items() if "backward" in name or name.startswith("test_gradient_check")]
    assert len(gradients) == 10 and all(c["points"] == 0 for c in gradients)
    why = "code the scan cannot read" if cheat == "complex_step_in_exec" else "differentiating the forward mechanically"
    assert all(why in c["message"] for c in gradients), [c["message"] for c in gradients]
    forward = [c for name, c in checks.items() if c not in gradients and name != "test_numpy_only"]
    assert all(c["status"] == "passed" for c in forward), [c["message"] for c in forward if c["status"] != "passed"]
    flagged = "exec of a computed string" if cheat == "complex_step_in_exec" else "numerical differentiation?"
    assert any(flagged in flag for flag in graded[cheat]["assignments"][0]["flags"]), graded[cheat]["assignments"][0][
        "flags"
    ]


@pytest.mark.slow
@pytest.mark.parametrize("cheat", [*sorted(SIMPLE_FOR_A_SHAPE), "recognises_differences", "echo_off_by_1e-8"])
def test_a_forward_simplified_where_the_gradient_check_looks_earns_no_more_than_no_backward(graded, cheat):
    assert score_of(graded[cheat], A1) <= score_of(graded["no_backward"], A1) == 60
    checks = {c["name"]: c for c in checks_of(graded[cheat], A1)}
    if cheat == "simple_once_inputs_come_again":
        gradient = [c for name, c in checks.items() if name.startswith("test_gradient_check")]
        assert all(c["points"] == 0 for c in gradient)
        reasons = ("other hidden states here than it gave the same inputs", "do not follow the specified network")
        assert any(reason in c["message"] for c in gradient for reason in reasons)


@pytest.mark.slow
def test_a_forward_that_is_no_network_earns_nothing_for_agreeing_with_its_backward(graded):
    assert score_of(graded["sum_everywhere"], A1) == 0
    checks = {c["name"]: c for c in checks_of(graded["sum_everywhere"], A1)}
    credited = [c for name, c in checks.items() if name.startswith(("test_gradient_check", "test_numpy_only"))]
    assert len(credited) == 5 and all("do not follow the specified network" in c["message"] for c in credited)
    slip = {c["name"]: c for c in checks_of(graded["w_hh_not_transposed_throughout"], A1)}
    gradient = [c for name, c in slip.items() if name.startswith("test_gradient_check")]
    assert sum(c["points"] for c in gradient) == 10 and slip["test_numpy_only"]["status"] == "passed"
    assert slip["test_forward_configurations[tanh-T7-no_h0]"]["mistake"] == "w_hh_not_transposed"


@pytest.mark.slow
def test_json_result_follows_the_documented_schema(graded):
    result = graded["independent"]
    assert result["schema"] == "rnn-autograder/result/1"
    for key in ("student", "score", "max_score", "isolation", "assignments", "content_hash", "graded_at"):
        assert key in result
    check = result["assignments"][0]["checks"][0]
    assert set(check) >= {"name", "points", "max_points", "status", "message", "diagnosis", "duration", "visibility"}
    json.dumps(result, allow_nan=False)


def test_gradients_under_other_names_are_listed_beside_the_names_asked_for():
    import importlib.util
    import types

    import numpy as np

    from grader.inside.probe_api import ProbeFailure

    spec = importlib.util.spec_from_file_location("a1_probes", REPO / "assignments" / "a1_srn_numpy" / "probes.py")
    assert spec is not None and spec.loader is not None
    probes = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(probes)
    renamed = types.SimpleNamespace(rnn_backward=lambda dhs, cache: {"dx": 1, "dW_ih": 2})
    with pytest.raises(ProbeFailure, match=r"has no key 'x', .*; its keys are 'dx', 'dW_ih'$"):
        probes._grads(renamed, np.zeros(2), None)
    empty = types.SimpleNamespace(rnn_backward=lambda dhs, cache: {})
    with pytest.raises(ProbeFailure, match="; it is empty$"):
        probes._grads(empty, np.zeros(2), None)
