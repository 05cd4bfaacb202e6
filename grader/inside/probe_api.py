"""What probe authors use inside the sandbox: the device, seeding, and checks on student return values.

A probe is a plain function ``probe(student, **args)`` in an assignment's ``probes.py``. It calls the
student's module, converts what comes back with the helpers below (which raise :class:`ProbeFailure`
with a message a student understands), and returns plain data for the judges.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from grader.inside import untouched
from grader.inside.guards import real_module
from grader.inside.plain import NotPlainData, to_plain
from grader.inside.reachable import handed  # also for the probes: what they hand to the student's code

_state = {"device": "cpu"}


class ProbeFailure(Exception):
    """The student's code returned something the probe cannot use; the message is shown as is."""


class MissingName(ProbeFailure):
    """The student's module lacks a function or class the assignment asks for."""


def device() -> str:
    """The device the probes of this run use ("cpu" or "cuda")."""
    return _state["device"]


def set_device(name: str) -> None:
    _state["device"] = name


def torch_device() -> Any:
    import torch

    return torch.device(device())


def seed_everything(seed: int) -> None:
    """Seed every generator a student's code might draw from, so runs are reproducible."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch = real_module("torch")
    if torch is not None:
        torch.manual_seed(seed)


def as_array(value: Any, what: str, *, ndim: int | None = None) -> np.ndarray:
    """A numpy copy of a student's tensor/array/list, or a clear :class:`ProbeFailure`."""
    if value is None:
        raise ProbeFailure(f"{what} is None: did you forget a return statement?")
    try:
        plain = to_plain(value, what)
    except NotPlainData as exc:
        raise ProbeFailure(str(exc)) from None
    if isinstance(plain, list):
        try:
            plain = np.asarray(plain, dtype=np.float64)
        except (TypeError, ValueError):
            raise ProbeFailure(f"{what} is a list that is not a rectangular array of numbers") from None
    if not isinstance(plain, np.ndarray):
        raise ProbeFailure(f"{what} is a {type(value).__name__}; an array was expected")
    if ndim is not None and plain.ndim != ndim:
        raise ProbeFailure(f"{what} has {plain.ndim} dimensions (shape {tuple(plain.shape)}); {ndim} were expected")
    return plain


def unpack(value: Any, what: str, names: Iterable[str]) -> tuple:
    """Check that a function returned a tuple of the documented length, e.g. ``(hs, cache)``."""
    names = tuple(names)
    if not isinstance(value, (tuple, list)) or len(value) != len(names):
        shown = type(value).__name__
        if isinstance(value, (tuple, list)):
            shown = f"{shown} of length {len(value)}"
        raise ProbeFailure(f"{what} must return a tuple ({', '.join(names)}); it returned a {shown}")
    return tuple(value)


def as_number(value: Any, what: str) -> float:
    try:
        plain = to_plain(value, what)
    except NotPlainData as exc:
        raise ProbeFailure(str(exc)) from None
    if isinstance(plain, np.ndarray) and plain.size == 1:
        plain = plain.reshape(()).item()
    if type(plain) not in (int, float):
        raise ProbeFailure(f"{what} is a {type(value).__name__}; a number was expected")
    return float(plain)


# -- weights: drawn by the grader, named as torch names them -------------------------------------

WEIGHT_STREAM = 7919  # an int seed draws weights from seed + this, apart from inputs drawn from the seed


def recurrent_weight_shapes(
    input_size: int,
    hidden_size: int,
    *,
    num_layers: int = 1,
    gates: int = 1,
    bias: bool = True,
    bidirectional: bool = False,
    prefix: str = "",
) -> dict[str, tuple[int, ...]]:
    """The parameters of ``torch.nn.RNN`` (``gates=1``), ``GRU`` (3) or ``LSTM`` (4) in torch's order,
    name -> shape: ``weight_ih_l0`` (gates * hidden_size, input_size), ``weight_hh_l0``, ``bias_ih_l0``,
    ``bias_hh_l0``, then ``..._reverse`` and the next layer. ``prefix="encoder.lstm"`` names them
    inside a model."""
    lead = f"{prefix}." if prefix else ""
    directions = ["", "_reverse"] if bidirectional else [""]
    rows = gates * hidden_size
    shapes: dict[str, tuple[int, ...]] = {}
    for layer in range(num_layers):
        width = input_size if layer == 0 else hidden_size * len(directions)
        for suffix in directions:
            shapes[f"{lead}weight_ih_l{layer}{suffix}"] = (rows, width)
            shapes[f"{lead}weight_hh_l{layer}{suffix}"] = (rows, hidden_size)
            if bias:
                shapes[f"{lead}bias_ih_l{layer}{suffix}"] = (rows,)
                shapes[f"{lead}bias_hh_l{layer}{suffix}"] = (rows,)
    return shapes


