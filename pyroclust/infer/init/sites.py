"""Several cluster sites at once: the alignment with every site observed at its own labels,
and the free-SVI objective that keeps every site at its start.

A model with one cluster site uses :func:`~pyroclust.infer.init.fit_conditioned` and
:class:`~pyroclust.regularizers.StartAgreement`; a model with several (VLAC's one per mixture
layer, ``"y2"``, ``"y3"``...) uses these, which treat each site as those treat the one. The
labels of the sites are the columns of one integer array of shape (n_samples, n_sites), in
the order of ``structure.cluster_sites(model)``. Every site must be held by the guide
(enumerated or relaxed): the classification term reads each site's q(y | x) from the logits
the guide draws it from.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from pyroclust.infer.init.align import (
    ALIGN_STAGE,
    AgreementStop,
    _KeepLogits,
    _Observed,
    site_value,
)
from pyroclust.infer.session import FitSession
from pyroclust.regularizers import StartAgreement


def guide_sites(model: Any) -> tuple[Any, ...]:
    """The model's cluster sites (:func:`pyroclust.structure.cluster_sites`), each held by
    the guide; ``ValueError`` for a model without one or with a site enumerated in the
    model (whose posterior is not a logit the guide draws from)."""
    from pyroclust.structure import cluster_sites

    sites = cluster_sites(model)
    if not sites:
        raise ValueError("the model has no cluster site to start")
    outside = [s.name for s in sites if not s.in_guide]
    if outside:
        raise ValueError(
            f"cluster sites {outside} are enumerated in the model: a start of several sites "
            "needs every site held by the guide (use ManifoldInit for a VaDE-shaped model)"
        )
    return sites


def check_site_labels(labels: Any, sites: Sequence[Any], n_samples: int) -> torch.Tensor:
    """``labels`` as a long tensor of shape (n_samples, n_sites), each column within its
    site's components; ``ValueError`` otherwise."""
    labels = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    if labels.shape != (n_samples, len(sites)):
        raise ValueError(
            f"labels must have shape ({n_samples}, {len(sites)}): one column per cluster site "
            f"{[s.name for s in sites]}, got {tuple(labels.shape)}"
        )
    for j, site in enumerate(sites):
        column = labels[:, j]
        if len(column) and not (0 <= int(column.min()) and int(column.max()) < site.n_components):
            raise ValueError(
                f"labels of site {site.name!r} must lie in [0, {site.n_components}), got "
                f"[{int(column.min())}, {int(column.max())}]"
            )
    return labels


class _SitesLogits:
    """Run a guide keeping the logits of q(y | x) at every site of ``sites``; with
    ``labels``, every site is observed at its column and hidden from the objective (the
    labelled guide of Kingma et al., 2014, eq. 6)."""

    def __init__(self, guide: Any, sites: Sequence[Any]) -> None:
        self.guide, self.sites = guide, tuple(sites)
        self.logits: dict[str, torch.Tensor] = {}

    def run(self, labels: torch.Tensor | None, *args: Any, **kwargs: Any) -> Any:
        from pyro import poutine

        fn = self.guide
        if labels is not None:
            for j, site in enumerate(self.sites):
                fn = _Observed(site.name, site_value(site, labels[:, j]))(fn)
        keeps = [_KeepLogits(site) for site in self.sites]
        hidden = [site.name for site in self.sites] if labels is not None else []
        with poutine.block(hide=hidden):
            for keep in keeps:
                keep.__enter__()
            try:
                value = fn(*args, **kwargs)
            finally:
                for keep in reversed(keeps):
                    keep.__exit__(None, None, None)
        self.logits = {site.name: keep.logits for site, keep in zip(self.sites, keeps)}
        return value

    def classification(self, labels: torch.Tensor) -> torch.Tensor:
        r""":math:`\sum_{sites} \sum_n \log q(y_s = \ell_{ns} \mid x_n)` over the batch the
        guide last ran on."""
        total = 0.0
        for j, site in enumerate(self.sites):
            logits = self.logits.get(site.name)
            if logits is None:
                raise RuntimeError(f"the guide did not sample the cluster site {site.name!r}")
            log_q = torch.log_softmax(logits, -1)
            total = total + log_q.gather(-1, labels[:, j : j + 1]).sum()
        return total  # type: ignore[return-value]


