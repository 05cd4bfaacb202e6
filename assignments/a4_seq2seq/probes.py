"""Probes of a4_seq2seq: they run inside the sandbox, call the student's `seq2seq` module and return
plain data. The same probes run on the reference solution to produce the expected data.

Models are built from the student's classes, then given weights drawn here from a seeded generator
(by the documented parameter names), so the student and the reference compute with the same numbers
whatever their own initialisation. Models and tensors live on `probe_api.torch_device()`.
"""

import random

import numpy as np
import torch
from torch import nn

from grader.inside.probe_api import (
    ProbeFailure,
    as_array,
    as_in_training,
    as_number,
    drawn_words,
    handed,
    how_written,
    load_weights,
    names_as_loaded,
    names_replaced,
    optimizer_steps,
    recurrent_weight_shapes,
    replay_sensitivity,
    steps_since,
    torch_device,
    trained_weights,
    training_with,
    uniform_weights,
    unpack,
)

VOCAB = 29  # len(LETTERS)
SOS, EOS, PAD = 0, 1, 2
LETTERS = "SE?abcdefghijklmnopqrstuvwxyz"


# ------------------------------------------------------------------------------------------- weights


def seq2seq_shapes(emb, hidden, layers):
    """Every parameter of Seq2Seq(Encoder(...), Decoder(...)) by its documented name."""
    return {
        "encoder.embedding.weight": (VOCAB, emb),
        **recurrent_weight_shapes(emb, hidden, num_layers=layers, gates=4, prefix="encoder.lstm"),
        "decoder.embedding.weight": (VOCAB, emb),
        **recurrent_weight_shapes(emb, hidden, num_layers=layers, gates=4, prefix="decoder.lstm"),
        "decoder.fc.weight": (VOCAB, hidden),
        "decoder.fc.bias": (VOCAB,),
    }


def make_weights(seed, shapes, scale=1.0):
    """Uniform(-scale, scale) weights from a generator of their own (the global seed stays untouched)."""
    return uniform_weights(shapes, scale=scale, generator=seed)


def build_model(student, emb, hidden, layers, seed, scale=1.0):
    """The student's Seq2Seq with the probe's weights, on the grading device."""
    encoder = student.Encoder(VOCAB, emb, hidden, num_layers=layers)
    decoder = student.Decoder(VOCAB, emb, hidden, num_layers=layers)
    model = student.Seq2Seq(encoder, decoder)
    if not isinstance(model, nn.Module):
        raise ProbeFailure("Seq2Seq must be a torch.nn.Module (class Seq2Seq(nn.Module))")
    load_weights(model, make_weights(seed, seq2seq_shapes(emb, hidden, layers), scale), "Seq2Seq")
    return model.to(torch_device())


