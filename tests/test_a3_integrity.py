"""a3's rule (no ready-made RNN) against a student who reaches around the guards instead of naming them.

* Each attack is written as a hostile student would: the reference's parameters, and a forward that
  removes the guard through ``sys.modules``, reaches the kernel through
  ``torch._C._VariableFunctionsClass.__dict__`` with a computed name, builds ``nn.RNN`` in an ``exec``'d
  string, or walks ``gc.get_objects()`` to the real nn.RNN. Graded, each scores no more than the same
  file whose forward raises NotImplementedError, and the forbidden-API check names the line.
* The run-time guards hold on their own (in a bare process, without the static scan): whatever the
  attack removes, torch's dispatcher still refuses the kernel.
* The integrity scan flags those constructs with their lines, and not honest code (the reference, the
  stubs, ``getattr(torch, self.nonlinearity)``, ``vars(self)``...), which keeps its 100.
* `grade report` lists the flagged students in the class overview ("Flagged for review").
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import REPO, SOLUTIONS, TEMPLATE, checks_of, report_class, score_of

A3 = "a3_craft_rnn"
REFERENCE = (SOLUTIONS / A3 / "craft_rnn.py").read_text()
FORBIDDEN = (
    "torch.nn.RNN",
    "torch.nn.RNNCell",
    "torch.nn.LSTM",
    "torch.nn.GRU",
    "torch._VF",
    "torch.rnn_tanh",
    "torch.rnn_relu",
    "torch.rnn_tanh_cell",
    "torch.rnn_relu_cell",
)


def with_forward(body: str, imports: str = "") -> str:
    """The reference solution with ``body`` as CraftRNN.forward's body and ``imports`` after torch's."""
    start = REFERENCE.index("        unbatched = x.dim() == 2\n")
    end = REFERENCE.index("        # END SOLUTION", start)
    source = REFERENCE[:start] + body + REFERENCE[end:]
    return source.replace("from torch import nn\n", "from torch import nn\n" + imports, 1)


def line_of(source: str, marker: str) -> int:
    return next(number for number, line in enumerate(source.splitlines(), start=1) if marker in line)


# The honest work underneath every attack: right parameters, no forward.
UNDERNEATH = with_forward("        raise NotImplementedError\n")

# Runs the real kernel (``kernel``), as nn.RNN's own forward does.
RUN_KERNEL = '''        unbatched = x.dim() == 2
        if unbatched:
            x, h0 = x.unsqueeze(1), (None if h0 is None else h0.unsqueeze(1))
        batch = x.shape[0] if self.batch_first else x.shape[1]
        if h0 is None:
            h0 = x.new_zeros(self.num_layers, batch, self.hidden_size)
        output, h_n = kernel(x, h0, list(self.parameters()), self.bias, self.num_layers, 0.0, self.training,
                             False, self.batch_first)
        return (output.squeeze(1), h_n.squeeze(1)) if unbatched else (output, h_n)
'''
KERNEL_BY_COMPUTED_NAME = '        kernel = torch._C._VariableFunctionsClass.__dict__["rnn_" + self.nonlinearity]\n'

# name: (source, a piece of the line the forbidden-API check must name). Each scored 100 before the
# guards were hardened and the scan was added (except the exec one, refused at run time already).
ATTACKS = {
    "guard_removed_via_sys_modules": with_forward(
        '''        guards = sys.modules["grader.inside." + "guards"]
        for library in getattr(guards, "_libraries", []):
            library._destroy()
        guards.used.clear()
'''
        + KERNEL_BY_COMPUTED_NAME
        + RUN_KERNEL,
        imports="import sys\n",
    ),
    "kernel_via_class_dict": with_forward(KERNEL_BY_COMPUTED_NAME + RUN_KERNEL),
    "exec_of_built_string": with_forward('''        scope = {"nn": nn}
        exec("Ready = nn.R" + "NN", scope)
        ready = scope["Ready"](self.input_size, self.hidden_size, num_layers=self.num_layers,
                               nonlinearity=self.nonlinearity, bias=self.bias, batch_first=self.batch_first)
        ready.load_state_dict(self.state_dict())
        return ready(x, h0)
'''),
    "gc_walk_to_nn_rnn": with_forward(
        '''        for thing in gc.get_objects():
            if type(thing).__name__ == "Library" and any("rnn" in key for key in getattr(thing, "_op_impls", ())):
                thing._destroy()
            elif type(thing).__name__ == "_FilteredKernels":
                thing.refused.clear()
        real = next(thing for thing in gc.get_objects() if isinstance(thing, type) and thing.__name__ == "RNN"
                    and thing.__module__ == "torch.nn.modules.rnn")
        ready = real(self.input_size, self.hidden_size, num_layers=self.num_layers,
                     nonlinearity=self.nonlinearity, bias=self.bias, batch_first=self.batch_first)
        ready.load_state_dict(self.state_dict())
        return ready(x, h0)
''',
        imports="import gc\n",
    ),
    "nn_rnn_in_another_interpreter": with_forward(
        '''        folder = tempfile.mkdtemp()
        sizes = dict(input_size=self.input_size, hidden_size=self.hidden_size, num_layers=self.num_layers,
                     nonlinearity=self.nonlinearity, bias=self.bias, batch_first=self.batch_first)
        torch.save({"x": x, "h0": h0, "state": self.state_dict(), "sizes": sizes}, os.path.join(folder, "in.pt"))
        subprocess.run([sys.executable, "-c", ELSEWHERE, folder], check=True)  # a fresh torch, no guards
        return tuple(torch.load(os.path.join(folder, "out.pt")))
''',
        imports="import os\nimport subprocess\nimport sys\nimport tempfile\n\nELSEWHERE = '''\n"
        "import os, sys, torch\nfolder = sys.argv[1]\nd = torch.load(os.path.join(folder, 'in.pt'))\n"
        "rnn = torch.nn.RNN(**d['sizes'])\nrnn.load_state_dict(d['state'])\n"
        "torch.save(rnn(d['x'], d['h0']), os.path.join(folder, 'out.pt'))\n'''\n",
    ),
}
FLAGGED_LINE = {
    "guard_removed_via_sys_modules": 'guards = sys.modules[',
    "kernel_via_class_dict": "torch._C._VariableFunctionsClass.__dict__",
    "exec_of_built_string": 'exec("Ready',
    "gc_walk_to_nn_rnn": "for thing in gc.get_objects():",
    "nn_rnn_in_another_interpreter": "import subprocess",
}

# Honest styles near the flagged ones: computed names on torch's public namespace, the student's own
# __dict__, gc.collect(), a membership test on sys.modules, exec of a constant string.
HONEST_STYLES = with_forward(
    REFERENCE[
        REFERENCE.index("        unbatched = x.dim() == 2\n") : REFERENCE.index(
            "        # END SOLUTION", REFERENCE.index("        unbatched")
        )
    ]
    .replace(
        'activation = torch.tanh if self.nonlinearity == "tanh" else torch.relu',
        'activation = getattr(torch, self.nonlinearity)\n'
        '        assert "weight_hh_l0" in vars(self)["_parameters"]\n'
        '        assert self.__dict__["training"] == self.training',
    )
    .replace("layer_input = torch.stack(states)", 'layer_input = getattr(torch, "stack")(states)'),
    imports='import gc\nimport sys\n\nIN_COLAB = "google.colab" in sys.modules\nexec("LIMIT = 10")\ngc.collect()\n',
)


# -- the scan alone ----------------------------------------------------------------------------------


def scan(source: str, **rules):
    from grader.intake.static_checks import analyse

    return analyse(source, "craft_rnn.py", **(rules or {"forbidden": FORBIDDEN}))


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attacks_are_flagged_at_their_line(name):
    source = ATTACKS[name]
    findings = scan(source)
    line = line_of(source, FLAGGED_LINE[name])
    assert line in [flagged for flagged, _ in findings.integrity], findings.integrity
    assert all(entry in findings.forbidden_uses for entry in findings.integrity)  # so a3's check fails
    message = findings.describe_forbidden("craft_rnn.py")
    assert "reaches around the course's rules: flagged for your instructor's review" in message
    assert f"craft_rnn.py, line {line})" in message, message


@pytest.mark.parametrize(
    "source, line, construct",
    [
        ("import ctypes", 1, "import ctypes"),
        # a module that changes its own __name__ runs its `if __name__ == "__main__":` block when graded
        (
            "__name__ = '__main__'\nif __name__ == '__main__':\n    import ctypes",
            1,
            '__name__ = … (then `if __name__ == "__main__":` runs when graded)',
        ),
        ("name, __name__ = __name__, '__main__'\nif __name__ == '__main__':\n    import ctypes", 3, "import ctypes"),
        (
            "globals()['__name__'] = '__main__'\nif __name__ == '__main__':\n    import gc\n    gc.get_objects()",
            4,
            "gc.get_objects",
        ),
        (
            "key = '__na' + 'me__'\nglobals().update({key: '__main__'})\n"
            "if __name__ == '__main__':\n    import gc\n    gc.get_objects()",
            5,
            "gc.get_objects",
        ),
        # ctypes as other modules hand it out (a hostile round's np.ctypeslib.ctypes.CDLL(None), unflagged)
        ("import numpy as np\nlibc = np.ctypeslib.ctypes.CDLL(None)", 2, "numpy.ctypeslib.ctypes.CDLL"),
        ("from numpy.ctypeslib import ctypes", 1, "numpy.ctypeslib.ctypes"),
        ("import numpy as np\nx = np.zeros(3).ctypes._ctypes", 2, "np.zeros(3).ctypes._ctypes"),
        ("import numpy as np\nlib = getattr(np, 'ctypeslib')", 2, "getattr(…, 'ctypeslib')"),
        ("import multiprocessing.sharedctypes as shared", 1, "multiprocessing.sharedctypes"),
        ("from cffi import FFI", 1, "import cffi"),
        # arrays over any address of the process, in plain numpy (a hostile round reset the training's
        # bookkeeping through an object naming id()s in its __array_interface__, unflagged)
        (
            "class Raw:\n    def __init__(self, at):\n        self.__array_interface__ = {'data': (at, False)}",
            3,
            "self.__array_interface__",
        ),
        ("class Raw:\n    __array_struct__ = None", 2, "class Raw defines __array_struct__"),
        (
            "class Raw:\n    @property\n    def __array_interface__(self):\n        return {}",
            3,
            "class Raw defines __array_interface__",
        ),
        (
            "Raw = type('Raw', (), {'__array_interface__': {}})",
            1,
            "'__array_interface__' (an array over any memory of the process)",
        ),
        ("import numpy as np\nat = np.zeros(1).__array_interface__['data'][0]", 2, "np.zeros(1).__array_interface__"),
        ("class Capsule:\n    def __dlpack__(self, stream=None):\n        pass", 2, "class Capsule defines __dlpack__"),
        (
            "import numpy as np\nnp.lib.stride_tricks.as_strided(np.zeros(1), (9,), (8,))",
            2,
            "numpy.lib.stride_tricks.as_strided",
        ),
        ("from numpy.lib.stride_tricks import as_strided", 1, "numpy.lib.stride_tricks.as_strided"),
        # the name built from constants (a regression round)
        (
            "Raw = type('Raw', (), {'__array_' + 'interface__': {}})",
            1,
            "'__array_interface__' (an array over any memory of the process)",
        ),
        (
            "name = '_'.join(['_', 'array', 'interface', '_'])",
            1,
            "'__array_interface__' (an array over any memory of the process)",
        ),
        ("name = f\"{'__array_'}{'struct__'}\"", 1, "'__array_struct__' (an array over any memory of the process)"),
        ("name = '__ecafretni_yarra__'[::-1]", 1, "'__array_interface__' (an array over any memory of the process)"),
        ("def peek(hook):\n    return getattr(hook, '__glob' + 'als__')", 2, "'__globals__' built from pieces"),
        # numpy's own holder of an interface (a regression round: no protocol name in the source)
        (
            "import numpy as np\nraw = np.lib.stride_tricks.DummyArray({}, None)",
            2,
            "numpy.lib.stride_tricks.DummyArray",
        ),
        ("from numpy.lib._stride_tricks_impl import DummyArray", 1, "numpy.lib._stride_tricks_impl"),
        ("import gc\nx = gc.get_referrers(1)", 2, "gc.get_referrers"),
        ("from gc import get_objects as walk\nwalk()", 2, "gc.get_objects"),
        ("import sys\nsys.modules['torch'] = None", 2, "sys.modules[…] = …"),
        ("import sys\ndel sys.modules['torch.nn']", 2, "del sys.modules[…]"),
        ("import sys\nsys.modules.pop('torch')", 2, "sys.modules.pop"),
        ("import sys as s\ns.modules.update({})", 2, "sys.modules.update"),
        ("import sys\nsys.modules.clear()", 2, "sys.modules.clear"),
        ("import sys\nsys.modules.setdefault('x', 1)", 2, "sys.modules.setdefault"),
        ("import sys\nguards = sys.modules['grader.inside.guards']", 2, "sys.modules[…]"),
        ("import sys\nsys.meta_path.insert(0, object())", 2, "sys.meta_path"),
        ("import sys\nsys.path_hooks.append(len)", 2, "sys.path_hooks"),
        ("import importlib, torch\nimportlib.reload(torch.nn)", 2, "importlib.reload"),
        (
            "import importlib\nname = 'torch._VF'\nimportlib.import_module(name)",
            3,
            "importlib.import_module of a computed name",
        ),
        ("__import__('tor' + 'ch')", 1, "__import__ of a computed name"),
        ("import torch\nname = 'x'\ngetattr(torch._C, name)", 3, "getattr(torch._C, …) with a computed name"),
        ("import torch\ngetattr(torch, '_C')", 2, "torch._C"),
        ("import torch as t\nt._C._VariableFunctions", 2, "torch._C"),
        ("from torch import _C", 1, "torch._C"),
        ("import torch\ntorch.ops.aten.add", 2, "torch.ops"),
        ("import torch\ntorch._ops", 2, "torch._ops"),
        ("import torch._decomp", 1, "torch._decomp"),
        ("import torch\ntorch.library.Library('aten', 'IMPL')", 2, "torch.library.Library"),
        ("from torch.library import impl", 1, "torch.library.impl"),
        ("import torch\ntorch.ops.aten.equal.default.py_impl", 2, "torch.ops.aten.equal.default.py_impl"),
        ("import torch\ntorch._C._EnablePythonDispatcher()", 2, "torch._C._EnablePythonDispatcher"),
        ("import torch\ntorch.ops.load_library('kernels.so')", 2, "torch.ops.load_library"),
        ("from torch import nn\nnn.__dict__['R' + 'NN']", 2, "torch.nn.__dict__"),
        ("import torch\nvars(torch)", 2, "vars(torch)"),
        ("import importlib\nm = importlib.import_module('torch')\nm.__dict__", 3, "torch.__dict__"),
        ("from torch import nn\nobject.__getattribute__(nn, 'RNN')", 2, "object.__getattribute__"),
        (
            "from torch import nn\nnn.modules.rnn.RNNBase.__subclasses__()",
            2,
            "torch.nn.modules.rnn.RNNBase.__subclasses__",
        ),
        ("def f():\n    pass\nf.__globals__", 3, "f.__globals__"),
        ("import sys\nsys._getframe(1).f_globals", 2, "sys._getframe"),
        # frames reached without naming f_globals (then read with a computed getattr): the probes
        ("import traceback\nframes = list(traceback.walk_stack(None))", 2, "traceback.walk_stack"),
        ("import traceback, sys\ntraceback.walk_tb(sys.exc_info()[2])", 2, "traceback.walk_tb"),
        ("import sys\nsys._current_frames()", 2, "sys._current_frames"),
        ("import inspect\ninspect.getargvalues(frame).locals", 2, "inspect.getargvalues"),
        ("from inspect import trace\ntrace()", 1, "inspect.trace"),
        ("import assignment_probes", 1, "import assignment_probes"),
        # a library the probes call, replaced in the process they share with the student's code
        ("import numpy as np\nnp.sum = lambda a: 0", 2, "numpy.sum replaced"),
        ("from numpy import random\nrandom.default_rng = None", 2, "numpy.random.default_rng replaced"),
        ("import builtins\ndel builtins.float", 2, "builtins.float replaced"),
        ("import numpy\nsetattr(numpy, 'sum', None)", 2, "setattr(numpy, …)"),
        ("code = 'x = 1'\nexec(code)", 2, "exec of a computed string"),
        ("eval('nn.R' + 'NN')", 1, "eval of a computed string"),
        ("compile(source, 'x', 'exec')", 1, "compile of a computed string"),
        ("run = exec\nrun('1')", 1, "exec passed around as a value"),
        ("exec('import ctypes')", 1, "import ctypes"),  # a constant string is scanned as code
        ("import builtins\nbuiltins.__import__('x')", 2, "builtins.__import__"),
        ("__import__('sys').modules.pop('torch')", 1, "sys.modules.pop"),
        ("import grader.inside.guards", 1, "import grader.inside.guards"),
        ("import subprocess", 1, "import subprocess"),
        ("import torch\nunit = torch.jit.CompilationUnit(source)", 2, "torch.jit.CompilationUnit"),
        ("from subprocess import run", 1, "import subprocess"),
        ("import os\nos.execv('/bin/sh', ['sh'])", 2, "os.execv"),
        ("from os import posix_spawn as go\ngo('x', [], {})", 1, "os.posix_spawn"),
        ("import os\nos.system('python -c 1')", 2, "os.system"),
        ("import os\nname = 'execv'\ngetattr(os, name)", 3, "getattr(os, …) with a computed name"),
        # code from strings by other names than exec (a hostile round: a base64 backward through runsource)
        ("import code\ncode.InteractiveInterpreter(globals()).runsource(text)", 2, "code.InteractiveInterpreter"),
        ("from cProfile import run\nrun(text)", 1, "cProfile.run"),
        ("import cProfile\nprofiler = cProfile.Profile()\nprofiler.run(text)", 3, "profiler.run of a statement"),
        ("import doctest\ndoctest.run_docstring_examples(f, {})", 2, "doctest.run_docstring_examples"),
        ("import pdb\npdb.Pdb(stdin=commands).set_trace()", 2, "pdb.Pdb"),
        ("import pkgutil\npkgutil.resolve_name(text)", 1, "import pkgutil"),
        ("import timeit\ntimeit.timeit(text, number=1)", 2, "timeit.timeit of a computed stmt"),
        ("from timeit import Timer\nTimer('pass', setup=text)", 2, "timeit.Timer of a computed setup"),
        ("import timeit\ntimeit.repeat('import ctypes')", 2, "import ctypes"),  # a constant is read as code
        ("from unittest import mock\nmock.patch('numpy.sum', len).start()", 2, "mock.patch(numpy.sum, …)"),
        ("from unittest import mock\nmock.patch.dict('sys.modules', {}).start()", 2, "mock.patch.dict(sys.modules, …)"),
        (
            "import logging.config\nlogging.config.dictConfig({'h': {'()': 'os.system'}})",
            2,
            "logging.config.dictConfig naming a callable outside logging",
        ),
        ("import sys\nsys.addaudithook(print)", 2, "sys.addaudithook"),
        ("import threading\nthreading.setprofile(print)", 2, "threading.setprofile"),
        ("from torch.utils.cpp_extension import load_inline", 1, "torch.utils.cpp_extension"),
        # breakpoint() calls the function PYTHONBREAKPOINT names, with its arguments (a regression round)
        ("import os\nos.environ['PYTHONBREAKPOINT'] = 'builtins.exec'", 2, "PYTHONBREAKPOINT"),
        ("breakpoint(text)", 1, "breakpoint with arguments (passed to the hook PYTHONBREAKPOINT names)"),
        ("import sys, io\nsys.stdin = io.StringIO(commands)", 2, "sys.stdin replaced"),
        ("import sys\nsetattr(sys, 'stdin', commands)", 2, "setattr(sys, …)"),
        ("import os\nos.environ['PY' + 'THONBREAKPOINT'] = hook", 2, "PYTHONBREAKPOINT"),
        # a hostile round's sixth pass: an annotation evaluated, pickle's private names, other loaders
        ("def install() -> 'exec(SOURCE, globals())':\n    pass", 1, "exec of a computed string"),
        (
            "def install():\n    pass\ninstall.__annotations__['return'] = text",
            3,
            "__annotations__ written at run time",
        ),
        ("C = type('C', (), {'__annotations__': {'x': text}})", 1, "__annotations__ written at run time"),
        ("import importlib\nimport torch.nn.modules.rnn as rnn\nimportlib.reload(rnn)", 3, "importlib.reload"),
        ("import pickle\npickle._loads(blob)", 2, "pickle._loads"),
        ("import numpy as np\nnp.load(data, None, True)", 2, "numpy.load with pickles (allow_pickle=True)"),
        (
            "import torch\ntorch.load(path, None, pickle)",
            2,
            "torch.load with a pickle module (then pickles load unless weights_only=True)",
        ),
        ("import timeit\ntimeit.main(['-s', text])", 2, "timeit.main"),
        # a short hostile round on the handed-in files: a data file run as code, three ways
        ("import yaml\nnamespace = yaml.unsafe_load(open('notes.yaml'))", 2, "yaml.unsafe_load"),
        ("import yaml\nnamespace = yaml.load(text, Loader=yaml.Loader)", 2, "yaml.Loader"),
        (
            "import importlib._bootstrap_external as ibe\nibe.SourceFileLoader('n', path)",
            1,
            "importlib._bootstrap_external",
        ),
        ("loader = type(__loader__)(text, path)", 1, "__loader__"),
        ("import types\nloader.exec_module(types.ModuleType('notes'))", 2, "loader.exec_module"),
        ("from unittest import mock\nmock.patch(f'{prefix}.sum', len).start()", 2, "mock.patch(a computed target, …)"),
        # numpy's own sum, reached through the module's alias of it (found reading the change once more)
        (
            "import numpy as np\nfrom unittest import mock\nmock.patch(__name__ + '.np.sum', len).start()",
            3,
            "mock.patch(this module.np.sum, …)",
        ),
        (
            "import numpy as np\nfrom unittest import mock\nmock.patch('srn.np.sum', len).start()",
            3,
            "mock.patch(srn.np.sum, …)",
        ),
        # unpicklers by other names: a pickle calls what it names (exec of a string the scan never reads)
        ("import numpy as np\nnp.load(data, allow_pickle=True)", 2, "numpy.load with pickles (allow_pickle=True)"),
        ("import torch\ntorch.load(path, weights_only=False)", 2, "torch.load with pickles (weights_only=False)"),
        ("from _pickle import loads", 1, "_pickle"),
        ("import shelve", 1, "shelve"),
    ],
)
def test_constructs_that_reach_around_the_guards_are_flagged(source, line, construct):
    findings = scan(source)
    assert (line, construct) in findings.integrity, findings.integrity


@pytest.mark.parametrize(
    "source",
    [
        REFERENCE,
        (TEMPLATE / A3 / "craft_rnn.py").read_text(),
        HONEST_STYLES,
        "import torch\nact = getattr(torch, 'tanh')\nh = torch.stack([act(torch.zeros(2))])",
        "import torch\nclass M:\n    def f(self, name):\n        return getattr(torch, name), getattr(self, f'w{name}')",
        "class M:\n    def f(self):\n        return self.__dict__, vars(self), type(self).__name__",
        "import gc\ngc.collect()",
        "import sys\nif 'google.colab' not in sys.modules:\n    pass",
        "print(torch.__version__)",
        "def compile(x):\n    return x\ncompile(3)",
        "import torch\nmodel = torch.compile(lambda x: x)",
        "exec('x = 1')",
        "import timeit\nseconds = timeit.timeit(lambda: sum(range(9)), number=3)\nstart = timeit.default_timer()",
        "import timeit\nseconds = timeit.timeit('sum(range(9))', number=3)",
        "import numpy as np\nimport torch\ntable = np.load('t.npy')\nstate = torch.load('m.pt', weights_only=True)",
        "import unittest\nclass TestMine(unittest.TestCase):\n    def test_a(self):\n        self.assertEqual(1, 1)",
        # a regression round's honest profiling, debugging, doctests, timing and logging
        "def main():\n    import cProfile, pstats\n    with cProfile.Profile() as profile:\n        pass\n"
        "    pstats.Stats(profile)\nif __name__ == '__main__':\n    main()",
        "import doctest\nif __name__ == '__main__':\n    doctest.testmod()",
        "def f(loss):\n    if not loss:\n        import pdb\n        pdb.set_trace()\n    breakpoint()",
        "import timeit, functools\ndef once(n=1):\n    pass\nt = timeit.timeit(once, number=5)\n"
        "u = timeit.Timer(functools.partial(once, 2)).timeit(3)\nrun = functools.partial(model, x)\n"
        "v = timeit.timeit(run, number=3)",
        "from unittest import mock\nwith mock.patch('my_helpers.draw', return_value=0.0):\n    pass",
        "import logging.config\nlogging.config.dictConfig({'version': 1, 'handlers': {'console': "
        "{'class': 'logging.StreamHandler', 'stream': 'ext://sys.stdout'}}})",
        # a second regression round: one's own module patched by __name__, a configuration bound to a name,
        # random patched in a test, string annotations
        "from unittest import mock\nwith mock.patch(__name__ + '._cell', len), mock.patch(f'{__name__}.tokenize'):\n"
        "    pass\nwith mock.patch('random.random', return_value=0.0):\n    pass",
        "import logging.config\nCONFIG = {'version': 1, 'handlers': {'c': {'class': 'logging.StreamHandler'}}}\n"
        "logging.config.dictConfig(CONFIG)",
        "import numpy as np\ndef f(x: 'np.ndarray', n: 'int' = 3) -> 'np.ndarray':\n    return x\ny: 'list[int]' = []",
        # a third regression round: one's own helper reloaded, annotations read (not written) at run time
        "import importlib\nimport rnn_math\nrnn_math = importlib.reload(rnn_math)",
        "import yaml\nsettings = yaml.safe_load('size: 3')",
        "import typing\nclass Config:\n    size: 'int' = 3\nhints = typing.get_type_hints(Config)\n"
        "count = len(Config.__annotations__)",
        "import os\npath = os.path.join(os.getcwd(), 'x')\nos.makedirs(path, exist_ok=True)",
        "import os\nif os.fork() == 0:\n    os._exit(0)",  # a forked process keeps the guards
        "import torch\ntorch.backends.cudnn.deterministic = True\nx = torch.zeros(2)\nx.requires_grad = True",
        "import sys\nif __name__ == '__main__':\n    sys.modules['x'] = None",  # never runs when graded
        # a regression round: honest code beside a main-guard comparison made the block count as running
        "import argparse\nfrom torch import nn\nif __name__ == '__main__':\n"
        "    opts = vars(argparse.ArgumentParser().parse_args())\n    nn.RNN(3, 4)",
        "from torch import nn\nglobals().setdefault('threads', [])\nglobals()['seen'] = 0\n"
        "if __name__ == '__main__':\n    nn.RNN(3, 4)",
        "from torch import nn\ndef logged(f):\n    def wrapper(*a):\n        return f(*a)\n"
        "    wrapper.__name__ = f.__name__\n    return wrapper\nname = getattr(logged, '__name__', '')\n"
        "if __name__ == '__main__':\n    nn.RNN(3, 4)",
        # numpy's and torch's own arrays moved between the two, and numpy's bounded window views
        "import numpy as np\nimport torch\nx = torch.from_numpy(np.zeros(3))\ny = np.asarray(x)\n"
        "z = np.lib.stride_tricks.sliding_window_view(np.arange(5), 2)\nw = torch.as_strided(x, (2,), (1,))",
    ],
)
def test_honest_code_is_not_flagged(source):
    findings = scan(source)
    assert findings.integrity == [] and findings.forbidden_uses == [], findings.integrity


def test_assignments_without_rules_are_scanned_for_reach_arounds_only():
    """a2, a4, a5 forbid nothing, but their training is measured in the student's process (the steps
    counted, the weights kept after each step): walking gc, exec of built strings, sys.modules edits and
    importing the grader are flagged there too (the training checks refuse them), and nothing is a
    forbidden use or a blocked import. Honest code stays unflagged."""
    source = (
        "import gc, sys\nsys.modules.pop('x', None)\ngc.get_objects()\nexec('1' + '1')\n"
        "import grader.inside.probe_api as p\n"
    )
    findings = scan(source, blocked=(), forbidden=())
    flagged = {construct for _, construct in findings.integrity}
    assert {"sys.modules.pop", "gc.get_objects", "import grader.inside.probe_api"} <= flagged, flagged
    assert findings.forbidden_uses == [] and findings.blocked_imports == []
    honest = "import gc, sys\ngc.collect()\nCOLAB = 'google.colab' in sys.modules\nexec('x = 1')\n"
    assert scan(honest, blocked=(), forbidden=()).integrity == []


@pytest.mark.parametrize(
    "source, reaching",
    [
        ("import pickle\ndef load(p):\n    return pickle.load(open(p, 'rb'))\n", False),  # a saved vocabulary
        ("import subprocess\ndef gpu():\n    return subprocess.run(['nvidia-smi'])\n", False),
        ("import os\ndef gpu():\n    os.system('nvidia-smi')\n", False),
        ("import torch\nclass Warmup(torch.optim.lr_scheduler._LRScheduler):\n    pass\n", False),
        ("import importlib\nimport torch.nn as nn\nimportlib.reload(nn)\n", False),  # a library's module
        ("import grader.inside.probe_api as bookkeeping\n", True),
        ("import gc\nobjects = gc.get_objects()\n", True),
        ("import torch.optim.optimizer as o\nhooks = o._global_optimizer_post_hooks\n", True),
        ("def peek(hook):\n    return hook.__globals__\n", True),
        ("exec('x' + ' = 1')\n", True),
        ("import numpy as np\nlibc = np.ctypeslib.ctypes.CDLL(None)\n", True),
        ("class Raw:\n    def __init__(self, at):\n        self.__array_interface__ = {'data': (at, False)}\n", True),
        ("import numpy as np\nwide = np.lib.stride_tricks.as_strided(np.zeros(1), (9,), (8,))\n", True),
        # a kernel of one's own for torch's operators answers the bookkeeping's reads (guards.seal_torch_kernels)
        ("import torch\nlib = torch.library.Library('x', 'IMPL')\n", True),
        ("from torch.library import register_kernel\n", True),
        ("import torch\ntorch.ops.aten.eq.Tensor.py_impl(torch._C.DispatchKey.CPU)\n", True),
        ("from torch._dispatch.python import enable_python_dispatcher\n", True),
        ("from torch.utils.cpp_extension import load_inline\n", True),
        ("import signal\nsignal.signal(signal.SIGALRM, lambda number, frame: frame)\n", True),
        ("import signal\nsignal.signal(signal.SIGTERM, print)\n", True),
        # the standard library hands out frames: a hostile round walked one to the grader's locals
        ("import logging\nframe = logging.currentframe()\n", True),
        ("import traceback, codecs\nwalk = getattr(traceback, codecs.decode('jnyx_fgnpx', 'rot13'))\n", True),
        ("import operator\nname = 'x'\nread = operator.attrgetter(name)\n", True),
        ("import operator\nread = operator.attrgetter('weight')\n", False),
        ("import torch\ntorch._C._dynamo.eval_frame.set_eval_frame(print)\n", True),
        ("import asyncio\nasync def f():\n    return asyncio.current_task().get_stack()\n", True),
        # an operator of the student's own is reviewed only
        (
            "import torch\n@torch.library.custom_op('mine::twice', mutates_args=())\ndef twice(x):\n    return x\n",
            False,
        ),
    ],
)
def test_only_constructs_that_reach_into_the_process_cost_the_training_checks(source, reaching):
    """Every flag lists the student for review; only a way into the process's own objects (the probes,
    the training's bookkeeping) costs training. Unused honest helpers (pickle, subprocess, a scheduler
    subclassing _LRScheduler) cost a2, a4 and a5 all their training points once."""
    findings = scan(source, blocked=(), forbidden=())
    assert findings.integrity, source
    assert bool(findings.reaching) is reaching, (source, findings.integrity)


def test_numpy_only_assignment_fails_its_check_on_a_flag():
    """a1 blocks torch: deleting the stand-in from sys.modules to import the real one is flagged
    where a1's numpy-only check looks (blocked_imports, describe_blocked)."""
    findings = scan("import sys\ndel sys.modules['torch']\nimport numpy as np", blocked=("torch",))
    assert findings.blocked_imports == [(2, "del sys.modules[…]")]
    assert "srn.py reaches around the course's rules" in findings.describe_blocked("srn.py")
    assert "(srn.py, line 2)" in findings.describe_blocked("srn.py")


