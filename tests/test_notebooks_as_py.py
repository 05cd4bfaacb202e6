"""A notebook grades exactly as the same code in a ``.py``.

Every correct ``.py`` the suite grades (the references and the independent students of test_a1..a5) is
also graded as a notebook that adds what notebooks have: (a) constants computed at top level that graded
code uses (``PAD = LETTERS.index("?")``, ``EYE = torch.eye(4)`` read by a function that replaces a graded
one), (b) a plotting cell with ``%matplotlib inline`` and ``import matplotlib.pyplot as plt`` (missing
where grading runs), (c) training at top level that would run far past the time limits. Each must score
what its ``.py`` scores (100, as test_a1..a5 assert), with one short note. One batch grades them all.

Then unit tests of the converter on small sources: following names, rebinding, ``global``, the
``__main__`` guard, stand-ins, the line map and the note's wording.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import nbformat
import numpy
import pytest
from conftest import REPO, SOLUTIONS, checks_of, report_class, score_of
from test_a1_srn import student_srn
from test_a2_ohlol import student_ohlol
from test_a3_craft_rnn import student_craft
from test_a4_seq2seq import student_seq2seq
from test_a5_sentiment import student_sentiment

from grader.intake.notebook import convert, relabel
from grader.intake.static_checks import analyse
from grader.packaging.stubs import notebook_from_stub

PLOT_CELL = (
    '%matplotlib inline\nimport matplotlib.pyplot as plt\nplt.plot([3.0, 2.0, 1.0])\nplt.title("loss")\nplt.show()'
)

# (a) a graded function replaced by one that reads constants computed at top level (exact: times 1)
EYE_TORCH = "EYE = torch.eye(4)\nONE = EYE[0, 0]"
WRAPPERS = {
    "srn": "EYE = np.eye(4)\n_linear_output = linear_output\n\n"
    "def linear_output(hs, W_hy, b_y):\n    return _linear_output(hs, W_hy, b_y) * EYE[0, 0]",
    "ohlol": f"{EYE_TORCH}\n_one_hot = one_hot\n\n"
    "def one_hot(indices, num_classes=4):\n    return _one_hot(indices, num_classes) * ONE",
    "craft_rnn": f"{EYE_TORCH}\n_CraftRNN = CraftRNN\n\n"
    "class CraftRNN(_CraftRNN):\n    def forward(self, x, h0=None):\n"
    "        output, h_n = super().forward(x, h0)\n        return output * ONE, h_n",
    "seq2seq": 'EYE = torch.eye(4)\nPAD = LETTERS.index("?")\n_make_batch = make_batch\n\n'
    "def make_batch(pairs, n_step):\n    src, trg = _make_batch(pairs, n_step)\n"
    "    return src + (PAD - 2) * int(EYE[0, 0]), trg",
    "sentiment": f"{EYE_TORCH}\n_encode = encode\n\n"
    "def encode(text, vocab, max_len=100):\n    return _encode(text, vocab, max_len) * int(ONE)",
}

# (c) training at top level: each would run for hours if it were run
TRAINING = {
    "srn": "rng = np.random.default_rng(0)\nx, h0 = rng.standard_normal((5, 2, 3)), np.zeros((2, 4))\n"
    "W_ih, W_hh, b = rng.standard_normal((4, 3)), rng.standard_normal((4, 4)), np.zeros(4)\n"
    "for epoch in range(10**9):\n    hs, cache = rnn_forward(x, h0, W_ih, W_hh, b, b)\n"
    '    W_hh -= 0.01 * rnn_backward(np.ones_like(hs), cache)["W_hh"]\nprint(hs.shape)',
    "ohlol": 'net = Model()\ninputs = one_hot(encode("hello"))\nlabels = torch.tensor(encode("ohlol")).view(-1, 1)\n'
    "history = train(net, inputs, labels, epochs=10**8)\nprint(predict(net, inputs))",
    # comparing with nn.RNN, which the assignment forbids in the module (a .py would guard it with __main__)
    "craft_rnn": "reference = torch.nn.RNN(3, 8, num_layers=2)\nmine = CraftRNN(3, 8, num_layers=2)\n"
    "mine.load_state_dict(reference.state_dict())\nx = torch.randn(5, 2, 3)\n"
    "print(torch.allclose(reference(x)[0], mine(x)[0]))\n"
    "model = SequenceClassifier(3, 8, 2)\noptimizer = torch.optim.Adam(model.parameters())\n"
    "for step in range(10**9):\n    optimizer.zero_grad()\n    loss = model(torch.randn(4, 5, 3)).sum()\n"
    "    loss.backward()\n    optimizer.step()\nprint(loss.item())",
    "seq2seq": "model = Seq2Seq(Encoder(len(LETTERS), 8, 16), Decoder(len(LETTERS), 8, 16))\n"
    "optimizer = torch.optim.Adam(model.parameters())\ncriterion = nn.CrossEntropyLoss()\n"
    'src, trg = make_batch([("man", "women")], 5)\nfor epoch in range(10**9):\n'
    "    loss = train_step(model, src, trg, optimizer, criterion)\n"
    'print(translate(model, "man", 5))',
    # The course's data read at top level, as students do: data/ holds what their copy has, nothing held out.
    "sentiment": "import os\n\ndef read_tsv(path):\n    with open(path, encoding='utf-8') as handle:\n"
    "        rows = [line.rstrip('\\n').split('\\t', 1) for line in handle if line.strip()]\n"
    "    return [text for _, text in rows], [int(label) for label, _ in rows]\n\n"
    'texts, labels = read_tsv("data/train.tsv")\ndev_texts, dev_labels = read_tsv("data/dev.tsv")\n'
    'assert not os.path.exists("data/test.tsv"), "a held-out file reached the student"\nvocab = build_vocab(texts)\n'
    "loader = torch.utils.data.DataLoader(SentimentDataset(texts, labels, vocab), batch_size=2, "
    "collate_fn=collate_fn)\nmodel = SentimentLSTM(len(vocab), 8, 8, 1, 2)\n"
    "optimizer = torch.optim.Adam(model.parameters())\ncriterion = nn.CrossEntropyLoss()\n"
    'losses = [train_epoch(model, loader, optimizer, criterion, "cpu") for _ in range(10**9)]\n'
    'print(f"accuracy {evaluate(model, loader, \'cpu\'):.2f}")',
}

ASSIGNMENT = {
    "srn": "a1_srn_numpy",
    "ohlol": "a2_rnncell_ohlol",
    "craft_rnn": "a3_craft_rnn",
    "seq2seq": "a4_seq2seq",
    "sentiment": "a5_sentiment_lstm",
}


def _progress_and_plot_inside_train(source: str) -> str:
    """The independent a2 student shows a progress bar and plots inside the graded ``train``."""
    imports = "import torch\nfrom tqdm.auto import tqdm\nimport matplotlib.pyplot as plt\n"
    source = source.replace("import torch\n", imports, 1)
    source = source.replace("    for epoch in range(epochs):", "    for epoch in tqdm(range(epochs)):")
    return source.replace("    return history", "    plt.plot(history)\n    plt.show()\n    return history")


CORRECT = {
    "a1_reference": ("srn", (SOLUTIONS / "a1_srn_numpy" / "srn.py").read_text()),
    "a1_independent": ("srn", student_srn()),
    "a2_reference": ("ohlol", (SOLUTIONS / "a2_rnncell_ohlol" / "ohlol.py").read_text()),
    "a2_independent": ("ohlol", _progress_and_plot_inside_train(student_ohlol())),
    "a3_reference": ("craft_rnn", (SOLUTIONS / "a3_craft_rnn" / "craft_rnn.py").read_text()),
    "a3_independent": ("craft_rnn", student_craft()),
    "a4_reference": (
        "seq2seq",
        (SOLUTIONS / "a4_seq2seq" / "seq2seq.py")
        .read_text()
        .replace(
            "SOS, EOS, PAD = 0, 1, 2", 'SOS, EOS, PAD = LETTERS.index("S"), LETTERS.index("E"), LETTERS.index("?")'
        ),
    ),
    "a4_independent": ("seq2seq", student_seq2seq()),
    "a5_reference": ("sentiment", (SOLUTIONS / "a5_sentiment_lstm" / "sentiment.py").read_text()),
    "a5_independent": ("sentiment", student_sentiment()),
}


def as_notebook(module: str, source: str) -> str:
    """The .py split into cells as Jupyter users write it, then a constants cell, a plotting cell and a
    training cell."""
    notebook = nbformat.reads(notebook_from_stub(source, module), as_version=4)
    for number, extra in enumerate([WRAPPERS[module], PLOT_CELL, TRAINING[module]], start=1):
        notebook.cells.append(nbformat.v4.new_code_cell(extra, id=f"extra-{number}"))
    return nbformat.writes(notebook)


@pytest.fixture(scope="module")
def graded(run_grade, tmp_path_factory):
    """Every notebook, graded by one `grade report` (torch imported once per worker)."""
    students = {name: {f"{module}.ipynb": as_notebook(module, source)} for name, (module, source) in CORRECT.items()}
    return report_class(run_grade, tmp_path_factory.mktemp("nb-class"), tmp_path_factory.mktemp("nb-grades"), students)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CORRECT))
def test_correct_notebook_scores_what_its_py_scores(graded, name):
    module, _ = CORRECT[name]
    assignment = ASSIGNMENT[module]
    result = graded[name]
    failed = [(c["name"], c["message"]) for c in checks_of(result, assignment) if c["status"] != "passed"]
    assert score_of(result, assignment) == 100, failed  # the .py scores 100 (test_a1..a5 and below)
    entry = result["assignments"][0]
    assert entry["source"] == f"{module}.ipynb"
    notes = [n for n in entry["notes"] if n.startswith(f"From {module}.ipynb")]
    assert len(notes) == 1 and "a plot (cell" in notes[0], entry["notes"]
    assert "training (cell" in notes[0] or "a loop (cell" in notes[0], notes
    assert "pass" not in notes[0] and "%matplotlib" not in notes[0]
    if module == "craft_rnn":
        assert "code that uses an API this assignment does not allow" in notes[0], notes


# -- the converter on small sources -----------------------------------------------------------------


def notebook(*cells: str) -> str:
    return nbformat.writes(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells]))


def run(*cells: str) -> tuple[dict, object]:
    conversion = convert(notebook(*cells))
    namespace: dict = {"__name__": "student"}
    exec(compile(conversion.source, "student.py", "exec"), namespace)
    return namespace, conversion


def test_files_saved_or_loaded_at_top_level_are_skipped_unless_graded_code_needs_them(tmp_path):
    """Colab's torch.save to Drive (a path that exists only there) made the whole notebook fail to import:
    0/100 for correct work. A load whose result a function uses is kept."""
    table = tmp_path / "table.npy"
    numpy.save(table, numpy.arange(3))
    namespace, conversion = run(
        "import json\nimport numpy as np",
        f"TABLE = np.load({str(table)!r})\n\ndef lookup(i):\n    return int(TABLE[i])",
        "weights = np.ones(2)",
        "np.save('/content/drive/MyDrive/weights.npy', weights)",
        "json.dump({'a': 1}, open('/content/drive/MyDrive/run.json', 'w'))",
        "again = np.load('/content/drive/MyDrive/weights.npy')",
    )
    assert namespace["lookup"](2) == 2
    assert [kind for _, kind in conversion.skipped] == ["file", "file", "file"]


def test_shell_commands_written_as_python_are_skipped_like_shell_lines():
    """A Colab cell installing a package with subprocess (the `!pip install` line written out) ran at
    import, where grading has no network: the notebook could not be imported (0/100 for correct work)."""
    namespace, conversion = run(
        "import os, subprocess, sys",
        "subprocess.check_call([sys.executable, '-m', 'pip', 'install', '-q', 'tqdm'])",
        "os.system('nvidia-smi')",
        "def double(x):\n    return 2 * x",
    )
    assert namespace["double"](2) == 4
    assert [kind for _, kind in conversion.skipped] == ["shell", "shell"]


def test_top_level_code_using_a_library_missing_here_is_skipped_unless_graded_code_needs_it():
    """pandas read the data in a training cell: the sandbox lets the import through and refuses its use,
    so that cell stopped the import (0/100). A function that uses the library is kept (and fails, named)."""
    conversion = convert(
        notebook(
            "import tabular_tools_24680 as tt\nimport numpy as np",
            "frame = tt.read_table('data/train.tsv')\nrows = len(frame)",
            "def summary(values):\n    return tt.describe(values)",
            "WIDTH = np.int64(3)",
        )
    )
    assert [kind for _, kind in conversion.skipped] == ["missing", "derived"]
    assert "def summary" in conversion.source and "WIDTH = np.int64(3)" in conversion.source


def test_top_level_code_using_a_forbidden_api_is_skipped_unless_graded_code_needs_it():
    """A cell comparing CraftRNN with nn.RNN (which a .py guards with __main__) made every a3 check fail:
    "uses torch.nn.RNN". It is not run; a definition that uses nn.RNN, or a top-level statement graded
    code needs, stays (and the scan flags it)."""
    cells = (
        "import torch\nfrom torch import nn",
        "class CraftRNN(nn.Module):\n    pass",
        "ref = nn.RNN(3, 5)\nmine = CraftRNN()\nmine.load_state_dict(ref.state_dict())\nprint(ref)",
        "EYE = torch.eye(3)",
    )
    forbidden = ("torch.nn.RNN",)
    conversion = convert(notebook(*cells), forbidden=forbidden)
    assert [kind for _, kind in conversion.skipped] == ["forbidden", "derived", "print"]
    assert "EYE = torch.eye(3)" in conversion.source and "ref = nn.RNN" not in conversion.source
    assert not analyse(conversion.source, "craft_rnn.py", forbidden=forbidden).forbidden_uses
    assert "nn.RNN" in convert(notebook(*cells)).source  # where nothing is forbidden, it runs
    needed = convert(notebook(cells[0], "Cell = nn.RNN", "def build():\n    return Cell(3, 5)"), forbidden=forbidden)
    assert "Cell = nn.RNN" in needed.source
    assert analyse(needed.source, "craft_rnn.py", forbidden=forbidden).forbidden_uses
    inside = convert(notebook(cells[0], "class CraftRNN(nn.RNN):\n    pass"), forbidden=forbidden)
    assert analyse(inside.source, "craft_rnn.py", forbidden=forbidden).forbidden_uses


def test_an_import_of_a_forbidden_api_that_nothing_kept_needs_is_not_run():
    """A teacher round's correct a3 notebook scored 0: its comparison cell began `from torch.nn import RNN`,
    and imports were always kept, so the scan found torch.nn.RNN in the module. An import of a forbidden
    API goes with the statements that use it, unless graded code needs it."""
    forbidden = ("torch.nn.RNN",)
    cells = (
        "import torch\nfrom torch import nn",
        "class CraftRNN(nn.Module):\n    pass",
        "from torch.nn import RNN\nref = RNN(3, 5)\nprint(ref)",
    )
    conversion = convert(notebook(*cells), forbidden=forbidden)
    assert "from torch.nn import RNN" not in conversion.source and "from torch import nn" in conversion.source
    assert not analyse(conversion.source, "craft_rnn.py", forbidden=forbidden).forbidden_uses
    needed = convert(
        notebook(cells[0], "from torch.nn import RNN", "class CraftRNN(RNN):\n    pass"), forbidden=forbidden
    )
    assert "from torch.nn import RNN" in needed.source  # what a class uses stays, and is flagged
    assert analyse(needed.source, "craft_rnn.py", forbidden=forbidden).forbidden_uses


def test_a_statement_that_binds_a_graded_name_is_kept_whatever_it_looks_like():
    """A teacher round's a5 notebook made `collate_fn = make_train_collate(pad_value=0)`: the call's name
    read as training, the line was skipped, and every check that needed collate_fn failed with "does not
    define `collate_fn` (check the spelling)" (68.09 where the work earns 100). The names the probes read
    (AssignmentSpec.graded_names) are kept, with what they need."""
    cells = (
        "def make_train_collate(pad_value=0):\n    def collate(batch):\n        return pad_value\n    return collate",
        "collate_fn = make_train_collate(pad_value=0)",
        "history = train_model(collate_fn)",
    )
    kept = convert(notebook(*cells), graded=("collate_fn",))
    assert "collate_fn = make_train_collate(pad_value=0)" in kept.source and "train_model" not in kept.source
    assert "collate_fn = make_train_collate" not in convert(notebook(*cells)).source  # what it was
    from grader.course.model import load_course

    assert "collate_fn" in load_course(REPO).get("a5_sentiment_lstm").graded_names()


def test_a_cell_using_a_blocked_module_goes_like_one_using_a_forbidden_api():
    """A regression round's a1 notebook compared with torch.nn.RNN in a cell (`import torch` there): a1
    blocks torch, and the notebook could not be imported at all (0 where the work earns 100)."""
    cells = (
        "import numpy as np",
        "def rnn_step(x):\n    return np.tanh(x)",
        "import torch\nrnn = torch.nn.RNN(3, 4)\nprint(rnn)",
    )
    conversion = convert(notebook(*cells), blocked=("torch",))
    assert "import torch" not in conversion.source and "def rnn_step" in conversion.source
    assert not analyse(conversion.source, "srn.py", blocked=("torch",)).blocked_imports


def test_the_submissions_own_helper_modules_are_not_libraries_missing_here():
    """A notebook importing a helper file beside it was told its cells "use libraries missing here"."""
    cells = ("from bptt_utils import clip", "def step(x):\n    return clip(x)", "value = clip(3)")
    assert convert(notebook(*cells)).skipped == [(3, "missing")]
    local = convert(notebook(*cells), helpers=("bptt_utils",))
    assert local.skipped == [] and "value = clip(3)" in local.source


def test_exploring_what_a_graded_name_returns_does_not_count_as_changing_it():
    """``encode(s, vocab).unsqueeze(0)`` and ``CraftRNN(3, 4).state_dict().keys()`` work on the calls'
    new results: counted as changing ``encode`` and ``CraftRNN``, they were kept with every cell they read
    (pandas reading the data, an nn.RNN to compare with), and two correct notebooks scored 0. A call
    that changes its object inside a chain (``model.to(...).train()``) is still counted for ``model``."""
    cells = (
        "import torch\nfrom torch import nn\nimport tabular_tools_24680 as tt",
        "def encode(text, vocab):\n    return torch.tensor([vocab[w] for w in text.split()])",
        "class CraftRNN(nn.Module):\n    pass",
        "def encode_all(texts, vocab):\n    return [encode(t, vocab) for t in texts]\n\n"
        "def classifier():\n    return nn.Sequential(CraftRNN())",  # graded code reads both names
        "frame = tt.read_table('data/train.tsv')\nvocab = {w: i for i, w in enumerate(frame.words)}",
        "ref = nn.RNN(3, 4)\nprint(CraftRNN().state_dict().keys() == ref.state_dict().keys())",
        "x = encode('a b', vocab).unsqueeze(0)",
    )
    conversion = convert(notebook(*cells), forbidden=("torch.nn.RNN",))
    assert "tt.read_table" not in conversion.source and "nn.RNN(3, 4)" not in conversion.source
    assert "unsqueeze" not in conversion.source and "def encode" in conversion.source
    chained = convert(
        notebook(cells[0], "MODEL = nn.Linear(2, 2)", "MODEL.to('cpu').train()", "def f():\n    return MODEL")
    )
    assert "MODEL.to('cpu').train()" in chained.source


def test_a_forbidden_api_kept_in_a_notebook_is_named_by_its_cell():
    """The message named the converted module's line ("(line 86)"), which the student cannot find."""
    conversion = convert(notebook("import torch\nfrom torch import nn", "def helper():\n    return nn.RNN(3, 4)"))
    findings = analyse(conversion.source, "craft_rnn.ipynb", forbidden=("torch.nn.RNN",))
    findings.review(
        "craft_rnn.ipynb", lambda text: relabel(text, conversion.line_map, "craft_rnn.py", "craft_rnn.ipynb")
    )
    assert "uses `torch.nn.RNN` (craft_rnn.ipynb, cell 2, line 2)" in findings.describe_forbidden("craft_rnn.ipynb")


