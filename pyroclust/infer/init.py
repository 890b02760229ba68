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
import warnings
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
    params = [*guide.parameters(), *model.decoder.parameters()]

    def loss(idx: torch.Tensor) -> torch.Tensor:
        xb = x[idx]
        loc, _ = guide.encode(augment(xb) if augment is not None else xb)
        return -model.likelihood.log_prob(model.decoder(loc), xb).mean()

    return _adam_epochs(
        loss, params, len(x), x.device, epochs, batch_size, lr, random_state, progress, "pretrain"
    )


def _adam_epochs(
    loss: Callable[[torch.Tensor], torch.Tensor],
    params: list[torch.Tensor],
    n: int,
    device: torch.device,
    epochs: int,
    batch_size: int,
    lr: float,
    random_state: int | None,
    progress: bool,
    desc: str,
    per_row: float = 1.0,
) -> list[float]:
    """Adam on ``loss(idx)`` over shuffled mini-batches ``idx``; returns the mean loss per
    row of each epoch (``per_row`` turns a batch's loss into its mean per row)."""
    params = list({id(p): p for p in params}.values())
    optim = torch.optim.Adam(params, lr=lr)
    gen = torch.Generator()
    if random_state is not None:
        gen.manual_seed(int(random_state))
    steps = math.ceil(n / batch_size)
    losses = []
    with tqdm(total=epochs * steps, disable=not progress, desc=desc, unit="step") as bar:
        for _ in range(epochs):
            order = torch.randperm(n, generator=gen).to(device)
            total = 0.0
            for i in range(steps):
                idx = order[i * batch_size : (i + 1) * batch_size]
                value = loss(idx)
                optim.zero_grad(set_to_none=True)
                value.backward()
                optim.step()
                total += value.item() * per_row * len(idx) / n
                bar.update(1)
                bar.set_postfix(loss=f"{total:.4g}", refresh=False)
            losses.append(total)
    return losses


def labelled(model: Any, guide: Any) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """The pair ``(model, guide)`` as functions of ``(x, labels, data_size)`` in which the
    model's cluster site (``"assignment"``) is observed at ``labels`` (``poutine.condition``).
    """
    from pyro import poutine

    from pyroclust.sites import ASSIGNMENT

    def labelled_model(x: torch.Tensor, labels: torch.Tensor, data_size: int) -> Any:
        return poutine.condition(model, data={ASSIGNMENT: labels})(x, data_size=data_size)

    def labelled_guide(x: torch.Tensor, labels: torch.Tensor, data_size: int) -> Any:
        return guide(x, data_size=data_size)

    return labelled_model, labelled_guide


