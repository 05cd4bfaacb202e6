"""Probes of assignment a3: they run inside the sandbox next to the student's `craft_rnn` module and
return plain data; the same probes on the reference solution give the expected data.

nn.RNN itself cannot run here (the sandbox refuses it while student code runs), so the probes load
weights drawn from a seeded generator, named and shaped like nn.RNN's, into the student's CraftRNN,
and the reference CraftRNN gets the very same weights. tests/test_a3_craft_rnn.py proves the
reference equal to nn.RNN on all these configurations, gradients included.
Everything lives on `torch_device()`; results come back on the CPU.
"""

import numpy as np
import torch

from grader.inside.probe_api import (
    ProbeFailure,
    as_array,
    as_in_training,
    as_number,
    load_weights,
    names_as_loaded,
    recurrent_weight_shapes,
    replay_sensitivity,
    seed_everything,
    torch_device,
    trained_weights,
    uniform_weights,
)

# -- building blocks ------------------------------------------------------------------------------


def _weights(rng, shapes, hidden_size):
    """Uniform weights in +-1/sqrt(hidden_size), as nn.RNN draws them, from the probe's generator."""
    return uniform_weights(shapes, scale=1.0 / np.sqrt(hidden_size), generator=rng)


def _craft(student, input_size, hidden_size, num_layers, nonlinearity, bias, batch_first):
    model = student.CraftRNN(
        input_size, hidden_size, num_layers=num_layers, nonlinearity=nonlinearity, bias=bias, batch_first=batch_first
    )
    if not isinstance(model, torch.nn.Module):
        raise ProbeFailure(f"CraftRNN(...) is a {type(model).__name__}, not an nn.Module")
    return model.to(torch_device())


def _case(
    student,
    seed,
    T,
    B,
    D,
    H,
    num_layers=1,
    nonlinearity="tanh",
    bias=True,
    batch_first=False,
    h0=True,
    unbatched=False,
):
    """A CraftRNN with seeded weights, an input and h0 (or None), all as the configuration says, and
    the name nn.RNN gives each of its parameters (where the student named them otherwise)."""
    rng = np.random.default_rng(seed)
    what = f"CraftRNN({D}, {H}, num_layers={num_layers}, bias={bias})"
    model = _craft(student, D, H, num_layers, nonlinearity, bias, batch_first)
    weights = _weights(rng, recurrent_weight_shapes(D, H, num_layers=num_layers, bias=bias), H)
    load_weights(model, weights, what)
    if unbatched:
        x_shape, h_shape = (T, D), (num_layers, H)
    else:
        x_shape, h_shape = ((B, T, D) if batch_first else (T, B, D)), (num_layers, B, H)
    x = torch.tensor(rng.standard_normal(x_shape), dtype=torch.float32, device=torch_device())
    h0_value = (
        torch.tensor(rng.standard_normal(h_shape) * 0.5, dtype=torch.float32, device=torch_device()) if h0 else None
    )
    return model, x, h0_value, names_as_loaded(model, weights) or {}


def _run(model, x, h0):
    result = model(x, h0) if h0 is not None else model(x)
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise ProbeFailure(f"CraftRNN.forward must return a tuple (output, h_n); it returned a {type(result).__name__}")
    return result


# -- probes ---------------------------------------------------------------------------------------


def parameters(student, input_size, hidden_size, num_layers, bias, seed=0):
    """Names and shapes of CraftRNN's parameters (they must equal nn.RNN's), for the given sizes and
    for sizes drawn from the seed."""

    def shapes_of(d, h):
        model = _craft(student, d, h, num_layers, "tanh", bias, False)
        return {name: list(value.shape) for name, value in model.named_parameters()}

    shapes = shapes_of(input_size, hidden_size)
    drawn = shapes_of(*(int(n) for n in np.random.default_rng(seed).integers(2, 9, 2)))
    return {"names": sorted(shapes), "shapes": shapes, "drawn_shapes": drawn}


def forward(student, seed, **config):
    model, x, h0, _ = _case(student, seed, **config)
    with torch.no_grad():
        output, h_n = _run(model, x, h0)
        time = 1 if config.get("batch_first") and not config.get("unbatched") else 0
        return {"output": as_array(output, "output"), "h_n": as_array(h_n, "h_n"), "_time_axes": {"output": time}}


