"""Public checks of a4_seq2seq (shipped to students, 45 points). The hidden checks repeat these with
two-layer LSTMs and other shapes, and train the model on a task it has not seen."""

from grader.checks import gated_by, judge_training, measured_runs, points, timeout

from .shared import compare_on_its_own, train_on_the_references_batches, train_step_on_its_own, translate_on_its_own

TOY_PAIRS = [["hello", "hola"], ["cat", "gato"], ["good", "bueno"]]
SMALL = dict(emb=8, hidden=16, layers=1)
# The toy task: every seed trains from scratch with the student's train_step, then translates.
TOY_TRAINING = dict(
    pairs=TOY_PAIRS, n_step=5, emb=16, hidden=32, lr=0.02, epochs=40, batch_size=3, ratio=0.5, seeds=[0, 1, 2, 3]
)


@points(5)
def test_make_batch(judge):
    """make_batch on the course's toy pairs: ids, padding, S and E, shapes, dtype long"""
    judge.compare("make_batch", pairs=TOY_PAIRS, n_step=5)


@points(4)
def test_encoder(judge):
    """Encoder: outputs, hidden and cell equal the reference's (same weights)"""
    judge.compare("encoder", **SMALL, batch=3, length=6, seed=1)


@points(4)
def test_decoder(judge):
    """Decoder: one step's logits (B, 1, V), hidden and cell equal the reference's"""
    judge.compare("decoder", **SMALL, batch=3, seed=2)


@points(5)
def test_forward_teacher_forcing(judge, reference, details):
    """Seq2Seq.forward with teacher_forcing_ratio=1.0 (always feeds the target letter)"""
    compare_on_its_own(judge, reference, details, "forward", **SMALL, batch=3, src_len=6, trg_len=7, ratio=1.0, seed=3)


@points(5)
def test_forward_free_running(judge, reference, details):
    """Seq2Seq.forward with teacher_forcing_ratio=0.0 (always feeds its own argmax)"""
    compare_on_its_own(judge, reference, details, "forward", **SMALL, batch=3, src_len=6, trg_len=7, ratio=0.0, seed=3)


@points(5)
def test_greedy_decode(judge, reference, details):
    """greedy_decode: starts from S, feeds back its argmax, returns (B, max_len) token ids"""
    compare_on_its_own(judge, reference, details, "greedy_decode", **SMALL, batch=4, src_len=6, max_len=6, seed=4)


@points(4)
def test_translate(judge, reference, details):
    """translate: greedy, stops at the first E, drops the padding"""
    translate_on_its_own(
        judge,
        reference,
        details,
        words=["hello", "cat", "good", "abc", "zzz", "q", "moon", "xyzzy"],
        n_step=5,
        emb=8,
        hidden=32,
        seed=1,
        scale=2.5,
        boost=0.5,
    )


@points(5)
def test_train_step(judge, reference, details):
    """train_step: the loss over positions 1.., clipping by norm, one optimizer step (3 SGD steps)"""
    train_step_on_its_own(
        judge,
        reference,
        details,
        **SMALL,
        batch=4,
        src_len=6,
        trg_len=7,
        ratio=1.0,
        clip=0.2,
        lr=0.5,
        steps=3,
        seed=5,
        rtol=1e-4,
        atol=1e-5,
    )


@points(8)
@timeout(60)
# weights for the toy pairs can be prepared in advance: see grader/judging/gates.py
@gated_by("test_drawn_pairs_learned")
def test_toy_pairs_learned(judge, reference, verifier, details):
    """After training, hello→hola, cat→gato and good→bueno are all translated (4 seeds)"""
    got, want = train_on_the_references_batches(judge, reference, TOY_TRAINING)
    words, targets = [word for word, _ in TOY_PAIRS], [target for _, target in TOY_PAIRS]
    got, want = (
        measured_runs(verifier, result["runs"], "translations", words=words, n_step=5, emb=16, hidden=32)
        for result in (got, want)
    )
    verdict = judge_training(
        got, want, converged=lambda run: run["translations"] == targets, what="training on the toy pairs"
    )
    verdict.enforce(details)
