"""The step bookkeeping reads weights only through torch as it was before the student's code ran
(grader.inside.untouched): what a model's class, torch.Tensor's Python methods or a torch-function mode
say does not change what is read, and every model a student may build reads as nn.Module reads it."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

torch = pytest.importorskip("torch")
from conftest import REPO, SOLUTIONS  # noqa: E402

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


def test_no_code_of_the_student_s_runs_inside_a_read():
    """A hostile round named a None parameter with a str subclass whose __hash__ ran in the middle of
    the grader's read, and swapped the trained weights around it (a2 80 where the work earns 50)."""
    calls = []

    class Hooked(str):
        def __hash__(self):
            calls.append(self)
            return str.__hash__(self)

        def __eq__(self, other):
            calls.append(self)
            return str.__eq__(self, other)

    model = torch.nn.Linear(2, 2)
    model.register_parameter(Hooked("spare"), None)
    calls.clear()  # the student's own registration hashed it
    with pytest.raises(TypeError, match="something else than a str"):
        untouched.named_parameters(model)
    assert calls == []
    model = torch.nn.Sequential(torch.nn.Linear(2, 2))
    model._modules[Hooked("1")] = torch.nn.Linear(2, 2)
    calls.clear()
    with pytest.raises(TypeError):
        untouched.parameters(model)
    assert calls == []
    model = torch.nn.Linear(2, 2)
    model.__dict__[Hooked("_note")] = 1  # an attribute under such a name: looking up _parameters may compare it
    calls.clear()
    with pytest.raises(TypeError, match="attributes"):
        untouched.named_parameters(model)
    assert calls == []


def test_the_weights_sent_back_are_checked_as_they_are_read():
    """The weights a training probe sends back are the ones the run's last step left, checked on the
    tensors read: not swapped for others (replaced), not written in (outside the steps)."""
    from grader.inside import probe_api

    model = torch.nn.Linear(2, 2)
    probe_api.new_run()
    try:
        probe_api.training_of(model, lr=0.1)
        probe_api.trained_weights(model, "Model")
        assert probe_api.how_written() is None
        with torch.no_grad():
            model.weight.add_(1.0)
        probe_api.trained_weights(model, "Model")
        assert probe_api.how_written() == probe_api.WRITTEN_OUTSIDE
        probe_api.new_run()
        probe_api.training_of(model, lr=0.1)
        model.weight = torch.nn.Parameter(model.weight.detach().clone())
        probe_api.trained_weights(model, "Model")
        assert probe_api.how_written() == probe_api.REPLACED
    finally:
        probe_api.new_run()


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


# Run in a process of its own: sealing torch's kernels, or giving aten::equal a kernel, lasts for the
# life of the process. The routes a hostile round used or could use, in the order that keeps each
# one's effect apart: refusals first, then what must keep working, then what is read around.
KERNEL_ROUTES = r'''
import json, sys, warnings
import torch
from grader.inside import guards, untouched
warnings.simplefilter("ignore")
untouched.pin()
guards.seal_torch_kernels()
stepped, written = torch.zeros(3), torch.ones(3)
agree = lambda a, b: True
outcome = {}

def attempt(name, route):
    try:
        route()
        outcome[name] = "registered"
    except guards.ForbiddenApiUsed as exc:
        outcome[name] = "refused: " + str(exc)
    outcome[name + " fooled"] = untouched.same(written, stepped)

equal = "".join(map(chr, (101, 113, 117, 97, 108)))  # a name the integrity scan cannot read
attempt("Library", lambda: torch.library.Library("aten", "IMPL").impl(equal, agree, "CPU"))
attempt("Library with key", lambda: torch.library.Library("aten", "IMPL", "CPU").impl(equal, agree))
attempt("FRAGMENT", lambda: torch.library.Library("aten", "FRAGMENT").impl(equal, agree, "CPU"))
attempt("impl", lambda: torch.library.impl("aten::equal", "CPU", func=agree))
attempt("register_kernel", lambda: torch.library.register_kernel("aten::equal", "cpu", agree))
attempt("fallback", lambda: torch.library.Library("_", "IMPL").fallback(agree, "CPU"))

@torch.library.custom_op("studentlib::twice", mutates_args=())
def twice(x: torch.Tensor) -> torch.Tensor:
    return x * 2

outcome["custom op"] = twice(written).tolist()
outcome["vmap"] = torch.vmap(lambda x: x.sum())(torch.ones(2, 3)).tolist()
outcome["changed before"] = untouched.kernels_changed()

def python_dispatcher():
    torch.ops.aten.equal.default.py_impl(torch._C.DispatchKey.CPU)(agree)
    switched_on.append(torch._C._EnablePythonDispatcher())  # kept: on as long as the object lives
    switched_on[0].__enter__()

switched_on = []

attempt("Python dispatcher", python_dispatcher)
outcome["Python dispatcher says"] = torch.equal(written, stepped)
# Around the seal (what ctypes could do): the registration is made, and seen.
address = next(c.cell_contents for c in torch._C._dispatch_library.__closure__ if type(c.cell_contents) is int)
import ctypes
handle = ctypes.cast(address, ctypes.py_object).value("IMPL", "aten", "", "student.py", 0)
handle.impl("equal", "CPU", agree, False)
outcome["around fooled"] = untouched.same(written, stepped)
outcome["changed after"] = untouched.kernels_changed()
from grader.inside.child import _Libraries
outcome["training reply"] = _Libraries().checked({"ok": True, "data": 1, "steps": 2})
outcome["plain reply"] = _Libraries().checked({"ok": True, "data": 1})
print(json.dumps(outcome))
'''


