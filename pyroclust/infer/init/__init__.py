"""Initialisation strategies for mixture models: pluggable objects called before SVI.

The VaDE paper's default (:class:`GMMInit`): pretrain encoder and decoder as an autoencoder,
fit a Gaussian mixture (scikit-learn) to the latent means, and start the model's components
and weights from it. :class:`KMeansInit` uses k-means instead, :class:`ManifoldInit` clusters
a t-SNE or UMAP embedding (the N2D recipe, far better on small image sets) and
:class:`RandomInit` leaves the constructor's random values.

A strategy is any callable ``strategy(model, guide, x, *, random_state, progress)``; the
built-in ones also take ``session=`` (a :class:`~pyroclust.infer.FitSession`), through which
each of their stages (``"pretrain"``, ``"start"``, ``"align"``) is checkpointed and resumed.
They need the model to have ``decoder``, ``likelihood``, ``components``
(:class:`~pyroclust.components.ComponentFamily`) and ``weights``
(:class:`~pyroclust.priors.WeightPrior`), and the guide to have ``encode(x) -> (loc, scale)``.

One module per strategy: :mod:`.base` (the protocol, the shared latent-cluster start and its
helpers), :mod:`.pretrain`, :mod:`.align`, :mod:`.gmm`, :mod:`.kmeans`, :mod:`.manifold`,
:mod:`.random`; :mod:`.selflabel` refines a start's labels (:class:`SelfLabelling`).
"""

from __future__ import annotations

from typing import Any

from pyroclust.infer.init.align import (
    fit_conditioned,
    labelled,
    labelled_loss,
    mixture_log_posterior,
)
from pyroclust.infer.init.base import (
    InitStrategy,
    LatentClusterStart,
    _LatentClusterInit,
    encode_means,
    moments_from_labels,
    set_mixture,
)
from pyroclust.infer.init.gmm import GMMInit
from pyroclust.infer.init.kdvae import MixtureOfAutoencodersInit
from pyroclust.infer.init.kmeans import KMeansInit
from pyroclust.infer.init.layerwise import LayerwiseStart, SiteRange
from pyroclust.infer.init.manifold import ManifoldInit
from pyroclust.infer.init.pretrain import pretrain_autoencoder, reconstruction_loss
from pyroclust.infer.init.random import RandomInit
from pyroclust.infer.init.selflabel import SelfLabelling
from pyroclust.infer.init.sites import SitesAgreement


def has_vade_clusters(model: Any, guide: Any = None) -> bool:
    """Whether ``model`` has VaDE's cluster structure, which the latent-cluster starts need.

    That is: one cluster site enumerated in the model (read from ``model.cluster_sites``;
    a model without that attribute counts when it has ``n_components``), components that
    can start at given moments (``set_from_moments``), a weight prior (``weights`` with
    ``set_weights``) and a ``decoder``; and, when given, a guide with ``encode``.
    """
    from pyroclust.structure import ENUMERATE_MODEL, cluster_sites

    sites = cluster_sites(model)
    if len(sites) != 1 or getattr(sites[0], "inference", None) != ENUMERATE_MODEL:
        return False
    components = getattr(model, "components", None)
    weights = getattr(model, "weights", None)
    return (
        callable(getattr(components, "set_from_moments", None))
        and callable(getattr(weights, "set_weights", None))
        and getattr(model, "decoder", None) is not None
        and (guide is None or callable(getattr(guide, "encode", None)))
    )


def default_init(model: Any, guide: Any = None) -> InitStrategy:
    """The estimator's start when none is given: :class:`GMMInit` (the VaDE paper's) for a
    model with VaDE's cluster structure (:func:`has_vade_clusters`), else
    :class:`RandomInit`."""
    return GMMInit() if has_vade_clusters(model, guide) else RandomInit()


__all__ = [
    "GMMInit",
    "InitStrategy",
    "KMeansInit",
    "LatentClusterStart",
    "LayerwiseStart",
    "ManifoldInit",
    "MixtureOfAutoencodersInit",
    "RandomInit",
    "SelfLabelling",
    "SiteRange",
    "SitesAgreement",
    "_LatentClusterInit",
    "default_init",
    "encode_means",
    "fit_conditioned",
    "has_vade_clusters",
    "labelled",
    "labelled_loss",
    "mixture_log_posterior",
    "moments_from_labels",
    "pretrain_autoencoder",
    "reconstruction_loss",
    "set_mixture",
]
