"""What the verifier costs per submission: one training check's runs measured in one request.

    .venv/bin/python benchmarks/verifier_cost.py [--repeats 20]

Starts a2's and a5's verifiers as `grade` does (a sandbox of their own), then measures 20 sets of
trained a2 cell weights (one training check's runs) and 3 sets of a5 weights with their vocabulary
(one accuracy check's runs on dev.tsv), each time with other values (so the memo of repeated requests
does not answer). Prints the start-up and the median time per request; asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from grader.course.model import load_course  # noqa: E402
from grader.grading.slot import GradeOptions, GradingSlot  # noqa: E402


def a2_runs(rng: np.random.Generator) -> list[dict]:
    shapes = {
        "rnncell.weight_ih": (4, 4),
        "rnncell.weight_hh": (4, 4),
        "rnncell.bias_ih": (4,),
        "rnncell.bias_hh": (4,),
    }
    return [
        {"weights": {name: rng.uniform(-1, 1, shape).astype(np.float32) for name, shape in shapes.items()}}
        for _ in range(20)
    ]


def a5_runs(rng: np.random.Generator, vocab: dict[str, int]) -> list[dict]:
    shapes = {"embedding.weight": (len(vocab), 32), "fc.weight": (2, 64), "fc.bias": (2,)}
    for suffix in ("", "_reverse"):
        shapes.update(
            {
                f"lstm.weight_ih_l0{suffix}": (128, 32),
                f"lstm.weight_hh_l0{suffix}": (128, 32),
                f"lstm.bias_ih_l0{suffix}": (128,),
                f"lstm.bias_hh_l0{suffix}": (128,),
            }
        )
    return [
        {"weights": {n: rng.uniform(-0.1, 0.1, s).astype(np.float32) for n, s in shapes.items()}, "vocab": vocab}
        for _ in range(3)
    ]


def timed(call) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    repeats = parser.parse_args().repeats
    course = load_course(REPO)
    rng = np.random.default_rng(0)
    a5 = course.get("a5_sentiment_lstm")
    lines = (a5.data_dir / "dev.tsv").read_text().splitlines()
    texts = [line.split("\t", 1)[1] for line in lines if line]
    words = sorted({word for text in texts for word in text.lower().split()})
    vocab = {"<pad>": 0, "<unk>": 1, **{word: index + 2 for index, word in enumerate(words)}}
    with GradingSlot(course, GradeOptions(), assignments=["a2_rnncell_ohlol", "a5_sentiment_lstm"]) as grader:
        a2_verifier = grader.verifier_for(course.get("a2_rnncell_ohlol"))
        a5_verifier = grader.verifier_for(a5)
        start = timed(lambda: a2_verifier.measure_each("predictions", a2_runs(rng), words=["hello"]))
        print(f"verifier start-up and first request (torch imported in its own sandbox): {start:.2f} s")
        a2 = [
            timed(lambda: a2_verifier.measure_each("predictions", a2_runs(rng), words=["hello"]))
            for _ in range(repeats)
        ]
        print(f"a2, 20 runs of one training check: median {statistics.median(a2) * 1000:.1f} ms per request")
        a5_verifier.measure_each("classify", a5_runs(rng, vocab), texts=texts, emb=32, hidden=32)
        a5s = [
            timed(lambda: a5_verifier.measure_each("classify", a5_runs(rng, vocab), texts=texts, emb=32, hidden=32))
            for _ in range(max(3, repeats // 4))
        ]
        print(f"a5, 3 runs on {len(texts)} dev sentences: median {statistics.median(a5s) * 1000:.0f} ms per request")


if __name__ == "__main__":
    main()
