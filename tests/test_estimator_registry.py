"""Clusterer built from a registry name at fit, and its parameter checks."""

from __future__ import annotations

import numpy as np
import pytest

from pyroclust.estimator import Clusterer
from pyroclust.infer.init import RandomInit

SMALL = {"latent_dim": 2, "hidden": (8,)}


def _est(**kwargs) -> Clusterer:
    options = dict(
        n_components=3,
        model_options=SMALL,
        epochs=1,
        batch_size=16,
        init=RandomInit(),
        progress=False,
        random_state=0,
    )
    options.update(kwargs)
    return Clusterer(**options)


def test_registry_name_is_built_for_the_data(x_small) -> None:
    est = _est().fit(x_small)
    assert type(est.model_).__name__ == "VaDE" and est.model_.n_components == 3
    assert est.model_.n_features == x_small.shape[1]
    assert type(est.model_.likelihood).__name__ == "Bernoulli"  # data in [0, 1]
    assert est.labels_.shape == (len(x_small),)
    again = _est().fit(x_small)  # random_state covers the networks' initial weights
    np.testing.assert_array_equal(est.transform(x_small), again.transform(x_small))


def test_registry_likelihood_follows_the_data(x_small) -> None:
    est = _est().fit(x_small * 4 - 2)
    assert type(est.model_.likelihood).__name__ == "Gaussian"
    est = _est(model="gmvae", model_options={"latent_dim": 2, "hidden": (8, 8)}).fit(x_small)
    assert [s.inference for s in est.cluster_sites_] == ["relaxed-guide"]


def test_clone_and_get_params_keep_the_name(x_small) -> None:
    from sklearn.base import clone

    est = clone(_est(model="vade"))
    assert est.get_params()["model"] == "vade" and est.get_params()["guide"] is None


@pytest.mark.parametrize(
    "options, message",
    [
        ({"n_components": 2.5}, "n_components must be an integer >= 1"),
        ({"n_components": 0}, "n_components must be an integer >= 1"),
        ({"batch_size": 0}, "batch_size must be >= 1"),
        ({"epochs": -1}, "epochs must be >= 0"),
        ({"epochs": 1.5}, "epochs must be an integer"),
        ({"lr": 0.0}, "lr must be a positive number"),
        ({"num_particles": 0}, "num_particles must be >= 1"),
        ({"model": "nope"}, "unknown architecture 'nope'"),
        ({"guide": object()}, "guide must be None when model is the registry name"),
    ],
)
def test_bad_parameters_are_refused_at_fit(x_small, options, message) -> None:
    est = _est(**options)
    with pytest.raises(ValueError, match=message):
        est.fit(x_small)
    assert not hasattr(est, "model_")


def test_a_built_model_needs_its_guide(tiny_vade, x_small) -> None:
    model, _ = tiny_vade()
    with pytest.raises(ValueError, match="pass the guide with the model"):
        Clusterer(model).fit(x_small)


def test_dataframe_feature_names_follow_scikit_learn(x_small, tmp_path) -> None:
    """Fitted on named columns, the estimator refuses them reordered or renamed at predict,
    and keeps the names through save/load."""
    import pandas as pd

    from pyroclust.exceptions import DataError

    columns = [f"f{i}" for i in range(x_small.shape[1])]
    frame = pd.DataFrame(x_small, columns=columns)
    est = _est().fit(frame)
    assert list(est.feature_names_in_) == columns
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        unnamed = est.predict(x_small.copy())  # matched by position, as scikit-learn warns
    np.testing.assert_array_equal(est.predict(frame), unnamed)
    with pytest.raises(DataError, match="order|f1"):
        est.predict(frame[columns[::-1]])
    renamed = frame.rename(columns={"f0": "zero"})
    with pytest.raises(DataError, match="zero|f0"):
        est.predict(renamed)
    est.save(tmp_path / "m.ckpt")
    loaded = Clusterer.load(tmp_path / "m.ckpt")
    assert list(loaded.feature_names_in_) == columns
    refit = _est().fit(x_small)  # fitted without names: no feature_names_in_
    assert not hasattr(refit, "feature_names_in_")


def test_a_single_row_is_refused_at_fit(x_small) -> None:
    from pyroclust.exceptions import DataError

    with pytest.raises(DataError, match="single row"):
        _est(n_components=1).fit(x_small[:1])
