"""Figures for assignments a2 and a3 (prints them, asserts nothing).

1. Wall time of `grade submit solutions -a ID` (a fresh process each time, as a student runs it):
   one run with an empty expected-data cache, then the median of 5 runs with the cache warm (as in a
   class, where each reference answer is computed once). "training" is the time of the checks that
   train models, from the feedback's per-check durations.
2. The convergence checks: how many seeds each trains, and on how many of them the reference
   converges (what the thresholds are derived from), computed with the probes in this process.

    .venv/bin/python benchmarks/a2_a3_grading.py            # both assignments, 5 runs each
    .venv/bin/python benchmarks/a2_a3_grading.py --runs 3 --only a3_craft_rnn
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TRAINING_CHECKS = {
    "a2_rnncell_ohlol": ("test_loss_curve", "test_converges_to_ohlol", "test_loss_curve_other_settings",
                         "test_hidden_mapping"),
    "a3_craft_rnn": ("test_classifier_training",),
}


def load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def grade_once(assignment: str, cache: Path) -> tuple[float, float, float]:
    """(wall seconds of the command, seconds of the assignment's checks, seconds of training checks)."""
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        process = subprocess.run(
            [sys.executable, "-m", "grader", "submit", "solutions", "-a", assignment, "--out", out, "--json"],
            cwd=REPO, capture_output=True, text=True, env={**os.environ, "GRADER_CACHE_DIR": str(cache)}, check=True,
        )
        wall = time.perf_counter() - started
    result = json.loads(process.stdout)["assignments"][0]
    assert result["score"] == 100, result
    training = sum(c["duration"] for c in result["checks"] if c["name"].split("[")[0] in TRAINING_CHECKS[assignment])
    return wall, result["duration"], training


def timings(assignment: str, runs: int) -> None:
    with tempfile.TemporaryDirectory() as cache:
        cold = grade_once(assignment, Path(cache))
        warm = [grade_once(assignment, Path(cache)) for _ in range(runs)]
    median = [statistics.median(values) for values in zip(*warm)]
    print(f"{assignment}: grade submit, cold cache: {cold[0]:.2f} s wall ({cold[1]:.2f} s checks, "
          f"{cold[2]:.2f} s training checks, reference side included)")
    print(f"{assignment}: grade submit, warm cache, median of {runs}: {median[0]:.2f} s wall "
          f"({median[1]:.2f} s checks, {median[2]:.2f} s training checks = {100 * median[2] / median[0]:.0f}% of the wall "
          f"time); all runs: {', '.join(f'{w:.2f}' for w, _, _ in warm)}")


def a2_convergence() -> None:
    import torch

    torch.set_num_threads(1)
    reference = load("ohlol", REPO / "solutions/a2_rnncell_ohlol/ohlol.py")
    probes = load("a2_probes", REPO / "assignments/a2_rnncell_ohlol/probes.py")
    public = load("a2_public", REPO / "assignments/a2_rnncell_ohlol/checks/test_public.py")
    hidden = load("a2_hidden", REPO / "assignments/a2_rnncell_ohlol/checks/test_hidden.py")
    tasks = [("test_converges_to_ohlol", "hello", "ohlol", public.CONVERGENCE_SEEDS, 15),
             ("test_hidden_mapping", hidden.HIDDEN_SOURCE, hidden.HIDDEN_TARGET, hidden.HIDDEN_SEEDS, 20)]
    for name, source, target, seeds, epochs in tasks:
        started = time.perf_counter()
        runs = probes.train_seeds(reference, source, target, seeds, epochs=epochs)["runs"]
        seconds = time.perf_counter() - started
        converged = sum(run["prediction"] == target for run in runs)
        print(f"a2 {name}: {len(seeds)} seeds x {epochs} epochs; the reference converges on {converged} "
              f"({seconds:.2f} s to train them all)")
    print(f"a2 loss-curve checks: 1 seed public, {len(hidden.CURVE_CASES)} hidden (exact comparison, no threshold)")
    started, reached = time.perf_counter(), 0
    for seed in range(100):
        reached += probes.train_seeds(reference, "hello", "ohlol", [seed])["runs"][0]["prediction"] == "ohlol"
    print(f"a2 seed notes: the reference reaches 'ohlol' within 15 epochs on {reached} of seeds 0-99 "
          f"({time.perf_counter() - started:.2f} s)")


def a3_convergence() -> None:
    import torch

    torch.set_num_threads(1)
    reference = load("craft_rnn", REPO / "solutions/a3_craft_rnn/craft_rnn.py")
    probes = load("a3_probes", REPO / "assignments/a3_craft_rnn/probes.py")
    hidden = load("a3_hidden", REPO / "assignments/a3_craft_rnn/checks/test_hidden.py")
    started = time.perf_counter()
    runs = probes.classifier_training(reference, seeds=hidden.TRAINING_SEEDS)["runs"]
    seconds = time.perf_counter() - started
    accuracies = [run["accuracy"] for run in runs]
    bar = hidden.SHARE_OF_REFERENCE * statistics.median(accuracies)
    print(f"a3 test_classifier_training: {len(runs)} seeds x 40 epochs; reference held-out accuracies "
          f"{', '.join(f'{a:.3f}' for a in accuracies)}; bar {bar:.3f} (90% of the median); the reference "
          f"reaches it on {sum(a >= bar for a in accuracies)} ({seconds:.2f} s to train them all)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", choices=sorted(TRAINING_CHECKS))
    options = parser.parse_args()
    for assignment in [options.only] if options.only else sorted(TRAINING_CHECKS):
        timings(assignment, options.runs)
    import warnings

    warnings.simplefilter("ignore")  # the check modules' custom pytest marks, loaded outside pytest
    if options.only in (None, "a2_rnncell_ohlol"):
        a2_convergence()
    if options.only in (None, "a3_craft_rnn"):
        a3_convergence()


if __name__ == "__main__":
    main()
