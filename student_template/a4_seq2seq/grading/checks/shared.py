"""Helpers of a4's public and hidden checks. Shipped with the public checks: nothing here is hidden."""

import numpy as np

from grader.checks import CheckFailure, PartialCredit, assert_close, is_close, judged_on_its_own, naming_the_wrong_part


def _on_its_own(judge, reference, details, probe, args, judged, *, stand_in, yours, instead, tolerance=None):
    """``judged()`` (the check's own comparison), judged on its own (grader.checks.judged_on_its_own):
    ``probe`` once more with the stand-in argument ``stand_in`` set, compared with what the reference
    gives on the same stand-ins. The stand-ins do none of the work (the probes ship to students, and
    what is handed in stays in their process for later checks)."""
    tolerance = tolerance or judge.tolerance
    alone = reference.expected(probe, **args, **{stand_in: True})  # asked always: the student copy ships it
    return judged_on_its_own(
        judged,
        lambda: assert_close(judge.run(probe, **args, **{stand_in: True}), alone, **tolerance),
        details=details,
        yours=yours,
        instead=instead,
    )


def compare_on_its_own(judge, reference, details, probe, **args):
    """Seq2Seq.forward, greedy_decode and translate run the student's Encoder and Decoder, which have
    checks of their own: a mistake there would be charged again on every function that calls them. So
    they are judged on their own too, on the grader's stand-in encoder and decoder (probes.with_stand_ins)."""
    return _on_its_own(
        judge,
        reference,
        details,
        probe,
        args,
        lambda: judge.compare(probe, **args),
        stand_in="stand_ins",
        yours="Encoder and Decoder",
        instead="on the grader's stand-in encoder and decoder this function",
    )


# test_greedy_decode's question (test_public.py: SMALL, batch 4, lengths 6, seed 4), on the stand-ins:
# greedy_decode's own logic, whatever the Decoder does.
GREEDY_QUESTION = dict(emb=8, hidden=16, layers=1, batch=4, src_len=6, max_len=6, seed=4, stand_ins=True)


def translate_on_its_own(judge, reference, details, **args):
    """compare_on_its_own for translate, which in the handout's design runs make_batch and greedy_decode:
    judged on its own once more with the grader's stand-ins for them in the module (probes.translate's
    ``helpers_stand_in``; a teacher round: a make_batch or greedy_decode mistake cost translate's 7 points
    too, with messages that blamed translate). Otherwise, where greedy_decode gets its own check's
    question wrong, the feedback says to fix greedy_decode first."""
    try:
        return _on_its_own(
            judge,
            reference,
            details,
            "translate",
            args,
            lambda: compare_on_its_own(judge, reference, details, "translate", **args),
            stand_in="helpers_stand_in",
            yours="make_batch and greedy_decode",
            instead="with the grader's stand-ins for make_batch and greedy_decode in your module, translate",
        )
    except (CheckFailure, PartialCredit) as failure:
        if failure.diagnosis is None and not _greedy_decode_right(judge, reference):
            failure.diagnosis = (
                "translate runs greedy_decode (in the handout's design), and your greedy_decode gives other "
                "results than the reference's (test_greedy_decode says how): fix it first, and translate may "
                "pass too"
            )
        raise


def _greedy_decode_right(judge, reference):
    try:
        mine = judge.run("greedy_decode", **GREEDY_QUESTION)
    except Exception:  # it fails: not right
        return False
    return is_close(mine, reference.expected("greedy_decode", **GREEDY_QUESTION), **judge.tolerance)


def train_step_on_its_own(judge, reference, details, *, rtol, atol, **args):
    """train_step runs the student's Seq2Seq.forward, which has checks of its own: judged on its own too,
    on a model whose forward is the grader's stand-in (probes._stand_in_forward; a teacher round: teacher
    forcing fed the wrong letter cost three train_step checks too, with nothing to say why)."""
    return _on_its_own(
        judge,
        reference,
        details,
        "train_step",
        args,
        lambda: judge.compare("train_step", **args, rtol=rtol, atol=atol),
        stand_in="stand_in_forward",
        yours="Seq2Seq.forward and the Encoder and Decoder it runs",
        instead="on a model whose forward is the grader's stand-in, train_step",
        tolerance={"rtol": rtol, "atol": atol},
    )


# What the training runs, with the check and question of test_public.py that judges each (make_batch is
# not among them: the training runs on the reference's batches; test_train_step's question must stay
# the one below).
SMALL = dict(emb=8, hidden=16, layers=1)
PARTS = (
    ("Encoder", "test_encoder", "encoder", dict(SMALL, batch=3, length=6, seed=1)),
    ("Decoder", "test_decoder", "decoder", dict(SMALL, batch=3, seed=2)),
    (
        "Seq2Seq.forward",
        "test_forward_teacher_forcing",
        "forward",
        dict(SMALL, batch=3, src_len=6, trg_len=7, ratio=1.0, seed=3),
    ),
    (
        "train_step",
        "test_train_step",
        "train_step",
        dict(SMALL, batch=4, src_len=6, trg_len=7, ratio=1.0, clip=0.2, lr=0.5, steps=3, seed=5, rtol=1e-4, atol=1e-5),
    ),
)


def train_on_the_references_batches(judge, reference, task):
    """The student's and the reference's training runs (train_pairs) on the batches the reference's
    make_batch builds from the task's pairs: the student's make_batch has checks of its own, so a slip
    there ("E, then padding") is not charged again to the training, which it once cost as well (57 where
    a teacher gives about 87)."""
    batching = {name: task[name] for name in ("pairs", "n_step", "batch_size")}
    batches = [
        [np.asarray(src).tolist(), np.asarray(trg).tolist()]
        for src, trg in reference.expected("make_batches", **batching)["batches"]
    ]
    got = naming_the_wrong_part(
        judge, lambda: judge.run("train_pairs", **task, batches=batches), PARTS, what="The training"
    )
    return got, reference.expected("train_pairs", **task, batches=batches)
