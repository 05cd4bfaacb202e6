"""Probes of a5_sentiment_lstm: they run inside the sandbox, call the student's `sentiment` module and
return plain data. The same probes run on the reference solution to produce the expected data.

Models are built from the student's classes and given weights drawn here from a seeded generator (by
the documented parameter names), so both sides compute with the same numbers. `train_epoch` and
`evaluate` are first checked on a small model defined here, so a mistake in the LSTM does not cost
their points twice. Models and tensors live on `probe_api.torch_device()`.
"""

import functools
import json

import numpy as np
import torch
from torch import nn

from grader.inside.probe_api import (
    ProbeFailure,
    as_array,
    as_in_training,
    as_number,
    handed,
    how_written,
    load_weights,
    optimizer_steps,
    recurrent_weight_shapes,
    replay_sensitivity,
    seed_everything,
    steps_since,
    torch_device,
    trained_weights,
    training_with,
    uniform_weights,
    unpack,
)

PAD_ID, UNK_ID = 0, 1


# ------------------------------------------------------------------------------------------- helpers


def _check_tensor(value, what, dtype=None):
    if not isinstance(value, torch.Tensor):
        raise ProbeFailure(f"{what} is a {type(value).__name__}; a torch tensor was expected")
    if dtype is not None and value.dtype != dtype:
        raise ProbeFailure(f"{what} has dtype {value.dtype}; {dtype} was expected")
    return value


def _check_label(value, what):
    """Labels are class indices: nn.CrossEntropyLoss refuses float targets, so a float label fails every
    training check with torch's error in train_epoch; say it where the label is made."""
    value = _check_tensor(value, what)
    if value.is_floating_point() or value.is_complex() or value.dtype == torch.bool:
        raise ProbeFailure(
            f"{what} has dtype {value.dtype}; labels are class indices, torch.long (torch.tensor(labels[i]) of "
            "an int gives it): nn.CrossEntropyLoss refuses float targets, so training would stop on them"
        )
    return value


def lstm_classifier_shapes(vocab, emb, hidden, layers, classes, bidirectional):
    """Every parameter of SentimentLSTM by its documented name (torch's nn.LSTM naming)."""
    directions = 2 if bidirectional else 1
    return {
        "embedding.weight": (vocab, emb),
        **recurrent_weight_shapes(emb, hidden, num_layers=layers, gates=4, bidirectional=bidirectional, prefix="lstm"),
        "fc.weight": (classes, hidden * directions),
        "fc.bias": (classes,),
    }


def make_weights(seed, shapes, scale=0.5):
    """Uniform(-scale, scale) weights from a generator of their own; the padding row is zero."""
    weights = uniform_weights(shapes, scale=scale, generator=seed)
    if "embedding.weight" in weights:
        weights["embedding.weight"][PAD_ID] = 0.0
    return weights


def build_classifier(student, vocab, emb, hidden, layers, classes, bidirectional, seed):
    model = student.SentimentLSTM(vocab, emb, hidden, layers, classes, dropout=0.3, bidirectional=bidirectional)
    shapes = lstm_classifier_shapes(vocab, emb, hidden, layers, classes, bidirectional)
    load_weights(model, make_weights(seed, shapes), "SentimentLSTM")
    return model.to(torch_device()).eval()


def random_batch(seed, batch, vocab, max_len, sort=True, extra=0):
    """Padded ids (B, L_max + extra) and lengths (B,); sorted longest first unless sort=False.

    The longest sentence has max_len words and another is a single word, so padding is always there.
    """
    rng = np.random.default_rng(seed + 104729)
    lengths = rng.integers(1, max_len + 1, batch)
    lengths[0], lengths[-1] = max_len, 1
    if sort:
        lengths = np.sort(lengths)[::-1]
    else:
        rng.shuffle(lengths)
        if lengths[0] == max(lengths):  # make sure the batch is not already sorted
            lengths = np.roll(lengths, 1)
    padded = np.zeros((batch, max_len + extra), dtype=np.int64)
    for row, length in enumerate(lengths):
        padded[row, :length] = rng.integers(2, vocab, length)
    return torch.from_numpy(padded), torch.from_numpy(lengths.copy()).long()


