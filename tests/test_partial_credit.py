"""Credit per entry of a dict result (``judge.compare(..., per_key=...)``, ``assert_close(..., per_key=...)``):
each entry that matches earns its share, and the message names every wrong entry with its diagnosis.
a1's backward checks give credit per gradient this way; a2's loss-curve check says what a curve whose
first epoch matches the reference's shows (the gradient or the update), not "other initial weights".
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from conftest import REPO, checks_of, report_class, score_of

from grader.judging.compare import CheckFailure, PartialCredit, assert_close, judge_per_key
from grader.judging.plugin import POINTS, _check_result

GRADS = ("x", "h0", "W_ih", "W_hh", "b_ih", "b_hh")
TOLERANCE = dict(rtol=1e-9, atol=1e-10)


def backward_result(**overrides: np.ndarray) -> dict[str, Any]:
    """A result shaped like a1's backward probe: six gradients under "grads", x with a time axis."""
    rng = np.random.default_rng(0)
    shapes = {"x": (4, 2, 3), "h0": (2, 5), "W_ih": (5, 3), "W_hh": (5, 5), "b_ih": (5,), "b_hh": (5,)}
    grads = {key: rng.standard_normal(shape) for key, shape in shapes.items()}
    grads.update(overrides)
    return {"grads": grads, "_time_axes": {"grads": {"x": 0}}}


def judged(got: dict[str, Any], want: dict[str, Any]) -> CheckFailure | PartialCredit | None:
    return judge_per_key(got, want, name="", within="grads", **TOLERANCE)


# -- judge_per_key --------------------------------------------------------------------------------


def test_every_entry_right_passes():
    assert judged(backward_result(), backward_result()) is None


def test_one_wrong_gradient_earns_five_sixths_and_is_named():
    want = backward_result()
    verdict = judged(backward_result(b_hh=np.zeros(5)), want)
    assert isinstance(verdict, PartialCredit)
    assert verdict.fraction == pytest.approx(5 / 6)
    first, *lines = verdict.message.splitlines()
    assert "1 of 6 entries is wrong (grads['b_hh'])" in first and "5/6 of the points" in first
    assert "allowed rtol=1e-09, atol=1e-10" in first
    assert lines == [lines[0]] and lines[0].startswith("- grads['b_hh']: 5 of 5 values differ")
    assert lines[0].endswith(": every value is zero") and "allowed" not in lines[0]


def test_every_wrong_gradient_is_named_with_its_own_diagnosis():
    want = backward_result()
    got = backward_result(W_ih=2 * want["grads"]["W_ih"], b_ih=want["grads"]["b_ih"] + 0.5, b_hh=-want["grads"]["b_hh"])
    verdict = judged(got, want)
    assert isinstance(verdict, PartialCredit) and verdict.fraction == pytest.approx(3 / 6)
    lines = dict(line.split(":", 1) for line in verdict.message.splitlines()[1:])
    assert set(lines) == {"- grads['W_ih']", "- grads['b_ih']", "- grads['b_hh']"}
    assert "off by the same factor 2" in lines["- grads['W_ih']"]
    assert "off by the same constant 0.5" in lines["- grads['b_ih']"]
    assert "wrong sign" in lines["- grads['b_hh']"]
    table = verdict.table
    assert table is not None and table["total"] == 15 + 5 + 5
    assert {row[0].split(" ")[0] for row in table["rows"]} == {"grads['W_ih']", "grads['b_ih']", "grads['b_hh']"}


def test_five_wrong_earn_one_sixth():
    want = backward_result()
    zeros = {key: np.zeros_like(want["grads"][key]) for key in GRADS if key != "x"}
    verdict = judged(backward_result(**zeros), want)
    assert isinstance(verdict, PartialCredit) and verdict.fraction == pytest.approx(1 / 6)
    assert len(verdict.message.splitlines()) == 1 + 5


