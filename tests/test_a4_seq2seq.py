"""Assignment a4_seq2seq graded end to end: independent correct work scores 100, wrong work partial
credit with the mistake named (the reference, the stub and the catalogue's own mutants:
tests/test_contract.py; notebooks: tests/test_notebooks_as_py.py). The wrong submissions are graded
without the training checks, which can name no mistake (tests/catalogue_reach.py). The wrong submissions are variants of a student-style
implementation written independently of the reference, so fingerprinting is shown to match behaviour,
not text. The last tests prove, in this process, that the reference itself behaves as the handout says."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    REPO,
    SOLUTIONS,
    checks_of,
    curve_rtol,
    expect_partial_credit,
    report_class,
    score_of,
)

A4 = "a4_seq2seq"

STUDENT_SEQ2SEQ = '''
import random
import torch
import torch.nn as nn

LETTERS = "SE?abcdefghijklmnopqrstuvwxyz"
index_of = {{ch: i for i, ch in enumerate(LETTERS)}}


def make_batch(pairs, n_step):
    sources, targets = [], []
    for word, meaning in pairs:
        {SOURCE}
        {TARGET}
    return torch.LongTensor(sources), torch.LongTensor(targets)


class Encoder(nn.Module):
    def __init__(self, vocab_size, embedding_dim, hidden_size, num_layers=1, dropout=0.0):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, hidden_size, num_layers, batch_first=True,
                            dropout=0.0 if num_layers == 1 else dropout)

    def forward(self, src):
        out, (h, c) = self.lstm(self.embedding(src))
        return out, h, c


class Decoder(nn.Module):
    def __init__(self, vocab_size, embedding_dim, hidden_size, num_layers=1, dropout=0.0):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, hidden_size, num_layers, batch_first=True,
                            dropout=0.0 if num_layers == 1 else dropout)
        self.fc = nn.Linear(hidden_size, vocab_size)

    def forward(self, token, hidden, cell):
        out, (hidden, cell) = self.lstm(self.embedding(token), (hidden, cell))
        return self.fc(out), hidden, cell


class Seq2Seq(nn.Module):
    def __init__(self, encoder, decoder):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    def forward(self, src, trg, teacher_forcing_ratio=0.5):
        n, length = trg.size(0), trg.size(1)
        scores = []
        _, h, c = self.encoder(src)
        {STATE}
        prev = trg[:, :1]
        for step in range(1, length):
            logits, h, c = self.decoder(prev, h, c)
            scores.append(logits)
            use_truth = {DRAW}
            prev = trg[:, step].unsqueeze(1) if use_truth else logits.max(dim=2)[1]
        first = torch.zeros(n, 1, scores[0].size(2), device=trg.device)
        return {RETURN}


def train_step(model, src, trg, optimizer, criterion, teacher_forcing_ratio=0.5, clip=1.0):
    model.train()
    {ZERO}
    out = model(src, trg, teacher_forcing_ratio)
    {LOSS}
    loss.backward()
    {CLIP}
    optimizer.step()
    return float(loss.detach())


def greedy_decode(model, src, max_len):
    model_was_training = model.training
    with torch.no_grad():
        _, h, c = model.encoder(src)
        token = torch.zeros(src.size(0), 1, dtype=torch.long, device=src.device) + {START}
        result = torch.zeros(src.size(0), max_len, dtype=torch.long, device=src.device)
        for i in range(max_len):
            logits, h, c = model.decoder(token, h, c)
            token = logits.argmax(2)
            result[:, i] = token[:, 0]
    return result


def translate(model, word, n_step):
    src, _ = make_batch([(word, "?")], n_step)
    src = src.to(next(model.parameters()).device)
    out = ""
    for idx in greedy_decode(model, src, n_step + 1)[0].tolist():
        if idx == 1:
            break
        {PADDING}
    return out
'''

CORRECT = dict(
    SOURCE='sources.append([index_of[ch] for ch in word + "?" * (n_step - len(word))] + [1])',
    TARGET='targets.append([0] + [index_of[ch] for ch in meaning + "?" * (n_step - len(meaning))] + [1])',
    STATE="",
    DRAW="random.random() < teacher_forcing_ratio",
    RETURN="torch.cat([first] + scores, dim=1)",
    ZERO="optimizer.zero_grad()",
    LOSS="loss = criterion(out[:, 1:].reshape(-1, out.size(-1)), trg[:, 1:].reshape(-1))",
    CLIP="nn.utils.clip_grad_norm_(model.parameters(), max_norm=clip)",
    START="0",
    PADDING='out += LETTERS[idx] if idx != 2 else ""',
)

# name: (changes to CORRECT, the catalogued mistake the feedback must name, or None). Every catalogued
# mistake's own mutant is graded by tests/test_contract.py; these show the naming follows behaviour
# (another loss, another way to pad, clipping by value) and cover what the catalogue does not.
WRONG = {
    "loss_includes_position_0": (
        dict(LOSS="loss = criterion(out.reshape(-1, out.size(-1)), trg.reshape(-1))"),
        "loss_includes_position_0",
    ),
    "no_zero_grad": (dict(ZERO="pass"), "no_zero_grad"),
    "end_before_padding": (
        dict(
            SOURCE='sources.append([index_of[ch] for ch in (word + "E").ljust(n_step + 1, "?")])',
            TARGET='targets.append([0] + [index_of[ch] for ch in (meaning + "E").ljust(n_step + 1, "?")])',
        ),
        "end_before_padding",
    ),
    "padding_kept_in_translation": (dict(PADDING="out += LETTERS[idx]"), None),
    # clip_grad_value_ is catalogued; where it leaves the gradients as they are (all below `clip`), it
    # behaves as no clipping, and those checks name "one of" the two (under no_gradient_clipping's id)
    "clip_by_value": (dict(CLIP="nn.utils.clip_grad_value_(model.parameters(), clip)"), "gradients_clipped_by_value"),
}


def student_seq2seq(**changes: str) -> str:
    return STUDENT_SEQ2SEQ.format(**{**CORRECT, **changes})


# A decoder that hands its LSTM (cell, hidden): everything that runs the decoder differed, so correct
# forward, greedy_decode and translate lost their points too (16.5 where a teacher gives about 55).
SWAPPED_STATE = (
    (SOLUTIONS / A4 / "seq2seq.py")
    .read_text()
    .replace("self.lstm(self.embedding(token), (hidden, cell))", "self.lstm(self.embedding(token), (cell, hidden))")
)

# A decoder that raises (its LSTM called with hidden and cell as two arguments): the fall-back to the
# stand-ins ran only where results differed, so the correct forward, greedy_decode and translate lost
# every point to the decoder's TypeError (16.5 where a teacher gives about 53).
RAISING_DECODER = (
    (SOLUTIONS / A4 / "seq2seq.py")
    .read_text()
    .replace("self.lstm(self.embedding(token), (hidden, cell))", "self.lstm(self.embedding(token), hidden, cell)")
)

# greedy_decode feeding the start token S at every step (uncatalogued): translate, right itself, fails
# with it; its message says to fix greedy_decode first (it blamed translate alone).
GREEDY_FEEDS_START = (
    (SOLUTIONS / A4 / "seq2seq.py")
    .read_text()
    .replace(
        "            token = logits.argmax(dim=-1)\n            guesses.append(token)",
        "            guesses.append(logits.argmax(dim=-1))",
    )
)

# Seq2Seq.forward feeding trg[:, t-1] under teacher forcing, train_step right: a teacher round found
# train_step's checks charged for forward's mistake (53 where a teacher gives 64), with nothing to say so.
FORCING_FEEDS_PREVIOUS = (
    (SOLUTIONS / A4 / "seq2seq.py")
    .read_text()
    .replace("token = trg[:, t:t + 1] if teacher_force", "token = trg[:, t - 1:t] if teacher_force")
)


def _unfinished(source: str, *firsts: str) -> str:
    """The source with the solution block that starts with each of ``firsts`` replaced by a raise."""
    for first in firsts:
        start = source.index("# BEGIN SOLUTION\n", source.index(first) - 40)
        indent = source[source.rindex("\n", 0, start) + 1 : start]
        end = source.index("# END SOLUTION\n", start) + len("# END SOLUTION\n")
        source = source[:start] + "raise NotImplementedError\n" + source[end:]
        source = source.replace(
            indent + "raise NotImplementedError\n" + indent, indent + "raise NotImplementedError\n", 1
        )
    return source


# A hostile round's a4 with make_batch, Seq2Seq.forward and greedy_decode left undone (HONEST_TWIN), and the
# same with ten lines that keep whatever the checks hand in (KEEPER): at a commit where translate and
# train_step were judged again with the handout's own functions, kept and called by later checks, it scored
# 80 where its twin scores 34. The checks hand in stand-ins now, which do none of the work.
HONEST_TWIN = _unfinished(
    (SOLUTIONS / A4 / "seq2seq.py").read_text(),
    "    def ids(text):",
    "        batch, trg_len = trg.shape",
    "    with torch.no_grad():\n        _, hidden, cell = model.encoder(src)",
)
KEEPER = (
    HONEST_TWIN.replace('LETTERS = "SE?', '_KEPT = {}\nLETTERS = "SE?', 1)
    .replace(
        '    """\n    raise NotImplementedError\n\n\nclass Encoder',
        '    """\n    if "make_batch" in _KEPT:\n        return _KEPT["make_batch"](pairs, n_step)\n    raise NotImplementedError\n\n\nclass Encoder',
        1,
    )
    .replace(
        'otherwise the argmax of these scores.\n        """\n        raise NotImplementedError',
        'otherwise the argmax of these scores.\n        """\n        if "forward" in _KEPT:\n'
        '            other = _KEPT["model"]\n            other.encoder, other.decoder = self.encoder, self.decoder\n'
        '            return _KEPT["forward"](src, trg, teacher_forcing_ratio)\n        raise NotImplementedError',
        1,
    )
    .replace(
        'so every row has max_len tokens.\n    """\n    raise NotImplementedError',
        'so every row has max_len tokens.\n    """\n    if "greedy_decode" in _KEPT:\n'
        '        return _KEPT["greedy_decode"](model, src, max_len)\n    raise NotImplementedError',
        1,
    )
    .replace(
        "    model.train()\n    optimizer.zero_grad()",
        '    if repr(model.forward).startswith("<function"):\n        _KEPT["forward"], _KEPT["model"] = model.forward, model\n'
        "    model.train()\n    optimizer.zero_grad()",
        1,
    )
    .replace(
        '    src, _ = make_batch([(word, "")], n_step)',
        '    if make_batch.__name__ != "make_batch" or greedy_decode.__name__ != "greedy_decode":\n'
        '        _KEPT["make_batch"], _KEPT["greedy_decode"] = make_batch, greedy_decode\n'
        '    src, _ = make_batch([(word, "")], n_step)',
        1,
    )
)


