"""Figures of grading wrong work: every catalogued mistake of an assignment, graded by one slot.

    .venv/bin/python benchmarks/mutant_speed.py [--assignment a1_srn_numpy] [--limit 16]

Each mutant (the reference with one catalogued mistake) is graded in turn by one `GradingSlot`, as a
`grade report` slot grades a class, after one mutant that starts the workers and fills the answers'
cache. Prints the wall time per mutant and the CPU the trusted side (the slot: pytest, the judges,
naming the mistake, the pages) spent on each; the sandbox's share is the rest of the wall time.
Asserts nothing. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO  # noqa: E402

from grader.course.mistakes import load_catalog  # noqa: E402
from grader.course.model import load_course  # noqa: E402
from grader.grading.batch import BatchOptions, grade_student  # noqa: E402
from grader.grading.slot import GradingSlot  # noqa: E402
from grader.intake.students import Student  # noqa: E402
from grader.sandbox.isolation import choose  # noqa: E402


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assignment", default="a1_srn_numpy")
    parser.add_argument("--limit", type=int, default=16, help="grade at most this many mutants")
    options = parser.parse_args()

    course = load_course(REPO)
    spec = course.get(options.assignment)
    reference = spec.solution_files()
    mistakes = load_catalog(spec.mistakes_path).mistakes[: options.limit + 1]
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        students = []
        for mistake in mistakes:
            folder = root / "class" / mistake.id / spec.id
            folder.mkdir(parents=True)
            for name, data in mistake.mutate(reference, spec.module).items():
                (folder / name).write_bytes(data)
            students.append(Student(mistake.id, folder.parent))
        batch = BatchOptions(workers=1)
        out = root / "grades"
        with GradingSlot(course, batch.grade, isolation=choose("auto")) as slot:
            grade_student(slot, students[0], out, batch)  # starts the workers, fills the cache
            started, cpu = time.monotonic(), _cpu()
            for student in students[1:]:
                grade_student(slot, student, out, batch)
            wall, spent = time.monotonic() - started, _cpu() - cpu
    count = len(students) - 1
    print(f"{spec.id}: {count} mutants graded by one slot")
    print(f"  wall per mutant        {wall / count:.3f} s")
    print(f"  trusted side's CPU     {spent / count:.3f} s per mutant")
    print(f"  the sandbox's share    {max(wall - spent, 0.0) / count:.3f} s per mutant (wall less the trusted side)")


if __name__ == "__main__":
    main()
