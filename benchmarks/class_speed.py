"""Figures of batch grading: a synthetic class graded with `grade report`, and single submissions.

    .venv/bin/python benchmarks/class_speed.py [--students 100] [--full 30] [--runs 3] [--parts class,full]

1. `grade report` over a class of a2 students (correct, catalogued mistakes, crashing at import,
   endless loops, empty folders) with 2 workers: wall time, per-student cost, peak memory;
2. the same class's per-student overhead with the pre-started worker and with a fresh worker per
   student (what the zygote saves);
3. `grade submit` on one a2 submission and on one full submission (all five assignments);
4. `grade report` over full submissions of all five assignments.

Prints figures; asserts nothing. Reference answers are cached before timing (as in a real batch after
its first student). Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import ast
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import GRADE, REPO, mb, run_measured  # noqa: E402

from grader.course.mistakes import load_catalog  # noqa: E402
from grader.course.model import load_course  # noqa: E402

COURSE = load_course(REPO)
KINDS = ("correct", "mistake", "crash", "timeout", "empty")
MIX = {"correct": 0.45, "mistake": 0.30, "crash": 0.10, "timeout": 0.10, "empty": 0.05}


def variant(assignment_id: str, kind: str, index: int) -> dict[str, str]:
    spec = COURSE.get(assignment_id)
    files = {name: data.decode() for name, data in spec.solution_files().items()}
    main = f"{spec.module}.py"
    if kind == "mistake":
        mistakes = load_catalog(spec.mistakes_path).mistakes
        mutated = mistakes[index % len(mistakes)].mutate(spec.solution_files(), spec.module)
        files = {name: data.decode() for name, data in mutated.items()}
    elif kind == "crash":
        files[main] = "import os\nos._exit(3)\n" + files[main]
    elif kind == "timeout":
        files[main] = _endless_loop_in_last_function(files[main])
    elif kind == "empty":
        return {}
    return files


def _endless_loop_in_last_function(source: str) -> str:
    """An endless loop at the start of the module's last function or method (train, predict...)."""
    tree = ast.parse(source)
    function = max((n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)), key=lambda n: n.lineno)
    lines = source.splitlines(keepends=True)
    first = function.body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):  # after the docstring
        first = function.body[1] if len(function.body) > 1 else first
    indent = " " * first.col_offset
    lines.insert(first.lineno - 1, f"{indent}while True:\n{indent}    pass\n")
    return "".join(lines)


def make_class(root: Path, assignments: list[str], students: int) -> dict[str, int]:
    counts = {kind: 0 for kind in KINDS}
    plan = [kind for kind in KINDS for _ in range(round(MIX[kind] * students))][:students]
    plan += ["correct"] * (students - len(plan))
    for index, kind in enumerate(plan):
        folder = root / f"student-{index:03d}"
        folder.mkdir(parents=True)
        counts[kind] += 1
        for assignment_id in assignments:
            for name, text in variant(assignment_id, kind, index).items():
                target = folder / assignment_id / name if len(assignments) > 1 else folder / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text)
    return counts


def report(root: Path, workers: int, cache: str, extra: list[str] | None = None) -> tuple[float, int]:
    out = tempfile.mkdtemp(prefix="bench-grades-")
    seconds, peak, _ = run_measured(
        GRADE + ["report", str(root), "--out", out, "--workers", str(workers), *(extra or [])],
        {"GRADER_CACHE_DIR": cache},
    )
    shutil.rmtree(out, ignore_errors=True)
    return seconds, peak


def submit(folder: Path, cache: str, runs: int, assignment: list[str]) -> tuple[float, list[float], int]:
    out = tempfile.mkdtemp(prefix="bench-submit-")
    command = GRADE + ["submit", str(folder), "--out", out, *assignment]
    run_measured(command, {"GRADER_CACHE_DIR": cache})
    values, peak = [], 0
    for _ in range(runs):
        seconds, memory, _ = run_measured(command, {"GRADER_CACHE_DIR": cache})
        values.append(seconds)
        peak = max(peak, memory)
    return statistics.median(values), values, peak


