"""The representation study, RepresentationClusterer and the command line.

The tutorial notebook is executed in smoke mode by tests/test_tutorials.py.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from matplotlib.image import imread
from scipy.optimize import linear_sum_assignment
from sklearn import metrics as skm

from pyroclust import zoo
from pyroclust.cli.representations import main
from pyroclust.datasets import load_dataset
from pyroclust.exceptions import DataError
from pyroclust.representations import (
    REPRESENTATIONS,
    RepresentationClusterer,
    add_noise,
    format_table,
    representation_study,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TINY = dict(
    latent_dim=3,
    hidden=(16,),
    epochs=1,
    batch_size=64,
    n_init=1,
    n_train=240,
    n_test=80,
    progress=False,
    random_state=0,
)


@pytest.fixture(scope="module")
def study_and_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    study = representation_study(
        "digits", noise_std=0.2, out=out, tsne_size=40, k_sweep_ks=(2, 4), dbscan=True, **TINY
    )
    return study, out


@pytest.fixture(scope="module")
def clean_study():
    return representation_study("digits", noise_std=0.0, tsne=False, **TINY)


def hungarian_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Independent ACC: best one-to-one matching on the contingency table."""
    table = skm.cluster.contingency_matrix(y_true, y_pred)
    rows, cols = linear_sum_assignment(-table)
    return table[rows, cols].sum() / len(y_true)


def test_three_representations_have_the_right_shapes_and_finite_scores(study_and_out):
    study, _ = study_and_out
    n_test, n_features = 80, 64
    reps = study.representations
    assert set(reps) == set(REPRESENTATIONS) == set(study.table)
    assert reps["original"].shape == reps["reconstructed"].shape == (n_test, n_features)
    assert reps["latent"].shape == (n_test, 3)
    for row in study.table.values():
        assert set(row) == {"dbi", "silhouette", "chs", "acc", "nmi", "ari"}
        assert all(np.isfinite(v) for v in row.values())
    assert study.settings["n_train"] == 240 and study.fit_seconds > 0


def test_table_agrees_with_scikit_learn(study_and_out):
    study, _ = study_and_out
    y = study.y_test
    for name in REPRESENTATIONS:
        X, labels, row = study.representations[name], study.labels[name], study.table[name]
        assert row["dbi"] == pytest.approx(skm.davies_bouldin_score(X, labels))
        assert row["silhouette"] == pytest.approx(skm.silhouette_score(X, labels))
        assert row["chs"] == pytest.approx(skm.calinski_harabasz_score(X, labels))
        assert row["nmi"] == pytest.approx(skm.normalized_mutual_info_score(y, labels))
        assert row["ari"] == pytest.approx(skm.adjusted_rand_score(y, labels))
        assert row["acc"] == pytest.approx(hungarian_accuracy(y, labels))
        # k-means was fitted on the training representation and applied to the test one
        np.testing.assert_array_equal(labels, study.clusterers[name].predict(X))


def test_noise_changes_only_the_test_set(study_and_out, clean_study):
    noisy, _ = study_and_out
    np.testing.assert_array_equal(noisy.x_test_clean, clean_study.x_test_clean)
    np.testing.assert_array_equal(clean_study.representations["original"], clean_study.x_test_clean)
    assert not np.allclose(noisy.representations["original"], noisy.x_test_clean)
    assert (
        noisy.representations["original"].min() >= 0
        and noisy.representations["original"].max() <= 1
    )
    # the fitted model and the k-means of the training representations are the same
    probe = clean_study.x_test_clean[:10]
    np.testing.assert_allclose(
        noisy.estimator.transform(probe), clean_study.estimator.transform(probe)
    )
    for name in REPRESENTATIONS:
        np.testing.assert_allclose(
            noisy.clusterers[name].clusterer_.cluster_centers_,
            clean_study.clusterers[name].clusterer_.cluster_centers_,
        )


def test_add_noise_is_seeded_clipped_and_validated():
    x = np.full((5, 4), 0.5, dtype=np.float32)
    a = add_noise(x, 0.3, random_state=1)
    np.testing.assert_array_equal(a, add_noise(x, 0.3, random_state=1))
    assert a.min() >= 0 and a.max() <= 1 and not np.allclose(a, x)
    np.testing.assert_array_equal(add_noise(x, 0.0), x)
    assert add_noise(x, 5.0, clip=False).max() > 1
    with pytest.raises(ValueError, match="noise_std"):
        add_noise(x, -0.1)


def test_plots_and_tables_are_written(study_and_out):
    study, out = study_and_out
    pngs = [
        "tsne_2d.png",
        "tsne_3d.png",
        "voronoi.png",
        "noisy_vs_reconstructed.png",
        "k_sweep.png",
    ]
    for name in pngs:
        path = out / name
        assert str(path) in study.files
        assert path.read_bytes()[:8] == PNG_MAGIC
        assert imread(path).ndim == 3
    saved = json.loads((out / "scores.json").read_text())
    assert saved["table"]["latent"]["dbi"] == pytest.approx(study.table["latent"]["dbi"])
    assert (out / "scores.md").read_text().strip() == study.to_markdown()
    assert (out / "scores.csv").read_text().splitlines()[0].startswith("representation,dbi")