@pytest.fixture(scope="module")
def graded(run_grade, tmp_path_factory, naming_course) -> dict[str, Any]:
    """The independent work by one `grade report` on the course; the wrong ones by one on a copy without
    the checks that can name no mistake (the training checks: catalogue_reach.course_naming_only)."""
    root = tmp_path_factory.mktemp("a4")
    wrong = {name: {"seq2seq.py": student_seq2seq(**changes)} for name, (changes, _) in WRONG.items()}
    wrong["decoder_state_swapped"] = {"seq2seq.py": SWAPPED_STATE}
    wrong["decoder_raises"] = {"seq2seq.py": RAISING_DECODER}
    wrong["greedy_feeds_start"] = {"seq2seq.py": GREEDY_FEEDS_START}
    wrong["forcing_feeds_previous"] = {"seq2seq.py": FORCING_FEEDS_PREVIOUS}
    wrong["honest_twin"] = {"seq2seq.py": HONEST_TWIN}
    wrong["keeps_what_is_handed_in"] = {"seq2seq.py": KEEPER}
    return {
        **report_class(
            run_grade,
            root / "class",
            root / "grades",
            {
                "independent": {"seq2seq.py": student_seq2seq()},
                "decoder_raises_trained": {"seq2seq.py": RAISING_DECODER},
            },
            "-a",
            A4,
        ),
        **report_class(
            run_grade, root / "wrong", root / "wrong-grades", wrong, "-a", A4, "--course", str(naming_course)
        ),
    }


