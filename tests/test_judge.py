"""The judges say how a result is wrong, the way an ML teacher would."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from grader.judging.compare import CheckFailure, assert_close, find_mismatch, is_close

rng = np.random.default_rng(0)
WANT = rng.standard_normal((5, 3, 4))


def failure(got, want=WANT, **options):
    result = find_mismatch(got, want, name="hs", rtol=1e-7, atol=1e-9, **options)
    assert result is not None, "expected a mismatch"
    return result


def test_equal_results_pass_and_tiny_differences_are_tolerated():
    assert_close(WANT.copy(), WANT, rtol=1e-7, atol=1e-9)
    assert is_close(WANT + 1e-12, WANT, rtol=1e-7, atol=1e-9)


def test_transposed_matrix_is_recognised():
    want = rng.standard_normal((3, 4))
    assert "transposed" in failure(want.T, want).diagnosis


def test_batch_and_time_swapped():
    found = failure(WANT.transpose(1, 0, 2))
    assert "shape (3, 5, 4)" in found.message and "batch_first" in found.diagnosis


def test_only_the_last_layer_kept():
    h_n = rng.standard_normal((3, 2, 4))
    assert "last entry" in failure(h_n[-1], h_n).diagnosis


def test_missing_and_extra_dimensions():
    assert "size 1 is missing" in failure(WANT[0], WANT[:1]).diagnosis
    assert "extra leading dimension" in failure(WANT[None].repeat(2, 0)).diagnosis
    assert "reshape" in failure(WANT.reshape(15, 4)).diagnosis


def test_nan_is_reported_with_its_position():
    got = WANT.copy()
    got[2, 1, 0] = np.nan
    found = failure(got)
    assert "NaN at 1 of 60 positions (first at (2, 1, 0))" in found.message


@pytest.mark.parametrize(
    "got, phrase",
    [
        (-WANT, "wrong sign"),
        (WANT * 5, "factor 5"),
        (WANT + 0.25, "constant 0.25"),
        (np.zeros_like(WANT), "zero"),
    ],
)
def test_systematic_errors(got, phrase):
    assert phrase in failure(got).diagnosis


def test_error_starting_at_a_time_step():
    got = WANT.copy()
    got[3:] += 0.1 * rng.standard_normal((2, 3, 4))
    found = failure(got, time_axis=0)
    assert "error starts at step 3" in found.diagnosis
    assert found.table["rows"][0][0] == "(3, 0, 0)" and found.table["total"] == 24
    undeclared = failure(got)  # the first axis of an array is not time unless someone says so
    assert undeclared.diagnosis is None and undeclared.table["total"] == 24


def test_time_axis_declared_by_the_probe_in_its_result():
    got = {"hs": WANT.copy(), "h_n": WANT[-1]}
    got["hs"][2:] += 0.5
    got["hs"][2:, 0] += 1.0
    want = {"hs": WANT, "h_n": WANT[-1], "_time_axes": {"hs": 0}}
    assert "error starts at step 2" in find_mismatch(got, want, name="", rtol=1e-7, atol=1e-9).diagnosis
    first_only = {"hs": WANT.copy(), "h_n": WANT[-1]}
    first_only["hs"][0, 1] += rng.standard_normal(4)
    assert "only step 0 differs" in find_mismatch(first_only, want, name="", rtol=1e-7, atol=1e-9).diagnosis


def test_values_one_step_late_or_early_are_named():
    """An output list filled before each update (a3: h before the step) held every state one step late."""
    late = np.concatenate([np.zeros_like(WANT[:1]), WANT[:-1]])
    assert "one step late" in failure(late, time_axis=0).diagnosis
    early = np.concatenate([WANT[1:], WANT[-1:]])
    assert "one step early" in failure(early, time_axis=0).diagnosis
    steady = np.repeat(WANT[:1], len(WANT), axis=0)  # the same at every step: no shift can be seen
    first_changed = steady.copy()
    first_changed[0] += 1.0
    assert "late" not in (failure(first_changed, steady, time_axis=0).diagnosis or "")


def test_integer_data_gets_no_value_hints():
    ids = rng.integers(0, 29, (3, 5))
    for wrong in (ids + 27, ids * 2, -ids, np.zeros_like(ids)):
        if (wrong != ids).any():
            assert failure(wrong, ids).diagnosis is None


def test_one_number_gets_no_factor_or_offset_hint():
    assert failure(np.float64(5.0), np.float64(1.0)).diagnosis is None
    assert failure(np.float64(1.25), np.float64(1.0)).diagnosis is None
    assert "wrong sign" in failure(np.float64(-1.0), np.float64(1.0)).diagnosis


def test_relative_error_is_not_reported_where_zero_is_expected():
    want = np.zeros((2, 2))
    got = np.array([[0.0, 0.5], [0.0, 0.0]])
    found = failure(got, want)
    assert "relative" not in found.message and "largest absolute error 0.5" in found.message


def test_dtype_checked_when_asked():
    assert "dtype float32" in failure(WANT.astype(np.float32), check_dtype=True).message
    assert find_mismatch(WANT.astype(np.float32), WANT, name="hs", rtol=1e-6, atol=1e-6) is None


def test_nested_results_name_the_failing_key():
    want = {"grads": {"W_hh": np.eye(2), "b_hh": np.ones(2)}}
    found = find_mismatch({"grads": {"W_hh": np.eye(2), "b_hh": np.zeros(2)}}, want, name="", rtol=1e-7, atol=1e-9)
    assert found.message.startswith("grads['b_hh']")
    missing = find_mismatch({"grads": {"W_hh": np.eye(2)}}, want, name="", rtol=1e-7, atol=1e-9)
    assert "missing the key 'b_hh'" in missing.message


def test_parameters_named_otherwise_say_the_layers_are_not_the_specified_ones():
    """A teacher round: an a4 Decoder built of nn.LSTMCell lost train_step with only "weights is missing the
    keys 'decoder.lstm.weight_ih_l0', ..." (the handout asks for nn.LSTM)."""
    want = {"decoder.lstm.weight_ih_l0": np.eye(2), "decoder.fc.bias": np.ones(2)}
    got = {"decoder.cells.0.weight_ih": np.eye(2), "decoder.fc.bias": np.ones(2)}
    found = find_mismatch(got, want, name="weights", rtol=1e-7, atol=1e-9)
    assert "missing the key 'decoder.lstm.weight_ih_l0'" in found.message
    assert "layers are not the ones the handout specifies" in found.diagnosis and "cells.0" in found.diagnosis
    plain = find_mismatch({"a": 1}, {"b": 1}, name="result", rtol=0, atol=0)
    assert plain.diagnosis == "keys found: ['a']"


