"""Verifier of a3: the assignment's SequenceClassifier (an RNN equal to torch.nn.RNN, batch first,
then a linear layer on the top layer's last step), loaded with a student's trained weights,
classifies sequences the trusted side chose. It never imports student code."""

import numpy as np
import torch

from grader.inside.probe_api import ProbeFailure, load_trained, replayed_scores


def replay_inputs(replay_x, input_size):
    """As probes.py's: the check's replay sequences, or by default the same fixed draw."""
    if replay_x is not None:
        return np.asarray(replay_x, dtype=np.float32)
    rng = np.random.default_rng(20240613)
    scales = np.array([0.5, 1.0, 2.0, 4.0] * 2, dtype=np.float32)[:, None, None]
    return (rng.standard_normal((8, 7, input_size)) * scales).astype(np.float32)


def _logits(model, x):
    output, _ = model.rnn(x)
    return model.fc(output[:, -1])


def _replayed(model, x):
    """The reference architecture's outputs on the replay sequences, and the gradient of every
    parameter of sum(outputs * projection) (also of their softmax and log-softmax: a classifier that
    returns those is still the architecture): what the student's own trained model must reproduce."""
    with torch.enable_grad():
        return replayed_scores(_logits(model, torch.tensor(x)), list(model.named_parameters()))


def classify(_, weights, x, hidden_size, num_layers, replay_x=None):
    """The predicted class of every sequence of x (N, T, D), and the replay (see probes.replay)."""
    x = torch.tensor(np.asarray(x, dtype=np.float32))
    if x.ndim != 3:
        raise ProbeFailure(f"sequences of shape (N, T, D) were expected, not {tuple(x.shape)}")
    classes = np.shape(weights.get("fc.bias")) if isinstance(weights, dict) else ()
    if len(classes) != 1:
        raise ProbeFailure("your trained SequenceClassifier has no fc.bias of shape (output_size,)")
    model = torch.nn.Module()
    model.rnn = torch.nn.RNN(x.shape[2], hidden_size, num_layers=num_layers, batch_first=True)
    model.fc = torch.nn.Linear(hidden_size, classes[0])
    ignored = load_trained(model, weights, "SequenceClassifier")
    with torch.no_grad():
        logits = _logits(model, x)
    replayed = _replayed(model, replay_inputs(replay_x, x.shape[2]))
    return {"classes": logits.argmax(dim=1).numpy().astype(np.int64), "ignored": ignored, "replayed": replayed}
