"""The course's generative models, one file per family, all on the one interface of ``models/base.py``.

Every class below is a :class:`~course_lib.models.base.Model` (most of them a
:class:`~course_lib.models.base.DensityModel`), neural and classical alike. ``MODEL_NAMES`` lists them and
``model_classes()`` imports them; ``tests/test_model_interface.py`` runs one parametrised test over each (a
new model adds itself here and a one-line tiny instance there). Names are imported on first use, so
``course_lib.distributions`` (which imports ``models.base``) causes no import cycle.
"""

from __future__ import annotations

import importlib

from course_lib.models.base import DensityModel, Model

_WHERE = {
    # chapter 01-02: classical density models
    "Histogram": "course_lib.distributions",
    "KDE": "course_lib.distributions",
    "Gaussian": "course_lib.distributions",
    "GaussianMixture": "course_lib.distributions",
    "GaussianMixtureSGD": "course_lib.distributions",
    "IndependentCategorical": "course_lib.distributions",
    "MixtureOfCategoricals": "course_lib.distributions",
    "DiscreteKDE": "course_lib.distributions",
    # chapter 03: autoregressive models
    "BigramCounts": "course_lib.models.char_models",
    "NeuralBigram": "course_lib.models.char_models",
    "ContextMLP": "course_lib.models.char_models",
    "GRUCharModel": "course_lib.models.gru",
    "CausalTransformer": "course_lib.models.transformer",
    "MADE": "course_lib.models.made",
    "PixelCNN": "course_lib.models.pixelcnn",
    "SymmetryMixturePixelCNN": "course_lib.models.pixelcnn",
    "GaussianAR": "course_lib.models.ar_series",
    "NeuralAR": "course_lib.models.ar_series",
    # chapter 04: latent variable models
    "PPCA": "course_lib.models.ppca",
    "VAE": "course_lib.models.vae",
    "IWAE": "course_lib.models.iwae",
    # chapter 05: generative adversarial networks (no likelihood: neither log_prob nor elbo)
    "GAN": "course_lib.models.gan",
    # chapter 06: diffusion and flow matching
    "GaussianDiffusion": "course_lib.models.diffusion",
    "FlowMatching": "course_lib.models.flow_matching",
    # chapter 06: flows (DigitsFlow has only bounds of a kind the VAE case of test_model_interface does not cover:
    # its sampler, bounds and normalisation are tested in tests/test_flows.py)
    "RealNVP": "course_lib.models.flows",
}

MODEL_NAMES: tuple[str, ...] = tuple(_WHERE)

__all__ = ["Model", "DensityModel", "MODEL_NAMES", "model_classes", *MODEL_NAMES]


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'course_lib.models' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


def model_classes() -> dict[str, type[Model]]:
    """Every model class the library exports, by name (imports them all)."""
    return {name: __getattr__(name) for name in MODEL_NAMES}
