"""Reading submissions: notebooks, discovery, and every kind of unreadable or risky file."""

from __future__ import annotations

import ast
import json
import os
import time

import nbformat
import pytest
from conftest import REPO, write_submission

from grader.course.model import load_course
from grader.intake.notebook import NotebookError, convert, relabel
from grader.intake.static_checks import analyse, imported_helpers
from grader.intake.submission import load
from grader.packaging.stubs import StubError, make_stub, notebook_from_stub

COURSE = load_course(REPO)


def notebook(*cells: str) -> str:
    return nbformat.writes(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells]))


# notebooks ---------------------------------------------------------------------------------------


def test_notebook_runs_what_a_py_runs_except_training_plots_and_prints():
    text = notebook(
        "import numpy as np\n%matplotlib inline\n!pip install torch",
        "IDX2CHAR = ['e', 'h', 'l', 'o']\nchar2idx = {c: i for i, c in enumerate(IDX2CHAR)}\nsquare = lambda v: v * v",
        "def f(x):\n    return square(x)\n\nclass Model:\n    pass",
        "model = Model()\nfor epoch in range(100):\n    print(epoch)\nf(3)",
        "%%time\nfour = f(2)",
    )
    conversion = convert(text)
    namespace: dict = {}
    exec(conversion.source, namespace)
    assert namespace["f"](3) == 9 and namespace["char2idx"]["o"] == 3 and namespace["four"] == 4
    assert isinstance(namespace["model"], namespace["Model"]) and "epoch" not in namespace
    assert conversion.skipped == [(4, "print")] and conversion.kept == 9
    assert conversion.notes("m.ipynb") == [
        "From m.ipynb, 1 statement that nothing graded uses was not run: a print (cell 4)."
    ]


def test_keep_everything_runs_every_statement():
    conversion = convert(notebook("x = [1]\nx.append(2)"), keep_everything=True)
    namespace: dict = {}
    exec(conversion.source, namespace)
    assert namespace["x"] == [1, 2]


def test_a_cell_with_a_syntax_error_is_skipped_and_reported():
    conversion = convert(notebook("def ok():\n    return 1", "def broken(:\n    pass"))
    assert "def ok" in conversion.source and "broken" not in conversion.source
    assert conversion.broken == [(2, "invalid syntax, line 1")]
    assert conversion.notes("m.ipynb") == [
        "From m.ipynb, cell 2 was not run: it has a syntax error (invalid syntax, line 1)."
    ]


def test_line_numbers_point_at_the_notebook_cell():
    conversion = convert(notebook("import numpy as np", "x = 1\n\ndef g():\n    raise ValueError"))
    line = conversion.source.splitlines().index("    raise ValueError") + 1
    text = relabel(
        f'File "srn.py", line {line}, in g / srn.py, line {line}', conversion.line_map, "srn.py", "srn.ipynb"
    )
    assert text == 'File "srn.ipynb", cell 2, line 4, in g / srn.ipynb, cell 2, line 4'


@pytest.mark.parametrize("text", ["{not json", json.dumps({"cells": "nope"}), json.dumps([1, 2])])
def test_malformed_notebooks_raise_a_clear_error(text):
    with pytest.raises(NotebookError, match="not a readable Jupyter notebook"):
        convert(text)


@pytest.mark.parametrize(
    "statement, kept",
    [
        ("device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')", True),
        ("LETTERS = 'SE?' + 'abc'\nPAD = LETTERS.index('?')", True),
        ("EYE = torch.eye(4)", True),
        ("try:\n    import torch\nexcept ImportError:\n    pass", True),
        ("torch.manual_seed(0)", True),
        ("losses = train(model)", False),
        ("for epoch in range(10):\n    step(epoch)", False),
        ("optimizer.step()", False),
        ("if __name__ == '__main__':\n    main()", False),
        ("print('hi')", False),
        ("plt.plot(losses)", False),
        ("display(frame)", False),
    ],
)
def test_which_top_level_statements_are_kept(statement, kept):
    conversion = convert(notebook("import torch\nimport matplotlib.pyplot as plt", statement))
    assert (conversion.skipped == []) is kept, conversion.skipped


# discovery ---------------------------------------------------------------------------------------


