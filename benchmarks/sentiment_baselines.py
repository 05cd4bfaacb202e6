"""Baselines for the a5_sentiment_lstm data set (prints figures, asserts nothing).

(a) bag of words: logistic regression on word counts, full-batch L-BFGS to
    convergence on train, accuracy on dev and test;
(b) a small bidirectional LSTM (nn.Embedding(padding_idx=0),
    pack_padded_sequence(enforce_sorted=False), classifier on the last layer's
    final forward and backward hidden states concatenated), trained with Adam;
    accuracy on dev and test after every epoch and wall time per epoch, over
    several seeds (min / median / max);
(c) the same with a unidirectional LSTM, for interest.

Vocabulary: <pad>=0, <unk>=1, then train words by descending count, ties
alphabetical.

    .venv/bin/python benchmarks/sentiment_baselines.py            # defaults
    .venv/bin/python benchmarks/sentiment_baselines.py --seeds 0 1 2 3 4 \
        --epochs 5 --batch 32 --lr 1e-2 --emb 32 --hidden 32
"""

import argparse
import os
import statistics
import time
from collections import Counter

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA = os.path.join(HERE, "..", "assignments", "a5_sentiment_lstm", "data")


def read_tsv(path):
    labels, texts = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            label, text = line.rstrip("\n").split("\t")
            labels.append(int(label))
            texts.append(text.lower().split())
    return texts, labels


def build_vocab(texts):
    counts = Counter(w for t in texts for w in t)
    words = sorted(counts, key=lambda w: (-counts[w], w))
    vocab = {"<pad>": 0, "<unk>": 1}
    for w in words:
        vocab[w] = len(vocab)
    return vocab


def encode(texts, vocab):
    ids = [[vocab.get(w, 1) for w in t] for t in texts]
    lengths = torch.tensor([len(x) for x in ids])
    padded = torch.zeros(len(ids), int(lengths.max()), dtype=torch.long)
    for i, x in enumerate(ids):
        padded[i, : len(x)] = torch.tensor(x)
    return padded, lengths


# ------------------------------------------------------------- bag of words
def bow_matrix(padded, vocab_size):
    x = torch.zeros(padded.shape[0], vocab_size)
    x.scatter_add_(1, padded, torch.ones_like(padded, dtype=torch.float))
    x[:, 0] = 0.0  # padding is not a word
    return x


def bag_of_words(data, vocab, l2):
    (xtr, _, ytr), (xdv, _, ydv), (xte, _, yte) = data
    V = len(vocab)
    Xtr, Xdv, Xte = (bow_matrix(x, V) for x in (xtr, xdv, xte))
    torch.manual_seed(0)
    lin = nn.Linear(V, 1)
    nn.init.zeros_(lin.weight)
    nn.init.zeros_(lin.bias)
    opt = torch.optim.LBFGS(
        lin.parameters(),
        lr=1.0,
        max_iter=500,
        tolerance_grad=1e-9,
        tolerance_change=1e-12,
        history_size=50,
        line_search_fn="strong_wolfe",
    )
    yf = ytr.float()

    def closure():
        opt.zero_grad()
        loss = nn.functional.binary_cross_entropy_with_logits(lin(Xtr).squeeze(1), yf)
        loss = loss + l2 * lin.weight.pow(2).sum()
        loss.backward()
        return loss

    for _ in range(5):
        opt.step(closure)
    with torch.no_grad():
        acc = [
            ((lin(X).squeeze(1) > 0).long() == y).float().mean().item() for X, y in ((Xtr, ytr), (Xdv, ydv), (Xte, yte))
        ]
        test_correct = ((lin(Xte).squeeze(1) > 0).long() == yte).tolist()
    return acc, test_correct


# ---------------------------------------------------------------- LSTM model
class LSTMClassifier(nn.Module):
    def __init__(self, vocab_size, emb, hidden, bidirectional):
        super().__init__()
        self.emb = nn.Embedding(vocab_size, emb, padding_idx=0)
        self.lstm = nn.LSTM(emb, hidden, batch_first=True, bidirectional=bidirectional)
        self.out = nn.Linear(hidden * (2 if bidirectional else 1), 2)
        self.bidirectional = bidirectional

    def forward(self, x, lengths):
        packed = pack_padded_sequence(self.emb(x), lengths, batch_first=True, enforce_sorted=False)
        _, (h, _) = self.lstm(packed)  # h: (layers * dirs, B, H)
        if self.bidirectional:
            feat = torch.cat([h[-2], h[-1]], dim=1)  # last layer fwd, bwd
        else:
            feat = h[-1]
        return self.out(feat)


def correct(model, x, lengths, y):
    model.eval()
    with torch.no_grad():
        pred = model(x, lengths).argmax(1)
    model.train()
    return pred == y


def accuracy(model, x, lengths, y):
    return correct(model, x, lengths, y).float().mean().item()


