r"""VLAC, "Disentangling to Cluster": a variational ladder autoencoder that clusters at several
layers at once.

The model of Willetts, Roberts & Holmes (2019), built on the Variational Ladder Autoencoder
(VLAE) of Zhao, Song & Ermon (2017): a ladder of L latent layers, each with a plain
:math:`\mathcal N(0, I)` prior or a Gaussian mixture with its own cluster site and its own
weight prior. The guide is :class:`pyroclust.guides.VLACGuide`.
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Iterator, Sequence

import pyro
import pyro.distributions as dist
import torch
import torch.nn.functional as F
from torch import nn

from pyroclust.likelihoods import Bernoulli, Likelihood
from pyroclust.models.base import LatentVariableModel, data_plate
from pyroclust.models.gmvae import (
    CLUSTER_TREATMENTS,
    StableRelaxedOneHotCategorical,
    check_cluster,
    check_temperature,
)
from pyroclust.nn import MLP, ConvDecoder
from pyroclust.nn.conv import check_image_shape
from pyroclust.priors import Uniform, WeightPrior
from pyroclust.structure import ClusterSite

#: Floor added to every scale (softplus of a raw parameter), for numerical safety.
MIN_SCALE = 1e-3

INTEGER_DTYPES = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)


def per_layer(value: int | Sequence[int], n_layers: int, name: str) -> tuple[int, ...]:
    """``value`` repeated for each of ``n_layers`` layers, or the sequence itself when it
    has one positive entry per layer; ``ValueError`` otherwise."""
    if isinstance(value, int | float):
        values = (int(value),) * n_layers
    else:
        values = tuple(int(v) for v in value)
    if len(values) != n_layers or any(v < 1 for v in values):
        raise ValueError(
            f"{name} must be a positive integer or one per layer ({n_layers}), got {value!r}"
        )
    return values


def check_components(n_components: Sequence[int]) -> tuple[int, ...]:
    """K = [K_1, ..., K_L] as a tuple of ints >= 1 (at least one layer)."""
    if isinstance(n_components, int):
        raise ValueError(
            f"VLAC takes one number of components per layer (a list K), got {n_components!r}"
        )
    ks = tuple(int(k) for k in n_components)
    if not ks or any(k < 1 for k in ks):
        raise ValueError(f"n_components must be a non-empty list of integers >= 1, got {ks}")
    return ks


def cluster_name(layer: int) -> str:
    """The cluster site of ladder layer ``layer`` (1-based): ``"y1"``, ``"y2"``, ..."""
    return f"y{layer}"


def code_name(layer: int) -> str:
    """The code site of ladder layer ``layer`` (1-based): ``"z1"``, ``"z2"``, ..."""
    return f"z{layer}"


def as_vector(y: torch.Tensor, k: int, dtype: torch.dtype) -> torch.Tensor:
    """A cluster value as a vector of shape (..., K): one-hot for integer labels (any shape,
    e.g. enumerated (K, 1, 1)), unchanged for one-hot or relaxed vectors."""
    if y.dtype in INTEGER_DTYPES:
        return F.one_hot(y.long(), k).to(dtype)
    return y.to(dtype)


def broadcast_cat(*tensors: torch.Tensor) -> torch.Tensor:
    """Concatenate along the last dimension after broadcasting the leading dimensions (an
    enumerated cluster vector (K, 1, K) with features (B, F) gives (K, B, K + F))."""
    lead = torch.broadcast_shapes(*(t.shape[:-1] for t in tensors))
    return torch.cat([t.expand(*lead, t.shape[-1]) for t in tensors], -1)


def ladder_block(n_in: int, width: int, depth: int) -> MLP:
    """One rung of a ladder: ``depth`` fully connected layers of ``width`` units, each
    followed by a ReLU (no batch normalisation, so enumerated leading dimensions pass)."""
    return MLP([n_in, *[width] * depth], output_activation=nn.ReLU)


def build_weight_priors(
    weights: WeightPrior | Sequence[WeightPrior | None] | None, ks: Sequence[int]
) -> dict[int, WeightPrior]:
    """One built weight prior per mixture layer (K_l > 1), by layer.

    ``weights`` is None (uniform, the paper's p(y_l) = Cat(1/K_l)), one prior (copied for
    each mixture layer), one per mixture layer, or one per layer (entries at K_l = 1 are
    ignored and may be None).
    """
    mixture = [layer for layer, k in enumerate(ks, 1) if k > 1]
    if weights is None or isinstance(weights, WeightPrior):
        spec = weights if weights is not None else Uniform()
        if spec.n_components is not None:
            raise ValueError("give VLAC an unbuilt weight prior (it builds one per layer)")
        chosen: list[WeightPrior | None] = [copy.deepcopy(spec) for _ in mixture]
    else:
        given = list(weights)
        if len(given) == len(ks) and len(ks) != len(mixture):
            given = [given[layer - 1] for layer in mixture]
        if len(given) != len(mixture):
            raise ValueError(
                f"weights: give one prior, one per mixture layer ({len(mixture)}) or one per "
                f"layer ({len(ks)}); got {len(given)}"
            )
        chosen = list(given)
    built: dict[int, WeightPrior] = {}
    for layer, prior in zip(mixture, chosen):
        prior = prior if prior is not None else Uniform()
        built[layer] = prior.build(ks[layer - 1], cluster_name(layer))
    return built


class VLAC(LatentVariableModel):
    r"""VLAC (Willetts, Roberts & Holmes, "Disentangling to Cluster: Gaussian Mixture
    Variational Ladder Auto-Encoders", 2019): a ladder of L latent layers, each a plain
    Gaussian or a Gaussian mixture with its own cluster site.

    Generative story, for each data point (paper, eqs. 1-3 and section 2), with
    :math:`K = [K_1, \dots, K_L]`:

    .. math::
        \pi_l &\sim p(\pi_l)       &\text{(site ``y{l}_weights``, for each } K_l > 1)\\
        y_l \mid \pi_l &\sim \mathrm{Cat}(\pi_l)  &\text{(site ``y{l}``, for each } K_l > 1)\\
        z_l \mid y_l &\sim \mathcal N(\mu_{y_l}, \mathrm{diag}\,\sigma_{y_l}^2)
            &\text{(site ``z{l}``; } \mathcal N(0, I) \text{ when } K_l = 1)\\
        \tilde z_L &= f_L(z_L), \qquad \tilde z_l = f_l(z_l, \tilde z_{l+1})\\
        x &\sim p(x \mid f_0(\tilde z_1))   &\text{(site ``obs``)}

    With every :math:`K_l = 1` it is a VLAE. With :class:`~pyroclust.guides.VLACGuide` the
    objective is the paper's eq. 9,

    .. math:: \mathbb E_q \log p(x \mid z) - \sum_l \mathbb E_{q(y)}
              \mathrm{KL}(q(z_l \mid x, y_{\le l}) \,\|\, p(z_l \mid y_l))
              - \sum_l \mathrm{KL}(q(y_l \mid x) \,\|\, p(y_l \mid \pi_l)),

    (plus the weight priors' terms when they have latent sites). Each mixture layer's y_l is
    treated one of two ways, chosen by ``cluster``:

    ``"relaxed"`` (the paper)
        y_l is a relaxed one-hot vector (:class:`~pyroclust.models.gmvae.
        StableRelaxedOneHotCategorical` at ``log pi_l`` and the temperature buffer, the
        guide's at its logits); p(z_l | y_l) then has mean :math:`y_l^\top \mu` and scale
        :math:`y_l^\top \sigma` (exactly component k's at a one-hot y_l). The temperature is
        annealed by :class:`~pyroclust.infer.schedules.TemperatureAnnealing`.
    ``"enumerate"``
        y_l is an integer, summed out exactly in the guide (``TraceEnum_ELBO``): no
        relaxation bias, at the cost of :math:`\prod_l K_l` passes through the ladder.

    Parameters
    ----------
    n_features : int
        Width D of the data (C·H·W for images, flattened).
    n_components : sequence of int
        K = [K_1, ..., K_L], one per layer, bottom (closest to x) first; K_l = 1 gives a plain
        Gaussian layer. The paper uses [1, 1, 50, 1] and [1, 5, 50, 1] on SVHN.
    latent_dim : int or sequence of int
        :math:`d_l`, the width of each z_l (2 by default).
    hidden : int or sequence of int
        The width of each :math:`\tilde z_l` (and of the guide's :math:`h_l`), 32 by default.
    depth : int
        Fully connected layers in each rung f_l (1 by default).
    likelihood : Likelihood, optional
        :class:`~pyroclust.likelihoods.Bernoulli` by default.
    weights : WeightPrior or sequence, optional
        The weight priors: one prior copied to every mixture layer, one per mixture layer, or
        one per layer (None at K_l = 1). Uniform by default, as in the paper; any prior of
        :mod:`pyroclust.priors` works at any layer.
    cluster : {"relaxed", "enumerate"}
        The treatment of every mixture layer's y_l (above).
    temperature : float
        With ``cluster="relaxed"``: the initial temperature.
    decoder : nn.Module, optional
        f_0, mapping :math:`\tilde z_1` (..., hidden[0]) to the likelihood's parameters
        (..., D); a linear map by default, a :class:`~pyroclust.nn.ConvDecoder` with
        ``image_shape``.
    image_shape : (int, int, int), optional
        (channels, height, width) of image data (the data set's): f_0 is then a
        deconvolutional decoder and the guide's g_1 a convolutional encoder, as in the paper.
    conv_channels : sequence of int
        The encoder's convolution channels (32, 64); the decoder mirrors them.

    Examples
    --------
    >>> model = VLAC(12, [3, 1, 2], latent_dim=2, hidden=8)
    >>> [(s.name, s.n_components) for s in model.cluster_sites]
    [('y1', 3), ('y3', 2)]
    >>> model.latent_sites
    ('z1', 'z2', 'z3')
    >>> model(data_size=5).shape
    torch.Size([5, 12])
    >>> VLAC(3 * 8 * 8, [1, 4], image_shape=(3, 8, 8), conv_channels=(4,)).decoder.out_features
    192
    """

    def __init__(
        self,
        n_features: int,
        n_components: Sequence[int],
        latent_dim: int | Sequence[int] = 2,
        *,
        hidden: int | Sequence[int] = 32,
        depth: int = 1,
        likelihood: Likelihood | None = None,
        weights: WeightPrior | Sequence[WeightPrior | None] | None = None,
        cluster: str = "relaxed",
        temperature: float = 1.0,
        decoder: nn.Module | None = None,
        image_shape: Sequence[int] | None = None,
        conv_channels: Sequence[int] = (32, 64),
    ) -> None:
        super().__init__()
        self.ks = check_components(n_components)
        n_layers = len(self.ks)
        self.n_layers = n_layers
        self.latent_dims = per_layer(latent_dim, n_layers, "latent_dim")
        self.hidden = per_layer(hidden, n_layers, "hidden")
        self.depth = int(depth)
        if self.depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        self.cluster = check_cluster(cluster)
        self.latent_dim = sum(self.latent_dims)
        self.likelihood = likelihood if likelihood is not None else Bernoulli()
        inference = CLUSTER_TREATMENTS[self.cluster]
        self.cluster_sites = tuple(
            ClusterSite(cluster_name(layer), k, inference)
            for layer, k in enumerate(self.ks, 1)
            if k > 1
        )
        self.latent_sites = tuple(code_name(layer) for layer in range(1, n_layers + 1))
        first = self.cluster_sites[0].n_components if self.cluster_sites else None
        self.n_components = first
        for layer, prior in build_weight_priors(weights, self.ks).items():
            setattr(self, f"weights{layer}", prior)
            k, d = self.ks[layer - 1], self.latent_dims[layer - 1]
            setattr(self, f"loc{layer}", nn.Parameter(torch.randn(k, d)))
            setattr(self, f"raw_scale{layer}", nn.Parameter(torch.full((k, d), 0.5413)))
        rungs = []
        for layer in range(1, n_layers + 1):
            d, width = self.latent_dims[layer - 1], self.hidden[layer - 1]
            above = self.hidden[layer] if layer < n_layers else 0
            rungs.append(ladder_block(d + above, width, self.depth))
        self.rungs = nn.ModuleList(rungs)  # f_1 .. f_L
        self.image_shape = check_image_shape(image_shape) if image_shape is not None else None
        self.conv_channels = tuple(int(c) for c in conv_channels)
        if self.image_shape is not None and math.prod(self.image_shape) != int(n_features):
            raise ValueError(
                f"image_shape {self.image_shape} does not match n_features={n_features}"
            )
        if decoder is None and self.image_shape is not None:
            channels = self.conv_channels[::-1]
            decoder = ConvDecoder(self.hidden[0], self.image_shape, channels=channels)
        self.decoder = decoder if decoder is not None else nn.Linear(self.hidden[0], n_features)
        self._n_features = int(n_features)
        if self.relaxed:
            self.register_buffer("temperature", torch.tensor(check_temperature(temperature)))

    @property
    def n_features(self) -> int:
        """Width D of the data."""
        return self._n_features

    @property
    def relaxed(self) -> bool:
        """Whether every y_l is a relaxed one-hot vector (else an integer enumerated in the
        guide)."""
        return self.cluster == "relaxed"

    @property
    def mixture_layers(self) -> tuple[int, ...]:
        """The layers (1-based) with K_l > 1."""
        return tuple(layer for layer, k in enumerate(self.ks, 1) if k > 1)

    def weight_prior(self, layer: int) -> WeightPrior:
        """The weight prior of mixture layer ``layer`` (1-based)."""
        return getattr(self, f"weights{layer}")

    def set_temperature(self, temperature: float) -> None:
        """Set the relaxation temperature T (``cluster="relaxed"`` only)."""
        if not self.relaxed:
            raise ValueError("an enumerated VLAC has no temperature")
        self.temperature.fill_(check_temperature(temperature))

    @contextlib.contextmanager
    def plain_components(self) -> Iterator[None]:
        """Within it every mixture layer's components are N(0, I), so each code's prior is a
        VLAE's whatever y_l, and the component tables get no gradient (they keep their
        values). A warm-up run inside it trains the ladder as a VLAE
        (``LayerwiseStart(plain_warmup=True)``): a mixture at the lowest layer then cannot
        give a cheap home to a factor its components could group (coloured MNIST's digit
        colour), and the start clusters codes the ladder alone disentangled."""
        previous = getattr(self, "_plain_components", False)
        self._plain_components = True
        try:
            yield
        finally:
            self._plain_components = previous

    def component_params(self, layer: int, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(loc, scale) of p(z_l | y_l): rows of the component tables for integer labels
        (any shape), their ``y``-weighted average for one-hot or relaxed vectors (..., K);
        (0, 1) inside :meth:`plain_components`."""
        loc = getattr(self, f"loc{layer}")
        scale = F.softplus(getattr(self, f"raw_scale{layer}")) + MIN_SCALE
        if y.dtype in INTEGER_DTYPES:
            loc, scale = loc[y], scale[y]
        else:
            y = y.to(loc.dtype)
            loc, scale = y @ loc, y @ scale
        if getattr(self, "_plain_components", False):
            return torch.zeros_like(loc), torch.ones_like(scale)
        return loc, scale

    def decoder_params(self, zs: Sequence[torch.Tensor]) -> torch.Tensor:
        """The likelihood's parameters f_0(z̃_1) from the codes z_1..z_L (each (..., d_l),
        leading dimensions broadcast): shape (..., D)."""
        top = self.rungs[-1](zs[-1])
        for layer in range(self.n_layers - 1, 0, -1):
            top = self.rungs[layer - 1](broadcast_cat(zs[layer - 1], top))
        return self.decoder(top)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """E[x | z] for the concatenated codes z = [z_1, ..., z_L] (..., sum d_l), in the
        order of ``latent_sites`` (what :meth:`pyroclust.Clusterer.transform` returns)."""
        return self.likelihood.mean(self.decoder_params(z.split(self.latent_dims, -1)))

    def layer_index(self, layer: int | str) -> int:
        """The 1-based ladder layer of ``layer``: itself, or the layer of a site name
        (``"y2"`` or ``"z2"`` give 2); ``ValueError`` otherwise."""
        names = {cluster_name(i): i for i in range(1, self.n_layers + 1)}
        names.update({code_name(i): i for i in range(1, self.n_layers + 1)})
        index = names.get(layer) if isinstance(layer, str) else int(layer)
        if index is None or not 1 <= index <= self.n_layers:
            raise ValueError(
                f"no ladder layer {layer!r}: give 1..{self.n_layers} or a site of "
                f"{sorted(names, key=lambda n: (names[n], n))}"
            )
        return index

    def prior_codes(
        self,
        layer: int | str,
        n: int,
        *,
        component: int | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """``n`` draws of z_l from its prior: N(0, I) at a plain layer; at a mixture layer
        from component ``component`` (p(z_l | y_l = k)) when given, else y_l ~ Cat(pi_l)
        first (pi_l the weight prior's value). Shape (n, d_l), no gradient."""
        index = self.layer_index(layer)
        k, d = self.ks[index - 1], self.latent_dims[index - 1]
        ref = next(self.rungs.parameters())
        noise = torch.randn(n, d, generator=generator, dtype=ref.dtype).to(ref.device)
        if k == 1:
            if component not in (None, 0):
                raise ValueError(
                    f"layer {index} is a plain Gaussian layer: no component {component}"
                )
            return noise
        with torch.no_grad():
            if component is None:
                pi = self.weight_prior(index)().detach().cpu().to(torch.float64)
                y = torch.multinomial(pi, n, replacement=True, generator=generator)
            elif 0 <= int(component) < k:
                y = torch.full((n,), int(component), dtype=torch.long)
            else:
                raise ValueError(
                    f"component must lie in 0..{k - 1} at layer {index}, got {component}"
                )
            loc, scale = self.component_params(index, y.to(ref.device))
            return loc + scale * noise

    def generate(self, zs: Sequence[torch.Tensor]) -> torch.Tensor:
        """E[x | z_1..z_L] for codes given layer by layer (each (..., d_l), leading
        dimensions broadcast), with no gradient: shape (..., D)."""
        with torch.no_grad():
            return self.likelihood.mean(self.decoder_params(list(zs)))

    def component_grid(
        self,
        layer: int | str,
        n_rows: int = 4,
        *,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Component-wise generation (the paper's Fig. 3): in row r every other layer is at
        one prior draw, and column k draws layer ``layer``'s code from component k.

        Returns
        -------
        tensor of shape (n_rows, K_l, D): E[x | z] of each cell. Call it with the networks in
        evaluation mode (:func:`pyroclust.predictive.evaluating`) when they hold BatchNorm.
        """
        index = self.layer_index(layer)
        k = self.ks[index - 1]
        if k == 1:
            raise ValueError(f"layer {index} has no mixture (K = 1): no components to show")
        zs = []
        for other in range(1, self.n_layers + 1):
            if other == index:  # (n_rows, K, d): one draw per cell, from each column's component
                per_k = [
                    self.prior_codes(other, n_rows, component=c, generator=generator)
                    for c in range(k)
                ]
                zs.append(torch.stack(per_k, 1))
            else:  # (n_rows, 1, d): one draw per row, shared by its columns
                zs.append(self.prior_codes(other, n_rows, generator=generator)[:, None])
        return self.generate(zs)

    def layer_traversals(
        self,
        codes: Sequence[torch.Tensor],
        n_draws: int = 8,
        *,
        generator: torch.Generator | None = None,
    ) -> dict[str, torch.Tensor]:
        """Per-layer manipulations of one item (the paper's Fig. 2): for each layer l, its
        code drawn ``n_draws`` times from its prior while every other layer keeps the item's.

        Parameters
        ----------
        codes : sequence of tensors, entry l of shape (d_l,)
            The item's codes z_1..z_L (e.g. the rows of
            :meth:`pyroclust.Clusterer.codes` at ``"z1"``, ``"z2"``...).

        Returns
        -------
        dict by code site (``"z1"``...) of tensors (n_draws, D): E[x | z] of each draw.
        """
        if len(codes) != self.n_layers:
            raise ValueError(f"give one code per layer ({self.n_layers}), got {len(codes)}")
        ref = next(self.rungs.parameters())
        item = [
            torch.as_tensor(c, dtype=ref.dtype, device=ref.device).reshape(1, -1) for c in codes
        ]
        for index, (z, d) in enumerate(zip(item, self.latent_dims), 1):
            if z.shape[1] != d:
                raise ValueError(
                    f"the code of layer {index} must have {d} entries, got {z.shape[1]}"
                )
        out = {}
        for index in range(1, self.n_layers + 1):
            zs = [z.expand(n_draws, -1) for z in item]
            zs[index - 1] = self.prior_codes(index, n_draws, generator=generator)
            out[code_name(index)] = self.generate(zs)
        return out

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
        tensor: the observed data or the generated items (n, n_features), with the guide's
        enumeration dimensions in front when it enumerates.
        """
        batch = x.shape[0] if x is not None else data_size
        if batch is None:
            raise ValueError("pass the data x, or data_size to generate that many items")
        pis = {layer: self.weight_prior(layer)() for layer in self.mixture_layers}
        ref = next(self.rungs.parameters())
        zs = []
        with data_plate(batch, data_size, ref.device):
            for layer, (k, d) in enumerate(zip(self.ks, self.latent_dims), 1):
                if k == 1:
                    zero = ref.new_zeros(batch, d)
                    zs.append(pyro.sample(code_name(layer), dist.Normal(zero, 1.0).to_event(1)))
                    continue
                pi = pis[layer]
                log_pi = pi.clamp_min(torch.finfo(pi.dtype).tiny).log()
                if self.relaxed:
                    prior = StableRelaxedOneHotCategorical(
                        self.temperature, logits=log_pi.expand(batch, -1)
                    )
                else:
                    prior = dist.Categorical(logits=log_pi)
                y = pyro.sample(cluster_name(layer), prior)
                loc, scale = self.component_params(layer, y)
                zs.append(pyro.sample(code_name(layer), dist.Normal(loc, scale).to_event(1)))
            return self.likelihood(self.decoder_params(zs), obs=x)


__all__ = ["VLAC", "broadcast_cat", "check_components", "per_layer"]