def with_stand_ins(model, emb, hidden, layers, seed, boost=0.0):
    """The student's Seq2Seq with the grader's own encoder and decoder computations in place of theirs
    (not an LSTM: a few fixed tables drawn from the seed), so that Seq2Seq.forward, greedy_decode and
    translate are judged on their own logic, not again on the student's Encoder and Decoder, whose own
    checks judge them. The stand-ins keep the documented interface: encoder(src) -> (outputs, hidden,
    cell), decoder(token, hidden, cell) -> (logits (B, 1, V), hidden, cell), and the next scores depend
    on the token fed, the hidden state and the cell, so a loop that feeds or carries the wrong thing shows."""
    device = torch_device()
    generator = torch.Generator().manual_seed(seed + 7919)

    def table(*shape, scale=1.5):
        return ((torch.rand(*shape, generator=generator) * 2 - 1) * scale).to(device)

    encode_h, encode_c, decode_in = table(VOCAB, layers, hidden), table(VOCAB, layers, hidden), table(VOCAB, hidden)
    recur, mix = table(hidden, hidden, scale=2.5 / hidden**0.5), table(hidden, hidden, scale=1.5 / hidden**0.5)
    read, bias = table(hidden, VOCAB, scale=6.0 / hidden**0.5), table(VOCAB, scale=0.5)
    bias[EOS] += boost
    bias[PAD] += boost

    def encoder(src):
        steps = torch.arange(1, src.shape[1] + 1, device=device).view(1, -1, 1, 1)
        hidden_state = torch.tanh((encode_h[src] * steps).sum(dim=1) / steps.sum()).transpose(0, 1).contiguous()
        cell = torch.tanh(encode_c[src].sum(dim=1) * 0.7).transpose(0, 1).contiguous()  # (layers, B, H)
        return hidden_state[-1].unsqueeze(1).expand(-1, src.shape[1], -1), hidden_state, cell

    def decoder(token, hidden_state, cell):
        """Every column of ``token`` in turn, as an LSTM reads a sequence: (B, T) -> logits (B, T, V)."""
        scores = []
        for column in range(token.shape[1]):
            fed = decode_in[token[:, column]]  # (B, H)
            hidden_state = torch.tanh(hidden_state @ recur + fed + 0.7 * cell)
            cell = torch.tanh(0.5 * cell + hidden_state @ mix)
            scores.append((hidden_state[-1] + 0.5 * cell[-1]) @ read + bias)
        return torch.stack(scores, dim=1), hidden_state, cell

    model.encoder.forward = handed(encoder)
    model.decoder.forward = handed(decoder)
    return model


def _model(student, emb, hidden, layers, seed, scale, stand_ins, boost=0.0):
    """The student's Seq2Seq with the probe's weights, or on the grader's stand-ins (no weights needed)."""
    if not stand_ins:
        return build_model(student, emb, hidden, layers, seed, scale)
    encoder = student.Encoder(VOCAB, emb, hidden, num_layers=layers)
    decoder = student.Decoder(VOCAB, emb, hidden, num_layers=layers)
    model = student.Seq2Seq(encoder, decoder).to(torch_device())
    return with_stand_ins(model, emb, hidden, layers, seed, boost)


def random_ids(seed, batch, length, low=3):
    """Token ids of random letters (no S/E/?), from a generator of their own."""
    generator = torch.Generator().manual_seed(seed + 104729)
    return torch.randint(low, VOCAB, (batch, length), generator=generator)


def random_trg(seed, batch, trg_len):
    trg = random_ids(seed + 1, batch, trg_len)
    trg[:, 0] = SOS
    trg[:, -1] = EOS
    return trg


def padded_trg(seed, batch, trg_len):
    """Targets as make_batch builds them: S, a word, `?` up to the word's place, E; the first row unpadded.
    The padding is part of what the model learns to predict (it reaches E through it), so a loss that
    leaves it out (``ignore_index``) shows in train_step, not only in the training checks' outcome."""
    trg = random_trg(seed, batch, trg_len)
    words = np.random.default_rng(seed + 3).integers(1, max(trg_len - 1, 2), batch)
    words[0] = trg_len - 2
    for row, letters in enumerate(words):
        trg[row, 1 + int(letters) : -1] = PAD
    return trg


# ---------------------------------------------------------------------------------------------- probes


def make_batch(student, pairs, n_step, seed=0):
    """make_batch of the given pairs and one drawn from the seed (no longer than n_step)."""
    pairs = [tuple(pair) for pair in pairs] + [tuple(drawn_words(seed, LETTERS[3:], 2, 1, n_step))]
    src, trg = unpack(student.make_batch(pairs, n_step), "make_batch(...)", ("src", "trg"))
    result = {}
    for name, value in (("src", src), ("trg", trg)):
        if not isinstance(value, torch.Tensor):
            raise ProbeFailure(f"{name} returned by make_batch is a {type(value).__name__}; a LongTensor was expected")
        result[name] = as_array(value, f"{name} returned by make_batch", ndim=2)
        result[f"{name}_dtype"] = str(value.dtype)
    return result


