"""The pages of the course site: which files become pages, their titles, and the table of contents.

The home page is the README (its syllabus with the rest); then, chapter by chapter, those of the lecture
``notebooks/NN_*.ipynb``, the exercises ``exercises/NN_*.ipynb`` and the solutions ``solutions/NN_*.ipynb`` that
exist (a chapter whose lecture is still to come has its exercise pages); then every ``docs/*.md`` guide. A page
keeps its source's folder: ``notebooks/01_x.ipynb`` becomes ``notebooks/01_x.html``, so relative links between
sources stay relative links between pages.
"""

from __future__ import annotations

import html
import json
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path

PARTS = ("notebooks", "exercises", "solutions")
PART_LABEL = {"notebooks": "lecture", "exercises": "exercises", "solutions": "solutions"}
_CHAPTER = re.compile(r"(\d\d)_[^/]+\.ipynb")
_TITLE_PREFIX = re.compile(r"^(?:chapter\s+)?\d\d\s*[—·:\-]\s*", re.IGNORECASE)


@dataclass(frozen=True)
class Page:
    """One page: its source (relative to the course's root), its output (relative to the site's root)."""

    source: str  # e.g. "notebooks/01_data_distributions.ipynb", "README.md"
    output: str  # e.g. "notebooks/01_data_distributions.html", "index.html"
    title: str
    kind: str  # "home" | "notebooks" | "exercises" | "solutions" | "guide"
    chapter: str = ""

    @property
    def root(self) -> str:
        """The relative path from this page to the site's root: "" or "../"."""
        return "../" * self.output.count("/")

    def href(self, other: Page) -> str:
        """A relative link from this page to ``other``."""
        return posixpath.relpath(other.output, posixpath.dirname(self.output) or ".")


def _first_heading(text: str) -> str:
    for line in text.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return ""


def notebook_title(path: Path) -> str:
    """The first level-1 heading of the notebook's first markdown cell, without "Chapter NN —"."""
    cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    for cell in cells:
        if cell.get("cell_type") == "markdown":
            source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
            title = _first_heading(source)
            if title:
                return _TITLE_PREFIX.sub("", title)
    return path.stem


def discover(root: Path) -> list[Page]:
    """Every page of the site, in reading order (home, chapters 00, 01, ... each lecture first, then guides)."""
    root = Path(root)
    readme = root / "README.md"
    if not readme.exists():
        raise FileNotFoundError(f"{readme} is missing: the site's home page is the course's README")
    pages = [Page("README.md", "index.html", _first_heading(readme.read_text(encoding="utf-8")) or "Home", "home")]
    chapters = sorted({path.name for part in PARTS for path in (root / part).glob("[0-9][0-9]_*.ipynb")})
    if not chapters:
        raise FileNotFoundError(f"no notebooks NN_*.ipynb in {', '.join(PARTS)} under {root}")
    for name in chapters:
        stem = name.removesuffix(".ipynb")
        for part in PARTS:
            path = root / part / name
            if path.exists():
                pages.append(Page(f"{part}/{name}", f"{part}/{stem}.html", notebook_title(path), part, name[:2]))
    for guide in sorted((root / "docs").glob("*.md")):
        title = _first_heading(guide.read_text(encoding="utf-8")) or guide.stem
        pages.append(Page(f"docs/{guide.name}", f"docs/{guide.stem}.html", title, "guide"))
    return pages


def navigation(pages: list[Page], current: Page) -> str:
    """The table of contents as HTML, with links relative to ``current`` and the current page marked."""

    def link(page: Page, text: str) -> str:
        mark = ' class="current" aria-current="page"' if page == current else ""
        return f'<a href="{current.href(page)}"{mark}>{html.escape(text)}</a>'

    home = pages[0]
    out = [f'<nav class="site-nav" aria-label="Table of contents">'
           f'<a class="site-title" href="{current.href(home)}">{html.escape(home.title)}</a>',
           "<h2>Chapters</h2><ol>"]
    by_chapter: dict[str, list[Page]] = {}
    for page in pages:
        if page.chapter:
            by_chapter.setdefault(page.chapter, []).append(page)
    for chapter, parts in by_chapter.items():
        first, rest = parts[0], parts[1:]  # the lecture when there is one
        others = " · ".join(link(page, PART_LABEL[page.kind]) for page in rest)
        out.append(f'<li><span class="number">{chapter}</span>{link(first, first.title)}'
                   f'<span class="parts">{others}</span></li>')
    out.append("</ol>")
    guides = [p for p in pages if p.kind == "guide"]
    if guides:
        out.append("<h2>For instructors</h2><ul>")
        out += [f"<li>{link(page, page.title)}</li>" for page in guides]
        out.append("</ul>")
    out.append("</nav>")
    return "".join(out)


def pager(pages: list[Page], current: Page) -> str:
    """Links to the previous and the next page in reading order."""
    index = pages.index(current)
    cells = []
    for neighbour, arrow in ((index - 1, "&larr; "), (index + 1, "")):
        if 0 <= neighbour < len(pages):
            other = pages[neighbour]
            text = html.escape(_label(other))
            cells.append(f'<a href="{current.href(other)}" rel="{"prev" if arrow else "next"}">'
                         f'{arrow}{text}{"" if arrow else " &rarr;"}</a>')
        else:
            cells.append("<span></span>")
    return f'<nav class="site-pager" aria-label="Previous and next page">{"".join(cells)}</nav>'


def _label(page: Page) -> str:
    if page.chapter:
        return f"{page.chapter} {page.title}" + ("" if page.kind == "notebooks" else f" ({PART_LABEL[page.kind]})")
    return page.title
