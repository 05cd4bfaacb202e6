"""Bad submissions: each gets a clear message and a recorded result; the grader never crashes.

All of them are graded as one class with one `grade report` (a short time limit per call keeps the
endless loop cheap; nothing else comes near it, however busy the machine), then each student's
recorded result is checked."""

from __future__ import annotations

import json
import os

import pytest
from conftest import REPO, SOLUTIONS, checks_of, nest, unnest, write_submission

pytestmark = pytest.mark.slow  # every test reads one `grade report` over the whole class

A1 = "a1_srn_numpy"
REFERENCE = (SOLUTIONS / A1 / "srn.py").read_text()


def replace_function(name: str, body: str) -> str:
    """The reference with one function's body replaced (the rest stays correct)."""
    head = f"def {name}("
    start = REFERENCE.index(head)
    end = REFERENCE.find("\ndef ", start + 1)
    signature_end = REFERENCE.index(":\n", start) + 2
    return REFERENCE[:signature_end] + body + ("\n" + REFERENCE[end:] if end != -1 else "\n")


MARKER = "/tmp/rnn-autograder-unpickled-marker"
UNDECODABLE = b"jos\xe9"  # latin-1, not UTF-8

BAD = {
    "syntax_error": {"srn.py": REFERENCE.replace("def rnn_step(", "def rnn_step((", 1)},
    "missing_function": {"srn.py": REFERENCE[: REFERENCE.index("def rnn_backward(")]},
    "wrong_return_type": {"srn.py": replace_function("rnn_step", "    return 'a string'\n")},
    "nan_output": {
        "srn.py": replace_function("rnn_step", "    return np.full((x_t.shape[0], W_hh.shape[0]), np.nan)\n")
    },
    "exception": {"srn.py": replace_function("linear_output", "    raise KeyError('W_hy')\n")},
    "endless_loop": {"srn.py": replace_function("rnn_step", "    while True:\n        pass\n")},
    "exit_at_import": {"srn.py": "import sys\nsys.exit()\n" + REFERENCE},
    "os_exit": {"srn.py": replace_function("linear_output", "    import os\n    os._exit(0)\n")},
    "memory_bomb": {  # 800 MB at a time: over the 512 MB limit at once, long before the 2 s time limit
        "srn.py": replace_function(
            "linear_output", "    hoard = []\n    while True:\n        hoard.append(np.ones(10**8))\n"
        )
    },
    "prints_5mb": {
        "srn.py": REFERENCE.replace(
            "def linear_output(hs, W_hy, b_y):\n",
            "def linear_output(hs, W_hy, b_y):\n    print('x' * 5_000_000)\n",
            1,
        )
    },
    "malformed_notebook": {"srn.ipynb": '{"cells": [ this is not json'},
    "empty": {},
    "no_known_assignment": {"homework.py": "print('hello')\n", "notes.txt": "my answers"},
    "monkeypatched_numpy": {
        "srn.py": "import numpy as np\nnp.allclose = lambda *a, **k: True\n"
        "np.isclose = lambda a, b, **k: np.ones(np.shape(a), bool)\n"
        "np.testing.assert_allclose = lambda *a, **k: None\n"
        + replace_function("rnn_step", "    return np.zeros((x_t.shape[0], W_hh.shape[0]))\n")
    },
    "rigged_eq": {
        "srn.py": replace_function(
            "rnn_step",
            "    class Always:\n        def __eq__(self, other):\n            return True\n"
            "        __array_priority__ = 1000\n    return Always()\n",
        )
    },
    # strings no UTF-8 file can hold (lone surrogates), in an exception's message and in a type's name
    "surrogate_in_message": {"srn.py": replace_function("linear_output", "    raise ValueError('bad \\udcff end')\n")},
    "surrogate_in_type_name": {
        "srn.py": replace_function(
            "rnn_step", "    class Odd:\n        pass\n    Odd.__qualname__ = 'odd \\udcff'\n    return Odd()\n"
        )
    },
    "pickle_payload": {
        "srn.py": replace_function(
            "rnn_step",
            "    class Payload:\n        def __reduce__(self):\n"
            f"            return (open, ({MARKER!r}, 'w'))\n    return Payload()\n",
        )
    },
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory, run_grade):
    root = tmp_path_factory.mktemp("bad-class")
    for name, files in BAD.items():
        (root / name).mkdir()
        write_submission(root / name, files)
    # a folder 1,500 levels deep beside the work (a hostile round: RecursionError, "grading failed")
    deep = root / "deep_folder"
    write_submission(deep, {"srn.py": REFERENCE})
    nest(deep, 1500)
    # a folder, and a helper file, whose names are bytes that are not UTF-8 (a download unpacked elsewhere)
    undecodable = root / os.fsdecode(UNDECODABLE)
    write_submission(undecodable, {"srn.py": REFERENCE, os.fsdecode(b"help\xff.py"): "X = 1\n"})
    out = tmp_path_factory.mktemp("bad-grades")
    process = run_grade(
        "report",
        str(root),
        "--out",
        str(out),
        "--workers",
        "2",
        "--limit",
        "probe_timeout_s=2",
        "--limit",
        "submission_timeout_s=120",  # never reached: a stopped function is not run again
        "--limit",
        "memory_mb=512",
    )
    results = {name: json.loads((out / "students" / name / "feedback.json").read_text()) for name in BAD}
    results["deep_folder"] = json.loads((out / "students" / "deep_folder" / "feedback.json").read_text())
    [other] = [path for path in (out / "students").iterdir() if path.name not in {*BAD, "deep_folder"}]
    results[UNDECODABLE] = json.loads((other / "feedback.json").read_text())
    yield results, out, process
    unnest(deep)  # pytest's removal of old temporary folders recurses, as the grader's walks did