def gradients(student, seed, **config):
    """Gradients of every parameter (and of x and h0) of loss = sum(output * R1) + sum(h_n * R2), one set
    through each term: a mistake in h_n alone (its layers reversed) leaves the gradients through output
    right, and the check credits each set on its own."""
    model, x, h0, names = _case(student, seed, **config)
    x.requires_grad_(True)
    if h0 is not None:
        h0.requires_grad_(True)
    output, h_n = _run(model, x, h0)
    rng = np.random.default_rng(seed + 1)
    weights_out = torch.tensor(rng.standard_normal(tuple(output.shape)), dtype=torch.float32, device=torch_device())
    weights_last = torch.tensor(rng.standard_normal(tuple(h_n.shape)), dtype=torch.float32, device=torch_device())
    leaves = dict(model.named_parameters())
    leaves["x"] = x
    if h0 is not None:
        leaves["h0"] = h0
    result = {}
    for term, loss in (("through output", (output * weights_out).sum()), ("through h_n", (h_n * weights_last).sum())):
        for leaf in leaves.values():
            leaf.grad = None
        if loss.requires_grad:  # an h_n cut from the graph has no gradient at all: zeros, as for an unused leaf
            loss.backward(retain_graph=True)
        result[term] = {
            names.get(name, name): as_array(
                leaf.grad if leaf.grad is not None else torch.zeros_like(leaf), f"the gradient of {name}"
            )
            for name, leaf in leaves.items()
        }
    return result


# The differences' steps along each unit direction (float32: about 1e-5 relative at 1e-2). A relu
# network is piecewise linear: a step across a kink misses its derivative, so each step is taken on
# both sides, and the checks need one difference to agree (a cut graph agrees with none).
STEPS_ALONG = (1e-2, 1e-3, 1e-4)


def _through_time(model, x, h0, time_axis, seed):
    """How far the later steps' output and h_n move when only the first step's input moves, and how far
    the first step's output does (central differences along a direction drawn from the seed); None for
    one step. nn.RNN's later states move with the first input through its recurrence. A hostile round's
    forward fed h0 through weight_hh at every step instead of the previous state: every leaf live, a
    network still feed-forward, and every gradient check credited (49 where the work earns 25)."""
    steps = x.shape[time_axis]
    if steps < 2:
        return None
    drawn = torch.tensor(
        np.random.default_rng(seed + 3).standard_normal(tuple(x.shape)), dtype=x.dtype, device=x.device
    )
    direction = torch.zeros_like(drawn)
    direction.select(time_axis, 0).copy_(drawn.select(time_axis, 0))
    direction = direction / direction.norm().clamp_min(1e-12)
    step = 1e-2
    with torch.no_grad():
        ahead, behind = _run(model, x + step * direction, h0), _run(model, x - step * direction, h0)

    def moved(ahead, behind):
        return float((ahead.double() - behind.double()).abs().max()) / (2 * step) if ahead.numel() else 0.0

    first = moved(ahead[0].select(time_axis, 0), behind[0].select(time_axis, 0))
    later = moved(ahead[0].narrow(time_axis, 1, steps - 1), behind[0].narrow(time_axis, 1, steps - 1))
    return {"later": max(later, moved(ahead[1], behind[1])), "first": first}