def test_strings_lists_and_none():
    assert (
        "should be 'ohlol', but it is 'ohlll'"
        in find_mismatch("ohlll", "ohlol", name="prediction", rtol=0, atol=0).message
    )
    assert find_mismatch([1.0, 2.0], [1.0, 2.0], name="losses", rtol=1e-7, atol=0) is None
    assert "forget to `return`" in failure(None).diagnosis
    with pytest.raises(CheckFailure):
        assert_close("not an array", WANT)


def test_ragged_lists_are_compared_item_by_item():
    """Decoded sequences differ in length: equal ones pass, and a difference names the item."""
    decoded = [[5, 2, 9], [4], [7, 7]]
    assert find_mismatch([[5, 2, 9], [4], [7, 7]], decoded, name="tokens", rtol=0, atol=0) is None
    shorter = find_mismatch([[5, 2, 9], [4], [7]], decoded, name="tokens", rtol=0, atol=0)
    assert shorter is not None and "tokens[2] has shape (1,), but shape (2,)" in str(shorter)
    wrong = find_mismatch([[5, 2, 9], [3], [7, 7]], decoded, name="tokens", rtol=0, atol=0)
    assert wrong is not None and "tokens[1]" in str(wrong)
    ragged_answer = find_mismatch([[1, 2], [3]], [[1, 2], [3, 4]], name="tokens", rtol=0, atol=0)
    assert ragged_answer is not None and "tokens[1]" in str(ragged_answer)


def test_a_transposed_square_matrix_is_named_as_transposed():
    """dW_hh = h_prev.T @ dz is H x H either way: only the shapes named "transposed" before."""
    want = np.random.default_rng(4).standard_normal((4, 4))
    found = find_mismatch(want.T.copy(), want, name="grads['W_hh']", rtol=1e-7, atol=1e-9)
    assert found is not None and "transposed" in (found.diagnosis or "") + found.message
    symmetric = want + want.T  # equal to its transpose: nothing to say, and nothing wrong
    assert find_mismatch(symmetric.T.copy(), symmetric, name="m", rtol=1e-7, atol=1e-9) is None


