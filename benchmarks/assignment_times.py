"""Per-assignment figures: `grade submit` on each reference, and the seeds the training checks train.

1. Wall time of `grade submit solutions -a ID` (a fresh process each time, as a student runs it): one
   run with an empty expected-data cache (the reference's answers, training included, computed then),
   then the median of N runs with the cache warm, as every student of a class after the first sees it.
   "training" is the time of the checks that train models, from the feedback's per-check durations.
2. `--seeds`: how many seeds each convergence check of a2 and a3 trains, and on how many of them the
   reference converges (what their thresholds are derived from), computed in this process.

    .venv/bin/python benchmarks/assignment_times.py                 # every assignment, 5 warm runs
    .venv/bin/python benchmarks/assignment_times.py --runs 3 -a a4_seq2seq --seeds

Prints figures; asserts nothing. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from types import ModuleType

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import GRADE, REPO, run_measured  # noqa: E402

TRAINING_CHECKS = {
    "a1_srn_numpy": (),
    "a2_rnncell_ohlol": (
        "test_loss_curve",
        "test_converges_to_ohlol",
        "test_loss_curve_other_settings",
        "test_hidden_mapping",
    ),
    "a3_craft_rnn": ("test_classifier_training",),
    "a4_seq2seq": ("test_toy_pairs_learned", "test_drawn_pairs_learned"),
    "a5_sentiment_lstm": ("test_training_dev_accuracy", "test_training_test_accuracy"),
}


def grade_once(assignment: str, cache: Path) -> tuple[float, float, float]:
    """(wall seconds of the command, seconds of the assignment's checks, seconds of training checks)."""
    with tempfile.TemporaryDirectory() as out:
        command = GRADE + ["submit", "solutions", "-a", assignment, "--out", out, "--json"]
        wall, _, process = run_measured(command, {"GRADER_CACHE_DIR": str(cache)})
    result = json.loads(process.stdout)["assignments"][0]
    if result["score"] != result["max_score"]:
        raise SystemExit(f"{assignment}: the reference scored {result['score']}; fix that first")
    training = sum(c["duration"] for c in result["checks"] if c["name"].split("[")[0] in TRAINING_CHECKS[assignment])
    return wall, result["duration"], training


def timings(assignment: str, runs: int) -> None:
    with tempfile.TemporaryDirectory() as cache:
        cold = grade_once(assignment, Path(cache))
        warm = [grade_once(assignment, Path(cache)) for _ in range(runs)]
    wall, checks, training = (statistics.median(values) for values in zip(*warm))
    print(
        f"{assignment}: cold cache {cold[0]:.2f} s wall ({cold[1]:.2f} s checks, reference side included); "
        f"warm, median of {runs}: {wall:.2f} s wall, {checks:.2f} s checks, {training:.2f} s training checks "
        f"({100 * training / wall:.0f}% of the wall time); runs {', '.join(f'{w:.2f}' for w, _, _ in warm)}"
    )


def load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def a2_seeds() -> None:
    reference = load("ohlol", REPO / "solutions/a2_rnncell_ohlol/ohlol.py")
    probes = load("a2_probes", REPO / "assignments/a2_rnncell_ohlol/probes.py")
    public = load("a2_public", REPO / "assignments/a2_rnncell_ohlol/checks/test_public.py")
    hidden = load("a2_hidden", REPO / "assignments/a2_rnncell_ohlol/checks/test_hidden.py")
    tasks = [
        ("test_converges_to_ohlol", "hello", "ohlol", public.CONVERGENCE_SEEDS, 15),
        ("test_hidden_mapping", hidden.HIDDEN_SOURCE, hidden.HIDDEN_TARGET, hidden.HIDDEN_SEEDS, 20),
    ]
    for name, source, target, seeds, epochs in tasks:
        started = time.perf_counter()
        runs = probes.train_seeds(reference, source, target, seeds, epochs=epochs)["runs"]
        seconds = time.perf_counter() - started
        converged = sum(run["prediction"] == target for run in runs)
        print(
            f"a2 {name}: {len(seeds)} seeds x {epochs} epochs; the reference converges on {converged} "
            f"({seconds:.2f} s to train them all)"
        )
    print(f"a2 loss-curve checks: 1 seed public, {len(hidden.CURVE_CASES)} hidden (exact comparison, no threshold)")
    started, reached = time.perf_counter(), 0
    for seed in range(100):
        reached += probes.train_seeds(reference, "hello", "ohlol", [seed])["runs"][0]["prediction"] == "ohlol"
    print(
        f"a2 seed notes: the reference reaches 'ohlol' within 15 epochs on {reached} of seeds 0-99 "
        f"({time.perf_counter() - started:.2f} s)"
    )


def a3_seeds() -> None:
    reference = load("craft_rnn", REPO / "solutions/a3_craft_rnn/craft_rnn.py")
    probes = load("a3_probes", REPO / "assignments/a3_craft_rnn/probes.py")
    hidden = load("a3_hidden", REPO / "assignments/a3_craft_rnn/checks/test_hidden.py")
    started = time.perf_counter()
    runs = probes.classifier_training(reference, seeds=hidden.TRAINING_SEEDS)["runs"]
    seconds = time.perf_counter() - started
    accuracies = [run["accuracy"] for run in runs]
    bar = hidden.SHARE_OF_REFERENCE * statistics.median(accuracies)
    print(
        f"a3 test_classifier_training: {len(runs)} seeds; reference held-out accuracies "
        f"{', '.join(f'{a:.3f}' for a in accuracies)}; bar {bar:.3f} (90% of the median); the reference "
        f"reaches it on {sum(a >= bar for a in accuracies)} ({seconds:.2f} s to train them all)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="warm runs per assignment (the median is printed)")
    parser.add_argument(
        "-a",
        "--assignment",
        action="append",
        choices=sorted(TRAINING_CHECKS),
        help="assignment(s) to time (default all)",
    )
    parser.add_argument("--seeds", action="store_true", help="also print the convergence checks' seeds (a2, a3)")
    options = parser.parse_args()
    for assignment in options.assignment or sorted(TRAINING_CHECKS):
        timings(assignment, options.runs)
    if options.seeds:
        import torch

        torch.set_num_threads(1)
        warnings.simplefilter("ignore")  # the check modules' pytest marks, loaded outside pytest
        a2_seeds()
        a3_seeds()


if __name__ == "__main__":
    main()
