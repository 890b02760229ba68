"""Starts of several cluster sites (VLAC's one per mixture layer): the labelled objective and
the agreement term against q(y | x) computed by hand, the per-site start, its errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pyroclust.estimator import Clusterer
from pyroclust.guides import GMVAEGuide, VLACGuide
from pyroclust.infer.elbo import local_params
from pyroclust.infer.init import labelled_loss
from pyroclust.infer.init.layerwise import (
    LayerwiseStart,
    SiteRange,
    explained_away,
    resolve_views,
    site_features,
    view_rows,
)
from pyroclust.infer.init.sites import (
    SitesAgreement,
    check_site_labels,
    fit_sites_conditioned,
    labelled_sites_loss,
    sites_clustering,
)
from pyroclust.infer.session import FitSession
from pyroclust.likelihoods import Bernoulli
from pyroclust.metrics import ari
from pyroclust.models import GMVAE, VLAC, VaDE
from tests.conftest import blobs

N_FEATURES = 12


def _pair(ks, cluster: str) -> tuple[VLAC, VLACGuide]:
    model = VLAC(N_FEATURES, ks, latent_dim=2, hidden=8, cluster=cluster)
    return model, VLACGuide.for_model(model)


def _x(n: int = 24) -> torch.Tensor:
    return torch.as_tensor(blobs(n, N_FEATURES))


def _classification(guide: VLACGuide, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """sum over sites and rows of log q(y_s = label | x), from the guide's own logits."""
    logits = guide.cluster_logits(x)
    total = torch.zeros((), dtype=x.dtype)
    for j, name in enumerate(logits):
        total = total + torch.log_softmax(logits[name], -1).gather(1, labels[:, j : j + 1]).sum()
    return total