def test_no_entry_right_is_a_failure_that_names_them_all():
    want = backward_result()
    verdict = judged(backward_result(**{key: np.zeros_like(want["grads"][key]) for key in GRADS}), want)
    assert isinstance(verdict, CheckFailure)
    assert verdict.message.startswith("all 6 entries are wrong")
    assert all(f"- grads[{key!r}]:" in verdict.message for key in GRADS)


def test_time_axes_of_the_probe_reach_each_entry():
    want = backward_result()
    x = want["grads"]["x"].copy()
    x[2:] += 1.0
    x[2:, 0, 0] += np.arange(2)  # not a constant shift: the step diagnosis speaks
    verdict = judged(backward_result(x=x), want)
    assert isinstance(verdict, PartialCredit)
    assert "the error starts at step 2" in verdict.message


def test_a_missing_gradient_or_no_dict_at_all():
    want = backward_result()
    got = backward_result()
    del got["grads"]["h0"]
    verdict = judged(got, want)
    assert isinstance(verdict, PartialCredit) and "grads['h0'] is missing" in verdict.message
    not_a_dict = judged({"grads": [1, 2]}, want)
    assert isinstance(not_a_dict, CheckFailure) and not_a_dict.message.count("\n- ") == 1
    assert "grads should be a dict" in not_a_dict.message
    assert isinstance(judged([1, 2], want), CheckFailure)


def test_per_key_true_shares_the_top_level_keys():
    want = {"hs": np.ones((3, 2)), "h_n": np.ones(2), "_time_axes": {"hs": 0}}
    verdict = judge_per_key({"hs": np.ones((3, 2)), "h_n": np.zeros(2)}, want, name="", **TOLERANCE)
    assert isinstance(verdict, PartialCredit) and verdict.fraction == 0.5 and "(h_n)" in verdict.message


def test_assert_close_per_key():
    want = backward_result()["grads"]
    assert_close(dict(want), want, name="analytic gradient", per_key=True)
    with pytest.raises(PartialCredit) as raised:
        assert_close({**want, "b_hh": np.zeros(5)}, want, name="analytic gradient", per_key=True)
    assert "(analytic gradient['b_hh'])" in raised.value.message
    with pytest.raises(CheckFailure):  # without per_key: all or nothing, as before
        assert_close({**want, "b_hh": np.zeros(5)}, want, name="analytic gradient")


# -- the plugin shows a PartialCredit's mistake, diagnosis and table as a CheckFailure's ------------


def _outcome(error: Exception) -> Any:
    stash = pytest.Stash()
    stash[POINTS] = 6.0
    item = SimpleNamespace(
        name="test_x", stash=stash, obj=None, originalname="test_x", get_closest_marker=lambda _: None
    )
    report = SimpleNamespace(passed=False, skipped=False, duration=0.0)
    call = SimpleNamespace(excinfo=SimpleNamespace(value=error))
    return _check_result(item, report, call, str)  # type: ignore[arg-type]


def test_partial_credit_carries_a_mistake_a_diagnosis_and_a_table():
    mistake = SimpleNamespace(id="missing_b_hh", feedback=lambda: "The recurrent bias b_hh is missing.")
    table = {"columns": ["position", "expected", "got", "difference"], "rows": [["(0,)", "1", "0", "-1"]], "shown": 1}
    result = _outcome(PartialCredit(0.5, "half", diagnosis="every value is zero", table=table, mistake=mistake))
    assert (result.status, result.points, result.max_points, result.message) == ("partial", 3.0, 6.0, "half")
    assert result.mistake == "missing_b_hh"
    assert result.diagnosis == "Known mistake: The recurrent bias b_hh is missing. (every value is zero)"
    assert result.details["table"] == table
    plain = _outcome(PartialCredit(0.25, "a quarter"))
    assert (plain.status, plain.points, plain.diagnosis, plain.mistake) == ("partial", 1.5, None, None)
    assert "table" not in plain.details


# -- graded end to end ----------------------------------------------------------------------------