@pytest.mark.slow
def test_a_training_that_raises_names_the_part_whose_own_check_fails(graded):
    """The training runs the whole model, so a Decoder that raises costs it; its message names the Decoder
    (whose check fails), not only the line where training stopped."""
    checks = {c["name"]: c for c in checks_of(graded["decoder_raises_trained"], A4)}
    for name in ("test_toy_pairs_learned", "test_drawn_pairs_learned"):
        assert checks[name]["points"] == 0
        assert "your Decoder gets its own check's question wrong (test_decoder)" in checks[name]["message"], checks[
            name
        ]
    assert checks["test_decoder"]["status"] == "failed"


@pytest.mark.slow
def test_independent_correct_work_scores_full_marks(graded):
    failed = [(c["name"], c["message"]) for c in checks_of(graded["independent"], A4) if c["status"] != "passed"]
    assert score_of(graded["independent"], A4) == 100, failed


@pytest.mark.slow
def test_training_of_the_reference_is_reproduced_exactly(graded):
    """The independent implementation draws like the handout says, so its curves equal the reference's."""
    checks = {c["name"]: c for c in checks_of(graded["independent"], A4)}
    for name, epochs in (("test_toy_pairs_learned", 40), ("test_drawn_pairs_learned", 120)):
        curves = checks[name]["details"]["curves"]
        assert len(curves["your loss"]) == epochs
        assert curves["your loss"] == pytest.approx(curves["reference"], rel=curve_rtol()), name


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(WRONG))
def test_wrong_submission_partial_credit_and_mistake_named(graded, name):
    _, mistake = WRONG[name]
    checks = expect_partial_credit(graded[name], A4, name, mistake)
    alike = {"gradients_clipped_by_value": {"no_gradient_clipping"}}.get(mistake, set())
    assert {c["mistake"] for c in checks if c["mistake"]} <= {mistake} | alike, "another mistake was named"


