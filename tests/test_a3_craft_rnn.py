"""Assignment a3 graded end to end, and its reference proved equal to torch.nn.RNN.

* The reference CraftRNN equals nn.RNN (outputs, h_n and every gradient) on every configuration the
  checks use and on a full grid of options; the probes give the same data for nn.RNN as for it.
* Independent correct work scores 100, and wrong submissions (variants of a student-style
  implementation written independently of the reference) score strictly between, with the mistake
  named (the reference, the stub and the catalogue's own mutants: tests/test_contract.py; notebooks:
  tests/test_notebooks_as_py.py).
* Ready-made RNNs are refused by every route tried (wrapping, subclassing, aliases, getattr tricks,
  torch._VF, the aten kernels), each submission scoring at most 20; correct code that merely uses
  torch.einsum or torch.split, or compares with nn.RNN under __main__, keeps its 100.
"""

from __future__ import annotations

import importlib.util
import itertools
import sys
import types

import numpy as np
import pytest
from conftest import (
    REPO,
    SOLUTIONS,
    checks_of,
    expect_partial_credit,
    report_class,
    score_of,
)

A3 = "a3_craft_rnn"
ASSIGNMENT = REPO / "assignments" / A3

STUDENT_CRAFT = '''
import math
import torch
import torch.nn as nn
import torch.nn.functional as F


class CraftRNN(nn.Module):
    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False):
        super().__init__()
        self.hidden_size, self.num_layers = hidden_size, num_layers
        self.nonlinearity, self.bias, self.batch_first = nonlinearity, bias, batch_first
        for k in range(num_layers):
            fan_in = input_size if k == 0 else hidden_size
            setattr(self, {NAME_IH}, nn.Parameter(torch.empty(hidden_size, fan_in)))
            setattr(self, f"weight_hh_l{{k}}", nn.Parameter(torch.empty(hidden_size, hidden_size)))
            if bias:
                setattr(self, f"bias_ih_l{{k}}", nn.Parameter(torch.empty(hidden_size)))
                setattr(self, f"bias_hh_l{{k}}", nn.Parameter(torch.empty(hidden_size)))
        std = 1.0 / math.sqrt(hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -std, std)

    def _cell(self, k, x_t, h):
        w_ih = getattr(self, {NAME_IH})
        b_ih = getattr(self, f"bias_ih_l{{k}}") if self.bias else None
        b_hh = getattr(self, f"bias_hh_l{{k}}") if self.bias else None
        z = F.linear(x_t, w_ih, b_ih) + F.linear(h, getattr(self, f"weight_hh_l{{k}}"), {B_HH})
        return {ACTIVATION}(z)

    def forward(self, x, h0=None):
        single = x.dim() == 2
        if single:
            x = x.unsqueeze(1)
            if h0 is not None:
                h0 = h0.unsqueeze(1)
        elif self.batch_first:
            x = {BATCH_FIRST_IN}
        T, B = x.size(0), x.size(1)
        if {ZEROS_WHEN}:
            h0 = torch.zeros(self.num_layers, B, self.hidden_size, dtype=x.dtype, device=x.device)
        seq = x
        finals = []
        for k in range(self.num_layers):
            h = h0[k]
            outs = []
            for t in range(T):
                h = self._cell(k, {LAYER_INPUT}[t], h)
                outs.append(h)
            seq = torch.stack(outs, dim=0)
            finals.append(h)
        h_n = {H_N}
        if single:
            return seq.squeeze(1), h_n.squeeze(1)
        if self.batch_first:
            seq = {BATCH_FIRST_OUT}
        return seq, h_n


class SequenceClassifier(nn.Module):
    def __init__(self, input_size, hidden_size, output_size, num_layers=1):
        super().__init__()
        self.rnn = CraftRNN(input_size, hidden_size, num_layers=num_layers, batch_first=True)
        self.fc = nn.Linear(hidden_size, output_size)

    def forward(self, x):
        out, h_n = self.rnn(x)
        return self.fc({READOUT})
'''

