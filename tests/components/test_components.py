"""Latent component families p(z | k) against float64 formulas; placement from moments."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from pyroclust.components import DiagonalGaussian, MultivariateStudentT, StudentT
from pyroclust.infer.elbo import local_params

K, D = 4, 3


def _moments(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    loc = torch.randn(K, D, generator=g, dtype=torch.float64)
    var = torch.rand(K, D, generator=g, dtype=torch.float64) + 0.2
    return loc, var


def test_gaussian_log_prob_all_is_the_formula() -> None:
    comp = DiagonalGaussian(K, D).double()
    loc, var = _moments()
    with local_params():
        comp.set_from_moments(loc, var)
        z = torch.randn(5, D, dtype=torch.float64)
        got = comp.log_prob_all(z)
    expected = (-0.5 * ((z[:, None, :] - loc) ** 2 / var + torch.log(2 * math.pi * var))).sum(-1)
    assert got.shape == (5, K)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


def test_gaussian_stays_finite_far_from_every_component() -> None:
    comp = DiagonalGaussian(K, 64)
    with local_params():
        lp = comp.log_prob_all(torch.full((2, 64), 50.0))
    assert torch.isfinite(lp).all() and (lp < -1e4).all()


def test_forward_broadcasts_over_enumerated_assignments() -> None:
    comp = DiagonalGaussian(K, D)
    with local_params():
        d = comp(torch.arange(K).reshape(K, 1))  # the shape Pyro gives an enumerated site
    assert d.batch_shape == (K, 1) and d.event_shape == (D,)


def test_set_from_moments() -> None:
    comp = DiagonalGaussian(K, D)
    loc, var = _moments()
    with local_params():
        comp.set_from_moments(loc, var)
        torch.testing.assert_close(comp.loc, loc.float())
        torch.testing.assert_close(comp.scale, var.float().sqrt())
    assert comp.loc.dtype == torch.float32  # keeps the module's dtype


def test_student_t_log_prob_all_matches_scipy() -> None:
    comp = StudentT(K, D, df=4.0).double()
    loc, var = _moments(1)
    with local_params():
        comp.set_from_moments(loc, var)
        z = torch.randn(5, D, dtype=torch.float64)
        got = comp.log_prob_all(z).detach().numpy()
        scale = comp.scale.detach().numpy()
    expected = stats.t.logpdf(z.numpy()[:, None, :], df=4.0, loc=loc.numpy(), scale=scale).sum(-1)
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    # set_from_moments matches the variance: scale^2 df / (df - 2) = var
    np.testing.assert_allclose(scale**2 * 4.0 / 2.0, var.numpy(), rtol=1e-10)


@pytest.mark.parametrize("family", [StudentT, MultivariateStudentT])
def test_student_t_learned_df_is_a_parameter(family) -> None:
    assert "df" not in dict(family(K, D).named_parameters())
    names = [n for n, _ in family(K, D, learn_df=True).named_parameters()]
    assert any(n.startswith("df") for n in names)


def test_multivariate_t_log_prob_all_matches_scipy() -> None:
    comp = MultivariateStudentT(K, D, df=4.0).double()
    loc, var = _moments(2)
    with local_params():
        comp.set_from_moments(loc, var)
        z = torch.randn(5, D, dtype=torch.float64) * 2
        got = comp.log_prob_all(z).detach().numpy()
        scale = comp.scale.detach().numpy()
    expected = np.stack(
        [
            stats.multivariate_t(loc[k].numpy(), np.diag(scale[k] ** 2), df=4.0).logpdf(z.numpy())
            for k in range(K)
        ],
        axis=-1,
    )
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    # set_from_moments matches the variance: scale^2 df / (df - 2) = var
    np.testing.assert_allclose(scale**2 * 4.0 / 2.0, var.numpy(), rtol=1e-10)


def test_multivariate_t_forward_broadcasts_over_enumerated_assignments() -> None:
    comp = MultivariateStudentT(K, D)
    with local_params():
        d = comp(torch.arange(K).reshape(K, 1))
        lp = d.log_prob(torch.randn(6, D))
    assert d.batch_shape == (K, 1) and d.event_shape == (D,) and lp.shape == (K, 6)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: DiagonalGaussian(0, D), "n_components must be >= 1"),
        (lambda: DiagonalGaussian(K, 0), "latent_dim must be >= 1"),
        (lambda: StudentT(K, D, df=0.0), "df must be positive"),
        (lambda: MultivariateStudentT(K, D, df=0.0), "df must be positive"),
        (lambda: MultivariateStudentT(K, D, df=float("nan")), "df must be positive"),
    ],
)
def test_rejects_bad_settings(make, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()
