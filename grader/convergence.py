"""Judging training against the reference's training under the same seeds.

A training probe trains the student's model once per seed and returns, for each seed, the loss of
every epoch and whatever says whether training worked (the predicted string, an accuracy). The same
probe on the reference gives the yardstick. Then:

1. exact reproduction: the student's loss curves *and trained weights* equal the reference's on
   every seed (same seed, same initialisation, same arithmetic): full credit. The weights are the
   artefact: a process that merely reports the reference's curve does not have them;
2. otherwise convergence: of the seeds on which the *reference* converged, the student must converge
   on at least ``required`` of them (by default all but one in ten). Seeds where the reference fails
   are not held against anyone, so no threshold is guessed: it comes from the reference's own runs.
   Fewer successes earn proportional partial credit.

Whether a run converged is decided on outcomes that :func:`measured_runs` has the verifier compute
from the run's trained weights, never on what the student's process says about itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from .judge import CheckFailure, PartialCredit

Run = dict[str, Any]


@dataclass
class TrainingVerdict:
    fraction: float                    # of the check's points
    message: str
    exact: bool = False
    converged: int = 0
    eligible: int = 0
    curves: dict[str, list[float]] = field(default_factory=dict)

    def enforce(self, details: dict[str, Any] | None = None) -> None:
        """Attach the curves to the feedback and raise unless full credit was earned (a full pass
        still says how it was judged: exact reproduction, or convergence on how many seeds)."""
        if details is not None and self.curves:
            details["curves"] = self.curves
        if self.fraction >= 1.0:
            if details is not None:
                details["note"] = self.message
            return
        if self.fraction <= 0.0:
            raise CheckFailure(self.message)
        raise PartialCredit(self.fraction, self.message)


def curves_match(student: Sequence[float], reference: Sequence[float], rtol: float = 1e-4,
                 atol: float = 1e-6) -> bool:
    a, b = np.asarray(student, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=atol))


def judge_training(student_runs: Sequence[Run], reference_runs: Sequence[Run],
                   converged: Callable[[Run], bool], *, curve: str = "losses", rtol: float = 1e-4,
                   atol: float = 1e-6, slack: float = 0.1, what: str = "training") -> TrainingVerdict:
    """Compare per-seed runs of the student with the reference's (same order, same seeds)."""
    if len(student_runs) != len(reference_runs):
        return TrainingVerdict(0.0, f"{what} returned {len(student_runs)} runs, {len(reference_runs)} expected")
    curves = _plot_curves(student_runs, reference_runs, curve)
    bad = [i for i, run in enumerate(student_runs) if not _finite_curve(run.get(curve))]
    if bad:
        return TrainingVerdict(0.0, f"{what}: the loss is NaN or infinite (seed #{bad[0] + 1}); the learning "
                                    "rate may be too high, or the loss is computed wrongly", curves=curves)
    if all(curves_match(s.get(curve, []), r.get(curve, []), rtol, atol) and same_weights(s, r, rtol, atol)
           for s, r in zip(student_runs, reference_runs)):
        n = len(reference_runs)
        return TrainingVerdict(1.0, f"{what} reproduces the reference's loss curves and trained weights exactly on all {n} seeds",
                               exact=True, converged=n, eligible=n, curves=curves)
    eligible = [i for i, run in enumerate(reference_runs) if converged(run)]
    if not eligible:
        raise ValueError("the reference converges on none of the seeds: choose other seeds or a larger budget")
    wins = sum(1 for i in eligible if converged(student_runs[i]))
    required = required_successes(len(eligible), slack)
    fraction = 1.0 if wins >= required else wins / required
    message = (
        f"{what} converged on {wins} of the {len(eligible)} seeds on which the reference converges "
        f"({required} needed for full credit)"
    )
    if fraction < 1.0:
        message += "; your loss curve differs from the reference's (see the plot)"
        notes = list(dict.fromkeys(str(note) for run in student_runs for note in (run.get("ignored") or [])))
        if notes:
            message += (". Your trained model was measured in the specified architecture, where its parameters "
                        f"do not all fit by name: {', '.join(notes[:8])}")
    return TrainingVerdict(fraction, message, converged=wins, eligible=len(eligible), curves=curves)


def same_weights(student: Run, reference: Run, rtol: float, atol: float) -> bool:
    """Trained weights equal by name and value (runs without weights: nothing to compare)."""
    mine, theirs = student.get("weights"), reference.get("weights")
    if theirs is None:
        return True
    if not isinstance(mine, dict) or any(name not in mine for name in theirs):
        return False
    return all(curves_match(np.ravel(mine[name]), np.ravel(theirs[name]), rtol, atol)
               if np.shape(mine[name]) == np.shape(theirs[name]) else False for name in theirs)


def measured_runs(verifier: Any, runs: Sequence[Run], function: str, *,
                  artefacts: Sequence[str] = ("weights",), **inputs: Any) -> list[Run]:
    """Each run with the outcome the verifier measures on its artefacts (``run["weights"]``, and e.g.
    ``run["vocab"]``) merged in: what the judge decides on. Artefacts that do not fit the
    architecture fail the check with the verifier's message naming the parameters."""
    measured = []
    for number, run in enumerate(runs, start=1):
        if not isinstance(run, dict) or not isinstance(run.get("weights"), dict):
            raise CheckFailure(f"training run #{number} returned no trained weights")
        outcome = verifier.measure(function, **{name: run.get(name) for name in artefacts}, **inputs)
        measured.append({**run, **(outcome if isinstance(outcome, dict) else {"outcome": outcome})})
    return measured


def required_successes(eligible: int, slack: float = 0.1) -> int:
    """All but ``slack`` of the seeds the reference converges on (at least one allowed miss from 10)."""
    return max(1, eligible - math.floor(slack * eligible))


def _finite_curve(values: Any) -> bool:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return array.size > 0 and bool(np.isfinite(array).all())


def _plot_curves(student_runs: Sequence[Run], reference_runs: Sequence[Run], curve: str) -> dict[str, list[float]]:
    """The first seed's curves, student's and reference's, for the feedback page's plot."""
    if not student_runs or not reference_runs:
        return {}
    def as_list(values: Any) -> list[float]:
        try:
            return [float(v) for v in np.asarray(values, dtype=np.float64).ravel()]
        except (TypeError, ValueError):
            return []
    return {"your loss": as_list(student_runs[0].get(curve)), "reference": as_list(reference_runs[0].get(curve))}