def test_flags_and_messages_name_notebook_cells():
    from grader.intake.notebook import relabel

    findings = scan("import torch\nx = 1\ntorch._C")
    locate = lambda text: relabel(text, {3: (4, 2)}, "craft_rnn.py", "craft_rnn.ipynb")  # noqa: E731
    assert findings.review("craft_rnn.ipynb", locate) == ["craft_rnn.ipynb, cell 4, line 2: torch._C"]
    assert "`torch._C` (craft_rnn.ipynb, cell 4, line 2)" in findings.describe_forbidden("craft_rnn.ipynb")


def test_flags_are_bounded():
    from grader.intake.static_checks import MAX_CONSTRUCT, MAX_FLAGS

    source = "import torch\n" + "".join(f"torch._C{i}{'y' * 300} = 1\n" for i in range(40))
    findings = scan(source)
    assert len(findings.integrity) == MAX_FLAGS and all(len(what) <= MAX_CONSTRUCT for _, what in findings.integrity)
    assert "and 15 more" in findings.describe_forbidden("craft_rnn.py")
    assert findings.integrity[0][1].endswith("y" * 10)


@pytest.mark.slow
def test_code_deeper_than_the_default_stack_is_walked_and_flagged():
    """Valid Python that a plain recursive walk cannot finish: scanned all the same (a deep stack)."""
    findings = scan("import gc\nx = " + "a." * 1000 + "b\ngc.get_objects()\n")
    assert findings.syntax_error is None and "gc.get_objects" in findings.describe_integrity("craft_rnn.py")