def own_derivative(student, seed, **config):
    """The gradients probe's question asked of the student's own forward: for each term of its loss and
    each leaf (every parameter, x and h0), autograd's derivative along a direction drawn from the seed,
    and differences of the forward's loss along it (:data:`STEPS_ALONG`); and the forward's output and h_n.

    Where the forward differs from nn.RNN's, its gradients cannot equal nn.RNN's, but they can still be
    the forward's own derivative: every leaf's unless the graph is cut (``.detach()``, ``.data``, numpy,
    ``torch.no_grad``). The checks credit that only for a forward close to the network (a slip)."""
    model, x, h0, names = _case(student, seed, **config)
    time_axis = 1 if config.get("batch_first") and not config.get("unbatched") else 0
    through_time = _through_time(model, x, h0, time_axis, seed)  # before x becomes a leaf
    leaves = dict(model.named_parameters())
    leaves["x"] = x.requires_grad_(True)
    if h0 is not None:
        leaves["h0"] = h0.requires_grad_(True)
    output, h_n = _run(model, x, h0)
    rng = np.random.default_rng(seed + 1)  # the gradients probe's weights of each term
    weights_out = torch.tensor(rng.standard_normal(tuple(output.shape)), dtype=torch.float32, device=torch_device())
    weights_last = torch.tensor(rng.standard_normal(tuple(h_n.shape)), dtype=torch.float32, device=torch_device())
    terms = {"through output": (0, weights_out), "through h_n": (1, weights_last)}
    directions = np.random.default_rng(seed + 2)
    along = {}
    for name, leaf in leaves.items():
        drawn = directions.standard_normal(tuple(leaf.shape))
        along[name] = torch.tensor(drawn / max(np.linalg.norm(drawn), 1e-12), dtype=leaf.dtype, device=leaf.device)

    def losses():
        with torch.no_grad():
            result = _run(model, x, h0)
        return {
            term: float((result[index].double() * weights.double()).sum()) for term, (index, weights) in terms.items()
        }

    analytic = {}
    for term, (index, weights) in terms.items():
        loss = ((output, h_n)[index] * weights).sum()
        grads = [None] * len(leaves)
        if loss.requires_grad:  # a forward cut from the graph has no gradient at all
            grads = torch.autograd.grad(loss, list(leaves.values()), allow_unused=True, retain_graph=True)
        analytic[term] = {
            name: 0.0 if grad is None else float((grad.double() * along[name].double()).sum())
            for (name, _), grad in zip(leaves.items(), grads)
        }
    numeric = {term: {name: [] for name in leaves} for term in terms}
    at = losses()
    for name, leaf in leaves.items():
        saved = leaf.detach().clone()
        for step in STEPS_ALONG:
            found = {}
            for sign in (1, -1):
                with torch.no_grad():
                    leaf.copy_(saved + sign * step * along[name])
                found[sign] = losses()
            for term in terms:  # central, then each side alone
                numeric[term][name] += [
                    (found[1][term] - found[-1][term]) / (2 * step),
                    (found[1][term] - at[term]) / step,
                    (at[term] - found[-1][term]) / step,
                ]
        with torch.no_grad():
            leaf.copy_(saved)
    return {
        "output": as_array(output, "output"),
        "h_n": as_array(h_n, "h_n"),
        "through_time": through_time,
        "along": {
            term: {
                names.get(name, name): {"autograd": analytic[term][name], "differences": numeric[term][name]}
                for name in leaves
            }
            for term in terms
        },
    }


def _classifier(student, input_size, hidden_size, output_size, num_layers):
    model = student.SequenceClassifier(input_size, hidden_size, output_size, num_layers=num_layers)
    for name in ("rnn", "fc"):
        if not isinstance(getattr(model, name, None), torch.nn.Module):
            raise ProbeFailure(
                f"SequenceClassifier has no `self.{name}` module (the assignment asks for "
                "self.rnn = CraftRNN(..., batch_first=True) and self.fc = nn.Linear(...))"
            )
    return model.to(torch_device())


class _StandInRNN(torch.nn.Module):
    """The grader's stand-in for the student's CraftRNN in SequenceClassifier, to judge the classifier
    on its own (checks/shared.py: classifier_on_its_own). It has CraftRNN's interface, and the layout
    the student's self.rnn was built with (batch_first or not: a regression round's classifier that
    left out batch_first=True was rescued by a stand-in that assumed it), but no recurrence: each step
    is a seeded map of that step's input and its place in time, so it does none of CraftRNN's work (it is handed to the
    student's process, which may keep it). Every step differs, and so does every layer's h_n; the top
    layer's equals the last step's output, as in nn.RNN."""

    def __init__(self, replaced, input_size, hidden_size, num_layers, seed):
        super().__init__()
        # as the student built self.rnn: a classifier that left out batch_first=True keeps that mistake
        self.batch_first = getattr(replaced, "batch_first", None) is True
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        rng = np.random.default_rng(seed)
        maps = rng.standard_normal((num_layers, input_size, hidden_size)) / np.sqrt(input_size)
        # buffers, moved by the caller's .to(): the methods of a class handed to the student's process see
        # libraries and constants only (grader.inside.child._seal_classes)
        self.register_buffer("maps", torch.tensor(maps, dtype=torch.float32), persistent=False)
        self.register_buffer(
            "drift", torch.tensor(rng.standard_normal(hidden_size) * 0.5, dtype=torch.float32), persistent=False
        )

    def forward(self, x, h0=None):
        time_axis = 1 if self.batch_first else 0
        steps = x.shape[time_axis]
        position = torch.arange(steps, dtype=x.dtype, device=x.device)[:, None] * self.drift  # (T, H)
        position = position[None] if self.batch_first else position[:, None]
        last = x.select(time_axis, steps - 1)
        output = torch.tanh(x @ self.maps[-1] + position)  # each step's input alone, and where it is
        h_n = torch.stack([torch.tanh(last @ layer_map + (steps - 1) * self.drift) for layer_map in self.maps])
        return output, h_n


