"""The pytest plugin that turns an assignment's checks into graded results.

Checks are ordinary pytest tests in ``assignments/<id>/checks/``. They get these fixtures:

``student``     ``student.run(probe, seed=0, **args)``: the probe's result on the student's code
``reference``   ``reference.expected(probe, seed=0, **args)``: the same probe on the reference
``judge``       ``judge.compare(probe, seed=0, rtol=None, atol=None, per_key=False, **args)``: both,
                judged (with ``per_key``, credit per entry of a dict result), with the mistake named
                when the result matches a catalogued mistake; returns (got, expected)
``static``      what the source shows without running (forbidden imports and APIs)
``device``      "cpu" or "cuda"; ``assignment``: the AssignmentSpec (tolerances, data folder)

and these markers (import them from :mod:`grader.checks`): ``@points(n)`` (split evenly across a
parametrized test's cases), ``@hidden`` (not in the student copy), ``@timeout(seconds)`` (per probe call),
``@gated_by(check)`` (earns at most the share its gate earned: :mod:`grader.judging.gates`).
"""

from __future__ import annotations

import os
import sys
import types
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from grader.course.mistakes import Catalog, Mistake
from grader.course.model import AssignmentSpec
from grader.course.validate import probe_names, probe_parameters
from grader.errors import CheckAuthoringError, Failure, FailureKind, RunFailed, SandboxError
from grader.intake.static_checks import StaticFindings
from grader.judging.compare import CheckFailure, PartialCredit, curve_mismatch, find_mismatch, is_close, judge_per_key
from grader.judging.expected import References, ReferenceUnavailable, mistake_variant
from grader.judging.gates import apply_gates
from grader.judging.replay import Recording, RecordingVerifier
from grader.judging.verifier import VerifierError
from grader.report.results import CheckResult
from grader.sandbox.limits import Limits

POINTS = pytest.StashKey[float]()


