"""The three checks that judge more than a return value (former `properties=`): their `call` adapters compute
samples, masks and gradients from the student's code; `compare` judges those values."""

from __future__ import annotations

import torch

from course_lib.check import CORRECT, INCORRECT, ch01, ch03, ch04


def test_a_sampler_right_on_the_cases_but_biased_in_the_long_run_fails_the_goodness_of_fit(capfd):
    def biased(probs, u):
        print("the student prints inside the long run")
        cdf = torch.cumsum(probs, 0) / probs.sum()
        u = u if len(u) < 1000 else u.sqrt()  # the long run's uniforms are not uniform any more
        return torch.searchsorted(cdf, u, right=True).clamp(max=len(probs) - 1)

    result = ch01.sample_categorical.evaluate(biased)
    assert result.outcome == INCORRECT and "chi-square" in result.message
    assert capfd.readouterr() == ("", "")


def _made_masks(degrees_in, degrees_hidden, degrees_out):
    degrees = [degrees_in, *degrees_hidden]
    masks = [(d[:, None] >= p[None, :]).double() for p, d in zip(degrees[:-1], degrees[1:], strict=True)]
    return masks + [(degrees_out[:, None] > degrees[-1][None, :]).double()]


def test_masks_right_on_the_cases_but_leaking_on_the_fixed_made_are_caught():
    def leaky(degrees_in, degrees_hidden, degrees_out):
        masks = _made_masks(degrees_in, degrees_hidden, degrees_out)
        if len(degrees_hidden) == 2 and len(degrees_hidden[0]) == 12:  # the property test's instance
            masks[-1] = torch.ones_like(masks[-1])
        return masks

    assert ch03.made_masks.evaluate(_made_masks).outcome == CORRECT
    result = ch03.made_masks.evaluate(leaky)
    assert result.outcome == INCORRECT and "not autoregressive" in result.message


def test_a_reparameterisation_without_gradients_is_caught():
    def detached(mu, logvar, eps):
        return (mu + torch.exp(0.5 * logvar) * eps).detach()

    def sigma_from_numpy(mu, logvar, eps):  # right values, but the gradient of logvar is lost
        sigma = torch.as_tensor(torch.exp(0.5 * logvar).detach().numpy())
        return mu + sigma * eps

    assert ch04.reparameterize.evaluate(lambda mu, logvar, eps: mu + (0.5 * logvar).exp() * eps).passed
    assert "carry gradients" in ch04.reparameterize.evaluate(detached).message
    result = ch04.reparameterize.evaluate(sigma_from_numpy)
    assert result.outcome == INCORRECT and "gradients of z" in result.message
