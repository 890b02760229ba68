"""A k-means start on the pretrained latent means."""

from __future__ import annotations

from dataclasses import dataclass

from pyroclust.infer.init.base import LatentClusterStart, moments_from_labels


@dataclass
class KMeansInit(LatentClusterStart):
    """Autoencoder pretraining, then k-means on the latent means: components start at the
    centroids with the within-cluster variances, weights at the cluster fractions.

    Parameters
    ----------
    n_init : int
        k-means restarts.

    Other parameters are those of :class:`~pyroclust.infer.init.LatentClusterStart`.
    """

    n_init: int = 10

    def cluster(self, codes, n_components, random_state, data=None):  # noqa: D102
        from sklearn.cluster import KMeans

        km = KMeans(n_components, n_init=self.n_init, random_state=random_state).fit(codes)
        pi, _, var = moments_from_labels(codes, km.labels_, n_components)
        return pi, km.cluster_centers_, var
