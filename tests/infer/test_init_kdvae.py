"""MixtureOfAutoencodersInit: VaDE, k-means on its codes, each autoencoder on its cluster."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import adjusted_rand_score

from pyroclust import priors, structure
from pyroclust.guides import KDVAEGuide
from pyroclust.infer import FitSession
from pyroclust.infer.elbo import local_params
from pyroclust.infer.init import GMMInit, MixtureOfAutoencodersInit
from pyroclust.infer.init.kdvae import paper_vade
from pyroclust.infer.session import _decode
from pyroclust.models import KDVAE
from pyroclust.models.kdvae import reconstruction_scores
from tests.conftest import blobs

D, K = 12, 3


def _pair(weights=None):
    model = KDVAE(D, K, 2, hidden=(8, 6), weights=weights)
    guide = KDVAEGuide.for_model(model, classifier_hidden=(6,))
    structure.attach_weight_guides(model, guide)
    return model, guide


def _tiny(**options) -> MixtureOfAutoencodersInit:
    calls = options.pop("calls", [])

    def build(n_features, **kwargs):
        calls.append(kwargs)
        return paper_vade(n_features, **kwargs)

    def recipe(n):
        calls.append({"n_samples": n})
        return {
            "epochs": 2,
            "batch_size": 20,
            "init": GMMInit(pretrain_epochs=30, batch_size=20, lr=1e-2),
        }

    defaults = dict(
        pretrain_epochs=40,
        batch_size=20,
        lr=1e-2,
        vade_build=build,
        vade_options={"latent_dim": 2, "hidden": (8,)},
        vade_training=recipe,
    )
    return MixtureOfAutoencodersInit(**{**defaults, **options})


def test_stages_leave_each_autoencoder_best_on_its_cluster() -> None:
    x = torch.as_tensor(blobs(60, D))
    model, guide = _pair()
    calls: list[dict] = []
    session = FitSession(model, guide, random_state=0, device="cpu")
    start = _tiny(calls=calls)
    with local_params():
        start(model, guide, x, random_state=0, session=session)
    assert [r["name"] for r in session.records] == ["vade", "start", "pretrain"]
    assert calls[0]["likelihood"] == "bernoulli" and calls[0]["n_components"] == K
    assert {"n_samples": 60} in calls
    labels = _decode(session.records[1]["result"])  # the k-means labels on VaDE's codes
    assert labels.shape == (60,) and adjusted_rand_score(labels, np.arange(60) % 3) > 0.9
    with torch.no_grad():
        scores = reconstruction_scores(model, guide, x).numpy()  # (n, K)
    for c in range(K):
        rows = scores[labels == c].mean(0)
        assert rows.argmax() == c, (c, rows)  # autoencoder c reconstructs cluster c best
    with torch.no_grad():  # q(y | x) starts at the k-means labels
        agree = (guide.cluster_logits(x).argmax(-1).numpy() == labels).mean()
    assert agree > 0.9
    # what each stage left, for reports: VaDE's own clustering, the start, q(y | x) after
    assert list(start.stages_) == ["vade", "start", "pretrain"]
    assert all(stage["seconds"] >= 0 for stage in start.stages_.values())
    assert all(stage["cpu_seconds"] >= 0 for stage in start.stages_.values())
    assert start.stages_["vade"]["cpu_seconds"] > 0  # VaDE trained in this process
    assert adjusted_rand_score(start.stages_["vade"]["labels"], np.arange(60) % 3) > 0.9
    assert start.stages_["vade"]["start_labels"].shape == (60,)  # VaDE's clusters before SVI
    assert adjusted_rand_score(start.stages_["vade"]["start_labels"], np.arange(60) % 3) > 0.9
    assert np.array_equal(start.stages_["start"]["labels"], labels)
    assert (start.stages_["pretrain"]["labels"] == labels).mean() > 0.9


def test_classify_stage_fits_q_y_alone_until_it_reproduces_the_labels() -> None:
    """Stage 4 trains the classifier only (the autoencoders stay as stage 3 left them),
    records each epoch's agreement, and stops as soon as it reaches classifier_until."""
    x = torch.as_tensor(blobs(60, D))
    model, guide = _pair()
    session = FitSession(model, guide, random_state=0, device="cpu")
    start = _tiny(pretrain_epochs=1, classifier_epochs=30, classifier_until=1.0)
    frozen = {}
    original = start.fit_classifier

    def spy(model_, guide_, *args, **kwargs):
        frozen["encoder"] = [p.detach().clone() for p in guide_.encoder.parameters()]
        frozen["decoder"] = [p.detach().clone() for p in model_.decoder.parameters()]
        frozen["classifier"] = [p.detach().clone() for p in guide_.classifier.parameters()]
        return original(model_, guide_, *args, **kwargs)

    start.fit_classifier = spy
    with local_params():
        start(model, guide, x, random_state=0, session=session)
    assert [r["name"] for r in session.records] == ["vade", "start", "pretrain", "classify"]
    assert list(start.stages_) == ["vade", "start", "pretrain", "classify"]
    for before, after in zip(frozen["encoder"], guide.encoder.parameters(), strict=True):
        assert torch.equal(before, after)
    for before, after in zip(frozen["decoder"], model.decoder.parameters(), strict=True):
        assert torch.equal(before, after)
    moved = zip(frozen["classifier"], guide.classifier.parameters(), strict=True)
    assert any(not torch.equal(before, after) for before, after in moved)
    history = session.trainers["classify"].history
    shares = [row["agreement"] for row in history]
    labels = start.stages_["start"]["labels"]
    with torch.no_grad():
        found = guide.cluster_logits(x).argmax(-1).numpy()
    assert shares[-1] == pytest.approx((found == labels).mean())
    assert shares[-1] == 1.0 and len(history) < 30 and all(v < 1.0 for v in shares[:-1])
    assert np.array_equal(start.stages_["classify"]["labels"], labels)
    assert start.stages_["classify"]["seconds"] >= 0


