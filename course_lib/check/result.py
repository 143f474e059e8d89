"""What a check concluded, and showing it: HTML in Jupyter, plain text elsewhere."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

CORRECT, INCORRECT, NOT_ATTEMPTED = "correct", "incorrect", "not_attempted"

_LOOK = {  # outcome -> (colour, icon, title)
    CORRECT: ("#1a7f37", "&#10004;", "Correct"),
    INCORRECT: ("#b35900", "&#10008;", "Not yet"),
    NOT_ATTEMPTED: ("#57606a", "&#9998;", "Not attempted"),
}


@dataclass
class Result:
    """What a check concluded. ``message`` says what was observed, ``hints`` what to think about.

    ``cpu_seconds`` is the CPU time of the student's own calls (imports excluded), ``seconds`` the wall time
    of the whole check.
    """

    exercise: str
    chapter: str
    outcome: str
    message: str = ""
    hints: list[str] = field(default_factory=list)
    wrong_answer: str | None = None
    seconds: float = 0.0
    cpu_seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.outcome == CORRECT

    def __str__(self) -> str:
        head = {CORRECT: "[correct]", INCORRECT: "[incorrect]", NOT_ATTEMPTED: "[not attempted]"}[self.outcome]
        lines = [f"{head} chapter {self.chapter}, {self.exercise}"]
        if self.message:
            lines.append(f"  {self.message}")
        lines += [f"  Hint: {h}" for h in self.hints]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        colour, icon, title = _LOOK[self.outcome]
        parts = [
            f'<div style="border-left:6px solid {colour};padding:6px 12px;margin:4px 0;background:#f6f8fa">',
            f'<b style="color:{colour}">{icon} {title}</b> &mdash; <code>{html.escape(self.exercise)}</code>'
            f" (chapter {html.escape(self.chapter)})",
        ]
        if self.message:
            parts.append(f"<div>{html.escape(self.message)}</div>")
        for h in self.hints:
            parts.append(f"<div><i>Hint:</i> {html.escape(h)}</div>")
        parts.append("</div>")
        return "".join(parts)


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def show(obj: Any) -> None:
    """Display ``obj`` as rich output in Jupyter, else print its text."""
    if _in_notebook():
        from IPython.display import display

        display(obj)
    else:
        print(str(obj))
