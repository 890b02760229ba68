"""VaDE: the shared model/guide checks, and its ELBO against a plain-torch float64 formula."""

from __future__ import annotations

import math

import pyro
import pytest
import torch
import torch.nn.functional as F
from pyro import poutine
from pyro.infer import SVI, TraceEnum_ELBO

from pyroclust import components, likelihoods, priors, zoo
from pyroclust.guides import VaDEGuide
from pyroclust.infer.elbo import local_params
from pyroclust.models import VaDE
from pyroclust.nn import MLP
from pyroclust.testing import ModelGuideChecks

LOG_2PI = math.log(2 * math.pi)


def _x(n: int = 20, d: int = 12, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, d, generator=torch.Generator().manual_seed(seed))


class TestVaDE(ModelGuideChecks):
    """The zoo's VaDE (Bernoulli likelihood, learned weights)."""

    def make(self):  # noqa: D102
        model, guide = zoo.make("vade", n_features=12, n_components=3, latent_dim=2, hidden=(8,))
        return model, guide, _x()


class TestVaDEGaussian(ModelGuideChecks):
    """VaDE with a Gaussian likelihood (learned per-feature noise) on real-valued data."""

    def make(self):  # noqa: D102
        model, guide = zoo.make(
            "vade", n_features=12, n_components=3, latent_dim=2, hidden=(8,), likelihood="gaussian"
        )
        return model, guide, torch.randn(20, 12, generator=torch.Generator().manual_seed(1))


class TestVaDEStudentTUniform(ModelGuideChecks):
    """VaDE composed by hand: Student-t components and fixed uniform weights."""

    def make(self):  # noqa: D102
        model = VaDE(
            3,
            2,
            decoder=MLP([2, 8, 12]),
            likelihood=likelihoods.Bernoulli(),
            weights=priors.Uniform(),
            components=components.StudentT(3, 2, df=4.0),
        )
        guide = VaDEGuide(MLP([12, 8], output_activation=torch.nn.ReLU), 2)
        return model, guide, _x()


# ---------------------------------------------------------------------- the ELBO, by hand


def _double_model(
    likelihood: str, *, seed: int = 0, family: str = "gaussian"
) -> tuple[VaDE, VaDEGuide]:
    """A tiny VaDE in float64 with non-trivial weights, components and noise scales."""
    pyro.set_rng_seed(seed)
    model, guide = zoo.make(
        "vade",
        n_features=6,
        n_components=4,
        latent_dim=3,
        hidden=(7,),
        likelihood=likelihood,
        components=family,
    )
    model.double()
    guide.double()
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        model.weights.logits.copy_(torch.randn(4, generator=g, dtype=torch.float64))
    model.components.set_from_moments(
        torch.randn(4, 3, generator=g, dtype=torch.float64),
        torch.rand(4, 3, generator=g, dtype=torch.float64) + 0.3,
    )
    if likelihood == "gaussian":
        model.likelihood.scale = torch.rand(6, generator=g, dtype=torch.float64) + 0.5
    return model, guide


def _reference_elbo(model: VaDE, guide: VaDEGuide, x: torch.Tensor, z: torch.Tensor, n: int):
    r"""n / B * sum_b [log p(x|z) + logsumexp_k(log pi_k + log p(z | k)) - log q(z|x)],
    written with plain torch (no Pyro distribution); p(z | k) = N(z; mu_k, s_k), or the
    multivariate t_nu(z; mu_k, diag s_k^2) for t components."""
    loc, scale = guide.encode(x)
    h = model.decoder(z)
    if isinstance(model.likelihood, likelihoods.Bernoulli):
        log_px = (x * F.logsigmoid(h) + (1 - x) * F.logsigmoid(-h)).sum(-1)
    else:
        s = model.likelihood.scale
        log_px = (-0.5 * ((x - h) / s) ** 2 - torch.log(s) - 0.5 * LOG_2PI).sum(-1)
    log_pi = torch.log_softmax(model.weights.logits, -1)  # (K,)
    mu, sd = model.components.loc, model.components.scale  # (K, d)
    if isinstance(model.components, components.MultivariateStudentT):
        nu, d = model.components.df.double(), mu.shape[-1]
        quad = (((z.unsqueeze(-2) - mu) / sd) ** 2).sum(-1)
        log_norm = (
            torch.lgamma((nu + d) / 2) - torch.lgamma(nu / 2) - d / 2 * torch.log(nu * math.pi)
        )
        log_pz_k = log_norm - torch.log(sd).sum(-1) - (nu + d) / 2 * torch.log1p(quad / nu)
    else:
        log_pz_k = (-0.5 * ((z.unsqueeze(-2) - mu) / sd) ** 2 - torch.log(sd) - 0.5 * LOG_2PI).sum(
            -1
        )
    log_pz = torch.logsumexp(log_pi + log_pz_k, -1)  # (B,)
    log_qz = (-0.5 * ((z - loc) / scale) ** 2 - torch.log(scale) - 0.5 * LOG_2PI).sum(-1)
    return n / len(x) * (log_px + log_pz - log_qz).sum()