# -- the run-time guards alone -----------------------------------------------------------------------

GUARDS_ALONE = '''
import gc, sys, torch
from torch import nn
from grader.inside import guards
guards.forbid_apis(FORBIDDEN)
x, h0 = torch.randn(5, 2, 3), torch.zeros(1, 2, 4)
params = [torch.randn(4, 3), torch.randn(4, 4), torch.randn(4), torch.randn(4)]
gru_params = [torch.cat([torch.zeros(8, 3), params[0]]), torch.cat([torch.zeros(8, 4), params[1]]),
              torch.cat([torch.full((4,), 100.0), torch.full((4,), -100.0), params[2]]),
              torch.cat([torch.zeros(8), params[3]])]  # saturated gates: exactly a tanh RNN
lstm = [torch.cat([torch.zeros(8, 3), params[0], torch.zeros(4, 3)]), torch.cat([torch.zeros(8, 4), params[1],
        torch.zeros(4, 4)]), torch.cat([torch.full((4,), 50.0), torch.full((4,), -50.0), params[2], torch.full((4,), 50.0)]),
        torch.cat([torch.zeros(8), params[3], torch.zeros(4)])]  # LSTM gates i=1, f=0, o=1: tanh(tanh(a))

# What a student finds in the process, removed: the guard module's state, every torch.library
# registration and dispatcher handle gc can see, torch._VF's filtered table.
found = sys.modules["grader.inside.guards"]
for value in list(vars(found).values()):
    for item in list(value) if isinstance(value, list) else []:
        getattr(item, "_destroy", lambda: None)()
for thing in gc.get_objects():
    kind = type(thing).__name__
    if kind == "Library":
        thing._destroy()
    elif kind == "_DispatchModule":
        thing.reset()
    elif kind == "_FilteredKernels":
        thing.refused.clear()
real_rnn = next(t for t in gc.get_objects() if isinstance(t, type) and t.__name__ == "RNN"
                and t.__module__ == "torch.nn.modules.rnn")
import torch._decomp.decompositions as decompositions

routes = {
    "__dict__ computed name": lambda: torch._C._VariableFunctionsClass.__dict__["rnn_" + "tanh"](
        x, h0, params, True, 1, 0.0, False, False, False),
    "_VariableFunctions": lambda: torch._C._VariableFunctions.rnn_relu(
        x, h0, params, True, 1, 0.0, False, False, False),
    "aten op": lambda: torch.ops.aten.rnn_tanh.input(x, h0, params, True, 1, 0.0, False, False, False),
    "real nn.RNN via gc": lambda: real_rnn(3, 4)(x),
    # pure Python on ordinary operators (no kernel to refuse): with its gates pinned, a tanh RNN
    "quantizable LSTM": lambda: getattr(torch.ao.nn.quantizable, "LS" + "TM")(3, 4)(x),
    "quantizable LSTM by its torch.nn name": lambda: torch.nn.quantizable.LSTM(3, 4)(x),
    "quantizable LSTM cell": lambda: torch.ao.nn.quantizable.LSTMCell(3, 4)(x[0]),
    "gru kernel": lambda: torch._C._VariableFunctions.gru(x, h0, gru_params, True, 1, 0.0, False, False, False),
    "gru cell kernel": lambda: torch._C._VariableFunctions.gru_cell(x[0], h0[0], gru_params[0], gru_params[1]),
    "decomposition": lambda: decompositions.rnn_tanh_input(x, h0, params, True, 1, 0.0, False, False, False),
    "decomposition table": lambda: torch._decomp.decomposition_table[torch.ops.aten.rnn_tanh.input](
        x, h0, params, True, 1, 0.0, False, False, False),
    "decomposition helper": lambda: decompositions.one_layer_rnn(x, h0[0], params, True, torch.tanh),
    "mkldnn layer on mkldnn weights": lambda: torch.ops.aten.mkldnn_rnn_layer(
        x[:1].contiguous(), *torch.ops.mkldnn._reorder_mkldnn_rnn_layer_weight(lstm[0], lstm[1], 4, False, True, False),
        lstm[2], lstm[3], h0[0], torch.zeros(2, 4), False, [1], 2, 4, 1, True, False, False, False),
}
for label, route in routes.items():
    for mode in (torch.enable_grad, torch.inference_mode):
        try:
            with mode():
                route()
        except guards.ForbiddenApiUsed:
            continue
        except BaseException as exc:
            raise SystemExit(f"{label}: {type(exc).__name__}: {exc}")
        raise SystemExit(f"{label} ran under {mode.__name__}")
torch.einsum("tbd,hd->tbh", x, torch.ones(4, 3)); torch.split(x, 1); torch.nn.functional.dropout(x, 0.5)
print("ok")
'''