A1, A2 = "a1_srn_numpy", "a2_rnncell_ohlol"
A1_SOLUTION = (REPO / "solutions" / A1 / "srn.py").read_text(encoding="utf-8")
A2_SOLUTION = (REPO / "solutions" / A2 / "ohlol.py").read_text(encoding="utf-8")
RETURN = '    grads["h0"] = dh_next\n    return grads'
BACKWARD_CHECKS = 10  # test_rnn_backward, five test_backward_configurations, four test_gradient_check
BACKWARD_POINTS = 5 + 25 + 10


def a1_with_backward_return(replacement: str) -> dict[str, str]:
    assert A1_SOLUTION.count(RETURN) == 1
    return {"srn.py": A1_SOLUTION.replace(RETURN, '    grads["h0"] = dh_next\n' + replacement)}


def a1_backward_not_done() -> dict[str, str]:
    start = A1_SOLUTION.index("def rnn_backward(")
    body = A1_SOLUTION.index("    # BEGIN SOLUTION", start)
    return {"srn.py": A1_SOLUTION[:body] + "    raise NotImplementedError\n"}


def a2_gradients_clipped() -> dict[str, str]:
    """Gradients clipped hard before each step (no catalogued mistake): the first epoch's loss is the
    reference's, the updates are not."""
    step = "        optimizer.step()\n"
    assert A2_SOLUTION.count(step) == 1
    clipped = "        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.01)\n" + step
    return {"ohlol.py": A2_SOLUTION.replace(step, clipped)}


BACKWARD_OF_ZEROS = (
    "    shape = dhs.shape[1:]\n"
    "    return {k: np.zeros(shape) if v is None else np.zeros_like(v) for k, v in cache.items()}\n"
)


def a1_constant_forward() -> dict[str, str]:
    """No RNN at all: a forward of zeros and a backward of zeros, which agree with each other."""
    forward = A1_SOLUTION.index("def rnn_forward(")
    body = A1_SOLUTION.index("    # BEGIN SOLUTION", forward)
    end = A1_SOLUTION.index("    # END SOLUTION", body) + len("    # END SOLUTION\n")
    zeros = (
        "    inputs = dict(x=x, h0=h0, W_ih=W_ih, W_hh=W_hh, b_ih=b_ih, b_hh=b_hh)\n"
        "    return np.zeros((x.shape[0], x.shape[1], W_hh.shape[0])), inputs\n"
    )
    source = A1_SOLUTION[:body] + zeros + A1_SOLUTION[end:]
    start = source.index("def rnn_backward(")
    body = source.index("    # BEGIN SOLUTION", start)
    end = source.index("    # END SOLUTION", body) + len("    # END SOLUTION\n")
    return {"srn.py": source[:body] + BACKWARD_OF_ZEROS + source[end:]}


STUDENTS: dict[str, dict[str, str]] = {
    "one_wrong": a1_with_backward_return('    grads["b_hh"] = np.zeros_like(grads["b_hh"])\n    return grads'),
    "five_wrong": a1_with_backward_return(
        '    return {k: v if k == "x" else np.zeros_like(v) for k, v in grads.items()}'
    ),
    "all_wrong": a1_with_backward_return("    return {k: np.zeros_like(v) for k, v in grads.items()}"),
    "not_done": a1_backward_not_done(),
    "bias_averaged": {"srn.py": A1_SOLUTION.replace("dz.sum(axis=0)", "dz.mean(axis=0)")},
    "clipped": a2_gradients_clipped(),
    "constant": a1_constant_forward(),
}


