"""Pseudo-label alignment: SVI with the model's cluster site observed at a start's labels."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from pyro.poutine.messenger import Messenger

from pyroclust.infer.session import FitSession

ALIGN_STAGE = "align"


class _Observed(Messenger):
    """Observe the sample site ``name`` at ``value``; with ``counted=False`` its log-density
    is masked out of the objective (a relaxed site observed at a vertex of the simplex, where
    the Concrete density says nothing useful about the weights)."""

    def __init__(self, name: str, value: torch.Tensor, *, counted: bool = True) -> None:
        super().__init__()
        self.name, self.value, self.counted = name, value, counted

    def _pyro_sample(self, msg: dict[str, Any]) -> None:
        if msg["name"] != self.name:
            return
        msg["value"] = self.value
        msg["is_observed"] = True
        if not self.counted:
            msg["mask"] = torch.zeros((), dtype=torch.bool, device=self.value.device)


def site_value(site: Any, labels: torch.Tensor) -> torch.Tensor:
    """The value of the cluster site ``site`` (a :class:`~pyroclust.structure.ClusterSite`)
    at the integer ``labels``: the labels themselves, or one-hot rows for a relaxed site."""
    if site.relaxed:
        return torch.nn.functional.one_hot(labels, site.n_components).to(torch.get_default_dtype())
    return labels


class _KeepLogits(Messenger):
    """Keep the logits of the distribution at the sample site of ``site`` (a
    :class:`~pyroclust.structure.ClusterSite`) as a guide runs: q(c | x) of a guide-side
    cluster site, as the guide drew (or enumerated) the site from it."""

    def __init__(self, site: Any) -> None:
        super().__init__()
        self.site = site
        self.logits: torch.Tensor | None = None

    def _pyro_post_sample(self, msg: dict[str, Any]) -> None:
        if msg["name"] != self.site.name:
            return
        logits = getattr(msg["fn"], "logits", None)
        if logits is None:
            raise TypeError(
                f"the guide's cluster site {self.site.name!r} has no logits "
                f"({type(msg['fn']).__name__}); q(c | x) must be given as logits"
            )
        self.logits = logits


class _GuideLogits:
    """The labelled guide of a guide-side cluster site: the guide runs with the site at the
    labels, hidden from the objective, and its q(c | x) logits are kept for the
    classification term."""

    def __init__(self, guide: Any, site: Any) -> None:
        self.guide, self.site = guide, site
        self.logits: torch.Tensor | None = None

    def __call__(self, x: torch.Tensor, labels: torch.Tensor, data_size: int) -> Any:
        from pyro import poutine

        conditioned = _Observed(self.site.name, site_value(self.site, labels))(self.guide)
        keep = _KeepLogits(self.site)
        with poutine.block(hide=[self.site.name]), keep:
            value = conditioned(x, data_size=data_size)
        self.logits = keep.logits
        return value


class _TappedGuide:
    """The guide of a guide-side cluster site, run as it is, keeping the logits of q(c | x)
    from its last run (:func:`cluster_posterior`)."""

    def __init__(self, guide: Any, site: Any) -> None:
        self.guide, self.site = guide, site
        self.logits: torch.Tensor | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        keep = _KeepLogits(self.site)
        with keep:
            value = self.guide(*args, **kwargs)
        self.logits = keep.logits
        return value

    def log_posterior(self, x: torch.Tensor) -> torch.Tensor:
        """log q(c | x) of the rows ``x`` the guide last ran on, of shape (batch, K)."""
        if self.logits is None or self.logits.shape[:-1] != x.shape[:1]:
            raise RuntimeError("run the guide on the mini-batch before reading q(c | x)")
        return torch.log_softmax(self.logits, -1)


def cluster_posterior(
    model: Any, guide: Any
) -> tuple[Callable[..., Any], Callable[[torch.Tensor], torch.Tensor]]:
    r"""``(guide_fn, log_posterior)``: the guide to run an objective with, and the
    posterior over the model's (first) cluster site of the mini-batch it ran on,
    ``log_posterior(x)`` of shape (batch, n_components), differentiable:

    - a guide-side site (GMVAE, k-DVAE; enumerated or relaxed): :math:`\log q(c \mid x)`,
      the log-softmax of the logits the guide drew (or enumerated) the site from in its last
      run, so reading it costs no second pass of the guide (with BatchNorm in training mode,
      the same batch statistics as the objective's); ``guide_fn`` is the guide, wrapped to
      keep them;
    - a model-side site (VaDE's shape): :math:`\log p(c \mid \mu(x))` under the mixture on
      the codes (:func:`mixture_log_posterior`); ``guide_fn`` is the guide itself.

    The same q(c | x) that :func:`~pyroclust.predictive.cluster_log_proba` reports (there
    without gradients and in evaluation mode), and that :func:`labelled_loss` trains.
    """
    from pyroclust.structure import cluster_site

    site = cluster_site(model)
    if site.in_guide:
        tapped = _TappedGuide(guide, site)
        return tapped, tapped.log_posterior

    def log_posterior(x: torch.Tensor) -> torch.Tensor:
        return mixture_log_posterior(model, guide, x)

    return guide, log_posterior


def labelled(model: Any, guide: Any) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """The pair ``(model, guide)`` as functions of ``(x, labels, data_size)`` in which the
    model's (first) cluster site, ``"assignment"`` for VaDE, is observed at ``labels``.

    Where the guide holds the site (GMVAE), the guide runs with it at the labels too (one-hot
    rows for a relaxed site) and the site is hidden from the objective, so the ELBO is that
    of labelled data (Kingma et al., 2014, eq. 6); the guide's q(c | x) is then trained only
    by the classification term of :func:`labelled_loss`. A relaxed site's Concrete density
    at a vertex is left out of the model's terms.
    """
    from pyroclust.structure import cluster_site

    site = cluster_site(model)
    name = site.name

    def labelled_model(x: torch.Tensor, labels: torch.Tensor, data_size: int) -> Any:
        observed = _Observed(name, site_value(site, labels), counted=not site.relaxed)
        return observed(model)(x, data_size=data_size)

    if site.in_guide:
        return labelled_model, _GuideLogits(guide, site)

    def labelled_guide(x: torch.Tensor, labels: torch.Tensor, data_size: int) -> Any:
        return guide(x, data_size=data_size)

    return labelled_model, labelled_guide


def mixture_log_posterior(model: Any, guide: Any, x: torch.Tensor) -> torch.Tensor:
    r"""log p(c | mu(x)) of a model that enumerates its cluster site over a mixture on the
    codes (VaDE's shape), differentiable, of shape (batch, n_components):

    .. math:: \log p(c = k \mid \mu(x)) = \log\pi_k + \log p(\mu(x) \mid k)
              - \operatorname{logsumexp}_j [\log\pi_j + \log p(\mu(x) \mid j)]

    with pi the guide's posterior mean of the weights when it has one, else the prior's.
    """
    components = getattr(model, "components", None)
    if not callable(getattr(components, "log_prob_all", None)) or not callable(
        getattr(guide, "encode", None)
    ):
        raise TypeError(
            "the classification term of a model-side cluster site needs a mixture on codes "
            "(model.components.log_prob_all) and guide.encode; pass alpha=0"
        )
    weights = getattr(guide, "weights", None)
    pi = (weights if weights is not None else model.weights).mean()
    log_pi = pi.clamp_min(torch.finfo(pi.dtype).tiny).log()
    return torch.log_softmax(log_pi + components.log_prob_all(guide.encode(x)[0]), -1)


def labelled_loss(
    model: Any, guide: Any, x: torch.Tensor, labels: torch.Tensor, *, alpha: float = 1.0
) -> Callable:
    r"""The negative ELBO of :func:`labelled` plus a classification term, as a trainer loss
    callable ``(model, guide, x, labels, data_size=n)``; the ELBO (``TraceEnum_ELBO`` when a
    site is still enumerated) is chosen by tracing the labelled pair at two rows of ``x``.

    The classification term is Kingma et al.'s (2014, eq. 9),
    :math:`-\alpha \sum_n \log q(c = y_n \mid x_n)` over the data (the batch scaled to
    ``data_size`` rows, as the ELBO), with q(c | x) the guide's where the guide holds the
    cluster site, else the model's own posterior given the code, p(c | mu(x))
    (:func:`mixture_log_posterior`). The labelled ELBO alone pulls each code towards its
    label's component; this term also pushes it away from the others, so the clustering the
    model gives afterwards reproduces the labels (on the digits, 97% agreement with a t-SNE
    start's labels instead of 91%). ``alpha=0``: the labelled ELBO alone.
    """
    from pyroclust.infer.trainer import auto_elbo

    alpha = float(alpha)
    if not alpha >= 0:
        raise ValueError(f"alpha must be >= 0, got {alpha}")
    conditioned, guide_fn = labelled(model, guide)
    elbo = auto_elbo(conditioned, guide_fn, x[:2], labels[:2], len(x))

    def loss(
        model_: Any, guide_: Any, xb: torch.Tensor, yb: torch.Tensor, *, data_size: int
    ) -> torch.Tensor:
        value = elbo.differentiable_loss(conditioned, guide_fn, xb, yb, data_size)
        if alpha == 0:
            return value
        if isinstance(guide_fn, _GuideLogits):
            log_q = torch.log_softmax(guide_fn.logits, -1)
        else:
            log_q = mixture_log_posterior(model_, guide_, xb)
        return value - alpha * log_q.gather(-1, yb[:, None]).sum() * data_size / len(xb)

    return loss


#: :class:`AgreementStop` reads its share on at most this many rows (a fixed random subset).
AGREEMENT_MAX_ROWS = 10_000


class AgreementStop:
    """Alignment callback ``(trainer, epoch)``: after each epoch, the share of rows whose
    most probable cluster under the model (:func:`~pyroclust.predictive.cluster_log_proba`)
    is their label, kept as the epoch's ``"agreement"`` in ``trainer.history``; the stage
    stops once it reaches ``until``. With labels of shape (n_samples, n_sites) (a start of
    several cluster sites; ``labels_of`` then gives the same shape) it is the least of the
    sites' shares: the stage stops once every site reproduces ``until`` of its labels.

    No labels of the user are involved: the labels are the start's, and the agreement says
    how far the model already reproduces them. Where the start is easy to reproduce (well
    separated clusters) the alignment is then over in an epoch or two (a 10,000 x 256 Zipf
    mixture: 2 epochs); where it is not (MNIST's 70,000 rows) it runs its budget.

    Above ``max_rows`` rows (:data:`AGREEMENT_MAX_ROWS` when None; ``len(x)`` reads all) the
    share is read on a fixed random subset of that many rows, drawn once from
    ``random_state`` (0 when None): reading the posterior of every row at every site cost
    about half a training epoch (VLAC on coloured MNIST, two sites), and the share of
    10,000 rows is within 0.006 of the whole (two standard errors at a share of 0.9).
    """

    def __init__(
        self,
        x: torch.Tensor,
        labels: torch.Tensor,
        until: float,
        labels_of: Callable[[Any, Any, torch.Tensor], torch.Tensor] | None = None,
        *,
        max_rows: int | None = None,
        random_state: int | None = None,
    ) -> None:
        until = float(until)
        if not 0.0 < until <= 1.0:
            raise ValueError(f"until must lie in (0, 1], got {until}")
        max_rows = AGREEMENT_MAX_ROWS if max_rows is None else int(max_rows)
        if max_rows < 1:
            raise ValueError(f"max_rows must be at least 1, got {max_rows}")
        if len(x) > max_rows:
            rng = np.random.default_rng(0 if random_state is None else random_state)
            rows = np.sort(rng.choice(len(x), size=max_rows, replace=False))
            keep = torch.as_tensor(rows, dtype=torch.long)
            x, labels = x[keep.to(x.device)], labels[keep.to(labels.device)]
        self.x, self.labels, self.until = x, labels, until
        self.labels_of = labels_of

    def agreement(self, trainer: Any) -> float:
        """The share of rows whose most probable cluster is their label: under
        ``labels_of(model, guide, x)`` when given (a cheaper reading of the same posterior),
        else :func:`~pyroclust.predictive.cluster_log_proba`'s argmax."""
        from pyroclust.predictive import cluster_log_proba

        if len(self.x) == 0:
            return 1.0
        with torch.no_grad():
            if self.labels_of is not None:
                found = self.labels_of(trainer.model, trainer.guide, self.x)
            else:
                found = cluster_log_proba(trainer.model, trainer.guide, self.x).argmax(-1)
        hits = (found.to(self.labels.device) == self.labels).float()
        return float(hits.mean() if hits.ndim < 2 else hits.mean(0).min())

    def __call__(self, trainer: Any, epoch: int) -> None:  # noqa: D102
        value = self.agreement(trainer)
        trainer.history[-1]["agreement"] = value
        if value >= self.until:
            trainer.stopped_early = True


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
    alpha: float = 1.0,
    until: float | None = None,
) -> list[float]:
    r"""SVI with the model's cluster site observed at ``labels`` (a start's pseudo-labels).

    The model is run under ``poutine.condition(model, data={"assignment": labels[batch]})``,
    so its ELBO becomes :math:`\mathbb E_q[\log p(x\mid z) + \log p(z\mid y) + \log\pi_y
    - \log q(z\mid x)]` with y given: the encoder moves each code into its label's component
    and the components and weights fit the labelled codes. Afterwards the mixture on the
    codes reproduces the labels, and free SVI starts from the clustering instead of from a
    mixture on codes that the labels only summarised.

    The classification term of :func:`labelled_loss`, weight ``alpha`` (Kingma et al.,
    2014), trains q(c | x) towards the labels: the guide's where it holds the cluster site
    (GMVAE; the guide is then conditioned too), else the model's p(c | mu(x)). Free SVI then
    starts with the model's clustering reproducing the labels.

    It runs as the training stage ``"align"`` of ``session`` (a fresh one without a
    checkpoint when None), through :class:`~pyroclust.infer.SVITrainer`, on the data
    ``(x, labels)``. With ``until`` (a share of the rows, in (0, 1]), each epoch records the
    share of rows the model assigns to their label, and the stage stops as soon as it
    reaches ``until`` (:class:`AgreementStop`; ``epochs`` is then an upper bound).

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
    callbacks = (
        [] if until is None else [AgreementStop(x, labels, until, random_state=random_state)]
    )
    session = session if session is not None else FitSession(model, guide, device=x.device)
    trainer = session.train(
        ALIGN_STAGE,
        (x, labels),
        loss=labelled_loss(model, guide, x, labels, alpha=alpha),
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        random_state=random_state,
        progress=progress,
        callbacks=callbacks,
    )
    return [-row["elbo"] for row in trainer.history]