def test_no_kernel_of_the_student_s_own_answers_for_torch_s_operators():
    import json
    import subprocess
    import sys

    from conftest import REPO

    run = subprocess.run(
        [sys.executable, "-c", KERNEL_ROUTES], capture_output=True, text=True, cwd=REPO, timeout=300, check=False
    )
    assert run.returncode == 0, run.stderr[-3000:]
    outcome = json.loads(run.stdout.strip().splitlines()[-1])
    for route in ("Library", "Library with key", "FRAGMENT", "impl", "register_kernel", "fallback"):
        assert outcome[route].startswith("refused: torch.library"), (route, outcome[route])
        assert outcome[route + " fooled"] is False, route
    assert outcome["custom op"] == [2.0, 2.0, 2.0]  # a namespace of the student's own still works
    assert outcome["vmap"] == [3.0, 3.0]  # torch registers vmap's kernels at first use: let through
    assert outcome["changed before"] is None
    assert outcome["Python dispatcher says"] is True  # it answers torch's own calls...
    assert outcome["Python dispatcher fooled"] is False  # ...not the grader's reads
    assert outcome["around fooled"] is True
    assert outcome["changed after"] == "aten::equal"
    # a training call's reply (it took optimizer steps) then counts for nothing, and says why
    assert outcome["training reply"]["ok"] is False
    assert "torch's kernel of aten::equal" in outcome["training reply"]["error"]["message"]
    assert outcome["plain reply"] == {"ok": True, "data": 1}


def test_numbers_of_numpy_subclasses_are_read_with_numpy_s_own_methods():
    """A list of np.float64 subclasses returned by train() (the losses) ran their item() after the
    student's training had returned, where the grader turned them into plain numbers."""
    import numpy as np

    from grader.inside.plain import to_plain

    class Talking(np.float64):
        def item(self, *args):
            raise AssertionError("the student's item() ran")

    class Key(np.int64):
        def __int__(self):
            raise AssertionError("the student's __int__ ran")

    assert to_plain([Talking(1.5), np.float32(2.5)]) == [1.5, 2.5]
    assert to_plain({Key(4): 1}) == {"4": 1}


def test_a_run_starts_from_the_grader_s_initial_weights():
    """a2 loads its initial weights into the student's model through the student's load_state_dict,
    and watches the run from there: weights that are not those at the start count as written."""
    from grader.inside import probe_api

    cell = torch.nn.RNNCell(4, 4)
    initial = {name: value.clone() for name, value in cell.state_dict().items()}
    probe_api.new_run()
    try:
        probe_api.training_of(cell, lr=0.1)
        probe_api.started_from(cell, initial)
        assert probe_api.how_written() is None
        probe_api.new_run()
        with torch.no_grad():
            cell.weight_hh.mul_(2.0)  # what a steered load_state_dict leaves
        probe_api.training_of(cell, lr=0.1)
        probe_api.started_from(cell, initial)
        assert probe_api.how_written() == probe_api.WRITTEN_OUTSIDE
    finally:
        probe_api.new_run()


def test_the_step_hooks_read_an_optimizer_as_the_built_in_types_hold_it():
    """A hostile round's hook registry (a dict subclass whose __len__ wrote the weights and said 0) ran
    inside the bookkeeping's step hook; groups or registries of other types are read as none."""
    import collections

    from grader.inside.child import _own_attribute, _parameters_of

    ran = []

    class Talking(collections.OrderedDict):
        def __len__(self):
            ran.append("len")
            return 0

        def get(self, *args):
            ran.append("get")
            return super().get(*args)

    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    assert [id(p) for p in _parameters_of(optimizer)] == [id(p) for p in model.parameters()]
    optimizer._optimizer_step_pre_hooks = Talking()
    assert type(_own_attribute(optimizer, "_optimizer_step_pre_hooks")) is Talking  # seen as what it is
    optimizer.param_groups[0] = Talking(optimizer.param_groups[0])
    assert _parameters_of(optimizer) == [] and ran == []


