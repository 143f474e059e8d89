"""One parametrised test over every model the library exports (course_lib.models.MODEL_NAMES).

Each model has a tiny seeded instance in CASES (one line: a new model adds one). On each instance:
- inputs are checked once, with clear errors (wrong shape, wrong dtype, not a tensor, a context where none
  is taken or none where one is needed);
- exp(log_prob) sums to one over the enumerated support (discrete) or integrates to one on a grid (continuous);
- samples follow exp(log_prob): a chi-square goodness-of-fit test on 20k seeded samples (cells with small
  expected counts pooled; continuous models binned, the bin masses integrated from log_prob on a fine grid);
  the VAE, which has only a bound, against its own decoder's marginal p(x) = int p(x | z) p(z) dz, computed by
  quadrature over a 1-D latent; and temperatures against the tempered distribution computed here;
- sample(n) has shape (n, *event_shape), follows its generator and leaves the global random state alone;
- the device follows the parameters and buffers (``.to("meta")``), and no tensor hides outside them;
- the default loss is the mean NLL and passes the context through.

Planted bugs that these tests must reject are kept as tests: a MADE that draws every pixel in one pass, and
a temperature that multiplies the logits instead of dividing them.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import stats
from torch import Tensor

import course_lib.nn
from course_lib.applications.music import NGramModel, NoteGRU
from course_lib.config import torch_threads
from course_lib.data.music import NoteVocabulary
from course_lib.distributions import (
    KDE,
    DiscreteKDE,
    Gaussian,
    GaussianMixture,
    GaussianMixtureSGD,
    Histogram,
    IndependentCategorical,
    MixtureOfCategoricals,
)
from course_lib.models import MODEL_NAMES, DensityModel, Model
from course_lib.models.ar_series import GaussianAR, NeuralAR
from course_lib.models.char_models import PAD, BigramCounts, CharModel, ContextMLP, NeuralBigram
from course_lib.models.diffusion import GaussianDiffusion, ResidualMLPDenoiser, log_snr_schedule
from course_lib.models.flow_matching import FlowMatching
from course_lib.models.flows import RealNVP
from course_lib.models.gan import conditional_dcgan, mlp_gan
from course_lib.models.gru import GRUCharModel
from course_lib.models.iwae import IWAE
from course_lib.models.made import MADE
from course_lib.models.pixelcnn import PixelCNN, SymmetryMixturePixelCNN
from course_lib.models.ppca import PPCA
from course_lib.models.transformer import CausalTransformer
from course_lib.models.vae import VAE, standard_normal_log_prob
from course_lib.nn import sample_logits

NUM_SAMPLES = 20_000
P_MIN = 1e-3  # a correct sampler fails with this probability (the seeds are fixed, so it does not flicker)


# ---- the tiny instances --------------------------------------------------------------------------------------

def _spread(model: Model, std: float = 1.5, seed: int = 0) -> Model:
    """Re-draw every parameter from N(0, std^2): strong dependencies, so a wrong sampler is easy to see."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * std)
    return model


def _short(model: CharModel, length: int = 4) -> CharModel:
    model.max_length = length  # start token + 3 generated tokens: 15 possible sequences with V = 3
    return model


def _points(n: int, d: int, seed: int = 0) -> Tensor:
    rng = np.random.default_rng(seed)
    shape = (n, max(d, 1))
    x = np.where(rng.random((n, 1)) < 0.3, rng.normal(-1.5, 0.5, shape), rng.normal(1.0, 0.8, shape))
    return torch.as_tensor(x[:, 0] if d == 0 else x, dtype=torch.float32)


def _probs(*shape: int, seed: int = 0) -> Tensor:
    p = torch.rand(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) + 0.05
    return p / p.sum(-1, keepdim=True)


def _ar_series(n: int = 300) -> np.ndarray:
    rng, x = np.random.default_rng(0), [0.0, 0.0]
    for _ in range(n):
        x.append(0.2 + 0.6 * x[-1] - 0.3 * x[-2] + 0.5 * rng.normal())
    return np.array(x)


_COV = torch.tensor([[1.0, 0.6], [0.6, 0.8]], dtype=torch.float64)
_TOKENS = torch.tensor([[0, 1, 2, 0], [0, 2, 0, PAD], [0, 1, 1, 0], [0, 2, 2, 1]])  # V = 3, max_length 4
_HISTORY = torch.tensor([0.4, -0.2, 0.9, 0.1, 0.6])
_KDE_CENTRES = torch.tensor([[0, 2, 1], [2, 2, 0], [0, 0, 0]])  # three training images, 3 pixels, 3 levels


