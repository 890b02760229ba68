"""Initialisation strategies: GMM / k-means of the latent means, random, AE pretraining."""

from __future__ import annotations

import copy
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans
from sklearn.mixture import GaussianMixture

from pyroclust.infer.elbo import local_params
from pyroclust.infer.init import GMMInit, KMeansInit, RandomInit, pretrain_autoencoder


@pytest.fixture
def setup(tiny_vade, x_small):
    model, guide = tiny_vade()
    x = torch.as_tensor(x_small)
    with torch.no_grad():
        codes = guide.encode(x)[0].double().numpy()
    return model, guide, x, codes


def _mixture(model) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    with local_params(), torch.no_grad():
        return (
            model.weights.mean().double().numpy(),
            model.components.loc.double().numpy(),
            model.components.scale.double().numpy() ** 2,
        )


def test_gmm_init_sets_the_gmm_of_the_latent_means(setup) -> None:
    model, guide, x, codes = setup
    with local_params():
        GMMInit(pretrain_epochs=0)(model, guide, x, random_state=0)
    gmm = GaussianMixture(3, covariance_type="diag", reg_covar=1e-4, random_state=0).fit(codes)
    pi, loc, var = _mixture(model)
    np.testing.assert_allclose(pi, gmm.weights_, rtol=1e-5)
    np.testing.assert_allclose(loc, gmm.means_, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(var, gmm.covariances_, rtol=1e-4)


def test_kmeans_init_sets_centroids_fractions_and_spreads(setup) -> None:
    model, guide, x, codes = setup
    with local_params():
        KMeansInit(pretrain_epochs=0)(model, guide, x, random_state=0)
    km = KMeans(3, n_init=10, random_state=0).fit(codes)
    counts = np.bincount(km.labels_, minlength=3)
    pi, loc, var = _mixture(model)
    np.testing.assert_allclose(pi, counts / counts.sum(), rtol=1e-5)
    np.testing.assert_allclose(loc, km.cluster_centers_, rtol=1e-5, atol=1e-6)
    for k in range(3):
        if counts[k] > 1:
            expected = codes[km.labels_ == k].var(0) + 1e-4
            np.testing.assert_allclose(var[k], expected, rtol=1e-4)


def test_random_init_leaves_everything(setup) -> None:
    model, guide, x, _ = setup
    before = [{k: v.clone() for k, v in m.state_dict().items()} for m in (model, guide)]
    with local_params():
        assert RandomInit()(model, guide, x, random_state=0) is None
    for m, state in zip((model, guide), before):
        for key, value in m.state_dict().items():
            assert torch.equal(value, state[key]), key


def test_pretraining_lowers_the_reconstruction_loss(setup) -> None:
    model, guide, x, _ = setup
    before = {k: v.clone() for k, v in model.components.state_dict().items()}
    with local_params():
        losses = pretrain_autoencoder(model, guide, x, epochs=15, batch_size=16, lr=1e-2)
    assert len(losses) == 15 and all(np.isfinite(losses))
    assert losses[-1] < losses[0]
    # only the encoder and decoder are trained, not the mixture
    for key, value in model.components.state_dict().items():
        assert torch.equal(value, before[key])


def test_gmm_init_is_repeatable(tiny_vade, x_small) -> None:
    x = torch.as_tensor(x_small)
    model, guide = tiny_vade()
    results = []
    for _ in range(2):
        m, g = copy.deepcopy(model), copy.deepcopy(guide)
        with local_params():
            GMMInit(pretrain_epochs=2, batch_size=16)(m, g, x, random_state=3)
        results.append(_mixture(m))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_moments_from_labels_and_an_empty_cluster() -> None:
    from pyroclust.infer.init import moments_from_labels

    codes = np.array([[0.0, 0.0], [2.0, 0.0], [10.0, 10.0], [12.0, 14.0]])
    pi, loc, var = moments_from_labels(codes, np.array([0, 0, 1, 1]), 3, reg=0.0)
    np.testing.assert_allclose(loc[:2], [[1.0, 0.0], [11.0, 12.0]])
    np.testing.assert_allclose(var[:2], [[1.0, 0.0], [1.0, 4.0]])
    # the empty third cluster: overall moments, the weight of one point
    np.testing.assert_allclose(loc[2], codes.mean(0))
    np.testing.assert_allclose(var[2], codes.var(0))
    np.testing.assert_allclose(pi, [2 / 5, 2 / 5, 1 / 5])


@pytest.mark.parametrize("space", ["data", "codes"])
def test_manifold_init_starts_at_the_clusters_of_a_tsne_embedding(setup, space) -> None:
    from sklearn.manifold import TSNE

    from pyroclust.infer.init import ManifoldInit, moments_from_labels

    model, guide, x, codes = setup
    with local_params():
        ManifoldInit(pretrain_epochs=0, space=space, n_init=2)(model, guide, x, random_state=0)
    features = codes if space == "codes" else x.numpy()
    embedding = TSNE(2, perplexity=min(30.0, (len(x) - 1) / 3), init="pca", random_state=0)
    emb = embedding.fit_transform(features)
    labels = GaussianMixture(3, covariance_type="full", n_init=2, random_state=0).fit_predict(emb)
    pi_ref, loc_ref, var_ref = moments_from_labels(codes, labels, 3)
    pi, loc, var = _mixture(model)
    np.testing.assert_allclose(pi, pi_ref, rtol=1e-5)
    np.testing.assert_allclose(loc, loc_ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(var, var_ref, rtol=1e-4)


def test_manifold_init_on_a_subset_labels_every_point(setup) -> None:
    from pyroclust.infer.init import ManifoldInit

    model, guide, x, _ = setup
    strategy = ManifoldInit(pretrain_epochs=0, max_samples=30, n_init=1)
    with local_params():
        pi, loc, var = strategy.cluster(
            guide.encode(x)[0].detach().double().numpy(), 3, 0, x.numpy()
        )
    assert pi.shape == (3,) and loc.shape == var.shape == (3, 2)
    np.testing.assert_allclose(pi.sum(), 1.0)
    assert np.isfinite(loc).all() and (var > 0).all()
    with pytest.raises(ValueError, match="space"):
        ManifoldInit(space="pixels")


_THREADS_SCRIPT = """
import warnings; warnings.simplefilter("ignore")
import numpy as np, torch
torch.set_num_threads(1)
from pyroclust.infer.init import ManifoldInit
torch.get_num_threads()
x = np.random.default_rng(0).normal(size=(300, 8)).astype(np.float32)
ManifoldInit(embedding="umap").embed(x, 0, 3)
print(torch.get_num_threads())
"""


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="numba's pool is one thread on one core")
def test_umap_leaves_torchs_thread_count_as_it_was() -> None:
    # in this order (torch's pool started, then numba's), UMAP's numba reset torch's count
    # to every core: a fit asked for one thread ran on all of them after its start
    out = subprocess.run(
        [sys.executable, "-c", _THREADS_SCRIPT], capture_output=True, text=True, check=True
    )
    assert out.stdout.split()[-1] == "1"


def test_init_starts_the_guide_scale_at_a_fraction_of_the_code_spread(setup) -> None:
    model, guide, x, codes = setup
    with local_params():
        GMMInit(pretrain_epochs=0, code_scale=0.1)(model, guide, x, random_state=0)
        _, scale = guide.encode(x)
    expected = 0.1 * np.sqrt(np.median(codes.var(0)))
    np.testing.assert_allclose(scale.detach().numpy(), expected, rtol=1e-4)


def test_augmented_pretraining_feeds_the_encoder_augmented_rows(setup) -> None:
    model, guide, x, _ = setup
    seen = []

    def augment(xb: torch.Tensor) -> torch.Tensor:
        seen.append(len(xb))
        return xb.flip(0)

    with local_params():
        pretrain_autoencoder(
            model, guide, x, epochs=2, batch_size=16, random_state=0, augment=augment
        )
    assert sum(seen) == 2 * len(x)


def test_manifold_init_with_hdbscan_finds_its_own_number_of_clusters() -> None:
    from pyroclust.infer.init import ManifoldInit

    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [30.0, 0.0], [0.0, 30.0]])
    sizes = [150, 60, 30]  # heavy-tailed sizes, fewer clusters than components
    codes = np.concatenate([c + rng.normal(size=(m, 2)) for c, m in zip(centres, sizes)])
    truth = np.repeat([0, 1, 2], sizes)
    strategy = ManifoldInit(space="codes", method="hdbscan", min_cluster_size=10)
    pi, loc, var = strategy.cluster(codes, 8, random_state=0)
    assert pi.shape == (8,) and loc.shape == var.shape == (8, 2)
    np.testing.assert_allclose(pi.sum(), 1.0)
    found = np.argsort(-pi)[:3]
    # the three clusters, largest first in weight, at their centres; the rest are spares
    np.testing.assert_allclose(np.sort(pi)[::-1][:3] * (len(codes) + 5), sizes, atol=1.5)
    for k in found:
        nearest = np.argmin(((centres - loc[k]) ** 2).sum(1))
        np.testing.assert_allclose(loc[k], codes[truth == nearest].mean(0), atol=0.3)
    spares = np.argsort(-pi)[3:]
    np.testing.assert_allclose(pi[spares], 1 / (len(codes) + 5))
    with pytest.raises(ValueError, match="method"):
        ManifoldInit(method="dbscan")