def encoder(student, emb, hidden, layers, batch, length, seed):
    """Encoder alone, with the Seq2Seq's encoder weights."""
    model = student.Encoder(VOCAB, emb, hidden, num_layers=layers)
    shapes = {
        name[len("encoder.") :]: shape
        for name, shape in seq2seq_shapes(emb, hidden, layers).items()
        if name.startswith("encoder.")
    }
    load_weights(model, make_weights(seed, shapes), "Encoder")
    model = model.to(torch_device()).eval()
    with torch.no_grad():
        result = model(random_ids(seed, batch, length).to(torch_device()))
    outputs, hidden_state, cell = unpack(result, "Encoder.forward(src)", ("outputs", "hidden", "cell"))
    return {
        "outputs": as_array(outputs, "outputs of Encoder.forward", ndim=3),
        "hidden": as_array(hidden_state, "hidden of Encoder.forward", ndim=3),
        "cell": as_array(cell, "cell of Encoder.forward", ndim=3),
    }


def decoder(student, emb, hidden, layers, batch, seed):
    """One decoder step from a random state."""
    model = student.Decoder(VOCAB, emb, hidden, num_layers=layers)
    shapes = {
        name[len("decoder.") :]: shape
        for name, shape in seq2seq_shapes(emb, hidden, layers).items()
        if name.startswith("decoder.")
    }
    load_weights(model, make_weights(seed, shapes), "Decoder")
    model = model.to(torch_device()).eval()
    generator = torch.Generator().manual_seed(seed + 3)
    state = [torch.randn(layers, batch, hidden, generator=generator).to(torch_device()) for _ in range(2)]
    token = random_ids(seed, batch, 1).to(torch_device())
    with torch.no_grad():
        result = model(token, state[0], state[1])
    logits, hidden_state, cell = unpack(result, "Decoder.forward(token, hidden, cell)", ("logits", "hidden", "cell"))
    return {
        "logits": as_array(logits, "logits of Decoder.forward", ndim=3),
        "hidden": as_array(hidden_state, "hidden of Decoder.forward", ndim=3),
        "cell": as_array(cell, "cell of Decoder.forward", ndim=3),
    }


def forward(student, emb, hidden, layers, batch, src_len, trg_len, ratio, seed, scale=1.5, stand_ins=False):
    """Seq2Seq.forward at a given teacher_forcing_ratio (1.0 and 0.0 are deterministic); with
    ``stand_ins``, on the grader's encoder and decoder (with_stand_ins)."""
    model = _model(student, emb, hidden, layers, seed, scale, stand_ins).eval()
    src = random_ids(seed, batch, src_len).to(torch_device())
    trg = random_trg(seed, batch, trg_len).to(torch_device())
    with torch.no_grad():
        outputs = model(src, trg, teacher_forcing_ratio=ratio)
    return {"outputs": as_array(outputs, "outputs of Seq2Seq.forward", ndim=3), "_time_axes": {"outputs": 1}}


def greedy_decode(student, emb, hidden, layers, batch, src_len, max_len, seed, scale=2.5, stand_ins=False):
    """Large weights (scale) make the guesses vary from step to step and from word to word."""
    model = _model(student, emb, hidden, layers, seed, scale, stand_ins).eval()
    src = random_ids(seed, batch, src_len).to(torch_device())
    tokens = student.greedy_decode(model, src, max_len)
    if not isinstance(tokens, torch.Tensor):
        raise ProbeFailure(f"greedy_decode returned a {type(tokens).__name__}; a LongTensor was expected")
    return {
        "tokens": as_array(tokens, "the tokens returned by greedy_decode", ndim=2),
        "dtype": str(tokens.dtype),
        "_time_axes": {"tokens": 1},
    }


# translate judged on its own: stand-ins for the make_batch and greedy_decode it calls (theirs have checks
# of their own). Not the handout's functions (the probes ship to students): ids scrambled from the
# letters, and guesses drawn from the source ids that hold letters, E, ? and S, so that where translate
# stops, what it drops and how it spells show as they are.
STAND_IN_GUESSES = [LETTERS.index(c) for c in "hb?ola?Eqz?xEmSn"]