def test_an_empty_list_expected_is_named_as_one():
    """tokenize("") gave [''] where [] was expected: "should hold numbers" pointed at nothing wrong."""
    tokens = find_mismatch([["a"], [""]], [["a"], []], name="tokens", rtol=0, atol=0)
    assert tokens is not None and "tokens[1] should be an empty list, but it is ['']" in tokens.message
    assert find_mismatch([["a"], []], [["a"], []], name="tokens", rtol=0, atol=0) is None


def test_float32_where_float64_is_expected_is_named_as_the_dtype_not_a_value_pattern():
    want = np.random.default_rng(3).standard_normal((5, 3, 4)) * 0.1
    found = find_mismatch(want.astype(np.float32), want, name="grads['x']", rtol=1e-9, atol=1e-10)
    assert found is not None and "has dtype float32, but float64 was expected" in found.message
    assert "float32's precision" in found.message and "dtype of the inputs" in (found.diagnosis or "")
    # The other way round (a2's one_hot from np.eye): make float32, not "compute in float64".
    eye = np.eye(4)[[1, 0, 2]]
    found = find_mismatch(eye, eye.astype(np.float32), name="one_hot", rtol=0, atol=0, check_dtype=True)
    assert found is not None and "dtype float64, but float32" in found.message
    assert "make it float32" in (found.diagnosis or "") and "dtype of the inputs" not in (found.diagnosis or "")
    wrong = (want + 1e-3).astype(np.float32)  # a real error in float32: the values are named, not the dtype
    found = find_mismatch(wrong, want, name="grads['x']", rtol=1e-9, atol=1e-10)
    assert found is not None and "values differ" in found.message and "dtype" not in found.message


def test_an_initial_state_kept_in_front_of_the_states_is_named():
    want = np.random.default_rng(4).standard_normal((5, 3, 4))
    with_h0 = np.concatenate([np.zeros((1, 3, 4)), want])
    found = find_mismatch(with_h0, want, name="hs", rtol=1e-7, atol=1e-9)
    assert found is not None and "shape (6, 3, 4)" in found.message
    assert "one entry too many at the start" in (found.diagnosis or "") and "h0" in (found.diagnosis or "")
    found = find_mismatch(np.concatenate([want, want[-1:]]), want, name="hs", rtol=1e-7, atol=1e-9)
    assert found is not None and "one entry too many at the end" in (found.diagnosis or "")


def test_one_entry_too_few_along_any_axis_and_a_kept_dimension_say_the_values_are_right():
    """A teacher round: a4's batch-first outputs without position 0's row, and a1's bias gradients summed
    with keepdims=True, got a shape message alone, where the values were right."""
    want = np.random.default_rng(6).standard_normal((3, 7, 5))
    found = find_mismatch(want[:, 1:], want, name="outputs", rtol=1e-7, atol=1e-9)
    assert "the values are right but the first entry along dimension 1 is missing" in (found.diagnosis or "")
    found = find_mismatch(want[:, :-1], want, name="outputs", rtol=1e-7, atol=1e-9)
    assert "the last entry along dimension 1 is missing" in (found.diagnosis or "")
    bias = want[0, 0]
    found = find_mismatch(bias[None], bias, name="grads['b_ih']", rtol=1e-7, atol=1e-9)
    assert (found.diagnosis or "").startswith("the values are right, but a dimension of size 1 is extra")
    found = find_mismatch(bias[None] + 1, bias, name="grads['b_ih']", rtol=1e-7, atol=1e-9)
    assert (found.diagnosis or "").startswith("a dimension of size 1 is extra")


def test_integer_ids_all_one_for_another_are_said_so():
    """A teacher round's collate_fn padded with 1: "5 of 16 values differ", and nothing said which."""
    want = np.array([[5, 6, 0, 0], [7, 8, 9, 10], [11, 0, 0, 0]])
    padded_with_one = np.where(want == 0, 1, want)
    found = find_mismatch(padded_with_one, want, name="padded", rtol=1e-4, atol=1e-5)
    assert found.diagnosis == "every value that differs is 1 where 0 was expected"
    mixed = want.copy()
    mixed[0, 0], mixed[1, 0] = 4, 3  # two ids wrong in two ways: nothing in common to say
    assert find_mismatch(mixed, want, name="padded", rtol=1e-4, atol=1e-5).diagnosis is None