# ------------------------------------------------- pseudo-label alignment and UMAP starts
LOG_2PI = float(np.log(2 * np.pi))


def test_labelled_elbo_matches_plain_torch_formula() -> None:
    """With the assignment observed, TraceEnum_ELBO's loss is the float64 formula
    -n/B sum_b [log p(x|z) + log pi_y + log N(z; mu_y, s_y) - log q(z|x)] at the same z."""
    import torch.nn.functional as F
    from pyro import poutine
    from pyro.infer import TraceEnum_ELBO

    from pyroclust import zoo
    from pyroclust.infer.init import labelled

    torch.manual_seed(0)
    model, guide = zoo.make("vade", n_features=6, n_components=4, latent_dim=3, hidden=(7,))
    model.double()
    guide.double()
    with torch.no_grad():
        model.weights.logits.copy_(torch.randn(4, dtype=torch.float64))
    model.components.set_from_moments(
        torch.randn(4, 3, dtype=torch.float64), torch.rand(4, 3, dtype=torch.float64) + 0.3
    )
    x = torch.rand(8, 6, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 3, 3, 2, 1, 0])
    lmodel, lguide = labelled(model, guide)
    with local_params():
        trace = poutine.trace(lguide).get_trace(x, y, 50)
        z = trace.nodes["z"]["value"]
        loss = TraceEnum_ELBO(max_plate_nesting=1).differentiable_loss(
            lmodel, poutine.replay(lguide, trace=trace), x, y, 50
        )
        loc, scale = guide.encode(x)
        h = model.decoder(z)
        log_px = (x * F.logsigmoid(h) + (1 - x) * F.logsigmoid(-h)).sum(-1)
        log_pi = torch.log_softmax(model.weights.logits, -1)[y]
        mu, sd = model.components.loc[y], model.components.scale[y]
        log_pz = (-0.5 * ((z - mu) / sd) ** 2 - torch.log(sd) - 0.5 * LOG_2PI).sum(-1)
        log_qz = (-0.5 * ((z - loc) / scale) ** 2 - torch.log(scale) - 0.5 * LOG_2PI).sum(-1)
        expected = -50 / 8 * (log_px + log_pi + log_pz - log_qz).sum()
    torch.testing.assert_close(loss, expected, rtol=1e-10, atol=1e-10)