def overhead_per_student(root: Path, cache: str, fresh: bool, limit: int) -> float:
    """Seconds per student for the first ``limit`` correct students, via the Python API."""
    from grader.grading.slot import GradeOptions, GradingSlot

    folders = sorted(root.iterdir())[:limit]
    with GradingSlot(
        COURSE, GradeOptions(cache_dir=Path(cache), fresh_worker=fresh), assignments=["a2_rnncell_ohlol"]
    ) as grader:
        grader.grade(folders[0])  # warm: the first student always pays the start-up
        started = time.perf_counter()
        for folder in folders:
            grader.grade(folder)
    return (time.perf_counter() - started) / len(folders)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=100)
    parser.add_argument("--full", type=int, default=30)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--parts",
        default="class,overhead,submit,full",
        help="comma-separated: class, overhead, submit, full (default: all)",
    )
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    scratch = Path(tempfile.mkdtemp(prefix="bench-class-"))
    cache = str(scratch / "cache")
    if "class" in parts:
        a2_class(scratch, cache, args.students, args.runs)
    if "overhead" in parts:
        zygote_overhead(scratch, cache)
    if "submit" in parts:
        single_submissions(scratch, cache, args.runs)
    if "full" in parts and args.full:
        full_class(scratch, cache, args.full)
    shutil.rmtree(scratch, ignore_errors=True)


def a2_class(scratch: Path, cache: str, students: int, runs: int) -> None:
    a2 = scratch / "a2-class"
    counts = make_class(a2, ["a2_rnncell_ohlol"], students)
    print(f"a2 class: {students} students {counts}")
    report(a2, 2, cache)  # fill the reference cache (a real batch does this with its first students)
    times, peaks = [], []
    for _ in range(runs):
        seconds, peak = report(a2, 2, cache)
        times.append(seconds)
        peaks.append(peak)
    wall = statistics.median(times)
    print(
        f"grade report, {students} a2 students, 2 workers: median {wall:.1f} s over {runs} runs "
        f"({', '.join(f'{t:.1f}' for t in times)}); {wall / students:.2f} s per student; "
        f"peak memory {mb(max(peaks))}"
    )


def zygote_overhead(scratch: Path, cache: str) -> None:
    correct = scratch / "a2-correct"
    make_class(correct, ["a2_rnncell_ohlol"], 10)
    with_zygote = overhead_per_student(correct, cache, fresh=False, limit=4)
    without = overhead_per_student(correct, cache, fresh=True, limit=4)
    print(
        f"per student, one slot, correct a2: {with_zygote:.2f} s with the pre-started worker, "
        f"{without:.2f} s starting a fresh worker each time (saves {without - with_zygote:.2f} s per student)"
    )


def single_submissions(scratch: Path, cache: str, runs: int) -> None:
    one = scratch / "one-a2"
    one.mkdir()
    shutil.copy(REPO / "solutions" / "a2_rnncell_ohlol" / "ohlol.py", one / "ohlol.py")
    median, values, peak = submit(one, cache, runs, [])
    print(
        f"grade submit, one a2 submission: median {median:.2f} s ({', '.join(f'{v:.2f}' for v in values)}); "
        f"peak memory {mb(peak)}"
    )
    median, values, peak = submit(REPO / "solutions", cache, runs, [])
    print(
        f"grade submit, one full submission (all five): median {median:.2f} s "
        f"({', '.join(f'{v:.2f}' for v in values)}); peak memory {mb(peak)}"
    )
    for spec in COURSE.assignments.values():
        median, values, _ = submit(REPO / "solutions", cache, runs, ["--assignment", spec.id])
        print(f"grade submit, reference of {spec.id}: median {median:.2f} s")


def full_class(scratch: Path, cache: str, students: int) -> None:
    full = scratch / "full-class"
    counts = make_class(full, list(COURSE.assignments), students)
    report(full, 2, cache)
    seconds, peak = report(full, 2, cache)
    print(
        f"grade report, {students} full submissions (all five) {counts}, 2 workers: {seconds:.1f} s "
        f"({seconds / students:.2f} s per student); peak memory {mb(peak)}"
    )


if __name__ == "__main__":
    main()
