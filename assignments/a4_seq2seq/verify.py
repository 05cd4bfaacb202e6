"""Verifier of a4: the assignment's encoder-decoder (embedding and one-layer LSTM each, batch first,
a linear layer on the decoder), loaded with a student's trained weights, translates words greedily
as the handout's `translate` does. It never imports student code; the targets stay with the judge."""

import numpy as np
import torch
from torch import nn

from grader.inside.probe_api import ProbeFailure, load_trained, replayed_scores

LETTERS = "SE?abcdefghijklmnopqrstuvwxyz"
SOS, EOS, PAD = 0, 1, 2


def _model(emb, hidden):
    model = nn.Module()
    model.encoder = nn.Module()
    model.encoder.embedding = nn.Embedding(len(LETTERS), emb)
    model.encoder.lstm = nn.LSTM(emb, hidden, batch_first=True)
    model.decoder = nn.Module()
    model.decoder.embedding = nn.Embedding(len(LETTERS), emb)
    model.decoder.lstm = nn.LSTM(emb, hidden, batch_first=True)
    model.decoder.fc = nn.Linear(hidden, len(LETTERS))
    return model


def replay_batch():
    """As probes.py's: the fixed batch a trained model is replayed on."""
    rng = np.random.default_rng(20240613)
    src = rng.integers(3, len(LETTERS), (6, 6))
    src[:, -1] = EOS
    trg = rng.integers(3, len(LETTERS), (6, 7))
    trg[:, 0] = SOS
    return src, trg


def _replayed(model):
    """The specified architecture's teacher-forced scores on the replay batch (step t fed trg[:, t-1],
    scored in outputs[:, t]), and the gradient of every parameter of sum(scores * projection)."""
    src, trg = (torch.tensor(a, dtype=torch.long) for a in replay_batch())
    with torch.enable_grad():
        _, state = model.encoder.lstm(model.encoder.embedding(src))
        output, _ = model.decoder.lstm(model.decoder.embedding(trg[:, :-1]), state)
        scores = model.decoder.fc(output)
        return replayed_scores(scores, list(model.named_parameters()))


def translations(_, weights, words, n_step, emb, hidden):
    """Each word padded with "?" to n_step letters then E; greedy decoding of n_step + 1 tokens from S;
    the letters before the first E, padding removed."""
    model = _model(emb, hidden)
    ignored = load_trained(model, weights, "Seq2Seq")
    texts = []
    with torch.no_grad():
        for word in words:
            if any(letter not in LETTERS[3:] for letter in word):
                raise ProbeFailure(f"cannot translate {word!r}: only the letters a-z are known")
            src = torch.tensor([[LETTERS.index(c) for c in word.ljust(n_step, "?")] + [EOS]])
            _, (h, c) = model.encoder.lstm(model.encoder.embedding(src))
            token = torch.tensor([[SOS]])
            letters = []
            for _ in range(n_step + 1):
                output, (h, c) = model.decoder.lstm(model.decoder.embedding(token), (h, c))
                token = model.decoder.fc(output).argmax(dim=-1)
                if int(token) == EOS:
                    break
                if int(token) != PAD:
                    letters.append(LETTERS[int(token)])
            texts.append("".join(letters))
    return {"translations": texts, "ignored": ignored, "replayed": _replayed(model)}