def test_float64_values_rounded_through_float32_are_said_to_be_so():
    """a1's backward on a float32 forward: float64 gradients, each off by float32 rounding."""
    want = np.random.default_rng(5).standard_normal((6, 2, 3))
    rounded = want.astype(np.float32).astype(np.float64) + 1e-9  # the rounding, and a constant it can look like
    found = find_mismatch(rounded, want, name="grads['x']", rtol=1e-9, atol=1e-10)
    assert found is not None and "float32 precision" in (found.diagnosis or ""), found.diagnosis
    bias_twice = want + 0.3  # a real constant offset is still named as one
    assert "same constant" in (find_mismatch(bias_twice, want, name="x", rtol=1e-9, atol=1e-10).diagnosis or "")


def test_the_verifier_keeps_few_bytes_of_answers_and_the_reference_runs_longest(monkeypatch):
    """The verifier remembers outcomes, so the reference's runs (asked for every student) are measured
    once. It kept every student's too, up to 256: an isolation round's sums put one hostile a5 student's
    100-300 MB in the slot for the rest of the batch. Now the bytes are bounded, and what is asked again
    is kept the longest."""
    import numpy as np

    from grader.course.model import load_course
    from grader.judging import verifier as verifier_module

    monkeypatch.setattr(verifier_module, "MEMO_MB", 1)
    asked: list[int] = []

    class Worker:
        def call(self, function, args, timeout):
            asked.append(len(args["items"][0]["weights"]))
            return {"outcomes": [{"loss": 0.0}]}

    spec = load_course(Path(__file__).resolve().parent.parent).get("a2_rnncell_ohlol")
    verifier = verifier_module.Verifier(spec, lambda load, limits: Worker())
    reference = [{"weights": np.zeros(8)}]
    verifier.measure_each("f", reference)
    for size in range(1, 6):  # students' runs, 400 KB each: the memo holds about two of them
        verifier.measure_each("f", [{"weights": np.zeros(50_000 + size)}])
        verifier.measure_each("f", reference)  # asked again for every student: not measured again
    assert asked.count(8) == 1 and len(asked) == 6
    assert sum(size for _, size in verifier._memo.values()) <= 2**20


SAME_OR_NOT = [  # (got, expected): every rule of find_mismatch, each way round
    (WANT, WANT),
    (WANT + 1e-3, WANT),
    (WANT.astype(np.float32), WANT),
    (WANT[0], WANT),
    (None, WANT),
    ("text", WANT),
    (np.array([1, 2, 3]), np.array([1, 2, 3])),
    (np.array([1, 2, 4]), np.array([1, 2, 3])),
    (np.array([1.0, 2.0, 3.0]), np.array([1, 2, 3])),
    (np.array([np.nan, 1.0]), np.array([np.nan, 1.0])),
    (np.array([np.nan, 1.0]), np.array([0.0, 1.0])),
    ([1.0, 2.0], [1.0, 2.0]),
    ([[1.0], [2.0, 3.0]], [[1.0], [2.0, 3.0]]),  # ragged: item by item
    ([[1.0], [2.0, 3.5]], [[1.0], [2.0, 3.0]]),
    ([[1.0], [2.0]], [[1.0], [2.0, 3.0]]),
    ([1.0], []),
    ([], []),
    ("abc", "abc"),
    ("abc", "abd"),
    (True, True),
    (1, True),
    (None, None),
    (0, None),
    ({"h": WANT, "y": [1, 2]}, {"h": WANT, "y": [1, 2], "_time_axes": {"h": 0}}),
    ({"h": WANT, "y": [1, 3]}, {"h": WANT, "y": [1, 2]}),
    ({"h": WANT}, {"h": WANT, "y": [1, 2]}),
    ({"h": WANT, "extra": 1}, {"h": WANT}),
    (WANT, {"h": WANT}),
    (["a", np.ones(2)], ["a", np.ones(2)]),
    (["a", np.ones(2)], ["b", np.ones(2)]),
    ((1.0, 2.0), [1.0, 2.0]),
    (np.ones(2), "abc"),  # an array where a word was expected: a message, not numpy's ValueError
    (np.ones(2), None),
    (np.ones(2), True),
]


@pytest.mark.parametrize("got, expected", SAME_OR_NOT)
def test_is_close_says_what_find_mismatch_would(got, expected):
    """is_close walks to the first difference only; its yes or no must be find_mismatch's."""
    for rtol, atol in ((1e-7, 1e-9), (1e-2, 1e-2)):
        assert is_close(got, expected, rtol=rtol, atol=atol) == (
            find_mismatch(got, expected, name="x", rtol=rtol, atol=atol) is None
        )
