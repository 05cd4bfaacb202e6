"""Mistake fingerprints: common mistakes kept as small patches to the reference solution.

Each entry of an assignment's ``mistakes.toml`` names a mistake, explains it for students, and gives
the edit that turns the reference into code making exactly that mistake. When a student's result is
wrong but equals the mutant's result for the same probe call, the feedback names the mistake. Being
patches of the reference, mutants cannot drift from it: a test checks that every patch still applies.

    [[mistake]]
    id = "missing_b_hh"
    title = "The recurrent bias b_hh is missing"
    explain = "h_t adds both biases: ... + b_ih + h_prev @ W_hh.T + b_hh"
    probes = ["step*", "forward*"]          # the probes it can explain (globs; default: all)
    [[mistake.patch]]
    find = "+ h_prev @ W_hh.T + b_hh"
    replace = "+ h_prev @ W_hh.T"
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class CatalogError(ValueError):
    """A catalog entry is malformed or its patch no longer applies to the reference."""


@dataclass(frozen=True)
class Patch:
    find: str
    replace: str
    file: str | None = None
    count: int = 1


@dataclass(frozen=True)
class Mistake:
    id: str
    title: str
    explain: str
    probes: tuple[str, ...] = ("*",)
    patches: tuple[Patch, ...] = field(default_factory=tuple)
    alternatives: tuple[Mistake, ...] = ()  # set by one_of(): the mistakes this one stands for

    def applies_to(self, probe: str) -> bool:
        return any(fnmatch.fnmatchcase(probe, pattern) for pattern in self.probes)

    def mutate(self, files: dict[str, bytes], module: str) -> dict[str, bytes]:
        """The reference's files with this mistake's patches applied."""
        mutated = dict(files)
        for patch in self.patches:
            name = patch.file or f"{module}.py"
            if name not in mutated:
                raise CatalogError(f"mistake {self.id!r}: the reference has no file {name}")
            text = mutated[name].decode("utf-8")
            found = text.count(patch.find)
            if found != patch.count:
                raise CatalogError(
                    f"mistake {self.id!r}: {patch.find!r} occurs {found} times in {name}, "
                    f"expected {patch.count}; update the patch to match the reference"
                )
            mutated[name] = text.replace(patch.find, patch.replace).encode("utf-8")
        return mutated

    def data_fingerprint(self) -> str:
        """Changes whenever the mutant's code changes (its patches), not with title or explain: part
        of the key of this mistake's expected data, so an edited patch never reuses the old results."""
        patches = [[p.find, p.replace, p.file, p.count] for p in self.patches]
        return hashlib.sha256(json.dumps(patches).encode()).hexdigest()[:16]

    def feedback(self) -> str:
        if self.alternatives:
            listed = " ".join(f"({n}) {m.feedback()}" for n, m in enumerate(self.alternatives, start=1))
            return (
                f"one of {len(self.alternatives)} known mistakes, which give the same result here "
                f"(this check cannot tell them apart): {listed}"
            )
        return f"{self.title}. {self.explain}".strip()


def one_of(mistakes: list[Mistake]) -> Mistake | None:
    """What to name when these mistakes all match the student's result: the only one, or, where the
    evidence cannot tell them apart, a mistake under the first one's id that names them all."""
    if len(mistakes) <= 1:
        return mistakes[0] if mistakes else None
    first = mistakes[0]
    title = "One of: " + "; ".join(m.title for m in mistakes)
    return Mistake(first.id, title, "", first.probes, first.patches, alternatives=tuple(mistakes))


@dataclass(frozen=True)
class Catalog:
    mistakes: tuple[Mistake, ...] = ()

    def for_probe(self, probe: str) -> list[Mistake]:
        return [m for m in self.mistakes if m.applies_to(probe)]

    def data_fingerprint(self) -> str:
        """What the catalog's expected data depends on: ids, probes and patches (not titles or
        explanations, which only the public catalog shows)."""
        entries = [[m.id, list(m.probes), m.data_fingerprint()] for m in self.mistakes]
        return hashlib.sha256(json.dumps(entries).encode()).hexdigest()[:16]

    def get(self, mistake_id: str) -> Mistake:
        for mistake in self.mistakes:
            if mistake.id == mistake_id:
                return mistake
        raise KeyError(mistake_id)

    def public_toml(self) -> str:
        """The catalog without its patches (they would reveal the solution), for the student copy."""
        blocks = []
        for m in self.mistakes:
            blocks.append(
                "[[mistake]]\n"
                f"id = {json.dumps(m.id)}\n"
                f"title = {json.dumps(m.title, ensure_ascii=False)}\n"
                f"explain = {json.dumps(m.explain, ensure_ascii=False)}\n"
                f"probes = {json.dumps(list(m.probes))}\n"
            )
        header = "# Known mistakes the feedback can name. Generated by `grade release`; do not edit.\n\n"
        return header + "\n".join(blocks)


def load_catalog(path: Path) -> Catalog:
    if not path.is_file():
        return Catalog()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{path}: {exc}") from None
    mistakes = []
    for entry in raw.get("mistake", []):
        mistakes.append(_mistake(entry, path))
    ids = [m.id for m in mistakes]
    if len(ids) != len(set(ids)):
        raise CatalogError(f"{path}: duplicate mistake ids")
    return Catalog(tuple(mistakes))


def _mistake(entry: dict[str, Any], path: Path) -> Mistake:
    try:
        return Mistake(
            id=str(entry["id"]),
            title=str(entry["title"]),
            explain=str(entry.get("explain", "")),
            probes=tuple(entry.get("probes", ["*"])),
            patches=tuple(
                Patch(str(p["find"]), str(p["replace"]), p.get("file"), int(p.get("count", 1)))
                for p in entry.get("patch", [])
            ),
        )
    except KeyError as exc:  # a new instructor saw "malformed mistake entry 'x': 'title'"
        where = "one of its [[mistake.patch]] tables" if exc.args and exc.args[0] in ("find", "replace") else "it"
        raise CatalogError(f"{path}: mistake {entry.get('id', '?')!r}: {where} has no `{exc.args[0]}`") from None
    except (TypeError, ValueError) as exc:
        raise CatalogError(f"{path}: malformed mistake entry {entry.get('id', '?')!r}: {exc}") from None