def fit_conditioned(
    model: Any,
    guide: Any,
    x: torch.Tensor,
    labels: torch.Tensor | np.ndarray,
    *,
    epochs: int = 5,
    batch_size: int = 256,
    lr: float = 1e-3,
    random_state: int | None = None,
    progress: bool = False,
) -> list[float]:
    r"""SVI with the model's cluster site observed at ``labels`` (a start's pseudo-labels).

    The model is run under ``poutine.condition(model, data={"assignment": labels[batch]})``,
    so its ELBO becomes :math:`\mathbb E_q[\log p(x\mid z) + \log p(z\mid y) + \log\pi_y
    - \log q(z\mid x)]` with y given: the encoder moves each code into its label's component
    and the components and weights fit the labelled codes. Afterwards the mixture on the
    codes reproduces the labels, and free SVI starts from the clustering instead of from a
    mixture on codes that the labels only summarised. Returns the mean loss of each epoch.
    """
    from pyroclust.infer.elbo import local_params, make_elbo

    labels = torch.as_tensor(labels, dtype=torch.long, device=x.device)
    if labels.shape != (len(x),):
        raise ValueError(f"labels must have shape ({len(x)},), got {tuple(labels.shape)}")
    if len(labels) and not (0 <= int(labels.min()) and int(labels.max()) < model.n_components):
        raise ValueError(f"labels must lie in [0, {model.n_components}), the model's components")
    conditioned, guide_fn = labelled(model, guide)
    n = len(x)
    with local_params():
        elbo = make_elbo(conditioned, x[:2], labels[:2], n)

        def loss(idx: torch.Tensor) -> torch.Tensor:  # the negative ELBO, scaled to n rows
            return elbo.differentiable_loss(conditioned, guide_fn, x[idx], labels[idx], n)

        return _adam_epochs(
            loss,
            [*model.parameters(), *guide.parameters()],
            n,
            x.device,
            epochs,
            batch_size,
            lr,
            random_state,
            progress,
            "align",
            per_row=1 / n,
        )


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
) -> np.ndarray:
    """Start the model's components at (loc, var) and its weights (and q's) at pi.

    When the weight prior says its component order matters (``ordered = True``: Zipf ranks,
    stick-breaking), the clusters are first sorted by decreasing weight, so the largest one
    becomes component 0 (rank 1). ``n_samples`` (the data points behind pi) lets a
    variational posterior over pi start as confident as the data warrant.

    Returns ``order``: component k of the model starts at cluster ``order[k]`` (the identity
    unless the prior is ordered), so a label j of the clusters is ``argsort(order)[j]`` in
    the model's numbering.
    """
    pi, loc, var = np.asarray(pi), np.asarray(loc), np.asarray(var)
    order = np.arange(len(pi))
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
    return order