def labelled_sites(model: Any, guide: Any) -> tuple[Callable[..., Any], _SitesLogits, Any]:
    """``(model_fn, guide_fn, sites)``: the pair as functions of ``(x, labels, data_size)``
    with every cluster site observed at its column of ``labels`` (n, n_sites), in the model
    (a relaxed site's Concrete density at a vertex left out) and in the guide (hidden from
    the objective, its logits kept for the classification term)."""
    sites = guide_sites(model)

    def labelled_model(x: torch.Tensor, labels: torch.Tensor, data_size: int) -> Any:
        fn = model
        for j, site in enumerate(sites):
            value = site_value(site, labels[:, j])
            fn = _Observed(site.name, value, counted=not site.relaxed)(fn)
        return fn(x, data_size=data_size)

    tapped = _SitesLogits(guide, sites)

    def labelled_guide(x: torch.Tensor, labels: torch.Tensor, data_size: int) -> Any:
        return tapped.run(labels, x, data_size=data_size)

    labelled_guide.tapped = tapped  # type: ignore[attr-defined]
    return labelled_model, labelled_guide, sites


def labelled_sites_loss(
    model: Any, guide: Any, x: torch.Tensor, labels: torch.Tensor, *, alpha: float = 1.0
) -> Callable[..., torch.Tensor]:
    r"""The negative ELBO with every cluster site observed at its labels, minus
    :math:`\alpha \sum_s \sum_n \log q(y_s = \ell_{ns} \mid x_n)` (the classification term of
    :func:`~pyroclust.infer.init.labelled_loss`, once per site), as a trainer loss callable
    ``(model, guide, x, labels, data_size=n)``; the batch's sums are scaled to
    ``data_size`` rows, as the ELBO's."""
    from pyroclust.infer.trainer import auto_elbo

    alpha = float(alpha)
    if not alpha >= 0:
        raise ValueError(f"alpha must be >= 0, got {alpha}")
    conditioned, guide_fn, _ = labelled_sites(model, guide)
    elbo = auto_elbo(conditioned, guide_fn, x[:2], labels[:2], len(x))
    tapped = guide_fn.tapped

    def loss(
        model_: Any, guide_: Any, xb: torch.Tensor, yb: torch.Tensor, *, data_size: int
    ) -> torch.Tensor:
        value = elbo.differentiable_loss(conditioned, guide_fn, xb, yb, data_size)
        if alpha == 0:
            return value
        return value - alpha * tapped.classification(yb) * data_size / len(xb)

    return loss


def fit_sites_conditioned(
    model: Any,
    guide: Any,
    x: torch.Tensor,
    labels: Any,
    *,
    epochs: int = 5,
    batch_size: int = 256,
    lr: float = 1e-3,
    random_state: int | None = None,
    progress: bool = False,
    session: FitSession | None = None,
    alpha: float = 1.0,
    until: float | None = None,
) -> list[float]:
    """SVI with every cluster site observed at its column of ``labels`` (n_samples,
    n_sites) and q(y | x) of each site trained towards it (:func:`labelled_sites_loss`): the
    alignment of :func:`~pyroclust.infer.init.fit_conditioned`, for several sites. It runs
    as the training stage ``"align"`` of ``session``. With ``until`` (in (0, 1]) each epoch
    records the least share of rows any site assigns to its label (``"agreement"``), and
    the stage stops once it reaches ``until``
    (:class:`~pyroclust.infer.init.align.AgreementStop`; ``epochs`` is then an upper bound).

    Returns
    -------
    list of float
        The mean negative labelled ELBO per row of each epoch.
    """
    sites = guide_sites(model)
    labels = check_site_labels(labels, sites, len(x)).to(x.device)
    callbacks = []
    if until is not None:
        callbacks.append(
            AgreementStop(x, labels, until, labels_of=_sites_argmax, random_state=random_state)
        )
    session = session if session is not None else FitSession(model, guide, device=x.device)
    trainer = session.train(
        ALIGN_STAGE,
        (x, labels),
        loss=labelled_sites_loss(model, guide, x, labels, alpha=alpha),
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        random_state=random_state,
        progress=progress,
        callbacks=callbacks,
    )
    return [-row["elbo"] for row in trainer.history]


