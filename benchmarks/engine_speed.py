"""Figures of the grading engine: a1 grading time, worker start-up, sandbox overhead, containment.

    .venv/bin/python benchmarks/engine_speed.py [--runs 5] [--per-submission]

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

from grader.errors import RunFailed  # noqa: E402
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
    print(
        f"grade submit a1 reference: median {statistics.median(seconds):.2f} s over {runs} runs "
        f"(min {min(seconds):.2f}, max {max(seconds):.2f}); peak memory of the process tree {mb(max(peak))}"
    )


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
    """Fork a child from a ready worker (into its own namespaces and cgroup where the host allows),
    send a submission, import it, answer one probe, end it and everything it started."""
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
    except RunFailed as exc:
        outcome = f"{exc.failure.kind.value}: {exc.failure.message[:70]}"
    worker.close()
    contained = time.perf_counter() - started
    report = worker.last_cleanup
    box.close()
    return contained, report.get("seconds", 0.0), f"{outcome}; {report.get('killed', 0)} processes killed"


def box_alone(isolation, runs: int) -> float:
    """A child's box alone: spawn it (namespaces, mounts, cgroup), let it end at once, clean up after it."""
    import os

    box = Sandbox(isolation, preload=["numpy"])
    zygote = box.zygote()

    def once() -> float:
        request_r, request_w = os.pipe()
        reply_r, reply_w = os.pipe()
        output_r, output_w = os.pipe()
        started = time.perf_counter()
        pid = zygote.spawn(
            {"uid": zygote.uid, "limits": Limits().for_child(), "scratch": zygote.scratch},
            [request_r, reply_w, output_w],
        )
        for fd in (request_r, reply_w, output_w, request_w):  # no submission: the child reads EOF and ends
            os.close(fd)
        os.read(reply_r, 1)
        zygote.reap(pid, 1.0)
        zygote.cleanup()
        elapsed = time.perf_counter() - started
        os.close(reply_r)
        os.close(output_r)
        return elapsed

    once()
    value, _ = median_of(runs, once)
    box.close()
    return value


def box_of(isolation) -> str:
    """What each child gets of its own with this isolation, as the zygote found at start-up."""
    sandbox = Sandbox(isolation, preload=[])
    try:
        box = sandbox.zygote().box
    finally:
        sandbox.close()
    namespaces = "own pid/IPC/mount namespaces" if box.get("namespaces") else f"no namespaces ({box.get('problem')})"
    return f"{namespaces}, {'a cgroup' if box.get('cgroups') else 'no cgroup'}"


def overhead_only(kinds: list, runs: int) -> None:
    """The per-submission figure alone, several rounds (the machine's load varies): the median of each."""
    for label, isolation in kinds:
        rounds = [per_submission(isolation, runs * 4) for _ in range(3)]
        alone = box_alone(isolation, runs * 4)
        print(
            f"{label:>10}: per submission from a ready worker {1000 * statistics.median(rounds):.0f} ms "
            f"(rounds: {', '.join(f'{1000 * r:.0f}' for r in rounds)} ms); a child that runs no submission "
            f"(fork, box, end, clean-up) {1000 * alone:.0f} ms; each child: {box_of(isolation)}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--per-submission", action="store_true", help="only the per-submission overhead from a ready worker"
    )
    args = parser.parse_args()
    kinds = [("plain", UNISOLATED)] + ([("bubblewrap", BUBBLEWRAP)] if bubblewrap_works() else [])
    if args.per_submission:
        overhead_only(kinds, args.runs)
        return
    with tempfile.TemporaryDirectory() as cache:
        grade_submit_a1(args.runs, cache)
    for label, isolation in kinds:
        numpy_start = worker_startup(isolation, ["numpy"], args.runs)
        torch_start = worker_startup(isolation, ["numpy", "torch"], max(2, args.runs // 2))
        child = per_submission(isolation, args.runs * 4)
        print(
            f"{label:>10}: worker start-up {numpy_start:.2f} s (numpy), {torch_start:.2f} s (numpy+torch, "
            f"warm Adam); per submission from a ready worker {1000 * child:.0f} ms (fork, import, one probe, clean-up)"
        )
    for label, isolation in kinds:
        for name, limits in (
            ("process_bomb", Limits(processes=64, probe_timeout_s=10)),
            ("memory_bomb", Limits(memory_mb=512, probe_timeout_s=10)),
        ):
            contained, cleanup, outcome = containment(isolation, name, limits)
            print(
                f"{label:>10}: {name}: contained and cleaned up in {contained:.2f} s, of which clean-up "
                f"{cleanup:.2f} s ({outcome})"
            )


if __name__ == "__main__":
    main()