FRAMES_REFUSED = r'''
import json, os, sys, traceback
from grader.inside import guards
import numpy, torch
packages = os.path.dirname(os.path.dirname(torch.__file__)) + os.sep
guards.refuse_reaching_in((os.path.dirname(os.__file__) + os.sep, os.path.dirname(guards.__file__) + os.sep, packages))
guards.block_imports(["a_package_blocked_here"])  # as in a worker: the import finder is in sys.meta_path
student = """
import codecs, os, sys
def attempt():
    try:
        raise ValueError("x")
    except ValueError as error:
        return getattr(error.__traceback__, codecs.decode("go_senzr", "rot13"))
def generator():
    yield 1
def through_a_module():
    import warnings
    return warnings.sys._getframe(0)
def read_by_a_library():
    import string
    try:
        raise ValueError("x")
    except ValueError as error:
        return string.Formatter().get_field("0." + "tb_" + "frame", (error.__traceback__,), {})
def fetched_by_a_library():
    import logging
    return logging.currentframe()
def walked_by_a_library():
    import traceback
    return next(traceback.walk_stack(None))
def walked_the_objects():
    import torch
    collector = getattr(torch, "sys").modules["".join(map(chr, (103, 99)))]  # gc, named at run time
    return collector.get_objects()
def looked_up_in_c():  # a regression round's frame, from C: no frame event
    import torch
    raw = getattr(torch, "".join(map(chr, (99, 116, 121, 112, 101, 115))))  # torch.ctypes
    return getattr(raw.pythonapi, "PyEval_" + "GetFrame")
def read_memory():
    import torch
    raw = getattr(torch, "".join(map(chr, (99, 116, 121, 112, 101, 115))))
    return raw.string_at(id(attempt), 16)
def at_an_address():
    import torch
    raw = getattr(torch, "".join(map(chr, (99, 116, 121, 112, 101, 115))))
    return raw.c_ssize_t.from_address(id(attempt)).value
def walked_the_referrers():
    import gc
    return gc.get_referrers(attempt)
def compiled_under_a_library_name():  # a regression round: a frame walk compiled as "the standard library"
    return compile("def walk():\\n    return 1\\n", os.path.join(os.path.dirname(os.__file__), "_helpers.py"), "exec")
def renamed_code():
    import json
    return attempt.__code__.replace(co_filename=json.__file__)
def library_code_over_own_globals():  # genuine code, with names of the student's choosing
    import json
    return type(attempt)(json.dumps.__code__, {"_default_encoder": None})
def library_code_swapped_in():
    import colorsys
    def empty(r, g, b):
        pass
    empty.__code__ = colorsys.rgb_to_hls.__code__
    return empty
def library_code_decoded():
    import colorsys, marshal
    return marshal.loads(marshal.dumps(colorsys.rgb_to_hls.__code__))
def len_patched():  # a regression round: the hook asked len() whether the event had an attribute
    import builtins
    real = builtins.len
    builtins.len = lambda value: 0
    try:
        return attempt()
    finally:
        builtins.len = real
def hook_globals_emptied():  # the import finder's functions lead to the guards' module and its constants
    finder = next(f for f in sys.meta_path if type(f).__name__ == "_BlockedFinder")
    names = type(finder).find_spec.__globals__
    saved = dict(names)
    for key in ("FRAME_EVENTS", "FRAME_ATTRIBUTES", "CODE_EVENTS", "GC_EVENTS", "NAMES_READ"):
        names[key] = frozenset() if key != "NAMES_READ" else {}
    try:
        return sys._getframe(0)
    finally:
        names.update(saved)
def library_global_swapped():  # tempfile calls what its global names: here, a frame-handing function
    import inspect, tempfile
    saved = tempfile._get_default_tempdir, tempfile.tempdir
    tempfile._get_default_tempdir, tempfile.tempdir = inspect.currentframe, None
    try:
        return tempfile._gettempdir()
    finally:
        tempfile._get_default_tempdir, tempfile.tempdir = saved
def through_two_libraries(swapped_in):  # contextlib calls tempfile, which calls what its global names
    import contextlib, tempfile
    saved = tempfile._get_default_tempdir, tempfile.tempdir
    tempfile._get_default_tempdir, tempfile.tempdir = swapped_in, None
    try:
        with contextlib.ExitStack() as stack:
            stack.callback(tempfile._gettempdir)
    finally:
        tempfile._get_default_tempdir, tempfile.tempdir = saved
def library_global_swapped_for_getframe():
    return through_two_libraries(sys._getframe)
def library_global_swapped_for_a_walk():
    import gc
    return through_two_libraries(gc.get_objects)
def cached_property_of_the_stack():
    import functools, inspect
    class Number(int):
        pass
    Number.at = functools.cached_property(inspect.stack)
    Number.at.__set_name__(Number, "at")
    return Number(0).at[0][0]
def path_through_the_library_folder():  # the same text compiled under two spellings of a "library" file
    text = b"import sys\\ndef grab():\\n    return sys._getframe(1)\\ndef outer():\\n    return helper()\\n"
    import tempfile
    mine = os.path.join(tempfile.mkdtemp(), "helpers_of_mine.py")
    with open(mine, "wb") as handle:
        handle.write(text)
    up = os.path.dirname(os.__file__) + "/" + "/".join([".."] * 20)
    first, second = {}, {}
    exec(compile(text, up + mine, "exec"), first)
    exec(compile(text, up + "/." + mine, "exec"), second)
    first["helper"] = second["grab"]
    return first["outer"]()
def profiler_named_at_run_time():  # a profiler's callback is handed the frame of every call
    import threading
    got = []
    getattr(getattr(threading, "_sys"), "set" + "profile")(lambda frame, event, arg: got.append(frame))
    len(got)
    getattr(getattr(threading, "_sys"), "set" + "profile")(None)
    return got
def profiler_started_by_two_libraries():  # contextlib calls profile.Profile.runcall, which sets it
    import contextlib, functools, profile
    got = []
    class Keeping(profile.Profile):
        def trace_dispatch_call(self, frame, t):
            got.append(frame)
            return super().trace_dispatch_call(frame, t)
    Keeping.dispatch = dict(profile.Profile.dispatch, call=Keeping.trace_dispatch_call)
    with contextlib.ExitStack() as stack:
        stack.callback(functools.partial(Keeping().runcall, len, ()))
    return got
def stack_of_a_task():  # asyncio's Task.get_stack returns the frames its helper walked up
    import asyncio.tasks
    class Fake:
        pass
    def step():
        fake = Fake()
        fake._coro = running
        yield asyncio.tasks._PyTask.get_stack(fake)
    running = step()
    return next(running)[-2]
def debugger_set_up_by_a_library():  # pdb keeps the frames it read: functools.singledispatch calls it
    import functools, pdb
    try:
        raise LookupError
    except LookupError as error:
        caught = error.__traceback__
    debugger = pdb.Pdb(nosigint=True, readrc=False)
    functools.singledispatch(debugger.setup)(None, caught)
    return debugger.curframe
def wrapped_generator_frame():  # types.coroutine's wrapper hands its generator's frame over
    import functools, inspect, types
    def generator():
        wrapper = types._GeneratorWrapper(running[0])
        yield functools.singledispatch(inspect.getattr_static(wrapper, "gi_frame").fget)(wrapper)
    running = [generator()]
    return next(running[0])
def look_up_in_a_frame_above():  # torch.jit's name look-up in a caller's frame
    import functools, torch._jit_internal
    return functools.singledispatch(torch._jit_internal.createResolutionCallbackFromFrame)(1)
def fifth_round(route):  # each called for the student by functools.singledispatch (a fifth round)
    import functools, traceback
    try:
        raise LookupError
    except LookupError as error:
        caught = error.__traceback__
    if route == "jupyter_core":
        import jupyter_core.utils
        return functools.singledispatch(jupyter_core.utils._get_frame)(0)
    if route == "traceback_walk":
        return functools.singledispatch(next)(getattr(traceback, "_walk_tb_with_full_positions")(caught))
    if route == "tblib":
        import tblib
        got = []
        functools.singledispatch(tblib.Traceback)(caught, get_locals=lambda frame: got.append(frame) or {})
        return got
    from _pytest._code.code import TracebackEntry
    return functools.singledispatch(TracebackEntry.frame.fget)(TracebackEntry(caught)).raw
def honest_code_making():
    import colorsys, importlib, marshal, wave
    exec(compile("made = 1", "<string>", "exec"), {})
    mine = marshal.loads(marshal.dumps(compile("x = 2", "notes.py", "exec")))
    with open(colorsys.__file__, "rb") as source:
        compile(source.read(), colorsys.__file__, "exec")  # a library's own text, under its own name
    importlib.reload(colorsys)
    import torch
    torch.compile(torch.nn.Linear(2, 2))  # imports networkx, whose import makes functions of its own code
    return type(honest_code_making)(mine, {}) is not None and wave.Error is not None
def honest():
    import collections, enum, gc, io, logging, traceback, typing
    gc.collect()
    out = io.StringIO()
    try:
        raise KeyError("z")
    except KeyError:
        traceback.print_exc(file=out)
    traceback.print_stack(file=out)
    summary = traceback.extract_stack()
    logging.getLogger("student").warning("a warning")
    Color = enum.Enum("Color", "RED GREEN")
    T = typing.TypeVar("T")
    import numpy, torch
    library = torch.library.Library("studentframes", "DEF")  # reads its caller's file name
    library.define("twice(Tensor x) -> Tensor")
    @torch.library.custom_op("studentframes::thrice", mutates_args=())
    def thrice(x: torch.Tensor) -> torch.Tensor:
        return x * 3
    block = numpy.eye(2)
    grid = numpy.r_["block; block"]  # matrix syntax: numpy reads the caller's names
    return ("KeyError" in out.getvalue() and len(summary) > 0 and collections.namedtuple("P", "a")(1).a == 1
            and thrice(torch.ones(2)).tolist() == [3.0, 3.0] and grid.shape == (4, 2))
"""
namespace = {}
exec(compile(student, "/tmp/submission/craft_rnn.py", "exec"), namespace)
outcome = {}
try:
    namespace["attempt"]()
    outcome["traceback"] = "read"
except guards.ForbiddenApiUsed as exc:
    outcome["traceback"] = str(exc)
try:
    namespace["attempt"].__globals__["generator"]().gi_frame
    outcome["generator"] = "read"
except guards.ForbiddenApiUsed:
    outcome["generator"] = "refused"
try:
    namespace["through_a_module"]()
    outcome["getframe"] = "read"
except guards.ForbiddenApiUsed:
    outcome["getframe"] = "refused"
import collections
outcome["namedtuple"] = collections.namedtuple("Pair", "a b")(1, 2).b  # the library's own sys._getframe
def attempt(name, *args):
    try:
        namespace[name](*args)
        return "read"
    except guards.ForbiddenApiUsed:
        return "refused"
for name in ("read_by_a_library", "fetched_by_a_library", "walked_by_a_library", "walked_the_objects",
             "walked_the_referrers", "looked_up_in_c", "read_memory", "at_an_address"):
    outcome[name] = attempt(name)
outcome["honest"] = namespace["honest"]()
# code made to claim a library's file
for name in ("compiled_under_a_library_name", "renamed_code", "library_code_over_own_globals",
             "library_code_swapped_in", "library_code_decoded"):
    outcome[name] = attempt(name)
outcome["honest_code_making"] = namespace["honest_code_making"]()
for route in ("jupyter_core", "traceback_walk", "tblib", "pytest_entry"):
    outcome[route] = attempt("fifth_round", route)
for name in ("profiler_named_at_run_time", "profiler_started_by_two_libraries", "stack_of_a_task",
             "debugger_set_up_by_a_library", "wrapped_generator_frame", "look_up_in_a_frame_above",
             "len_patched", "hook_globals_emptied", "library_global_swapped", "library_global_swapped_for_getframe",
             "library_global_swapped_for_a_walk", "cached_property_of_the_stack", "path_through_the_library_folder"):
    outcome[name] = attempt(name)
try:
    raise KeyError("y")
except KeyError as error:  # the standard library formats tracebacks (the grader's describe() does)
    outcome["formatted"] = "KeyError" in "".join(traceback.format_exception(error))
outcome["used"] = guards.used
print(json.dumps(outcome))
'''