def messages(result) -> str:
    return " ".join(c["message"] for c in checks_of(result, A1))


def test_every_bad_submission_has_a_recorded_result(graded):
    results, out, process = graded
    assert set(results) == {*BAD, UNDECODABLE, "deep_folder"}
    assert "Traceback" not in process.stderr
    rows = (out / "gradebook.csv").read_text().splitlines()
    assert len(rows) == len(BAD) + 3  # the header, the undecodable name, the deep folder


def test_strings_no_utf8_file_holds_are_written_as_escapes(graded):
    """A lone surrogate in a student's exception or type name once failed the writing of the result, so
    the student was recorded as a grader error with no score; a folder named in bytes that are not UTF-8
    stopped the whole report before any gradebook was written."""
    for name, where in (("surrogate_in_message", "bad \\udcff end"), ("surrogate_in_type_name", "odd \\udcff")):
        result = graded[0][name]
        assert result["status"] == "graded" and 0 < result["score"] < 100, result["message"]
        assert where in messages(result), messages(result)
    folder = graded[0][UNDECODABLE]
    assert folder["status"] == "graded" and folder["score"] == 100 and folder["submission"].endswith("jos\\udce9")
    notes = folder["assignments"][0]["notes"]
    assert any("help\\udcff.py was ignored: its name is not valid UTF-8" in note for note in notes), notes


def test_syntax_error(graded):
    result = graded[0]["syntax_error"]["assignments"][0]
    assert result["score"] == 0 and "srn.py has a syntax error" in result["message"] and "line" in result["message"]


def test_missing_function_fails_only_its_checks(graded):
    result = graded[0]["missing_function"]
    assert 0 < result["score"] < 100
    assert "srn.py does not define `rnn_backward`" in messages(result)


def test_wrong_return_type(graded):
    assert "h_t returned by rnn_step is a str; an array was expected" in messages(graded[0]["wrong_return_type"])


def test_nan_output(graded):
    assert "contains NaN" in messages(graded[0]["nan_output"])


def test_exception_names_type_and_place(graded):
    assert "KeyError: 'W_hy' (srn.py, line" in messages(graded[0]["exception"])


