"""Every named mistake is the real one, and diagnoses speak only where the data has the structure they
describe.

The first part runs in this process: diagnoses of the judge, the expected-data cache key, "one of"
naming and the release warning. The last part grades realistic wrong submissions, one per mistake added
to the catalogues, written independently of the patches (another style than the reference and than the
assignments' own test modules), all in one `grade report` against the student copy.
"""

from __future__ import annotations

import hashlib
import sys
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from catalogue_reach import course_naming_only
from conftest import REPO, TEMPLATE, checks_of, report_class, score_of

from grader.course.mistakes import Catalog, Mistake, Patch, load_catalog
from grader.course.model import load_course
from grader.errors import Failure, FailureKind
from grader.judging.compare import find_mismatch
from grader.judging.expected import DiskCache, References, mistake_variant
from grader.judging.plugin import Judge
from grader.packaging.release import indistinguishable

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

rng = np.random.default_rng(7)


def diagnosis(got: Any, want: Any, **options: Any) -> str:
    found = find_mismatch(got, want, name="result", rtol=1e-6, atol=1e-9, **options)
    assert found is not None, "expected a mismatch"
    return found.diagnosis or ""


# -- diagnoses speak only where the data has that structure ------------------------------------------


def test_rows_of_a_weight_gradient_are_not_time_steps():
    want = {"grads": {"W_hh": rng.standard_normal((6, 6)), "x": rng.standard_normal((5, 2, 3))}}
    got = {"grads": {"W_hh": want["grads"]["W_hh"].copy(), "x": want["grads"]["x"]}}
    got["grads"]["W_hh"][2:] += rng.standard_normal((4, 6))
    assert "step" not in diagnosis(got, want)


def test_logits_get_no_step_talk():
    want = rng.standard_normal((4, 3))
    got = want.copy()
    got[1:] += 0.5 * rng.standard_normal((3, 3))
    assert "step" not in diagnosis(got, want)
    got = want.copy()
    got[0] += 1.0 + rng.random(3)
    assert "step" not in diagnosis(got, want)


def test_a_declared_time_axis_speaks_of_steps():
    hs = rng.standard_normal((3, 6, 4))  # batch-first: time is axis 1
    got = hs.copy()
    got[:, 4:] += 0.1
    got[0, 4:] += rng.standard_normal((2, 4))
    assert "the error starts at step 4" in diagnosis({"hs": got}, {"hs": hs, "_time_axes": {"hs": 1}})
    assert "the error starts at step 4" in diagnosis({"hs": got}, {"hs": hs}, time_axis={"hs": 1})
    assert "step" not in diagnosis({"hs": got}, {"hs": hs})


def test_the_time_axis_declaration_itself_is_never_judged():
    want = {"hs": np.ones((2, 2)), "_time_axes": {"hs": 0}}
    assert find_mismatch({"hs": np.ones((2, 2))}, want, name="", rtol=0, atol=0) is None


def test_token_ids_get_no_bias_hint():
    ids = rng.integers(3, 29, (4, 6))
    shifted = diagnosis(ids + 27, ids)
    assert "bias" not in shifted and "constant" not in shifted and "factor" not in shifted
    found = find_mismatch(ids + 27, ids, name="tokens", rtol=0, atol=0)
    assert "24 of 24 values differ" in found.message and found.table["rows"]
    assert "constant 0.5 (a bias" in diagnosis(ids + 0.5, ids.astype(float))


def test_one_number_gets_no_mean_or_sum_hint():
    single = diagnosis(np.float64(0.2), np.float64(1.0))
    assert "mean" not in single and "factor" not in single and "constant" not in single
    assert "mean" not in diagnosis([3.0], [1.0])
    assert "wrong sign" in diagnosis(-2.5, 2.5)


def test_a_percentage_where_a_fraction_is_asked_is_named():
    """a5's evaluate returning 78.4 where 0.784 is asked was told only "relative 99" (a teacher round)."""
    assert "a percentage, not a fraction?" in diagnosis(np.float64(78.4), np.float64(0.784))
    assert "a percentage, not a fraction?" in diagnosis([50.0, 75.0], [0.5, 0.75])
    assert "percentage" not in diagnosis(np.float64(5.0), np.float64(0.5))
    assert "percentage" not in diagnosis(np.float64(300.0), np.float64(3.0))  # not a fraction to begin with


