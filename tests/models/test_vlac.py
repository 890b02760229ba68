"""VLAC (Willetts, Roberts & Holmes, 2019): the shared checks, eq. 9 against plain float64
formulas (enumerated and relaxed), the VLAE special case, exact q(y_l | x) and a fit."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from pyro.infer import Trace_ELBO, TraceEnum_ELBO

from pyroclust import priors
from pyroclust.estimator import Clusterer
from pyroclust.guides import VLACGuide
from pyroclust.infer.elbo import make_elbo
from pyroclust.infer.init import RandomInit
from pyroclust.models import VLAC
from pyroclust.predictive import cluster_log_proba
from pyroclust.testing import ModelGuideChecks
from tests.conftest import blobs
from tests.contract.test_shapes import _double
from tests.reference import bernoulli_log_prob as _bernoulli
from tests.reference import concrete_log_prob as _concrete
from tests.reference import normal_log_prob as _normal
from tests.reference import same_noise_loss as _same_noise_loss

N_FEATURES = 12


def _x(n: int = 24, seed: int = 0) -> torch.Tensor:
    return torch.as_tensor(blobs(n, N_FEATURES, seed=seed))


def _pair(ks, cluster: str, **options):
    model = VLAC(N_FEATURES, ks, latent_dim=2, hidden=8, cluster=cluster, **options)
    return model, VLACGuide.for_model(model)


class TestRelaxedOneMixture(ModelGuideChecks):
    """K = [3, 1], y1 relaxed."""

    def make(self):  # noqa: D102
        return (*_pair([3, 1], "relaxed"), _x())


class TestRelaxedTwoMixtures(ModelGuideChecks):
    """K = [3, 2], both relaxed, a Dirichlet prior at layer 2."""

    def make(self):  # noqa: D102
        return (*_pair([3, 2], "relaxed", weights=[None, priors.Dirichlet(1.5)]), _x())


class TestEnumeratedOneMixture(ModelGuideChecks):
    """K = [3, 1], y1 enumerated in the guide."""

    def make(self):  # noqa: D102
        return (*_pair([3, 1], "enumerate"), _x())


class TestEnumeratedTwoMixtures(ModelGuideChecks):
    """K = [3, 2], both enumerated, with a learned prior at every layer."""

    def make(self):  # noqa: D102
        return (*_pair([3, 2], "enumerate", weights=priors.Learned()), _x())


# ----------------------------------------------------------------------------- by hand
def _lin(module, v: torch.Tensor) -> torch.Tensor:
    return v @ module.weight.T + module.bias


def _rung(block, v: torch.Tensor) -> torch.Tensor:
    """One rung of depth 1: ReLU(W v + b)."""
    return torch.relu(_lin(block[0], v))


def _decoder_logits(model: VLAC, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """f_0(f_1(z_1, f_2(z_2))) for L = 2."""
    top = _rung(model.rungs[1], z2)
    return _lin(model.decoder, _rung(model.rungs[0], torch.cat([z1, top], -1)))


def _guide_heads(guide: VLACGuide, layer: int, hy: torch.Tensor):
    loc = _lin(guide.loc_heads[layer - 1], hy)
    return loc, F.softplus(_lin(guide.scale_heads[layer - 1], hy)) + guide.min_scale


def _mixture(model: VLAC):
    return model.loc1, F.softplus(model.raw_scale1) + 1e-3


def test_enumerated_elbo_matches_float64_formula() -> None:
    """L = 2, K = [3, 1]: eq. 9 with y_1 summed out exactly."""
    model, guide = _double(*_pair([3, 1], "enumerate", weights=priors.Learned()))
    with torch.no_grad():
        model.weights1.logits.copy_(torch.tensor([0.3, -0.5, 0.1], dtype=torch.float64))
    x = _x(8).double()
    xb, n = x[:5], len(x)
    elbo = make_elbo(model, xb, guide=guide, data_size=n)
    assert isinstance(elbo, TraceEnum_ELBO)
    trace, loss = _same_noise_loss(elbo, model, guide, xb, n)
    loss = float(loss.detach())
    assert trace.nodes["y1"]["value"].shape == (3, 1)
    z1, z2 = trace.nodes["z1"]["value"], trace.nodes["z2"]["value"]  # (3, B, d) each
    with torch.no_grad():
        log_pi = model.weights1.logits.log_softmax(-1)
        h1 = _rung(guide.rungs[0], xb)
        log_q_y = _lin(guide.classifiers["y1"], h1).log_softmax(-1)
        mu, sigma = _mixture(model)
        total = torch.zeros(len(xb), dtype=torch.float64)
        for a in range(3):
            onehot = F.one_hot(torch.tensor(a), 3).double().expand(len(xb), 3)
            hy = torch.cat([h1, onehot], -1)
            q1_loc, q1_scale = _guide_heads(guide, 1, hy)
            q2_loc, q2_scale = _guide_heads(guide, 2, _rung(guide.rungs[1], hy))
            inner = (
                log_pi[a]
                + _normal(z1[a], mu[a], sigma[a])
                + _normal(z2[a], torch.zeros(()), 1.0)
                + _bernoulli(_decoder_logits(model, z1[a], z2[a]), xb)
                - _normal(z1[a], q1_loc, q1_scale)
                - _normal(z2[a], q2_loc, q2_scale)
                - log_q_y[:, a]
            )
            total = total + log_q_y[:, a].exp() * inner
        expected = total.sum() * n / len(xb)
    assert loss == pytest.approx(-float(expected), rel=1e-10, abs=1e-9)


def test_relaxed_elbo_matches_float64_formula() -> None:
    """L = 2, K = [3, 1]: eq. 9 with a relaxed y_1 at temperature 0.7 (Concrete densities)."""
    model, guide = _double(*_pair([3, 1], "relaxed", weights=priors.Learned()))
    with torch.no_grad():
        model.weights1.logits.copy_(torch.tensor([0.3, -0.5, 0.1], dtype=torch.float64))
    model.set_temperature(0.7)
    guide.set_temperature(0.7)
    x = _x(8).double()
    xb, n = x[:5], len(x)
    elbo = make_elbo(model, xb, guide=guide, data_size=n)
    assert isinstance(elbo, Trace_ELBO) and not isinstance(elbo, TraceEnum_ELBO)
    trace, loss = _same_noise_loss(elbo, model, guide, xb, n)
    loss = float(loss.detach())
    y, z1, z2 = (trace.nodes[s]["value"] for s in ("y1", "z1", "z2"))
    with torch.no_grad():
        h1 = _rung(guide.rungs[0], xb)
        q_logits = _lin(guide.classifiers["y1"], h1)
        hy = torch.cat([h1, y], -1)
        q1_loc, q1_scale = _guide_heads(guide, 1, hy)
        q2_loc, q2_scale = _guide_heads(guide, 2, _rung(guide.rungs[1], hy))
        mu, sigma = _mixture(model)
        rows = (
            _concrete(y.log(), model.weights1.logits, 0.7)
            + _normal(z1, y @ mu, y @ sigma)
            + _normal(z2, torch.zeros(()), 1.0)
            + _bernoulli(_decoder_logits(model, z1, z2), xb)
            - _normal(z1, q1_loc, q1_scale)
            - _normal(z2, q2_loc, q2_scale)
            - _concrete(y.log(), q_logits, 0.7)
        )
        expected = rows.sum() * n / len(xb)
    assert loss == pytest.approx(-float(expected), rel=1e-9, abs=1e-8)


@pytest.mark.parametrize("cluster", ["relaxed", "enumerate"])
def test_all_plain_layers_is_a_vlae(cluster: str) -> None:
    """K = [1, 1]: no cluster site, and the ELBO is a VLAE's (Zhao et al., 2017), by hand."""
    model, guide = _double(*_pair([1, 1], cluster))
    assert model.cluster_sites == () and model.latent_sites == ("z1", "z2")
    x = _x(8).double()
    xb, n = x[:5], len(x)
    elbo = make_elbo(model, xb, guide=guide, data_size=n)
    assert not isinstance(elbo, TraceEnum_ELBO)
    trace, loss = _same_noise_loss(elbo, model, guide, xb, n)
    loss = float(loss.detach())
    z1, z2 = trace.nodes["z1"]["value"], trace.nodes["z2"]["value"]
    with torch.no_grad():
        h1 = _rung(guide.rungs[0], xb)
        h2 = _rung(guide.rungs[1], h1)
        q1_loc, q1_scale = _guide_heads(guide, 1, h1)
        q2_loc, q2_scale = _guide_heads(guide, 2, h2)
        rows = (
            _normal(z1, torch.zeros(()), 1.0)
            + _normal(z2, torch.zeros(()), 1.0)
            + _bernoulli(_decoder_logits(model, z1, z2), xb)
            - _normal(z1, q1_loc, q1_scale)
            - _normal(z2, q2_loc, q2_scale)
        )
        expected = rows.sum() * n / len(xb)
    assert loss == pytest.approx(-float(expected), rel=1e-10, abs=1e-9)