def _sites_argmax(model: Any, guide: Any, x: torch.Tensor) -> torch.Tensor:
    """:func:`sites_clustering` as a tensor on the device of ``x`` (AgreementStop's reading)."""
    return torch.as_tensor(sites_clustering(model, guide, x), device=x.device)


def sites_clustering(model: Any, guide: Any, x: torch.Tensor) -> np.ndarray:
    """The most probable cluster of every row at every cluster site, of shape
    (n_samples, n_sites) in the order of the model's sites; the random streams are left
    as they were."""
    from pyroclust.predictive import cluster_log_proba

    sites = guide_sites(model)
    with torch.random.fork_rng(), torch.no_grad():
        columns = [
            cluster_log_proba(model, guide, x, site=site.name).argmax(1).cpu().numpy()
            for site in sites
        ]
    return np.stack(columns, 1).astype(np.int64)


@dataclass(frozen=True)
class SitesAgreement(StartAgreement):
    r""":class:`~pyroclust.regularizers.StartAgreement` at every cluster site: an objective
    for free SVI that refines a start of several sites rather than forgetting it.

    .. math:: \mathcal L = -\mathrm{ELBO} - \lambda \sum_s \sum_n \log q(y_s = s_{ns} \mid x_n)

    where :math:`s_{ns}` is the started model's cluster of row n at site s
    (:func:`sites_clustering`, read when the estimator binds the objective, after the
    start) and :math:`q(y_s \mid x)` the guide's posterior at that site, read from the
    ELBO's own run of the guide. With one site it is ``StartAgreement``.

    Pass it as the estimator's ``loss``: ``Clusterer(loss=SitesAgreement(1.0))``.

    Parameters
    ----------
    weight : float
        :math:`\lambda \ge 0`, per data point and site (0: the plain ELBO).
    num_particles : int
        Particles of the ELBO.
    """

    # the fields (weight, num_particles) and their checks are StartAgreement's

    def bind(  # type: ignore[override]
        self, model: Any, guide: Any, x: torch.Tensor, start_labels: Any = None, **_: Any
    ) -> tuple[Any, tuple[torch.Tensor, torch.Tensor]]:
        """(the loss callable ``(model, guide, x, labels, data_size=n)``, its data
        ``(x, labels)``), ``labels`` of shape (n_samples, n_sites) the started model's
        clustering at every site (``start_labels``, the estimator's first-site labels, is
        its first column and is not needed)."""
        from pyroclust.infer.elbo import make_elbo

        sites = guide_sites(model)
        labels = torch.as_tensor(sites_clustering(model, guide, x), device=x.device)
        elbo = make_elbo(
            model, x[:2], guide=guide, data_size=len(x), num_particles=self.num_particles
        )
        weight = self.weight

        def loss(
            model_: Any, guide_: Any, xb: torch.Tensor, yb: torch.Tensor, *, data_size: int
        ) -> torch.Tensor:
            if weight == 0:
                return elbo.differentiable_loss(model_, guide_, xb, data_size=data_size)
            tapped = _SitesLogits(guide_, sites)

            def guide_fn(*args: Any, **kwargs: Any) -> Any:
                return tapped.run(None, *args, **kwargs)

            value = elbo.differentiable_loss(model_, guide_fn, xb, data_size=data_size)
            return value - weight * tapped.classification(yb) * data_size / len(xb)

        return loss, (x, labels)


__all__ = [
    "SitesAgreement",
    "check_site_labels",
    "fit_sites_conditioned",
    "guide_sites",
    "labelled_sites",
    "labelled_sites_loss",
    "sites_clustering",
]
