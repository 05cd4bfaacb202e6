"""How long `grade rejudge` takes for the 100-student a2 class of class_speed.py (goal: under 5 s).

    .venv/bin/python benchmarks/rejudge_speed.py [--students 100] [--runs 3] [--allow-unsandboxed]

Grades the class once with `grade report` (correct work, catalogued mistakes, crashes, endless loops,
empty folders, as class_speed.py makes them), then times `grade rejudge` on its results: the whole
command (start-up, rejudging, rewriting pages, gradebook and overview) and, in this process, the
rejudging alone. Reference answers are cached by the report, as they are after any real one.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from class_speed import make_class  # noqa: E402
from common import GRADE, REPO, mb, run_measured  # noqa: E402

A2 = "a2_rnncell_ohlol"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--allow-unsandboxed", action="store_true", help="grade without bubblewrap")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bench-rejudge-"))
    env = {"GRADER_CACHE_DIR": str(scratch / "cache")}
    try:
        submissions, grades = scratch / "a2-class", scratch / "grades"
        counts = make_class(submissions, [A2], args.students)
        extra = ["--allow-unsandboxed"] if args.allow_unsandboxed else []
        seconds, _, _ = run_measured(
            GRADE + ["report", str(submissions), "--out", str(grades), "--workers", "2", *extra], env
        )
        print(f"grade report, {args.students} a2 students {counts}, 2 workers: {seconds:.1f} s")
        sizes = [len(p.read_bytes()) for p in (grades / "students").glob("*/feedback.json")]
        print(f"result files: median {statistics.median(sizes) / 1024:.0f} KB, largest {max(sizes) / 1024:.0f} KB")
        commands, peaks, cpu = [], [], []
        for _ in range(args.runs):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            seconds, peak, _ = run_measured(GRADE + ["rejudge", str(grades), "--quiet"], env)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            commands.append(seconds)
            peaks.append(peak)
            cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        print(
            f"grade rejudge (whole command): median {statistics.median(commands):.2f} s over {args.runs} runs "
            f"({', '.join(f'{t:.2f}' for t in commands)}); CPU time (all its processes) median "
            f"{statistics.median(cpu):.2f} s; load average before {os.getloadavg()[0]:.1f}; peak memory {mb(max(peaks))}"
        )
        os.environ.update(env)
        from grader.course.model import load_course
        from grader.grading.rejudge import rejudge_class

        course = load_course(REPO)
        alone = []
        for _ in range(args.runs):
            started = time.perf_counter()
            report = rejudge_class(course, grades)
            alone.append(time.perf_counter() - started)
        print(
            f"rejudging alone (in process): median {statistics.median(alone):.2f} s "
            f"({', '.join(f'{t:.2f}' for t in alone)}); {len(report.unchanged) + len(report.rejudged)} students "
            f"judged again, {len(report.needs_regrade)} need a regrade, {len(report.skipped)} not judged"
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
