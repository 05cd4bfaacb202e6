"""Judging training against the reference's training under the same seeds.

A training probe trains the student's model once per seed and returns, for each seed, the loss of
every epoch and whatever says whether training worked (the predicted string, an accuracy). The same
probe on the reference gives the yardstick. Then:

1. exact reproduction: the student's loss curves *and trained weights* equal the reference's on
   every seed (same seed, same initialisation, same arithmetic): full credit. The weights are the
   artefact: a process that merely reports the reference's curve does not have them;
2. otherwise statistics: the student's successes S over the n seeds against the reference's K on the
   same seeds, with a one-sided test at 1% (:func:`required_successes`), so that a correct
   implementation whose initial weights are drawn in another order gets full credit with probability
   99% or more, while a mistake that halves the success rate is caught. No threshold is guessed: it
   comes from the reference's own runs. Fewer successes earn proportional partial credit.

Whether a run converged is decided on outcomes that :func:`measured_runs` has the verifier compute
from the run's trained weights, never on what the student's process says about itself.

The weights count only if they are the model the student's code runs. A student's process could train
one model and hand over the weights of another (a linear model on summed inputs, written by hand into
the RNN's parameters): the verifier, loading them into the reference architecture, would then measure
work the student's code never did. So a training probe also returns its trained model's *replay*: the
outputs of the student's own model on inputs the grader drew, and the gradients of every parameter of
a fixed projection of those outputs (``{"outputs": ..., "grads": {name: ...}}``). The verifier
computes the same from the same weights in the reference architecture (its measuring function returns
them under ``"replayed"``), and :func:`measured_runs` requires the two to agree (:func:`replay_problem`).
A run where they do not is marked ``"not_the_model"`` and never counts as converged. The replay cannot be
produced without running the specified architecture with those weights: the outputs of a forward
that never uses its RNN differ, and its RNN's parameters get no gradient.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from grader.judging.compare import CheckFailure, PartialCredit
from grader.report.results import MAX_CURVE_POINTS, downsample

Run = dict[str, Any]


@dataclass
class TrainingVerdict:
    fraction: float  # of the check's points
    message: str
    exact: bool = False
    converged: int = 0
    eligible: int = 0
    curves: dict[str, Any] = field(default_factory=dict)  # "your loss", "reference" (and "lengths")

    def enforce(self, details: dict[str, Any] | None = None) -> None:
        """Attach the curves to the feedback and raise unless full credit was earned (a full pass
        still says how it was judged: exact reproduction, or convergence on how many seeds)."""
        if details is not None and self.curves:
            _attach(details, self.curves)
        if self.fraction >= 1.0:
            if details is not None:
                details["note"] = self.message
            return
        if self.fraction <= 0.0:
            raise CheckFailure(self.message)
        raise PartialCredit(self.fraction, self.message)


def show_curves(details: dict[str, Any], student_run: Run, reference_run: Run, curve: str = "losses") -> None:
    """Plot the student's ``student_run[curve]`` against the reference's on this check's feedback."""
    _attach(details, _plot_curves([student_run], [reference_run], curve))


def _attach(details: dict[str, Any], curves: dict[str, Any]) -> None:
    curves = dict(curves)
    lengths = curves.pop("lengths", None)
    details["curves"] = curves
    if lengths:
        details["curve_lengths"] = lengths


def curves_match(
    student: Sequence[float] | np.ndarray,
    reference: Sequence[float] | np.ndarray,
    rtol: float = 1e-4,
    atol: float = 1e-6,
) -> bool:
    a, b = np.asarray(student, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=atol))