def _fixed(value, dtype=torch.long) -> Callable[[int], Tensor]:
    return lambda n: torch.full((n,), value, dtype=dtype)


def _history(n: int) -> Tensor:
    return _HISTORY.expand(n, -1)


@dataclass(frozen=True)
class Case:
    """A tiny instance of one model. kind: "discrete" (support enumerated), "continuous" or "bound" (a VAE);
    "sampler" for a model with no likelihood at all (its sampler is tested in its own test file)."""

    id: str
    build: Callable[[], Model]
    kind: str
    support: Callable[[], Tensor] | None = None  # every event, for "discrete" and "bound"
    context: Callable[[int], Tensor] | None = None  # n rows of one fixed context, for a conditional model


def levels(d: int, k: int) -> Callable[[], Tensor]:
    return lambda: torch.tensor(list(itertools.product(range(k), repeat=d)))


def images(h: int, w: int, k: int) -> Callable[[], Tensor]:
    return lambda: levels(h * w, k)().view(-1, h, w)


def names(vocab: int, length: int) -> Callable[[], Tensor]:
    """Every sequence a char model with this vocabulary and max_length can sample, in its layout."""
    def rows() -> Tensor:
        out = []
        for k in range(length - 1):  # k letters, then the end token, then padding
            out += [[0, *w, 0] + [PAD] * (length - 2 - k) for w in itertools.product(range(1, vocab), repeat=k)]
        out += [[0, *w] for w in itertools.product(range(1, vocab), repeat=length - 1)]  # truncated names
        return torch.tensor(out)
    return rows


