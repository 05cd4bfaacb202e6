"""Judges: compare a student's result with the expected one and say *how* it is wrong.

``assert_close`` accepts arrays, numbers, strings and nested lists/dicts of them. On a mismatch it
raises :class:`CheckFailure` carrying a one-line message, a diagnosis an ML teacher would give
(transposed? batch and time swapped? one dimension missing? NaN? wrong sign or scale? right until
step k?) and a table of the first mismatching entries for the feedback page.

A diagnosis speaks only where the data has the structure it describes: "a bias added twice?" and
"a mean instead of a sum?" only for float data of more than one value, nothing beyond the count
and the table for integers (token ids, lengths), and "the error starts at step k" only along an
axis declared as time, either with ``time_axis=`` or by the probe in its result: a dict may carry
``"_time_axes": {"hs": 0, "outputs": 1}`` (key -> axis; the entry itself is never compared).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

TABLE_ROWS = 6
TIME_AXES = "_time_axes"  # reserved key of a result dict: which of its arrays have a time axis, and where
TimeAxis = int | Mapping[str, Any] | None  # an axis for an array, or key -> TimeAxis for a dict


@dataclass(frozen=True)
class Positions:
    """How messages name positions along a time axis: steps from 0, as arrays index them; epochs
    from 1, as the feedback page's loss plot and the handouts count them."""

    unit: str = "step"
    first: int = 0

    def name(self, index: int) -> str:
        return f"{self.unit} {index + self.first}"


STEPS = Positions("step", 0)
EPOCHS = Positions("epoch", 1)


