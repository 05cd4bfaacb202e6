"""Helpers of a2's public and hidden checks. Shipped with the public checks: nothing here is hidden
(the hidden mapping and its seeds stay in test_hidden.py)."""

from grader.checks import (
    CheckFailure,
    PartialCredit,
    RunFailed,
    judge_training,
    judged_on_its_own,
    measured_runs,
    naming_the_wrong_part,
)

# Loss curves sum many steps over many epochs: they match to 1e-4, or to the device's tolerance where
# that is wider (a GPU adds in another order).
CURVE_TOLERANCE = {"rtol": 1e-4, "atol": 1e-6}

# The questions of the public checks of init_hidden and forward (test_public.py): what the student's
# Model is asked before train or predict is judged on its own.
MODEL_QUESTIONS = (
    ("init_hidden", dict(input_size=4, hidden_size=4, batch_size=1)),
    ("step", dict(input_size=4, hidden_size=4, batch_size=1, steps=1, seed=21)),
)


# test_loss_curve's question (test_public.py), on the grader's forward and init_hidden: train's own logic.
TRAIN_QUESTION = dict(source="hello", target="ohlol", epochs=15, lr=0.1, seed=0, stand_ins=True)


def model_differs(judge):
    """Whether the student's init_hidden or forward gives other results than the reference's on their
    own checks' questions: only then can they explain why train or predict differs (a regression round:
    an init_hidden that returns the last forward's state once one ran, and a forward that detaches the
    state, each passed their own checks, and their curves and predict were rescued on the stand-ins)."""
    for probe, args in MODEL_QUESTIONS:
        try:
            judge.compare(probe, **args)
        except (CheckFailure, PartialCredit, RunFailed):
            return True
    return False


def curve_on_its_own(judge, reference, details, *, explain=None, **case):
    """train's loss curve, judged on its own where the student's Model makes it differ (on_its_own)."""
    tolerance = judge.tolerance_at_least(**CURVE_TOLERANCE)
    on_its_own(
        reference,
        details,
        "loss_curve",
        case,
        lambda **extra: judge.compare_curve("loss_curve", **tolerance, **case, **extra, explain=explain),
        what="train",
        model_differs=lambda: model_differs(judge),
    )


# What predict's letters right but returned as a list, not a string, keep of the check's points.
LETTERS_IN_A_LIST = 0.7


def _letters_in_a_list(judge, case):
    """predict returned its letters as a list, in the call the check judged: on the student's own Model,
    or where that failed and the check was judged on its own, on the grader's forward and init_hidden."""
    for extra in ({}, {"stand_ins": True}):
        try:
            answered = judge.run("predict_words", **case, **extra)  # as the check got it
        except RunFailed:
            continue
        return isinstance(answered, dict) and answered.get("letters_in_a_list") is True
    return False


def predict_on_its_own(judge, reference, details, **case):
    """predict, judged on its own where the student's Model makes it differ (on_its_own); right letters
    in a list instead of a string keep most of the points (a fairness round lost all 15 of predict)."""
    on_its_own(
        reference,
        details,
        "predict_words",
        case,
        lambda **extra: judge.compare("predict_words", **case, **extra, keys=["predictions"]),
        what="predict",
        model_differs=lambda: model_differs(judge),
    )
    if _letters_in_a_list(judge, case):
        raise PartialCredit(
            LETTERS_IN_A_LIST,
            "predict's letters are right, but it returns them as a list: the handout asks for a string such "
            "as 'ohlol' (return ''.join(letters))",
        )


def on_its_own(reference, details, probe, case, compare, *, what, model_differs):
    """``compare()`` (the check's comparison on the student's own Model), judged on its own
    (grader.checks.judged_on_its_own) with the grader's forward and init_hidden in the student's Model
    (``compare(stand_ins=True)``: probes._with_stand_ins) where the student's forward or init_hidden
    fails its own check's question. train and predict call forward and init_hidden, which have checks
    of their own: a teacher round's init_hidden with its two sizes swapped cost every loss-curve and
    predict check too (25 points where a teacher gives about 60), a second tanh in forward cost
    predict's 15. The trained model's checks still train the student's whole Model: a mistake in
    forward costs the training, as in a4."""
    reference.expected(probe, **case, stand_ins=True)  # asked always: the student copy ships the answer
    return judged_on_its_own(
        compare,
        lambda: compare(stand_ins=True),
        details=details,
        yours="forward and init_hidden",
        instead=f"with the grader's forward and init_hidden in your Model, {what}",
        parts_differ=model_differs,
    )


def judge_learning(judge, student, reference, verifier, details, *, source, target, what, **training):
    """Train on ``source`` -> ``target`` once per seed, from the same initial weights on both sides;
    the verifier decodes ``source`` with each run's trained weights, and the seeds are compared one by
    one (paired). The loss curve itself is judged, and plotted, by the loss-curve checks."""
    args = dict(source=source, target=target, **training)
    parts = [
        # train itself first, on the grader's forward and init_hidden (a regression round: a typo in
        # train was blamed on an init_hidden that returns ones)
        ("train", "test_loss_curve", "loss_curve", TRAIN_QUESTION),
        ("init_hidden", "test_init_hidden", *MODEL_QUESTIONS[0]),
        ("forward", "test_forward_step", *MODEL_QUESTIONS[1]),
    ]
    got = naming_the_wrong_part(judge, lambda: student.run("train_seeds", **args), parts, what="The training")
    want = reference.expected("train_seeds", **args)
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
