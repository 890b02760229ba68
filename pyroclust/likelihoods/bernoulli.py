"""Bernoulli likelihood for data in [0, 1] (binary or grey-level images)."""

from __future__ import annotations

import pyro.distributions as dist
import torch

from pyroclust.exceptions import DataError
from pyroclust.likelihoods.base import Likelihood


class Bernoulli(Likelihood):
    r"""Independent Bernoulli pixels with logits from the decoder.

    .. math:: \log p(x \mid h) = \sum_d x_d \log \sigma(h_d) + (1 - x_d) \log(1 - \sigma(h_d))

    As in VaDE (Jiang et al., 2017) and most deep-clustering papers, grey levels in [0, 1] are
    used as targets of this cross-entropy, so ``x`` need not be binary; values outside [0, 1]
    are rejected by :meth:`validate`.
    """

    support = "unit"

    def distribution(self, params: torch.Tensor) -> dist.Distribution:  # noqa: D102
        return dist.Bernoulli(logits=params, validate_args=False).to_event(1)

    def mean(self, params: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return torch.sigmoid(params)

    def validate(self, x: torch.Tensor) -> None:  # noqa: D102
        super().validate(x)
        lo, hi = float(x.min()), float(x.max())
        if lo < 0.0 or hi > 1.0:
            raise DataError(
                f"the Bernoulli likelihood needs data in [0, 1], got values in [{lo:g}, {hi:g}]; "
                "rescale the data (e.g. divide pixels by 255) or use likelihoods.Gaussian()"
            )
