"""Figures of the grading engine: a1 grading time, worker start-up, sandbox overhead, containment.

    .venv/bin/python benchmarks/engine_speed.py [--runs 5]

Prints figures; asserts nothing. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import GRADE, mb, median_of, run_measured  # noqa: E402

from grader.errors import StudentError  # noqa: E402
from grader.sandbox import Limits, LoadSpec, Sandbox  # noqa: E402
from grader.sandbox.isolation import BUBBLEWRAP, UNISOLATED, bubblewrap_works  # noqa: E402

PROBES = '''
def call(student, name):
    return getattr(student, name)()
'''
STUDENT = b'''
import os, time
def nothing():
    return 1
def process_bomb():
    count = 0
    try:
        while True:
            if os.fork() == 0:
                time.sleep(1000)
                os._exit(0)
            count += 1
    except OSError:
        return count
def memory_bomb():
    hoard = []
    while True:
        hoard.append(bytearray(64 * 2**20))
'''


def grade_submit_a1(runs: int, cache: str) -> None:
    out = tempfile.mkdtemp()
    command = GRADE + ["submit", "solutions", "--assignment", "a1_srn_numpy", "--out", out]
    env = {"GRADER_CACHE_DIR": cache}
    run_measured(command, env)  # fill the reference cache first
    seconds, peak = [], []
    for _ in range(runs):
        wall, memory, _ = run_measured(command, env)
        seconds.append(wall)
        peak.append(memory)
    print(f"grade submit a1 reference: median {statistics.median(seconds):.2f} s over {runs} runs "
          f"(min {min(seconds):.2f}, max {max(seconds):.2f}); peak memory of the process tree {mb(max(peak))}")


def worker_startup(isolation, preload: list[str], runs: int) -> float:
    def once() -> float:
        box = Sandbox(isolation, preload=preload)
        started = time.perf_counter()
        box.zygote()
        elapsed = time.perf_counter() - started
        box.close()
        return elapsed

    value, _ = median_of(runs, once)
    return value


def per_submission(isolation, runs: int) -> float:
    """Fork a child from a ready worker, send a submission, import it, answer one probe, clean up."""
    box = Sandbox(isolation, preload=["numpy"])
    box.zygote()
    spec = LoadSpec("mod", "mod.py", {"mod.py": STUDENT}, PROBES)

    def once() -> float:
        started = time.perf_counter()
        worker = box.worker(spec, Limits())
        worker.call("call", {"name": "nothing"})
        worker.close()
        return time.perf_counter() - started

    once()
    value, _ = median_of(runs, once)
    box.close()
    return value


def containment(isolation, name: str, limits: Limits) -> tuple[float, float, str]:
    """Seconds from the call until the bomb is over and cleaned up, and the clean-up's own share."""
    box = Sandbox(isolation, preload=["numpy"])
    box.zygote()
    worker = box.worker(LoadSpec("mod", "mod.py", {"mod.py": STUDENT}, PROBES), limits)
    started = time.perf_counter()
    try:
        outcome = f"returned {worker.call('call', {'name': name})}"
    except StudentError as exc:
        outcome = f"{exc.kind}: {exc.message[:70]}"
    worker.close()
    contained = time.perf_counter() - started
    report = worker.last_cleanup
    box.close()
    return contained, report.get("seconds", 0.0), f"{outcome}; {report.get('killed', 0)} processes killed"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        grade_submit_a1(args.runs, cache)
    kinds = [("plain", UNISOLATED)] + ([("bubblewrap", BUBBLEWRAP)] if bubblewrap_works() else [])
    for label, isolation in kinds:
        numpy_start = worker_startup(isolation, ["numpy"], args.runs)
        torch_start = worker_startup(isolation, ["numpy", "torch"], max(2, args.runs // 2))
        child = per_submission(isolation, args.runs * 4)
        print(f"{label:>10}: worker start-up {numpy_start:.2f} s (numpy), {torch_start:.2f} s (numpy+torch, "
              f"warm Adam); per submission from a ready worker {1000 * child:.0f} ms (fork, import, one probe, clean-up)")
    for label, isolation in kinds:
        for name, limits in (("process_bomb", Limits(processes=64, probe_timeout_s=10)),
                             ("memory_bomb", Limits(memory_mb=512, probe_timeout_s=10))):
            contained, cleanup, outcome = containment(isolation, name, limits)
            print(f"{label:>10}: {name}: contained and cleaned up in {contained:.2f} s, of which clean-up "
                  f"{cleanup:.2f} s ({outcome})")


if __name__ == "__main__":
    main()