def train_lstm(data, vocab_size, args, seed, bidirectional):
    (xtr, ltr, ytr), (xdv, ldv, ydv), (xte, lte, yte) = data
    torch.manual_seed(seed)
    model = LSTMClassifier(vocab_size, args.emb, args.hidden, bidirectional)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    loss_fn = nn.CrossEntropyLoss()
    g = torch.Generator().manual_seed(seed)
    history = []
    for _epoch in range(args.epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(len(ytr), generator=g)
        for i in range(0, len(perm), args.batch):
            idx = perm[i : i + args.batch]
            L = ltr[idx]
            xb = xtr[idx, : int(L.max())]
            opt.zero_grad()
            loss = loss_fn(model(xb, L), ytr[idx])
            loss.backward()
            opt.step()
        seconds = time.perf_counter() - t0
        history.append((accuracy(model, xdv, ldv, ydv), accuracy(model, xte, lte, yte), seconds))
    return history, correct(model, xte, lte, yte).tolist()


def summary(values):
    return "%.3f / %.3f / %.3f" % (min(values), statistics.median(values), max(values))


def report_lstm(name, data, vocab_size, args, bidirectional):
    print(
        "\n%s (emb %d, hidden %d, batch %d, Adam lr %g, seeds %s)"
        % (name, args.emb, args.hidden, args.batch, args.lr, args.seeds)
    )
    results = [train_lstm(data, vocab_size, args, s, bidirectional) for s in args.seeds]
    runs = [r[0] for r in results]
    if args.per_seed:
        for s, h in zip(args.seeds, runs):
            print("  seed %d: dev %s" % (s, " ".join("%.3f" % e[0] for e in h)))
            print("          test %s" % " ".join("%.3f" % e[1] for e in h))
    print("  epoch   dev min / med / max        test min / med / max       s/epoch (median)")
    for e in range(args.epochs):
        dev = [r[e][0] for r in runs]
        test = [r[e][1] for r in runs]
        secs = [r[e][2] for r in runs]
        print("  %5d   %s    %s    %.2f" % (e + 1, summary(dev), summary(test), statistics.median(secs)))
    total = [sum(x[2] for x in r) for r in runs]
    print("  total training time per run: median %.2f s (max %.2f s)" % (statistics.median(total), max(total)))
    return [r[1] for r in results]


def construction(text):
    """Which template a sentence comes from (mirrors make_dataset.py)."""
    words = text.split()
    if words[0] == "although":
        return "although A B"
    if "even though" in text:
        return "B even though A"
    if " but " in text:
        return "A but B"
    if " and " in text:
        return "A and B"
    if set(words) & {"not", "never", "hardly", "far"}:
        return "negated"
    return "plain"


def breakdown(test_texts, train_texts, columns):
    """Test accuracy by construction; columns: [(name, [per-seed correct lists])]."""
    train = set(" ".join(t) for t in train_texts)
    groups = {}
    for i, words in enumerate(test_texts):
        text = " ".join(words)
        groups.setdefault(construction(text), []).append(i)
        if " but " in text and "even though" not in text:
            a, b = text.split(" but ", 1)
            if b + " but " + a in train:
                groups.setdefault("twin in train", []).append(i)
    order = ["plain", "negated", "A but B", "although A B", "B even though A", "A and B", "twin in train"]
    print("\ntest accuracy by construction (LSTM: mean over seeds, last epoch)")
    print("  %-16s %5s" % ("construction", "n") + "".join(" %14s" % c[0] for c in columns))
    for g in order:
        if g not in groups:
            continue
        idx = groups[g]
        cells = [statistics.mean(sum(run[i] for i in idx) / len(idx) for run in runs) for _, runs in columns]
        print("  %-16s %5d" % (g, len(idx)) + "".join(" %14.3f" % c for c in cells))


def main():
    ap = argparse.ArgumentParser(description="a5_sentiment_lstm baselines")
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-2)
    ap.add_argument("--emb", type=int, default=32)
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--l2", type=float, default=1e-4, help="L2 penalty of the bag-of-words model")
    ap.add_argument("--per-seed", action="store_true")
    ap.add_argument("--no-uni", action="store_true", help="skip the unidirectional LSTM")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    splits = [read_tsv(os.path.join(args.data, n + ".tsv")) for n in ("train", "dev", "test")]
    vocab = build_vocab(splits[0][0])
    data = []
    for texts, labels in splits:
        x, lengths = encode(texts, vocab)
        data.append((x, lengths, torch.tensor(labels)))
    size = sum(os.path.getsize(os.path.join(args.data, n + ".tsv")) for n in ("train", "dev", "test"))
    print("data: %s" % os.path.normpath(args.data))
    print(
        "sizes: train %d, dev %d, test %d; %d bytes in all; vocabulary %d (with <pad>, <unk>)"
        % (len(splits[0][1]), len(splits[1][1]), len(splits[2][1]), size, len(vocab))
    )
    for name, (texts, labels) in zip(("train", "dev", "test"), splits):
        unk = sum(w not in vocab for t in texts for w in t)
        print(
            "  %-5s positive %.3f, mean length %.1f, unknown tokens %d"
            % (name, sum(labels) / len(labels), sum(map(len, texts)) / len(texts), unk)
        )

    t0 = time.perf_counter()
    (tr, dv, te), bow_correct = bag_of_words(data, vocab, args.l2)
    print(
        "\nbag of words (logistic regression on counts, L2 %g, L-BFGS): "
        "train %.3f, dev %.3f, test %.3f  (%.1f s)" % (args.l2, tr, dv, te, time.perf_counter() - t0)
    )

    columns = [("bag of words", [bow_correct])]
    columns.append(("BiLSTM", report_lstm("bidirectional LSTM", data, len(vocab), args, True)))
    if not args.no_uni:
        columns.append(("LSTM", report_lstm("unidirectional LSTM", data, len(vocab), args, False)))
    breakdown(splits[2][0], splits[0][0], columns)


if __name__ == "__main__":
    main()
