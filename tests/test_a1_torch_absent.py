"""a1 is numpy only, and torch is absent, not guarded: hostile students who reach around the import
guards find no torch to reach.

Each cheat is the honest work underneath (a correct forward pass, a backward that raises
NotImplementedError) whose ``rnn_backward`` instead runs torch autograd on a torch it finds: (a) among
the objects already loaded (``gc.get_objects()``, ``sys.modules``), (b) by removing the stand-ins and
import hooks and importing it, (c) by locating torch's ``__init__.py`` on disk and executing it. A cheat
that finds no torch raises ``LookupError("no torch: ...")``, so the feedback says what it saw.

Graded with `grade report` over a class with no ``--assignment``, so the slot grades every assignment
and a torch worker exists next to a1's (as for a real class). A control shows each cheat does score
where torch is reachable, so the grading tests cannot pass for the wrong reason.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from conftest import REPO, SOLUTIONS, checks_of, report_class, score_of

from grader.sandbox.isolation import bubblewrap_problem, bubblewrap_works

A1 = "a1_srn_numpy"
NO_TORCH = "no torch:"
GC_WALK = "a walk of the garbage collector's objects"

# The reference's forward (its cache also keeps the biases, which the autograd cheats need).
FORWARD = '''
import numpy as np


def rnn_step(x_t, h_prev, W_ih, W_hh, b_ih, b_hh, activation="tanh"):
    z = x_t @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh
    if activation == "tanh":
        return np.tanh(z)
    if activation == "relu":
        return np.maximum(z, 0.0)
    return z


def rnn_forward(x, h0, W_ih, W_hh, b_ih, b_hh, activation="tanh"):
    T, B, _ = x.shape
    h = np.zeros((B, W_hh.shape[0]), dtype=x.dtype) if h0 is None else h0
    cache = {"x": x, "h0": h, "W_ih": W_ih, "W_hh": W_hh, "b_ih": b_ih, "b_hh": b_hh, "activation": activation}
    states = []
    for t in range(T):
        h = rnn_step(x[t], h, W_ih, W_hh, b_ih, b_hh, activation)
        states.append(h)
    return np.stack(states), cache


def linear_output(hs, W_hy, b_y):
    return hs @ W_hy.T + b_y
'''

HONEST = (
    FORWARD
    + '''

def rnn_backward(dhs, cache):
    raise NotImplementedError
'''
)

AUTOGRAD = '''

def _autograd(torch, dhs, cache):
    """Backpropagation through time done by torch: the work the assignment asks for, skipped."""
    leaves = {k: torch.tensor(np.asarray(cache[k]), requires_grad=True) for k in ("x", "h0", "W_ih", "W_hh", "b_ih", "b_hh")}
    x, h = leaves["x"], leaves["h0"]
    f = {"tanh": torch.tanh, "relu": torch.relu}.get(cache["activation"], lambda z: z)
    states = []
    for t in range(x.shape[0]):
        h = f(x[t] @ leaves["W_ih"].T + leaves["b_ih"] + h @ leaves["W_hh"].T + leaves["b_hh"])
        states.append(h)
    torch.stack(states).backward(torch.tensor(np.asarray(dhs)))
    return {k: v.grad.numpy() for k, v in leaves.items()}


def _real(module):
    """A real torch module, not the grader's stand-in (whose attributes refuse use)."""
    return _real_any(module) and "autograd" in vars(module) and "tensor" in vars(module)


def _real_any(module):
    return type(module).__name__ == "module"
'''

# (a) torch already loaded somewhere in the process: find it among all objects and in sys.modules.
LOADED = (
    FORWARD
    + AUTOGRAD
    + '''

def _find_loaded():
    import gc, sys
    seen = [m for m in gc.get_objects() if type(m).__name__ == "module" and getattr(m, "__name__", "") == "to" + "rch"]
    seen += [v for m in list(sys.modules.values()) if hasattr(m, "__dict__") for v in list(vars(m).values()) if getattr(type(v), "__name__", "") == "module"
             and getattr(v, "__name__", "") == "to" + "rch"]
    for module in seen:
        if _real(module):
            for key in [k for k in sys.modules if k.startswith("to" + "rch") and not _real_any(sys.modules[k])]:
                del sys.modules[key]  # a stand-in: torch's lazy imports must find the real one or load it
            for other in gc.get_objects():  # put torch's own modules back where its lazy imports look
                if type(other).__name__ == "module" and str(getattr(other, "__name__", "")).startswith("to" + "rch"):
                    sys.modules[other.__name__] = other
            return module
    raise LookupError(f"{NO_TORCH} {len(seen)} module(s) named torch loaded, none real")


