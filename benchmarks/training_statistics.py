"""False negatives and detection of the training checks' statistical rules (grader.judging.convergence).

    .venv/bin/python benchmarks/training_statistics.py [--students 50] [--seeds 20]

On a2's two training tasks ("hello" -> "ohlol" in 15 epochs, the hidden mapping in 20), simulated
students train on the seeds one official grading draws (each student another course secret, so
other seeds):

1. paired (a2 as graded): every seed starts both the reference and the student from the initial
   weights nn.RNNCell draws under it, and the sign test of :func:`paired_verdict` decides. "correct"
   adds up the loss in another order (as a GPU, or a student using torch.stack(...).sum(), would);
2. unpaired (the rule of a3-a5, whose students keep their own initialisation): the student draws its
   initial weights from a generator of its own, and :func:`required_successes` decides.

The share of correct students that miss full credit is the false-negative rate (designed to be at
most 1%); the share of mistaken ones that miss it is the detection rate. Successes are decided as
the verifier decides them (greedy decoding of the trained cell). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from grader.judging.convergence import paired_verdict, required_successes  # noqa: E402

LETTERS = "ehlo"
TASKS = {
    "public, hello -> ohlol, 15 epochs": ("hello", "ohlol", 15),
    "hidden, lolhe -> eholl, 20 epochs": ("lolhe", "eholl", 20),
}
VARIANTS = {
    "correct": {},
    "zero_grad_forgotten": {"zero_grad": False},
    "lr_a_tenth": {"lr": 0.01},
    "relu_cell": {"nonlinearity": "relu"},
}


def codes(word: str) -> list[int]:
    return [LETTERS.index(letter) for letter in word]


def run(
    source: str,
    target: str,
    epochs: int,
    seed: int,
    own_init: int | None = None,
    zero_grad: bool = True,
    lr: float = 0.1,
    nonlinearity: str = "tanh",
    stacked: bool = False,
) -> bool:
    """One training run as the handout specifies it (Adam, summed cross-entropy, one step an epoch),
    with the given departures; True when greedy decoding gives the target."""
    torch.manual_seed(seed)
    initial = torch.nn.RNNCell(4, 4).state_dict()
    cell = torch.nn.RNNCell(4, 4, nonlinearity=nonlinearity)
    cell.load_state_dict(initial)
    if own_init is not None:
        generator = torch.Generator().manual_seed(own_init)
        with torch.no_grad():
            for parameter in cell.parameters():
                parameter.copy_((torch.rand(parameter.shape, generator=generator) * 2 - 1) * 0.5)
    inputs = torch.eye(4)[codes(source)].view(-1, 1, 4)
    labels = torch.tensor(codes(target)).view(-1, 1)
    criterion, optimizer = torch.nn.CrossEntropyLoss(), torch.optim.Adam(cell.parameters(), lr=lr)
    for _ in range(epochs):
        if zero_grad:
            optimizer.zero_grad()
        hidden, terms = torch.zeros(1, 4), []
        for x_t, label in zip(inputs, labels):
            hidden = cell(x_t, hidden)
            terms.append(criterion(hidden, label))
        loss = torch.stack(terms).sum() if stacked else sum(terms[1:], terms[0])
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        hidden, letters = torch.zeros(1, 4), []
        for x_t in inputs:
            hidden = cell(x_t, hidden)
            letters.append(LETTERS[int(hidden[0].argmax())])
    return "".join(letters) == target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=50)
    parser.add_argument("--seeds", type=int, default=20)
    options = parser.parse_args()
    torch.set_num_threads(1)
    for title, (source, target, epochs) in TASKS.items():
        print(f"\na2 {title}, {options.seeds} seeds, {options.students} simulated students per row")
        missed = {(rule, name): 0 for rule in ("paired", "unpaired") for name in VARIANTS}
        rates = {name: 0 for name in VARIANTS}
        for student in range(options.students):
            seeds = [10_000 + options.seeds * student + i for i in range(options.seeds)]
            reference = [run(source, target, epochs, seed) for seed in seeds]
            for name, departure in VARIANTS.items():
                shared = [run(source, target, epochs, seed, stacked=True, **departure) for seed in seeds]
                lost = sum(r and not s for r, s in zip(reference, shared))
                gained = sum(s and not r for r, s in zip(reference, shared))
                fraction, _ = paired_verdict(sum(shared), sum(reference), len(seeds), lost, gained, "")
                missed["paired", name] += fraction < 1.0
                own = [run(source, target, epochs, seed, own_init=7919 * student + seed, **departure) for seed in seeds]
                rates[name] += sum(own)
                missed["unpaired", name] += sum(own) < required_successes(sum(reference), len(seeds))
        for name in VARIANTS:
            label = "false negatives" if name == "correct" else "detected      "
            share = rates[name] / (options.students * options.seeds)
            print(
                f"  {name:20s} success {share:5.1%}   {label} paired {missed['paired', name] / options.students:6.1%}"
                f"   unpaired {missed['unpaired', name] / options.students:6.1%}"
            )


if __name__ == "__main__":
    main()