def test_constants_computed_at_top_level_are_kept():
    namespace, conversion = run(
        'LETTERS = "SE?abc"\nPAD = LETTERS.index("?")\nWIDTH = len(LETTERS) * 2',
        "def pad_id():\n    return PAD\n\ndef width(extra=WIDTH):\n    return extra",
    )
    assert namespace["pad_id"]() == 2 and namespace["width"]() == 12
    assert conversion.skipped == [] and conversion.notes("m.ipynb") == []


def test_a_heavy_statement_is_kept_when_graded_code_needs_what_it_binds():
    namespace, conversion = run(
        "VOCAB = []\nfor letter in 'abc':\n    VOCAB.append(letter)",  # a loop, but VOCAB is read below
        "def size():\n    return len(VOCAB)",
        "for epoch in range(10**9):\n    pass",  # nothing reads epoch
    )
    assert namespace["size"]() == 3 and "epoch" not in namespace
    assert conversion.skipped == [(3, "loop")]


def test_dependencies_are_followed_transitively_through_statements_and_functions():
    namespace, _ = run(
        "def build():\n    return {'a': 1}\n\ndef train(model):\n    return [0.5]",
        "table = build()\nlosses = train(table)\nscale = losses[-1]",  # training needed through `scale`
        "def helper():\n    return scale\n\ndef graded():\n    return helper() * 2",
    )
    assert namespace["graded"]() == 1.0


