"""Build the course site: every page through nbconvert's JupyterLab template, offline, outputs as stored.

Notebooks are converted with the outputs they were committed with (nothing is executed). Figures stay inline
PNG images; math stays TeX in the page and is typeset in the reader's browser by a copy of MathJax 2.7 that
the site carries in ``_static/mathjax`` (from the ``jupyter-server-mathjax`` package), so neither
the build nor a reader needs the network. An interactive explorer (an ipywidgets output) cannot run in a
static page: it is replaced by a note that says to run the notebook.
"""

from __future__ import annotations

import copy
import shutil
import sys
import time
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter

from course_lib.site.links import rewrite
from course_lib.site.pages import Page, discover, navigation, pager

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
MARKER = ".course-site"  # a folder holding this file was built here, so a rebuild may replace it
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_NOTE = ('<p class="site-note">An interactive explorer runs here when you open the notebook in Jupyter: '
               "a static page cannot run it.</p>")


def mathjax_folder() -> Path:
    """The MathJax 2.7 files shipped by the ``jupyter-server-mathjax`` package."""
    try:
        import jupyter_server_mathjax
    except ImportError as error:
        raise SystemExit("the site needs MathJax from the jupyter-server-mathjax package: "
                         "python -m pip install -r requirements.txt") from error
    folder = Path(jupyter_server_mathjax.__file__).resolve().parent / "static"
    if not (folder / "MathJax.js").is_file():
        raise SystemExit(f"{folder} holds no MathJax.js; reinstall jupyter-server-mathjax")
    return folder


def _prepare_output(out: Path) -> None:
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).exists():
            raise SystemExit(f"{out} exists and is not a site built here; choose an empty or new folder with --out")
        shutil.rmtree(out)
    (out / "_static").mkdir(parents=True)
    (out / MARKER).write_text("built by python -m course_lib.site build; a rebuild replaces this folder\n")
    shutil.copy2(HERE / "static" / "site.css", out / "_static" / "site.css")
    shutil.copytree(mathjax_folder(), out / "_static" / "mathjax")


def _notebook_of(root: Path, page: Page) -> nbformat.NotebookNode:
    """The page's source as a notebook: a markdown file becomes one markdown cell."""
    path = root / page.source
    if path.suffix == ".md":
        notebook = nbformat.v4.new_notebook()
        notebook.cells = [nbformat.v4.new_markdown_cell(path.read_text(encoding="utf-8"))]
    else:
        notebook = copy.deepcopy(nbformat.read(path, as_version=4))
    notebook.metadata.pop("widgets", None)  # no widget manager in a static page
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if WIDGET_VIEW in output.get("data", {}):
                output["data"] = {"text/html": WIDGET_NOTE}
    notebook.metadata["title"] = page.title
    return notebook


def build(root: Path = ROOT, out: Path | None = None, *, progress: bool = True) -> list[Page]:
    """Build the site of the course at ``root`` into ``out`` (default ``root/build/site``); returns its pages.

    Prints one line per page as it is written (to stderr) when ``progress`` is true.
    """
    root = Path(root).resolve()
    out = Path(out or root / "build" / "site").resolve()
    pages = discover(root)
    _prepare_output(out)
    exporter = HTMLExporter(template_name="course", extra_template_basedirs=[str(HERE / "templates")])
    by_source = {page.source: page.output for page in pages}

    def resolve(path: str) -> str | None:
        if path in by_source:
            return by_source[path]
        if path.startswith("..") or not (root / path).is_file():
            return None
        (out / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / path, out / path)  # a file of the course that is no page: its copy
        return path

    start = time.perf_counter()
    for number, page in enumerate(pages, start=1):
        began = time.perf_counter()
        resources = {"site": {"root": page.root, "nav": navigation(pages, page), "pager": pager(pages, page)},
                     "metadata": {"name": page.title}}
        body, _ = exporter.from_notebook_node(_notebook_of(root, page), resources=resources)
        target = out / page.output
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(rewrite(body, page.source, page.output, resolve), encoding="utf-8")
        if progress:
            print(f"[site {number}/{len(pages)}] {page.output} ({time.perf_counter() - began:.1f} s)",
                  file=sys.stderr, flush=True)
    if progress:
        print(f"[site] {len(pages)} pages in {time.perf_counter() - start:.1f} s -> {out / 'index.html'}",
              file=sys.stderr, flush=True)
    return pages
