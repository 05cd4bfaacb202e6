"""Helpers of a2's public and hidden checks. Shipped with the public checks: nothing here is hidden
(the hidden mapping and its seeds stay in test_hidden.py)."""

from grader.checks import judge_training, measured_runs

# Loss curves sum many steps over many epochs: they match to 1e-4, or to the device's tolerance where
# that is wider (a GPU adds in another order).
CURVE_TOLERANCE = {"rtol": 1e-4, "atol": 1e-6}


def judge_learning(judge, student, reference, verifier, details, *, source, target, what, **training):
    """Train on ``source`` -> ``target`` once per seed, from the same initial weights on both sides;
    the verifier decodes ``source`` with each run's trained weights, and the seeds are compared one by
    one (paired). The loss curve itself is judged, and plotted, by the loss-curve checks."""
    args = dict(source=source, target=target, **training)
    got, want = student.run("train_seeds", **args), reference.expected("train_seeds", **args)
    got, want = (measured_runs(verifier, result["runs"], "predictions", words=[source]) for result in (got, want))
    verdict = judge_training(
        got,
        want,
        converged=lambda run: run["predictions"] == [target],
        what=what,
        paired=True,
        plot=False,
        **judge.tolerance_at_least(**CURVE_TOLERANCE),
    )
    verdict.enforce(details)