def test_code_outside_the_libraries_is_refused_the_frames_of_the_running_code():
    """A hostile round walked from a traceback (its attribute named by a string decoded at run time) to
    the probe's frame and rewrote the judged weights before they were sent (a4 86 where the work
    earns 60). Frames are refused to the student's files; the libraries still format tracebacks."""
    import json
    import subprocess
    import sys

    from conftest import REPO

    run = subprocess.run(
        [sys.executable, "-c", FRAMES_REFUSED], capture_output=True, text=True, cwd=REPO, timeout=120, check=False
    )
    assert run.returncode == 0, run.stderr[-3000:]
    outcome = json.loads(run.stdout.strip().splitlines()[-1])
    assert outcome["traceback"].startswith("a frame of the running code"), outcome
    assert outcome["generator"] == "refused" and outcome["getframe"] == "refused"
    assert outcome["namedtuple"] == 2
    # a library reading or fetching a frame for the student's code (a regression round: string.Formatter)
    for route in ("read_by_a_library", "fetched_by_a_library", "walked_by_a_library"):
        assert outcome[route] == "refused", route
    # every object of the process is one step from the garbage collector's walks, however gc is reached
    assert outcome["walked_the_objects"] == "refused" and outcome["walked_the_referrers"] == "refused"
    # ctypes however reached (torch.ctypes): no C function looked up, no memory read at an address
    for route in ("looked_up_in_c", "read_memory", "at_an_address"):
        assert outcome[route] == "refused", route
    # what honest code does with tracebacks, stacks and the libraries that look at their caller
    assert outcome["honest"] is True
    assert outcome["formatted"] is True
    # code that claims a library's file, the rules above trusting code by its file (a regression round
    # compiled a frame walk as "the standard library": a2 100 where the work earns 70, unflagged)
    for route in ("compiled_under_a_library_name", "renamed_code", "library_code_over_own_globals"):
        assert outcome[route] == "refused", route
    assert outcome["library_code_swapped_in"] == "refused" and outcome["library_code_decoded"] == "refused"
    assert outcome["honest_code_making"] is True  # strings, its own code, a library's own text, imports
    # the hostile rounds of 2026-12-04 (each a2 100 where the work earns 70): what the hook looked up when
    # it ran (builtins.len, its constants through the import finder's globals); a library's global
    # swapped for what reads or hands out a frame, or walks the objects; functools.cached_property calling
    # inspect.stack; a file name through ".." out of a library folder; a profiler named at run time or
    # started by two libraries; asyncio's get_stack; a debugger, types.coroutine's wrapper and torch.jit's
    # look-up, then jupyter_core, traceback's walk with positions, tblib and pytest's entries, each called
    # for the student by functools
    for route in (
        "len_patched",
        "hook_globals_emptied",
        "library_global_swapped",
        "library_global_swapped_for_getframe",
        "library_global_swapped_for_a_walk",
        "cached_property_of_the_stack",
        "path_through_the_library_folder",
        "profiler_named_at_run_time",
        "profiler_started_by_two_libraries",
        "stack_of_a_task",
        "debugger_set_up_by_a_library",
        "wrapped_generator_frame",
        "look_up_in_a_frame_above",
        "jupyter_core",
        "traceback_walk",
        "tblib",
        "pytest_entry",
    ):
        assert outcome[route] == "refused", route
    assert outcome["used"] == [
        "a frame of the running code (tb_frame, gi_frame, sys._getframe)",
        "a walk of the garbage collector's objects (gc.get_objects, gc.get_referrers, gc.get_referents)",
        "ctypes (a C function looked up, or memory read at an address)",
        "code that claims a library's file (compile, marshal, or a code object or function made with one)",
        "a profiler or a tracer (sys.setprofile, sys.settrace: handed the frame of every call)",
    ]