def judge_training(
    student_runs: Sequence[Run],
    reference_runs: Sequence[Run],
    *,
    converged: Callable[[Run], bool],
    curve: str = "losses",
    rtol: float = 1e-4,
    atol: float = 1e-6,
    what: str = "training",
    paired: bool = False,
    plot: bool = True,
) -> TrainingVerdict:
    """Compare per-seed runs of the student with the reference's (same order, same seeds).

    ``paired``: each seed's run started from the same initial weights on both sides (the probe loaded
    them), so the seeds are compared one by one (:func:`paired_verdict`); otherwise the counts are.
    ``plot=False`` where another check of the assignment judges the loss curve itself and shows it
    (``judge.compare_curve``): the plot then sits on the check that fails on the curve."""
    if len(student_runs) != len(reference_runs):
        return TrainingVerdict(0.0, f"{what} returned {len(student_runs)} runs, {len(reference_runs)} expected")
    curves = _plot_curves(student_runs, reference_runs, curve) if plot else {}
    bad = [i for i, run in enumerate(student_runs) if not _finite_curve(run.get(curve))]
    if bad:
        return TrainingVerdict(
            0.0,
            f"{what}: the loss is NaN or infinite (seed #{bad[0] + 1}); the learning "
            "rate may be too high, or the loss is computed wrongly",
            curves=curves,
        )
    for number, run in enumerate(reference_runs, start=1):
        if run.get(NOT_THE_MODEL):
            raise ValueError(f"the reference's run #{number} fails its own replay: {run[NOT_THE_MODEL]}")
    refusals = [_refusal(s, r) for s, r in zip(student_runs, reference_runs)]
    impostors = [i for i, reason in enumerate(refusals) if reason]
    if len(impostors) == len(student_runs):
        return TrainingVerdict(0.0, f"{what}: {refusals[0]}", curves=curves)
    if not impostors and all(
        curves_match(s.get(curve, []), r.get(curve, []), rtol, atol) and same_weights(s, r, rtol, atol)
        for s, r in zip(student_runs, reference_runs)
    ):
        n = len(reference_runs)
        return TrainingVerdict(
            1.0,
            f"{what} reproduces the reference's loss curves and trained weights exactly on all {n} seeds",
            exact=True,
            converged=n,
            eligible=n,
            curves=curves,
        )
    n = len(reference_runs)
    reference_wins = sum(1 for run in reference_runs if converged(run))
    if reference_wins == 0:
        raise ValueError("the reference converges on none of the seeds: choose other seeds or a larger budget")

    # a run whose weights are not its model's, or that no training produced, never converged
    won = [not refusals[i] and converged(run) for i, run in enumerate(student_runs)]
    wins = sum(won)
    if paired:
        lost = sum(1 for i, r in enumerate(reference_runs) if converged(r) and not won[i])
        gained = sum(1 for i, r in enumerate(reference_runs) if won[i] and not converged(r))
        fraction, message = paired_verdict(wins, reference_wins, n, lost, gained, what)
    else:
        required = required_successes(reference_wins, n)
        fraction = 1.0 if wins >= required else wins / required
        message = (
            f"{what} succeeded on {wins} of {n} seeds (the reference: {reference_wins}); {required} earn full "
            "credit, a bar a correct implementation with initial weights of its own clears 99 times in 100"
        )
    if impostors:
        message += (
            f". On seed #{impostors[0] + 1}"
            + (f" and {len(impostors) - 1} more" if len(impostors) > 1 else "")
            + f", {refusals[impostors[0]]}"
        )
    frozen = list(dict.fromkeys(str(note) for run in student_runs for note in (run.get(FROZEN_ROWS) or [])))
    if frozen:
        message += f". Your trained model's {'; '.join(frozen[:3])}"
    variants = list(dict.fromkeys(str(run[MEASURED_AS]) for run in student_runs if run.get(MEASURED_AS)))
    if variants:
        message += (
            f". Your trained model computes the specified architecture with {variants[0]}, so it was measured "
            "that way (the checks of your forward charge that mistake)"
        )
    if fraction < 1.0:
        message += "; your loss curve differs from the reference's " + (
            "(see the plot)" if plot else "(the loss curve check shows where)"
        )
        notes = list(dict.fromkeys(str(note) for run in student_runs for note in (run.get("ignored") or [])))
        if notes:
            message += (
                ". Your trained model was measured in the specified architecture, where its parameters "
                f"do not all fit by name: {', '.join(notes[:8])}"
            )
    return TrainingVerdict(fraction, message, converged=wins, eligible=n, curves=curves)