def uniform_weights(shapes: dict[str, tuple[int, ...]], *, scale: float, generator: Any) -> dict[str, Any]:
    """float32 tensors uniform in (-scale, scale), by name, in the order of ``shapes``: drawn from
    ``generator`` when it is a numpy Generator (its later draws continue after them), or from a torch
    generator of their own when it is an int seed (seeded with ``seed + WEIGHT_STREAM``)."""
    import torch

    if isinstance(generator, np.random.Generator):
        return {
            name: torch.tensor(generator.uniform(-scale, scale, shape), dtype=torch.float32)
            for name, shape in shapes.items()
        }
    stream = torch.Generator().manual_seed(int(generator) + WEIGHT_STREAM)
    return {name: (torch.rand(shape, generator=stream) * 2 - 1) * scale for name, shape in shapes.items()}


def load_weights(module: Any, weights: dict[str, Any], what: str) -> Any:
    """``module.load_state_dict(weights)``, or a failure naming the missing, unexpected and misshapen
    parameters, with both lists, so that a student sees how to name their layers."""
    state_dict = getattr(module, "state_dict", None)
    if not callable(state_dict):
        raise ProbeFailure(f"{what} must be a torch.nn.Module (it is a {type(module).__name__})")
    pairs = names_as_loaded(module, weights)
    if pairs is None:
        found, expected = _shapes(state_dict()), _shapes(weights)
        raise ProbeFailure(
            f"{what} cannot load the weights of the matching torch module: "
            f"{_differences(expected, found)}. Expected: {_describe_shapes(expected)}. "
            f"Found: {_describe_shapes(found) or 'no parameters'}"
        )
    # Names that differ but say the same: the names have a check of their own, the rest judges the maths.
    weights = {theirs: weights[ours] for theirs, ours in pairs.items()}
    try:
        loaded = {name: value.to(torch_device()) for name, value in weights.items()}
        missing, unexpected = module.load_state_dict(loaded, strict=False)
        if unexpected or any(name in pairs for name in missing):
            raise RuntimeError(f"missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]}")
    except (RuntimeError, KeyError, TypeError) as exc:
        raise ProbeFailure(f"{what}.load_state_dict(...) failed: {str(exc).strip()[:400]}") from None
    return module


NAME_WORDS_OF_KIND = {
    "w": "weight",
    "weight": "weight",
    "weights": "weight",
    "b": "bias",
    "bias": "bias",
    "biases": "bias",
}
NAME_WORDS_IGNORED = frozenset({"l", "layer", "layers", "param", "params", "parameter", "parameters"})


def names_as_loaded(module: Any, weights: dict[str, Any]) -> dict[str, str] | None:
    """Each of the module's parameter names -> the name in ``weights`` that :func:`load_weights` loads
    into it (itself where the names are the same), or None where they cannot be paired: so a probe
    also reports gradients under the names the expected data uses."""
    state = module.state_dict()
    aliases = _aliases(state)
    found = {name: shape for name, shape in _shapes(state).items() if name not in aliases}
    expected = _shapes(weights)
    pairs = {name: name for name in found} if found == expected else _same_parameters_named_otherwise(expected, found)
    if pairs is None and all(found.get(name) == shape for name, shape in expected.items()):
        # Every expected parameter, by name, and more of its own: the extras stay as the student's code
        # made them. Unused (a layer left from an experiment), the outputs are the architecture's; used,
        # they differ. A regression round's a5 with an unused nn.Linear lost every forward check (63.8).
        pairs = {name: name for name in expected}
    if pairs is None:
        return None
    pairs.update({alias: pairs[first] for alias, first in aliases.items() if first in pairs})
    return pairs