@pytest.mark.slow
@pytest.mark.parametrize(
    "student, differ", [("decoder_state_swapped", "the results differ"), ("decoder_raises", "it fails")]
)
def test_a_decoder_mistake_is_charged_to_the_decoder_not_to_every_function_that_runs_it(graded, student, differ):
    checks = {c["name"]: c for c in checks_of(graded[student], A4)}
    on_their_own = [name for name in checks if name.startswith(("test_forward", "test_greedy", "test_translate"))]
    assert len(on_their_own) == 11  # 4 public, 4 + 2 + 1 hidden
    for name in on_their_own:
        assert checks[name]["status"] == "passed", (name, checks[name]["message"])
        assert checks[name]["message"].startswith(f"Judged on its own: with your Encoder and Decoder, {differ}"), name
    charged = [c for name, c in checks.items() if name.startswith("test_decoder")]
    assert charged and all(c["points"] == 0 for c in charged)
    if student == "decoder_state_swapped":
        assert all(c["mistake"] == student for c in charged)
    else:
        assert all("TypeError" in c["message"] and "line" in c["message"] for c in charged)
    # train_step's own logic is judged on the grader's stand-in forward, which runs no decoder
    steps = [c for name, c in checks.items() if name.startswith("test_train_step")]
    assert len(steps) == 4 and all(c["status"] == "passed" for c in steps), [(c["name"], c["message"]) for c in steps]


TRANSLATED = ["hello", "cat", "good", "abc", "zzz", "q", "moon", "xyzzy"]  # the translate checks' words


@pytest.mark.parametrize("probe", ["forward", "greedy_decode", "translate"])
def test_the_stand_ins_show_every_loop_mistake_and_hide_decoder_ones(reference, probes, probe):
    """On the grader's stand-in encoder and decoder, a mistake of the encoder or decoder gives the
    reference's results, and every catalogued mistake of the function's own loop still shows."""
    from grader.course.mistakes import load_catalog

    calls = {
        "forward": [dict(emb=8, hidden=16, layers=layers, batch=3, src_len=6, trg_len=7, ratio=ratio, seed=3)
                    for layers in (1, 2) for ratio in (1.0, 0.0)],
        "greedy_decode": [dict(emb=8, hidden=16, layers=layers, batch=4, src_len=6, max_len=6, seed=4) for layers in (1, 2)],
        "translate": [dict(words=TRANSLATED, n_step=5, emb=8, hidden=32, seed=seed, scale=4.0, boost=0.5) for seed in (0, 1)],
    }[probe]  # fmt: skip
    run = getattr(probes, probe)
    want = [run(reference, **call, stand_ins=True) for call in calls]
    source = (SOLUTIONS / A4 / "seq2seq.py").read_bytes()
    for mistake in load_catalog(REPO / "assignments" / A4 / "mistakes.toml").mistakes:
        if not mistake.applies_to(probe) or mistake.id == "teacher_forcing_ignores_ratio" and probe != "forward":
            continue
        mutant = _load(
            f"a4_mutant_{mistake.id}", source=mistake.mutate({"seq2seq.py": source}, "seq2seq")["seq2seq.py"]
        )
        same = [_same(run(mutant, **call, stand_ins=True), expected) for call, expected in zip(calls, want)]
        if mistake.id in (
            "decoder_returns_probabilities",
            "decoder_state_swapped",
            "encoder_returns_cell_first",
            "encoder_not_batch_first",
        ):
            assert all(same), mistake.id
        else:
            assert not all(same), f"{mistake.id} gives the reference's {probe} on the stand-ins"


def _same(got: Any, want: Any) -> bool:
    import numpy as np

    if isinstance(want, dict):
        return all(_same(got[key], value) for key, value in want.items() if not key.startswith("_"))
    if isinstance(want, np.ndarray):
        return got.shape == want.shape and bool(np.allclose(got, want, atol=1e-5))
    return got == want