def test_enumerated_predict_proba_equals_brute_force() -> None:
    """K = [3, 2]: q(y_l | x) at each site equals the joint q(y_1, y_2 | x) over all 6
    values, built by hand, summed over the other site."""
    x = _x(10).double()
    model, guide = _double(*_pair([3, 2], "enumerate"))
    with torch.no_grad():
        h1 = _rung(guide.rungs[0], x)
        q1 = _lin(guide.classifiers["y1"], h1).softmax(-1)
        h2 = _rung(guide.rungs[1], torch.cat([h1, q1], -1))  # the deterministic ladder
        q2 = _lin(guide.classifiers["y2"], h2).softmax(-1)
        joint = torch.zeros(len(x), 3, 2, dtype=torch.float64)
        for a in range(3):
            for b in range(2):
                joint[:, a, b] = q1[:, a] * q2[:, b]
    got1 = cluster_log_proba(model, guide, x, site="y1").exp()
    got2 = cluster_log_proba(model, guide, x, site="y2").exp()
    assert torch.allclose(got1, joint.sum(2), atol=1e-12)
    assert torch.allclose(got2, joint.sum(1), atol=1e-12)


@pytest.mark.parametrize("cluster", ["relaxed", "enumerate"])
def test_estimator_predicts_every_site(cluster: str) -> None:
    x = _x(30)
    model, guide = _pair([3, 1, 2], cluster)
    est = Clusterer(
        model, guide, epochs=2, batch_size=10, init=RandomInit(), random_state=0, progress=False
    ).fit(x)
    assert [s.name for s in est.cluster_sites_] == ["y1", "y3"]
    assert np.array_equal(est.labels_, est.predict(x, site="y1"))
    assert est.predict(x, site="y3").shape == (30,)
    assert est.predict_proba(x, site="y3").shape == (30, 2)
    assert set(est.codes(x)) == {"z1", "z2", "z3"} and est.transform(x).shape == (30, 6)