def _aliases(state: dict[str, Any]) -> dict[str, str]:
    """Each second name of one tensor -> its first name (``self.head = nn.Sequential(self.dropout,
    self.fc)`` lists fc's weight again as ``head.1.weight``): the same parameter, loaded with it."""
    first: dict[tuple[Any, ...], str] = {}
    aliases: dict[str, str] = {}
    for name, value in state.items():
        try:
            if not value.numel():
                continue
            key = (
                value.untyped_storage().data_ptr(),
                value.storage_offset(),
                tuple(value.shape),
                tuple(value.stride()),
            )
        except (AttributeError, RuntimeError, TypeError):
            continue
        if key in first:
            aliases[name] = first[key]
        else:
            first[key] = name
    return aliases


def _shapes(tensors: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    return {name: tuple(value.shape) for name, value in tensors.items()}


def _same_parameters_named_otherwise(
    expected: dict[str, tuple[int, ...]], found: dict[str, tuple[int, ...]]
) -> dict[str, str] | None:
    """The student's parameter for each expected one (``{theirs: expected}``), where the names differ
    but say the same: ``w_ih.0`` or ``layers.0.W_ih`` for ``weight_ih_l0`` (the same kind, the same
    other words, the same layer numbers) or, failing that, the same shapes in the same order. None
    unless every parameter pairs with exactly one of the other side's, shapes equal."""
    if len(expected) != len(found):
        return None
    pairs: dict[str, str] = {}
    for ours, shape in expected.items():
        candidates = [theirs for theirs in found if found[theirs] == shape and _says_the_same(theirs, ours)]
        if len(candidates) != 1 or candidates[0] in pairs:
            break
        pairs[candidates[0]] = ours
    else:
        return pairs
    if list(found.values()) == list(expected.values()):
        return dict(zip(found, expected))
    return None


def _says_the_same(theirs: str, ours: str) -> bool:
    """Whether a student's parameter name says what ours says: the same kind (weight, bias), every
    other word of ours among theirs, and the same numbers (none for a single layer's ``_l0``)."""

    def reading(name: str) -> tuple[set[str], set[str], tuple[int, ...]]:
        tokens = re.findall(r"[a-z]+|\d+", name.lower())
        words = [t for t in tokens if not t.isdigit() and t not in NAME_WORDS_IGNORED]
        kinds = {NAME_WORDS_OF_KIND[w] for w in words if w in NAME_WORDS_OF_KIND}
        return kinds, {w for w in words if w not in NAME_WORDS_OF_KIND}, tuple(int(t) for t in tokens if t.isdigit())

    their_kinds, their_words, their_numbers = reading(theirs)
    our_kinds, our_words, our_numbers = reading(ours)
    same_numbers = their_numbers == our_numbers or (not their_numbers and our_numbers == (0,))
    return their_kinds == our_kinds and len(our_kinds) == 1 and our_words <= their_words and same_numbers


def _differences(expected: dict[str, Any], found: dict[str, Any], limit: int = 20) -> str:
    """ "missing a, b; unexpected c; d is (3, 4), not (4, 4)": how two name -> shape maps differ."""
    missing = [name for name in expected if name not in found]
    unexpected = [name for name in found if name not in expected]
    misshapen = [
        f"{name} is {found[name] if found[name] is not None else 'not an array'}, not {expected[name]}"
        for name in expected
        if name in found and found[name] != expected[name]
    ]
    parts = [
        f"missing {', '.join(missing[:limit])}" if missing else "",
        f"unexpected {', '.join(unexpected[:limit])}" if unexpected else "",
        "; ".join(misshapen[:limit]),
    ]
    return "; ".join(part for part in parts if part)


def _describe_shapes(shapes: dict[str, tuple[int, ...]]) -> str:
    return ", ".join(f"{name} {shape}" for name, shape in shapes.items())


class StudentModule:
    """The student's module as probes see it: a missing name is a clear failure, not AttributeError."""

    def __init__(self, module: Any, filename: str) -> None:
        object.__setattr__(self, "_module", module)
        object.__setattr__(self, "_filename", filename)

    def __getattr__(self, name: str) -> Any:
        module = object.__getattribute__(self, "_module")
        try:
            return getattr(module, name)
        except AttributeError:
            filename = object.__getattribute__(self, "_filename")
            raise MissingName(f"{filename} does not define `{name}` (check the spelling)") from None


@contextmanager
def names_replaced(student: Any, **replacements: Any) -> Iterator[None]:
    """The student's module with some of its names replaced while the block runs, then restored (or
    removed where the module had none): to judge one function on its own logic, with the grader's
    stand-ins for the functions it calls (a4's translate with a stand-in make_batch and greedy_decode).
    What is handed in stays in the student's process for later checks: stand-ins must do none of the work."""
    module = object.__getattribute__(student, "_module") if isinstance(student, StudentModule) else student
    missing = object()
    saved = {name: module.__dict__.get(name, missing) for name in replacements}
    for name, value in replacements.items():
        setattr(module, name, handed(value))  # its globals lead nowhere (reachable.handed)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is missing:
                module.__dict__.pop(name, None)
            else:
                setattr(module, name, value)


# -- verifiers: reference architectures measured on a student's trained weights ------------------

MAX_WEIGHT = 1e6  # no trained parameter of these small models is anywhere near this


def load_trained(module: Any, weights: Any, what: str) -> list[str]:
    """Load a student's trained weights (plain arrays, by parameter name) into a reference module;
    return notes on what did not fit by name (extra parameters ignored, parameters taken by position).

    Runs in the verifier, never next to student code. Extra parameters alone are ignored (an unused
    layer changes nothing the architecture computes). Parameters named otherwise but in the specified
    order and shapes are taken by position: training is judged, the names have a check of their own.
    Anything else missing or misshapen, or not a finite number, is a :class:`ProbeFailure` naming
    the parameters."""
    import torch

    if not isinstance(weights, dict) or not all(isinstance(name, str) for name in weights):
        raise ProbeFailure(f"the trained weights of {what} are not a mapping of parameter names to arrays")
    expected = _shapes(module.state_dict())
    found = {name: tuple(np.shape(value)) if isinstance(value, np.ndarray) else None for name, value in weights.items()}
    unexpected = [name for name in found if name not in expected]
    notes = [f"{name} (ignored)" for name in unexpected]
    if any(name not in found for name in expected) and list(found.values()) == list(expected.values()):
        notes = [f"{theirs} (taken as {ours})" for theirs, ours in zip(found, expected) if theirs != ours]
        weights, found = dict(zip(expected, weights.values())), dict(expected)
    # A layer built without its bias computes the architecture with a zero bias: trained so, it is that
    # model (a teacher round's a5 with nn.Linear(..., bias=False) learned to 0.99 and lost every training
    # check, "missing fc.bias"); the forward checks, which load the reference's biases, still charge it.
    absent = [name for name in expected if name not in found and name.rsplit(".", 1)[-1].startswith("bias")]
    for name in absent:
        weights, found = {**weights, name: np.zeros(expected[name])}, {**found, name: expected[name]}
        notes.append(f"{name} (none: taken as zeros)")
    if any(name not in found or found[name] != shape for name, shape in expected.items()):
        raise ProbeFailure(
            f"your trained {what} does not have the parameters the assignment specifies: "
            f"{_differences(expected, found)}. Expected: {_describe_shapes(expected)}"
        )
    tensors = {}
    for name, value in weights.items():
        if name not in expected:
            continue
        if value.dtype.kind not in "fiu":
            raise ProbeFailure(f"the trained parameter {name} holds {value.dtype} values, not numbers")
        array = value.astype(np.float64)
        if not np.isfinite(array).all():
            raise ProbeFailure(f"the trained parameter {name} contains NaN or infinite values: training diverged")
        if array.size and np.abs(array).max() > MAX_WEIGHT:
            raise ProbeFailure(f"the trained parameter {name} holds values above {MAX_WEIGHT:g}: training diverged")
        tensors[name] = torch.tensor(array, dtype=module.state_dict()[name].dtype)
    module.load_state_dict(tensors)
    for name in absent:  # not a parameter of the student's model: the replay has no gradient of it either
        module.get_parameter(name).requires_grad_(False)
    return notes


def trained_weights(module: Any, what: str) -> dict[str, np.ndarray]:
    """A student's model's parameters as plain arrays, by name: the artefact of training that the
    verifier measures (whatever the student's code says about its own success; buffers are not
    trained weights)."""
    try:
        state = dict(untouched.named_parameters(module))  # nn.Module's registries, not what its class says
    except TypeError as exc:
        raise ProbeFailure(f"{what} must be a torch.nn.Module that holds its parameters as one does ({exc})") from None
    read = read_now(state.values())  # one read: what is judged is what is sent
    weights = {
        str(name): as_array(read[id(value)], f"the trained parameter {name} of {what}") for name, value in state.items()
    }
    written = _written_as_read([(p, read[id(p)]) for p in state.values()])
    if written:
        note_written(written)
    return weights


def _written_as_read(read: list[tuple[Any, Any]]) -> str | None:
    """How the parameters just read (each with the copy read) differ from what the training's last step
    left, or None. Checked on the very copies sent back: a hostile round ran its code inside the
    grader's read of the weights (between the read and the later check of the run, :func:`steps_since`)
    and showed the trained parameters to one and a copy trained elsewhere to the other (a2 80 where the
    work earns 50)."""
    if not WATCHED:
        return None  # no training run is watched (the probe reads weights it did not train)
    for p, value in read:
        entry = WATCHED.get(id(p))
        if entry is None or entry[0] is not p:
            if WATCHED_MODEL[0] is not None:
                return REPLACED
            continue  # a parameter its optimizer never held (frozen), where no model was named
        if not same_values(value, entry[1]) and not any(same_values(value, state) for state in HISTORY.get(id(p), ())):
            return WRITTEN_OUTSIDE
    return None


# -- fresh inputs: what official grading asks is drawn from the call's seed -----------------------


def drawn_words(seed: int, alphabet: str, count: int, shortest: int = 1, longest: int = 5) -> list[str]:
    """Words drawn from ``seed``, appended to a probe's fixed inputs: official grading passes a seed
    derived from the course secret (grader.course.secret), so the shipped answers to the fixed inputs alone
    do not answer the question asked."""
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list(alphabet), size=int(rng.integers(shortest, longest + 1)))) for _ in range(count)]


