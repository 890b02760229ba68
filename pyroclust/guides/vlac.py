r"""The VLAC guide: a bottom-up ladder h_l = g_l(h_{l-1}, y_{l-1}), q(y_l | x) and
q(z_l | h_l, y_l) at every layer."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import pyro
import pyro.distributions as dist
import torch
import torch.nn.functional as F
from pyro.nn import PyroModule
from torch import nn

from pyroclust.models.base import data_plate
from pyroclust.models.gmvae import StableRelaxedOneHotCategorical, check_cluster, check_temperature
from pyroclust.models.vlac import (
    VLAC,
    as_vector,
    broadcast_cat,
    check_components,
    cluster_name,
    code_name,
    ladder_block,
    per_layer,
)
from pyroclust.nn import ConvEncoder
from pyroclust.nn.conv import check_image_shape


class VLACGuide(PyroModule):
    r"""q(y, z | x) of VLAC (Willetts, Roberts & Holmes, 2019, eqs. 6-8), the partner of
    :class:`~pyroclust.models.VLAC`.

    .. math::
        h_1 &= g_1(x), \qquad h_l = g_l(h_{l-1}, y_{l-1}) \quad (l > 1)\\
        q(y_l \mid x) &= \mathrm{Cat}(\pi_l(x)) \qquad (K_l > 1)\\
        q(z_l \mid x, y_{\le l}) &= \mathcal N(\mu_l(h_l, y_l),
            \mathrm{diag}\,\sigma_l(h_l, y_l)^2)

    Each rung g_l sees :math:`h_{l-1}` concatenated with the one-hot (or relaxed) y_{l-1}
    when layer l-1 is a mixture, and the heads :math:`\mu_l, \sigma_l` see :math:`h_l`
    concatenated with y_l. As in the paper, :math:`q(y \mid x) = \prod_l q(y_l \mid x)`
    depends on x only: :math:`\pi_l(x) = \mathrm{softmax}(c_l(\bar h_l))` reads the same
    ladder run deterministically, :math:`\bar h_1 = h_1` and
    :math:`\bar h_l = g_l(\bar h_{l-1}, \pi_{l-1}(x))` (the expected one-hot y in place of
    a draw), so layer l classifies x at layer l's depth. What
    :meth:`pyroclust.Clusterer.predict_proba` returns at site ``y{l}`` is :math:`\pi_l(x)`.

    With ``cluster="relaxed"`` each y_l is a
    :class:`~pyroclust.models.gmvae.StableRelaxedOneHotCategorical` draw at the logits and
    the guide's temperature buffer; with ``cluster="enumerate"`` a ``Categorical``
    enumerated in parallel (``TraceEnum_ELBO`` sums every y_l out exactly; the rungs above a
    mixture layer then run once per value of the layers below).

    Parameters
    ----------
    n_features : int
        Width D of the data.
    n_components, latent_dim, hidden, depth, cluster, temperature
        As for the model, and equal to the model's (:meth:`for_model` copies them).
    encoder : nn.Module, optional
        g_1, mapping x (B, D) to h_1 (B, hidden[0]); a ladder rung by default, a
        :class:`~pyroclust.nn.ConvEncoder` with ``image_shape`` (its ``out_features`` must
        be ``hidden[0]``).
    image_shape, conv_channels
        As for the model: a convolutional g_1 for images.
    min_scale : float
        Floor on :math:`\sigma_l`, for numerical safety.

    Examples
    --------
    >>> from pyroclust.models import VLAC
    >>> guide = VLACGuide.for_model(VLAC(12, [3, 2], hidden=8))
    >>> {k: v.shape for k, v in guide.cluster_logits(torch.rand(5, 12)).items()}
    {'y1': torch.Size([5, 3]), 'y2': torch.Size([5, 2])}
    """

    def __init__(
        self,
        n_features: int,
        n_components: Sequence[int],
        latent_dim: int | Sequence[int] = 2,
        *,
        hidden: int | Sequence[int] = 32,
        depth: int = 1,
        cluster: str = "relaxed",
        temperature: float = 1.0,
        encoder: nn.Module | None = None,
        image_shape: Sequence[int] | None = None,
        conv_channels: Sequence[int] = (32, 64),
        min_scale: float = 1e-3,
    ) -> None:
        super().__init__()
        self.ks = check_components(n_components)
        n_layers = len(self.ks)
        self.n_layers = n_layers
        self.latent_dims = per_layer(latent_dim, n_layers, "latent_dim")
        self.hidden = per_layer(hidden, n_layers, "hidden")
        self.cluster = check_cluster(cluster)
        self.min_scale = float(min_scale)
        self.weight_guides = None  # filled by the estimator when a prior has latent sites
        self.image_shape = check_image_shape(image_shape) if image_shape is not None else None
        self.conv_channels = tuple(int(c) for c in conv_channels)
        if encoder is None and self.image_shape is not None:
            encoder = ConvEncoder(
                self.image_shape,
                self.conv_channels,
                out_features=self.hidden[0],
                output_activation=nn.ReLU,
            )
        if encoder is None:
            encoder = ladder_block(n_features, self.hidden[0], depth)
        rungs: list[nn.Module] = [encoder]
        for layer in range(2, n_layers + 1):
            below = self.hidden[layer - 2] + self._y_width(layer - 1)
            rungs.append(ladder_block(below, self.hidden[layer - 1], int(depth)))
        self.rungs = nn.ModuleList(rungs)  # g_1 .. g_L
        heads_in = [self.hidden[i] + self._y_width(i + 1) for i in range(n_layers)]
        self.loc_heads = nn.ModuleList(nn.Linear(w, d) for w, d in zip(heads_in, self.latent_dims))
        self.scale_heads = nn.ModuleList(
            nn.Linear(w, d) for w, d in zip(heads_in, self.latent_dims)
        )
        self.classifiers = nn.ModuleDict(
            {
                cluster_name(layer): nn.Linear(self.hidden[layer - 1], k)
                for layer, k in enumerate(self.ks, 1)
                if k > 1
            }
        )
        if self.relaxed:
            self.register_buffer("temperature", torch.tensor(check_temperature(temperature)))

    def _y_width(self, layer: int) -> int:
        k = self.ks[layer - 1]
        return k if k > 1 else 0

    @classmethod
    def for_model(cls, model: VLAC, **options: object) -> VLACGuide:
        """The guide of ``model``: its D, K, d_l, widths, depth, treatment of y and
        temperature, with ``options`` (``encoder``, ``min_scale``...)."""
        shared: dict[str, object] = dict(
            latent_dim=model.latent_dims,
            hidden=model.hidden,
            depth=model.depth,
            cluster=model.cluster,
            image_shape=model.image_shape,
            conv_channels=model.conv_channels,
        )
        if model.relaxed:
            shared["temperature"] = float(model.temperature)
        shared.update(options)
        return cls(model.n_features, model.ks, **shared)  # type: ignore[arg-type]

    @property
    def relaxed(self) -> bool:
        """Whether every y_l is a relaxed one-hot vector (else enumerated here)."""
        return self.cluster == "relaxed"

    def set_temperature(self, temperature: float) -> None:
        """Set the relaxation temperature T (``cluster="relaxed"`` only)."""
        if not self.relaxed:
            raise ValueError("an enumerated VLACGuide has no temperature")
        self.temperature.fill_(check_temperature(temperature))

    @contextlib.contextmanager
    def plain_ladder(self) -> Iterator[None]:
        """Within it every rung g_l and head (mu_l, sigma_l) sees each y_l as the uniform
        vector 1/K_l, whatever q(y_l | x) draws: the ladder is a VLAE's guide, the partner of
        the model's :meth:`~pyroclust.models.VLAC.plain_components`. A warm-up inside both
        (``LayerwiseStart(plain_warmup=True)``) cannot pass a factor from one rung to the
        next through y_l (coloured MNIST's colours through y_1's draw into z_1's mean and
        g_2), so each code holds only what the ladder gives its layer. Its classifiers read
        the ladder detached, so a relaxed y_l's KL, noisy at a large K_l, trains them alone
        and not the rungs the codes read (measured, 10,000 coloured MNIST rows, K = [50, 5,
        5, 1]: without the detach the warm-up left z_1 3 active units, with it 8)."""
        previous = getattr(self, "_plain_ladder", False)
        self._plain_ladder = True
        try:
            yield
        finally:
            self._plain_ladder = previous

    def _y_input(self, y: torch.Tensor, k: int, h: torch.Tensor) -> torch.Tensor:
        """What a rung or head sees of y (K = ``k``) beside ``h``: its one-hot or relaxed
        vector, or 1/K inside :meth:`plain_ladder`."""
        if getattr(self, "_plain_ladder", False):
            return torch.full((*h.shape[:-1], k), 1.0 / k, dtype=h.dtype, device=h.device)
        return as_vector(y, k, h.dtype)

    def rung(self, layer: int, h: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """h_l = g_l(h_{l-1}, y_{l-1}) for ``layer`` > 1 (``y`` None below a plain layer)."""
        below = h if y is None else broadcast_cat(h, self._y_input(y, self.ks[layer - 2], h))
        return self.rungs[layer - 1](below)

    def code_params(
        self, layer: int, h: torch.Tensor, y: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu_l(h_l, y_l), sigma_l(h_l, y_l)), leading dimensions broadcast."""
        hy = h if y is None else broadcast_cat(h, self._y_input(y, self.ks[layer - 1], h))
        loc = self.loc_heads[layer - 1](hy)
        scale = F.softplus(self.scale_heads[layer - 1](hy)) + self.min_scale
        return loc, scale

    def deterministic_ladder(
        self, x: torch.Tensor
    ) -> tuple[list[torch.Tensor], dict[str, torch.Tensor]]:
        """The deterministic ladder h̄_1..h̄_L (each (B, hidden[l])) and the logits of
        q(y_l | x) by site name (each (B, K_l)) read from it (see the class docstring)."""
        logits: dict[str, torch.Tensor] = {}
        hs = [self.rungs[0](x)]
        for layer in range(1, self.n_layers + 1):
            if layer > 1:
                prev = cluster_name(layer - 1)
                y = logits[prev].softmax(-1) if prev in logits else None
                hs.append(self.rung(layer, hs[-1], y))
            name = cluster_name(layer)
            if name in self.classifiers:
                # in a plain ladder q(y_l | x) trains its classifier only: the noisy gradient
                # of a relaxed y_l's KL does not reach the ladder the codes read
                h = hs[-1].detach() if getattr(self, "_plain_ladder", False) else hs[-1]
                logits[name] = self.classifiers[name](h)
        return hs, logits

    def cluster_logits(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The logits of q(y_l | x) by site name, each of shape (B, K_l): the classifiers on
        the deterministic ladder h̄ (see the class docstring)."""
        return self.deterministic_ladder(x)[1]

    def site_features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """What each cluster site's q(y_l | x) reads, by site name: the deterministic
        ladder's h̄_l, of shape (B, hidden[l]). A start that clusters each site on its own
        features (:class:`~pyroclust.infer.init.layerwise.LayerwiseStart`) reads them."""
        hs, _ = self.deterministic_ladder(x)
        layers = range(1, self.n_layers + 1)
        return {cluster_name(i): hs[i - 1] for i in layers if cluster_name(i) in self.classifiers}

    def code_means(self, x: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """(mu_l, sigma_l) of every layer's code q(z_l | x), by code name, each (B, d_l):
        read off the deterministic ladder h̄_l with y_l at its posterior probabilities (no
        y_l at a plain layer), so without sampling."""
        hs, logits = self.deterministic_ladder(x)
        out = {}
        for layer, h in enumerate(hs, 1):
            name = cluster_name(layer)
            y = logits[name].softmax(-1) if name in logits else None
            out[code_name(layer)] = self.code_params(layer, h, y)
        return out

    def code_features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The mean of each mixture layer's code, by site name (:meth:`code_means`'
        mu_l, of shape (B, d_l)). Unlike h̄_l, which feeds every layer above it, the code
        holds only what the ELBO gives that layer, so a ladder trained with free bits
        (:class:`~pyroclust.infer.freebits.FreeBits`) keeps each layer's own factor there. A
        start reads them with ``LayerwiseStart(features="code_features")``."""
        means = self.code_means(x)
        layers = range(1, self.n_layers + 1)
        return {
            cluster_name(i): means[code_name(i)][0]
            for i in layers
            if cluster_name(i) in self.classifiers
        }

    def forward(self, x: torch.Tensor, *, data_size: int | None = None) -> torch.Tensor:
        """Sample the guide's sites for the mini-batch ``x`` of shape (batch, n_features);
        return the top code z_L."""
        if self.weight_guides is not None:
            for family in self.weight_guides.values():
                family()
        logits = self.cluster_logits(x)
        h = self.rungs[0](x)
        y: torch.Tensor | None = None
        z = x
        with data_plate(x.shape[0], data_size, x.device):
            for layer in range(1, self.n_layers + 1):
                if layer > 1:
                    h = self.rung(layer, h, y)
                name = cluster_name(layer)
                y = None
                if name in logits:
                    if self.relaxed:
                        q_y = StableRelaxedOneHotCategorical(self.temperature, logits=logits[name])
                        y = pyro.sample(name, q_y)
                    else:
                        y = pyro.sample(
                            name,
                            dist.Categorical(logits=logits[name]),
                            infer={"enumerate": "parallel"},
                        )
                loc, scale = self.code_params(layer, h, y)
                z = pyro.sample(code_name(layer), dist.Normal(loc, scale).to_event(1))
        return z


__all__ = ["VLACGuide"]
