"""Assignment a5_sentiment_lstm graded end to end: independent correct work scores 100, wrong work
partial credit with the mistake named (the reference, the stub and the catalogue's own mutants:
tests/test_contract.py; notebooks: tests/test_notebooks_as_py.py). The wrong submissions (but one that
must keep its training points) are graded without the training checks, which can name no mistake
(tests/catalogue_reach.py). They are variants of a
student-style implementation written independently of the reference, so fingerprinting is shown to
match behaviour, not text. The last tests prove, in this process, that the reference itself behaves as
the handout says (packing makes it padding- and order-invariant) and that the test split stays hidden."""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    REPO,
    SOLUTIONS,
    TEMPLATE,
    checks_of,
    curve_rtol,
    expect_partial_credit,
    report_class,
    score_of,
)

A5 = "a5_sentiment_lstm"
ASSIGNMENT = REPO / "assignments" / A5

STUDENT_SENTIMENT = '''
import collections
import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence

PAD, UNK = "<pad>", "<unk>"


def tokenize(text):
    return {TOKENIZE}


def build_vocab(texts, min_freq=1):
    freq = collections.Counter()
    for text in texts:
        freq.update(tokenize(text))
    vocab = {{PAD: 0, UNK: 1}}
    for word, n in {ORDER}:
        if {KEEP}:
            vocab[word] = len(vocab)
    return vocab


def encode(text, vocab, max_len=100):
    ids = [vocab[w] if w in vocab else {UNKNOWN} for w in tokenize(text)]
    return torch.tensor(ids[:max_len], dtype=torch.long)


class SentimentDataset(torch.utils.data.Dataset):
    def __init__(self, texts, labels, vocab, max_len=100):
        self.examples = [(encode(t, vocab, max_len), torch.tensor(l)) for t, l in zip(texts, labels)]

    def __len__(self):
        return len(self.examples)

    def __getitem__(self, i):
        return self.examples[i]


def collate_fn(batch):
    seqs, labels = zip(*batch)
    lengths = torch.tensor([s.numel() for s in seqs])
    padded = torch.zeros(len(seqs), int(lengths.max()), dtype=torch.long)
    for i, s in enumerate(seqs):
        padded[i, :len(s)] = s
    return padded, lengths, torch.stack(labels)


class SentimentLSTM(nn.Module):
    def __init__(self, vocab_size, embedding_dim, hidden_size, num_layers, num_classes, dropout=0.5,
                 bidirectional=True):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        self.lstm = nn.LSTM(embedding_dim, hidden_size, num_layers, batch_first=True,
                            dropout=dropout if num_layers > 1 else 0, bidirectional=bidirectional)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden_size * 2 if bidirectional else hidden_size, num_classes)
        self.two_way = bidirectional

    def forward(self, x, lengths):
        emb = self.embedding(x)
        {RUN}
        if self.two_way:
            feats = {BI}
        else:
            feats = {UNI}
        return self.fc(self.dropout(feats))


def train_epoch(model, loader, optimizer, criterion, device):
    {TRAIN}
    losses = []
    for x, lengths, y in loader:
        x, y = x.to(device), y.to(device)
        optimizer.zero_grad()
        loss = criterion(model(x, lengths), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return {EPOCH_LOSS}


def evaluate(model, loader, device):
    {EVAL}
    hits = total = 0
    with torch.no_grad():
        for x, lengths, y in loader:
            pred = model(x.to(device), lengths).argmax(-1)
            hits += int((pred == y.to(device)).sum())
            total += len(y)
    return hits / total
'''

