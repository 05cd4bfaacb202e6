"""Helpers of a5's public and hidden checks. Shipped with the public checks: nothing here is hidden
(which held-out split a hidden check reads is said in that check, and its file is never shipped)."""

import statistics

import numpy as np

from grader.checks import (
    CheckFailure,
    PartialCredit,
    first_wrong_part,
    is_close,
    judge_training,
    measured_runs,
    naming_the_wrong_part,
)

# A student's model must reach this fraction of the reference's median held-out accuracy.
ACCURACY_SHARE = 0.9
TRAINING = dict(epochs=2, batch_size=128, lr=3e-2, emb=32, hidden=32, seeds=[0, 1, 2])


def plain(texts):
    """The texts lower-cased with single spaces: what checks of build_vocab, encode and the dataset use
    beyond one case of mixed case, so that a slip in tokenize (which its own checks judge) costs
    those checks once, not every check that tokenizes (a missing .lower() cost 22 points)."""
    return [" ".join(text.lower().split()) for text in texts]


# The questions of test_public.py's checks (the handout's examples).
TEXTS = ["The movie was GOOD", "a good  good plot", "not good at all\tat all", "Bad acting but a good story", "the end"]
VOCAB_WORDS = ["<pad>", "<unk>", "good", "at", "all", "a", "not", "the", "movie", "was", "plot", "story"]
BIDIRECTIONAL = dict(vocab=30, emb=6, hidden=5, layers=1, classes=2, bidirectional=True, batch=5, max_len=7)
ENCODE_QUESTION = dict(texts=["the movie was good", "a GREAT movie", "zzz"], vocab_words=VOCAB_WORDS, max_len=100)
DATASET_QUESTION = dict(texts=plain(TEXTS[:3]), labels=[1, 1, 0], vocab_words=VOCAB_WORDS, max_len=100, plain=True)
COLLATE_QUESTION = dict(sequences=[[5, 6], [7, 8, 9, 10], [11]], labels=[1, 0, 1])
TRAIN_EPOCH_QUESTION = dict(sizes=[4, 4, 2], vocab=20, emb=4, classes=2, max_len=5, lr=0.5, seed=4)

# What the training runs, in the order the data flows, with its check and that check's question: where
# the training raises, the first part that gets its own question wrong is named as the cause (a teacher
# round: SentimentDataset's labels as floats made training fail "in train_epoch", which was right).
PIPELINE = (
    ("encode", "test_encode", "encode", ENCODE_QUESTION),
    ("SentimentDataset", "test_dataset_and_collate", "dataset", DATASET_QUESTION),
    ("collate_fn", "test_dataset_and_collate", "collate", COLLATE_QUESTION),
    ("SentimentLSTM", "test_forward_bidirectional", "forward", dict(BIDIRECTIONAL, seed=1)),
    ("train_epoch", "test_train_epoch", "train_epoch", TRAIN_EPOCH_QUESTION),
)


def read_split(assignment, name):
    """(texts, labels) of data/<name>.tsv: one `label<TAB>text` per line."""
    lines = (assignment.data_dir / f"{name}.tsv").read_text(encoding="utf-8").splitlines()
    labels, texts = zip(*(line.split("\t", 1) for line in lines if line))
    return list(texts), [int(label) for label in labels]


def judge_held_out_accuracy(judge, reference, assignment, verifier, details, *, split):
    """Trained on train.tsv, judged on data/<split>.tsv (see judge_accuracy)."""
    judge_accuracy(
        judge,
        reference,
        verifier,
        details,
        train=read_split(assignment, "train"),
        held_out=read_split(assignment, split),
        what=f"training ({split} accuracy {{threshold:.3f}} needed)",
    )


def judge_accuracy(judge, reference, verifier, details, *, train, held_out, what, training=TRAINING):
    """Train with the student's whole pipeline on ``train`` (texts, labels), once per seed of TRAINING;
    the verifier classifies the ``held_out`` texts with the trained weights and vocabulary, and their
    labels never leave this process. A seed succeeds at ACCURACY_SHARE of the reference's median
    accuracy; ``what`` names the training in messages, with ``{threshold}`` for that accuracy.
    ``training`` may change TRAINING's settings (epochs) for another task."""
    (train_texts, train_labels), (texts, labels) = train, held_out
    task = dict(training, train_texts=list(train_texts), train_labels=list(train_labels))
    want = reference.expected("train_classifier", **task)
    got = naming_the_wrong_part(judge, lambda: judge.run("train_classifier", **task), PIPELINE, what="The training")
    got, want = (
        measured_runs(
            verifier,
            result["runs"],
            "classify",
            artefacts=("weights", "vocab"),
            texts=list(texts),
            emb=training["emb"],
            hidden=training["hidden"],
        )
        for result in (got, want)
    )
    for run in got + want:
        run["accuracy"] = float(np.mean(np.asarray(run["classes"]) == np.asarray(labels)))
    threshold = ACCURACY_SHARE * statistics.median(run["accuracy"] for run in want)
    details["accuracy"] = {"yours": [run["accuracy"] for run in got], "reference": [run["accuracy"] for run in want]}
    try:
        judge_training(
            got,
            want,
            converged=lambda run: run["accuracy"] >= threshold,
            what=what.format(threshold=threshold),
        ).enforce(details)
    except (CheckFailure, PartialCredit) as failure:
        wrong = first_wrong_part(judge, PIPELINE) if failure.diagnosis is None else None
        if wrong is not None:
            failure.diagnosis = (
                f"The training runs your whole pipeline, and your {wrong[0]} gets its own check's question wrong "
                f"({wrong[1]}): fix it first, and the training may pass too"
            )
        raise


MIXED = (
    "a sentence's logits depend on the other sentences of the batch: reshaping or viewing h_n into "
    "(B, 2 * hidden) interleaves sentences, where torch.cat([h_n[-2], h_n[-1]], dim=1) keeps each its own"
)
INVARIANCE_CAUSES = {
    "padding_invariance": "either the LSTM reads the padding (only packing, pack_padded_sequence with the true "
    f"lengths and enforce_sorted=False, makes it ignore the padding), or {MIXED}",
    "batch_order": "either the batch is sorted for packing and the logits are not put back in its order "
    f"(enforce_sorted=False does both for you), or {MIXED}",
}


def judge_invariance(judge, reference, probe, case, *, first, second, change, seed):
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
    difference = float(np.max(np.abs(mine - again))) if mine.size else 0.0
    # The device's absolute tolerance (1e-5 on the CPU): on a GPU, cuDNN computes a batch and a sentence
    # alone by different algorithms, and the reference's own logits moved by up to 2.9e-5 on an H200.
    if difference > judge.tolerance["atol"]:
        raise CheckFailure(
            f"{change} changed your logits by up to {difference:.3g}; they should not change",
            diagnosis=INVARIANCE_CAUSES[probe],
            mistake=judge.known_mistake(probe, got, seed=seed, **case),
        )
    if mine.size and np.allclose(mine, mine[:1]):
        raise CheckFailure("every sentence gets the same logits: the model does not read its input")
    if not is_close(mine, np.asarray(want[first]), rtol=judge.tolerance["rtol"], atol=judge.tolerance["atol"]):
        if judge.known_mistake(probe, got, seed=seed, keys=[first], **case) is None:
            raise CheckFailure(
                "your logits differ from the reference's with the same weights (see the forward "
                f"check), so whether {change} leaves them unchanged cannot be judged"
            )
