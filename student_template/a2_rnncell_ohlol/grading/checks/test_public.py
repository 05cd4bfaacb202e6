"""Public checks of a2 (shipped to students, 50 points): encode and one_hot, the model's state and
one step, the loss curve of the course's set-up, convergence to "ohlol", and predict. The hidden
checks repeat them on other sizes and settings and train the same code on a mapping you have not seen.
"""

import pytest

from grader.checks import points, timeout
from grader.judging.compare import find_mismatch
from grader.judging.convergence import judge_training, measured_runs

HELLO, OHLOL = "hello", "ohlol"
CONVERGENCE_SEEDS = list(range(20))  # the reference reaches "ohlol" within 15 epochs on 14 of them
CURVE_TOLERANCE = {"rtol": 1e-4, "atol": 1e-6}


def curve_tolerance(tolerance):
    """The loss curves' tolerance, widened to the device's (a GPU sums in another order)."""
    return {key: max(value, tolerance[key]) for key, value in CURVE_TOLERANCE.items()}


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
def test_loss_curve(judge, student, reference):
    """The loss curve of the course's set-up (seed 0, 15 epochs, lr 0.1) equals the reference's"""
    args = dict(source=HELLO, target=OHLOL, epochs=15, lr=0.1)
    got = student.run("loss_curve", seed=0, **args)
    want = reference.expected("loss_curve", seed=0, **args)
    tolerance = curve_tolerance(judge.tolerance)
    failure = find_mismatch(got["losses"], want["losses"], name="the loss of each epoch", **tolerance)
    if failure is None:
        return
    failure.mistake = judge.identify("loss_curve", got, want, args, 0, keys=["losses"], **tolerance)
    if failure.mistake is None and abs(got["losses"][0] - got["initial_loss"]) <= 1e-4 * abs(got["initial_loss"]):
        failure.diagnosis = (
            "your first loss is the summed cross-entropy of your own untrained model, so the loss is computed "
            "right; but your model starts from other weights than the reference's under the same seed. Build "
            "nothing random before self.rnncell = nn.RNNCell(...) and do not call torch.manual_seed in your module"
        )
    raise failure


@points(10)
@timeout(60)
def test_converges_to_ohlol(judge, student, reference, verifier, details):
    """Training turns "hello" into "ohlol" within 15 epochs (20 seeds)"""
    args = dict(source=HELLO, target=OHLOL, seeds=CONVERGENCE_SEEDS, epochs=15, lr=0.1)
    got, want = student.run("train_seeds", **args), reference.expected("train_seeds", **args)
    got, want = (measured_runs(verifier, result["runs"], "predictions", words=[HELLO]) for result in (got, want))
    verdict = judge_training(
        got,
        want,
        converged=lambda run: run["predictions"] == [OHLOL],
        what='training on "hello" -> "ohlol"',
        **curve_tolerance(judge.tolerance),
        paired=True,
    )
    verdict.enforce(details)


@points(5)
def test_predict(judge):
    """predict decodes greedily, starting afresh at every call"""
    judge.compare("predict_words", words=[HELLO, OHLOL, "leo"], seed=31)