CORRECT = dict(
    NAME_IH='f"weight_ih_l{k}"',
    B_HH="b_hh",
    ACTIVATION="(torch.tanh if self.nonlinearity == 'tanh' else torch.relu)",
    BATCH_FIRST_IN="x.permute(1, 0, 2)",
    ZEROS_WHEN="h0 is None",
    LAYER_INPUT="seq",
    H_N="torch.stack(finals)",
    BATCH_FIRST_OUT="seq.permute(1, 0, 2)",
    READOUT="h_n[-1]",
)

# name: (changes to CORRECT, the catalogued mistake the feedback must name, or None)
WRONG = {
    "hn_top_layer_only": (dict(H_N="finals[-1].unsqueeze(0)"), "hn_top_layer_only"),
    "hn_layers_reversed": (dict(H_N="torch.stack(finals[::-1])"), "hn_layers_reversed"),
    "h0_ignored": (dict(ZEROS_WHEN="True"), "h0_ignored"),
    "batch_first_ignored": (dict(BATCH_FIRST_IN="x", BATCH_FIRST_OUT="seq"), "batch_first_ignored"),
    "output_not_batch_first": (dict(BATCH_FIRST_OUT="seq"), "output_not_batch_first"),
    "layers_not_stacked": (dict(LAYER_INPUT="x"), "layers_not_stacked"),
    "nonlinearity_swapped": (
        dict(ACTIVATION="(torch.relu if self.nonlinearity == 'tanh' else torch.tanh)"),
        "nonlinearity_swapped",
    ),
    "b_hh_missing": (dict(B_HH="None"), "b_hh_missing"),
    "classifier_first_step": (dict(READOUT="out[:, 0, :]"), "classifier_first_step"),
    "parameters_misnamed": (dict(NAME_IH='f"w_ih_{k}"'), None),
}


def student_craft(**changes: str) -> str:
    return STUDENT_CRAFT.format(**{**CORRECT, **changes})


# name: source of a submission that reaches a ready-made RNN some way or other
FORBIDDEN = {
    "wraps_nn_rnn": '''
import torch
from torch import nn

class CraftRNN(nn.Module):
    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False):
        super().__init__()
        self.inner = nn.RNN(input_size, hidden_size, num_layers=num_layers, nonlinearity=nonlinearity,
                            bias=bias, batch_first=batch_first)
        for name, parameter in self.inner.named_parameters():
            setattr(self, name, parameter)

    def forward(self, x, h0=None):
        return self.inner(x, h0)

class SequenceClassifier(nn.Module):
    def __init__(self, input_size, hidden_size, output_size, num_layers=1):
        super().__init__()
        self.rnn = CraftRNN(input_size, hidden_size, num_layers=num_layers, batch_first=True)
        self.fc = nn.Linear(hidden_size, output_size)

    def forward(self, x):
        return self.fc(self.rnn(x)[0][:, -1])
''',
    "subclasses_nn_rnn": '''
import torch.nn as nn

class CraftRNN(nn.RNN):
    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False):
        super().__init__(input_size, hidden_size, num_layers=num_layers, nonlinearity=nonlinearity, bias=bias,
                         batch_first=batch_first)

class SequenceClassifier(nn.Module):
    def __init__(self, input_size, hidden_size, output_size, num_layers=1):
        super().__init__()
        self.rnn = CraftRNN(input_size, hidden_size, num_layers=num_layers, batch_first=True)
        self.fc = nn.Linear(hidden_size, output_size)

    def forward(self, x):
        return self.fc(self.rnn(x)[0][:, -1])
''',
    "alias_from_modules": student_craft()
    .replace(
        "import torch.nn.functional as F\n",
        "import torch.nn.functional as F\nfrom torch.nn.modules.rnn import RNN as Helper\n",
    )
    .replace("        seq = x\n", "        Helper(2, 2)\n        seq = x\n"),
    "getattr_at_run_time": student_craft().replace(
        "        seq = x\n", '        getattr(nn, "R" + "NN")(2, 2)\n        seq = x\n'
    ),
    "vf_through_importlib": student_craft().replace(
        "        return {ACTIVATION}(z)".format(ACTIVATION=CORRECT["ACTIVATION"]),
        '        import importlib\n        importlib.import_module("torch._" + "VF").rnn_tanh\n'
        "        return {ACTIVATION}(z)".format(ACTIVATION=CORRECT["ACTIVATION"]),
    ),
    "aten_kernel_caught": student_craft().replace(
        "        seq = x\n",
        "        try:\n            getattr(torch.ops.aten, 'rnn_' + 'tanh')(x, h0[:1], [], False, 1, 0.0, False, False, False)\n"
        "        except BaseException:\n            pass\n        seq = x\n",
    ),
    "real_class_behind_the_guard": student_craft().replace(
        "        seq = x\n",
        "        real = [c for c in nn.modules.rnn.RNNBase.__subclasses__() if c.__name__ == 'RNN'][0]\n"
        "        real(x.shape[-1], 2)(x)\n        seq = x\n",
    ),
    "unused_import": "from torch.nn import GRU\n" + student_craft(),
}

