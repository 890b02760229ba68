"""CUDA, every architecture: each registered model/guide pair fitted on the GPU with its own
recipe (its start included), then predicted, sampled, saved and loaded on the CPU, where it
must give the same posterior. Skipped without CUDA."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pyroclust import zoo
from pyroclust.estimator import Clusterer

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]

#: Small networks for every builder that takes the option.
SMALL = {"n_components": 3, "latent_dim": 2, "hidden": (8,)}


def _small_options(name: str) -> dict:
    entry = zoo.get(name)
    options = {k: v for k, v in SMALL.items() if entry.accepts(k)}
    if name == "vlac":
        options["hidden"] = 8  # one width for the whole ladder
    return options


@pytest.mark.parametrize("name", sorted(zoo.ZOO))
def test_every_architecture_fits_with_its_recipe_on_cuda(name, tmp_path, x_small) -> None:
    options = _small_options(name)
    n_components = options.pop("n_components", None)
    est = Clusterer(
        name,
        **({"n_components": n_components} if n_components else {}),
        model_options=options,
        device="cuda",
        progress=False,
        random_state=0,
        **zoo.default_training(name, len(x_small)),
    ).fit(x_small)
    assert all(p.is_cuda for p in est.model_.parameters())
    assert np.isfinite(est.elbo_)
    est.save(tmp_path / "model.ckpt")
    on_cpu = Clusterer.load(tmp_path / "model.ckpt", device="cpu")
    if not zoo.has_cluster_site(name):
        codes = est.transform(x_small)
        assert np.isfinite(codes).all()
        np.testing.assert_allclose(on_cpu.transform(x_small), codes, rtol=1e-4, atol=1e-5)
        return
    proba = est.predict_proba(x_small)
    assert proba.shape == (len(x_small), 3) and np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(est.predict(x_small), est.labels_)
    np.testing.assert_allclose(on_cpu.predict_proba(x_small), proba, rtol=1e-3, atol=1e-5)
    samples = est.sample(4, component=1)
    assert samples.shape == (4, x_small.shape[1]) and np.isfinite(samples).all()


@pytest.mark.parametrize("cluster", ["relaxed", "enumerate"])
def test_conv_vlac_on_images_fits_on_cuda_and_predicts_every_site(cluster) -> None:
    rng = np.random.default_rng(0)
    x = rng.random((40, 3 * 8 * 8)).astype(np.float32)
    est = Clusterer(
        "vlac",
        n_components=3,
        model_options={
            "layers": [2, 3],
            "hidden": 8,
            "image_shape": (3, 8, 8),
            "cluster": cluster,
        },
        epochs=2,
        batch_size=10,
        device="cuda",
        progress=False,
        random_state=0,
    ).fit(x)
    for site in ("y1", "y2"):
        proba = est.predict_proba(x, site=site)
        assert np.isfinite(proba).all()
        np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-5)