def _refusal(run: Run, reference: Run) -> str | None:
    """Why a student's run cannot count as trained, or None: its weights are not its model's (the
    replay, :func:`replay_problem`), or it took under half the optimizer steps the reference's run took
    (one per batch): weights trained elsewhere and copied in. Step counts come from the student's
    process (inside/child counts them), so this stops the plain copy, not one that fakes its steps."""
    problem = run.get(NOT_THE_MODEL)
    if problem:
        return problem if problem.startswith(GRADIENTS_ONLY) else f"{NOT_THE_MODEL_SENTENCE}: {problem}"
    mine, theirs = run.get("steps"), reference.get("steps")
    if not isinstance(theirs, int) or isinstance(theirs, bool) or theirs <= 0:
        return None  # not counted on the reference's side (a probe run outside a graded process)
    if not isinstance(mine, int) or isinstance(mine, bool):  # counted for the reference, so for everyone
        return "the optimizer steps of your training were not counted (the grader's counter was changed)"
    written = run.get("written")
    if mine == 0 and isinstance(written, str) and written:
        return (
            f"your training's weights were {written[:200]}, so no optimizer step of the training produced "
            f"the weights it returned (the reference solution's took {theirs}, one per batch): only "
            "optimizer steps that move the model, each no further than a training step can, count, and "
            "weights written into the model count none"
        )
    if mine * 2 < theirs:
        return (
            f"your training moved the weights in {mine} optimizer steps where the reference solution's did in "
            f"{theirs} (one per batch), too few to have trained the weights it returned. A step moves nothing "
            "where no parameter has a gradient (zero_grad() between backward() and step(), or step() before "
            "backward()) or at a learning rate of 0, and weights written outside the optimizer's steps count "
            "no step at all"
        )
    return None


def same_weights(student: Run, reference: Run, rtol: float, atol: float) -> bool:
    """Trained weights equal by name and value (runs without weights: nothing to compare)."""
    mine, theirs = student.get("weights"), reference.get("weights")
    if theirs is None:
        return True
    if not isinstance(mine, dict) or any(name not in mine for name in theirs):
        return False
    return all(
        curves_match(np.ravel(mine[name]), np.ravel(theirs[name]), rtol, atol)
        if np.shape(mine[name]) == np.shape(theirs[name])
        else False
        for name in theirs
    )


def measured_runs(
    verifier: Any, runs: Sequence[Run], function: str, *, artefacts: Sequence[str] = ("weights",), **inputs: Any
) -> list[Run]:
    """Each run with the outcome the verifier measures on its artefacts (``run["weights"]``, and e.g.
    ``run["vocab"]``) merged in: what the judge decides on. Artefacts that do not fit the
    architecture fail the check with the verifier's message naming the parameters."""
    for number, run in enumerate(runs, start=1):
        if not isinstance(run, dict) or not isinstance(run.get("weights"), dict):
            raise CheckFailure(f"training run #{number} returned no trained weights")
    items = [{name: run.get(name) for name in artefacts} for run in runs]
    outcomes = verifier.measure_each(function, items, **inputs)
    measured, variants = [], []
    for run, outcome in zip(runs, outcomes):
        outcome = dict(outcome) if isinstance(outcome, dict) else {"outcome": outcome}
        replayed = outcome.pop("replayed", None)
        offered = outcome.pop("variants", None)
        variants += [str(name) for name in offered or [] if str(name) not in variants][:4]
        # what only the trusted side may say of a run, never taken from the student's process
        merged = {key: value for key, value in run.items() if key not in JUDGED_HERE} | outcome
        frozen: list[str] = []
        merged[NOT_THE_MODEL] = None if replayed is None else replay_problem(run, replayed, frozen)
        if frozen:
            merged[FROZEN_ROWS] = frozen
        measured.append(merged)
    for name in variants:
        _measure_in_variant(verifier, function, name, runs, items, inputs, measured)
    for merged in measured:
        merged.pop("replay", None)  # compared; too large to keep in the check's details
    return measured


MEASURED_AS = "measured_as"  # the variant of the architecture a run was measured in


