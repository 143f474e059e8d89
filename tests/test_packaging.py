"""Packaging: `pip install -e .` alone must give a course_lib that imports (the Colab path).

pyproject.toml declares the runtime dependencies with lower bounds; requirements.txt is the exact lock. These
tests read both and the library's own imports, so a new third-party import without a declared dependency, or a
dependency missing from the lock, fails here rather than on a student's machine.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")

REPO = Path(__file__).resolve().parents[1]
# import name -> distribution name, where they differ
DISTRIBUTION = {"sklearn": "scikit-learn", "IPython": "ipykernel", "yaml": "pyyaml", "zmq": "pyzmq",
                "jupyter_client": "jupyter-client", "jupyter_server_mathjax": "jupyter-server-mathjax"}
# imported only by the test-time tools or optionally (inside a try, with a message when missing)
NOT_RUNTIME = {"pytest", "playwright", "jupyterlab", "google"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement, maxsplit=1)[0].strip().lower().replace("_", "-")


def _declared() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return {_name(r) for r in project["dependencies"]}


def _locked() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            name, _, version = line.partition("==")
            pins[name.strip().lower().replace("_", "-")] = version.strip()
    return pins


def _third_party_imports() -> set[str]:
    modules = set()
    for path in (REPO / "course_lib").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    return {m for m in modules if m not in sys.stdlib_module_names and m not in {"course_lib", "__future__"}}


def test_every_third_party_import_is_a_declared_dependency():
    declared = _declared()
    missing = sorted(m for m in _third_party_imports() - NOT_RUNTIME
                     if DISTRIBUTION.get(m, m).lower() not in declared)
    assert not missing, f"course_lib imports {missing}, but pyproject.toml's dependencies do not declare them"


def test_every_declared_dependency_is_pinned_exactly_in_requirements():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = _declared() | {_name(r) for r in project["optional-dependencies"]["test"]}
    pins = _locked()
    unpinned = sorted(name for name in wanted if not pins.get(name))
    assert not unpinned, f"requirements.txt must pin these with ==: {unpinned}"


def test_torch_is_pinned_to_the_cpu_wheel_version():
    assert _locked()["torch"] == "2.13.0", "an unpinned or other torch pulls a multi-GB CUDA build here"