def test_module_found_directly_in_an_assignment_folder_or_under_a_wrapper(tmp_path):
    direct = write_submission(tmp_path / "direct", {"srn.py": "x = 1\n"})
    nested = write_submission(tmp_path / "nested", {"a1_srn_numpy/srn.py": "x = 1\n"})
    wrapped = write_submission(tmp_path / "zipped", {"alice-hw/a1_srn_numpy/srn.py": "x = 1\n"})
    for folder in (direct, nested, wrapped):
        assert list(load(folder, COURSE).modules) == ["a1_srn_numpy"], folder


def test_content_not_save_time_decides_which_file_is_graded(tmp_path):
    stub = "def rnn_step(x):\n    raise NotImplementedError\n"
    folder = write_submission(tmp_path / "s", {"srn.py": "def rnn_step(x):\n    return x\n"})
    (folder / "srn.ipynb").write_text(notebook(stub))  # the untouched stub, saved last
    old = time.time() - 100
    os.utime(folder / "srn.py", (old, old))
    work = load(folder, COURSE).modules["a1_srn_numpy"]
    assert work.kind == "py" and "srn.ipynb beside it is still the untouched stub" in work.choice
    (folder / "srn.ipynb").write_text(notebook("def rnn_step(x):\n    return 2 * x"))
    work = load(folder, COURSE).modules["a1_srn_numpy"]
    assert work.kind == "py" and work.choice.startswith("Both srn.py and srn.ipynb were edited: only srn.py was graded")


def test_a_py_with_one_function_left_beside_a_notebook_that_raises_nothing_is_graded(tmp_path):
    """Found by a hostile round: the "unfinished" functions were those either file left raising
    NotImplementedError, so a .py with all but its backward done, beside a notebook whose functions
    return None, counted as the untouched stub and scored 0 where it earns 60. The .py is graded now:
    its backward is left, but the notebook fills in none of it (``pass`` is no body of its own)."""
    done = "def rnn_step(x):\n    return x\n\ndef rnn_backward(x):\n    raise NotImplementedError\n"
    folder = write_submission(tmp_path / "s", {"srn.py": done})
    (folder / "srn.ipynb").write_text(notebook("def rnn_step(x):\n    return None\n\ndef rnn_backward(x):\n    pass"))
    work = load(folder, COURSE).modules["a1_srn_numpy"]
    assert work.kind == "py" and work.choice.startswith("Both srn.py and srn.ipynb were edited: only srn.py")
    (folder / "srn.ipynb").write_text(
        notebook("def rnn_step(x):\n    raise NotImplementedError\n\n" + done.split("\n\n")[1])
    )
    work = load(folder, COURSE).modules["a1_srn_numpy"]  # the notebook as handed out beside it: the .py alone
    assert work.kind == "py" and "untouched stub" in work.choice


