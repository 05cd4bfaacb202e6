"""Hidden checks of a2 (50 points): other sizes and batch sizes, the loss curve under other seeds,
epochs and learning rates, a mapping over the same four letters that students have not seen (so
"ohlol" cannot be hard-coded anywhere), and predict over several calls with other weights."""

import pytest

from grader.checks import hidden, points, timeout

from .shared import curve_on_its_own, judge_learning, predict_on_its_own

pytestmark = hidden

# Unseen tasks: in each, a letter maps to different letters depending on what came before ("l" -> "e"
# first, "l" -> "o" later), so the hidden state has to carry context. Official grading takes one drawn
# from the course secret (judge.drawn): a copy of this file does not say which. The reference learns
# each within 20 epochs on 16 to 19 of HIDDEN_SEEDS.
HIDDEN_MAPPINGS = [
    ("lolhe", "eholl"),
    ("leohh", "oeolh"),
    ("oolol", "eloeh"),
    ("eeeeo", "hoeho"),
    ("hlelo", "hlloo"),
    ("eholo", "eoelo"),
]
HIDDEN_SOURCE, HIDDEN_TARGET = HIDDEN_MAPPINGS[0]  # where there is no course secret
HIDDEN_SEEDS = list(range(100, 120))
CURVE_CASES = [
    dict(source="hello", target="ohlol", epochs=10, lr=0.05, seed=3),
    dict(source="holle", target="lehoh", epochs=12, lr=0.2, seed=7),
]


@points(5)
def test_init_hidden_batch(judge):
    """init_hidden has one row per sequence of the batch"""
    judge.compare("init_hidden", input_size=5, hidden_size=3, batch_size=3)


@points(5)
def test_forward_other_sizes(judge):
    """Several steps with input_size 5, hidden_size 3 and a batch of 2"""
    judge.compare("step", input_size=5, hidden_size=3, batch_size=2, steps=4, seed=22)


@points(10)
@timeout(30)
@pytest.mark.parametrize("case", CURVE_CASES, ids=lambda case: f"{case['source']}-lr{case['lr']}")
def test_loss_curve_other_settings(judge, reference, details, case):
    """The loss curve under other seeds, epochs and learning rates equals the reference's"""
    curve_on_its_own(judge, reference, details, **case)


@points(20)
@timeout(60)
def test_hidden_mapping(judge, student, reference, verifier, details):
    """The same code learns a mapping you have not seen (20 epochs, 20 seeds)"""
    source, target = HIDDEN_MAPPINGS[judge.drawn(0) % len(HIDDEN_MAPPINGS)]
    judge_learning(
        judge,
        student,
        reference,
        verifier,
        details,
        source=source,
        target=target,
        what="training on the hidden mapping",
        seeds=HIDDEN_SEEDS,
        epochs=20,
        lr=0.1,
    )


@points(10)
@pytest.mark.parametrize("seed", [41, 42])
def test_predict_calls_in_a_row(judge, reference, details, seed):
    """predict on five words in a row, each from a fresh state"""
    predict_on_its_own(judge, reference, details, words=["ohlol", "hello", "lolhe", "eh", "oleh"], seed=seed)
