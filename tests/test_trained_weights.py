"""Trained weights count only if they are the model the student's code runs.

The verifier measures a training run by loading its weights into the reference architecture. A
hostile student can train some other model (a linear model on the summed inputs) and hand over weights
written by hand into the specified parameters, so that the reference architecture computes nearly the
same function: the verifier would then measure work the student's code never did. Every training probe
therefore also returns its trained model's *replay* (its own outputs on inputs the grader chose, and
the gradients of every parameter of a fixed projection of them); the verifier computes the same from
the weights in the reference architecture, and the trusted side requires them to agree
(grader.judging.convergence.replay_problem).

* the a3 cheat found by a tester (CraftRNN.forward raises; SequenceClassifier trains a linear model and
  writes an equivalent identity-running-sum RNN into rnn.* and fc.*) loses its training points, and
  scores no more than the same file without the trick;
* for every assignment with a verifier, the reference's replay equals the verifier's (tightly), and a
  model whose forward bypasses the specified architecture is refused with the sentence;
* judge_training never counts a run whose weights are not its model's.
"""

from __future__ import annotations

import importlib.util
import types

import numpy as np
import pytest
from conftest import REPO, SOLUTIONS, checks_of, score_of

from grader.judging.convergence import GRADIENTS_ONLY, NOT_THE_MODEL, judge_training, replay_problem

A3 = "a3_craft_rnn"
SENTENCE = (
    "your trained model does not compute what the specified architecture computes with its weights, "
    "so its training cannot be measured"
)

# The honest part: parameters right, no forward.
A3_HONEST_PARAMETERS = '''
import math

import torch
from torch import nn


class CraftRNN(nn.Module):
    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False):
        super().__init__()
        self.hidden_size, self.num_layers, self.bias, self.batch_first = hidden_size, num_layers, bias, batch_first
        for k in range(num_layers):
            d = input_size if k == 0 else hidden_size
            setattr(self, f"weight_ih_l{k}", nn.Parameter(torch.empty(hidden_size, d)))
            setattr(self, f"weight_hh_l{k}", nn.Parameter(torch.empty(hidden_size, hidden_size)))
            if bias:
                setattr(self, f"bias_ih_l{k}", nn.Parameter(torch.empty(hidden_size)))
                setattr(self, f"bias_hh_l{k}", nn.Parameter(torch.empty(hidden_size)))
        bound = 1.0 / math.sqrt(hidden_size)
        for parameter in self.parameters():
            nn.init.uniform_(parameter, -bound, bound)

    def forward(self, x, h0=None):
        raise NotImplementedError  # the student never wrote the RNN


class SequenceClassifier(nn.Module):
    def __init__(self, input_size, hidden_size, output_size, num_layers=1):
        super().__init__()
        self.rnn = CraftRNN(input_size, hidden_size, num_layers, batch_first=True)
        self.fc = nn.Linear(hidden_size, output_size)

    def forward(self, x):
        output, _ = self.rnn(x)
        return self.fc(output[:, -1])
'''

# The tester's cheat: a linear model of the summed inputs, and on every call the same function written
# into the RNN (h_T ~= eps * sum_t x_t in tanh's linear range) and into fc. It scored 25 (15 of them
# for training) where the honest part scores 10.
A3_CRAFTED_WEIGHTS = A3_HONEST_PARAMETERS.replace(
    '''        self.fc = nn.Linear(hidden_size, output_size)

    def forward(self, x):
        output, _ = self.rnn(x)
        return self.fc(output[:, -1])
''',
    '''        self.fc = nn.Linear(hidden_size, output_size)
        self.shortcut = nn.Linear(input_size, output_size)  # not part of the architecture: ignored

    def forward(self, x):
        logits = self.shortcut(x.sum(dim=1))
        eps = EPS
        D, H = x.shape[2], self.rnn.hidden_size
        with torch.no_grad():
            if D <= H and self.rnn.num_layers == 1:
                self.rnn.weight_ih_l0.zero_()
                self.rnn.weight_ih_l0[:D, :D] = eps * torch.eye(D)
                self.rnn.weight_hh_l0.zero_()
                self.rnn.weight_hh_l0[:D, :D] = torch.eye(D)
                if self.rnn.bias:
                    self.rnn.bias_ih_l0.zero_()
                    self.rnn.bias_hh_l0.zero_()
                self.fc.weight.zero_()
                self.fc.weight[:, :D] = self.shortcut.weight / eps
                self.fc.bias.copy_(self.shortcut.bias)
        return logits
''',
)
assert "shortcut" in A3_CRAFTED_WEIGHTS


@pytest.mark.slow
def test_crafted_weights_earn_no_training_points(grade_class):
    results = grade_class(
        {
            "honest_params": {f"{A3}/craft_rnn.py": A3_HONEST_PARAMETERS},
            "crafted_weights": {f"{A3}/craft_rnn.py": A3_CRAFTED_WEIGHTS.replace("EPS", "0.01")},
            # A smaller eps makes the RNN's function the linear model's to float precision: the outputs
            # then agree, but the RNN's parameters still get no gradient from the student's model.
            "crafted_tiny_eps": {f"{A3}/craft_rnn.py": A3_CRAFTED_WEIGHTS.replace("EPS", "1e-4")},
        }
    )
    honest = score_of(results["honest_params"], A3)
    for name in ("crafted_weights", "crafted_tiny_eps"):
        assert score_of(results[name], A3) <= honest, (name, score_of(results[name], A3), honest)
        check = {c["name"]: c for c in checks_of(results[name], A3)}["test_classifier_training"]
        assert check["points"] == 0 and SENTENCE in check["message"], (name, check["message"])
        assert "rnn.weight_ih_l0" in check["message"] and "no gradient" in check["message"], check["message"]