PACKED = (
    '_, (h, _) = self.lstm(pack_padded_sequence(emb, lengths.to("cpu"), batch_first=True, enforce_sorted={SORTED}))'
)
SORTED_NOT_RESTORED = (
    "order = lengths.cpu().argsort(descending=True)\n        "
    "_, (h, _) = self.lstm(pack_padded_sequence(emb[order], lengths.cpu()[order], batch_first=True))"
)
CORRECT = dict(
    TOKENIZE="[word.lower() for word in text.split()]",
    ORDER="sorted(freq.items(), key=lambda kv: (-kv[1], kv[0]))",
    KEEP="n >= min_freq",
    UNKNOWN="1",
    RUN=PACKED.format(SORTED="False"),
    BI="torch.cat((h[-2], h[-1]), dim=-1)",
    UNI="h[-1]",
    EPOCH_LOSS="sum(losses) / len(losses)",
    EVAL="model.eval()",
    TRAIN="model.train()",
)

# name: (changes to CORRECT, the catalogued mistake the feedback must name). Every catalogued mistake's
# own mutant is graded by tests/test_contract.py; these show the naming follows behaviour (another
# packing, another vocabulary order, a failure that fails alike, summed losses) and what each costs
# outside training.
WRONG = {
    "no_packing": (dict(RUN="_, (h, _) = self.lstm(emb)"), "no_packing"),
    "enforce_sorted_true": (dict(RUN=PACKED.format(SORTED="True")), "enforce_sorted_true"),
    "sorted_order_not_restored": (dict(RUN=SORTED_NOT_RESTORED), "sorted_order_not_restored"),
    "wrong_layer_hidden": (dict(BI="torch.cat((h[0], h[1]), dim=-1)", UNI="h[0]"), "wrong_layer_hidden"),
    "vocab_ties_by_first_occurrence": (dict(ORDER="freq.most_common()"), "vocab_ties_not_alphabetical"),
    "train_epoch_sums_losses": (dict(EPOCH_LOSS="sum(losses)"), "train_epoch_sums_losses"),
    "directions_swapped": (dict(BI="torch.cat((h[-1], h[-2]), dim=-1)"), "directions_swapped"),
    "unknown_as_padding": (dict(UNKNOWN="0"), "unknown_as_padding"),
    "cell_state_instead_of_hidden": (
        dict(RUN=PACKED.format(SORTED="False").replace("_, (h, _)", "_, (_, h)")),
        "cell_state_instead_of_hidden",
    ),
}


def student_sentiment(**changes: str) -> str:
    return STUDENT_SENTIMENT.format(**{**CORRECT, **changes})


# Graded on the course itself, training included: the rest are graded where only mistakes are named.
TRAINED = (
    "independent",
    "lengths_after_padding",
    "wrong_layer_hidden",
    "directions_swapped",
    "cell_state_instead_of_hidden",
    "float_labels",
    "unknown_as_padding_and_no_lengths",
)


@pytest.fixture(scope="module")
def graded(run_grade, tmp_path_factory, naming_course) -> dict[str, Any]:
    """Every submission of this module: those of TRAINED by one `grade report` on the course, the other
    wrong ones by one on a copy without the checks that can name no mistake (the training checks:
    catalogue_reach.course_naming_only)."""
    students = {
        "independent": {"sentiment.py": student_sentiment()},
        **{name: {"sentiment.py": student_sentiment(**changes)} for name, (changes, _) in WRONG.items()},
        "float_labels": {"sentiment.py": student_sentiment().replace("torch.tensor(l))", "torch.tensor(float(l)))")},
        "lengths_after_padding": {
            "sentiment.py": student_sentiment().replace(
                "    return padded, lengths, torch.stack(labels)",
                "    lengths = torch.tensor([len(row) for row in padded])\n    return padded, lengths, torch.stack(labels)",
            )
        },
        # two slips: the one that stops training (train_epoch) is not blamed on the other (encode)
        "unknown_as_padding_and_no_lengths": {
            "sentiment.py": student_sentiment(UNKNOWN="0").replace(
                "criterion(model(x, lengths), y)", "criterion(model(x), y)"
            )
        },
    }
    root = tmp_path_factory.mktemp("a5")
    return {
        **report_class(
            run_grade, root / "class", root / "grades", {n: students[n] for n in TRAINED}, "--assignment", A5
        ),
        **report_class(
            run_grade,
            root / "wrong",
            root / "wrong-grades",
            {name: files for name, files in students.items() if name not in TRAINED},
            "--assignment",
            A5,
            "--course",
            str(naming_course),
        ),
    }


