"""Public checks of a5_sentiment_lstm (shipped to students, 45 points). The hidden checks add other
texts and min_freq values, two-layer and unidirectional models, lengths on the model's device, and the
accuracy on a test split that students never see."""

from grader.checks import (
    CheckFailure,
    FailureKind,
    PartialCredit,
    RunFailed,
    gated_by,
    judged_on_its_own,
    points,
    timeout,
)

from .shared import (
    BIDIRECTIONAL,
    COLLATE_QUESTION,
    DATASET_QUESTION,
    ENCODE_QUESTION,
    TEXTS,
    TRAIN_EPOCH_QUESTION,
    judge_held_out_accuracy,
    judge_invariance,
    plain,
)


@points(3)
def test_tokenize(judge):
    """tokenize: lower-case, split on any whitespace"""
    judge.compare("tokenize", texts=TEXTS)


@points(5)
def test_build_vocab(judge, details):
    """build_vocab: <pad> 0, <unk> 1, then by descending count, ties alphabetical"""
    judged_on_its_own(
        lambda: judge.compare("build_vocab", texts=TEXTS, min_freq=1),
        lambda: judge.compare("build_vocab", texts=plain(TEXTS), min_freq=1, plain=True),
        details=details,
        yours="tokenize",
        instead="on texts already lower-cased with single spaces, build_vocab",
        parts_differ=lambda: _tokenize_wrong(judge),
    )


@points(3)
def test_encode(judge, details):
    """encode: ids of the words, unknown words -> 1, a 1-D long tensor"""
    judged_on_its_own(
        lambda: judge.compare("encode", **ENCODE_QUESTION),
        lambda: judge.compare("encode", **{**ENCODE_QUESTION, "texts": plain(ENCODE_QUESTION["texts"])}, plain=True),
        details=details,
        yours="tokenize",
        instead="on texts already lower-cased with single spaces, encode",
        parts_differ=lambda: _tokenize_wrong(judge),
    )


def _tokenize_wrong(judge):
    """The student's tokenize gets its own check's question wrong: a slip there (split(" "), no .lower())
    is charged by its checks, not again by build_vocab's and encode's (a fairness round: 0/5 and 0/3)."""
    try:
        judge.compare("tokenize", texts=TEXTS)
    except (CheckFailure, PartialCredit, RunFailed):
        return True
    return False


@points(5)
def test_dataset_and_collate(judge):
    """SentimentDataset items, and collate_fn: padded with 0, lengths, labels (each half of the points)"""
    wrong = []
    for probe, args in (
        ("dataset", DATASET_QUESTION),
        ("collate", COLLATE_QUESTION),
    ):
        try:  # each on its own: a SentimentDataset built on a wrong encode no longer costs collate_fn too
            judge.compare(probe, **args)
        except RunFailed as failure:
            if failure.failure.kind not in (FailureKind.EXCEPTION, FailureKind.PROBE_FAILURE, FailureKind.PROBE_ERROR):
                raise  # a limit, a stub, an import that failed: the same for both halves
            wrong.append((probe, failure))
        except CheckFailure as failure:
            wrong.append((probe, failure))
    if len(wrong) == 1:
        probe, failure = wrong[0]
        message = failure.message if isinstance(failure, CheckFailure) else failure.failure.student_message()
        said = {"dataset": "SentimentDataset's items", "collate": "collate_fn"}[probe]
        raise PartialCredit(
            0.5,
            f"{said} (half of the points): {message}",
            diagnosis=getattr(failure, "diagnosis", None),
            table=getattr(failure, "table", None),
            mistake=getattr(failure, "mistake", None) or getattr(getattr(failure, "failure", None), "mistake", None),
            compared=getattr(failure, "compared", False),
        )
    if wrong:
        raise wrong[0][1]


@points(6)
def test_forward_bidirectional(judge):
    """SentimentLSTM (1 layer, bidirectional) equals the reference with the same weights, eval mode"""
    judge.compare("forward", **BIDIRECTIONAL, seed=1)


@points(4)
def test_padding_invariance(judge, reference):
    """Padding leaves the logits unchanged: each sentence alone, with extra padding, as in the batch"""
    judge_invariance(
        judge,
        reference,
        "padding_invariance",
        dict(BIDIRECTIONAL, extra=4),
        first="logits",
        second="logits_extra_padding",
        change="giving each sentence alone, with 4 padding columns after it,",
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
        first="logits",
        second="logits_reordered",
        change="reordering the sentences of the batch",
        seed=3,
    )


@points(3)
def test_train_epoch(judge):
    """train_epoch: one step per batch, returns the mean batch loss (on a small model of the grader's)"""
    judge.compare("train_epoch", **TRAIN_EPOCH_QUESTION)


@points(3)
def test_evaluate(judge):
    """evaluate: eval mode, accuracy over all sentences (on a small model of the grader's)"""
    judge.compare("evaluate", sizes=[16, 16, 5], vocab=20, emb=4, classes=2, max_len=5, dropout=0.5, seed=5)


@points(9)
@timeout(120)
@gated_by(
    "test_training_made_up_language"
)  # weights for train.tsv can be prepared in advance: see grader/judging/gates.py
def test_training_dev_accuracy(judge, reference, assignment, verifier, details):
    """Trained on train.tsv with your whole pipeline, reaches the reference's accuracy on dev.tsv"""
    judge_held_out_accuracy(judge, reference, assignment, verifier, details, split="dev")
