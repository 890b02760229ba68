"""DiagStudentT against Pyro's MultivariateStudentT and scipy: values, gradients, shapes,
sampling, enumeration under TraceEnum_ELBO, and posteriors at 1,024 components and 64
dimensions."""

from __future__ import annotations

import math

import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer import TraceEnum_ELBO, config_enumerate
from scipy import stats

from pyroclust.components import DiagStudentT, diag_normal
from tests.components import LOC_VALUE_SHAPES


@pytest.fixture(autouse=True)
def _matrix_products_at_every_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast path also at the small sizes of these tests (it starts at 65,536 elements)."""
    monkeypatch.setattr(diag_normal, "MIN_ELEMENTS", 0)


def _reference(df: float, loc: torch.Tensor, scale: torch.Tensor) -> dist.Distribution:
    """Pyro's multivariate t with the diagonal as its Cholesky factor, in float64."""
    return dist.MultivariateStudentT(
        torch.tensor(df, dtype=torch.float64), loc.double(), torch.diag_embed(scale.double())
    )


def _formula(df: float, loc: torch.Tensor, scale: torch.Tensor, value: torch.Tensor):
    """log t_df(value; loc, diag scale^2) in float64, written out."""
    loc, scale, value = loc.double(), scale.double(), value.double()
    d = loc.shape[-1]
    quad = (((value - loc) / scale) ** 2).sum(-1)
    norm = math.lgamma((df + d) / 2) - math.lgamma(df / 2) - d / 2 * math.log(df * math.pi)
    return norm - scale.log().sum(-1) - (df + d) / 2 * torch.log1p(quad / df)


@pytest.mark.parametrize(("loc_shape", "value_shape"), LOC_VALUE_SHAPES)
@pytest.mark.parametrize("df", [0.7, 4.0, 30.0])
def test_log_prob_is_pyros_multivariate_t(loc_shape, value_shape, df: float) -> None:
    g = torch.Generator().manual_seed(1)
    loc = torch.randn(loc_shape, generator=g)
    scale = torch.rand(loc_shape, generator=g) + 0.1
    value = torch.randn(value_shape, generator=g) * 2
    got = DiagStudentT(df, loc, scale).log_prob(value)
    want = _reference(df, loc, scale).log_prob(value.double())
    assert got.shape == want.shape
    torch.testing.assert_close(got.double(), want, rtol=1e-6, atol=1e-4)
    torch.testing.assert_close(want, _formula(df, loc, scale, value), rtol=1e-12, atol=1e-10)


def test_matches_scipy() -> None:
    g = torch.Generator().manual_seed(2)
    loc, scale, value = (
        torch.randn(3, generator=g),
        torch.rand(3, generator=g) + 0.2,
        torch.randn(4, 3),
    )
    got = DiagStudentT(5.0, loc.double(), scale.double()).log_prob(value.double())
    want = stats.multivariate_t(loc.numpy(), np.diag(scale.numpy() ** 2), df=5.0).logpdf(
        value.numpy()
    )
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-6)


def test_gradients_match_pyros_including_df() -> None:
    g = torch.Generator().manual_seed(3)
    loc = (torch.randn(8, 1, 3, generator=g) * 3).requires_grad_(True)
    scale = (torch.rand(8, 1, 3, generator=g) + 0.1).requires_grad_(True)
    df = torch.tensor(3.5, requires_grad=True)
    value = (torch.randn(10, 3, generator=g) * 3).requires_grad_(True)
    weights = torch.randn(8, 10, generator=g)
    fast = (DiagStudentT(df, loc, scale).log_prob(value) * weights).sum()
    grads = torch.autograd.grad(fast, (loc, scale, df, value))
    slow = dist.MultivariateStudentT(df, loc, torch.diag_embed(scale)).log_prob(value) * weights
    want = torch.autograd.grad(slow.sum(), (loc, scale, df, value))
    for a, b in zip(grads, want, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-3)


