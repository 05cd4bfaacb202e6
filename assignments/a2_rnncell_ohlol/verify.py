"""Verifier of a2: the assignment's architecture (an nn.RNNCell whose hidden state is the 4-way
logit vector), loaded with a student's trained weights, decodes words greedily.

Runs in its own sandboxed process that never imports student code; the judge compares what it
returns with the targets, which never leave the trusted side.
"""

import torch

from grader.inside.probe_api import ProbeFailure, load_trained

LETTERS = "ehlo"


def predictions(_, weights, words):
    """Greedy decoding from a zero state of every word: one predicted string per word."""
    model = torch.nn.Module()
    model.rnncell = torch.nn.RNNCell(4, 4)
    ignored = load_trained(model, weights, "Model")
    decoded = []
    with torch.no_grad():
        for word in words:
            if any(letter not in LETTERS for letter in word):
                raise ProbeFailure(f"cannot decode {word!r}: the alphabet is {LETTERS!r}")
            hidden = torch.zeros(1, 4)
            letters = []
            for letter in word:
                x_t = torch.eye(4)[LETTERS.index(letter)].view(1, 4)
                hidden = model.rnncell(x_t, hidden)
                letters.append(LETTERS[int(hidden[0].argmax())])
            decoded.append("".join(letters))
    return {"predictions": decoded, "ignored": ignored}
