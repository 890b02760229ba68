"""The start mixture of the priors that leave components empty, fitted on a subset of rows."""

from __future__ import annotations

import numpy as np
import pyro.distributions as dist
import pytest
import torch
from sklearn.mixture import BayesianGaussianMixture, GaussianMixture

from pyroclust import metrics, priors
from pyroclust.priors.base import SubsampledFit, bayesian_start_mixture, distribution_on

from .gmm_model import three_blobs


class _Recorder(GaussianMixture):
    """A GaussianMixture that remembers the rows it was fitted to."""

    def fit(self, x, y=None):
        self.seen_ = np.array(x, copy=True)
        return super().fit(x, y)


def test_subsampled_fit_fits_at_most_max_samples_rows_and_labels_every_row():
    x, labels = three_blobs(300)
    fit = SubsampledFit(_Recorder(3, random_state=0), 120, random_state=0)
    found = fit.fit_predict(x)
    assert fit.seen_.shape == (120, x.shape[1])
    # the rows fitted are distinct rows of x, in their order
    rows = [int(np.flatnonzero((x == row).all(axis=1))[0]) for row in fit.seen_]
    assert len(set(rows)) == 120 and rows == sorted(rows)
    assert found.shape == (len(x),)
    np.testing.assert_array_equal(found, fit.mixture.predict(x))
    assert metrics.ari(labels, found) > 0.95
    # attributes read through to the mixture
    assert fit.weights_ is fit.mixture.weights_ and fit.n_components == 3


def test_subsampled_fit_is_repeatable_and_fits_small_inputs_whole():
    x, _ = three_blobs(300)
    a = SubsampledFit(_Recorder(3, random_state=0), 100, random_state=4)
    b = SubsampledFit(_Recorder(3, random_state=0), 100, random_state=4)
    np.testing.assert_array_equal(a.fit_predict(x), b.fit_predict(x))
    np.testing.assert_array_equal(a.seen_, b.seen_)
    whole = SubsampledFit(_Recorder(3, random_state=0), len(x), random_state=0).fit(x)
    np.testing.assert_array_equal(whole.seen_, x)
    with pytest.raises(ValueError, match="max_samples must be at least 1"):
        SubsampledFit(GaussianMixture(2), 0)


def test_bayesian_start_mixture_subsamples_only_above_its_limit():
    mixture = bayesian_start_mixture(5, "dirichlet_process", 1.0, random_state=0, max_samples=50)
    assert isinstance(mixture, SubsampledFit) and mixture.max_samples == 50
    assert isinstance(mixture.mixture, BayesianGaussianMixture)
    assert mixture.weight_concentration_prior == 1.0
    whole = bayesian_start_mixture(5, "dirichlet_process", 1.0, max_samples=None)
    assert isinstance(whole, BayesianGaussianMixture)


def test_a_subsampled_dirichlet_process_start_finds_the_clusters_of_the_whole():
    """Fitted on 200 of 900 rows, the stick-breaking prior's start leaves the same three
    clusters in use as on all of them, and labels every row as they do."""
    x, labels = three_blobs(900)
    prior = priors.StickBreaking(1.0).build(10)
    sub = prior.start_mixture(10, n_init=1, random_state=0)
    sub.max_samples = 200
    whole = bayesian_start_mixture(10, "dirichlet_process", 1.0, n_init=1, max_samples=None)
    found, full = sub.fit_predict(x), whole.fit_predict(x)
    assert len(np.unique(found)) == len(np.unique(full)) == 3
    assert metrics.ari(found, full) > 0.99 and metrics.ari(labels, found) > 0.95


@pytest.mark.parametrize(
    "make",
    [
        lambda: dist.Gamma(2.0, 1.0),
        lambda: dist.LogNormal(0.0, 1.0),
        lambda: dist.Exponential(1.0),
        lambda: dist.HalfNormal(1.0),
        lambda: dist.Beta(2.0, 3.0),
        lambda: dist.Gamma(torch.full((3,), 2.0), 1.0),
    ],
)
def test_a_users_prior_is_rebuilt_on_the_models_device(make) -> None:
    d = make()
    assert distribution_on(d, torch.zeros(1)) is d  # already there: itself
    # another device (meta stands for CUDA here: no data, no validation possible)
    default = torch.distributions.Distribution._validate_args
    torch.distributions.Distribution.set_default_validate_args(False)
    try:
        moved = distribution_on(d, torch.zeros(1, device="meta"))
    finally:
        torch.distributions.Distribution.set_default_validate_args(default)
    assert type(moved) is type(d) and moved.batch_shape == d.batch_shape
    params = [getattr(moved, n) for n in moved.arg_constraints]
    assert params and all(p.device.type == "meta" for p in params)
