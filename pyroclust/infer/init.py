"""Initialisation strategies for mixture models: pluggable objects called before SVI.

The VaDE paper's default (:class:`GMMInit`): pretrain encoder and decoder as an autoencoder,
fit a Gaussian mixture (scikit-learn) to the latent means, and start the model's components
and weights from it. :class:`KMeansInit` uses k-means instead and :class:`RandomInit` leaves
the constructor's random values.

A strategy is any callable ``strategy(model, guide, x, *, random_state, progress)``; the
built-in ones need the model to have ``decoder``, ``likelihood``, ``components``
(:class:`~pyroclust.components.ComponentFamily`) and ``weights``
(:class:`~pyroclust.priors.WeightPrior`), and the guide to have ``encode(x) -> (loc, scale)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm


def pretrain_autoencoder(
    model: Any,
    guide: Any,
    x: torch.Tensor,
    *,
    epochs: int = 50,
    batch_size: int = 256,
    lr: float = 1e-3,
    random_state: int | None = None,
    progress: bool = False,
) -> list[float]:
    """Train ``guide.encode(x)[0] -> model.decoder`` as a deterministic autoencoder.

    The loss is the model's own negative log-likelihood ``-log p(x | decoder(mu(x)))``
    (binary cross-entropy for Bernoulli, squared error for Gaussian), averaged over rows.
    Returns the mean loss of each epoch.
    """
    params = list({id(p): p for p in [*guide.parameters(), *model.decoder.parameters()]}.values())
    optim = torch.optim.Adam(params, lr=lr)
    gen = torch.Generator()
    if random_state is not None:
        gen.manual_seed(int(random_state))
    n = len(x)
    steps = math.ceil(n / batch_size)
    losses = []
    with tqdm(total=epochs * steps, disable=not progress, desc="pretrain", unit="step") as bar:
        for _ in range(epochs):
            order = torch.randperm(n, generator=gen).to(x.device)
            total = 0.0
            for i in range(steps):
                xb = x[order[i * batch_size : (i + 1) * batch_size]]
                loc, _ = guide.encode(xb)
                loss = -model.likelihood.log_prob(model.decoder(loc), xb).mean()
                optim.zero_grad(set_to_none=True)
                loss.backward()
                optim.step()
                total += loss.item() * len(xb) / n
                bar.update(1)
                bar.set_postfix(loss=f"{total:.4g}", refresh=False)
            losses.append(total)
    return losses


@torch.no_grad()
def encode_means(guide: Any, x: torch.Tensor, batch_size: int = 4096) -> np.ndarray:
    """Latent means mu(x) as a float64 NumPy array of shape (n_samples, latent_dim)."""
    codes = torch.cat([guide.encode(xb)[0] for xb in torch.split(x, batch_size)])
    return codes.double().cpu().numpy()


def set_mixture(
    model: Any,
    guide: Any,
    pi: np.ndarray,
    loc: np.ndarray,
    var: np.ndarray,
    n_samples: int | None = None,
) -> None:
    """Start the model's components at (loc, var) and its weights (and q's) at pi.

    When the weight prior says its component order matters (``ordered = True``: Zipf ranks,
    stick-breaking), the clusters are first sorted by decreasing weight, so the largest one
    becomes component 0 (rank 1). ``n_samples`` (the data points behind pi) lets a
    variational posterior over pi start as confident as the data warrant.
    """
    pi, loc, var = np.asarray(pi), np.asarray(loc), np.asarray(var)
    if getattr(model.weights, "ordered", False):
        order = np.argsort(-pi, kind="stable")
        pi, loc, var = pi[order], loc[order], var[order]
    device = next(iter(model.parameters())).device
    t = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32, device=device)  # noqa: E731
    model.components.set_from_moments(t(loc), t(var))
    model.weights.set_weights(t(pi))
    guide_weights = getattr(guide, "weights", None)
    if guide_weights is not None:
        guide_weights.set_weights(t(pi), n_samples=n_samples)


@dataclass
class _LatentClusterInit:
    pretrain_epochs: int = 50
    batch_size: int = 256
    lr: float = 1e-3

    def cluster(
        self, codes: np.ndarray, n_components: int, random_state: int | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        raise NotImplementedError

    def __call__(
        self,
        model: Any,
        guide: Any,
        x: torch.Tensor,
        *,
        random_state: int | None = None,
        progress: bool = False,
    ) -> None:
        if self.pretrain_epochs > 0:
            pretrain_autoencoder(
                model,
                guide,
                x,
                epochs=self.pretrain_epochs,
                batch_size=self.batch_size,
                lr=self.lr,
                random_state=random_state,
                progress=progress,
            )
        codes = encode_means(guide, x)
        pi, loc, var = self.cluster(codes, int(model.n_components), random_state)
        set_mixture(model, guide, pi, loc, var, n_samples=len(x))


@dataclass
class GMMInit(_LatentClusterInit):
    """Autoencoder pretraining, then a diagonal Gaussian mixture on the latent means
    (Jiang et al., 2017, section 3.2): components and weights start at the GMM's.

    Parameters
    ----------
    pretrain_epochs : int
        Autoencoder epochs (0: none, use the current encoder).
    n_init : int
        GMM restarts (scikit-learn keeps the best likelihood).
    reg_covar : float
        Added to the GMM variances.
    """

    n_init: int = 1
    reg_covar: float = 1e-4
    max_iter: int = 200

    def cluster(self, codes, n_components, random_state):  # noqa: D102
        from sklearn.mixture import GaussianMixture

        gmm = GaussianMixture(
            n_components,
            covariance_type="diag",
            n_init=self.n_init,
            reg_covar=self.reg_covar,
            max_iter=self.max_iter,
            random_state=random_state,
        ).fit(codes)
        return gmm.weights_, gmm.means_, gmm.covariances_


@dataclass
class KMeansInit(_LatentClusterInit):
    """Autoencoder pretraining, then k-means on the latent means: components start at the
    centroids with the within-cluster variances, weights at the cluster fractions."""

    n_init: int = 10

    def cluster(self, codes, n_components, random_state):  # noqa: D102
        from sklearn.cluster import KMeans

        km = KMeans(n_components, n_init=self.n_init, random_state=random_state).fit(codes)
        labels = km.labels_
        var = np.ones_like(km.cluster_centers_)
        counts = np.bincount(labels, minlength=n_components).astype(float)
        for k in range(n_components):
            if counts[k] > 1:
                var[k] = codes[labels == k].var(0) + 1e-4
        return counts / counts.sum(), km.cluster_centers_, var


@dataclass
class RandomInit:
    """Keep the random initial values the model was constructed with (no pretraining)."""

    def __call__(self, model: Any, guide: Any, x: torch.Tensor, **kwargs: Any) -> None:  # noqa: D102
        return None