def rnn_backward(dhs, cache):
    return _autograd(_find_loaded(), dhs, cache)
'''.replace("{NO_TORCH}", NO_TORCH)
)

# (b) undo the guards: drop the stand-ins and any import hooks, then import torch by a computed name.
SURGERY = (
    FORWARD
    + AUTOGRAD
    + '''

def _import_anyway():
    import importlib, sys
    name = "to" + "rch"
    for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
        del sys.modules[key]
    standard = ("BuiltinImporter", "FrozenImporter", "PathFinder")
    sys.meta_path[:] = [f for f in sys.meta_path if getattr(f, "__name__", type(f).__name__) in standard]
    importlib.invalidate_caches()
    try:
        module = importlib.import_module(name)
    except BaseException as exc:
        raise LookupError(f"{NO_TORCH} import failed with {type(exc).__name__}: {exc}") from None
    if not _real(module):
        raise LookupError(f"{NO_TORCH} the import gave {module!r}")
    return module


def rnn_backward(dhs, cache):
    return _autograd(_import_anyway(), dhs, cache)
'''.replace("{NO_TORCH}", NO_TORCH)
)

# (c) search the file system for torch's __init__.py (beside numpy, along sys.path, under the
# interpreter's prefixes) and execute it as the torch package.
ON_DISK = (
    FORWARD
    + AUTOGRAD
    + '''

def _search():
    import glob, os, sys
    name = "to" + "rch"
    roots = [os.path.dirname(os.path.dirname(np.__file__)), *sys.path]
    for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix, "/usr", "/usr/local"}:
        roots += glob.glob(os.path.join(prefix, "lib*", "python3*", "*-packages"))
        roots += glob.glob(os.path.join(prefix, "lib*", "python3", "dist-packages"))
    for root in roots:
        path = os.path.join(root, name, "__init__.py")
        if os.path.isfile(path):
            return path
    return None