def _measure_in_variant(
    verifier: Any,
    function: str,
    variant: str,
    runs: Sequence[Run],
    items: list[dict[str, Any]],
    inputs: dict[str, Any],
    measured: list[Run],
) -> None:
    """Where a trained model is not the specified architecture but a variant the verifier offers (a
    catalogued mistake of the forward: a5's directions concatenated the other way round), measure it
    there: the forward's checks charge the mistake once, and the training the student did counts (it
    lost every training point). The variant's replay must agree, as the architecture's would. Asked
    only for runs whose replay did not agree: a correct model costs the verifier nothing more."""
    failing = [i for i, merged in enumerate(measured) if merged[NOT_THE_MODEL]]
    if not failing:
        return
    outcomes = verifier.measure_each(function, [items[i] for i in failing], **inputs, variant=variant)
    for i, outcome in zip(failing, outcomes):
        if isinstance(outcome, dict) and isinstance(outcome.get("replayed"), dict):
            if replay_problem(runs[i], outcome["replayed"]) is None:
                measured[i].update({k: v for k, v in outcome.items() if k not in ("replayed", "variants")})
                measured[i][NOT_THE_MODEL], measured[i][MEASURED_AS] = None, variant


NOT_THE_MODEL = "not_the_model"
FROZEN_ROWS = "frozen_rows"  # replay notes: rows of a parameter the student's model gives no gradient
JUDGED_HERE = frozenset({NOT_THE_MODEL, FROZEN_ROWS, MEASURED_AS})
NOT_THE_MODEL_SENTENCE = (
    "your trained model does not compute what the specified architecture computes with its weights, "
    "so its training cannot be measured"
)
# Replay tolerance, relative to each array's size (2-norm): a correct model and the reference
# architecture differ by rounding (float32, another order of additions, a GPU's kernels: ~1e-6 to 1e-3);
# a forward that does not run the architecture differs by order one, or gives its parameters no gradient.
# The outputs agree and only their gradients differ: the model is the architecture, trained otherwise.
GRADIENTS_ONLY = (
    "your trained model gives the specified architecture's outputs with its weights, but not their gradients"
)
REPLAY_RTOL = 2e-2
REPLAY_ATOL = 1e-5  # per entry (root mean square), for arrays near zero


def replay_problem(run: Run, replayed: Any, frozen: list[str] | None = None) -> str | None:
    """Why the student's replay (``run["replay"]``: outputs of the trained model on the grader's
    inputs, and the gradients of a projection of them) disagrees with the reference architecture's
    (``replayed``, computed by the verifier from the run's weights), or None where they agree.

    Gradients are matched by name, or by position where the weights were taken by position. A gradient
    that differs only in a row or two the student's model gives none (an embedding whose padding_idx
    is another id freezes that row) agrees; ``frozen`` gets a sentence on each such parameter."""
    claim = run.get("replay")
    if not isinstance(claim, dict):
        return "your training run returned no outputs of your trained model on the grader's inputs"
    problem = _replay_problem(run, claim, replayed, frozen)
    for normalised in ("softmax", "log_softmax", "sigmoid"):
        other = replayed.get(normalised) if isinstance(replayed, dict) else None
        if problem and isinstance(other, dict) and _replay_problem(run, claim, other, frozen) is None:
            return None  # (log-)probabilities of the specified architecture: its forward's checks charge that
    return problem


def _replay_problem(run: Run, claim: dict[str, Any], replayed: Any, frozen: list[str] | None = None) -> str | None:
    if isinstance(claim.get("directional"), dict) and not isinstance(claim.get("grads"), dict):
        return _directional_problem(run, claim, replayed)
    want = dict(replayed.get("grads") or {})
    grads = claim.get("grads")
    got: dict[str, Any] = grads if isinstance(grads, dict) else {}
    mapping = _names_in_run(run, want, got)
    unused, other, rows_frozen = [], [], []
    for name, expected in want.items():
        mine = got.get(mapping[name])
        if _norm(expected) > 0 and (mine is None or _norm(mine) == 0):
            unused.append(mapping[name])
            continue
        problem = _differs(mine, expected, f"the gradient of {mapping[name]}")
        rows = _frozen_rows(mine, expected) if problem else None
        if rows:
            listed = ", ".join(map(str, rows))
            rows_frozen.append(
                f"{mapping[name]} gets no gradient in row{'s' if len(rows) > 1 else ''} {listed}, where the "
                "specified architecture's does (an embedding with padding_idx="
                f"{rows[0]} freezes that row; the handout pads with id 0)"
            )
        elif problem:
            other.append(problem)
    verdict = _replay_verdict(claim, replayed, unused, "get no gradient from", "; ".join(other[:3]))
    if verdict is None and frozen is not None:
        frozen.extend(note for note in rows_frozen if note not in frozen)
    return verdict


