"""Choosing a start among several embeddings without labels: the agreement matrix, the
medoid partition, the restart seeds, and ManifoldInit's ``n_embeddings``."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from pyroclust.infer.init import ManifoldInit
from pyroclust.infer.init.consensus import agreement_matrix, medoid_partition
from pyroclust.infer.init.manifold import embedding_seeds

TRUTH = np.repeat([0, 1, 2], 20)
MERGED = np.repeat([0, 0, 1], 20)  # two classes merged, as a bad UMAP layout does
RELABELLED = (TRUTH + 1) % 3  # the same clusters under other numbers


def test_agreement_matrix_is_the_pairwise_adjusted_rand_index() -> None:
    noisy = TRUTH.copy()
    noisy[:5] = 2
    parts = [TRUTH, MERGED, noisy]
    ari = agreement_matrix(parts)
    assert ari.shape == (3, 3)
    np.testing.assert_allclose(np.diag(ari), 1.0)
    np.testing.assert_allclose(ari, ari.T)
    for i in range(3):
        for j in range(3):
            if i != j:
                assert ari[i, j] == pytest.approx(adjusted_rand_score(parts[i], parts[j]))


def test_medoid_is_the_partition_the_others_agree_with() -> None:
    noisy = TRUTH.copy()
    noisy[:3] = 1
    # the merged layout comes first and would win by position alone
    assert medoid_partition([MERGED, RELABELLED, RELABELLED]) == 1
    assert medoid_partition([RELABELLED, MERGED, noisy]) in (0, 2)
    assert medoid_partition([MERGED, MERGED, TRUTH]) == 0  # the majority, even if wrong
    assert medoid_partition([TRUTH]) == 0
    assert medoid_partition([TRUTH, RELABELLED]) == 0  # a tie goes to the first


def test_agreement_matrix_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="at least one"):
        agreement_matrix([])
    with pytest.raises(ValueError, match="same rows"):
        agreement_matrix([TRUTH, TRUTH[:-1]])


def test_embedding_seeds_start_at_the_random_state_and_repeat() -> None:
    seeds = embedding_seeds(3, 4)
    assert seeds[0] == 3 and len(set(seeds)) == 4
    assert seeds == embedding_seeds(3, 4)
    assert embedding_seeds(3, 1) == [3]
    assert embedding_seeds(None, 3) == [None, None, None]
    assert all(0 <= s < 2**31 for s in seeds)


def test_n_embeddings_must_be_positive() -> None:
    with pytest.raises(ValueError, match="n_embeddings"):
        ManifoldInit(n_embeddings=0)


def test_manifold_start_takes_the_medoid_of_its_embeddings(monkeypatch) -> None:
    rng = np.random.default_rng(0)
    data = rng.normal(size=(60, 4))
    calls: list[int | None] = []
    by_call = [MERGED, RELABELLED, TRUTH]

    def fake(self, features, n_components, random_state):
        calls.append(random_state)
        assert len(features) == 60
        return by_call[len(calls) - 1]

    monkeypatch.setattr(ManifoldInit, "_embedded_labels", fake)
    labels = ManifoldInit(n_embeddings=3).cluster_labels(np.zeros((60, 0)), 3, 7, data=data)
    assert calls == embedding_seeds(7, 3)
    np.testing.assert_array_equal(labels, RELABELLED)  # not the merged first layout


def test_one_embedding_is_the_single_embedding_start() -> None:
    rng = np.random.default_rng(1)
    centres = np.array([[0.0] * 5, [6.0] * 5, [-6.0] * 5])
    data = np.concatenate([c + rng.normal(size=(40, 5)) for c in centres])
    strategy = ManifoldInit(perplexity=10, n_init=1)
    labels = strategy.cluster_labels(np.zeros((len(data), 0)), 3, 0, data=data)
    direct = strategy._embedded_labels(data, 3, 0)
    np.testing.assert_array_equal(labels, direct)
    restarts = ManifoldInit(perplexity=10, n_init=1, n_embeddings=3)
    picked = restarts.cluster_labels(np.zeros((len(data), 0)), 3, 0, data=data)
    assert adjusted_rand_score(picked, np.repeat([0, 1, 2], 40)) == pytest.approx(1.0)
