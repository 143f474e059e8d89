"""``doctor()``: is this machine ready for the course? Versions, device, fast mode, and imports."""

from __future__ import annotations

import importlib
import platform
import sys

# import name -> what the course uses it for
DEPENDENCIES = {
    "torch": "models and training",
    "numpy": "arrays",
    "matplotlib": "figures",
    "sklearn": "the bundled digits data set",
    "scipy": "statistics in checks and lectures",
    "ipywidgets": "interactive explorers",
    "tqdm": "progress bars",
    "nbformat": "exercise generation",
    "nbclient": "running notebooks",
    "names": "the names data set (chapter 03)",
    "statsmodels": "the sunspots series (chapter 03)",
}
# needed only to open the notebooks on your own machine: Colab and JupyterHub bring their own interface
INTERFACE = {"jupyterlab": "the notebook interface (not needed on Colab or JupyterHub)"}


def doctor(verbose: bool = True) -> dict[str, str]:
    """Report Python, each dependency's version (or why it fails to import), device, threads and fast mode.

    Returns the report as a dict; prints it unless ``verbose=False``. Anything marked MISSING means the
    set-up command did not finish: rerun ``python -m pip install -r requirements.txt``.
    """
    report = {"python": platform.python_version(), "platform": platform.platform(terse=True)}
    for module, purpose in DEPENDENCIES.items():
        try:
            imported = importlib.import_module(module)
            report[module] = str(getattr(imported, "__version__", "installed"))
        except Exception as error:  # noqa: BLE001 - report every failure, keep going
            report[module] = f"MISSING ({type(error).__name__}: {error}) - needed for {purpose}"
    for module, purpose in INTERFACE.items():
        try:
            report[module] = str(getattr(importlib.import_module(module), "__version__", "installed"))
        except Exception:  # noqa: BLE001
            report[module] = f"not installed - {purpose}"
    try:
        import torch

        from course_lib.config import fast_mode, get_device

        report["device"] = str(get_device("auto"))
        report["torch threads"] = str(torch.get_num_threads())
        report["fast mode"] = "on (COURSE_FAST=1)" if fast_mode() else "off"
    except Exception as error:  # noqa: BLE001
        report["device"] = f"unknown ({error})"
    report["all imports ok"] = str(not any(v.startswith("MISSING") for v in report.values()))
    if verbose:
        width = max(len(k) for k in report)
        print("\n".join(f"{k:<{width}}  {v}" for k, v in report.items()), file=sys.stdout)
    return report
