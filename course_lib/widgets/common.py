"""What every explorer shares: a figure turned into a PNG for an ``ipywidgets`` output, and finding a slider."""

from __future__ import annotations

import io

from matplotlib.figure import Figure


def figure_to_png(figure: Figure):
    """The figure as an ``IPython.display.Image`` (PNG), for an explorer's output area."""
    from IPython.display import Image

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=figure.dpi)
    return Image(data=buffer.getvalue(), format="png")


def slider(widget, description: str):
    """The control of an interactive widget whose description is ``description`` (for tests and notebooks)."""
    for child in widget.children:
        if getattr(child, "description", None) == description:
            return child
    raise KeyError(f"no control described as {description!r}; have "
                   f"{[getattr(c, 'description', None) for c in widget.children]}")
