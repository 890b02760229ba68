"""DiagNormal against Normal(...).to_event(1) and a float64 formula: values, gradients, shapes,
enumeration under TraceEnum_ELBO, and posteriors at 1,024 components and 64 dimensions."""

from __future__ import annotations

import math

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer import TraceEnum_ELBO, config_enumerate

from pyroclust.components import DiagLocScale, DiagNormal, diag_normal
from tests.components import LOC_VALUE_SHAPES


@pytest.fixture(autouse=True)
def _matrix_products_at_every_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast path also at the small sizes of these tests (it starts at 65,536 elements)."""
    monkeypatch.setattr(diag_normal, "MIN_ELEMENTS", 0)


def _formula(loc: torch.Tensor, scale: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """log N(value; loc, diag scale^2) in float64, elementwise then summed over d."""
    loc, scale, value = loc.double(), scale.double(), value.double()
    z = (value - loc) / scale
    return (-0.5 * z**2 - scale.log() - 0.5 * math.log(2 * math.pi)).sum(-1)


def _params(k: int, d: int, seed: int = 0, spread: float = 1.0):
    g = torch.Generator().manual_seed(seed)
    loc = torch.randn(k, d, generator=g) * spread
    scale = torch.rand(k, d, generator=g) + 0.1
    return loc, scale


@pytest.mark.parametrize(("loc_shape", "value_shape"), LOC_VALUE_SHAPES)
def test_log_prob_is_the_formula(loc_shape, value_shape) -> None:
    g = torch.Generator().manual_seed(1)
    loc = torch.randn(loc_shape, generator=g)
    scale = torch.rand(loc_shape, generator=g) + 0.1
    value = torch.randn(value_shape, generator=g)
    got = DiagNormal(loc, scale).log_prob(value)
    want = dist.Normal(loc, scale).to_event(1).log_prob(value)
    assert got.shape == want.shape
    torch.testing.assert_close(got.double(), _formula(loc, scale, value), rtol=1e-6, atol=1e-4)


def test_expanded_as_a_plate_does_gives_the_plate_shape() -> None:
    loc, scale = _params(6, 4)
    d = DiagNormal(loc.unsqueeze(1), scale.unsqueeze(1)).expand((6, 9))
    value = torch.randn(9, 4)
    got = d.log_prob(value)
    assert got.shape == (6, 9)
    assert d._components_against_codes(value) is not None  # the fast path, not the formula
    torch.testing.assert_close(got.double(), _formula(loc.unsqueeze(1), scale.unsqueeze(1), value))


def test_gradients_match_the_direct_formula() -> None:
    loc, scale = _params(8, 3, seed=2, spread=3.0)
    loc.requires_grad_(True)
    scale.requires_grad_(True)
    value = (torch.randn(10, 3) * 3).requires_grad_(True)
    weights = torch.randn(8, 10)
    fast = (DiagNormal(loc.unsqueeze(1), scale.unsqueeze(1)).log_prob(value) * weights).sum()
    grads = torch.autograd.grad(fast, (loc, scale, value))
    slow = dist.Normal(loc.unsqueeze(1), scale.unsqueeze(1)).to_event(1).log_prob(value) * weights
    want = torch.autograd.grad(slow.sum(), (loc, scale, value))
    for g, w in zip(grads, want, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-3)


def test_codes_at_far_means_keep_float32_precision() -> None:
    """The expanded quadratic form cancels large terms: float64 inside keeps it exact."""
    loc = torch.full((4, 16), 100.0) + torch.arange(4.0)[:, None] * 1e-2
    scale = torch.full((4, 16), 0.01)
    value = loc[:1] + 1e-3
    got = DiagNormal(loc.unsqueeze(1), scale.unsqueeze(1)).log_prob(value)
    # the terms are ~1e8 nats: expanded in float32 they would be off by hundreds of nats
    want = _formula(loc.unsqueeze(1), scale.unsqueeze(1), value)
    torch.testing.assert_close(got.double(), want, rtol=1e-6, atol=1e-5)


def test_sampling_and_moments_are_normal_ones() -> None:
    loc, scale = _params(5, 3)
    d = DiagNormal(loc, scale)
    assert d.batch_shape == (5,) and d.event_shape == (3,)
    torch.manual_seed(0)
    a = d.rsample((2,))
    torch.manual_seed(0)
    b = dist.Normal(loc, scale).to_event(1).rsample((2,))
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(d.variance, scale**2)
    torch.testing.assert_close(d.entropy(), dist.Normal(loc, scale).to_event(1).entropy())


def test_elbo_under_enumeration_equals_normal_to_event() -> None:
    """TraceEnum_ELBO of a little mixture: the same loss and gradients with either density."""
    k, d, n = 6, 3, 9
    loc, scale = _params(k, d, seed=3)
    loc.requires_grad_(True)
    scale.requires_grad_(True)
    x = torch.randn(n, d)

    def make(density):
        def model():
            logits = torch.zeros(k)
            with pyro.plate("data", n):
                y = pyro.sample("y", dist.Categorical(logits=logits))
                pyro.sample("z", density(loc[y], scale[y]), obs=x)

        return config_enumerate(model)

    def guide():
        pass

    elbo = TraceEnum_ELBO(max_plate_nesting=1)
    fast = elbo.differentiable_loss(make(DiagNormal), guide)
    slow = elbo.differentiable_loss(make(lambda m, s: dist.Normal(m, s).to_event(1)), guide)
    torch.testing.assert_close(fast, slow, rtol=1e-6, atol=1e-5)
    grads = torch.autograd.grad(fast, (loc, scale))
    want = torch.autograd.grad(slow, (loc, scale))
    for g, w in zip(grads, want, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-4)


def test_small_shapes_take_the_direct_formula(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(diag_normal, "MIN_ELEMENTS", 65_536)
    loc, scale = _params(10, 10)
    d = DiagNormal(loc.unsqueeze(1), scale.unsqueeze(1))
    assert d._components_against_codes(torch.randn(256, 10)) is None
    assert d._components_against_codes(torch.randn(1024, 10)) is not None


def test_posterior_at_1024_components_and_64_dimensions_is_finite_and_exact() -> None:
    k, d, n = 1024, 64, 32
    loc, scale = _params(k, d, seed=4, spread=5.0)
    value = loc[:n] + 0.01 * torch.randn(n, d)
    log_p = DiagNormal(loc.unsqueeze(1), scale.unsqueeze(1)).log_prob(value)  # (K, n)
    post = log_p.double() - torch.logsumexp(log_p.double(), 0)
    want = _formula(loc.unsqueeze(1), scale.unsqueeze(1), value)
    want = want - torch.logsumexp(want, 0)
    assert torch.isfinite(post).all()
    torch.testing.assert_close(post.exp(), want.exp(), atol=1e-6, rtol=1e-4)
    assert (post.argmax(0) == torch.arange(n)).all()


class _Tempered(DiagLocScale):
    """A user's density on the shared quadratic form: N(loc, diag(scale^2)) to the power 1/2,
    unnormalised (the extension point: only ``_density`` and a sampler are its own)."""

    def _density(self, quad: torch.Tensor, log_sigma: torch.Tensor, d: int) -> torch.Tensor:
        return 0.5 * (-0.5 * quad - log_sigma - d * 0.5 * math.log(2 * math.pi))


def test_a_subclass_gets_the_fast_path_and_expand_from_the_base() -> None:
    loc, scale = _params(6, 4, seed=3)
    d = _Tempered(loc.unsqueeze(1), scale.unsqueeze(1)).expand((6, 9))
    value = torch.randn(9, 4)
    assert isinstance(d, _Tempered) and d.batch_shape == (6, 9)
    assert d._components_against_codes(value) is not None
    want = 0.5 * _formula(loc.unsqueeze(1), scale.unsqueeze(1), value)
    torch.testing.assert_close(d.log_prob(value).double(), want)
    with pytest.raises(NotImplementedError):
        DiagLocScale(loc, scale).log_prob(value[:1])
