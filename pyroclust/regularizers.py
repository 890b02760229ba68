r"""Regularisers of mixture models, and pruning of components that fell out of use.

Regularisers add a ``pyro.factor`` to the model, so the objective becomes
``ELBO + term`` without touching the guide or the ELBO class. They are options suggested in
the nightingale VaDE report ("Extending a Variational Autoencoder with a Gaussian Mixture model
to cluster Nightingale's songs") against the two failure modes of VaDE's point-estimate
weights: one cluster taking every point (counter it with :class:`WeightEntropy`) and codes
sitting between clusters (counter it with :class:`AssignmentEntropy`).

A model accepts them as ``VaDE(..., regularizers=[WeightEntropy(10.0)])`` and calls each with
what it needs, after drawing pi (global terms, ``local = False``) and after drawing z inside
the ``"data"`` plate (per-point terms, ``local = True``)::

    reg(weights=pi)                                        # global
    reg(weights=pi, z=z, components=self.components)       # local, in the plate

A new regulariser subclasses :class:`Regularizer` and implements :meth:`Regularizer.term`.

Pruning (:func:`prune`, :class:`PruneCallback`) switches components off once their weight
falls below a threshold: their weight pi_k becomes 0 in the mixture, so points are no longer
assigned to them (see :func:`prune` for the float floor).
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass
from typing import Any

import numpy as np
import pyro
import torch
from pyro.poutine.runtime import am_i_wrapped

from pyroclust.infer.elbo import local_params


class Regularizer:
    """Base class: a term added to the model's log joint through ``pyro.factor``.

    Parameters
    ----------
    weight : float
        Multiplier of the term (>= 0).
    name : str, optional
        Name of the factor site (unique within a model); the class default otherwise.
    """

    #: True for per-data-point terms (called inside the ``"data"`` plate, scaled by it).
    local: bool = False
    default_name: str = "regularizer"

    def __init__(self, weight: float = 1.0, *, name: str | None = None) -> None:
        weight = float(weight)
        if not np.isfinite(weight) or weight < 0:
            raise ValueError(f"weight must be a finite number >= 0, got {weight}")
        self.weight = weight
        self.name = name or self.default_name

    def term(
        self,
        *,
        weights: torch.Tensor,
        z: torch.Tensor | None = None,
        components: Any = None,
    ) -> torch.Tensor:
        """The value added to the ELBO (a scalar, or one per data point for local terms)."""
        raise NotImplementedError

    def __call__(self, **context: Any) -> None:
        """Add ``term(**context)`` to the model as the factor site ``self.name``.

        Outside inference (a plain call of the model, no Pyro handler active) a factor means
        nothing, so nothing is added.
        """
        if am_i_wrapped():
            pyro.factor(self.name, self.term(**context))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(weight={self.weight!r}, name={self.name!r})"


def _entropy(log_p: torch.Tensor) -> torch.Tensor:
    """-sum_k p_k log p_k over the last dimension, with 0 log 0 = 0."""
    p = log_p.exp()
    return -(p * torch.where(p > 0, log_p, torch.zeros_like(log_p))).sum(-1)


class WeightEntropy(Regularizer):
    r"""Reward spread-out mixture weights: adds :math:`\lambda H(\pi)` to the ELBO, once.

    .. math:: H(\pi) = -\sum_k \pi_k \log \pi_k

    A global term (outside the ``"data"`` plate, not scaled by mini-batching), so it pulls
    pi towards uniform with the same strength whatever the data size; :math:`\lambda` is
    ``weight``. It counters the collapse of point-estimate weights onto one cluster.

    Examples
    --------
    >>> from pyroclust import likelihoods, models, nn
    >>> model = models.VaDE(
    ...     3, 2, decoder=nn.MLP([2, 8]), likelihood=likelihoods.Bernoulli(),
    ...     regularizers=[WeightEntropy(10.0), AssignmentEntropy(0.1)],
    ... )
    >>> model(data_size=4).shape
    torch.Size([4, 8])
    """

    local = False
    default_name = "weight_entropy"

    def term(self, *, weights: torch.Tensor, **context: Any) -> torch.Tensor:  # noqa: D102
        return self.weight * _entropy(weights.clamp_min(0).log())


class AssignmentEntropy(Regularizer):
    r"""Reward confident assignments: adds :math:`-\lambda \sum_n H(r_n)` to the ELBO.

    .. math:: r_{nk} = p(y_n = k \mid z_n) =
              \frac{\pi_k\, p(z_n \mid k)}{\sum_j \pi_j\, p(z_n \mid j)}, \qquad
              H(r_n) = -\sum_k r_{nk} \log r_{nk}

    computed in log space (``log_softmax``) at the guide's draw of :math:`z_n`. A local term,
    inside the ``"data"`` plate, so with mini-batches it is scaled by
    ``data_size / batch_size`` like the likelihood: the sum runs over the whole data set.
    """

    local = True
    default_name = "assignment_entropy"

    def term(  # noqa: D102
        self, *, weights: torch.Tensor, z: torch.Tensor | None = None, components: Any = None
    ) -> torch.Tensor:
        if z is None or components is None:
            raise ValueError("AssignmentEntropy needs the codes z and the components")
        log_r = torch.log_softmax(weights.clamp_min(0).log() + components.log_prob_all(z), -1)
        return -self.weight * _entropy(log_r)


# --------------------------------------------------------------------------- keeping the start
@dataclass(frozen=True)
class StartAgreement:
    r"""An objective for free SVI that refines the start rather than forgetting it.

    .. math:: \mathcal L = -\mathrm{ELBO} - \lambda \sum_n \log q(c = s_n \mid x_n)

    where :math:`s_n` is the start's cluster of row n (``Clusterer.start_labels_``) and
    :math:`q(c \mid x)` the model's posterior over its (first) cluster site
    (:func:`~pyroclust.infer.init.align.cluster_posterior`), wherever that site is inferred:

    - enumerated in the model over a mixture on the codes (VaDE): :math:`p(c \mid \mu(x))`
      (:func:`~pyroclust.infer.init.mixture_log_posterior`);
    - held by the guide, enumerated or relaxed (GMVAE, k-DVAE): the guide's
      :math:`q(c \mid x)`, the softmax of the logits the guide draws the site from, read
      from the ELBO's own run of the guide.

    The sum runs over the data (the batch scaled to ``data_size`` rows, as the ELBO). It is
    the classification term of Kingma et al. (2014) that the alignment uses, kept during
    free SVI: without it, free SVI left the start of the Pendigits by 5 ACC points (VaDE,
    seed 1: 0.891 -> 0.843); with :math:`\lambda = 1` it ended at 0.891.

    Pass it as the estimator's ``loss`` (``Clusterer(loss=StartAgreement(1.0))``): the
    estimator calls :meth:`bind` with the data and the start's labels, and trains the SVI
    stage on ``(x, start_labels)``. Needs a model with a cluster site.

    Parameters
    ----------
    weight : float
        :math:`\lambda \ge 0`, per data point (0: the plain ELBO).
    num_particles : int
        Particles of the ELBO.
    """

    weight: float = 1.0
    _: KW_ONLY
    num_particles: int = 1

    def __post_init__(self) -> None:
        weight = float(self.weight)
        if not np.isfinite(weight) or weight < 0:
            raise ValueError(f"weight must be a finite number >= 0, got {weight}")
        object.__setattr__(self, "weight", weight)
        object.__setattr__(self, "num_particles", int(self.num_particles))

    def bind(
        self,
        model: Any,
        guide: Any,
        x: torch.Tensor,
        start_labels: Any,
        *,
        jit: bool | str = False,
    ) -> tuple[Any, tuple[torch.Tensor, torch.Tensor]]:
        """(the loss callable ``(model, guide, x, labels, data_size=n)``, its data
        ``(x, start_labels)``) for the SVI stage.

        ``jit="fx"`` or ``"inductor"`` (the estimator passes its own ``jit``) traces the
        whole loss, ELBO and term, into a graph (:class:`~pyroclust.infer.graph.GraphLoss`);
        ``True``/``"torchscript"`` has no form for a loss with a term and runs it as it is."""
        from pyroclust.infer.elbo import fast_path, make_elbo
        from pyroclust.infer.graph import BACKENDS, GraphLoss
        from pyroclust.infer.init.align import cluster_posterior

        if start_labels is None:
            raise ValueError("StartAgreement needs the start's labels: a model with a cluster site")
        labels = torch.as_tensor(np.asarray(start_labels), dtype=torch.long, device=x.device)
        if labels.shape != (len(x),):
            raise ValueError(f"start_labels must have shape ({len(x)},), got {tuple(labels.shape)}")
        elbo = make_elbo(
            model, x[:2], guide=guide, data_size=len(x), num_particles=self.num_particles
        )
        weight = self.weight

        def loss(
            model_: Any, guide_: Any, xb: torch.Tensor, yb: torch.Tensor, *, data_size: int
        ) -> torch.Tensor:
            if weight == 0:
                return elbo.differentiable_loss(model_, guide_, xb, data_size=data_size)
            guide_fn, log_posterior = cluster_posterior(model_, guide_)
            value = elbo.differentiable_loss(model_, guide_fn, xb, data_size=data_size)
            log_q = log_posterior(xb).gather(-1, yb[:, None])
            return value - weight * log_q.sum() * data_size / len(xb)

        mode = fast_path(jit)
        if mode in BACKENDS:
            return GraphLoss(loss, backend=mode), (x, labels)
        return loss, (x, labels)


# --------------------------------------------------------------------------- pruning
class _PruneHook:
    """Forward hook of a weight prior: multiply pi by a 0/1 mask and renormalise."""

    def __init__(self, mask: torch.Tensor) -> None:
        self.mask = mask.detach().to(torch.bool).cpu()

    def __call__(self, module: Any, args: Any, output: torch.Tensor) -> torch.Tensor:
        return apply_mask(output, self.mask)


def apply_mask(pi: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """pi with the components where ``mask`` is false set to 0, renormalised (any batch shape)."""
    if mask is None:
        return pi
    m = mask.to(device=pi.device, dtype=pi.dtype)
    out = pi * m
    return out / out.sum(-1, keepdim=True)


def prune_mask(model: Any) -> torch.Tensor | None:
    """The boolean mask of components in use after :func:`prune` (None if never pruned)."""
    hook = getattr(getattr(model, "weights", None), "_prune_hook", None)
    return None if hook is None else hook.mask.clone()


def _current_weights(model: Any, guide: Any) -> torch.Tensor:
    source = getattr(guide, "weights", None) if guide is not None else None
    source = source if source is not None else model.weights
    with local_params(), torch.no_grad():
        return source.mean().detach().cpu().double()


def prune(estimator_or_model: Any, threshold: float, *, guide: Any = None) -> torch.Tensor:
    """Switch off the components whose weight is below ``threshold``.

    The weight of each component is the posterior mean of pi (the guide's, when the prior has
    latent sites; otherwise the prior's point value). Components below ``threshold`` get
    pi_k = 0 from then on and the others are renormalised: a forward hook on ``model.weights``
    masks the pi the model uses, so training goes on without them and ``predict_proba`` gives
    them (almost) nothing. The model's ``Categorical`` floors a zero weight at the smallest
    normal float (:func:`~pyroclust.priors.weight_logits`, about 1.2e-38 in float32), so a
    pruned component could still win a point only if its density there exceeded every kept
    one's by a factor of about 10^38; use the returned mask
    (``predict_proba(X)[:, keep]``) where an exact exclusion matters. Pruning only removes
    components: one pruned earlier stays pruned. The largest component is always kept. The
    ``"weights"`` site itself still records the unmasked draw; the functions of
    :mod:`pyroclust.inspect` apply the mask.

    The mask is not part of ``state_dict``: after :meth:`Clusterer.load
    <pyroclust.estimator.Clusterer.load>` call ``prune`` again.

    Parameters
    ----------
    estimator_or_model : Clusterer (fitted) or a mixture model
        For an estimator, its ``model_``/``guide_`` are pruned and ``weights_`` updated
        (``labels_`` is left as it was: call ``predict(X)`` again).
    threshold : float
        In [0, 1).
    guide : the model's guide, optional
        When a model is given, its guide (to read the posterior mean of pi).

    Returns
    -------
    tensor of shape (n_components,), bool: True for the components kept.
    """
    threshold = float(threshold)
    if not 0 <= threshold < 1:
        raise ValueError(f"threshold must be in [0, 1), got {threshold}")
    est = None
    model = estimator_or_model
    if hasattr(estimator_or_model, "model_"):
        est, model, guide = estimator_or_model, estimator_or_model.model_, estimator_or_model.guide_
    elif hasattr(estimator_or_model, "guide") and not hasattr(estimator_or_model, "weights"):
        raise ValueError("pass a fitted estimator, or a model (with guide=...)")
    prior = getattr(model, "weights", None)
    if prior is None or getattr(model, "n_components", None) is None:
        raise ValueError(f"{type(model).__name__} has no mixture weights to prune")
    old = prune_mask(model)
    pi = apply_mask(_current_weights(model, guide), old)
    keep = pi >= threshold
    keep[int(pi.argmax())] = True
    if old is not None:
        keep &= old
    handle = getattr(prior, "_prune_handle", None)
    if handle is not None:
        handle.remove()
    hook = _PruneHook(keep)
    prior._prune_hook = hook
    prior._prune_handle = prior.register_forward_hook(hook)
    if est is not None:
        est.weights_ = apply_mask(torch.as_tensor(est.weights_), keep).numpy()
    return keep.clone()


class PruneCallback:
    """Trainer callback: :func:`prune` the model every ``every`` epochs from ``start`` on.

    Use as ``SVITrainer(..., callbacks=[PruneCallback(0.01, start=10)])``.

    Parameters
    ----------
    threshold : float
        Components whose weight is below it are switched off.
    start : int
        First epoch (1-based, as counted by the trainer) at which to prune.
    every : int
        Prune every that many epochs.
    """

    def __init__(self, threshold: float, *, start: int = 1, every: int = 1) -> None:
        self.threshold = float(threshold)
        self.start = int(start)
        self.every = max(1, int(every))

    def __call__(self, trainer: Any, epoch: int) -> None:  # noqa: D102
        if epoch >= self.start and (epoch - self.start) % self.every == 0:
            prune(trainer.model, self.threshold, guide=trainer.guide)


__all__ = [
    "AssignmentEntropy",
    "StartAgreement",
    "PruneCallback",
    "Regularizer",
    "WeightEntropy",
    "apply_mask",
    "prune",
    "prune_mask",
]