def test_large_df_is_the_diagonal_normal() -> None:
    loc, scale, value = (
        torch.randn(4, 1, 3).double(),
        torch.rand(4, 1, 3).double() + 0.5,
        torch.randn(6, 3).double(),
    )
    got = DiagStudentT(1e7, loc, scale).log_prob(value)
    want = dist.Normal(loc, scale).to_event(1).log_prob(value)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_sampling_shapes_and_moments() -> None:
    loc, scale = torch.tensor([1.0, -2.0]), torch.tensor([0.5, 2.0])
    d = DiagStudentT(8.0, loc, scale)
    assert d.batch_shape == () and d.event_shape == (2,)
    torch.manual_seed(0)
    z = d.rsample((200_000,))
    assert z.shape == (200_000, 2)
    torch.testing.assert_close(d.variance, scale**2 * 8 / 6)
    torch.testing.assert_close(z.mean(0), loc, atol=0.02, rtol=0)
    torch.testing.assert_close(z.var(0), d.variance, rtol=0.05, atol=0)
    # the tail weight is shared by the dimensions: |z| large in one is large in the other
    u = ((z - loc) / scale).abs()
    assert np.corrcoef(u[:, 0].numpy(), u[:, 1].numpy())[0, 1] > 0.05
    assert torch.isnan(DiagStudentT(1.0, loc, scale).mean).all()
    assert torch.isinf(DiagStudentT(2.0, loc, scale).variance).all()


def test_rsample_is_reparameterised_in_loc_and_scale() -> None:
    loc = torch.zeros(3, requires_grad=True)
    scale = torch.ones(3, requires_grad=True)
    z = DiagStudentT(4.0, loc, scale).rsample((5,))
    gl, gs = torch.autograd.grad(z.sum(), (loc, scale))
    torch.testing.assert_close(gl, torch.full((3,), 5.0))
    assert torch.isfinite(gs).all() and (gs != 0).all()


def test_expand_keeps_the_fast_path() -> None:
    loc, scale = torch.randn(6, 1, 4), torch.rand(6, 1, 4) + 0.1
    d = DiagStudentT(4.0, loc, scale).expand((6, 9))
    value = torch.randn(9, 4)
    got = d.log_prob(value)
    assert got.shape == (6, 9)
    torch.testing.assert_close(got.double(), _formula(4.0, loc, scale, value))


def test_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError, match="event dimension"):
        DiagStudentT(4.0, torch.tensor(0.0), torch.tensor(1.0))
    with pytest.raises(ValueError, match="df must be a scalar"):
        DiagStudentT(torch.ones(2), torch.zeros(2), torch.ones(2))


def test_elbo_under_enumeration_equals_pyros_multivariate_t() -> None:
    """TraceEnum_ELBO of a little t-mixture: the same loss and gradients with either density."""
    k, d, n = 6, 3, 9
    g = torch.Generator().manual_seed(4)
    loc = torch.randn(k, d, generator=g).requires_grad_(True)
    scale = (torch.rand(k, d, generator=g) + 0.1).requires_grad_(True)
    x = torch.randn(n, d, generator=g)

    def make(density):
        def model():
            with pyro.plate("data", n):
                y = pyro.sample("y", dist.Categorical(logits=torch.zeros(k)))
                pyro.sample("z", density(loc[y], scale[y]), obs=x)

        return config_enumerate(model)

    def guide():
        pass

    elbo = TraceEnum_ELBO(max_plate_nesting=1)
    fast = elbo.differentiable_loss(make(lambda m, s: DiagStudentT(4.0, m, s)), guide)
    ref = lambda m, s: dist.MultivariateStudentT(torch.tensor(4.0), m, torch.diag_embed(s))  # noqa: E731
    slow = elbo.differentiable_loss(make(ref), guide)
    torch.testing.assert_close(fast, slow, rtol=1e-6, atol=1e-5)
    for a, b in zip(
        torch.autograd.grad(fast, (loc, scale)),
        torch.autograd.grad(slow, (loc, scale)),
        strict=True,
    ):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_posterior_at_1024_components_and_64_dimensions_is_finite_and_exact() -> None:
    k, d, n = 1024, 64, 32
    g = torch.Generator().manual_seed(5)
    loc = torch.randn(k, d, generator=g) * 5
    scale = torch.rand(k, d, generator=g) + 0.1
    value = loc[:n] + 0.01 * torch.randn(n, d, generator=g)
    log_p = DiagStudentT(4.0, loc.unsqueeze(1), scale.unsqueeze(1)).log_prob(value)  # (K, n)
    post = log_p.double() - torch.logsumexp(log_p.double(), 0)
    want = _formula(4.0, loc.unsqueeze(1), scale.unsqueeze(1), value)
    want = want - torch.logsumexp(want, 0)
    assert torch.isfinite(post).all()
    torch.testing.assert_close(post.exp(), want.exp(), atol=1e-6, rtol=1e-4)
    assert (post.argmax(0) == torch.arange(n)).all()
