"""Gated checks: training on data the student has counts only as far as training on data they have not.

A check that trains on the course's public data (a2's "ohlol", a4's toy pairs, a5's sentences) cannot
tell training from weights prepared in advance and walked in with real optimizer steps: the step count
and the replay both pass. A hidden task drawn by the grader (a2's hidden mapping, a4's drawn word pairs, a5's
made-up language) has no weights to prepare. So such a check is marked ``@gated_by("test_of_the_hidden_task")``
and earns at most the share of its points that its gate earned, where the gate ran: in the student's
copy (no hidden checks) the gate is absent and the check is judged alone.

A gate that the grader could not judge for reasons no student causes (an error left out of the score,
a rule skipped on this device) gates nothing. A gate that ended in an error the student's process may
have caused (a verifier that failed on its weights) counts at its 0, as it does in the score: turning
the gate into an error must not lift it.
"""

from __future__ import annotations

from grader.report.results import CheckResult


def gate_share(results: list[CheckResult], gate: str) -> tuple[float, str] | None:
    """The share of its points that the check named ``gate`` earned (all its parametrized cases
    together) and its title; None where it did not run or was not judged."""
    # A counted error (a verifier or sandbox failure that the student's process may have caused, or a
    # grader failure it claimed) earns its 0; only what no student can cause is left out.
    cases = [r for r in results if (r.name == gate or r.name.startswith(f"{gate}[")) and r.counted]
    cases = [r for r in cases if r.status != "skipped"]
    total = sum(r.max_points for r in cases)
    if not cases or total <= 0:
        return None
    title = cases[0].title.split(" [", 1)[0]
    return sum(r.points for r in cases) / total, title


def apply_gates(results: list[CheckResult], gates: dict[str, str]) -> None:
    """Lower each gated check (name -> the name of its gate) to its gate's share, saying why."""
    for result in results:
        gate = gates.get(result.name)
        if gate is None or result.max_points <= 0 or not result.counted:
            continue
        found = gate_share(results, gate)
        if found is None:
            continue
        share, title = found
        if result.points <= share * result.max_points + 1e-9:
            continue
        result.points = round(share * result.max_points, 4)
        result.status = "partial" if result.points > 0 else "failed"
        earned = "none of its points" if share <= 0 else f"{share:.0%} of its points"
        reason = (
            "Counted only as far as your code also learns a task it has never seen, since weights for data "
            f'you have can be prepared in advance: "{title}" earned {earned}.'
        )
        result.message = f"{reason} Judged alone: {result.message.strip()}" if result.message.strip() else reason
