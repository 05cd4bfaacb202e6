"""Assignment a2 graded end to end: independent correct work scores 100, wrong work partial credit
with the mistake named (the reference, the stub and the catalogue's own mutants: tests/test_contract.py;
notebooks: tests/test_notebooks_as_py.py). The wrong submissions are variants of a
student-style implementation written independently of the reference (stacked losses, a dict for
the letters, a module-level memory), so fingerprinting is shown to match behaviour, not text.

The first tests prove the reference itself right: it reproduces the course's training loop loss for
loss, and reaches "ohlol" on the measured share of seeds.
"""

from __future__ import annotations

import importlib.util
import re

import pytest
from conftest import SOLUTIONS, checks_of, expect_partial_credit, report_class, score_of

A2 = "a2_rnncell_ohlol"

STUDENT_OHLOL = '''
import torch
import torch.nn as nn

IDX2CHAR = ["e", "h", "l", "o"]
CHAR2IDX = {{c: i for i, c in enumerate(IDX2CHAR)}}


def encode(text):
    return [CHAR2IDX[c] for c in text]


def one_hot(indices, num_classes=4):
    out = torch.zeros(len(indices), 1, num_classes{ONE_HOT_DTYPE})
    for t, i in enumerate(indices):
        out[t, 0, i] = 1.0
    return out


class Model(nn.Module):
    def __init__(self, input_size=4, hidden_size=4, batch_size=1):
        super().__init__()
        self.batch_size, self.hidden_size = batch_size, hidden_size
        {BEFORE_CELL}
        self.rnncell = nn.RNNCell(input_size, hidden_size{NONLINEARITY})

    def forward(self, x_t, hidden):
        return self.rnncell(x_t, hidden)

    def init_hidden(self):
        return torch.zeros({BATCH}, self.hidden_size, device=next(self.parameters()).device)


def train(model, inputs, labels, epochs=15, lr=0.1):
    loss_fn = nn.CrossEntropyLoss()
    opt = torch.optim.Adam(model.parameters(), lr={LR})
    history = []
    for epoch in {EPOCHS}:
        {ZERO_GRAD}
        h = model.init_hidden()
        step_losses = []
        for t in range(inputs.size(0)):
            h = model(inputs[t], h)
            step_losses.append(loss_fn(h, labels[t]))
        total = torch.stack(step_losses).{REDUCE}()
        total.backward()
        opt.step()
        history.append(float(total))
    return history


_memory = {{}}


def predict(model, inputs):
    h = {START}
    out = ""
    with torch.no_grad():
        for x in inputs:
            h = model(x, h)
            out += IDX2CHAR[int(torch.argmax(h, dim=1))]
    {REMEMBER}
    return {RESULT}
'''

CORRECT = dict(
    ONE_HOT_DTYPE="",
    BEFORE_CELL="pass",
    NONLINEARITY="",
    BATCH="self.batch_size",
    LR="lr",
    EPOCHS="range(epochs)",
    ZERO_GRAD="opt.zero_grad()",
    REDUCE="sum",
    START="model.init_hidden()",
    REMEMBER="pass",
    RESULT="out",
)

# name: (changes to CORRECT, the catalogued mistake the feedback must name, or None)
WRONG = {
    "loss_averaged": (dict(REDUCE="mean"), "loss_averaged"),
    "zero_grad_forgotten": (dict(ZERO_GRAD="pass"), "zero_grad_forgotten"),
    "predict_state_not_reset": (
        dict(START='_memory.get("h", model.init_hidden())', REMEMBER='_memory["h"] = h'),
        "predict_state_not_reset",
    ),
    "lr_ignored": (dict(LR="0.1"), "lr_ignored"),
    "init_hidden_batch_ignored": (dict(BATCH="1"), "init_hidden_batch_ignored"),
    "relu_cell": (dict(NONLINEARITY=', nonlinearity="relu"'), "relu_cell"),
    "one_hot_float64": (dict(ONE_HOT_DTYPE=", dtype=torch.float64"), None),
    "predict_hard_coded": (dict(RESULT='"ohlol"'), None),
    "epoch_missing": (dict(EPOCHS="range(1, epochs)"), None),
}


def student_ohlol(**changes: str) -> str:
    return STUDENT_OHLOL.format(**{**CORRECT, **changes})


# -- the reference itself ---------------------------------------------------------------------------

