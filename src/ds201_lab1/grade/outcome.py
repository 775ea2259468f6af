"""What happened to one submission, as a typed value: its kind, a detail and the cell involved.

Every stage reports an :class:`Outcome`; only :meth:`Outcome.status` turns it into the text of the
CSV's ``grading_status``, and the report reads ``kind``, never the text.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

# The execution ran to its end; a cell may have failed on its own (it is graded like any error).
OK, CELL_TIMEOUT, MEMORY_ERROR = "ok", "cell_timeout", "memory_error"
# The execution was stopped, or its kernel died: graded on the answers saved before.
TIMEOUT, MEMORY, DISK, KERNEL_DIED = "timeout", "memory", "disk", "kernel_died"
# Never graded: the file is not this lab's notebook, or the grader failed.
REJECTED, WRONG_ASSIGNMENT, GRADER_ERROR = "rejected", "wrong_assignment", "grader_error"

STOPPED = (TIMEOUT, MEMORY, DISK, KERNEL_DIED)
GRADED = (OK, CELL_TIMEOUT, MEMORY_ERROR, *STOPPED)


@dataclass(frozen=True)
class Outcome:
    kind: str
    detail: str = ""  # the limit that was hit, what is wrong with the file, the grader's error
    cell: int | None = None  # 0-based index in the submitted notebook; None: a grader cell or none

    @property
    def graded(self) -> bool:
        """Its saved answers are verified (possibly only those saved before it was stopped)."""
        return self.kind in GRADED

    @property
    def stopped(self) -> bool:
        return self.kind in STOPPED

    def status(self) -> str:
        """The CSV's ``grading_status``."""
        where = f"cell {self.cell + 1}" if self.cell is not None else "a grader cell"
        if self.kind == OK:
            return "ok"
        if self.kind == CELL_TIMEOUT:
            return f"{where} stopped after {self.detail} (cell timeout); the other answers graded"
        if self.kind == MEMORY_ERROR:
            return f"memory error in {where} (MemoryError); the other answers graded"
        if self.stopped:
            head = {
                TIMEOUT: f"timeout after {self.detail}",
                MEMORY: f"memory limit {self.detail} exceeded",
                DISK: f"disk limit {self.detail} exceeded",
                KERNEL_DIED: "kernel died (os._exit?)",
            }[self.kind]
            cell = f" (cell {self.cell + 1})" if self.cell is not None else ""
            return f"{head}{cell}; graded on the answers saved before"
        if self.kind == GRADER_ERROR:
            return f"grader error: {self.detail}"[:300]
        if self.kind == WRONG_ASSIGNMENT:
            return f"wrong assignment: {self.detail}"
        return self.detail  # rejected: the detail says what the file is not

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> Outcome:
        if not isinstance(data, dict) or data.get("kind") not in (*GRADED, REJECTED, WRONG_ASSIGNMENT, GRADER_ERROR):
            return cls(GRADER_ERROR, "an unreadable execution record in the cache; rerun with --force")
        cell = data.get("cell")
        return cls(data["kind"], str(data.get("detail", "")), cell if isinstance(cell, int) else None)


def grader_error(detail: str) -> Outcome:
    return Outcome(GRADER_ERROR, detail)
