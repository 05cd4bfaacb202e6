"""Whether a worker's process can compute on the GPU, asked before any student code could be blamed,
and what starting the GPU costs, which the student's budgets must not pay.

A process forked from one that had started CUDA (or autograd's GPU threads) cannot use the GPU: torch
raises at its first use. On the first GPU lent to us every check of every student failed so, each as the
student's mistake. The zygote asks once, in a throwaway child, before it serves anyone; each child asks
again before it imports the student's module, and before it takes its limits, so that they count from
a process whose GPU runtime has started (its threads, memory and open files are the grader's).
"""

from __future__ import annotations

import json
import os
import sys
import warnings

# What the GPU runtime may add after the first trial pass (new streams, allocations, library handles as
# the training grows), beyond the student's own budgets: threads and open files. On the second GPU lent to
# us every training step of every reference failed ("CUDA error: out of memory", "OS call failed") under
# the 32 threads and 256 open files that the student's own code gets, with the driver's counted in them.
LATER_THREADS = 16
LATER_OPEN_FILES = 4096


def gpu_problem() -> str | None:
    """Why this process cannot run a small training pass on the GPU; None where it can, or where torch is
    not loaded (a numpy assignment has nothing to run there). The pass goes through what a course's
    models use (cuBLAS in autograd's GPU thread, cuDNN's LSTM), so that the runtime has started them
    before the limits are taken; the random generators are left as they were."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    try:
        x = torch.ones(2, device="cuda", requires_grad=True)
        (x * x).sum().backward()
        # the random generators as they were, and no warning of torch's in the student's captured output
        with torch.random.fork_rng(devices=[torch.cuda.current_device()]), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lstm = torch.nn.LSTM(2, 2, device="cuda")
            head = torch.nn.Linear(2, 2, device="cuda")
            out, _ = lstm(torch.ones(3, 1, 2, device="cuda"))
            head(out).sum().backward()
        torch.cuda.synchronize()
    except Exception as exc:  # RuntimeError from torch, AssertionError from a torch built without CUDA
        said = (str(exc).strip().splitlines() or [""])[0]
        return f"the GPU cannot be used in the grading worker ({type(exc).__name__}: {said})"
    return None


def runtime_use() -> dict[str, int]:
    """What this process holds now, of what the GPU runtime also takes: threads, resident bytes, open files
    (0 for what /proc does not say here)."""
    use = {"threads": 0, "resident": 0, "open_files": 0}
    try:
        use["threads"] = len(os.listdir("/proc/self/task"))
        use["open_files"] = len(os.listdir("/proc/self/fd"))
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    use["resident"] = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return use


def gpu_trial_of_a_child() -> tuple[str | None, dict[str, int]]:
    """:func:`gpu_problem` asked in a forked child, which the GPU's state dies with (the zygote itself must
    never start CUDA: its children could not use it), and what the pass added to the child's threads,
    resident memory and open files, which the zygote adds to each child's cgroup budgets."""
    if "torch" not in sys.modules:
        return None, {}
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        try:
            before = runtime_use()
            problem = gpu_problem()
            after = runtime_use()
            added = {key: max(0, after[key] - before[key]) for key in after}
            os.write(write_end, json.dumps({"problem": problem, "added": added}).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as said:
        reply = said.read().decode("utf-8", "replace")
    _, status = os.waitpid(pid, 0)
    try:
        answer = json.loads(reply)
        problem, added = answer.get("problem"), dict(answer.get("added") or {})
    except ValueError:
        problem, added = None, {}
    if not problem and (status != 0 or not reply):
        problem = f"the GPU cannot be used in the grading worker (a trial process ended with status {status})"
    return problem or None, {key: int(value) for key, value in added.items()}
