import math

import pytest
import torch
from torch import nn

from course_lib.train import EMA, Callback, History, KLWarmup, Snapshots, evaluate_loss, fit


class DiagonalGaussian(nn.Module):
    """A learnable diagonal Gaussian: the smallest model with the course's interface."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.mean = nn.Parameter(torch.zeros(dim))
        self.log_std = nn.Parameter(torch.zeros(dim))

    def log_prob(self, x):
        return torch.distributions.Normal(self.mean, self.log_std.exp()).log_prob(x).sum(-1)

    def loss(self, x):
        return -self.log_prob(x).mean()


def test_fit_learns_a_gaussian_and_beats_the_initial_model():
    g = torch.Generator().manual_seed(0)
    data = torch.randn(600, 2, generator=g) * torch.tensor([0.5, 2.0]) + torch.tensor([1.0, -1.0])
    model = DiagonalGaussian(2)
    before = evaluate_loss(model, data[500:])
    history = fit(model, data[:500], data[500:], epochs=150, lr=0.05, batch_size=100, progress=False)
    assert isinstance(history, History) and len(history.train_loss) == len(history.val_loss)
    assert history.val_loss[history.best_epoch] == min(history.val_loss)
    assert evaluate_loss(model, data[500:]) < before - 0.5
    assert torch.allclose(model.mean, torch.tensor([1.0, -1.0]), atol=0.25)
    assert torch.allclose(model.log_std.exp(), torch.tensor([0.5, 2.0]), atol=0.25)


def test_fit_restores_the_best_weights_and_stops_early():
    data = torch.randn(200, 2)
    model = DiagonalGaussian(2)
    history = fit(model, data[:100], data[100:], epochs=200, lr=0.5, patience=3, progress=False)
    assert len(history.val_loss) < 200
    assert evaluate_loss(model, data[100:]) == pytest.approx(min(history.val_loss), rel=1e-5)


def test_fit_counts_steps():
    history = fit(DiagonalGaussian(2), torch.randn(100, 2), steps=7, batch_size=10, progress=False)
    assert history.steps == 7


class Exploding(DiagonalGaussian):
    def loss(self, x):
        return super().loss(x) * torch.tensor(math.nan) if self.mean.grad is not None else super().loss(x)


def test_fit_stops_on_nan_with_a_clear_message():
    with pytest.raises(FloatingPointError, match=r"at step 2 .*smaller learning rate"):
        fit(Exploding(2), torch.randn(64, 2), epochs=3, batch_size=32, progress=False)


def test_fit_passes_tuples_to_loss():
    class Conditional(DiagonalGaussian):
        def loss(self, x, y):
            assert len(x) == len(y)
            return super().loss(x)

    fit(Conditional(2), (torch.randn(50, 2), torch.arange(50)), epochs=1, progress=False)


def test_fit_rejects_bad_arguments():
    with pytest.raises(ValueError, match="exactly one"):
        fit(DiagonalGaussian(2), torch.randn(10, 2), progress=False)
    with pytest.raises(ValueError, match="validation"):
        fit(DiagonalGaussian(2), torch.randn(10, 2), epochs=1, patience=2, progress=False)
    with pytest.raises(ValueError, match="scalar"):
        model = DiagonalGaussian(2)
        model.loss = lambda x: -model.log_prob(x)
        fit(model, torch.randn(10, 2), epochs=1, progress=False)


def test_fit_does_not_swallow_exceptions():
    model = DiagonalGaussian(2)

    def broken(x):
        raise KeyError("boom")

    model.loss = broken
    with pytest.raises(KeyError):
        fit(model, torch.randn(10, 2), epochs=1, progress=False)


# ---- the one loop: several optimisers, schedulers, clipping, validation, callbacks ----------------------------


class TwoPlayers(nn.Module):
    """A toy with the shape of a GAN's step: two parameter groups, two optimisers, taking turns."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.zeros(1))
        self.b = nn.Parameter(torch.zeros(1))
        self.turns = 0

    def loss(self, x):
        return ((x - self.a) ** 2).mean() + ((x - self.b) ** 2).mean()

    def train_step(self, batch, optimizers, clip_grad=None):
        player = self.turns % 2  # a, b, a, b, ...
        self.turns += 1
        name = ("a", "b")[player] if isinstance(optimizers, dict) else player
        (x,) = batch
        optimizer = optimizers[name]
        optimizer.zero_grad()
        self.loss(x).backward()
        optimizer.step()
        return {"loss": self.loss(x).item(), "player": float(player)}


