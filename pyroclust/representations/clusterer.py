"""A representation learned by SVI, clustered post hoc: :class:`RepresentationClusterer`.

It is :class:`~pyroclust.posthoc.PostHocClustering` whose representation is a VAE or an
autoencoder that it fits first (:func:`fit_representation`), so the clustering, its options,
``predict`` and the validation of the data are PostHocClustering's.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import TransformerMixin
from sklearn.utils.validation import check_is_fitted

from pyroclust import zoo
from pyroclust.estimator import Clusterer
from pyroclust.exceptions import DataError
from pyroclust.infer.elbo import seed_everything
from pyroclust.infer.init import RandomInit
from pyroclust.models.vae import check_kl_weights
from pyroclust.posthoc import PostHocClustering, validate_input

__all__ = ["RepresentationClusterer", "fit_representation"]


def fit_representation(
    model: Any,
    guide: Any,
    X: ArrayLike,
    *,
    epochs: int = 60,
    batch_size: int = 512,
    lr: float = 1e-3,
    device: str = "auto",
    random_state: int | None = None,
    progress: bool = True,
    chunk_size: int | None = None,
) -> Clusterer:
    """Fit a representation model (a VAE, an autoencoder) by SVI from its random start.

    Parameters
    ----------
    model, guide : PyroModule
        A pair without a cluster site, e.g. from ``zoo.make("vae", ...)``; they are copied,
        not trained in place.
    X : array-like of shape (n_samples, n_features)
        In memory, or on disk (a memory map or an
        :class:`~pyroclust.datasets.streaming.ArrayStream`): then trained on ``chunk_size``
        rows at a time, never loaded whole.
    epochs, batch_size, lr, device, random_state, progress, chunk_size
        Passed to :class:`~pyroclust.estimator.Clusterer` (defaults: the 60 epochs, batches
        of 512 and learning rate 1e-3 of Agarap & Azcarraga, 2020).

    Returns
    -------
    Clusterer
        The fitted estimator: ``transform(X)`` gives the codes E_q[z | x], ``reconstruct(X)``
        the reconstructions.
    """
    check_kl_weights(model, guide)
    return Clusterer(
        model,
        guide,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        init=RandomInit(),
        device=device,
        random_state=random_state,
        progress=progress,
        chunk_size=chunk_size,
    ).fit(X)


class RepresentationClusterer(TransformerMixin, PostHocClustering):
    """Fit a representation model by SVI, then cluster its latent codes post hoc.

    ``fit`` trains a representation (a registry name built for the data's width, or a copy of
    a given ``model``/``guide`` pair) with :func:`fit_representation` and clusters the codes
    ``E_q[z | x]`` of the training data as :class:`~pyroclust.posthoc.PostHocClustering`
    does; ``predict`` encodes new data and labels it with the fitted clusterer. With
    ``model="vae"`` this is the baseline of Agarap & Azcarraga (2020) (k-means on VAE codes);
    with ``model="ae"`` and ``clusterer="gmm"`` it is "AE + GMM".

    Parameters
    ----------
    model : str or PyroModule, default="vae"
        A key of :data:`pyroclust.zoo.ZOO` without a cluster site (``"vae"``, ``"ae"``), built
        in ``fit`` for the data's width with ``model_options`` (the likelihood follows the
        data: Bernoulli in [0, 1], Gaussian otherwise); or a built model, with its ``guide``.
    guide : PyroModule, optional
        The guide of a built ``model``; None with a registry name.
    clusterer : {"kmeans", "gmm", "dbscan"} or object, default="kmeans"
        See :class:`~pyroclust.posthoc.PostHocClustering`.
    n_clusters : int, default=10
    model_options : dict, optional
        Keyword options of the registry builder (``{"latent_dim": 2, "hidden": (8,)}``).
    epochs, batch_size, lr, device, progress
        Passed to :func:`fit_representation`.
    random_state : int, optional
        Seeds the networks' initial weights, the SVI run and the clusterer.
    **options
        Further keyword options of the clusterer (e.g. ``eps=0.5`` for DBSCAN).

    Attributes
    ----------
    estimator_ : Clusterer
        The fitted representation (``estimator_.transform(X)`` gives the codes).
    clusterer_ : object
        The fitted clusterer of the codes.
    labels_ : ndarray of shape (n_samples,)
        Cluster of each training row (``-1``: DBSCAN noise).
    n_clusters_ : int
    n_features_in_ : int
        Width of the data (not of the codes).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).random((60, 16))
    >>> rc = RepresentationClusterer("vae", n_clusters=3, epochs=1, progress=False,
    ...                              model_options={"latent_dim": 2, "hidden": (8,)},
    ...                              random_state=0).fit(X)
    >>> rc.labels_.shape, rc.transform(X).shape
    ((60,), (60, 2))
    """

    def __init__(
        self,
        model: str | Any = "vae",
        guide: Any = None,
        *,
        clusterer: str | Any = "kmeans",
        n_clusters: int = 10,
        model_options: dict[str, Any] | None = None,
        epochs: int = 60,
        batch_size: int = 512,
        lr: float = 1e-3,
        device: str = "auto",
        random_state: int | None = None,
        progress: bool = True,
        **options: Any,
    ) -> None:
        self.model = model
        self.guide = guide
        self.clusterer = clusterer
        self.n_clusters = n_clusters
        self.model_options = model_options
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.device = device
        self.random_state = random_state
        self.progress = progress
        self._options = options

    def _pair(self, X: np.ndarray) -> tuple[Any, Any]:
        """The (model, guide) prototype to train: built from the registry, or the given pair."""
        if not isinstance(self.model, str):
            if self.guide is None:
                raise DataError("a built model needs its guide: RepresentationClusterer(m, g)")
            return self.model, self.guide
        if self.guide is not None:
            raise DataError(f"model={self.model!r} is a registry name; give no guide with it")
        try:
            entry = zoo.get(self.model)
        except ValueError as err:
            raise DataError(str(err)) from None
        options = dict(self.model_options or {})
        if entry.accepts("likelihood"):
            options.setdefault("likelihood", zoo.likelihood_for(X))
        seed_everything(self.random_state)  # the networks' initial weights: a repeatable fit
        model, guide = zoo.make(entry.name, X.shape[1], **options)
        if getattr(model, "n_components", None) is not None:
            raise DataError(
                f"{entry.name!r} has a cluster site; fit it with pyroclust.Clusterer instead"
            )
        return model, guide

    def _codes(self, X: ArrayLike, *, reset: bool) -> np.ndarray:
        """Codes of the validated data (``n_features_in_`` is the data's width)."""
        X = validate_input(self, X, reset=reset)
        return self.estimator_.transform(X)

    def fit(self, X: ArrayLike, y: Any = None) -> RepresentationClusterer:
        """Fit the representation and the clusterer to ``X`` of shape (n_samples, n_features).

        ``y`` is ignored. Returns self.
        """
        self._check_n_clusters()
        X = validate_input(self, X, reset=True)
        model, guide = self._pair(X)
        self.estimator_ = fit_representation(
            model,
            guide,
            X,
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            device=self.device,
            random_state=self.random_state,
            progress=self.progress,
        )
        self._fit_codes(self.estimator_.transform(X))
        return self

    def transform(self, X: ArrayLike) -> np.ndarray:
        """Latent codes E_q[z | x]: ndarray of shape (n_samples, latent_dim)."""
        check_is_fitted(self, "estimator_")
        return self._codes(X, reset=False)

    def reconstruct(self, X: ArrayLike) -> np.ndarray:
        """Reconstructions E[x | z = E_q[z | x]]: ndarray of shape (n_samples, n_features)."""
        check_is_fitted(self, "estimator_")
        return self.estimator_.reconstruct(validate_input(self, X, reset=False))