@pytest.mark.slow
def test_independent_correct_work_scores_full_marks(graded):
    failed = [(c["name"], c["message"]) for c in checks_of(graded["independent"], A5) if c["status"] != "passed"]
    assert score_of(graded["independent"], A5) == 100, failed


@pytest.mark.slow
def test_training_of_the_reference_is_reproduced_exactly(graded):
    """The independent implementation builds its layers in the documented order: same curves."""
    checks = {c["name"]: c for c in checks_of(graded["independent"], A5)}
    for name in ("test_training_dev_accuracy", "test_training_test_accuracy"):
        curves = checks[name]["details"]["curves"]
        assert len(curves["your loss"]) == 2
        assert curves["your loss"] == pytest.approx(curves["reference"], rel=curve_rtol()), name
        accuracy = checks[name]["details"]["accuracy"]
        assert min(accuracy["reference"]) > 0.95, accuracy


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(WRONG))
def test_wrong_submission_partial_credit_and_mistake_named(graded, name):
    _, mistake = WRONG[name]
    assert mistake is not None, "every wrong a5 submission here is a catalogued mistake"
    checks = expect_partial_credit(graded[name], A5, name, mistake)
    assert {c["mistake"] for c in checks if c["mistake"]} == {mistake}, "another mistake was named"


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, check",
    [
        ("no_packing", "test_padding_invariance"),
        ("sorted_order_not_restored", "test_batch_order_invariance"),
    ],
)
def test_broken_packing_loses_the_invariance_checks(graded, name, check):
    checks = {c["name"]: c for c in checks_of(graded[name], A5)}
    assert checks[check]["status"] == "failed"
    assert "changed your logits" in checks[check]["message"], checks[check]
    assert checks[check]["mistake"] == name


@pytest.mark.slow
def test_directions_swapped_costs_the_bidirectional_forward_checks_not_the_training(graded):
    """A teacher round: the directions' final states concatenated backward first lost every training
    point as well (62.77 where a teacher gives 89), "does not compute what the specified architecture
    computes". The model is the architecture with fc's halves trading places: its training is measured
    in that variant (verify.py offers it), and the forward checks alone charge the mistake."""
    checks = {c["name"]: c for c in checks_of(graded["directions_swapped"], A5)}
    lost = {name for name, c in checks.items() if c["status"] not in ("passed", "skipped")}
    assert lost == {"test_forward_bidirectional", "test_forward_configurations[2-layers-bidirectional]"}, lost
    for name in ("test_training_dev_accuracy", "test_training_test_accuracy", "test_training_made_up_language"):
        assert (
            "so it was measured that way" in checks[name]["message"] and "directions_swapped" in checks[name]["message"]
        )


@pytest.mark.slow
def test_the_cell_state_read_for_the_hidden_state_costs_the_forward_checks_not_the_training(graded):
    """A teacher round: ``_, (_, hidden) = self.lstm(packed)`` packs correctly and learns (dev accuracy
    0.99), but lost the invariance checks ("cannot be judged") and every training check as well: 37.23
    where a teacher gives 70-80. Catalogued, and a variant verify.py measures the training in."""
    checks = {c["name"]: c for c in checks_of(graded["cell_state_instead_of_hidden"], A5)}
    lost = {name for name, c in checks.items() if c["status"] not in ("passed", "skipped")}
    assert lost and all(name.startswith(("test_forward", "test_padding", "test_batch_order")) for name in lost), lost
    assert all(checks[name]["mistake"] == "cell_state_instead_of_hidden" for name in lost)
    for name in ("test_training_dev_accuracy", "test_training_test_accuracy", "test_training_made_up_language"):
        assert checks[name]["status"] == "passed" and "cell_state_instead_of_hidden" in checks[name]["message"]
    assert score_of(graded["cell_state_instead_of_hidden"], A5) >= 70