def _exec_from_disk():
    import importlib.util, os, sys
    path = _search()
    if path is None:
        raise LookupError(f"{NO_TORCH} no torch/__init__.py beside numpy, on sys.path or under the prefixes")
    name = "to" + "rch"
    for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
        del sys.modules[key]
    spec = importlib.util.spec_from_file_location(name, path, submodule_search_locations=[os.path.dirname(path)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    with open(path, encoding="utf-8") as source:
        exec(compile(source.read(), path, "exec"), vars(module))
    return module


def rnn_backward(dhs, cache):
    return _autograd(_exec_from_disk(), dhs, cache)
'''.replace("{NO_TORCH}", NO_TORCH)
)

CHEATS = {"loaded": LOADED, "surgery": SURGERY, "on_disk": ON_DISK}

# Runs a cheat as its module would run in a worker whose stand-ins are installed, in a plain
# interpreter (torch reachable): ``preloaded`` imports torch first, as the shared worker used to.
CONTROL = '''
import sys, types
import numpy as np
preloaded, source = sys.argv[1] == "1", sys.stdin.read()
if preloaded:
    import torch
from grader.inside import guards
guards.block_imports(["torch"])
# the old guard had no finder for submodules; with it, torch's own lazy imports would break the cheat
sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "_BlockedFinder"]
srn = types.ModuleType("srn")
exec(compile(source, "srn.py", "exec"), vars(srn))
rng = np.random.default_rng(0)
x, h0, dhs = rng.normal(size=(4, 2, 3)), rng.normal(size=(2, 5)), rng.normal(size=(4, 2, 5))
W_ih, W_hh, b_ih, b_hh = rng.normal(size=(5, 3)), rng.normal(size=(5, 5)), rng.normal(size=5), rng.normal(size=5)
_, cache = srn.rnn_forward(x, h0, W_ih, W_hh, b_ih, b_hh)
grads = srn.rnn_backward(dhs, cache)
sys.path.insert(0, sys.argv[2])
import srn as reference
_, cache = reference.rnn_forward(x, h0, W_ih, W_hh, b_ih, b_hh)
expected = reference.rnn_backward(dhs, cache)
assert all(np.allclose(grads[k], expected[k], rtol=1e-9, atol=1e-12) for k in expected), "wrong gradients"
print("cheat worked")
'''


@pytest.mark.slow
@pytest.mark.parametrize("name, preloaded", [("loaded", True), ("surgery", False), ("on_disk", False)])
def test_each_cheat_works_where_torch_is_reachable(name: str, preloaded: bool) -> None:
    """The control: outside the grader's worker, each cheat does get torch's exact gradients."""
    process = subprocess.run(
        [sys.executable, "-c", CONTROL, "1" if preloaded else "0", str(SOLUTIONS / A1)],
        input=CHEATS[name],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert process.stdout.strip() == "cheat worked", process.stdout + process.stderr[-3000:]


def backward_checks(result: dict[str, Any]) -> list[dict[str, Any]]:
    checks = [c for c in checks_of(result, A1) if "backward" in c["name"] or "gradient" in c["name"]]
    assert checks, [c["name"] for c in checks_of(result, A1)]
    return checks


def assert_no_better_than_honest(results: dict[str, dict[str, Any]], names: list[str]) -> None:
    honest = score_of(results["honest"], A1)
    assert 0 < honest < 100, honest
    assert all(c["status"] != "passed" for c in backward_checks(results["honest"]))
    for name in names:
        assert score_of(results[name], A1) <= honest, (name, score_of(results[name], A1), honest)
        checks = backward_checks(results[name])
        assert all(check["status"] != "passed" for check in checks), name
        # Some calls may find the process broken by the student's own surgery; none finds torch (the
        # garbage collector's walk that looks for it is refused in every assignment).
        assert any(NO_TORCH in check["message"] or GC_WALK in check["message"] for check in checks), (
            name,
            [c["message"] for c in checks],
        )


@pytest.fixture(scope="module")
def bubblewrap_results(tmp_path_factory: pytest.TempPathFactory, run_grade: Any) -> dict[str, dict[str, Any]]:
    if not bubblewrap_works():
        pytest.skip(f"bubblewrap cannot create a sandbox on this machine: {bubblewrap_problem()}")
    root = tmp_path_factory.mktemp("torch-absent")
    students = {name: {"srn.py": source} for name, source in {"honest": HONEST, **CHEATS}.items()}
    return report_class(run_grade, root / "class", root / "grades", students, "--sandbox", "bubblewrap")


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CHEATS))
def test_under_bubblewrap_no_cheat_finds_torch_or_beats_the_honest_work(bubblewrap_results, name: str) -> None:
    assert bubblewrap_results[name]["isolation"]["kind"] == "bubblewrap"
    assert_no_better_than_honest(bubblewrap_results, [name])


@pytest.mark.slow
def test_without_bubblewrap_the_worker_has_not_loaded_torch(tmp_path, run_grade) -> None:
    """The guards are all there is without bubblewrap, but a1's worker never imports torch, so
    nothing already loaded can be found (reading torch from disk is only stopped by bubblewrap)."""
    students = {"honest": {"srn.py": HONEST}, "loaded": {"srn.py": LOADED}}
    results = report_class(
        run_grade, tmp_path / "class", tmp_path / "grades", students, "--sandbox", "none", "--allow-unsandboxed"
    )
    assert results["loaded"]["isolation"]["isolated"] is False
    assert_no_better_than_honest(results, ["loaded"])


@pytest.mark.slow
def test_an_unused_torch_import_costs_only_the_numpy_only_check(grade_class):
    """Fairness: `from torch import nn` and `import torch.nn.functional as F` left at the top of a
    finished numpy solution cost the "numpy only" check alone; a call into torch fails the checks that
    make it, naming what was called."""
    reference = (SOLUTIONS / A1 / "srn.py").read_text()
    unused = "import torch.nn.functional as F\nfrom torch import nn\n" + reference
    used = unused.replace("    return hs, cache", "    nn.Linear(2, 2)\n    return hs, cache", 1)
    assert used != unused
    results = grade_class({"unused": {f"{A1}/srn.py": unused}, "used": {f"{A1}/srn.py": used}})
    lost = [c["name"] for c in checks_of(results["unused"], A1) if c["status"] != "passed"]
    assert lost == ["test_numpy_only"], lost
    checks = checks_of(results["used"], A1)
    forward = next(c for c in checks if c["name"] == "test_rnn_forward")
    assert forward["status"] == "failed" and "`torch.nn.Linear`" in forward["message"], forward["message"]