class CheckFailure(AssertionError):
    """A check failed on the student's result. Everything in it is shown to the student, except where it
    came from comparing with the expected values (``compared``: set by the comparisons, by a table of
    mismatches, or by a check that passes another failure's message on) of an official question: the
    page handed back then leaves out what shows them (grader.report.handback)."""

    def __init__(
        self,
        message: str,
        *,
        diagnosis: str | None = None,
        table: dict[str, Any] | None = None,
        mistake: Any = None,
        compared: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.diagnosis = diagnosis
        self.table = table
        self.mistake = mistake  # a fingerprints.Mistake once recognised
        self.compared = compared or table is not None  # a table of mismatches holds the expected values


class PartialCredit(Exception):
    """Award a fraction of a check's points, with a message saying what was missing. Like
    :class:`CheckFailure` it may carry a diagnosis, a table of mismatches and the catalogued mistake
    recognised (``mistake``), shown with the check's result the same way."""

    def __init__(
        self,
        fraction: float,
        message: str,
        *,
        diagnosis: str | None = None,
        table: dict[str, Any] | None = None,
        mistake: Any = None,
        compared: bool = False,
    ) -> None:
        super().__init__(message)
        self.fraction = min(max(float(fraction), 0.0), 1.0)
        self.message = message
        self.diagnosis = diagnosis
        self.table = table
        self.mistake = mistake  # a fingerprints.Mistake once recognised
        self.compared = compared or table is not None


def assert_close(
    got: Any,
    expected: Any,
    *,
    name: str = "result",
    rtol: float = 1e-6,
    atol: float = 1e-8,
    check_dtype: bool = False,
    time_axis: TimeAxis = None,
    per_key: bool | str = False,
) -> None:
    """Raise :class:`CheckFailure` unless ``got`` matches ``expected`` within the tolerances;
    ``time_axis``: see :func:`find_mismatch`. With ``per_key`` a dict earns credit key by key: see
    :func:`judge_per_key` (:class:`PartialCredit` for the keys that match, every wrong one named)."""
    if per_key:
        verdict = judge_per_key(
            got,
            expected,
            name=name,
            rtol=rtol,
            atol=atol,
            check_dtype=check_dtype,
            time_axis=time_axis,
            within=per_key if isinstance(per_key, str) else None,
        )
        if verdict is not None:
            raise verdict
        return
    failure = find_mismatch(
        got, expected, name=name, rtol=rtol, atol=atol, check_dtype=check_dtype, time_axis=time_axis
    )
    if failure is not None:
        raise failure


def is_close(got: Any, expected: Any, *, rtol: float = 1e-6, atol: float = 1e-8) -> bool:
    """Whether :func:`find_mismatch` finds nothing, without saying what: the same rules, walked to the
    first difference and no further. Identifying a mistake asks this of every catalogued variant of
    every call (thousands of times a class), where a worded, diagnosed failure was half the grading."""
    return _matches(got, expected, rtol, atol)


def _matches(got: Any, expected: Any, rtol: float, atol: float) -> bool:
    """:func:`_mismatch`'s rules as a yes or no (``check_dtype`` off, as :func:`is_close` asks)."""
    if isinstance(expected, dict):
        keys = [key for key in expected if key != TIME_AXES]
        return (
            isinstance(got, dict)
            and all(key in got for key in keys)
            and all(_matches(got[key], expected[key], rtol, atol) for key in keys)
        )
    if isinstance(expected, list) and not _is_numeric_list(expected):
        return _items_match(got, expected, rtol, atol)
    if isinstance(expected, list) and not expected and isinstance(got, list) and got:
        return False
    if isinstance(expected, str) or expected is None or isinstance(expected, bool):
        return type(got) is type(expected) and got == expected
    try:
        want = np.asarray(expected)
    except ValueError:  # ragged: item by item, as _array_mismatch does
        return _items_match(got, list(expected), rtol, atol)
    if got is None:
        return False
    try:
        mine = np.asarray(got)
    except (TypeError, ValueError):
        return isinstance(got, list) and isinstance(expected, list) and _items_match(got, expected, rtol, atol)
    if mine.dtype.kind not in "biuf" or mine.shape != want.shape:
        return False
    if want.dtype.kind in "biu" and mine.dtype.kind in "biu":
        return not bool((mine != want).any())
    return bool(
        np.isclose(mine.astype(np.float64), want.astype(np.float64), rtol=rtol, atol=atol, equal_nan=True).all()
    )


def _items_match(got: Any, expected: list, rtol: float, atol: float) -> bool:
    return (
        isinstance(got, list)
        and len(got) == len(expected)
        and all(_matches(mine, theirs, rtol, atol) for mine, theirs in zip(got, expected))
    )


def find_mismatch(
    got: Any,
    expected: Any,
    *,
    name: str,
    rtol: float,
    atol: float,
    check_dtype: bool = False,
    time_axis: TimeAxis = None,
    positions: Positions = STEPS,
) -> CheckFailure | None:
    """:func:`_mismatch`, marked as shown by comparing with the expected values (``compared``)."""
    failure = _mismatch(
        got,
        expected,
        name=name,
        rtol=rtol,
        atol=atol,
        check_dtype=check_dtype,
        time_axis=time_axis,
        positions=positions,
    )
    if failure is not None:
        failure.compared = True
    return failure


def _mismatch(
    got: Any,
    expected: Any,
    *,
    name: str,
    rtol: float,
    atol: float,
    check_dtype: bool = False,
    time_axis: TimeAxis = None,
    positions: Positions = STEPS,
) -> CheckFailure | None:
    """The first difference between ``got`` and ``expected``, diagnosed, or None.

    ``time_axis`` says where an array has a time axis (an int), or for a dict which keys do
    ({"hs": 0, "grads": {"x": 0}}); with none declared, no diagnosis talks of steps. ``positions``
    names the places along it: steps from 0 (the default), or :data:`EPOCHS` from 1 for a curve
    with one value per epoch, whose table then lists epochs too.
    """
    if isinstance(expected, dict):
        return _dict_mismatch(got, expected, name, rtol, atol, check_dtype, time_axis, positions)
    if isinstance(expected, list) and not _is_numeric_list(expected):
        return _list_mismatch(got, expected, name, rtol, atol, check_dtype, time_axis, positions)
    if isinstance(expected, list) and not expected and isinstance(got, list) and got:  # [] holds no numbers either
        return CheckFailure(f"{name} should be an empty list, but it is {_show(got)}")
    if isinstance(expected, str) or expected is None or isinstance(expected, bool):
        if type(got) is type(expected) and got == expected:  # an array's == would answer per entry
            return None
        return CheckFailure(f"{name} should be {_show(expected)}, but it is {_show(got)}")
    return _array_mismatch(got, expected, name, rtol, atol, check_dtype, time_axis, positions)


def judge_per_key(
    got: Any,
    expected: Any,
    *,
    name: str,
    rtol: float,
    atol: float,
    check_dtype: bool = False,
    time_axis: TimeAxis = None,
    within: str | None = None,
) -> CheckFailure | PartialCredit | None:
    """Credit per entry of a dict result: each key of ``expected`` (``"_time_axes"`` aside) is one
    equal share, and where ``within`` names a key whose value is itself a dict, each of *its* keys is
    a share instead (a1's backward: ``within="grads"``, six gradients, each a sixth of the check).

    None when every entry matches; else :class:`PartialCredit` for the fraction that match, or
    :class:`CheckFailure` when none does. Either way the message names every wrong entry, each with
    what :func:`find_mismatch` says of it (its diagnosis after a colon), and the table holds the
    first mismatches of each. A result that is not a dict at all fails as :func:`find_mismatch` says.
    """
    if not isinstance(expected, dict) or not isinstance(got, dict):
        return find_mismatch(
            got, expected, name=name, rtol=rtol, atol=atol, check_dtype=check_dtype, time_axis=time_axis
        )

    def judged(mine: dict, want: dict, key: str, parent: str, axis: TimeAxis) -> tuple[str, CheckFailure | None]:
        label = f"{parent}[{key!r}]" if parent else str(key)
        if key not in mine:
            return label, CheckFailure(f"{label} is missing")
        failure = find_mismatch(
            mine[key], want[key], name=label, rtol=rtol, atol=atol, check_dtype=check_dtype, time_axis=axis
        )
        return label, failure

    entries: list[tuple[str, CheckFailure | None]] = []  # each share: its name, and what is wrong with it
    axes = _declared_axes(expected, time_axis)
    for key in (k for k in expected if k != TIME_AXES):
        want = expected[key]
        if key != within or not isinstance(want, dict):
            entries.append(judged(got, expected, key, name, axes.get(key)))
            continue
        label = f"{name}[{key!r}]" if name else str(key)
        inner = [k for k in want if k != TIME_AXES]
        mine = got.get(key)
        if not isinstance(mine, dict):  # not even a dict: every share in it is wrong, for one reason
            failure = find_mismatch(mine, want, name=label, rtol=rtol, atol=atol, check_dtype=check_dtype)
            entries += [(f"{label}[{k!r}]", failure) for k in inner]
            continue
        inner_axes = _declared_axes(want, axes.get(key))
        entries += [judged(mine, want, k, label, inner_axes.get(k)) for k in inner]
    wrong: list[tuple[str, CheckFailure]] = [(label, failure) for label, failure in entries if failure is not None]
    if not wrong:
        return None
    total, right = len(entries), len(entries) - len(wrong)
    reasons: dict[int, tuple[str, CheckFailure]] = {}  # one line each (a non-dict fails all its shares alike)
    for label, failure in wrong:
        reasons.setdefault(id(failure), (label, failure))
    allowed = f"; allowed rtol={rtol:g}, atol={atol:g}"  # said once, in the first line
    lines = [
        f"- {failure.message.replace(allowed, '')}" + (f": {failure.diagnosis}" if failure.diagnosis else "")
        for _, failure in reasons.values()
    ]
    tolerance = f" (allowed rtol={rtol:g}, atol={atol:g})" if any(allowed in f.message for _, f in wrong) else ""
    if right:
        names = ", ".join(label for label, _ in wrong)
        head = (
            f"{len(wrong)} of {total} entries {'is' if len(wrong) == 1 else 'are'} wrong ({names}); the {right} "
            f"right {'earns' if right == 1 else 'earn'} {right}/{total} of the points{tolerance}:"
        )
    else:
        head = f"all {total} entries are wrong{tolerance}:"
    message = "\n".join([head, *lines])
    table = _joined_table(list(reasons.values()))
    verdict: CheckFailure | PartialCredit = (
        CheckFailure(message, table=table) if not right else PartialCredit(right / total, message, table=table)
    )
    verdict.compared = True
    return verdict


def _joined_table(wrong: list[tuple[str, CheckFailure]]) -> dict[str, Any] | None:
    """The first mismatches of each wrong entry in one table, each row's position led by the entry's name."""
    tables = [(label, failure.table) for label, failure in wrong if failure.table]
    if not tables:
        return None
    each = max(2, TABLE_ROWS // len(tables))
    rows = [[f"{label} {row[0]}", *row[1:]] for label, table in tables for row in table["rows"][:each]]
    total = sum(int(table.get("total", len(table["rows"]))) for _, table in tables)
    return {"columns": tables[0][1]["columns"], "rows": rows, "shown": len(rows), "total": total}


def curve_mismatch(got: Any, expected: Any, *, name: str, rtol: float, atol: float) -> CheckFailure | None:
    """A curve with one value per epoch (the loss of each epoch) against the expected one: epochs
    counted from 1 in the message, the diagnosis and the table, as the plot counts them."""
    return find_mismatch(got, expected, name=name, rtol=rtol, atol=atol, time_axis=0, positions=EPOCHS)


def _declared_axes(expected: dict, time_axis: TimeAxis) -> dict[str, Any]:
    """Key -> time axis for a dict's values: the probe's own declaration, then the check's."""
    declared: dict[str, Any] = {}
    for source in (expected.get(TIME_AXES), time_axis):
        if isinstance(source, Mapping):
            declared.update(source)
    return declared


def _parameter_name(key: Any) -> bool:
    """A key of a model's state dict: ``decoder.lstm.weight_ih_l0``, ``fc.bias``."""
    return isinstance(key, str) and "." in key and key.rsplit(".", 1)[1].startswith(("weight", "bias"))


def _dict_mismatch(
    got: Any,
    expected: dict,
    name: str,
    rtol: float,
    atol: float,
    check_dtype: bool,
    time_axis: TimeAxis = None,
    positions: Positions = STEPS,
) -> CheckFailure | None:
    keys = [key for key in expected if key != TIME_AXES]
    if not isinstance(got, dict):
        return CheckFailure(f"{name} should be a dict with keys {sorted(keys)}, but it is {_kind(got)}")
    missing = [key for key in keys if key not in got]
    if missing:
        found = f"keys found: {sorted(got)[:20]}"
        if all(_parameter_name(key) for key in missing):  # a state dict: the model is built of other layers
            found = (
                "the model's parameters are named otherwise than the specified architecture's, so its "
                "layers are not the ones the handout specifies (say nn.LSTMCell where it asks for nn.LSTM, "
                f"or another attribute name); {found}"
            )
        return CheckFailure(
            f"{name} is missing the key{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))}",
            diagnosis=found,
        )
    axes = _declared_axes(expected, time_axis)
    first, others = None, []
    for key in keys:
        failure = find_mismatch(
            got[key],
            expected[key],
            name=f"{name}[{key!r}]" if name else str(key),
            rtol=rtol,
            atol=atol,
            check_dtype=check_dtype,
            time_axis=axes.get(key),
            positions=positions,
        )
        if failure is not None and first is None:
            first = failure
        elif failure is not None:
            others.append(str(key))
    if first is not None and others:  # every wrong entry named, not only the first (a teacher round)
        shown = ", ".join(others[:MAX_NAMED]) + (
            f" and {len(others) - MAX_NAMED} more" if len(others) > MAX_NAMED else ""
        )
        first.message += f"; {shown} differ{'s' if len(others) == 1 else ''} too"
    return first


MAX_NAMED = 8  # the other wrong entries of a dict a mismatch message names


def _list_mismatch(
    got: Any,
    expected: list,
    name: str,
    rtol: float,
    atol: float,
    check_dtype: bool,
    time_axis: TimeAxis = None,
    positions: Positions = STEPS,
) -> CheckFailure | None:
    if not isinstance(got, list) or len(got) != len(expected):
        return CheckFailure(f"{name} should hold {len(expected)} items, but it is {_kind(got)}")
    for index, (mine, theirs) in enumerate(zip(got, expected)):
        failure = find_mismatch(
            mine,
            theirs,
            name=f"{name}[{index}]",
            rtol=rtol,
            atol=atol,
            check_dtype=check_dtype,
            time_axis=time_axis,
            positions=positions,
        )
        if failure is not None:
            return failure
    return None


def _array_mismatch(
    got: Any,
    expected: Any,
    name: str,
    rtol: float,
    atol: float,
    check_dtype: bool,
    time_axis: TimeAxis = None,
    positions: Positions = STEPS,
) -> CheckFailure | None:
    try:
        want = np.asarray(expected)
    except ValueError:  # a ragged list reached here through a mixed one: compare item by item
        return _list_mismatch(got, list(expected), name, rtol, atol, check_dtype, time_axis, positions)
    if got is None:
        return CheckFailure(
            f"{name} is None, but an array of shape {_shape(want)} was expected",
            diagnosis="did the function forget to `return` its result?",
        )
    try:
        mine = np.asarray(got)
    except (TypeError, ValueError):
        if isinstance(got, list) and isinstance(expected, list):  # ragged: say which item differs
            return _list_mismatch(got, expected, name, rtol, atol, check_dtype, time_axis, positions)
        return CheckFailure(f"{name} should be an array of shape {_shape(want)}, but it is {_kind(got)}")
    if mine.dtype.kind not in "biuf":
        return CheckFailure(f"{name} should hold numbers, but it is {_kind(got)}")
    if mine.shape != want.shape:
        return CheckFailure(
            f"{name} has shape {_shape(mine)}, but shape {_shape(want)} was expected",
            diagnosis=diagnose_shape(mine, want, rtol, atol),
        )
    if check_dtype and mine.dtype != want.dtype:
        return CheckFailure(
            f"{name} has dtype {mine.dtype}, but {want.dtype} was expected",
            diagnosis=_dtype_hint(mine.dtype, want.dtype),
        )
    if want.dtype.kind in "biu" and mine.dtype.kind in "biu":
        wrong = mine != want
    else:
        wrong = ~np.isclose(mine.astype(np.float64), want.astype(np.float64), rtol=rtol, atol=atol, equal_nan=True)
    if not wrong.any():
        return None
    if _only_precision_lost(mine, want):
        return CheckFailure(
            f"{name} has dtype {mine.dtype}, but {want.dtype} was expected: its values agree with the expected "
            f"ones only to {mine.dtype}'s precision (allowed rtol={rtol:g}, atol={atol:g})",
            diagnosis=_dtype_hint(mine.dtype, want.dtype),
        )
    axis = time_axis if isinstance(time_axis, int) else None
    return _value_failure(mine, want, wrong, name, rtol, atol, axis, positions if axis is not None else STEPS)


def _dtype_hint(mine: np.dtype, want: np.dtype) -> str:
    """How to get the expected dtype: keep float64 inputs' precision, or make torch's float32 where a
    float64 came from numpy (np.eye, np.array of Python floats)."""
    if want == np.float64 and mine.kind == "f":
        return "compute in the dtype of the inputs (float64 here); do not convert"
    if want == np.float32 and mine == np.float64:
        return (
            "torch works in float32: a tensor made from numpy (np.eye, np.array of floats) or with "
            "dtype=torch.float64 is float64; make it float32 (dtype=torch.float32, or .float())"
        )
    return f"return {want} values (say .astype({want.name!r}) in numpy, or .to(torch.{want.name}) in torch)"


def _only_precision_lost(mine: np.ndarray, want: np.ndarray) -> bool:
    """A float array of lower precision than expected (float32 for float64) whose values agree at its own
    precision: the dtype is the mistake, not the values, whatever the gap looks like."""
    if mine.dtype.kind != "f" or want.dtype.kind != "f" or mine.dtype.itemsize >= want.dtype.itemsize:
        return False
    precision = float(np.finfo(mine.dtype).eps) * 100
    scale = float(np.abs(want).max(initial=0.0)) or 1.0
    close = np.isclose(mine.astype(np.float64), want.astype(np.float64), rtol=precision, atol=precision * scale)
    return bool(close.all())


def _float32_on_the_way(want: np.ndarray, max_abs: float) -> str | None:
    """float64 expected, and every value off by no more than float32 rounding: float64 code that differs
    only in its order of operations agrees to ~1e-15, so float32 came in somewhere (said before any
    value pattern, which such noise can mimic)."""
    if want.dtype != np.float64 or not np.isfinite(max_abs):
        return None
    scale = float(np.abs(want).max(initial=0.0)) or 1.0
    if max_abs > 1e-5 * scale:
        return None
    return "the values agree only to about float32 precision: is an array converted to float32 on the way? keep float64"


def _value_failure(
    mine: np.ndarray,
    want: np.ndarray,
    wrong: np.ndarray,
    name: str,
    rtol: float,
    atol: float,
    time_axis: int | None = None,
    positions: Positions = STEPS,
) -> CheckFailure:
    count, total = int(wrong.sum()), wrong.size
    mine64, want64 = mine.astype(np.float64), want.astype(np.float64)
    bad_values = ~np.isfinite(mine64) & np.isfinite(want64)
    diagnosis: str | None
    if bad_values.any():
        first = tuple(int(i) for i in np.argwhere(bad_values)[0])
        kind = "NaN" if np.isnan(mine64[bad_values]).any() else "Inf"
        where = positions.name(first[0]) if positions is not STEPS and mine.ndim == 1 else str(first)
        message = f"{name} contains {kind} at {int(bad_values.sum())} of {total} positions (first at {where})"
        diagnosis = "a value overflowed or was divided by zero; look at exp/log and at uninitialised arrays"
    else:
        diff = np.abs(mine64 - want64)
        finite = np.isfinite(diff)
        max_abs = float(diff[finite].max()) if finite.any() else float("inf")
        nonzero = finite & (np.abs(want64) > 1e-12)  # relative error means nothing where 0 is expected
        relative = f", relative {float((diff[nonzero] / np.abs(want64[nonzero])).max()):.3g}" if nonzero.any() else ""
        message = (
            f"{name}: {count} of {total} values differ from the expected ones (largest absolute error "
            f"{max_abs:.3g}{relative}; allowed rtol={rtol:g}, atol={atol:g})"
        )
        diagnosis = _float32_on_the_way(want, max_abs) or diagnose_values(
            mine64, want64, wrong, rtol, atol, time_axis=time_axis, floats=want.dtype.kind in "fc", positions=positions
        )
    return CheckFailure(message, diagnosis=diagnosis, table=mismatch_table(mine, want, wrong, positions))


def mismatch_table(
    mine: np.ndarray, want: np.ndarray, wrong: np.ndarray, positions: Positions = STEPS
) -> dict[str, Any]:
    """The first mismatching entries; a curve's (1-D, positions other than steps) by its own unit."""
    by_unit = positions is not STEPS and mine.ndim == 1
    rows = []
    for index in np.argwhere(wrong)[:TABLE_ROWS]:
        position = tuple(int(i) for i in index)
        expected, got = want[position], mine[position]
        label = str(position[0] + positions.first) if by_unit else str(position)
        rows.append([label, _num(expected), _num(got), _num(float(got) - float(expected))])
    return {
        "columns": [positions.unit if by_unit else "position", "expected", "got", "difference"],
        "rows": rows,
        "shown": len(rows),
        "total": int(wrong.sum()),
    }


def diagnose_shape(mine: np.ndarray, want: np.ndarray, rtol: float, atol: float) -> str | None:
    def same(candidate: np.ndarray) -> bool:
        return candidate.shape == want.shape and bool(
            np.allclose(candidate.astype(np.float64), want.astype(np.float64), rtol=rtol, atol=atol, equal_nan=True)
        )

    if mine.size == want.size and mine.size > 0:
        if mine.ndim == 2 and same(mine.T):
            return "the values are right but the matrix is transposed"
        if mine.ndim >= 2 and same(np.swapaxes(mine, 0, 1)):
            return (
                "the values are right but the first two dimensions are swapped: "
                "batch-first versus time-first (batch_first)?"
            )
        if mine.squeeze().shape == want.squeeze().shape:
            right = "the values are right, but " if same(mine.reshape(want.shape)) else ""
            if want.ndim == mine.ndim + 1 and want.shape[0] == 1:
                return f"{right}the leading dimension of size 1 is missing"
            if mine.ndim == want.ndim + 1:
                return f"{right}a dimension of size 1 is extra (a sum with keepdims=True?)"
            return f"{right}a dimension of size 1 is extra or missing"
        if same(mine.reshape(want.shape)):
            return f"the values are right; only the shape differs (reshape to {_shape(want)})"
    if want.ndim == mine.ndim + 1 and want.shape[1:] == mine.shape:
        for position, label in ((-1, "last"), (0, "first")):
            if np.allclose(mine.astype(np.float64), want[position].astype(np.float64), rtol=rtol, atol=atol):
                return (
                    f"it equals the {label} entry along the first dimension only: the other "
                    f"{want.shape[0] - 1} are missing (for example only the last layer's state)"
                )
        return f"the leading dimension (size {want.shape[0]}) is missing"
    if mine.ndim == want.ndim + 1 and mine.shape[1:] == want.shape:
        return f"there is an extra leading dimension of size {mine.shape[0]}"
    return _one_step_off(mine, want, rtol, atol)


def _one_step_off(mine: np.ndarray, want: np.ndarray, rtol: float, atol: float) -> str | None:
    """Along one axis (time, say), one entry too many or too few, the rest right: the initial state
    kept in front (a1's hs with h0), or a4's outputs without the row of position 0."""
    if mine.ndim != want.ndim:
        return None
    differ = [axis for axis in range(mine.ndim) if mine.shape[axis] != want.shape[axis]]
    if len(differ) != 1 or abs(mine.shape[differ[0]] - want.shape[differ[0]]) != 1:
        return None
    axis = differ[0]
    where = "" if axis == 0 else f" along dimension {axis}"

    def equal(a: np.ndarray, b: np.ndarray) -> bool:
        return bool(np.allclose(a.astype(np.float64), b.astype(np.float64), rtol=rtol, atol=atol, equal_nan=True))

    if mine.shape[axis] > want.shape[axis]:
        if equal(np.delete(mine, 0, axis=axis), want):
            return f"the values are right with one entry too many at the start{where}: does it hold the initial state (h0)?"
        if equal(np.delete(mine, -1, axis=axis), want):
            return f"the values are right with one entry too many at the end{where}"
        return None
    if equal(mine, np.delete(want, 0, axis=axis)):
        return f"the values are right but the first entry{where} is missing (position 0, left out?)"
    if equal(mine, np.delete(want, -1, axis=axis)):
        return f"the values are right but the last entry{where} is missing"
    return None


def diagnose_values(
    mine: np.ndarray,
    want: np.ndarray,
    wrong: np.ndarray,
    rtol: float,
    atol: float,
    *,
    time_axis: int | None = None,
    floats: bool = True,
    positions: Positions = STEPS,
) -> str | None:
    """What the wrong values have in common, said only where the data has that structure: value
    patterns for float data (never for integer ids), steps only along a declared time axis."""
    hint = _value_pattern(mine, want, rtol, atol) if floats else _one_id_for_another(mine, want, wrong)
    if hint is None and time_axis is not None:
        hint = _shifted(mine, want, time_axis, rtol, atol, positions) or _first_bad_step(
            mine, wrong, time_axis, positions
        )
    return hint


def _one_id_for_another(mine: np.ndarray, want: np.ndarray, wrong: np.ndarray) -> str | None:
    """Integer data whose every wrong value is one id where another was expected: padding with 1 where
    0 is the padding id (a teacher round's collate_fn got "5 of 16 values differ", nothing more)."""
    theirs, ours = np.unique(mine[wrong]), np.unique(want[wrong])
    if wrong.sum() < 2 or len(theirs) != 1 or len(ours) != 1:
        return None
    return f"every value that differs is {theirs[0]:g} where {ours[0]:g} was expected"


def _shifted(
    mine: np.ndarray, want: np.ndarray, axis: int, rtol: float, atol: float, positions: Positions = STEPS
) -> str | None:
    """Every step holding the expected value of the step before (or after): an output list filled
    before the update instead of after it, or a loop started one step off."""
    if not -mine.ndim <= axis < mine.ndim or mine.shape[axis] < 3 or mine.shape != want.shape:
        return None
    mine_t, want_t = np.moveaxis(mine, axis, 0), np.moveaxis(want, axis, 0)

    def close(a: np.ndarray, b: np.ndarray) -> bool:
        return bool(np.allclose(a, b, rtol=max(rtol, 1e-6), atol=max(atol, 1e-9)))

    if close(want_t[1:], want_t[:-1]):  # the same at every step: a shift cannot be seen
        return None
    unit = positions.unit
    if close(mine_t[1:], want_t[:-1]):
        return (
            f"every {unit} from the second on holds the value expected one {unit} earlier: your values are one "
            f"{unit} late (a state stored before it is updated instead of after?)"
        )
    if close(mine_t[:-1], want_t[1:]):
        return f"every {unit} holds the value expected one {unit} later: your values are one {unit} early"
    return None


def _value_pattern(mine: np.ndarray, want: np.ndarray, rtol: float, atol: float) -> str | None:
    """Transposed (a square matrix: the shapes cannot tell), sign, scale, offset or zeros; scale and
    offset need more than one value to mean anything."""

    def close(a: np.ndarray, b: np.ndarray) -> bool:
        return bool(np.allclose(a, b, rtol=max(rtol, 1e-6), atol=max(atol, 1e-9)))

    single = want.size == 1
    if mine.ndim == 2 and mine.shape[0] == mine.shape[1] > 1 and close(mine, want.T):  # a square one
        return "the values are right but the matrix is transposed"
    if close(mine, -want):
        return "the value has the wrong sign" if single else "every value has the wrong sign"
    if close(mine, np.zeros_like(mine)):
        return "the value is zero" if single else "every value is zero"
    if close(mine, 100 * want) and (np.abs(want) <= 1).all() and want.any():  # an accuracy in percent
        return (
            "the value is" if single else "every value is"
        ) + " 100 times the expected (a percentage, not a fraction?)"
    if single:
        return None
    norm = float(np.vdot(want, want))
    if norm > 0:
        factor = float(np.vdot(mine, want)) / norm
        if abs(factor - 1) > 1e-3 and abs(factor) > 1e-12 and close(mine, factor * want):
            return f"every value is off by the same factor {factor:.4g}" + (
                " (a mean instead of a sum, or the reverse?)" if _count_like(factor) else ""
            )
    shift = float(np.mean(mine - want))
    if abs(shift) > atol and close(mine, want + shift):
        return f"every value is off by the same constant {shift:.4g} (a bias added twice, or missing?)"
    return None


def _count_like(factor: float) -> bool:
    """A factor n or 1/n for a whole n >= 2: what dividing by (or forgetting to divide by) a count gives."""
    for value in (abs(factor), 1 / abs(factor)):
        if value >= 1.5 and abs(value - round(value)) <= 1e-3 * value:
            return True
    return False


def _first_bad_step(mine: np.ndarray, wrong: np.ndarray, axis: int, positions: Positions = STEPS) -> str | None:
    """Where along the time axis the differences begin: right until step k, or only the first wrong."""
    if not -mine.ndim <= axis < mine.ndim or mine.shape[axis] < 2:
        return None
    steps = np.moveaxis(wrong, axis, 0).reshape(mine.shape[axis], -1).any(axis=1)
    bad = np.flatnonzero(steps)
    first = int(bad[0])
    if first > 0:
        return (
            f"the values match up to {positions.name(first - 1)} and differ from {positions.name(first)} on "
            f"(the error starts at {positions.name(first)})"
        )
    if len(bad) == 1 and mine.shape[axis] > 2:
        return f"only {positions.name(0)} differs (the first {positions.unit}, or the initial state?)"
    return None


def _is_numeric_list(value: list) -> bool:
    """A rectangular (nested) list of numbers, judged as one array rather than item by item; a ragged
    one (decoded sequences of different lengths, say) is judged item by item."""
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        return True
    if not all(isinstance(v, list) and _is_numeric_list(v) for v in value):
        return False
    return len({_nested_shape(v) for v in value}) <= 1


def _nested_shape(value: Any) -> tuple[int, ...]:
    """The shape of a rectangular nested list (the first item's, level by level)."""
    shape: list[int] = []
    while isinstance(value, list):
        shape.append(len(value))
        value = value[0] if value else None
    return tuple(shape)


def _shape(array: np.ndarray) -> str:
    return "(" + ", ".join(str(n) for n in array.shape) + ("," if array.ndim == 1 else "") + ")"


def _kind(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of shape {_shape(value)}"
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of length {len(value)}"
    return _show(value)


def _show(value: Any) -> str:
    text = repr(value)
    if isinstance(value, (dict, list, tuple, np.ndarray)) and len(text) > 60:
        return f"a {type(value).__name__}"
    return text if len(text) <= 80 else text[:77] + "..."


def _num(value: Any) -> str:
    value = float(value)
    if np.isfinite(value) and value == int(value) and abs(value) < 1e12:
        return str(int(value))
    return f"{value:.6g}"