def classifier_forward(student, input_size, hidden_size, output_size, num_layers, B, T, seed, stand_in_rnn=False):
    """The classifier's logits with seeded weights for self.rnn and self.fc (with the grader's
    _StandInRNN as self.rnn where ``stand_in_rnn``: the classifier's own logic)."""
    rng = np.random.default_rng(seed)
    model = _classifier(student, input_size, hidden_size, output_size, num_layers)
    shapes = {
        **recurrent_weight_shapes(input_size, hidden_size, num_layers=num_layers, prefix="rnn"),
        "fc.weight": (output_size, hidden_size),
        "fc.bias": (output_size,),
    }
    weights = _weights(rng, shapes, hidden_size)
    if stand_in_rnn:  # before loading: the student's CraftRNN's parameters are not asked for either
        model.rnn = _StandInRNN(model.rnn, input_size, hidden_size, num_layers, seed + 1).to(torch_device())
        weights = {name: value for name, value in weights.items() if name.startswith("fc.")}
    load_weights(model, weights, "SequenceClassifier")
    x = torch.tensor(rng.standard_normal((B, T, input_size)), dtype=torch.float32, device=torch_device())
    with torch.no_grad():
        return {"logits": as_array(model(x), "the logits returned by SequenceClassifier", ndim=2)}


def replay_inputs(replay_x, input_size):
    """The sequences a trained classifier is replayed on: the check's (drawn on the trusted side), or
    by default a fixed draw (verify.py draws the same). Inputs only, never a label."""
    if replay_x is not None:
        return np.asarray(replay_x, dtype=np.float32)
    rng = np.random.default_rng(20240613)
    scales = np.array([0.5, 1.0, 2.0, 4.0] * 2, dtype=np.float32)[:, None, None]
    return (rng.standard_normal((8, 7, input_size)) * scales).astype(np.float32)


def replay(model, x, what):
    """The trained model's own outputs on the grader's inputs (in training mode, its dropout off:
    probe_api.as_in_training), and how they depend on each parameter (probe_api.replay_sensitivity):
    what the verifier recomputes from the weights in the reference architecture."""
    with as_in_training(model):
        return _replayed(model, x, what)


def _replayed(model, x, what):
    def logits_now():
        logits = model(torch.tensor(x, device=torch_device()))
        if not isinstance(logits, torch.Tensor):
            raise ProbeFailure(f"{what} returned a {type(logits).__name__}, not a tensor of logits")
        return logits

    logits = logits_now()
    return {"outputs": as_array(logits, f"the logits of {what}"), **replay_sensitivity(model, logits, logits_now)}


def classifier_training(
    student, seeds, x_train, y_train, hidden_size=12, num_layers=1, epochs=40, lr=0.05, replay_x=None
):
    """Per seed: build the classifier after seeding, train it full-batch with Adam on the training
    sequences the check sends, and return the loss of every epoch, the trained weights, and the
    trained model's replay on ``replay_x`` (see :func:`replay`). The held-out sequences never come
    here: the verifier (verify.py) classifies them with the weights."""
    x = torch.tensor(np.asarray(x_train, dtype=np.float32), device=torch_device())
    y = torch.tensor(np.asarray(y_train, dtype=np.int64), device=torch_device())
    n, _, D = x.shape
    classes = int(y.max()) + 1
    runs = []
    for seed in seeds:
        seed_everything(seed)
        model = _classifier(student, D, hidden_size, classes, num_layers)
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        losses = []
        for _ in range(epochs):
            optimizer.zero_grad()
            logits = model(x)
            if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != (n, classes):
                raise ProbeFailure(
                    f"SequenceClassifier returned {type(logits).__name__} "
                    f"{tuple(getattr(logits, 'shape', ()))}; logits of shape ({n}, {classes}) were expected"
                )
            loss = torch.nn.functional.cross_entropy(logits, y)
            loss.backward()
            optimizer.step()
            losses.append(as_number(loss, "the training loss"))
        weights = trained_weights(model, "SequenceClassifier")
        replayed = replay(model, replay_inputs(replay_x, D), "your trained SequenceClassifier")
        runs.append({"losses": losses, "weights": weights, "replay": replayed})
    return {"runs": runs}