# Correct code near the forbidden names: it must keep its 100.
ALLOWED = {
    "compares_under_main": student_craft()
    + '''

if __name__ == "__main__":
    reference = torch.nn.RNN(3, 4, num_layers=2)
    mine = CraftRNN(3, 4, num_layers=2)
    mine.load_state_dict(reference.state_dict())
    x = torch.randn(5, 2, 3)
    print((mine(x)[0] - reference(x)[0]).abs().max())
''',
    "uses_einsum_and_split": student_craft()
    .replace("F.linear(x_t, w_ih, b_ih)", '(torch.einsum("bd,hd->bh", x_t, w_ih) + (0 if b_ih is None else b_ih))')
    .replace("self._cell(k, seq[t], h)", "self._cell(k, torch.split(seq, 1)[t][0], h)"),
}


# -- the reference itself equals nn.RNN --------------------------------------------------------------


def _load_module(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _load_check(name):
    """A check module of a3, imported as the grader imports it: in the package ``checks``, beside its helpers."""
    from grader.judging.plugin import checks_package

    with checks_package(ASSIGNMENT / "checks"):
        return importlib.import_module(f"checks.{name.removesuffix('.py')}")


@pytest.fixture(scope="module")
def reference():
    module = _load_module("craft_rnn_reference", SOLUTIONS / A3 / "craft_rnn.py")
    module.torch.set_num_threads(1)
    return module


@pytest.fixture(scope="module")
def probes():
    return _load_module("a3_probes_under_test", ASSIGNMENT / "probes.py")


def torch_backed_module():
    """A stand-in for a student module built on nn.RNN itself: what every check compares with."""
    import torch
    from torch import nn

    class SequenceClassifier(nn.Module):
        def __init__(self, input_size, hidden_size, output_size, num_layers=1):
            super().__init__()
            self.rnn = nn.RNN(input_size, hidden_size, num_layers=num_layers, batch_first=True)
            self.fc = nn.Linear(hidden_size, output_size)

        def forward(self, x):
            return self.fc(self.rnn(x)[0][:, -1])

    return types.SimpleNamespace(CraftRNN=nn.RNN, SequenceClassifier=SequenceClassifier, torch=torch)


GRID = [
    dict(
        T=T,
        B=2,
        D=3,
        H=4,
        num_layers=layers,
        nonlinearity=nonlinearity,
        bias=bias,
        batch_first=batch_first,
        h0=h0,
        unbatched=unbatched,
    )
    for layers, nonlinearity, bias, batch_first, h0, T, unbatched in itertools.product(
        (1, 2, 3), ("tanh", "relu"), (True, False), (False, True), (True, False), (1, 5), (False, True)
    )
    if not (unbatched and batch_first)
]


def _check_cases():
    cases = []
    for name in ("test_public.py", "test_hidden.py"):
        module = _load_check(name)
        cases += list(module.FORWARD_CASES.values()) + list(getattr(module, "GRADIENT_CASES", {}).values())
    return cases


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::pytest.PytestUnknownMarkWarning")  # the check modules' @points and @hidden
def test_reference_equals_nn_rnn_forward_and_gradients(reference, probes):
    """Through the very probes the checks use: nn.RNN and the reference give the same data."""
    from grader.judging.compare import assert_close

    torch_module = torch_backed_module()
    cases = GRID + _check_cases()
    assert len(cases) > 100
    for case in cases:
        for probe in (probes.forward, probes.gradients):
            ours, theirs = probe(reference, seed=5, **case), probe(torch_module, seed=5, **case)
            assert_close(ours, theirs, name=f"{probe.__name__} {case}", rtol=1e-5, atol=2e-6)


def test_reference_parameters_and_initialisation_equal_nn_rnn(reference):
    torch = reference.torch
    for layers, bias in itertools.product((1, 2, 3), (True, False)):
        torch.manual_seed(7)
        theirs = torch.nn.RNN(3, 5, num_layers=layers, bias=bias)
        torch.manual_seed(7)
        ours = reference.CraftRNN(3, 5, num_layers=layers, bias=bias)
        assert list(ours.state_dict()) == list(theirs.state_dict())
        for (name, mine), other in zip(ours.state_dict().items(), theirs.state_dict().values()):
            assert torch.equal(mine, other), name
        ours.load_state_dict(theirs.state_dict())


def test_reference_classifier_trains_like_one_built_on_nn_rnn(reference, probes):
    hidden = _load_check("test_hidden.py")
    verify = _load_module("a3_verify_under_test", ASSIGNMENT / "verify.py")
    x_train, y_train = hidden.sum_task(256, data_seed=1234)
    x_test, y_test = hidden.sum_task(256, data_seed=1235)
    task = dict(seeds=[100, 101], x_train=x_train.tolist(), y_train=y_train.tolist())
    ours = probes.classifier_training(reference, **task)
    theirs = probes.classifier_training(torch_backed_module(), **task)
    for mine, other in zip(ours["runs"], theirs["runs"]):
        assert mine["losses"] == pytest.approx(other["losses"], rel=1e-4)
        classes = verify.classify(None, mine["weights"], x_test, hidden_size=12, num_layers=1)["classes"]
        assert (classes == y_test).mean() > 0.75  # chance is 1/3; measured by the verifier on the weights
    logits = probes.classifier_forward(reference, 3, 6, 4, 2, B=3, T=5, seed=1)["logits"]
    expected = probes.classifier_forward(torch_backed_module(), 3, 6, 4, 2, B=3, T=5, seed=1)["logits"]
    np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-6)


