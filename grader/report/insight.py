"""Class insight for the overview: similar submissions, and wrong outputs no catalogued mistake explains.

Both read what grading stored; neither changes a grade.

* **Code similarity** per assignment: :func:`grader.report.similarity.rank_pairs` over the graded module
  of every student (a notebook by its converted code), the stub of the student copy left out.
* **Output similarity**: identical *wrong* answers to hidden checks' probe calls, compared bit for bit
  (the stored answers keep every bit of every float). An answer counts as wrong where its check failed
  without a catalogued mistake (a known mistake gives everyone who makes it the same numbers) and no
  student whose check passed gave it. Answers that many students share weigh less: a pair's score adds
  ``1 / (k - 1)`` for an answer ``k`` students gave.
* **Unexplained mistakes**: students whose failed checks name no catalogued mistake, grouped by the
  checks they fail and their answers to those checks' calls (rounded, so near-identical numbers group);
  each group with a representative's diff against the reference and a ``mistakes.toml`` entry to edit.

Thresholds come from ``[insight]`` in course.toml (docs/insight.md).
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from grader.course.model import AssignmentSpec, Course, CourseError
from grader.files import write_atomic
from grader.report.recorded import answers
from grader.report.results import AssignmentResult, CheckResult, SubmissionResult
from grader.report.similarity import SimilarPair, rank_pairs, render_pair
from grader.wire.codec import encode

PAIRS_DIR = "similarity"
WRONG = ("failed", "partial")
# A failed check shows a wrong value (no kind) or an exception; a stub, a timeout or a crash is no mistake
# anyone could catalogue from outputs.
MISTAKE_KINDS = (None, "exception")


@dataclass(frozen=True)
class InsightSettings:
    """``[insight]`` in course.toml."""

    code_threshold: float = 0.6  # share of the smaller submission's own fingerprints found in the other
    output_min_shared: int = 2  # identical wrong answers a pair must share to be listed
    top: int = 10  # pairs listed per assignment and view
    group_min: int = 2  # students an unexplained mistake needs to be listed
    group_decimals: int = 4  # answers equal after rounding to this many decimals group together
    enabled: bool = True

    @classmethod
    def of(cls, course: Course) -> InsightSettings:
        table = course.settings().get("insight", {})
        if not isinstance(table, dict):
            raise CourseError("course.toml: [insight] must be a table (docs/insight.md)")
        known = {name: type(value) for name, value in vars(cls()).items()}
        values: dict[str, Any] = {}
        for key, value in table.items():
            if key not in known:
                raise CourseError(f"course.toml: [insight] has no setting {key!r}; known: {', '.join(known)}")
            kind = known[key]
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise CourseError(f"course.toml: [insight] {key} must be a {kind.__name__}")
            values[key] = value
        return cls(**values)


@dataclass(frozen=True)
class OutputPair:
    first: str
    second: str
    score: float  # 0..1: weighted share of the smaller one's wrong answers that the other gave too
    shared: int  # identical wrong answers
    only_theirs: int  # of which no other student gave
    checks: tuple[str, ...]  # the checks those answers belong to


@dataclass
class MistakeGroup:
    assignment: str
    students: list[str]
    checks: list[str]  # the failed checks they share
    representative: str
    diff: str  # the representative's code against the reference (unified diff)
    entry: str  # a mistakes.toml entry to edit
    calls: list[str]  # the probe calls that tell it apart


@dataclass
class AssignmentInsight:
    id: str
    title: str
    code_pairs: list[dict[str, Any]] = field(default_factory=list)  # pair, link
    output_pairs: list[OutputPair] = field(default_factory=list)
    groups: list[MistakeGroup] = field(default_factory=list)
    compared: int = 0  # submissions whose code was compared
    problem: str = ""  # why it could not be computed


def class_insight(
    course: Course, out: Path, results: list[SubmissionResult], assignment_ids: Iterable[str]
) -> list[AssignmentInsight]:
    """The insight of every assignment; the side-by-side pages of the listed code pairs are written
    under ``out/similarity/<assignment>/``."""
    settings = InsightSettings.of(course)
    if not settings.enabled:
        return []
    found = []
    for assignment_id in assignment_ids:
        spec = course.assignments.get(assignment_id)
        if spec is None:
            continue
        graded = {
            r.student: a for r in results if (a := r.assignment(assignment_id)) is not None and a.status == "graded"
        }
        insight = AssignmentInsight(spec.id, spec.title)
        try:
            _fill(insight, course, spec, out, results, graded, settings)
        except Exception as exc:  # noqa: BLE001 - insight is extra: a bug in it must not cost the overview
            insight.problem = (
                f"the insight of {spec.id} could not be computed (a grader bug): {type(exc).__name__}: {exc}"
            )
        if insight.code_pairs or insight.output_pairs or insight.groups or insight.problem:
            found.append(insight)
    return found


def _fill(
    insight: AssignmentInsight,
    course: Course,
    spec: AssignmentSpec,
    out: Path,
    results: list[SubmissionResult],
    graded: dict[str, AssignmentResult],
    settings: InsightSettings,
) -> None:
    sources = module_sources(course, spec, results)
    insight.compared = len(sources)
    for pair in rank_pairs(sources, stub_source(course, spec), threshold=settings.code_threshold)[: settings.top]:
        link = pair_link(spec.id, pair.first, pair.second)
        page = render_pair(pair, sources[pair.first], sources[pair.second], spec.id)
        write_atomic(out / link, page.encode("utf-8"))
        insight.code_pairs.append({"pair": pair, "link": link})
    insight.output_pairs = output_pairs(graded, settings)
    insight.groups = unexplained_groups(course, spec, graded, sources, settings)


def pair_link(assignment: str, first: str, second: str) -> str:
    """The page of one similar pair, relative to the class's folder. "~" is in no student id (safe_id),
    so no two pairs share a page: with "--" ids holding "-" did (x--y with z, x with y--z, a hostile
    round), and the pair written last showed its code under both rows of the overview."""
    return f"{PAIRS_DIR}/{assignment}/{first}~{second}.html"


# -- sources ---------------------------------------------------------------------------------------


def stub_source(course: Course, spec: AssignmentSpec) -> str:
    """The stub students started from: the student copy's (instructor course: student_template/)."""
    name = f"{spec.module}.py"
    for folder in (course.root / "student_template" / spec.id, spec.spec_dir.parent, spec.spec_dir):
        path = folder / name
        if path.is_file():
            return path.read_text(encoding="utf-8", errors="replace")
    return ""