@pytest.mark.slow
def test_runtime_guards_cannot_be_removed_from_inside_the_process():
    """Without the static scan: a process that removes everything it can find of the guards still
    cannot run a ready-made RNN kernel, whichever Python path it takes to it."""
    code = GUARDS_ALONE.replace("FORBIDDEN", repr(list(FORBIDDEN)))
    process = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=180)
    assert process.returncode == 0 and process.stdout.strip() == "ok", process.stdout + process.stderr[-3000:]


@pytest.mark.skipif(sys.platform != "linux", reason="seccomp is Linux only")
def test_a_guarded_process_cannot_start_another_program():
    """Where APIs are forbidden, the student's process refuses execve to itself and whatever it forks:
    a fresh interpreter would start without the guards. Forking stays allowed (the child keeps them)."""
    code = """
import ctypes, os, subprocess, sys
from grader.inside.lockdown import refuse_new_programs
ctypes.CDLL(None).prctl(38, 1, 0, 0, 0)  # no new privileges, as the student's process has
assert refuse_new_programs() is None
for label, start in (("subprocess", lambda: subprocess.run([sys.executable, "-c", "pass"])),
                     ("posix_spawn", lambda: os.posix_spawn("/bin/true", ["true"], {}))):
    try:
        start()
    except PermissionError:
        continue
    raise SystemExit(f"{label} started a program")
assert os.system("true") != 0, "os.system started a shell"
pid = os.fork()
if pid == 0:
    try:
        os.execv("/bin/true", ["true"])
    except PermissionError:
        os._exit(7)
    os._exit(0)
assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 7, "the forked child started a program"
print("ok")
"""
    process = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert process.returncode == 0 and process.stdout.strip() == "ok", process.stdout + process.stderr[-3000:]


