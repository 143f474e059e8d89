"""The chapter 01 density explorer, without a browser: in this process, and in a real Jupyter kernel."""

import math
import sys

import numpy as np
import pytest
import torch

from course_lib.widgets import DensityFit, density_explorer, slider


def _data(n: int, seed: int) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return torch.as_tensor(np.where(rng.random(n) < 0.3, rng.normal(-2, 0.3, n), rng.normal(1, 1, n)))


@pytest.fixture(scope="module")
def explorer():
    return density_explorer(_data(150, 0), _data(150, 1), bins=10)


def test_explorer_has_the_two_sliders(explorer):
    import ipywidgets as widgets

    assert isinstance(explorer, widgets.interactive)
    assert isinstance(slider(explorer, "bins"), widgets.IntSlider)
    assert isinstance(slider(explorer, "bandwidth"), widgets.SelectionSlider)
    with pytest.raises(KeyError):
        slider(explorer, "temperature")


def test_moving_the_bandwidth_slider_refits(explorer):
    h = slider(explorer, "bandwidth")
    first = explorer.result
    assert isinstance(first, DensityFit) and first.bandwidth == h.value
    h.value = h.options[0][1]  # the smallest bandwidth: over-fitting
    tiny = explorer.result
    assert tiny is not first and tiny.bandwidth == h.options[0][1]
    assert tiny.kde_train > first.kde_train  # training likelihood keeps rising as h shrinks ...
    assert tiny.kde_heldout < first.kde_heldout - 1.0  # ... while the held-out one collapses
    assert tiny.figure is not first.figure


def test_moving_the_bins_slider_refits(explorer):
    b = slider(explorer, "bins")
    b.value = 1
    one = explorer.result
    assert one.bins == 1 and math.isfinite(one.histogram_heldout)  # one bin covers every point
    b.value = 80
    many = explorer.result
    assert many.histogram_train > one.histogram_train
    assert many.histogram_heldout == -math.inf  # held-out points land in empty bins


_KERNEL_CODE = """
import numpy as np, torch
from course_lib.widgets import density_explorer, slider
rng = np.random.default_rng(0)
x = torch.as_tensor(rng.normal(size=120))
w = density_explorer(x[:60], x[60:])
display(w)
"""


def test_explorer_in_a_kernel_redraws_when_the_slider_moves():
    """Set the slider inside a real kernel, as the browser does, and read what the callback displayed."""
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3")
    try:
        def run(code: str) -> list[dict]:
            messages: list[dict] = []
            reply = kc.execute_interactive(code, output_hook=messages.append, timeout=120)
            assert reply["content"]["status"] == "ok", reply["content"]
            return messages

        run(_KERNEL_CODE)
        messages = run("slider(w, 'bandwidth').value = slider(w, 'bandwidth').options[3][1]")
        kinds = [m["msg_type"] for m in messages]
        assert "error" not in kinds
        images = [m for m in messages
                  if m["msg_type"] == "display_data" and "image/png" in m["content"]["data"]]
        assert len(images) == 1, kinds
        text = "".join(m["content"]["text"] for m in messages if m["msg_type"] == "stream")
        assert "held-out" in text and "KDE (h = " in text
        value = run("print(w.result.bandwidth == slider(w, 'bandwidth').value)")
        assert "True" in "".join(m["content"].get("text", "") for m in value)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