def reference_source(spec: AssignmentSpec) -> str:
    files = spec.solution_files() if spec.solution_dir is not None else {}
    data = files.get(f"{spec.module}.py", b"")
    return data.decode("utf-8", errors="replace")


def module_sources(course: Course, spec: AssignmentSpec, results: list[SubmissionResult]) -> dict[str, str]:
    """student -> the code graded for ``spec`` (a notebook's converted code), read again from the submission."""
    from grader.intake.students import opened
    from grader.intake.submission import load

    sources = {}
    for result in results:
        assignment = result.assignment(spec.id)
        if assignment is None or assignment.status != "graded" or not assignment.source:
            continue
        path = Path(result.submission)
        if not path.exists():
            continue
        try:
            with opened(path, None) as found:
                if found.folder is None:
                    continue
                submission = load(found.folder, course, [spec.id])
                work = submission.modules.get(spec.id)
                if work is not None and work.path and work.path.name == assignment.source and work.source:
                    sources[result.student] = work.source
        except Exception:  # noqa: BLE001 - a submission that cannot be read again is left out of the comparison
            continue
    return sources


# -- output similarity ------------------------------------------------------------------------------


def _digest(data: Any, decimals: int | None = None) -> str:
    """A digest of an answer: every bit (``decimals`` None), or floats rounded to ``decimals``."""
    if decimals is not None:
        data = _rounded(data, decimals)
    try:
        raw = encode(data)
    except (TypeError, ValueError):
        raw = repr(data).encode("utf-8", errors="replace")
    return hashlib.blake2b(raw, digest_size=12).hexdigest()


def _rounded(data: Any, decimals: int) -> Any:
    if isinstance(data, np.ndarray) and data.dtype.kind == "f":
        return np.round(data.astype(np.float64), decimals) + 0.0  # + 0.0: no negative zeros
    if isinstance(data, float):
        return round(data, decimals) + 0.0
    if isinstance(data, dict):
        return {k: _rounded(v, decimals) for k, v in data.items()}
    if isinstance(data, list):
        return [_rounded(v, decimals) for v in data]
    return data


def _checks(assignment: AssignmentResult) -> dict[str, CheckResult]:
    return {check.name: check for check in assignment.checks}


