"""The course site, built from the repository into a temporary folder by the README's command.

Every notebook ``notebooks/NN_*.ipynb``, ``exercises/NN_*.ipynb`` and ``solutions/NN_*.ipynb`` present (so
chapters added later are covered) has its page; every page holds its notebook's figures as
PNG images and its math as TeX that the bundled MathJax typesets; no internal link or anchor is broken and no
page fetches anything from the network. With Chromium, two pages are opened headless: MathJax typesets them
without an error, and their screenshots go to the test's folder (and to $COURSE_SCREENSHOT_DIR when set).
"""

from __future__ import annotations

import base64
import html
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from chromium_setup import chromium_or_reason  # tests/chromium_setup.py (tests/ is on sys.path)

from course_lib.site import links, pages

ROOT = Path(__file__).resolve().parent.parent
LECTURES = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SOURCES = [page.source for page in pages.discover(ROOT) if page.chapter]  # NN_*.ipynb of every part
# TeX in markdown: $$...$$ (may span lines) or $...$ within a line
MATH = re.compile(r"\$\$(.+?)\$\$|(?<![\\$])\$(?!\$)([^$\n]+?)(?<!\\)\$", re.DOTALL)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

pytestmark = pytest.mark.site


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site") / "site"
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "course_lib.site", "build", "--out", str(out)], cwd=ROOT,
                            capture_output=True, text=True, timeout=900,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    print(f"site build: {time.perf_counter() - start:.1f} s\n{result.stderr[-2000:]}")
    assert result.returncode == 0, f"the build failed:\n{result.stdout}\n{result.stderr[-4000:]}"
    lines = [line for line in result.stderr.splitlines() if line.startswith("[site ")]
    assert len(lines) == len(pages.discover(ROOT)), "the build prints one line per page"
    return out


def _page_of(source: str) -> str:
    return source.replace(".ipynb", ".html")


def _markdown_math(notebook: nbformat.NotebookNode) -> list[str]:
    snippets = []
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            snippets += [(display or inline).strip() for display, inline in MATH.findall(cell.source)]
    return snippets


def _png_outputs(notebook: nbformat.NotebookNode) -> int:
    return sum(1 for cell in notebook.cells if cell.cell_type == "code"
               for output in cell.get("outputs", []) if "image/png" in output.get("data", {}))


def test_the_home_page_holds_the_syllabus_and_the_table_of_contents(site: Path):
    index = (site / "index.html").read_text(encoding="utf-8")
    syllabus = index[index.find('id="Syllabus"'):]
    table = syllabus[:syllabus.find("</table>")]
    assert "<table>" in table, ("the README's syllabus table did not render: a `|` inside a table cell must be "
                                "written `\\|` (e.g. p(z\\|x)), or the row has more cells than the header")
    for lecture in LECTURES:
        assert f'href="notebooks/{lecture.stem}.html"' in table, f"the syllabus does not link {lecture.name}"
    nav = links.parse_page(site / "index.html")
    for source in SOURCES:
        assert _page_of(source) in nav.links, f"the table of contents has no link to {source}"


@pytest.mark.parametrize("source", SOURCES)
def test_every_chapter_page_has_its_figures_and_its_math(site: Path, source: str):
    page = site / _page_of(source)
    assert page.is_file(), f"{source} has no page"
    text = page.read_text(encoding="utf-8")
    notebook = nbformat.read(ROOT / source, as_version=4)
    parsed = links.parse_page(page)
    images = [src for src in parsed.images if src.startswith("data:image/png;base64,")]
    assert len(images) == _png_outputs(notebook), f"{source}: {len(images)} images for {_png_outputs(notebook)} figures"
    for src in images:
        assert base64.b64decode(src.split(",", 1)[1])[:8] == PNG_MAGIC
    math = _markdown_math(notebook)
    plain = html.unescape(text)
    missing = [snippet for snippet in math if snippet not in plain]
    assert not missing, f"{source}: math changed on its way to the page (MathJax would not see it): {missing[:3]}"
    assert "_static/mathjax/MathJax.js?config=" in text and (site / "_static/mathjax/MathJax.js").is_file()
    if source.startswith("notebooks/"):
        assert images and math, f"the lecture {source} should show figures and derive math"


