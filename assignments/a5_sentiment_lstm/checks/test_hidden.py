"""Hidden checks of a5_sentiment_lstm (55 points): other texts and min_freq values, two-layer and
unidirectional models, lengths on the model's device, and the accuracy on the hidden test split."""

import statistics

import numpy as np
import pytest

from grader.checks import CheckFailure, hidden, is_close, points, timeout
from grader.judging.convergence import judge_training, measured_runs

pytestmark = hidden

TEXTS = [
    "Zebra apple zebra",
    "apple  Apple mango\n",
    "\tmango kiwi zebra ",
    "kiwi banana",
    "BANANA cherry",
    "cherry date mango",
]
VOCAB_WORDS = ["<pad>", "<unk>", "the", "movie", "was", "not", "good", "bad", "at", "all"]
CONFIGURATIONS = {
    "1-layer-unidirectional": dict(vocab=25, emb=5, hidden=6, layers=1, classes=3, bidirectional=False),
    "2-layers-bidirectional": dict(vocab=25, emb=5, hidden=6, layers=2, classes=2, bidirectional=True),
    "2-layers-unidirectional": dict(vocab=25, emb=4, hidden=7, layers=2, classes=2, bidirectional=False),
}
TWO_LAYERS = dict(CONFIGURATIONS["2-layers-bidirectional"], batch=6, max_len=8)
ONE_LAYER = dict(vocab=25, emb=5, hidden=6, layers=1, classes=2, bidirectional=True, batch=6, max_len=8)
ACCURACY_SHARE = 0.9
TRAINING = dict(epochs=2, batch_size=128, lr=3e-2, emb=32, hidden=32, seeds=[0, 1, 2])  # as in test_public.py


def read_split(assignment, name):
    lines = (assignment.data_dir / f"{name}.tsv").read_text(encoding="utf-8").splitlines()
    labels, texts = zip(*(line.split("\t", 1) for line in lines if line))
    return list(texts), [int(label) for label in labels]


def judge_invariance(judge, reference, probe, case, first, second, change, seed):
    """The student's own logits must not change between two presentations of the same batch.

    Two equal arrays are easy to claim, so the first presentation must also be an answer that takes
    the work: the reference's logits with the same weights, or those of a catalogued mistake."""
    got = judge.run(probe, **case, seed=seed)
    want = reference.expected(probe, **case, seed=seed)
    mine, again = np.asarray(got[first], dtype=np.float64), np.asarray(got[second], dtype=np.float64)
    if mine.shape != again.shape:
        raise CheckFailure(f"the logits have shape {again.shape} after the change, {mine.shape} before")
    if not (np.isfinite(mine).all() and np.isfinite(again).all()):
        raise CheckFailure("your logits contain NaN or infinite values")
    tolerance = judge.tolerance
    difference = float(np.max(np.abs(mine - again))) if mine.size else 0.0
    if difference > 1e-5:
        mistake = judge.identify(probe, got, want, case, seed, tolerance["rtol"], tolerance["atol"])
        raise CheckFailure(
            f"{change} changed your logits by up to {difference:.3g}; they should not change",
            diagnosis="only packing (pack_padded_sequence with the true lengths, "
            "enforce_sorted=False) makes the LSTM ignore the padding",
            mistake=mistake,
        )
    if mine.size and np.allclose(mine, mine[:1]):
        raise CheckFailure("every sentence gets the same logits: the model does not read its input")
    if not is_close(mine, np.asarray(want[first]), rtol=tolerance["rtol"], atol=tolerance["atol"]):
        known = judge.identify(probe, got, want, case, seed, tolerance["rtol"], tolerance["atol"], keys=[first])
        if known is None:
            raise CheckFailure(
                "your logits differ from the reference's with the same weights (see the forward "
                f"check), so whether {change} leaves them unchanged cannot be judged"
            )


@points(2)
def test_tokenize_whitespace(judge):
    """tokenize: tabs, newlines, repeated spaces, upper case"""
    judge.compare("tokenize", texts=TEXTS + ["", "   "])