def logits_of(model, padded, lengths, what="the logits of SentimentLSTM.forward"):
    """The logits, asked twice: in eval mode the same batch must give the same logits. Where they change,
    every forward and invariance check fails, and the packing hints would point at correct code."""
    with torch.no_grad():
        logits = as_array(model(padded.to(torch_device()), lengths), what, ndim=2)
        again = as_array(model(padded.to(torch_device()), lengths), what, ndim=2)
    if logits.shape == again.shape and not np.allclose(logits, again, rtol=1e-5, atol=1e-6, equal_nan=True):
        raise ProbeFailure(
            f"{what} change from one call to the next on the same batch in eval mode (by up to "
            f"{float(np.nanmax(np.abs(logits - again))):.3g}): something random is still on after model.eval(), "
            "most likely dropout written as F.dropout(x, p), which defaults to training=True; use an nn.Dropout "
            "module (self.dropout) or F.dropout(x, p, training=self.training)"
        )
    return logits


# ------------------------------------------------------------------------------------- text to ids


def _drawn_text(seed, plain=False, words=("good", "Bad", "not", "MOVIE", "plot", "at", "all", "the", "a", "zzz")):
    """A sentence drawn from the seed (mixed case and spacing), added to a probe's fixed texts; ``plain``:
    lower-case, single spaces, for checks of what comes after tokenize (which its own checks judge)."""
    rng = np.random.default_rng(seed)
    chosen = [str(words[int(i)]) for i in rng.integers(0, len(words), int(rng.integers(2, 7)))]
    text = "".join(word + (" " if rng.random() < 0.8 else "  ") for word in chosen).strip()
    return " ".join(text.lower().split()) if plain else text


def tokenize(student, texts, seed=0):
    tokens = []
    for text in list(texts) + [_drawn_text(seed)]:
        words = student.tokenize(text)
        if not isinstance(words, list) or not all(type(word) is str for word in words):
            raise ProbeFailure(f"tokenize({text!r}) returned {type(words).__name__}; a list of strings was expected")
        tokens.append(words)
    return {"tokens": tokens}


def build_vocab(student, texts, min_freq, seed=0, plain=False):
    """The vocabulary as its words in id order (so extra or missing words show)."""
    drawn = [_drawn_text(seed, plain), _drawn_text(seed + 1, plain)]
    vocab = student.build_vocab(list(texts) + drawn, min_freq=min_freq)
    if not isinstance(vocab, dict):
        raise ProbeFailure(f"build_vocab returned a {type(vocab).__name__}; a dict word -> id was expected")
    if not all(type(word) is str and _is_id(index) for word, index in vocab.items()):
        raise ProbeFailure("build_vocab must map words (str) to ids (int)")
    vocab = {word: int(index) for word, index in vocab.items()}
    if sorted(vocab.values()) != list(range(len(vocab))):
        raise ProbeFailure(f"the ids of build_vocab must be 0, 1, ..., {len(vocab) - 1}, each once")
    return {"words": [word for word, _ in sorted(vocab.items(), key=lambda item: item[1])]}


def encode(student, texts, vocab_words, max_len, seed=0, plain=False):
    """encode() with a vocabulary given here (words in id order), so build_vocab is not involved."""
    vocab = {word: index for index, word in enumerate(vocab_words)}
    ids = []
    for text in list(texts) + [_drawn_text(seed, plain)]:
        value = _check_tensor(student.encode(text, dict(vocab), max_len=max_len), f"encode({text!r})", torch.long)
        ids.append(as_array(value, f"encode({text!r})", ndim=1))
    return {"ids": ids}  # a list of arrays of different lengths, judged one by one


def dataset(student, texts, labels, vocab_words, max_len, seed=0, plain=False):
    vocab = {word: index for index, word in enumerate(vocab_words)}
    texts, labels = (
        list(texts) + [_drawn_text(seed, plain)],
        list(labels) + [int(np.random.default_rng(seed).integers(0, 2))],
    )
    data = student.SentimentDataset(list(texts), list(labels), vocab, max_len)
    items = []
    for index in range(len(texts)):
        item = unpack(data[index], f"SentimentDataset[{index}]", ("ids", "label"))
        ids = _check_tensor(item[0], f"the ids of SentimentDataset[{index}]", torch.long)
        label = _check_label(item[1], f"the label of SentimentDataset[{index}]")
        items.append({"ids": as_array(ids, "ids", ndim=1).tolist(), "label": as_number(label, "label")})
    return {"length": len(data), "items": items}


