"""Hidden checks of a5_sentiment_lstm (55 points): other texts and min_freq values, two-layer and
unidirectional models, lengths on the model's device, the accuracy on the hidden test split, and
training on a task the student has never seen (a made-up language)."""

import random

import pytest

from grader.checks import gated_by, hidden, points, timeout

from .shared import TRAINING, judge_accuracy, judge_held_out_accuracy, judge_invariance, plain

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
    """tokenize: tabs, newlines, repeated spaces, upper case, punctuation kept (split on whitespace only)"""
    judge.compare("tokenize", texts=TEXTS + ["", "   ", "Great!  don't,\tstop. (really)"])


@points(5)
@pytest.mark.parametrize("min_freq", [2, 3])
def test_build_vocab_min_freq(judge, min_freq):
    """build_vocab keeps the words seen at least min_freq times"""
    judge.compare("build_vocab", texts=plain(TEXTS), min_freq=min_freq, plain=True)


@points(2)
def test_encode_max_len(judge):
    """encode cuts at max_len"""
    judge.compare(
        "encode", texts=["the movie was not good at all", "bad bad bad"], vocab_words=VOCAB_WORDS, max_len=4, plain=True
    )


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


@points(8)
@timeout(120)
@gated_by("test_training_made_up_language")  # weights for train.tsv can be prepared in advance
def test_training_test_accuracy(judge, reference, assignment, verifier, details):
    """Trained on train.tsv, reaches the reference's accuracy on the hidden test split"""
    judge_held_out_accuracy(judge, reference, assignment, verifier, details, split="test")


def made_up_language(train_size=2000, test_size=400, seed=7):
    """Sentiment in words no student has seen, with the course data's rules of word order: a negator
    flips the polar word after it; in "A <but> B" the part B decides and in "B <even-though> A" the
    first part does (A has the other polarity; about half of these come with their swapped twin, the
    same bag of words with the other label). Weights trained on the course's data set cannot be carried
    here: only training works. Official grading draws the language from the course secret
    (judge.drawn). In 3 epochs the reference reaches 0.99-1.0 on languages drawn from several seeds;
    training that never zeroes its gradients stays near 0.75."""
    rng = random.Random(seed)
    syllables = "ka lo mi ru te sa vo ni pe zu ba do fi gu ha je ko li mo nu po qi ra si tu vi wo xa yu ze".split()
    words = set()
    while len(words) < 50:
        words.add("".join(rng.choice(syllables) for _ in range(rng.randint(2, 3))))
    words = sorted(words)
    rng.shuffle(words)
    positive, negative, negators, (but, even_though) = words[:12], words[12:24], words[24:26], words[26:28]
    nouns, fillers = words[28:38], words[38:50]

    def clause(polarity):
        parts = [rng.choice(nouns)] + ([rng.choice(fillers)] if rng.random() < 0.5 else [])
        if rng.random() < 0.4:
            parts += [rng.choice(negators), rng.choice(negative if polarity else positive)]
        else:
            parts.append(rng.choice(positive if polarity else negative))
        return parts + ([rng.choice(fillers)] if rng.random() < 0.3 else [])

    seen, examples = set(), []
    while len(examples) < train_size + test_size:
        label = rng.randint(0, 1)
        if rng.random() < 0.4:
            drawn = [(clause(label), label)]
        else:
            losing, deciding = clause(1 - label), clause(label)
            first, joint, second = (deciding, even_though, losing) if rng.random() < 0.25 else (losing, but, deciding)
            drawn = [(first + [joint] + second, label)]
            if rng.random() < 0.5:
                drawn.append((second + [joint] + first, 1 - label))
        for parts, polarity in drawn:
            text = " ".join(parts)
            if text not in seen:
                seen.add(text)
                examples.append((text, polarity))
    rng.shuffle(examples)
    train, test = examples[:train_size], examples[train_size : train_size + test_size]
    return tuple(zip(*train)), tuple(zip(*test))


@points(8)
@timeout(120)
def test_training_made_up_language(judge, reference, verifier, details):
    """Trained on a task you have never seen (sentiment in a made-up language), reaches the reference's accuracy"""
    train, held_out = made_up_language(seed=judge.drawn(7))
    judge_accuracy(
        judge,
        reference,
        verifier,
        details,
        train=train,
        held_out=held_out,
        training=dict(TRAINING, epochs=3),
        what="training on a hidden task (sentiment in a made-up language; held-out accuracy {threshold:.3f} needed)",
    )
