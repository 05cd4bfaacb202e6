"""What an endless loop costs: `grade submit` of one assignment with a loop in one function, against the correct work.

    .venv/bin/python benchmarks/loop_cost.py [--runs 1] [--cases a2:forward,a2:train,...]

For each case, the reference solution with ``while True: pass`` at the top of that function's body is
graded with the instructor's course (reference answers timed on this machine), and the same for the
correct solution; the difference of the assignment's duration is what the loop cost. Before issue 13
a loop in a2's ``forward`` cost its first plain probe's limit and then each training check's own
``@timeout`` (30 s, 60 s, ...): about 90 s; a loop that only training reaches cost the first training
check's whole limit, and so did training that never ends (``a2:never_converging``). Prints figures;
asserts nothing. Reference answers are cached by a first run that
is not counted.
"""

from __future__ import annotations

import argparse
import ast
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import GRADE, REPO, run_measured  # noqa: E402

ASSIGNMENTS = {
    "a2": ("a2_rnncell_ohlol", "ohlol.py"),
    "a3": ("a3_craft_rnn", "craft_rnn.py"),
    "a4": ("a4_seq2seq", "seq2seq.py"),
    "a5": ("a5_sentiment_lstm", "sentiment.py"),
}
CASES = (
    "a2:forward,a2:train,a2:predict,a3:CraftRNN.forward,a4:train_step,a4:greedy_decode,a5:train_epoch,a5:evaluate,"
    "a2:never_converging"
)
# Loops that are not a `while True: pass`: training that waits for a loss it never reaches.
SPECIAL = {
    ("a2", "never_converging"): ("    for _ in range(epochs):\n", "    while not losses or losses[-1] > 0.0:\n"),
}


def with_loop(source: str, qualname: str) -> str:
    """``source`` with ``while True: pass`` before the first statement of ``qualname``'s body (a bare
    name: the first function of that name, methods included)."""
    *owners, name = qualname.split(".")
    tree = ast.parse(source)
    for owner in owners:
        tree = next(node for node in ast.walk(tree) if isinstance(node, ast.ClassDef) and node.name == owner)
    function = next(node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef) and node.name == name)
    first = function.body[0]
    indent = " " * first.col_offset
    lines = source.splitlines()
    at = first.lineno - 1
    return "\n".join([*lines[:at], f"{indent}while True:", f"{indent}    pass", *lines[at:]]) + "\n"


def grade_once(assignment: str, filename: str, source: str, root: Path, name: str) -> tuple[float, list[dict]]:
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / filename).write_text(source)
    out = root / f"out-{name}"
    command = [*GRADE, "submit", str(folder), "-a", assignment, "--out", str(out), "--json"]
    _, _, process = run_measured(command, env={"GRADER_CACHE_DIR": str(root / "cache")})  # answers timed here, now
    work = json.loads(process.stdout)["assignments"][0]
    return work["duration"], work["checks"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--cases", default=CASES, help="assignment:function pairs, comma-separated")
    options = parser.parse_args()
    cases = [case.split(":") for case in options.cases.split(",")]
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        correct: dict[str, float] = {}
        for short in dict.fromkeys(short for short, _ in cases):
            assignment, filename = ASSIGNMENTS[short]
            reference = (REPO / "solutions" / assignment / filename).read_text()
            grade_once(assignment, filename, reference, root, f"{short}-warm")  # computes the reference answers
            runs = [grade_once(assignment, filename, reference, root, f"{short}-{i}")[0] for i in range(options.runs)]
            correct[short] = statistics.median(runs)
            print(f"{short} correct: {correct[short]:.1f} s (median of {options.runs})", flush=True)
        for short, function in cases:
            assignment, filename = ASSIGNMENTS[short]
            reference = (REPO / "solutions" / assignment / filename).read_text()
            if (short, function) in SPECIAL:
                find, replace = SPECIAL[short, function]
                source = reference.replace(find, replace, 1)
            else:
                source = with_loop(reference, function)
            durations, checks = [], []
            for run in range(options.runs):
                seconds, checks = grade_once(assignment, filename, source, root, f"{short}-{function}-{run}")
                durations.append(seconds)
            messages = [c["message"] for c in checks]
            waited = sum("did not finish within" in m for m in messages)
            stuck = sum(m.startswith("your code was stopped after") for m in messages)  # stuck, or past its steps
            refused = sum("so it was not run again" in m for m in messages)
            cost = statistics.median(durations) - correct[short]
            print(
                f"{short} loop in {function}: {statistics.median(durations):.1f} s, {cost:+.1f} s over correct work; "
                f"{waited} check(s) waited out a limit, {stuck} stopped as stuck, {refused} refused at once",
                flush=True,
            )


if __name__ == "__main__":
    main()