@pytest.mark.slow
def test_a_training_that_fails_names_the_first_part_that_gets_its_own_question_wrong(graded):
    """A teacher round: SentimentDataset's labels as floats made every training check fail with torch's
    "expected target dtype to be Long" in train_epoch, which was right; the dataset's own check named
    the cause, the training checks did not (70.74: the training runs the whole pipeline, so its points
    stay lost, as in a2 and a4)."""
    checks = {c["name"]: c for c in checks_of(graded["float_labels"], A5)}
    assert checks["test_dataset_and_collate"]["status"] == "partial"
    for name in ("test_training_dev_accuracy", "test_training_test_accuracy", "test_training_made_up_language"):
        message = checks[name]["message"]
        # torch's words on the CPU; on a GPU its nll_loss has no kernel for float targets
        assert checks[name]["points"] == 0, message
        assert "expected target dtype" in message or "not implemented for 'Float'" in message, message
        assert "your SentimentDataset gets its own check's question wrong (test_dataset_and_collate)" in message
    # where another part raises an error of its own (a regression round: train_epoch without the lengths,
    # beside an encode that maps unknown words to 0), no part is blamed but the one whose own check
    # raises the same error
    checks = {c["name"]: c for c in checks_of(graded["unknown_as_padding_and_no_lengths"], A5)}
    assert checks["test_encode"]["status"] != "passed" and checks["test_train_epoch"]["status"] != "passed"
    for name in ("test_training_dev_accuracy", "test_training_test_accuracy", "test_training_made_up_language"):
        assert "your encode gets" not in checks[name]["message"], checks[name]["message"]
        assert "lengths" in checks[name]["message"], checks[name]["message"]
    # a training that runs but learns too little says which part gets its own question wrong (a fairness
    # round: collate_fn's lengths taken after padding, named by its own check; the training said only
    # that the accuracy was too low)
    checks = {c["name"]: c for c in checks_of(graded["lengths_after_padding"], A5)}
    assert checks["test_dataset_and_collate"]["status"] == "partial"
    for name in ("test_training_dev_accuracy", "test_training_test_accuracy", "test_training_made_up_language"):
        if checks[name]["status"] != "passed":
            assert "your collate_fn gets its own check's question wrong (test_dataset_and_collate)" in (
                checks[name]["diagnosis"] or ""
            ), checks[name]
    assert any(
        checks[name]["status"] != "passed" for name in ("test_training_dev_accuracy", "test_training_made_up_language")
    )
    # where every part is right, no part is blamed
    independent = checks_of(graded["independent"], A5)
    assert not any("gets its own check's question wrong" in c["message"] for c in independent)


def test_a_wrong_encode_costs_the_datasets_half_not_collate_fn(graded):
    """SentimentDataset's items are built with the student's encode; collate_fn has nothing to do with it.
    A teacher round's encode slip (PAD and UNK swapped) cost collate_fn's points too: the check was one."""
    check = next(c for c in checks_of(graded["unknown_as_padding"], A5) if c["name"] == "test_dataset_and_collate")
    assert check["status"] == "partial" and check["points"] == pytest.approx(check["max_points"] / 2, abs=1e-4)
    assert check["message"].startswith("SentimentDataset's items (half of the points): ")


@pytest.mark.slow
def test_wrong_layer_costs_only_the_two_layer_checks(graded):
    lost = {c["name"] for c in checks_of(graded["wrong_layer_hidden"], A5) if c["status"] not in ("passed", "skipped")}
    assert lost == {
        "test_forward_configurations[2-layers-bidirectional]",
        "test_forward_configurations[2-layers-unidirectional]",
    }, lost


# -- the reference itself behaves as the handout says ----------------------------------------------------


def _load(name: str, path: Path | None = None, source: str | None = None) -> Any:
    if source is not None:
        module = types.ModuleType(name)
        sys.modules[name] = module
        exec(compile(source, f"<{name}>", "exec"), module.__dict__)
        return module
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def reference():
    return _load("a5_reference_sentiment", SOLUTIONS / A5 / "sentiment.py")