CASES = [
    Case("Histogram-1d", lambda: Histogram(_points(300, 0), bins=8), "continuous"),
    Case("Histogram-2d", lambda: Histogram(_points(300, 2), bins=(4, 5)), "continuous"),
    Case("KDE-1d", lambda: KDE(_points(40, 0), 0.3), "continuous"),
    Case("KDE-2d", lambda: KDE(_points(40, 2), 0.4), "continuous"),
    Case("Gaussian", lambda: Gaussian(torch.tensor([0.5, -1.0], dtype=torch.float64), _COV), "continuous"),
    Case("Gaussian-diag", lambda: Gaussian(torch.zeros(2), torch.tensor([2.0, 0.5]), diagonal=True), "continuous"),
    Case("GaussianMixture", lambda: GaussianMixture(torch.tensor([0.3, 0.7], dtype=torch.float64),
                                                    torch.tensor([[-1.5, 0.0], [1.0, 1.0]], dtype=torch.float64),
                                                    torch.stack([_COV, 0.3 * torch.eye(2, dtype=torch.float64)])),
         "continuous"),
    Case("GaussianMixtureSGD", lambda: _spread(GaussianMixtureSGD(3, 2), 0.6), "continuous"),
    Case("IndependentCategorical", lambda: IndependentCategorical(_probs(3, 3)), "discrete", levels(3, 3)),
    Case("MixtureOfCategoricals", lambda: MixtureOfCategoricals(_probs(2), _probs(2, 3, 3, seed=1)), "discrete",
         levels(3, 3)),
    Case("DiscreteKDE", lambda: DiscreteKDE(_KDE_CENTRES, 3, 0.7), "discrete", levels(3, 3)),
    Case("DiscreteKDE-laplace-floor", lambda: DiscreteKDE(_KDE_CENTRES, 3, 0.5, kernel="laplace", floor=0.3),
         "discrete", levels(3, 3)),
    Case("BigramCounts", lambda: _short(BigramCounts(_TOKENS, vocab_size=3, alpha=0.3)), "discrete", names(3, 4)),
    Case("NeuralBigram", lambda: _short(_spread(NeuralBigram(3))), "discrete", names(3, 4)),
    Case("ContextMLP", lambda: _short(_spread(ContextMLP(3, window=2, embed_dim=4, hidden=8), 1.0)), "discrete",
         names(3, 4)),
    Case("GRUCharModel", lambda: _short(_spread(GRUCharModel(3, embed_dim=4, hidden=8), 0.8)), "discrete",
         names(3, 4)),
    Case("NGramModel", lambda: NGramModel(_TOKENS, vocab_size=3, order=3, alpha=0.3, max_length=4), "discrete",
         names(3, 4)),
    Case("NoteGRU", lambda: _short(_spread(NoteGRU(NoteVocabulary(60, 60, (1.0,)), embed_dim=4, hidden=8), 0.8)),
         "discrete", names(3, 4)),
    Case("CausalTransformer", lambda: _spread(CausalTransformer(3, max_length=4, dim=8, num_heads=2, num_layers=1,
                                                                dropout=0.0), 0.7), "discrete", names(3, 4)),
    Case("MADE", lambda: _spread(MADE(3, 3, hidden=(16,))), "discrete", levels(3, 3)),
    Case("PixelCNN", lambda: _spread(PixelCNN(3, (2, 2), channels=4, num_blocks=1, first_kernel=3), 0.8),
         "discrete", images(2, 2, 3)),
    Case("PixelCNN-context", lambda: _spread(PixelCNN(3, (2, 2), channels=4, num_blocks=1, first_kernel=3,
                                                      num_contexts=2, ordinal_input=True, logistic_components=2),
                                             0.8), "discrete", images(2, 2, 3), _fixed(1)),
    Case("SymmetryMixturePixelCNN", lambda: _spread(SymmetryMixturePixelCNN(8, num_levels=3, image_shape=(2, 2),
                                                                            channels=4, num_blocks=1,
                                                                            first_kernel=3), 0.8),
         "discrete", images(2, 2, 3)),
    Case("GaussianAR", lambda: GaussianAR(2, steps=2).fit(_ar_series()), "continuous", None, _history),
    Case("NeuralAR", lambda: _spread(NeuralAR(2, hidden=8, steps=2), 0.8), "continuous", None, _history),
    Case("PPCA", lambda: PPCA(torch.tensor([0.5, -0.5]), torch.tensor([[1.0], [0.7]]), torch.tensor(0.2)),
         "continuous"),
    Case("VAE-bernoulli-conv", lambda: _spread(VAE("digits2", latent_dim=1, hidden=8, decoder="conv", channels=4,
                                                   num_pixels=4), 0.8), "bound", levels(4, 2)),
    Case("VAE-17-levels-labels", lambda: _spread(VAE("digits17", latent_dim=1, hidden=8, num_classes=3,
                                                     num_pixels=2), 0.8), "bound", levels(2, 17), _fixed(2)),
    Case("IWAE", lambda: _spread(IWAE("digits2", latent_dim=1, hidden=8, num_pixels=4, k=3), 0.8), "bound",
         levels(4, 2)),
    # one pixel, one latent (T = 1): z_0 ~ N(0, 1), x ~ p(x | z_0), so the VAE quadrature is its exact marginal
    Case("GaussianDiffusion-1-step", lambda: GaussianDiffusion(_spread(ResidualMLPDenoiser(1, 8, 1, out_per_dim=3),
                                                                       0.8), log_snr_schedule(1, 3.0, 3.0), 1, 3),
         "bound", levels(1, 3)),
    Case("FlowMatching", lambda: FlowMatching(_spread(ResidualMLPDenoiser(2, 8, 1), 0.5), 2), "sampler"),
    Case("GAN", lambda: mlp_gan(hidden=8, layers=1), "sampler"),
    Case("GAN-conditional", lambda: conditional_dcgan(channels=8), "sampler", None, _fixed(3)),
    Case("RealNVP", lambda: _spread(RealNVP(2, num_couplings=3, hidden=8, permutation="linear"), 0.3), "continuous"),
]


def _build(case: Case) -> Model:
    torch.manual_seed(0)
    return case.build().eval()


def _context(case: Case, n: int) -> Tensor | None:
    return None if case.context is None else case.context(n)


def _score(model: Model) -> Callable:
    """log_prob for a density model; the ELBO for a model with only a bound."""
    if not isinstance(model, DensityModel) and not hasattr(model, "elbo"):
        return model.loss  # a sample-only model validates its inputs in its loss
    return model.log_prob if isinstance(model, DensityModel) else model.elbo


def _samples(model: Model, case: Case, n: int = NUM_SAMPLES, seed: int = 0, **options) -> Tensor:
    return model.sample(n, _context(case, n), torch.Generator().manual_seed(seed), **options)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """These tiny models run 5 to 10 times slower with two intra-op threads on a busy 2-core machine."""
    with torch_threads(1):
        yield