def test_endless_loop_times_out_and_costs_only_the_checks_that_reach_it(graded):
    result = graded[0]["endless_loop"]
    assert result["score"] == 5  # linear_output does not call rnn_step
    assert "did not finish within 2 s" in messages(result) and "in rnn_step" in messages(result)
    assert "`rnn_step` was stopped after running more than 2 s in an earlier check" in messages(result)


def test_exit_at_import(graded):
    result = graded[0]["exit_at_import"]
    assert result["score"] == 0 and "called sys.exit() while importing srn.py" in messages(result)


def test_os_exit_never_passes(graded):
    result = graded[0]["os_exit"]
    assert "exit code 0" in messages(result) and "never counts as passing" in messages(result)
    assert 0 < result["score"] < 100  # the checks that do not call linear_output still pass


def test_memory_bomb(graded):
    text = messages(graded[0]["memory_bomb"])
    assert "out of memory" in text or "was killed" in text


def test_huge_output_is_truncated(graded):
    result = graded[0]["prints_5mb"]["assignments"][0]
    assert result["score"] == 100
    assert len(result["output"]) < 100_000 and "more bytes of output not shown" in result["output"]


def test_malformed_notebook(graded):
    result = graded[0]["malformed_notebook"]["assignments"][0]
    assert result["score"] == 0 and "srn.ipynb is not a readable Jupyter notebook" in result["message"]


def test_empty_folder_and_no_known_assignment(graded):
    empty, other = graded[0]["empty"], graded[0]["no_known_assignment"]
    assert empty["status"] == "empty" and "nothing to grade" in empty["message"]
    assert other["status"] == "empty" and "no assignment found" in other["message"]


def test_patched_numpy_in_the_student_process_changes_nothing(graded):
    result = graded[0]["monkeypatched_numpy"]
    assert result["score"] < 100
    # numpy is what the grader's code sends replies with: a reply of a process that replaced one of its
    # functions is refused (grader.inside.child._Libraries)
    assert "your code replaced numpy." in messages(result)


def test_rigged_objects_are_refused_and_never_unpickled(graded):
    import os

    assert "which the grader cannot use here" in messages(graded[0]["rigged_eq"])
    assert "which the grader cannot use here" in messages(graded[0]["pickle_payload"])
    assert not os.path.exists(MARKER)


def test_empty_folder_with_grade_submit_exits_1_with_a_sentence(run_grade, tmp_path):
    (tmp_path / "empty").mkdir()
    process = run_grade("submit", str(tmp_path / "empty"), "--out", str(tmp_path / "out"), expect=1)
    assert "nothing to grade" in process.stdout and "Traceback" not in process.stderr
    assert json.loads((tmp_path / "out" / "feedback.json").read_text())["status"] == "empty"


def test_a_missing_folder_is_a_usage_error_not_a_result(run_grade, tmp_path):
    process = run_grade("submit", str(tmp_path / "missing"), "--out", str(tmp_path / "out"), expect=2)
    assert "does not exist" in process.stderr and "Traceback" not in process.stderr
    assert not (tmp_path / "out").exists()


def test_an_unknown_assignment_names_the_course_searched(run_grade, tmp_path):
    """A new instructor outside their course copy got "unknown assignment a6_leaky_rnn" from another course."""
    process = run_grade("submit", str(SOLUTIONS), "-a", "a6_leaky_rnn", "--out", str(tmp_path / "out"), expect=2)
    assert f"unknown assignment a6_leaky_rnn in the course at {REPO}" in process.stderr
    assert "--course PATH" in process.stderr and "Traceback" not in process.stderr


def test_a_folder_nested_past_pythons_recursion_limit_is_graded_as_usual(graded):
    """A hostile round: 1,500 nested folders beside the work (10 KB zipped) made the listing of the
    student's files raise RecursionError, and their row said the grader had failed."""
    results, _, _ = graded
    result = results["deep_folder"]
    assert result["status"] == "graded" and result["score"] == result["max_score"], result.get("message")