def test_one_prior_is_copied_to_every_mixture_layer() -> None:
    model = VLAC(N_FEATURES, [2, 1, 4], weights=priors.Dirichlet(2.0), hidden=4)
    assert model.weights1 is not model.weights3
    assert (model.weights1.cluster, model.weights3.cluster) == ("y1", "y3")
    assert (model.weights1.n_components, model.weights3.n_components) == (2, 4)


def test_invalid_options_are_refused() -> None:
    with pytest.raises(ValueError, match="one number of components per layer"):
        VLAC(N_FEATURES, 3)
    with pytest.raises(ValueError, match="latent_dim"):
        VLAC(N_FEATURES, [2, 2], latent_dim=[2, 2, 2])
    with pytest.raises(ValueError, match="cluster must be one of"):
        VLAC(N_FEATURES, [2, 2], cluster="gumbel")
    with pytest.raises(ValueError, match="weights"):
        VLAC(N_FEATURES, [2, 2, 1], weights=[priors.Uniform()])


class TestConvolutional(ModelGuideChecks):
    """K = [1, 3], images: a convolutional g_1 and a deconvolutional f_0."""

    def make(self):  # noqa: D102
        model = VLAC(3 * 8 * 8, [1, 3], hidden=8, image_shape=(3, 8, 8), conv_channels=(4,))
        return model, VLACGuide.for_model(model), torch.rand(12, 3 * 8 * 8)


def test_image_shape_gives_conv_networks() -> None:
    from pyroclust.nn import ConvDecoder, ConvEncoder

    model = VLAC(2 * 6 * 6, [2, 2], hidden=5, image_shape=(2, 6, 6), cluster="enumerate")
    guide = VLACGuide.for_model(model)
    assert isinstance(model.decoder, ConvDecoder) and isinstance(guide.rungs[0], ConvEncoder)
    x = torch.rand(4, 72).bernoulli()
    loss = make_elbo(model, x, guide=guide).differentiable_loss(model, guide, x)
    assert torch.isfinite(loss)
    with pytest.raises(ValueError, match="does not match n_features"):
        VLAC(10, [2], image_shape=(2, 6, 6))


