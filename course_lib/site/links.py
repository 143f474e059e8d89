"""Links of the site's pages: rewrite a source's relative links to the pages they become, and check them.

A relative link in a notebook or in the README points at a source file (``notebooks/02_x.ipynb``,
``../solutions/02_x.ipynb#exercise-1``). On the site it must point at that source's page, or, for a file that
is no page (a ``.py`` module), at a copy of the file. :func:`check_site` reads every page back and lists every
internal link whose file or ``#anchor`` does not exist, and every script, style or image fetched from the
network (an offline reader would lose it).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

_ATTRIBUTE = re.compile(r'\b(href|src)="([^"]*)"')
# a course notebook named in inline code, e.g. <code>notebooks/01_data_distributions.ipynb</code>
_NOTEBOOK_IN_CODE = re.compile(r"<code>((?:notebooks|exercises|solutions)/\d\d_[\w.-]+\.ipynb)</code>")


def is_external(url: str) -> bool:
    """True for a link that leaves the site (a scheme such as https: or mailto:, or //host/...)."""
    parts = urlsplit(url)
    return bool(parts.scheme) or url.startswith("//")


def rewrite(text: str, source: str, output: str, resolve: Callable[[str], str | None]) -> str:
    """Rewrite the relative ``href``/``src`` values of the page ``output`` made from ``source``.

    ``resolve(path)`` takes a path relative to the course's root (``notebooks/02_x.ipynb``) and returns the
    site path it becomes (``notebooks/02_x.html``), or None when it is neither a page nor a file of the course.
    Inline code that names a course notebook (a path from the course's root) becomes a link to its page.
    """
    source_dir, output_dir = posixpath.dirname(source), posixpath.dirname(output) or "."

    def target(url: str, base: str = source_dir) -> str | None:
        if is_external(url) or url.startswith("#") or not url:
            return None
        path, _, fragment = url.partition("#")
        site_path = resolve(posixpath.normpath(posixpath.join(base, unquote(path))))
        if site_path is None:
            return None
        return posixpath.relpath(site_path, output_dir) + (f"#{fragment}" if fragment else "")

    def attribute(match: re.Match) -> str:
        new = target(match.group(2))
        return match.group(0) if new is None else f'{match.group(1)}="{new}"'

    def code(match: re.Match) -> str:  # a path in inline code is relative to the course's root
        new = target(match.group(1), base="")
        return match.group(0) if new is None else f'<a href="{new}">{match.group(0)}</a>'

    return _NOTEBOOK_IN_CODE.sub(code, _ATTRIBUTE.sub(attribute, text))


class _Collector(HTMLParser):
    """The ids, the links and the fetched resources of one HTML page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[str] = []  # <a href>
        self.fetched: list[tuple[str, str]] = []  # (tag, url) of <script src>, <link href>, <img src>, ...
        self.images: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        for key in ("id", "name") if tag == "a" else ("id",):
            if values.get(key):
                self.ids.add(values[key])
        if tag == "a" and "href" in values:
            self.links.append(values["href"])
        elif tag == "link" and "href" in values:
            self.fetched.append((tag, values["href"]))
        elif tag in ("script", "img", "iframe", "source", "video", "audio") and "src" in values:
            self.fetched.append((tag, values["src"]))
            if tag == "img":
                self.images.append(values["src"])


def parse_page(path: Path) -> _Collector:
    """Parse one page of the site: its ids, links, fetched resources and images."""
    collector = _Collector()
    collector.feed(Path(path).read_text(encoding="utf-8"))
    collector.close()
    return collector


def check_site(site: Path) -> list[str]:
    """Every broken internal link, missing anchor, and resource fetched from the network, one line each."""
    site = Path(site).resolve()
    parsed = {path: parse_page(path) for path in sorted(p.resolve() for p in site.rglob("*.html"))}
    problems = []
    for path, page in parsed.items():
        name = path.relative_to(site).as_posix()
        for tag, url in page.fetched:
            if url.startswith("data:"):
                continue
            if is_external(url):
                problems.append(f"{name}: <{tag}> fetches {url} from the network")
            elif not _local_target(path, url).is_file():
                problems.append(f"{name}: <{tag}> {url} does not exist")
        for url in page.links:
            if is_external(url) or not url:
                continue
            file_part, _, fragment = url.partition("#")
            target = _local_target(path, file_part) if file_part else path
            if not target.is_file():
                problems.append(f"{name}: link {url} points at a missing file")
            elif fragment and target.suffix == ".html" and not {fragment, unquote(fragment)} & parsed[target].ids:
                problems.append(f"{name}: link {url} points at a missing anchor #{fragment}")
    return problems


def _local_target(page: Path, url: str) -> Path:
    return (page.parent / unquote(url.split("?")[0])).resolve()
