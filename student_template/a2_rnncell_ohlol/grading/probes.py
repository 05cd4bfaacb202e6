"""Probes of assignment a2: they run inside the sandbox next to the student's `ohlol` module and
return plain data; the same probes on the reference solution give the expected data.

The training probes build their inputs themselves (not with the student's `encode`/`one_hot`) and
decode the trained model themselves (not with the student's `predict`), so a mistake in one part
costs only the checks of that part. Everything lives on `torch_device()`; results come back on the CPU.
"""

import numpy as np
import torch

from grader.inside.probe_api import (
    ProbeFailure,
    as_array,
    as_in_training,
    drawn_words,
    handed,
    how_written,
    load_weights,
    optimizer_steps,
    recurrent_weight_shapes,
    replay_sensitivity,
    seed_everything,
    started_from,
    steps_since,
    torch_device,
    trained_weights,
    training_of,
    uniform_weights,
)

LETTERS = "ehlo"  # IDX2CHAR of the assignment, in order


# -- building blocks ------------------------------------------------------------------------------


def _codes(word):
    return [LETTERS.index(char) for char in word]


def _one_hot(word):
    """The probe's own encoding of a word: (T, 1, 4) float32 on the grading device."""
    return torch.eye(4)[_codes(word)].view(len(word), 1, 4).to(torch_device())


def _labels(word):
    return torch.tensor(_codes(word), dtype=torch.long).view(-1, 1).to(torch_device())


def _build(student, input_size=4, hidden_size=4, batch_size=1):
    model = student.Model(input_size=input_size, hidden_size=hidden_size, batch_size=batch_size)
    if not isinstance(model, torch.nn.Module):
        raise ProbeFailure(f"Model(...) is a {type(model).__name__}, not an nn.Module")
    return model.to(torch_device())


def _cell(model):
    cell = getattr(model, "rnncell", None)
    if not isinstance(cell, torch.nn.Module):
        raise ProbeFailure("Model has no `self.rnncell`: the assignment asks for self.rnncell = nn.RNNCell(...)")
    return cell


def _cell_weights(seed, input_size, hidden_size, scale):
    """Weights of an nn.RNNCell(input_size, hidden_size) (nn.RNN's names without the layer suffix),
    drawn from a seeded generator."""
    shapes = recurrent_weight_shapes(input_size, hidden_size)
    return uniform_weights(
        {name.removesuffix("_l0"): shape for name, shape in shapes.items()},
        scale=scale,
        generator=np.random.default_rng(seed),
    )


def _load(model, weights, input_size, hidden_size):
    load_weights(
        _cell(model), weights, f"model.rnncell (nn.RNNCell(input_size={input_size}, hidden_size={hidden_size}))"
    )


def _with_stand_ins(model):
    """The student's Model with the grader's forward and init_hidden in place of its own (what the
    handout specifies: one step of its self.rnncell; zeros of (1, hidden_size) on its device), so that
    train and predict are judged on their own logic, not again on forward and init_hidden, whose own
    checks judge them. The stand-ins do none of train's or predict's work."""
    cell = _cell(model)
    # The step as the handout specifies it, tanh: a cell built with another nonlinearity (relu, the forward
    # checks' mistake) is stepped with tanh on its own weights (a fairness round's relu cell cost train's
    # loss curves and predict's 15 points too: 20 where the other slips in the model score 55).
    if getattr(cell, "nonlinearity", "tanh") == "tanh":
        model.forward = handed(lambda x_t, hidden: cell(x_t, hidden))
    else:
        model.forward = handed(
            lambda x_t, hidden: torch.rnn_tanh_cell(
                x_t, hidden, cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh
            )
        )
    model.init_hidden = handed(lambda: torch.zeros(1, cell.hidden_size, device=cell.weight_hh.device))
    return model


