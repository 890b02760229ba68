"""Choosing one start among several clusterings of the same rows, without labels.

A neighbourhood embedding (UMAP above all, whose layout starts at random) now and then
merges two classes and splits a third; the mixture on it, and every model started from it,
inherits that. Several embeddings under different seeds rarely fail the same way, so the
clustering that agrees best with the others is a start chosen by the data alone: the
*medoid* partition under the adjusted Rand index (the partition-space analogue of a median;
Strehl & Ghosh, 2002, "Cluster Ensembles", choose among candidate partitions by their
average agreement with the ensemble the same way).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def agreement_matrix(partitions: Sequence[np.ndarray]) -> np.ndarray:
    """Adjusted Rand index between every pair of ``partitions`` (1 on the diagonal).

    Parameters
    ----------
    partitions : sequence of int arrays, each of shape (n_rows,)
        Clusterings of the same rows.
    """
    from sklearn.metrics import adjusted_rand_score

    parts = [np.asarray(p) for p in partitions]
    if not parts:
        raise ValueError("agreement_matrix needs at least one partition")
    n_rows = {len(p) for p in parts}
    if len(n_rows) != 1:
        raise ValueError(f"partitions must label the same rows, got lengths {sorted(n_rows)}")
    m = len(parts)
    ari = np.eye(m)
    for i in range(m):
        for j in range(i + 1, m):
            ari[i, j] = ari[j, i] = adjusted_rand_score(parts[i], parts[j])
    return ari


def medoid_partition(partitions: Sequence[np.ndarray]) -> int:
    """Index of the partition with the highest mean adjusted Rand index to the others.

    Ties go to the earliest partition, so one partition (or several identical ones) gives
    index 0. Label-free: only the partitions' agreement with each other is used.

    Examples
    --------
    >>> a = np.array([0, 0, 1, 1, 2, 2])
    >>> merged = np.array([0, 0, 0, 0, 1, 1])
    >>> medoid_partition([merged, a, a + 1])  # the two that agree win; the first of them
    1
    """
    ari = agreement_matrix(partitions)
    m = len(ari)
    if m == 1:
        return 0
    mean_to_others = (ari.sum(axis=1) - 1.0) / (m - 1)
    return int(np.argmax(mean_to_others))