# -- how a model was trained -------------------------------------------------------------------------

OPTIMIZER_STEPS = [0]  # optimizer steps of the probe call now running; inside/child.py counts them
STEPS_COUNTED = [False]  # whether they are counted (torch's global step hook is in place)
# The training run now running. WATCHED: each parameter of the model being trained (id -> (parameter,
# its value after the last step that moved it)), noted when the probe made its optimizer or handed the
# model over, or else by the first step that moves anything. MODEL_STEPS: the steps that moved those
# parameters no further than a training step can (STEP_BOUND). WEIGHTS_WRITTEN: times they changed
# otherwise (copied in, moved further in one step, written by a step hook of the student's own, the
# parameters replaced). All kept by the step hooks of inside/child.py for the model the probe trains,
# whichever optimizer steps it: what counts is how far the weights move, not who moves them.
WEIGHTS_WRITTEN = [0]
WRITTEN_HOW: list[str] = []  # how they were first written, for the feedback
MODEL_STEPS = [0]
WATCHED: dict[int, tuple[Any, Any]] = {}
WATCHED_MODEL: list[Any] = [None]
# How far one step may move any weight of the trained model (None: no bound known). Adam moves each
# weight by lr * m_hat / (sqrt(v_hat) + eps) per step, and |m_hat| / sqrt(v_hat) stays below about 7.3
# whatever the gradients (beta1 0.9, beta2 0.999, by Cauchy-Schwarz on the two averages), near 1 in
# practice: ten times the learning rate the grader gave holds every honest step (another optimizer,
# a scheduler, clipping) and stops one step landing trained weights from far away.
STEP_BOUND: list[float | None] = [None]
STEP_BOUND_FACTOR = 10.0
# Every state each parameter of the trained model held after a counted step (and at the start), the
# latest MAX_HISTORY of them: restoring one (keeping the best checkpoint, early stopping) is not a
# write. They are the snapshots taken after each step anyway, kept rather than dropped.
HISTORY: dict[int, list[Any]] = {}
MAX_HISTORY = 256