def test_classify_stage_options_are_checked_and_skipped_without_a_classifier() -> None:
    with pytest.raises(ValueError, match="classifier_epochs must be >= 0"):
        MixtureOfAutoencodersInit(classifier_epochs=-1)
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match="classifier_until must lie in"):
            MixtureOfAutoencodersInit(classifier_until=bad)
    x = torch.as_tensor(blobs(60, D))
    model, guide = _pair()
    start = _tiny(pretrain_epochs=1, classifier=False, classifier_epochs=5)
    with local_params():
        start(model, guide, x, random_state=0)
    assert list(start.stages_) == ["vade", "start", "pretrain"]


def test_start_renumbers_clusters_largest_first_for_ordered_priors() -> None:
    model, guide = _pair(weights=priors.Zipf(1.1))
    rng = np.random.default_rng(0)
    sizes = [5, 20, 10]
    codes = np.concatenate([rng.normal(10 * i, 0.1, (s, 2)) for i, s in enumerate(sizes)])
    labels = MixtureOfAutoencodersInit().start(model, guide, codes, random_state=0)
    assert np.bincount(labels).tolist() == [20, 10, 5]


def test_start_sets_the_learned_weights_to_the_cluster_proportions() -> None:
    model, guide = _pair(weights=priors.Learned())
    codes = np.concatenate([np.zeros((6, 2)), np.ones((3, 2)), 2 * np.ones((3, 2))])
    labels = MixtureOfAutoencodersInit().start(model, guide, codes, random_state=0)
    expected = np.bincount(labels, minlength=K) / len(labels)
    assert np.allclose(model.weights.mean().numpy(), expected, atol=1e-6)


def test_start_can_take_vades_own_clustering() -> None:
    model, guide = _pair(weights=priors.Learned())
    codes = np.zeros((6, 2))  # k-means could not split these
    vade_labels = np.array([0, 0, 1, 1, 1, 2])
    start = MixtureOfAutoencodersInit(clustering="posterior")
    labels = start.start(model, guide, codes, random_state=0, vade_labels=vade_labels)
    assert labels.tolist() == vade_labels.tolist()
    assert np.allclose(model.weights.mean().numpy(), [2 / 6, 3 / 6, 1 / 6], atol=1e-6)
    with pytest.raises(ValueError, match="needs VaDE's labels"):
        start.start(model, guide, codes, random_state=0)


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError, match="clustering must be one of kmeans, posterior"):
        MixtureOfAutoencodersInit(clustering="gmm")
    with pytest.raises(ValueError, match="objective must be one of reconstruction, elbo"):
        MixtureOfAutoencodersInit(objective="kl")


