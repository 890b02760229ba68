"""Initialisation strategies for mixture models: pluggable objects called before SVI.

The VaDE paper's default (:class:`GMMInit`): pretrain encoder and decoder as an autoencoder,
fit a Gaussian mixture (scikit-learn) to the latent means, and start the model's components
and weights from it. :class:`KMeansInit` uses k-means instead, :class:`ManifoldInit` clusters
a t-SNE embedding (the N2D recipe, far better on small image sets) and :class:`RandomInit`
leaves the constructor's random values.

A strategy is any callable ``strategy(model, guide, x, *, random_state, progress)``; the
built-in ones need the model to have ``decoder``, ``likelihood``, ``components``
(:class:`~pyroclust.components.ComponentFamily`) and ``weights``
(:class:`~pyroclust.priors.WeightPrior`), and the guide to have ``encode(x) -> (loc, scale)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
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
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> list[float]:
    """Train ``guide.encode(x)[0] -> model.decoder`` as a deterministic autoencoder.

    The loss is the model's own negative log-likelihood ``-log p(x | decoder(mu(x)))``
    (binary cross-entropy for Bernoulli, squared error for Gaussian), averaged over rows.
    With ``augment`` (e.g. :class:`pyroclust.nn.augment.RandomAffine`), the encoder sees an
    augmented copy and the decoder must reconstruct the original (DEC-DA, Guo et al. 2018).
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
                loc, _ = guide.encode(augment(xb) if augment is not None else xb)
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
    code_scale: float | None = 0.1
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None

    def cluster(
        self,
        codes: np.ndarray,
        n_components: int,
        random_state: int | None,
        data: torch.Tensor | np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return (pi, loc, var) of the mixture to start from, given the latent means
        ``codes`` (and the data they encode, for strategies that cluster in data space; only
        those move it off the device)."""
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
                augment=self.augment,
            )
        codes = encode_means(guide, x)
        pi, loc, var = self.cluster(codes, int(model.n_components), random_state, data=x)
        set_mixture(model, guide, pi, loc, var, n_samples=len(x))
        if self.code_scale is not None and hasattr(guide, "set_scale"):
            # sigma(x) starts at a fixed fraction of the codes' typical spread
            guide.set_scale(self.code_scale * float(np.sqrt(np.median(codes.var(0)))))


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

    def cluster(self, codes, n_components, random_state, data=None):  # noqa: D102
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

    def cluster(self, codes, n_components, random_state, data=None):  # noqa: D102
        from sklearn.cluster import KMeans

        km = KMeans(n_components, n_init=self.n_init, random_state=random_state).fit(codes)
        pi, _, var = moments_from_labels(codes, km.labels_, n_components)
        return pi, km.cluster_centers_, var


@dataclass
class ManifoldInit(_LatentClusterInit):
    """Autoencoder pretraining, then a full-covariance Gaussian mixture on a 2-D t-SNE
    embedding; the components start at the moments of the latent means in each cluster.

    This is the N2D recipe (McConville et al., 2021, "N2D: (Not Too) Deep Clustering via
    Clustering the Local Manifold of an Autoencoded Embedding") used as VaDE's starting
    point: a mixture fitted directly to the codes often merges two classes and splits a
    third, which SVI does not undo; a neighbourhood embedding separates them first.

    Parameters
    ----------
    space : "data" or "codes"
        Embed the data themselves (best on small, aligned images such as the digits) or the
        autoencoder's latent means (cheaper in high dimension).
    perplexity : float
        t-SNE perplexity.
    max_samples : int
        Larger data sets embed a random subset of this size; the other points take the
        majority cluster of their 10 nearest embedded neighbours (in ``space``).
    n_init : int
        Restarts of the mixture on the embedding.
    method : "gmm" or "hdbscan"
        How the embedding is clustered. ``"gmm"``: a mixture with exactly ``n_components``
        clusters. ``"hdbscan"``: HDBSCAN (scikit-learn), which finds its own number of
        clusters of any size, the right start when ``n_components`` is an upper bound and
        the cluster sizes are heavy-tailed (a fixed-K mixture splits the big clusters). Its
        noise points join the cluster of their nearest clustered neighbours; beyond
        ``n_components`` clusters the smallest are dissolved the same way; components left
        over start at the overall moments with the weight of one point.
    min_cluster_size : int, optional
        HDBSCAN's smallest cluster (default: 15 per 10,000 embedded points, at least 5).
    """

    space: str = "data"
    perplexity: float = 30.0
    max_samples: int = 10_000
    n_init: int = 5
    method: str = "gmm"
    min_cluster_size: int | None = None

    def __post_init__(self) -> None:
        if self.space not in ("data", "codes"):
            raise ValueError(f"space must be 'data' or 'codes', not {self.space!r}")
        if self.method not in ("gmm", "hdbscan"):
            raise ValueError(f"method must be 'gmm' or 'hdbscan', not {self.method!r}")

    def cluster(self, codes, n_components, random_state, data=None):  # noqa: D102
        from sklearn.manifold import TSNE
        from sklearn.mixture import GaussianMixture
        from sklearn.neighbors import KNeighborsClassifier

        if self.space == "codes" or data is None:
            features = codes
        else:
            features = data.detach().cpu().numpy() if torch.is_tensor(data) else np.asarray(data)
        n = len(features)
        rng = np.random.default_rng(random_state)
        subset = (
            np.sort(rng.choice(n, self.max_samples, replace=False))
            if n > self.max_samples
            else np.arange(n)
        )
        perplexity = min(self.perplexity, (len(subset) - 1) / 3)
        embedding = TSNE(
            2, perplexity=perplexity, init="pca", random_state=random_state
        ).fit_transform(features[subset])
        if self.method == "hdbscan":
            labels = self._density_labels(embedding, n_components)
        else:
            labels = GaussianMixture(
                n_components, covariance_type="full", n_init=self.n_init, random_state=random_state
            ).fit_predict(embedding)
        if len(subset) < n:
            knn = KNeighborsClassifier(10).fit(features[subset], labels)
            labels = knn.predict(features)
        return moments_from_labels(codes, labels, n_components)

    def _density_labels(self, embedding: np.ndarray, n_components: int) -> np.ndarray:
        """HDBSCAN clusters of the embedding, at most ``n_components``, every point labelled."""
        from sklearn.cluster import HDBSCAN
        from sklearn.neighbors import KNeighborsClassifier

        size = self.min_cluster_size or max(5, round(15 * len(embedding) / 10_000))
        labels = HDBSCAN(min_cluster_size=int(size), copy=True).fit_predict(embedding)
        counts = np.bincount(labels[labels >= 0]) if (labels >= 0).any() else np.zeros(0)
        if len(counts) == 0:  # no structure found: one cluster
            return np.zeros(len(embedding), dtype=int)
        keep = np.argsort(-counts, kind="stable")[:n_components]  # largest first
        relabel = np.full(len(counts), -1)
        relabel[keep] = np.arange(len(keep))
        labels = np.where(labels >= 0, relabel[np.maximum(labels, 0)], -1)
        noise = labels < 0
        if noise.any():
            knn = KNeighborsClassifier(10).fit(embedding[~noise], labels[~noise])
            labels[noise] = knn.predict(embedding[noise])
        return labels


def moments_from_labels(
    codes: np.ndarray, labels: np.ndarray, n_components: int, reg: float = 1e-4
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weights, means and diagonal variances (+ ``reg``) of ``codes`` grouped by ``labels``.

    A cluster with fewer than two points keeps the overall mean and variance, with the weight
    of one point, so no component starts degenerate.
    """
    labels = np.asarray(labels)
    counts = np.bincount(labels, minlength=n_components).astype(float)
    loc = np.tile(codes.mean(0), (n_components, 1))
    var = np.tile(codes.var(0) + reg, (n_components, 1))
    for k in range(n_components):
        if counts[k] > 1:
            loc[k] = codes[labels == k].mean(0)
            var[k] = codes[labels == k].var(0) + reg
    counts = np.maximum(counts, 1.0)
    return counts / counts.sum(), loc, var


@dataclass
class RandomInit:
    """Keep the random initial values the model was constructed with (no pretraining)."""

    def __call__(self, model: Any, guide: Any, x: torch.Tensor, **kwargs: Any) -> None:  # noqa: D102
        return None