def training_with(optimizer: Any, model: Any = None) -> Any:
    """Mark the start of a training run by the optimizer a training probe just made (for ``model``):
    weights written before its first step (the model trained by other code, then copied in), or moved
    further in one step than ten times its learning rate (a learning rate of 1e8, an optimizer state
    set by hand, a closure that copies weights in: one step landing prepared weights), count as
    written outside the optimizer's steps. Call after :func:`optimizer_steps`."""
    groups = getattr(optimizer, "param_groups", None) or []
    rates = [float(group["lr"]) for group in groups if isinstance(group.get("lr"), (int, float))]
    _watch([p for group in groups for p in group.get("params", ())], model, max(rates) if rates else None)
    return optimizer


def training_of(model: Any, lr: float | None = None) -> Any:
    """Mark the start of a training run of ``model`` by an optimizer the student's code makes at
    learning rate ``lr`` (a2's ``train``): only steps that move its parameters count, and weights
    written into it outside a step (before the first one, between two, after the last) or moved
    further in one step than ten times ``lr`` count as written. Call after :func:`optimizer_steps`."""
    _watch([], model, lr)
    return model


def started_from(module: Any, weights: dict[str, Any]) -> None:
    """The run watched (:func:`training_of`, :func:`training_with`) starts from ``weights``, the
    grader's initial weights loaded into ``module`` (by :func:`load_weights`, which runs the student's
    ``load_state_dict``): a parameter named as in ``weights`` that held anything else when the watch
    began counts as written outside the steps."""
    if not WATCHED:
        return
    try:
        read = dict(untouched.named_parameters(module))
    except TypeError:
        note_written(REPLACED)
        return
    for name, value in weights.items():
        p = read.get(name)
        entry = WATCHED.get(id(p)) if p is not None else None
        if entry is not None and not same_values(entry[1], value.to(entry[1].device)):
            note_written(WRITTEN_OUTSIDE)
            return