def test_no_internal_link_is_broken_and_nothing_comes_from_the_network(site: Path):
    assert links.check_site(site) == []
    # the checker itself: a broken link, a missing anchor and a fetch from a CDN are each reported
    planted = site.parent / "planted"
    shutil.copytree(site / "notebooks", planted / "notebooks")
    page = planted / "notebooks" / LECTURES[0].with_suffix(".html").name
    page.write_text(page.read_text(encoding="utf-8").replace(
        "</main>", '<a href="../exercises/99_none.html">x</a><a href="#no-such-anchor">y</a>'
                   '<script src="https://cdn.example.org/x.js"></script></main>'), encoding="utf-8")
    problems = "\n".join(links.check_site(planted))
    assert "99_none.html" in problems and "#no-such-anchor" in problems and "cdn.example.org" in problems


def test_links_between_sources_become_links_between_pages():
    resolve = {"notebooks/01_a.ipynb": "notebooks/01_a.html", "README.md": "index.html"}.get
    text = ('<a href="../notebooks/01_a.ipynb#Sec">s</a> <a href="https://x.org/a.ipynb">e</a> '
            "<code>notebooks/01_a.ipynb</code> <a href=\"#top\">t</a>")
    out = links.rewrite(text, "solutions/01_a.ipynb", "solutions/01_a.html", resolve)
    assert '<a href="../notebooks/01_a.html#Sec">' in out and 'href="https://x.org/a.ipynb"' in out
    assert '<a href="../notebooks/01_a.html"><code>notebooks/01_a.ipynb</code></a>' in out and 'href="#top"' in out




CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--virtual-time-budget=30000", "--window-size=1280,1000"]


def _chromium_or_skip() -> str:
    chromium, reason = chromium_or_reason()  # installs Debian's chromium once when root, as the browser tests do
    if chromium is None:
        pytest.skip(f"no chromium ({reason}): install Debian's chromium (apt-get install -y chromium) to run this test")
    return chromium


@pytest.mark.browser
@pytest.mark.parametrize("source", [f"notebooks/{lecture.name}" for lecture in LECTURES])
def test_a_reader_sees_typeset_math_in_chromium(site: Path, source: str):
    page = site / _page_of(source)
    dom = subprocess.run([_chromium_or_skip(), *CHROMIUM_ARGS, "--dump-dom", page.as_uri()], capture_output=True,
                         text=True, timeout=180).stdout
    typeset = dom.count('class="MathJax"') + dom.count('class="MathJax_Display"')
    assert typeset >= len(_markdown_math(nbformat.read(ROOT / source, as_version=4))) > 0, \
        f"{page.name}: MathJax typeset {typeset} formulas"
    # what MathJax leaves for a formula it cannot typeset: its error box, an undefined macro in red
    for sign in ("Math Processing Error", 'class="noError"', "mathcolor=&quot;red&quot;"):
        assert sign not in dom, f"{page.name}: MathJax reports an error ({sign})"


@pytest.mark.browser
def test_screenshots_of_two_pages(site: Path, tmp_path: Path):
    chromium = _chromium_or_skip()
    folders = [tmp_path] + ([Path(os.environ["COURSE_SCREENSHOT_DIR"])] if os.environ.get("COURSE_SCREENSHOT_DIR")
                            else [])
    for page in (site / "index.html", site / _page_of(f"notebooks/{LECTURES[-1].name}")):
        for folder in folders:
            folder.mkdir(parents=True, exist_ok=True)
            shot = folder / f"site_{page.stem}.png"
            subprocess.run([chromium, *CHROMIUM_ARGS, f"--screenshot={shot}", page.as_uri()], capture_output=True,
                           timeout=180)
            assert shot.read_bytes()[:8] == PNG_MAGIC
            print(f"screenshot: {shot}")