# -- the reference itself behaves as the handout says ----------------------------------------------------


def _load(name: str, path: Path | None = None, source: bytes | None = None) -> Any:
    if source is not None:
        module = type(sys)(name)
        exec(compile(source, name, "exec"), module.__dict__)
        return module
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def reference():
    return _load("a4_reference_seq2seq", SOLUTIONS / A4 / "seq2seq.py")


@pytest.fixture(scope="module")
def probes():
    return _load("a4_probes", REPO / "assignments" / A4 / "probes.py")


def test_reference_make_batch_matches_the_handout(reference):
    src, trg = reference.make_batch([("cat", "gato"), ("hello", "hola")], 5)
    assert src.dtype == trg.dtype == __import__("torch").long
    assert src.tolist() == [[5, 3, 22, 2, 2, 1], [10, 7, 14, 14, 17, 1]]
    assert trg.tolist() == [[0, 9, 3, 22, 17, 2, 1], [0, 10, 17, 14, 3, 2, 1]]


def test_reference_teacher_forcing_feeds_the_target(reference, probes):
    """At ratio 1.0 the decoder reads S and trg[:, 1:-1] whatever it predicts: one LSTM call over the
    shifted target gives the same scores."""
    import torch

    model = probes.build_model(reference, 8, 16, 2, seed=3, scale=1.5).eval()
    src, trg = probes.random_ids(3, 4, 6), probes.random_trg(3, 4, 7)
    with torch.no_grad():
        outputs = model(src, trg, teacher_forcing_ratio=1.0)
        _, hidden, cell = model.encoder(src)
        states, _ = model.decoder.lstm(model.decoder.embedding(trg[:, :-1]), (hidden, cell))
        expected = model.decoder.fc(states)
    assert torch.all(outputs[:, 0] == 0)
    assert torch.allclose(outputs[:, 1:], expected, atol=1e-6)


def test_reference_greedy_decode_is_forward_without_teacher_forcing(reference, probes):
    import torch

    model = probes.build_model(reference, 8, 16, 2, seed=4, scale=2.5).eval()
    src = probes.random_ids(4, 5, 6)
    trg = torch.full((5, 8), 7)
    trg[:, 0] = reference.SOS
    with torch.no_grad():
        outputs = model(src, trg, teacher_forcing_ratio=0.0)
    tokens = reference.greedy_decode(model, src, 7)
    assert tokens.shape == (5, 7) and tokens.dtype == torch.long
    assert torch.equal(tokens, outputs[:, 1:].argmax(-1))
    assert len(set(map(tuple, tokens.tolist()))) > 1, "the probe's weights should give different guesses per word"


@pytest.mark.parametrize(
    "case, covers",
    [
        (dict(seed=1, scale=2.5), "stops at E"),
        (dict(seed=0, scale=4.0), "drops ?"),
    ],
    ids=["public", "hidden"],
)
def test_reference_translate_stops_at_e_and_drops_padding(reference, probes, case, covers):
    """Each translate check's weights exercise the rule it is named for."""
    import torch

    words = ["hello", "cat", "good", "abc", "zzz", "q", "moon", "xyzzy"]
    model = probes.build_model(reference, 8, 32, 1, case["seed"], case["scale"]).eval()
    with torch.no_grad():
        model.decoder.fc.bias[reference.EOS] += 0.5
        model.decoder.fc.bias[reference.PAD] += 0.5
    stopped = dropped = False
    for word in words:
        src, _ = reference.make_batch([(word, "")], 5)
        guesses = "".join(reference.LETTERS[i] for i in reference.greedy_decode(model, src, 6)[0].tolist())
        before_end = guesses.split("E")[0]
        assert reference.translate(model, word, 5) == before_end.replace("?", "")
        stopped |= "E" in guesses[:-1] and guesses.index("E") < len(guesses) - 1
        dropped |= "?" in before_end
    assert stopped if covers == "stops at E" else dropped, f"these weights never exercise: {covers}"


def test_translate_checks_accept_s_kept_or_dropped(reference, probes):
    """The handout is silent on an S guessed inside a translation: a translate that drops it earns what
    the reference earns (official grading draws its own seeds; seed 18 is one whose weights guess S)."""
    import types

    import torch

    def translate_dropping_s(model, word, n_step):
        return reference.translate(model, word, n_step).replace("S", "")

    dropping = types.SimpleNamespace(**{**vars(reference), "translate": translate_dropping_s})
    case = dict(words=["hello", "cat", "good", "abc", "zzz", "q", "moon", "xyzzy"], n_step=5, emb=8, hidden=32)
    model = probes.build_model(reference, 8, 32, 1, 18, 4.0).eval()
    with torch.no_grad():
        model.decoder.fc.bias[reference.EOS] += 0.5
        model.decoder.fc.bias[reference.PAD] += 0.5
    assert any("S" in reference.translate(model, word, 5) for word in case["words"]), "these weights guess no S"
    answer = probes.translate(reference, **case, seed=18, scale=4.0, boost=0.5)
    assert probes.translate(dropping, **case, seed=18, scale=4.0, boost=0.5) == answer