def test_fit_conditioned_makes_the_mixture_reproduce_the_labels(tiny_vade, make_blobs) -> None:
    """After SVI with y observed at the labels, p(y | x) from the free model agrees with
    them, whatever the mixture started from."""
    from pyroclust.infer.init import fit_conditioned
    from pyroclust.predictive import assignment_log_proba

    model, guide = tiny_vade()
    x = torch.as_tensor(make_blobs(96))
    labels = (np.arange(96) + 1) % 3  # the blobs, under a permuted naming
    with local_params():
        losses = fit_conditioned(
            model, guide, x, labels, epochs=60, batch_size=32, lr=1e-2, random_state=0
        )
        guide.eval()
        with torch.no_grad():
            predicted = assignment_log_proba(model, guide, x).argmax(-1).numpy()
    assert losses[-1] < losses[0]
    assert (predicted == labels).mean() >= 0.95


def test_fit_conditioned_until_records_the_agreement_and_stops_once_it_is_reached(
    tiny_vade, make_blobs
) -> None:
    """With ``until``, each alignment epoch records the share of rows the model assigns to
    their label (recomputed here from the posterior), and the stage stops at the first epoch
    where it reaches ``until``; without it, every epoch runs and none is recorded."""
    from pyroclust.infer.init import fit_conditioned
    from pyroclust.infer.session import FitSession
    from pyroclust.predictive import assignment_log_proba

    x = torch.as_tensor(make_blobs(96))
    labels = (np.arange(96) + 1) % 3
    with local_params():
        model, guide = tiny_vade()
        session = FitSession(model, guide, random_state=0)
        fit_conditioned(
            model,
            guide,
            x,
            labels,
            epochs=60,
            batch_size=32,
            lr=1e-2,
            random_state=0,
            session=session,
            until=0.95,
        )
        history = session.trainers["align"].history
        with torch.no_grad():
            found = assignment_log_proba(model, guide, x).argmax(-1).numpy()
    shares = [row["agreement"] for row in history]
    assert len(history) < 60  # stopped early
    assert shares[-1] >= 0.95 and all(s < 0.95 for s in shares[:-1])
    assert shares[-1] == pytest.approx((found == labels).mean())
    with local_params():
        model, guide = tiny_vade()
        session = FitSession(model, guide, random_state=0)
        fit_conditioned(
            model, guide, x, labels, epochs=3, batch_size=32, random_state=0, session=session
        )
    assert len(session.trainers["align"].history) == 3
    assert all("agreement" not in row for row in session.trainers["align"].history)