def stand_in_make_batch(pairs, n_step):
    src = [
        [(LETTERS.index(c) * 7 + i) % 26 + 3 for i, c in enumerate(word.ljust(n_step, "?"))] + [EOS]
        for word, _ in pairs
    ]
    trg = [[SOS] + [LETTERS.index(c) for c in target.ljust(n_step, "?")] + [EOS] for _, target in pairs]
    return torch.tensor(src, dtype=torch.long), torch.tensor(trg, dtype=torch.long)


def stand_in_greedy_decode(model, src, max_len):
    """Guesses from the source ids and from the model's weights (drawn from the check's seed, so that an
    answer shipped with the student copy answers nothing in official grading)."""
    bias = getattr(getattr(getattr(model, "decoder", None), "fc", None), "bias", None)
    shift = int(torch.argmax(bias.detach())) if isinstance(bias, torch.Tensor) and bias.numel() else 0
    start = (src.long().sum(dim=1, keepdim=True) + shift) % len(STAND_IN_GUESSES)  # (B, 1)
    steps = torch.arange(max_len, device=src.device).view(1, -1)
    table = torch.tensor(STAND_IN_GUESSES, device=src.device)
    return table[(start + steps) % len(STAND_IN_GUESSES)]


def translate(student, words, n_step, emb, hidden, seed, scale, boost, stand_ins=False, helpers_stand_in=False):
    """translate() with the probe's weights; `boost` raises the scores of E and ? so both appear. With
    ``helpers_stand_in``, the module's make_batch and greedy_decode are the grader's stand-ins during the
    calls: translate is then judged on its own logic (theirs have checks of their own)."""
    model = _model(student, emb, hidden, 1, seed, scale, stand_ins, boost).eval()
    if not stand_ins:
        with torch.no_grad():
            model.decoder.fc.bias[EOS] += boost
            model.decoder.fc.bias[PAD] += boost
    helpers = {"make_batch": stand_in_make_batch, "greedy_decode": stand_in_greedy_decode} if helpers_stand_in else {}
    with names_replaced(student, **helpers):
        return {"translations": _translations(student, model, words, n_step)}


def _translations(student, model, words, n_step):
    translations = {}  # by word, so that a message names the word
    for word in words:
        text = student.translate(model, word, n_step)
        if type(text) is not str:
            raise ProbeFailure(f"translate returned a {type(text).__name__}; a str was expected")
        # The handout says nothing of S inside a translation: keeping it and dropping it are both right.
        translations[word] = text.replace(LETTERS[SOS], "")
    return translations


def _stand_in_forward(model):
    """A forward for judging train_step on its own, where the student's Seq2Seq.forward differs (its
    checks charge that): not the handout's loop (the probes ship to students), but scores (B, trg_len,
    V) from the model's two embeddings, differentiable, that depend on src, on trg and on the ratio
    (scaled by 1 + ratio), so that train_step's loss over positions 1.., clipping, zero_grad and step
    show as they are. The reference's train_step runs on the same stand-in."""
    encoder_rows, decoder_rows = model.encoder.embedding.weight, model.decoder.embedding.weight

    def forward(src, trg, teacher_forcing_ratio=0.5):
        context = encoder_rows[src].mean(dim=1, keepdim=True)  # (B, 1, emb)
        scores = torch.tanh(encoder_rows[trg[:, :-1]] + context) @ decoder_rows.T  # (B, trg_len - 1, V)
        first = torch.zeros(trg.shape[0], 1, scores.shape[-1], device=trg.device)
        return torch.cat([first, scores * (1.0 + teacher_forcing_ratio)], dim=1)

    model.forward = handed(forward)
    return model


