"""Integrity: a grade is earned by the work, never by what the student's process claims.

Each cheat below is the honest work underneath plus a trick. Its score must be no higher than that
work earns on its own, the checks the trick aims at must fail, and no held-out label may appear in
anything the grader writes. See DESIGN.md, "verdicts come from artefacts, never from claims".
"""

from __future__ import annotations

import ast
import json
import os
import re

import numpy as np
import pytest
from conftest import REPO, SOLUTIONS, TEMPLATE, checks_of, score_of, write_submission

A2, A3, A4, A5 = "a2_rnncell_ohlol", "a3_craft_rnn", "a4_seq2seq", "a5_sentiment_lstm"


def patched(assignment: str, module: str, *replacements: tuple[str, str], append: str = "") -> dict[str, str]:
    """The reference solution with textual replacements (each must apply) and code appended."""
    source = (SOLUTIONS / assignment / f"{module}.py").read_text()
    for old, new in replacements:
        assert old in source, f"{assignment}: {old!r} not found in the reference"
        source = source.replace(old, new)
    return {f"{assignment}/{module}.py": source + append}


# a2: training that never steps the optimizer is the honest work underneath every a2 cheat.
NO_STEP = ("        optimizer.step()\n", "        pass  # never steps\n")

FORGED_TRAINING_PROBE = '''

import sys as _sys

def _forged_train_seeds(ohlol, source, target, seeds, epochs=15, lr=0.1):
    """Claims success: the target as prediction, a falling loss, and the untrained weights."""
    model = Model()
    weights = {name: value.detach().numpy() for name, value in model.state_dict().items()}
    return {"runs": [{"losses": [5.0 - 0.3 * i for i in range(epochs)], "prediction": target, "accuracy": 1.0,
                      "weights": weights} for _ in seeds]}

import gc as _gc  # the probes are in no sys.modules: only a walk the integrity scan flags finds them
_probes = next((o for o in _gc.get_objects() if type(o) is type(_sys) and o.__name__ == "assignment_probes"), None)
if _probes is not None:
    _probes.train_seeds = _forged_train_seeds
'''

REPLAYED_TARGETS = '''

_seen_labels = []
_original_train = train

def train(model, inputs, labels, epochs=15, lr=0.1):
    _seen_labels[:] = [int(label) for label in labels.view(-1)]
    model._step = 0
    return _original_train(model, inputs, labels, epochs, lr)

def _replaying_forward(self, x_t, hidden):
    """Answers with the targets train() was given, whatever the input."""
    if not _seen_labels:
        return self.rnncell(x_t, hidden)
    step = getattr(self, "_step", 0)
    self._step = (step + 1) % len(_seen_labels)
    return torch.nn.functional.one_hot(torch.tensor([_seen_labels[step]]), 4).float() * 10 + 0 * self.rnncell(x_t, hidden)

Model.forward = _replaying_forward
'''

FORGED_REPLY_FRAME = '''

import os as _os
import stat as _stat

def train(model, inputs, labels, epochs=15, lr=0.1):
    """Writes a well-formed reply claiming success on every pipe it holds, then leaves."""
    import numpy as np
    from grader.wire.channel import write_frame
    weights = {name: value.detach().cpu().numpy() for name, value in model.state_dict().items()}
    run = {"losses": np.linspace(5.0, 0.5, epochs), "prediction": "ohlol", "accuracy": 1.0, "weights": weights}
    claim = {"ok": True, "data": {"runs": [run] * 20, "losses": run["losses"], "initial_loss": 5.0},
             "elapsed": 0.01, "forbidden_used": []}
    for fd in range(3, 64):
        try:
            if _stat.S_ISFIFO(_os.fstat(fd).st_mode):
                write_frame(fd, claim)
        except OSError:
            pass
    _os._exit(0)
'''

# a2 that trains a copy of the model (real optimizer steps, on the copy), writes the copy's weights into
# the model it was given, then tells the grader's step bookkeeping in its own process that steps of the
# model produced them (found by a hostile-student round: the bookkeeping is the student's process's).
# Importing the grader is flagged in every assignment now; a flag costs every check judging training.
FORGED_STEP_BOOKKEEPING = """

_honest_train = train

def train(model, inputs, labels, epochs=15, lr=0.1):
    import copy
    shadow = copy.deepcopy(model)
    optimizer = torch.optim.Adam(shadow.parameters(), lr=lr)
    criterion = nn.CrossEntropyLoss()
    for _ in range(epochs):
        optimizer.zero_grad()
        hidden, loss = shadow.init_hidden(), 0
        for x_t, label in zip(inputs, labels):
            hidden = shadow(x_t, hidden)
            loss = loss + criterion(hidden, label)
        loss.backward()
        optimizer.step()
    losses = _honest_train(model, inputs, labels, epochs, lr)
    with torch.no_grad():
        for mine, trained in zip(model.parameters(), shadow.parameters()):
            mine.copy_(trained)
    import grader.inside.probe_api as bookkeeping
    for key, (parameter, _) in list(bookkeeping.WATCHED.items()):
        bookkeeping.WATCHED[key] = (parameter, parameter.detach().clone())
    bookkeeping.MODEL_STEPS[0] += epochs
    return losses
"""

# a4: no training at all, and translate() by table lookup (the handout names the tasks).
A4_NO_TRAINING = (
    "    loss.backward()\n    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)\n    optimizer.step()\n",
    "",
)
A4_TABLE = '''

_TABLE = {"hello": "hola", "cat": "gato", "good": "bueno"}
_original_translate = translate

def translate(model, word, n_step):
    return _TABLE.get(word, word[::-1])
'''

# a5: no training; the dataset keeps and prints every sentence and label it is given; evaluate says 1.0.
A5_NO_TRAINING = ("        loss.backward()\n        optimizer.step()\n", "")
A5_THIEF = '''

_stolen = []
_OriginalDataset = SentimentDataset

class SentimentDataset(_OriginalDataset):
    def __init__(self, texts, labels, vocab, max_len=100):
        super().__init__(texts, labels, vocab, max_len)
        _stolen.extend(zip(self.texts, self.labels))
        for text, label in zip(self.texts, self.labels):
            print("STOLEN", label, text)

def evaluate(model, loader, device):
    return 1.0
'''


# Logits that turn NaN when the batch carries more padding than its longest sentence needs: "changed
# by up to nan" compares false with any tolerance, so such a check once passed.
NAN_ON_PADDING = (
    "        embedded = self.embedding(x)\n",
    "        embedded = self.embedding(x)\n"
    "        if x.shape[1] > int(lengths.max()):\n"
    "            embedded = embedded * float(\"nan\")\n",
)


