r"""Free bits (Kingma et al., 2016, "Improved Variational Inference with Inverse
Autoregressive Flow", sec. C.8): the negative ELBO with a floor under each code's KL, so that
no latent layer can collapse onto its prior.

A ladder of latent layers (VLAC, a VLAE) trained on the plain ELBO tends to put everything in
the layer nearest the data and leave the others at their prior (no active unit): the ladder
then has nothing to disentangle. With free bits, each floored site's KL, averaged over the
batch, counts as at least ``nats``:

.. math:: \mathcal L = -\sum_n \mathbb E_q \log p(x_n \mid z_n)
          + \sum_{s \in S} N \max\Big(\lambda, \frac{1}{B} \sum_{n \in \text{batch}}
            \mathrm{KL}_{s,n}\Big) + \text{(every other term of } -\mathrm{ELBO})

with :math:`\mathrm{KL}_{s,n} = \log q(s_n \mid \cdot) - \log p(s_n \mid \cdot)` the
single-sample estimate at the guide's draw and N the rows of the data set. Below the floor a
site's KL has no gradient, so each layer keeps about :math:`\lambda` nats of information for
free, and the ELBO decides what they hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from pyro import poutine
from pyro.poutine.util import site_is_subsample

from pyroclust.sites import DATA_PLATE
from pyroclust.structure import cluster_sites


def _scaled(site: dict[str, Any]) -> torch.Tensor:
    """The site's log-density summed over its batch, times its scale (the data plate's
    data_size / batch), as the ELBO counts it (``compute_log_prob`` has scaled it)."""
    return site["log_prob"].sum()


@dataclass(frozen=True)
class FreeBits:
    r"""The negative ELBO with each code's batch-mean KL floored at ``nats`` (free bits).

    A loss callable ``loss(model, guide, x, *, data_size=None)`` for
    :class:`~pyroclust.infer.SVITrainer` (``loss=FreeBits(2.0)``), the estimator
    (``Clusterer(loss=...)``) or a start's warm-up
    (:class:`~pyroclust.infer.init.layerwise.LayerwiseStart` ``warmup_loss``). It traces the
    guide, replays the model on its draws and sums the terms of ``-ELBO`` as
    :class:`pyro.infer.Trace_ELBO` does (one particle), except that each floored site's KL
    enters as :math:`N \max(\lambda, \overline{\mathrm{KL}}_s)`. See the module docstring.

    Every latent site must be drawn by the guide (reparameterised codes; relaxed cluster
    sites): a site enumerated in the model or the guide has no single-draw KL to floor.

    Parameters
    ----------
    nats : float
        The floor :math:`\lambda \ge 0` per floored site, in nats per row; 0 turns it off (the
        plain negative ELBO, equal to ``Trace_ELBO``'s for the same draw).
    sites : sequence of str, optional
        The sites floored. None: every latent site inside the data plate that is not one of
        the model's declared cluster sites (:func:`pyroclust.structure.cluster_sites`): the
        codes.

    Examples
    --------
    >>> import torch
    >>> from pyroclust import zoo
    >>> model, guide = zoo.make("vlac", 6, layers=[1, 2], latent_dim=2, hidden=8)
    >>> loss = FreeBits(1.0)(model, guide, torch.rand(5, 6).round(), data_size=20)
    >>> bool(torch.isfinite(loss))
    True
    """

    nats: float = 1.0
    sites: Sequence[str] | None = None

    def __post_init__(self) -> None:
        nats = float(self.nats)
        if not np.isfinite(nats) or nats < 0:
            raise ValueError(f"nats must be a finite number >= 0, got {self.nats!r}")
        object.__setattr__(self, "nats", nats)
        if self.sites is not None:
            if isinstance(self.sites, str):
                raise ValueError(f"sites must be a sequence of site names, got {self.sites!r}")
            object.__setattr__(self, "sites", tuple(str(s) for s in self.sites))

    def floored(self, model: Any, trace: Any) -> list[str]:
        """The names of the sites of the guide's ``trace`` whose KL is floored."""
        if self.sites is not None:
            missing = [s for s in self.sites if s not in trace.nodes]
            if missing:
                raise ValueError(f"FreeBits: the guide draws no site {missing}")
            return list(self.sites)
        clusters = {s.name for s in cluster_sites(model)}
        return [
            name
            for name, site in trace.nodes.items()
            if site["type"] == "sample"
            and not site["is_observed"]
            and not site_is_subsample(site)
            and name not in clusters
            and any(frame.name == DATA_PLATE for frame in site["cond_indep_stack"])
        ]

    def __call__(
        self, model: Any, guide: Any, x: torch.Tensor, *, data_size: int | None = None
    ) -> torch.Tensor:
        """The loss of the mini-batch ``x`` (n, D), scaled to ``data_size`` rows (the
        batch's own rows when None), as a differentiable scalar."""
        kwargs = {} if data_size is None else {"data_size": int(data_size)}
        guide_trace = poutine.trace(guide).get_trace(x, **kwargs)
        model_trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(x, **kwargs)
        for name, site in list(guide_trace.nodes.items()) + list(model_trace.nodes.items()):
            if site["type"] == "sample" and site["infer"].get("enumerate") is not None:
                raise ValueError(
                    f"FreeBits needs every latent site drawn by the guide; {name!r} is "
                    "enumerated (use a relaxed cluster site, or the plain ELBO)"
                )
        model_trace.compute_log_prob()
        guide_trace.compute_log_prob()
        floored = set(self.floored(model, guide_trace))
        loss = x.new_zeros(())
        for name, site in model_trace.nodes.items():
            if site["type"] != "sample" or site_is_subsample(site):
                continue
            if not site["is_observed"] and name not in guide_trace.nodes:
                raise ValueError(
                    f"FreeBits: the model's latent site {name!r} is not drawn by the guide"
                )
            if name in floored:
                continue
            loss = loss - _scaled(site)
        for name, site in guide_trace.nodes.items():
            if site["type"] != "sample" or site["is_observed"] or site_is_subsample(site):
                continue
            if name not in floored:
                loss = loss + _scaled(site)
                continue
            total = _scaled(site) - _scaled(model_trace.nodes[name])  # N x the batch mean
            if self.nats > 0:  # N x nats: the site's scale (N / B) times its B rows
                rows = site["unscaled_log_prob"].numel()
                total = torch.clamp(total, min=float(site["scale"]) * rows * self.nats)
            loss = loss + total
        return loss


__all__ = ["FreeBits"]