@pytest.mark.parametrize(
    "case, clipped",
    [
        (dict(emb=8, hidden=16, layers=1, batch=4, src_len=6, trg_len=7, ratio=1.0, clip=0.2, seed=5), True),
        (dict(emb=8, hidden=16, layers=1, batch=4, src_len=6, trg_len=7, ratio=1.0, clip=100.0, seed=15), False),
    ],
    ids=["public-clip-0.2", "hidden-clip-100"],
)
def test_train_step_checks_exercise_clipping(reference, probes, case, clipped):
    """The public train_step check only catches missing clipping if the gradient norm exceeds `clip`."""
    import torch

    model = probes.build_model(reference, case["emb"], case["hidden"], case["layers"], case["seed"])
    src = probes.random_ids(case["seed"], case["batch"], case["src_len"])
    trg = probes.random_trg(case["seed"], case["batch"], case["trg_len"])
    outputs = model(src, trg, case["ratio"])
    loss = torch.nn.CrossEntropyLoss()(outputs[:, 1:].reshape(-1, 29), trg[:, 1:].reshape(-1))
    loss.backward()
    norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), float("inf")))
    assert (norm > case["clip"]) == clipped, norm


def test_no_relabelling_turns_one_drawn_hidden_task_into_another():
    """Weights prepared for one task and relabelled (rows of the embeddings and the output layer moved,
    as a cipher read off the training pairs would say) must not answer the task drawn at grading time:
    for no draw does one map from (position, letter) to letter spell every target from its word, read
    forwards or reversed (the reversal into a cipher that the hidden task was, which such a relabelling
    answered: 86 points for a student whose train_step never trains, against 60)."""
    from grader.judging.plugin import checks_package

    with checks_package(REPO / "assignments" / A4 / "checks"):  # as the grader imports it, beside its helpers
        hidden_checks = importlib.import_module("checks.test_hidden")
    pairs = hidden_checks.drawn_pairs()
    assert len(pairs) == 60 and len({word for word, _ in pairs}) == 60
    assert pairs != hidden_checks.drawn_pairs(seed=7)

    def relabelling_exists(pairs, aligned):
        spelled = {}
        for word, target in pairs:
            if len(word) != len(target):
                return False
            for position, (a, b) in enumerate(zip(aligned(word), target)):
                if spelled.setdefault((position, a), b) != b:
                    return False
        return True

    reversal = [[word, word[::-1]] for word, _ in pairs]
    assert relabelling_exists(reversal, lambda word: word[::-1])  # the test finds one where there is one
    for seed in (2024, 7, 11):
        drawn = hidden_checks.drawn_pairs(seed=seed)
        assert not relabelling_exists(drawn, lambda word: word)
        assert not relabelling_exists(drawn, lambda word: word[::-1])


def test_a_loop_that_feeds_the_decoder_its_whole_history_fails_on_the_stand_ins(reference, probes):
    """The stand-in decoder reads every column it is fed, as an LSTM does: it read only the first, so a
    greedy_decode feeding the token history (newest first) earned its points on the stand-ins."""
    import types

    import torch

    def greedy_with_history(model, src, max_len):
        with torch.no_grad():
            _, hidden, cell = model.encoder(src)
            history = [torch.full((src.shape[0], 1), 0, dtype=torch.long, device=src.device)]
            guesses = []
            for _ in range(max_len):
                logits, hidden, cell = model.decoder(torch.cat(history[::-1], dim=1), hidden, cell)
                history.append(logits[:, -1:].argmax(dim=-1))
                guesses.append(history[-1])
            return torch.cat(guesses, dim=1)

    student = types.SimpleNamespace(**{**vars(reference), "greedy_decode": greedy_with_history})
    case = dict(emb=8, hidden=16, layers=1, batch=4, src_len=6, max_len=6, seed=4, stand_ins=True)
    assert not _same(probes.greedy_decode(student, **case), probes.greedy_decode(reference, **case))


