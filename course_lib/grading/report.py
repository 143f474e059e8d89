"""Grade rows and the files they go to: CSV (always UTF-8) and JSON lines, each written atomically."""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from course_lib.check import CORRECT


@dataclass
class Row:
    """The grade of one submission.

    ``status``: ok | timeout (the notebook ran out of time) | kernel died (a cell ended the Python process) |
    unreadable (not a notebook) | no chapter | failed (the kernel could not start). ``outcomes`` maps each
    exercise of the chapter to correct | incorrect | not_attempted | missing (not defined, or not reached);
    ``messages`` says why. ``errors`` counts the cells that raised; ``kernels`` the kernels it took.
    """

    student: str
    notebook: str
    chapter: str
    sha256: str
    status: str = "ok"
    outcomes: dict[str, str] = field(default_factory=dict)
    messages: dict[str, str] = field(default_factory=dict)
    errors: int = 0
    first_error: str = ""
    kernels: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def score(self) -> int:
        return sum(1 for outcome in self.outcomes.values() if outcome == CORRECT)

    def as_record(self) -> dict:
        """One flat record: the identity, the status, the score, one column per exercise, then the rest."""
        return {"student": self.student, "notebook": self.notebook, "chapter": self.chapter, "status": self.status,
                "score": self.score, "total": len(self.outcomes), **self.outcomes, "errors": self.errors,
                "first_error": self.first_error, "kernels": self.kernels, "seconds": round(self.seconds, 1),
                "sha256": self.sha256, "notes": "; ".join(self.notes)}

    @classmethod
    def from_dict(cls, data: dict) -> Row:
        return cls(**data)

    def to_dict(self) -> dict:
        return asdict(self)


def _atomic_write(path: Path, text: str) -> None:
    """Write ``text`` as UTF-8 next to ``path``, then rename over it: readers see the old file or the new one."""
    path = Path(path)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def write_csv(rows: list[Row], path: Path) -> None:
    """One row per student; one column per exercise (the union over all rows, in first-seen order)."""
    records = [row.as_record() for row in rows]
    columns: list[str] = []
    for record in records:
        columns += [key for key in record if key not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, restval="")
    writer.writeheader()
    writer.writerows(records)
    _atomic_write(path, buffer.getvalue())


def write_jsonl(rows: list[Row], path: Path) -> None:
    """One JSON object per line and per student, with the messages that explain each outcome."""
    lines = [json.dumps({**row.as_record(), "messages": row.messages}, ensure_ascii=False) for row in rows]
    _atomic_write(path, "".join(line + "\n" for line in lines))
