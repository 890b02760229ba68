"""What every initialisation strategy shares: the protocol, and the latent-cluster start.

A strategy is any callable ``strategy(model, guide, x, *, random_state, progress)``; those
that also take ``session=`` (a :class:`~pyroclust.infer.FitSession`) run each of their stages
through it, so an interrupted start resumes where it stopped.

:class:`LatentClusterStart` is the shape of the built-in starts: pretrain an autoencoder
(:func:`~pyroclust.infer.init.pretrain_autoencoder`), cluster its codes (each subclass its
own way), start the model's components and weights at that clustering
(:func:`set_mixture`), optionally align the model to its labels
(:func:`~pyroclust.infer.init.fit_conditioned`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

from pyroclust.infer.init.align import fit_conditioned
from pyroclust.infer.init.pretrain import pretrain_autoencoder
from pyroclust.infer.session import FitSession
from pyroclust.infer.trainer import EarlyStopping

START_STEP = "start"


@runtime_checkable
class InitStrategy(Protocol):
    """An initialisation strategy: changes ``model`` and ``guide`` in place before SVI."""

    def __call__(
        self,
        model: Any,
        guide: Any,
        x: torch.Tensor,
        *,
        random_state: int | None = None,
        progress: bool = False,
        session: FitSession | None = None,
    ) -> None: ...


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


def labels_of_few_rows(
    features: np.ndarray, n_components: int, random_state: int | None = None
) -> np.ndarray:
    """Labels for data with too few distinct rows to fit a mixture or an embedding: one
    cluster when every row is the same (constant data, a single row), else k-means with at
    most as many clusters as distinct rows."""
    n_distinct = len(np.unique(features, axis=0))
    k = min(int(n_components), n_distinct)
    if k <= 1:
        return np.zeros(len(features), dtype=int)
    from sklearn.cluster import KMeans

    return KMeans(k, n_init=10, random_state=random_state).fit_predict(features)


def too_few_distinct_rows(features: np.ndarray, n_components: int) -> bool:
    """Whether ``features`` has fewer distinct rows than ``n_components`` (or than 2), so
    that a mixture or k-means with that many clusters is degenerate."""
    return len(np.unique(features, axis=0)) < max(2, int(n_components))


@dataclass
class LatentClusterStart:
    """Pretrain, cluster the codes, start the mixture there, align (see the module).

    Subclasses implement :meth:`cluster` (or :meth:`start`, to return their own labels).

    Parameters
    ----------
    pretrain_epochs : int
        Autoencoder epochs (0: none, use the current encoder).
    batch_size, lr : int, float
        Of pretraining (and alignment).
    code_scale : float, optional
        sigma(x) of the guide starts at this fraction of the codes' typical spread.
    augment : callable, optional
        Augmentation of the encoder's input in pretraining.
    pretrain_early_stopping : EarlyStopping, optional
        Stop pretraining when the reconstruction loss per row has not improved by its
        ``min_delta`` for ``patience`` epochs (``pretrain_epochs`` is then an upper bound).
    align_epochs : int
        Epochs of SVI with the cluster site observed at the start's labels
        (:func:`~pyroclust.infer.init.fit_conditioned`) before free SVI (0: skip);
        ``align_lr`` is their learning rate (default ``lr``), ``align_alpha`` the weight of
        the classification term that makes the model's clustering reproduce the labels
        (:func:`~pyroclust.infer.init.labelled_loss`; 0: the labelled ELBO alone).
    align_until : float, optional
        Stop the alignment once this share of the rows is assigned to its label by the
        model (:class:`~pyroclust.infer.init.align.AgreementStop`); None: run
        ``align_epochs``.
    """

    pretrain_epochs: int = 50
    batch_size: int = 256
    lr: float = 1e-3
    code_scale: float | None = 0.1
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None
    align_epochs: int = 0
    align_lr: float | None = None
    pretrain_early_stopping: EarlyStopping | None = None
    align_alpha: float = 1.0
    align_until: float | None = None

    def __post_init__(self) -> None:
        if self.align_until is not None and not 0.0 < float(self.align_until) <= 1.0:
            raise ValueError(f"align_until must lie in (0, 1], not {self.align_until!r}")

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
        labels, numbered as its clusters.

        Codes with fewer distinct rows than components (constant data, a single row) are
        not given to :meth:`cluster`: they start as one cluster, or as k-means with as many
        clusters as distinct rows (:func:`labels_of_few_rows`); the other components start
        at the overall moments with the weight of one point."""
        if too_few_distinct_rows(codes, n_components):
            labels = labels_of_few_rows(codes, n_components, random_state)
            return (*moments_from_labels(codes, labels, n_components), labels)
        return (*self.cluster(codes, n_components, random_state, data=data), None)

    def data_labels(
        self, x: torch.Tensor, n_components: int, random_state: int | None
    ) -> np.ndarray:
        """Hard labels in ``range(n_components)`` of the rows of ``x`` found without codes:
        the start of a model whose cluster site is in the guide (GMVAE), which has no
        mixture on codes to set. Only strategies that cluster the data itself have them."""
        raise ValueError(
            f"{type(self).__name__} clusters an autoencoder's codes; a model whose cluster "
            "site is in the guide needs a start that clusters the data, such as "
            "ManifoldInit(space='data', pretrain_epochs=0, align_epochs=...)"
        )

    def start_mixture(
        self, model: Any, guide: Any, x: torch.Tensor, random_state: int | None = None
    ) -> torch.Tensor | np.ndarray | None:
        """Set the start mixture (and the guide's scale) from the codes of ``x``; return the
        labels the alignment conditions on, in the model's numbering (None without
        alignment).

        A model whose cluster site is in the guide has no mixture on codes: its start is
        the labels of :meth:`data_labels`, which the alignment trains q(c | x) towards."""
        from pyroclust.structure import cluster_site

        if cluster_site(model).in_guide:
            labels = self.data_labels(x, int(model.n_components), random_state)
            return labels if self.align_epochs > 0 else None
        codes = encode_means(guide, x)
        pi, loc, var, labels = self.start(codes, int(model.n_components), random_state, data=x)
        order = set_mixture(model, guide, pi, loc, var, n_samples=len(x))
        if self.code_scale is not None and hasattr(guide, "set_scale"):
            # sigma(x) starts at a fixed fraction of the codes' typical spread
            guide.set_scale(self.code_scale * float(np.sqrt(np.median(codes.var(0)))))
        if self.align_epochs <= 0:
            return None
        if labels is None:  # the start mixture's own clustering, in the model's numbering
            from pyroclust.infer.elbo import local_params
            from pyroclust.predictive import assignment_log_proba

            with local_params(), torch.no_grad():
                return assignment_log_proba(model, guide, x).argmax(-1)
        # the clusters' labels, renumbered as set_mixture ordered the components
        return np.argsort(order)[labels]

    def __call__(
        self,
        model: Any,
        guide: Any,
        x: torch.Tensor,
        *,
        random_state: int | None = None,
        progress: bool = False,
        session: FitSession | None = None,
    ) -> None:
        """Run the start on ``model`` and ``guide`` with the data ``x`` of shape
        (n_samples, n_features): the stages ``"pretrain"``, ``"start"`` and ``"align"`` of
        ``session`` (a fresh one without a checkpoint when None)."""
        if session is None:
            session = FitSession(
                model, guide, random_state=random_state, progress=progress, device=x.device
            )
        if self.pretrain_epochs > 0:
            from pyroclust.structure import cluster_site

            if cluster_site(model).in_guide:
                raise ValueError(
                    "autoencoder pretraining needs a model whose cluster site it enumerates "
                    "(VaDE's shape); with the cluster site in the guide, set pretrain_epochs=0"
                )
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
                session=session,
                early_stopping=self.pretrain_early_stopping,
            )
        labels = session.step(START_STEP, lambda: self.start_mixture(model, guide, x, random_state))
        if self.align_epochs > 0:
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
                session=session,
                alpha=self.align_alpha,
                until=self.align_until,
            )


#: The older private name of :class:`LatentClusterStart`.
_LatentClusterInit = LatentClusterStart
