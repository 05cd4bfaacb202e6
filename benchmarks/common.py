"""Helpers shared by the benchmark scripts: timing commands, sampling memory, medians."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GRADE = [sys.executable, "-m", "grader"]


def tree_rss(root_pid: int) -> int:
    """Resident memory of a process and all its descendants, in bytes."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            parents[int(entry)] = int(fields[1])
            rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    members, frontier = {root_pid}, {root_pid}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - members
        members |= frontier
    return sum(rss.get(pid, 0) for pid in members)


def run_measured(
    command: list[str], env: dict[str, str] | None = None
) -> tuple[float, int, subprocess.CompletedProcess]:
    """Wall seconds, peak resident memory of the whole process tree, and the completed process."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=REPO, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    peak = [0]

    def sample() -> None:
        while process.poll() is None:
            peak[0] = max(peak[0], tree_rss(process.pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = process.communicate()
    seconds = time.perf_counter() - started
    sampler.join()
    completed = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
    if process.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(command)} failed:\n{stderr[-2000:]}")
    return seconds, peak[0], completed


def median_of(runs: int, measure) -> tuple[float, list[float]]:
    values = [measure() for _ in range(runs)]
    return statistics.median(values), values


def mb(value: float) -> str:
    return f"{value / 2**20:.0f} MB"
