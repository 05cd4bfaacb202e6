"""Where the test suite's CPU goes: run it under Linux process accounting and sum CPU by role.

    sudo .venv/bin/python benchmarks/suite_cost.py [--by-file] [--by-test N] [-- PYTEST ARGS]   (default: -q -n 2)

Needs root (acct(2): every process that ends is recorded with its parent, CPU and flags, sandboxed
children included, which `time` misses because they are not waited for up the chain). Prints the
suite's wall time, the machine's busy and idle core-seconds, and CPU-seconds by role:

- student code: processes forked from a sandboxed worker (the students' children, the verifier's);
- sandboxed worker start-ups: the worker (zygote) itself, with torch (import torch, torch._dynamo,
  one optimizer step) or without (numpy only, trial launches);
- reference answers: trusted workers (unsandboxed, started when an answer is not cached) and what
  they fork;
- the trusted side: `grade` processes the tests start, the slot processes a report forks;
- pytest's own processes.

With ``--by-file``, also the CPU-seconds charged to each test module: a process counts for the test
that was running in its pytest process when it started (benchmarks/windows_plugin.py records when
each test ran; acct knows start times to the second, so a short test may be charged its neighbour's),
with the CPU its tests spent in their own pytest process. With ``--by-test N``, the N tests that cost most
(a module-scoped fixture is charged to the first test that asks for it).

The wall time depends on the machine's speed and load; the counts and the shares are what to compare
between two commits. Asserts nothing.
"""

from __future__ import annotations

import argparse
import collections
import ctypes
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
AFORK = 0x01  # forked but never exec'd
RECORD = struct.Struct("<BBHIIIIIIf8H16s")  # struct acct_v3 (64 bytes)
TORCH_START_S = 0.5  # a worker that imported torch spent at least this much CPU starting up (numpy only: 0.1)
AHZ = 100  # the unit of acct's times


@dataclass
class Process:
    pid: int
    ppid: int
    comm: str
    cpu_s: float
    forked: bool
    started: float  # seconds since the epoch (whole seconds: acct's resolution)


def _comp_t(value: int) -> float:
    """acct's 16-bit float: a 13-bit mantissa and a base-8 exponent."""
    return float((value & 0x1FFF) << (3 * (value >> 13)))


def read_accounting(path: Path) -> dict[int, Process]:
    data = path.read_bytes()
    processes: dict[int, Process] = {}
    for offset in range(0, len(data) - RECORD.size + 1, RECORD.size):
        fields = RECORD.unpack_from(data, offset)
        flag, version, pid, ppid = fields[0], fields[1], fields[6], fields[7]
        if version != 3:
            continue
        utime, stime = _comp_t(fields[10]), _comp_t(fields[11])
        comm = fields[18].split(b"\0", 1)[0].decode("utf-8", "replace")
        processes[pid] = Process(pid, ppid, comm, (utime + stime) / AHZ, bool(flag & AFORK), float(fields[8]))
    return processes


def busy_and_idle() -> tuple[float, float]:
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    hertz = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + fields[4]
    return (sum(fields) - idle) / hertz, idle / hertz


WARM_GRADE = "warm-grade"  # the process name of tests/warm_grade.py's server (its commands are forked)


def roles(
    processes: dict[int, Process], root: int, pytest_depth: int
) -> tuple[dict[str, float], collections.Counter[str]]:
    """CPU-seconds and process counts by role, for ``root`` (pytest) and every process below it;
    ``pytest_depth``: 1 where pytest-xdist's workers sit between pytest and the processes tests start."""
    children = children_of(processes)
    seconds: dict[str, float] = collections.defaultdict(float)
    counts: collections.Counter[str] = collections.Counter()

    def role(process: Process, depth: int, sandboxed: bool, parent: str) -> str:
        if process.comm == "bwrap":
            return "bubblewrap itself"
        if depth <= pytest_depth:
            return "pytest (controller and workers)"
        if process.comm == WARM_GRADE:
            return "trusted side: the warm `grade` servers (their imports)"
        if parent.startswith("trusted side: the warm"):  # a `grade` command, forked from the server
            return "trusted side: the processes tests start (grade, ...)"
        if process.forked:
            if sandboxed:
                return "student code (forked from a sandboxed worker)"
            if parent.startswith("reference answers"):
                return "reference answers: computing"
            return "trusted side: slot processes, trials"  # `grade report` forks its slots
        if sandboxed:
            return "sandboxed worker start-up: torch" if process.cpu_s >= TORCH_START_S else "sandboxed, no torch"
        if depth == pytest_depth + 1:
            return "trusted side: the processes tests start (grade, ...)"
        kids = children[process.pid]
        if any(kid.forked for kid in kids) and not any(kid.comm == "bwrap" for kid in kids):
            return "reference answers: trusted worker start-up"  # forks answers, starts no sandbox
        return "trusted side: slot processes, trials"

    def walk(process: Process, depth: int, sandboxed: bool, parent: str) -> None:
        sandboxed = sandboxed or process.comm == "bwrap"
        name = role(process, depth, sandboxed, parent)
        seconds[name] += process.cpu_s
        counts[name] += 1
        for child in children[process.pid]:
            walk(child, depth + 1, sandboxed, name)

    if root in processes:
        walk(processes[root], 0, False, "")
    return seconds, counts


