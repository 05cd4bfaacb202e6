"""Verifier of a3: the assignment's SequenceClassifier (an RNN equal to torch.nn.RNN, batch first,
then a linear layer on the top layer's last step), loaded with a student's trained weights,
classifies sequences the trusted side chose. It never imports student code."""

import numpy as np
import torch

from grader.inside.probe_api import ProbeFailure, load_trained


def classify(_, weights, x, hidden_size, num_layers):
    """The predicted class of every sequence of x (N, T, D)."""
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
        output, _ = model.rnn(x)
        logits = model.fc(output[:, -1])
    return {"classes": logits.argmax(dim=1).numpy().astype(np.int64), "ignored": ignored}
