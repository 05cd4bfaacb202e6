"""Wall time of `grade submit` on the references of a4_seq2seq and a5_sentiment_lstm (prints figures,
asserts nothing).

For each assignment: one run with an empty expected-data cache (the reference's answers, its training
runs included, are computed then), then N runs with that cache warm, as a class of students sees it.
Reported: the wall time of the whole command, the time of the assignment's checks, and how much of
that the training checks take (student side; the reference side is cached when warm).

    .venv/bin/python benchmarks/a4_a5_submit_times.py            # 5 warm runs each
    .venv/bin/python benchmarks/a4_a5_submit_times.py --runs 3 -a a5_sentiment_lstm
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TRAINING_CHECKS = {
    "a4_seq2seq": ("test_toy_pairs_learned", "test_reversal_learned"),
    "a5_sentiment_lstm": ("test_training_dev_accuracy", "test_training_test_accuracy"),
}


def submit_once(assignment, cache_dir, out_dir):
    """One `grade submit` of the reference: (wall seconds, the assignment's result)."""
    environment = {**os.environ, "GRADER_CACHE_DIR": str(cache_dir)}
    environment.pop("GRADER_COURSE", None)
    command = [sys.executable, "-m", "grader", "submit", str(REPO / "solutions"), "-a", assignment,
               "--out", str(out_dir), "--json"]
    started = time.perf_counter()
    process = subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=environment, check=True)
    wall = time.perf_counter() - started
    result = json.loads(process.stdout)["assignments"][0]
    if result["score"] != result["max_score"]:
        raise SystemExit(f"{assignment}: the reference scored {result['score']}; fix that first")
    return wall, result


def breakdown(result, assignment):
    training = sum(c["duration"] for c in result["checks"] if c["name"] in TRAINING_CHECKS[assignment])
    return result["duration"], training


def measure(assignment, runs):
    with tempfile.TemporaryDirectory() as scratch:
        cache, out = Path(scratch) / "cache", Path(scratch) / "out"
        cold_wall, cold = submit_once(assignment, cache, out)
        cold_checks, cold_training = breakdown(cold, assignment)
        warm = [submit_once(assignment, cache, out) for _ in range(runs)]
    walls = [wall for wall, _ in warm]
    checks = [breakdown(result, assignment) for _, result in warm]
    print(f"\n{assignment}")
    print(f"  cold cache : wall {cold_wall:6.2f} s   checks {cold_checks:6.2f} s   training checks {cold_training:6.2f} s")
    print(f"  warm cache : wall {statistics.median(walls):6.2f} s   checks {statistics.median(c for c, _ in checks):6.2f} s"
          f"   training checks {statistics.median(t for _, t in checks):6.2f} s   (median of {runs}; walls "
          + ", ".join(f"{w:.2f}" for w in walls) + ")")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="warm runs per assignment (median reported)")
    parser.add_argument("-a", "--assignment", action="append", choices=sorted(TRAINING_CHECKS),
                        help="assignment(s) to measure (default both)")
    args = parser.parse_args()
    print(f"grade submit on the reference; {os.cpu_count()} CPUs; load average "
          + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    for assignment in args.assignment or sorted(TRAINING_CHECKS):
        measure(assignment, args.runs)


if __name__ == "__main__":
    main()