def children_of(processes: dict[int, Process]) -> dict[int, list[Process]]:
    """Each process's children (bubblewrap's inner process under the bwrap that started it)."""
    children: dict[int, list[Process]] = collections.defaultdict(list)
    for process in processes.values():
        parent = process.ppid if process.ppid in processes else _bwrap_parent(processes, process)
        if parent is not None:
            children[parent].append(process)
    return children


def charged_to_tests(processes: dict[int, Process], windows: Path, module_only: bool = True) -> dict[str, float]:
    """CPU-seconds of every process below a pytest process, charged to the test (or its module) that
    process was running when it started, plus the CPU the pytest process spent in the test itself."""
    runs: dict[int, list[tuple[float, float, str]]] = collections.defaultdict(list)
    charged_in_process: dict[str, float] = collections.defaultdict(float)
    if windows.exists():
        for line in windows.read_text(encoding="utf-8").splitlines():
            run = json.loads(line)
            name = run["test"].split("::")[0] if module_only else run["test"]
            runs[run["pid"]].append((run["start"], run["stop"], name))
            charged_in_process[name] += run.get("cpu", 0.0)
    children = children_of(processes)
    charged: dict[str, float] = collections.defaultdict(float)

    def below(process: Process) -> Iterator[Process]:
        for child in children[process.pid]:
            yield child
            yield from below(child)

    for pid, tests in runs.items():
        if pid not in processes:
            continue
        tests.sort()
        for process in below(processes[pid]):
            # acct's start is whole seconds: the last test begun by then (or within the second)
            started = [name for start, _, name in tests if start <= process.started + 1]
            charged[started[-1] if started else "(before the first test)"] += process.cpu_s
    for name, cpu in charged_in_process.items():
        charged[name] += cpu
    return dict(charged)


def _bwrap_parent(processes: dict[int, Process], process: Process) -> int | None:
    """bubblewrap's inner process is reparented when the outer one hands over: its parent is the
    bwrap started just before it."""
    if process.comm != "bwrap":
        return None
    for step in (1, 2, 3):
        candidate = processes.get(process.pid - step)
        if candidate is not None and candidate.comm == "bwrap" and not candidate.forked:
            return candidate.pid
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("pytest_args", nargs="*", default=["-q", "-n", "2"])
    parser.add_argument("--by-file", action="store_true", help="also CPU-seconds per test module")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="keep the accounting log and test windows there")
    parser.add_argument("--by-test", type=int, default=0, metavar="N", help="also the N tests that cost most")
    options = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("process accounting needs root (acct(2)); run with sudo")
    libc = ctypes.CDLL(None, use_errno=True)
    with tempfile.TemporaryDirectory(prefix="suite-cost-") as scratch:
        log = Path(scratch) / "pacct"
        log.touch()
        windows = Path(scratch) / "windows.jsonl"
        charging = options.by_file or options.by_test > 0
        plugin = ["-p", "windows_plugin"] if charging else []
        environment = {
            **os.environ,
            "SUITE_COST_WINDOWS": str(windows),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "benchmarks"), os.environ.get("PYTHONPATH")])),
        }
        if libc.acct(str(log).encode()) != 0:
            sys.exit(f"acct(2) failed: {os.strerror(ctypes.get_errno())}")
        try:
            busy0, idle0 = busy_and_idle()
            started = time.monotonic()
            process = subprocess.Popen(
                [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *plugin, *options.pytest_args],
                cwd=REPO,
                env=environment if charging else None,
            )
            status = process.wait()
            wall = time.monotonic() - started
            busy1, idle1 = busy_and_idle()
        finally:
            libc.acct(None)
        xdist = any(arg.startswith(("-n", "--numprocesses")) for arg in options.pytest_args)
        processes = read_accounting(log)
        if options.keep:
            options.keep.mkdir(parents=True, exist_ok=True)
            shutil.copy(log, options.keep / "pacct")
            if windows.exists():
                shutil.copy(windows, options.keep / "windows.jsonl")
            (options.keep / "root").write_text(str(process.pid))
        seconds, counts = roles(processes, process.pid, pytest_depth=1 if xdist else 0)
        by_file = charged_to_tests(processes, windows) if options.by_file else {}
        by_test = charged_to_tests(processes, windows, module_only=False) if options.by_test else {}
    total = sum(seconds.values())
    print(
        f"\npytest exited {status}: {wall:.0f} s wall; the machine {busy1 - busy0:.0f} core-s busy, "
        f"{idle1 - idle0:.0f} idle"
    )
    print(f"CPU of the suite's processes: {total:.0f} s")
    for name, value in sorted(seconds.items(), key=lambda item: -item[1]):
        print(f"  {value:7.1f} s {100 * value / total:5.1f} %  {counts[name]:5d} processes  {name}")
    if by_file:
        print("CPU charged to each test module (with the CPU its tests spent in their pytest process):")
        for name, value in sorted(by_file.items(), key=lambda item: -item[1]):
            print(f"  {value:7.1f} s {100 * value / total:5.1f} %  {name}")
    if by_test:
        print(f"The {options.by_test} tests that cost most:")
        for name, value in sorted(by_test.items(), key=lambda item: -item[1])[: options.by_test]:
            print(f"  {value:7.1f} s  {name}")


if __name__ == "__main__":
    main()