@pytest.mark.parametrize("as_dict", [True, False])
def test_fit_hands_several_optimisers_to_train_step(as_dict):
    model = TwoPlayers()
    sgd_a = torch.optim.SGD([model.a], lr=0.1)
    sgd_b = torch.optim.SGD([model.b], lr=0.1)
    optimizers = {"a": sgd_a, "b": sgd_b} if as_dict else [sgd_a, sgd_b]
    x = torch.full((8, 1), 2.0)
    fit(model, x, steps=1, batch_size=8, optimizer=optimizers, progress=False)
    assert model.a.item() != 0.0 and model.b.item() == 0.0  # only the first player moved
    history = fit(model, x, steps=3, batch_size=8, optimizer=optimizers, progress=False)
    assert [log["player"] for log in history.step_log] == [1.0, 0.0, 1.0]  # b, a, b: the turns go on
    assert model.a.item() == pytest.approx(model.b.item(), rel=1e-6)  # two steps each, same lr, same start


def test_the_default_step_refuses_several_optimisers_and_lr_with_an_optimiser():
    model = DiagonalGaussian(2)
    two = [torch.optim.SGD([model.mean], lr=0.1), torch.optim.SGD([model.log_std], lr=0.1)]
    with pytest.raises(ValueError, match="several optimisers"):
        fit(model, torch.randn(10, 2), epochs=1, optimizer=two, progress=False)
    with pytest.raises(ValueError, match="lr="):
        fit(model, torch.randn(10, 2), epochs=1, optimizer=two[0], lr=0.1, progress=False)
    other = torch.optim.SGD(DiagonalGaussian(2).parameters(), lr=0.1)
    with pytest.raises(ValueError, match="scheduler"):
        fit(model, torch.randn(10, 2), epochs=1, scheduler=torch.optim.lr_scheduler.StepLR(other, 1),
            progress=False)


class LearningRates(Callback):
    def __init__(self, optimizer):
        self.optimizer, self.seen = optimizer, []

    def on_step_start(self, model, state):
        self.seen.append(self.optimizer.param_groups[0]["lr"])


@pytest.mark.parametrize("interval", ["step", "epoch"])
def test_the_scheduler_steps_per_step_or_per_epoch(interval):
    model = DiagonalGaussian(2)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    schedule = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    rates = LearningRates(optimizer)
    fit(model, torch.randn(20, 2), epochs=3, batch_size=10, optimizer=optimizer, scheduler=schedule,
        scheduler_interval=interval, callbacks=[rates], progress=False)
    if interval == "step":
        assert rates.seen == [1.0, 0.5, 0.25, 0.125, 0.0625, 0.03125]
    else:
        assert rates.seen == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]