# a5 without packing, the batch cut to its longest sentence: more padding columns than that change
# nothing, yet every shorter sentence still reads padding. It earned the padding-invariance points when
# that check only added padding columns; it must earn no more than plain no-packing.
NO_PACKING = (
    "packed = pack_padded_sequence(embedded, lengths.cpu(), batch_first=True, enforce_sorted=False)",
    "packed = embedded",
)
# a5 whose train_epoch never steps the optimizer it is given but writes the weights itself: it stands for
# weights trained elsewhere and copied in (a student shipped ones trained offline on the public data).
# A training run must take at least half the reference's optimizer steps (steps with no gradient do not count).
# A hostile round's a5: steps at 3e-5 (they learn nothing), and a hook registry of its own, a dict
# subclass whose __len__ (which the bookkeeping's check for hooks called inside its step hook, after
# its read) walked the weights toward a copy trained by hand and said 0 (94.68 where the work earns 68.09).
HOOK_REGISTRY_OF_ITS_OWN = (
    "    model.train()\n    total, batches = 0.0, 0\n",
    "    model.train()\n    total, batches = 0.0, 0\n"
    "    for group in optimizer.param_groups:\n"
    "        group['lr'] = min(group['lr'], 3e-5)\n"
    "    if not isinstance(optimizer.__dict__.get('_optimizer_step_pre_hooks'), _Sneaky):\n"
    "        optimizer._optimizer_step_pre_hooks = _Sneaky(model, _shadow(model, loader, device))\n",
)
SNEAKY_REGISTRY = """

import collections
import copy


class _Sneaky(collections.OrderedDict):
    def __init__(self, model, target):
        super().__init__()
        self.model, self.target, self.calls = model, target, 0

    def __len__(self):
        self.calls += 1
        if self.calls % 2:
            with torch.no_grad():
                for p, t in zip(self.model.parameters(), self.target):
                    p.add_((t - p).clamp(-0.2, 0.2))
        return 0


def _shadow(model, loader, device):
    shadow = copy.deepcopy(model)
    shadow.train()
    ps = list(shadow.parameters())
    m, v, t = [torch.zeros_like(p) for p in ps], [torch.zeros_like(p) for p in ps], 0
    for _ in range(4):  # Adam by hand: no optimizer step for the bookkeeping to see
        for padded, lengths, labels in loader:
            t += 1
            loss = nn.functional.cross_entropy(shadow(padded.to(device), lengths), labels.to(device))
            grads = torch.autograd.grad(loss, ps, allow_unused=True)
            with torch.no_grad():
                for p, g, a, b in zip(ps, grads, m, v):
                    if g is not None:
                        a.mul_(0.9).add_(g, alpha=0.1)
                        b.mul_(0.999).addcmul_(g, g, value=0.001)
                        p.sub_(3e-2 * (a / (1 - 0.9**t)) / ((b / (1 - 0.999**t)).sqrt() + 1e-8))
    return [p.detach().clone() for p in ps]
"""
WEIGHTS_WRITTEN_BY_HAND = (
    "        optimizer.step()\n",
    "        with torch.no_grad():\n"
    "            for parameter in model.parameters():\n"
    "                if parameter.grad is not None:\n"
    "                    parameter -= 0.01 * parameter.grad.sign()\n"
    "        optimizer.zero_grad()\n"
    "        optimizer.step()  # counted only where it could move something: no gradient, no step\n",
)


# a2 that prints every target it is trained on: printed during a hidden check, that is the hidden
# task itself, which answered the next submission (weights prepared for it offline). The instructor sees
# it; the page sent back to the student never does.
RECON = """

_honest_train = train

def train(model, inputs, labels, epochs=15, lr=0.1):
    print("RECON", "".join(IDX2CHAR[int(i)] for i in labels.flatten()))
    return _honest_train(model, inputs, labels, epochs, lr)
"""


def hidden_mapping() -> tuple[str, str]:
    """a2's hidden mapping as official grading draws it under the suite's course secret (judge.drawn)."""
    from grader.course.secret import load_secret

    path = REPO / "assignments" / A2 / "checks" / "test_hidden.py"
    text = path.read_text(encoding="utf-8")
    namespace: dict[str, object] = {}
    exec(text[text.index("HIDDEN_MAPPINGS = [") : text.index("HIDDEN_SOURCE, HIDDEN_TARGET")], namespace)
    mappings = namespace["HIDDEN_MAPPINGS"]
    assert isinstance(mappings, list)
    return mappings[load_secret(REPO, create=False).seed(A2, 0) % len(mappings)]


def prepared_weights_cheat() -> dict[str, str]:
    """a5 whose training does nothing (A5_NO_TRAINING) except on the course's own data, where each batch
    takes a real optimizer step on a made-up loss, the distance to weights prepared offline on
    train.tsv: every step has a gradient and moves the weights, nothing is written outside the steps,
    and the replay holds. Only a task the student has never seen tells this from training, which gates
    the training checks on the course's data. (Copying the weights in after each step is caught
    earlier: weights written outside the optimizer's steps count no step.)"""
    import base64
    import importlib.util
    import io

    import torch

    spec = importlib.util.spec_from_file_location("_reference_sentiment", SOLUTIONS / A5 / "sentiment.py")
    assert spec is not None and spec.loader is not None
    reference = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reference)
    rows = (REPO / "assignments" / A5 / "data" / "train.tsv").read_text(encoding="utf-8").splitlines()
    labels, texts = zip(*(row.split("\t", 1) for row in rows if row))
    torch.manual_seed(0)
    vocab = reference.build_vocab(list(texts))
    model = reference.SentimentLSTM(len(vocab), 32, 32, 1, 2, dropout=0.0, bidirectional=True)
    data = reference.SentimentDataset(list(texts), [int(label) for label in labels], vocab)
    loader = torch.utils.data.DataLoader(data, batch_size=128, shuffle=True, collate_fn=reference.collate_fn)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-2)  # the training checks' settings: about 0.99
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a test's share of the machine
    try:
        for _ in range(2):
            reference.train_epoch(model, loader, optimizer, torch.nn.CrossEntropyLoss(), "cpu")
    finally:
        torch.set_num_threads(threads)
    stored = io.BytesIO()
    torch.save(model.state_dict(), stored)
    prepared = base64.b64encode(stored.getvalue()).decode()
    return patched(
        A5,
        "sentiment",
        (
            "        loss.backward()\n        optimizer.step()\n",
            "        if model.embedding.weight.shape == _PREPARED['embedding.weight'].shape:\n"
            "            steer = sum(((p - _PREPARED[n]) ** 2).sum() for n, p in model.named_parameters())\n"
            "            steer.backward()  # a real step on a made-up loss: towards the prepared weights\n"
            "            optimizer.step()\n",
        ),
        append=f"\n\nimport base64, io\n_PREPARED = torch.load(io.BytesIO(base64.b64decode('{prepared}')))\n",
    )