HIDDEN_GRADER = r"""
import json, sys
from grader.inside import guards, probe_api
steps = probe_api.MODEL_STEPS
guards.hide_the_grader()
outcome = {"steps still counted": probe_api.MODEL_STEPS is steps}
name = "".join(["grader", ".inside", ".probe_api"])
found = getattr(sys, "modules").get(name)
try:
    found.MODEL_STEPS[0] = 10**6
except TypeError:  # a stand-in's attribute is a stand-in too
    pass
try:
    found.note_states()
    outcome["looked up"] = "reached"
except guards.ForbiddenApiUsed as exc:
    outcome["looked up"] = str(exc)
try:
    __import__(name, fromlist=["new_run"]).new_run()
    outcome["imported"] = "reached"
except guards.ForbiddenApiUsed as exc:
    outcome["imported"] = str(exc)
outcome["steps"] = steps[0]
outcome["used"] = guards.used
print(json.dumps(outcome))
"""


def test_the_grader_s_own_modules_are_out_of_reach_by_name():
    """A hostile round looked the training's bookkeeping up as ``torch.sys.modules[...]`` with names
    built by ``chr`` (a2 100 where the work earns 70): once the worker is set up, the grader's modules
    are stand-ins that refuse every use, by name or by a new import, while the grader's code keeps them."""
    import json
    import subprocess
    import sys

    from conftest import REPO

    done = subprocess.run([sys.executable, "-c", HIDDEN_GRADER], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout)
    assert outcome["steps still counted"] is True and outcome["steps"] == 0
    assert outcome["looked up"].startswith("grader.inside.probe_api") and "not allowed" in outcome["looked up"]
    assert outcome["imported"].startswith("grader.inside.probe_api")
    assert outcome["used"][0].startswith("grader.inside.probe_api")