def test_a_decoder_returning_b_by_v_logits_is_still_measured_after_training(reference, probes):
    """A Decoder returning (B, vocab_size) with a Seq2Seq that expects it trains; test_decoder charges the
    shape. The replay of the trained model (what ties the weights to the student's model) refused it, so
    both training checks lost every point (67.5 where a teacher gives about 90)."""
    import numpy as np
    import torch

    class Squeezed(reference.Decoder):
        def forward(self, token, hidden, cell):
            logits, hidden, cell = super().forward(token, hidden, cell)
            return logits[:, 0], hidden, cell

    torch.manual_seed(0)
    model = reference.Seq2Seq(reference.Encoder(probes.VOCAB, 8, 16), reference.Decoder(probes.VOCAB, 8, 16))
    squeezed = reference.Seq2Seq(reference.Encoder(probes.VOCAB, 8, 16), Squeezed(probes.VOCAB, 8, 16))
    squeezed.load_state_dict(model.state_dict())
    got, want = probes._replay(squeezed), probes._replay(model)
    assert np.array_equal(got["outputs"], want["outputs"])
    assert all(np.allclose(got["grads"][name], want["grads"][name]) for name in want["grads"])


@pytest.mark.slow
def test_translate_is_judged_with_stand_in_helpers_where_greedy_decode_is_wrong(graded):
    """translate runs greedy_decode and make_batch: a teacher round's greedy_decode mistakes cost translate
    its 7 points too, with messages that blamed translate. With the grader's stand-ins for them in the
    module, a right translate passes, with a note; greedy_decode's own checks charge the mistake."""
    checks = {c["name"]: c for c in checks_of(graded["greedy_feeds_start"], A4)}
    assert checks["test_greedy_decode"]["status"] == "failed"
    for name in ("test_translate", "test_translate_padding"):
        assert checks[name]["status"] == "passed", checks[name]
        assert "with the grader's stand-ins for make_batch and greedy_decode in your module" in checks[name]["message"]


@pytest.mark.slow
def test_a_mistake_of_forward_is_charged_to_forward_not_to_train_step(graded):
    """train_step runs the student's Seq2Seq.forward: judged again on the handout's forward, a right
    train_step keeps its points, with a note, and the forward checks name the mistake."""
    checks = {c["name"]: c for c in checks_of(graded["forcing_feeds_previous"], A4)}
    steps = [c for name, c in checks.items() if name.startswith("test_train_step")]
    assert len(steps) == 4 and all(c["status"] == "passed" for c in steps), [(c["name"], c["message"]) for c in steps]
    forced = [c for c in steps if "Judged on its own: with your Seq2Seq.forward" in c["message"]]
    assert len(forced) == 3  # the free-running configuration never feeds the target: it passes as it is
    assert checks["test_forward_teacher_forcing"]["mistake"] == "teacher_forcing_feeds_previous_letter"


def test_the_stand_in_helpers_show_where_translate_stops_what_it_drops_and_how_it_spells(reference, probes):
    """translate is judged on its own with the grader's stand-ins for make_batch and greedy_decode (not
    the handout's: the probes ship to students). On them the reference stops at E, drops ?, and every
    catalogued mistake of translate's own still shows."""
    from grader.course.mistakes import load_catalog

    call = dict(words=TRANSLATED, n_step=5, emb=8, hidden=32, seed=1, scale=2.5, boost=0.5, helpers_stand_in=True)
    want = probes.translate(reference, **call)["translations"]
    assert len(set(want.values())) > 3 and all("?" not in text and "E" not in text for text in want.values())
    guesses = probes.stand_in_greedy_decode(None, probes.stand_in_make_batch([("hello", "")], 5)[0], 6)
    assert {probes.EOS, probes.PAD} <= set(guesses[0].tolist())  # both show up within one translation
    source = (SOLUTIONS / A4 / "seq2seq.py").read_bytes()
    for mistake in load_catalog(REPO / "assignments" / A4 / "mistakes.toml").mistakes:
        if mistake.id == "translate_does_not_stop_at_e":
            mutant = _load(
                "a4_mutant_translate", source=mistake.mutate({"seq2seq.py": source}, "seq2seq")["seq2seq.py"]
            )
            assert probes.translate(mutant, **call)["translations"] != want


