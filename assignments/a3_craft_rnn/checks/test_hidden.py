"""Hidden checks of a3 (60 points): parameters without biases, more forward and gradient
configurations (bias=False, T=1, unbatched, relu, batch_first with h0, three layers), the classifier
with two layers, and the classifier trained on a small sequence task students have not seen."""

import statistics

import numpy as np
import pytest

from grader.checks import hidden, judge_training, measured_runs, points, timeout

from .shared import (  # noqa: F401 (no_ready_made_rnn: an autouse fixture)
    classifier_on_its_own,
    gradients_on_their_own,
    judge_parameters,
    no_ready_made_rnn,
)

pytestmark = hidden

FORWARD_CASES = {
    "no-bias-batch-first-h0": dict(T=4, B=2, D=5, H=3, num_layers=2, bias=False, batch_first=True, h0=True),
    "T1-three-layers": dict(T=1, B=3, D=3, H=4, num_layers=3, h0=True),
    # batch_first changes nothing for an unbatched (T, D) input, as in nn.RNN
    "unbatched-batch-first-relu-no-h0": dict(
        T=6, B=1, D=2, H=5, num_layers=1, nonlinearity="relu", batch_first=True, unbatched=True, h0=False
    ),
    "three-layers-relu-batch-first": dict(
        T=5, B=2, D=4, H=4, num_layers=3, nonlinearity="relu", batch_first=True, h0=True
    ),
    "long-batch-of-one": dict(T=7, B=1, D=6, H=8, num_layers=2, h0=False),
}
GRADIENT_CASES = {
    "relu-no-bias-batch-first": dict(
        T=4, B=3, D=3, H=5, num_layers=1, nonlinearity="relu", bias=False, batch_first=True, h0=True
    ),
    "T1-three-layers-no-h0": dict(T=1, B=2, D=4, H=3, num_layers=3, h0=False),
    "unbatched-relu": dict(T=5, B=1, D=3, H=4, num_layers=2, nonlinearity="relu", unbatched=True, h0=True),
}
TRAINING_SEEDS = [100, 101, 102, 103, 104, 105]
SHARE_OF_REFERENCE = 0.9  # a seed counts as learnt at 90% of the reference's median held-out accuracy


@points(5)
def test_parameter_names_without_bias(student, reference):
    """Parameters with bias=False and three layers: only the weights, named like nn.RNN's"""
    judge_parameters(
        student,
        reference,
        what="CraftRNN(4, 3, num_layers=3, bias=False)",
        input_size=4,
        hidden_size=3,
        num_layers=3,
        bias=False,
    )


@points(20)
@pytest.mark.parametrize("case", list(FORWARD_CASES), ids=str)
def test_forward_configurations(judge, case):
    """output and h_n equal nn.RNN's on more configurations (each half of the points)"""
    judge.compare("forward", seed=41, per_key=True, **FORWARD_CASES[case])


@points(15)
@pytest.mark.parametrize("case", list(GRADIENT_CASES), ids=str)
def test_gradient_configurations(judge, reference, details, case):
    """Gradients equal nn.RNN's on more configurations (through output and through h_n, each half of the points)"""
    gradients_on_their_own(judge, reference, details, 42, GRADIENT_CASES[case])


@points(5)
def test_classifier_two_layers(judge, reference, details):
    """SequenceClassifier with two layers, same weights as the reference"""
    classifier_on_its_own(
        judge, reference, details, input_size=4, hidden_size=5, output_size=3, num_layers=2, B=4, T=6, seed=43
    )


def sum_task(n, T=6, D=3, data_seed=1234):
    """Which of the D features adds up to the most over the T steps: the answer needs every step.
    Defined here, in the trusted process: the held-out sequences go only to the verifier."""
    rng = np.random.default_rng(data_seed)
    x = rng.standard_normal((n, T, D)).astype(np.float32)
    return x, x.sum(axis=1).argmax(axis=1)


def replay_sequences(n, T=7, D=3, data_seed=1236):
    """Inputs only (no task, no label), at several scales: tanh's range, saturation included."""
    rng = np.random.default_rng(data_seed)
    scales = np.resize(np.array([0.5, 1.0, 2.0, 4.0], dtype=np.float32), n)[:, None, None]
    return (rng.standard_normal((n, T, D)) * scales).astype(np.float32)


@points(15)
@timeout(60)
def test_classifier_training(judge, student, reference, verifier, details):
    """SequenceClassifier learns a small sequence task you have not seen (6 seeds)"""
    # Its sequences are drawn from the course secret in official grading, as every hidden task's are.
    x_train, y_train = sum_task(256, data_seed=judge.drawn(1234))
    x_test, y_test = sum_task(256, data_seed=judge.drawn(1235))
    # The trained model's own logits on these (and their gradients) must be the reference architecture's
    # with its weights: the weights count only if they are the model the student's code runs.
    replay_x = replay_sequences(8, data_seed=judge.drawn(1236))
    args = dict(seeds=TRAINING_SEEDS, x_train=x_train.tolist(), y_train=y_train.tolist(), replay_x=replay_x.tolist())
    got, want = student.run("classifier_training", **args), reference.expected("classifier_training", **args)
    got, want = (
        measured_runs(verifier, result["runs"], "classify", x=x_test, hidden_size=12, num_layers=1, replay_x=replay_x)
        for result in (got, want)
    )
    for run in got + want:
        run["accuracy"] = float(np.mean(np.asarray(run["classes"]) == y_test))
    bar = SHARE_OF_REFERENCE * statistics.median(run["accuracy"] for run in want)
    details["accuracy"] = {"yours": [run["accuracy"] for run in got], "reference": [run["accuracy"] for run in want]}
    verdict = judge_training(
        got,
        want,
        converged=lambda run: run["accuracy"] >= bar,
        what=f"training the classifier on the hidden task (held-out accuracy {bar:.2f} or more)",
        **judge.tolerance_at_least(rtol=1e-4, atol=1e-6),
    )
    verdict.enforce(details)