def train_step(
    student, emb, hidden, layers, batch, src_len, trg_len, ratio, clip, lr, steps, seed, stand_in_forward=False
):
    """A few train_step calls with plain SGD (under Adam, clipping would barely show in one step); with
    ``stand_in_forward``, on a model whose forward is the grader's stand-in (_stand_in_forward)."""
    model = build_model(student, emb, hidden, layers, seed)
    if stand_in_forward:
        _stand_in_forward(model)
    src = random_ids(seed, batch, src_len).to(torch_device())
    trg = padded_trg(seed, batch, trg_len).to(torch_device())
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    criterion = nn.CrossEntropyLoss()
    losses = []
    for step in range(steps):
        loss = student.train_step(model, src, trg, optimizer, criterion, teacher_forcing_ratio=ratio, clip=clip)
        losses.append(as_number(loss, f"the loss returned by train_step (step {step + 1})"))
    return {"losses": losses, "weights": _as_specified(model, trained_weights(model, "Seq2Seq"), emb, hidden, layers)}


def _as_specified(model, weights, emb, hidden, layers):
    """The weights under the specified architecture's names, where the student's model names them
    otherwise (build_model loaded them by position: a teacher round's Decoder of nn.LSTMCell layers
    lost every train_step check, 14 points, to names alone)."""
    shapes = seq2seq_shapes(emb, hidden, layers)
    pairs = names_as_loaded(model, {name: np.zeros(shape, dtype=np.float32) for name, shape in shapes.items()})
    return weights if pairs is None else {pairs.get(name, name): value for name, value in weights.items()}


def make_batches(student, pairs, n_step, batch_size):
    """make_batch of the pairs, batch by batch: asked of the reference, for the training checks to train
    on (train_pairs's ``batches``), so that a mistake of the student's make_batch is charged by its own
    checks, not again by the training (a teacher round: "E, then padding" lost the training too)."""
    batches = []
    for start in range(0, len(pairs), batch_size):
        src, trg = unpack(
            student.make_batch([tuple(p) for p in pairs[start : start + batch_size]], n_step),
            "make_batch(...)",
            ("src", "trg"),
        )
        batches.append([as_array(src, "src"), as_array(trg, "trg")])
    return {"batches": batches}


def train_pairs(student, pairs, n_step, emb, hidden, lr, epochs, batch_size, ratio, seeds, batches=None):
    """Train from scratch once per seed with the student's own code: the loss of every epoch and the
    trained weights; on ``batches`` (the reference's make_batch of the pairs, see make_batches) where
    the check gives them, else on the student's make_batch of the pairs. The words to translate never come here: the verifier (verify.py) translates
    them with the weights, so what the student's `translate` would say is never asked. Each run also
    carries the trained model's replay (:func:`_replay`), which the verifier's must equal: the weights
    count only as the model the student's code runs.

    Each seed seeds random, numpy and torch before the model is built, so a student who builds the
    layers in the documented order starts from the reference's initial weights. Pairs are shuffled by
    a generator of the probe's own, so teacher forcing's draws from `random` are the student's alone.
    """
    given = None
    if batches is not None:
        given = [
            (torch.as_tensor(np.asarray(src), dtype=torch.long), torch.as_tensor(np.asarray(trg), dtype=torch.long))
            for src, trg in batches
        ]
    runs = []
    for seed in seeds:
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        before = optimizer_steps()
        run = _train_once(
            student, [tuple(p) for p in pairs], n_step, emb, hidden, lr, epochs, batch_size, ratio, seed, given
        )
        runs.append({**run, "steps": steps_since(before), "written": how_written()})
    return {"runs": runs}


def replay_batch():
    """The batch a trained model is replayed on (fixed; verify.py draws the same): source words of
    random letters ending in E, and targets starting with S. Inputs only: teacher forcing feeds trg."""
    rng = np.random.default_rng(20240613)
    src = rng.integers(3, VOCAB, (6, 6))
    src[:, -1] = EOS
    trg = rng.integers(3, VOCAB, (6, 7))
    trg[:, 0] = SOS
    return src, trg