COURSE_NOTES_LOOP = '''
def course_notes_training(net, inputs, labels, epochs=15):
    """The training loop of the course notes, verbatim apart from collecting the losses."""
    criterion = torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(net.parameters(), lr=0.1)
    curve = []
    for epoch in range(epochs):
        loss = 0
        optimizer.zero_grad()
        hidden = net.init_hidden()
        for input, label in zip(inputs, labels):
            hidden = net(input, hidden)
            loss += criterion(hidden, label)
        loss.backward()
        optimizer.step()
        curve.append(loss.item())
    return curve
'''


@pytest.fixture(scope="module")
def reference():
    spec = importlib.util.spec_from_file_location("ohlol_reference", SOLUTIONS / A2 / "ohlol.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.torch.set_num_threads(1)
    return module


@pytest.mark.slow
def test_reference_matches_the_course_notes(reference):
    torch = reference.torch
    namespace = {"torch": torch}
    exec(COURSE_NOTES_LOOP, namespace)
    inputs = reference.one_hot(reference.encode("hello"))
    labels = torch.tensor(reference.encode("ohlol")).view(-1, 1)
    assert reference.encode("hello") == [1, 0, 2, 2, 3]
    assert inputs.shape == (5, 1, 4) and inputs.dtype == torch.float32
    for seed in (0, 1, 2):
        torch.manual_seed(seed)
        ours = reference.train(reference.Model(), inputs, labels)
        torch.manual_seed(seed)
        theirs = namespace["course_notes_training"](reference.Model(), inputs, labels)
        assert ours == pytest.approx(theirs, rel=1e-6), f"seed {seed}"
    torch.manual_seed(0)
    model = reference.Model()
    losses = reference.train(model, inputs, labels)
    assert [round(x, 4) for x in (losses[0], losses[1], losses[-1])] == [6.7619, 5.796, 2.7695]  # the handout
    assert reference.predict(model, inputs) == "ohlll"  # the handout: 15 epochs are not enough for seed 0


@pytest.mark.slow
def test_reference_reaches_ohlol_on_the_measured_share_of_seeds(reference):
    torch = reference.torch
    inputs = reference.one_hot(reference.encode("hello"))
    labels = torch.tensor(reference.encode("ohlol")).view(-1, 1)
    reached = 0
    for seed in range(100):
        torch.manual_seed(seed)
        model = reference.Model()
        losses = reference.train(model, inputs, labels, epochs=15)
        assert len(losses) == 15 and losses[-1] < losses[0]
        reached += reference.predict(model, inputs) == "ohlol"
    assert reached == 73  # the figure of the course's seed notes


# -- grading ----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_class_of_submissions(run_grade, tmp_path):
    """An independent correct student and every wrong one, in one batch."""
    students = {
        "independent": {"ohlol.py": student_ohlol()},
        "other_init": {"ohlol.py": student_ohlol(BEFORE_CELL="self.scale = nn.Linear(4, 4)")},
        **{name: {"ohlol.py": student_ohlol(**changes)} for name, (changes, _) in WRONG.items()},
        "endless_predict": {"ohlol.py": _with_endless_predict((SOLUTIONS / A2 / "ohlol.py").read_text())},
        # a typo in train beside an init_hidden of ones: the training's failure is train's, not init_hidden's
        "train_typo_and_init_hidden_ones": {
            "ohlol.py": (SOLUTIONS / A2 / "ohlol.py")
            .read_text()
            .replace("losses.append(loss.item())", "losses.append(loss.itm())")
            .replace(
                "return torch.zeros(self.batch_size, self.hidden_size, device=device)",
                "return torch.ones(self.batch_size, self.hidden_size, device=device)",
            )
        },
        **{name: {"ohlol.py": _slipped(old, new)} for name, (old, new) in ONE_SLIP_IN_THE_MODEL.items()},
        **{name: {"ohlol.py": _slipped(old, new)} for name, (old, new) in SLIPS_THEIR_OWN_CHECKS_MISS.items()},
        "predict_returns_a_list": {"ohlol.py": student_ohlol(RESULT="list(out)")},
    }
    results = report_class(run_grade, tmp_path / "class", tmp_path / "grades", students)
    _expect_letters_in_a_list_charged_for_the_type_alone(results.pop("predict_returns_a_list"))
    _expect_endless_loop_stopped_early(results.pop("endless_predict"))
    _expect_loss_curves_plotted(
        results["zero_grad_forgotten"], tmp_path / "grades" / "students" / "zero_grad_forgotten"
    )

    assert score_of(results["independent"], A2) == 100

    for name, (_, mistake) in WRONG.items():
        expect_partial_credit(results[name], A2, name, mistake)
    _expect_other_init_judged_by_convergence(results["other_init"])
    _expect_specific_messages(results)
    _expect_train_and_predict_judged_on_their_own(results)


# One slip in forward or init_hidden, which train and predict call (a teacher round: each cost every
# loss-curve and predict check too, 25 points where a teacher gives about 60).
ONE_SLIP_IN_THE_MODEL = {
    "init_hidden_sizes_swapped": (
        "torch.zeros(self.batch_size, self.hidden_size,",
        "torch.zeros(self.hidden_size, self.batch_size,",
    ),
    "forward_tanh_twice": ("return self.rnncell(x_t, hidden)", "return torch.tanh(self.rnncell(x_t, hidden))"),
}


# Slips in forward or init_hidden that their own checks do not see (a regression round): the loss curves
# and predict are not judged on their own then, since forward and init_hidden cannot explain them.
SLIPS_THEIR_OWN_CHECKS_MISS = {
    "init_hidden_returns_the_last_state": (
        "        return self.rnncell(x_t, hidden)\n\n    def init_hidden(self):\n",
        "        self.last = self.rnncell(x_t, hidden)\n        return self.last\n\n    def init_hidden(self):\n"
        "        if getattr(self, 'last', None) is not None:\n            return self.last.detach()\n",
    ),
    "forward_detaches_the_state": ("return self.rnncell(x_t, hidden)", "return self.rnncell(x_t, hidden.detach())"),
}


def _slipped(old: str, new: str) -> str:
    source = student_ohlol()
    assert source.count(old) == 1, old
    return source.replace(old, new)


def _expect_train_and_predict_judged_on_their_own(results):
    """The slip costs its own checks and the training of the whole Model; train's loss curves and
    predict are judged again with the grader's forward and init_hidden, and keep their points."""
    for name, own_checks, score in (
        ("init_hidden_sizes_swapped", ("test_init_hidden", "test_init_hidden_batch"), 60),
        ("forward_tanh_twice", ("test_forward_step", "test_forward_other_sizes"), 55),
        # a fairness round: the stand-in forward stepped the student's relu cell, so train and predict lost
        # their 35 points too (20); it steps the cell's weights with tanh, as the handout specifies
        ("relu_cell", ("test_forward_step", "test_forward_other_sizes"), 55),
    ):
        checks = {c["name"]: c for c in checks_of(results[name], A2)}
        for check in own_checks + ("test_converges_to_ohlol", "test_hidden_mapping"):
            assert checks[check]["points"] == 0, (name, check, checks[check]["message"])
        alone = [c for c in checks if c.startswith(("test_loss_curve", "test_predict"))]
        assert len(alone) == 6, alone
        for check in alone:  # passed: on its own, or outright where the slip does not change it
            message = checks[check]["message"]
            assert checks[check]["status"] == "passed", (name, check, message)
            if check.startswith("test_loss_curve") or name == "init_hidden_sizes_swapped":
                assert "Judged on its own" in message, (name, check, message)
                assert "with the grader's forward and init_hidden in your Model" in message
        assert score_of(results[name], A2) == score, name
    # the training, which runs the whole Model, says where its failure comes from (a teacher round: "Input
    # batch size 1 doesn't match hidden0 batch size 4 ... in forward", beside a note that train is right)
    training = {c["name"]: c for c in checks_of(results["init_hidden_sizes_swapped"], A2)}
    for check in ("test_converges_to_ohlol", "test_hidden_mapping"):
        message = training[check]["message"]
        assert "your init_hidden gets its own check's question wrong (test_init_hidden)" in message, message
    typo = {c["name"]: c for c in checks_of(results["train_typo_and_init_hidden_ones"], A2)}
    for check in ("test_converges_to_ohlol", "test_hidden_mapping"):  # a regression round: init_hidden was blamed
        message = typo[check]["message"]
        assert "'Tensor' object has no attribute 'itm'" in message and "your train gets" in message, message
        assert "your init_hidden" not in message, message
    for name, score in (("init_hidden_returns_the_last_state", 65), ("forward_detaches_the_state", 50)):
        checks = {c["name"]: c for c in checks_of(results[name], A2)}
        curves = [c for c in checks.values() if c["name"].startswith("test_loss_curve")]
        assert curves and all(c["points"] == 0 and "Judged on its own" not in c["message"] for c in curves), name
        assert score_of(results[name], A2) == score, name


def _with_endless_predict(source: str) -> str:
    docstring = '    """Greedy decoding from a fresh zero state: the letter with the largest score at every step."""\n'
    assert source.count(docstring) == 1
    return source.replace(docstring, docstring + "    while True:\n        pass\n")


def _expect_endless_loop_stopped_early(result):
    """The limit follows the reference's own time for the call (milliseconds here), so an endless loop
    is stopped at the floor of 3 s, not at the assignment's 20 s; the rest is graded as usual. (On a busy
    machine, or on a GPU, the reference's time, and so the limit, may be larger: only the floor and the cap
    are sure, and past 6 s the rule for a loop that calls nothing may stop it first, as on an H200.)"""
    checks = {c["name"]: c for c in checks_of(result, A2)}
    stopped = checks["test_predict"]
    message = stopped["message"]
    assert stopped["status"] == "failed"
    limit = re.search(r"did not finish within ([0-9.]+) s", message)
    stuck = re.search(r"stopped after ([0-9.]+) s: it ran [0-9.]+ s on the same lines", message)
    if stuck is None:
        assert limit and 3 <= float(limit.group(1)) < 20, message
        assert "times as long as the reference solution's" in message
    else:
        assert float(stuck.group(1)) < 20 and "without calling any function" in message, message
    assert "in predict" in message
    assert checks["test_hidden_mapping"]["status"] == "passed"
    assert 0 < score_of(result, A2) < 100


def _expect_letters_in_a_list_charged_for_the_type_alone(result):
    """A fairness round: predict returning its right letters as a list lost all 15 points of predict
    (85 where a teacher gives about 95); the letters are judged and the type costs 30% of each check."""
    checks = [c for c in checks_of(result, A2) if "predict" in c["name"]]
    assert len(checks) == 3 and all(c["status"] == "partial" for c in checks), [c["message"] for c in checks]
    assert all(c["points"] == pytest.approx(0.7 * c["max_points"]) for c in checks)
    assert all("returns them as a list" in c["message"] for c in checks)
    assert score_of(result, A2) == pytest.approx(95.5)


def _expect_other_init_judged_by_convergence(result):
    """Right code, other initial weights: the loss curves of its own initialisation differ (the
    handout's order is asked there); the training checks start every seed from the same weights for
    everyone, so this correct training reproduces the reference's and keeps those points."""
    checks = {c["name"]: c for c in checks_of(result, A2)}
    curve = checks["test_loss_curve"]
    assert curve["status"] == "failed" and "other weights than the reference" in curve["diagnosis"]
    for name in ("test_converges_to_ohlol", "test_hidden_mapping"):
        assert checks[name]["status"] == "passed" and "exactly" in checks[name]["message"], checks[name]
    assert 0 < score_of(result, A2) < 100


def _expect_specific_messages(results):
    by_name = {name: {c["name"]: c for c in checks_of(result, A2)} for name, result in results.items()}
    averaged = by_name["loss_averaged"]
    assert averaged["test_converges_to_ohlol"]["status"] == "passed"  # Adam hardly sees the factor
    assert "same factor 0.2" in averaged["test_loss_curve"]["diagnosis"]
    assert "dtype float64" in by_name["one_hot_float64"]["test_one_hot[4]"]["message"]
    hard_coded = by_name["predict_hard_coded"]
    assert hard_coded["test_predict"]["status"] == "failed"
    assert hard_coded["test_hidden_mapping"]["status"] == "passed"  # training itself is right
    # One epoch too few (a teacher round: 50 where a teacher gives 80): the curves fail, saying so; the
    # trained weights are judged all the same.
    short = by_name["epoch_missing"]
    assert "so 1 epoch(s) are missing (range(1, epochs)?)" in short["test_loss_curve"]["diagnosis"]
    assert short["test_hidden_mapping"]["status"] == "passed" and short["test_converges_to_ohlol"]["status"] == "passed"


def _expect_loss_curves_plotted(result, out):
    """The feedback plots the loss curves, on the check that fails on the curve."""
    checks = {c["name"]: c for c in checks_of(result, A2)}
    curves = checks["test_loss_curve"]["details"]["curves"]  # on the check that fails on the curve
    assert set(curves) == {"your loss", "reference"} and len(curves["reference"]) == 15
    assert "curves" not in checks["test_converges_to_ohlol"]["details"]
    html = (out / "feedback.html").read_text()
    assert "<polyline" in html and "your loss" in html