def test_training_and_what_reads_its_results_are_skipped():
    namespace, conversion = run(
        "def train(n):\n    while True:\n        pass",
        "model = {'w': 1}\nlosses = train(model)\nfinal = losses[-1]\nmodel['w'] = 2",
        "print(final)",
    )
    # the training may have changed the model: what reads it after the skipped training is skipped too
    assert "losses" not in namespace and "final" not in namespace and namespace["model"] == {"w": 1}
    assert [kind for _, kind in conversion.skipped] == ["training", "derived", "derived", "print"]


def test_what_reads_an_object_a_skipped_training_changed_is_skipped():
    """A teacher round's correct notebooks scored 0: the import failed on the notebook's own assertions,
    which read the model the skipped training had changed in place (through an argument, or through an
    optimizer's step on its weights). The model, the functions and the modules stay as they were made."""
    namespace, conversion = run(
        "import math\ndef train(model, epochs):\n    model['w'] = 5\n    return [1.0] * epochs\n"
        "def predict(model):\n    return 'ohlol' if model['w'] == 5 else 'hello'",
        "model = {'w': 0}\nlosses = train(model, epochs=100)\nassert predict(model) == 'ohlol'",
        "class Opt:\n    def __init__(self, params):\n        self.params = params\n"
        "    def step(self):\n        self.params['w'] += 1",
        "clf = {'w': 0}\nopt = Opt(clf)\nfor epoch in range(3):\n    opt.step()\n"
        "accuracy = clf['w'] / 3\nassert accuracy > 0.9\nroot = math.sqrt(4)",
    )
    assert namespace["model"] == {"w": 0} and namespace["clf"] == {"w": 0} and namespace["root"] == 2
    assert [kind for _, kind in conversion.skipped] == ["training", "derived", "training", "derived", "derived"]