def _replay(model):
    """The trained model's own scores on the replay batch, its encoder then its decoder fed trg[:, t-1]
    at step t, and how they depend on each parameter (probe_api.replay_sensitivity): what the verifier
    recomputes from the weights in the specified architecture. The loop is the grader's, as the
    verifier's decoding is: the weights are judged as the encoder and decoder the student's code
    runs, while a mistake in Seq2Seq.forward's teacher forcing costs only the checks of forward. In
    training mode, its dropout off (probe_api.as_in_training): the forward its training ran."""
    with as_in_training(model):
        return _replayed(model)


def _state_flattened(result):
    """``(x, (hidden, cell))``, torch's own LSTM form, as ``(x, hidden, cell)``; anything else as it is.
    test_encoder and test_decoder charge the form; the training is judged as the student's code runs it
    (a fairness round's encoder, and another's decoder, returning torch's form trained every pair and
    lost both training checks, 26 points)."""
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], tuple) and len(result[1]) == 2:
        return (result[0], *result[1])
    return result


def _replayed(model):
    tokens = {"shape": "(B, 1)"}

    def scores_now():
        src, trg = (torch.tensor(a, dtype=torch.long, device=torch_device()) for a in replay_batch())
        encoded = _state_flattened(model.encoder(src))
        _, hidden, cell = unpack(encoded, "Encoder.forward(src)", ("outputs", "hidden", "cell"))
        steps = []
        for t in range(1, trg.shape[1]):
            token = trg[:, t - 1 : t] if tokens["shape"] == "(B, 1)" else trg[:, t - 1]
            logits, hidden, cell = unpack(
                _state_flattened(model.decoder(token, hidden, cell)),
                "Decoder.forward(...)",
                ("logits", "hidden", "cell"),
            )
            if isinstance(logits, torch.Tensor) and logits.dim() == 2:
                logits = logits[:, None]  # (B, vocab_size): test_decoder charges the shape, not the training
            if not isinstance(logits, torch.Tensor) or logits.dim() != 3:
                raise ProbeFailure("Decoder.forward must return logits (B, 1, vocab_size), then hidden and cell")
            steps.append(logits[:, 0])
        return torch.stack(steps, dim=1)

    try:
        scores = scores_now()
    except Exception:
        # A decoder written for tokens of shape (B,), which unsqueezes them itself (as many tutorials'
        # do), fails on (B, 1): test_decoder charges the shape, the training is judged as its code runs
        # (a teacher round's such decoder learned every pair and lost both training checks).
        tokens["shape"] = "(B,)"
        try:
            scores = scores_now()
        except Exception:
            tokens["shape"] = "(B, 1)"
            scores = scores_now()  # the failure the specified shape gets
    outputs = as_array(scores, "the scores of your trained Seq2Seq")
    return {"outputs": outputs, **replay_sensitivity(model, scores, scores_now)}


def _train_once(student, pairs, n_step, emb, hidden, lr, epochs, batch_size, ratio, seed, given=None):
    model = student.Seq2Seq(student.Encoder(VOCAB, emb, hidden), student.Decoder(VOCAB, emb, hidden))
    model = model.to(torch_device())
    optimizer = training_with(torch.optim.Adam(model.parameters(), lr=lr), model)
    criterion = nn.CrossEntropyLoss()
    order = random.Random(seed + 1_000_003)
    if given is None:
        given = [
            unpack(student.make_batch(pairs[start : start + batch_size], n_step), "make_batch(...)", ("src", "trg"))
            for start in range(0, len(pairs), batch_size)
        ]
    batches = [(src.to(torch_device()), trg.to(torch_device())) for src, trg in given]
    losses = []
    for epoch in range(epochs):
        order.shuffle(batches)
        epoch_losses = [
            as_number(
                student.train_step(model, src, trg, optimizer, criterion, ratio),
                f"the loss returned by train_step (epoch {epoch + 1})",
            )
            for src, trg in batches
        ]
        losses.append(float(np.mean(epoch_losses)))
    weights = trained_weights(model, "Seq2Seq")
    return {"losses": losses, "weights": weights, "replay": _replay(model)}