def test_handout_worked_example(reference):
    torch = reference.torch
    x = torch.tensor([[1.0, 1.0], [1.0, 1.0], [2.0, 2.0]])
    for layers, output, h_n in (
        (1, [[2, 2], [6, 6], [16, 16]], [[16, 16]]),
        (2, [[4, 4], [20, 20], [72, 72]], [[16, 16], [72, 72]]),
    ):
        ours = reference.CraftRNN(2, 2, num_layers=layers, nonlinearity="relu")
        theirs = torch.nn.RNN(2, 2, num_layers=layers, nonlinearity="relu")
        for model in (ours, theirs):
            with torch.no_grad():
                for parameter in model.parameters():
                    parameter.fill_(1.0 if parameter.dim() == 2 else 0.0)
            got_output, got_h_n = model(x)
            assert got_output.tolist() == output and got_h_n.tolist() == h_n


# -- grading --------------------------------------------------------------------------------------


def bias_ih_first_layer_only() -> str:
    """A teacher round's slip: bias_ih added in layer 0 only (its parameters all there)."""
    old = 'b_ih = getattr(self, f"bias_ih_l{k}") if self.bias else None'
    source = student_craft()
    assert source.count(old) == 1
    return source.replace(old, 'b_ih = getattr(self, f"bias_ih_l{k}") if self.bias and k == 0 else None')


def h0_at_every_step() -> str:
    """A hostile round's forward: h0 through weight_hh at every step instead of the previous state, so
    every leaf is live and the network is still feed-forward."""
    source = student_craft()
    old = "[t], h)"
    assert source.count(old) == 1
    return source.replace(old, "[t], h0[k])")