def test_of_two_edited_files_one_is_graded_the_one_with_more_of_the_work(tmp_path):
    """A hostile round handed in a5's sentiment.py and sentiment.ipynb, the same code guessing the one
    bit the work cannot know each way; both were graded and the better counted: 94.68 every time, where
    the work earns 68.09 (and the student learned the bit from the page). One file is graded: the one
    that fills in more of the functions the stub leaves, the .py when as many. Which it is depends on
    the code alone, never on a score."""
    step_and_backward = "def rnn_step(x):\n    {}\n\ndef rnn_backward(x):\n    {}\n"
    done = step_and_backward.format("return x", '"""Backward."""\n    return 2 * x')
    guessed = done.replace("2 * x", "3 * x")
    folder = write_submission(tmp_path / "both_done", {"srn.py": done})
    (folder / "srn.ipynb").write_text(notebook(guessed))
    work = load(folder, COURSE).modules["a1_srn_numpy"]
    assert work.kind == "py" and work.source == done
    assert "both fill in as many of the stub's functions, and then the .py is graded" in work.choice
    old = time.time() - 100  # saved first: the content decides, not the time
    os.utime(folder / "srn.ipynb", (old, old))
    assert load(folder, COURSE).modules["a1_srn_numpy"].kind == "py"

    half = step_and_backward.format("return x", "raise NotImplementedError")
    for body in ("pass", "...", "return None", '"""To do."""'):  # an empty body fills in nothing
        folder = write_submission(tmp_path / f"empty_{len(body)}", {"srn.py": half})
        (folder / "srn.ipynb").write_text(notebook(step_and_backward.format("return 2 * x", body)))
        work = load(folder, COURSE).modules["a1_srn_numpy"]
        assert work.kind == "py", body

    given = "def given(x):\n    return x\n\n"  # a function the stub gives, rewritten in the .py
    folder = write_submission(tmp_path / "stub_beside", {"srn.py": given.replace("x\n", "x + 0\n") + done})
    (folder / "srn.ipynb").write_text(notebook(given + half.replace("return x", "raise NotImplementedError")))
    work = load(folder, COURSE).modules["a1_srn_numpy"]
    assert work.kind == "py" and work.choice == (
        "srn.py was graded: srn.ipynb beside it fills in none of the functions the stub leaves to you "
        "(delete the file you do not use)."
    )

    folder = write_submission(tmp_path / "notebook_further", {"srn.py": half.replace("return x", "return x * 1")})
    (folder / "srn.ipynb").write_text(notebook(done))
    work = load(folder, COURSE).modules["a1_srn_numpy"]
    assert work.kind == "ipynb" and work.choice == (
        "srn.ipynb was graded: srn.py beside it fills in none of the functions the stub leaves to you "
        "(delete the file you do not use)."
    )
    three = "def a(x):\n    {}\n\ndef b(x):\n    {}\n\ndef c(x):\n    {}\n"
    todo = "raise NotImplementedError"
    folder = write_submission(tmp_path / "notebook_fills_more", {"srn.py": three.format("return 1", todo, todo)})
    (folder / "srn.ipynb").write_text(notebook(three.format(todo, "return 2", "return 3")))
    work = load(folder, COURSE).modules["a1_srn_numpy"]
    assert work.kind == "ipynb" and work.choice == (
        "Both srn.py and srn.ipynb were edited: only srn.ipynb was graded (it fills in 2 of the 3 functions "
        "the stub leaves to you, srn.py 1). Delete the file you do not use."
    )


@pytest.mark.parametrize(
    "content, problem",
    [
        (b"x = '\xff\xfe'\n", "not valid UTF-8"),
        (b"x = 1\0\n", "null bytes"),
        (b"   \n", "is empty"),
    ],
)
def test_unreadable_modules_get_a_sentence_not_an_exception(tmp_path, content, problem):
    folder = write_submission(tmp_path / "s", {"srn.py": content})
    assert problem in load(folder, COURSE).modules["a1_srn_numpy"].problem


def test_latin1_source_with_a_coding_cookie_is_read(tmp_path):
    folder = write_submission(tmp_path / "s", {"srn.py": "# -*- coding: latin-1 -*-\nname = 'é'\n".encode("latin-1")})
    work = load(folder, COURSE).modules["a1_srn_numpy"]
    assert work.problem is None and "é" in work.source


@pytest.mark.parametrize(
    "raw",
    [
        # utf-7: "+-" decodes to "+", so the scan read a comment where a second decoding finds code
        b"# -*- coding: utf-7 -*-\nx = 1  # +-AAo-y = 2\n",
        b"#!/usr/bin/env python\n# vim: set fileencoding=utf-7 :\nx = 1  # +-AAo-y = 2\n",
        # a \r inside the coding line's "line": the cookie's rewrite once took the string opener with it
        b"# coding: latin-1\r_notes = '''\ny = 2\n#'''\nx = 1\n",
        b"x = 1\r\n# coding: utf-7\r\nz = '+-AAo-y = 2'\r\n",
        "# coding: latin-1\nname = '\u00e9'\n".encode("latin-1"),
        "\ufeffname = '\u00e9'\n".encode("utf-8"),
    ],
    ids=["utf-7", "utf-7-on-line-2", "cr-in-the-coding-line", "crlf-cookie-after-code", "latin-1", "bom"],
)
def test_the_module_that_runs_is_the_text_that_was_read(tmp_path, raw):
    """What the sandbox imports, as Python parses it (its own decoding, its own line ends), is the very
    program the integrity scan parsed; or the file is refused with a sentence. Hostile rounds hid a
    complex-step backward behind a utf-7 coding line, and behind a \\r the coding line's rewrite
    swallowed: a1 100 where the work earns 60, unflagged."""
    folder = write_submission(tmp_path / "s", {"srn.py": raw})
    work = load(folder, COURSE).modules["a1_srn_numpy"]
    if work.problem:
        assert "reads as different code" in work.problem and work.source is None
        return
    written = work.files()["srn.py"]
    assert ast.dump(ast.parse(written)) == ast.dump(ast.parse(work.source))
    namespace: dict = {}
    exec(compile(written, "srn.py", "exec"), namespace)
    assert "y" not in namespace