@pytest.fixture(scope="module")
def graded(run_grade: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root: Path = tmp_path_factory.mktemp("partial-credit")
    return report_class(run_grade, root / "class", root / "grades", dict(STUDENTS))


def backward_checks(result: dict[str, Any]) -> list[dict[str, Any]]:
    checks = [
        c for c in checks_of(result, A1) if "backward" in c["name"] or c["name"].startswith("test_gradient_check")
    ]
    assert len(checks) == BACKWARD_CHECKS, [c["name"] for c in checks]
    return checks


def judged_gradients(check: dict[str, Any]) -> int:
    """Six gradients, or five where no h0 was given (its gradient is then not judged: the handout's
    "shaped like that input" says nothing of a None)."""
    return 5 if "no_h0" in check["name"] else 6


def lost(result: dict[str, Any], wrong: int) -> float:
    """The points ``wrong`` wrong gradients lose over the backward checks."""
    return sum(c["max_points"] * wrong / judged_gradients(c) for c in backward_checks(result))


@pytest.mark.slow
def test_one_wrong_gradient_loses_a_sixth_of_the_backward_points(graded):
    assert score_of(graded["one_wrong"], A1) == pytest.approx(100 - lost(graded["one_wrong"], 1), abs=0.01)
    assert lost(graded["one_wrong"], 1) == pytest.approx(BACKWARD_POINTS / 6, abs=0.5)  # a fifth without h0
    for check in backward_checks(graded["one_wrong"]):
        keys = judged_gradients(check)
        assert check["status"] == "partial"
        assert check["points"] == pytest.approx(check["max_points"] * (keys - 1) / keys, abs=1e-3)
        assert f"1 of {keys} entries is wrong" in check["message"] and "['b_hh']: " in check["message"]
        assert "every value is zero" in check["message"], check["message"]


@pytest.mark.slow
def test_five_wrong_gradients_keep_a_sixth(graded):
    result = graded["five_wrong"]
    kept = sum(c["max_points"] / judged_gradients(c) for c in backward_checks(result))
    assert score_of(result, A1) == pytest.approx(60 + kept, abs=0.01)
    for check in backward_checks(result):
        assert check["status"] == "partial"
        wrong = [key for key in GRADS if key != "x" and (key != "h0" or judged_gradients(check) == 6)]
        assert all(f"[{key!r}]: " in check["message"] for key in wrong), check["message"]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["all_wrong", "not_done"])
def test_no_gradient_right_scores_nothing_on_the_backward_checks(graded, name):
    assert score_of(graded[name], A1) == 60
    assert all(c["status"] == "failed" and c["points"] == 0 for c in backward_checks(graded[name]))


@pytest.mark.slow
def test_a_catalogued_mistake_is_still_named_beside_partial_credit(graded):
    for check in backward_checks(graded["bias_averaged"]):
        assert check["status"] == "partial" and check["mistake"] == "bias_grads_averaged", check
        assert check["diagnosis"].startswith("Known mistake: The bias gradients are averaged")
        assert "['b_ih']: " in check["message"] and "['b_hh']: " in check["message"]
    assert score_of(graded["bias_averaged"], A1) == pytest.approx(100 - lost(graded["bias_averaged"], 2), abs=0.01)


@pytest.mark.slow
def test_a_gradient_check_of_a_forward_that_computes_nothing_earns_nothing(graded):
    """A forward of zeros and a backward of zeros agree, yet check nothing: no share for a gradient
    whose numerical value shows the forward ignoring that input."""
    checks = [c for c in checks_of(graded["constant"], A1) if c["name"].startswith("test_gradient_check")]
    assert len(checks) == 4
    for check in checks:
        assert check["status"] == "failed" and check["points"] == 0, check
        assert "does not depend on" in check["message"] or "do not follow the specified network" in check["message"]


@pytest.mark.slow
def test_a_curve_right_at_epoch_one_blames_the_update_not_the_initial_weights(graded):
    [curve] = [c for c in checks_of(graded["clipped"], A2) if c["name"] == "test_loss_curve"]
    assert curve["status"] == "failed" and curve["mistake"] is None
    assert "other weights" not in curve["diagnosis"]
    assert "your first loss equals the reference's" in curve["diagnosis"]
    assert "on the losses differ" in curve["diagnosis"] and "the gradient" in curve["diagnosis"]
