"""Synthetic data with a known clustering, for studies where the truth must be known."""

from __future__ import annotations

import numpy as np

from pyroclust.datasets.base import Dataset
from pyroclust.exceptions import DatasetError


def zipf_weights(n_clusters: int, exponent: float) -> np.ndarray:
    """Zipf mixture weights ``pi_k = k^-s / sum_j j^-s`` for ranks ``k = 1..n_clusters``.

    Parameters
    ----------
    n_clusters : int
        Number of clusters K.
    exponent : float
        The Zipf exponent s >= 0 (0 gives equal weights).

    Returns
    -------
    np.ndarray
        float64 of shape (n_clusters,), decreasing, summing to one.
    """
    weights = np.arange(1, n_clusters + 1, dtype=np.float64) ** -float(exponent)
    return weights / weights.sum()


def _leaky_relu(a: np.ndarray, slope: float = 0.2) -> np.ndarray:
    return np.where(a > 0, a, slope * a)


def make_zipf_mixture(
    n_samples: int = 50_000,
    n_clusters: int = 200,
    exponent: float = 1.1,
    latent_dim: int = 32,
    n_features: int = 256,
    noise: float = 0.1,
    cluster_separation: float = 10.0,
    random_state: int | None = 0,
) -> Dataset:
    r"""A mixture with Zipf-distributed cluster sizes, observed through a random network.

    The generative story, for clusters ranked :math:`k = 1, \dots, K` and samples
    :math:`i = 1, \dots, N`, with :math:`d` = ``latent_dim`` and :math:`D` = ``n_features``:

    .. math::

        \pi_k &\propto k^{-s}                                   && \text{Zipf weights} \\
        \mu_k &\sim \mathcal N\!\big(0, \tfrac{\delta^2}{2d} I_d\big)  && \text{cluster means} \\
        c_i &\sim \mathrm{Categorical}(\pi)                        && \text{true cluster} \\
        z_i \mid c_i &\sim \mathcal N(\mu_{c_i}, I_d)                 && \text{latent code} \\
        x_i &= \tanh\!\big(W_2\, \mathrm{lrelu}(W_1 z_i + b_1) + b_2\big)
               + \sigma\,\varepsilon_i,\quad \varepsilon_i \sim \mathcal N(0, I_D)

    where :math:`s` = ``exponent``, :math:`\delta` = ``cluster_separation``, :math:`\sigma` =
    ``noise``, ``lrelu`` is a leaky ReLU of slope 0.2, and :math:`W_1` (``4 d`` hidden units),
    :math:`b_1`, :math:`W_2`, :math:`b_2` are Gaussian weights drawn once from
    ``random_state`` and scaled so the pre-activations have standard deviation about 2, so
    both nonlinearities bend the clusters.

    :math:`\delta` is the expected distance between two cluster means in units of the
    within-cluster standard deviation. The default 10 makes the clusters well separated in
    latent space but not trivially in observation space. Measured with the defaults: the
    Bayes classifier that knows the means and weights labels 99.9% of the latent codes
    correctly; a linear map of :math:`z` explains only about 63% of the variance of
    :math:`x`; k-means with the true K reaches NMI 0.76 on :math:`x` against 0.81 on
    :math:`z` (the Zipf imbalance keeps both far from perfect). Cluster ``0`` is the largest
    (rank 1).

    Parameters
    ----------
    n_samples : int
        Number of samples N.
    n_clusters : int
        Number of clusters K.
    exponent : float
        Zipf exponent s >= 0; 0 gives equal sizes, 1.1 a long tail (with the defaults the
        largest cluster holds ~21% of the samples and the smallest ~0.06%).
    latent_dim : int
        Dimension d of the latent space.
    n_features : int
        Dimension D of the observations.
    noise : float
        Standard deviation of the observation noise.
    cluster_separation : float
        Expected distance between two cluster means, in within-cluster standard deviations.
    random_state : int or None
        Seed. The cluster means and the network depend only on it (and on the sizes), not on
        ``n_samples``, so a smaller sample with the same seed comes from the same mixture.

    Returns
    -------
    Dataset
        ``x`` float32 of shape (n_samples, n_features), ``y`` the true cluster of each sample
        (int64 of shape (n_samples,), 0 = largest), name ``"zipf-mixture"``, support
        ``"real"``.

    Raises
    ------
    DatasetError
        If a size is not positive or a scale is negative.

    Examples
    --------
    >>> ds = make_zipf_mixture(n_samples=1000, n_clusters=20, n_features=64)
    >>> ds.x.shape, ds.support
    ((1000, 64), 'real')
    """
    sizes = {
        "n_samples": n_samples,
        "n_clusters": n_clusters,
        "latent_dim": latent_dim,
        "n_features": n_features,
    }
    for name, value in sizes.items():
        if int(value) != value or value < 1:
            raise DatasetError(
                f"make_zipf_mixture: {name} must be a positive integer, got {value}."
            )
    scales = {"exponent": exponent, "noise": noise, "cluster_separation": cluster_separation}
    for name, value in scales.items():
        if not np.isfinite(value) or value < 0:
            raise DatasetError(f"make_zipf_mixture: {name} must be finite and >= 0, got {value}.")
    n_samples, n_clusters, latent_dim, n_features = (int(v) for v in sizes.values())

    params_seed, sample_seed = np.random.SeedSequence(random_state).spawn(2)
    params = np.random.default_rng(params_seed)
    rng = np.random.default_rng(sample_seed)

    pi = zipf_weights(n_clusters, exponent)
    mean_scale = cluster_separation / np.sqrt(2.0 * latent_dim)
    means = params.standard_normal((n_clusters, latent_dim)) * mean_scale

    # Scale the layers so each pre-activation has standard deviation about `gain`.
    gain, hidden = 2.0, 4 * latent_dim
    z_scale = np.sqrt(1.0 + mean_scale**2)
    w1 = params.standard_normal((latent_dim, hidden)) * gain / (z_scale * np.sqrt(latent_dim))
    b1 = params.standard_normal(hidden) * 0.5
    w2 = params.standard_normal((hidden, n_features)) * gain / np.sqrt(0.5 * hidden)
    b2 = params.standard_normal(n_features) * 0.5

    y = rng.choice(n_clusters, size=n_samples, p=pi)
    z = means[y] + rng.standard_normal((n_samples, latent_dim))
    hidden_units = _leaky_relu(z @ w1 + b1).astype(np.float32)
    x = np.tanh(hidden_units @ w2.astype(np.float32) + b2.astype(np.float32))
    x += np.float32(noise) * rng.standard_normal((n_samples, n_features), dtype=np.float32)
    return Dataset(x=x, y=y, name="zipf-mixture", support="real")