def test_agreement_stop_reads_labels_through_labels_of_when_given() -> None:
    from types import SimpleNamespace

    from pyroclust.infer.init.align import AgreementStop

    x = torch.arange(8.0)[:, None]
    labels = torch.tensor([0, 0, 1, 0, 1, 1, 0, 1])
    seen = []

    def labels_of(model, guide, rows):
        seen.append((model, guide, rows))
        return (rows[:, 0] >= 4).long()  # right on 6 of the 8 rows

    stop = AgreementStop(x, labels, 0.75, labels_of=labels_of)
    trainer = SimpleNamespace(model="m", guide="g", history=[{}], stopped_early=False)
    stop(trainer, 0)
    assert trainer.history[-1]["agreement"] == 0.75 and trainer.stopped_early
    assert seen[0][:2] == ("m", "g") and seen[0][2] is x
    trainer = SimpleNamespace(model="m", guide="g", history=[{}], stopped_early=False)
    AgreementStop(x, labels, 0.9, labels_of=labels_of)(trainer, 0)
    assert not trainer.stopped_early


def test_agreement_stop_of_several_sites_is_the_least_sites_share() -> None:
    from types import SimpleNamespace

    from pyroclust.infer.init.align import AgreementStop

    x = torch.arange(4.0)[:, None]
    labels = torch.tensor([[0, 1], [1, 1], [0, 0], [1, 0]])
    found = torch.tensor([[0, 1], [1, 0], [0, 1], [1, 1]])  # site 0: 4 of 4, site 1: 1 of 4
    for until, stops in ((0.25, True), (0.5, False)):
        trainer = SimpleNamespace(model="m", guide="g", history=[{}], stopped_early=False)
        AgreementStop(x, labels, until, labels_of=lambda m, g, rows: found)(trainer, 0)
        assert trainer.history[-1]["agreement"] == 0.25 and trainer.stopped_early is stops


