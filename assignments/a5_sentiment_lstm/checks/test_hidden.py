"""Hidden checks of a5_sentiment_lstm (55 points): other texts and min_freq values, two-layer and
unidirectional models, lengths on the model's device, and the accuracy on the hidden test split."""

import pytest

from grader.checks import hidden, points, timeout

from .shared import judge_held_out_accuracy, judge_invariance

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
    """Padding leaves the logits unchanged: each sentence alone, with extra padding (unidirectional; two layers)"""
    judge_invariance(
        judge,
        reference,
        "padding_invariance",
        dict(CONFIGURATIONS[name], batch=6, max_len=8, extra=6),
        first="logits",
        second="logits_extra_padding",
        change="giving each sentence alone, with 6 padding columns after it,",
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
        first="logits",
        second="logits_reordered",
        change="reordering the sentences of the batch",
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
    judge_held_out_accuracy(judge, reference, assignment, verifier, details, split="test")
