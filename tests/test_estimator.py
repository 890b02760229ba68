"""The Clusterer's scikit-learn contract, repeatability, and clear errors for bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from pyroclust import zoo
from pyroclust.estimator import Clusterer
from pyroclust.exceptions import DataError, PyroclustError
from pyroclust.infer import EarlyStopping
from pyroclust.infer.init import RandomInit
from pyroclust.models import VaDE


def _est(model, guide, **kwargs) -> Clusterer:
    options = {"epochs": 2, "batch_size": 16, "init": RandomInit(), "random_state": 0}
    options.update(kwargs)
    return Clusterer(model, guide, progress=False, **options)


def _assert_same_state(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


@pytest.fixture
def fitted(tiny_vade, x_small) -> Clusterer:
    return _est(*tiny_vade()).fit(x_small)


def test_fit_returns_self_and_sets_learned_attributes(tiny_vade, x_small) -> None:
    est = _est(*tiny_vade())
    assert est.fit(x_small) is est
    learned = {"model_", "guide_", "labels_", "weights_", "history_", "elbo_", "n_features_in_"}
    assert learned <= set(vars(est))
    # scikit-learn's convention: only learned state ends in "_", and only after fit
    unfitted = _est(*tiny_vade())
    assert not [k for k in vars(unfitted) if k.endswith("_")]
    assert est.labels_.shape == (len(x_small),)
    assert est.weights_.shape == (3,) and np.isclose(est.weights_.sum(), 1.0)
    assert len(est.history_) == est.n_iter_ == 2 and np.isfinite(est.elbo_)
    assert est.n_features_in_ == 12


def test_prototypes_are_not_trained(tiny_vade, x_small) -> None:
    model, guide = tiny_vade()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    est = _est(model, guide).fit(x_small)
    assert est.model_ is not model and est.guide_ is not guide
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key])


def test_output_shapes(fitted: Clusterer, x_small) -> None:
    n = len(x_small)
    assert fitted.predict(x_small).shape == (n,)
    proba = fitted.predict_proba(x_small)
    assert proba.shape == (n, 3)
    np.testing.assert_allclose(proba.sum(1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(proba.argmax(1), fitted.predict(x_small))
    assert fitted.transform(x_small).shape == (n, 2)
    assert fitted.reconstruct(x_small).shape == (n, 12)
    assert fitted.sample(5).shape == (5, 12)
    assert fitted.sample(4, component=1).shape == (4, 12)
    score = fitted.score(x_small)
    assert isinstance(score, float) and np.isfinite(score)
    # the score is the mean ELBO per row, close to the last training epoch's
    assert abs(score - fitted.elbo_) < 0.5 * abs(fitted.elbo_)
    np.testing.assert_array_equal(fitted.labels_, fitted.predict(x_small))


def test_accepts_tensors_lists_and_float64(fitted: Clusterer, x_small) -> None:
    expected = fitted.predict(x_small)
    np.testing.assert_array_equal(fitted.predict(torch.as_tensor(x_small)), expected)
    np.testing.assert_array_equal(fitted.predict(x_small.astype(np.float64)), expected)
    np.testing.assert_array_equal(fitted.predict(x_small.tolist()), expected)


def test_same_random_state_same_fit(tiny_vade, x_small) -> None:
    model, guide = tiny_vade()
    a = _est(model, guide).fit(x_small)
    b = _est(model, guide).fit(x_small)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    _assert_same_state(a.model_, b.model_)
    _assert_same_state(a.guide_, b.guide_)
    assert a.history_[-1]["elbo"] == b.history_[-1]["elbo"]


def test_clone_refits_to_the_same_result(fitted: Clusterer, x_small) -> None:
    twin = clone(fitted)
    assert not hasattr(twin, "model_")
    assert twin.get_params()["epochs"] == 2
    twin.fit(x_small)
    np.testing.assert_array_equal(twin.labels_, fitted.labels_)
    _assert_same_state(twin.model_, fitted.model_)
    _assert_same_state(twin.guide_, fitted.guide_)


def test_set_params(tiny_vade) -> None:
    est = _est(*tiny_vade())
    assert est.set_params(epochs=5, lr=0.01) is est
    assert (est.epochs, est.lr) == (5, 0.01)


def test_fit_predict_equals_fit_then_predict(tiny_vade, x_small) -> None:
    model, guide = tiny_vade()
    labels = _est(model, guide).fit_predict(x_small)
    np.testing.assert_array_equal(labels, _est(model, guide).fit(x_small).predict(x_small))


@pytest.mark.parametrize(
    "setting, expected",
    [
        (3, EarlyStopping(patience=3)),
        (True, EarlyStopping()),
        (False, None),
        (None, None),
        (EarlyStopping(patience=2, min_delta=0.5), EarlyStopping(patience=2, min_delta=0.5)),
    ],
)
def test_early_stopping_settings(tiny_vade, x_small, setting, expected) -> None:
    est = _est(*tiny_vade(), epochs=1, early_stopping=setting).fit(x_small)
    assert est.trainer_.early_stopping == expected


def test_early_stopping_stops(tiny_vade, x_small) -> None:
    never_better = EarlyStopping(patience=1, min_delta=1e9)
    est = _est(*tiny_vade(), epochs=6, early_stopping=never_better).fit(x_small)
    assert est.n_iter_ == 2 and est.trainer_.stopped_early


@pytest.mark.parametrize(
    "method, args",
    [
        ("predict", True),
        ("predict_proba", True),
        ("transform", True),
        ("reconstruct", True),
        ("score", True),
        ("sample", False),
    ],
)
def test_not_fitted(tiny_vade, x_small, method: str, args: bool) -> None:
    est = _est(*tiny_vade())
    with pytest.raises(NotFittedError, match="not fitted"):
        getattr(est, method)(*([x_small] if args else []))
    with pytest.raises(NotFittedError):
        est.save("never-written.pt")


# ---------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "make_bad, message",
    [
        (lambda x: x[:, 0], "must be 2-D"),
        (lambda x: x[:, :, None], "must be 2-D"),
        (lambda x: x[:0], "empty"),
        (lambda x: x[:, :0], "0 features"),
        (lambda x: np.where(np.arange(x.size).reshape(x.shape) == 5, np.nan, x), "NaN"),
        (lambda x: np.where(np.arange(x.size).reshape(x.shape) == 5, np.inf, x), "infinite"),
        (lambda x: x * 255, r"needs data in \[0, 1\]"),
        (lambda x: x - 0.5, r"needs data in \[0, 1\]"),
        (lambda x: x.astype(str), "numeric"),
        (lambda x: x.astype(complex), "numeric"),
        (lambda x: [[1.0, 2.0], [3.0]], "numeric"),
        (lambda x: x[:, :11], "has 11 features, but the model expects 12"),
        (lambda x: x[:2], "n_components=3 is more than the 2 samples"),
    ],
)
def test_fit_rejects_bad_data(tiny_vade, x_small, make_bad, message: str) -> None:
    est = _est(*tiny_vade())
    with pytest.raises(DataError, match=message):
        est.fit(make_bad(x_small))
    assert not hasattr(est, "model_")


def test_predict_rejects_bad_data(fitted: Clusterer, x_small) -> None:
    for method in ("predict", "predict_proba", "transform", "reconstruct", "score"):
        with pytest.raises(DataError, match="has 13 features, but the model expects 12"):
            getattr(fitted, method)(np.zeros((4, 13), np.float32))
        with pytest.raises(DataError, match="must be 2-D"):
            getattr(fitted, method)(x_small[0])
        with pytest.raises(DataError, match="NaN"):
            getattr(fitted, method)(np.full((2, 12), np.nan))
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        fitted.predict(x_small + 1.0)


def test_errors_are_pyroclust_errors_and_value_errors() -> None:
    # callers catching ValueError (as scikit-learn users do) still catch them
    assert issubclass(DataError, ValueError) and issubclass(DataError, PyroclustError)


def test_gaussian_likelihood_accepts_any_real_data(tiny_vade, x_small) -> None:
    est = _est(*tiny_vade(likelihood="gaussian"), epochs=1).fit((x_small - 0.5) * 10)
    assert est.predict(x_small * 255).shape == (len(x_small),)


def test_model_needs_a_component(tiny_vade) -> None:
    with pytest.raises(ValueError, match="n_components must be >= 1"):
        tiny_vade(n_components=0)
    model, _ = tiny_vade()
    with pytest.raises(ValueError, match="n_components must be >= 1"):
        VaDE(0, 2, decoder=model.decoder, likelihood=model.likelihood)


def test_unknown_zoo_names() -> None:
    with pytest.raises(ValueError, match="unknown architecture 'vadee'"):
        zoo.make("vadee", n_features=12)
    with pytest.raises(ValueError, match="unknown likelihood 'poisson'"):
        zoo.make("vade", n_features=12, likelihood="poisson")


def test_device_cuda_without_cuda(tiny_vade, x_small) -> None:
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(ValueError, match="CUDA is not available"):
        _est(*tiny_vade(), device="cuda").fit(x_small)


def test_resumed_fit_equals_the_uninterrupted_one(tmp_path, tiny_vade, x_small) -> None:
    model, guide = tiny_vade()
    full = _est(model, guide, epochs=4).fit(x_small)
    path = tmp_path / "run.pt"
    _est(model, guide, epochs=2, checkpoint=path).fit(x_small)  # "interrupted" after 2
    resumed = _est(model, guide, epochs=4, checkpoint=path).fit(x_small, resume=True)
    assert resumed.n_iter_ == 4
    _assert_same_state(resumed.model_, full.model_)
    _assert_same_state(resumed.guide_, full.guide_)
    np.testing.assert_array_equal(resumed.labels_, full.labels_)
    assert [r["elbo"] for r in resumed.history_] == [r["elbo"] for r in full.history_]


def test_clusters_real_digits(shared_data_dir) -> None:
    """End to end on 600 pen-digit trajectories of the shared data: the paper's recipe
    (autoencoder pretraining, GMM, SVI), shrunk, clusters far above chance."""
    from pyroclust.datasets import load_dataset
    from pyroclust.infer.init import GMMInit
    from pyroclust.metrics import cluster_accuracy

    ds = load_dataset("pendigits", shared_data_dir, download=False, split="test")
    x, y = ds.x[:600], ds.y[:600]
    model, guide = zoo.make(
        "vade", n_features=x.shape[1], n_components=10, latent_dim=4, hidden=(64,)
    )
    init = GMMInit(pretrain_epochs=20, batch_size=64, lr=3e-3)
    est = _est(model, guide, epochs=10, batch_size=64, lr=2e-3, init=init).fit(x)
    chance = np.bincount(y).max() / len(y)
    assert chance < 0.15
    assert cluster_accuracy(y, est.labels_) > 0.35
    held_out = ds.x[600:700]
    assert est.predict(held_out).shape == (100,)


def test_save_load_round_trip_of_a_vade_with_t_components(tmp_path) -> None:
    from pyroclust import components, zoo

    x = np.random.default_rng(0).random((40, 6)).astype("float32")
    model, guide = zoo.make(
        "vade", 6, n_components=3, latent_dim=2, hidden=(8,), components="multivariate-t:5"
    )
    est = _est(model, guide).fit(x)
    est.save(tmp_path / "m.ckpt")
    loaded = Clusterer.load(tmp_path / "m.ckpt")
    assert isinstance(loaded.model_.components, components.MultivariateStudentT)
    assert float(loaded.model_.components.df) == 5.0
    _assert_same_state(est.model_, loaded.model_)
    np.testing.assert_array_equal(est.predict_proba(x), loaded.predict_proba(x))
    assert np.isfinite(est.predict_proba(x)).all()


def test_save_load_round_trip_of_an_augmenting_vade(tmp_path) -> None:
    from pyroclust import zoo

    x = np.random.default_rng(0).random((40, 16)).astype("float32")
    model, guide = zoo.make(
        "vade", 16, n_components=2, latent_dim=2, hidden=(8,), image_shape=(4, 4)
    )
    est = _est(model, guide).fit(x)
    est.save(tmp_path / "m.ckpt")
    loaded = Clusterer.load(tmp_path / "m.ckpt")
    assert loaded.guide_.augment.image_shape == (4, 4)
    _assert_same_state(est.model_, loaded.model_)
    _assert_same_state(est.guide_, loaded.guide_)
    np.testing.assert_array_equal(est.predict_proba(x), loaded.predict_proba(x))
    np.testing.assert_array_equal(loaded.labels_, est.labels_)
    np.testing.assert_array_equal(loaded.start_labels_, est.start_labels_)
    assert loaded.start_agreement_ == est.start_agreement_