# ----------------------------------------------------------------------------- generation
class _Recorder:
    """Stands in for ``VLAC.generate``: records the codes it is given, returns the real
    output."""

    def __init__(self, model: VLAC) -> None:
        self.model, self.calls = model, []
        self.real = model.generate

    def __call__(self, zs):
        self.calls.append([z.clone() for z in zs])
        return self.real(zs)


def _sharp(model: VLAC) -> VLAC:
    """Every component's scale at its floor, so component draws sit at their means."""
    with torch.no_grad():
        for layer in model.mixture_layers:
            getattr(model, f"raw_scale{layer}").fill_(-30.0)
    return model


def test_layer_index_reads_numbers_and_site_names() -> None:
    model = VLAC(N_FEATURES, [3, 1, 2], hidden=8)
    assert [model.layer_index(v) for v in (1, "y1", "z2", "y3", 3)] == [1, 1, 2, 3, 3]
    for bad in (0, 4, "y4", "obs"):
        with pytest.raises(ValueError, match="no ladder layer"):
            model.layer_index(bad)


def test_prior_codes_follow_each_prior() -> None:
    model = VLAC(N_FEATURES, [3, 1], latent_dim=2, hidden=8)
    g = torch.Generator().manual_seed(0)
    plain = model.prior_codes("z2", 20_000, generator=g)
    torch.testing.assert_close(plain.mean(0), torch.zeros(2), atol=0.03, rtol=0)
    torch.testing.assert_close(plain.std(0), torch.ones(2), atol=0.03, rtol=0)
    loc, scale = model.component_params(1, torch.tensor([2]))
    drawn = model.prior_codes(1, 20_000, component=2, generator=g)
    torch.testing.assert_close(drawn.mean(0), loc[0], atol=0.03, rtol=0)
    torch.testing.assert_close(drawn.std(0), scale[0], atol=0.03, rtol=0)
    # the marginal: components drawn with the prior's weights (uniform here)
    sharp = _sharp(model).prior_codes(1, 6_000, generator=g)
    nearest = torch.cdist(sharp, model.loc1.detach()).argmin(1)
    torch.testing.assert_close(
        torch.bincount(nearest, minlength=3) / 6_000.0, torch.full((3,), 1 / 3), atol=0.03, rtol=0
    )
    with pytest.raises(ValueError, match="component must lie in 0..2"):
        model.prior_codes(1, 2, component=3)
    with pytest.raises(ValueError, match="plain Gaussian layer"):
        model.prior_codes(2, 2, component=1)


def test_component_grid_fixes_the_other_layers_per_row(monkeypatch) -> None:
    model = _sharp(VLAC(N_FEATURES, [1, 3, 2], latent_dim=[2, 3, 2], hidden=8))
    recorder = _Recorder(model)
    monkeypatch.setattr(model, "generate", recorder)
    grid = model.component_grid("y2", 4, generator=torch.Generator().manual_seed(0))
    assert grid.shape == (4, 3, N_FEATURES)
    (zs,) = recorder.calls
    assert [tuple(z.shape) for z in zs] == [(4, 1, 2), (4, 3, 3), (4, 1, 2)]  # shared per row
    torch.testing.assert_close(zs[1], model.loc2.detach().expand(4, 3, 3), atol=1e-2, rtol=0)
    assert not torch.equal(zs[0][0], zs[0][1])  # the rows differ
    # each cell is the decoder's mean at that cell's codes
    cell = [zs[0][2, 0], zs[1][2, 1], zs[2][2, 0]]
    expected = model.likelihood.mean(model.decoder_params([c[None] for c in cell]))[0]
    torch.testing.assert_close(grid[2, 1], expected.detach())
    with pytest.raises(ValueError, match="no mixture"):
        model.component_grid(1)


def test_layer_traversals_change_one_layer_at_a_time(monkeypatch) -> None:
    model = VLAC(N_FEATURES, [3, 1], latent_dim=2, hidden=8)
    recorder = _Recorder(model)
    monkeypatch.setattr(model, "generate", recorder)
    codes = [torch.tensor([0.5, -0.5]), torch.tensor([1.0, 2.0])]
    out = model.layer_traversals(codes, 5, generator=torch.Generator().manual_seed(0))
    assert list(out) == ["z1", "z2"] and all(v.shape == (5, N_FEATURES) for v in out.values())
    for layer, zs in enumerate(recorder.calls):
        for other, z in enumerate(zs):
            if other == layer:
                assert z.shape == (5, 2) and not torch.equal(z[0], z[1])
            else:
                torch.testing.assert_close(z, codes[other].expand(5, 2))
    with pytest.raises(ValueError, match="one code per layer"):
        model.layer_traversals(codes[:1])
    with pytest.raises(ValueError, match="must have 2 entries"):
        model.layer_traversals([torch.zeros(3), torch.zeros(2)])