@pytest.fixture(params=CASES, ids=[c.id for c in CASES])
def case(request) -> Case:
    return request.param


def test_every_exported_model_has_a_tiny_instance():
    covered = {type(_build(c)).__name__ for c in CASES}
    assert set(MODEL_NAMES) <= covered, f"add a Case for {sorted(set(MODEL_NAMES) - covered)}"
    assert all(isinstance(_build(c), Model) for c in CASES)


# ---- clear errors ----------------------------------------------------------------------------------------------

def test_rejects_wrong_inputs_with_clear_errors(case):
    model = _build(case)
    score, x, ctx = _score(model), _samples(model, case, 4), _context(case, 4)
    score(x, ctx)  # a valid batch passes
    for wrong in (x.unsqueeze(-1), x[0]):  # the shape is checked before the context
        with pytest.raises(ValueError, match="shape"):
            score(wrong, ctx)
    wrong_dtype = x.to(torch.complex64) if x.is_floating_point() else x.float()  # float where integers are needed
    with pytest.raises(TypeError, match="dtype"):
        score(wrong_dtype, ctx)
    with pytest.raises(TypeError, match="Tensor"):
        score(x.tolist(), ctx)
    if case.context is None:
        with pytest.raises(ValueError, match="not conditional"):
            score(x, torch.zeros(4))
    else:
        with pytest.raises(ValueError, match="conditional"):
            score(x)
        with pytest.raises(ValueError, match="conditional"):
            model.sample(3)
        with pytest.raises(ValueError, match="rows"):
            model.sample(3, case.context(4))


# ---- normalisation ----------------------------------------------------------------------------------------------

def _box(samples: Tensor, widen: float) -> list[tuple[float, float]]:
    """Per event dimension, the samples' range widened by `widen` times its span on each side."""
    flat = samples.double().reshape(len(samples), -1)
    lo, hi = flat.min(0).values, flat.max(0).values
    return [(a - widen * (b - a), b + widen * (b - a)) for a, b in zip(lo.tolist(), hi.tolist(), strict=True)]


def _cell_masses(model: Model, case: Case, edges: list[np.ndarray], points: int) -> np.ndarray:
    """Mass of exp(log_prob) in every cell of the grid `edges` (1 or 2 dims): midpoint rule, points per axis."""
    mids, widths = [], []
    for e in edges:
        t = (np.arange(points) + 0.5) / points  # (points,)
        mids.append((e[:-1, None] + (e[1:] - e[:-1])[:, None] * t).ravel())  # (cells * points,)
        widths.append(np.repeat((e[1:] - e[:-1]) / points, points))
    grid = torch.as_tensor(np.stack(np.meshgrid(*mids, indexing="ij"), -1).reshape(-1, len(edges)))
    x = grid.view(-1, *model.event_shape) if len(model.event_shape) else grid[:, 0]
    with torch.no_grad():
        density = model.log_prob(x, _context(case, len(x))).double().exp().numpy()
    volume = np.prod(np.stack(np.meshgrid(*widths, indexing="ij"), -1).reshape(-1, len(edges)), 1)
    mass = (density * volume).reshape([len(m) for m in mids])
    for axis, e in enumerate(edges):  # sum the points of each cell
        mass = np.add.reduceat(mass, np.arange(0, (len(e) - 1) * points, points), axis=axis)
    return mass


def _marginal_log_probs(model: VAE, case: Case, support: Tensor) -> Tensor:
    """log p(x) = log int p(x | z) N(z; 0, 1) dz for every x of the support: a 1-D latent, a fine grid."""
    z = torch.linspace(-8, 8, 3201)[:, None, None].expand(-1, len(support), 1)  # (G, S, 1)
    with torch.no_grad():
        joint = model.log_likelihood(support, z, _context(case, len(support))) + standard_normal_log_prob(z)
    return torch.logsumexp(joint.double(), 0) + math.log(16 / 3200)


