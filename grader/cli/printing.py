"""What the commands print: the score table, wrapped messages, progress while reference answers are computed."""

from __future__ import annotations

from typing import Any

import click

from grader.course.model import Course
from grader.report.results import SubmissionResult
from grader.text import lines as lines_of
from grader.text import terminal


def print_summary(result: SubmissionResult, verbose: bool) -> None:
    """The score table. Everything in it that came from a student (names, messages, output) is escaped
    by :func:`say` or :func:`terminal` (no control character reaches the terminal) and wrapped, never
    cut: the end of a message is often the part that says what to fix."""
    from grader.report.pages import SHARED_FAILURE_NOTE, format_points, shared_failure

    if result.message:
        say(result.message, fg="red")
    for note in result.notes[:3]:
        say(f"note: {note}", indent="  ")
    for a in result.assignments:
        checks = len(a.checks)
        source = terminal(a.source or "-")
        line = f"  {a.id:<20} {source:<16} {format_points(a.score):>6} / {format_points(a.max_score):<4}"
        click.echo(f"{line} {checks} checks, {a.duration:.1f} s")
        if a.message:
            say(a.message, indent="      ", fg="red")
        shared = shared_failure(a)
        if shared:
            say(f"every failed check: {shared}", indent="      ", fg="red")
        if a.choice:  # which file was graded
            say(f"note: {a.choice}", indent="      ", fg="yellow")
        for note in [n for n in a.notes if n != a.choice][:3]:
            say(f"note: {note}", indent="      ")
        for c in a.checks:
            if c.status == "passed" and not verbose:
                continue
            mark = {"passed": "ok", "partial": "~", "skipped": "-"}.get(c.status, "x")
            message = SHARED_FAILURE_NOTE if shared and c.message == shared else c.message
            counted = "not counted" if not c.counted else f"{format_points(c.points)}/{format_points(c.max_points)}"
            say(
                f"{mark} {c.title} ({counted})" + (f": {message}" if message and c.status != "passed" else ""),
                indent="      ",
            )
            if c.diagnosis and c.status != "passed":  # a catalogued mistake, or a hint (float32 precision)
                say(c.diagnosis, indent="          ", fg="magenta" if c.mistake else None)
    if len(result.assignments) > 1:
        click.echo(f"  {'Total':<37} {format_points(result.score):>6} / {format_points(result.max_score)}")


MAX_TERMINAL_LINES = 12  # of one message: the feedback page has the rest


def say(text: str, indent: str = "", fg: str | None = None, err: bool = False) -> None:
    """``text`` escaped for the terminal and wrapped to its width (continuation lines indented two more
    spaces), never cut mid-sentence; a message of many lines shows its first :data:`MAX_TERMINAL_LINES`."""
    import shutil
    import textwrap

    width = max(shutil.get_terminal_size((100, 24)).columns, 60)
    lines: list[str] = []
    for paragraph in lines_of(text.strip()):
        lines += textwrap.wrap(
            terminal(paragraph),
            width=width,
            initial_indent=indent if not lines else indent + "  ",
            subsequent_indent=indent + "  ",
            break_long_words=False,  # a path or a name stays whole, even past the width
            break_on_hyphens=False,
        ) or [indent]
    if len(lines) > MAX_TERMINAL_LINES:
        lines = lines[:MAX_TERMINAL_LINES] + [f"{indent}  [... more in the feedback page]"]
    click.secho("\n".join(lines), fg=fg, err=err)


def first_line(text: str, limit: int = 300) -> str:
    """The first line of ``text``, escaped for the terminal (a grader's own error, for one-line reports)."""
    line = lines_of(text.strip())[0]
    return terminal(line, limit)


class ReferenceProgress:
    """While a class is graded, say how many reference answers have been computed: on the first run
    of a course version the first students wait for them, and a bar sitting at 0/N says nothing."""

    EVERY_S = 2.0  # how often the count is looked at (and, without a terminal, at most one line per change)

    def __init__(self, course: Course, assignments: list[str], options: Any, label: str) -> None:
        """Says at once (before the bar) when reference answers are missing, and for which assignments."""
        import threading

        from grader.judging.expected import DiskCache, default_cache_dir

        self.cache = DiskCache(options.cache_dir or default_cache_dir())
        self.specs = [course.get(a) for a in assignments if course.get(a).solution_dir is not None]
        self.bar: Any = None
        self.label = label
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.first = self._count()
        self.cold = [spec.id for spec in self.specs if self.cache.count(spec) == 0]
        if self.cold:
            say(
                f"First run with this version of {', '.join(self.cold)}: the reference answers are computed "
                "once, while the first students are graded (they wait for them), then cached for later runs.",
                err=True,
            )

    def _count(self) -> int:
        return sum(self.cache.count(spec) for spec in self.specs)

    def on(self, bar: Any) -> ReferenceProgress:
        self.bar = bar
        return self

    def __enter__(self) -> ReferenceProgress:
        if self.cold:
            self.thread.start()
        return self

    def _watch(self) -> None:
        shown = self.first
        while not self.stop.wait(self.EVERY_S):
            now = self._count()
            if now != shown:
                shown = now
                self.bar.label = f"{self.label} (reference answers computed: {now - self.first})"
                self.bar.render_progress()

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join(5)