def _watch(parameters: list[Any], model: Any, lr: float | None) -> None:
    if model is not None:
        parameters = parameters + _parameters_of_model(model)
        WATCHED_MODEL[0] = model
    WATCHED.update((id(p), (p, None)) for p in parameters)  # note_states takes their values
    STEP_BOUND[0] = None if lr is None else STEP_BOUND_FACTOR * lr
    note_states()


def read_now(parameters: Any) -> dict[int, Any]:
    """One read of each parameter (a copy, by id). A step hook judges the weights, and keeps them as
    the last step's, on these copies only, and ``trained_weights`` sends the copies it judged: code that
    writes into the parameters between two reads of the grader (a finalizer run by a collection inside
    the grader's code, a thread) then lands in a read that is judged. A hostile round put the
    last step's values back for the check and a copy trained elsewhere for the read (a2 100 where the
    work earns 50)."""
    read = {}
    for p in parameters:
        try:
            read[id(p)] = untouched.copy(p)
        except Exception:  # not a tensor: judged as replaced where that matters
            continue
    return read


def note_states(stepped: bool = True, now: dict[int, Any] | None = None) -> None:
    """Take each watched parameter's value now (``now``'s copy, where it holds one) as its value after
    the last step (and, where a step of the training produced it, ``stepped``, remember it as a state
    a checkpoint may restore)."""
    now = now or {}
    for key, (p, _) in list(WATCHED.items()):
        value = now[key] if key in now else untouched.copy(p)
        WATCHED[key] = (p, value)
        if stepped:
            states = HISTORY.setdefault(key, [])
            states.append(value)
            del states[:-MAX_HISTORY]


def moved_too_far(parameter: Any, value: Any) -> bool:
    """Whether ``parameter`` moved from ``value`` further than one training step can (STEP_BOUND)."""
    bound = STEP_BOUND[0]
    if bound is None:
        return False
    try:
        return untouched.further_than(parameter, value, bound)  # NaN on either side is too far
    except Exception:  # something that is not the parameter any more: written
        return True


def optimizer_steps() -> int | None:
    """The training steps counted so far in this probe call, or None where nothing counts them (a
    probe run outside a graded process). A training probe records each run's (:func:`steps_since`
    around it), so that weights no optimizer step produced do not count as trained
    (convergence.measured_runs)."""
    if not STEPS_COUNTED[0]:
        return None
    new_run()
    return MODEL_STEPS[0]


def new_run() -> None:
    """Forget the training run before: what earlier runs (and their replays) did is neither compared
    nor counted, and none of their parameters is kept alive."""
    WATCHED.clear()
    HISTORY.clear()
    WATCHED_MODEL[0] = None
    STEP_BOUND[0] = None
    WEIGHTS_WRITTEN[0] = 0
    WRITTEN_HOW.clear()


def note_written(how: str) -> None:
    """The trained model's weights changed otherwise than by a step of its training (``how``)."""
    WEIGHTS_WRITTEN[0] += 1
    if not WRITTEN_HOW:
        WRITTEN_HOW.append(how)


