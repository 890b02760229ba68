"""Free bits: the negative ELBO with each code's batch-mean KL floored, checked against
Pyro's Trace_ELBO (no floor) and a plain-torch float64 formula (with one)."""

from __future__ import annotations

import math

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro import poutine
from pyro.infer import Trace_ELBO
from torch import nn

from pyroclust import zoo
from pyroclust.infer import SVITrainer
from pyroclust.infer.freebits import FreeBits

N_ROWS, WIDTH, LATENT = 40, 3, 2


class _Gaussian(nn.Module):
    """z ~ N(0, I), x ~ N(W z, I); the guide q(z | x) = N(A x, diag(s))."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(LATENT, WIDTH))
        self.a = nn.Parameter(torch.randn(WIDTH, LATENT))
        self.raw_s = nn.Parameter(torch.full((LATENT,), -1.0))

    def model(self, x: torch.Tensor, data_size: int | None = None) -> None:
        with pyro.plate("data", data_size or len(x), subsample=torch.arange(len(x))):
            z = pyro.sample("z", dist.Normal(x.new_zeros(len(x), LATENT), 1.0).to_event(1))
            pyro.sample("obs", dist.Normal(z @ self.w, 1.0).to_event(1), obs=x)

    def guide(self, x: torch.Tensor, data_size: int | None = None) -> None:
        scale = nn.functional.softplus(self.raw_s)
        with pyro.plate("data", data_size or len(x), subsample=torch.arange(len(x))):
            pyro.sample("z", dist.Normal(x @ self.a, scale).to_event(1))


def _reference(pair: _Gaussian, x: torch.Tensor, z: torch.Tensor, nats: float) -> float:
    """The floored loss in float64 from the guide's draw z: -(N / B) sum_n log p(x_n | z_n)
    + N max(nats, mean_n [log q(z_n | x_n) - log p(z_n)])."""
    x, z = x.double(), z.detach().double()
    w, a = pair.w.detach().double(), pair.a.detach().double()
    scale = nn.functional.softplus(pair.raw_s.detach().double())
    recon = torch.distributions.Normal(z @ w, 1.0).log_prob(x).sum(-1)
    log_q = torch.distributions.Normal(x @ a, scale).log_prob(z).sum(-1)
    log_p = torch.distributions.Normal(torch.zeros_like(z), 1.0).log_prob(z).sum(-1)
    kl = (log_q - log_p).mean()
    return float(-N_ROWS / len(x) * recon.sum() + N_ROWS * torch.clamp(kl, min=nats))


@pytest.mark.parametrize("nats", [0.5, 3.0, 50.0])
def test_floored_loss_matches_a_float64_formula(nats):
    torch.manual_seed(0)
    pair, x = _Gaussian(), torch.randn(8, WIDTH)
    pyro.set_rng_seed(1)
    value = FreeBits(nats)(pair.model, pair.guide, x, data_size=N_ROWS)
    pyro.set_rng_seed(1)
    z = poutine.trace(pair.guide).get_trace(x, data_size=N_ROWS).nodes["z"]["value"]
    assert math.isclose(
        float(value.detach()), _reference(pair, x, z, nats), rel_tol=1e-5, abs_tol=1e-3
    )


def test_no_floor_is_the_plain_elbo_of_a_ladder():
    model, guide = zoo.make("vlac", 6, layers=[1, 3], latent_dim=2, hidden=8)
    x = torch.rand(7, 6).round()
    pyro.set_rng_seed(3)
    value = FreeBits(0.0)(model, guide, x, data_size=30)
    pyro.set_rng_seed(3)
    expected = Trace_ELBO().differentiable_loss(model, guide, x, data_size=30)
    assert math.isclose(float(value.detach()), float(expected.detach()), rel_tol=1e-5)


def test_the_floor_adds_exactly_what_each_code_lacks():
    """Far above every code's KL, each floored site counts N * nats whatever its KL: the
    loss is the plain one less the codes' KL plus N * nats per code."""
    model, guide = zoo.make("vlac", 6, layers=[1, 3], latent_dim=2, hidden=8)
    x = torch.rand(7, 6).round()
    pyro.set_rng_seed(4)
    floored = FreeBits(1e4)(model, guide, x, data_size=30)
    pyro.set_rng_seed(4)
    trace = poutine.trace(guide).get_trace(x, data_size=30)
    replay = poutine.trace(poutine.replay(model, trace=trace)).get_trace(x, data_size=30)
    with torch.no_grad():
        trace.compute_log_prob()
        replay.compute_log_prob()
    codes = FreeBits(1e4).floored(model, trace)
    assert codes == ["z1", "z2"]  # the codes, not the cluster site y2
    kl = sum(
        float((trace.nodes[s]["log_prob_sum"] - replay.nodes[s]["log_prob_sum"]).detach())
        for s in codes
    )
    pyro.set_rng_seed(4)
    plain = float(Trace_ELBO().differentiable_loss(model, guide, x, data_size=30).detach())
    assert math.isclose(float(floored.detach()), plain - kl + 2 * 30 * 1e4, rel_tol=1e-6)


def test_below_the_floor_a_code_gets_no_gradient_from_its_kl():
    torch.manual_seed(0)
    pair, x = _Gaussian(), torch.randn(8, WIDTH)
    pyro.set_rng_seed(2)
    FreeBits(1e3)(pair.model, pair.guide, x, data_size=N_ROWS).backward()
    floored = pair.raw_s.grad.clone()
    pair.zero_grad()
    pyro.set_rng_seed(2)  # the reconstruction alone: the same draw, no KL term
    trace = poutine.trace(pair.guide).get_trace(x, data_size=N_ROWS)
    replay = poutine.trace(poutine.replay(pair.model, trace=trace)).get_trace(x, data_size=N_ROWS)
    replay.compute_log_prob()
    (-replay.nodes["obs"]["log_prob_sum"]).backward()
    assert torch.allclose(floored, pair.raw_s.grad)


def test_named_sites_and_bad_arguments():
    model, guide = zoo.make("vlac", 6, layers=[1, 3], latent_dim=2, hidden=8)
    trace = poutine.trace(guide).get_trace(torch.rand(4, 6).round())
    assert FreeBits(1.0, sites=["z2"]).floored(model, trace) == ["z2"]
    with pytest.raises(ValueError, match="draws no site"):
        FreeBits(1.0, sites=["z9"]).floored(model, trace)
    for nats in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="nats"):
            FreeBits(nats)
    with pytest.raises(ValueError, match="sequence of site names"):
        FreeBits(1.0, sites="z1")


def test_an_enumerated_site_is_refused():
    model, guide = zoo.make("vade", n_features=6, n_components=3, latent_dim=2, hidden=(8,))
    with pytest.raises(ValueError, match="enumerated"):
        FreeBits(1.0)(model, guide, torch.rand(4, 6), data_size=10)


def test_trains_a_ladder_as_the_trainer_loss():
    torch.manual_seed(0)
    model, guide = zoo.make("vlac", 6, layers=[1, 3], latent_dim=2, hidden=8)
    x = torch.rand(32, 6).round()
    trainer = SVITrainer(model, guide, loss=FreeBits(1.0), epochs=2, batch_size=16, progress=False)
    trainer.fit(x)
    assert len(trainer.history) == 2
    assert all(math.isfinite(row["elbo"]) for row in trainer.history)
