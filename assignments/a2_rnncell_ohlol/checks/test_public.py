"""Public checks of a2 (shipped to students, 50 points): encode and one_hot, the model's state and
one step, the loss curve of the course's set-up, convergence to "ohlol", and predict. The hidden
checks repeat them on other sizes and settings and train the same code on a mapping you have not seen.
"""

import pytest

from grader.checks import gated_by, points, timeout

from .shared import CURVE_TOLERANCE, curve_on_its_own, judge_learning, predict_on_its_own

HELLO, OHLOL = "hello", "ohlol"
CONVERGENCE_SEEDS = list(range(20))  # the reference reaches "ohlol" within 15 epochs on 14 of them


@points(5)
def test_encode(judge):
    """encode turns letters into their indices in IDX2CHAR ("hello" -> [1, 0, 2, 2, 3])"""
    judge.compare("encode_words", words=[HELLO, OHLOL, "leo", "h"])


@points(5)
@pytest.mark.parametrize("num_classes", [4, 6])
def test_one_hot(judge, num_classes):
    """one_hot gives float32 rows of shape (T, 1, num_classes)"""
    judge.compare("one_hot_of", indices=[1, 0, 2, 2, 3], num_classes=num_classes, check_dtype=True)


@points(5)
def test_init_hidden(judge):
    """init_hidden is zeros of shape (batch_size, hidden_size)"""
    judge.compare("init_hidden", input_size=4, hidden_size=4, batch_size=1)


@points(10)
def test_forward_step(judge):
    """One forward step equals the reference's with the same weights"""
    judge.compare("step", input_size=4, hidden_size=4, batch_size=1, steps=1, seed=21)


@points(10)
@timeout(30)
def test_loss_curve(judge, reference, details):
    """The loss curve of the course's set-up (seed 0, 15 epochs, lr 0.1) equals the reference's"""
    curve_on_its_own(
        judge, reference, details, source=HELLO, target=OHLOL, epochs=15, lr=0.1, seed=0, explain=other_initial_weights
    )


def other_initial_weights(got, want):
    """Why the curve differs where no catalogued mistake says, from epoch 1's loss (computed before the
    first update, from the initial weights): the student's equals the reference's, so the weights start
    alike and the loss is computed right, and what differs later is the gradient or the update; or it
    equals the student's own untrained loss but not the reference's, so the loss is computed right from
    other initial weights. Anything else: None (the judge's own diagnosis stands)."""
    try:
        mine, theirs = [float(v) for v in got["losses"]], [float(v) for v in want["losses"]]
        first, untrained = mine[0], float(got["initial_loss"])
    except (KeyError, IndexError, TypeError, ValueError):
        return None

    def close(a, b):
        return abs(a - b) <= CURVE_TOLERANCE["atol"] + CURVE_TOLERANCE["rtol"] * abs(b)

    if len(mine) != len(theirs):
        fewer = len(theirs) - len(mine)
        head = f"train(..., epochs={len(theirs)}) returned {len(mine)} losses, one per epoch it ran: "
        if fewer > 0 and all(close(a, b) for a, b in zip(mine, theirs)):
            return (
                head
                + f"the first {len(mine)} equal the reference's, so {fewer} epoch(s) are missing (range(1, epochs)?)"
            )
        return head + "it must run exactly `epochs` epochs and return the summed loss of each"

    if close(first, theirs[0]):
        later = [epoch for epoch, (a, b) in enumerate(zip(mine, theirs), start=1) if not close(a, b)]
        if len(mine) != len(theirs) or not later:
            return None
        return (
            f"your first loss equals the reference's, so your model starts from the same weights and computes "
            f"the loss right; from epoch {later[0]} on the losses differ: either the weights are updated "
            "differently (the gradient that loss.backward() reaches through the steps, or the update: zero_grad, "
            "the optimizer's step and learning rate), or a later epoch starts from another hidden state (each "
            "epoch starts from model.init_hidden(), not from the last epoch's state)"
        )
    if not close(first, untrained):
        return None
    return (
        "your first loss is the summed cross-entropy of your own untrained model, so the loss is computed "
        "right; but your model starts from other weights than the reference's under the same seed. Build "
        "nothing random before self.rnncell = nn.RNNCell(...) and do not call torch.manual_seed in your module"
    )


@points(10)
@timeout(60)
@gated_by("test_hidden_mapping")  # weights for "ohlol" can be prepared in advance: see grader/judging/gates.py
def test_converges_to_ohlol(judge, student, reference, verifier, details):
    """Training turns "hello" into "ohlol" within 15 epochs (20 seeds)"""
    judge_learning(
        judge,
        student,
        reference,
        verifier,
        details,
        source=HELLO,
        target=OHLOL,
        what='training on "hello" -> "ohlol"',
        seeds=CONVERGENCE_SEEDS,
        epochs=15,
        lr=0.1,
    )


@points(5)
def test_predict(judge, reference, details):
    """predict decodes greedily, starting afresh at every call"""
    predict_on_its_own(judge, reference, details, words=[HELLO, OHLOL, "leo"], seed=31)