def test_mean_or_sum_only_for_a_whole_count():
    want = rng.standard_normal(12)
    assert "a mean instead of a sum" in diagnosis(want / 4, want)
    assert "a mean instead of a sum" in diagnosis(want * 3, want)
    scaled = diagnosis(want * 0.37, want)
    assert "factor 0.37" in scaled and "mean" not in scaled


# -- the expected-data cache key covers the catalogue --------------------------------------------------


class RecordingSandbox:
    """A trusted 'sandbox' whose workers answer with a digest of the code they were given."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> RecordingSandbox:
        return self

    def worker(self, load: Any, limits: Any) -> Any:
        def call(probe: str, args: dict, seed: int = 0, timeout: float | None = None) -> dict:
            self.calls += 1
            return {"code": hashlib.sha256(load.files[load.filename]).hexdigest()}

        return SimpleNamespace(call=call, close=lambda: None)


def _catalog(replace: str, title: str = "The recurrent bias b_hh is missing") -> Catalog:
    patch = Patch("z = x_t @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh", replace)
    return Catalog((Mistake("missing_b_hh", title, "explain", ("*",), (patch,)),))


def _mistake_answer(cache: DiskCache, catalog: Catalog, sandbox: RecordingSandbox) -> str:
    spec = load_course(REPO).get("a1_srn_numpy")
    references = References(spec, catalog, cache, sandbox)
    try:
        return references.expected("step", {"B": 1}, 0, mistake_variant("missing_b_hh"))["code"]
    finally:
        references.close()


def test_an_edited_patch_never_reuses_the_old_mistakes_results(tmp_path):
    cache, sandbox = DiskCache(tmp_path / "cache"), RecordingSandbox()
    before = _mistake_answer(cache, _catalog("z = x_t @ W_ih.T + b_ih + h_prev @ W_hh.T"), sandbox)
    after = _mistake_answer(cache, _catalog("z = x_t @ W_ih.T + h_prev @ W_hh.T + b_hh"), sandbox)
    assert after != before and sandbox.calls == 2, "the edited mistake was answered from the old patch's cache"
    retitled = _catalog("z = x_t @ W_ih.T + h_prev @ W_hh.T + b_hh", title="b_ih is missing")
    assert _mistake_answer(cache, retitled, sandbox) == after and sandbox.calls == 2, "a new title is no new data"


# -- a mistake is named only where the evidence tells it apart ----------------------------------------


def _mistake(mistake_id: str) -> Mistake:
    return Mistake(mistake_id, f"Title of {mistake_id}", f"Why {mistake_id} is wrong.")


class CannedReferences:
    def __init__(self, entries: dict[str, dict[str, Any]]) -> None:
        self.entries = entries

    def entry(self, probe: str, args: dict, seed: int = 0, variant: str = "reference") -> dict[str, Any]:
        return self.entries[variant]


def _judge(entries: dict[str, dict[str, Any]], ids: list[str]) -> Judge:
    context = SimpleNamespace(
        spec=SimpleNamespace(tolerance_for=lambda device: {"rtol": 1e-6, "atol": 1e-8}),
        device="cpu",
        catalog=Catalog(tuple(_mistake(i) for i in ids)),
        references=CannedReferences(entries),
    )
    return Judge(context, student=None)  # type: ignore[arg-type]


def test_two_mistakes_with_the_same_numbers_are_named_as_one_of():
    right, wrong, other = np.zeros(3), np.ones(3), np.full(3, 2.0)
    entries = {
        "reference": {"ok": True, "data": right},
        "mistake:a": {"ok": True, "data": other},
        "mistake:b": {"ok": True, "data": wrong},
        "mistake:c": {"ok": True, "data": wrong},
        "mistake:d": {"ok": True, "data": right},
    }
    judge = _judge(entries, ["a", "b", "c", "d"])
    named = judge.identify("forward", wrong, right, {}, 0, 1e-6, 1e-8)
    assert named.id == "b"
    feedback = named.feedback()
    assert feedback.startswith("one of 2 known mistakes") and "Title of b" in feedback and "Title of c" in feedback
    assert "Title of a" not in feedback and "Title of d" not in feedback
    alone = judge.identify("forward", other, right, {}, 0, 1e-6, 1e-8)
    assert alone.id == "a" and alone.feedback() == "Title of a. Why a is wrong."


def test_two_mistakes_failing_alike_are_named_as_one_of():
    entries = {
        "reference": {"ok": True, "data": 1.0},
        "mistake:a": {"ok": False, "error": "ValueError: no"},
        "mistake:b": {"ok": False, "error": "ValueError: no"},
        "mistake:c": {"ok": False, "error": "other"},
    }
    named = _judge(entries, ["a", "b", "c"]).identify_failure(
        "forward", Failure(FailureKind.EXCEPTION, "ValueError: no"), {}, 0
    )
    assert named.id == "a" and "Title of a" in named.feedback() and "Title of b" in named.feedback()
    assert "Title of c" not in named.feedback()


def test_release_finds_mistakes_no_probe_call_tells_apart():
    def ok(value: float) -> dict[str, Any]:
        return {"ok": True, "data": np.full(2, value)}

    entries = {
        "reference": {"k1": ok(0), "k2": ok(0), "k3": ok(0)},
        "mistake:a": {"k1": ok(1), "k2": ok(0)},
        "mistake:b": {"k1": ok(1), "k2": ok(0), "k3": ok(0)},  # same evidence as a: only k1 shows
        "mistake:c": {"k1": ok(1), "k2": ok(2)},  # k2 tells it apart
        "mistake:d": {"k3": {"ok": False, "error": "boom"}},
        "mistake:e": {"k3": {"ok": False, "error": "boom"}},  # fails alike: one of d, e
        "mistake:f": {"k1": ok(0)},  # never shows: nothing to confuse
        "mistake:g": {},
    }
    assert indistinguishable(entries, list("abcdefg")) == [("a", "b"), ("d", "e")]


# -- the catalogues -----------------------------------------------------------------------------------

NEW_MISTAKES = {
    "a1_srn_numpy": ["weight_grads_not_summed", "bias_grads_averaged", "dh_next_transposed"],
    "a2_rnncell_ohlol": ["loss_overwritten", "optimizer_step_missing", "hidden_not_passed_to_cell"],
    "a3_craft_rnn": ["shared_recurrent_matrix", "same_weights_every_layer"],
    "a4_seq2seq": ["teacher_forcing_inverted", "greedy_state_not_carried", "encoder_cell_unused"],
    "a5_sentiment_lstm": [
        "directions_swapped",
        "lengths_after_padding",
        "train_epoch_returns_last_loss",
        "last_column_as_final_state",
        "forward_final_at_last_column",
    ],
}


@pytest.mark.parametrize("spec", list(load_course(REPO).assignments.values()), ids=lambda spec: spec.id)
def test_every_patch_applies_and_every_mistake_is_explained(spec):
    catalog = load_catalog(spec.mistakes_path)
    raw = tomllib.loads(spec.mistakes_path.read_text(encoding="utf-8"))["mistake"]
    files = spec.solution_files()
    for mistake, entry in zip(catalog.mistakes, raw):
        mutant = mistake.mutate(files, spec.module)
        assert mutant != files, f"{mistake.id} changes nothing"
        assert len(mistake.title) > 10 and len(mistake.explain) > 40, mistake.id
        if mistake.id in NEW_MISTAKES.get(spec.id, []):
            assert "probes" in entry, f"{mistake.id}: say where it shows"


def test_wording_claims_only_what_one_probe_call_shows():
    """relu asked, tanh given: ignored or swapped, the call cannot say which; nor can a target fed at
    ratio 0.0 tell an ignored ratio from an inverted one."""
    a3 = load_catalog(REPO / "assignments" / "a3_craft_rnn" / "mistakes.toml").get("nonlinearity_swapped")
    assert "not the one asked for" in a3.title and "swapped" not in a3.title
    a1 = load_catalog(REPO / "assignments" / "a1_srn_numpy" / "mistakes.toml").get("activation_ignored")
    assert "not the one asked for" in a1.title and "ignored" not in a1.title
    a4 = load_catalog(REPO / "assignments" / "a4_seq2seq" / "mistakes.toml").get("teacher_forcing_ignores_ratio")
    assert "ignores" not in a4.title and "wrong way round" in a4.explain


# -- realistic wrong submissions, one per new mistake, graded in one batch ---------------------------

A1_STUDENT = '''
import numpy as np

NONLINEAR = {{"tanh": np.tanh, "relu": lambda v: np.where(v > 0, v, 0.0), "identity": lambda v: v}}


def rnn_step(x_t, h_prev, W_ih, W_hh, b_ih, b_hh, activation="tanh"):
    pre = np.einsum("bd,hd->bh", x_t, W_ih) + np.einsum("bk,hk->bh", h_prev, W_hh) + b_ih + b_hh
    return NONLINEAR[activation](pre)


def rnn_forward(x, h0, W_ih, W_hh, b_ih, b_hh, activation="tanh"):
    steps, batch, _ = x.shape
    start = np.zeros((batch, W_ih.shape[0])) if h0 is None else h0
    out, h = np.zeros((steps, batch, W_ih.shape[0])), start
    for t in range(steps):
        h = rnn_step(x[t], h, W_ih, W_hh, b_ih, b_hh, activation)
        out[t] = h
    return out, dict(x=x, start=start, out=out, W_ih=W_ih, W_hh=W_hh, activation=activation)


def linear_output(hs, W_hy, b_y):
    return np.einsum("tbh,oh->tbo", hs, W_hy) + b_y


def rnn_backward(dhs, cache):
    x, start, out = cache["x"], cache["start"], cache["out"]
    W_ih, W_hh, activation = cache["W_ih"], cache["W_hh"], cache["activation"]
    dW_ih, dW_hh = np.zeros_like(W_ih), np.zeros_like(W_hh)
    db_ih, db_hh = np.zeros(W_ih.shape[0]), np.zeros(W_hh.shape[0])
    dx, later = np.zeros_like(x), np.zeros_like(start)
    for t in reversed(range(x.shape[0])):
        h = out[t]
        slope = {{"tanh": 1 - h ** 2, "relu": (h > 0) * 1.0, "identity": np.ones_like(h)}}[activation]
        g = (dhs[t] + later) * slope
        before = out[t - 1] if t else start
{ACCUMULATE}
        dx[t] = g @ W_ih
        later = {BACK}
    return {{"x": dx, "h0": later, "W_ih": dW_ih, "W_hh": dW_hh, "b_ih": db_ih, "b_hh": db_hh}}
'''
A1_SUMMED = '''        dW_ih += np.einsum("bh,bd->hd", g, x[t])
        dW_hh += np.einsum("bh,bk->hk", g, before)
        db_ih += g.sum(axis=0)
        db_hh += g.sum(axis=0)'''
A1_CORRECT = dict(ACCUMULATE=A1_SUMMED, BACK="g @ W_hh")

A2_STUDENT = '''
import torch
import torch.nn as nn

IDX2CHAR = ["e", "h", "l", "o"]


def encode(text):
    position = {{letter: i for i, letter in enumerate(IDX2CHAR)}}
    return [position[letter] for letter in text]


def one_hot(indices, num_classes=4):
    rows = torch.zeros(len(indices), 1, num_classes)
    for row, index in enumerate(indices):
        rows[row, 0, index] = 1.0
    return rows


class Model(nn.Module):
    def __init__(self, input_size=4, hidden_size=4, batch_size=1):
        super().__init__()
        self.rnncell = nn.RNNCell(input_size, hidden_size)
        self.input_size, self.hidden_size, self.batch_size = input_size, hidden_size, batch_size

    def forward(self, x_t, hidden):
        return {CELL}

    def init_hidden(self):
        return torch.zeros(self.batch_size, self.hidden_size, device=next(self.parameters()).device)


def train(model, inputs, labels, epochs=15, lr=0.1):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    ce = nn.CrossEntropyLoss()
    history = []
    for epoch in range(epochs):
        opt.zero_grad()
        h = model.init_hidden()
        total = 0.0
        for t in range(len(inputs)):
            h = model(inputs[t], h)
            total = {LOSS}
        total.backward()
        {STEP}
        history.append(float(total))
    return history


def predict(model, inputs):
    with torch.no_grad():
        h, word = model.init_hidden(), ""
        for x_t in inputs:
            h = model(x_t, h)
            word += IDX2CHAR[int(torch.argmax(h[0]))]
    return word
'''
A2_CORRECT = dict(CELL="self.rnncell(x_t, hidden)", LOSS="total + ce(h, labels[t])", STEP="opt.step()")

A3_STUDENT = '''
import math
import torch
from torch import nn


class CraftRNN(nn.Module):
    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False):
        super().__init__()
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.nonlinearity, self.bias, self.batch_first = nonlinearity, bias, batch_first
        for k in range(num_layers):
            fan_in = input_size if k == 0 else hidden_size
            setattr(self, f"weight_ih_l{{k}}", nn.Parameter(torch.empty(hidden_size, fan_in)))
            setattr(self, f"weight_hh_l{{k}}", nn.Parameter(torch.empty(hidden_size, hidden_size)))
            if bias:
                setattr(self, f"bias_ih_l{{k}}", nn.Parameter(torch.empty(hidden_size)))
                setattr(self, f"bias_hh_l{{k}}", nn.Parameter(torch.empty(hidden_size)))
        bound = 1 / math.sqrt(hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def cell(self, k, x_t, h):
        W_ih = getattr(self, f"weight_ih_l{{k}}")
        W_hh = {W_HH}
        z = x_t @ W_ih.t() + h @ W_hh.t()
        if self.bias:
            z = z + getattr(self, f"bias_ih_l{{k}}") + getattr(self, f"bias_hh_l{{k}}")
        return torch.tanh(z) if self.nonlinearity == "tanh" else torch.relu(z)

    def forward(self, x, h0=None):
        unbatched = x.dim() == 2
        if unbatched:
            x = x.unsqueeze(1)
            h0 = None if h0 is None else h0.unsqueeze(1)
        elif self.batch_first:
            x = x.transpose(0, 1)
        if h0 is None:
            h0 = torch.zeros(self.num_layers, x.shape[1], self.hidden_size, dtype=x.dtype, device=x.device)
        seq, finals = x, []
        for k in range(self.num_layers):
            h, outs = h0[k], []
            for t in range(x.shape[0]):
                h = self.cell({LAYER}, seq[t], h)
                outs.append(h)
            seq = torch.stack(outs)
            finals.append(h)
        h_n = torch.stack(finals)
        if unbatched:
            return seq.squeeze(1), h_n.squeeze(1)
        return (seq.transpose(0, 1) if self.batch_first else seq), h_n


class SequenceClassifier(nn.Module):
    def __init__(self, input_size, hidden_size, output_size, num_layers=1):
        super().__init__()
        self.rnn = CraftRNN(input_size, hidden_size, num_layers=num_layers, batch_first=True)
        self.fc = nn.Linear(hidden_size, output_size)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.fc(out[:, -1])
'''
A3_CORRECT = dict(W_HH='getattr(self, f"weight_hh_l{k}")', LAYER="k")

A4_STUDENT = '''
import random
import torch
from torch import nn

ALPHABET = "SE?abcdefghijklmnopqrstuvwxyz"


def make_batch(pairs, n_step):
    def ids(text):
        return [ALPHABET.index(letter) for letter in text]

    src = [ids(word + "?" * (n_step - len(word)) + "E") for word, _ in pairs]
    trg = [ids("S" + target + "?" * (n_step - len(target)) + "E") for _, target in pairs]
    return torch.tensor(src, dtype=torch.long), torch.tensor(trg, dtype=torch.long)


class Encoder(nn.Module):
    def __init__(self, vocab_size, embedding_dim, hidden_size, num_layers=1, dropout=0.0):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, hidden_size, num_layers=num_layers, batch_first=True,
                            dropout=dropout if num_layers > 1 else 0.0)

    def forward(self, src):
        outputs, (h, c) = self.lstm(self.embedding(src))
        return outputs, h, c


class Decoder(nn.Module):
    def __init__(self, vocab_size, embedding_dim, hidden_size, num_layers=1, dropout=0.0):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, hidden_size, num_layers=num_layers, batch_first=True,
                            dropout=dropout if num_layers > 1 else 0.0)
        self.fc = nn.Linear(hidden_size, vocab_size)

    def forward(self, token, hidden, cell):
        out, (hidden, cell) = self.lstm(self.embedding(token), (hidden, cell))
        return self.fc(out), hidden, cell


class Seq2Seq(nn.Module):
    def __init__(self, encoder, decoder):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    def forward(self, src, trg, teacher_forcing_ratio=0.5):
        batch, length = trg.shape
        outputs = torch.zeros(batch, length, self.decoder.fc.out_features, device=trg.device)
        _, hidden, cell = self.encoder(src)
        {START}
        previous = trg[:, 0].unsqueeze(1)
        for t in range(1, length):
            scores, hidden, cell = self.decoder(previous, hidden, cell)
            outputs[:, t, :] = scores.squeeze(1)
            guess = scores.argmax(-1)
            previous = trg[:, t].unsqueeze(1) if {DRAW} else guess
        return outputs


def train_step(model, src, trg, optimizer, criterion, teacher_forcing_ratio=0.5, clip=1.0):
    model.train()
    optimizer.zero_grad()
    outputs = model(src, trg, teacher_forcing_ratio)
    vocab = outputs.size(-1)
    loss = criterion(outputs[:, 1:].contiguous().view(-1, vocab), trg[:, 1:].contiguous().view(-1))
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), clip)
    optimizer.step()
    return loss.item()


def greedy_decode(model, src, max_len):
    with torch.no_grad():
        _, hidden, cell = model.encoder(src)
        {START}
        previous = torch.zeros(src.size(0), 1, dtype=torch.long, device=src.device)
        steps = []
        for _ in range(max_len):
            {DECODE}
            previous = scores.argmax(-1)
            steps.append(previous)
    return torch.cat(steps, dim=1)


def translate(model, word, n_step):
    src, _ = make_batch([(word, "")], n_step)
    letters = []
    for index in greedy_decode(model, src.to(next(model.parameters()).device), n_step + 1)[0].tolist():
        if index == 1:
            break
        if index != 2:
            letters.append(ALPHABET[index])
    return "".join(letters)
'''
A4_CORRECT = dict(
    START="pass",
    DRAW="random.random() < teacher_forcing_ratio",
    DECODE="scores, hidden, cell = model.decoder(previous, hidden, cell)",
)

A5_STUDENT = '''
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_sequence


def tokenize(text):
    return text.lower().split()


def build_vocab(texts, min_freq=1):
    counts = {{}}
    for text in texts:
        for word in tokenize(text):
            counts[word] = counts.get(word, 0) + 1
    words = sorted((w for w in counts if counts[w] >= min_freq), key=lambda w: (-counts[w], w))
    vocab = {{"<pad>": 0, "<unk>": 1}}
    vocab.update({{word: index + 2 for index, word in enumerate(words)}})
    return vocab


def encode(text, vocab, max_len=100):
    return torch.tensor([vocab.get(word, 1) for word in tokenize(text)[:max_len]], dtype=torch.long)


class SentimentDataset(torch.utils.data.Dataset):
    def __init__(self, texts, labels, vocab, max_len=100):
        self.texts, self.labels, self.vocab, self.max_len = list(texts), list(labels), vocab, max_len

    def __len__(self):
        return len(self.texts)

    def __getitem__(self, i):
        return encode(self.texts[i], self.vocab, self.max_len), torch.tensor(self.labels[i])


def collate_fn(batch):
    ids = [item[0] for item in batch]
    padded = pad_sequence(ids, batch_first=True)
    lengths = {LENGTHS}
    return padded, lengths, torch.stack([item[1] for item in batch])


class SentimentLSTM(nn.Module):
    def __init__(self, vocab_size, embedding_dim, hidden_size, num_layers, num_classes, dropout=0.5,
                 bidirectional=True):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        self.lstm = nn.LSTM(embedding_dim, hidden_size, num_layers, batch_first=True, bidirectional=bidirectional,
                            dropout=dropout if num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden_size * (2 if bidirectional else 1), num_classes)
        self.bidirectional = bidirectional

    def forward(self, x, lengths):
        packed = pack_padded_sequence(self.embedding(x), lengths.to("cpu"), batch_first=True, enforce_sorted=False)
        _, (h_n, _) = self.lstm(packed)
        last = {JOIN} if self.bidirectional else h_n[-1]
        return self.fc(self.dropout(last))


def train_epoch(model, loader, optimizer, criterion, device):
    model.train()
    losses = []
    for x, lengths, y in loader:
        optimizer.zero_grad()
        loss = criterion(model(x.to(device), lengths), y.to(device))
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return {EPOCH}


def evaluate(model, loader, device):
    model.eval()
    right = seen = 0
    with torch.no_grad():
        for x, lengths, y in loader:
            right += int((model(x.to(device), lengths).argmax(1) == y.to(device)).sum())
            seen += len(y)
    return right / seen
'''
A5_CORRECT = dict(
    EPOCH="sum(losses) / len(losses)",
    LENGTHS="torch.tensor([t.shape[0] for t in ids])",
    JOIN="torch.hstack([h_n[-2], h_n[-1]])",
)

# The LSTM's output padded back (a student who reads "the last output" from it instead of h_n).
A5_PADDED_OUTPUT = "torch.nn.utils.rnn.pad_packed_sequence(self.lstm(packed)[0], batch_first=True)[0]"

STUDENTS = {
    "a1_srn_numpy": ("srn.py", A1_STUDENT, A1_CORRECT),
    "a2_rnncell_ohlol": ("ohlol.py", A2_STUDENT, A2_CORRECT),
    "a3_craft_rnn": ("craft_rnn.py", A3_STUDENT, A3_CORRECT),
    "a4_seq2seq": ("seq2seq.py", A4_STUDENT, A4_CORRECT),
    "a5_sentiment_lstm": ("sentiment.py", A5_STUDENT, A5_CORRECT),
}

# mistake: (assignment, changes to that assignment's correct submission)
WRONG = {
    "weight_grads_not_summed": ("a1_srn_numpy", dict(ACCUMULATE=A1_SUMMED.replace("+=", "="))),
    "bias_grads_averaged": ("a1_srn_numpy", dict(ACCUMULATE=A1_SUMMED.replace("g.sum(axis=0)", "np.mean(g, axis=0)"))),
    "dh_next_transposed": ("a1_srn_numpy", dict(BACK="g @ W_hh.T")),
    "loss_overwritten": ("a2_rnncell_ohlol", dict(LOSS="ce(h, labels[t])")),
    "optimizer_step_missing": ("a2_rnncell_ohlol", dict(STEP="pass")),
    "hidden_not_passed_to_cell": ("a2_rnncell_ohlol", dict(CELL="self.rnncell(x_t)")),
    "shared_recurrent_matrix": ("a3_craft_rnn", dict(W_HH="self.weight_hh_l0")),
    "same_weights_every_layer": ("a3_craft_rnn", dict(LAYER="0")),
    "teacher_forcing_inverted": ("a4_seq2seq", dict(DRAW="teacher_forcing_ratio < random.random()")),
    "greedy_state_not_carried": ("a4_seq2seq", dict(DECODE="scores = model.decoder(previous, hidden, cell)[0]")),
    "encoder_cell_unused": ("a4_seq2seq", dict(START="cell = torch.zeros(hidden.shape, device=hidden.device)")),
    "directions_swapped": ("a5_sentiment_lstm", dict(JOIN="torch.hstack([h_n[-1], h_n[-2]])")),
    "lengths_after_padding": ("a5_sentiment_lstm", dict(LENGTHS="torch.full((len(ids),), padded.shape[1])")),
    "train_epoch_returns_last_loss": ("a5_sentiment_lstm", dict(EPOCH="losses[-1]")),
    "last_column_as_final_state": ("a5_sentiment_lstm", dict(JOIN=f"{A5_PADDED_OUTPUT}[:, -1]")),
    "forward_final_at_last_column": (
        "a5_sentiment_lstm",
        dict(JOIN=f"torch.hstack([{A5_PADDED_OUTPUT}[:, -1, : self.lstm.hidden_size], h_n[-1]])"),
    ),
}


def submission(assignment: str, **changes: str) -> dict[str, str]:
    filename, template, correct = STUDENTS[assignment]
    return {filename: template.format(**{**correct, **changes})}


def test_every_new_mistake_has_a_wrong_submission():
    assert sorted(WRONG) == sorted(m for ids in NEW_MISTAKES.values() for m in ids)


@pytest.fixture(scope="module")
def graded(run_grade, tmp_path_factory) -> dict[str, Any]:
    """Every wrong submission of this module, graded by one `grade report` against the student copy:
    its public checks and shipped expected data must name every new mistake without the solutions.
    The checks that can name no mistake (training) are left out (catalogue_reach.course_naming_only)."""
    course = course_naming_only(TEMPLATE, tmp_path_factory.mktemp("student-copy") / "course")
    students = {name: submission(assignment, **changes) for name, (assignment, changes) in WRONG.items()}
    return report_class(
        run_grade,
        tmp_path_factory.mktemp("mistakes-class"),
        tmp_path_factory.mktemp("mistakes-grades"),
        students,
        "--course",
        str(course),
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(WRONG))
def test_new_mistake_is_named_for_a_realistic_wrong_submission(graded, name):
    assignment = WRONG[name][0]
    checks = checks_of(graded[name], assignment)
    [graded_assignment] = [a for a in graded[name]["assignments"] if a["id"] == assignment]
    assert 0 < score_of(graded[name], assignment) < graded_assignment["max_score"]
    named = [c for c in checks if c["mistake"] == name]
    failed = [(c["name"], c["message"], c["diagnosis"]) for c in checks if c["status"] != "passed"]
    assert named, f"{name} was not named: {failed}"
    assert all("Known mistake" in c["diagnosis"] for c in named)


@pytest.mark.slow
def test_an_inverted_ratio_is_one_of_two_where_the_call_cannot_tell(graded):
    """At ratio 0.0 an ignored and an inverted ratio both feed the target: the feedback names both; at
    ratio 1.0 an inverted ratio and a target never fed both feed the guesses: both again (the inverted
    one was named alone, and so told a student whose draw was right but unused that it was inverted)."""
    checks = {c["name"]: c for c in checks_of(graded["teacher_forcing_inverted"], "a4_seq2seq")}
    free = checks["test_forward_free_running"]
    assert free["mistake"] == "teacher_forcing_ignores_ratio"
    assert "one of 2 known mistakes" in free["diagnosis"] and "wrong way round" in free["diagnosis"]
    forced = checks["test_forward_teacher_forcing"]
    assert forced["mistake"] == "teacher_forcing_inverted" and "one of 2 known mistakes" in forced["diagnosis"]
    assert "never fed" in forced["diagnosis"]


@pytest.mark.slow
def test_gradient_rows_and_token_ids_get_no_misleading_hints(graded):
    """No "step" talk for weight-gradient rows, no bias hint for token ids."""
    a1 = {c["name"]: c for c in checks_of(graded["weight_grads_not_summed"], "a1_srn_numpy")}
    backward = a1["test_rnn_backward"]
    assert "the error starts at step" not in (backward["diagnosis"] or "")
    # credit per gradient: each wrong gradient has its own line in the message, with its own diagnosis
    weights = [line for line in backward["message"].splitlines() if "['W_" in line or "['b_" in line]
    assert weights and not any("the error starts at step" in line for line in weights), backward["message"]
    a4 = {c["name"]: c for c in checks_of(graded["greedy_state_not_carried"], "a4_seq2seq")}
    assert "a bias added" not in (a4["test_greedy_decode"]["diagnosis"] or "")


@pytest.mark.parametrize(
    "entry, said",
    [
        ('id = "x"\nexplain = "e"\n', "mistake 'x': it has no `title`"),
        (
            'id = "x"\ntitle = "t"\n[[mistake.patch]]\nfind = "a"\n',
            "mistake 'x': one of its [[mistake.patch]] tables has no `replace`",
        ),
    ],
)
def test_a_mistake_entry_missing_a_field_is_named_in_a_sentence(tmp_path, entry, said):
    """A new instructor read "malformed mistake entry 'x': 'title'" (a KeyError's text)."""
    from grader.course.mistakes import CatalogError

    path = tmp_path / "mistakes.toml"
    path.write_text("[[mistake]]\n" + entry)
    with pytest.raises(CatalogError) as raised:
        load_catalog(path)
    assert said in str(raised.value)