def collate(student, sequences, labels, seed=0):
    rng = np.random.default_rng(seed)
    sequences = list(sequences) + [[int(i) for i in rng.integers(2, 30, int(rng.integers(1, 6)))]]
    labels = list(labels) + [int(rng.integers(0, 2))]
    batch = [(torch.tensor(ids, dtype=torch.long), torch.tensor(label)) for ids, label in zip(sequences, labels)]
    padded, lengths, label_tensor = unpack(
        student.collate_fn(batch), "collate_fn(batch)", ("padded", "lengths", "labels")
    )
    _check_tensor(padded, "padded", torch.long)
    _check_tensor(lengths, "lengths", torch.long)
    _check_label(label_tensor, "labels")
    result = {
        "padded": as_array(padded, "padded", ndim=2),
        "lengths": as_array(lengths, "lengths", ndim=1),
        "labels": as_array(label_tensor, "labels", ndim=1),
    }
    return {**_in_batch_order(result, sequences, labels), "lengths_device": str(lengths.device)}


def _in_batch_order(result, sequences, labels):
    """collate_fn's rows put back in the batch's order, where they are the batch's rows moved together
    (sorted longest first, as pack_padded_sequence with enforce_sorted=True wants): the handout does
    not fix the order, and the rows still say which sentence is which. Anything else is left as it is."""
    padded, lengths, tensor_labels = result["padded"], result["lengths"], result["labels"]
    rows = len(sequences)
    if not (padded.ndim == 2 and padded.shape[0] == len(lengths) == len(tensor_labels) == rows):
        return result
    order, free = [], set(range(rows))
    for ids, label in zip(sequences, labels):
        match = next(
            (
                row
                for row in sorted(free)
                if int(lengths[row]) == len(ids) <= padded.shape[1]
                and list(padded[row, : len(ids)]) == list(ids)
                and tensor_labels[row] == label
            ),
            None,
        )
        if match is None:
            return result
        order.append(match)
        free.discard(match)
    return {name: value[order] for name, value in result.items()}


# ------------------------------------------------------------------------------------------- model


def forward(student, vocab, emb, hidden, layers, classes, bidirectional, batch, max_len, seed):
    """Logits in eval mode with the probe's weights, on a batch sorted longest first."""
    model = build_classifier(student, vocab, emb, hidden, layers, classes, bidirectional, seed)
    padded, lengths = random_batch(seed, batch, vocab, max_len)
    return {"logits": logits_of(model, padded, lengths)}


def padding_invariance(student, vocab, emb, hidden, layers, classes, bidirectional, batch, max_len, extra, seed):
    """The same sentences padded otherwise: in one batch, and each alone with `extra` padding columns
    after its last word. Packing makes the logits identical; a model that reads padding does not, nor
    one that only cuts the batch to its longest sentence.

    Two sets of sentences, presented in opposite orders: the first batch before its sentences alone,
    then the second set's sentences alone (shortest first) before their batch, which is wider (padded
    past its longest sentence by 1 to 3 columns drawn from the seed). A model that remembers what it was
    shown cannot make both agree: padding the sentences alone to a width it has seen fails the second
    set, and answering a batch from the sentences it saw alone fails the first (hostile-student rounds
    found each, when the probe had one order)."""
    model = build_classifier(student, vocab, emb, hidden, layers, classes, bidirectional, seed)
    first, first_lengths = random_batch(seed, batch, vocab, max_len)
    past = int(np.random.default_rng(seed + 7).integers(1, 4))
    second, second_lengths = random_batch(seed + 1, batch, vocab, max_len, extra=past)
    together = [logits_of(model, first, first_lengths)]
    alone = {}
    for row in range(batch):
        alone[(0, row)] = logits_of(model, _alone(first, first_lengths, row, extra), first_lengths[row : row + 1])
    for row in reversed(range(batch)):  # shortest first (the batch is sorted longest first)
        alone[(1, row)] = logits_of(model, _alone(second, second_lengths, row, extra), second_lengths[row : row + 1])
    together.append(logits_of(model, second, second_lengths))
    order = [(part, row) for part in (0, 1) for row in range(batch)]
    return {"logits": np.concatenate(together), "logits_extra_padding": np.concatenate([alone[key] for key in order])}


