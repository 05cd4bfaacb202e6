"""The step bookkeeping reads weights only through torch as it was before the student's code ran
(grader.inside.untouched): what a model's class, torch.Tensor's Python methods or a torch-function mode
say does not change what is read, and every model a student may build reads as nn.Module reads it."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from types import ModuleType

import pytest

torch = pytest.importorskip("torch")
from conftest import SOLUTIONS  # noqa: E402

from grader.inside import untouched  # noqa: E402

untouched.pin()


def _reference(assignment: str, module: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"untouched_{module}", SOLUTIONS / assignment / f"{module}.py")
    assert spec is not None and spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


def _models() -> Iterator[tuple[str, torch.nn.Module]]:
    torch.manual_seed(0)
    yield "a2 Model", _reference("a2_rnncell_ohlol", "ohlol").Model()
    craft = _reference("a3_craft_rnn", "craft_rnn")
    yield "a3 CraftRNN", craft.CraftRNN(3, 5, num_layers=2, batch_first=True)
    yield "a3 SequenceClassifier", craft.SequenceClassifier(3, 5, 2, num_layers=2)
    seq2seq = _reference("a4_seq2seq", "seq2seq")
    encoder, decoder = seq2seq.Encoder(12, 8, 16), seq2seq.Decoder(12, 8, 16)
    yield "a4 Seq2Seq", seq2seq.Seq2Seq(encoder, decoder)
    sentiment = _reference("a5_sentiment_lstm", "sentiment")
    yield "a5 SentimentLSTM", sentiment.SentimentLSTM(30, 8, 6, 2, 2, bidirectional=True)
    shared = torch.nn.Linear(3, 3)
    yield "a layer shared twice, a buffer", torch.nn.Sequential(shared, torch.nn.BatchNorm1d(3), shared)


@pytest.mark.parametrize("name, model", list(_models()), ids=[name for name, _ in _models()])
def test_every_model_reads_as_nn_module_reads_it(name, model):
    """Fairness: the trained weights the verifier measures are the model's parameters, name for name."""
    expected = list(model.named_parameters(remove_duplicate=False))
    assert [(name, id(p)) for name, p in untouched.named_parameters(model)] == [(name, id(p)) for name, p in expected]
    assert [id(p) for p in untouched.parameters(model)] == [id(p) for p in model.parameters()]


def test_what_the_model_s_class_says_is_not_what_is_read():
    class Lying(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(2, 2)

        def state_dict(self, *args, **kwargs):
            return {"layer.weight": torch.zeros(2, 2)}

        def parameters(self, recurse=True):
            return iter([torch.nn.Parameter(torch.zeros(1))])

    model = Lying()
    named = dict(untouched.named_parameters(model))
    assert list(named) == ["layer.weight", "layer.bias"] and named["layer.weight"] is model.layer.weight
    assert [id(p) for p in untouched.parameters(model)] == [id(model.layer.weight), id(model.layer.bias)]
    with pytest.raises(TypeError):
        untouched.named_parameters(object())


def test_buffers_and_unusual_registries_are_not_read_as_weights():
    """A hostile round kept prepared weights as buffers under a parameter's name (a2 80 where the work
    earns 50), then as a dict subclass whose items() answered with them."""
    holder = torch.nn.Module()
    holder.register_buffer("weight_ih", torch.ones(2, 2))
    model = torch.nn.Module()
    model.rnncell = holder
    assert "rnncell.weight_ih" in model.state_dict() and untouched.named_parameters(model) == []

    class Answering(dict):
        def items(self):
            return [("weight_ih", torch.nn.Parameter(torch.ones(2, 2)))]

    holder._parameters = Answering()
    with pytest.raises(TypeError):
        untouched.named_parameters(model)


@pytest.fixture
def equal_redefined() -> Iterator[None]:
    """torch.Tensor's ``==`` and ``equal`` redefined to say "all equal", as a student's code can."""
    saved = torch.Tensor.__eq__
    torch.Tensor.__eq__ = lambda a, b: torch.ones(a.shape, dtype=torch.bool)  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        torch.Tensor.__eq__ = saved  # type: ignore[method-assign]


def test_a_redefined_equality_does_not_hide_a_write(equal_redefined):
    stepped, written = torch.zeros(3), torch.ones(3)
    assert bool((written == stepped).all())  # what the student's redefinition says
    assert not untouched.same(written, stepped)
    assert untouched.same(written, written.clone())


def test_a_torch_function_mode_does_not_answer_for_torch():
    class Agreeing(torch.overrides.TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            if func in (torch.equal, torch.Tensor.any):
                return True
            return func(*args, **(kwargs or {}))

    stepped, written = torch.zeros(3), torch.full((3,), 5.0)
    with Agreeing():
        assert torch.equal(written, stepped)  # what the mode says
        assert not untouched.same(written, stepped)
        assert untouched.further_than(written, stepped, 1.0)
        assert not untouched.further_than(stepped, stepped.clone(), 1.0)
        copied = untouched.copy(written)
    assert type(copied) is torch.Tensor and copied.tolist() == [5.0, 5.0, 5.0]


def test_nan_where_nan_was_is_the_same_and_shapes_must_agree():
    value = torch.tensor([1.0, float("nan")])
    assert untouched.same(value, value.clone())
    assert not untouched.same(value, torch.tensor([1.0, 2.0]))
    assert not untouched.same(torch.zeros(2, 1), torch.zeros(2))
    assert not untouched.same("not a tensor", torch.zeros(2))
    assert untouched.further_than(torch.tensor([float("nan")]), torch.tensor([0.0]), 1.0)


def test_a_gradient_is_read_from_the_tensor_type():
    parameter = torch.nn.Parameter(torch.zeros(2))
    assert not untouched.has_gradient(parameter)
    parameter.grad = torch.tensor([0.0, 0.5])
    assert untouched.has_gradient(parameter)
    parameter.grad = torch.zeros(2)
    assert not untouched.has_gradient(parameter)