def test_the_last_binding_is_the_one_functions_see():
    namespace, conversion = run(
        "def train():\n    return 5",
        "PAD = train()",  # rebound below before anything reads it: not needed
        'PAD = "?"\ndef pad():\n    return PAD',
        "X = 1\nX = X + train()",  # the last binding reads the earlier one and trains
        "def x():\n    return X",
    )
    assert namespace["pad"]() == "?" and namespace["x"]() == 6
    assert [kind for _, kind in conversion.skipped] == ["training"]
    assert "X = X + train()" in conversion.source and "PAD = train()" not in conversion.source


def test_globals_assigned_inside_called_functions_are_followed():
    namespace, _ = run(
        "def setup():\n    global VOCAB\n    VOCAB = ['a', 'b']\n\n"
        "def train_all():\n    global VOCAB\n    VOCAB = ['t']",
        "setup()\nfor step in range(3):\n    train_all()",  # the loop binds VOCAB through `global`
        "def size():\n    return len(VOCAB)",
    )
    assert namespace["size"]() == 1  # the loop is kept, as in a .py: graded code reads what it set


def test_main_guard_is_not_run_but_its_else_is():
    namespace, conversion = run(
        "x = 1",
        "if __name__ == '__main__':\n    x = 2",
        "if __name__ == '__main__':\n    pass\nelse:\n    y = 3",
    )
    assert namespace["x"] == 1 and namespace["y"] == 3
    assert conversion.skipped == [(2, "main")]