def _losses(value, epochs):
    """The losses train() returned. A list of another length is returned as it is: the loss-curve checks
    show it, and the trained weights are judged all the same (an epoch too few once cost every training
    check, 50 where a teacher gives 80)."""
    losses = as_array(value, "the list returned by train(...)")
    if losses.ndim != 1 or losses.shape[0] == 0:
        raise ProbeFailure(
            f"train(..., epochs={epochs}) returned {losses.size} numbers in shape {tuple(losses.shape)}; "
            f"it must return a list with the summed loss of each of the {epochs} epochs"
        )
    return losses.astype(np.float64)


def _summed_loss(model, inputs, labels):
    """Cross-entropy summed over the steps for the untrained model (the first epoch's loss)."""
    hidden = torch.zeros(1, 4, device=torch_device())
    total = 0.0
    with torch.no_grad():
        for x_t, label in zip(inputs, labels):
            hidden = model(x_t, hidden)
            total += float(torch.nn.functional.cross_entropy(hidden, label))
    return total


def _train_once(student, source, target, epochs, lr, seed, own_init=True, stand_ins=False):
    """One training run under ``seed``: with the model's own initial weights, or with those of a
    fresh nn.RNNCell drawn under the seed (what the reference's Model starts from), so that a correct
    implementation that draws its weights in another order still reproduces the reference; on the
    grader's forward and init_hidden where ``stand_ins``."""
    seed_everything(seed)
    initial = None if own_init else torch.nn.RNNCell(4, 4).state_dict()
    seed_everything(seed)
    model = _build(student)
    if initial is not None:
        _load(model, initial, 4, 4)
    if stand_ins:
        _with_stand_ins(model)
    inputs, labels = _one_hot(source), _labels(target)
    # Watched from here, before the student's code runs again (its forward, in the initial loss: a
    # hostile round's forward returned a tensor whose __torch_function__ saw the labels there, trained
    # a copy by hand and wrote it in before the watch began, a2 80 where the work earns 50); and from
    # the grader's initial weights, which the student's load_state_dict could have changed.
    training_of(model, lr)  # only steps that move this model count; weights written into it do not
    if initial is not None:
        started_from(_cell(model), initial)
    initial_loss = _summed_loss(model, inputs, labels)
    losses = _losses(student.train(model, inputs, labels, epochs=epochs, lr=lr), epochs)
    return {"losses": losses, "weights": trained_weights(model, "Model"), "initial_loss": initial_loss, "model": model}


def replay_words():
    """The words a trained model is replayed on (fixed; verify.py draws the same): inputs only."""
    rng = np.random.default_rng(20240613)
    return ["".join(rng.choice(list(LETTERS), size=7)) for _ in range(4)]


def _replay(model):
    """The trained model's own hidden states on the replay words (in training mode, its dropout off:
    probe_api.as_in_training), and how they depend on each parameter (probe_api.replay_sensitivity):
    what the verifier recomputes from the weights in the specified architecture."""
    with as_in_training(model):
        return _replayed(model)


def _replayed(model):
    def states_now():
        states = []
        for word in replay_words():
            hidden = torch.zeros(1, 4, device=torch_device())
            for x_t in _one_hot(word):
                hidden = model(x_t, hidden)
                if not isinstance(hidden, torch.Tensor) or tuple(hidden.shape) != (1, 4):
                    raise ProbeFailure("model(x_t, hidden) must return the next hidden state, a tensor of shape (1, 4)")
                states.append(hidden[0])
        return torch.stack(states)

    outputs = states_now()
    states = as_array(outputs, "the hidden states of your trained Model")
    return {"outputs": states, **replay_sensitivity(model, outputs, states_now)}


# -- probes ---------------------------------------------------------------------------------------


def encode_words(student, words, seed=0):
    """encode() of the given words, then of words drawn from the seed."""
    words = list(words) + drawn_words(seed, LETTERS, 2)
    return {"codes": [as_array(student.encode(word), f"encode({word!r})", ndim=1) for word in words]}


def one_hot_of(student, indices, num_classes=4, seed=0):
    """one_hot() of the given indices, then of indices drawn from the seed."""
    drawn = [int(i) for i in np.random.default_rng(seed).integers(0, num_classes, 3)]
    result = {}
    for name, values in (("one_hot", list(indices)), ("one_hot_drawn", drawn)):
        value = student.one_hot(values) if num_classes == 4 else student.one_hot(values, num_classes=num_classes)
        result[name] = as_array(value, f"one_hot({values})")
    return result


