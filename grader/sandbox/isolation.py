"""How the worker is isolated: bubblewrap where it works, a plain subprocess with limits where not.

The choice is made once per process by a trial launch of the real command line, and it is named in
the feedback and the JSON so nobody mistakes an unisolated run for an isolated one.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import sysconfig
from dataclasses import dataclass, replace
from pathlib import Path

import grader

SANDBOX_UID_BASE = 61000  # student processes run as 61000 + slot when the grader is root
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")
ISOLATION_CHOICES = ("auto", "bubblewrap", "none")


@dataclass(frozen=True)
class Isolation:
    kind: str          # "bubblewrap" or "none"
    description: str   # one line for the feedback
    isolated: bool

    def as_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "description": self.description, "isolated": self.isolated}


BUBBLEWRAP = Isolation(
    "bubblewrap",
    "bubblewrap sandbox: no network, read-only system, private /tmp, only the submission visible",
    True,
)
UNISOLATED = Isolation(
    "none",
    "NOT ISOLATED: bubblewrap is unavailable, so student code ran as a plain process with resource "
    "limits only; it could read files and use the network",
    False,
)

_trial_cache: dict[str, str | None] = {}  # "bwrap" -> why it cannot run here (None: it works)


def choose(requested: str = "auto") -> Isolation:
    if requested not in ISOLATION_CHOICES:
        raise ValueError(f"sandbox must be one of {', '.join(ISOLATION_CHOICES)}")
    if requested == "none":
        return UNISOLATED
    problem = bubblewrap_problem()
    if problem is None:
        return BUBBLEWRAP
    if requested == "bubblewrap":
        raise RuntimeError(f"bubblewrap was requested but does not work here: {problem}")
    return replace(UNISOLATED, description=f"{UNISOLATED.description} ({problem})")


def bubblewrap_works() -> bool:
    return bubblewrap_problem() is None


def bubblewrap_problem() -> str | None:
    """Why bubblewrap cannot sandbox student code here, found by a trial launch; None when it can."""
    if "bwrap" not in _trial_cache:
        _trial_cache["bwrap"] = _trial_launch()
    return _trial_cache["bwrap"]


def _trial_launch() -> str | None:
    if not sys.platform.startswith("linux"):
        return "bubblewrap needs Linux"
    if shutil.which("bwrap") is None:
        return "the bwrap command is not installed"
    command = bwrap_prefix(scratch_mb=8, device="cpu") + [sys.executable, "-I", "-c", "pass"]
    try:
        result = subprocess.run(command, capture_output=True, timeout=30, env=clean_environment(1))
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"a trial launch failed: {exc}"
    if result.returncode != 0:
        said = result.stderr.decode("utf-8", "replace").strip().splitlines()
        return f"a trial launch failed: {said[-1] if said else f'exit status {result.returncode}'}"
    return None


def clean_environment(threads: int, tmpdir: str = "/tmp") -> dict[str, str]:
    """The whole environment a worker sees: nothing of the grader's own (no tokens, no paths)."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": tmpdir,
        "TMPDIR": tmpdir,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "CUBLAS_WORKSPACE_CONFIG": ":4096:8",
    }
    for name in THREAD_VARIABLES:
        env[name] = str(threads)
    if "CUDA_VISIBLE_DEVICES" in os.environ:
        env["CUDA_VISIBLE_DEVICES"] = os.environ["CUDA_VISIBLE_DEVICES"]
    return env


def python_paths() -> list[str]:
    """Directories the interpreter needs: its prefixes, its site-packages, and the grader package."""
    candidates = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    candidates.update(site.getsitepackages())
    user_site = site.getusersitepackages()
    if isinstance(user_site, str):
        candidates.add(user_site)
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            candidates.add(path)
    candidates.add(str(Path(os.path.realpath(sys.executable)).parent))
    candidates.add(str(package_dir()))
    existing = sorted({os.path.realpath(p) for p in candidates if os.path.isdir(p)})
    # Drop paths nested in another listed path: binding the parent already shows them.
    return [p for p in existing if not any(p != q and p.startswith(q + os.sep) for q in existing)]


def package_dir() -> Path:
    return Path(grader.__file__).resolve().parent


def _parents(paths: list[str]) -> list[str]:
    parents = {str(parent) for path in paths for parent in Path(path).parents if str(parent) != "/"}
    return sorted(parents, key=lambda p: (p.count("/"), p))


def bwrap_prefix(scratch_mb: int, device: str) -> list[str]:
    """The bubblewrap command line up to (not including) the program to run."""
    args = [
        "bwrap",
        "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
        "--die-with-parent", "--new-session",
    ]
    if os.geteuid() == 0:
        # Privileged mode: no user namespace; all capabilities dropped but those the zygote needs to
        # move each student process to an unprivileged uid (where RLIMIT_NPROC is enforced), and to
        # kill and clean up after that uid. Student processes lose them all at the uid change.
        args += ["--cap-drop", "ALL"]
        for capability in ("CAP_SETUID", "CAP_SETGID", "CAP_KILL", "CAP_DAC_OVERRIDE", "CAP_FOWNER"):
            args += ["--cap-add", capability]
    else:
        args += ["--unshare-user", "--disable-userns"]
    for top in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    for path in ("/etc/ld.so.cache", "/etc/localtime", "/etc/alternatives"):
        args += ["--ro-bind-try", path, path]
    args += ["--proc", "/proc", "--dev", "/dev"]
    size = str(scratch_mb * 2**20)
    # The scratch file systems come before the interpreter's binds, so that an interpreter or venv
    # that lives under /tmp is mounted on top of the tmpfs rather than hidden by it.
    args += ["--perms", "1777", "--size", size, "--tmpfs", "/tmp"]
    args += ["--perms", "1777", "--size", size, "--tmpfs", "/dev/shm"]
    binds = [path for path in python_paths() if not path.startswith("/usr/")]
    # bwrap would create the parents of these mount points as 0700 root directories, which the
    # unprivileged student uid could not traverse: create them world-readable first.
    for parent in _parents(binds):
        if parent not in ("/tmp", "/dev", "/dev/shm"):
            args += ["--perms", "0755", "--dir", parent]
    for path in binds:
        args += ["--ro-bind", path, path]
    if device == "cuda":
        args += ["--ro-bind-try", "/sys", "/sys"]
        for name in sorted(os.listdir("/dev")):
            if name.startswith("nvidia"):
                args += ["--dev-bind", f"/dev/{name}", f"/dev/{name}"]
    # The environment is cleared by the caller: bwrap is started with clean_environment() only.
    args += ["--chdir", "/tmp"]
    return args
