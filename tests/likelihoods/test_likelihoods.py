"""Likelihoods against their textbook formulas (float64), supports, and the "obs" site."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from pyro import poutine

from pyroclust.exceptions import DataError
from pyroclust.infer.elbo import local_params
from pyroclust.likelihoods import Bernoulli, Gaussian


def _data(shape=(4, 6), seed: int = 0) -> torch.Tensor:
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_bernoulli_is_the_cross_entropy_of_grey_levels() -> None:
    x, h = _data(), 3 * torch.randn(4, 6, dtype=torch.float64)
    expected = (x * torch.log(torch.sigmoid(h)) + (1 - x) * torch.log1p(-torch.sigmoid(h))).sum(-1)
    got = Bernoulli().log_prob(h, x)
    assert got.shape == (4,)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(
        got, -F.binary_cross_entropy_with_logits(h, x, reduction="none").sum(-1)
    )


def test_bernoulli_is_stable_at_large_logits() -> None:
    h = torch.tensor([[80.0, -80.0]], dtype=torch.float64)
    lp = Bernoulli().log_prob(h, torch.tensor([[0.0, 1.0]], dtype=torch.float64))
    assert torch.isfinite(lp).all()
    assert float(lp) == pytest.approx(-160.0, rel=1e-12)


def test_bernoulli_mean_and_support() -> None:
    h = torch.randn(3, 5)
    torch.testing.assert_close(Bernoulli().mean(h), torch.sigmoid(h))
    assert Bernoulli.support == "unit" and Gaussian.support == "real"


@pytest.mark.parametrize(
    "value, message",
    [(1.5, r"needs data in \[0, 1\], got values in \[0, 1.5\]"), (-0.1, r"\[-0.1, 1\]")],
)
def test_bernoulli_rejects_data_outside_unit_interval(value: float, message: str) -> None:
    x = torch.tensor([[0.0, 1.0], [0.5, value]])
    with pytest.raises(DataError, match=message):
        Bernoulli().validate(x)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_validate_rejects_non_finite(bad: float) -> None:
    x = torch.tensor([[0.0, bad]])
    for likelihood in (Bernoulli(), Gaussian()):
        with pytest.raises(DataError, match="NaN or infinite"):
            likelihood.validate(x)


def test_gaussian_is_the_normal_density() -> None:
    x, h = torch.randn(4, 6, dtype=torch.float64), torch.randn(4, 6, dtype=torch.float64)
    lik = Gaussian(scale=0.7).double()
    s = float(lik.scale)  # 0.7 as stored (a float32 buffer made float64)
    assert s == pytest.approx(0.7, rel=1e-7)
    expected = (-0.5 * ((x - h) / s) ** 2 - math.log(s) - 0.5 * math.log(2 * math.pi)).sum(-1)
    torch.testing.assert_close(lik.log_prob(h, x), expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(lik.mean(h), h)
    Gaussian().validate(x * 1000)  # any finite real data


def test_gaussian_learned_scale_per_feature() -> None:
    lik = Gaussian(scale=0.5, learn_scale=True, n_features=6).double()
    with torch.no_grad():
        lik.scale = torch.linspace(0.2, 2.0, 6, dtype=torch.float64)
    s = lik.scale
    x, h = torch.randn(3, 6, dtype=torch.float64), torch.randn(3, 6, dtype=torch.float64)
    expected = (-0.5 * ((x - h) / s) ** 2 - torch.log(s) - 0.5 * math.log(2 * math.pi)).sum(-1)
    torch.testing.assert_close(lik.log_prob(h, x), expected.detach(), rtol=1e-12, atol=1e-12)
    assert len(list(lik.parameters())) == 1  # trained by SVI


@pytest.mark.parametrize(
    "kwargs, message",
    [({"scale": 0.0}, "scale must be positive"), ({"learn_scale": True}, "needs n_features")],
)
def test_gaussian_rejects_bad_settings(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Gaussian(**kwargs)


def test_emits_the_observed_obs_site() -> None:
    x = _data().float()
    with local_params():
        trace = poutine.trace(Bernoulli()).get_trace(torch.zeros(4, 6), obs=x)
    site = trace.nodes["obs"]
    assert site["is_observed"] and torch.equal(site["value"], x)
    assert site["fn"].event_dim == 1