@dataclass
class CheckContext:
    spec: AssignmentSpec
    worker: Any  # SubmissionProcess, or a stand-in that always raises
    references: References
    catalog: Catalog
    static: StaticFindings
    filename: str
    device: str = "cpu"
    locate: Callable[[str], str] = str  # maps module lines to notebook cells in messages
    results: list[CheckResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    limits: Limits | None = None  # the limits the worker runs under (CLI overrides included)
    verifier: Any = None  # measures trained weights (grader.judging.verifier.Verifier)
    recording: Recording | None = None  # the student's answers, stored with the result (grader.judging.replay)

    def time_limit(self, probe: str, args: dict[str, Any], seed: int) -> tuple[float, str] | None:
        """A limit in proportion to the reference's own time for the same call, so that an endless
        loop costs seconds rather than the assignment's whole ``probe_timeout_s``.

        None (the fixed limit applies) where the reference was not timed on this machine (shipped
        expected data) and on a GPU, whose timings say nothing about the CPU's that timed the reference.
        """
        limits = self.limits or self.spec.limits
        if limits.timeout_factor <= 0 or self.device != "cpu" or self.references is None:
            return None
        seconds = self.references.reference_seconds(probe, args, seed)
        if seconds is None:
            return None
        limit = min(limits.probe_timeout_s, max(limits.timeout_floor_s, limits.timeout_factor * seconds))
        return limit, (
            f" (a call may take {limits.timeout_factor:g} times as long as the reference solution's "
            f"{seconds:.2g} s, and at least {limits.timeout_floor_s:g} s)"
        )

    def step_budget(self, probe: str, args: dict[str, Any], seed: int) -> tuple[int, int] | None:
        """(budget, the reference's steps) for a training call: ``step_factor`` times the reference's
        optimizer steps for the same call, and 100 more (a student who steps per time step, not per
        epoch, still ends). None where the reference's steps are unknown or it takes none."""
        limits = self.limits or self.spec.limits
        if limits.step_factor <= 0 or self.references is None:
            return None
        reference = self.references.reference_steps(probe, args, seed)
        if reference is None:
            return None
        return int(limits.step_factor * reference) + 100, reference


class StudentRunner:
    def __init__(self, worker: Any, timeout: float | None, context: CheckContext | None = None) -> None:
        self._worker = worker
        self._timeout = timeout
        self._context = context

    def run(self, probe: str, *, seed: int = 0, timeout: float | None = None, **args: Any) -> Any:
        """Run ``probe`` on the student's module under the check's limit (``@timeout``), or else one
        derived from the reference's time for the same call (see CheckContext.time_limit)."""
        explicit = timeout or self._timeout
        limit, note = explicit, ""
        if self._context is not None and (explicit is None or getattr(self._worker, "hanging", None)):
            # Once the student's code has run past a limit, a check's own longer @timeout is capped too
            # by what a correct solution needs (the same 10x the reference's time): a loop costs seconds.
            derived = self._context.time_limit(probe, args, seed)
            if derived is not None and (explicit is None or derived[0] < explicit):
                limit, note = derived
        # a training call's optimizer steps are bounded too (before the fresh seeds: those are asked below)
        steps = self._context.step_budget(probe, args, seed) if self._context and explicit is not None else None
        if self._context is not None:  # official grading asks with fresh seeds, as the reference answers
            require_probe(self._context.spec, probe, args)
            args, seed = self._context.references.fresh_call(probe, args, seed)
        try:
            if explicit is None:  # a plain probe call: what runs past its limit is not run again
                return self._recorded(
                    probe, args, seed, lambda: self._worker.call(probe, args, seed=seed, timeout=limit, small=True)
                )
            return self._recorded(
                probe, args, seed, lambda: self._worker.call(probe, args, seed=seed, timeout=limit, steps=steps)
            )
        except RunFailed as error:
            failure = error.failure
            if note and failure.kind is FailureKind.TIMEOUT and failure.limit_s is not None:  # stopped under it
                raise RunFailed(failure.noted(note)) from None
            raise

    def _recorded(self, probe: str, args: dict[str, Any], seed: int, call: Callable[[], Any]) -> Any:
        recording = self._context.recording if self._context is not None else None
        return call() if recording is None else recording.student_call(probe, args, seed, call)


class ReferenceRunner:
    def __init__(self, references: References) -> None:
        self._references = references

    def expected(self, probe: str, *, seed: int = 0, **args: Any) -> Any:
        require_probe(self._references.spec, probe, args)
        return self._references.expected(probe, args, seed)

    def mistake(self, mistake_id: str, probe: str, *, seed: int = 0, **args: Any) -> Any:
        return self._references.expected(probe, args, seed, mistake_variant(mistake_id))


class Judge:
    """The ``judge`` fixture: runs a probe on both sides and judges, naming catalogued mistakes.
    What check authors call is documented in :mod:`grader.checks`."""

    def __init__(self, context: CheckContext, student: StudentRunner, details: dict[str, Any] | None = None) -> None:
        self.context = context
        self.student = student
        self.tolerance = context.spec.tolerance_for(context.device)
        self._details = details  # the check's ``details`` (plots go there)

    def compare(
        self,
        probe: str,
        *,
        seed: int = 0,
        rtol: float | None = None,
        atol: float | None = None,
        keys: list[str] | None = None,
        check_dtype: bool = False,
        timeout: float | None = None,
        per_key: bool | str = False,
        **args: Any,
    ) -> tuple[Any, Any]:
        """Run ``probe`` on both sides and fail with a diagnosis unless the results match. With
        ``per_key`` (True: each top-level key of a dict result; a key's name: each key of the dict
        there, e.g. ``per_key="grads"``) every entry earns an equal share of the check: the entries
        that match earn :class:`PartialCredit` and the message names every wrong one (judge_per_key).
        Either way the catalogued mistake whose whole result equals the student's is named."""
        require_probe(self.context.spec, probe, args)
        want = self.context.references.expected(probe, args, seed)
        got = self.run(probe, seed=seed, timeout=timeout, **args)
        rtol = self.tolerance["rtol"] if rtol is None else rtol
        atol = self.tolerance["atol"] if atol is None else atol
        failure: CheckFailure | PartialCredit | None
        if per_key:
            within = per_key if isinstance(per_key, str) else None
            failure = judge_per_key(
                _select(got, keys),
                _select(want, keys),
                name="",
                rtol=rtol,
                atol=atol,
                check_dtype=check_dtype,
                within=within,
            )
        else:
            failure = find_mismatch(
                _select(got, keys), _select(want, keys), name="", rtol=rtol, atol=atol, check_dtype=check_dtype
            )
        if failure is not None:
            failure.mistake = self.identify(probe, got, want, args, seed, rtol, atol, keys)
            raise failure
        return got, want

    def run(self, probe: str, *, seed: int = 0, timeout: float | None = None, **args: Any) -> Any:
        """``student.run``, except that a failure names the catalogued mistake that fails alike."""
        try:
            return self.student.run(probe, seed=seed, timeout=timeout, **args)
        except RunFailed as error:
            mistake = self.identify_failure(probe, error.failure, args, seed)
            if mistake is None:
                raise
            raise RunFailed(replace(error.failure, mistake=mistake)) from None

    def identify_failure(self, probe: str, failure: Failure, args: dict[str, Any], seed: int) -> Mistake | None:
        """The catalogued mistake whose code raises the same error message where the reference works
        (e.g. ``enforce_sorted=True`` on an unsorted batch), or "one of" several that do; timeouts and
        crashes are never matched."""
        if failure.kind not in (FailureKind.EXCEPTION, FailureKind.PROBE_FAILURE):
            return None
        try:
            if not self.context.references.entry(probe, args, seed).get("ok"):
                return None
        except ReferenceUnavailable:
            return None
        from grader.course.mistakes import one_of

        matches = []
        for mistake in self.context.catalog.for_probe(probe):
            try:
                entry = self.context.references.entry(probe, args, seed, mistake_variant(mistake.id))
            except ReferenceUnavailable:
                continue
            if not entry.get("ok") and entry.get("error") == failure.message:
                matches.append(mistake)
        return one_of(matches)

    def identify(
        self,
        probe: str,
        got: Any,
        want: Any,
        args: dict[str, Any],
        seed: int,
        rtol: float,
        atol: float,
        keys: list[str] | None = None,
    ) -> Mistake | None:
        """The catalogued mistake whose result equals the student's, if any. Where several do, this
        call cannot tell them apart: the answer names them all ("one of A, B"), under A's id."""
        from grader.course.mistakes import one_of

        matches = []
        for mistake in self.context.catalog.for_probe(probe):
            try:
                entry = self.context.references.entry(probe, args, seed, mistake_variant(mistake.id))
            except ReferenceUnavailable:
                continue
            if not entry.get("ok"):
                continue
            theirs = _select(entry.get("data"), keys)
            if is_close(theirs, _select(want, keys), rtol=rtol, atol=atol):
                continue  # this call cannot tell the mistake from the right answer
            if is_close(_select(got, keys), theirs, rtol=rtol, atol=atol):
                matches.append(mistake)
        return one_of(matches)

    # -- what check authors call beside compare and run (see grader.checks) -----------------------

    def drawn(self, value: int) -> int:
        """``value`` as official grading asks it: drawn from the course secret, as the seeds of probe
        calls are (``value`` itself where there is no secret). For a hidden task a check builds itself
        (a4's words to reverse, a5's made-up language): a copy of the check file, or the task as it was
        in a term before the secret was rotated, does not answer it."""
        secret = getattr(self.context.references, "secret", None)
        return secret.seed(self.context.spec.id, value) if secret is not None else value

    def tolerance_at_least(self, *, rtol: float, atol: float) -> dict[str, float]:
        """The device's tolerance widened to at least ``rtol`` and ``atol``: ``{"rtol": ..., "atol": ...}``."""
        return {"rtol": max(rtol, self.tolerance["rtol"]), "atol": max(atol, self.tolerance["atol"])}

    def known_mistake(
        self,
        probe: str,
        got: Any,
        *,
        seed: int = 0,
        keys: list[str] | None = None,
        rtol: float | None = None,
        atol: float | None = None,
        **args: Any,
    ) -> Mistake | None:
        """The catalogued mistake whose result for this probe call equals ``got`` (the student's), or None."""
        want = self.context.references.expected(probe, args, seed)
        rtol = self.tolerance["rtol"] if rtol is None else rtol
        atol = self.tolerance["atol"] if atol is None else atol
        return self.identify(probe, got, want, args, seed, rtol, atol, keys)

    def compare_curve(
        self,
        probe: str,
        *,
        curve: str = "losses",
        name: str = "the loss of each epoch",
        seed: int = 0,
        rtol: float | None = None,
        atol: float | None = None,
        explain: Callable[[Any, Any], str | None] | None = None,
        timeout: float | None = None,
        **args: Any,
    ) -> tuple[Any, Any]:
        """Run ``probe`` on both sides and compare ``result[curve]``, one value per epoch. On a
        mismatch the check fails with epochs counted from 1, the plot of both curves, and the
        catalogued mistake named; where none matches, ``explain(got, want)`` may give the diagnosis."""
        from grader.judging.convergence import show_curves

        require_probe(self.context.spec, probe, args)
        want = self.context.references.expected(probe, args, seed)
        got = self.run(probe, seed=seed, timeout=timeout, **args)
        rtol = self.tolerance["rtol"] if rtol is None else rtol
        atol = self.tolerance["atol"] if atol is None else atol
        mine = got.get(curve) if isinstance(got, dict) else got
        theirs = want.get(curve) if isinstance(want, dict) else want
        failure = curve_mismatch(mine, theirs, name=name, rtol=rtol, atol=atol)
        if failure is None:
            return got, want
        if self._details is not None:
            show_curves(self._details, {curve: mine}, {curve: theirs}, curve)
        failure.mistake = self.identify(probe, got, want, args, seed, rtol, atol, [curve])
        if failure.mistake is None and explain is not None:
            failure.diagnosis = explain(got, want) or failure.diagnosis
        raise failure


def require_probe(spec: AssignmentSpec, probe: str, args: dict[str, Any] | None = None) -> None:
    """A check that asks for a probe the assignment does not define, or calls it with arguments it does
    not take, is the check author's mistake: found here, on the trusted side, and reported as such (a
    reply from the student's process saying so would be a claim like any other). A new instructor's
    probe lacked a parameter its checks passed: every call failed alike on both sides, and the student
    was told to compare the signature of their own function."""
    if probe not in probe_names(spec):
        raise CheckAuthoringError(f"a check asks for the probe {probe!r}, which {spec.id}'s probes.py does not define")
    parameters = probe_parameters(spec).get(probe)
    why = parameters.refuses(args) if parameters is not None and args is not None else ""
    if why:
        raise CheckAuthoringError(f"a check calls the probe {probe!r} of {spec.id}'s probes.py, but {why}")


def _select(data: Any, keys: list[str] | None) -> Any:
    if keys is None or not isinstance(data, dict):
        return data
    return {key: data.get(key) for key in keys}


class GradingPlugin:
    def __init__(self, context: CheckContext) -> None:
        self.context = context
        self._seen: set[str] = set()
        self._details: dict[str, dict[str, Any]] = {}
        self.gates: dict[str, str] = {}  # check name -> the check that gates it (@gated_by)

    def pytest_configure(self, config: pytest.Config) -> None:
        config.addinivalue_line("markers", "points(n): points of this check (split across parametrized cases)")
        config.addinivalue_line("markers", "hidden: the check is not shipped to students")
        config.addinivalue_line("markers", "timeout(seconds): wall-clock limit of each probe call")
        config.addinivalue_line("markers", "gated_by(check): earns at most the share of points its gate earned")
        config.option.tbstyle = "native"  # a grader bug's traceback as Python prints it (not pytest's AST-read one)

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        groups: dict[tuple[str, str], list[pytest.Item]] = {}
        for item in items:
            groups.setdefault((item.fspath.strpath, getattr(item, "originalname", item.name)), []).append(item)
        for group in groups.values():
            marker = group[0].get_closest_marker("points")
            total = float(marker.args[0]) if marker and marker.args else 0.0
            for item in group:
                item.stash[POINTS] = total / len(group)
        names = {getattr(item, "originalname", item.name) for item in items}
        full = any(item.get_closest_marker("hidden") for item in items)  # the gates are hidden checks
        for item in items:
            gate = item.get_closest_marker("gated_by")
            if gate is None:
                continue
            if len(gate.args) != 1 or not isinstance(gate.args[0], str):
                self.context.problems.append(f"{item.name}: @gated_by takes the name of one check")
            elif gate.args[0] in names:
                self.gates[item.name] = gate.args[0]
            elif full:
                self.context.problems.append(f"{item.name}: @gated_by names {gate.args[0]!r}, which is no check")

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        if self.context.recording is not None:  # each stored answer says which check asked for it
            self.context.recording.check = item.name
        output = getattr(self.context.worker, "output", None)
        if item.get_closest_marker("hidden") and output is not None:
            output.mark()  # what is printed from here on is the instructor's only (OutputCapture.mark)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.context.problems.append(f"the checks could not be loaded:\n{report.longreprtext[-3000:]}")

    # fixtures ---------------------------------------------------------------------------------------

    @pytest.fixture
    def student(self, request: pytest.FixtureRequest) -> StudentRunner:
        marker = request.node.get_closest_marker("timeout")
        return StudentRunner(self.context.worker, float(marker.args[0]) if marker else None, self.context)

    @pytest.fixture
    def reference(self) -> ReferenceRunner:
        return ReferenceRunner(self.context.references)

    @pytest.fixture
    def judge(self, student: StudentRunner, details: dict[str, Any]) -> Judge:
        return Judge(self.context, student, details)

    @pytest.fixture
    def verifier(self) -> Any:
        """``verifier.measure(function, weights=..., **inputs)``: an outcome computed by the
        assignment's verify.py from the student's trained weights, never by student code."""
        if self.context.verifier is None:
            raise VerifierError("this assignment has no verifier (verify.py)")
        if self.context.recording is not None:
            return RecordingVerifier(self.context.verifier, self.context.recording)
        return self.context.verifier

    @pytest.fixture
    def static(self) -> StaticFindings:
        return self.context.static

    @pytest.fixture
    def device(self) -> str:
        return self.context.device

    @pytest.fixture
    def assignment(self) -> AssignmentSpec:
        return self.context.spec

    @pytest.fixture
    def filename(self) -> str:
        return self.context.filename

    @pytest.fixture
    def details(self, request: pytest.FixtureRequest) -> dict[str, Any]:
        """Extra data for the feedback page, kept whatever the outcome (e.g. ``details["curves"]``);
        ``details["note"]`` becomes the message of a check that passes."""
        return self._details.setdefault(request.node.nodeid, {})

    # outcomes ---------------------------------------------------------------------------------------

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
        outcome = yield
        report = outcome.get_result()
        if item.nodeid in self._seen:
            return
        if report.when == "call" or (report.when == "setup" and not report.passed):
            self._seen.add(item.nodeid)
            result = _check_result(item, report, call, self.context.locate)
            if "verifier" in getattr(item, "fixturenames", ()):
                _refuse_unmeasurable_training(result, self.context, self._details.get(item.nodeid, {}).get("note"))
            details = {**self._details.get(item.nodeid, {}), **result.details}
            note = details.pop("note", None)  # what a passed check wants to say (how it was judged)
            if result.status == "passed" and note:
                result.message = str(note)
            result.details = details
            self.context.results.append(result)


def _check_result(
    item: pytest.Item, report: pytest.TestReport, call: pytest.CallInfo[None], locate: Callable[[str], str]
) -> CheckResult:
    max_points = item.stash.get(POINTS, 0.0)
    result = CheckResult(
        name=item.name,
        title=_title(item),
        points=0.0,
        max_points=round(max_points, 4),
        status="passed",
        visibility="hidden" if item.get_closest_marker("hidden") else "visible",
        duration=round(report.duration, 4),
    )
    if report.passed:
        result.points = result.max_points
        return result
    if report.skipped:  # not applicable here (a rule only a GPU can show): left out of the score
        result.status = "skipped"
        result.message = _skip_reason(report)
        result.counted = False
        return result
    error = call.excinfo.value if call.excinfo is not None else None
    if isinstance(error, (PartialCredit, CheckFailure)):  # both may carry a diagnosis, a table and a mistake
        result.status = "failed"
        if isinstance(error, PartialCredit):
            result.status = "partial"
            result.points = round(max_points * error.fraction, 4)
        result.message = error.message
        result.diagnosis = error.diagnosis
        if error.mistake is not None:
            result.mistake = error.mistake.id
            result.diagnosis = f"Known mistake: {error.mistake.feedback()}" + (
                f" ({error.diagnosis})" if error.diagnosis else ""
            )
        if error.table:
            result.details["table"] = error.table
        if error.compared:  # what the page handed back leaves out on an official question (handback.py)
            result.details["compared"] = (
                {"mistake": f"Known mistake: {error.mistake.feedback()}"} if error.mistake is not None else {}
            )
    elif isinstance(error, RunFailed):
        failure = error.failure
        # A grader failure reported by the student's worker counts (at 0) like a SandboxError: the
        # student's code runs in that process and could claim one to have a check left out.
        result.status = "failed" if failure.kind.students else "error"
        result.message = locate(failure.student_message())
        if failure.traceback:
            result.details["traceback"] = locate(failure.traceback)
        result.details["kind"] = failure.kind.value
        if failure.mistake is not None:  # set by Judge.run when a catalogued mistake fails alike
            result.mistake = failure.mistake.id
            result.diagnosis = f"Known mistake: {failure.mistake.feedback()}"
    elif isinstance(error, (ReferenceUnavailable, SandboxError, VerifierError, CheckAuthoringError)):
        result.status = "error"
        result.message = f"the grader could not run this check (not your fault): {error}"
        # Left out of the score only where no student can be the cause: a sandbox or verifier failure
        # may follow from what the student's process did, so it counts (at 0) until an instructor looks.
        result.counted = not isinstance(error, (ReferenceUnavailable, CheckAuthoringError))
    elif isinstance(error, AssertionError):
        result.status = "failed"
        result.message = str(error) or "the check failed"
    else:
        result.status = "error"
        result.message = (
            "the check itself failed (a grader bug, not your fault): "
            f"{type(error).__name__ if error else 'error'}: {error}"
        )
        result.details["traceback"] = report.longreprtext[-4000:]
    return result


def _refuse_unmeasurable_training(result: CheckResult, context: CheckContext, note: Any = None) -> None:
    """A check that judges trained weights (it asks for the ``verifier``) credits nothing where the
    integrity scan flagged the submission: the training was measured in the student's own process (the
    optimizer's steps counted there, the weights kept after each step), and code that reaches around
    the grader there could forge those measurements. Judged first, then refused, so that training that
    fails anyway is told why it failed."""
    reason = context.static.describe_reaching(context.filename)
    if not reason or result.status not in ("passed", "partial"):
        return
    result.status, result.points = "failed", 0.0
    result.message = (
        f"{reason}: training is measured inside your process, and such code could forge the measurements, "
        f"so this check credits no training (judged alone: {_shortened(str(result.message or note or 'passed'))})"
    )


def _shortened(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _title(item: pytest.Item) -> str:
    function = getattr(item, "obj", None)
    doc = (getattr(function, "__doc__", None) or "").strip()
    title = (
        doc.splitlines()[0] if doc else getattr(item, "originalname", item.name).removeprefix("test_").replace("_", " ")
    )
    callspec = getattr(item, "callspec", None)
    return f"{title} [{callspec.id}]" if callspec is not None else title


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return "skipped"


# pytest's own plugins that checks never use (no doctests, unittest classes, XML reports, pdb, the
# recwarn, tmp_path, monkeypatch and subtests fixtures): registering them is most of a session's
# start-up, paid once per student and assignment (docs/authoring.md says which fixtures are off).
UNUSED_PLUGINS = [
    arg
    for name in (
        "doctest",
        "junitxml",
        "pastebin",
        "recwarn",
        "setuponly",
        "setupplan",
        "faulthandler",
        "threadexception",
        "unittest",
        "debugging",
        "tmpdir",
        "monkeypatch",
        "subtests",
    )
    for arg in ("-p", f"no:{name}")
]


def run_checks(context: CheckContext, files: list[str]) -> None:
    """Run the given check files under pytest, in this process, filling ``context.results``."""
    plugin = GradingPlugin(context)
    args = [
        *files,
        "-p",
        "no:terminal",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:stepwise",
        "-p",
        "no:warnings",
        "-p",
        "no:unraisableexception",  # a gc.collect() per session: 60 ms a student for nothing the grade uses
        "-p",
        "no:logging",
        *UNUSED_PLUGINS,
        "--capture=sys",  # a check's stray print never reaches `grade submit --json`; cheaper than fd capture
        "--assert=plain",
        "--import-mode=importlib",
        "--noconftest",
        "-c",
        os.devnull,
        "--rootdir",
        str(context.spec.spec_dir),
        # Collection starts here: without it pytest lists every directory from / down to the checks
        # (all of /tmp for a course there), per student and assignment.
        "--confcutdir",
        str(context.spec.spec_dir),
    ]
    with _no_plugin_autoload(), checks_package(context.spec.checks_dir):
        code = pytest.main(args, plugins=[plugin])
    _forget_modules(str(context.spec.checks_dir))
    apply_gates(context.results, plugin.gates)
    if code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED) and not context.problems:
        context.problems.append(f"the checks could not run (pytest exit status {int(code)})")


@contextmanager
def _no_plugin_autoload() -> Iterator[None]:
    """Third-party pytest plugins installed beside the grader must not join a grading run."""
    saved = os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
        else:
            os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = saved


def _forget_modules(directory: str) -> None:
    """Drop the check modules so the next submission imports them afresh (no state carried over)."""
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None) or ""
        if path.startswith(directory + os.sep):
            del sys.modules[name]


