"""`grade` started warm: one process imports the grader, and each command is a child forked from it.

A fresh `python -m grader` spends 0.3-0.5 CPU-s importing the grader, pytest, numpy, click, jinja2 and
nbformat before it reads its arguments; the suite starts some 170 of them. Here each pytest worker starts
one server that imports them once, and every `grade` command is a child forked from that server: it
takes the test's arguments, environment and working folder, runs `python -m grader` (runpy, as the
interpreter does) and exits as a fresh interpreter would (exit status, atexit handlers, flushed output).
The command still runs in a process of its own, from a Python that has done nothing but import.

What the interpreter reads only when it starts (PYTHON* variables, the locale, TMPDIR) cannot change in
a forked child: a test that changes them gets a fresh interpreter instead (:meth:`WarmGrade.serves`).

Run as a script, this module is the server: requests arrive one JSON line each on stdin, and each reply
line (the child's pid, then its exit status) goes to the file descriptor given as the argument.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

SERVER_NAME = b"warm-grade"  # its process name (/proc/PID/comm), as benchmarks/suite_cost.py knows it

# Read by the interpreter when it starts, so a forked child cannot take a new value of them.
STARTUP_VARIABLES = ("PYTHON", "LANG", "LC_", "TMPDIR")

# What a `grade` command imports beyond its start (`grade report` imports the most).
PRELOADS = (
    "grader.cli",
    "grader.grading.batch",
    "grader.grading.slot",
    "grader.intake.notebook",
    "grader.report.pages",
    "grader.report.class_outputs",
    "grader.report.insight",
    "grader.checks",
    "nbformat",
    "click._termui_impl",
    "multiprocessing.queues",
    "multiprocessing.synchronize",
    "numpy.random",
    "statistics",
)


class WarmGrade:
    """The test side: starts the server once, then runs each `grade` command as one of its children."""

    def __init__(self) -> None:
        self.started_with = dict(os.environ)
        self.outputs = Path(tempfile.mkdtemp(prefix="warm-grade-"))
        read_replies, write_replies = os.pipe()
        self.server = subprocess.Popen(
            [sys.executable, __file__, str(write_replies)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            pass_fds=(write_replies,),
            cwd=Path(__file__).resolve().parent.parent,
        )
        os.close(write_replies)
        self.replies = os.fdopen(read_replies, "rb", buffering=0)
        self.count = 0

    def serves(self, env: Mapping[str, str]) -> bool:
        """Whether a forked child can run with ``env``: the variables read at start-up are unchanged."""
        keys = {key for key in {*env, *self.started_with} if key.startswith(STARTUP_VARIABLES)}
        return self.server.poll() is None and all(env.get(key) == self.started_with.get(key) for key in keys)

    def run(
        self, args: Sequence[str], cwd: Path, env: Mapping[str, str], timeout: float
    ) -> subprocess.CompletedProcess[str]:
        """``subprocess.run([python, -m, grader, *args], capture_output=True, text=True, ...)``, warm."""
        self.count += 1
        stdout, stderr = self.outputs / f"{self.count}.out", self.outputs / f"{self.count}.err"
        request = {"args": list(args), "cwd": str(cwd), "env": dict(env), "stdout": str(stdout), "stderr": str(stderr)}
        assert self.server.stdin is not None
        self.server.stdin.write(json.dumps(request).encode() + b"\n")
        self.server.stdin.flush()
        pid = int(self._reply(timeout=60))
        try:
            status = int(self._reply(timeout))
        except subprocess.TimeoutExpired:
            os.kill(pid, signal.SIGKILL)
            self._reply(timeout=60)
            raise subprocess.TimeoutExpired(["grade", *args], timeout, _text(stdout), _text(stderr)) from None
        command = [sys.executable, "-m", "grader", *args]
        completed = subprocess.CompletedProcess(command, status, _text(stdout), _text(stderr))
        stdout.unlink()
        stderr.unlink()
        return completed

    def _reply(self, timeout: float) -> str:
        ready, _, _ = select.select([self.replies], [], [], timeout)
        if not ready:
            raise subprocess.TimeoutExpired("warm grade", timeout)
        line = self.replies.readline()
        if not line:
            raise RuntimeError("the warm `grade` server ended")
        return line.decode()

    def close(self) -> None:
        if self.server.stdin is not None:
            self.server.stdin.close()
        try:
            self.server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.server.kill()
            self.server.wait()
        self.replies.close()
        for path in self.outputs.iterdir():
            path.unlink()
        self.outputs.rmdir()


def _text(path: Path) -> str:
    """As ``subprocess.run(text=True)`` decodes here (a UTF-8 locale), with universal newlines."""
    data = path.read_bytes().decode() if path.exists() else ""
    return data.replace("\r\n", "\n").replace("\r", "\n")


def serve(requests: int, replies: int) -> None:
    """One request at a time: fork, report the child's pid, wait for it, report its exit status."""
    incoming = os.fdopen(requests, "rb", buffering=0, closefd=False)  # the child's stdin is replaced
    for line in incoming:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            os.close(replies)
            _become_grade(request)
        os.write(replies, f"{pid}\n".encode())
        _, status = os.waitpid(pid, 0)
        os.write(replies, f"{os.waitstatus_to_exitcode(status)}\n".encode())


def _become_grade(request: dict) -> None:
    """Turn this forked child into `python -m grader ARGS` started in ``cwd`` with ``env``. Never returns:
    the command's SystemExit (or any other exception) ends the interpreter as it would end a fresh one."""
    import ctypes

    ctypes.CDLL(None).prctl(15, b"python", 0, 0, 0)  # PR_SET_NAME: named as a fresh interpreter is
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    for fd, path, flags in (
        (0, os.devnull, os.O_RDONLY),
        (1, request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
        (2, request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
    ):
        opened = os.open(path, flags, 0o600)
        os.dup2(opened, fd)
        os.close(opened)
    sys.argv = ["-m", *request["args"]]
    sys.path[0] = os.getcwd()  # as `python -m` puts it
    import runpy

    runpy.run_module("grader", run_name="__main__", alter_sys=True)
    sys.exit(0)


def _compile_templates() -> None:
    """Compile the page templates once: each command that writes pages would compile them again (about
    0.13 CPU-s). jinja2 still checks each template's file before using the compiled one."""
    from grader.report.pages import environment

    for name in environment().list_templates():
        environment().get_template(name)


def main() -> None:
    import ctypes
    import importlib

    libc = ctypes.CDLL(None)
    libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG: end with the pytest worker
    libc.prctl(15, SERVER_NAME, 0, 0, 0)  # PR_SET_NAME: benchmarks/suite_cost.py tells its children apart
    for module in PRELOADS:
        importlib.import_module(module)
    _compile_templates()
    serve(sys.stdin.fileno(), int(sys.argv[1]))


if __name__ == "__main__":
    main()