MAX_FROZEN_ROWS = 2  # a padding row, an unknown-word row: more is a cut gradient, not a frozen row


def _frozen_rows(mine: Any, expected: Any) -> list[int] | None:
    """The rows of a 2-D gradient that the student's model leaves at exactly zero where the
    architecture's are not, when they are all that differs (at most MAX_FROZEN_ROWS); else None."""
    try:
        got, want = np.asarray(mine, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if got.ndim != 2 or got.shape != want.shape or not np.isfinite(got).all():
        return None
    rows = [int(i) for i in np.flatnonzero(~got.any(axis=1) & want.any(axis=1))]
    if not 0 < len(rows) <= MAX_FROZEN_ROWS:
        return None
    kept = np.ones(len(got), dtype=bool)
    kept[rows] = False
    return rows if _differs(got[kept], want[kept], "the rest") is None else None


def _directional_problem(run: Run, claim: dict[str, Any], replayed: Any) -> str | None:
    """:func:`replay_problem` for a model whose outputs carry no graph in eval mode: each parameter's
    derivative along a fixed direction (central differences in the student's process) against the
    verifier's (its gradient along the same direction), within REPLAY_RTOL of the most the derivative
    can be (the gradient's size times the direction's)."""
    want = dict(replayed.get("directional") or {})
    grads = replayed.get("grads") or {}
    got = claim["directional"]
    mapping = _names_in_run(run, want, got)
    unused: list[str] = []
    other: list[str] = []
    for name, expected in want.items():
        mine = got.get(mapping[name])
        gradient = grads.get(name, 0.0)  # the most the derivative can be: |gradient| |direction|
        allowed = REPLAY_RTOL * _norm(gradient) * math.sqrt(max(np.size(gradient), 1)) + REPLAY_ATOL
        if not isinstance(mine, (int, float)) or isinstance(mine, bool) or not math.isfinite(mine):
            unused.append(mapping[name])
        elif abs(mine - expected) > allowed:
            (unused if abs(mine) <= allowed < abs(expected) else other).append(mapping[name])
    return _replay_verdict(claim, replayed, unused, "do not move", ", ".join(other[:3]))


def _names_in_run(run: Run, want: dict[str, Any], got: dict[str, Any]) -> dict[str, str]:
    """The student's name of each of the verifier's parameters: the same, or by position where the
    verifier took the weights by position (their names differ)."""
    weights = [str(name) for name in run.get("weights") or {}]
    if any(name not in got for name in want) and len(weights) == len(want):
        return dict(zip(want, weights))
    return {name: name for name in want}


# Only the backward direction's parameters unused: the classic cause is reading its output where it starts.
REVERSE_HINT = (
    "; the *_reverse parameters are the backward direction's, and its output at the last column "
    "(output[:, -1]) is its first step, which starts from zeros: take its final state from h_n[-1]"
)


def _replay_verdict(claim: dict[str, Any], replayed: Any, unused: list[str], verb: str, other: str) -> str | None:
    """The replay's disagreement in one sentence, the plainest evidence first: parameters the student's
    model never computes with, then different outputs, then outputs that depend on the parameters
    otherwise; None where there is none."""
    if unused:
        reverse = all(name.endswith("_reverse") for name in unused)
        return (
            f"{', '.join(unused[:6])}{' and more' if len(unused) > 6 else ''} {verb} your trained model's outputs, "
            f"so your model does not compute with {'them' if len(unused) > 1 else 'it'}, or cuts the gradient "
            "(.detach(), torch.no_grad(), requires_grad=False), though the specified architecture does not"
            + (REVERSE_HINT if reverse else "")
        )
    problem = _differs(claim.get("outputs"), replayed.get("outputs"), "its outputs")
    if problem:
        return (
            "on inputs the grader drew, your trained model and the specified architecture with your weights "
            f"give different outputs ({problem}); where a check of your model's forward fails, it shows why. "
            "Your model runs here in training mode, as its training ran, with its dropout layers and torch's "
            "dropout functions off: randomness of its own while training (words dropped by hand, added noise) "
            "stays on and counts as a difference"
        )
    if other:
        return (
            f"{GRADIENTS_ONLY} ({other}): a gradient path is cut or changed in its forward (.detach() or .data "
            "on the state between steps, torch.no_grad()), so it does not learn as the specified architecture "
            "does and its training cannot be measured as the architecture's"
        )
    return None


def _norm(value: Any) -> float:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return float("nan")
    return float(np.sqrt(np.sum(array * array))) if array.size else 0.0


def _differs(mine: Any, expected: Any, what: str) -> str | None:
    """Why ``mine`` is not ``expected`` within the replay tolerance, or None."""
    want = np.asarray(expected, dtype=np.float64)
    try:
        got = np.asarray(mine, dtype=np.float64)
    except (TypeError, ValueError):
        return f"{what}: not an array of numbers"
    if got.shape != want.shape:
        return f"{what}: shape {tuple(got.shape)}, not {tuple(want.shape)}"
    if not np.isfinite(got).all():
        return f"{what}: NaN or infinite values"
    error = _norm(got - want)
    allowed = REPLAY_RTOL * _norm(want) + REPLAY_ATOL * math.sqrt(max(want.size, 1))
    if error <= allowed:
        return None
    scale = _norm(want)
    relative = f"{error / scale:.2g} of its size" if scale > 0 else f"{error:.2g} where it should be 0"
    return f"{what} differ{'s' if not what.endswith('outputs') else ''} by {relative}"


Z_ONE_SIDED_1_PERCENT = 2.326  # the standard normal distribution's 99th percentile
SIGNIFICANCE = 0.01


def paired_verdict(wins: int, reference_wins: int, seeds: int, lost: int, gained: int, what: str) -> tuple[float, str]:
    """Seeds started from the same weights on both sides: a sign test on the seeds where only one
    side succeeded. A correct implementation whose arithmetic differs a little (another order of
    additions, a GPU) is as likely to win such a seed as to lose it, so full credit stands unless
    losing ``lost`` of the ``lost + gained`` split seeds would happen less than 1 time in 100."""
    chance = sum(math.comb(lost + gained, k) for k in range(lost, lost + gained + 1)) / 2 ** (lost + gained)
    message = (
        f"{what} succeeded on {wins} of {seeds} seeds, the reference on {reference_wins} from the same "
        f"initial weights; yours failed on {lost} where the reference succeeded and succeeded on {gained} "
        "where it failed"
    )
    if chance >= SIGNIFICANCE:
        return 1.0, message + " (within what chance gives a correct implementation: full credit)"
    return min(1.0, wins / reference_wins) if reference_wins else 0.0, message + (
        f": a correct implementation would do that less than 1 time in 100 (p = {chance:.2g})"
    )


def required_successes(reference_successes: int, seeds: int, z: float = Z_ONE_SIDED_1_PERCENT) -> int:
    """The fewest successes over ``seeds`` runs that earn full credit: a one-sided test at 1%.

    A correct implementation whose initial weights differ from the reference's succeeds on each seed
    with the reference's probability p, independently of the reference's own runs, so the difference
    of the two counts has variance 2 n p (1 - p). Full credit starts z standard deviations below the
    reference's count K, with p estimated as (K + 1/2) / (n + 1): a reference that succeeded on every
    seed still leaves room for a correct implementation's bad luck."""
    p = (reference_successes + 0.5) / (seeds + 1)
    margin = z * math.sqrt(2 * seeds * p * (1 - p))
    return max(1, math.ceil(reference_successes - margin))


def _finite_curve(values: Any) -> bool:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return array.size > 0 and bool(np.isfinite(array).all())


def _plot_curves(student_runs: Sequence[Run], reference_runs: Sequence[Run], curve: str) -> dict[str, Any]:
    """The first seed's curves, student's and reference's, for the feedback page's plot: downsampled
    here already (a student's process decides how long its curve is), their lengths kept under
    ``"lengths"`` for the plot's x axis."""
    if not student_runs or not reference_runs:
        return {}
    curves: dict[str, Any] = {}
    lengths: dict[str, int] = {}
    for name, run in (("your loss", student_runs[0]), ("reference", reference_runs[0])):
        try:
            values = np.asarray(run.get(curve), dtype=np.float64).ravel()
        except (TypeError, ValueError):
            values = np.zeros(0)
        if values.size > MAX_CURVE_POINTS:
            lengths[name] = int(values.size)
        curves[name] = downsample(values, MAX_CURVE_POINTS)
    return {**curves, "lengths": lengths} if lengths else curves