def how_written() -> str | None:
    """How the run's weights were first written outside its steps, or None: a training probe
    returns it with the run's steps, so the feedback can say what happened."""
    return WRITTEN_HOW[0] if WRITTEN_HOW else None


# How weights were written (note_written): each finishes "your training's weights were ...".
WRITTEN_OUTSIDE = "changed outside the optimizer's steps (copied or written in, or initialised again)"
REPLACED = "replaced: the model holds parameters it did not hold when training began"
HOOKED = "moved during a step with step hooks of your code's own on the optimizer"
TOO_FAR = (
    "moved further in one optimizer step than ten times the learning rate the grader gave (a step at a huge "
    "learning rate, an optimizer state or a closure that lands weights trained elsewhere)"
)


def steps_since(before: int | None) -> int | None:
    """The steps that moved the trained model since ``before`` (an :func:`optimizer_steps` reading),
    or None; 0 where its weights were written outside those steps meanwhile (prepared weights copied
    in before, between or after real steps, its parameters replaced): then no step produced the
    weights the run returns."""
    if before is None or not STEPS_COUNTED[0]:
        return None
    written = written_since_last_step()
    if written:
        note_written(written)
    return 0 if WEIGHTS_WRITTEN[0] else MODEL_STEPS[0] - before


def written_since_last_step(skip: frozenset[int] = frozenset(), now: dict[int, Any] | None = None) -> str | None:
    """How the trained model changed since the last step that moved it, or None: a parameter (as
    ``now`` read it, where it did: :func:`read_now`) differs from its value then (``skip``: ids of
    parameters a step now running may move), or the model holds parameters it did not hold when the
    run began (replaced by others)."""
    now = now or {}
    changed = [
        (key, p, now.get(key, p))
        for key, (p, value) in WATCHED.items()
        if key not in skip and not same_values(now.get(key, p), value)
    ]
    for key, p, read in changed:  # each may hold an earlier state of this training, restored (the best checkpoint)
        restored = next((state for state in HISTORY.get(key, ()) if same_values(read, state)), None)
        if restored is None:
            return WRITTEN_OUTSIDE
        WATCHED[key] = (p, restored)
    model = WATCHED_MODEL[0]
    if model is None:
        return None
    try:
        replaced = any(id(p) not in WATCHED for p in untouched.parameters(model))
    except Exception:  # a model whose parameters cannot be listed now: not the model that was trained
        replaced = True
    return REPLACED if replaced else None


def same_values(parameter: Any, value: Any) -> bool:
    """``parameter`` still holds ``value`` (NaN where NaN was: a diverged run is not a written one;
    anything that is not a tensor of its shape is a parameter replaced: written)."""
    return untouched.same(parameter, value)


def _parameters_of_model(model: Any) -> list[Any]:
    """The parameters ``model`` holds, read from nn.Module's own registries (grader.inside.untouched):
    what its class says its ``parameters()`` are does not choose which weights are watched."""
    try:
        return untouched.parameters(model)
    except TypeError:
        raise ProbeFailure(f"the model trained must be a torch.nn.Module (it is a {type(model).__name__})") from None


# -- replaying a trained model (see grader.judging.convergence.replay_problem) ------------------------


def projection(shape: tuple[int, ...]) -> np.ndarray:
    """The fixed direction along which a replay differentiates outputs (and perturbs parameters)."""
    size = int(np.prod(shape))
    return np.cos(np.arange(size) * 0.7 + 0.3).reshape(shape).astype(np.float32)


DROPOUT_FUNCTIONS = ("dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout")


@contextmanager
def as_in_training(model: Any) -> Iterator[Any]:
    """``model`` in training mode, as its training ran it, with the dropout the specified architectures
    have turned off (torch's dropout functions, which dropout modules call, and the recurrent layers'
    dropout between layers), and torch's generator seeded: a replay under it measures the forward the
    training ran. Replayed in eval mode, a forward that cut its gradient path only while training
    (``hidden.detach() if self.training else hidden``) was measured as the architecture, and its
    training credited (a2 80 where the work earns 50). Mode, layers and functions are restored."""
    torch = real_module("torch")
    functional = torch.nn.functional
    modes = {module: module.training for module in model.modules()}
    layers = {module: module.dropout for module in model.modules() if isinstance(module, torch.nn.RNNBase)}
    saved = {name: getattr(functional, name) for name in DROPOUT_FUNCTIONS if hasattr(functional, name)}
    saved_core = torch.dropout

    def kept(input: Any, *args: Any, **kwargs: Any) -> Any:
        return input

    try:
        model.train()
        for layer in layers:
            layer.dropout = 0.0
        for name in saved:
            setattr(functional, name, kept)
        torch.dropout = kept
        torch.manual_seed(0)
        yield model
    finally:
        torch.dropout = saved_core
        for name, function in saved.items():
            setattr(functional, name, function)
        for layer, rate in layers.items():
            layer.dropout = rate
        for module, mode in modes.items():
            module.training = mode


