"""How the worker is isolated: bubblewrap where it works, a plain subprocess with limits where not.

The choice is made once per process by a trial launch of the real command line, and it is named in
the feedback and the JSON so nobody mistakes an unisolated run for an isolated one. The name says
what each submission's box holds here (its own namespaces, a cgroup budget, its own uid, no user
namespaces) and what it lacks and why, found by a trial worker and a trial cgroup.
"""

from __future__ import annotations

import glob
import importlib.util
import json
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

import grader
from grader.sandbox import cgroups
from grader.sandbox.leases import SANDBOX_UID_BASE  # noqa: F401  (student uids: SANDBOX_UID_BASE + the sandbox's lease)

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")
ISOLATION_CHOICES = ("auto", "bubblewrap", "none")
# Packages that go with a blocked one: hiding torch alone would leave its code generator, its
# functional-transforms package and its compiler's kernels readable.
COMPANIONS = {"torch": ("torchgen", "functorch", "triton")}


@dataclass(frozen=True)
class Isolation:
    kind: str  # "bubblewrap" or "none"
    description: str  # one line for the feedback
    isolated: bool

    def as_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "description": self.description, "isolated": self.isolated}


BUBBLEWRAP = Isolation(
    "bubblewrap",
    "bubblewrap sandbox: no network; the system and the grader read-only; of the course and the class, only "
    "the submission visible",
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
    """The isolation to grade with, its description naming what each submission's box holds."""
    if requested not in ISOLATION_CHOICES:
        raise ValueError(f"sandbox must be one of {', '.join(ISOLATION_CHOICES)}")
    if requested == "none":
        return _with_box(UNISOLATED)
    problem = bubblewrap_problem()
    if problem is None:
        return _with_box(BUBBLEWRAP)
    if requested == "bubblewrap":
        raise RuntimeError(f"bubblewrap was requested but does not work here: {problem}")
    return _with_box(replace(UNISOLATED, description=f"{UNISOLATED.description} ({problem})"))


def _with_box(isolation: Isolation) -> Isolation:
    return replace(isolation, description=f"{isolation.description}; {box_description(isolation.kind)}")


def box_description(kind: str) -> str:
    """What one submission's box is made of here (namespaces, budget, uid, user namespaces), and
    what it lacks and why."""
    box = box_support(kind)
    hierarchy, why_not = cgroups.find()
    parts = []
    if box.get("namespaces"):
        parts.append(
            "each submission in its own pid, IPC and mount namespaces with its own /tmp and "
            "/dev/shm: nothing it starts outlives it"
        )
    else:
        parts.append(
            f"submissions share the worker's namespaces ({box.get('problem')}): what one leaves "
            "running is killed by " + ("cgroup" if hierarchy else "walking the process tree")
        )
    if hierarchy is not None:
        parts.append(
            f"memory and processes budgeted for all of a submission's processes together ({hierarchy.describe()})"
        )
    else:
        parts.append(
            "memory limited per process (RLIMIT_AS) and processes per uid (RLIMIT_NPROC), so a "
            f"submission's total is at most their product (no cgroups: {why_not})"
        )
    parts.append(_uid_description(kind))
    parts.append(f"user namespaces {box.get('user_namespaces', 'not tested')}")
    return "; ".join(parts)


def _uid_description(kind: str) -> str:
    if os.geteuid() != 0:
        return "student code runs as the grader's own user, without capabilities (not root: no other uid to use)"
    if drops_to_own_uid(kind):
        return "student code runs under a uid of its own, unique on this host"
    return (
        "student code runs as root without capabilities, so it can read and write whatever root owns "
        f"(its own uid cannot be used here: {own_uid_problem()})"
    )


def drops_to_own_uid(kind: str) -> bool:
    """Whether a sandbox's children leave root for a uid of their own (SANDBOX_UID_BASE + lease).

    Under bubblewrap always (its mount layout shows the interpreter to any uid). Without it, where a
    trial shows that an unprivileged uid can load the interpreter, its packages and the grader: then
    the course's root-only files (an autograder's hidden checks, expected data and secret) stay out
    of reach even with no namespaces at all (a container that forbids them).
    """
    if os.geteuid() != 0:
        return False
    return kind == "bubblewrap" or own_uid_problem() is None


def own_uid_problem() -> str | None:
    """Why student code cannot run under an unprivileged uid without bubblewrap (None: it can)."""
    if "own-uid" not in _trial_cache:
        _trial_cache["own-uid"] = _own_uid_trial()
    return _trial_cache["own-uid"]


TRIAL_UID = SANDBOX_UID_BASE + 999  # any uid without an account or groups sees what a student's sees


def _own_uid_trial() -> str | None:
    """Start the interpreter as an unprivileged uid and load what a child needs (torch's files are
    opened, not imported: seconds saved, and the trusted side never imports torch)."""
    script = (
        f"{bootstrap_path()}; import importlib.util, grader.inside.zygote, grader.inside.child, numpy; "
        "spec = importlib.util.find_spec('torch'); "
        "spec is None or open(spec.origin, 'rb').close()"
    )
    try:
        result = subprocess.run(
            [sys.executable, "-I", "-c", script],
            capture_output=True,
            timeout=60,
            env=clean_environment(1),
            cwd="/",
            user=TRIAL_UID,
            group=TRIAL_UID,
            extra_groups=[],
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"a trial as uid {TRIAL_UID} did not start ({exc})"
    if result.returncode != 0:
        said = result.stderr.decode("utf-8", "replace").strip().splitlines()
        reason = said[-1] if said else f"exit status {result.returncode}"
        return f"uid {TRIAL_UID} cannot load the interpreter at {sys.executable} and its packages: {reason}"
    return None


_box_cache: dict[str, dict[str, object]] = {}


def box_support(kind: str) -> dict[str, object]:
    """What a zygote of this isolation kind can give each child, found by starting a trial one."""
    if kind not in _box_cache:
        _box_cache[kind] = _probe_box(kind)
    return _box_cache[kind]


def _probe_box(kind: str) -> dict[str, object]:
    if kind != "bubblewrap" and os.geteuid() != 0:
        return {"namespaces": False, "problem": "namespaces per submission need root or bubblewrap"}
    try:
        result = _trial_worker(kind)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"namespaces": False, "problem": f"the trial worker did not run ({exc})"}
    return _box_of(result)


# The trial worker's first line: the interpreter runs (so bubblewrap, where it runs under it, started it).
INTERPRETER_RUNS = "grader: the trial interpreter runs"


def _trial_worker(kind: str) -> subprocess.CompletedProcess[bytes]:
    """The interpreter started as a worker is (under bubblewrap for that kind), printing first that it
    runs (:data:`INTERPRETER_RUNS`), then what a zygote's box gives each child (``inside.box.probe_box``)."""
    with tempfile.TemporaryDirectory(prefix="grader-trial-") as scratch:
        config = {
            "namespaces": True,
            "proc": True,
            "scratch": "/tmp" if kind == "bubblewrap" else scratch,
            "keep": kept_under("/tmp") if kind == "bubblewrap" else [],
        }
        script = (
            f"print({INTERPRETER_RUNS!r}, flush=True); {bootstrap_path()}; "
            f"from grader.inside.box import probe_box; probe_box({json.dumps(config)!r})"
        )
        command = [sys.executable, "-I", "-c", script]
        if kind == "bubblewrap":
            command = bwrap_prefix(scratch_mb=8, device="cpu") + command
        return subprocess.run(command, capture_output=True, timeout=60, env=clean_environment(1), cwd=scratch)


def _box_of(result: subprocess.CompletedProcess[bytes]) -> dict[str, object]:
    lines = result.stdout.decode("utf-8", "replace").strip().splitlines()
    try:
        return dict(json.loads(lines[-1]))
    except (ValueError, IndexError):
        said = result.stderr.decode("utf-8", "replace").strip().splitlines()
        return {"namespaces": False, "problem": f"the trial worker failed: {said[-1] if said else result.returncode}"}


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
    problem = _launch_once()
    if problem is not None and _options_cache.get("--disable-userns"):
        # A bubblewrap that knows --disable-userns but cannot apply it here: the children's seccomp
        # filter still refuses user namespaces, so go without it rather than without bubblewrap.
        _options_cache["--disable-userns"] = False
        problem = _launch_once()
    return problem


def _launch_once() -> str | None:
    """One trial launch under bubblewrap: the trial worker, whose box it also keeps (box_support), so
    that a `grade` command starts one trial, not two (about 25 ms and a dozen CPU-ms each)."""
    try:
        result = _trial_worker("bubblewrap")
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"a trial launch failed: {exc}"
    if not result.stdout.startswith(INTERPRETER_RUNS.encode()):  # bubblewrap did not start it
        said = result.stderr.decode("utf-8", "replace").strip().splitlines()
        return f"a trial launch failed: {said[-1] if said else f'exit status {result.returncode}'}"
    _box_cache["bubblewrap"] = _box_of(result)
    return None


def clean_environment(threads: int, tmpdir: str = "/tmp", device: str = "cpu") -> dict[str, str]:
    """The whole environment a worker sees: nothing of the grader's own (no tokens, no paths). A CPU
    worker is shown no GPU even without bubblewrap (which binds none for it): a student's
    ``"cuda" if torch.cuda.is_available() else "cpu"`` then picks the CPU wherever grading runs, as
    the probes' tensors do."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": tmpdir,
        # The sandbox has no /etc/passwd: getpass.getuser() reads these first (torch 2.11's
        # use_deterministic_algorithms names its cache folder after the user and raised without them).
        "USER": "student",
        "LOGNAME": "student",
        "TMPDIR": tmpdir,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "CUBLAS_WORKSPACE_CONFIG": ":4096:8",
        # torch.cuda.is_available() by NVML, which starts no CUDA: the zygote forks every child, and a
        # process forked after CUDA started cannot use the GPU.
        "PYTORCH_NVML_BASED_CUDA_CHECK": "1",
    }
    for name in THREAD_VARIABLES:
        env[name] = str(threads)
    if device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    elif "CUDA_VISIBLE_DEVICES" in os.environ:
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
    candidates.update(importable_dirs())
    existing = sorted({os.path.realpath(p) for p in candidates if os.path.isdir(p)})
    # Drop paths nested in another listed path: binding the parent already shows them.
    return [p for p in existing if not any(p != q and p.startswith(q + os.sep) for q in existing)]


def importable_dirs() -> list[str]:
    """The grader's own ``sys.path`` as the sandbox may show it: what PYTHONPATH, ``.pth`` files and
    the venv add (an HPC ``module load`` torch, say).

    Never a course's files: not the working directory or a folder above it or above the grader
    package, not the home directory, not a folder that holds a course or lies in one, unless it is a
    package directory (``site-packages`` of a venv kept in the course folder).
    """
    refused = {os.path.realpath(os.path.expanduser("~")), "/"}
    here, package = os.path.realpath(os.getcwd()), str(package_dir())
    found: list[str] = []
    for entry in sys.path:
        if not entry or not os.path.isdir(entry):
            continue
        path = os.path.realpath(entry)
        if path in refused or path in found or _inside(path, here):
            continue
        if not path.endswith("-packages") and (_inside(path, package) or _in_a_course(path)):
            continue
        found.append(path)
    return found


def bootstrap_path() -> str:
    """Python statements that give a worker started with ``-I`` the grader's import path: the grader
    package first, then what PYTHONPATH and .pth files gave the grader (``-I`` drops PYTHONPATH)."""
    return (
        f"import sys; sys.path[1:1] = [p for p in {importable_dirs()!r} if p not in sys.path]; "
        f"sys.path.insert(0, {str(package_dir().parent)!r})"
    )


def _inside(parent: str, path: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def _in_a_course(path: str) -> bool:
    """A folder that holds a course, or lies in one (its solutions or assignments beside it)."""
    for folder in [Path(path), *Path(path).parents]:
        if (folder / "solutions").is_dir() or (folder / "assignments").is_dir():
            return True
    return False


def kept_under(scratch: str) -> list[str]:
    """Interpreter directories inside the scratch directory, which each child's fresh tmpfs would
    cover: the child mounts them again."""
    return [path for path in python_paths() if path.startswith(scratch.rstrip("/") + "/")]


def package_dir() -> Path:
    return Path(grader.__file__).resolve().parent


def absent_packages(blocked: Iterable[str], preload: Iterable[str]) -> tuple[str, ...]:
    """The top-level packages a worker must not see: blocked ones it does not preload, and their companions."""
    loaded = {name.split(".")[0] for name in preload}
    tops = {name for name in blocked if "." not in name and name not in loaded}
    tops |= {companion for name in tops for companion in COMPANIONS.get(name, ())}
    return tuple(sorted(tops - loaded))


@cache
def package_locations(names: tuple[str, ...]) -> tuple[str, ...]:
    """Every directory or file the sandbox would show for these top-level packages.

    Found without importing them (the trusted process never imports torch): where ``find_spec``
    resolves each name, plus any other copy in a site directory the sandbox mounts (the base
    interpreter's, /usr's), which a student could otherwise find and execute.
    """
    found: set[str] = set()
    for name in names:
        found.update(_spec_locations(name))
        for directory in _site_dirs():
            for pattern in (name, f"{name}.py", f"{name}.*so"):  # a package, a module, an extension
                found.update(glob.glob(os.path.join(glob.escape(directory), pattern)))
    real = {os.path.realpath(path) for path in found if os.path.exists(path)}
    return tuple(sorted(path for path in real if _mounted(path)))


def _spec_locations(name: str) -> list[str]:
    try:
        spec = importlib.util.find_spec(name)  # a top-level name: finds, never imports
    except (ImportError, ValueError):
        return []
    if spec is None:
        return []
    if spec.submodule_search_locations:
        return list(spec.submodule_search_locations)
    return [spec.origin] if spec.origin and os.path.isfile(spec.origin) else []


def _site_dirs() -> list[str]:
    """Directories packages are imported from, in this interpreter, its base and the system."""
    roots = python_paths() + ["/usr", "/usr/local"]
    found = [path for path in sys.path if path and os.path.isdir(path)]
    for root in roots:
        found += glob.glob(os.path.join(glob.escape(root), "lib*", "python3*", "*-packages"))
    return sorted(set(found))


def _mounted(path: str) -> bool:
    """Inside what bubblewrap shows: covering anything else would create it in the sandbox."""
    return path.startswith("/usr/") or any(path.startswith(root + os.sep) for root in python_paths())


def _hide_args(names: Sequence[str]) -> list[str]:
    """An empty read-only tmpfs over each package directory, the empty /dev/null over each module file."""
    args: list[str] = []
    for path in package_locations(tuple(sorted(names))):
        if os.path.isdir(path):
            args += ["--perms", "0555", "--size", str(2**16), "--tmpfs", path, "--remount-ro", path]
        else:
            args += ["--ro-bind", "/dev/null", path]
    return args


def _parents(paths: list[str]) -> list[str]:
    parents = {str(parent) for path in paths for parent in Path(path).parents if str(parent) != "/"}
    return sorted(parents, key=lambda p: (p.count("/"), p))


def bwrap_option(option: str) -> bool:
    """Whether this bubblewrap knows ``option`` (``--disable-userns`` came with 0.8)."""
    if option not in _options_cache:
        try:
            said = subprocess.run(["bwrap", "--help"], capture_output=True, timeout=10)
            _options_cache[option] = option.encode() in said.stdout + said.stderr
        except (OSError, subprocess.TimeoutExpired):
            _options_cache[option] = False
    return _options_cache[option]


_options_cache: dict[str, bool] = {}


def bwrap_prefix(scratch_mb: int, device: str, hide: Sequence[str] = (), extra: Sequence[str] = ()) -> list[str]:
    """The bubblewrap command line up to (not including) the program to run.

    ``hide``: top-level packages (``torch``) whose files the sandbox must not show at all, so that
    no import, search or exec inside it can load them. ``extra``: more arguments (the sandbox's
    cgroup binds).
    """
    args = [
        "bwrap",
        "--unshare-pid",
        "--unshare-net",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--die-with-parent",
        "--new-session",
    ]
    if os.geteuid() == 0:
        # Privileged mode: no user namespace; all capabilities dropped but those the zygote needs to
        # give each child its own namespaces and mounts (CAP_SYS_ADMIN), to move it to an
        # unprivileged uid (where RLIMIT_NPROC is enforced) and to clean up after it. Children lose
        # them all before student code runs. --disable-userns needs --unshare-user, which would leave
        # one uid only: a seccomp filter in each child refuses user namespaces instead.
        args += ["--cap-drop", "ALL"]
        for capability in ("CAP_SETUID", "CAP_SETGID", "CAP_KILL", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_SYS_ADMIN"):
            args += ["--cap-add", capability]
    else:
        # CAP_SYS_ADMIN in bubblewrap's user namespace, for the children's namespaces; they drop it.
        args += ["--unshare-user", "--cap-add", "CAP_SYS_ADMIN"]
        if bwrap_option("--disable-userns"):
            args += ["--disable-userns"]
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
    args += _hide_args(hide)  # after the binds, so that the empty mounts cover what they show
    args += list(extra)
    if device == "cuda":
        # CUDA reads the devices' entries in /sys; the cgroup tree there would show every other
        # submission's memory and CPU use on the host (an isolation round read them live).
        args += ["--ro-bind-try", "/sys", "/sys", "--tmpfs", "/sys/fs/cgroup"]
        for name in sorted(os.listdir("/dev")):
            if name.startswith("nvidia"):
                args += ["--dev-bind", f"/dev/{name}", f"/dev/{name}"]
    # The environment is cleared by the caller: bwrap is started with clean_environment() only.
    args += ["--chdir", "/tmp"]
    return args
