"""The N2D start: a Gaussian mixture (or HDBSCAN) on a t-SNE or UMAP embedding."""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from pyroclust.infer.init.base import (
    LatentClusterStart,
    labels_of_few_rows,
    moments_from_labels,
    too_few_distinct_rows,
)
from pyroclust.infer.init.consensus import medoid_partition

#: Fewer rows than this are not embedded: k-means on the features labels them instead.
MIN_EMBEDDED_ROWS = 5


#: The most dimensions :func:`umap_dims` gives a UMAP embedding.
UMAP_MAX_DIMS = 10


def umap_dims(n_components: int) -> int:
    """The dimensions of a UMAP embedding clustered into ``n_components`` clusters: as many
    as the clusters (McConville et al.'s N2D embeds MNIST's 10 classes in 10 dimensions),
    between 2 and :data:`UMAP_MAX_DIMS`.

    Examples
    --------
    >>> umap_dims(1), umap_dims(7), umap_dims(1000)
    (2, 7, 10)
    """
    return int(min(max(2, int(n_components)), UMAP_MAX_DIMS))


def embedding_seeds(random_state: int | None, n: int) -> list[int | None]:
    """``n`` seeds for restarts of an embedding: ``random_state`` itself first, then seeds
    drawn from it (all None, i.e. fresh randomness, when ``random_state`` is None)."""
    if random_state is None:
        return [None] * n
    drawn = np.random.SeedSequence(int(random_state)).generate_state(max(n - 1, 0))
    return [int(random_state), *(int(s) % 2**31 for s in drawn)]


@contextmanager
def torch_threads_kept() -> Iterator[None]:
    """Restore torch's intra-op thread count on exit.

    UMAP (through numba's OpenMP threading layer, in pynndescent and its layout) sets the
    process's OpenMP thread count to every core when it first runs in parallel, and torch
    reads its own count from it: a fit started under ``torch.set_num_threads(1)`` went on
    with as many threads as cores after its UMAP start.

    Examples
    --------
    >>> before = torch.get_num_threads()
    >>> with torch_threads_kept():
    ...     torch.set_num_threads(1)
    >>> torch.get_num_threads() == before
    True
    """
    threads = torch.get_num_threads()
    try:
        yield
    finally:
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)


