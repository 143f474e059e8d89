"""Density and coverage, which chapter 07's lecture writes in the open, agree with the library's version.

The function is read from its cell in notebooks/07_evaluation.ipynb (not copied here), so the test follows the
notebook.
"""

import ast
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from course_lib import metrics

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "07_evaluation.ipynb"


def _open_function(name: str):
    """The function ``name`` as defined in the lecture's code cells, compiled alone."""
    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        tree = ast.parse("".join(cell["source"]))
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name == name:
                namespace = {"torch": torch, "metrics": metrics}
                exec(compile(ast.Module([node], type_ignores=[]), str(NOTEBOOK), "exec"), namespace)
                return namespace[name]
    raise AssertionError(f"no function {name!r} in {NOTEBOOK}")


@pytest.fixture(scope="module")
def density_and_coverage():
    return _open_function("density_and_coverage")


def _cases():
    gen = torch.Generator().manual_seed(0)
    real = torch.randn(200, 5, generator=gen, dtype=torch.float64)
    yield "same distribution", real, torch.randn(300, 5, generator=gen, dtype=torch.float64)
    yield "narrow samples", real, 0.3 * torch.randn(150, 5, generator=gen, dtype=torch.float64)
    yield "shifted samples", real, torch.randn(100, 5, generator=gen, dtype=torch.float64) + 1.5
    yield "far away", real, torch.randn(50, 5, generator=gen, dtype=torch.float64) + 100.0
    levels = torch.randint(0, 3, (60, 4), generator=gen).double()  # many duplicates and exact ties on radii
    yield "duplicates", levels, torch.randint(0, 3, (80, 4), generator=gen).double()


@pytest.mark.parametrize("k", [1, 3, 5])
def test_open_density_and_coverage_agree_with_the_library(density_and_coverage, k):
    for case, real, fake in _cases():
        got = density_and_coverage(real, fake, k)
        expected = metrics.density_coverage(real, fake, k)
        assert np.allclose(got, expected, rtol=0, atol=1e-12), case


def test_open_density_and_coverage_on_known_answers(density_and_coverage):
    real = torch.randn(100, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    density, coverage = density_and_coverage(real, real.clone(), 3)
    assert coverage == 1.0  # every real ball holds its own centre's copy
    # each copy lies in its own ball and in the balls of the k points it is a neighbour of: 1 + 1/k, except that a
    # k-th neighbour sits exactly on the ball's edge, where round-off decides (distances computed two ways)
    assert density == pytest.approx(1 + 1 / 3, abs=0.05)
    assert density_and_coverage(real, real + 1e3, 3) == (0.0, 0.0)
