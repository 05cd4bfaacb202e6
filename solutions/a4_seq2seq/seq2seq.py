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
    # BEGIN SOLUTION
    def ids(text):
        return [CHAR2IDX[letter] for letter in text]

    src = [ids(word.ljust(n_step, "?")) + [EOS] for word, _ in pairs]
    trg = [[SOS] + ids(translation.ljust(n_step, "?")) + [EOS] for _, translation in pairs]
    return torch.tensor(src, dtype=torch.long), torch.tensor(trg, dtype=torch.long)
    # END SOLUTION


class Encoder(nn.Module):
    """Embeds the source letters and runs an LSTM over them; the final state summarises the word."""

    def __init__(self, vocab_size, embedding_dim, hidden_size, num_layers=1, dropout=0.0):
        super().__init__()
        # BEGIN SOLUTION
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, hidden_size, num_layers=num_layers, batch_first=True,
                            dropout=dropout if num_layers > 1 else 0.0)
        # END SOLUTION

    def forward(self, src):
        """src (B, S) -> outputs (B, S, hidden_size), hidden and cell (num_layers, B, hidden_size)."""
        # BEGIN SOLUTION
        outputs, (hidden, cell) = self.lstm(self.embedding(src))
        return outputs, hidden, cell
        # END SOLUTION


class Decoder(nn.Module):
    """One step of the decoder: the previous letter and the LSTM state give scores for the next letter."""

    def __init__(self, vocab_size, embedding_dim, hidden_size, num_layers=1, dropout=0.0):
        super().__init__()
        # BEGIN SOLUTION
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, hidden_size, num_layers=num_layers, batch_first=True,
                            dropout=dropout if num_layers > 1 else 0.0)
        self.fc = nn.Linear(hidden_size, vocab_size)
        # END SOLUTION

    def forward(self, token, hidden, cell):
        """token (B, 1) -> logits (B, 1, vocab_size), and the new hidden and cell."""
        # BEGIN SOLUTION
        output, (hidden, cell) = self.lstm(self.embedding(token), (hidden, cell))
        return self.fc(output), hidden, cell
        # END SOLUTION


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
        # BEGIN SOLUTION
        batch, trg_len = trg.shape
        outputs = torch.zeros(batch, trg_len, self.decoder.fc.out_features, device=trg.device)
        _, hidden, cell = self.encoder(src)
        token = trg[:, 0:1]
        for t in range(1, trg_len):
            logits, hidden, cell = self.decoder(token, hidden, cell)
            outputs[:, t] = logits[:, 0]
            teacher_force = random.random() < teacher_forcing_ratio
            token = trg[:, t:t + 1] if teacher_force else logits.argmax(dim=-1)
        return outputs
        # END SOLUTION


def train_step(model, src, trg, optimizer, criterion, teacher_forcing_ratio=0.5, clip=1.0):
    """One optimisation step on a batch; returns the loss as a float.

    The loss compares outputs[:, 1:] with trg[:, 1:] (position 0 is the start token, never predicted);
    gradients are clipped to total norm `clip` before the optimizer steps.
    """
    # BEGIN SOLUTION
    model.train()
    optimizer.zero_grad()
    outputs = model(src, trg, teacher_forcing_ratio)
    vocab_size = outputs.shape[-1]
    loss = criterion(outputs[:, 1:].reshape(-1, vocab_size), trg[:, 1:].reshape(-1))
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    optimizer.step()
    return loss.item()
    # END SOLUTION


def greedy_decode(model, src, max_len):
    """The decoder's own guesses, max_len of them: (B, max_len) long.

    The first input is the start token S; every later input is the previous step's argmax. Decoding
    does not stop at E (the caller cuts there), so every row has max_len tokens.
    """
    # BEGIN SOLUTION
    with torch.no_grad():
        _, hidden, cell = model.encoder(src)
        token = torch.full((src.shape[0], 1), SOS, dtype=torch.long, device=src.device)
        guesses = []
        for _ in range(max_len):
            logits, hidden, cell = model.decoder(token, hidden, cell)
            token = logits.argmax(dim=-1)
            guesses.append(token)
        return torch.cat(guesses, dim=1)
    # END SOLUTION


def translate(model, word, n_step):
    """Greedy translation of one word: the letters before the first E, padding "?" removed."""
    # BEGIN SOLUTION
    src, _ = make_batch([(word, "")], n_step)
    device = next(model.parameters()).device
    tokens = greedy_decode(model, src.to(device), n_step + 1)[0].tolist()
    letters = []
    for token in tokens:
        if token == EOS:
            break
        if token != PAD:
            letters.append(LETTERS[token])
    return "".join(letters)
    # END SOLUTION
