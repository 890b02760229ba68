"""Autoencoder pretraining: the encoder's mean and the decoder trained as an autoencoder."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from pyroclust.infer.session import FitSession
from pyroclust.infer.trainer import EarlyStopping

PRETRAIN_STAGE = "pretrain"


def reconstruction_loss(
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> Callable[..., torch.Tensor]:
    """The autoencoder loss as a trainer loss callable ``(model, guide, x, data_size=n)``.

    ``-log p(x | decoder(mu(x)))`` under the model's own likelihood (binary cross-entropy for
    Bernoulli, squared error for Gaussian), averaged over the batch and scaled to the
    ``data_size`` rows, as an ELBO is; with ``augment`` the encoder sees an augmented copy.
    """

    def loss(model: Any, guide: Any, xb: torch.Tensor, *, data_size: int) -> torch.Tensor:
        loc, _ = guide.encode(augment(xb) if augment is not None else xb)
        return -model.likelihood.log_prob(model.decoder(loc), xb).mean() * data_size

    return loss


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
    session: FitSession | None = None,
    early_stopping: EarlyStopping | None = None,
) -> list[float]:
    """Train ``guide.encode(x)[0] -> model.decoder`` as a deterministic autoencoder.

    The loss is the model's own negative log-likelihood ``-log p(x | decoder(mu(x)))``
    (binary cross-entropy for Bernoulli, squared error for Gaussian), averaged over rows.
    With ``augment`` (e.g. :class:`pyroclust.nn.augment.RandomAffine`), the encoder sees an
    augmented copy and the decoder must reconstruct the original (DEC-DA, Guo et al. 2018).
    Only the guide's and the decoder's parameters are trained. With ``early_stopping``
    (:class:`~pyroclust.infer.EarlyStopping`, on the mean reconstruction loss per row), the
    pretraining stops once the reconstruction has stopped improving, so ``epochs`` is an
    upper bound.

    It runs as the training stage ``"pretrain"`` of ``session`` (a fresh one without a
    checkpoint when None), through :class:`~pyroclust.infer.SVITrainer`.

    Returns
    -------
    list of float
        The mean loss per row of each epoch.
    """
    session = session if session is not None else FitSession(model, guide, device=x.device)
    trainer = session.train(
        PRETRAIN_STAGE,
        x,
        loss=reconstruction_loss(augment),
        params=[*guide.parameters(), *model.decoder.parameters()],
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        random_state=random_state,
        progress=progress,
        early_stopping=early_stopping,
    )
    return [-row["elbo"] for row in trainer.history]
