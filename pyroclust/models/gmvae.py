"""GMVAE, "Is Simple Better?": a categorical and a Gaussian code decoded together.

The model of Arias Figueroa & Ramírez Rivera (2017), with its cluster variable treated one of
two ways (``cluster="relaxed"``, the paper's Gumbel-Softmax, or ``cluster="enumerate"``, summed
out exactly in the guide), and :class:`StableRelaxedOneHotCategorical`, the relaxed one-hot
distribution both sides use, sampled and scored in log space so that it stays finite with many
categories at low temperature.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyro
import pyro.distributions as dist
import torch
import torch.nn.functional as F
from torch import nn

from pyroclust.likelihoods import Bernoulli, Likelihood
from pyroclust.models.base import LatentVariableModel, data_plate
from pyroclust.models.vae import kl_weight
from pyroclust.nn import MLP
from pyroclust.priors import Uniform, WeightPrior
from pyroclust.sites import ASSIGNMENT, LATENT
from pyroclust.structure import ENUMERATE_GUIDE, RELAXED_GUIDE, ClusterSite

#: The two treatments of the cluster variable c and the cluster-site inference each declares.
CLUSTER_TREATMENTS: dict[str, str] = {"relaxed": RELAXED_GUIDE, "enumerate": ENUMERATE_GUIDE}

#: Attribute under which a sample of :class:`StableRelaxedOneHotCategorical` carries its log.
LOG_VALUE = "_pyroclust_log_value"


class StableRelaxedOneHotCategorical(dist.RelaxedOneHotCategorical):
    r"""The relaxed one-hot (Concrete / Gumbel-Softmax) distribution, sampled and scored in
    log space.

    Values live on the simplex, as for :class:`pyro.distributions.RelaxedOneHotCategorical`,
    and the density is the same (Maddison, Mnih & Teh, 2017, eq. 7; ``T`` the temperature,
    ``p`` the class probabilities):

    .. math:: \log p(y) = \log (K-1)! + (K-1)\log T + \sum_k (\log p_k - (T+1)\log y_k)
              - K \log \sum_k p_k y_k^{-T}.

    What differs is the numerics. Torch draws ``log y`` in log space (finite) but returns
    ``y = exp(log y)``, whose small entries underflow to exactly 0 in float32 with many
    categories at a low temperature (about T < 0.3 at K = 1000, sooner with peaked logits);
    ``log_prob`` then takes ``log 0`` and the ELBO is ``nan``. Here a draw keeps its
    log-space value on the returned tensor, and ``log_prob`` of that very tensor (in the
    guide, and in the model that replays it) uses it, so both sides see the exact ``log y``
    and no ``exp`` / ``log`` round trip enters the gradient. Values that were not drawn here
    (a one-hot vector given to condition the site, a copy) are scored at
    ``log max(y, tiny)``, ``tiny`` the dtype's smallest normal number (1.2e-38 in float32,
    i.e. ``log y >= -87.3``): a documented floor, finite for one-hot vectors.

    Parameters
    ----------
    temperature : tensor
        T > 0 (a scalar or broadcastable to the batch shape).
    probs, logits : tensor of shape (..., K)
        The class probabilities, or their unnormalised logarithms.
    straight_through : bool
        Return the hard one-hot vector of the draw's argmax, with the gradient of the soft
        draw (straight-through Gumbel-Softmax, Jang et al., 2017); ``log_prob`` scores the
        soft draw, as in :class:`pyro.distributions.RelaxedOneHotCategoricalStraightThrough`.
    validate_args : bool, optional

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> logits = 80 * torch.randn(1000, generator=g)
    >>> d = StableRelaxedOneHotCategorical(torch.tensor(0.3), logits=logits)
    >>> y = d.rsample()
    >>> bool((y == 0).any()), bool(torch.isfinite(d.log_prob(y)))
    (True, True)
    """

    def __init__(
        self,
        temperature: torch.Tensor,
        probs: torch.Tensor | None = None,
        logits: torch.Tensor | None = None,
        *,
        straight_through: bool = False,
        validate_args: bool | None = None,
    ) -> None:
        super().__init__(temperature, probs=probs, logits=logits, validate_args=validate_args)
        self.straight_through = bool(straight_through)

    def expand(  # noqa: D102
        self, batch_shape: torch.Size, _instance: StableRelaxedOneHotCategorical | None = None
    ) -> StableRelaxedOneHotCategorical:
        new = self._get_checked_instance(StableRelaxedOneHotCategorical, _instance)
        new = super().expand(batch_shape, _instance=new)
        new.straight_through = self.straight_through
        return new

    def rsample(self, sample_shape: torch.Size | tuple[int, ...] = ()) -> torch.Tensor:  # noqa: D102
        log_soft = self.base_dist.rsample(sample_shape)  # log_softmax((logits + g) / T)
        soft = log_soft.exp()
        value = soft
        if self.straight_through:
            hard = F.one_hot(log_soft.argmax(-1), log_soft.shape[-1]).to(soft.dtype)
            value = hard + (soft - soft.detach())  # exactly `hard`, with the soft gradient
        setattr(value, LOG_VALUE, log_soft)
        return value

    def sample(self, sample_shape: torch.Size | tuple[int, ...] = ()) -> torch.Tensor:  # noqa: D102
        with torch.no_grad():
            return self.rsample(sample_shape)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:  # noqa: D102
        log_value = getattr(value, LOG_VALUE, None)
        if log_value is None:
            log_value = value.clamp_min(torch.finfo(value.dtype).tiny).log()
        if self._validate_args:
            ok = (value >= 0).all(-1) & ((value.sum(-1) - 1).abs() < 1e-4)
            if not bool(ok.all()):
                raise ValueError("StableRelaxedOneHotCategorical: value is not on the simplex")
        # the Concrete density of y = exp(x): that of x, less the log-Jacobian sum_k x_k
        return self.base_dist.log_prob(log_value) - log_value.sum(-1)


def check_w_gaussian(w_gaussian: float) -> float:
    """``w_gaussian`` as a float; ``ValueError`` unless it is finite and ``>= 0``."""
    value = float(w_gaussian)
    if not (value >= 0.0 and value < float("inf")):
        raise ValueError(f"w_gaussian (the weight of KL(z)) must be finite and >= 0, got {value}")
    return value


def check_cluster(cluster: str) -> str:
    """``cluster`` if it names a treatment of c (``"relaxed"`` or ``"enumerate"``)."""
    if cluster not in CLUSTER_TREATMENTS:
        raise ValueError(f"cluster must be one of {sorted(CLUSTER_TREATMENTS)}, got {cluster!r}")
    return cluster


def check_temperature(temperature: float) -> float:
    """``temperature`` as a float; ``ValueError`` unless it is finite and ``> 0``."""
    value = float(temperature)
    if not (value > 0.0 and value < float("inf")):
        raise ValueError(f"the temperature must be finite and > 0, got {value}")
    return value


class GMVAE(LatentVariableModel):
    r"""The GMVAE of "Is Simple Better?" (Arias Figueroa & Ramírez Rivera, NeurIPS 2017
    workshop): a categorical and a Gaussian code decoded together.

    Generative story, for each data point n (paper, eqs. 2-4):

    .. math::
        \pi &\sim p(\pi)                           &\text{(the ``weights`` prior; uniform)}\\
        c_n \mid \pi &\sim \mathrm{Cat}(\pi)        &\text{(site ``assignment``)}\\
        z_n &\sim \mathcal N(0, I_{d_z})            &\text{(site ``z``, scaled by } w_G)\\
        x_n \mid z_n, c_n &\sim p\big(x \mid \mathrm{dec}(W_z z_n + W_c\,\mathrm{onehot}(c_n)
        + b)\big)                                   &\text{(site ``obs``)}

    f(z, c) = Linear(z) → d_f plus Linear(one-hot c) → d_f, then the decoder
    d_f-256-512-D with batch normalisation and a ReLU after each hidden layer (not after the
    two embeddings nor the output). With :class:`~pyroclust.guides.GMVAEGuide` the objective
    is the paper's eq. 7 with the Gaussian term weighted by :math:`w_G` (5 in the paper):

    .. math:: \mathbb E_{q(c, z\mid x)}[\log p(x\mid z, c)] - \mathrm{KL}(q(c\mid x)\,\|\,p(c))
              - w_G\,\mathrm{KL}(q(z\mid x)\,\|\,p(z)),

    where :math:`w_G` is a ``poutine.scale`` on the ``"z"`` site here and in the guide (a
    mask for :math:`w_G = 0`), so Pyro's ELBO computes exactly this. The cluster site c is
    treated one of two ways, chosen by ``cluster``:

    ``"relaxed"`` (the paper)
        c is a relaxed one-hot vector, ``StableRelaxedOneHotCategorical(T, logits=log pi)``
        here and the same family with the encoder's logits in the guide, under the same site
        name; KL(c) is the Monte-Carlo log ratio of the two Concrete densities. The
        temperature T is a buffer of model and guide, annealed by
        :class:`~pyroclust.infer.schedules.TemperatureAnnealing` (1 to 0.5 over 100 epochs in
        the paper); ``straight_through=True`` decodes hard one-hot draws.
    ``"enumerate"``
        c is an integer, ``Categorical(logits=log pi)`` here (not enumerated), summed out
        exactly in the guide (``infer={"enumerate": "parallel"}``, so ``TraceEnum_ELBO``):
        no relaxation bias and no temperature; each step decodes every cluster (K times the
        decoder's work).

    :math:`\log \pi` is floored at the dtype's smallest normal number, so a weight prior that
    sets some :math:`\pi_k = 0` (stick-breaking) keeps the objective finite. Nothing depends
    on K being 10 (the authors' code hard-codes :math:`-\log 0.1`).

    Parameters
    ----------
    n_features : int
        Width D of the data.
    n_components : int
        Number of clusters K.
    latent_dim : int
        :math:`d_z`: 150 for MNIST and 50 for USPS and Reuters-10K in the paper.
    feature_dim : int
        :math:`d_f`, the width of f(z, c) (and of the guide's features): 100 in the paper.
    hidden : sequence of int
        The guide's encoder widths (512, 256); the decoder mirrors them (d_f-256-512-D).
    likelihood : Likelihood, optional
        :class:`~pyroclust.likelihoods.Bernoulli` (binary cross-entropy, the default) or
        :class:`~pyroclust.likelihoods.Gaussian` (squared error) for real-valued data.
    weights : WeightPrior, optional
        Prior over pi; :class:`~pyroclust.priors.Uniform` by default, as in the paper. Any
        prior of :mod:`pyroclust.priors` works.
    cluster : {"relaxed", "enumerate"}
        The treatment of c (above); the declared cluster site's inference follows.
    straight_through : bool
        With ``cluster="relaxed"``: hard one-hot draws, straight-through gradients.
    temperature : float
        With ``cluster="relaxed"``: the initial temperature (a schedule then sets it).
    w_gaussian : float
        :math:`w_G`, the weight of KL(z) (5 in the paper). Give the guide the same value
        (and the same ``cluster``, ``straight_through``, ``temperature``); see
        :func:`check_pair`.
    decoder : nn.Module, optional
        Maps f (…, d_f) to the likelihood's parameters (…, D), applied to rows (its input is
        flattened to (rows, d_f)); ``MLP([d_f, 256, 512, D], batch_norm=True)`` by default.

    Examples
    --------
    >>> model = GMVAE(64, 4, latent_dim=3, feature_dim=8, hidden=(16, 12))
    >>> model.cluster_sites[0].inference
    'relaxed-guide'
    >>> model.eval()(data_size=5).shape   # generates 5 items
    torch.Size([5, 64])
    """

    def __init__(
        self,
        n_features: int,
        n_components: int,
        latent_dim: int = 150,
        *,
        feature_dim: int = 100,
        hidden: Sequence[int] = (512, 256),
        likelihood: Likelihood | None = None,
        weights: WeightPrior | None = None,
        cluster: str = "relaxed",
        straight_through: bool = False,
        temperature: float = 1.0,
        w_gaussian: float = 5.0,
        decoder: nn.Module | None = None,
    ) -> None:
        super().__init__()
        n_features, n_components = int(n_features), int(n_components)
        latent_dim, feature_dim = int(latent_dim), int(feature_dim)
        for name, value in (
            ("n_features", n_features),
            ("n_components", n_components),
            ("latent_dim", latent_dim),
            ("feature_dim", feature_dim),
        ):
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        self.cluster = check_cluster(cluster)
        self.n_components = n_components
        self.latent_dim = latent_dim
        self.feature_dim = feature_dim
        self.straight_through = bool(straight_through)
        self.w_gaussian = check_w_gaussian(w_gaussian)
        self.site_scales = {LATENT: self.w_gaussian}  # declared for the shared checks
        self.cluster_sites = (
            ClusterSite(ASSIGNMENT, n_components, CLUSTER_TREATMENTS[self.cluster]),
        )
        self.weights = (weights if weights is not None else Uniform()).build(n_components)
        self.likelihood = likelihood if likelihood is not None else Bernoulli()
        self.from_z = nn.Linear(latent_dim, feature_dim)
        self.from_c = nn.Linear(n_components, feature_dim)
        if decoder is None:
            decoder = MLP(
                [feature_dim, *reversed([int(h) for h in hidden]), n_features], batch_norm=True
            )
        self.decoder = decoder
        if self.relaxed:
            self.register_buffer("temperature", torch.tensor(check_temperature(temperature)))

    @property
    def relaxed(self) -> bool:
        """Whether c is a relaxed one-hot vector (else an integer summed out by the guide)."""
        return self.cluster == "relaxed"

    def set_temperature(self, temperature: float) -> None:
        """Set the relaxation temperature T (``cluster="relaxed"`` only)."""
        if not self.relaxed:
            raise ValueError("an enumerated GMVAE has no temperature")
        self.temperature.fill_(check_temperature(temperature))

    def embed_cluster(self, c: torch.Tensor) -> torch.Tensor:
        """Linear(one-hot c) → d_f, for integer labels c (any shape, e.g. enumerated
        (K, 1)) or one-hot / relaxed vectors (…, K): shape ``c.shape + (d_f,)`` or
        ``c.shape[:-1] + (d_f,)``."""
        weight, bias = self.from_c.weight, self.from_c.bias  # (d_f, K), (d_f,)
        if c.dtype in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
            return weight.t()[c] + bias  # = Linear(one_hot(c)), without building it
        return self.from_c(c.to(weight.dtype))

    def features(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """f(z, c) = Linear(z) + Linear(one-hot c), broadcast: shape (…, d_f)."""
        return self.from_z(z) + self.embed_cluster(c)

    def decoder_params(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """The likelihood's parameters at (z, c): shape (…, n_features), the broadcast of
        the leading shapes of z and c (an enumerated c of shape (K, 1) and z of shape
        (B, d_z) give (K, B, n_features)); the decoder sees the rows flattened."""
        f = self.features(z, c)
        out = self.decoder(f.reshape(-1, f.shape[-1]))
        return out.reshape(*f.shape[:-1], out.shape[-1])

    def decode(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        """E[x | z, c], the likelihood's mean (the style-transfer grid of the paper's Fig. 4a
        decodes one z with every c)."""
        if c is None:
            raise ValueError("GMVAE decodes from (z, c): pass the cluster c as well")
        return self.likelihood.mean(self.decoder_params(z, c))

    def cluster_prior(self, log_pi: torch.Tensor, batch: int) -> dist.Distribution:
        """p(c) for ``batch`` rows: the relaxed or the plain categorical at ``log_pi``."""
        if self.relaxed:
            return StableRelaxedOneHotCategorical(
                self.temperature,
                logits=log_pi.expand(batch, -1),
                straight_through=self.straight_through,
            )
        return dist.Categorical(logits=log_pi)

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
        tensor: the observed data, or the generated items (n, n_features); with c
        enumerated by the guide, the draws have c's enumeration dimension in front.
        """
        batch = x.shape[0] if x is not None else data_size
        if batch is None:
            raise ValueError("pass the data x, or data_size to generate that many items")
        pi = self.weights()
        log_pi = pi.clamp_min(torch.finfo(pi.dtype).tiny).log()
        with data_plate(batch, data_size, pi.device):
            c = pyro.sample(ASSIGNMENT, self.cluster_prior(log_pi, batch))
            with kl_weight(self.w_gaussian):
                zeros = pi.new_zeros(batch, self.latent_dim)
                z = pyro.sample(LATENT, dist.Normal(zeros, 1.0).to_event(1))
            return self.likelihood(self.decoder_params(z, c), obs=x)


def check_pair(model: GMVAE, guide: object) -> None:
    """Raise ``ValueError`` when a :class:`GMVAE` and its guide disagree on what both must
    share: the treatment of c, K, d_z, straight-through draws and ``w_gaussian`` (the
    objective is the paper's only when the ``"z"`` site has the same weight on both sides)."""
    for name in ("cluster", "n_components", "latent_dim", "straight_through", "w_gaussian"):
        mine, theirs = getattr(model, name), getattr(guide, name, None)
        if mine != theirs:
            raise ValueError(
                f"the model has {name}={mine!r} but the guide {name}={theirs!r}; build both "
                "with the same options (GMVAEGuide.for_model(model) does)"
            )


__all__ = [
    "CLUSTER_TREATMENTS",
    "GMVAE",
    "StableRelaxedOneHotCategorical",
    "check_cluster",
    "check_pair",
    "check_temperature",
    "check_w_gaussian",
]