# -- graded ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def graded(tmp_path_factory, run_grade):
    """One `grade report` over the attacks, the honest work underneath, and honest code."""
    from grader.packaging.stubs import notebook_from_stub

    students = {
        "reference": {"craft_rnn.py": REFERENCE},
        "honest-styles": {"craft_rnn.py": HONEST_STYLES},
        "underneath": {"craft_rnn.py": UNDERNEATH},
        **{name: {"craft_rnn.py": source} for name, source in ATTACKS.items()},
        "notebook-attack": {"craft_rnn.ipynb": notebook_from_stub(ATTACKS["kernel_via_class_dict"], "a3")},
        "reach_around_only": {"craft_rnn.py": REFERENCE + "\nimport gc\n\nOBJECTS = len(gc.get_objects())\n"},
    }
    out = tmp_path_factory.mktemp("a3-integrity-grades")
    results = report_class(run_grade, tmp_path_factory.mktemp("a3-integrity"), out, students)
    return results, out


@pytest.mark.slow
def test_honest_code_keeps_full_marks(graded):
    results, _ = graded
    for name in ("reference", "honest-styles"):
        problems = [(c["name"], c["message"]) for c in checks_of(results[name], A3) if c["status"] != "passed"]
        assert score_of(results[name], A3) == 100, (name, problems)
        assert results[name]["assignments"][0]["flags"] == []


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_earns_no_more_than_the_work_underneath(graded, name):
    results, _ = graded
    assert score_of(results[name], A3) <= score_of(results["underneath"], A3)
    line = line_of(ATTACKS[name], FLAGGED_LINE[name])
    failed = [c for c in checks_of(results[name], A3) if c["status"] != "passed"]
    assert failed and all(f"craft_rnn.py, line {line})" in c["message"] for c in failed), failed[0]["message"]
    assert "flagged for your instructor's review" in failed[0]["message"]
    assert any(flag.startswith(f"craft_rnn.py, line {line}: ") for flag in results[name]["assignments"][0]["flags"])