CHECKS_PACKAGE = "checks"  # what pytest (importlib mode, rootdir the assignment's folder) puts check modules in


NO_BYTECODE = os.path.join(os.devnull, "no-bytecode")  # where Python looks for bytecode and finds none


@contextmanager
def checks_package(directory: Path) -> Iterator[None]:
    """The checks folder as the package ``checks`` while its checks run, so that public and hidden
    checks share helper modules by relative import (``from .shared import read_split``); forgotten
    afterwards, so that the next assignment's ``checks`` never finds this one's helpers."""

    def forget() -> None:
        for name in [n for n in sys.modules if n == CHECKS_PACKAGE or n.startswith(CHECKS_PACKAGE + ".")]:
            del sys.modules[name]

    forget()
    package = types.ModuleType(CHECKS_PACKAGE)
    package.__path__ = [str(directory)]
    sys.modules[CHECKS_PACKAGE] = package
    # Checks are read from their source only: a __pycache__ beside them (a copy of the course someone
    # handed in) would otherwise be run in place of the source the course's copy was compared by.
    prefix, dont_write = sys.pycache_prefix, sys.dont_write_bytecode
    sys.pycache_prefix, sys.dont_write_bytecode = NO_BYTECODE, True
    try:
        yield
    finally:
        sys.pycache_prefix, sys.dont_write_bytecode = prefix, dont_write
        forget()


