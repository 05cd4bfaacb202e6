"""The contract of every assignment, graded end to end: the reference scores full marks, the generated
stub scores 0 with "not implemented" on every check, and every mistake of the assignment's catalogue
(``mistakes.toml``, each a patch of the reference) is named by the checks where it shows, and only on
checks calling a probe its catalogue entry covers.

The whole course is graded by two `grade report`s (every assignment's reference and stub, then every
mutant, each student holding one assignment), so a new mistake, check or probe is held to the contract
without a line of test code; the assignments' own test modules keep what is particular to them
(independent student-style code, notebooks, specific messages). Two reports, not one per assignment:
each report starts its own workers, and a worker's torch start-up costs more than grading a mutant.
The mutants skip the checks that cannot name a mistake (the training checks of a4 and a5: most of
the course's grading time), which the reference and the stub run.
"""

from __future__ import annotations

import fnmatch
import shutil
from collections.abc import Callable
from typing import Any

import pytest
from catalogue_reach import checks_naming_no_mistake, probe_names, probes_of_checks
from conftest import REPO, TEMPLATE, checks_of, expect_stub_scores_zero, report_class

from grader.course.mistakes import Mistake, load_catalog
from grader.course.model import AssignmentSpec, load_course

COURSE = load_course(REPO)
ASSIGNMENTS = sorted(COURSE.assignments)
MISTAKES = [
    pytest.param(spec.id, mistake.id, id=f"{spec.id}-{mistake.id}")
    for spec in (COURSE.get(a) for a in ASSIGNMENTS)
    for mistake in load_catalog(spec.mistakes_path).mistakes
]


def _students(spec: AssignmentSpec) -> dict[str, dict[str, str | bytes]]:
    """The reference, the stub students receive, and one mutant per catalogued mistake, each in the
    assignment's folder (so that one report of the whole course grades each of them on this assignment)."""
    reference = spec.solution_files()
    handout = TEMPLATE / spec.id
    stub = {str(p.relative_to(handout)): p.read_bytes() for p in sorted(handout.rglob("*")) if p.is_file()}
    variants: dict[str, dict[str, str | bytes]] = {"reference": dict(reference), "stub": stub}
    for mistake in load_catalog(spec.mistakes_path).mistakes:
        variants[f"mistake-{mistake.id}"] = dict(mistake.mutate(reference, spec.module))
    return {
        f"{spec.id}--{name}": {f"{spec.id}/{path}": data for path, data in files.items()}
        for name, files in variants.items()
    }


@pytest.fixture(scope="module")
def contract(run_grade, tmp_path_factory, naming_course) -> Callable[[str], dict[str, dict[str, Any]]]:
    """``contract(assignment)``: that assignment's students (``reference``, ``stub``, ``mistake-ID``), by
    name; graded once, on first use, by two reports: the reference and the stub of every assignment on
    the course, the mutants on a copy that skips the checks no mistake can be named on
    (the ``naming_course`` fixture)."""
    graded: dict[str, dict[str, Any]] = {}

    def results(assignment: str) -> dict[str, dict[str, Any]]:
        if not graded:
            root = tmp_path_factory.mktemp("contract")
            students = {name: files for spec in map(COURSE.get, ASSIGNMENTS) for name, files in _students(spec).items()}
            whole = {name: files for name, files in students.items() if not name.split("--")[1].startswith("mistake-")}
            mutants = {name: files for name, files in students.items() if name not in whole}
            graded.update(report_class(run_grade, root / "class", root / "grades", whole))
            graded.update(
                report_class(
                    run_grade, root / "mutants", root / "mutant-grades", mutants, "--course", str(naming_course)
                )
            )
            shutil.rmtree(root / "class")
            shutil.rmtree(root / "mutants")
        prefix = f"{assignment}--"
        return {name.removeprefix(prefix): result for name, result in graded.items() if name.startswith(prefix)}

    return results


def _entry(result: dict[str, Any], assignment: str) -> dict[str, Any]:
    [entry] = [a for a in result["assignments"] if a["id"] == assignment]
    return entry