@pytest.fixture(scope="module")
def probes():
    return _load("a5_probes", ASSIGNMENT / "probes.py")


def mutant(mistake_id: str) -> Any:
    from grader.course.mistakes import load_catalog

    files = {"sentiment.py": (SOLUTIONS / A5 / "sentiment.py").read_bytes()}
    source = load_catalog(ASSIGNMENT / "mistakes.toml").get(mistake_id).mutate(files, "sentiment")["sentiment.py"]
    return _load(f"a5_mutant_{mistake_id}", source=source.decode())


def test_reference_matches_the_worked_example(reference):
    texts = ["the movie was good", "the plot was not good", "bad movie"]
    vocab = reference.build_vocab(texts)
    assert vocab == {"<pad>": 0, "<unk>": 1, "good": 2, "movie": 3, "the": 4, "was": 5, "bad": 6, "not": 7, "plot": 8}
    assert reference.encode("the movie was great", vocab).tolist() == [4, 3, 5, 1]
    assert list(reference.build_vocab(texts, min_freq=2)) == ["<pad>", "<unk>", "good", "movie", "the", "was"]
    assert reference.tokenize("Not  GOOD\tat all") == ["not", "good", "at", "all"]


CONFIGS = [
    dict(vocab=25, emb=5, hidden=6, layers=layers, classes=2, bidirectional=bidirectional, batch=6, max_len=8)
    for layers in (1, 2)
    for bidirectional in (True, False)
]


@pytest.mark.parametrize(
    "config", CONFIGS, ids=lambda c: f"{c['layers']}-layers-{'bi' if c['bidirectional'] else 'uni'}"
)
def test_packing_makes_the_reference_padding_and_order_invariant(reference, probes, config):
    import numpy as np

    padded = probes.padding_invariance(reference, **config, extra=6, seed=1)
    assert np.abs(padded["logits"] - padded["logits_extra_padding"]).max() < 1e-6
    ordered = probes.batch_order(reference, **config, seed=2)
    assert np.abs(ordered["logits"] - ordered["logits_reordered"]).max() < 1e-6
    assert not np.allclose(ordered["logits"], ordered["logits"][:1]), "the sentences should get different logits"


def test_without_packing_the_logits_depend_on_padding(probes):
    """So the padding-invariance check can fail: the catalogued no-packing mutant changes its logits."""
    import numpy as np

    padded = probes.padding_invariance(mutant("no_packing"), **CONFIGS[0], extra=6, seed=1)
    assert np.abs(padded["logits"] - padded["logits_extra_padding"]).max() > 1e-3


def test_enforce_sorted_fails_on_the_unsorted_batch(probes):
    with pytest.raises(RuntimeError, match="sorted"):
        probes.batch_order(mutant("enforce_sorted_true"), **CONFIGS[0], seed=2)


def test_train_epoch_and_evaluate_get_a_dataloader_as_the_handout_says(reference, probes):
    """`len(loader.dataset)` (the tutorials' accuracy) works, so correct work written that way earns what
    the reference earns; a per-sentence mean loss, which needs it too, is a catalogued mistake."""
    import torch

    def evaluate_over_the_dataset(model, loader, device):
        model.eval()
        correct = 0
        with torch.no_grad():
            for padded, lengths, labels in loader:
                correct += (model(padded.to(device), lengths).argmax(1) == labels.to(device)).sum().item()
        return correct / len(loader.dataset)

    student = types.SimpleNamespace(**{**vars(reference), "evaluate": evaluate_over_the_dataset})
    case = dict(sizes=[16, 16, 5], vocab=20, emb=4, classes=2, max_len=5, dropout=0.5, seed=5)
    assert probes.evaluate(student, **case) == probes.evaluate(reference, **case)
    epoch = dict(sizes=[7, 1, 3, 5], vocab=15, emb=3, classes=3, max_len=6, lr=0.3, seed=25)
    wrong = probes.train_epoch(mutant("train_epoch_mean_per_sentence"), **epoch)["loss"]
    assert abs(wrong - probes.train_epoch(reference, **epoch)["loss"]) > 1e-3


