"""Assignment 4: an LSTM encoder-decoder (seq2seq) that translates words letter by letter.

The encoder reads the source word and hands its final LSTM state (hidden and cell) to the decoder,
which writes the translation one letter at a time, starting from the start token "S". During training
the decoder is fed the true previous letter (teacher forcing) or its own guess; at test time it always
feeds its own guess (greedy decoding).
"""

import random

import torch
from torch import nn

LETTERS = "SE?abcdefghijklmnopqrstuvwxyz"  # S start (0), E end (1), ? padding (2)
SOS, EOS, PAD = 0, 1, 2
CHAR2IDX = {letter: index for index, letter in enumerate(LETTERS)}


def make_batch(pairs, n_step):
    """Token ids of a list of (word, translation) pairs.

    src (B, n_step + 1): the word padded with "?" to n_step letters, then "E".
    trg (B, n_step + 2): "S", the translation padded with "?" to n_step letters, then "E".
    """
    raise NotImplementedError  # your code here


class Encoder(nn.Module):
    """Embeds the source letters and runs an LSTM over them; the final state summarises the word."""

    def __init__(self, vocab_size, embedding_dim, hidden_size, num_layers=1, dropout=0.0):
        super().__init__()
        raise NotImplementedError  # your code here

    def forward(self, src):
        """src (B, S) -> outputs (B, S, hidden_size), hidden and cell (num_layers, B, hidden_size)."""
        raise NotImplementedError  # your code here


class Decoder(nn.Module):
    """One step of the decoder: the previous letter and the LSTM state give scores for the next letter."""

    def __init__(self, vocab_size, embedding_dim, hidden_size, num_layers=1, dropout=0.0):
        super().__init__()
        raise NotImplementedError  # your code here

    def forward(self, token, hidden, cell):
        """token (B, 1) -> logits (B, 1, vocab_size), and the new hidden and cell."""
        raise NotImplementedError  # your code here


class Seq2Seq(nn.Module):
    def __init__(self, encoder, decoder):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    def forward(self, src, trg, teacher_forcing_ratio=0.5):
        """Scores of every target position: outputs (B, trg_len, vocab_size), with outputs[:, 0] = 0.

        Step t (1 .. trg_len - 1) feeds the previous letter and stores the decoder's scores in
        outputs[:, t]. The next input is then trg[:, t] when `random.random() < teacher_forcing_ratio`
        (one draw per step, for the whole batch), otherwise the argmax of these scores.
        """
        raise NotImplementedError  # your code here


def train_step(model, src, trg, optimizer, criterion, teacher_forcing_ratio=0.5, clip=1.0):
    """One optimisation step on a batch; returns the loss as a float.

    The loss compares outputs[:, 1:] with trg[:, 1:] (position 0 is the start token, never predicted);
    gradients are clipped to total norm `clip` before the optimizer steps.
    """
    raise NotImplementedError  # your code here


def greedy_decode(model, src, max_len):
    """The decoder's own guesses, max_len of them: (B, max_len) long.

    The first input is the start token S; every later input is the previous step's argmax. Decoding
    does not stop at E (the caller cuts there), so every row has max_len tokens.
    """
    raise NotImplementedError  # your code here


def translate(model, word, n_step):
    """Greedy translation of one word: the letters before the first E, padding "?" removed."""
    raise NotImplementedError  # your code here