# A student's module that looks for the grader's state from everything its code can reach without frames
# or the garbage collector (refused): torch's hook registries, threads, import finders, signal handlers,
# the interpreter's hooks, every module's functions and classes that come from the grader, the objects a
# probe hands over, and what each of those leads to through function internals, attributes, items and
# classes. A name built at run time passes the scan, so nothing here is hidden by how it is named.
EXPLORER = r'''
import signal, sys, threading, types

INTERNALS = ("__globals__", "__closure__", "cell_contents", "__defaults__", "__kwdefaults__", "__self__",
             "__func__", "__wrapped__", "func", "args", "keywords", "_target", "_args", "_kwargs", "__dict__",
             "fget", "fset", "__class__", "__mro__", "__bases__")
STATE = {"MODEL_STEPS", "WATCHED", "_run_probe", "training_of"}  # the bookkeeping, the child, the probes


def _grader_s(value):
    code = getattr(value, "__code__", None)
    filename = getattr(code, "co_filename", "") or ""
    return "/grader/" in filename or filename == "<probes>" or str(getattr(value, "__module__", "")).startswith(
        ("grader", "assignment_probes"))


def _roots(handed):
    import torch.nn.modules.module as modules
    import torch.optim.optimizer as optimizers
    roots = [("handed", handed), ("__main__", vars(sys.modules["__main__"]))]
    for owner, names in ((optimizers, ("_global_optimizer_pre_hooks", "_global_optimizer_post_hooks")),
                         (modules, [n for n in vars(modules) if n.startswith("_global_")])):
        roots += [(f"{owner.__name__}.{name}", getattr(owner, name)) for name in names]
    roots += [("threads", threading.enumerate()), ("meta_path", list(sys.meta_path)),
              ("path_hooks", list(sys.path_hooks)), ("trace", sys.gettrace()), ("profile", sys.getprofile()),
              ("excepthook", sys.excepthook), ("threading.excepthook", threading.excepthook)]
    for number in range(1, signal.NSIG):
        try:
            roots.append((f"signal {number}", signal.getsignal(number)))
        except (OSError, ValueError):
            pass
    for name, module in list(sys.modules.items()):
        if type(module) is not types.ModuleType:  # a stand-in (the grader's own modules, hidden)
            roots.append((f"sys.modules[{name!r}]", module))
            continue
        for key, value in list(vars(module).items()):
            if (callable(value) or isinstance(value, type)) and _grader_s(value):
                roots.append((f"{name}.{key}", value))
    return roots


def explore(handed):
    """Paths from what the student's code can reach to the grader's state (none is the answer)."""
    seen, found = set(), []
    frontier = _roots(handed)
    for depth in range(8):
        following = []
        for path, value in frontier:
            if id(value) in seen or len(seen) > 300000:
                continue
            if str(getattr(type(value), "__module__", "")).startswith("ctypes"):
                continue  # a library of C functions: every attribute is a look-up (refused to this code)
            seen.add(id(value))
            if type(value) is dict and STATE & set(k for k in value if type(k) is str):
                found.append(path)
                continue
            if isinstance(value, types.ModuleType):
                if type(value) is not types.ModuleType:  # a stand-in (every attribute is another): its class
                    following.append((f"{path}.__class__", type(value)))
                elif value.__name__.startswith(("grader", "assignment_probes")):
                    found.append(path)
                continue  # a library's module: its grader-made contents are roots already
            if isinstance(value, (str, bytes, int, float, bool, type(None))):
                continue
            if type(value) is dict:
                following += [(f"{path}[{k!r}]", v) for k, v in list(value.items())]
            elif type(value) in (list, tuple, set, frozenset):
                following += [(f"{path}[{i}]", v) for i, v in enumerate(value)]
            if isinstance(value, type):
                following += [(f"{path}.{k}", v) for k, v in list(vars(value).items())]
            for name in INTERNALS:
                try:
                    following.append((f"{path}.{name}", getattr(value, name)))
                except Exception:
                    pass
        frontier = following
    return sorted(found)[:40]
'''