def _alone(padded, lengths, row, extra):
    """Sentence ``row`` of a padded batch, alone, with ``extra`` padding columns after its last word."""
    length = int(lengths[row])
    single = torch.zeros((1, length + extra), dtype=padded.dtype)
    single[0, :length] = padded[row, :length]
    return single


def batch_order(student, vocab, emb, hidden, layers, classes, bidirectional, batch, max_len, seed):
    """An unsorted batch, and the same batch in another order (logits put back in the first order)."""
    model = build_classifier(student, vocab, emb, hidden, layers, classes, bidirectional, seed)
    padded, lengths = random_batch(seed, batch, vocab, max_len, sort=False)
    order = torch.from_numpy(np.random.default_rng(seed).permutation(batch))
    shuffled = logits_of(model, padded[order], lengths[order])
    back = np.empty_like(shuffled)
    back[order.numpy()] = shuffled
    return {"logits": logits_of(model, padded, lengths), "logits_reordered": back}


def lengths_on_device(student, vocab, emb, hidden, layers, classes, bidirectional, batch, max_len, seed):
    """Model and ids on the grading device, lengths once on that device and once on the CPU.

    pack_padded_sequence wants the lengths on the CPU; forward must accept them from either side.
    """
    model = build_classifier(student, vocab, emb, hidden, layers, classes, bidirectional, seed)
    padded, lengths = random_batch(seed, batch, vocab, max_len, sort=False)
    return {
        "lengths_on_device": logits_of(model, padded, lengths.to(torch_device())),
        "lengths_on_cpu": logits_of(model, padded, lengths),
    }


# --------------------------------------------------------------------- train_epoch and evaluate