def test_probabilities_sum_or_integrate_to_one(case):
    if case.kind == "sampler":
        pytest.skip("a sample-only model has no likelihood to normalise")
    model = _build(case)
    if case.kind == "discrete":
        support = case.support()
        with torch.no_grad():
            total = torch.logsumexp(model.log_prob(support, _context(case, len(support))).double(), 0)
        assert abs(total.item()) < 1e-5
    elif case.kind == "continuous":
        assert len(model.event_shape) <= 1 and math.prod(model.event_shape) <= 2, "keep the instance 1-D or 2-D"
        box = _box(_samples(model, case, 4000), widen=0.5)
        edges = [np.array([lo, hi]) for lo, hi in box]
        total = _cell_masses(model, case, edges, 20_000 if len(edges) == 1 else 400).sum()
        # the midpoint rule is exact to ~1e-6 on smooth densities; a 2-D histogram's jumps leave ~3e-3
        assert total == pytest.approx(1.0, abs=2e-3 if len(edges) == 1 else 5e-3)
    else:  # a VAE: the quadrature marginal is normalised, and the ELBO lies below it for every x
        assert not hasattr(model, "log_prob")  # a bound is not a log-probability
        support = case.support()
        log_px = _marginal_log_probs(model, case, support)
        assert torch.logsumexp(log_px, 0).item() == pytest.approx(0.0, abs=1e-4)
        repeats = 200
        torch.manual_seed(1)
        with torch.no_grad():
            elbo = model.elbo(support.repeat(repeats, 1), _context(case, repeats * len(support)))
        assert (elbo.view(repeats, -1).double().mean(0) < log_px + 0.02).all()


# ---- samples follow exp(log_prob) ---------------------------------------------------------------------------------

def _pooled_pvalue(observed: np.ndarray, expected: np.ndarray, min_expected: float = 5.0) -> float:
    """Chi-square p-value after pooling the cells with the smallest expected counts into one cell that expects at
    least min_expected (the usual validity condition of the chi-square approximation)."""
    expected = expected * observed.sum() / expected.sum()
    order = np.argsort(expected)
    pooled = np.searchsorted(np.cumsum(expected[order]), min_expected) + 1  # the smallest cells, >= min_expected
    small, rest = order[:pooled], order[pooled:]
    obs = np.append(observed[rest], observed[small].sum())
    exp = np.append(expected[rest], expected[small].sum())
    return float(stats.chisquare(obs, exp).pvalue)


def discrete_pvalue(samples: Tensor, support: Tensor, log_probs: Tensor) -> float:
    """Goodness of fit of samples to the pmf exp(log_probs) over the enumerated support (0 if off support)."""
    index = {tuple(row): i for i, row in enumerate(support.reshape(len(support), -1).tolist())}
    cells = [index.get(tuple(row), -1) for row in samples.reshape(len(samples), -1).tolist()]
    if min(cells) < 0:
        return 0.0
    observed = np.bincount(cells, minlength=len(support)).astype(float)
    return _pooled_pvalue(observed, log_probs.double().exp().numpy())


def continuous_pvalue(model: Model, case: Case, samples: Tensor) -> float:
    """Binned chi-square: equal-width cells over the samples' central 99 %, plus everything outside them.

    The cell masses come from the midpoint rule; a histogram's jumps make its error about one sub-interval's
    worth of mass per jump, so 2-D cells need 100 points per axis (40 were too few at 20k samples)."""
    flat = samples.double().reshape(len(samples), -1).numpy()
    bins = 20 if flat.shape[1] == 1 else 6
    edges = [np.linspace(*np.quantile(col, [0.005, 0.995]), bins + 1) for col in flat.T]
    mass = _cell_masses(model, case, edges, 200 if flat.shape[1] == 1 else 100).ravel()  # see the docstring
    observed = np.histogramdd(flat, bins=edges)[0].ravel()
    observed, mass = np.append(observed, len(flat) - observed.sum()), np.append(mass, max(1 - mass.sum(), 0.0))
    return _pooled_pvalue(observed, mass)


def sampling_pvalue(model: Model, case: Case, **options) -> float:
    samples = _samples(model, case, **options)
    if case.kind == "continuous":
        return continuous_pvalue(model, case, samples)
    support = case.support()
    if case.kind == "bound":
        return discrete_pvalue(samples, support, _marginal_log_probs(model, case, support))
    with torch.no_grad():
        return discrete_pvalue(samples, support, model.log_prob(support, _context(case, len(support))))


def test_samples_follow_exp_log_prob(case):
    if case.kind == "sampler":
        pytest.skip("a sample-only model has no likelihood to test its samples against")
    assert sampling_pvalue(_build(case), case) > P_MIN


