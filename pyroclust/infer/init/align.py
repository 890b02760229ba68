"""Pseudo-label alignment: SVI with the model's cluster site observed at a start's labels."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from pyroclust.infer.session import FitSession

ALIGN_STAGE = "align"


def labelled(model: Any, guide: Any) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """The pair ``(model, guide)`` as functions of ``(x, labels, data_size)`` in which the
    model's (first) cluster site, ``"assignment"`` for VaDE, is observed at ``labels``
    (``poutine.condition``).
    """
    from pyro import poutine

    from pyroclust.structure import cluster_site

    name = cluster_site(model).name

    def labelled_model(x: torch.Tensor, labels: torch.Tensor, data_size: int) -> Any:
        return poutine.condition(model, data={name: labels})(x, data_size=data_size)

    def labelled_guide(x: torch.Tensor, labels: torch.Tensor, data_size: int) -> Any:
        return guide(x, data_size=data_size)

    return labelled_model, labelled_guide


def labelled_loss(model: Any, guide: Any, x: torch.Tensor, labels: torch.Tensor) -> Callable:
    """The negative ELBO of :func:`labelled` as a trainer loss callable
    ``(model, guide, x, labels, data_size=n)``; the ELBO (``TraceEnum_ELBO`` when a site is
    still enumerated) is chosen by tracing the labelled pair at two rows of ``x``."""
    from pyroclust.infer.trainer import auto_elbo

    conditioned, guide_fn = labelled(model, guide)
    elbo = auto_elbo(conditioned, guide_fn, x[:2], labels[:2], len(x))

    def loss(
        model_: Any, guide_: Any, xb: torch.Tensor, yb: torch.Tensor, *, data_size: int
    ) -> torch.Tensor:
        return elbo.differentiable_loss(conditioned, guide_fn, xb, yb, data_size)

    return loss


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
    session: FitSession | None = None,
) -> list[float]:
    r"""SVI with the model's cluster site observed at ``labels`` (a start's pseudo-labels).

    The model is run under ``poutine.condition(model, data={"assignment": labels[batch]})``,
    so its ELBO becomes :math:`\mathbb E_q[\log p(x\mid z) + \log p(z\mid y) + \log\pi_y
    - \log q(z\mid x)]` with y given: the encoder moves each code into its label's component
    and the components and weights fit the labelled codes. Afterwards the mixture on the
    codes reproduces the labels, and free SVI starts from the clustering instead of from a
    mixture on codes that the labels only summarised.

    It runs as the training stage ``"align"`` of ``session`` (a fresh one without a
    checkpoint when None), through :class:`~pyroclust.infer.SVITrainer`, on the data
    ``(x, labels)``.

    Returns
    -------
    list of float
        The mean negative ELBO per row of each epoch.
    """
    labels = torch.as_tensor(labels, dtype=torch.long, device=x.device)
    if labels.shape != (len(x),):
        raise ValueError(f"labels must have shape ({len(x)},), got {tuple(labels.shape)}")
    if len(labels) and not (0 <= int(labels.min()) and int(labels.max()) < model.n_components):
        raise ValueError(f"labels must lie in [0, {model.n_components}), the model's components")
    session = session if session is not None else FitSession(model, guide, device=x.device)
    trainer = session.train(
        ALIGN_STAGE,
        (x, labels),
        loss=labelled_loss(model, guide, x, labels),
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        random_state=random_state,
        progress=progress,
    )
    return [-row["elbo"] for row in trainer.history]
