"""What to grade: the one request the CLI (or a class batch) builds and hands down unchanged.

How to grade (device, sandbox, limits, notebooks) is :class:`~grader.grading.slot.GradeOptions`, given
once to the :class:`~grader.grading.slot.GradingSlot` that serves every request; what to grade travels
here, once per submission. Nothing is read or unpacked until the slot opens it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from grader.intake.students import Student


@dataclass(frozen=True)
class GradeRequest:
    path: Path  # a folder, one .py or .ipynb file, or a .zip (unpacked once, by the slot)
    assignments: tuple[str, ...] = ()  # only these; () grades every assignment found
    student: str | None = None  # the id in results and gradebooks; default: the folder's or file's name
    notes: tuple[str, ...] = ()  # said on the result (two folders that give the same id)
    refusal: str | None = None  # why nothing of it may be read (a link at the top of a class folder)

    @classmethod
    def for_student(cls, student: Student, assignments: tuple[str, ...] = ()) -> GradeRequest:
        """One student of a class (a folder or zip found by :func:`grader.intake.students.discover`)."""
        return cls(student.path, assignments, student.id, student.notes, student.refused)

    @property
    def only(self) -> list[str] | None:
        return list(self.assignments) or None

    @property
    def name(self) -> str:
        """Who, when no id was given: the folder's name (``.`` resolved), a zip's stem, a file's folder."""
        if self.student:
            return self.student
        path = Path(self.path).resolve()
        if path.is_dir():
            return path.name
        return path.stem if path.suffix.lower() == ".zip" else path.parent.name