def test_keep_everything_runs_every_statement():
    conversion = convert(
        notebook("x = [1]\nx.append(2)\nfor i in range(2):\n    x.append(i)\nprint(x)"), keep_everything=True
    )
    namespace: dict = {}
    exec(conversion.source, namespace)
    assert namespace["x"] == [1, 2, 0, 1] and conversion.skipped == []


@pytest.mark.skipif(
    any(importlib.util.find_spec(m) for m in ("matplotlib", "seaborn", "tqdm", "IPython")),
    reason="the stand-ins replace these libraries only where they are missing",
)
def test_missing_plotting_libraries_become_stand_ins():
    namespace, conversion = run(
        "%matplotlib inline\n!pip install seaborn\nimport matplotlib.pyplot as plt\nimport seaborn as sns\n"
        "from tqdm.auto import tqdm, trange\nfrom IPython.display import display, clear_output",
        "def train(n):\n    out = []\n    bar = tqdm(range(n))\n    for i in bar:\n        bar.set_postfix(loss=i)\n"
        "        out.append(i)\n    fig, (left, right) = plt.subplots(1, 2)\n    left.plot(out)\n"
        "    sns.lineplot(x=out)\n    display(fig)\n    clear_output()\n    with tqdm(total=3) as progress:\n"
        "        progress.update(1)\n    return out + list(trange(2))",
        "plt.plot([1, 2])",
    )
    assert namespace["train"](3) == [0, 1, 2, 0, 1]
    assert conversion.skipped == [(3, "plot")]
    assert "%matplotlib" not in conversion.source and "pip" not in conversion.source