def test_k_sweep_and_dbscan_on_the_codes(study_and_out):
    study, _ = study_and_out
    assert study.k_sweep.ks == [2, 4] and len(study.k_sweep.inertia) == 2
    assert study.dbscan["eps"] > 0 and 0 <= study.dbscan["noise_fraction"] <= 1


def test_explicit_pair_without_labels_and_nothing_written(tmp_path):
    ds = load_dataset("digits")
    study = representation_study(
        (ds.x[:150], ds.x[150:220]), noise_std=0.1, tsne=False, **{**TINY, "n_test": None}
    )
    assert study.y_test is None
    assert set(study.table["latent"]) == {"dbi", "silhouette", "chs"}
    assert "ACC" not in format_table(study.table)
    assert study.representations["latent"].shape == (70, 3) and study.files == []


def test_bad_inputs_are_reported():
    with pytest.raises(ValueError, match="unknown model"):
        representation_study("digits", model="nope")
    with pytest.raises(ValueError, match="cluster site"):
        representation_study("digits", model="vade", **TINY)
    with pytest.raises(DataError, match="features"):
        representation_study((np.zeros((20, 4)), np.zeros((10, 5))), **TINY)


@pytest.mark.parametrize("clusterer", ["kmeans", "gmm", "dbscan"])
def test_representation_clusterer_predicts_new_data(clusterer):
    X = load_dataset("digits").x[:120]
    model, guide = zoo.make("ae" if clusterer == "gmm" else "vae", 64, latent_dim=2, hidden=[16])
    rc = RepresentationClusterer(
        model,
        guide,
        clusterer=clusterer,
        n_clusters=3,
        epochs=1,
        batch_size=64,
        progress=False,
        random_state=0,
    )
    labels = rc.fit_predict(X)
    assert labels.shape == (120,) and rc.transform(X).shape == (120, 2)
    new = rc.predict(X[:7])
    assert new.shape == (7,) and set(new) <= set(labels) | {-1}
    if clusterer != "dbscan":
        np.testing.assert_array_equal(rc.predict(X), labels)


def test_command_line_prints_the_table(tmp_path, capsys):
    argv = [
        "--data",
        "digits",
        "--epochs",
        "1",
        "--hidden",
        "16",
        "--latent-dim",
        "2",
        "--n-init",
        "1",
        "--n-train",
        "150",
        "--n-test",
        "60",
        "--no-tsne",
        "--no-progress",
        "--out",
        str(tmp_path),
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "| latent |" in printed and (tmp_path / "voronoi.png").exists()


def test_cli_subcommand_when_registered(tmp_path, capsys):
    cli = pytest.importorskip("pyroclust.cli")
    if "representations" not in getattr(cli, "SUBCOMMANDS", {}):
        pytest.skip("pyroclust.cli has no representations subcommand yet")
    argv = [
        "representations",
        "--epochs",
        "1",
        "--hidden",
        "16",
        "--latent-dim",
        "2",
        "--n-init",
        "1",
        "--n-train",
        "150",
        "--n-test",
        "60",
        "--no-tsne",
        "--no-progress",
    ]
    assert cli.main(argv) == 0
    assert "| original |" in capsys.readouterr().out


def test_representation_clusterer_builds_a_registry_model_for_the_data():
    """Constructed without arguments: a VAE of the zoo, built in fit for the data's width,
    with the likelihood the data call for."""
    rc = RepresentationClusterer()
    assert rc.model == "vae" and rc.guide is None
    X = np.random.default_rng(0).normal(size=(60, 5)) * 3.0  # real-valued: a Gaussian
    rc.set_params(
        model_options={"latent_dim": 2, "hidden": (8,)},
        n_clusters=3,
        epochs=1,
        progress=False,
        random_state=0,
    )
    labels = rc.fit_predict(X)
    assert labels.shape == (60,) and rc.n_features_in_ == 5 and rc.transform(X).shape == (60, 2)
    spec = rc.estimator_.model_.zoo_spec
    assert spec["architecture"] == "vae" and spec["likelihood"] == "gaussian"
    assert rc.reconstruct(X).shape == (60, 5)
    with pytest.raises(DataError, match="cluster site"):
        RepresentationClusterer("vade", epochs=1, progress=False).fit(X)
    with pytest.raises(DataError, match="guide"):
        RepresentationClusterer(rc.estimator_.model_).fit(X)


def test_the_study_runs_on_any_fitted_estimator():
    """study_representations needs only transform and reconstruct: here a fitted VaDE."""
    from pyroclust.estimator import Clusterer
    from pyroclust.infer.init import RandomInit
    from pyroclust.representations import study_representations

    ds = load_dataset("digits")
    model, guide = zoo.make("vade", 64, n_components=3, latent_dim=2, hidden=[16])
    est = Clusterer(model, guide, epochs=1, init=RandomInit(), progress=False, random_state=0)
    est.fit(ds.x[:150])
    study = study_representations(
        est, ds.x[:150], ds.x[150:210], ds.y[150:210], n_clusters=3, n_init=1, noise_std=0.1
    )
    assert study.estimator is est and study.representations["latent"].shape == (60, 2)
    assert set(study.table["latent"]) == {"dbi", "silhouette", "chs", "acc", "nmi", "ari"}
    assert study.settings["n_train"] == 150 and np.isnan(study.fit_seconds)
    assert 0.0 <= study.representations["original"].min()  # [0, 1] data: the noise is clipped