@pytest.fixture(scope="module")
def class_results(tmp_path_factory, run_grade):
    """One `grade report` over every submission of this module (torch imported once per worker)."""
    students = {
        "independent": {"craft_rnn.py": student_craft()},
        **{name: {"craft_rnn.py": student_craft(**changes)} for name, (changes, _) in WRONG.items()},
        **{name: {"craft_rnn.py": source} for name, source in {**FORBIDDEN, **ALLOWED}.items()},
        "output_time_first_read_by_the_classifier": {
            "craft_rnn.py": student_craft(BATCH_FIRST_OUT="seq", READOUT="out[:, -1, :]")
        },
        # and a classifier that is wrong itself: it builds its CraftRNN without batch_first=True
        "relu_ignored_and_classifier_time_first": {
            "craft_rnn.py": student_craft(ACTIVATION="torch.tanh").replace("batch_first=True", "batch_first=False")
        },
        "bias_ih_first_layer_only": {"craft_rnn.py": bias_ih_first_layer_only()},
        "no_recurrence": {
            "craft_rnn.py": student_craft().replace(' + F.linear(h, getattr(self, f"weight_hh_l{k}"), b_hh)', "")
        },
        "h0_at_every_step": {"craft_rnn.py": h0_at_every_step()},
        "bias_ih_first_layer_only_state_detached": {
            "craft_rnn.py": bias_ih_first_layer_only().replace("F.linear(h, ", "F.linear(h.detach(), ")
        },
        "relu_ignored_and_classifier_time_first_reading_output": {
            "craft_rnn.py": student_craft(ACTIVATION="torch.tanh", READOUT="out[:, -1, :]").replace(
                "batch_first=True", "batch_first=False"
            )
        },
    }
    return report_class(run_grade, tmp_path_factory.mktemp("a3-class"), tmp_path_factory.mktemp("a3-grades"), students)


@pytest.mark.slow
def test_independent_implementation_scores_full_marks(class_results):
    assert score_of(class_results["independent"], A3) == 100


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(WRONG))
def test_wrong_submission_partial_credit_and_mistake_named(class_results, name):
    expect_partial_credit(class_results[name], A3, name, WRONG[name][1])


@pytest.mark.slow
def test_gradients_of_a_forward_with_a_slip_are_judged_on_their_own(class_results):
    """A forward that differs from nn.RNN's (bias_ih in layer 0 only) cannot have nn.RNN's gradients,
    but autograd's are its own derivative: the forward checks charge the slip, the gradient checks do
    not again (53 where a teacher gives about 65); a graph cut as well (the state detached) is not
    rescued, and the message names the leaves whose gradient is not the forward's."""
    checks = {c["name"]: c for c in checks_of(class_results["bias_ih_first_layer_only"], A3)}
    gradients = [c for name, c in checks.items() if name.startswith("test_gradient")]
    assert len(gradients) == 4 and all(c["points"] > 0 for c in gradients), [c["message"] for c in gradients]
    rescued = [c for c in gradients if c["message"].startswith("Judged on its own: your forward differs")]
    assert len(rescued) >= 2, [c["message"] for c in gradients]  # the multi-layer configurations
    # the leaf its forward ignores (bias_ih of the upper layers) earns no share
    assert all(c["status"] == "partial" and "does not depend on bias_ih_l1" in c["message"] for c in rescued)
    forward = [c for name, c in checks.items() if name.startswith("test_forward") and c["status"] == "failed"]
    assert len(forward) >= 4
    assert score_of(class_results["bias_ih_first_layer_only"], A3) > 53 + 10

    cut = {c["name"]: c for c in checks_of(class_results["bias_ih_first_layer_only_state_detached"], A3)}
    gradients = [c for name, c in cut.items() if name.startswith("test_gradient")]
    assert all(c["status"] == "failed" for c in gradients if "[T1-" not in c["name"]), gradients  # T=1: nothing cut
    assert "is the graph cut there" in cut["test_gradients"]["message"], cut["test_gradients"]["message"]
    assert "weight_hh_l0" in cut["test_gradients"]["message"].rpartition(";")[2]

    # A forward with no recurrence (no weight_hh) is not the network with a slip: nothing is rescued.
    feed_forward = {c["name"]: c for c in checks_of(class_results["no_recurrence"], A3)}
    gradients = [c for name, c in feed_forward.items() if name.startswith("test_gradient") and "[T1-" not in name]
    assert gradients and all(not c["message"].startswith("Judged on its own") for c in gradients)  # T=1: no time
    assert "does not depend on h0, weight_hh_l0, weight_hh_l1 here" in feed_forward["test_gradients"]["message"]

    # Nor is one that reads h0 at every step (a hostile round: every gradient check credited, 49 where
    # the work earns 25): each leaf is live, but the later steps do not move with the first input.
    every_step = {c["name"]: c for c in checks_of(class_results["h0_at_every_step"], A3)}
    gradients = [c for name, c in every_step.items() if name.startswith("test_gradient") and "[T1-" not in name]
    assert gradients and all(c["points"] == 0 for c in gradients), [c["message"] for c in gradients]
    assert "later steps do not move with the first step's input" in every_step["test_gradients"]["message"]