def _data(likelihood: str, n: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(7)
    if likelihood == "bernoulli":
        return torch.rand(n, 6, generator=g, dtype=torch.float64)
    return torch.randn(n, 6, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
@pytest.mark.parametrize("data_size", [8, 50])  # the full batch, and a mini-batch of 8 of 50
@pytest.mark.parametrize("products", [False, True], ids=["direct", "matrix-products"])
@pytest.mark.parametrize("family", ["gaussian", "multivariate-t:3.5"])
def test_elbo_matches_plain_torch_formula(
    likelihood: str, data_size: int, products: bool, family: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TraceEnum_ELBO's loss and gradients equal the analytic ELBO at the same z (float64),
    with p(z | y) Gaussian or multivariate t, by the direct formula and by the matrix
    products (which a model of this size reaches only when their threshold is lowered)."""
    if products:
        monkeypatch.setattr(components.diag_normal, "MIN_ELEMENTS", 0)
    model, guide = _double_model(likelihood, family=family)
    x = _data(likelihood, 8)
    with local_params():
        # draw z once (reparameterised, so it stays a function of the guide's parameters)
        trace = poutine.trace(guide).get_trace(x, data_size=data_size)
        z = trace.nodes["z"]["value"]
        assert z.dtype == torch.float64 and z.requires_grad
        fixed_guide = poutine.replay(guide, trace=trace)
        elbo = TraceEnum_ELBO(max_plate_nesting=1)
        loss = elbo.differentiable_loss(model, fixed_guide, x, data_size=data_size)
        expected = -_reference_elbo(model, guide, x, z, data_size)
        assert loss.dtype == torch.float64
        torch.testing.assert_close(loss, expected, rtol=1e-10, atol=1e-10)

        params = [*model.parameters(), *guide.parameters()]
        got = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
        want = torch.autograd.grad(expected, params, allow_unused=True)
        for g_got, g_want in zip(got, want):
            assert (g_got is None) == (g_want is None)
            if g_got is not None:
                torch.testing.assert_close(g_got, g_want, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_plain_svi_loss_matches_formula(likelihood: str) -> None:
    """Plain ``SVI(model, guide, Adam, TraceEnum_ELBO)`` reports the same (mini-batch) ELBO."""
    model, guide = _double_model(likelihood, seed=3)
    x = _data(likelihood, 8)
    with local_params():
        trace = poutine.trace(guide).get_trace(x, data_size=40)
        z = trace.nodes["z"]["value"]
        svi = SVI(
            model,
            poutine.replay(guide, trace=trace),
            pyro.optim.Adam({"lr": 1e-3}),
            TraceEnum_ELBO(max_plate_nesting=1),
        )
        loss = svi.evaluate_loss(x, data_size=40)
        with torch.no_grad():
            expected = -float(_reference_elbo(model, guide, x, z, 40))
    assert math.isclose(loss, expected, rel_tol=1e-10, abs_tol=1e-10)


def test_plain_svi_decreases_loss(make_blobs) -> None:
    """VaDE trains with nothing from pyroclust but the model and guide."""
    x = torch.as_tensor(make_blobs(48, 12))
    model, guide = zoo.make("vade", n_features=12, n_components=3, latent_dim=2, hidden=(16,))
    with local_params():
        svi = SVI(model, guide, pyro.optim.Adam({"lr": 2e-2}), TraceEnum_ELBO(max_plate_nesting=1))
        losses = [svi.step(x) for _ in range(30)]
    assert all(math.isfinite(v) for v in losses)
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 1.0


# ---------------------------------------------------------------------- construction


def test_generates_items() -> None:
    model = VaDE(3, 2, decoder=MLP([2, 8, 12]), likelihood=likelihoods.Bernoulli())
    with local_params(), torch.no_grad():
        out = model(data_size=5)
    assert out.shape == (5, 12)
    assert ((out == 0) | (out == 1)).all()  # Bernoulli draws
    assert model.n_features == 12


def test_needs_data_or_size() -> None:
    model = VaDE(3, 2, decoder=MLP([2, 8, 12]), likelihood=likelihoods.Bernoulli())
    with local_params(), pytest.raises(ValueError, match="data_size"):
        model()


@pytest.mark.parametrize("k, d", [(0, 2), (-1, 2), (3, 0)])
def test_rejects_bad_sizes(k: int, d: int) -> None:
    with pytest.raises(ValueError, match="must be >= 1"):
        VaDE(k, d, decoder=MLP([2, 8, 12]), likelihood=likelihoods.Bernoulli())


def test_rejects_components_of_other_sizes() -> None:
    with pytest.raises(ValueError, match="components are for K=4"):
        VaDE(
            3,
            2,
            decoder=MLP([2, 8, 12]),
            likelihood=likelihoods.Bernoulli(),
            components=components.DiagonalGaussian(4, 2),
        )


def test_weight_prior_cannot_be_shared_across_sizes() -> None:
    prior = priors.Learned()
    VaDE(3, 2, decoder=MLP([2, 8, 12]), likelihood=likelihoods.Bernoulli(), weights=prior)
    with pytest.raises(ValueError, match="cannot be reused"):
        VaDE(4, 2, decoder=MLP([2, 8, 12]), likelihood=likelihoods.Bernoulli(), weights=prior)


def test_data_size_smaller_than_batch_is_refused(tiny_vade) -> None:
    model, guide = tiny_vade()
    with local_params(), pytest.raises(ValueError, match="smaller than the batch"):
        model(_x(10), data_size=5)


def test_assignment_logits_keep_a_zipf_tail_below_float32_epsilon() -> None:
    """At K = 10^4 with a Zipf(2) prior the smallest weights are far below float32's epsilon;
    the model scores y with logits, so their log weights are exact, not floored at -15.9."""
    from pyroclust.priors.zipf import zipf_log_weights

    k = 10_000
    model = VaDE(
        k, 2, decoder=MLP([2, 4]), likelihood=likelihoods.Bernoulli(), weights=priors.Zipf(2.0)
    )
    with local_params():
        trace = poutine.trace(model).get_trace(torch.rand(3, 4))
    logits = trace.nodes["assignment"]["fn"].logits
    expected = zipf_log_weights(torch.tensor(2.0), k)
    assert float(expected[-1]) < -17.0  # below log(float32 eps)
    assert torch.allclose(logits[0], expected, atol=1e-3)
