"""Verifier of a2: the assignment's architecture (an nn.RNNCell whose hidden state is the 4-way
logit vector), loaded with a student's trained weights, decodes words greedily.

Runs in its own sandboxed process that never imports student code; the judge compares what it
returns with the targets, which never leave the trusted side.
"""

import numpy as np
import torch

from grader.inside.probe_api import ProbeFailure, directional_of, load_trained, projection

LETTERS = "ehlo"


def replay_words():
    """As probes.py's: the fixed words a trained model is replayed on."""
    rng = np.random.default_rng(20240613)
    return ["".join(rng.choice(list(LETTERS), size=7)) for _ in range(4)]


def _replayed(model):
    """The specified architecture's hidden states on the replay words, and the gradient of every
    parameter of sum(states * projection): what the student's own trained model must reproduce."""
    with torch.enable_grad():
        states = []
        for word in replay_words():
            hidden = torch.zeros(1, 4)
            for letter in word:
                hidden = model.rnncell(torch.eye(4)[LETTERS.index(letter)].view(1, 4), hidden)
                states.append(hidden[0])
        outputs = torch.stack(states)
        named = list(model.named_parameters())
        loss = (outputs * torch.tensor(projection(tuple(outputs.shape)))).sum()
        grads = torch.autograd.grad(loss, [p for _, p in named])
    replayed = {"outputs": outputs.detach().numpy(), "grads": {name: g.numpy() for (name, _), g in zip(named, grads)}}
    replayed["directional"] = directional_of(replayed["grads"])  # for a model without a graph in eval mode
    return replayed


def predictions(_, weights, words):
    """Greedy decoding from a zero state of every word: one predicted string per word (and the
    replay, see probes._replay)."""
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
    return {"predictions": decoded, "ignored": ignored, "replayed": _replayed(model)}
