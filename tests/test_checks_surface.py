"""One surface for check authors (issue 12 item 4) and the training curves' rough edges (issue 13 item 7).

- checks import from grader only ``grader.checks``; probes and verifiers only ``grader.inside``;
- every probe names the student's module ``student``;
- helper modules are shared by public and hidden checks and reach the student copy only without
  anything that only hidden checks use;
- curves: epochs counted from 1, the plot on the check that fails on the curve, the legend clear of it;
- docs/sixth_assignment.md, followed in a copy of the course, gives what it promises.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import REPO, TEMPLATE

from grader.course import validate
from grader.course.validate import asked_for
from grader.judging.compare import curve_mismatch
from grader.packaging.release import ReleaseError, shipped_helpers
from grader.report.plots import line_plot

ASSIGNMENTS = sorted(path for path in (REPO / "assignments").iterdir() if (path / "assignment.toml").is_file())
CHECK_FILES = sorted(path for folder in ASSIGNMENTS for path in (folder / "checks").glob("*.py"))


def checks_module():
    """grader.checks, whose markers this suite's own pytest does not register (the grader's plugin does)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pytest.PytestUnknownMarkWarning)
        import grader.checks
    return grader.checks


def grader_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import of the grader package in a file (the rule `grade check` applies)."""
    return validate.grader_imports(path.read_text(encoding="utf-8"))


def test_the_course_has_checks_to_look_at():
    assert len(ASSIGNMENTS) == 5 and len(CHECK_FILES) >= 10


@pytest.mark.parametrize("path", CHECK_FILES, ids=lambda path: f"{path.parent.parent.name}/{path.name}")
def test_checks_import_only_grader_checks(path):
    outside = [f"line {line}: {module}" for line, module in grader_imports(path) if module != "grader.checks"]
    assert not outside, f"{path} imports grader internals (use grader.checks): {outside}"


@pytest.mark.parametrize("path", CHECK_FILES, ids=lambda path: f"{path.parent.parent.name}/{path.name}")
def test_what_checks_import_from_grader_checks_is_exported(path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module == "grader.checks":
            assert {alias.name for alias in node.names} <= set(checks_module().__all__)


def test_grader_checks_exports_what_it_documents():
    module = checks_module()
    for name in module.__all__:
        assert getattr(module, name) is not None
    assert {"judge_training", "measured_runs", "CheckFailure", "points"} <= set(module.__all__)


@pytest.mark.parametrize("folder", ASSIGNMENTS, ids=lambda folder: folder.name)
def test_probes_import_only_the_inside_of_the_sandbox(folder):
    for name in ("probes.py", "verify.py"):
        path = folder / name
        if path.is_file():
            outside = [module for _, module in grader_imports(path) if not module.startswith("grader.inside")]
            assert not outside, f"{path} runs in the sandbox but imports {outside}"


@pytest.mark.parametrize("folder", ASSIGNMENTS, ids=lambda folder: folder.name)
def test_every_probe_names_the_student_module_student(folder):
    asked = {name for path in (folder / "checks").glob("*.py") for _, name in asked_for(path.read_text())[0]}
    tree = ast.parse((folder / "probes.py").read_text(encoding="utf-8"))
    functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    assert asked <= set(functions)
    for name in sorted(asked):
        parameters = functions[name].args.posonlyargs + functions[name].args.args
        assert parameters and parameters[0].arg == "student", f"{folder.name}: probe {name}"


def test_no_helper_is_copied_between_public_and_hidden_checks():
    for folder in ASSIGNMENTS:
        defined = {}
        for path in (folder / "checks").glob("test_*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in tree.body:
                if isinstance(node, ast.FunctionDef) and not node.name.startswith("test_"):
                    assert node.name not in defined, (
                        f"{folder.name}: {node.name} in {path.name} and {defined[node.name]}"
                    )
                    defined[node.name] = path.name


# -- helper modules: shipped only without hidden data ----------------------------------------------


def helper_course(tmp_path: Path, files: dict[str, str]) -> SimpleNamespace:
    checks = tmp_path / "checks"
    checks.mkdir()
    for name, text in files.items():
        (checks / name).write_text(text)
    return SimpleNamespace(id="a9_demo", checks_dir=checks)


PUBLIC = "from .shared import case_id\n\ndef test_a(judge):\n    case_id({})\n"


def test_a_helper_that_serves_the_public_checks_is_shipped(tmp_path):
    spec = helper_course(
        tmp_path,
        {
            "test_public.py": PUBLIC,
            "test_hidden.py": "from .shared import case_id\nfrom .hidden_tasks import TASK\n",
            "shared.py": "FORMAT = '{}'\n\ndef case_id(case):\n    return FORMAT.format(case)\n",
            "hidden_tasks.py": "TASK = 'lolhe'\n",
        },
    )
    assert shipped_helpers(spec, ["test_public.py"]) == ["shared.py"]  # hidden_tasks.py stays behind
    assert shipped_helpers(spec, ["test_public.py", "test_hidden.py"]) == ["hidden_tasks.py", "shared.py"]


def test_a_shipped_helper_holding_what_only_hidden_checks_use_is_refused(tmp_path):
    spec = helper_course(
        tmp_path,
        {
            "test_public.py": PUBLIC,
            "test_hidden.py": "from .shared import HIDDEN_TARGET, case_id\n",
            "shared.py": "HIDDEN_TARGET = 'eholl'\n\ndef case_id(case):\n    return str(case)\n",
        },
    )
    with pytest.raises(ReleaseError, match="defines HIDDEN_TARGET, which those checks never use"):
        shipped_helpers(spec, ["test_public.py"])
    assert shipped_helpers(spec, ["test_public.py", "test_hidden.py"]) == ["shared.py"]  # the Gradescope zip
    (spec.checks_dir / "test_public.py").write_text("from . import shared\n\ndef test_a():\n    shared.case_id(1)\n")
    with pytest.raises(ReleaseError, match="defines HIDDEN_TARGET"):
        shipped_helpers(spec, ["test_public.py"])  # what `shared.name` reads counts, not the whole module
    (spec.checks_dir / "test_public.py").write_text("from . import shared\n\ndef test_a():\n    vars(shared)\n")
    assert shipped_helpers(spec, ["test_public.py"]) == ["shared.py"]  # the module used whole: all of it


def test_helpers_reach_the_student_copy_as_they_are():
    for folder in ASSIGNMENTS:
        for helper in (folder / "checks").glob("*.py"):
            if helper.name.startswith("test_"):
                continue
            shipped = TEMPLATE / folder.name / "grading" / "checks" / helper.name
            assert shipped.read_bytes() == helper.read_bytes(), f"{shipped} is missing or stale"
        assert not (TEMPLATE / folder.name / "grading" / "checks" / "test_hidden.py").exists()


# -- curves ----------------------------------------------------------------------------------------


def test_epochs_are_counted_from_one_like_the_plot():
    want = [4.0, 3.0, 2.5, 2.0, 1.8]
    got = [4.0, 3.0, 2.7, 2.3, 2.1]
    failure = curve_mismatch(got, want, name="the loss of each epoch", rtol=1e-6, atol=1e-8)
    assert "differ from epoch 3 on" in failure.diagnosis and "step" not in failure.diagnosis
    assert failure.table["columns"][0] == "epoch" and failure.table["rows"][0][0] == "3"
    nan = curve_mismatch([4.0, float("nan"), 2.5], want[:3], name="the loss", rtol=1e-6, atol=1e-8)
    assert "first at epoch 2" in nan.message


def test_the_legend_sits_below_the_curves():
    svg = str(line_plot({"your loss": [6.0, 3.0, 1.0], "a reference with a long name": [6.0, 4.0, 2.0]}))
    frame = re.search(r'<rect x="\d+" y="(\d+)" width="\d+" height="(\d+)"', svg)
    bottom = int(frame.group(1)) + int(frame.group(2))
    legend_rows = [float(y) for y in re.findall(r'<text x="[\d.]+" y="([\d.]+)"[^>]*class="legend"', svg)]
    assert len(legend_rows) == 2 and all(y > bottom + 20 for y in legend_rows)  # below the x axis label
    height = int(re.search(r'<svg[^>]* height="(\d+)"', svg).group(1))
    assert all(y < height for y in legend_rows)


@pytest.mark.slow
def test_the_plot_sits_on_the_failing_curve_check(run_grade, tmp_path):
    from grader.course.mistakes import load_catalog
    from grader.course.model import load_course

    spec = load_course(REPO).get("a2_rnncell_ohlol")
    mistake = next(m for m in load_catalog(spec.mistakes_path).mistakes if m.id == "zero_grad_forgotten")
    folder = tmp_path / "zero_grad"
    folder.mkdir()
    for name, data in mistake.mutate(spec.solution_files(), spec.module).items():
        (folder / name).write_bytes(data)
    out = tmp_path / "out"
    run_grade("submit", str(folder), "-a", spec.id, "--out", str(out), "--json")
    result = json.loads((out / "feedback.json").read_text())
    checks = {check["name"]: check for check in result["assignments"][0]["checks"]}
    curve_check = checks["test_loss_curve"]
    assert curve_check["status"] == "failed" and curve_check["mistake"] == "zero_grad_forgotten"
    assert len(curve_check["details"]["curves"]["your loss"]) == 15
    assert curve_check["details"]["table"]["columns"][0] == "epoch"
    assert "differ from epoch 3 on" in curve_check["diagnosis"] and "from step" not in curve_check["diagnosis"]
    assert "curves" not in checks["test_converges_to_ohlol"]["details"]


# -- the walk-through -------------------------------------------------------------------------------

WALK_THROUGH = REPO / "docs" / "sixth_assignment.md"


def walk_through_files() -> dict[str, str]:
    """Every code block of the walk-through whose first line names a file of the course."""
    files = {}
    for block in re.findall(r"```\w*\n(.*?)```", WALK_THROUGH.read_text(encoding="utf-8"), flags=re.S):
        first, _, rest = block.partition("\n")
        named = re.fullmatch(r"(?:#|<!--)\s*((?:assignments|solutions)/\S+)\s*(?:-->)?", first.strip())
        if named:
            files[named.group(1)] = rest
    return files


def test_the_walk_through_names_every_file_it_lists():
    files = walk_through_files()
    listed = re.findall(r"^((?:assignments|solutions)/\S+)", WALK_THROUGH.read_text(), flags=re.M)
    assert set(listed) == set(files) and len(files) == 8


A1 = "a1_srn_numpy"


def test_grade_check_names_what_only_parsing_or_collecting_the_checks_shows(run_grade, tmp_path):
    """Found by a new instructor following the docs: in a copy of the course `grade check` checked the
    repository the grader was installed from; checks adding up to more than the assignment's points, a
    check file outside public_checks left unmarked (shown in full to students), a misspelt public check
    file and a syntax error in probes.py ("no probe named ...") passed `grade check`, and a module name
    matching no solution file ended in a traceback."""
    course = tmp_path / "course"
    shutil.copytree(REPO / "assignments" / A1, course / "assignments" / A1)
    shutil.copytree(REPO / "solutions" / A1, course / "solutions" / A1)
    checked = run_grade("check", cwd=course / "assignments")  # no --course: the course around the folder
    assert f"course at {course}" in checked.stdout and "no problems found" in checked.stdout
    material = course / "assignments" / A1
    hidden = material / "checks" / "test_hidden.py"
    extra = (
        "\n\n@points(5)\ndef test_more(judge):\n    judge.compare('step', B=2, D=3, H=5, activation='tanh', seed=31)\n"
    )
    hidden.write_text(hidden.read_text().replace("pytestmark = hidden\n", "") + extra)
    toml = material / "assignment.toml"
    rules = toml.read_text().replace(
        'public_checks = ["test_public.py"]', 'public_checks = ["test_public.py", "test_publc.py"]'
    )
    toml.write_text(rules.replace('module = "srn"', 'module = "srn_v2"'))
    (material / "probes.py").write_text((material / "probes.py").read_text() + "\ndef broken(:\n")
    internals = material / "checks" / "test_public.py"
    internals.write_text("from grader.judging.compare import find_mismatch\n" + internals.read_text())
    checked = run_grade("check", cwd=course, expect=1)
    found = checked.stdout + checked.stderr
    assert "Traceback" not in found
    for problem in (
        "its checks add up to 105 points, but assignment.toml says points = 100",
        "test_hidden.py is not among public_checks, yet its checks are not marked hidden",
        "public_checks names test_publc.py, which is not in checks/",
        "probes.py, line",
        "no srn_v2.py (assignment.toml says module = 'srn_v2')",
        "test_public.py, line 1: imports grader.judging.compare; checks take what they need from grader.checks",
    ):
        assert problem in found, (problem, found)
    assert "no probe named" not in found  # the syntax error is said once, not as every probe missing
    toml.write_text(rules.replace("points = 100", "point = 100"))  # a misspelt key kept its default
    misspelt = run_grade("check", cwd=course, expect=1)
    assert "unknown key point (known:" in misspelt.stderr and "Traceback" not in misspelt.stderr


def test_grade_check_finds_hidden_data_in_a_helper_the_public_checks_ship(run_grade, tmp_path):
    """`grade release` refused it, but `grade check` said "no problems found" (a new instructor round)."""
    a2 = "a2_rnncell_ohlol"
    course = tmp_path / "course"
    shutil.copytree(REPO / "assignments" / a2, course / "assignments" / a2)
    shutil.copytree(REPO / "solutions" / a2, course / "solutions" / a2)
    assert "no problems found" in run_grade("check", "--course", str(course)).stdout
    checks = course / "assignments" / a2 / "checks"
    (checks / "shared.py").write_text((checks / "shared.py").read_text() + '\nHIDDEN_WORD = "lolhe"\n')
    hidden = checks / "test_hidden.py"
    hidden.write_text(hidden.read_text() + "\n\nfrom .shared import HIDDEN_WORD  # noqa: E402\n")
    found = run_grade("check", "--course", str(course), expect=1).stdout
    assert "checks/shared.py travels with test_public.py" in found and "defines HIDDEN_WORD" in found, found


@pytest.mark.slow
def test_the_walk_through_works_in_a_copy_of_the_course(run_grade, tmp_path):
    course = tmp_path / "course"
    for part in ("assignments", "solutions"):
        shutil.copytree(REPO / part, course / part)
    for relative, text in walk_through_files().items():
        (course / relative).parent.mkdir(parents=True, exist_ok=True)
        (course / relative).write_text(text, encoding="utf-8")
    a6 = "a6_leaky_rnn"

    checked = run_grade("check", "--course", str(course))
    assert "no problems found" in checked.stdout
    released = run_grade("release", "-a", a6, "--course", str(course))
    assert "The grader's wheel for students was not written (only some assignments were released)" in released.stdout
    copy = course / "student_template" / a6
    shipped = sorted(p.relative_to(copy).as_posix() for p in copy.rglob("*") if p.is_file())
    assert shipped == [
        "README.md",
        "grading/assignment.toml",
        "grading/checks/shared.py",
        "grading/checks/test_public.py",
        "grading/expected.bin",
        "grading/mistakes.toml",
        "grading/probes.py",
        "leaky.ipynb",
        "leaky.py",
    ]

    def score(folder: Path, *course_option: str) -> dict:
        out = tmp_path / f"out-{len(list(tmp_path.iterdir()))}"
        run_grade("submit", str(folder), "-a", a6, "--out", str(out), "--json", *course_option)
        return json.loads((out / "feedback.json").read_text())["assignments"][0]

    assert score(course / "solutions", "--course", str(course))["score"] == 100
    stub = score(copy, "--course", str(course))
    assert stub["score"] == 0 and stub["max_score"] == 100
    as_a_student = score(copy)  # inside the student copy: its own public checks
    assert as_a_student["score"] == 0 and as_a_student["max_score"] == 40

    wrong = tmp_path / "wrong"
    wrong.mkdir()
    reference = (course / "solutions" / a6 / "leaky.py").read_text()
    (wrong / "leaky.py").write_text(
        reference.replace("h = alpha * h + (1 - alpha) * x[t]", "h = (1 - alpha) * h + alpha * x[t]")
    )
    public = score(wrong, "--course", str(copy))  # as a student grades with the copy: public checks only
    assert public["max_score"] == 40 and public["score"] < 40
    named = [check for check in public["checks"] if check.get("mistake") == "alpha_swapped"]
    assert named and "alpha weighs the input" in named[0]["diagnosis"]
    full = score(wrong, "--course", str(course))
    assert full["max_score"] == 100 and any(check.get("visibility") == "hidden" for check in full["checks"])
    assert np.isclose(score(course / "solutions", "--course", str(copy))["score"], 40)
