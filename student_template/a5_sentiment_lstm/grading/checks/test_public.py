"""Public checks of a5_sentiment_lstm (shipped to students, 45 points). The hidden checks add other
texts and min_freq values, two-layer and unidirectional models, lengths on the model's device, and the
accuracy on a test split that students never see."""

import statistics

import numpy as np

from grader.checks import CheckFailure, is_close, points, timeout
from grader.judging.convergence import judge_training, measured_runs

TEXTS = ["The movie was GOOD", "a good  good plot", "not good at all\tat all", "Bad acting but a good story", "the end"]
VOCAB_WORDS = ["<pad>", "<unk>", "good", "at", "all", "a", "not", "the", "movie", "was", "plot", "story"]
BIDIRECTIONAL = dict(vocab=30, emb=6, hidden=5, layers=1, classes=2, bidirectional=True, batch=5, max_len=7)
# A student's model must reach this fraction of the reference's median held-out accuracy.
ACCURACY_SHARE = 0.9
TRAINING = dict(epochs=2, batch_size=128, lr=3e-2, emb=32, hidden=32, seeds=[0, 1, 2])


def read_split(assignment, name):
    """(texts, labels) of data/<name>.tsv: one `label<TAB>text` per line."""
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


@points(3)
def test_tokenize(judge):
    """tokenize: lower-case, split on any whitespace"""
    judge.compare("tokenize", texts=TEXTS)


@points(5)
def test_build_vocab(judge):
    """build_vocab: <pad> 0, <unk> 1, then by descending count, ties alphabetical"""
    judge.compare("build_vocab", texts=TEXTS, min_freq=1)


@points(3)
def test_encode(judge):
    """encode: ids of the words, unknown words -> 1, a 1-D long tensor"""
    judge.compare("encode", texts=["the movie was good", "a GREAT movie", "zzz"], vocab_words=VOCAB_WORDS, max_len=100)


@points(5)
def test_dataset_and_collate(judge):
    """SentimentDataset items, and collate_fn: padded with 0, lengths, labels"""
    judge.compare("dataset", texts=TEXTS[:3], labels=[1, 1, 0], vocab_words=VOCAB_WORDS, max_len=100)
    judge.compare("collate", sequences=[[5, 6], [7, 8, 9, 10], [11]], labels=[1, 0, 1])


@points(6)
def test_forward_bidirectional(judge):
    """SentimentLSTM (1 layer, bidirectional) equals the reference with the same weights, eval mode"""
    judge.compare("forward", **BIDIRECTIONAL, seed=1)


@points(4)
def test_padding_invariance(judge, reference):
    """Extra padding leaves the logits unchanged"""
    judge_invariance(
        judge,
        reference,
        "padding_invariance",
        dict(BIDIRECTIONAL, extra=4),
        "logits",
        "logits_extra_padding",
        "adding 4 padding columns",
        seed=2,
    )


@points(4)
def test_batch_order_invariance(judge, reference):
    """An unsorted batch works, and reordering the batch reorders the logits only"""
    judge_invariance(
        judge,
        reference,
        "batch_order",
        BIDIRECTIONAL,
        "logits",
        "logits_reordered",
        "reordering the sentences of the batch",
        seed=3,
    )


@points(3)
def test_train_epoch(judge):
    """train_epoch: one step per batch, returns the mean batch loss (on a small model of the grader's)"""
    judge.compare("train_epoch", sizes=[4, 4, 2], vocab=20, emb=4, classes=2, max_len=5, lr=0.5, seed=4)


@points(3)
def test_evaluate(judge):
    """evaluate: eval mode, accuracy over all sentences (on a small model of the grader's)"""
    judge.compare("evaluate", sizes=[16, 16, 5], vocab=20, emb=4, classes=2, max_len=5, dropout=0.5, seed=5)


@points(9)
@timeout(120)
def test_training_dev_accuracy(judge, reference, assignment, verifier, details):
    """Trained on train.tsv with your whole pipeline, reaches the reference's accuracy on dev.tsv"""
    train_texts, train_labels = read_split(assignment, "train")
    dev_texts, dev_labels = read_split(assignment, "dev")  # the labels never leave this process
    task = dict(TRAINING, train_texts=train_texts, train_labels=train_labels)
    got = judge.run("train_classifier", **task)
    want = reference.expected("train_classifier", **task)
    got, want = (
        measured_runs(
            verifier,
            result["runs"],
            "classify",
            artefacts=("weights", "vocab"),
            texts=dev_texts,
            emb=TRAINING["emb"],
            hidden=TRAINING["hidden"],
        )
        for result in (got, want)
    )
    for run in got + want:
        run["accuracy"] = float(np.mean(np.asarray(run["classes"]) == np.asarray(dev_labels)))
    threshold = ACCURACY_SHARE * statistics.median(run["accuracy"] for run in want)
    details["accuracy"] = {"yours": [run["accuracy"] for run in got], "reference": [run["accuracy"] for run in want]}
    judge_training(
        got,
        want,
        converged=lambda run: run["accuracy"] >= threshold,
        what=f"training (dev accuracy {threshold:.3f} needed)",
    ).enforce(details)
