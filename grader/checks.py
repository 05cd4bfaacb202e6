"""Everything a check needs: markers, failures, comparisons and training verdicts.

A check is a pytest test in ``assignments/<id>/checks/``. It imports from this module only (and from
pytest, for ``parametrize``, ``fixture`` and ``skip``); what it judges comes from its fixtures::

    from grader.checks import points, timeout

    @points(10)
    def test_forward(judge):
        \"\"\"rnn_forward equals torch.nn.RNN on random weights\"\"\"
        judge.compare("forward", T=5, B=3, D=4, H=6, activation="tanh", seed=1)

Markers
    ``@points(n)`` (split evenly across a parametrized test's cases), ``@hidden`` (or
    ``pytestmark = hidden``: not in the student copy), ``@timeout(seconds)`` (each probe call),
    ``@gated_by("test_name")``: the check earns at most the share of its points that the named check
    earned, where that one ran. Training judged on data students have (weights for it can be prepared
    in advance) is gated by training on a hidden task (see :mod:`grader.judging.gates`).

Fixtures (given by the grader's pytest plugin; a probe's arguments are passed by keyword)
    ``judge``
        ``judge.compare(probe, *, seed=0, rtol=None, atol=None, keys=None, check_dtype=False,
        per_key=False, **args)`` runs the probe on the student's code and on the reference and fails
        with a diagnosis (and the catalogued mistake named) unless they match; returns ``(got, expected)``.
        ``per_key`` gives credit per entry of a dict result instead of all or nothing: ``True`` makes
        each top-level key an equal share, a key's name (``per_key="grads"``) each key of the dict
        there; the entries that match earn their shares (:class:`PartialCredit`; none: a failure) and
        the message names every wrong entry with its diagnosis.
        ``judge.compare_curve(probe, *, curve="losses", name=..., seed=0, rtol=None, atol=None,
        explain=None, **args)``: the same for a curve with one value per epoch: epochs counted from 1,
        and the plot of both curves on this check when it fails; ``explain(got, expected)`` may say
        why where no catalogued mistake matches.
        ``judge.run(probe, *, seed=0, **args)``: the student's result alone; a failure still names the
        catalogued mistake that fails alike. Every call is asked once in a grading: asked again, the
        answer (or failure) the first asking got comes back, so a check that holds the student's code to
        its own answers (a1's gradient check) sees what the other checks saw.
        ``judge.known_mistake(probe, got, *, seed=0, keys=None, **args)``: the catalogued mistake whose
        result for that call equals ``got``, or None (for checks that judge by hand).
        ``judge.drawn(seed)``: the seed as official grading draws it from the course secret (``seed``
        itself elsewhere), for a hidden task a check builds itself.
        ``judge.tolerance`` (the device's ``{"rtol", "atol"}``) and
        ``judge.tolerance_at_least(*, rtol, atol)`` (widened, e.g. for loss curves).
    ``student`` / ``reference``
        ``student.run(probe, *, seed=0, **args)``; ``reference.expected(probe, *, seed=0, **args)``.
    ``verifier``
        measures trained weights with the assignment's ``verify.py`` (see :func:`measured_runs`).
    ``static``, ``details``, ``device``, ``assignment``, ``filename``
        what the source shows without running it (``static.forbidden_uses``, ``static.blocked_imports``);
        a dict shown with the check's result (``details["note"]`` is a passed check's message); "cpu" or
        "cuda"; the assignment (``assignment.data_dir``, tolerances); the graded file's name.

Fail with ``assert ..., "message"``, :func:`assert_close`, ``raise CheckFailure(...)``, or award part of
the points with ``raise PartialCredit(fraction, "message")``. Both take ``diagnosis=``, ``table=`` and
``mistake=`` (a catalogued mistake, from ``judge.known_mistake``), shown alike on the feedback page, and
``compared=True`` where the message shows expected values (another failure's message passed on: copy its
``compared``); the page handed back to a student leaves such a message out of an official question.
``assert_close(got, expected, ..., per_key=True)`` gives credit per entry as ``judge.compare`` does.
A function that calls other graded parts of the student's code is judged on its own with
:func:`judged_on_its_own` (the second run puts the grader's stand-ins, a probe argument, in place of
those parts, so one slip is not charged again on every function that calls it); a call that runs
the whole pipeline (a training) names the first part that gets its own question wrong where it raises,
with :func:`naming_the_wrong_part`, and where it learns too little, with :func:`first_wrong_part`. Helper modules beside the checks are
imported relatively (``from .shared import read_split``); see docs/authoring.md for which ship to
students.
"""

import pytest

from grader.errors import FailureKind, RunFailed
from grader.judging.compare import CheckFailure, PartialCredit, assert_close, is_close
from grader.judging.convergence import TrainingVerdict, judge_training, measured_runs
from grader.judging.on_its_own import first_wrong_part, judged_on_its_own, naming_the_wrong_part

points = pytest.mark.points
hidden = pytest.mark.hidden
timeout = pytest.mark.timeout
gated_by = pytest.mark.gated_by

__all__ = [
    "CheckFailure",
    "FailureKind",
    "PartialCredit",
    "RunFailed",
    "TrainingVerdict",
    "assert_close",
    "first_wrong_part",
    "gated_by",
    "hidden",
    "is_close",
    "judge_training",
    "judged_on_its_own",
    "naming_the_wrong_part",
    "measured_runs",
    "points",
    "timeout",
]
