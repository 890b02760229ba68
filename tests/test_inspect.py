"""ArviZ containers of weight posteriors, expected cluster counts, cluster sizes, plots."""

from __future__ import annotations

import arviz as az
import numpy as np
import pyro.distributions as dist
import pytest
import torch
from matplotlib.figure import Figure

from pyroclust import inspect, priors, zoo
from pyroclust.estimator import Clusterer
from pyroclust.infer.init import GMMInit


@pytest.fixture(scope="module")
def fitted(make_blobs_module):
    """A tiny VaDE with Dirichlet weights, fitted once for the module."""
    x = make_blobs_module
    model, guide = zoo.make(
        "vade", n_features=12, n_components=3, latent_dim=2, hidden=(8,), weights="dirichlet:2"
    )
    est = Clusterer(
        model,
        guide,
        epochs=2,
        batch_size=24,
        init=GMMInit(pretrain_epochs=2),
        random_state=0,
        progress=False,
    ).fit(x)
    return est, x


@pytest.fixture(scope="module")
def make_blobs_module():
    """48 rows, 12 features in [0, 1], from three prototypes."""
    rng = np.random.default_rng(0)
    protos = rng.random((3, 12)) > 0.5
    x = np.where(protos[np.arange(48) % 3], 0.85, 0.15) + rng.normal(0, 0.05, (48, 12))
    return np.clip(x, 0.0, 1.0).astype(np.float32)


def _groups(data) -> list[str]:
    if hasattr(data, "groups") and callable(data.groups):  # InferenceData
        return [g.lstrip("/") for g in data.groups()]
    return list(data.children)  # DataTree (ArviZ >= 1)


def test_weights_posterior_groups_dims_and_counts(fitted):
    est, _ = fitted
    data = est.weights_posterior(num_samples=300, random_state=1)
    if inspect.ARVIZ_MAJOR < 1:
        assert isinstance(data, az.InferenceData)
    assert _groups(data) == ["posterior"]
    post = inspect.posterior_dataset(data)
    assert sorted(post.data_vars) == ["concentration", "weights"]
    assert post["weights"].dims == ("chain", "draw", "component")
    # the Dirichlet's fixed alpha is recorded beside the weights (the same in every draw)
    assert post["concentration"].dims == ("chain", "draw", "component")
    np.testing.assert_array_equal(post["concentration"].values, 2.0)  # "dirichlet:2"
    assert post["weights"].shape == (1, 300, 3)
    assert dict(post.sizes) == {"chain": 1, "draw": 300, "component": 3}
    w = post["weights"].values
    np.testing.assert_allclose(w.sum(-1), 1.0, rtol=1e-5)
    # the draws are from q(pi) = Dir(beta): their mean is the posterior mean
    np.testing.assert_allclose(w.mean((0, 1)), est.weights_, atol=0.03)
    # the same seed gives the same draws, and the global torch state is untouched
    state = torch.get_rng_state()
    again = inspect.posterior_dataset(est.weights_posterior(num_samples=300, random_state=1))
    assert torch.equal(state, torch.get_rng_state())
    np.testing.assert_array_equal(again["weights"].values, w)


def test_hyper_parameter_sites_are_included(tiny_vade):
    model, guide = tiny_vade(n_components=4, weights=priors.Zipf(1.0, prior=dist.Gamma(2.0, 2.0)))
    guide.weights = model.weights.make_guide()
    post = inspect.posterior_dataset(inspect.weights_posterior(model, guide, 40, random_state=0))
    assert set(post.data_vars) == {"weights", "zipf_exponent"}
    assert post["zipf_exponent"].dims == ("chain", "draw")
    s = post["zipf_exponent"].values
    assert s.std() > 0  # drawn from q(s), LogNormal(log 1, 0.1)
    k = np.arange(1, 5)
    expected = k[None, None] ** -s[..., None]
    np.testing.assert_allclose(
        post["weights"].values, expected / expected.sum(-1, keepdims=True), rtol=1e-5
    )

    sb_model, sb_guide = tiny_vade(n_components=5, weights="stick-breaking")
    sb_guide.weights = sb_model.weights.make_guide()
    sb = inspect.posterior_dataset(inspect.weights_posterior(sb_model, sb_guide, 10))
    assert sb["sticks"].dims == ("chain", "draw", "stick")
    assert sb["sticks"].shape == (1, 10, 4)


