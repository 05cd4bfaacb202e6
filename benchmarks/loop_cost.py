"""What an endless loop costs: `grade submit` of a2 with a loop in one function, against the correct work.

    .venv/bin/python benchmarks/loop_cost.py [--runs 1] [--functions forward,train,predict]

For each function, the reference solution with ``while True: pass`` at the top of that function is
graded with the instructor's course (reference answers timed on this machine), and the same for the
correct solution; the difference of the assignment's duration is what the loop cost. Before the
issue-13 fix a loop in ``forward`` cost its first plain probe's limit, then each training check's own
``@timeout`` (30 s, 60 s, ...): about 90 s. Prints figures; asserts nothing. Reference answers are
cached by a first run that is not counted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import GRADE, REPO, run_measured  # noqa: E402

A2 = "a2_rnncell_ohlol"
REFERENCE = (REPO / "solutions" / A2 / "ohlol.py").read_text()


def with_loop(source: str, function: str) -> str:
    lines = []
    for line in source.splitlines():
        lines.append(line)
        if line.lstrip().startswith(f"def {function}("):
            indent = " " * (len(line) - len(line.lstrip()) + 4)
            lines += [f"{indent}while True:", f"{indent}    pass"]
    return "\n".join(lines) + "\n"


def grade_once(source: str, root: Path, name: str) -> tuple[float, list[dict]]:
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ohlol.py").write_text(source)
    out = root / f"out-{name}"
    _, _, process = run_measured([*GRADE, "submit", str(folder), "-a", A2, "--out", str(out), "--json"])
    result = json.loads(process.stdout)
    work = result["assignments"][0]
    return work["duration"], work["checks"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--functions", default="forward,train,predict")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        grade_once(REFERENCE, root, "warm")  # computes and caches the reference answers
        correct = [grade_once(REFERENCE, root, f"correct-{i}")[0] for i in range(options.runs)]
        print(f"a2 correct: {statistics.median(correct):.1f} s (median of {options.runs})")
        for function in options.functions.split(","):
            durations, stopped, refused = [], 0, 0
            for run in range(options.runs):
                seconds, checks = grade_once(with_loop(REFERENCE, function), root, f"{function}-{run}")
                durations.append(seconds)
                stopped = sum("did not finish within" in c["message"] for c in checks)
                refused = sum("so it was not run again" in c["message"] for c in checks)
            cost = statistics.median(durations) - statistics.median(correct)
            print(
                f"a2 loop in {function}: {statistics.median(durations):.1f} s, {cost:+.1f} s over correct work; "
                f"{stopped} check(s) waited out a limit, {refused} refused at once"
            )


if __name__ == "__main__":
    main()