def test_vade_clustering_starts_from_vades_own_labels() -> None:
    x = torch.as_tensor(blobs(60, D))
    model, guide = _pair()
    start = _tiny(clustering="posterior", pretrain_epochs=0)
    with local_params():
        start(model, guide, x, random_state=0)
    assert list(start.stages_) == ["vade", "start"]
    assert np.array_equal(start.stages_["start"]["labels"], start.stages_["vade"]["labels"])


@pytest.mark.parametrize("architecture", ["kdvae", "kdae"])
def test_registry_recipe_starts_from_vade_and_trains_gently(architecture: str) -> None:
    """The recipe's shape (sized by rows only): VaDE's own clusters, each VAE pretrained on
    its ELBO with q(y | x) fitted to the clusters, short joint training at a small rate."""
    from pyroclust import zoo
    from pyroclust.models.kdae import MinReconstructionLoss

    small = zoo.default_training(architecture, 1797, (8, 8))
    large = zoo.default_training(architecture, 70_000, (28, 28))
    for recipe in (small, large):
        init = recipe["init"]
        assert isinstance(init, MixtureOfAutoencodersInit)
        assert (init.clustering, init.objective, init.classifier) == ("posterior", "elbo", True)
        assert init.classifier_until == 1.0 and 5 <= init.classifier_epochs <= 50
        assert init.vade_build is zoo.build_vade and recipe["lr"] <= 1e-4
        assert isinstance(recipe.get("loss"), MinReconstructionLoss) == (architecture == "kdae")
    # step budgets: fewer epochs on more rows, never none
    assert small["init"].pretrain_epochs > large["init"].pretrain_epochs >= 1
    assert small["epochs"] >= large["epochs"] >= 1


@pytest.mark.parametrize("rows", [1797, 10_992, 70_000])
def test_registry_vade_stage_is_vades_recipe_within_step_budgets(rows: int) -> None:
    """The start's VaDE trains with VaDE's recipe as it ships (its start, its rates, its
    StartAgreement in free SVI), its pretraining, alignment and free SVI cut to k-DVAE's step
    budgets: at least 5 epochs each, never more than VaDE's own; a start on the codes (MNIST's
    rows of images) keeps its pretraining and its alignment whole."""
    from dataclasses import replace

    from pyroclust import zoo
    from pyroclust.regularizers import StartAgreement

    vade = zoo.vade_training(rows, (28, 28))
    stages = ("pretrain_epochs", "align_epochs")
    for architecture in ("kdvae", "kdae"):
        mine = zoo.default_training(architecture, rows, (28, 28))["init"].recipe(rows)
        assert isinstance(mine["loss"], StartAgreement) and mine["loss"] == vade["loss"]
        assert {k: v for k, v in mine.items() if k not in ("init", "epochs")} == {
            k: v for k, v in vade.items() if k not in ("init", "epochs")
        }
        assert 5 <= mine["epochs"] <= vade["epochs"]
        for stage in stages:
            assert 5 <= getattr(mine["init"], stage) <= getattr(vade["init"], stage)
        as_vade = replace(mine["init"], **{stage: getattr(vade["init"], stage) for stage in stages})
        assert repr(as_vade) == repr(vade["init"])  # the same start otherwise
        assert (vade["init"].space == "codes") == (rows >= 10_000)  # large images
        if vade["init"].space == "codes":  # the codes start is kept whole
            assert repr(mine["init"]) == repr(vade["init"])  # its pretraining and alignment
        else:  # elsewhere the alignment is cut to the step budget (on the digits 10 of 20)
            assert mine["init"].align_epochs == max(
                5, min(vade["init"].align_epochs, -(-80 // -(-rows // vade["init"].batch_size)))
            )
    default_start = zoo.mixture_of_autoencoders_init().recipe(rows)  # the registry's init
    assert default_start["epochs"] == zoo.kdvae_vade_training(rows)["epochs"]


def test_the_registry_start_binds_vades_start_objective_to_vades_start(make_blobs) -> None:
    # VaDE's recipe trains its free SVI with StartAgreement, an objective with ``bind``: the
    # k-DVAE start binds it to VaDE's own start as the estimator does (it was a TypeError)
    from pyroclust import zoo
    from pyroclust.estimator import Clusterer
    from pyroclust.regularizers import StartAgreement

    init = zoo.mixture_of_autoencoders_init(pretrain_epochs=1)
    assert isinstance(init.recipe(60)["loss"], StartAgreement)
    est = Clusterer("kdvae", n_components=3, epochs=1, init=init, random_state=0, progress=False)
    est.fit(make_blobs(60))
    assert est.labels_.shape == (60,)