def test_agreement_stop_reads_a_fixed_random_subset_above_max_rows() -> None:
    from types import SimpleNamespace

    from pyroclust.infer.init.align import AgreementStop

    x = torch.arange(100.0)[:, None]
    labels = torch.zeros(100, dtype=torch.long)
    seen = []

    def labels_of(model, guide, rows):
        seen.append(rows)
        return (rows[:, 0] % 2).long()  # right on the even rows only

    stops = [
        AgreementStop(x, labels, 0.5, labels_of=labels_of, max_rows=10, random_state=s)
        for s in (3, 3, 4)
    ]
    shares = []
    for stop in stops:
        trainer = SimpleNamespace(model="m", guide="g", history=[{}], stopped_early=False)
        stop(trainer, 0)
        shares.append(trainer.history[-1]["agreement"])
    rows = [r[:, 0].long() for r in seen]
    assert all(len(r) == 10 and len(set(r.tolist())) == 10 for r in rows)
    assert torch.equal(rows[0], rows[1]) and not torch.equal(rows[0], rows[2])
    for r, share in zip(rows, shares):
        assert share == (r % 2 == 0).float().mean().item()  # the subset's own share
    seen.clear()
    AgreementStop(x, labels, 0.5, labels_of=labels_of)(
        SimpleNamespace(model="m", guide="g", history=[{}], stopped_early=False), 0
    )
    assert seen[0] is x  # below the default max_rows: every row, as given
    with pytest.raises(ValueError, match="max_rows must be at least 1"):
        AgreementStop(x, labels, 0.5, max_rows=0)


def test_agreement_stop_rejects_a_share_outside_the_unit_interval() -> None:
    from pyroclust.infer.init.align import AgreementStop

    for bad in (0.0, 1.5, float("nan")):
        with pytest.raises(ValueError, match="until must lie in"):
            AgreementStop(torch.zeros(2, 3), torch.zeros(2, dtype=torch.long), bad)
    from pyroclust.infer.init import GMMInit, ManifoldInit

    for strategy in (ManifoldInit, GMMInit):  # refused when built, before any pretraining
        with pytest.raises(ValueError, match="align_until must lie in"):
            strategy(align_until=0.0)


def test_fit_conditioned_rejects_bad_labels(setup) -> None:
    from pyroclust.infer.init import fit_conditioned

    model, guide, x, _ = setup
    with pytest.raises(ValueError, match="shape"):
        fit_conditioned(model, guide, x, np.zeros(len(x) - 1, dtype=int), epochs=1)
    with pytest.raises(ValueError, match="components"):
        fit_conditioned(model, guide, x, np.full(len(x), 3), epochs=1)


def test_manifold_init_with_umap_recovers_separated_clusters() -> None:
    from sklearn.metrics import adjusted_rand_score

    from pyroclust.infer.init import ManifoldInit

    rng = np.random.default_rng(0)
    centres = rng.normal(0, 10, (4, 20))
    truth = np.repeat(np.arange(4), 60)
    data = centres[truth] + rng.normal(size=(240, 20))
    strategy = ManifoldInit(space="data", embedding="umap", n_neighbors=15, n_init=2)
    labels = strategy.cluster_labels(data[:, :2], 4, random_state=0, data=data)
    assert adjusted_rand_score(truth, labels) == 1.0
    embedding = strategy.embed(data, random_state=0)
    assert embedding.shape == (240, 2) and np.isfinite(embedding).all()
    # clustered into K clusters, UMAP embeds in min(max(K, 2), 10) dimensions (N2D's K)
    assert strategy.embed(data, random_state=0, n_components=4).shape == (240, 4)
    assert strategy.embedding_dims(1000) == 10 and strategy.embedding_dims(1) == 2
    assert ManifoldInit(embedding="umap", n_dims=3).embedding_dims(10) == 3
    assert ManifoldInit(embedding="tsne").embedding_dims(10) == 2
    with pytest.raises(ValueError, match="at most 3 for t-SNE"):
        ManifoldInit(embedding="tsne", n_dims=4)
    with pytest.raises(ValueError, match="n_dims must be at least 1"):
        ManifoldInit(embedding="umap", n_dims=0)
    with pytest.raises(ValueError, match="embedding"):
        ManifoldInit(embedding="pca")


