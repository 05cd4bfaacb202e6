"""Figures of grading on Dask (issue 14): a class on a local Dask cluster against the same class on local slots.

    .venv/bin/python benchmarks/cluster_speed.py [--students 100] [--runs 1] [--nodes 20] [--slots-per-node 16]

1. the synthetic a2 class of ``class_speed.py`` (correct, catalogued mistakes, crashes, endless loops,
   empty folders) with ``grade report --workers 2`` and with ``grade report --cluster local:2``: the
   whole command's wall time and its grading phase (what ``grade report`` prints: after the cluster is up),
   and the overhead of the cluster (goal: at most 10%);
2. the model ``time = start-up + students x per-student cost / slots``, measured with 1 and 2 Dask workers
   on this machine, and the estimate it gives for 1,000 students on ``--nodes`` nodes of
   ``--slots-per-node`` slots.

Prints figures; asserts nothing. Reference answers are cached before timing (as in a real batch after its
first students). Run it on an otherwise idle machine: on a busy one every figure is slower and noisier.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from class_speed import make_class  # noqa: E402
from common import GRADE, mb, run_measured  # noqa: E402

GRADED = re.compile(r"Graded (\d+) students in ([0-9.]+) s")


def report(root: Path, cache: str, how: list[str]) -> tuple[float, float, int, str, list[float]]:
    """Wall seconds of the command, seconds of its grading phase, peak memory, the gradebook's text, and
    each student's grading time in its slot (``duration`` of the result). Prints the CPU seconds of the
    command and every process it waited for (slots, Dask workers, sandboxes)."""
    out = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall, peak, process = run_measured(
        GRADE + ["report", str(root), "--out", str(out), *how], {"GRADER_CACHE_DIR": cache}
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(f"  [{' '.join(how)}: {wall:.1f} s wall, {cpu:.1f} s CPU; load average {os.getloadavg()[0]:.1f}]")
    found = GRADED.search(process.stdout)
    if found is None:
        raise RuntimeError(f"grade report {' '.join(how)} printed no summary:\n{process.stdout}\n{process.stderr}")
    gradebook = (out / "gradebook.csv").read_text()
    durations = [json.loads(p.read_text()).get("duration", 0.0) for p in out.glob("students/*/feedback.json")]
    shutil.rmtree(out, ignore_errors=True)
    return wall, float(found.group(2)), peak, gradebook, [float(d) for d in durations if d]


def measured(root: Path, cache: str, how: list[str], runs: int) -> tuple[float, float, int, str, list[float]]:
    results = [report(root, cache, how) for _ in range(runs)]
    wall = statistics.median(r[0] for r in results)
    phase = statistics.median(r[1] for r in results)
    return wall, phase, max(r[2] for r in results), results[-1][3], results[-1][4]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=100)
    parser.add_argument("--runs", type=int, default=1, help="runs of each configuration (median)")
    parser.add_argument("--nodes", type=int, default=20)
    parser.add_argument("--slots-per-node", type=int, default=16)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    cache = str(scratch / "cache")
    root = scratch / "a2-class"
    counts = make_class(root, ["a2_rnncell_ohlol"], args.students)
    print(f"a2 class: {args.students} students {counts}")
    report(root, cache, ["--workers", "2"])  # fill the reference cache

    local_wall, local_phase, local_peak, local_book, _ = measured(root, cache, ["--workers", "2"], args.runs)
    dask_wall, dask_phase, dask_peak, dask_book, _ = measured(root, cache, ["--cluster", "local:2"], args.runs)
    print(
        f"2 local slots:            {local_wall:6.1f} s in all, grading {local_phase:6.1f} s, "
        f"peak memory {mb(local_peak)}"
    )
    print(
        f"2-worker LocalCluster:    {dask_wall:6.1f} s in all, grading {dask_phase:6.1f} s, peak memory {mb(dask_peak)}"
    )
    print(
        f"cluster overhead: {100 * (dask_phase / local_phase - 1):+.1f}% on the grading phase, "
        f"{100 * (dask_wall / local_wall - 1):+.1f}% on the whole command "
        f"(starting the local cluster: {dask_wall - dask_phase - (local_wall - local_phase):+.1f} s); goal <= +10%"
    )
    print(f"gradebooks identical: {'yes' if dask_book == local_book else 'NO'}")

    one_wall, one_phase, _, _, durations = measured(root, cache, ["--cluster", "local:1"], args.runs)
    print(f"1-worker LocalCluster:    {one_wall:6.1f} s in all, grading {one_phase:6.1f} s")
    # the model: grading phase(w) = start-up + students x cost / w, with the cost measured per student
    # (each result's own grading time in its slot) and the start-up what the 1-worker run spent besides
    cost = statistics.mean(durations) if durations else one_phase / args.students
    start = max(one_phase - len(durations) * cost, 0.0)
    print(
        f"per student in one slot: mean {cost:.2f} s, median {statistics.median(durations or [cost]):.2f} s "
        f"over {len(durations)} graded results; start-up in the grading phase {start:.1f} s "
        f"(each slot's first torch import), cluster start {one_wall - one_phase:.1f} s"
    )
    for workers, measured_phase in ((1, one_phase), (2, dask_phase)):
        print(
            f"model, {workers} worker(s): {start + len(durations) * cost / workers:6.1f} s modelled, "
            f"{measured_phase:6.1f} s measured"
        )
    print(
        f"  (2 workers on this machine share its {_cores()} cores with the client and the scheduler: the model "
        "assumes each slot has a core to itself, as on a cluster node)"
    )
    slots = args.nodes * args.slots_per_node
    students = 1000
    estimate = (one_wall - one_phase) + start + students * cost / slots
    print(
        f"estimate, {students:,} a2 students on {args.nodes} nodes x {args.slots_per_node} slots ({slots} slots): "
        f"about {estimate:.0f} s = cluster start {one_wall - one_phase:.0f} s + slot start-up {start:.0f} s + "
        f"{students} x {cost:.2f} s / {slots} (a full five-assignment submission costs several times an a2 one)"
    )
    shutil.rmtree(scratch, ignore_errors=True)


def _cores() -> int:
    from grader.grading.batch import cpu_count

    return cpu_count()


if __name__ == "__main__":
    main()