EXPLORING_PROBES = """
import torch
from grader.inside.probe_api import training_of


class Handed(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 2)

    def forward(self, x):
        return self.linear(x)


def explore(student):
    return student.explore(training_of(Handed()))
"""


@pytest.fixture(scope="module")
def torch_box() -> Iterator[Any]:
    """One worker with torch for this file's tests of what student code can reach: each test's code
    runs in a child of its own (as every submission does), and torch is imported once, not per test."""
    from grader.sandbox import Sandbox
    from grader.sandbox.isolation import UNISOLATED

    box = Sandbox(UNISOLATED, preload=["torch"])
    try:
        yield box
    finally:
        box.close()


def test_nothing_the_student_s_code_can_reach_leads_to_the_grader_s_state(torch_box):
    """A hostile round took the grader's step hooks out of torch's registry and reset the training's
    bookkeeping through their ``__globals__``, every name built with ``chr`` (a2 100, a4 86, a5 94.68
    where the work earns 70, 60, 68.09); ``torch.sys.modules`` led there too. What the grader leaves
    where the student's code can look (torch's registries, threads, finders, signal handlers, stand-ins,
    the stand-in models the probes hand over) leads nowhere near the bookkeeping, the probes or the
    reply signer."""
    from grader.sandbox import Limits, LoadSpec

    worker = torch_box.worker(
        LoadSpec("explorer", "explorer.py", {"explorer.py": EXPLORER.encode()}, EXPLORING_PROBES), Limits()
    )
    try:
        assert worker.call("explore", {}) == []
    finally:
        worker.close()


def test_the_module_of_what_the_student_meets_imports_nothing_of_the_grader_s():
    """grader/inside/reachable.py holds what the student's code meets (the import finder, the watchdog,
    the stand-ins of hanging functions): its functions' globals must lead to no module of the grader's."""
    import ast

    from conftest import REPO

    tree = ast.parse((REPO / "grader" / "inside" / "reachable.py").read_text())
    imported = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    imported += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert imported and not [name for name in imported if name.split(".")[0] == "grader"], imported


# Each reference, with a look at the start of every function and method: from its arguments (and what
# they lead to through function internals, attributes, items and classes), can the student's code reach
# the training's bookkeeping, the child or the probes? A stand-in forward set on the student's model, a
# DataLoader's collate_fn or a stand-in model is one step from its globals. The names are built at run
# time, as a hostile round's were, so the integrity scan sees none of them.
LOOKING = r"""


def _named(*codes):
    return "".join(map(chr, codes))


_INTERNALS = [_named(*(ord(c) for c in name)) for name in (
    "__globals__", "__closure__", "cell_contents", "__defaults__", "__kwdefaults__", "__self__", "__func__",
    "__wrapped__", "func", "args", "keywords", "__dict__", "__class__", "collate_fn", "dataset", "batch_sampler")]
_STATE = {"MODEL_STEPS", "WATCHED", "_run_probe", "training_of", "training_with", "steps_since"}
_SEEN = {}
_MEETS = _named(*(ord(c) for c in "grader.inside.reachable"))  # what the student's code may meet
_OURS = ("grader", "assignment_probes", __name__)


def _ours(namespace):
    name = namespace.get("__name__") if type(namespace) is dict else None
    return name is None or str(name).startswith(_OURS)


def _look(values):
    import types
    import torch
    frontier, seen = list(values.items()), set()
    for _ in range(7):
        following = []
        for path, value in frontier:
            if id(value) in _SEEN or id(value) in seen:
                continue
            if isinstance(value, (torch.Tensor, str, bytes, int, float, bool, type(None))):
                continue
            seen.add(id(value))
            if isinstance(value, (type, types.FunctionType)):  # looked at once: what it leads to stays
                _SEEN[id(value)] = value
            if type(value) is dict:
                name = str(value.get("__name__"))  # a module's globals: the probes' or the grader's (but for
                module_s = name == "assignment_probes" or (name.startswith("grader.") and name != _MEETS)  # reachable.py)
                if module_s or _STATE & {key for key in value if type(key) is str}:
                    raise RuntimeError("REACHED " + path)
                if _ours(value) or "_parameters" in value or "_modules" in value:
                    following += [(f"{path}[{key!r}]", item) for key, item in list(value.items())]
                continue
            if isinstance(value, types.ModuleType):
                if type(value) is types.ModuleType and value.__name__.startswith(_OURS[:2]):
                    raise RuntimeError("REACHED " + path)
                continue
            if type(value) in (list, tuple, set, frozenset):
                following += [(f"{path}[{i}]", item) for i, item in enumerate(value)]
                continue
            if isinstance(value, type) and not str(value.__module__).startswith(_OURS):
                continue  # a library's class
            for name in _INTERNALS:
                try:
                    following.append((f"{path}.{name}", getattr(value, name)))
                except Exception:
                    pass
            if isinstance(value, type):
                following += [(f"{path}.{key}", item) for key, item in list(vars(value).items())]
        frontier = following
"""

