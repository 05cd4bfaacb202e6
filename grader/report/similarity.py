"""Code similarity between submissions of one assignment: winnowed fingerprints, as MOSS computes them.

Why our own and not a library: the one maintained Python package for this (copydetect) brings a
web report and its own tokenizer for many languages; what the grader needs is forty lines over
Python's own ``tokenize``. Names become ``N``, numbers ``0`` and strings ``S``, so renaming variables
or reformatting changes nothing; comments and layout are dropped. Each run of ``K`` such tokens is
hashed, and in every window of ``W`` consecutive hashes the smallest is kept (winnowing: any match of
``K + W - 1`` tokens or more is found, and fingerprints stay few). The stub's fingerprints are
removed from every submission first: code the course handed out is no evidence of copying.

A pair's score is the share of the smaller submission's own fingerprints (stub excluded) found in the
other. It ranks pairs for a human to look at; it never changes a grade.
"""

from __future__ import annotations

import hashlib
import io
import keyword
import re
import tokenize
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import combinations

K = 12  # tokens per hashed run: a statement or two
W = 8  # winnowing window: every shared run of K + W - 1 = 19 tokens is certainly found
MIN_FINGERPRINTS = 8  # fewer of its own than this (stub-only work): too little to compare
KEPT_NAMES = frozenset(keyword.kwlist) | {"self", "np", "torch", "nn", "F", "print", "range", "len", "zip"}
_FALLBACK_TOKEN = re.compile(r"[A-Za-z_]\w*|\d[\w.]*|\S")


@dataclass(frozen=True)
class Token:
    text: str
    line: int


@dataclass
class Fingerprints:
    """One submission's fingerprints: hash -> the source lines each occurrence spans."""

    hashes: dict[int, list[tuple[int, int]]] = field(default_factory=dict)

    def own(self, boilerplate: set[int]) -> set[int]:
        return set(self.hashes) - boilerplate


@dataclass(frozen=True)
class SimilarPair:
    first: str
    second: str
    score: float  # 0..1: share of the smaller one's own fingerprints found in the other
    shared: int  # fingerprints in common
    first_lines: tuple[int, ...]  # lines of the first submission in a shared region
    second_lines: tuple[int, ...]


def tokens(source: str) -> list[Token]:
    """Normalised tokens: names (except keywords and a few library names) as N, numbers 0, strings S.

    Code that stops tokenizing (an unclosed bracket or string) keeps the tokens read before the error;
    the lines after it are split more roughly, so a syntax error hides nothing from the comparison.
    """
    found: list[Token] = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.NAME:
                found.append(Token(tok.string if tok.string in KEPT_NAMES else "N", tok.start[0]))
            elif tok.type == tokenize.NUMBER:
                found.append(Token("0", tok.start[0]))
            elif tok.type == tokenize.STRING or tok.type == getattr(tokenize, "FSTRING_START", -1):
                found.append(Token("S", tok.start[0]))
            elif tok.type == tokenize.OP:
                found.append(Token(tok.string, tok.start[0]))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        last = found[-1].line if found else 0
        for number, line in enumerate(source.splitlines()[last:], start=last + 1):
            for match in _FALLBACK_TOKEN.finditer(line.split("#", 1)[0]):
                text = match.group()
                kept = text if not (text[0].isalpha() or text[0] == "_") or text in KEPT_NAMES else "N"
                found.append(Token("0" if text[0].isdigit() else kept, number))
    return found


def _hash(run: Iterable[Token]) -> int:
    digest = hashlib.blake2b(" ".join(t.text for t in run).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def fingerprint(source: str) -> Fingerprints:
    toks = tokens(source)
    runs = [(_hash(toks[i : i + K]), toks[i].line, toks[i + K - 1].line) for i in range(len(toks) - K + 1)]
    kept = Fingerprints()
    chosen: set[int] = set()
    for start in range(max(len(runs) - W + 1, 1 if runs else 0)):
        window = runs[start : start + W]
        smallest = min(range(len(window)), key=lambda i: (window[i][0], -i))  # rightmost smallest
        position = start + smallest
        if position not in chosen:
            chosen.add(position)
            value, first, last = runs[position]
            kept.hashes.setdefault(value, []).append((first, last))
    return kept


def rank_pairs(
    sources: Mapping[str, str], stub: str = "", *, threshold: float = 0.5, limit: int = 20
) -> list[SimilarPair]:
    """The most similar pairs among ``sources`` (student -> code), the stub's own code excluded."""
    boilerplate = set(fingerprint(stub).hashes) if stub else set()
    prints = {student: fingerprint(code) for student, code in sources.items()}
    own = {student: p.own(boilerplate) for student, p in prints.items()}
    pairs = []
    for first, second in combinations(sorted(prints), 2):
        smaller = min(len(own[first]), len(own[second]))
        if smaller < MIN_FINGERPRINTS:
            continue
        common = own[first] & own[second]
        score = len(common) / smaller
        if score >= threshold:
            pairs.append(
                SimilarPair(
                    first,
                    second,
                    round(score, 3),
                    len(common),
                    _lines(prints[first], common),
                    _lines(prints[second], common),
                )
            )
    pairs.sort(key=lambda pair: (-pair.score, -pair.shared, pair.first, pair.second))
    return pairs[:limit]


def _lines(prints: Fingerprints, common: set[int]) -> tuple[int, ...]:
    lines: set[int] = set()
    for value in common:
        for first, last in prints.hashes[value]:
            lines.update(range(first, last + 1))
    return tuple(sorted(lines))


def render_pair(pair: SimilarPair, first_source: str, second_source: str, assignment: str) -> str:
    """A side-by-side page of the two submissions, shared regions highlighted."""
    from grader.report.pages import environment

    sides = [
        (pair.first, first_source.splitlines(), set(pair.first_lines)),
        (pair.second, second_source.splitlines(), set(pair.second_lines)),
    ]
    return environment().get_template("similarity_pair.html.j2").render(pair=pair, sides=sides, assignment=assignment)