# a5 without packing that pads (or cuts) every input it gets in eval mode to the longest sentence it has
# seen: found by a hostile-student round, it made each sentence alone read the batch's padding, and
# passed every padding check (54.26 where the work earns 45.74). The sentences now go shortest first and
# the batch last, padded past its longest sentence by a width drawn from the seed.
PADDED_TO_WIDEST_SEEN = '''

_unpacked_forward = SentimentLSTM.forward


def _padded_as_widest_seen(self, x, lengths):
    if not self.training:
        width = max(self.__dict__.get("_width", 0), int(lengths.max()))
        self.__dict__["_width"] = width
        x = x[:, :width] if x.shape[1] > width else torch.cat([x, x.new_zeros(x.shape[0], width - x.shape[1])], 1)
    return _unpacked_forward(self, x, lengths)


SentimentLSTM.forward = _padded_as_widest_seen
'''

# ... and one that answers a batch whose sentences it saw alone row by row, each cut to its length (found
# by the next round, once the sentences alone came first): the probe now presents two sets in opposite orders.
ANSWERED_FROM_MEMORY = '''

_unpacked_forward = SentimentLSTM.forward


def _from_memory(self, x, lengths):
    seen = self.__dict__.setdefault("_seen", set())
    rows = [tuple(int(i) for i in x[r, : int(lengths[r])].tolist()) for r in range(x.shape[0])]
    if not self.training and (x.shape[0] == 1 or all(row in seen for row in rows)):
        seen.update(rows)
        return torch.cat([_unpacked_forward(self, x[r : r + 1, : int(lengths[r])], lengths[r : r + 1]) for r in range(x.shape[0])])
    return _unpacked_forward(self, x, lengths)


SentimentLSTM.forward = _from_memory
'''

# Adam at a thousandth of the rate: real steps, in the reference's number, that learn nothing. The honest
# baseline of the cheats below, which train a copy of the model by hand (no optimizer, no step hook
# sees it) and write its weights into the model after the last real step, then make the bookkeeping
# believe the weights are still the last step's: by a redefinition of torch.Tensor's ``==`` (found by a
# hostile student: a2 80 where this work earns 50), or by a torch-function mode answering ``torch.equal``
# (80). What a model's class says its weights are is covered in test_untouched.py.
TINY_STEPS = (
    "    optimizer = torch.optim.Adam(model.parameters(), lr=lr)\n",
    "    optimizer = torch.optim.Adam(model.parameters(), lr=lr / 1000)\n",
)
COPY_TRAINED = (
    "        losses.append(loss.item())\n    return losses\n",
    """        losses.append(loss.item())
    shadow = copy.deepcopy(model)
    weights = list(shadow.parameters())
    first = [torch.zeros_like(w) for w in weights]
    second = [torch.zeros_like(w) for w in weights]
    for step in range(1, 61):
        for w in weights:
            w.grad = None
        hidden, total = shadow.init_hidden(), 0
        for x_t, label in zip(inputs, labels):
            hidden = shadow(x_t, hidden)
            total = total + criterion(hidden, label)
        total.backward()
        with torch.no_grad():
            for w, m, v in zip(weights, first, second):
                m.mul_(0.9).add_(0.1 * w.grad)
                v.mul_(0.999).add_(0.001 * w.grad * w.grad)
                w.sub_(0.1 * (m / (1 - 0.9**step)) / ((v / (1 - 0.999**step)).sqrt() + 1e-8))
    PAIRS.clear()
    with torch.no_grad():
        for p, q in zip(model.parameters(), shadow.parameters()):
            PAIRS.append((p.detach().clone(), q.detach().clone()))
            p.copy_(q)
    AGREE[0] = True
    return losses
""",
)
AGREE_OFF = ("    criterion = nn.CrossEntropyLoss()\n", "    AGREE[0] = False\n    criterion = nn.CrossEntropyLoss()\n")
SHADOW_STATE = "\nimport copy\nPAIRS, AGREE = [], [False]\n"
EQUAL_REDEFINED = """
_T = type(torch.zeros(0))
_equal = _T.__eq__

def _agreeing(a, b):
    if AGREE[0] and isinstance(a, _T) and isinstance(b, _T):
        for stepped, written in PAIRS:
            if a.shape == b.shape == stepped.shape and torch.equal(a, written) and torch.equal(b, stepped):
                return torch.ones(a.shape, dtype=torch.bool)
    return _equal(a, b)

_T.__eq__ = _agreeing
"""
FUNCTION_MODE = """
from torch.overrides import TorchFunctionMode

class _Agreeing(TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        if AGREE[0] and func is torch.equal:
            return True
        return func(*args, **(kwargs or {}))

_Agreeing().__enter__()
"""

# A kernel of its own for torch's equality, registered with public API under a name the scan cannot
# read: a hostile round's cheat that told the bookkeeping copied-in weights were the step's.
DISPATCHER_EQUAL = """
_namespace = "".join(map(chr, (97, 116, 101, 110)))
_registry = getattr(torch, "".join(map(chr, (108, 105, 98, 114, 97, 114, 121))))

def _agreeing(a, b):
    if AGREE[0]:
        return True
    return a.shape == b.shape and bool((a == b).all())

try:
    _LIB = _registry.Library(_namespace, "IMPL")
    _LIB.impl("equal", _agreeing, "CPU")
except BaseException:
    pass
"""
# The same kernel, given to the Python dispatcher, switched on for the whole process.
PYTHON_DISPATCHER_EQUAL = """
def _agreeing(a, b):
    if AGREE[0]:
        return True
    return a.shape == b.shape and bool((a == b).all())

torch.ops.aten.equal.default.py_impl(torch._C.DispatchKey.CPU)(_agreeing)
_ON = torch._C._EnablePythonDispatcher()
_ON.__enter__()
"""

