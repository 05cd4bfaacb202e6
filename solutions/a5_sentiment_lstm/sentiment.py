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
    # BEGIN SOLUTION
    return text.lower().split()
    # END SOLUTION


def build_vocab(texts, min_freq=1):
    """Word -> id: PAD 0, UNK 1, then every word seen at least min_freq times, by descending count,
    ties in alphabetical order."""
    # BEGIN SOLUTION
    counts = Counter(word for text in texts for word in tokenize(text))
    kept = [word for word, count in counts.items() if count >= min_freq]
    vocab = {PAD: 0, UNK: 1}
    for word in sorted(kept, key=lambda word: (-counts[word], word)):
        vocab[word] = len(vocab)
    return vocab
    # END SOLUTION


def encode(text, vocab, max_len=100):
    """The ids of the text's words (unknown words -> 1), at most max_len of them: a 1-D long tensor."""
    # BEGIN SOLUTION
    ids = [vocab.get(word, vocab[UNK]) for word in tokenize(text)][:max_len]
    return torch.tensor(ids, dtype=torch.long)
    # END SOLUTION


class SentimentDataset(torch.utils.data.Dataset):
    """Item i is (encode(texts[i]), torch.tensor(labels[i]))."""

    def __init__(self, texts, labels, vocab, max_len=100):
        # BEGIN SOLUTION
        self.texts = list(texts)
        self.labels = list(labels)
        self.vocab = vocab
        self.max_len = max_len
        # END SOLUTION

    def __len__(self):
        # BEGIN SOLUTION
        return len(self.texts)
        # END SOLUTION

    def __getitem__(self, index):
        # BEGIN SOLUTION
        return encode(self.texts[index], self.vocab, self.max_len), torch.tensor(self.labels[index])
        # END SOLUTION


def collate_fn(batch):
    """A list of (ids, label) -> padded (B, L_max) padded with 0, lengths (B,) long on the CPU,
    labels (B,)."""
    # BEGIN SOLUTION
    sequences = [ids for ids, _ in batch]
    padded = pad_sequence(sequences, batch_first=True, padding_value=0)
    lengths = torch.tensor([len(ids) for ids in sequences], dtype=torch.long)
    labels = torch.stack([label for _, label in batch])
    return padded, lengths, labels
    # END SOLUTION


class SentimentLSTM(nn.Module):
    def __init__(self, vocab_size, embedding_dim, hidden_size, num_layers, num_classes, dropout=0.5,
                 bidirectional=True):
        super().__init__()
        # BEGIN SOLUTION
        self.bidirectional = bidirectional
        directions = 2 if bidirectional else 1
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        self.lstm = nn.LSTM(embedding_dim, hidden_size, num_layers=num_layers, batch_first=True,
                            bidirectional=bidirectional, dropout=dropout if num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden_size * directions, num_classes)
        # END SOLUTION

    def forward(self, x, lengths):
        """x (B, L) padded ids, lengths (B,) -> logits (B, num_classes)."""
        # BEGIN SOLUTION
        embedded = self.embedding(x)
        packed = pack_padded_sequence(embedded, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, (hidden, _) = self.lstm(packed)  # hidden: (num_layers * directions, B, hidden_size)
        if self.bidirectional:
            features = torch.cat([hidden[-2], hidden[-1]], dim=1)  # last layer: forward, backward
        else:
            features = hidden[-1]
        return self.fc(self.dropout(features))
        # END SOLUTION


def train_epoch(model, loader, optimizer, criterion, device):
    """One pass over the loader (one optimizer step per batch); returns the mean batch loss."""
    # BEGIN SOLUTION
    model.train()
    total, batches = 0.0, 0
    for padded, lengths, labels in loader:
        padded, labels = padded.to(device), labels.to(device)
        optimizer.zero_grad()
        loss = criterion(model(padded, lengths), labels)
        loss.backward()
        optimizer.step()
        total += loss.item()
        batches += 1
    return total / batches
    # END SOLUTION


def evaluate(model, loader, device):
    """Accuracy of the model's argmax predictions over the loader, in [0, 1]."""
    # BEGIN SOLUTION
    model.eval()
    correct, seen = 0, 0
    with torch.no_grad():
        for padded, lengths, labels in loader:
            padded, labels = padded.to(device), labels.to(device)
            predictions = model(padded, lengths).argmax(dim=1)
            correct += (predictions == labels).sum().item()
            seen += labels.numel()
    return correct / seen
    # END SOLUTION
