"""Verifier of a5: the assignment's SentimentLSTM (embedding with padding id 0, a one-layer
bidirectional LSTM over packed sequences, a linear layer on both directions' final states), loaded
with a student's trained weights and vocabulary, classifies sentences the trusted side chose. It
never imports student code, and never sees a label: the judge computes the accuracy."""

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence, pad_sequence

from grader.inside.probe_api import ProbeFailure, load_trained, replayed_scores

UNK_ID, MAX_LEN = 1, 100


def _ids(text, vocab):
    """The handout's encode: lower-case, split on whitespace, unknown words -> 1, at most 100 ids."""
    ids = [vocab.get(word, UNK_ID) for word in text.lower().split()][:MAX_LEN]
    return torch.tensor(ids or [UNK_ID], dtype=torch.long)


def replay_batch(rows):
    """As probes.py's: the fixed batch a trained model is replayed on."""
    rng = np.random.default_rng(20240613)
    lengths = np.array([7, 1, 4, 9, 2, 5])
    ids = 1 + np.minimum((rng.random((6, 9)) * (rows - 1)).astype(np.int64), rows - 2)
    ids[np.arange(9)[None, :] >= lengths[:, None]] = 0
    return ids, lengths


# Variants of the architecture a model may compute instead, as catalogued mistakes of its forward do:
# the forward's checks charge the mistake, and the training is measured in the variant, which learns
# as well (fc's two halves trade places; the cell states carry what the hidden states do), rather than
# lost whole.
SWAPPED = "the backward direction's final state before the forward one's (directions_swapped)"
CELL_STATE = "the final cell states instead of the final hidden states (cell_state_instead_of_hidden)"
MEAN = "the mean of the outputs over each sentence's words (mean_of_outputs_as_features)"
RELU = "a ReLU on the final states before the linear layer (relu_on_features)"
VARIANTS = (SWAPPED, CELL_STATE, MEAN, RELU)


def _logits(model, padded, lengths, variant=None):
    packed = pack_padded_sequence(model.embedding(padded), lengths, batch_first=True, enforce_sorted=False)
    output, (h_n, c_n) = model.lstm(packed)
    if variant == MEAN:
        unpacked, _ = pad_packed_sequence(output, batch_first=True)
        return model.fc(unpacked.sum(dim=1) / lengths.to(unpacked.dtype)[:, None])
    final = c_n if variant == CELL_STATE else h_n
    last = [final[-1], final[-2]] if variant == SWAPPED else [final[-2], final[-1]]
    features = torch.cat(last, dim=1)
    return model.fc(torch.relu(features) if variant == RELU else features)


def _replayed(model, rows, variant=None):
    """The specified architecture's logits on the replay batch, and the gradient of every parameter
    of sum(logits * projection): what the student's own trained model must reproduce."""
    ids, lengths = replay_batch(rows)
    with torch.enable_grad():
        logits = _logits(model, torch.tensor(ids), torch.tensor(lengths), variant)
        return replayed_scores(logits, list(model.named_parameters()))


def _classes(model, vocab, texts, variant=None):
    predicted = []
    with torch.no_grad():
        for start in range(0, len(texts), 256):
            sequences = [_ids(text, vocab) for text in texts[start : start + 256]]
            lengths = torch.tensor([len(ids) for ids in sequences])
            padded = pad_sequence(sequences, batch_first=True)
            predicted.append(_logits(model, padded, lengths, variant).argmax(dim=1))
    return torch.cat(predicted).numpy().astype(np.int64) if predicted else np.zeros(0, np.int64)


def classify(_, weights, vocab, texts, emb, hidden, classes=2, variant=None):
    """The predicted class of every text (and the replay, see probes._replay); with ``variant``, in that
    variant of the architecture (see VARIANTS), which the judge asks for where the replay does not agree."""
    if not isinstance(weights, dict) or np.ndim(weights.get("embedding.weight")) != 2:
        raise ProbeFailure("your trained SentimentLSTM has no embedding.weight of shape (vocab_size, embedding_dim)")
    rows, columns = np.shape(weights["embedding.weight"])
    if columns != emb:  # before any module is built from the rows: (40 000 000, 0) holds no bytes
        raise ProbeFailure(
            f"your trained embedding.weight has shape {(rows, columns)}: it needs embedding_dim={emb} columns"
        )
    if rows < 2:
        raise ProbeFailure(
            f"your trained embedding has {rows} rows: it needs one for <pad>, one for <unk> and one per word"
        )
    if not isinstance(vocab, dict) or any(type(i) is not int or not 0 <= i < rows for i in vocab.values()):
        raise ProbeFailure(f"your vocabulary maps words to ids outside the embedding's {rows} rows")
    model = nn.Module()
    model.embedding = nn.Embedding(rows, emb, padding_idx=0)
    model.lstm = nn.LSTM(emb, hidden, batch_first=True, bidirectional=True)
    model.fc = nn.Linear(2 * hidden, classes)
    if len(vocab) > rows:
        raise ProbeFailure(f"your vocabulary has {len(vocab)} words but your embedding only {rows} rows")
    ignored = load_trained(model, weights, "SentimentLSTM")
    if variant is not None and variant not in VARIANTS:
        raise ValueError(f"no variant {variant!r} of the architecture")
    return {
        "classes": _classes(model, vocab, texts, variant),
        "ignored": ignored,
        "replayed": _replayed(model, rows, variant),
        "variants": list(VARIANTS),
    }