@dataclass
class ManifoldInit(LatentClusterStart):
    """Autoencoder pretraining, then a full-covariance Gaussian mixture on a t-SNE (2-D) or
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
    n_embeddings : int
        Embeddings under different seeds (the first under ``random_state`` itself, so 1
        is a single embedding), each clustered the same way; the start is the clustering
        that agrees best with the others (:func:`~pyroclust.infer.init.consensus.medoid_partition`,
        mean adjusted Rand index), chosen without labels. A UMAP layout now and then merges
        two classes (MNIST: 2 layouts of 8 seen, ACC 0.83 against 0.96-0.97); the medoid
        makes such a start less likely, not impossible, as the bad layouts tend to merge
        the same classes. Each costs one more embedding and mixture.
    n_dims : int, optional
        Dimensions of the embedding. By default 2 for t-SNE (whose Barnes-Hut method
        embeds in at most 3) and :func:`umap_dims` for UMAP: as many as the clusters
        (N2D's choice), between 2 and :data:`UMAP_MAX_DIMS`. On MNIST a 2-D layout merged two
        classes under 2 seeds of 8 (UMAP + GMM ACC 0.83 against 0.96-0.97); a 10-D layout
        under the same seeds did not (0.969).
    method : "gmm" or "hdbscan"
        How the embedding is clustered. ``"gmm"``: the mixture of :meth:`mixture`, which
        follows the model's weight prior: exactly ``n_components`` clusters under a prior
        that keeps every component in use, and under a stick-breaking or Dirichlet prior a
        variational Bayesian mixture with as many as the data show, up to
        ``n_components`` (the start of a model whose K is an upper bound).
        ``"hdbscan"``: HDBSCAN (scikit-learn), which finds its own number of
        clusters of any size, the right start when ``n_components`` is an upper bound and
        the cluster sizes are heavy-tailed (a fixed-K mixture splits the big clusters). Its
        noise points join the cluster of their nearest clustered neighbours; beyond
        ``n_components`` clusters the smallest are dissolved the same way; components left
        over start at the overall moments with the weight of one point.
    min_cluster_size : int, optional
        HDBSCAN's smallest cluster (default: 15 per 10,000 embedded points, at least 5).
    refine : callable, optional
        ``refine(data, labels, n_components, random_state) -> labels``, applied to the
        embedding's labels of every row before the start is set from them, e.g.
        :class:`~pyroclust.infer.init.SelfLabelling` (a classifier that learns them from
        randomly moved images and relabels every row). It sees the data rows, whichever
        ``space`` was embedded.
    align_epochs : int
        Epochs of SVI with the cluster site observed at the embedding's labels
        (:func:`~pyroclust.infer.init.fit_conditioned`) before free SVI. The labels come
        from the embedding, not from the codes, so a mixture on the codes alone does not
        reproduce them; these epochs move the codes until it does (0: skip). ``align_lr``
        is their learning rate (default ``lr``).

    Notes
    -----
    A model whose cluster site is in the guide (GMVAE's q(c | x), relaxed or enumerated) has
    no mixture on codes to start: with ``space="data"`` and ``pretrain_epochs=0`` the start
    is the embedding's labels alone, and the ``align_epochs`` train the labelled ELBO with
    q(c | x) pulled towards them by a classification term
    (:func:`~pyroclust.infer.init.fit_conditioned`), e.g.
    ``ManifoldInit(pretrain_epochs=0, align_epochs=20)``.

    Data without structure to embed start without an embedding, so that no input crashes
    t-SNE or UMAP: when every row of the embedded features is the same (constant data), all
    rows form one cluster (the other components start at the overall moments with the
    weight of one point, see :func:`~pyroclust.infer.init.moments_from_labels`); with fewer
    than ``MIN_EMBEDDED_ROWS`` (5) rows, or fewer distinct rows than components, k-means on
    the features labels them, with at most as many clusters as distinct rows.
    """

    space: str = "data"
    embedding: str = "tsne"
    perplexity: float = 30.0
    n_neighbors: int = 20
    max_samples: int | None = 10_000
    n_init: int = 5
    n_embeddings: int = 1
    n_dims: int | None = None
    method: str = "gmm"
    min_cluster_size: int | None = None
    refine: Callable[..., np.ndarray] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.space not in ("data", "codes"):
            raise ValueError(f"space must be 'data' or 'codes', not {self.space!r}")
        if self.embedding not in ("tsne", "umap"):
            raise ValueError(f"embedding must be 'tsne' or 'umap', not {self.embedding!r}")
        if self.method not in ("gmm", "hdbscan"):
            raise ValueError(f"method must be 'gmm' or 'hdbscan', not {self.method!r}")
        if int(self.n_embeddings) < 1:
            raise ValueError(f"n_embeddings must be at least 1, not {self.n_embeddings!r}")
        if self.n_dims is not None:
            limit = 3 if self.embedding == "tsne" else None
            if int(self.n_dims) < 1 or (limit is not None and int(self.n_dims) > limit):
                raise ValueError(
                    f"n_dims must be at least 1{' and at most 3 for t-SNE' if limit else ''}, "
                    f"not {self.n_dims!r}"
                )

    def start_mixture(self, model, guide, x, random_state=None):  # noqa: D102
        # the mixture on the embedding follows the model's weight prior: a copy of this
        # strategy holds it for the run, so the strategy itself (the user's) is unchanged
        bound = copy.copy(self)
        bound._weight_prior = getattr(model, "weights", None)
        return LatentClusterStart.start_mixture(bound, model, guide, x, random_state)

    def mixture(self, n_components: int, random_state: int | None) -> Any:
        """The unfitted scikit-learn mixture that clusters the embedding: the weight prior's
        (:meth:`~pyroclust.priors.WeightPrior.start_mixture`; a variational Bayesian mixture
        for the stick-breaking and Dirichlet priors, which leaves the components the data
        do not need empty) when the strategy runs for a model, else a full-covariance
        ``GaussianMixture`` with exactly ``n_components`` clusters."""
        from sklearn.mixture import GaussianMixture

        prior = getattr(self, "_weight_prior", None)
        if prior is not None and hasattr(prior, "start_mixture"):
            return prior.start_mixture(n_components, n_init=self.n_init, random_state=random_state)
        return GaussianMixture(
            n_components, covariance_type="full", n_init=self.n_init, random_state=random_state
        )

    def cluster(self, codes, n_components, random_state, data=None):  # noqa: D102
        return self.start(codes, n_components, random_state, data=data)[:3]

    def start(self, codes, n_components, random_state, data=None):  # noqa: D102
        labels = self.cluster_labels(codes, n_components, random_state, data=data)
        return (*moments_from_labels(codes, labels, n_components), labels)

    def data_labels(  # noqa: D102
        self, x: torch.Tensor, n_components: int, random_state: int | None
    ) -> np.ndarray:
        if self.space != "data":
            raise ValueError(
                "a model whose cluster site is in the guide has no codes to embed: use "
                "ManifoldInit(space='data')"
            )
        return self.cluster_labels(np.zeros((len(x), 0)), n_components, random_state, data=x)

    def embedding_dims(self, n_components: int | None = None) -> int:
        """The embedding's dimensions for ``n_components`` clusters (``n_dims``, else 2 for
        t-SNE and :func:`umap_dims` for UMAP)."""
        if self.n_dims is not None:
            return int(self.n_dims)
        if self.embedding == "tsne" or n_components is None:
            return 2
        return umap_dims(n_components)

    def embed(
        self, features: np.ndarray, random_state: int | None, n_components: int | None = None
    ) -> np.ndarray:
        """The embedding of ``features`` (rows) this strategy clusters into ``n_components``
        clusters, of :meth:`embedding_dims` dimensions."""
        # UMAP's spectral start needs more rows than dimensions
        dims = min(self.embedding_dims(n_components), max(2, len(features) - 2))
        if self.embedding == "umap":
            with warnings.catch_warnings():  # umap-learn warns that TensorFlow is absent
                warnings.simplefilter("ignore", ImportWarning)
                from umap import UMAP

            n_neighbors = max(2, min(self.n_neighbors, len(features) - 1))
            reducer = UMAP(
                n_components=dims,
                n_neighbors=n_neighbors,
                min_dist=0.0,
                random_state=random_state,
                n_jobs=1 if random_state is not None else -1,  # a seed makes UMAP serial
            )
            with torch_threads_kept():
                return np.asarray(reducer.fit_transform(features))
        from sklearn.manifold import TSNE

        perplexity = min(self.perplexity, (len(features) - 1) / 3)
        return TSNE(
            dims, perplexity=perplexity, init="pca", random_state=random_state
        ).fit_transform(features)

    def cluster_labels(
        self,
        codes: np.ndarray,
        n_components: int,
        random_state: int | None,
        data: torch.Tensor | np.ndarray | None = None,
    ) -> np.ndarray:
        """Hard labels in ``range(n_components)`` for every row, from the embedding."""
        from sklearn.neighbors import KNeighborsClassifier

        if self.space == "codes" or data is None:
            features = codes
        else:
            features = data.detach().cpu().numpy() if torch.is_tensor(data) else np.asarray(data)
        n = len(features)
        if n < MIN_EMBEDDED_ROWS or too_few_distinct_rows(features, n_components):
            return labels_of_few_rows(features, n_components, random_state)
        from pyroclust.datasets.streaming import sample_rows

        subset = sample_rows(n, self.max_samples, random_state)
        subset = np.arange(n) if subset is None else subset
        candidates = [
            self._embedded_labels(features[subset], n_components, seed)
            for seed in embedding_seeds(random_state, int(self.n_embeddings))
        ]
        labels = candidates[medoid_partition(candidates)]
        if len(subset) < n:
            knn = KNeighborsClassifier(10).fit(features[subset], labels)
            labels = knn.predict(features)
        if self.refine is not None and data is not None:
            labels = self.refine(data, np.asarray(labels), n_components, random_state)
        return np.asarray(labels)

    def _embedded_labels(
        self, features: np.ndarray, n_components: int, random_state: int | None
    ) -> np.ndarray:
        """The clustering of one embedding of ``features`` (every row labelled)."""
        embedding = self.embed(features, random_state, n_components)
        if self.method == "hdbscan":
            return self._density_labels(embedding, n_components)
        try:
            return np.asarray(self.mixture(n_components, random_state).fit_predict(embedding))
        except ValueError as err:  # a component collapsed on a clump of equal points
            if "ill-defined empirical covariance" not in str(err):
                raise
        from sklearn.cluster import KMeans

        warnings.warn(
            f"the Gaussian mixture of {n_components} components collapsed on the embedding "
            "(too few distinct points); its clusters are k-means' instead",
            RuntimeWarning,
            stacklevel=2,
        )
        return KMeans(n_components, n_init=10, random_state=random_state).fit_predict(embedding)

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
