"""What a student whose answers are huge costs the grader: `grade submit` of a2 whose training probes
return a loss curve of a million points (the stored recording must leave such answers out).

    .venv/bin/python benchmarks/huge_answers.py [--runs 3] [--points 1000000]

Prints the median wall time of the correct work and of the huge-answer work, and the difference.
Before the fix in `Recording.encode` every answer left out cost one more compression of the whole
recording: +6.4 s over correct work on the 2-core machine (6.5 s of zlib in a profile); after, +2.1 s.
Asserts nothing. Reference answers are cached by a first run that is not counted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import GRADE, REPO, run_measured  # noqa: E402

A2 = "a2_rnncell_ohlol"
REFERENCE = (REPO / "solutions" / A2 / "ohlol.py").read_text()


def huge(points: int) -> str:
    """The reference, with the training probes replaced (from inside the student's process) by ones
    that answer a curve of ``points`` losses on the first seed."""
    return (
        REFERENCE
        + f"""

import sys as _sys
import numpy as _np

def _long_train_seeds(ohlol, source, target, seeds, epochs=15, lr=0.1):
    model = Model()
    weights = {{name: value.detach().numpy() for name, value in model.state_dict().items()}}
    return {{"runs": [{{"losses": _np.linspace(5.0, 0.1, {points} if i == 0 else epochs), "weights": weights,
                       "prediction": target, "accuracy": 1.0}} for i, _ in enumerate(seeds)]}}

def _long_loss_curve(ohlol, source, target, epochs, lr, seed):
    return {{**_long_train_seeds(ohlol, source, target, [seed], epochs, lr)["runs"][0], "initial_loss": 5.0}}

_probes = _sys.modules.get("assignment_probes")
if _probes is not None:
    _probes.train_seeds = _long_train_seeds
    _probes.loss_curve = _long_loss_curve
"""
    )


def seconds(source: str, root: Path, name: str) -> float:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "ohlol.py").write_text(source)
    wall, _, _ = run_measured([*GRADE, "submit", str(folder), "-a", A2, "--out", str(root / f"out-{name}")])
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--points", type=int, default=1_000_000)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        seconds(REFERENCE, root, "warm")
        correct = statistics.median(seconds(REFERENCE, root, f"correct-{i}") for i in range(options.runs))
        big = statistics.median(seconds(huge(options.points), root, f"huge-{i}") for i in range(options.runs))
    print(f"a2 correct: {correct:.1f} s; answers of {options.points:,} points: {big:.1f} s ({big - correct:+.1f} s)")


if __name__ == "__main__":
    main()