def _counted(checks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Checks that count: a rule that cannot apply on this device (a GPU-only rule on a CPU) is skipped."""
    return [c for c in checks if c["status"] != "skipped" or c.get("counted", True)]


@pytest.mark.slow  # one `grade report` per assignment: its reference, stub and every mutant
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_reference_scores_full_marks(contract, assignment):
    entry = _entry(contract(assignment)["reference"], assignment)
    failed = [(c["name"], c["status"], c["message"]) for c in _counted(entry["checks"]) if c["status"] != "passed"]
    assert entry["score"] == entry["max_score"] == 100 and not failed, failed
    assert all(c["mistake"] is None for c in entry["checks"])
    for check in _counted(entry["checks"]):  # only a training check says how it passed: exactly
        assert not check["message"] or "reproduces the reference" in check["message"], check
        curves = (check["details"] or {}).get("curves")
        assert not curves or curves["your loss"] == curves["reference"], check["name"]


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_stub_scores_zero_with_not_implemented_messages(contract, assignment):
    result = contract(assignment)["stub"]
    checks = expect_stub_scores_zero(result, assignment)
    assert len(checks) == len(_counted(_entry(contract(assignment)["reference"], assignment)["checks"]))


# -- every catalogued mistake is named where it shows ----------------------------------------------


def _names(check: dict[str, Any], mistake: Mistake) -> bool:
    """The check names ``mistake``: alone, or among mistakes its evidence cannot tell apart ("one of")."""
    diagnosis = check["diagnosis"] or ""
    if check["mistake"] == mistake.id:
        return True
    return check["mistake"] is not None and "one of" in diagnosis and f"{mistake.title}." in diagnosis


@pytest.mark.slow
@pytest.mark.parametrize("assignment, mistake_id", MISTAKES)
def test_every_catalogued_mistake_is_named_where_it_shows(contract, assignment, mistake_id):
    spec = COURSE.get(assignment)
    mistake = load_catalog(spec.mistakes_path).get(mistake_id)
    entry = _entry(contract(assignment)[f"mistake-{mistake_id}"], assignment)
    checks = checks_of(contract(assignment)[f"mistake-{mistake_id}"], assignment)
    failed = [c for c in checks if c["status"] not in ("passed", "skipped")]
    summary = [(c["name"], c["mistake"], c["message"][:200]) for c in failed]
    assert 0 < len(failed) and entry["score"] < entry["max_score"], f"the mutant lost nothing: {summary}"
    named = [c for c in checks if _names(c, mistake)]
    assert named, f"no check named {mistake_id}: {summary}"
    assert all("Known mistake" in c["diagnosis"] for c in named)
    wrongly = [(c["name"], c["mistake"]) for c in checks if c["mistake"] is not None and c not in named]
    assert not wrongly, f"the mutant of {mistake_id} was named as another mistake"
    probes_of = probes_of_checks(spec)
    for check in named:
        probes = probes_of[check["name"].split("[")[0]]
        assert any(mistake.applies_to(p) for p in probes), (
            f"{check['name']} (probes {sorted(probes)}) named {mistake_id}, whose catalogue entry covers "
            f"only {list(mistake.probes)}"
        )


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_mutants_skip_only_the_checks_that_can_name_no_mistake(contract, assignment):
    """What the mutants' course leaves out is what the reference and the stub run: a check skipped
    for any other reason, or a check that can name a mistake skipped, would hide a broken contract."""
    unnameable = checks_naming_no_mistake(COURSE.get(assignment))
    reference = checks_of(contract(assignment)["reference"], assignment)
    assert not [c["name"] for c in reference if c["name"].split("[")[0] in unnameable and c["status"] == "skipped"]
    skipped_by_reference = {c["name"].split("[")[0] for c in reference if c["status"] == "skipped"}  # GPU-only
    for name, result in contract(assignment).items():
        if name.startswith("mistake-"):
            skipped = {c["name"].split("[")[0] for c in checks_of(result, assignment) if c["status"] == "skipped"}
            skipped -= skipped_by_reference
            assert skipped == unnameable, (name, sorted(skipped ^ unnameable))


def test_every_catalogue_glob_matches_a_probe():
    """A misspelt probe in ``probes = [...]`` would silently keep a mistake from ever being named."""
    for assignment in ASSIGNMENTS:
        spec = COURSE.get(assignment)
        probes = probe_names(spec)
        for mistake in load_catalog(spec.mistakes_path).mistakes:
            for pattern in mistake.probes:
                assert fnmatch.filter(probes, pattern), f"{assignment}/{mistake.id}: no probe matches {pattern!r}"


@pytest.mark.slow
@pytest.mark.parametrize("slip", ["no_lowercase", "split_on_single_space"])
def test_a_slip_in_a5s_tokenize_is_charged_by_its_checks_not_by_build_vocab_and_encode(contract, slip):
    """A fairness round: split(" ") (or no .lower()) in tokenize also cost the public build_vocab (0/5)
    and encode (0/3), whose questions hold double spaces, a tab and capitals. Where tokenize gets its
    own question wrong, they are judged again on texts already lower-cased with single spaces."""
    checks = {c["name"]: c for c in checks_of(contract("a5_sentiment_lstm")[f"mistake-{slip}"], "a5_sentiment_lstm")}
    assert checks["test_tokenize"]["status"] == "failed"
    for name in ("test_build_vocab", "test_encode"):
        assert checks[name]["status"] == "passed", checks[name]["message"]
        assert "Judged on its own: with your tokenize" in checks[name]["message"], checks[name]
