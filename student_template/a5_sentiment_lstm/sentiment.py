"""Assignment 5: a bidirectional LSTM sentiment classifier over padded and packed batches.

Sentences have different lengths, so a batch is padded with the id 0 to its longest sentence. Packing
(`pack_padded_sequence`) tells the LSTM each sentence's true length, so it never reads the padding:
the final hidden state of every sentence is the state after its own last word (forward direction)
and after its own first word (backward direction), whatever the padding.
"""

from collections import Counter

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_sequence

PAD, UNK = "<pad>", "<unk>"  # ids 0 and 1


def tokenize(text):
    """Lower-case the text and split it on whitespace."""
    raise NotImplementedError  # your code here


def build_vocab(texts, min_freq=1):
    """Word -> id: PAD 0, UNK 1, then every word seen at least min_freq times, by descending count,
    ties in alphabetical order."""
    raise NotImplementedError  # your code here


def encode(text, vocab, max_len=100):
    """The ids of the text's words (unknown words -> 1), at most max_len of them: a 1-D long tensor."""
    raise NotImplementedError  # your code here


class SentimentDataset(torch.utils.data.Dataset):
    """Item i is (encode(texts[i]), torch.tensor(labels[i]))."""

    def __init__(self, texts, labels, vocab, max_len=100):
        raise NotImplementedError  # your code here

    def __len__(self):
        raise NotImplementedError  # your code here

    def __getitem__(self, index):
        raise NotImplementedError  # your code here


def collate_fn(batch):
    """A list of (ids, label) -> padded (B, L_max) padded with 0, lengths (B,) long on the CPU,
    labels (B,)."""
    raise NotImplementedError  # your code here


class SentimentLSTM(nn.Module):
    def __init__(self, vocab_size, embedding_dim, hidden_size, num_layers, num_classes, dropout=0.5,
                 bidirectional=True):
        super().__init__()
        raise NotImplementedError  # your code here

    def forward(self, x, lengths):
        """x (B, L) padded ids, lengths (B,) -> logits (B, num_classes)."""
        raise NotImplementedError  # your code here


def train_epoch(model, loader, optimizer, criterion, device):
    """One pass over the loader (one optimizer step per batch); returns the mean batch loss."""
    raise NotImplementedError  # your code here


def evaluate(model, loader, device):
    """Accuracy of the model's argmax predictions over the loader, in [0, 1]."""
    raise NotImplementedError  # your code here
