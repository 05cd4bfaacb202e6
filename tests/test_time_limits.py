"""Time limits in proportion to the reference's own time for the same probe call."""

from __future__ import annotations

import pytest
from conftest import REPO

from grader.course.model import load_course
from grader.intake.static_checks import StaticFindings
from grader.judging.plugin import CheckContext
from grader.sandbox.limits import Limits

SPEC = load_course(REPO).get("a2_rnncell_ohlol")


class TimedReferences:
    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds

    def reference_seconds(self, probe, args, seed):
        return self.seconds

    def reference_steps(self, probe, args, seed):
        return None if self.seconds is None else int(self.seconds)


def limit(seconds: float | None, device: str = "cpu", **limits) -> float | None:
    context = CheckContext(
        SPEC,
        None,
        TimedReferences(seconds),
        None,
        StaticFindings(),
        "ohlol.py",  # type: ignore[arg-type]
        device,
        limits=Limits(probe_timeout_s=20, **limits),
    )
    found = context.time_limit("predict", {}, 0)
    return None if found is None else found[0]


@pytest.mark.parametrize(
    "reference_seconds, expected",
    [
        (0.001, 3.0),  # quick calls: the floor
        (0.5, 5.0),  # ten times the reference
        (4.0, 20.0),  # never beyond the assignment's probe_timeout_s
    ],
)
def test_limit_is_ten_times_the_reference_between_floor_and_cap(reference_seconds, expected):
    assert limit(reference_seconds) == pytest.approx(expected)


def test_fixed_limit_where_the_reference_was_not_timed_here_or_on_a_gpu():
    assert limit(None) is None  # shipped expected data: timed on another machine
    assert limit(0.5, device="cuda") is None  # GPU timings differ from the CPU's
    assert limit(0.5, timeout_factor=0) is None  # switched off in assignment.toml


def test_the_factor_and_floor_are_configurable():
    assert limit(0.5, timeout_factor=2, timeout_floor_s=0.1) == pytest.approx(1.0)
    assert limit(0.001, timeout_floor_s=8) == pytest.approx(8.0)


def budget(steps: float | None, **limits) -> tuple[int, int] | None:
    context = CheckContext(
        SPEC,
        None,
        TimedReferences(steps),
        None,
        StaticFindings(),
        "ohlol.py",
        limits=Limits(**limits),  # type: ignore[arg-type]
    )
    return context.step_budget("train_seeds", {}, 0)


def test_a_training_call_may_take_ten_times_the_reference_s_optimizer_steps_and_100_more():
    assert budget(15) == (250, 15)  # a2's training: 15 epochs, one step each
    assert budget(15, step_factor=2) == (130, 15)
    assert budget(15, step_factor=0) is None  # switched off in assignment.toml
    assert budget(None) is None  # shipped data, or a call that trains nothing: no step limit