class Linear(nn.Module):
    """loss = 1000 * sum(w): the gradient is 1000 in every coordinate, its norm 1000 * sqrt(4) = 2000."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(4))

    def loss(self, x):
        return 1000 * self.w.sum() + 0 * x.sum()


@pytest.mark.parametrize("clip", [None, 1.0, 5.0])
def test_clip_grad_clips_the_step(clip):
    model = Linear()
    history = fit(model, torch.zeros(4, 1), steps=1, optimizer=torch.optim.SGD(model.parameters(), lr=1.0),
                  clip_grad=clip, progress=False)
    step = model.w.detach().norm().item()  # SGD with lr 1: the size of the step is the (clipped) gradient norm
    assert step == pytest.approx(2000.0 if clip is None else clip, rel=1e-4)
    if clip is not None:
        assert history.step_log[0]["grad_norm"] == pytest.approx(2000.0)


def test_eval_every_validates_every_n_steps_and_at_the_end():
    data = torch.randn(100, 2)
    history = fit(DiagonalGaussian(2), data, data[:20], steps=10, batch_size=10, eval_every=3, progress=False)
    assert history.val_steps == [3, 6, 9, 10] and len(history.val_loss) == 4
    history = fit(DiagonalGaussian(2), data, data[:20], steps=10, batch_size=10, eval_every=3, eval_from=5,
                  progress=False)
    assert history.val_steps == [6, 9, 10]
    history = fit(DiagonalGaussian(2), data, data[:20], epochs=3, batch_size=50, progress=False)
    assert history.val_steps == [2, 4, 6] and len(history.train_loss) == 3 and len(history.step_log) == 6


def test_early_stopping_on_a_custom_score_restores_its_best_weights():
    scores = iter([3.0, 2.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    seen = []

    def score(model, val):
        seen.append(model.mean.detach().clone())
        assert not model.training and not torch.is_grad_enabled()
        return next(scores)

    model = DiagonalGaussian(2)
    data = torch.randn(100, 2) + 3
    history = fit(model, data, data[:10], steps=50, batch_size=10, lr=0.1, eval_every=2, score=score,
                  patience=2, progress=False)
    assert history.val_loss == [3.0, 2.0, 1.0, 2.0, 3.0]  # two validations without improvement, then stop
    assert history.steps == 10 and history.best_step == 6 and history.best_val_loss == 1.0
    assert torch.equal(model.mean, seen[2]) and not torch.equal(model.mean, seen[-1])
    assert not model.training


def test_fit_leaves_the_global_random_streams_alone():
    torch.manual_seed(123)
    before = torch.get_rng_state()
    fit(DiagonalGaussian(2), torch.arange(40.0).view(20, 2), epochs=2, batch_size=5, progress=False)
    assert torch.equal(torch.get_rng_state(), before)


class Recorder(Callback):
    def __init__(self):
        self.calls = []

    def on_fit_start(self, model, state):
        self.calls.append(("fit_start", state.step))

    def on_step_start(self, model, state):
        self.calls.append(("step_start", state.step))

    def on_step_end(self, model, state, logs):
        self.calls.append(("step_end", state.step, sorted(logs)))

    def on_validate_start(self, model, state):
        self.calls.append(("validate_start", state.step))

    def on_validate_end(self, model, state, score):
        self.calls.append(("validate_end", state.step, score == state.history.val_loss[-1]))

    def on_fit_end(self, model, state):
        self.calls.append(("fit_end", state.step))


def test_callbacks_are_called_in_order():
    rec = Recorder()
    data = torch.randn(20, 2)
    fit(DiagonalGaussian(2), data, data, steps=2, batch_size=10, eval_every=2, callbacks=[rec], progress=False)
    assert rec.calls == [("fit_start", 0), ("step_start", 0), ("step_end", 1, ["loss"]), ("step_start", 1),
                         ("step_end", 2, ["loss"]), ("validate_start", 2), ("validate_end", 2, True), ("fit_end", 2)]


def test_a_callback_can_stop_training():
    class StopAfterThree(Callback):
        def on_step_end(self, model, state, logs):
            state.stop = state.step == 3

    history = fit(DiagonalGaussian(2), torch.randn(100, 2), epochs=5, batch_size=10, callbacks=[StopAfterThree()],
                  progress=False)
    assert history.steps == 3


class WarmedUp(DiagonalGaussian):
    """A stand-in for the VAE: its training loss weighs a 'KL' term by kl_scale and records the weight."""

    def __init__(self):
        super().__init__(2)
        self.kl_scale, self.weights = 1.0, []

    def loss(self, x):
        if self.training:
            self.weights.append(self.kl_scale)
        return super().loss(x) + self.kl_scale * self.mean.pow(2).sum()


def test_kl_warmup_ramps_kl_scale_and_leaves_it_at_one():
    model = WarmedUp()
    fit(model, torch.randn(60, 2), steps=6, batch_size=10, callbacks=[KLWarmup(4)], progress=False)
    assert model.weights == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert model.kl_scale == 1.0
    with pytest.raises(AttributeError, match="kl_scale"):
        fit(DiagonalGaussian(2), torch.randn(10, 2), epochs=1, callbacks=[KLWarmup(4)], progress=False)


class Weights(Callback):
    def __init__(self):
        self.after_step = []

    def on_step_end(self, model, state, logs):
        self.after_step.append(torch.cat([model.mean.detach(), model.log_std.detach()]).clone())


def test_ema_equals_the_hand_computed_average_and_is_what_validation_sees():
    decay = 0.8
    model = DiagonalGaussian(1)  # two parameters: mean and log_std
    start = torch.cat([model.mean.detach(), model.log_std.detach()]).clone()
    live, validated = Weights(), []

    def score(m, val):
        validated.append(torch.cat([m.mean.detach(), m.log_std.detach()]).clone())
        return -float(len(validated))  # always improving: the last validation is the best

    data = torch.randn(50, 1) * 2 + 3
    fit(model, data, data[:10], steps=7, batch_size=10, lr=0.1, eval_every=3, score=score,
        callbacks=[live, EMA(decay)], progress=False)
    average, expected = start, {}
    for step, w in enumerate(live.after_step, start=1):
        average = decay * average + (1 - decay) * w
        expected[step] = average
    assert not torch.allclose(expected[7], live.after_step[-1], atol=1e-3)  # the average is not the last weights
    final = torch.cat([model.mean.detach(), model.log_std.detach()])
    assert torch.allclose(final, expected[7], atol=1e-6)
    assert all(torch.allclose(v, expected[s], atol=1e-6) for v, s in zip(validated, (3, 6, 7), strict=True))


def test_ema_without_validation_leaves_the_average_in_the_model():
    model, live = DiagonalGaussian(1), Weights()
    start = torch.cat([model.mean.detach(), model.log_std.detach()]).clone()
    fit(model, torch.randn(20, 1) + 5, steps=2, batch_size=10, lr=0.1, callbacks=[live, EMA(0.5)],
        progress=False)
    expected = 0.25 * start + 0.25 * live.after_step[0] + 0.5 * live.after_step[1]
    assert torch.allclose(torch.cat([model.mean.detach(), model.log_std.detach()]), expected, atol=1e-6)


def test_snapshots_are_taken_at_the_start_and_every_n_steps():
    model = DiagonalGaussian(2)
    initial = model.mean.detach().clone()
    snaps = Snapshots(every=3)
    fit(model, torch.randn(100, 2) + 3, steps=10, batch_size=10, lr=0.1, callbacks=[snaps], progress=False)
    assert snaps.steps == [0, 3, 6, 9] and len(snaps.values) == 4
    assert torch.equal(snaps.values[0]["mean"], initial)  # a copy, not a view of the live weights
    assert not torch.equal(snaps.values[-1]["mean"], snaps.values[-2]["mean"])
    modes = Snapshots(every=5, fn=lambda m: (m.training, m.mean.detach().clone()))
    fit(model, torch.randn(100, 2), steps=10, batch_size=10, callbacks=[modes], progress=False)
    assert modes.steps == [0, 5, 10] and not any(training for training, _ in modes.values)


def test_a_non_finite_number_from_a_custom_train_step_stops_training():
    class Diverging(TwoPlayers):
        def train_step(self, batch, optimizers, clip_grad=None):
            return {"loss": math.inf}

    model = Diverging()
    with pytest.raises(FloatingPointError, match=r"loss = inf at step 1 \(epoch 1\).*lr=0.1"):
        fit(model, torch.randn(10, 1), epochs=1, optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
            progress=False)


def test_logged_extras_of_a_loss_dict_are_detached_without_a_warning():
    import warnings

    from course_lib.models.base import scalar_loss

    w = torch.ones(1, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch warns when a tensor that requires grad is turned into a float
        loss, logs = scalar_loss({"loss": (w * 2).sum(), "term": (w * 3).sum()})
    assert logs == {"loss": 2.0, "term": 3.0} and loss.requires_grad


def test_show_progress_switches_the_default_bar_and_an_explicit_choice_wins(capsys):
    from course_lib.train import show_progress

    def bar_drawn(**kwargs) -> bool:
        fit(DiagonalGaussian(2), torch.randn(40, 2), steps=3, batch_size=10, **kwargs)
        return "/3 [" in capsys.readouterr().err  # tqdm writes its text bar to stderr outside Jupyter

    assert bar_drawn()
    with show_progress(False):
        assert not bar_drawn()
        assert bar_drawn(progress=True)
    assert not bar_drawn(progress=False)