def test_display_builtin_of_notebooks_is_a_stand_in_when_never_imported():
    namespace, _ = run("def show(x):\n    display(x)\n    return x")
    assert namespace["show"](3) == 3


def test_stand_in_imports_keep_the_line_map_right():
    conversion = convert(
        notebook(
            "from __future__ import annotations\nimport numpy as np",
            "import matplotlib.pyplot as plt\n\ndef g():\n    raise ValueError",
        )
    )
    lines = conversion.source.splitlines()
    assert lines[0] == "from __future__ import annotations"  # first, as Python requires
    raising = lines.index("    raise ValueError") + 1
    plotting = lines.index("    import matplotlib.pyplot as plt") + 1
    assert conversion.line_map[raising] == (2, 4) and conversion.line_map[plotting] == (2, 1)
    text = relabel(f'File "m.py", line {raising}, in g', conversion.line_map, "m.py", "m.ipynb")
    assert text == 'File "m.ipynb", cell 2, line 4, in g'
    namespace: dict = {}
    exec(compile(conversion.source, "m.py", "exec"), namespace)
    with pytest.raises(ValueError) as caught:
        namespace["g"]()
    assert caught.traceback[-1].lineno + 1 == raising


DISPLAY_IMPORTS = (
    "import matplotlib.pyplot as plt\nimport seaborn as sns\nfrom tqdm.auto import tqdm, trange\n"
    "from google.colab import drive\n"
)