def _unexplained(check: CheckResult) -> bool:
    return check.status in WRONG and check.mistake is None and check.details.get("kind") in MISTAKE_KINDS


def output_pairs(graded: dict[str, AssignmentResult], settings: InsightSettings) -> list[OutputPair]:
    """Pairs that gave the same wrong answers, bit for bit, to hidden checks' probe calls."""
    accepted: set[tuple[str, str]] = set()
    wrong: dict[str, dict[tuple[str, str], str]] = {}
    for student, assignment in graded.items():
        checks = _checks(assignment)
        wrong[student] = {}
        for call in answers(assignment.recorded):
            check = checks.get(str(call.get("check")))
            if check is None or not call.get("ok"):
                continue
            answer = (str(call.get("key")), _digest(call.get("data")))
            if check.status == "passed":
                accepted.add(answer)
            elif check.visibility == "hidden" and _unexplained(check):
                wrong[student][answer] = check.name
    givers: dict[tuple[str, str], int] = defaultdict(int)
    for student in wrong:
        wrong[student] = {a: c for a, c in wrong[student].items() if a not in accepted}
        for answer in wrong[student]:
            givers[answer] += 1
    pairs = []
    for first, second in combinations(sorted(s for s in wrong if wrong[s]), 2):
        shared = set(wrong[first]) & set(wrong[second])
        if len(shared) < settings.output_min_shared:
            continue
        weight = sum(1 / (givers[a] - 1) for a in shared)
        smaller = min(len(wrong[first]), len(wrong[second]))
        pairs.append(
            OutputPair(
                first,
                second,
                round(weight / smaller, 3),
                len(shared),
                sum(1 for a in shared if givers[a] == 2),
                tuple(sorted({wrong[first][a] for a in shared})),
            )
        )
    pairs.sort(key=lambda p: (-p.score, -p.shared, p.first, p.second))
    return pairs[: settings.top]


# -- unexplained mistakes ---------------------------------------------------------------------------


def _probe(call: dict[str, Any]) -> str:
    try:
        return str(json.loads(str(call.get("key"))).get("probe"))
    except (ValueError, AttributeError):
        return ""


def _signature(
    assignment: AssignmentResult, decimals: int, catalogued: dict[str, Any]
) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """(the failed checks no catalogued mistake explains, their calls' answers rounded), or None.

    A failed check that names no mistake is still explained where a mistake named on another of the
    student's checks is catalogued for every probe it called (``catalogued``: mistake id -> Mistake):
    a check that judges without naming mistakes (a gradient check) fails from that same mistake."""
    checks = _checks(assignment)
    calls = answers(assignment.recorded)
    named = [catalogued[c.mistake] for c in checks.values() if c.mistake in catalogued]
    called: dict[str, set[str]] = defaultdict(set)
    for call in calls:
        called[str(call.get("check"))].add(_probe(call))
    failing = sorted(
        name
        for name, check in checks.items()
        if _unexplained(check)
        and not (named and called[name] and all(any(m.applies_to(p) for m in named) for p in called[name]))
    )
    if not failing:
        return None
    outputs = []
    for call in calls:
        if call.get("check") in failing:
            if call.get("ok"):
                outputs.append(f"{call.get('key')}={_digest(call.get('data'), decimals)}")
            else:
                failure = call.get("failure") or {}
                outputs.append(f"{call.get('key')}!{failure.get('kind')}:{failure.get('message')}")
    if not outputs:  # nothing stored to compare (graded before answers were stored): no evidence to group by
        return None
    return tuple(failing), tuple(sorted(set(outputs)))


def unexplained_groups(
    course: Course,
    spec: AssignmentSpec,
    graded: dict[str, AssignmentResult],
    sources: dict[str, str],
    settings: InsightSettings,
) -> list[MistakeGroup]:
    """Students failing alike where no catalogued mistake explains it, largest group first."""
    groups: dict[tuple[tuple[str, ...], tuple[str, ...]], list[str]] = defaultdict(list)
    catalogued = _catalogued(spec)
    for student, assignment in sorted(graded.items()):
        signature = _signature(assignment, settings.group_decimals, catalogued)
        if signature is not None:
            groups[signature].append(student)
    reference = reference_source(spec)
    found: list[MistakeGroup] = []
    for (checks, _), students in sorted(groups.items(), key=lambda item: (-len(item[1]), item[1])):
        if len(students) < settings.group_min:
            continue
        representative = next((s for s in students if s in sources), students[0])
        code = sources.get(representative, "")
        calls = _calls_of(graded[representative], checks)
        probes = sorted({call.split("(", 1)[0] for call in calls})
        number = len(found) + 1
        found.append(
            MistakeGroup(
                spec.id,
                students,
                list(checks),
                representative,
                _diff(reference, code, spec.module, representative) if code and reference else "",
                mistake_entry(f"unexplained_{number}", reference, code, spec.module, probes, calls, students),
                calls,
            )
        )
    return found[: settings.top]