def test_the_test_split_stays_hidden():
    from grader.course.model import load_spec
    from grader.packaging.release import shipped_helpers

    spec = load_spec(ASSIGNMENT, "full")
    assert "test.tsv" not in spec.release_data and "make_dataset.py" not in spec.release_data
    assert not list((TEMPLATE / A5).rglob("test.tsv")) and not list((TEMPLATE / A5).rglob("make_dataset.py"))
    public = list(spec.public_checks)
    shipped = [ASSIGNMENT / "probes.py"] + [
        ASSIGNMENT / "checks" / name for name in public + shipped_helpers(spec, public)
    ]
    assert ASSIGNMENT / "checks" / "shared.py" in shipped  # the helper public and hidden checks share
    assert all('"test"' not in path.read_text() and "test.tsv" not in path.read_text() for path in shipped)
    assert 'split="test"' in (ASSIGNMENT / "checks" / "test_hidden.py").read_text()
    assert len((ASSIGNMENT / "data" / "test.tsv").read_text().splitlines()) == 600


def test_collate_rows_sorted_longest_first_are_put_back_in_the_batch_s_order(reference, probes):
    """The handout does not fix the order of collate_fn's rows: sorted longest first with lengths and
    labels moved along (as enforce_sorted=True wants), they are the same batch (94.68 once). Rows that
    are not the batch's are left as they are, so the comparison still fails them."""
    import torch

    case = dict(sequences=[[5, 6], [7, 8, 9, 10], [11]], labels=[1, 0, 0], seed=3)
    expected = probes.collate(reference, **case)

    def sorting(batch):
        padded, lengths, labels = reference.collate_fn(batch)
        order = torch.argsort(lengths, descending=True)
        return padded[order], lengths[order], labels[order]

    got = probes.collate(types.SimpleNamespace(collate_fn=sorting), **case)
    assert all((got[key] == expected[key]).all() for key in ("padded", "lengths", "labels"))

    def labels_apart(batch):  # the labels left behind while the rows move: not the same batch
        padded, lengths, labels = sorting(batch)
        return padded, lengths, reference.collate_fn(batch)[2]

    wrong = probes.collate(types.SimpleNamespace(collate_fn=labels_apart), **case)
    assert not all((wrong[key] == expected[key]).all() for key in ("padded", "lengths", "labels"))


def test_a_slip_in_tokenize_costs_its_own_checks(reference, probes):
    """A tokenize that forgets .lower() (or splits on single spaces) lost 22 points across six checks.
    The checks of what comes after tokenize ask plain texts (lower case, single spaces), or (the public
    build_vocab and encode) ask them again where tokenize gets its own question wrong
    (test_contract.py), so those slips cost the tokenize checks alone."""
    sys.path.insert(0, str(ASSIGNMENT.parent))
    try:
        shared = _load("a5_checks_shared", ASSIGNMENT / "checks" / "shared.py")
    finally:
        sys.path.pop(0)
    texts = ["The movie was GOOD", "a good  good plot", "not good at all\tat all"]
    vocab_words = ["<pad>", "<unk>", "good", "at", "all", "a", "not", "the", "movie", "was", "plot"]
    for slip in ("no_lowercase", "split_on_single_space"):
        student = mutant(slip)
        assert probes.tokenize(student, texts) != probes.tokenize(reference, texts)
        assert probes.build_vocab(student, texts, 1) != probes.build_vocab(reference, texts, 1)
        plain = dict(texts=shared.plain(texts), plain=True)
        assert probes.build_vocab(student, **plain, min_freq=2) == probes.build_vocab(reference, **plain, min_freq=2)
        got, want = (
            probes.dataset(module, **plain, labels=[1, 0, 1], vocab_words=vocab_words, max_len=100)
            for module in (student, reference)
        )
        assert got == want, slip