def test_point_estimates_give_a_point_mass(tiny_vade):
    model, guide = tiny_vade()
    post = inspect.posterior_dataset(inspect.weights_posterior(model, guide, 7))
    assert post["weights"].shape == (1, 7, 3)
    np.testing.assert_allclose(post["weights"].values[0], np.full((7, 3), 1 / 3), rtol=1e-6)

    zipf_model, zipf_guide = tiny_vade(weights="zipf:1.0")
    post = inspect.posterior_dataset(inspect.weights_posterior(zipf_model, zipf_guide, 4))
    np.testing.assert_allclose(post["zipf_exponent"].values, np.ones((1, 4)))


def test_latent_prior_without_its_guide_is_refused(tiny_vade):
    model, guide = tiny_vade(weights="dirichlet")
    with pytest.raises(ValueError, match="make_guide"):
        inspect.weights_posterior(model, guide, 5)


def test_expected_n_clusters_definitions(fitted):
    est, x = fitted
    # weights above a threshold, against a direct count on the same draws
    draws = inspect.posterior_dataset(est.weights_posterior(200, random_state=3))
    direct = (draws["weights"].values > 0.2).sum(-1).mean()
    got = est.expected_n_clusters(threshold=0.2, num_samples=200, random_state=3)
    assert got == pytest.approx(direct)
    # with data: sum_k 1 - prod_n (1 - r_nk), against Monte Carlo over assignments
    exact = est.expected_n_clusters(x)
    r = est.predict_proba(x)
    assert exact == pytest.approx((1 - np.prod(1 - r, axis=0)).sum(), rel=1e-6)
    sizes = inspect.posterior_dataset(est.cluster_sizes_posterior(x, 2000, random_state=0))
    mc = (sizes["cluster_size"].values > 0).sum(-1).mean()
    assert mc == pytest.approx(exact, abs=0.05)


def test_n_clusters_draws_counts_each_draw_and_averages_to_the_expectation(fitted):
    est, _ = fitted
    data = est.weights_posterior(200, random_state=3)
    counts = inspect.n_clusters_draws(data, threshold=0.2)
    weights = inspect.posterior_dataset(data)["weights"].values.reshape(200, -1)
    assert counts.shape == (200,) and counts.tolist() == (weights > 0.2).sum(1).tolist()
    got = est.expected_n_clusters(threshold=0.2, num_samples=200, random_state=3)
    assert counts.mean() == pytest.approx(got)
    k = weights.shape[1]  # the default threshold is 1 / (10 K)
    assert inspect.n_clusters_draws(data).tolist() == (weights > 1 / (10 * k)).sum(1).tolist()


def test_cluster_sizes_posterior(fitted):
    est, x = fitted
    data = est.cluster_sizes_posterior(x, num_samples=500, random_state=0)
    post = inspect.posterior_dataset(data)
    sizes = post["cluster_size"]
    assert sizes.dims == ("chain", "draw", "component")
    assert sizes.shape == (1, 500, 3)
    np.testing.assert_array_equal(sizes.values.sum(-1), len(x))
    # E[n_k] = sum_n p(y_n = k | x_n)
    expected = est.predict_proba(x).sum(0)
    np.testing.assert_allclose(sizes.values.mean((0, 1)), expected, atol=0.6)


def test_summary_table(fitted):
    est, _ = fitted
    table = inspect.summary(est.weights_posterior(100, random_state=0))
    weights = ["weights[0]", "weights[1]", "weights[2]"]
    alpha = ["concentration[0]", "concentration[1]", "concentration[2]"]
    assert sorted(table.index) == sorted(weights + alpha)
    assert list(table.columns) == ["mean", "sd", "hdi_3%", "hdi_97%", "n_draws"]
    assert (table["hdi_3%"] <= table["mean"]).all() and (table["mean"] <= table["hdi_97%"]).all()
    assert (table["n_draws"] == 100).all()
    assert table.loc[weights, "mean"].sum() == pytest.approx(1.0, abs=1e-5)
    assert (table.loc[alpha, "mean"] == 2.0).all() and (table.loc[alpha, "sd"] == 0.0).all()


def test_hdi_is_the_narrowest_interval():
    draws = np.concatenate([np.zeros(90), np.linspace(5, 10, 10)])
    assert inspect.hdi(draws, 0.9) == (0.0, 0.0)
    lo, hi = inspect.hdi(np.random.default_rng(0).normal(size=20000), 0.94)
    assert lo == pytest.approx(-1.881, abs=0.05) and hi == pytest.approx(1.881, abs=0.05)


def test_to_arviz_helper_on_this_arviz_line():
    data = inspect.to_arviz(
        {"a": np.zeros((1, 3, 2))}, coords={"k": np.arange(2)}, dims={"a": ["k"]}
    )
    assert inspect.posterior_dataset(data)["a"].dims == ("chain", "draw", "k")