# -- every assignment with a verifier: the reference replays as the verifier does; a bypass is refused


def _load(name: str, path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _course(assignment: str, module: str) -> tuple[types.ModuleType, types.ModuleType, types.ModuleType]:
    folder = REPO / "assignments" / assignment
    return (
        _load(f"{assignment}_probes_tw", folder / "probes.py"),
        _load(f"{assignment}_verify_tw", folder / "verify.py"),
        _load(f"{assignment}_solution_tw", SOLUTIONS / assignment / f"{module}.py"),
    )


def _bypassing(solution: types.ModuleType, name: str, forward, shortcut=None) -> types.ModuleType:
    """The reference module with class ``name``'s forward replaced (and ``self.shortcut =
    shortcut(self)`` added): a model that trains, whose specified parameters are not what it computes with."""
    base = solution.__dict__[name]

    def __init__(self, *args, **kwargs):
        base.__init__(self, *args, **kwargs)
        if shortcut is not None:
            self.shortcut = shortcut(self)

    module = types.ModuleType(f"{solution.__name__}_bypass")
    module.__dict__.update(solution.__dict__)
    module.__dict__[name] = type(name, (base,), {"__init__": __init__, "forward": forward})
    return module


def _a2_runs(student):
    probes, verify, _ = _course("a2_rnncell_ohlol", "ohlol")
    runs = probes.train_seeds(student, "hello", "ohlol", seeds=[0, 1], epochs=15, lr=0.1)["runs"]
    return [(run, verify.predictions(None, run["weights"], ["hello"])["replayed"]) for run in runs]


def _a3_runs(student):
    probes, verify, _ = _course(A3, "craft_rnn")
    rng = np.random.default_rng(7)
    x = rng.standard_normal((64, 6, 3)).astype(np.float32)
    y = x.sum(1).argmax(1)
    runs = probes.classifier_training(student, seeds=[0, 1], x_train=x.tolist(), y_train=y.tolist(), epochs=5)
    return [(run, verify.classify(None, run["weights"], x, 12, 1)["replayed"]) for run in runs["runs"]]


def _a4_runs(student):
    probes, verify, _ = _course("a4_seq2seq", "seq2seq")
    pairs = [("hello", "hola"), ("cat", "gato")]
    runs = probes.train_pairs(student, pairs, 5, 8, 16, 0.01, 3, 2, 0.5, [0, 1])["runs"]
    return [(run, verify.translations(None, run["weights"], ["cat"], 5, 8, 16)["replayed"]) for run in runs]


def _a5_runs(student):
    probes, verify, _ = _course("a5_sentiment_lstm", "sentiment")
    texts = ["a good film", "not good at all", "bad plot", "a really good plot", "not bad", "bad bad film"]
    labels = [1, 0, 0, 1, 1, 0]
    runs = probes.train_classifier(student, texts, labels, 2, 3, 0.01, 8, 8, [0, 1])["runs"]
    return [(run, verify.classify(None, run["weights"], run["vocab"], texts, 8, 8)["replayed"]) for run in runs]


def _linear(inputs: int, outputs: int):
    import torch

    return lambda self: torch.nn.Linear(inputs, outputs)


def _a2_bypass(self, x_t, hidden):  # a memoryless linear map: rnncell never computes
    return self.shortcut(x_t) + 0 * hidden


def _a3_bypass(self, x):  # the linear model of the summed inputs, without the weight writing
    return self.shortcut(x.sum(dim=1))


def _a4_bypass(self, token, hidden, cell):  # the previous letter alone: the decoder's LSTM never computes
    torch = __import__("torch")
    letter = self.embedding(token)
    return self.fc(torch.cat([letter, letter], dim=-1)[..., : self.fc.in_features]), hidden, cell


def _a5_bypass(self, x, lengths):  # the mean of the word vectors: the LSTM never computes
    torch = __import__("torch")
    mask = (torch.arange(x.shape[1], device=x.device)[None, :] < lengths.to(x.device)[:, None]).float()
    mean = (self.embedding(x) * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
    return self.fc(torch.cat([mean, mean], dim=1)[:, : self.fc.in_features])


CASES = {
    "a2_rnncell_ohlol": ("ohlol", "Model", _a2_bypass, _linear(4, 4), _a2_runs),
    A3: ("craft_rnn", "SequenceClassifier", _a3_bypass, _linear(3, 3), _a3_runs),
    "a4_seq2seq": ("seq2seq", "Decoder", _a4_bypass, None, _a4_runs),
    "a5_sentiment_lstm": ("sentiment", "SentimentLSTM", _a5_bypass, None, _a5_runs),
}


@pytest.mark.parametrize("assignment", sorted(CASES))
def test_reference_replays_as_the_verifier_and_a_bypass_is_refused(assignment):
    module, name, bypass, shortcut, runs_of = CASES[assignment]
    _, _, solution = _course(assignment, module)
    solution.torch.set_num_threads(1)
    for run, replayed in runs_of(solution):
        assert replay_problem(run, replayed) is None
        errors = [np.abs(run["replay"]["outputs"] - replayed["outputs"]).max()] + [
            np.abs(run["replay"]["grads"][key] - value).max() / (np.abs(value).max() + 1e-12)
            for key, value in replayed["grads"].items()
        ]
        assert max(errors) < 1e-4, errors  # rounding only: the tolerance (2e-2) leaves room for GPUs
    for run, replayed in runs_of(_bypassing(solution, name, bypass, shortcut)):
        problem = replay_problem(run, replayed)
        assert problem and "no gradient" in problem, problem


def test_a_verifier_refuses_a_shape_before_building_anything_from_it():
    """An isolation round's a5 weights held an embedding.weight of shape (40 000 000, 0): no bytes to
    send, but the verifier built nn.Embedding(40 000 000, 32) from its rows, a 5 GB allocation refused,
    reported as the grader's failure ("not your fault"). The shape is refused first, as the student's."""
    from grader.inside.probe_api import ProbeFailure

    _, verify, _ = _course("a5_sentiment_lstm", "sentiment")
    weights = {"embedding.weight": np.zeros((40_000_000, 0), np.float32)}
    with pytest.raises(ProbeFailure, match=r"shape \(40000000, 0\): it needs embedding_dim=32 columns"):
        verify.classify(None, weights, {"a": 2}, ["a"], emb=32, hidden=8)


@pytest.mark.parametrize("assignment", [A3, "a4_seq2seq", "a5_sentiment_lstm"])
def test_a_model_returning_probabilities_is_the_specified_architecture_and_a_scaled_one_is_not(assignment):
    """A forward that returns softmax(logits) (catalogued, named by the forward checks) still computes
    the specified architecture with its weights: the verifier replays its softmax too, so training is
    measured (0 of 25 training points once, for a5 work that reached 0.98). Logits times 2 are not the
    architecture's, nor its probabilities: refused."""
    module, name, _, _, runs_of = CASES[assignment]
    _, _, solution = _course(assignment, module)
    solution.torch.set_num_threads(1)
    base = solution.__dict__[name]

    def transformed(change):
        def forward(self, *args):
            result = base.forward(self, *args)
            if isinstance(result, tuple):  # a4's Decoder: (logits, hidden, cell)
                return (change(result[0]), *result[1:])
            return change(result)

        return forward

    softmax = _bypassing(solution, name, transformed(lambda scores: scores.softmax(dim=-1)))
    for run, replayed in runs_of(softmax):
        assert replay_problem(run, replayed) is None
        assert replay_problem(run, {key: value for key, value in replayed.items() if key != "softmax"})
    # log-probabilities too (a3's classifier returning softmax lost its 15 training points once)
    log_softmax = _bypassing(solution, name, transformed(lambda scores: scores.log_softmax(dim=-1)))
    for run, replayed in runs_of(log_softmax):
        assert replay_problem(run, replayed) is None
        assert replay_problem(run, {key: value for key, value in replayed.items() if key != "log_softmax"})
    # the sigmoid of the scores (a teacher round's a5: learned to 0.98, lost every training check)
    sigmoid = _bypassing(solution, name, transformed(lambda scores: scores.sigmoid()))
    for run, replayed in runs_of(sigmoid):
        assert replay_problem(run, replayed) is None
        assert replay_problem(run, {key: value for key, value in replayed.items() if key != "sigmoid"})
    for run, replayed in runs_of(_bypassing(solution, name, transformed(lambda scores: 2 * scores))):
        assert replay_problem(run, replayed), "logits times 2 replayed as the architecture"


@pytest.mark.parametrize("mistake_id, variant", [("mean_of_outputs_as_features", "MEAN"), ("relu_on_features", "RELU")])
def test_a_catalogued_variant_of_a5s_features_is_measured_in_that_variant(mistake_id, variant):
    """A teacher round's a5 averaging the LSTM's outputs over each sentence's words learned to 0.94 and
    lost every training check: not the architecture. Catalogued (mean_of_outputs_as_features), and
    verify.py offers the variant; the same run is refused in the architecture itself."""
    from grader.course.mistakes import load_catalog
    from grader.course.model import load_course

    spec = load_course(REPO).get("a5_sentiment_lstm")
    mistake = load_catalog(spec.mistakes_path).get(mistake_id)
    source = mistake.mutate(spec.solution_files(), spec.module)["sentiment.py"]
    mutant = types.ModuleType("a5_mean_of_outputs_tw")
    exec(compile(source, "sentiment.py", "exec"), mutant.__dict__)
    _, verify, _ = _course("a5_sentiment_lstm", "sentiment")
    texts = ["a good film", "not good at all", "bad plot", "a really good plot", "not bad", "bad bad film"]
    for run, replayed in _a5_runs(mutant):
        assert replay_problem(run, replayed)
        measured = verify.classify(None, run["weights"], run["vocab"], texts, 8, 8, variant=getattr(verify, variant))
        assert replay_problem(run, measured["replayed"]) is None


# -- the trusted side's judgement --------------------------------------------------------------------


def _replay(outputs, **grads):
    return {"outputs": np.asarray(outputs, dtype=np.float32), "grads": {k: np.asarray(v) for k, v in grads.items()}}


def test_replay_problem_names_what_differs():
    want = _replay([[1.0, -2.0]], w=[[0.5, 0.25]], b=[1.0])
    assert replay_problem({"replay": want, "weights": {"w": 0, "b": 0}}, want) is None
    close = _replay([[1.0 + 1e-5, -2.0]], w=[[0.5, 0.25 + 1e-6]], b=[1.0])
    assert replay_problem({"replay": close, "weights": {"w": 0, "b": 0}}, want) is None
    assert "no outputs" in replay_problem({"weights": {}}, want)
    # a teacher round: word dropout written by hand made the training-mode replay differ; say where it runs
    other = replay_problem({"replay": _replay([[4.0, 3.0]], w=[[0.5, 0.25]], b=[1.0])}, want)
    assert "give different outputs" in other and "training mode" in other and "words dropped by hand" in other
    unused = replay_problem({"replay": _replay([[1.0, -2.0]], w=[[0.0, 0.0]], b=[1.0])}, want)
    assert "w get no gradient" in unused and "does not compute with it" in unused
    missing = replay_problem({"replay": _replay([[1.0, -2.0]], b=[1.0])}, want)
    assert "w get no gradient" in missing and "h_n[-1]" not in missing
    bidirectional = _replay([[1.0, -2.0]], w=[[0.5, 0.25]], w_reverse=[[0.5]])
    reverse = replay_problem({"replay": _replay([[1.0, -2.0]], w=[[0.5, 0.25]], w_reverse=[[0.0]])}, bidirectional)
    assert "w_reverse get no gradient" in reverse and "output[:, -1]" in reverse and "h_n[-1]" in reverse
    outputs = replay_problem({"replay": _replay([[1.5, -2.0]], w=[[0.5, 0.25]], b=[1.0])}, want)
    assert "different outputs" in outputs and "differ by" in outputs
    assert "shape (1, 3)" in replay_problem({"replay": _replay([[1.0, -2.0, 0.0]], w=[[0.5, 0.25]], b=[1.0])}, want)
    assert "NaN" in replay_problem({"replay": _replay([[np.nan, -2.0]], w=[[0.5, 0.25]], b=[1.0])}, want)
    gradient = replay_problem({"replay": _replay([[1.0, -2.0]], w=[[0.5, -0.25]], b=[1.0])}, want)
    # Right outputs, other gradients (a state detached between steps): said so, not "another model".
    assert gradient.startswith(GRADIENTS_ONLY) and "the gradient of w" in gradient and ".detach()" in gradient
    cut = [{"losses": [2.0, 1.0], "ok": True, NOT_THE_MODEL: gradient}]
    verdict = judge_training(cut, [{"losses": [2.0, 1.0], "ok": True, NOT_THE_MODEL: None}], converged=lambda r: True)
    assert verdict.fraction == 0.0 and GRADIENTS_ONLY in verdict.message and SENTENCE not in verdict.message
    # Weights taken by position (misnamed parameters): so are the gradients.
    renamed = {"replay": _replay([[1.0, -2.0]], my_w=[[0.5, 0.25]], my_b=[1.0]), "weights": {"my_w": 0, "my_b": 0}}
    assert replay_problem(renamed, want) is None


def test_a_row_or_two_without_gradient_is_a_frozen_row_not_a_cut_gradient():
    """An embedding with padding_idx=1 (the unknown word's id) leaves that row's gradient at zero: the
    model is the architecture, one row frozen. It was refused as a cut gradient (".detach()"), so a5 work
    that otherwise trained to 0.9 lost all 25 training points to a message blaming a correct forward."""
    embedding = [[0.0, 0.0], [0.3, -0.2], [0.1, 0.4], [0.2, 0.2]]  # the architecture's: row 0 is padding
    want = _replay([[1.0, -2.0]], embedding=embedding, b=[1.0])
    one_frozen = [[0.0, 0.0], [0.0, 0.0], [0.1, 0.4], [0.2, 0.2]]
    frozen: list[str] = []
    assert replay_problem({"replay": _replay([[1.0, -2.0]], embedding=one_frozen, b=[1.0])}, want, frozen) is None
    assert frozen and "embedding gets no gradient in row 1," in frozen[0] and "padding_idx=1" in frozen[0]
    three_frozen = [[0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]
    assert replay_problem({"replay": _replay([[1.0, -2.0]], embedding=three_frozen, b=[1.0])}, want)
    frozen_and_other = [[0.0, 0.0], [0.0, 0.0], [0.1, 0.9], [0.2, 0.2]]
    problem = replay_problem({"replay": _replay([[1.0, -2.0]], embedding=frozen_and_other, b=[1.0])}, want)
    assert problem and problem.startswith(GRADIENTS_ONLY)
    # The verdict says so, whatever it is.
    reference = [{"losses": [2.0, 1.0], "ok": True, NOT_THE_MODEL: None} for _ in range(3)]
    runs = [dict(run, losses=[2.1, 1.1], frozen_rows=frozen) for run in reference]
    verdict = judge_training(runs, reference, converged=lambda run: run["ok"])
    assert verdict.fraction == 1.0 and "padding_idx=1" in verdict.message


def test_judge_training_never_counts_a_run_whose_weights_are_not_its_model():
    reference = [{"losses": [2.0, 1.0], "ok": True, NOT_THE_MODEL: None} for _ in range(10)]
    honest = [dict(run, losses=[2.1, 1.1]) for run in reference]
    assert judge_training(honest, reference, converged=lambda run: run["ok"]).fraction == 1.0
    impostor = [dict(run, **{NOT_THE_MODEL: "rnn.weight_ih_l0 get no gradient"}) for run in honest]
    verdict = judge_training(impostor, reference, converged=lambda run: run["ok"])
    assert verdict.fraction == 0.0 and SENTENCE in verdict.message and "rnn.weight_ih_l0" in verdict.message
    # Even an exact copy of the reference's curves and weights does not pass without the model.
    copied = [dict(run, **{NOT_THE_MODEL: "fc.weight get no gradient"}) for run in reference]
    assert judge_training(copied, reference, converged=lambda run: run["ok"]).fraction == 0.0
    partly = honest[:5] + impostor[5:]
    verdict = judge_training(partly, reference, converged=lambda run: run["ok"])
    assert verdict.fraction < 1.0 and "seed #6 and 4 more" in verdict.message and SENTENCE in verdict.message
    with pytest.raises(ValueError, match="fails its own replay"):
        judge_training(honest, impostor, converged=lambda run: run["ok"])


def _a4_feeds_previous_letter(self, src, trg, teacher_forcing_ratio=0.5):  # teacher forcing one step late
    torch = __import__("torch")
    outputs = torch.zeros(trg.shape[0], trg.shape[1], self.decoder.fc.out_features, device=trg.device)
    _, hidden, cell = self.encoder(src)
    for t in range(1, trg.shape[1]):
        logits, hidden, cell = self.decoder(trg[:, max(t - 2, 0) : max(t - 1, 1)], hidden, cell)
        outputs[:, t] = logits[:, 0]
    return outputs


def test_a_mistake_in_training_alone_keeps_the_weights_the_model_s():
    """Fairness: a4's Seq2Seq.forward feeding the letter before the previous one trains its encoder and
    decoder wrongly, which the teacher-forcing checks judge; the trained weights are still the encoder's
    and the decoder's that the student's code runs, so the training checks measure them as they are."""
    _, _, solution = _course("a4_seq2seq", "seq2seq")
    solution.torch.set_num_threads(1)
    for run, replayed in _a4_runs(_bypassing(solution, "Seq2Seq", _a4_feeds_previous_letter)):
        assert replay_problem(run, replayed) is None


def _no_graph_in_eval(forward):
    """``forward`` run with gradients off outside training (``torch.set_grad_enabled(self.training)``),
    a style the handouts allow: the model's outputs carry no graph in eval mode."""

    def wrapped(self, *args):
        torch = __import__("torch")
        with torch.set_grad_enabled(self.training and torch.is_grad_enabled()):
            return forward(self, *args)

    return wrapped


def test_a_model_without_a_graph_in_eval_mode_keeps_its_training_points():
    """Fairness: a correct model whose outputs carry no graph in eval mode (a style the handouts allow)
    is replayed in training mode, as its training ran, and keeps its training points. The bypass that
    does so too is still refused."""
    _, _, solution = _course("a2_rnncell_ohlol", "ohlol")
    solution.torch.set_num_threads(1)
    honest = _bypassing(solution, "Model", _no_graph_in_eval(solution.Model.forward))
    for run, replayed in _a2_runs(honest):
        assert "grads" in run["replay"] and replay_problem(run, replayed) is None
    cheat = _bypassing(solution, "Model", _no_graph_in_eval(_a2_bypass), _linear(4, 4))
    for run, replayed in _a2_runs(cheat):
        problem = replay_problem(run, replayed)
        assert problem and "no gradient" in problem and "rnncell.weight_ih" in problem, problem


def _cut_while_training(forward):
    """``forward`` with the state entering each step detached in training mode only: truncated
    backpropagation while training, the full graph under model.eval() (found by a hostile-student round:
    replayed in eval mode, such a model was measured as the architecture and its training credited)."""

    def wrapped(self, x_t, hidden):
        return forward(self, x_t, hidden.detach() if self.training else hidden)

    return wrapped


def test_a_gradient_path_cut_only_while_training_is_refused():
    """The replay runs the model in training mode, its dropout off: the gradients it finds are the ones
    training used. a2 scored 80 where the honest cut (in both modes) scores 50."""
    _, _, solution = _course("a2_rnncell_ohlol", "ohlol")
    solution.torch.set_num_threads(1)
    for run, replayed in _a2_runs(_bypassing(solution, "Model", _cut_while_training(solution.Model.forward))):
        problem = replay_problem(run, replayed)
        assert problem and problem.startswith(GRADIENTS_ONLY), problem


def test_dropout_is_off_in_the_training_mode_replay_and_restored_after():
    """a5's dropout (a module, the LSTM's between layers, or torch's function called directly) would make
    a training-mode replay random: it is turned off for the replay, and everything is restored."""
    from grader.inside.probe_api import as_in_training

    torch = __import__("torch")

    class Noisy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(3, 4, num_layers=2, dropout=0.5, batch_first=True)
            self.drop = torch.nn.Dropout(0.5)

        def forward(self, x):
            out, _ = self.lstm(x)
            return torch.nn.functional.dropout(self.drop(out), 0.5, self.training)

    model = Noisy().eval()
    x = torch.randn(2, 5, 3)
    with torch.no_grad():
        expected = model(x)
        with as_in_training(model):
            assert model.training and model.drop.training
            assert torch.equal(model(x), expected) and torch.equal(model(x), expected)
    assert not model.training and not model.drop.training and model.lstm.dropout == 0.5
    assert torch.nn.functional.dropout(torch.ones(1000), 0.5, True).eq(0).any()


def test_a_parameter_registered_under_two_names_replays_under_both():
    """Fairness: ``self.cell = nn.RNNCell(...); self.rnncell = self.cell`` meets the handout; the replay
    names every parameter under all its names, not only the first (named_parameters' default)."""
    _, _, solution = _course("a2_rnncell_ohlol", "ohlol")
    solution.torch.set_num_threads(1)
    base = solution.Model

    def __init__(self, *args, **kwargs):
        base.__init__(self, *args, **kwargs)
        cell = self.rnncell
        del self.rnncell
        self.cell = cell  # registered first: named_parameters() would say cell.weight_ih only
        self.rnncell = cell

    module = types.ModuleType("ohlol_alias_first")
    module.__dict__.update(solution.__dict__)
    module.__dict__["Model"] = type("Model", (base,), {"__init__": __init__})
    for run, replayed in _a2_runs(module):
        assert replay_problem(run, replayed) is None


def test_a_run_that_took_too_few_optimizer_steps_never_counts():
    """Weights trained offline and copied in by a train_epoch that never steps: the run took none of the
    reference's optimizer steps, so it never counts as trained, even as an exact copy of the reference's
    run. Runs whose steps were not counted are judged as before; more steps than the reference's are
    fine (a student who steps per time step)."""
    reference = [{"losses": [2.0, 1.0], "ok": True, "steps": 48, NOT_THE_MODEL: None} for _ in range(10)]
    copied = [dict(run, steps=0) for run in reference]
    verdict = judge_training(copied, reference, converged=lambda run: run["ok"])
    assert (
        verdict.fraction == 0.0
        and "moved the weights in 0 optimizer steps where the reference solution's did in 48" in verdict.message
    )
    few = [dict(run, steps=23) for run in reference]
    assert judge_training(few, reference, converged=lambda run: run["ok"]).fraction == 0.0
    for steps in (24, 48, 480):
        honest = [dict(run, losses=[2.1, 1.1], steps=steps) for run in reference]
        assert judge_training(honest, reference, converged=lambda run: run["ok"]).fraction == 1.0, steps
    # Counted for the reference, so for the student too: a count switched off in their process is refused.
    uncounted = [dict(run, losses=[2.1, 1.1], steps=None) for run in reference]
    verdict = judge_training(uncounted, reference, converged=lambda run: run["ok"])
    assert verdict.fraction == 0.0 and "were not counted" in verdict.message
    unknown = [dict(run, steps=None) for run in reference]  # nothing counted anywhere: judged as before
    assert (
        judge_training(
            [dict(run, losses=[2.1, 1.1]) for run in unknown], unknown, converged=lambda run: run["ok"]
        ).fraction
        == 1.0
    )


STEPPING = '''
import torch


def train(lr, zero_grad_first=False, backward=True, write_after=None):
    """Three Adam steps of a one-weight model; what counts is whether a step moved the weight, and
    whether the weight was written outside the steps ("each": after every step, "last": at the end)."""
    weight = torch.nn.Parameter(torch.ones(3))
    optimizer = torch.optim.Adam([weight], lr=lr)
    for step in range(3):
        optimizer.zero_grad()
        if backward:
            (weight * torch.arange(3.0)).sum().backward()
        if zero_grad_first:
            optimizer.zero_grad()
        optimizer.step()
        if write_after == "each" or (write_after == "last" and step == 2):
            with torch.no_grad():
                weight.copy_(torch.tensor([0.5, -0.5, 2.0]))  # prepared weights
    return float(weight.sum())


def train_given(weight, optimizer, write_before=False, steer=False):
    """Three steps with the optimizer a training probe made: weights trained elsewhere and written in
    before the first step, or one step at a learning rate of 1e8 that lands on prepared weights."""
    if write_before:
        with torch.no_grad():
            weight.copy_(torch.tensor([0.5, -0.5, 2.0]))
    for step in range(3):
        optimizer.zero_grad()
        (weight * torch.arange(3.0)).sum().backward()
        if steer:
            optimizer.param_groups[0]["lr"] = 1e8
        optimizer.step()
    return float(weight.sum())


PREPARED = [5.0, -5.0, 20.0]  # far from the start: no step at the grader's learning rate gets there


def _land(parameter):
    with torch.no_grad():
        parameter.copy_(torch.tensor(PREPARED))


class Landing(torch.optim.Optimizer):
    def __init__(self, params, target):
        super().__init__(params, {})
        self.target = target

    @torch.no_grad()
    def step(self, closure=None):
        for parameter in self.param_groups[0]["params"]:
            parameter.copy_(self.target)


def train_given_otherwise(weight, optimizer, how):
    """Ways round the bookkeeping found by a hostile round (each scored like real training): a copy
    trained by an optimizer of its own and written in; a hook of the student's own on the probe's
    optimizer that writes during a real step; an optimizer of its own landing the weights in a real
    step (SGD, lr=1, gradient = weight - target); prepared weights with real steps of a scratch tensor."""
    if how == "shadow":
        shadow = torch.nn.Parameter(weight.detach().clone())
        own = torch.optim.Adam([shadow], lr=0.1)
        for _ in range(3):
            own.zero_grad()
            (shadow * torch.arange(3.0)).sum().backward()
            own.step()
        with torch.no_grad():
            weight.copy_(shadow)
    elif how == "hook":
        optimizer.register_step_post_hook(lambda *args: _land(weight))
        for _ in range(3):
            optimizer.zero_grad()
            (weight * torch.arange(3.0)).sum().backward()
            optimizer.step()
    elif how == "own_optimizer":
        own = torch.optim.SGD([weight], lr=1.0)
        weight.grad = weight.detach() - torch.tensor(PREPARED)
        own.step()
    elif how == "scratch":
        _land(weight)
        scratch = torch.nn.Parameter(torch.zeros(1))
        own = torch.optim.SGD([scratch], lr=1.0)
        for _ in range(3):
            scratch.grad = torch.ones(1)
            own.step()
    elif how == "closure":  # a real step whose closure copies the weights in
        for _ in range(3):
            optimizer.zero_grad()
            (weight * torch.arange(3.0)).sum().backward()
            optimizer.step(lambda: _land(weight))
    elif how == "through_nan":  # an optimizer whose step lands anywhere by way of NaN: |x - NaN| > bound is False
        weight.grad = torch.ones(3)
        for target in ([float("nan")] * 3, PREPARED, [float("nan")] * 3, PREPARED):
            Landing([weight], torch.tensor(target)).step()
    elif how in ("own_adam", "scheduler"):  # honest: an Adam of its own at the same rate; a decaying rate
        own = torch.optim.Adam([weight], lr=0.1) if how == "own_adam" else optimizer
        schedule = torch.optim.lr_scheduler.ExponentialLR(optimizer, 0.9) if how == "scheduler" else None
        for _ in range(3):
            own.zero_grad()
            (weight * torch.arange(3.0)).sum().backward()
            own.step()
            if schedule is not None:
                schedule.step()
    return float(weight.sum())


def train_model(model, how=None):
    """a2's shape: the probe hands over a model (training_of), the student's code makes the optimizer.
    Three honest Adam steps, or: prepared weights then steps of a scratch tensor; a copy trained and
    loaded in; the parameter replaced by another; a global step hook of the student's own that writes."""
    if how == "scratch":
        _land(model.weight[0])
        scratch = torch.nn.Parameter(torch.zeros(1))
        own = torch.optim.SGD([scratch], lr=1.0)
        for _ in range(3):
            scratch.grad = torch.ones(1)
            own.step()
        return 0.0
    if how == "replaced":
        model.weight = torch.nn.Parameter(torch.tensor([PREPARED]))
        return 0.0
    target = model
    if how == "shadow":
        import copy
        target = copy.deepcopy(model)
    if how == "global_hook":
        from torch.optim.optimizer import register_optimizer_step_post_hook

        register_optimizer_step_post_hook(lambda *args: _land(model.weight[0]))
    optimizer = torch.optim.Adam(target.parameters(), lr=0.1)
    best = None
    for step in range(3):
        optimizer.zero_grad()
        target(torch.ones(1, 3)).sum().backward()
        if how in ("best", "start") and step == 0:  # the checkpoint of the best loss so far
            best = {name: value.clone() for name, value in model.state_dict().items()}
        optimizer.step()
        if how == "best" and step == 0:
            best = {name: value.clone() for name, value in model.state_dict().items()}
    if how == "shadow":
        model.load_state_dict(target.state_dict())
    if best is not None:  # early stopping: an earlier state of this training restored
        model.load_state_dict(best)
    return 0.0
'''


def test_only_a_step_that_moves_a_weight_is_counted():
    """In the student's process (inside/child.py), an optimizer step counts where it changed a weight:
    not where no parameter has a gradient (zeroed before the step, or no backward) and not at a learning
    rate of 0, which let weights prepared offline pass as trained after real but inert steps; and a run
    whose weights were written outside the optimizer's steps (after each step, or after the last)
    counts none."""
    from grader.sandbox import Limits, LoadSpec, Sandbox
    from grader.sandbox.isolation import UNISOLATED

    probes = (
        "from grader.inside.probe_api import optimizer_steps, steps_since, training_of, training_with\n\n"
        "def steps(student, **how):\n"
        "    before = optimizer_steps()\n"
        "    student.train(**how)\n"
        "    return steps_since(before)\n\n"
        "def steps_given(student, **how):\n"
        "    import torch\n"
        "    before = optimizer_steps()\n"
        "    weight = torch.nn.Parameter(torch.ones(3))\n"
        "    optimizer = training_with(torch.optim.Adam([weight], lr=0.1))\n"
        "    student.train_given(weight, optimizer, **how)\n"
        "    return steps_since(before)\n\n"
        "def steps_otherwise(student, how):\n"
        "    import torch\n"
        "    before = optimizer_steps()\n"
        "    weight = torch.nn.Parameter(torch.ones(3))\n"
        "    optimizer = training_with(torch.optim.Adam([weight], lr=0.1))\n"
        "    student.train_given_otherwise(weight, optimizer, how)\n"
        "    return steps_since(before)\n\n"
        "def steps_of(student, how=None):\n"
        "    import torch\n"
        "    before = optimizer_steps()\n"
        "    model = training_of(torch.nn.Linear(3, 1, bias=False))\n"
        "    student.train_model(model, how)\n"
        "    return steps_since(before)\n"
    )
    box = Sandbox(UNISOLATED, preload=["torch"])
    try:
        worker = box.worker(LoadSpec("stepping", "stepping.py", {"stepping.py": STEPPING.encode()}, probes), Limits())
        assert worker.call("steps", {"lr": 0.1}) == 3
        assert worker.call("steps", {"lr": 0.0}) == 0
        assert worker.call("steps", {"lr": 0.1, "zero_grad_first": True}) == 0
        assert worker.call("steps", {"lr": 0.1, "backward": False}) == 0
        # weights copied in after real steps: no step produced them
        assert worker.call("steps", {"lr": 0.1, "write_after": "each"}) == 0
        assert worker.call("steps", {"lr": 0.1, "write_after": "last"}) == 0
        # with the optimizer a training probe made: written before the first step, or steered by its settings
        assert worker.call("steps_given", {}) == 3
        assert worker.call("steps_given", {"write_before": True}) == 0
        assert worker.call("steps_given", {"steer": True}) == 0
        assert worker.call("steps", {"lr": 0.1}) == 3  # and the next run is judged on its own
        # The bookkeeping follows the model being trained, whatever else steps (a hostile round's ways
        # round it each earned the training checks: 80 against 50 on a2, 86 against 60 on a4).
        for how in ("shadow", "hook", "own_optimizer", "scratch", "closure", "through_nan"):
            assert worker.call("steps_otherwise", {"how": how}) == 0, how
        # What counts is how far the weights move, not which optimizer moves them: honest variations
        # (an optimizer of its own at the same rate, a scheduler) lost every training point once.
        for how in ("own_adam", "scheduler"):
            assert worker.call("steps_otherwise", {"how": how}) == 3, how
        assert worker.call("steps_of", {}) == 3
        # Restoring an earlier state of the same training (the best checkpoint, or the start) is not a
        # write: keeping the best checkpoint lost a2's 30 training points once.
        assert worker.call("steps_of", {"how": "best"}) == 3
        assert worker.call("steps_of", {"how": "start"}) == 3
        for how in ("scratch", "shadow", "replaced", "global_hook"):
            assert worker.call("steps_of", {"how": how}) == 0, how
        worker.close()
    finally:
        box.close()


def test_what_only_the_trusted_side_says_of_a_run_is_never_taken_from_the_student():
    """measured_runs merged the student's run into the verdict's data: a run carrying "measured_as" or
    "frozen_rows" of its own put its text in the training check's message (an isolation round)."""
    from grader.judging.convergence import FROZEN_ROWS, MEASURED_AS, NOT_THE_MODEL, measured_runs

    class Verifier:
        def measure_each(self, function, items, **inputs):
            return [{"accuracy": 1.0} for _ in items]

    claimed = {"weights": {}, MEASURED_AS: "<b>anything</b>", FROZEN_ROWS: ["made up"], NOT_THE_MODEL: None}
    (run,) = measured_runs(Verifier(), [claimed], "classify")
    assert MEASURED_AS not in run and FROZEN_ROWS not in run and run["accuracy"] == 1.0


def test_a_layer_trained_without_its_bias_is_measured_with_a_zero_bias():
    """A teacher round's a5 with ``nn.Linear(2 * hidden, classes, bias=False)`` learned (dev accuracy
    0.99) and lost every training check: the verifier refused its weights, "missing fc.bias". Such a
    model is the architecture with a zero bias; any other parameter missing is still refused."""
    import torch

    from grader.inside.probe_api import ProbeFailure, load_trained

    trained = torch.nn.Linear(3, 2, bias=False)
    weights = {name: value.detach().numpy().copy() for name, value in trained.state_dict().items()}
    architecture = torch.nn.Linear(3, 2)
    notes = load_trained(architecture, weights, "the model")
    assert notes == ["bias (none: taken as zeros)"] and not architecture.bias.detach().any()
    x = torch.randn(4, 3)
    assert torch.equal(architecture(x), trained(x))
    from grader.inside.probe_api import replayed_scores

    replayed = replayed_scores(architecture(x), list(architecture.named_parameters()))
    assert list(replayed["grads"]) == ["weight"]  # as the student's model replays: it has no bias
    with pytest.raises(ProbeFailure, match="weight"):
        load_trained(torch.nn.Linear(3, 2), {"bias": np.zeros(2)}, "the model")


def test_a5s_verifier_encodes_with_the_vocabulary_build_vocab_made_not_one_rewritten_after_the_labels():
    """A hostile round: SentimentDataset, the first of the student's code to see the labels, rewrote the
    vocabulary in place (each made-up word to the row of its role in weights prepared offline), and the
    vocabulary read after training, which the verifier encodes with, carried what the labels told
    (94.68 where the work earns 68.09). The verifier now gets the vocabulary as build_vocab returned it."""
    _, _, solution = _course("a5_sentiment_lstm", "sentiment")
    base = solution.SentimentDataset

    class Rewriting(base):
        def __init__(self, texts, labels, vocab, *args, **kwargs):
            super().__init__(texts, labels, vocab, *args, **kwargs)
            for word in list(vocab):  # the labels' words on rows of their own choosing
                vocab[word] = 1

    student = types.ModuleType("a5_rewriting_vocab")
    student.__dict__.update(solution.__dict__)
    student.SentimentDataset = Rewriting
    texts = ["a good film", "not good at all", "bad plot", "a really good plot", "not bad", "bad bad film"]
    built = solution.build_vocab(list(texts))
    for run, _ in _a5_runs(student):
        assert run["vocab"] == built