@points(5)
@pytest.mark.parametrize("min_freq", [2, 3])
def test_build_vocab_min_freq(judge, min_freq):
    """build_vocab keeps the words seen at least min_freq times"""
    judge.compare("build_vocab", texts=TEXTS, min_freq=min_freq)


@points(2)
def test_encode_max_len(judge):
    """encode cuts at max_len"""
    judge.compare("encode", texts=["the movie was not good at all", "bad bad bad"], vocab_words=VOCAB_WORDS, max_len=4)


@points(12)
@pytest.mark.parametrize("name", sorted(CONFIGURATIONS))
def test_forward_configurations(judge, name):
    """SentimentLSTM equals the reference with the same weights (eval mode)"""
    judge.compare("forward", **CONFIGURATIONS[name], batch=6, max_len=8, seed=21)


@points(4)
@pytest.mark.parametrize("name", ["1-layer-unidirectional", "2-layers-bidirectional"])
def test_padding_invariance_configurations(judge, reference, name):
    """Extra padding leaves the logits unchanged (unidirectional; two layers)"""
    judge_invariance(
        judge,
        reference,
        "padding_invariance",
        dict(CONFIGURATIONS[name], batch=6, max_len=8, extra=6),
        "logits",
        "logits_extra_padding",
        "adding 6 padding columns",
        seed=22,
    )


@points(4)
def test_batch_order_two_layers(judge, reference):
    """Two layers: an unsorted batch works, and reordering it reorders the logits only"""
    judge_invariance(
        judge,
        reference,
        "batch_order",
        TWO_LAYERS,
        "logits",
        "logits_reordered",
        "reordering the sentences of the batch",
        seed=23,
    )


@points(6)
def test_lengths_on_the_model_device(judge, device):
    """The model on the grading device accepts lengths there or on the CPU; collate_fn keeps them on the CPU"""
    if device == "cpu":
        pytest.skip("checked on GPU only: on a CPU the model's device is the CPU, so this rule cannot be seen")
    judge.compare("lengths_on_device", **ONE_LAYER, seed=24)
    got, _ = judge.compare("collate", sequences=[[3], [4, 5, 6]], labels=[0, 1])
    assert got["lengths_device"] == "cpu", (
        f"collate_fn returned lengths on {got['lengths_device']}; keep them on the CPU"
    )


@points(4)
@pytest.mark.parametrize("probe", ["train_epoch", "evaluate"])
def test_train_epoch_and_evaluate_more(judge, probe):
    """train_epoch and evaluate on other batch sizes"""
    if probe == "train_epoch":
        judge.compare("train_epoch", sizes=[7, 1, 3, 5], vocab=15, emb=3, classes=3, max_len=6, lr=0.3, seed=25)
    else:
        judge.compare("evaluate", sizes=[9, 2, 20], vocab=15, emb=3, classes=3, max_len=6, dropout=0.6, seed=26)


@points(16)
@timeout(120)
def test_training_test_accuracy(judge, reference, assignment, verifier, details):
    """Trained on train.tsv, reaches the reference's accuracy on the hidden test split"""
    train_texts, train_labels = read_split(assignment, "train")
    test_texts, test_labels = read_split(assignment, "test")  # the labels never leave this process
    task = dict(TRAINING, train_texts=train_texts, train_labels=train_labels)
    got = judge.run("train_classifier", **task)
    want = reference.expected("train_classifier", **task)
    got, want = (
        measured_runs(
            verifier,
            result["runs"],
            "classify",
            artefacts=("weights", "vocab"),
            texts=test_texts,
            emb=TRAINING["emb"],
            hidden=TRAINING["hidden"],
        )
        for result in (got, want)
    )
    for run in got + want:
        run["accuracy"] = float(np.mean(np.asarray(run["classes"]) == np.asarray(test_labels)))
    threshold = ACCURACY_SHARE * statistics.median(run["accuracy"] for run in want)
    details["accuracy"] = {"yours": [run["accuracy"] for run in got], "reference": [run["accuracy"] for run in want]}
    judge_training(
        got,
        want,
        converged=lambda run: run["accuracy"] >= threshold,
        what=f"training (test accuracy {threshold:.3f} needed)",
    ).enforce(details)
