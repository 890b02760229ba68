"""Progress without labels: the estimator keeps its start's clustering (``start_labels_``)
and how much free SVI changed it (``start_agreement_``), resumed fits included."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from pyroclust import zoo
from pyroclust.estimator import START_LABELS_STEP, Clusterer
from pyroclust.infer import load_checkpoint
from pyroclust.infer.init import GMMInit
from pyroclust.infer.session import SESSION_KIND


def _est(model, guide, **kwargs) -> Clusterer:
    options = {
        "epochs": 3,
        "batch_size": 16,
        "lr": 1e-2,
        "init": GMMInit(pretrain_epochs=2, batch_size=16, n_init=1),
        "random_state": 0,
    }
    options.update(kwargs)
    return Clusterer(model, guide, progress=False, **options)


def test_start_labels_are_the_clustering_the_initialisation_left(tiny_vade, x_small) -> None:
    # the same seeded fit (same prototypes) without SVI epochs ends where the start left it
    model, guide = tiny_vade()
    start_only = _est(model, guide, epochs=0).fit(x_small)
    np.testing.assert_array_equal(start_only.start_labels_, start_only.labels_)
    assert start_only.start_agreement_ == pytest.approx(1.0)
    est = _est(model, guide).fit(x_small)
    np.testing.assert_array_equal(est.start_labels_, start_only.labels_)
    assert est.start_labels_.shape == (len(x_small),)
    assert est.start_agreement_ == pytest.approx(
        adjusted_rand_score(est.start_labels_, est.labels_)
    )


def test_recording_the_start_leaves_the_random_streams_alone(tiny_vade, x_small) -> None:
    """The step forks the random streams, so the fit goes on as it would without it."""
    import torch

    from pyroclust.infer.session import FitSession, rng_state

    model, guide = tiny_vade()
    session = FitSession(model, guide, random_state=0, device="cpu")
    before = rng_state()
    labels = Clusterer()._start_labels(model, guide, torch.as_tensor(x_small), session)
    after = rng_state()
    assert torch.equal(before["torch"], after["torch"])
    assert torch.equal(before["numpy"]["keys"], after["numpy"]["keys"])
    assert labels.shape == (len(x_small),) and labels.dtype == np.int64
    assert [r["name"] for r in session.records] == [START_LABELS_STEP]


def test_start_labels_survive_a_resumed_fit(tiny_vade, x_small, tmp_path) -> None:
    model, guide = tiny_vade()
    full = _est(model, guide, epochs=4).fit(x_small)
    path = tmp_path / "run.pt"
    _est(model, guide, epochs=2, checkpoint=path).fit(x_small)  # "interrupted" after 2 epochs
    records = load_checkpoint(path, SESSION_KIND)["records"]
    names = [(r["name"], r["kind"]) for r in records]
    assert names.index((START_LABELS_STEP, "step")) == names.index(("svi", "train")) - 1
    resumed = _est(model, guide, epochs=4, checkpoint=path).fit(x_small, resume=True)
    np.testing.assert_array_equal(resumed.start_labels_, full.start_labels_)
    np.testing.assert_array_equal(resumed.labels_, full.labels_)
    assert resumed.start_agreement_ == full.start_agreement_


def test_a_model_without_clusters_has_no_start_labels(x_small) -> None:
    model, guide = zoo.make("vae", n_features=12, latent_dim=2, hidden=(8,))
    est = Clusterer(model, guide, epochs=1, batch_size=16, progress=False, random_state=0)
    est.fit(x_small)
    assert not hasattr(est, "start_labels_") and not hasattr(est, "start_agreement_")