def test_a_helper_runs_as_the_text_that_was_read_or_is_left_behind(tmp_path):
    """A hostile round's helper began "# notes\\rimport numpy as np\\r# coding: nope": tokenize read an
    unknown coding on "line 1" and the scan skipped the file, while Python saw no coding line and ran it
    (a complex-step backward, unflagged). Helpers are now written as the text the scan reads, and one that
    cannot be read is left behind with a note."""
    folder = write_submission(
        tmp_path / "s",
        {
            "srn.py": "import gradtools, tools\n",
            "gradtools.py": b"# notes\rimport numpy as np\r# coding: nope\nz = np.zeros(2, dtype=complex)\n",
            "tools.py": b"import numpy as np\r\nlong = np.float64\r\n",
        },
    )
    work = load(folder, COURSE).modules["a1_srn_numpy"]
    assert "gradtools.py" not in work.helpers and any("gradtools.py was ignored" in n for n in work.notes)
    assert work.helpers["tools.py"] == b"import numpy as np\nlong = np.float64\n"
    assert imported_helpers(work.source, work.helpers) == {"tools.py": "import numpy as np\nlong = np.float64\n"}


def test_the_sandbox_receives_only_the_helpers_that_were_scanned(tmp_path):
    """Every file beside the module was copied, but only those it imports were scanned: a hostile round's
    unimported ``yaml.py`` ran anyway, imported by numpy's ``show_config`` (the folder comes first on
    ``sys.path``), and installed a complex-step rnn_backward unflagged. What runs is what was read."""
    folder = write_submission(
        tmp_path / "s",
        {
            "srn.py": "import numpy as np\nimport tools\nnp.show_config()\n",
            "tools.py": "from numerics import step\n",
            "numerics.py": "step = 1e-6\n",
            "yaml.py": "import sys\nsys.modules['srn'].rnn_backward = lambda dhs, cache: {}\n",
            "test_mine.py": "import torch\n",
        },
    )
    work = load(folder, COURSE).modules["a1_srn_numpy"]
    assert sorted(work.files()) == ["numerics.py", "srn.py", "tools.py"]
    assert sorted(work.files()) == sorted([*imported_helpers(work.source, work.helpers), "srn.py"])


def test_files_of_data_beside_the_module_are_handed_to_it(tmp_path):
    """A regression round's a2 read letters.json beside itself when imported, and failed to import:
    only .py files were handed to the sandbox. Data files are now (none can run: only handed-in .py
    files are imported, and loading a pickle is flagged); configuration files stay behind."""
    folder = write_submission(
        tmp_path / "s",
        {"srn.py": "import json\n", "letters.json": '["e", "h", "l", "o"]', "setup.cfg": "", "big.npy": b"0" * 2**21},
    )
    work = load(folder, COURSE).modules["a1_srn_numpy"]
    assert sorted(work.files()) == ["letters.json", "srn.py"]
    assert any("big.npy was not handed to your code" in note for note in work.notes)


def test_a_helper_only_a_library_imports_does_not_run(grade, tmp_path):
    """The hostile round's submission itself: an honest forward, the stub's backward, ``np.show_config()``
    and a ``yaml.py`` beside it. Before, every backward check passed unflagged (100 where the work earns 60)."""
    handout = (REPO / "student_template" / "a1_srn_numpy" / "srn.py").read_text()
    reference = (REPO / "solutions" / "a1_srn_numpy" / "srn.py").read_text()
    backward = reference[reference.index("def rnn_backward") :]
    stub_backward = handout[handout.index("def rnn_backward") :]
    module = reference.replace(backward, stub_backward) + "\n\nnp.show_config()\n"
    cheat = (
        "import sys\nimport numpy as np\n\n\ndef rnn_backward(dhs, cache):\n"
        "    return {key: np.zeros_like(cache[key]) + 0.0 for key in ('x', 'h0', 'W_ih', 'W_hh', 'b_ih', 'b_hh')}\n\n\n"
        "sys.modules['srn'].rnn_backward = rnn_backward\n\n\ndef dump(*args, **kwargs):\n    return ''\n"
    )
    folder = write_submission(tmp_path / "s" / "a1_srn_numpy", {"srn.py": module, "yaml.py": cheat})
    result = grade(folder.parent, "-a", "a1_srn_numpy")
    backward = [c for c in result["assignments"][0]["checks"] if "backward" in c["name"] or "gradient" in c["name"]]
    assert backward and all("is not implemented yet" in c["message"] for c in backward), backward