@pytest.mark.slow
def test_a_mistake_in_h_n_alone_keeps_the_credit_of_output(class_results):
    """output and h_n are each half of a forward check, and the gradients through each half of a gradient
    check: h_n's layers in reverse order (output right everywhere) once lost every multi-layer forward
    and gradient check whole, 49 points where a teacher gives about 75."""
    checks = {c["name"]: c for c in checks_of(class_results["hn_layers_reversed"], A3)}
    halves = [c for c in checks.values() if c["status"] == "partial"]
    assert halves and all(c["points"] == pytest.approx(c["max_points"] / 2, abs=1e-4) for c in halves)
    assert {c["name"].split("[")[0] for c in halves} == {"test_forward", "test_forward_configurations"}
    # the gradients through the reversed h_n are its own derivative: judged on their own, they pass
    gradients = [c for name, c in checks.items() if name.startswith("test_gradient")]
    assert gradients and all(c["status"] == "passed" for c in gradients)
    for check in halves:
        assert "1 of 2 entries is wrong (" in check["message"] and "h_n" in check["message"], check["message"]
        assert "output" not in check["message"].split(";")[0], check["message"]  # only h_n's half is wrong
    # Its classifier reads h_n[-1], layer 0 there: the same mistake, where it shows, costs those checks.
    others = [c for c in checks.values() if c not in halves and not c["name"].startswith("test_classifier")]
    assert others and all(c["status"] == "passed" for c in others)
    assert score_of(class_results["hn_layers_reversed"], A3) > 49 + 20


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, rescued",
    [
        ("output_time_first_read_by_the_classifier", ["test_classifier_forward", "test_classifier_two_layers"]),
        ("hn_layers_reversed", ["test_classifier_two_layers"]),  # reads h_n[-1]: right with one layer
    ],
)
def test_the_classifier_is_judged_on_its_own_where_craft_rnn_is_wrong(class_results, name, rescued):
    """SequenceClassifier runs the student's CraftRNN, whose checks judge it: a teacher round's CraftRNN
    that left batch_first's output time-first also lost both classifier forward checks (66 where a
    teacher gives about 76). They are judged again with the grader's stand-in for CraftRNN; training the
    classifier still trains the student's whole model."""
    checks = {c["name"]: c for c in checks_of(class_results[name], A3)}
    for check in ("test_classifier_forward", "test_classifier_two_layers"):
        assert checks[check]["status"] == "passed", checks[check]["message"]
        note = checks[check]["message"]
        assert note.startswith("Judged on its own: with your CraftRNN") == (check in rescued), (check, note)
    if name == "output_time_first_read_by_the_classifier":  # it trains on a time-first output read as batch-first
        assert checks["test_classifier_training"]["points"] == 0


@pytest.mark.slow
def test_a_wrong_classifier_is_not_rescued_by_the_stand_in(class_results):
    """A classifier that reads the first step is wrong on the stand-in too (which differs at every step):
    its own mistake still costs the classifier's checks, and is named."""
    checks = {c["name"]: c for c in checks_of(class_results["classifier_first_step"], A3)}
    for check in ("test_classifier_forward", "test_classifier_two_layers"):
        assert checks[check]["status"] == "failed" and checks[check]["mistake"] == "classifier_first_step", checks[
            check
        ]
    # The stand-in keeps the layout the classifier built its CraftRNN with (a regression round: one built
    # without batch_first=True, beside a CraftRNN that ignores relu, was rescued to 10 points more).
    for name in ("relu_ignored_and_classifier_time_first", "relu_ignored_and_classifier_time_first_reading_output"):
        checks = {c["name"]: c for c in checks_of(class_results[name], A3)}
        assert checks["test_forward[three-layers-relu]"]["status"] != "passed"  # CraftRNN is wrong: a rescue is tried
        for check in ("test_classifier_forward", "test_classifier_two_layers"):
            assert checks[check]["points"] == 0, (name, checks[check])