def replay_sensitivity(model: Any, outputs: Any, recompute: Any) -> dict[str, Any]:
    """How ``outputs`` (a tensor the trained ``model`` computed, :func:`as_in_training`) depend on each parameter:
    ``{"grads": name -> gradient of sum(outputs * projection)}``, every name of a shared parameter
    included; or, where the outputs carry no graph (a forward that turns gradients off outside
    training, which the handouts allow), ``{"directional": name -> the same sum's derivative along
    projection(parameter's shape)}`` by central differences, ``recompute()`` giving the outputs again.
    autograd.grad leaves the model's .grad fields untouched; perturbed parameters are restored."""
    torch = real_module("torch")
    named = [(name, p) for name, p in untouched.named_parameters(model) if untouched.requires_grad(p)]
    direction = torch.tensor(projection(tuple(outputs.shape)), device=outputs.device, dtype=outputs.dtype)
    if outputs.requires_grad:
        found = torch.autograd.grad((outputs * direction).sum(), [p for _, p in named], allow_unused=True)
        return {
            "grads": {
                name: np.zeros(tuple(p.shape), np.float32) if g is None else as_array(g, f"the gradient of {name}")
                for (name, p), g in zip(named, found)
            }
        }

    def objective() -> float:
        again = recompute()
        return float((again.double() * direction.double()).sum())

    directional: dict[str, float] = {}
    done: dict[int, float] = {}
    with torch.no_grad():
        for name, p in named:
            if id(p) not in done:
                saved = p.detach().clone()
                step = torch.tensor(projection(tuple(p.shape)), device=p.device, dtype=p.dtype)
                eps = 1e-3 * max(float(saved.double().abs().mean()), 1e-2)
                p.copy_(saved + eps * step)
                plus = objective()
                p.copy_(saved - eps * step)
                minus = objective()
                p.copy_(saved)
                done[id(p)] = (plus - minus) / (2 * eps)
            directional[name] = done[id(p)]
    return {"directional": directional}


def replayed_scores(scores: Any, named: list[tuple[str, Any]]) -> dict[str, Any]:
    """The verifier's replay of scores the specified architecture computed (with their graph): the
    scores, the gradient of every parameter of sum(scores * projection), its directional form, and
    the same for the scores' softmax and log-softmax over the last axis and their sigmoid
    (``"softmax"``, ``"log_softmax"``, ``"sigmoid"``). A model that returns probabilities or
    log-probabilities (a mistake of its forward, charged there) is still the specified architecture
    with the student's weights: its training is measured on the logits underneath, whose largest is
    still its largest."""
    import torch

    named = [(name, p) for name, p in named if p.requires_grad]  # a bias the student's model has not: none

    def replay(outputs: Any, keep: bool) -> dict[str, Any]:
        loss = (outputs * torch.tensor(projection(tuple(outputs.shape)))).sum()
        grads = torch.autograd.grad(loss, [p for _, p in named], allow_unused=True, retain_graph=keep)
        found = {name: (torch.zeros_like(p) if g is None else g).numpy() for (name, p), g in zip(named, grads)}
        return {"outputs": outputs.detach().numpy(), "grads": found, "directional": directional_of(found)}

    return {
        **replay(scores, True),
        "softmax": replay(torch.softmax(scores, dim=-1), True),
        "sigmoid": replay(torch.sigmoid(scores), True),
        "log_softmax": replay(torch.log_softmax(scores, dim=-1), False),
    }


def directional_of(grads: dict[str, Any]) -> dict[str, float]:
    """The verifier's side of :func:`replay_sensitivity`'s central differences: each gradient's
    derivative along projection(its shape)."""
    return {name: float(np.sum(np.asarray(g, dtype=np.float64) * projection(np.shape(g)))) for name, g in grads.items()}
