"""Code similarity: copies survive renaming and reformatting; the stub and independent work are not flagged."""

from __future__ import annotations

import re
from pathlib import Path

from grader.report.similarity import fingerprint, rank_pairs, render_pair

REPO = Path(__file__).resolve().parents[1]
REFERENCE = (REPO / "solutions/a1_srn_numpy/srn.py").read_text()
STUB = (REPO / "student_template/a1_srn_numpy/srn.py").read_text()
# An implementation written independently of the reference (tests/test_a1_srn.py grades it 100).
INDEPENDENT = (REPO / "tests/test_a1_srn.py").read_text().split("STUDENT_SRN = '''", 1)[1].split("'''", 1)[0]


def renamed(source: str) -> str:
    for old, new in (("h_prev", "previous"), ("W_ih", "weights_in"), ("dh_next", "carry"), ("cache", "memo")):
        source = re.sub(rf"\b{old}\b", new, source)
    return source


def reformatted(source: str) -> str:
    """Other layout, same tokens: comments gone, spaces after commas dropped, blank lines doubled."""
    lines = [line.split("  #", 1)[0].rstrip() for line in source.splitlines()]
    return "\n\n".join(line.replace(", ", ",") for line in lines if not line.lstrip().startswith("#"))


def test_copied_pairs_rank_first_and_the_stub_is_not_evidence():
    sources = {
        "alice": REFERENCE,
        "bob": renamed(REFERENCE),
        "carol": INDEPENDENT,
        "dave": reformatted(INDEPENDENT),
        "erin": STUB,
        "frank": STUB,
    }
    pairs = rank_pairs(sources, STUB, threshold=0.0)
    top = {frozenset((pair.first, pair.second)) for pair in pairs[:2]}
    assert top == {frozenset(("alice", "bob")), frozenset(("carol", "dave"))}, pairs
    assert all(pair.score > 0.9 for pair in pairs[:2])
    assert not any({"erin", "frank"} & {pair.first, pair.second} for pair in pairs), "stub-only work is not compared"
    independent = [pair for pair in pairs if {pair.first, pair.second} == {"alice", "carol"}]
    assert independent and independent[0].score < 0.5, "independent solutions of one handout are not flagged"
    assert {frozenset((p.first, p.second)) for p in rank_pairs(sources, STUB)} == top  # the default threshold


def test_code_that_does_not_tokenize_is_still_compared():
    broken = REFERENCE.replace("def rnn_step(", "def rnn_step(((", 1) + '\n"""unterminated'
    assert len(fingerprint(broken).hashes) > 50
    (pair,) = rank_pairs({"a": REFERENCE, "b": broken}, STUB)
    assert pair.score > 0.9


def test_the_side_by_side_page_highlights_shared_lines_and_escapes_code():
    hostile = renamed(REFERENCE) + "\n# </div><script>alert(1)</script>\n"
    (pair,) = rank_pairs({"alice": REFERENCE, "bob": hostile}, STUB)
    page = render_pair(pair, REFERENCE, hostile, "a1_srn_numpy")
    assert "<script>alert" not in page and "&lt;script&gt;" in page
    assert page.count('class="shared"') == len(pair.first_lines) + len(pair.second_lines)
    rnn_step = 1 + REFERENCE.splitlines().index(next(line for line in REFERENCE.splitlines() if "def rnn_step" in line))
    assert rnn_step in pair.first_lines