@pytest.mark.slow
def test_misnamed_parameters_are_listed(class_results):
    checks = {c["name"]: c for c in checks_of(class_results["parameters_misnamed"], A3)}
    message = checks["test_parameter_names"]["message"]
    assert "missing weight_ih_l0, weight_ih_l1" in message and "unexpected w_ih_0, w_ih_1" in message
    assert "weight_ih_l0 (5, 3)" in message  # what nn.RNN has
    # One slip, one penalty: the checks of what the code computes load nn.RNN's weights under the
    # student's names (w_ih_0 says weight_ih_l0), as the training check's verifier does. Once they
    # all failed ("cannot load"), and a ParameterList of correct maths scored 15.
    failed = sorted(name for name, check in checks.items() if check["status"] != "passed")
    assert failed == ["test_parameter_names", "test_parameter_names_without_bias"], failed
    assert checks["test_classifier_training"]["status"] == "passed"  # it trains fine under its own names


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(FORBIDDEN))
def test_ready_made_rnn_is_refused(class_results, name):
    result = class_results[name]
    assert score_of(result, A3) <= 20, f"{name} scored {score_of(result, A3)}"
    failed = [c for c in checks_of(result, A3) if c["status"] != "passed"]
    assert failed
    for check in failed:
        message = check["message"]
        assert "not allow" in message, (name, message)
        assert any(api in message for api in ("torch.nn.RNN", "torch.nn.GRU", "torch._VF", "torch.rnn_tanh")), message


@pytest.mark.slow
def test_static_and_runtime_messages_name_what_was_used(class_results):
    def first_message(name):
        return [c for c in checks_of(class_results[name], A3) if c["status"] != "passed"][0]["message"]

    assert "uses `torch.nn.RNN` (line 4)" in first_message("subclasses_nn_rnn")
    assert "uses `torch.nn.GRU` (line 1)" in first_message("unused_import")
    assert "uses `torch.nn.RNN`" in first_message("alias_from_modules")  # torch.nn.modules.rnn.RNN
    assert "ready-made RNNs" in first_message("unused_import")
    assert "`torch.nn.RNN`, which this assignment does not allow" in first_message("getattr_at_run_time")
    # Computed names, torch.ops and __subclasses__ reach around the guards: the integrity scan flags the
    # line, and the flag fails every check (the run-time refusal is proven in tests/test_a3_integrity.py).
    for name in ("vf_through_importlib", "aten_kernel_caught", "real_class_behind_the_guard"):
        assert "flagged for your instructor's review" in first_message(name), name
    assert all(c["status"] != "passed" for c in checks_of(class_results["aten_kernel_caught"], A3))


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ALLOWED))
def test_correct_code_near_forbidden_names_keeps_full_marks(class_results, name):
    result = class_results[name]
    problems = [(c["name"], c["message"]) for c in checks_of(result, A3) if c["status"] != "passed"]
    assert score_of(result, A3) == 100, problems