def test_a_py_that_imports_display_libraries_grades_as_its_notebook(grade, tmp_path):
    """A .py importing what the student's machine has for plots, progress bars and Colab gets the stand-ins
    a notebook gets where grading runs without them (the notebooks above use them inside graded code)."""
    source = DISPLAY_IMPORTS + (SOLUTIONS / "a1_srn_numpy" / "srn.py").read_text()
    source = source.replace("    for t in range(T):", "    for t in tqdm(range(T), leave=False):", 1)
    assert "tqdm(range(T)" in source
    source += "\ndrive.mount('/content/drive')\nfig, axes = plt.subplots(1, 2)\nsns.set_theme()\n"
    source += "for step in trange(3):\n    axes[0].plot([step])\n"  # kept: a .py runs every statement
    folder = tmp_path / "student" / "a1_srn_numpy"
    folder.mkdir(parents=True)
    (folder / "srn.py").write_text(source)
    result = grade(folder.parent)
    failed = [(c["name"], c["message"]) for c in checks_of(result, "a1_srn_numpy") if c["status"] != "passed"]
    assert score_of(result, "a1_srn_numpy") == 100, failed


def test_a_library_missing_where_grading_runs_costs_only_the_checks_that_use_it(grade, tmp_path):
    """pandas read in a training cell, sklearn for a metric: imported at the top, missing in the sandbox.
    The import is let through; a check whose code uses the library fails and names it (0/100 before)."""
    source = "import tabular_tools_24680 as tt\nfrom metric_kit_13579.scores import f1\n"
    source += (SOLUTIONS / "a1_srn_numpy" / "srn.py").read_text()
    source = source.replace("    return hs @ W_hy.T + b_y", "    return tt.frame(hs @ W_hy.T + b_y).values", 1)
    assert "tt.frame" in source
    folder = tmp_path / "student" / "a1_srn_numpy"
    folder.mkdir(parents=True)
    (folder / "srn.py").write_text(source)
    result = grade(folder.parent)
    failed = {c["name"]: c["message"] for c in checks_of(result, "a1_srn_numpy") if c["status"] != "passed"}
    uses = {"test_worked_example[identity]", "test_worked_example[tanh]", "test_linear_output"}
    assert set(failed) == uses, failed
    assert all("tt.frame" not in m and "tabular_tools_24680 is not installed" in m for m in failed.values())
    (notes,) = [a["notes"] for a in result["assignments"] if a["id"] == "a1_srn_numpy"]
    assert any("imports tabular_tools_24680 and metric_kit_13579, which are not installed" in n for n in notes)