def test_a_float_label_is_named_where_the_label_is_made(reference, probes):
    """`torch.tensor(float(label))` passed the dataset check; every training check then failed on torch's
    "expected target dtype to be Long", raised in a correct train_epoch."""
    import torch

    class FloatLabels(reference.SentimentDataset):
        def __getitem__(self, index):
            ids, label = super().__getitem__(index)
            return ids, label.float()

    def collate_float(batch):
        padded, lengths, labels = reference.collate_fn(batch)
        return padded, lengths, labels.to(torch.float32)

    texts, words = ["good movie", "bad plot"], ["<pad>", "<unk>", "good", "movie", "bad", "plot"]
    case = dict(texts=texts, labels=[1, 0], vocab_words=words, max_len=10)
    assert probes.dataset(reference, **case)["items"][0]["label"] == 1
    with pytest.raises(
        probes.ProbeFailure, match=r"SentimentDataset\[0\] has dtype torch.float32; labels are class indices"
    ):
        probes.dataset(types.SimpleNamespace(**{**vars(reference), "SentimentDataset": FloatLabels}), **case)
    with pytest.raises(probes.ProbeFailure, match=r"labels has dtype torch.float32; labels are class indices"):
        probes.collate(types.SimpleNamespace(**{**vars(reference), "collate_fn": collate_float}), [[2, 3], [4]], [1, 0])


def test_dropout_left_on_in_eval_mode_is_named_not_blamed_on_packing(reference, probes):
    """F.dropout(x, p) defaults to training=True: the logits change from call to call in eval mode, and
    the invariance checks' hints blamed packing, which was correct."""
    import torch

    class DropoutAlwaysOn(reference.SentimentLSTM):
        def forward(self, padded, lengths):
            return torch.nn.functional.dropout(super().forward(padded, lengths), 0.3)

    student = types.SimpleNamespace(**{**vars(reference), "SentimentLSTM": DropoutAlwaysOn})
    for probe, extra in ((probes.forward, {}), (probes.padding_invariance, {"extra": 6}), (probes.batch_order, {})):
        with pytest.raises(probes.ProbeFailure, match=r"change from one call to the next .* F.dropout\(x, p\)"):
            probe(student, **CONFIGS[0], **extra, seed=1)
    assert probes.forward(reference, **CONFIGS[0], seed=1)["logits"].shape == (6, 2)


def test_a_layer_listed_again_under_another_name_is_the_same_parameter(reference, probes):
    """``self.head = torch.nn.Sequential(self.dropout, self.fc)`` lists fc's parameters again, as head.1.*: the
    same tensors. Loading the probe's weights refused the model ("unexpected head.1.weight"), so a model
    computing exactly the specified function lost every forward, padding and batch-order check (63.8)."""
    import numpy as np
    import torch

    class Aliased(reference.SentimentLSTM):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.head = torch.nn.Sequential(self.dropout, self.fc)

    student = types.SimpleNamespace(**{**vars(reference), "SentimentLSTM": Aliased})
    for probe, extra in ((probes.forward, {}), (probes.padding_invariance, {"extra": 6}), (probes.batch_order, {})):
        got, want = probe(student, **CONFIGS[0], **extra, seed=1), probe(reference, **CONFIGS[0], **extra, seed=1)
        assert got.keys() == want.keys() and all(np.array_equal(got[key], want[key]) for key in got), probe

    class Extra(reference.SentimentLSTM):  # a layer of its own, unused: the specified outputs (a regression
        def __init__(self, *args, **kwargs):  # round's unused nn.Linear once cost every forward check)
            super().__init__(*args, **kwargs)
            self.scale = torch.nn.Linear(2, 2)

    class Used(Extra):  # ...and used: other outputs, which the checks judge
        def forward(self, *args, **kwargs):
            return self.scale(super().forward(*args, **kwargs))

    want = probes.forward(reference, **CONFIGS[0], seed=1)
    for model, same in ((Extra, True), (Used, False)):
        got = probes.forward(types.SimpleNamespace(**{**vars(reference), "SentimentLSTM": model}), **CONFIGS[0], seed=1)
        assert all(np.array_equal(got[key], want[key]) for key in want) is same, model.__name__