@dataclass
class CheckInfo:
    name: str
    title: str
    points: float
    visibility: str
    file: str


class _Collector:
    """Collects the checks (name, title, points, visibility) without running them."""

    def __init__(self) -> None:
        self.checks: list[CheckInfo] = []
        self.problems: list[str] = []

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        for item in session.items:
            self.checks.append(
                CheckInfo(
                    name=item.name,
                    title=_title(item),
                    points=round(float(item.stash.get(POINTS, 0.0)), 4),
                    visibility="hidden" if item.get_closest_marker("hidden") else "visible",
                    file=os.path.basename(item.fspath.strpath),
                )
            )

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.problems.append(report.longreprtext[-2000:])


def collection_problems(spec: AssignmentSpec, full: bool = True) -> list[str]:
    """What only collecting the checks shows, one sentence each: checks that cannot be collected, points
    that do not add up to the assignment's (``full``: every check is present), and checks outside the
    public files that are not marked hidden (students' feedback would show them in full)."""
    checks, problems = collect_checks(spec)
    found = [f"its checks cannot be collected: {problem.strip().splitlines()[-1][:300]}" for problem in problems]
    total = sum(check.points for check in checks)
    if full and checks and abs(total - spec.points) > 0.01:
        found.append(
            f"its checks add up to {round(total, 2):g} points, but assignment.toml says points = {spec.points:g}: "
            "change a check's @points or the assignment's points"
        )
    unmarked = sorted({c.file for c in checks if c.file not in spec.public_checks and c.visibility != "hidden"})
    found += [
        f"{name} is not among public_checks, yet its checks are not marked hidden: the feedback students "
        "get back would show them in full (add `pytestmark = hidden`)"
        for name in unmarked
    ]
    return found


def collect_checks(spec: AssignmentSpec) -> tuple[list[CheckInfo], list[str]]:
    """The checks of an assignment with their points, as pytest would run them."""
    collector = _Collector()
    marker_plugin = GradingPlugin(CheckContext(spec, None, None, None, StaticFindings(), ""))  # type: ignore[arg-type]
    args = [str(p) for p in spec.check_files()] + [
        "--collect-only",
        "-p",
        "no:terminal",
        "-p",
        "no:cacheprovider",
        "--import-mode=importlib",
        "--noconftest",
        "-c",
        os.devnull,
        "--rootdir",
        str(spec.spec_dir),
        "--confcutdir",
        str(spec.spec_dir),
    ]
    with _no_plugin_autoload(), checks_package(spec.checks_dir):
        pytest.main(args, plugins=[marker_plugin, collector])
    _forget_modules(str(spec.checks_dir))
    return collector.checks, collector.problems + marker_plugin.context.problems  # e.g. a gate naming no check