def _catalogued(spec: AssignmentSpec) -> dict[str, Any]:
    """mistake id -> the catalogued Mistake (none where the catalogue cannot be read)."""
    from grader.course.mistakes import CatalogError, load_catalog

    try:
        catalog = load_catalog(spec.mistakes_path)
    except (CatalogError, OSError, ValueError):
        return {}
    return {mistake.id: mistake for mistake in catalog.mistakes}


def _calls_of(assignment: AssignmentResult, checks: Iterable[str]) -> list[str]:
    wanted = set(checks)
    calls = []
    for call in answers(assignment.recorded):
        if call.get("check") in wanted:
            try:
                key = json.loads(str(call.get("key")))
                args = ", ".join(f"{k}={json.dumps(v)}" for k, v in key.get("args", {}).items())
                text = f"{key.get('probe')}({args}{', ' if args else ''}seed={key.get('seed')})"
            except (ValueError, AttributeError):
                continue
            if text not in calls:
                calls.append(text)
    return calls


def _diff(reference: str, code: str, module: str, student: str) -> str:
    lines = difflib.unified_diff(
        reference.splitlines(keepends=True),
        code.splitlines(keepends=True),
        f"reference/{module}.py",
        f"{student}/{module}.py",
        n=2,
    )
    return "".join(lines)[:20_000]


def patch_skeleton(reference: str, code: str) -> list[tuple[str, str]]:
    """(find, replace) pairs turning ``reference`` into ``code``: each changed stretch of lines, widened
    by neighbouring lines until its ``find`` occurs once in the reference (as mistakes.toml requires)."""
    ref_lines = reference.splitlines(keepends=True)
    new_lines = code.splitlines(keepends=True)
    patches = []
    matcher = difflib.SequenceMatcher(None, ref_lines, new_lines, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        before = after = 0
        while True:
            find = "".join(ref_lines[i1 - before : i2 + after])
            if find.strip() and reference.count(find) == 1:
                break
            if i1 - before <= 0 and i2 + after >= len(ref_lines):
                break
            if i1 - before > 0:
                before += 1
            if i2 + after < len(ref_lines) and (not find.strip() or reference.count(find) > 1):
                after += 1
        replace = "".join(ref_lines[i1 - before : i1] + new_lines[j1:j2] + ref_lines[i2 : i2 + after])
        patches.append((find, replace))
    return patches


def _toml_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a TOML basic string


def mistake_entry(
    mistake_id: str, reference: str, code: str, module: str, probes: list[str], calls: list[str], students: list[str]
) -> str:
    """A ``[[mistake]]`` entry for mistakes.toml: the patch that turns the reference into the
    representative's code, and the probes whose calls told it apart, ready to edit."""
    lines = [
        f"# {len(students)} students fail alike with no catalogued mistake (e.g. {', '.join(students[:3])}).",
        "# Keep only the patch that makes the mistake, then name and explain it.",
        "[[mistake]]",
        f"id = {_toml_string(mistake_id)}",
        'title = "TODO: what the code does wrong, in one line"',
        'explain = "TODO: what to change, said for the student"',
        f"probes = [{', '.join(_toml_string(p) for p in probes)}]",
    ]
    lines += [f"# told apart by: {call}" for call in calls[:10]]
    patches = patch_skeleton(reference, code) if reference and code else []
    if not patches:
        lines += ["[[mistake.patch]]", 'find = "TODO: text of the reference"', 'replace = "TODO: what it becomes"']
    for find, replace in patches[:10]:
        lines += [
            "[[mistake.patch]]",
            f"find = {_toml_string(find)}",
            f"replace = {_toml_string(replace)}",
        ]
    if module:
        lines.append(f"# (patches apply to {module}.py of the reference)")
    return "\n".join(lines) + "\n"


__all__ = ["SimilarPair", "class_insight", "InsightSettings", "patch_skeleton", "mistake_entry"]