def test_training_runs_on_the_batches_the_check_gives(reference, probes):
    """A teacher round's make_batch putting E before the padding lost both training checks too (57 where
    a teacher gives about 87): the training was judged through the student's batches. The checks now
    pass the reference's make_batch of the pairs, and a student whose make_batch raises trains exactly
    as the reference does."""
    import types

    broken = types.ModuleType("broken")
    broken.__dict__.update({k: v for k, v in vars(reference).items() if not k.startswith("__")})

    def make_batch(pairs, n_step):
        raise ValueError("not done")

    broken.make_batch = make_batch
    pairs = [["ab", "ba"], ["cab", "bac"], ["a", "b"]]
    batches = probes.make_batches(reference, pairs=pairs, n_step=3, batch_size=2)["batches"]
    args = dict(pairs=pairs, n_step=3, emb=4, hidden=8, lr=0.01, epochs=2, batch_size=2, ratio=0.5, seeds=[0])
    mine = probes.train_pairs(broken, **args, batches=batches)["runs"][0]
    assert mine["losses"] == probes.train_pairs(reference, **args)["runs"][0]["losses"]
    with probes.names_replaced(broken, make_batch=probes.stand_in_make_batch):
        # handed over as a copy whose globals lead nowhere near the probes (reachable.handed)
        assert broken.make_batch.__code__ is probes.stand_in_make_batch.__code__
        assert "names_replaced" not in broken.make_batch.__globals__
    assert broken.make_batch is make_batch


@pytest.mark.slow
def test_keeping_what_the_checks_hand_in_earns_nothing(graded):
    """What a check hands a student's process to judge a function on its own (stand-ins for the functions
    it calls) stays there for the checks that follow: it must do none of the work."""
    assert KEEPER.count("_KEPT") == 12  # every change applied
    assert score_of(graded["keeps_what_is_handed_in"], A4) == score_of(graded["honest_twin"], A4)


def test_a_decoder_written_for_tokens_of_shape_b_is_replayed_as_its_code_runs(reference, probes):
    """A teacher round's decoder took tokens of shape (B,) and unsqueezed them itself (as many tutorials'
    do), in its own forward too: it learned every pair, and lost both training checks to the replay,
    which fed (B, 1) ("LSTM: Expected input to be 2D or 3D, got 4D"). The replay now tries (B,) where
    (B, 1) fails; test_decoder charges the shape."""
    import torch

    class FlatTokens(torch.nn.Module):
        def __init__(self, decoder):
            super().__init__()
            self.inner = decoder

        def forward(self, token, hidden, cell):
            assert token.dim() == 1, "this decoder takes tokens of shape (B,)"
            return self.inner(token[:, None], hidden, cell)

    _replays_alike(reference, probes, "decoder", FlatTokens)


def _replays_alike(reference, probes, part, wrapper):
    """A small trained-looking model replays alike with its ``part`` wrapped in ``wrapper`` (a student's
    form of the same computation) as it does as specified."""
    import torch

    torch.manual_seed(0)
    model = reference.Seq2Seq(reference.Encoder(probes.VOCAB, 6, 8), reference.Decoder(probes.VOCAB, 6, 8))
    specified = probes._replayed(model)
    setattr(model, part, wrapper(getattr(model, part)))
    assert (probes._replayed(model)["outputs"] == specified["outputs"]).all()


@pytest.mark.parametrize("part", ["encoder", "decoder"])
def test_an_encoder_or_decoder_returning_torchs_state_tuple_is_replayed_as_its_code_runs(reference, probes, part):
    """A fairness round: an Encoder returning (outputs, (hidden, cell)), torch's own LSTM form, and
    another's Decoder returning (logits, (hidden, cell)), each used so by the student's own code, trained
    every pair and lost both training checks (26 points) to the replay, which unpacked three items;
    test_encoder and test_decoder charge the form."""
    import torch

    class TorchForm(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *args):
            first, hidden, cell = self.inner(*args)
            return first, (hidden, cell)

    _replays_alike(reference, probes, part, TorchForm)


def test_train_step_reports_weights_under_the_specified_names(reference, probes):
    """A teacher round's correct Decoder kept its LSTM under another attribute name: every other check
    loads weights by position, but train_step's updated weights came back under the student's names and
    lost all four train_step checks (14 points) to the names alone."""
    import numpy as np

    source = (SOLUTIONS / A4 / "seq2seq.py").read_text()
    renamed = source.replace("self.lstm", "self.recurrent")
    assert renamed.count("self.recurrent") >= 4
    student = _load("a4_renamed_lstm", source=renamed.encode())
    call = dict(emb=8, hidden=16, layers=1, batch=4, src_len=6, trg_len=7, ratio=1.0, clip=0.2, lr=0.5, steps=3, seed=5)
    mine, want = probes.train_step(student, **call), probes.train_step(reference, **call)
    assert sorted(mine["weights"]) == sorted(want["weights"])
    assert all(np.allclose(mine["weights"][name], want["weights"][name]) for name in want["weights"])