def init_hidden(student, input_size, hidden_size, batch_size, seed=0):
    """init_hidden() of a model of the given sizes, then of one of sizes drawn from the seed."""
    hidden_drawn, batch_drawn = (int(n) for n in np.random.default_rng(seed).integers(1, 7, 2))
    result = {}
    for name, sizes in (("init_hidden", (hidden_size, batch_size)), ("init_hidden_drawn", (hidden_drawn, batch_drawn))):
        model = _build(student, input_size, *sizes)
        result[name] = as_array(model.init_hidden(), "model.init_hidden()")
    return result


def step(student, input_size, hidden_size, batch_size, steps, seed):
    """`steps` forward steps from a random state, with the same weights as the reference."""
    model = _build(student, input_size, hidden_size, batch_size)
    _load(
        model, _cell_weights(seed, input_size, hidden_size, scale=1.0 / np.sqrt(hidden_size)), input_size, hidden_size
    )
    rng = np.random.default_rng(seed + 1)
    x = torch.tensor(rng.standard_normal((steps, batch_size, input_size)), dtype=torch.float32).to(torch_device())
    hidden = torch.tensor(rng.standard_normal((batch_size, hidden_size)) * 0.5, dtype=torch.float32).to(torch_device())
    states = []
    with torch.no_grad():
        for x_t in x:
            hidden = model(x_t, hidden)
            states.append(as_array(hidden, "the hidden state returned by model(x_t, hidden)"))
    return {"hidden": np.stack(states), "_time_axes": {"hidden": 0}}


def loss_curve(student, source, target, epochs, lr, seed, stand_ins=False):
    """One training run under `seed`: the loss of every epoch, and the untrained model's summed loss
    (on the grader's forward and init_hidden where ``stand_ins``: train's own logic)."""
    run = _train_once(student, source, target, epochs, lr, seed, stand_ins=stand_ins)
    return {name: value for name, value in run.items() if name != "model"}


def train_seeds(student, source, target, seeds, epochs=15, lr=0.1):
    """One training run per seed from the initial weights the seed gives nn.RNNCell: losses and the
    trained weights, which the verifier (verify.py) decodes; what the model predicts is never asked of
    the student's code. (The loss-curve probe keeps the model's own initial weights: that check is
    where the handout's "build nothing random before the cell" is judged.)"""
    runs = []
    for seed in seeds:
        before = optimizer_steps()
        run = _train_once(student, source, target, epochs, lr, seed, own_init=False)
        steps, written = steps_since(before), how_written()
        runs.append(
            {
                "losses": run["losses"],
                "weights": run["weights"],
                "replay": _replay(run["model"]),
                "steps": steps,
                "written": written,
            }
        )
    return {"runs": runs}


def predict_words(student, words, seed, scale=2.0, stand_ins=False):
    """predict() on several words in a row with the same random weights: each must start afresh (on
    the grader's forward and init_hidden where ``stand_ins``: predict's own logic)."""
    model = _build(student)
    _load(model, _cell_weights(seed, 4, 4, scale), 4, 4)
    if stand_ins:
        _with_stand_ins(model)
    predictions, as_a_list = [], False
    for word in words:
        predicted = student.predict(model, _one_hot(word))
        if type(predicted) in (list, tuple) and all(type(letter) is str and len(letter) == 1 for letter in predicted):
            # its letters, not joined: the checks judge them and charge the type (a fairness round lost all
            # 15 points of predict for right letters in a list)
            predicted, as_a_list = "".join(predicted), True
        if type(predicted) is not str:
            raise ProbeFailure(
                f"predict(...) returned a {type(predicted).__name__}; a string such as 'ohlol' was expected"
            )
        predictions.append(predicted)
    return {"predictions": predictions, "letters_in_a_list": as_a_list}
