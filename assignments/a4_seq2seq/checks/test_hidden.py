"""Hidden checks of a4_seq2seq (55 points): two-layer LSTMs, other shapes and clipping thresholds, and
a task the student has not seen: word pairs drawn at grading time."""

import random
import statistics

import pytest

from grader.checks import hidden, judge_training, measured_runs, points, timeout

from .shared import compare_on_its_own, train_on_the_references_batches, train_step_on_its_own, translate_on_its_own

pytestmark = hidden

TWO_LAYERS = dict(emb=6, hidden=12, layers=2)
PAIRS_LETTERS = "abcdefgh"
# A student's model must reach this fraction of the reference's median exact-match accuracy.
PAIRS_SHARE = 0.8


def drawn_pairs(size=60, seed=2024):
    """Words of 3-4 letters, each paired with a target drawn at random: 3-4 letters of an alphabet of 8
    drawn with them. A target follows from nothing but the draw, so no weights can be prepared for the
    task, and none prepared for another task can be relabelled into it (reversing words into a cipher
    alphabet could: the cipher only renames the rows of the embeddings and the output layer, which a
    student's code can read off the training pairs and move). Only training on the pairs learns them;
    the check asks for the pairs themselves (official grading draws the seed from the course secret).
    In 120 steps the reference learns all of them on every seed tried."""
    rng = random.Random(seed)
    words = set()
    while len(words) < size:
        words.add("".join(rng.choice(PAIRS_LETTERS) for _ in range(rng.randint(3, 4))))
    words = sorted(words)
    rng.shuffle(words)
    alphabet = rng.sample("abcdefghijklmnopqrstuvwxyz", len(PAIRS_LETTERS))
    return [[word, "".join(rng.choice(alphabet) for _ in range(rng.randint(3, 4)))] for word in words]


@points(5)
@pytest.mark.parametrize(
    "case",
    [
        dict(pairs=[["a", "b"]], n_step=3),
        dict(pairs=[["moon", "luna"], ["sun", "sol"], ["water", "agua"], ["i", "yo"]], n_step=7),
    ],
    ids=["one-letter", "n_step-7"],
)
def test_make_batch_shapes(judge, case):
    """make_batch with other batch sizes and n_step"""
    judge.compare("make_batch", **case)


@points(5)
@pytest.mark.parametrize("part", ["encoder", "decoder"])
def test_two_layer_parts(judge, part):
    """Encoder and Decoder with num_layers=2"""
    if part == "encoder":
        judge.compare("encoder", **TWO_LAYERS, batch=2, length=5, seed=11)
    else:
        judge.compare("decoder", **TWO_LAYERS, batch=2, seed=12)


@points(10)
@pytest.mark.parametrize(
    "case",
    [
        dict(TWO_LAYERS, batch=2, src_len=5, trg_len=8, ratio=1.0),
        dict(TWO_LAYERS, batch=2, src_len=5, trg_len=8, ratio=0.0),
        dict(emb=10, hidden=20, layers=1, batch=5, src_len=4, trg_len=3, ratio=0.0),
        dict(emb=10, hidden=20, layers=1, batch=1, src_len=9, trg_len=6, ratio=1.0),
    ],
    ids=["2-layers-forced", "2-layers-free", "short-free", "batch-1-forced"],
)
def test_forward_configurations(judge, reference, details, case):
    """Seq2Seq.forward at ratios 1.0 and 0.0 on other shapes"""
    compare_on_its_own(judge, reference, details, "forward", **case, seed=13)


@points(5)
@pytest.mark.parametrize(
    "case",
    [
        dict(TWO_LAYERS, batch=3, src_len=5, max_len=7),
        dict(emb=8, hidden=16, layers=1, batch=1, src_len=4, max_len=2),
    ],
    ids=["2-layers", "batch-1"],
)
def test_greedy_decode_configurations(judge, reference, details, case):
    """greedy_decode with two layers and other lengths"""
    compare_on_its_own(judge, reference, details, "greedy_decode", **case, seed=14)


@points(3)
def test_translate_padding(judge, reference, details):
    """translate removes the padding "?" (weights that emit it)"""
    translate_on_its_own(
        judge,
        reference,
        details,
        words=["hello", "cat", "good", "abc", "zzz", "q", "moon", "xyzzy"],
        n_step=5,
        emb=8,
        hidden=32,
        seed=0,
        scale=4.0,
        boost=0.5,
    )


@points(9)
@pytest.mark.parametrize(
    "case",
    [
        dict(emb=8, hidden=16, layers=1, batch=4, src_len=6, trg_len=7, ratio=0.0, clip=0.2),
        dict(TWO_LAYERS, batch=3, src_len=5, trg_len=6, ratio=1.0, clip=0.3),
        dict(emb=8, hidden=16, layers=1, batch=4, src_len=6, trg_len=7, ratio=1.0, clip=100.0),
    ],
    ids=["free-running", "2-layers", "no-clipping-needed"],
)
def test_train_step_configurations(judge, reference, details, case):
    """train_step: loss and updated weights on other configurations"""
    train_step_on_its_own(judge, reference, details, **case, lr=0.5, steps=3, seed=15, rtol=1e-4, atol=1e-5)


@points(18)
@timeout(120)
def test_drawn_pairs_learned(judge, reference, verifier, details):
    """Learns word pairs drawn at grading time, whose targets follow from nothing (exact match, threshold from the reference's own accuracy)"""
    pairs = drawn_pairs(seed=judge.drawn(2024))  # official grading: drawn from the course secret
    task = dict(pairs=pairs, n_step=4, emb=16, hidden=64, lr=0.02, epochs=120, batch_size=100, ratio=0.5, seeds=[0, 1])
    got, want = train_on_the_references_batches(judge, reference, task)
    words = [word for word, _ in pairs]
    got, want = (
        measured_runs(verifier, result["runs"], "translations", words=words, n_step=4, emb=16, hidden=64)
        for result in (got, want)
    )
    for run in got + want:
        run["accuracy"] = sum(text == target for text, (_, target) in zip(run["translations"], pairs)) / len(pairs)
    threshold = PAIRS_SHARE * statistics.median(run["accuracy"] for run in want)
    verdict = judge_training(
        got,
        want,
        converged=lambda run: run["accuracy"] >= threshold,
        what=f"training on word pairs drawn at grading time ({threshold:.0%} of them learned exactly needed)",
    )
    details["accuracy"] = {"yours": [run["accuracy"] for run in got], "reference": [run["accuracy"] for run in want]}
    verdict.enforce(details)