def test_stand_ins_replace_only_missing_display_libraries():
    """An installed package is itself (the finder is asked last); a missing one outside the list still
    fails to import, as on the student's machine."""
    script = (
        "import importlib, sys\nfrom grader.inside import stand_ins\nstand_ins.install()\n"
        "import numpy, tqdm, google.colab\nfrom google.colab import drive\n"
        "assert type(numpy).__name__ == 'module' and numpy.zeros(2).shape == (2,)\n"
        "assert isinstance(google.colab, stand_ins.StandInModule) and list(tqdm.tqdm([1, 2])) == [1, 2]\n"
        "for name in ('no_such_module_24680', 'google.no_such_part'):\n"
        "    try:\n        importlib.import_module(name)\n    except ModuleNotFoundError:\n        pass\n"
        "    else:\n        raise AssertionError(name)\n"
        "print('ok')"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0 and done.stdout.startswith("ok"), done.stderr


def test_python_cell_magics_run_their_body_and_others_are_dropped():
    namespace, conversion = run("%%time\nx = 2", "%%bash\necho hi", "%%capture\ny = x + 1")
    assert namespace["y"] == 3 and conversion.skipped == [] and conversion.broken == []


def test_the_note_is_one_short_line():
    _, conversion = run(
        "%matplotlib inline\nimport matplotlib.pyplot as plt",
        "def train():\n    return [1.0]",
        "losses = train()",
        "plt.plot(losses)",
        "print(losses)",
        "plt.show()",
    )
    assert conversion.notes("srn.ipynb") == [
        "From srn.ipynb, 4 statements that nothing graded uses were not run: training (cell 3), "
        "2 plots (cells 4 and 6), a print (cell 5)."
    ]


def test_cells_are_counted_as_the_student_sees_them_markdown_included():
    cells = [
        nbformat.v4.new_markdown_cell("# Assignment 1"),
        nbformat.v4.new_code_cell("import numpy as np"),
        nbformat.v4.new_markdown_cell("Try it:"),
        nbformat.v4.new_code_cell("print(np.ones(2))\n\ndef g():\n    raise ValueError"),
    ]
    conversion = convert(nbformat.writes(nbformat.v4.new_notebook(cells=cells)))
    assert conversion.notes("m.ipynb") == [
        "From m.ipynb, 1 statement that nothing graded uses was not run: a print (cell 4)."
    ]
    raising = conversion.source.splitlines().index("    raise ValueError") + 1
    assert conversion.line_map[raising] == (4, 4)


def test_the_note_names_cells_with_syntax_errors():
    _, conversion = run("x = 1\nprint(x)", "def broken(:\n    pass")
    assert conversion.notes("m.ipynb") == [
        "From m.ipynb, 1 statement that nothing graded uses was not run: a print (cell 1). "
        "Cell 2 was not run: it has a syntax error (invalid syntax, line 1)."
    ]
    _, only_broken = run("def broken(:\n    pass")
    assert only_broken.notes("m.ipynb") == [
        "From m.ipynb, cell 1 was not run: it has a syntax error (invalid syntax, line 1)."
    ]


def test_a_training_call_is_not_needed_by_the_global_it_sets_itself():
    namespace, conversion = run(
        "def train(n):\n    global losses\n    losses = []\n"
        "    for i in range(n):\n        losses.append(i)\n    return losses",
        "train(10**9)",
        "def last_loss():\n    return train(2)[-1]",
    )
    assert namespace["last_loss"]() == 1 and conversion.skipped == [(2, "training")]


def test_timed_lines_run_their_statement_and_tab_indented_imports_are_wrapped():
    namespace, _ = run("%time x = 2\n%timeit -n 3 x + 1", "def f():\n\timport matplotlib.pyplot as plt\n\treturn x")
    assert namespace["f"]() == 2