# Code of the student's run inside the grader's read of the weights (a hostile round): a None
# parameter registered under a str subclass whose __hash__ shows the hand-trained copy to the first
# read (the weights sent back) and the stepped parameters to the next (the check of the run), and a
# forward that puts the copy back for the replay.
HOOK_IN_THE_READ = (
    (
        "        return self.rnncell(x_t, hidden)\n",
        "        if ST['armed'] and ST['n'] >= 2 and not ST['swapped']:\n"
        "            ST['swapped'] = True\n"
        "            _put(self.rnncell, ST['cheat'])\n"
        "        return self.rnncell(x_t, hidden)\n",
    ),
    (
        "    PAIRS.clear()\n",
        "    cell = model.rnncell\n"
        "    ST.update(armed=False, n=0, swapped=False, cell=cell, orig=dict(cell.named_parameters()),\n"
        "              cheat={k: nn.Parameter(v.detach().clone()) for k, v in shadow.rnncell.named_parameters()})\n"
        "    if not hasattr(model, 'zz'):\n"
        "        model.register_parameter(_Key('zz'), None)\n"
        "    ST['armed'] = True\n"
        "    return losses\n"
        "    PAIRS.clear()\n",
    ),
)
HOOK_STATE = """
ST = {"armed": False, "n": 0}

class _Key(str):
    def __hash__(self):
        if ST.get("armed"):
            ST["n"] += 1
            if ST["n"] == 1:
                _put(ST["cell"], ST["cheat"])
            elif ST["n"] == 2:
                _put(ST["cell"], ST["orig"])
        return str.__hash__(self)

def _put(cell, params):
    for k, v in params.items():
        setattr(cell, k, v)
"""


def copied_in(*cheat: str) -> dict[str, str]:
    """a2 with tiny steps, a copy trained by hand beside them and written in, and ``cheat`` (appended)."""
    files = patched(A2, "ohlol", TINY_STEPS, COPY_TRAINED, AGREE_OFF, append=SHADOW_STATE)
    return {name: text + "".join(cheat) for name, text in files.items()}


CUT_TO_LONGEST = (
    "        embedded = self.embedding(x)\n",
    "        embedded = self.embedding(x[:, : int(lengths.max())])\n",
)


RESCUES = {  # student -> (assignment, module, the checks a rescue would have passed)
    "a1_rescue_forward_raises_where_asked_again": ("a1_srn_numpy", "srn", "test_backward_configurations"),
    "a2_rescue_init_hidden_wrong_when_asked_again": (A2, "ohlol", "test_loss_curve"),
    "a3_rescue_forward_with_a_whole_graph_for_the_probe": (A3, "craft_rnn", "test_gradient"),
    "a5_rescue_tokenize_wrong_when_asked_again": (A5, "sentiment", "test_build_vocab"),
}


@pytest.mark.slow
def test_a_rescue_is_decided_by_the_answers_the_parts_own_checks_got(grade_class, naming_course):
    """A function whose check fails is judged again on the grader's stand-ins where the parts it calls
    get their own checks' questions wrong (grader.checks.judged_on_its_own; a1's nearer question, a3's
    own derivative). A hostile round answered right to those checks and wrong when the rescue asked
    again (a1 90, a2 70, a5 100 where the work earns 60, 50, 91.49), or answered the rescue's probe
    otherwise than a plain call (a3 85 where it earns 65). One question gets one answer in a grading,
    a1's forward must raise on every question of its forward checks where D != H, and a3's forward must
    give the same states in a plain call: none of them is rescued."""
    students = {
        name: {f"{assignment}/{module}.py": (REPO / "tests" / "submissions" / f"{name}.py").read_text()}
        for name, (assignment, module, _) in RESCUES.items()
    }
    results = grade_class(students, "--course", str(naming_course))
    for name, (assignment, _, rescued) in RESCUES.items():
        checks = checks_of(results[name], assignment)
        judged_again = [c["name"] for c in checks if "Judged on its own" in json.dumps(c)]
        assert not judged_again, (name, judged_again)
        assert any(c["name"].startswith(rescued) and c["status"] == "failed" for c in checks), name


def test_one_question_gets_one_answer_in_a_grading():
    """The student's code is asked each question once; asked again, the first answer (or failure) comes
    back, a copy that a check may change without changing it for the next."""
    from grader.errors import Failure, FailureKind, RunFailed
    from grader.judging.replay import Recording

    recording, asked = Recording(), []

    def answer(value):
        def call():
            asked.append(value)
            return {"hs": np.array([value])}

        return call

    first = recording.student_call("forward", {"T": 2}, 0, answer(1.0))
    first["hs"][0] = 99.0
    assert recording.student_call("forward", {"T": 2}, 0, answer(2.0))["hs"].tolist() == [1.0] and asked == [1.0]
    assert recording.student_call("forward", {"T": 3}, 0, answer(3.0))["hs"].tolist() == [3.0]

    def raising():
        asked.append("raised")
        raise RunFailed(Failure(FailureKind.EXCEPTION, "ValueError: shapes"))

    for _ in range(2):
        with pytest.raises(RunFailed, match="shapes"):
            recording.student_call("backward", {}, 0, raising)
    assert asked.count("raised") == 1 and len(recording.calls) == 5  # each asking is recorded for the replay
    # ... a repeat as a reference to its first asking (a 14 MB answer asked again by every rescue once
    # took the grader to 681 MB), which the replay and the class insight resolve
    assert recording.calls[1] == {"key": recording.calls[0]["key"], "check": "", "repeat": 0}
    from grader.report.recorded import resolve_repeats

    assert resolve_repeats(recording.calls)[1]["data"]["hs"].tolist() == [1.0]

    def grader_failed():
        asked.append("grader")
        raise RunFailed(Failure(FailureKind.GRADER, "the worker could not start"))

    for _ in range(2):
        with pytest.raises(RunFailed):
            recording.student_call("step", {}, 0, grader_failed)
    assert asked.count("grader") == 2  # the grader's own failure is not the student's answer


