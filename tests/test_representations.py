"""The representation study, RepresentationClusterer and the command line.

The tutorial notebook is executed in smoke mode by tests/test_tutorials.py.
"""

from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pytest
from matplotlib.image import imread
from scipy.optimize import linear_sum_assignment
from sklearn import metrics as skm

from pyroclust import zoo
from pyroclust.cli.common import UsageError
from pyroclust.cli.representations import main
from pyroclust.datasets import load_dataset
from pyroclust.datasets.streaming import open_stream
from pyroclust.exceptions import DataError
from pyroclust.representations import (
    REPRESENTATIONS,
    RepresentationClusterer,
    add_noise,
    fit_representation,
    format_table,
    representation_study,
    study_representations,
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


# --------------------------------------------------------------------- data on disk
@pytest.fixture(scope="module")
def fitted_vae():
    x = load_dataset("digits").x
    model, guide = zoo.make("vae", 64, latent_dim=3, hidden=[16])
    est = fit_representation(
        model, guide, x[:300], epochs=1, batch_size=64, progress=False, random_state=0
    )
    return est, x


def _tables_equal(a, b) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert a[name] == pytest.approx(b[name], rel=1e-12, nan_ok=True), name


def test_a_study_of_memory_maps_equals_the_study_of_the_arrays(tmp_path, fitted_vae):
    est, x = fitted_vae
    y = load_dataset("digits").y
    np.save(tmp_path / "train.npy", x[:300])
    np.save(tmp_path / "test.npy", x[300:500])
    train = np.load(tmp_path / "train.npy", mmap_mode="r")
    test = np.load(tmp_path / "test.npy", mmap_mode="r")
    options = {"n_init": 1, "tsne": False, "chunk_size": 64}
    mapped = study_representations(est, train, test, y[300:500], **options)
    loaded = study_representations(est, x[:300], x[300:500], y[300:500], **options)
    _tables_equal(mapped.table, loaded.table)
    assert mapped.representations["latent"].shape == (200, 3)
    # chunks of 64 rows encode as the whole set does (to float32 rounding)
    whole = study_representations(est, x[:300], x[300:500], y[300:500], n_init=1, tsne=False)
    for name in REPRESENTATIONS:
        np.testing.assert_allclose(
            mapped.representations[name], whole.representations[name], rtol=1e-5, atol=1e-6
        )


def test_max_samples_keeps_a_seeded_subsample_with_its_labels(tmp_path, fitted_vae):
    est, _ = fitted_vae
    rng = np.random.default_rng(1)
    rows = rng.random((1000, 64)).astype(np.float32)  # every row distinct: findable
    y = np.arange(1000) % 10
    np.save(tmp_path / "rows.npy", rows)
    stream = open_stream(tmp_path / "rows.npy")
    study = study_representations(
        est, stream, stream, y, max_samples=150, chunk_size=40, n_init=1, tsne=False
    )
    assert study.settings["n_train"] == study.settings["n_test"] == 150
    kept = [int(np.flatnonzero((rows == row).all(1))[0]) for row in study.x_test_clean]
    assert kept == sorted(set(kept))  # distinct rows, in file order
    np.testing.assert_array_equal(study.y_test, y[kept])
    again = study_representations(
        est, stream, stream, y, max_samples=150, chunk_size=40, n_init=1, tsne=False
    )
    np.testing.assert_array_equal(again.x_test_clean, study.x_test_clean)
    with pytest.raises(DataError, match="max_samples"):
        study_representations(est, stream, stream, max_samples=1, tsne=False)


def test_a_study_on_disk_holds_about_its_subsample(tmp_path, fitted_vae):
    est, x = fitted_vae
    rows = np.tile(x[:, :64].astype(np.float64), (3, 1))[:4000]  # float64: a copy is seen
    np.save(tmp_path / "big.npy", rows)
    mapped = np.load(tmp_path / "big.npy", mmap_mode="r")
    options = {"max_samples": 200, "chunk_size": 200, "n_init": 1, "tsne": False}
    study_representations(est, mapped[:400], mapped[:400], **options)  # warm up
    tracemalloc.start()
    try:
        study_representations(est, mapped, mapped, **options)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < mapped.nbytes / 2.5, (peak, mapped.nbytes)


def test_the_whole_study_on_a_pair_on_disk_equals_the_arrays(tmp_path):
    x = load_dataset("digits").x
    np.save(tmp_path / "train.npy", x[:200])
    np.save(tmp_path / "test.npy", x[200:280])
    small = {**TINY, "n_train": None, "n_test": None, "tsne": False}
    on_disk = (
        np.load(tmp_path / "train.npy", mmap_mode="r"),
        open_stream(tmp_path / "test.npy"),
    )
    streamed = representation_study(on_disk, **small)
    loaded = representation_study((x[:200], x[200:280]), **small)
    _tables_equal(streamed.table, loaded.table)
    assert streamed.settings["likelihood"] == loaded.settings["likelihood"] == "bernoulli"


def test_command_line_with_sets_on_disk(tmp_path, capsys):
    x = load_dataset("digits").x
    np.save(tmp_path / "train.npy", x[:200])
    shards = tmp_path / "test"
    shards.mkdir()
    np.save(shards / "a.npy", x[200:260])
    np.savez(shards / "b.npz", x=x[260:300])
    argv = ["--data", str(tmp_path / "train.npy"), "--test-data", str(shards)]
    argv += ["--max-samples", "70", "--chunk-size", "32", "--epochs", "1", "--hidden", "16"]
    argv += ["--latent-dim", "2", "--n-init", "1", "--no-tsne", "--no-progress"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "| latent |" in printed and "200 rows" not in printed  # the study kept 70 of each
    with pytest.raises(UsageError, match="--test-data: .*missing.npy does not exist"):
        main([*argv[:2], "--test-data", str(tmp_path / "missing.npy")])