@pytest.mark.slow
def test_runtime_guards_in_process():
    """The guards alone, without the sandbox: every route to a ready-made RNN is refused and
    recorded every time; torch's own use of torch._VF (einsum, split, dropout) still works."""
    code = '''
import importlib, sys, torch
from torch import nn
from grader.inside import guards
guards.forbid_apis(TOML)
x = torch.randn(3, 2, 4)
routes = {
    "nn.RNN": lambda: nn.RNN(4, 5),
    "modules.rnn.RNN": lambda: torch.nn.modules.rnn.RNN(4, 5),
    "RNNCell": lambda: nn.RNNCell(4, 5),
    "LSTM": lambda: nn.LSTM(4, 5),
    "GRU": lambda: nn.GRU(4, 5),
    "real class": lambda: [c for c in nn.modules.rnn.RNNBase.__subclasses__()
                           if c.__module__ == "torch.nn.modules.rnn" and c.__name__ == "RNN"][0](4, 5)(x),
    "sys.modules _VF": lambda: sys.modules["torch._VF"].rnn_tanh,
    "import_module _VF": lambda: importlib.import_module("torch._VF").lstm,
    "_VariableFunctions": lambda: torch._C._VariableFunctions.rnn_relu(x, torch.zeros(1, 2, 5), [], False, 1, 0.0, False, False, False),
    "rnn_tanh_cell": lambda: torch.rnn_tanh_cell(x[0], torch.zeros(2, 5), torch.ones(5, 4), torch.ones(5, 5)),
    "second nn.RNN": lambda: nn.RNN(4, 5),
}
for label, route in routes.items():
    guards.used.clear()  # as the sandbox's child does before each probe call
    try:
        route()
    except guards.ForbiddenApiUsed:
        pass
    except BaseException as exc:
        raise SystemExit(f"{label}: {type(exc).__name__}: {exc}")
    if not guards.used:
        raise SystemExit(f"{label}: not recorded")
guards.used.clear()
torch.einsum("tbd,hd->tbh", x, torch.ones(5, 4)); x.split(1); torch.split(x, 1); torch.nn.functional.dropout(x, 0.5)
torch.meshgrid(torch.arange(2), torch.arange(3), indexing="ij"); torch.tensordot(x, torch.ones(4, 5), dims=1)
if guards.used:
    raise SystemExit(f"torch's own use of torch._VF was refused: {guards.used}")
print("ok")
'''
    import subprocess

    from grader.course.model import load_spec

    forbidden = list(load_spec(ASSIGNMENT, "full").forbidden_apis)
    process = subprocess.run(
        [sys.executable, "-c", code.replace("TOML", repr(forbidden))],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert process.returncode == 0 and process.stdout.strip() == "ok", process.stdout + process.stderr


def test_weights_load_under_names_that_say_the_same_and_nowhere_else():
    """probe_api.load_weights pairs nn.RNN's names with a student's that say the same (kind, other
    words, layer numbers) or, failing that, come in the same order and shapes; anything ambiguous or
    misshapen is still refused, naming both lists."""
    import torch
    from torch import nn

    from grader.inside.probe_api import ProbeFailure, load_weights

    reference = dict(nn.RNN(3, 5, num_layers=2).state_dict())

    class ParameterLists(nn.Module):  # the teacher's style: all w_ih first, then w_hh, b_ih, b_hh
        def __init__(self, sizes=((5, 3), (5, 5))):
            super().__init__()
            self.w_ih = nn.ParameterList([nn.Parameter(torch.zeros(*s)) for s in sizes])
            self.w_hh = nn.ParameterList([nn.Parameter(torch.zeros(5, 5)) for _ in sizes])
            self.b_ih = nn.ParameterList([nn.Parameter(torch.zeros(5)) for _ in sizes])
            self.b_hh = nn.ParameterList([nn.Parameter(torch.zeros(5)) for _ in sizes])

    model = load_weights(ParameterLists(), reference, "CraftRNN(3, 5, num_layers=2)")
    assert torch.equal(model.w_ih[1], reference["weight_ih_l1"]) and torch.equal(model.b_hh[0], reference["bias_hh_l0"])

    class Layers(nn.Module):  # layers.0.W_ih, in nn.RNN's order
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList()
            for size in (3, 5):
                layer = nn.Module()
                layer.W_ih, layer.W_hh = nn.Parameter(torch.zeros(5, size)), nn.Parameter(torch.zeros(5, 5))
                layer.b_ih, layer.b_hh = nn.Parameter(torch.zeros(5)), nn.Parameter(torch.zeros(5))
                self.layers.append(layer)

    assert torch.equal(load_weights(Layers(), reference, "m").layers[1].W_hh, reference["weight_hh_l1"])

    class Unsaid(nn.Module):  # names that say nothing, in another order than the shapes: refused
        def __init__(self):
            super().__init__()
            self.weight_a, self.weight_b = nn.Parameter(torch.zeros(5, 3)), nn.Parameter(torch.zeros(5, 5))

    with pytest.raises(ProbeFailure, match="cannot load"):
        load_weights(Unsaid(), {"weight_hh_l0": torch.ones(5, 5), "weight_ih_l0": torch.ones(5, 3)}, "m")
    with pytest.raises(ProbeFailure, match="Found: w_ih.0 \\(5, 3\\)"):
        load_weights(ParameterLists(sizes=((5, 3), (5, 4))), reference, "m")  # a misshapen layer