def test_huge_and_linked_modules_are_refused(tmp_path):
    folder = write_submission(tmp_path / "big", {"srn.ipynb": b" " * (21 * 2**20)})
    assert "Clear the outputs" in load(folder, COURSE).modules["a1_srn_numpy"].problem
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "srn.py").symlink_to("/etc/passwd")
    assert "symbolic link" in load(linked, COURSE).modules["a1_srn_numpy"].problem


def test_risky_helper_files_are_left_behind_and_reported(tmp_path):
    folder = write_submission(
        tmp_path / "s",
        {
            "srn.py": "import helper\n",
            "helper.py": "X = 1\n",
            "numpy.py": "",
            "conftest.py": "",
            "evil.pth": "import os",
        },
    )
    work = load(folder, COURSE).modules["a1_srn_numpy"]
    assert set(work.helpers) == {"helper.py"}
    notes = " ".join(work.notes)
    assert "numpy.py was ignored" in notes and "conftest.py was ignored" in notes and "evil.pth was ignored" in notes


def test_empty_folder_and_unknown_content(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "is empty: there is nothing to grade" in load(empty, COURSE).problem
    other = write_submission(tmp_path / "other", {"notes.txt": "hi", "main.py": "print(1)"})
    assert "no assignment found" in load(other, COURSE).problem
    assert "does not exist" in load(tmp_path / "missing", COURSE).problem


def test_content_hash_follows_the_graded_files(tmp_path):
    folder = write_submission(tmp_path / "s", {"srn.py": "x = 1\n", "notes.md": "a", "table.json": "[1]"})
    first = load(folder, COURSE).content_hash
    (folder / "notes.md").write_text("b")
    assert load(folder, COURSE).content_hash == first
    (folder / "table.json").write_text("[2]")  # data handed to the code
    assert load(folder, COURSE).content_hash != first
    first = load(folder, COURSE).content_hash
    (folder / "srn.py").write_text("x = 2\n")
    assert load(folder, COURSE).content_hash != first


# stubs -------------------------------------------------------------------------------------------


def test_stub_replaces_solution_blocks():
    source = (
        "import numpy as np\n\n"
        "# BEGIN SOLUTION\nHELPER = 3\n# END SOLUTION\n\n"
        "def f(x):\n    \"\"\"Doc.\"\"\"\n    # BEGIN SOLUTION: use np.tanh\n    return np.tanh(x)\n    # END SOLUTION\n"
    )
    stub = make_stub(source)
    assert "HELPER" not in stub and "np.tanh(x)" not in stub and '"""Doc."""' in stub
    assert "    # Hint: use np.tanh\n    raise NotImplementedError" in stub


@pytest.mark.parametrize(
    "source, problem",
    [
        ("def f():\n    # BEGIN SOLUTION\n    return 1\n", "never closed"),
        ("def f():\n    return 1\n    # END SOLUTION\n", "without"),
        ("# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION\n", "nested"),
    ],
)
def test_unbalanced_markers_are_reported(source, problem):
    with pytest.raises(StubError, match=problem):
        make_stub(source)


def test_stub_notebook_is_valid_and_deterministic():
    stub = make_stub((REPO / "solutions/a1_srn_numpy/srn.py").read_text())
    first, second = notebook_from_stub(stub, "A1"), notebook_from_stub(stub, "A1")
    assert first == second
    parsed = nbformat.reads(first, as_version=4)
    nbformat.validate(parsed)
    assert sum(cell.cell_type == "code" for cell in parsed.cells) >= 6


# static scan -------------------------------------------------------------------------------------

FORBIDDEN = ("torch.nn.RNN", "torch.nn.RNNCell", "torch._VF", "torch.rnn_tanh")


@pytest.mark.parametrize(
    "source, found",
    [
        ("import torch.nn as nn\nclass M(nn.RNN): pass", "torch.nn.RNN"),
        ("from torch import nn\nlayer = nn.RNNCell(3, 4)", "torch.nn.RNNCell"),
        ("from torch.nn import RNN as R\nR(3, 4)", "torch.nn.RNN"),
        ("import torch\ngetattr(torch, 'rnn_tanh')", "torch.rnn_tanh"),
        ("import torch\ntorch._VF.rnn_tanh", "torch._VF"),
        ("from torch import _VF", "torch._VF"),
    ],
)
def test_forbidden_apis_are_found_through_aliases(source, found):
    findings = analyse(source, "craft_rnn.py", forbidden=FORBIDDEN)
    assert found in [name for _, name in findings.forbidden_uses]


def test_allowed_code_and_blocked_imports():
    ok = analyse("import torch\nimport torch.nn as nn\nlin = nn.Linear(2, 3)", "m.py", forbidden=FORBIDDEN)
    assert ok.forbidden_uses == []
    blocked = analyse("import numpy\nfrom torch import tensor\n__import__('torch')", "srn.py", blocked=("torch",))
    assert [line for line, _ in blocked.blocked_imports] == [2, 3]
    assert "srn.py imports `torch` (line 2)" in blocked.describe_blocked("srn.py")


ARITHMETIC = ("complex", "extended", "exact", "overloaded")


@pytest.mark.parametrize(
    "source, found",
    [
        ("import numpy as np\ng = (f(x + 1e-20j)).imag", "1e-20j"),
        ("import numpy as np\nz = np.zeros(3, dtype=complex)", "complex"),
        ("import numpy as np\nz = x.astype(np.complex128)", "np.complex128"),
        ("import numpy as np\nz = x.astype('c16')", "'c16'"),
        ("import numpy as np\nz = np.asarray(x, dtype='D')", "'D'"),
        ("from numpy import clongdouble\nz = clongdouble(1)", "np.clongdouble"),
        ("import numpy\nz = numpy.lib.scimath.sqrt(-1)", "np.lib.scimath"),
        ("import numpy as np\nz = x.astype(np.longdouble)", "np.longdouble"),
        ("import numpy as np\nz = x.astype('float128')", "'float128'"),
        ("from fractions import Fraction", "import fractions"),
        ("import sympy", "import sympy"),
        ("import cmath", "import cmath"),
        ("import numpy as np\nunit = np.fft.fft([0.0, 1.0, 0.0, 0.0])[1]", "np.fft"),
        ("import numpy as np\nw = np.linalg.eig(np.array([[0.0, -1.0], [1.0, 0.0]]))", "np.linalg.eig"),
        ("import numpy as np\nz = np.zeros(3, 'D')", "'D'"),
        ("r = (-1.0) ** 0.5\nunit = r - r.real", "r.real"),
        (
            "Dual = type('Dual', (), {'__add__': lambda a, b: a})",
            "type(name, bases, namespace): a class built at run time",
        ),
        ("class D:\n    __add__, __mul__ = f, g", "class D defines __mul__"),
        ("class D:\n    pass\nD.__mul__ = f", "D.__mul__ = …"),
        ("class D:\n    pass\nsetattr(D, '__add__', f)", "setattr(…, '__add__', …)"),
        ("import numpy as np\nr = np.polynomial.polynomial.polyroots([1, 0, 1])", "np.polynomial"),
        (
            "class Dual:\n    def __init__(self, v, t):\n        self.v = v\n    def __mul__(self, o):\n        pass",
            "class Dual defines __mul__",
        ),
        ("class D(object):\n    __array_priority__ = 100", "class D defines __array_priority__"),
    ],
)
def test_arithmetic_that_differentiates_numerically_is_flagged(source, found):
    findings = analyse(source, "srn.py", blocked=("torch",), arithmetic=ARITHMETIC)
    assert found in [construct for _, construct in findings.arithmetic], findings.arithmetic
    assert "differentiating the forward mechanically" in findings.describe_arithmetic("srn.py")
    assert any("numerical differentiation?" in flag for flag in findings.review("srn.py"))
    assert findings.integrity == [] and findings.blocked_imports == []  # the numpy-only check is not its place


def test_honest_arithmetic_is_not_flagged_nor_is_it_looked_for_unless_asked():
    honest = (
        "import numpy as np\nD = {'D': 3}['D']\nassert not np.iscomplexobj(x)\ny = x + np.float64(1)\n"
        "def complex(a):\n    return a\nz = complex(2)\nw = np.zeros(3, dtype='float64')\n"
        "class Cache:\n    def __init__(self, hs):\n        self.hs = hs\n    def __getitem__(self, key):\n"
        "        return self.hs[key]\n"
    )
    assert analyse(honest, "srn.py", blocked=("torch",), arithmetic=ARITHMETIC).arithmetic == []
    assert analyse("z = 1j\nimport cmath", "srn.py", blocked=("torch",)).arithmetic == []


def test_the_helpers_the_module_imports_are_scanned_and_its_own_tests_are_not():
    helpers = {
        "gradtools.py": b"from numerics import step\n",
        "numerics.py": "# -*- coding: latin-1 -*-\n# pr\xe9cision\nstep = 1e-30j\n".encode("latin-1"),
        "test_mine.py": b"import torch\nfrom srn import rnn_forward\nreference = torch.nn.RNN(2, 3)\n",
        "notes.txt.py": b"\0",
    }
    reached = imported_helpers("import numpy as np\nfrom gradtools import step\n", helpers)
    assert sorted(reached) == ["gradtools.py", "numerics.py"] and "1e-30j" in reached["numerics.py"]
    # Loaded by a constant name, or in an exec'd constant, they run too; under the main guard they do not.
    for loads in ("importlib.import_module('numerics')", "__import__('numerics')", "exec('import numerics')"):
        assert list(imported_helpers(f"import importlib\nx = {loads}\n", helpers)) == ["numerics.py"], loads
    assert imported_helpers("if __name__ == '__main__':\n    import gradtools\n", helpers) == {}
    # importlib's loader under a name of the student's (a regression round: left behind, it lost 20 points)
    aliased = "from importlib import import_module as load_helper\nx = load_helper('numerics')\n"
    assert list(imported_helpers(aliased, helpers)) == ["numerics.py"]
    findings = analyse("from gradtools import step\n", "srn.py", blocked=("torch",), arithmetic=ARITHMETIC)
    for name, text in reached.items():
        findings.include(analyse(text, name, blocked=("torch",), arithmetic=ARITHMETIC), name)
    assert findings.review("srn.py") == ["numerics.py, line 3: 1e-30j (numerical differentiation?)"]
    assert "`1e-30j` (numerics.py, line 3)" in findings.describe_arithmetic("srn.py")


def test_syntax_errors_get_line_and_text():
    findings = analyse("def f(:\n    pass\n", "srn.py")
    assert "srn.py has a syntax error" in findings.syntax_error and "line 1" in findings.syntax_error


def test_a_copy_named_module_is_graded_with_a_note_and_two_copies_are_not_guessed(tmp_path):
    """A browser names a second download `srn (1).py`; a file manager a copy `srn - Copy.py`."""
    for name in ("srn (1).py", "srn(2).ipynb", "srn - Copy.py", "srn copy 2.py", "SRN.py"):
        folder = tmp_path / name.replace(" ", "_") / "a1_srn_numpy"
        body = (
            notebook("def rnn_step():\n    return 1") if name.endswith(".ipynb") else "def rnn_step():\n    return 1\n"
        )
        write_submission(folder, {name: body})
        work = load(folder.parent, COURSE).modules["a1_srn_numpy"]
        assert work.path is not None and work.path.name == name and "return 1" in (work.source or ""), name
        suffix = name.rsplit(".", 1)[1]
        assert work.notes[0] == f"{name} was graded as srn.{suffix}: name it so", work.notes
        single = load(folder / name, COURSE).modules["a1_srn_numpy"]  # `grade submit "srn (1).py"`
        assert single.source == work.source and single.notes[0] == work.notes[0]
    both = tmp_path / "both" / "a1_srn_numpy"
    write_submission(both, {"srn.py": "A = 1\n", "srn (1).py": "A = 2\n"})
    assert load(both.parent, COURSE).modules["a1_srn_numpy"].source == "A = 1\n"  # the module itself wins
    two = tmp_path / "two" / "a1_srn_numpy"
    write_submission(two, {"srn (1).py": "A = 1\n", "srn (2).py": "A = 2\n"})
    assert "a1_srn_numpy" not in load(two.parent, COURSE).modules  # which one? said as "no assignment found"
    unrelated = tmp_path / "unrelated" / "a1_srn_numpy"
    write_submission(unrelated, {"srn_helpers.py": "A = 1\n", "my srn.py": "A = 2\n"})
    assert "a1_srn_numpy" not in load(unrelated.parent, COURSE).modules
