"""The grader for students: one wheel, written by `grade release` beside the student copy.

A handout can then say, in one line, ``pip install rnn_autograder-*.whl``: it installs the `grade`
command and nothing of the course. The wheel is built from the grader's own source (``grader/``,
``pyproject.toml``, ``README.md``) copied into a temporary folder, so no assignments, solutions or hidden
checks can reach it, and its contents are checked before it is written. Zip times come from a fixed
``SOURCE_DATE_EPOCH``: the same source gives the same bytes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL_GLOB = "rnn_autograder-*.whl"
FIXED_EPOCH = "315532800"  # 1980-01-01, the earliest time a zip file can hold
SOURCE = ("pyproject.toml", "README.md")  # beside grader/, all a wheel build reads


class WheelError(Exception):
    """The wheel cannot be built, or would hold more than the grader."""


def build_student_wheel(repository: Path, target: Path) -> Path:
    """Build the grader's wheel from ``repository`` into ``target`` (replacing an older one); its path."""
    missing = [name for name in (*SOURCE, "grader") if not (repository / name).exists()]
    if missing:
        raise WheelError(f"the grader's source is incomplete at {repository} (missing {', '.join(missing)})")
    with tempfile.TemporaryDirectory(prefix="grader-wheel-") as temporary:
        source, built = Path(temporary) / "source", Path(temporary) / "built"
        shutil.copytree(repository / "grader", source / "grader", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        for name in SOURCE:
            shutil.copy2(repository / name, source / name)
        command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q"]
        process = subprocess.run(
            [*command, "-w", str(built), str(source)],
            capture_output=True,
            text=True,
            env={**os.environ, "SOURCE_DATE_EPOCH": FIXED_EPOCH},
            timeout=600,
        )
        wheels = sorted(built.glob(WHEEL_GLOB))
        if process.returncode != 0 or len(wheels) != 1:
            raise WheelError(f"pip could not build the grader's wheel: {(process.stderr or process.stdout)[-2000:]}")
        stray = course_files_in(wheels[0])
        if stray:
            raise WheelError(f"the grader's wheel would hold course files: {', '.join(stray[:5])}")
        target.mkdir(parents=True, exist_ok=True)
        for old in target.glob(WHEEL_GLOB):
            old.unlink()
        return Path(shutil.copy2(wheels[0], target / wheels[0].name))


def course_files_in(wheel: Path) -> list[str]:
    """Entries of ``wheel`` that are not the grader package or the wheel's own metadata."""
    with zipfile.ZipFile(wheel) as zipped:
        names = zipped.namelist()
    return [name for name in names if not name.startswith("grader/") and ".dist-info/" not in name]
