r"""k-DVAE, "A Mixture of Variational Autoencoders for Deep Clustering": one VAE per cluster.

The model of Caciularu & Goldberger (published as "An Entangled Mixture of Variational
Autoencoders Approach to Deep Clustering"): k encoder/decoder pairs, each a VAE with a
standard normal code, run as one batched network (:class:`~pyroclust.nn.BatchedMLP`). Besides
the model this module holds what reads both model and guide:

- :func:`elbo_scores`, the per-cluster terms of the paper's eq. 6 (or eq. 5 without
  sampling), and :class:`HardAssignmentLoss`, the paper's hard objective (eq. 6) as a loss
  callable of :class:`~pyroclust.infer.SVITrainer` and :class:`~pyroclust.Clusterer`;
- :func:`assignment_scores` and :func:`hard_assignments`, the paper's hard clustering
  (eq. 8);
- :class:`ClusterReconstructionLoss`, each autoencoder trained on the rows of its cluster
  (the initialisation of :class:`~pyroclust.infer.init.MixtureOfAutoencodersInit`).

The soft objective, the default, is the true ELBO with y summed exactly in the guide
(``TraceEnum_ELBO``, what :func:`~pyroclust.infer.make_elbo` chooses).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyro
import pyro.distributions as dist
import torch
import torch.nn.functional as F
from torch import nn

from pyroclust.likelihoods import Bernoulli, Likelihood
from pyroclust.models.base import LatentVariableModel, data_plate
from pyroclust.nn import BatchedMLP
from pyroclust.priors import Uniform, WeightPrior, weight_logits
from pyroclust.sites import ASSIGNMENT, LATENT
from pyroclust.structure import ENUMERATE_GUIDE, ClusterSite


def check_positive(**values: int) -> None:
    """``ValueError`` naming the first of ``values`` that is below 1."""
    for name, value in values.items():
        if int(value) < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")


def is_enumerated(y: torch.Tensor, n_components: int) -> bool:
    """Whether ``y`` is the parallel enumeration of all ``n_components`` values of a site in
    the data plate: ``arange(K)`` of shape (K, 1), value i in row i (Pyro's
    ``enumerate_support(expand=False)``)."""
    if y.dim() != 2 or y.shape != (n_components, 1):
        return False
    return bool(torch.equal(y[:, 0], torch.arange(n_components, device=y.device)))


def select_cluster(table: torch.Tensor, y: torch.Tensor, batch: int) -> torch.Tensor:
    """Row ``y`` of a per-cluster table of shape (K, batch, F), for every data point.

    ``y`` is either integer labels of shape (batch,) (one cluster per row), giving
    (batch, F), or the enumerated labels (K, 1) of :func:`is_enumerated`, giving the table
    itself (K, batch, F), row i holding cluster i; any other shape broadcastable against
    (batch,) is gathered, giving ``broadcast(y.shape, (batch,)) + (F,)``.
    """
    k = table.shape[0]
    if is_enumerated(y, k):
        return table
    shape = torch.broadcast_shapes(y.shape, (batch,))
    by_row = table.transpose(0, 1)  # (batch, K, F)
    idx = y.expand(shape)[..., None, None].expand(*shape, 1, table.shape[-1])
    return by_row.expand(*shape, k, table.shape[-1]).gather(-2, idx).squeeze(-2)


def normal_kl(loc: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    r""":math:`\mathrm{KL}(\mathcal N(\mu, \mathrm{diag}\,\sigma^2) \,\|\, \mathcal N(0, I))
    = \frac12 \sum_s (\mu_s^2 + \sigma_s^2 - 1 - 2\log\sigma_s)`, summed over the last
    dimension."""
    return 0.5 * (loc.pow(2) + scale.pow(2) - 1.0 - 2.0 * scale.log()).sum(-1)


class KDVAE(LatentVariableModel):
    r"""k-DVAE (Caciularu & Goldberger): a mixture of k VAEs, one decoder per cluster.

    Generative story, for each data point n (paper, Sec. 3.1):

    .. math::
        \alpha &\sim p(\alpha)                       &\text{(the ``weights`` prior)}\\
        y_n \mid \alpha &\sim \mathrm{Cat}(\alpha)    &\text{(site ``assignment``)}\\
        z_n &\sim \mathcal N(0, I_d)                 &\text{(site ``z``, independent of } y_n)\\
        x_n \mid z_n, y_n = i &\sim p\big(x \mid \mathrm{dec}_i(z_n)\big)
                                                     &\text{(site ``obs``)}

    with :math:`p(x \mid h)` Bernoulli with logits h for data in [0, 1] and Gaussian with
    mean h otherwise (:mod:`pyroclust.likelihoods`; its scale is shared by the clusters,
    where the paper lets each decoder output a variance). Decoder i has widths
    d-100-500-D (ReLU between layers, linear output) and the k decoders are one
    :class:`~pyroclust.nn.BatchedMLP`.

    The guide, :class:`~pyroclust.guides.KDVAEGuide`, is
    :math:`q(y, z \mid x) = q(y \mid x)\, \mathcal N(z; \mu_y(x), \mathrm{diag}\,\sigma_y(x)^2)`
    with y enumerated (declared ``ClusterSite("assignment", K, "enumerate-guide")``), so the
    default objective, the soft one, is the true ELBO (paper, eqs. 1-4) with y summed
    exactly:

    .. math:: \sum_i q(i \mid x) \Big( \log\alpha_i + \log p(x \mid \mathrm{dec}_i(z_i))
              + \log \mathcal N(z_i; 0, I) - \log q(z_i \mid x, i) - \log q(i \mid x) \Big),
              \quad z_i \sim q(z \mid x, i).

    The paper's hard objective (eq. 6) is :class:`HardAssignmentLoss` and its clustering
    rule (eq. 8) :func:`hard_assignments`.

    When the guide enumerates y, the replayed code has one draw per cluster, shape
    (K, batch, d) (row i drawn from encoder i), and decoder i runs on row i only: one
    batched pass, no cluster decodes another's code. Any other y (sampled, conditioned on a
    component, the mode of q) runs every decoder on the code and keeps decoder y's output.

    Parameters
    ----------
    n_features : int
        Width D of the data.
    n_components : int
        Number of clusters K (one autoencoder each).
    latent_dim : int
        d, the width of each code (10 in the paper).
    hidden : sequence of int
        The encoders' hidden widths (500, 100) (the paper's D-500-100-10); the decoders
        mirror them (10-100-500-D).
    likelihood : Likelihood, optional
        :class:`~pyroclust.likelihoods.Bernoulli` (default) or
        :class:`~pyroclust.likelihoods.Gaussian`.
    weights : WeightPrior, optional
        Prior over :math:`\alpha`: :class:`~pyroclust.priors.Uniform` by default (the
        paper's objective, eq. 6, never involves :math:`\alpha`); any prior of
        :mod:`pyroclust.priors` works.
    decoder : BatchedMLP, optional
        The K decoders (K networks, d → D); the paper's by default.

    Examples
    --------
    >>> model = KDVAE(64, 3, latent_dim=2, hidden=(16, 8))
    >>> model.cluster_sites[0].inference
    'enumerate-guide'
    >>> model.decode_all(torch.zeros(5, 2)).shape     # every decoder, shape (K, batch, D)
    torch.Size([3, 5, 64])
    """

    #: Whether the code is a deterministic function of x (k-DAE): no prior, no KL term.
    deterministic: bool = False

    def __init__(
        self,
        n_features: int,
        n_components: int,
        latent_dim: int = 10,
        *,
        hidden: Sequence[int] = (500, 100),
        likelihood: Likelihood | None = None,
        weights: WeightPrior | None = None,
        decoder: BatchedMLP | None = None,
    ) -> None:
        super().__init__()
        n_features, n_components, latent_dim = int(n_features), int(n_components), int(latent_dim)
        check_positive(n_features=n_features, n_components=n_components, latent_dim=latent_dim)
        self.n_components = n_components
        self.latent_dim = latent_dim
        self.hidden = tuple(int(h) for h in hidden)
        self.cluster_sites = (ClusterSite(ASSIGNMENT, n_components, ENUMERATE_GUIDE),)
        self.weights = (weights if weights is not None else Uniform()).build(n_components)
        self.likelihood = likelihood if likelihood is not None else Bernoulli()
        if decoder is None:
            decoder = BatchedMLP(n_components, [latent_dim, *reversed(self.hidden), n_features])
        if getattr(decoder, "n_networks", n_components) != n_components:
            raise ValueError(
                f"the decoder holds {decoder.n_networks} networks for {n_components} clusters"
            )
        self.decoder = decoder

    def decode_all(self, z: torch.Tensor) -> torch.Tensor:
        """Every decoder's output (the likelihood's parameters): z of shape (batch, d), seen
        by all decoders, or (K, batch, d), row i seen by decoder i; returns (K, batch, D)."""
        return self.decoder(z)

    def decode_grouped(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Row b of ``z`` (batch, d) through decoder ``labels[b]`` only; returns (batch, D)
        (:meth:`~pyroclust.nn.BatchedMLP.grouped`)."""
        return self.decoder.grouped(z, labels)

    def decoder_params(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The likelihood's parameters :math:`\\mathrm{dec}_y(z)`.

        ``z`` of shape (batch, d) with labels ``y`` of shape (batch,) or enumerated (K, 1)
        gives (batch, D) or (K, batch, D); ``z`` of shape (K, batch, d) with the enumerated
        ``y`` (the guide's draw for every cluster) gives (K, batch, D), decoder i on
        ``z[i]``. Other shapes: every decoder on every code, then decoder y's output.
        """
        k = self.n_components
        if z.dim() == 3 and z.shape[0] == k and is_enumerated(y, k):
            return self.decoder(z)
        rows = z.reshape(-1, z.shape[-1])
        out = self.decoder(rows)  # (K, rows, D)
        table = out.transpose(0, 1).reshape(*z.shape[:-1], k, out.shape[-1])  # (..., K, D)
        batch = z.shape[:-1]
        shape = torch.broadcast_shapes(y.shape, batch)
        idx = y.expand(shape)[..., None, None].expand(*shape, 1, out.shape[-1])
        return table.expand(*shape, k, out.shape[-1]).gather(-2, idx).squeeze(-2)

    def decode(self, z: torch.Tensor, y: torch.Tensor | int) -> torch.Tensor:
        """E[x | z, y]: the likelihood's mean at decoder y (an int or labels (batch,)) for
        codes z of shape (batch, d); shape (batch, D)."""
        y = torch.as_tensor(y, device=z.device).expand(z.shape[:-1])
        return self.likelihood.mean(self.decoder_params(z, y))

    def code_prior(self, zeros: torch.Tensor) -> dist.Distribution:
        """p(z) = N(0, I), of event dimension 1, at ``zeros`` (batch, d)."""
        return dist.Normal(zeros, 1.0).to_event(1)

    def forward(
        self, x: torch.Tensor | None = None, *, data_size: int | None = None
    ) -> torch.Tensor:
        """Run the generative program; observe ``x`` (a mini-batch) when given.

        Parameters
        ----------
        x : tensor of shape (batch_size, n_features), optional
        data_size : int, optional
            Rows in the whole data set (scales the mini-batch); with ``x=None``, how many
            items to generate.

        Returns
        -------
        tensor: the observed data, or the generated items (n, n_features); with y enumerated
        by the guide, draws have y's enumeration dimension in front.
        """
        batch = x.shape[0] if x is not None else data_size
        if batch is None:
            raise ValueError("pass the data x, or data_size to generate that many items")
        pi = self.weights()
        with data_plate(batch, data_size, pi.device):
            y = pyro.sample(ASSIGNMENT, dist.Categorical(logits=weight_logits(pi)))
            zeros = pi.new_zeros(batch, self.latent_dim)
            z = pyro.sample(LATENT, self.code_prior(zeros))
            return self.likelihood(self.decoder_params(z, y), obs=x)


# ---------------------------------------------------------------------------------------------
# the paper's scores: eq. 6 (training) and eq. 8 (clustering)
# ---------------------------------------------------------------------------------------------
def _by_row(table: torch.Tensor) -> torch.Tensor:
    """(K, batch) -> (batch, K)."""
    return table.transpose(0, 1)


def elbo_scores(model: Any, guide: Any, x: torch.Tensor, *, sample: bool = True) -> torch.Tensor:
    r"""The per-cluster terms of the paper's eq. 6, shape (batch, K):

    .. math:: s_i(x) = \log p\big(x \mid \mathrm{dec}_i(z_i)\big)
              - \mathrm{KL}\big(\mathcal N(\mu_i(x), \mathrm{diag}\,\sigma_i(x)^2)
              \,\|\, \mathcal N(0, I)\big), \qquad
              z_i = \mu_i(x) + \sigma_i(x) \odot \varepsilon_i,\ \varepsilon_i \sim \mathcal N(0, I)

    (reparameterised: one standard normal draw of shape (K, batch, d), in the order of
    ``torch.randn``); with ``sample=False``, :math:`z_i = \mu_i(x)`. For a deterministic
    model (k-DAE) the KL term is left out and :math:`z_i = \mu_i(x)`: the per-cluster
    reconstruction log-likelihood.
    """
    loc, scale = guide.encode_all(x)  # (K, batch, d) each
    deterministic = getattr(model, "deterministic", False)
    z = loc
    if sample and not deterministic:
        z = loc + scale * torch.randn_like(loc)
    loglik = model.likelihood.log_prob(model.decode_all(z), x)  # (K, batch)
    if deterministic:
        return _by_row(loglik)
    return _by_row(loglik - normal_kl(loc, scale))


def reconstruction_scores(model: Any, guide: Any, x: torch.Tensor) -> torch.Tensor:
    r""":math:`\log p(x \mid \mathrm{dec}_i(\mu_i(x)))` for every cluster i, shape (batch, K):
    minus the reconstruction error of autoencoder i (binary cross-entropy for Bernoulli,
    a scaled squared error plus a constant for Gaussian)."""
    loc, _ = guide.encode_all(x)
    return _by_row(model.likelihood.log_prob(model.decode_all(loc), x))


def own_cluster_scores(
    model: Any, guide: Any, x: torch.Tensor, labels: torch.Tensor, *, objective: str
) -> torch.Tensor:
    r"""Row b's score by its own cluster's autoencoder :math:`l_b` = ``labels[b]`` only,
    shape (batch,): :func:`reconstruction_scores` (``objective="reconstruction"``) or
    :func:`elbo_scores` with a sampled code (``"elbo"``) read at column :math:`l_b`, the
    same values for the same noise (a (K, batch, d) standard normal draw, of which row b
    uses slice :math:`l_b`).

    Each encoder and decoder runs on its own rows (``encode_grouped``/``decode_grouped``,
    :meth:`~pyroclust.nn.BatchedMLP.grouped`): 1/K of the arithmetic of scoring every row by
    every autoencoder. A guide or model without the grouped passes is scored in full and
    read at the labels.
    """
    grouped = hasattr(guide, "encode_grouped") and hasattr(model, "decode_grouped")
    if not grouped:
        table = (
            elbo_scores(model, guide, x, sample=True)
            if objective == "elbo"
            else reconstruction_scores(model, guide, x)
        )
        return table.gather(-1, labels[:, None]).squeeze(-1)
    loc, scale = guide.encode_grouped(x, labels)
    deterministic = getattr(model, "deterministic", False)
    z = loc
    if objective == "elbo" and not deterministic:
        k = model.n_components
        eps = torch.randn(k, *loc.shape, dtype=loc.dtype, device=loc.device)
        z = loc + scale * eps[labels, torch.arange(loc.shape[0], device=loc.device)]
    loglik = model.likelihood.log_prob(model.decode_grouped(z, labels), x)
    if objective == "elbo" and not deterministic:
        return loglik - normal_kl(loc, scale)
    return loglik


def assignment_scores(model: Any, guide: Any, x: torch.Tensor) -> torch.Tensor:
    r"""The paper's hard-clustering scores (eq. 8), shape (batch, K):

    .. math:: \log p\big(x \mid \mathrm{dec}_i(\bar z_i)\big) - \tfrac12 \|\bar z_i\|^2
              + \sum_{s=1}^d \log \sigma_{is}(x), \qquad \bar z_i = \mu_i(x),

    i.e. eq. 7, :math:`\log p(x \mid \bar z_i) - \log q(\bar z_i \mid x, i) + \log p(\bar z_i)`
    without the constants common to all clusters. For a deterministic model (k-DAE) the
    score is the reconstruction log-likelihood alone (each item goes to the autoencoder
    with the smallest reconstruction error).
    """
    if getattr(model, "deterministic", False):
        return reconstruction_scores(model, guide, x)
    loc, scale = guide.encode_all(x)
    loglik = model.likelihood.log_prob(model.decode_all(loc), x)
    return _by_row(loglik - 0.5 * loc.pow(2).sum(-1) + scale.log().sum(-1))


@torch.no_grad()
def hard_assignments(
    model: Any, guide: Any, x: torch.Tensor, *, batch_size: int = 4096
) -> torch.Tensor:
    """The paper's hard clustering (eq. 8, Algorithm 2): the argmax over clusters of
    :func:`assignment_scores` for every row of ``x`` (n_samples, n_features), in evaluation
    mode; integer labels of shape (n_samples,). For k-DAE, the autoencoder with the smallest
    reconstruction error."""
    from pyroclust.predictive import evaluating

    out = []
    with evaluating(model, guide):
        for xb in torch.split(x, batch_size):
            out.append(assignment_scores(model, guide, xb).argmax(-1))
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.long, device=x.device)


# ---------------------------------------------------------------------------------------------
# objectives as loss callables of the trainer
# ---------------------------------------------------------------------------------------------
def _scale(data_size: int | None, batch: int) -> float:
    return (float(data_size) if data_size is not None else float(batch)) / batch


class HardAssignmentLoss:
    r"""The paper's hard objective (eq. 6), as a loss callable of
    :class:`~pyroclust.infer.SVITrainer` (``SVITrainer(loss=HardAssignmentLoss())``) and
    :class:`~pyroclust.Clusterer` (``Clusterer(model, guide, loss=HardAssignmentLoss())``).

    For a mini-batch of B rows of a data set of n rows, the loss is

    .. math:: -\frac{n}{B} \sum_{b=1}^B \max_i \Big[\log p\big(x_b \mid \mathrm{dec}_i(z_{bi})\big)
              - \mathrm{KL}\big(q_i(z \mid x_b) \,\|\, \mathcal N(0, I)\big)\Big],
              \quad z_{bi} \sim q_i(z \mid x_b)

    (:func:`elbo_scores`): the soft ELBO with the sum over clusters replaced by its largest
    term and :math:`q(y \mid x)` set to :math:`p(y)` (the paper's eqs. 5-6), scaled to the
    data set as Pyro scales a subsampled plate. The weights :math:`\alpha` do not enter it.

    Since the objective never uses the guide's network :math:`q(y \mid x)`, it would stay at
    its random start, and :meth:`~pyroclust.Clusterer.predict` (which reads q(y | x)) would
    be meaningless. With ``fit_posterior=True`` (default) the loss adds the cross-entropy of
    q(y | x) against the winning cluster of each row (held fixed), scaled the same way:
    only q(y | x)'s own parameters receive its gradient, so the encoders' and decoders'
    gradient is exactly eq. 6's, and q(y | x) learns to predict the clustering eq. 6 trains.
    The paper's own clustering rule is eq. 8, :func:`hard_assignments`.

    Parameters
    ----------
    fit_posterior : bool
        Add the cross-entropy term above (``False``: eq. 6 alone).
    """

    def __init__(self, fit_posterior: bool = True) -> None:
        self.fit_posterior = bool(fit_posterior)

    def scores(self, model: Any, guide: Any, x: torch.Tensor) -> torch.Tensor:
        """The per-cluster terms whose maximum is taken, shape (batch, K)."""
        return elbo_scores(model, guide, x, sample=True)

    def __call__(
        self, model: Any, guide: Any, x: torch.Tensor, *, data_size: int | None = None
    ) -> torch.Tensor:
        """The loss of the whole data set estimated from the mini-batch ``x``."""
        scale = _scale(data_size, x.shape[0])
        best, winner = self.scores(model, guide, x).max(-1)
        loss = -best.sum() * scale
        if self.fit_posterior:
            logits = guide.cluster_logits(x)
            loss = loss + F.cross_entropy(logits, winner.detach(), reduction="sum") * scale
        return loss

    def __repr__(self) -> str:
        return f"{type(self).__name__}(fit_posterior={self.fit_posterior})"

    def __eq__(self, other: object) -> bool:  # a recipe compares equal to its rebuild
        return type(other) is type(self) and vars(other) == vars(self)

    def __hash__(self) -> int:
        return hash((type(self), tuple(sorted(vars(self).items()))))


class ClusterReconstructionLoss:
    r"""Each autoencoder trained on the rows of its cluster, as a trainer loss callable
    ``loss(model, guide, x, labels, data_size=n)`` (data ``(x, labels)``).

    .. math:: -\frac{n}{B} \sum_b s_{l_b}(x_b)
              \;+\; \frac{n}{B} \sum_b -\log q(y = l_b \mid x_b)

    with :math:`l_b` the label of row b and :math:`s_i(x)` autoencoder i's score of x: with
    ``objective="reconstruction"`` (default) its reconstruction log-likelihood at the mean
    code, :math:`\log p(x \mid \mathrm{dec}_i(\mu_i(x)))` (:func:`reconstruction_scores`);
    with ``objective="elbo"`` its term of eq. 6, the reconstruction at a sampled code minus
    the KL divergence of :math:`q_i(z \mid x)` from N(0, I) (:func:`elbo_scores`; for k-DAE
    the reconstruction alone), so that each VAE is pretrained as a VAE. All k autoencoders
    run on the batch in one batched pass and each row's loss is read at its own cluster's,
    so row b's gradient reaches autoencoder :math:`l_b` only (a masked loss). The second
    term (with ``classifier=True``) trains q(y | x) to predict the labels, so that the soft
    objective starts from the same clustering.
    """

    def __init__(self, classifier: bool = True, objective: str = "reconstruction") -> None:
        if objective not in ("reconstruction", "elbo"):
            raise ValueError(f"objective must be 'reconstruction' or 'elbo', got {objective!r}")
        self.classifier = bool(classifier)
        self.objective = objective

    def __call__(
        self,
        model: Any,
        guide: Any,
        x: torch.Tensor,
        labels: torch.Tensor,
        *,
        data_size: int | None = None,
    ) -> torch.Tensor:
        """The loss of the whole data set estimated from the batch (rows ``x``, ``labels``)."""
        labels = labels.long()
        loss = -own_cluster_scores(model, guide, x, labels, objective=self.objective).sum()
        if self.classifier:
            loss = loss + F.cross_entropy(guide.cluster_logits(x), labels, reduction="sum")
        return loss * _scale(data_size, x.shape[0])

    def __repr__(self) -> str:
        return f"{type(self).__name__}(classifier={self.classifier}, objective={self.objective!r})"


class ClassifierLoss:
    r"""q(y | x) alone fitted to labels, as a trainer loss callable
    ``loss(model, guide, x, labels, data_size=n)`` (data ``(x, labels)``):

    .. math:: \frac{n}{B} \sum_b -\log q(y = l_b \mid x_b)

    the cross-entropy of the guide's classifier (:meth:`KDVAEGuide.cluster_logits`) against
    the labels :math:`l_b`, scaled to the data set. Nothing else of the pair runs, so an epoch
    costs one classifier pass: the stage that finishes q(y | x)'s fit to the start's clusters
    after the autoencoders' pretraining
    (:class:`~pyroclust.infer.init.MixtureOfAutoencodersInit`'s ``classifier_epochs``).
    """

    def __call__(
        self,
        model: Any,
        guide: Any,
        x: torch.Tensor,
        labels: torch.Tensor,
        *,
        data_size: int | None = None,
    ) -> torch.Tensor:
        """The loss of the whole data set estimated from the batch (rows ``x``, ``labels``)."""
        loss = F.cross_entropy(guide.cluster_logits(x), labels.long(), reduction="sum")
        return loss * _scale(data_size, x.shape[0])

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def check_pair(model: KDVAE, guide: nn.Module) -> None:
    """``ValueError`` when a model and its guide disagree on K or d."""
    for name in ("n_components", "latent_dim"):
        mine, theirs = getattr(model, name), getattr(guide, name, None)
        if mine != theirs:
            raise ValueError(
                f"the model has {name}={mine!r} but the guide {name}={theirs!r}; build the "
                "guide with for_model(model)"
            )


__all__ = [
    "KDVAE",
    "ClassifierLoss",
    "ClusterReconstructionLoss",
    "HardAssignmentLoss",
    "assignment_scores",
    "check_pair",
    "elbo_scores",
    "hard_assignments",
    "is_enumerated",
    "normal_kl",
    "own_cluster_scores",
    "reconstruction_scores",
    "select_cluster",
]