def test_manifold_init_aligns_the_model_to_its_labels(setup) -> None:
    """With align_epochs, the fitted VaDE's p(y | x) reproduces the embedding's clusters."""
    from pyroclust.infer.init import ManifoldInit
    from pyroclust.predictive import assignment_log_proba

    model, guide, x, codes = setup
    strategy = ManifoldInit(
        pretrain_epochs=0, n_init=2, align_epochs=60, align_lr=1e-2, batch_size=16
    )
    start = strategy.cluster_labels(codes, 3, random_state=0, data=x)
    with local_params():
        strategy(model, guide, x, random_state=0)
        guide.eval()
        with torch.no_grad():
            predicted = assignment_log_proba(model, guide, x).argmax(-1).numpy()
    assert (predicted == start).mean() >= 0.95


def test_alignment_follows_the_order_an_ordered_prior_gives_the_components(
    tiny_vade, make_blobs
) -> None:
    """Stick-breaking sorts the start's clusters by size (largest = component 0); the labels
    the alignment conditions on are renumbered the same way."""
    from pyroclust.infer.init import _LatentClusterInit, moments_from_labels
    from pyroclust.predictive import assignment_log_proba

    x_all = make_blobs(96)
    blob = np.arange(96) % 3
    keep = np.concatenate([np.flatnonzero(blob == k)[:m] for k, m in enumerate((8, 32, 20))])
    x, labels = torch.as_tensor(x_all[keep]), blob[keep]  # cluster sizes 8, 32, 20

    class Given(_LatentClusterInit):
        def start(self, codes, n_components, random_state, data=None):
            return (*moments_from_labels(codes, labels, n_components), labels)

    model, guide = tiny_vade(weights="stick-breaking")
    guide.weights = model.weights.make_guide()  # q over the sticks (the estimator does this)
    strategy = Given(pretrain_epochs=0, align_epochs=100, align_lr=3e-3, batch_size=16)
    with local_params():
        strategy(model, guide, x, random_state=0)
        guide.eval()
        with torch.no_grad():
            predicted = assignment_log_proba(model, guide, x).argmax(-1).numpy()
    # by size, cluster 1 (32 rows) is component 0, cluster 2 (20) is 1, cluster 0 (8) is 2
    renumbered = np.array([2, 0, 1])[labels]
    assert (predicted == renumbered).mean() >= 0.95


def test_alignment_after_a_mixture_on_the_codes_keeps_its_clusters(tiny_vade, make_blobs) -> None:
    """GMM/k-means starts have no labels of their own: the alignment conditions on the start
    mixture's most probable components, and the aligned model keeps that clustering."""
    from pyroclust.predictive import assignment_log_proba

    x = torch.as_tensor(make_blobs(96))

    def fitted(align_epochs: int) -> np.ndarray:
        torch.manual_seed(0)
        model, guide = tiny_vade()
        strategy = KMeansInit(
            pretrain_epochs=20, align_epochs=align_epochs, align_lr=3e-3, batch_size=16
        )
        with local_params():
            strategy(model, guide, x, random_state=0)
            guide.eval()
            with torch.no_grad():
                return assignment_log_proba(model, guide, x).argmax(-1).numpy()

    start, aligned = fitted(0), fitted(50)
    assert len(np.unique(start)) == 3
    assert (aligned == start).mean() >= 0.95
