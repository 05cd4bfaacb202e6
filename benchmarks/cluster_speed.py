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
import re
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from class_speed import make_class  # noqa: E402
from common import GRADE, mb, run_measured  # noqa: E402

GRADED = re.compile(r"Graded (\d+) students in ([0-9.]+) s")


def report(root: Path, cache: str, how: list[str]) -> tuple[float, float, int, str]:
    """Wall seconds of the command, seconds of its grading phase, peak memory, the gradebook's text."""
    out = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    wall, peak, process = run_measured(
        GRADE + ["report", str(root), "--out", str(out), *how], {"GRADER_CACHE_DIR": cache}
    )
    found = GRADED.search(process.stdout)
    if found is None:
        raise RuntimeError(f"grade report {' '.join(how)} printed no summary:\n{process.stdout}\n{process.stderr}")
    gradebook = (out / "gradebook.csv").read_text()
    shutil.rmtree(out, ignore_errors=True)
    return wall, float(found.group(2)), peak, gradebook


def measured(root: Path, cache: str, how: list[str], runs: int) -> tuple[float, float, int, str]:
    results = [report(root, cache, how) for _ in range(runs)]
    wall = statistics.median(r[0] for r in results)
    phase = statistics.median(r[1] for r in results)
    return wall, phase, max(r[2] for r in results), results[-1][3]


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

    local_wall, local_phase, local_peak, local_book = measured(root, cache, ["--workers", "2"], args.runs)
    dask_wall, dask_phase, dask_peak, dask_book = measured(root, cache, ["--cluster", "local:2"], args.runs)
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

    one_wall, one_phase, _, _ = measured(root, cache, ["--cluster", "local:1"], args.runs)
    print(f"1-worker LocalCluster:    {one_wall:6.1f} s in all, grading {one_phase:6.1f} s")
    # time(w) = start + students * cost / w, from the grading phases with 1 and 2 workers
    cost = max(2 * (one_phase - dask_phase), 1e-3) / args.students
    start = max(one_phase - args.students * cost, 0.0)
    print(
        f"model: grading phase = {start:.1f} s + students x {cost:.2f} s / workers "
        f"(1 worker: {one_phase:.1f} s measured; 2 workers: {dask_phase:.1f} s measured, "
        f"{start + args.students * cost / 2:.1f} s modelled)"
    )
    print(
        f"  per student on one slot: {one_phase / args.students:.2f} s with 1 worker; "
        f"{cost:.2f} s of slot time from the 1-to-2 worker difference (2 workers share this machine's "
        f"{_cores()} cores with the client, so their slots are slower than a node's own)"
    )
    slots = args.nodes * args.slots_per_node
    per_slot = one_phase / args.students  # one slot with a core to itself: the conservative figure
    estimate = (one_wall - one_phase) + 1000 * per_slot / slots
    print(
        f"estimate, 1,000 a2 students on {args.nodes} nodes x {args.slots_per_node} slots ({slots} slots): "
        f"about {estimate:.0f} s (start-up {one_wall - one_phase:.0f} s + 1000 x {per_slot:.2f} s / {slots}); "
        f"all five assignments cost about five times the grading part"
    )
    shutil.rmtree(scratch, ignore_errors=True)


def _cores() -> int:
    from grader.grading.batch import cpu_count

    return cpu_count()


if __name__ == "__main__":
    main()
