"""Plain float64 torch formulas that ELBO tests compare Pyro's objective against, and the
same-noise helper that lets a formula see the draws the ELBO saw."""

from __future__ import annotations

import math
from typing import Any

import pyro
import torch
import torch.nn.functional as F
from pyro import poutine
from pyro.infer import TraceEnum_ELBO

from pyroclust.infer.elbo import local_params


def bernoulli_log_prob(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log p(x | logits), summed over features: x log s(l) + (1 - x) log s(-l)."""
    return (x * F.logsigmoid(logits) + (1 - x) * F.logsigmoid(-logits)).sum(-1)


def normal_log_prob(z: torch.Tensor, loc: Any, scale: Any) -> torch.Tensor:
    """log N(z; loc, diag scale^2), summed over the last dimension."""
    loc = torch.as_tensor(loc, dtype=z.dtype)
    var = torch.as_tensor(scale, dtype=z.dtype) ** 2
    return (-0.5 * ((z - loc) ** 2 / var + torch.log(2 * math.pi * var))).sum(-1)


def concrete_log_prob(
    log_y: torch.Tensor, logits: torch.Tensor, temperature: float
) -> torch.Tensor:
    r"""The Concrete density (Maddison et al., 2017, eq. 7) of y on the simplex, from log y:
    log (K-1)! + (K-1) log T + sum_k (log p_k - (T+1) log y_k) - K log sum_k p_k y_k^-T."""
    k = log_y.shape[-1]
    logp = logits.log_softmax(-1)
    t = torch.as_tensor(temperature, dtype=log_y.dtype)
    return (
        math.lgamma(k)
        + (k - 1) * torch.log(t)
        + (logp - (t + 1) * log_y).sum(-1)
        - k * torch.logsumexp(logp - t * log_y, -1)
    )


def same_noise_loss(elbo, model, guide, xb, n, seed=3):
    """(guide trace as the ELBO draws it, the ELBO's loss) from the same random numbers."""
    with local_params():
        pyro.set_rng_seed(seed)
        guide_fn = guide
        if isinstance(elbo, TraceEnum_ELBO):
            guide_fn = poutine.enum(guide, first_available_dim=-2)
        trace = poutine.trace(guide_fn).get_trace(xb, data_size=n)
        pyro.set_rng_seed(seed)
        loss = elbo.differentiable_loss(model, guide, xb, data_size=n)
    return trace, loss
