"""AR(p) by least squares against statsmodels' AutoReg; the neural AR model; the sunspot split."""

import numpy as np
import pytest
import torch
from statsmodels.tsa.ar_model import AutoReg

from course_lib.data.timeseries import load_sunspots
from course_lib.models.ar_series import GaussianAR, NeuralAR, fit_ar_least_squares, lagged_design, lagged_examples
from course_lib.train import fit


def test_sunspot_split():
    s = load_sunspots()
    assert (len(s.train), len(s.val), len(s.test)) == (220, 40, 49)
    assert s.years[0] == 1700 and s.years[s.train_end] == 1920 and s.years[s.val_end] == 1960
    assert (s.values >= 0).all()
    with pytest.raises(ValueError):
        load_sunspots("log")


def test_lagged_design_by_hand():
    X, y = lagged_design(np.arange(5.0), 2)
    assert X.tolist() == [[1, 1, 0], [1, 2, 1], [1, 3, 2]] and y.tolist() == [2, 3, 4]


@pytest.mark.parametrize("p", [1, 3, 9])
def test_matches_statsmodels_autoreg(p):
    s = load_sunspots().train
    params, sigma2 = fit_ar_least_squares(s, p)
    ref = AutoReg(s, lags=p, trend="c").fit()
    assert np.allclose(params, ref.params, atol=1e-8)
    assert sigma2 == pytest.approx(ref.sigma2, rel=1e-8)
    model = GaussianAR(p).fit(s)
    mean, std = model.forecast(s, 6)
    frame = ref.get_prediction(start=len(s), end=len(s) + 5).summary_frame()
    assert np.allclose(mean, frame["mean"], atol=1e-8)
    assert np.allclose(std, frame["mean_se"], atol=1e-8)


def test_log_prob_is_the_gaussian_density():
    s = load_sunspots()
    model = GaussianAR(2).fit(s.train)
    lp = model.conditional_log_prob(s.train, s.val[:3])
    c, a, b = model.params.tolist()
    prev = [s.train[-1], s.train[-2]]
    mean = c + a * prev[0] + b * prev[1]
    sigma2 = float(model.sigma2)
    expected = -0.5 * np.log(2 * np.pi * sigma2) - (s.val[0] - mean) ** 2 / (2 * sigma2)
    assert lp[0] == pytest.approx(expected)
    # the interface: an event is the next `steps` values, the context the history before them
    two = GaussianAR(2, steps=2).fit(s.train)
    x = torch.as_tensor(s.val[None, :2])
    joint = two.log_prob(x, context=torch.as_tensor(s.train))
    assert joint.item() == pytest.approx(float(lp[:2].sum()))


def test_neural_ar_beats_the_iid_baseline_on_validation():
    s = load_sunspots()
    p = 9
    torch.manual_seed(0)
    model = NeuralAR(p, hidden=16, loc=float(s.train.mean()), scale=float(s.train.std()))
    fit(model, lagged_examples(s.train, p), epochs=150, lr=1e-2, batch_size=64, progress=False)
    nll = -model.conditional_log_prob(s.values[: s.train_end], s.val).mean()
    mu, sd = s.train.mean(), s.train.std()
    iid = np.mean(0.5 * np.log(2 * np.pi * sd ** 2) + (s.val - mu) ** 2 / (2 * sd ** 2))
    assert nll < iid - 0.5
    paths = model.sample_paths(s.train, 5, 7, generator=torch.Generator().manual_seed(0))
    assert paths.shape == (7, 5) and np.isfinite(paths).all()
    assert len(NeuralAR.windows(np.arange(10.0), 3)) == 7
    one_step = model.sample(7, context=torch.as_tensor(s.train), generator=torch.Generator().manual_seed(0))
    assert torch.allclose(one_step[:, 0].double(), torch.as_tensor(paths[:, 0]))  # the same first draws


def test_lagged_examples_pair_each_continuation_with_its_history():
    x, context = lagged_examples(np.arange(8.0), 3, steps=2)
    assert x.tolist() == [[3, 4], [4, 5], [5, 6], [6, 7]]
    assert context.tolist() == [[0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5]]