# temperatures: the tempered distribution is computed here, from the model's logits, one factor at a time
def _tempered_char_log_prob(model: CharModel, x: Tensor, temperature: float) -> Tensor:
    logp = F.log_softmax(model.next_logits(x[:, :-1].clamp(min=0)) / temperature, -1)  # (B, T-1, V)
    targets = x[:, 1:]
    picked = logp.gather(-1, targets.clamp(min=0)[..., None])[..., 0]
    return (picked * (targets != PAD)).sum(1)


def _tempered_pixel_log_prob(model: PixelCNN, x: Tensor, temperature: float) -> Tensor:
    logp = F.log_softmax(model.logits(x) / temperature, 1)  # (B, K, H, W)
    return logp.gather(1, x[:, None])[:, 0].flatten(1).sum(1)


TEMPERED = {"NeuralBigram": _tempered_char_log_prob, "CausalTransformer": _tempered_char_log_prob,
            "PixelCNN": _tempered_pixel_log_prob}


def tempered_pvalue(case: Case, temperature: float) -> float:
    model = _build(case)
    support = case.support()
    with torch.no_grad():
        log_probs = TEMPERED[case.id](model, support, temperature)
    assert torch.logsumexp(log_probs, 0).item() == pytest.approx(0.0, abs=1e-5)
    return discrete_pvalue(_samples(model, case, temperature=temperature), support, log_probs)


@pytest.mark.parametrize("case_id", sorted(TEMPERED))
def test_tempered_samples_follow_the_tempered_distribution(case_id):
    case = next(c for c in CASES if c.id == case_id)
    assert tempered_pvalue(case, 0.5) > P_MIN


# ---- planted bugs: the tests above must reject them -------------------------------------------------------------

class OnePassMADE(MADE):
    """Planted bug: every pixel drawn from one pass on an all-zero input, as if the pixels were independent."""

    def _sample(self, n, context, generator):
        x = torch.zeros(n, self.num_dims, dtype=torch.long)
        return sample_logits(self._logits(x), generator)


def test_planted_bug_one_pass_made_sampler_is_rejected():
    case = next(c for c in CASES if c.id == "MADE")
    buggy = Case("MADE-one-pass", lambda: _spread(OnePassMADE(3, 3, hidden=(16,))), "discrete", case.support)
    assert sampling_pvalue(_build(case), case) > P_MIN
    assert sampling_pvalue(_build(buggy), buggy) < P_MIN


def test_planted_bug_temperature_that_multiplies_is_rejected(monkeypatch):
    def multiplied(logits, temperature=1.0, top_k=None):
        return logits * temperature

    case = next(c for c in CASES if c.id == "NeuralBigram")
    monkeypatch.setattr(course_lib.nn, "tempered_logits", multiplied)
    assert tempered_pvalue(case, 0.5) < P_MIN


# ---- shapes, generators, devices, the default loss -------------------------------------------------------------

def test_sample_shape_and_generator(case):
    model = _build(case)
    state = torch.get_rng_state()
    a, b, c = (_samples(model, case, 200, seed) for seed in (3, 3, 4))
    assert torch.equal(torch.get_rng_state(), state), "sampling with a generator drew from the global stream"
    assert a.shape == (200, *model.event_shape)
    assert torch.equal(a, b) and not torch.equal(a, c)


def _plain_tensors(model: Model) -> list[str]:
    """Tensor attributes that are neither parameters nor buffers (they would not follow .to(device))."""
    return [f"{name}.{key}" if name else key for name, module in model.named_modules()
            for key, value in vars(module).items() if isinstance(value, Tensor)]


def test_device_follows_parameters_and_buffers(case):
    model = _build(case)
    assert model.device == torch.device("cpu")
    assert not _plain_tensors(model), f"move these into buffers: {_plain_tensors(model)}"
    model.to("meta")
    assert model.device.type == "meta"
    assert all(t.device.type == "meta" for t in (*model.parameters(), *model.buffers()))


def test_default_loss_is_the_mean_nll_and_passes_the_context(case):
    model = _build(case)
    if not isinstance(model, DensityModel):
        assert isinstance(model.loss(_samples(model, case, 8), _context(case, 8)), dict)  # the VAE's negative ELBO
        return
    x, ctx = _samples(model, case, 8), _context(case, 8)
    with torch.no_grad():
        loss, log_prob = model.loss(x, ctx), model.log_prob(x, ctx)
    if isinstance(model, CharModel):  # documented: nats per character, not per name
        expected = -log_prob.sum() / (x[:, 1:] != PAD).sum()
    else:
        expected = -log_prob.mean()
    torch.testing.assert_close(loss, expected)