@dataclass
class _LatentClusterInit:
    pretrain_epochs: int = 50
    batch_size: int = 256
    lr: float = 1e-3
    code_scale: float | None = 0.1
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None
    align_epochs: int = 0
    align_lr: float | None = None

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

    def start(
        self,
        codes: np.ndarray,
        n_components: int,
        random_state: int | None,
        data: torch.Tensor | np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        """(pi, loc, var, labels): the mixture to start from and the hard clustering it
        stands for. ``labels=None`` (here) means the mixture's own most probable component
        of each code; a strategy that clusters elsewhere than on the codes returns its
        labels, numbered as its clusters."""
        return (*self.cluster(codes, n_components, random_state, data=data), None)

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
        pi, loc, var, labels = self.start(codes, int(model.n_components), random_state, data=x)
        order = set_mixture(model, guide, pi, loc, var, n_samples=len(x))
        if self.code_scale is not None and hasattr(guide, "set_scale"):
            # sigma(x) starts at a fixed fraction of the codes' typical spread
            guide.set_scale(self.code_scale * float(np.sqrt(np.median(codes.var(0)))))
        if self.align_epochs > 0:
            if labels is None:  # the start mixture's own clustering, in the model's numbering
                from pyroclust.predictive import assignment_log_proba

                with torch.no_grad():
                    labels = assignment_log_proba(model, guide, x).argmax(-1)
            else:  # the clusters' labels, renumbered as set_mixture ordered the components
                labels = np.argsort(order)[labels]
            fit_conditioned(
                model,
                guide,
                x,
                labels,
                epochs=self.align_epochs,
                batch_size=self.batch_size,
                lr=self.align_lr if self.align_lr is not None else self.lr,
                random_state=random_state,
                progress=progress,
            )


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
    """Autoencoder pretraining, then a full-covariance Gaussian mixture on a 2-D t-SNE or
    UMAP embedding; the components start at the moments of the latent means in each cluster.

    This is the N2D recipe (McConville et al., 2021, "N2D: (Not Too) Deep Clustering via
    Clustering the Local Manifold of an Autoencoded Embedding") used as VaDE's starting
    point: a mixture fitted directly to the codes often merges two classes and splits a
    third, which SVI does not undo; a neighbourhood embedding separates them first.

    Parameters
    ----------
    space : "data" or "codes"
        Embed the data themselves (best on aligned images such as the digits and MNIST) or
        the autoencoder's latent means (cheaper in high dimension).
    embedding : "tsne" or "umap"
        scikit-learn's t-SNE (exact enough and quick below about 10,000 points) or UMAP
        (``umap-learn``; McInnes et al., 2018), which embeds all 70,000 MNIST images in
        about a minute on two cores, as N2D does.
    perplexity : float
        t-SNE perplexity.
    n_neighbors : int
        UMAP's neighbourhood size (``min_dist`` is 0, which packs clusters tightly).
    max_samples : int or None
        Larger data sets embed a random subset of this size (None: all points); the other
        points take the majority cluster of their 10 nearest embedded neighbours (in
        ``space``).
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
    align_epochs : int
        Epochs of SVI with the cluster site observed at the embedding's labels
        (:func:`fit_conditioned`) before free SVI. The labels come from the embedding, not
        from the codes, so a mixture on the codes alone does not reproduce them; these
        epochs move the codes until it does (0: skip). ``align_lr`` is their learning rate
        (default ``lr``).
    """

    space: str = "data"
    embedding: str = "tsne"
    perplexity: float = 30.0
    n_neighbors: int = 20
    max_samples: int | None = 10_000
    n_init: int = 5
    method: str = "gmm"
    min_cluster_size: int | None = None

    def __post_init__(self) -> None:
        if self.space not in ("data", "codes"):
            raise ValueError(f"space must be 'data' or 'codes', not {self.space!r}")
        if self.embedding not in ("tsne", "umap"):
            raise ValueError(f"embedding must be 'tsne' or 'umap', not {self.embedding!r}")
        if self.method not in ("gmm", "hdbscan"):
            raise ValueError(f"method must be 'gmm' or 'hdbscan', not {self.method!r}")

    def cluster(self, codes, n_components, random_state, data=None):  # noqa: D102
        return self.start(codes, n_components, random_state, data=data)[:3]

    def start(self, codes, n_components, random_state, data=None):  # noqa: D102
        labels = self.cluster_labels(codes, n_components, random_state, data=data)
        return (*moments_from_labels(codes, labels, n_components), labels)

    def embed(self, features: np.ndarray, random_state: int | None) -> np.ndarray:
        """The 2-D embedding of ``features`` (rows) this strategy clusters."""
        if self.embedding == "umap":
            with warnings.catch_warnings():  # umap-learn warns that TensorFlow is absent
                warnings.simplefilter("ignore", ImportWarning)
                from umap import UMAP

            n_neighbors = max(2, min(self.n_neighbors, len(features) - 1))
            reducer = UMAP(
                n_components=2,
                n_neighbors=n_neighbors,
                min_dist=0.0,
                random_state=random_state,
                n_jobs=1 if random_state is not None else -1,  # a seed makes UMAP serial
            )
            return np.asarray(reducer.fit_transform(features))
        from sklearn.manifold import TSNE

        perplexity = min(self.perplexity, (len(features) - 1) / 3)
        return TSNE(2, perplexity=perplexity, init="pca", random_state=random_state).fit_transform(
            features
        )

    def cluster_labels(
        self,
        codes: np.ndarray,
        n_components: int,
        random_state: int | None,
        data: torch.Tensor | np.ndarray | None = None,
    ) -> np.ndarray:
        """Hard labels in ``range(n_components)`` for every row, from the embedding."""
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
            if self.max_samples is not None and n > self.max_samples
            else np.arange(n)
        )
        embedding = self.embed(features[subset], random_state)
        if self.method == "hdbscan":
            labels = self._density_labels(embedding, n_components)
        else:
            labels = GaussianMixture(
                n_components, covariance_type="full", n_init=self.n_init, random_state=random_state
            ).fit_predict(embedding)
        if len(subset) < n:
            knn = KNeighborsClassifier(10).fit(features[subset], labels)
            labels = knn.predict(features)
        return np.asarray(labels)

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
