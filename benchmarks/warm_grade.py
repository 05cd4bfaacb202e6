"""What the test suite's warm `grade` server saves per command: CPU-seconds of every process a command
starts (sandboxes included), started fresh (`python -m grader`) and forked from tests/warm_grade.py.

    sudo .venv/bin/python benchmarks/warm_grade.py [--rounds 8]

Needs root: process accounting (acct(2)) records every process that ends, which `time` misses for the
sandboxed ones. Alternates the two ways, so that a busy machine weighs on both alike. Asserts nothing.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "tests"), str(REPO / "benchmarks")]

from suite_cost import _bwrap_parent, read_accounting  # noqa: E402
from warm_grade import WarmGrade  # noqa: E402

COMMANDS = {
    "submit a1 (numpy)": ["submit", "solutions/a1_srn_numpy", "--json"],
    "report of one a1 student": ["report", "solutions", "-a", "a1_srn_numpy", "--workers", "1"],
    "list": ["list"],
}


def cpu_per_command(run: Callable[[], object], rounds: int, roots_also: tuple[int, ...] = ()) -> tuple[float, float]:
    """Mean CPU-seconds of all the processes one command started (below this process or the ones in
    ``roots_also``; other programs on the machine are left out), and its mean wall time."""
    libc = ctypes.CDLL(None, use_errno=True)
    with tempfile.TemporaryDirectory(prefix="warm-grade-bench-") as scratch:
        log = Path(scratch) / "pacct"
        log.touch()
        if libc.acct(str(log).encode()) != 0:
            sys.exit(f"acct(2) failed: {os.strerror(ctypes.get_errno())}")
        started = time.monotonic()
        try:
            for _ in range(rounds):
                run()
        finally:
            libc.acct(None)
        wall = time.monotonic() - started
        processes = read_accounting(log)
    roots = {os.getpid(), *roots_also}

    def ours(pid: int) -> bool:  # below this process or the warm server: not another program's
        seen = set()
        while pid in processes and pid not in seen:
            seen.add(pid)
            process = processes[pid]
            parent = (
                process.ppid
                if process.ppid in processes or process.ppid in roots
                else _bwrap_parent(processes, process)
            )
            if parent in roots:
                return True
            if parent is None:
                return False
            pid = parent
        return False

    return sum(p.cpu_s for p in processes.values() if ours(p.pid)) / rounds, wall / rounds


def compare(warm: WarmGrade, args: list[str], rounds: int) -> str:
    """Fresh and warm, alternating, ``rounds`` commands each: mean CPU-s and wall time of each way."""
    env = dict(os.environ)

    def fresh() -> object:
        return subprocess.run([sys.executable, "-m", "grader", *args], cwd=REPO, env=env, capture_output=True)

    def forked() -> object:
        return warm.run(args, cwd=REPO, env=env, timeout=600)

    fresh()  # the disk caches, warmed for both
    figures: dict[str, list[tuple[float, float]]] = {"fresh": [], "warm": []}
    for _ in range(2):
        figures["fresh"].append(cpu_per_command(fresh, max(rounds // 2, 1)))
        figures["warm"].append(cpu_per_command(forked, max(rounds // 2, 1), (warm.server.pid,)))
    return ", ".join(
        f"{label} {sum(c for c, _ in runs) / len(runs):.2f} CPU-s {sum(w for _, w in runs) / len(runs):.2f} s"
        for label, runs in figures.items()
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=8)
    options = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("process accounting needs root (acct(2)); run with sudo")
    warm = WarmGrade()
    try:
        for name, args in COMMANDS.items():
            with tempfile.TemporaryDirectory(prefix="warm-grade-out-") as out:
                full = [*args, "--out", out] if args[0] in ("submit", "report") else list(args)
                if args[0] == "report":
                    full.append("--allow-unsandboxed")
                print(f"{name:28} {compare(warm, full, options.rounds)}")
    finally:
        warm.close()


if __name__ == "__main__":
    main()