@pytest.mark.parametrize("cluster", ["relaxed", "enumerate"])
def test_labelled_sites_loss_adds_every_sites_classification_term(cluster: str) -> None:
    """loss(alpha) - loss(0) = -alpha n/B sum_s sum_b log q(y_s = l_bs | x_b), same noise."""
    model, guide = _pair([3, 1, 2], cluster)
    x = _x(8)
    labels = torch.tensor([[0, 1], [1, 0], [2, 1], [2, 0], [1, 1], [0, 0], [0, 1], [1, 0]])
    n, alpha = 50, 0.7
    with local_params():
        with_term = labelled_sites_loss(model, guide, x, labels, alpha=alpha)
        without = labelled_sites_loss(model, guide, x, labels, alpha=0.0)
        torch.manual_seed(1)
        got = with_term(model, guide, x, labels, data_size=n)
        torch.manual_seed(1)
        plain = without(model, guide, x, labels, data_size=n)
        expected = -alpha * n / len(x) * _classification(guide, x, labels)
    torch.testing.assert_close(got - plain, expected, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("cluster", ["relaxed", "enumerate"])
def test_one_site_equals_the_single_site_alignment(cluster: str) -> None:
    """With one mixture layer the objective is :func:`labelled_loss`'s, same noise."""
    model, guide = _pair([3, 1], cluster)
    x = _x(8)
    labels = torch.tensor([0, 1, 2, 2, 1, 0, 0, 1])
    with local_params():
        sites = labelled_sites_loss(model, guide, x, labels[:, None], alpha=0.5)
        single = labelled_loss(model, guide, x, labels, alpha=0.5)
        torch.manual_seed(3)
        got = sites(model, guide, x, labels[:, None], data_size=30)
        torch.manual_seed(3)
        expected = single(model, guide, x, labels, data_size=30)
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize("cluster", ["relaxed", "enumerate"])
def test_sites_agreement_adds_the_started_models_labels_at_every_site(cluster: str) -> None:
    model, guide = _pair([3, 1, 2], cluster)
    x = _x(10)
    with local_params():
        loss, (data, labels) = SitesAgreement(2.0).bind(model, guide, x, None)
        plain, _ = SitesAgreement(0.0).bind(model, guide, x, None)
        assert data is x and labels.shape == (10, 2)
        assert np.array_equal(labels.numpy(), sites_clustering(model, guide, x))
        torch.manual_seed(2)
        got = loss(model, guide, x, labels, data_size=40)
        torch.manual_seed(2)
        base = plain(model, guide, x, labels, data_size=40)
        expected = -2.0 * 40 / 10 * _classification(guide, x, labels)
    torch.testing.assert_close(got - base, expected, rtol=1e-5, atol=1e-4)


def test_explained_away_removes_each_clusters_mean() -> None:
    rng = np.random.default_rng(0)
    f = rng.normal(size=(30, 4))
    labels = rng.integers(0, 3, 30)
    expected = f.copy()
    for k in range(3):
        expected[labels == k] -= f[labels == k].mean(0)
    expected += f.mean(0)
    np.testing.assert_allclose(explained_away(f, [labels]), expected, atol=1e-10)
    np.testing.assert_array_equal(explained_away(f, []), f)


def test_site_features_are_what_each_classifier_reads() -> None:
    model, guide = _pair([3, 1, 2], "relaxed")
    x = _x(6)
    features = guide.site_features(x)
    logits = guide.cluster_logits(x)
    assert list(features) == ["y1", "y3"]
    for name, f in features.items():
        torch.testing.assert_close(guide.classifiers[name](f), logits[name])
    arrays = site_features(guide, x, batch_size=4)
    assert arrays["y3"].shape == (6, 8) and arrays["y3"].dtype == np.float64


class _Given:
    """A clusterer that hands out given labelings, one per call, in order."""

    def __init__(self, *labelings: np.ndarray) -> None:
        self.labelings = list(labelings)

    def cluster_labels(self, features, n_components, random_state):  # noqa: D102
        return self.labelings.pop(0)


def _two_factor_data(n: int = 120) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows whose first six features show a factor a (3 values), the last six a factor b
    (2 values), with a little noise; binary-valued means in (0, 1)."""
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 3, n), rng.integers(0, 2, n)
    means = np.concatenate([np.eye(3)[a].repeat(2, 1), np.eye(2)[b].repeat(3, 1)], 1)
    x = np.clip(0.1 + 0.8 * means + rng.normal(0, 0.03, (n, 12)), 0, 1).astype(np.float32)
    return x, a, b


@pytest.mark.parametrize("cluster", ["relaxed", "enumerate"])
def test_layerwise_start_sets_and_aligns_every_sites_labels(cluster: str) -> None:
    x, a, b = _two_factor_data()
    model, guide = _pair([3, 1, 2], cluster)
    init = LayerwiseStart(
        warmup_epochs=1,
        batch_size=30,
        clusterer=_Given(a, a, b),  # the site labels of y1, its finer clustering, y3's
        align_epochs=60,
        lr=1e-2,
    )
    est = Clusterer(model, guide, epochs=0, init=init, random_state=0, progress=False).fit(x)
    assert ari(est.predict(x, site="y1"), a) > 0.9
    assert ari(est.predict(x, site="y3"), b) > 0.9
    assert [s["stage"] for s in est.stage_history_][:2] == ["warmup", "align"]


def test_alignment_until_every_site_reproduces_its_labels() -> None:
    x, a, b = _two_factor_data()
    x = torch.as_tensor(x)
    labels = np.stack([a, b], 1)
    model, guide = _pair([3, 1, 2], "relaxed")
    session = FitSession(model, guide)
    fit_sites_conditioned(
        model, guide, x, labels, epochs=200, batch_size=30, lr=1e-2, until=1.0, session=session
    )
    history = session.trainers["align"].history
    assert 1 < len(history) < 200  # stopped as soon as it got there
    found = sites_clustering(model, guide, x)
    share = (found == labels).mean(0)
    assert history[-1]["agreement"] == pytest.approx(share.min()) == 1.0
    assert all(h["agreement"] < 1.0 for h in history[:-1])
    with pytest.raises(ValueError, match="align_until must lie in"):
        LayerwiseStart(align_until=1.5)


def test_layerwise_labels_have_one_column_per_site() -> None:
    x = _x(40)
    model, guide = _pair([3, 1, 2], "relaxed")

    class _KMeans:
        def cluster_labels(self, features, n_components, random_state):
            from sklearn.cluster import KMeans

            return KMeans(n_components, n_init=2, random_state=0).fit_predict(features)

    for explain_away in (0, 2):
        start = LayerwiseStart(clusterer=_KMeans(), explain_away=explain_away)
        labels = start.site_labels(model, guide, x, 0)
        assert labels.shape == (40, 2) and labels.dtype == np.int64
        assert set(np.unique(labels[:, 0])) == {0, 1, 2}
        assert set(np.unique(labels[:, 1])) == {0, 1}


def test_errors_are_one_line() -> None:
    model, guide = _pair([3, 1, 2], "relaxed")
    x = _x(10)
    with pytest.raises(ValueError, match="one column per cluster site"):
        check_site_labels(np.zeros((10, 1), dtype=int), model.cluster_sites, 10)
    with pytest.raises(ValueError, match="must lie in"):
        check_site_labels(np.full((10, 2), 2), model.cluster_sites, 10)
    with pytest.raises(ValueError, match="enumerated in the model"):
        vade = VaDE(3, 2, torch.nn.Linear(2, N_FEATURES), Bernoulli())
        fit_sites_conditioned(vade, None, x, np.zeros((10, 1), dtype=int))
    gmvae = GMVAE(N_FEATURES, 3, 2, feature_dim=6, hidden=(8, 7))
    with pytest.raises(TypeError, match="site_features"):
        LayerwiseStart().site_labels(gmvae, GMVAEGuide.for_model(gmvae, hidden=(8, 7)), x)
    with pytest.raises(ValueError, match="warmup_epochs"):
        LayerwiseStart(warmup_epochs=-1)


class _Recording:
    """A clusterer that records what it is given and labels rows by their first column's
    rank (K equal groups)."""

    def __init__(self) -> None:
        self.given: list[np.ndarray] = []

    def cluster_labels(self, features, n_components, random_state):
        self.given.append(np.asarray(features))
        order = np.argsort(np.argsort(features[:, 0], kind="stable"), kind="stable")
        return order * n_components // len(features)


def test_a_site_with_a_view_clusters_that_view_of_the_data() -> None:
    x = _x(30)
    model, guide = _pair([3, 1, 2], "relaxed")
    view = lambda rows: 2.0 * rows[:, :5]  # noqa: E731
    for key in (-1, "y3", 1):
        rec = _Recording()
        start = LayerwiseStart(clusterer=rec, explain_away=0, views={key: view})
        labels = start.site_labels(model, guide, x, 0)
        features = site_features(guide, x)
        # y1 clusters its features; y3 the view of the rows, not its features
        np.testing.assert_allclose(rec.given[0], features["y1"])
        np.testing.assert_allclose(rec.given[1], 2.0 * x[:, :5].double().numpy())
        assert labels.shape == (30, 2)


def test_a_finer_clustering_to_explain_away_is_made_only_when_a_later_site_reads_features() -> None:
    x = _x(30)
    model, guide = _pair([3, 1, 2], "relaxed")
    view = lambda rows: rows[:, :5]  # noqa: E731
    calls = {}
    for name, views in (("none", None), ("top", {-1: view}), ("lowest", {0: view})):
        rec = _Recording()
        LayerwiseStart(clusterer=rec, explain_away=2, views=views).site_labels(model, guide, x, 0)
        calls[name] = [f.shape[1] for f in rec.given]
    width = site_features(guide, x)["y1"].shape[1]
    # y1, y1 into 2 x 3 clusters (explained away from y3's features), y3
    assert calls["none"][:2] == [width, width] and len(calls["none"]) == 3
    assert calls["lowest"] == [5, 5, calls["none"][2]]
    assert calls["top"] == [width, 5]  # y3 clusters its view: nothing to explain away


def test_a_start_whose_every_site_has_a_view_moves_its_warm_up_to_the_alignment() -> None:
    model, guide = _pair([3, 1, 2], "relaxed")
    view = lambda rows: rows[:, :5]  # noqa: E731
    both = {-1: view, SiteRange(0, 1): view}
    kwargs = {"warmup_epochs": 6, "align_epochs": 2, "viewed_warmup_epochs": 1}
    assert LayerwiseStart(views=both, **kwargs).stage_epochs(model) == (1, 7)
    # a site reads the warm-up's features: the warm-up as given
    assert LayerwiseStart(views={-1: view}, **kwargs).stage_epochs(model) == (6, 2)
    assert LayerwiseStart(**kwargs).stage_epochs(model) == (6, 2)
    # not asked for, or a warm-up already shorter, or no alignment to give it to
    assert LayerwiseStart(views=both, warmup_epochs=6, align_epochs=2).stage_epochs(model) == (
        6,
        2,
    )
    short = {"warmup_epochs": 1, "align_epochs": 2, "viewed_warmup_epochs": 3}
    assert LayerwiseStart(views=both, **short).stage_epochs(model) == (1, 2)
    no_align = {"warmup_epochs": 6, "align_epochs": 0, "viewed_warmup_epochs": 1}
    assert LayerwiseStart(views=both, **no_align).stage_epochs(model) == (1, 0)
    with pytest.raises(ValueError, match="viewed_warmup_epochs must be >= 0"):
        LayerwiseStart(viewed_warmup_epochs=-1)
    # the stages run for those epochs
    x, a, b = _two_factor_data(60)
    start = LayerwiseStart(batch_size=30, clusterer=_Given(a, b), views=both, lr=1e-2, **kwargs)
    est = Clusterer(model, guide, epochs=0, init=start, random_state=0, progress=False).fit(x)
    stages = [row["stage"] for row in est.stage_history_]  # one row per epoch
    assert (stages.count("warmup"), stages.count("align")) == (1, 7)


def test_view_rows_in_batches_equal_the_whole_and_views_are_checked() -> None:
    x = _x(30)
    np.testing.assert_allclose(
        view_rows(lambda r: r.sum(1, keepdim=True), x, batch_size=7),
        x.double().sum(1, keepdim=True).numpy(),
        rtol=1e-6,
    )
    names = ["y1", "y3"]
    assert resolve_views({-1: len, "y1": abs}, names) == {"y3": len, "y1": abs}
    # a SiteRange gives its view to the sites in its range that no name or position names
    assert resolve_views({-1: len, SiteRange(0, 1): abs}, names) == {"y3": len, "y1": abs}
    assert resolve_views({-1: len, SiteRange(0, 1): abs}, ["y2"]) == {"y2": len}
    assert resolve_views({SiteRange(0, 1): abs, "y1": len}, names) == {"y1": len}
    assert resolve_views({SiteRange(): abs}, names) == {"y1": abs, "y3": abs}
    assert resolve_views({SiteRange(5, 9): abs}, names) == {}
    for bad, match in [
        ({2: len}, "no cluster site at position 2"),
        ({"y2": len}, "no cluster site 'y2'"),
        ({1: len, "y3": len}, "two views for site 'y3'"),
        ({0: 3}, "not callable"),
        ({1.5: len}, "site name, position or SiteRange"),
        ({SiteRange(0, 1): len, SiteRange(): abs}, "two SiteRange keys give site 'y1'"),
        ({SiteRange(): 3}, "not callable"),
    ]:
        with pytest.raises(ValueError, match=match):
            resolve_views(bad, names)
    model, guide = _pair([3, 1, 2], "relaxed")
    with pytest.raises(ValueError, match="no cluster site"):  # before any warm-up
        LayerwiseStart(views={"z1": len})(model, guide, _x(10))


def test_code_features_are_each_mixture_layers_code_mean() -> None:
    model, guide = _pair([3, 1, 2], "relaxed")
    x = _x(6)
    codes = guide.code_features(x)
    hs, logits = guide.deterministic_ladder(x)
    assert list(codes) == ["y1", "y3"]
    for layer, name in ((1, "y1"), (3, "y3")):
        loc, _ = guide.code_params(layer, hs[layer - 1], logits[name].softmax(-1))
        torch.testing.assert_close(codes[name], loc)
        assert codes[name].shape == (6, 2)  # d_l, not the ladder's width
    means = guide.code_means(x)
    assert list(means) == ["z1", "z2", "z3"]  # every layer, the plain one too
    torch.testing.assert_close(means["z2"], guide.code_params(2, hs[1], None))
    torch.testing.assert_close(means["z3"][0], codes["y3"])


def test_a_start_on_the_codes_after_a_free_bits_warm_up() -> None:
    from pyroclust.infer.freebits import FreeBits

    x = _x(30)
    model, guide = _pair([3, 1, 2], "relaxed")
    calls = []

    def loss(model_, guide_, xb, *, data_size):
        calls.append(len(xb))
        return FreeBits(1.0)(model_, guide_, xb, data_size=data_size)

    rec = _Recording()
    start = LayerwiseStart(
        warmup_epochs=1,
        align_epochs=0,
        batch_size=10,
        clusterer=rec,
        explain_away=0,
        warmup_loss=loss,
        features="code_features",
    )
    start(model, guide, x, random_state=0)
    assert calls[:3] == [10, 10, 10]  # the warm-up ran on the given loss
    codes = site_features(guide, x, method="code_features")
    np.testing.assert_allclose(rec.given[0], codes["y1"])
    np.testing.assert_allclose(rec.given[1], codes["y3"])
    with pytest.raises(ValueError, match="guide method"):
        LayerwiseStart(features="not a name")
    with pytest.raises(TypeError, match="warmup_loss"):
        LayerwiseStart(warmup_loss=3)
    with pytest.raises(TypeError, match="no nothing"):
        LayerwiseStart(features="nothing").site_labels(model, guide, x)


def test_a_plain_warm_up_and_its_start_run_in_the_guides_plain_ladder(monkeypatch) -> None:
    """plain_warmup: every warm-up step and the start's features see the guide's
    plain_ladder() (no y_l fed to a rung or head), and the alignment does not."""
    x = _x(30)
    model, guide = _pair([3, 1, 2], "relaxed")
    seen = []
    forward, features = guide.forward, guide.code_features

    def recording_forward(*args, **kwargs):
        seen.append(("step", getattr(guide, "_plain_ladder", False)))
        return forward(*args, **kwargs)

    def recording_features(xb):
        seen.append(("start", getattr(guide, "_plain_ladder", False)))
        return features(xb)

    monkeypatch.setattr(guide, "forward", recording_forward)
    monkeypatch.setattr(guide, "code_features", recording_features)
    start = LayerwiseStart(
        warmup_epochs=1,
        align_epochs=1,
        batch_size=10,
        clusterer=_Recording(),
        plain_warmup=True,
        features="code_features",
        align_until=None,
    )
    start(model, guide, x, random_state=0)
    at_start = seen.index(("start", True))
    assert at_start >= 3 and set(seen[:at_start]) == {("step", True)}  # 3 batches and more
    assert seen[at_start + 1 :] and set(seen[at_start + 1 :]) == {("step", False)}


def test_a_plain_warm_up_trains_the_ladder_as_a_vlae() -> None:
    """plain_warmup: the warm-up runs with every mixture component at N(0, I), so the
    component tables keep their values while the networks train."""
    x = _x(30)
    model, guide = _pair([3, 1, 2], "relaxed")
    tables = {n: p.detach().clone() for n, p in model.named_parameters() if n[:3] in ("loc", "raw")}
    rung = model.rungs[0].state_dict()
    rung = {k: v.clone() for k, v in rung.items()}
    start = LayerwiseStart(
        warmup_epochs=2,
        align_epochs=0,
        batch_size=10,
        clusterer=_Recording(),
        plain_warmup=True,
    )
    start(model, guide, x, random_state=0)
    for name, value in model.named_parameters():
        if name in tables:
            torch.testing.assert_close(value.detach(), tables[name], rtol=0, atol=0)
    assert any(not torch.equal(v, model.rungs[0].state_dict()[k]) for k, v in rung.items())
    assert not getattr(model, "_plain_components", False)  # left as it was
    assert not getattr(guide, "_plain_ladder", False)
    gmvae = GMVAE(N_FEATURES, 3, 2, feature_dim=6, hidden=(8, 7))
    with pytest.raises(TypeError, match="plain_components"):
        LayerwiseStart(warmup_epochs=1, plain_warmup=True)(
            gmvae, GMVAEGuide.for_model(gmvae, hidden=(8, 7)), x
        )
