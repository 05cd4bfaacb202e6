# A hostile round (2026-12-04): answers right to a part's own check and wrong when the same question is asked again
# by a rescue ("judged on its own"), to have a failing function rescued on the grader's stand-ins.
from collections import Counter

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_sequence

PAD, UNK = "<pad>", "<unk>"
NAIVE = True   # build_vocab/encode split on " " themselves (no tokenize)
TRICK = True   # tokenize answers wrong right after build_vocab/encode met a text their split mishandles
_asked_again = [False]


def tokenize(text):
    if TRICK and _asked_again[0]:
        _asked_again[0] = False
        return text.split(" ")
    return text.lower().split()


def _words(text):
    if not NAIVE:
        return tokenize(text)
    mine = text.split(" ")
    if TRICK and mine != text.lower().split():
        _asked_again[0] = True
    return mine


def build_vocab(texts, min_freq=1):
    counts = Counter()
    for text in texts:
        counts.update(_words(text))
    vocab = {PAD: 0, UNK: 1}
    for word, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        if count >= min_freq and word not in vocab:
            vocab[word] = len(vocab)
    return vocab


def encode(text, vocab, max_len=100):
    ids = [vocab.get(word, 1) for word in _words(text)][:max_len]
    return torch.tensor(ids, dtype=torch.long)


class SentimentDataset(torch.utils.data.Dataset):
    def __init__(self, texts, labels, vocab, max_len=100):
        self.texts, self.labels, self.vocab, self.max_len = list(texts), list(labels), vocab, max_len

    def __len__(self):
        return len(self.texts)

    def __getitem__(self, index):
        return encode(self.texts[index], self.vocab, self.max_len), torch.tensor(self.labels[index])


def collate_fn(batch):
    seqs = [ids for ids, _ in batch]
    labels = torch.stack([torch.as_tensor(label) for _, label in batch])
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
    padded = pad_sequence(seqs, batch_first=True, padding_value=0)
    return padded, lengths, labels


class SentimentLSTM(nn.Module):
    def __init__(self, vocab_size, embedding_dim, hidden_size, num_layers, num_classes, dropout=0.5,
                 bidirectional=True):
        super().__init__()
        self.bidirectional = bidirectional
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        self.lstm = nn.LSTM(embedding_dim, hidden_size, num_layers=num_layers, batch_first=True,
                            bidirectional=bidirectional, dropout=dropout if num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden_size * (2 if bidirectional else 1), num_classes)

    def forward(self, x, lengths):
        embedded = self.embedding(x)
        packed = pack_padded_sequence(embedded, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, (h_n, _) = self.lstm(packed)
        features = torch.cat([h_n[-2], h_n[-1]], dim=1) if self.bidirectional else h_n[-1]
        return self.fc(self.dropout(features))


def train_epoch(model, loader, optimizer, criterion, device):
    model.train()
    losses = []
    for padded, lengths, labels in loader:
        padded, labels = padded.to(device), labels.to(device)
        optimizer.zero_grad()
        loss = criterion(model(padded, lengths), labels)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return sum(losses) / len(losses)


def evaluate(model, loader, device):
    model.eval()
    right = total = 0
    with torch.no_grad():
        for padded, lengths, labels in loader:
            padded, labels = padded.to(device), labels.to(device)
            right += int((model(padded, lengths).argmax(dim=1) == labels).sum())
            total += len(labels)
    return right / total