@pytest.mark.parametrize("cluster", ["relaxed", "enumerate"])
def test_a_plain_ladder_feeds_no_cluster_draw_to_a_rung_or_head(cluster: str) -> None:
    """Inside plain_ladder() every rung and head sees y_l as 1/K_l: the codes' q(z_l | x)
    are the same whatever y_l is drawn or q(y_l | x) says, and leaving restores them."""
    model, guide = _pair([3, 2, 1], cluster)
    x = _x(5)
    hs = guide.deterministic_ladder(x)[0]
    before = guide.code_params(1, hs[0], torch.tensor([0, 1, 2, 0, 1]))
    with guide.plain_ladder():
        with guide.plain_ladder():  # nested: still plain after the inner one
            pass
        for layer, k in ((1, 3), (2, 2)):
            h = hs[layer - 1]
            uniform = guide.code_params(layer, h, torch.full((5, k), 1.0 / k))
            for y in (torch.arange(5) % k, F.one_hot(torch.arange(5) % k, k).double()):
                torch.testing.assert_close(guide.code_params(layer, h, y), uniform)
        one, two = (
            guide.rung(2, hs[0], torch.zeros(5).long()),
            guide.rung(2, hs[0], 2 * torch.ones(5).long()),
        )
        torch.testing.assert_close(one, two)
        means = guide.code_means(x)
        with torch.no_grad():
            guide.classifiers["y1"].weight.add_(3.0)  # another q(y1 | x)
        torch.testing.assert_close(guide.code_means(x), means)
    after = guide.code_params(1, hs[0], torch.tensor([0, 1, 2, 0, 1]))
    torch.testing.assert_close(after, before)
    assert not torch.equal(after[0][0], after[0][1])  # y1 = 0 and 1 differ again


def test_in_a_plain_ladder_q_y_trains_its_classifiers_only() -> None:
    """Inside plain_ladder() the logits of q(y_l | x) read the ladder detached: a loss on
    them (a relaxed y_l's KL) moves the classifiers and no rung; outside, the rungs too."""
    model, guide = _pair([3, 2, 1], "relaxed")
    x = _x(5)
    for plain, rungs_move in ((True, False), (False, True)):
        guide.zero_grad()
        with guide.plain_ladder() if plain else contextlib.nullcontext():
            logits = guide.cluster_logits(x)
        sum(v.logsumexp(-1).sum() for v in logits.values()).backward()
        assert all(p.grad is not None for p in guide.classifiers.parameters())
        moved = [
            p.grad is not None and bool(p.grad.abs().sum() > 0) for p in guide.rungs.parameters()
        ]
        assert any(moved) is rungs_move


@pytest.mark.parametrize("cluster", ["relaxed", "enumerate"])
def test_plain_components_give_every_code_a_standard_normal_prior(cluster: str) -> None:
    """Inside plain_components() each mixture layer's p(z_l | y_l) is N(0, I) for every
    y_l (integer or vector), the tables get no gradient, and leaving restores them."""
    model, _ = _pair([3, 1, 2], cluster)
    labels = torch.tensor([0, 2, 1])
    soft = torch.softmax(torch.randn(4, 3), -1)
    before = model.component_params(1, labels)
    with model.plain_components():
        for y in (labels, soft):
            loc, scale = model.component_params(1, y)
            assert loc.shape == (len(y), 2) and scale.shape == (len(y), 2)
            assert torch.equal(loc, torch.zeros_like(loc))
            assert torch.equal(scale, torch.ones_like(scale))
            assert not loc.requires_grad and not scale.requires_grad
        with model.plain_components():  # nested: still plain after the inner one
            pass
        assert torch.equal(model.component_params(3, labels[:2] % 2)[1], torch.ones(2, 2))
    after = model.component_params(1, labels)
    torch.testing.assert_close(after, before)
    assert not torch.equal(after[0], torch.zeros_like(after[0]))
