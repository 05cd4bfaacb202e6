"""Whether a worker's process can compute on the GPU, asked before any student code could be blamed.

A process forked from one that had started CUDA (or autograd's GPU threads) cannot use the GPU: torch
raises at its first use. On the first GPU lent to us every check of every student failed so, each as the
student's mistake. The zygote asks once, in a throwaway child, before it serves anyone; each child asks
again before it imports the student's module.
"""

from __future__ import annotations

import os
import sys


def gpu_problem() -> str | None:
    """Why this process cannot run one small forward and backward pass on the GPU; None where it can,
    or where torch is not loaded (a numpy assignment has nothing to run there)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    try:
        x = torch.ones(2, device="cuda", requires_grad=True)
        (x * x).sum().backward()
        torch.cuda.synchronize()
    except Exception as exc:  # RuntimeError from torch, AssertionError from a torch built without CUDA
        said = (str(exc).strip().splitlines() or [""])[0]
        return f"the GPU cannot be used in the grading worker ({type(exc).__name__}: {said})"
    return None


def gpu_problem_of_a_child() -> str | None:
    """:func:`gpu_problem` asked in a forked child, which the GPU's state dies with: the zygote itself
    must never start CUDA (its children could not use it)."""
    if "torch" not in sys.modules:
        return None
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        try:
            os.write(write_end, (gpu_problem() or "").encode()[:2000])
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as said:
        problem = said.read().decode("utf-8", "replace")
    _, status = os.waitpid(pid, 0)
    if not problem and status != 0:
        problem = f"the GPU cannot be used in the grading worker (a trial process ended with status {status})"
    return problem or None
