r"""k-DAE (Opochinsky, Chazan, Gannot & Goldberger, ICASSP 2020): k deterministic
autoencoders, each item assigned to the one that reconstructs it best.

The ablation of k-DVAE (Caciularu & Goldberger, Table 2): the same batched networks
(:class:`~pyroclust.nn.BatchedMLP`), no code prior and no KL term. As a Pyro program it is
:class:`~pyroclust.models.KDVAE` with the prior over the code switched off, as
:class:`~pyroclust.models.Autoencoder` is a VAE's; its objective, the smallest reconstruction
error, is :class:`MinReconstructionLoss`.
"""

from __future__ import annotations

from typing import Any

import pyro.distributions as dist
import torch

from pyroclust.models.kdvae import KDVAE, HardAssignmentLoss, reconstruction_scores


class KDAE(KDVAE):
    r"""k-DAE: a mixture of k deterministic autoencoders, one per cluster.

    The model is :class:`~pyroclust.models.KDVAE`'s with the prior over the code masked out
    (it contributes nothing), and its guide, :class:`~pyroclust.guides.KDAEGuide`, puts a
    point mass on the code of the enumerated cluster:

    .. math::
        y_n &\sim \mathrm{Cat}(\alpha)                              &\text{(site ``assignment``)}\\
        z_n &\sim \mathcal N(0, I_d) \text{ masked out}             &\text{(site ``z``)}\\
        x_n \mid z_n, y_n = i &\sim p\big(x \mid \mathrm{dec}_i(z_n)\big) &\text{(site ``obs``)}\\
        q(z \mid x, y = i) &= \delta\big(z - \mathrm{enc}_i(x)\big).

    The k-DAE objective (Opochinsky et al., 2020) is the smallest reconstruction error over
    the autoencoders, :class:`MinReconstructionLoss`, and an item's cluster is the
    autoencoder that reconstructs it best
    (:func:`~pyroclust.models.kdvae.hard_assignments`, which for this model reads the
    reconstruction error only). The ELBO that ``make_elbo`` chooses for the pair (y summed
    exactly in the guide) is a soft version of it,
    :math:`\sum_i q(i\mid x)[\log\alpha_i + \log p(x \mid \mathrm{dec}_i(\mathrm{enc}_i(x)))
    - \log q(i \mid x)]`, whose optimal q(y | x) is the softmax of
    :math:`\log\alpha_i` plus the reconstruction log-likelihoods.

    Parameters are those of :class:`~pyroclust.models.KDVAE` (encoders D-500-100-10,
    decoders 10-100-500-D in the paper).

    Examples
    --------
    >>> model = KDAE(64, 3, latent_dim=2, hidden=(16, 8))
    >>> model.deterministic
    True
    """

    deterministic = True

    def code_prior(self, zeros: torch.Tensor) -> dist.Distribution:
        """N(0, I) masked out: generation still draws codes from it, the objective never
        scores them (a boolean tensor mask, so the zero log-density has the codes' dtype,
        where ``mask(False)`` would give float32 zeros)."""
        off = torch.zeros((), dtype=torch.bool, device=zeros.device)
        return dist.Normal(zeros, 1.0).to_event(1).mask(off)


class MinReconstructionLoss(HardAssignmentLoss):
    r"""The k-DAE objective: each row's smallest reconstruction error, as a trainer loss
    callable (``Clusterer(model, guide, loss=MinReconstructionLoss())``).

    .. math:: \frac{n}{B} \sum_{b=1}^B \min_i
              \Big[-\log p\big(x_b \mid \mathrm{dec}_i(\mathrm{enc}_i(x_b))\big)\Big]

    (binary cross-entropy for Bernoulli data, a scaled squared error for Gaussian data) for a
    mini-batch of B of n rows. With ``fit_posterior=True`` the guide's q(y | x) is also
    fitted to each row's best autoencoder (cross-entropy, see
    :class:`~pyroclust.models.kdvae.HardAssignmentLoss`), so that ``predict`` follows the
    k-DAE assignment.
    """

    def scores(self, model: Any, guide: Any, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return reconstruction_scores(model, guide, x)


__all__ = ["KDAE", "MinReconstructionLoss"]