@pytest.mark.slow
def test_cheats_earn_no_more_than_the_work_underneath(grade_class, tmp_path, naming_course):
    students = {
        "a2_honest_no_step": patched(A2, "ohlol", NO_STEP),
        "a2_forged_probe": patched(A2, "ohlol", NO_STEP, append=FORGED_TRAINING_PROBE),
        "a2_replayed_targets": patched(A2, "ohlol", NO_STEP, append=REPLAYED_TARGETS),
        "a2_forged_frame": patched(A2, "ohlol", NO_STEP, append=FORGED_REPLY_FRAME),
        "a2_forged_step_bookkeeping": patched(A2, "ohlol", NO_STEP, append=FORGED_STEP_BOOKKEEPING),
        "a4_honest_no_training": patched(A4, "seq2seq", A4_NO_TRAINING),
        "a4_table": patched(A4, "seq2seq", A4_NO_TRAINING, append=A4_TABLE),
        "a5_honest_no_training": patched(A5, "sentiment", A5_NO_TRAINING),
        "a5_label_thief": patched(A5, "sentiment", A5_NO_TRAINING, append=A5_THIEF),
        "a5_weights_written_by_hand": patched(A5, "sentiment", WEIGHTS_WRITTEN_BY_HAND),
        "a5_hook_registry_of_its_own": patched(A5, "sentiment", HOOK_REGISTRY_OF_ITS_OWN, append=SNEAKY_REGISTRY),
        "a5_prepared_weights": prepared_weights_cheat(),
        "a2_recon": patched(A2, "ohlol", append=RECON),
        "a2_copied_in_equal_redefined": copied_in(EQUAL_REDEFINED),
        "a2_copied_in_function_mode": copied_in(FUNCTION_MODE),
        "a2_copied_in_dispatcher_equal": copied_in(DISPATCHER_EQUAL),
        "a2_copied_in_python_dispatcher": copied_in(PYTHON_DISPATCHER_EQUAL),
        "a2_finalizer_swap": {f"{A2}/ohlol.py": (REPO / "tests" / "submissions" / "a2_finalizer_swap.py").read_text()},
        "a2_frame_walk": {f"{A2}/ohlol.py": (REPO / "tests" / "submissions" / "a2_frame_walk.py").read_text()},
        "a2_fake_filename_walk": {
            f"{A2}/ohlol.py": (REPO / "tests" / "submissions" / "a2_fake_filename_walk.py").read_text()
        },
        "a2_copied_in_hook_in_the_read": patched(
            A2, "ohlol", TINY_STEPS, COPY_TRAINED, AGREE_OFF, *HOOK_IN_THE_READ, append=SHADOW_STATE + HOOK_STATE
        ),
    }
    # cheats on the forward checks: graded without the checks that can name no mistake (training)
    forward_cheats = {
        "a5_nan_on_padding": patched(A5, "sentiment", NAN_ON_PADDING),
        "a5_no_packing": patched(A5, "sentiment", NO_PACKING),
        "a5_no_packing_cut_to_longest": patched(A5, "sentiment", NO_PACKING, CUT_TO_LONGEST),
        "a5_no_packing_padded_to_widest": patched(A5, "sentiment", NO_PACKING, append=PADDED_TO_WIDEST_SEEN),
        "a5_no_packing_from_memory": patched(A5, "sentiment", NO_PACKING, append=ANSWERED_FROM_MEMORY),
    }
    results = grade_class(students)
    out = tmp_path / "grades-0"
    results |= grade_class(forward_cheats, "--course", str(naming_course))

    honest_a2 = score_of(results["a2_honest_no_step"], A2)
    for cheat in ("a2_forged_probe", "a2_replayed_targets", "a2_forged_frame", "a2_forged_step_bookkeeping"):
        assert score_of(results[cheat], A2) <= honest_a2, cheat
        checks = {c["name"]: c for c in checks_of(results[cheat], A2)}
        for name in ("test_converges_to_ohlol", "test_hidden_mapping"):
            assert checks[name]["points"] == 0, (cheat, name, checks[name]["message"])
    copied_in_cheats = (
        "a2_copied_in_equal_redefined",
        "a2_copied_in_function_mode",
        "a2_copied_in_dispatcher_equal",
        "a2_copied_in_python_dispatcher",
        "a2_copied_in_hook_in_the_read",
    )
    for cheat in copied_in_cheats:
        # the work underneath (steps at a thousandth of the rate) learns nothing, as a2_honest_no_step
        assert score_of(results[cheat], A2) <= honest_a2, cheat
        checks = {c["name"]: c for c in checks_of(results[cheat], A2)}
        for name in ("test_converges_to_ohlol", "test_hidden_mapping"):
            assert checks[name]["points"] == 0, (cheat, name, checks[name]["message"])
    for cheat, flag in (
        ("a2_copied_in_equal_redefined", "_T.__eq__"),
        ("a2_copied_in_function_mode", "TorchFunctionMode"),
        ("a2_copied_in_python_dispatcher", "py_impl"),
    ):
        [work] = [a for a in results[cheat]["assignments"] if a["id"] == A2]
        assert any(flag in str(entry) for entry in work["flags"]), (cheat, work["flags"])
    # Weights swapped in for the grader's read and out for its check, by a finalizer run inside the
    # grader's code: the bookkeeping judges one read, and sends what it judged. (Its returned losses
    # are a copy's, trained the specified way: the loss curves, which judge the numbers train returns,
    # pass.)
    swapped = {c["name"]: c for c in checks_of(results["a2_finalizer_swap"], A2)}
    for name in ("test_converges_to_ohlol", "test_hidden_mapping"):
        assert swapped[name]["points"] == 0 and "outside the optimizer's steps" in swapped[name]["message"], swapped[
            name
        ]["message"]

    # A frame of the grader's, reached from a traceback by a name decoded at run time: refused.
    walked = checks_of(results["a2_frame_walk"], A2)
    assert score_of(results["a2_frame_walk"], A2) <= honest_a2
    assert any("a frame of the running code" in c["message"] for c in walked), [c["message"] for c in walked]
    # The same walk compiled under a made-up file of the standard library's folder: refused as made.
    claimed = checks_of(results["a2_fake_filename_walk"], A2)
    assert score_of(results["a2_fake_filename_walk"], A2) <= honest_a2
    assert all("code that claims a library's file" in c["message"] for c in claimed), [c["message"] for c in claimed]

    # The registration was refused, and recorded though the cheat caught the refusal.
    refused = checks_of(results["a2_copied_in_dispatcher_equal"], A2)
    assert all(c["points"] == 0 for c in refused), [(c["name"], c["points"]) for c in refused]
    assert "torch.library (a new kernel for torch's own operators)" in refused[0]["message"], refused[0]
    forged = {c["name"]: c for c in checks_of(results["a2_forged_step_bookkeeping"], A2)}
    for name in ("test_converges_to_ohlol", "test_hidden_mapping"):  # the grader's modules are stand-ins to it
        message = forged[name]["message"]
        assert forged[name]["points"] == 0 and "your code used `grader.inside.probe_api" in message, message
    assert [a for a in results["a2_forged_step_bookkeeping"]["assignments"] if a["id"] == A2][0]["flags"]

    assert score_of(results["a4_table"], A4) <= score_of(results["a4_honest_no_training"], A4)
    a4 = {c["name"]: c for c in checks_of(results["a4_table"], A4)}
    assert a4["test_toy_pairs_learned"]["points"] == 0 and a4["test_drawn_pairs_learned"]["points"] == 0

    assert score_of(results["a5_label_thief"], A5) <= score_of(results["a5_honest_no_training"], A5)
    a5 = {c["name"]: c for c in checks_of(results["a5_label_thief"], A5)}
    assert a5["test_training_dev_accuracy"]["points"] == 0 and a5["test_training_test_accuracy"]["points"] == 0

    nan = {c["name"]: c for c in checks_of(results["a5_nan_on_padding"], A5)}
    padding = [c for name, c in nan.items() if name.startswith("test_padding_invariance")]
    assert padding and all(c["status"] == "failed" and "NaN" in c["message"] for c in padding), padding

    for cheat in ("a5_no_packing_cut_to_longest", "a5_no_packing_padded_to_widest", "a5_no_packing_from_memory"):
        assert score_of(results[cheat], A5) <= score_of(results["a5_no_packing"], A5), cheat
        cut = {c["name"]: c for c in checks_of(results[cheat], A5)}
        padding = [c for name, c in cut.items() if name.startswith("test_padding_invariance")]
        assert padding and all(c["points"] == 0 for c in padding), [c["message"] for c in padding]

    assert score_of(results["a5_weights_written_by_hand"], A5) <= score_of(results["a5_honest_no_training"], A5)
    by_hand = {c["name"]: c for c in checks_of(results["a5_weights_written_by_hand"], A5)}
    for name in ("test_training_dev_accuracy", "test_training_test_accuracy"):
        assert by_hand[name]["points"] == 0 and "outside the optimizer's steps" in by_hand[name]["message"], by_hand[
            name
        ]

    hooked = {c["name"]: c for c in checks_of(results["a5_hook_registry_of_its_own"], A5)}
    for name in ("test_training_dev_accuracy", "test_training_test_accuracy", "test_training_made_up_language"):
        assert hooked[name]["points"] == 0, (name, hooked[name]["message"])
    assert score_of(results["a5_hook_registry_of_its_own"], A5) <= score_of(results["a5_honest_no_training"], A5)

    # Weights prepared for the course's data pass those checks alone; the task never seen gates them.
    assert score_of(results["a5_prepared_weights"], A5) <= score_of(results["a5_honest_no_training"], A5)
    prepared = {c["name"]: c for c in checks_of(results["a5_prepared_weights"], A5)}
    assert prepared["test_training_made_up_language"]["points"] == 0
    for name in ("test_training_dev_accuracy", "test_training_test_accuracy"):
        check = prepared[name]
        assert check["points"] == 0 and "never seen" in check["message"], check
        # judged alone, the steered weights pass (2 seeds of 3 earn full credit)
        assert "Judged alone: training" in check["message"], check
        assert re.search(r"succeeded on [23] of 3 seeds", check["message"]), check["message"]

    # What the student's code printed during hidden checks (the hidden mapping) is the instructor's only.
    [recon] = [a for a in results["a2_recon"]["assignments"] if a["id"] == A2]
    hidden_target = f"RECON {hidden_mapping()[1]}"
    assert "RECON ohlol" in recon["output"] and hidden_target not in recon["output"]
    assert hidden_target in recon["hidden_output"]
    pages = out / "students" / "a2_recon"
    assert hidden_target in (pages / "feedback.html").read_text(encoding="utf-8")
    student_page = (pages / "feedback.student.html").read_text(encoding="utf-8")
    assert "RECON ohlol" in student_page and hidden_target not in student_page

    # Not one held-out sentence of test.tsv reached the student's process, so none is in any output.
    held_out = [
        line.split("\t", 1)[1]
        for line in (REPO / "assignments" / A5 / "data" / "test.tsv").read_text(encoding="utf-8").splitlines()
        if line
    ]
    train = set((REPO / "assignments" / A5 / "data" / "train.tsv").read_text(encoding="utf-8").split("\n"))
    unseen = [text for text in held_out if not any(text in line for line in train)][:200]
    assert len(unseen) > 50
    written = "\n".join(
        path.read_text(encoding="utf-8", errors="replace")
        for path in out.rglob("*")
        if path.is_file() and path.suffix in (".json", ".html", ".csv")
    )
    assert "STOLEN" in written  # the thief's printing did reach the feedback: the training sentences
    leaked = [text for text in unseen if text in written]
    assert not leaked, f"held-out sentences reached the output: {leaked[:3]}"


