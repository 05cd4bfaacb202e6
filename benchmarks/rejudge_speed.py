"""How long `grade rejudge` takes for the 100-student a2 class of class_speed.py (goal: under 5 s).

    .venv/bin/python benchmarks/rejudge_speed.py [--students 100] [--runs 3] [--compare] [--allow-unsandboxed]

Grades the class once with `grade report` (correct work, catalogued mistakes, crashes, endless loops,
empty folders, as class_speed.py makes them) against a copy of a2, then changes one check's points
(test_encode 5 -> 8) and the tolerance (rtol 1e-5 -> 1e-3), and times `grade rejudge` on the results:
the whole command (start-up, judging, pages, gradebook, overview), with the CPU time of all its
processes (the 2-core machine these figures come from is shared, so wall time says little alone).
With --compare, the class is then graded again in full and every check (status, points, message,
mistake, diagnosis) is compared with the rejudged one. Reference answers are cached by the first
report, as after any real one. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from class_speed import make_class  # noqa: E402
from common import GRADE, REPO, mb, run_measured  # noqa: E402

A2 = "a2_rnncell_ohlol"


def course_copy(root: Path) -> Path:
    shutil.copytree(REPO / "assignments" / A2, root / "assignments" / A2)
    shutil.copytree(REPO / "solutions" / A2, root / "solutions" / A2)
    return root


def change_course(course: Path) -> None:
    """One check's points and the assignment's tolerance, as an instructor would change them."""
    public = course / "assignments" / A2 / "checks" / "test_public.py"
    public.write_text(public.read_text().replace("@points(5)\ndef test_encode", "@points(8)\ndef test_encode"))
    toml = course / "assignments" / A2 / "assignment.toml"
    toml.write_text(toml.read_text().replace("[tolerance]\nrtol = 1e-5", "[tolerance]\nrtol = 1e-3"))


def checks(grades: Path) -> dict[str, dict[str, tuple]]:
    found = {}
    for path in sorted((grades / "students").glob("*/feedback.json")):
        result = json.loads(path.read_text())
        found[path.parent.name] = {
            f"{a['id']}/{c['name']}": (
                c["points"],
                c["max_points"],
                c["status"],
                c["message"],
                c["mistake"],
                c["diagnosis"],
            )
            for a in result["assignments"]
            for c in a["checks"]
        }
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--compare", action="store_true", help="also regrade in full and compare every check")
    parser.add_argument("--allow-unsandboxed", action="store_true", help="grade without bubblewrap")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bench-rejudge-"))
    env = {"GRADER_CACHE_DIR": str(scratch / "cache")}
    extra = ["--allow-unsandboxed"] if args.allow_unsandboxed else []
    try:
        course = course_copy(scratch / "course")
        submissions, grades = scratch / "a2-class", scratch / "grades"
        counts = make_class(submissions, [A2], args.students)
        report = GRADE + ["report", str(submissions), "--course", str(course), "--workers", "2", *extra]
        seconds, _, _ = run_measured(report + ["--out", str(grades)], env)
        print(f"grade report, {args.students} a2 students {counts}, 2 workers: {seconds:.1f} s")
        sizes = [len(p.read_bytes()) for p in (grades / "students").glob("*/feedback.json")]
        print(f"result files: median {statistics.median(sizes) / 1024:.0f} KB, largest {max(sizes) / 1024:.0f} KB")
        change_course(course)
        commands, peaks, cpu, loads = [], [], [], []
        first = None
        for _ in range(args.runs):
            loads.append(os.getloadavg()[0])
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            seconds, peak, process = run_measured(GRADE + ["rejudge", str(grades), "--course", str(course)], env)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            first = first or process.stdout
            commands.append(seconds)
            peaks.append(peak)
            cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        print(first.strip().splitlines()[-1] if first else "")
        print(
            f"grade rejudge (whole command): median {statistics.median(commands):.2f} s over {args.runs} runs "
            f"({', '.join(f'{t:.2f}' for t in commands)}); CPU time of all its processes: median "
            f"{statistics.median(cpu):.2f} s ({', '.join(f'{t:.2f}' for t in cpu)}); load average "
            f"{', '.join(f'{x:.1f}' for x in loads)}; peak memory {mb(max(peaks))}"
        )
        if args.compare:
            regraded = scratch / "regraded"
            seconds, _, _ = run_measured(report + ["--out", str(regraded)], env)
            mine, theirs = checks(grades), checks(regraded)
            differing = {s: [k for k in theirs[s] if mine.get(s, {}).get(k) != theirs[s][k]] for s in theirs}
            differing = {s: keys for s, keys in differing.items() if keys or set(mine.get(s, {})) != set(theirs[s])}
            print(
                f"full regrade after the change: {seconds:.1f} s; rejudged checks equal to the regrade's for "
                f"{len(theirs) - len(differing)} of {len(theirs)} students"
                + (f"; differing: {json.dumps(differing)[:2000]}" if differing else "")
            )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