def test_plots_return_figures_and_write_files(fitted, tmp_path):
    est, _ = fitted
    data = est.weights_posterior(50, random_state=0)
    fig = inspect.plot_weights_forest(data, tmp_path / "forest.png")
    assert isinstance(fig, Figure) and (tmp_path / "forest.png").stat().st_size > 0
    ax = fig.axes[0]
    ticks = sorted(zip(ax.get_yticks(), [t.get_text() for t in ax.get_yticklabels()]))
    top_down = [label for _, label in ticks[::-1]]
    w = inspect.posterior_dataset(data)["weights"].values[0]
    order = np.argsort(-w.mean(0))
    assert top_down == [f"component {k}" for k in order]  # largest mean on top
    fig = inspect.plot_rank_size(w, path=tmp_path / "rank.png")
    assert isinstance(fig, Figure) and (tmp_path / "rank.png").stat().st_size > 0
    assert fig.axes[0].get_xscale() == "log" and fig.axes[0].get_yscale() == "log"
    fig = inspect.plot_rank_size(np.array([0.5, 0.3, 0.2]), exponent=1.0)
    assert "given" in fig.axes[0].get_legend().get_texts()[-1].get_text()


def test_fit_zipf_exponent_recovers_the_law():
    k = np.arange(1, 30)
    w = k**-1.3 / np.sum(k**-1.3)
    assert inspect.fit_zipf_exponent(w[::-1]) == pytest.approx(1.3)


def test_estimator_methods_before_fit(tiny_vade):
    model, guide = tiny_vade()
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        Clusterer(model, guide).weights_posterior()


def test_inspection_leaves_the_param_store_alone(tiny_vade):
    import pyro

    model, guide = tiny_vade(weights="dirichlet")
    guide.weights = model.weights.make_guide()
    inspect.weights_posterior(model, guide, 3)
    assert len(pyro.get_param_store()) == 0


@pytest.mark.filterwarnings("ignore::matplotlib.MatplotlibDeprecationWarning")  # ArviZ's own
def test_arviz_summary_forest_and_posterior_plots_read_it(tiny_vade):
    """The container works with ArviZ's own summary and plots, hyper-parameters included."""
    import matplotlib.pyplot as plt

    model, guide = tiny_vade(weights=priors.Zipf(1.0, prior=dist.Gamma(2.0, 2.0)))
    guide.weights = model.weights.make_guide()
    data = inspect.weights_posterior(model, guide, 60, random_state=0)
    table = az.summary(data, kind="stats")
    assert list(table.index) == ["zipf_exponent", "weights[0]", "weights[1]", "weights[2]"]
    ours = inspect.summary(data)
    np.testing.assert_allclose(table["mean"], ours.loc[table.index, "mean"], atol=1e-3)
    try:
        # plot_arviz: az.plot_forest / az.plot_posterior (ArviZ 0.x) or az.plot_dist (1.x)
        forest = inspect.plot_arviz(data, "forest", var_names=["weights"], combined=True)
        assert np.size(forest) >= 1
        assert np.size(inspect.plot_arviz(data, "posterior")) == 4  # s and one per component
    finally:
        plt.close("all")


@pytest.mark.filterwarnings("ignore::matplotlib.MatplotlibDeprecationWarning")  # ArviZ's own
def test_plot_arviz_sizes_the_figure_on_either_arviz_line(tiny_vade):
    import matplotlib.pyplot as plt

    model, guide = tiny_vade(weights="dirichlet")
    guide.weights = model.weights.make_guide()
    data = inspect.weights_posterior(model, guide, 30, random_state=0)
    try:
        axes = inspect.plot_arviz(data, "forest", var_names=["weights"], figsize=(5, 4))
        assert axes.dtype == object and axes.ndim == 1
        np.testing.assert_allclose(axes[0].figure.get_size_inches(), (5, 4))
    finally:
        plt.close("all")
    with pytest.raises(ValueError, match="kind must be one of"):
        inspect.plot_arviz(data, "trace")


def test_stick_breaking_records_its_concentration(tiny_vade):
    model, guide = tiny_vade(n_components=4, weights="stick-breaking:3")
    guide.weights = model.weights.make_guide()
    post = inspect.posterior_dataset(inspect.weights_posterior(model, guide, num_samples=20))
    assert sorted(post.data_vars) == ["concentration", "sticks", "weights"]
    assert post["concentration"].dims == ("chain", "draw")
    np.testing.assert_array_equal(post["concentration"].values, 3.0)