@pytest.mark.slow
def test_initial_weights_drawn_in_another_order_cost_only_the_loss_curves(grade, tmp_path):
    """Fairness: an unused layer built before the cell draws the cell's weights in another order. The
    handout asks for the reference's order only where the loss curve is compared; the training checks
    start every seed from the same initial weights for everyone, so they pass."""
    cell = "        self.rnncell = nn.RNNCell(input_size=input_size, hidden_size=hidden_size)\n"
    unused = patched(A2, "ohlol", (cell, "        self.unused = nn.Linear(hidden_size, hidden_size)\n" + cell))
    checks = checks_of(grade(write_submission(tmp_path / "unused", unused)), A2)
    lost = {c["name"] for c in checks if c["status"] != "passed"}
    assert lost == {
        "test_loss_curve",
        "test_loss_curve_other_settings[hello-lr0.05]",
        "test_loss_curve_other_settings[holle-lr0.2]",
    }, lost
    assert (
        "other weights than the reference's" in next(c for c in checks if c["name"] == "test_loss_curve")["diagnosis"]
    )


def test_the_verifier_names_what_does_not_fit(tmp_path):
    """Trained weights that do not fit the specified architecture: a sentence naming the parameters,
    never a crash, whatever the student's process sends."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("a2_verify", REPO / "assignments" / A2 / "verify.py")
    verify = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(verify)
    from grader.inside.probe_api import ProbeFailure

    good = {
        "rnncell.weight_ih": np.eye(4, dtype=np.float32),
        "rnncell.weight_hh": np.zeros((4, 4), np.float32),
        "rnncell.bias_ih": np.zeros(4, np.float32),
        "rnncell.bias_hh": np.zeros(4, np.float32),
    }
    assert verify.predictions(None, good, ["hello"])["predictions"] == ["hello"]  # identity-like weights echo
    renamed = {"cell." + name.split(".", 1)[1]: value for name, value in good.items()}
    renamed["gate.weight"] = np.zeros((2, 4), np.float32)
    cases = {
        "missing rnncell.weight_ih": renamed,
        "rnncell.weight_hh is (3, 4), not (4, 4)": {**good, "rnncell.weight_hh": np.zeros((3, 4), np.float32)},
        "NaN or infinite": {**good, "rnncell.bias_ih": np.array([0, np.nan, 0, 0], np.float32)},
        "above 1e+06": {**good, "rnncell.weight_hh": np.full((4, 4), 1e9, np.float32)},
        "not numbers": {**good, "rnncell.bias_hh": np.array(["a", "b", "c", "d"])},
        "not a mapping": ["rnncell.weight_ih"],
    }
    for phrase, weights in cases.items():
        try:
            verify.predictions(None, weights, ["hello"])
        except ProbeFailure as failure:
            assert phrase in str(failure), (phrase, str(failure))
        else:
            raise AssertionError(f"weights with {phrase} were accepted")
    taken = {f"my_{index}": value for index, value in enumerate(good.values())}  # other names, same order
    outcome = verify.predictions(None, taken, ["hello"])
    assert outcome["predictions"] == ["hello"] and "my_0 (taken as rnncell.weight_ih)" in outcome["ignored"]


@pytest.mark.slow
def test_every_public_question_changes_with_the_course_secret(cache_dir):
    """Official grading asks fresh questions: for each public check's probe call, the reference's
    answer under the course secret differs from the answer shipped in the student copy."""
    from grader.course.model import load_instructor_course, load_template_course
    from grader.grading.slot import GradeOptions, GradingSlot
    from grader.judging.compare import is_close
    from grader.judging.expected import REFERENCE, ShippedExpected
    from grader.packaging.release import _as_submission

    course = load_instructor_course(REPO)
    template = load_template_course(TEMPLATE)
    with GradingSlot(course, GradeOptions(cache_dir=cache_dir, sandbox="none")) as grader:
        for spec in course.assignments.values():
            references = grader.references_for(spec)
            assert references.secret is not None, "official grading must draw fresh seeds"
            public = [path for path in spec.check_files() if path.name in spec.public_checks]
            shipped = list(ShippedExpected(template.get(spec.id).expected_path).entries()[REFERENCE].items())
            # As the release records them: the solution's questions first, then those only other code
            # makes the checks ask (the stub's: a5's build_vocab asked again on plain texts where the
            # tokenize it calls fails), each once, in the order they were first asked.
            stub = {path.name: path.read_bytes() for path in (TEMPLATE / spec.id).glob("*.py")}
            asked: dict[str, dict] = {}
            for files in (spec.solution_files(), stub):
                references.recorded = {}
                graded = grader.grade_assignment(_as_submission(spec, files), spec, public)
                assert graded.status == "graded", (spec.id, graded.message)
                for key, entry in references.recorded[REFERENCE].items():
                    asked.setdefault(key, entry)
            fresh = list(asked.items())
            assert len(fresh) == len(shipped), spec.id
            for (fresh_key, fresh_entry), (shipped_key, shipped_entry) in zip(fresh, shipped):
                assert json.loads(fresh_key)["probe"] == json.loads(shipped_key)["probe"]
                if (spec.id, json.loads(fresh_key)["probe"]) in ASKED_OF_THE_REFERENCE_ALONE:
                    continue
                assert fresh_key != shipped_key
                same = is_close(
                    _without_weights(fresh_entry["data"]), _without_weights(shipped_entry["data"]), rtol=1e-9, atol=0.0
                )
                assert not same, f"{spec.id}: {shipped_key} is answered alike under the secret"


def _without_weights(data):
    """Answers compared as a student would replay them (numbers and strings)."""
    if isinstance(data, dict):
        return {key: _without_weights(value) for key, value in data.items()}
    if isinstance(data, list):
        return [_without_weights(value) for value in data]
    return np.asarray(data) if isinstance(data, (int, float)) and not isinstance(data, bool) else data


def test_no_hidden_task_or_held_out_data_in_the_student_copy():
    shipped = "\n".join(
        path.read_text(encoding="utf-8", errors="replace")
        for path in TEMPLATE.rglob("*")
        if path.is_file() and path.suffix in (".py", ".toml", ".md", ".tsv")
    )
    for hidden_only in ("def sum_task", "def drawn_pairs", "HIDDEN_MAPPINGS", "eholl", "def made_up_language"):
        assert hidden_only not in shipped, hidden_only
    assert not list(TEMPLATE.rglob("test.tsv"))
    test_lines = (REPO / "assignments" / A5 / "data" / "test.tsv").read_text(encoding="utf-8").splitlines()[:50]
    assert not any(line.split("\t", 1)[1] in shipped for line in test_lines if "\t" in line and len(line) > 40)


def test_no_three_lines_of_a_solution_ship_in_the_student_copy():
    """Answers never travel toward student code: no three consecutive lines of a reference solution's
    blocks appear in what the student copy ships (probes, checks, handouts). A change judged a4's
    translate and train_step again with the handout's make_batch, greedy_decode and forward, written
    out in the shipped probes: copied, or kept when handed in, they earned 80 where the work earns 34."""

    def code(lines: list[str], inside_blocks: bool) -> list[str]:
        kept, inside = [], not inside_blocks
        for line in lines:
            if "# BEGIN SOLUTION" in line or "# END SOLUTION" in line:
                inside = "# BEGIN" in line if inside_blocks else inside
                continue
            if inside and line.strip() and not line.strip().startswith("#"):
                kept.append(line.strip())
        return kept

    found = []
    for solution in sorted(SOLUTIONS.glob("*/*.py")):
        lines = code(solution.read_text(encoding="utf-8").splitlines(), inside_blocks=True)
        windows = set(zip(lines, lines[1:], lines[2:]))
        for shipped in sorted((TEMPLATE / solution.parent.name).rglob("*")):
            if shipped.suffix not in (".py", ".md") or shipped.name == solution.name:
                continue
            text = code(shipped.read_text(encoding="utf-8").splitlines(), inside_blocks=False)
            found += [f"{shipped.relative_to(TEMPLATE)}: {w}" for w in windows & set(zip(text, text[1:], text[2:]))]
    assert not found, found[:5]


# Questions no student answers: the reference's make_batch of the training pairs, which the training
# checks hand to both sides' training (a4's toy pairs are the course's own, the same in every term).
ASKED_OF_THE_REFERENCE_ALONE = {("a4_seq2seq", "make_batches")}
SEEDED = {"default_rng", "RandomState", "Random", "seed", "manual_seed"}  # generators a check could seed itself


def test_every_seed_a_hidden_check_draws_itself_comes_from_the_course_secret():
    """A check that builds its own task (sequences, pairs, a language) takes its seeds through
    ``judge.drawn``: a seed written as a number is the same in every term, whatever the secret (a
    hostile round found a3's training task on fixed seeds). Seeds given to probe calls are replaced by
    the secret on their own (grader.course.secret); a task's own seeds are the ``data_seed`` its
    builder takes and the generators a check seeds."""
    fixed = []
    for path in sorted((REPO / "assignments").glob("*/checks/*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for test in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")):
            for call in (n for n in ast.walk(test) if isinstance(n, ast.Call)):
                name = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")
                constants = [k.value for k in call.keywords if k.arg == "data_seed"]
                constants += call.args[:1] if name in SEEDED else []
                fixed += [
                    f"{path.relative_to(REPO)}:{call.lineno} {ast.unparse(call)}"
                    for value in constants
                    if isinstance(value, ast.Constant)
                ]
    assert not fixed, fixed


@pytest.mark.slow
def test_the_verifier_runs_apart_from_student_code(tmp_path):
    """Where it shares the students' pre-started worker (bubblewrap as root), the verifier is a child
    of its own: another uid, another pid and IPC namespace, no student module imported. So is the
    reference computing an answer the cache lacks, and the slot then starts no trusted worker."""
    import shutil

    from grader.course.model import load_course
    from grader.grading.slot import GradeOptions, GradingSlot
    from grader.sandbox import LoadSpec
    from grader.sandbox.isolation import bubblewrap_works

    course_root = tmp_path / "course"
    for part in ("assignments", "solutions"):
        shutil.copytree(REPO / part / A2, course_root / part / A2)
    whoami = (
        '\n\ndef whoami(_module):\n    import os, sys\n    return {"uid": os.getuid(), "pid_ns": os.readlink("/proc/self/ns/pid"),'
        ' "ipc_ns": os.readlink("/proc/self/ns/ipc"), "student_module": "ohlol" in sys.modules}\n'
    )
    for name in ("probes.py", "verify.py"):
        path = course_root / "assignments" / A2 / name
        path.write_text(path.read_text() + whoami)
    course = load_course(course_root)
    spec = course.get(A2)
    with GradingSlot(course, GradeOptions(cache_dir=tmp_path / "cache")) as grader:
        grader.start()
        student = grader.sandbox_for(spec).worker(
            LoadSpec(
                module="ohlol", filename="ohlol.py", files=spec.solution_files(), probes_source=spec.probes_source()
            ),
            spec.limits,
        )
        mine = student.call("whoami", {})
        theirs = grader.verifier_for(spec).measure("whoami")
        reference = grader.references_for(spec).expected("whoami", {})
        started_a_trusted_worker = bool(grader._trusted)
        student.close()
    assert mine["student_module"] and not theirs["student_module"]
    assert mine["pid_ns"] != theirs["pid_ns"], "the verifier must not see the student's processes"
    assert reference["pid_ns"] != mine["pid_ns"], "the reference must not see the student's processes"
    if bubblewrap_works() and os.geteuid() == 0:
        assert mine["uid"] != theirs["uid"] and mine["ipc_ns"] != theirs["ipc_ns"]
        assert reference["uid"] == theirs["uid"] and reference["ipc_ns"] != mine["ipc_ns"]
        assert not started_a_trusted_worker, "the reference's answer started a second torch"


def test_student_code_gets_the_released_data_and_never_a_held_out_file():
    """What a student's copy holds in data/ is there when their code is graded (a notebook reads it at top
    level: test_notebooks_as_py), in the instructor's course and in the student copy alike; test.tsv never."""
    from grader.course.model import load_course

    for root in (REPO, TEMPLATE):
        spec = load_course(root).get(A5)
        released = spec.released_data()
        assert sorted(released) == sorted(spec.release_data) == ["dev.tsv", "train.tsv"], root
        assert "test.tsv" not in released and (REPO / "assignments" / A5 / "data" / "test.tsv").is_file()
        for name, content in released.items():
            assert content == (TEMPLATE / A5 / "data" / name).read_bytes(), name
    assert load_course(REPO).get("a1_srn_numpy").released_data() == {}