class MeanOfEmbeddings(nn.Module):
    """A small stand-in model with the classifier's interface: mean of the word vectors, dropout, linear.

    Its scores are negated in training mode, so the mode a student's train_epoch or evaluate sets
    shows in what it returns (dropout alone may change no prediction of a small batch)."""

    def __init__(self, vocab, emb, classes, dropout):
        super().__init__()
        self.embedding = nn.Embedding(vocab, emb, padding_idx=PAD_ID)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(emb, classes)

    def forward(self, x, lengths):
        mask = (torch.arange(x.shape[1], device=x.device)[None, :] < lengths.to(x.device)[:, None]).float()
        mean = (self.embedding(x) * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        scores = self.fc(self.dropout(mean))
        return -scores if self.training else scores


def stand_in_model(vocab, emb, classes, dropout, seed):
    model = MeanOfEmbeddings(vocab, emb, classes, dropout)
    shapes = {name: tuple(value.shape) for name, value in model.state_dict().items()}
    model.load_state_dict(make_weights(seed, shapes, scale=1.0))
    return model.to(torch_device())


def stand_in_batches(seed, sizes, vocab, max_len, classes):
    """(padded, lengths, labels) batches of the given sizes on the CPU, each padded to its longest."""
    generator = torch.Generator().manual_seed(seed + 31)
    batches = []
    for number, size in enumerate(sizes):
        padded, lengths = random_batch(seed + number, size, vocab, max_len, sort=False)
        batches.append((padded, lengths, torch.randint(0, classes, (size,), generator=generator)))
    return batches


def _padded_batch(items, width):
    ids, labels = zip(*items)
    padded = torch.full((len(ids), width), PAD_ID, dtype=torch.long)
    for row, sentence in enumerate(ids):
        padded[row, : len(sentence)] = sentence
    return padded, torch.tensor([len(sentence) for sentence in ids]), torch.stack(labels)


def as_loader(batches):
    """The batches as a DataLoader gives them, in order: its dataset holds the sentences (ids, label),
    so ``len(loader.dataset)``, ``len(loader)`` and iterating twice all work as on the handout's."""
    sentences, groups = [], []
    for padded, lengths, labels in batches:
        groups.append(list(range(len(sentences), len(sentences) + len(labels))))
        sentences += [(row[:length], label) for row, length, label in zip(padded, lengths.tolist(), labels)]
    width = max(padded.shape[1] for padded, _, _ in batches)
    return torch.utils.data.DataLoader(
        sentences, batch_sampler=groups, collate_fn=handed(functools.partial(_padded_batch, width=width))
    )


def train_epoch(student, sizes, vocab, emb, classes, max_len, lr, seed):
    """train_epoch on the stand-in model with SGD: the mean batch loss and the updated weights."""
    model = stand_in_model(vocab, emb, classes, 0.0, seed)
    model.eval()  # train_epoch must switch to training mode itself
    loader = as_loader(stand_in_batches(seed, sizes, vocab, max_len, classes))
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    loss = student.train_epoch(model, loader, optimizer, nn.CrossEntropyLoss(), torch_device())
    return {
        "loss": as_number(loss, "the value returned by train_epoch"),
        "weights": trained_weights(model, "the model given to train_epoch"),
    }


def _mostly_learnt(model, batches, seed, share=0.75):
    """Labels that agree with the model's eval-mode predictions on about ``share`` of the sentences:
    a right evaluate then finds an accuracy far from chance (and from the training mode's)."""
    rng = np.random.default_rng(seed + 77)
    model.eval()
    relabelled = []
    with torch.no_grad():
        for padded, lengths, labels in batches:
            predicted = model(padded.to(torch_device()), lengths).argmax(dim=1).cpu()
            keep = torch.from_numpy(rng.random(len(labels)) < share)
            relabelled.append((padded, lengths, torch.where(keep, predicted, labels)))
    return relabelled


def evaluate(student, sizes, vocab, emb, classes, max_len, dropout, seed):
    """evaluate on the stand-in model, which has dropout: only eval mode gives a reproducible answer."""
    model = stand_in_model(vocab, emb, classes, dropout, seed)
    loader = as_loader(_mostly_learnt(model, stand_in_batches(seed, sizes, vocab, max_len, classes), seed))
    model.train()  # evaluate must switch to eval mode itself
    accuracy = as_number(student.evaluate(model, loader, torch_device()), "the value returned by evaluate")
    return {"accuracy": accuracy}


# ---------------------------------------------------------------------------------------- training

_trained = {}  # (training arguments, seed) -> (vocab, model, losses, optimizer steps): trained once per process


def train_classifier(student, train_texts, train_labels, epochs, batch_size, lr, emb, hidden, seeds):
    """Train the student's pipeline from scratch once per seed: the loss of every epoch, the trained
    weights and the vocabulary. Held-out sentences never come here: the verifier (verify.py) classifies
    them with the weights, so the student's `evaluate` is never asked how well training went. Each run
    also carries the trained model's replay (:func:`_replay`), which the verifier's must equal: the
    weights count only as the model the student's code runs.

    Everything is the student's: build_vocab, SentimentDataset, collate_fn, SentimentLSTM, train_epoch.
    A second check with the same training reuses the models trained in this process.
    """
    setup = json.dumps([train_texts, train_labels, epochs, batch_size, lr, emb, hidden, str(torch_device())])
    runs = []
    for seed in seeds:
        key = (setup, seed)
        if key not in _trained:
            seed_everything(seed)
            before = optimizer_steps()
            vocab, model, losses = _train_once(
                student, train_texts, train_labels, epochs, batch_size, lr, emb, hidden, seed
            )
            # the weights are read before the steps are: code that writes them as they are read (a
            # state_dict hook) writes them outside the steps, and steps_since sees it
            weights = trained_weights(model, "SentimentLSTM")
            _trained[key] = (vocab, model, losses, weights, steps_since(before), how_written())
        vocab, model, losses, weights, steps, written = _trained[key]
        ids = _vocab_ids(vocab)
        # the replay draws ids among the embedding's rows (as verify.py does): the vocabulary's size is
        # the student's to report, and a vocabulary of 0 words once drew id -1 on the verifier's side
        rows = np.shape(weights["embedding.weight"])[0] if "embedding.weight" in weights else len(ids)
        replayed = _replay(model, rows)
        runs.append(
            {"losses": losses, "weights": weights, "vocab": ids, "replay": replayed, "steps": steps, "written": written}
        )
    return {"runs": runs}


def replay_batch(rows):
    """The batch a trained model is replayed on (fixed; verify.py draws the same): padded ids of
    random words among the model's ``rows`` embedding rows (never the padding id), unsorted lengths."""
    rng = np.random.default_rng(20240613)
    lengths = np.array([7, 1, 4, 9, 2, 5])
    ids = 1 + np.minimum((rng.random((6, 9)) * (rows - 1)).astype(np.int64), rows - 2)
    ids[np.arange(9)[None, :] >= lengths[:, None]] = PAD_ID
    return ids, lengths


def _replay(model, rows):
    """The trained model's own logits on the replay batch (in training mode, its dropout off:
    probe_api.as_in_training), and how they depend on each parameter (probe_api.replay_sensitivity):
    what the verifier recomputes from the weights and the vocabulary's size in the specified
    architecture."""
    if rows < 2:
        raise ProbeFailure(
            f"your trained embedding has {rows} rows: it needs one for <pad>, one for <unk> and one per word"
        )
    ids, lengths = replay_batch(rows)
    with as_in_training(model):
        return _replayed(model, ids, lengths)


def _replayed(model, ids, lengths):
    def logits_now():
        logits = model(torch.tensor(ids, device=torch_device()), torch.tensor(lengths))
        _check_tensor(logits, "the logits of your trained SentimentLSTM")
        return logits

    logits = logits_now()
    outputs = as_array(logits, "the logits of your trained SentimentLSTM")
    return {"outputs": outputs, **replay_sensitivity(model, logits, logits_now)}


def _is_id(index):
    """An integer id: a Python int or a numpy integer (an np.argsort-built vocabulary works in torch as
    well), never a bool."""
    return isinstance(index, (int, np.integer)) and not isinstance(index, (bool, np.bool_))


def _vocab_ids(vocab):
    """The vocabulary as plain data (word -> id), checked so that the verifier can encode with it."""
    if not isinstance(vocab, dict) or not all(isinstance(word, str) and _is_id(index) for word, index in vocab.items()):
        raise ProbeFailure("build_vocab must return a dict of words to integer ids")
    return {str(word): int(index) for word, index in vocab.items()}


def _train_once(student, texts, labels, epochs, batch_size, lr, emb, hidden, seed):
    vocab = student.build_vocab(list(texts))
    # The verifier encodes held-out sentences with the vocabulary as build_vocab made it, from the texts
    # alone: a hostile round's SentimentDataset, the first code to see the labels, rewrote the dict in
    # place (each made-up word to the row of its role in weights prepared offline), so the vocabulary
    # read after training carried what the labels told (94.68 where the work earns 68.09, unflagged).
    built = _vocab_ids(vocab)
    model = student.SentimentLSTM(len(vocab), emb, hidden, 1, 2, dropout=0.0, bidirectional=True)
    model = model.to(torch_device())
    # Watched from here, before the student's code sees the labels (a hostile round's SentimentDataset
    # trained a copy by hand on them and wrote it into the model before the watch began: 94.68 where
    # the work earns 68.09).
    optimizer = training_with(torch.optim.Adam(model.parameters(), lr=lr), model)
    loader = torch.utils.data.DataLoader(
        student.SentimentDataset(list(texts), list(labels), vocab),
        batch_size=batch_size,
        shuffle=True,
        collate_fn=student.collate_fn,
        generator=torch.Generator().manual_seed(seed),
    )
    criterion = nn.CrossEntropyLoss()
    losses = [
        as_number(
            student.train_epoch(model, loader, optimizer, criterion, torch_device()),
            f"the value returned by train_epoch (epoch {epoch + 1})",
        )
        for epoch in range(epochs)
    ]
    return built, model, losses
