"""The VaDE paper's start: a diagonal Gaussian mixture on the pretrained latent means."""

from __future__ import annotations

from dataclasses import dataclass

from pyroclust.infer.init.base import LatentClusterStart


@dataclass
class GMMInit(LatentClusterStart):
    """Autoencoder pretraining, then a diagonal Gaussian mixture on the latent means
    (Jiang et al., 2017, section 3.2): components and weights start at the GMM's.

    Parameters
    ----------
    pretrain_epochs : int
        Autoencoder epochs (0: none, use the current encoder).
    n_init : int
        GMM restarts (scikit-learn keeps the best likelihood).
    reg_covar : float
        Added to the GMM variances.
    max_iter : int
        EM iterations of each restart.

    Other parameters are those of :class:`~pyroclust.infer.init.LatentClusterStart`.
    """

    n_init: int = 1
    reg_covar: float = 1e-4
    max_iter: int = 200

    def cluster(self, codes, n_components, random_state, data=None):  # noqa: D102
        from sklearn.mixture import GaussianMixture

        gmm = GaussianMixture(
            n_components,
            covariance_type="diag",
            n_init=self.n_init,
            reg_covar=self.reg_covar,
            max_iter=self.max_iter,
            random_state=random_state,
        ).fit(codes)
        return gmm.weights_, gmm.means_, gmm.covariances_