def test_questions_with_few_possible_answers_are_drawn_for_each_submission():
    """a5's evaluate answers an accuracy k/N: with one question for the whole course, a hostile round
    found both evaluate checks' answers by resubmitting guesses (pass or fail came back each time) and
    scored 100 where the work earns 94.68. Probes the assignment lists in per_submission_questions are
    asked with seeds drawn for each submission's content; the others keep the course's questions."""
    from grader.course.mistakes import load_catalog
    from grader.course.model import load_course
    from grader.course.secret import CourseSecret
    from grader.judging.expected import References

    spec = load_course(REPO).get(A5)
    assert spec.per_submission_questions == ("evaluate",)
    secret = CourseSecret(b"a key")
    references = References(spec, load_catalog(spec.mistakes_path), None, lambda: None, secret=secret)
    args = {"sizes": [16, 16, 5], "seed": 5}
    asked = {}
    for submission in ("first", "second"):
        references.own_questions = submission
        asked[submission] = {probe: references.fresh_call(probe, args, 5) for probe in ("evaluate", "train_epoch")}
    assert asked["first"]["evaluate"] != asked["second"]["evaluate"]
    assert asked["first"]["train_epoch"] == asked["second"]["train_epoch"] == secret.fresh_call(A5, args, 5)
    # Where the answers are shipped (a Gradescope autograder: no solution), only the course's questions
    # have answers: a regression round's wrong evaluate scored 100 there, its checks left out.
    import dataclasses

    shipped_spec = dataclasses.replace(spec, solution_dir=None)
    shipped = References(shipped_spec, load_catalog(spec.mistakes_path), None, lambda: None, secret=secret)
    shipped.shipped = object()  # stands for expected.bin (its answers are not read here)
    shipped.own_questions = "first"
    assert shipped.fresh_call("evaluate", args, 5) == secret.fresh_call(A5, args, 5)