@pytest.mark.slow
def test_a_reach_around_without_a_ready_made_rnn_is_named_as_such(graded):
    """A regression round's honest module with one flagged line (a mock patch) was told that "nn.RNN ...
    may not appear in the module at all": the message now says what was flagged and why it costs."""
    results, _ = graded
    message = checks_of(results["reach_around_only"], A3)[0]["message"]
    assert score_of(results["reach_around_only"], A3) == 0 and "`gc.get_objects`" in message, message
    assert "wait for your instructor's review" in message and "may not appear in the module" not in message


@pytest.mark.slow
def test_notebook_flags_name_the_cell(graded):
    results, _ = graded
    flags = results["notebook-attack"]["assignments"][0]["flags"]
    assert flags and all(flag.startswith("craft_rnn.ipynb, cell ") for flag in flags), flags
    message = checks_of(results["notebook-attack"], A3)[0]["message"]
    assert "(craft_rnn.ipynb, cell " in message and "craft_rnn.py, line" not in message, message


@pytest.mark.slow
def test_class_overview_lists_flagged_students(graded):
    results, out = graded
    page = (out / "index.html").read_text()
    section = page[page.index("Flagged for review") :]
    section = section[: section.index("</section>")]
    for name in [*ATTACKS, "notebook-attack"]:
        assert f">{name}</a>" in section, name
    for name in ("reference", "honest-styles", "underneath"):
        assert f">{name}</a>" not in section
    assert "gc.get_objects" in section and "torch._C" in section
    recorded = json.loads((out / "students" / "gc_walk_to_nn_rnn" / "feedback.json").read_text())
    assert recorded["assignments"][0]["flags"] == results["gc_walk_to_nn_rnn"]["assignments"][0]["flags"]


def test_overview_escapes_and_bounds_flags():
    from grader.course.model import load_course
    from grader.report.overview import MAX_FLAG_CHARS, MAX_FLAG_LINES, overview_context
    from grader.report.pages import render_overview
    from grader.report.results import AssignmentResult, SubmissionResult

    flags = [f"craft_rnn.py, line {i}: <script>alert({i})</script>" + "x" * 500 for i in range(12)]
    result = SubmissionResult(
        "mallory", "s/mallory", "0", assignments=[AssignmentResult(A3, "CraftRNN", "graded", flags=flags)]
    )
    result = SubmissionResult.from_dict(json.loads(result.to_json()))  # flags survive the JSON round trip
    context = overview_context([result], load_course(REPO), [A3], "students")
    row = context["flagged"][0]
    assert len(row["lines"]) == MAX_FLAG_LINES and row["more"] == 12 - MAX_FLAG_LINES
    assert all(len(line) <= MAX_FLAG_CHARS for line in row["lines"])
    context.update(generated="now", isolation={"isolated": True, "description": "test"}, summary="")
    page = render_overview(context)
    assert "<script>alert" not in page and "&lt;script&gt;alert(0)" in page and "and 7 more" in page