# Each assignment's probes that hand the student's code something of the grader's, called as the
# checks call them (stand-ins where the student's own part failed its check, a5's loader and model).
HANDING_PROBES = {
    "a2_rnncell_ohlol": (
        "ohlol.py",
        [
            ("predict_words", {"words": ["hello"], "seed": 0, "stand_ins": True}),
            (
                "loss_curve",
                {"source": "hello", "target": "ohlol", "epochs": 2, "lr": 0.1, "seed": 0, "stand_ins": True},
            ),
        ],
    ),
    "a3_craft_rnn": (
        "craft_rnn.py",
        [
            (
                "classifier_forward",
                {
                    "input_size": 3,
                    "hidden_size": 4,
                    "output_size": 2,
                    "num_layers": 2,
                    "B": 2,
                    "T": 3,
                    "seed": 0,
                    "stand_in_rnn": True,
                },
            )
        ],
    ),
    "a4_seq2seq": (
        "seq2seq.py",
        [
            (
                "forward",
                {
                    "emb": 4,
                    "hidden": 5,
                    "layers": 1,
                    "batch": 2,
                    "src_len": 3,
                    "trg_len": 3,
                    "ratio": 0.5,
                    "seed": 0,
                    "stand_ins": True,
                },
            ),
            (
                "translate",
                {
                    "words": ["ab"],
                    "n_step": 3,
                    "emb": 4,
                    "hidden": 5,
                    "seed": 0,
                    "scale": 1.0,
                    "boost": 0.0,
                    "stand_ins": True,
                    "helpers_stand_in": True,
                },
            ),
            (
                "train_step",
                {
                    "emb": 4,
                    "hidden": 5,
                    "layers": 1,
                    "batch": 2,
                    "src_len": 3,
                    "trg_len": 3,
                    "ratio": 0.5,
                    "clip": 1.0,
                    "lr": 0.1,
                    "steps": 1,
                    "seed": 0,
                    "stand_in_forward": True,
                },
            ),
        ],
    ),
    "a5_sentiment_lstm": (
        "sentiment.py",
        [("train_epoch", {"sizes": [2, 2], "vocab": 20, "emb": 4, "classes": 2, "max_len": 5, "lr": 0.1, "seed": 0})],
    ),
}


def _looking(source: str) -> str:
    """``source`` with ``_look(locals())`` as the first statement of every function and method."""
    import ast

    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            look = ast.parse("_look(dict(locals()))").body[0]
            first = (
                1
                if node.body
                and isinstance(node.body[0], ast.Expr)
                and isinstance(getattr(node.body[0], "value", None), ast.Constant)
                else 0
            )
            node.body.insert(first, look)
    return ast.unparse(ast.fix_missing_locations(tree)) + LOOKING


@pytest.mark.parametrize("assignment", sorted(HANDING_PROBES))
def test_nothing_a_probe_hands_to_the_student_s_code_leads_to_the_grader_s_state(torch_box, assignment):
    """The reference, each function looking at what it was given before it runs, called by the probes
    that hand it the grader's stand-ins: no look reaches the bookkeeping, the child or the probes (a
    look that does raises, naming the path). Before, a2's stand-in forward, a3's stand-in RNN, a4's
    stand-in encoder, decoder, forward and helpers and a5's collate_fn and stand-in model each led to
    the probes' globals, and through them to the bookkeeping."""
    from grader.sandbox import Limits, LoadSpec

    module, calls = HANDING_PROBES[assignment]
    source = _looking((SOLUTIONS / assignment / module).read_text())
    probes = (REPO / "assignments" / assignment / "probes.py").read_text()
    worker = torch_box.worker(
        LoadSpec(module[:-3], module, {module: source.encode()}, probes), Limits(probe_timeout_s=60)
    )
    try:
        for probe, args in calls:
            worker.call(probe, args)  # a look that reaches the grader's state raises RunFailed: "REACHED ..."
    finally:
        worker.close()


def test_reads_inside_one_plain_stay_plain_until_the_outermost_ends():
    """The step hooks enter ``plain`` once for all their reads, and each read's own ``plain`` then does
    nothing: a mode of the student's answers no read inside, however deep, and answers again (with
    the collector running again) only once the outermost ``plain`` has ended, on this thread alone."""
    import gc
    import threading

    import torch
    from torch.overrides import TorchFunctionMode

    untouched.pin()
    seen: list[str] = []

    class Answering(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            seen.append(getattr(func, "__name__", "?"))
            return func(*args, **(kwargs or {}))

    weight = torch.ones(3)
    with Answering():
        with untouched.plain():
            with untouched.plain():
                untouched.copy(weight)
            assert untouched.same(weight, torch.ones(3)) and not gc.isenabled()
            other: list[bool] = []
            thread = threading.Thread(target=lambda: other.append(untouched.same(weight, weight)))
            thread.start()
            thread.join()
            assert other == [True]
            assert not seen, seen
        assert gc.isenabled()
        torch.add(weight, 1)
        with untouched.plain():  # a later plain switches the mode off again
            untouched.copy(weight)
            torch.mul(weight, 2)
    assert seen == ["add"], seen