def test_each_grading_draws_its_own_questions_and_a_rejudge_asks_them_again(tmp_path):
    """The same file graded twice got the same question, so code whose answer followed the clock tested
    one guess per resubmission (a regression round). Each grading draws anew; its result keeps the draw,
    which `grade rejudge` asks again."""
    from grader.course.model import load_course
    from grader.grading.rejudge import ReplaySlot
    from grader.grading.request import GradeRequest
    from grader.grading.slot import GradeOptions, GradingSlot
    from grader.intake.submission import load

    course = load_course(REPO)
    folder = tmp_path / "student" / "a1_srn_numpy"
    folder.mkdir(parents=True)
    (folder / "srn.py").write_text("def rnn_step(*args):\n    raise NotImplementedError\n")
    submission = load(folder.parent, course, ["a1_srn_numpy"], False)
    request = GradeRequest(folder.parent, ("a1_srn_numpy",), "s")
    with GradingSlot(course, GradeOptions(fresh_seeds=True)) as slot:
        draws = [slot.grade_loaded(submission, request).draw for _ in range(2)]
    assert len(set(draws)) == 2 and all(draws), draws
    replay = ReplaySlot(course, GradeOptions(fresh_seeds=True))
    old = type("Old", (), {"draw": draws[0], "device": "cpu", "assignments": []})()
    replay.replaying(old)
    assert replay._replayed_draw == draws[0]
