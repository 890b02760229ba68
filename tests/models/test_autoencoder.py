"""The autoencoder pair: its ELBO is the reconstruction log-likelihood, exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from pyro.infer import Trace_ELBO

from pyroclust import guides, likelihoods, models, zoo
from pyroclust.estimator import Clusterer
from pyroclust.infer.elbo import check_guide_covers_model, local_params
from pyroclust.nn import MLP
from pyroclust.posthoc import PostHocClustering
from pyroclust.predictive import latent_codes


def make_pair() -> tuple[models.Autoencoder, guides.AutoencoderGuide]:
    torch.manual_seed(0)
    model = models.Autoencoder(2, MLP([2, 5, 6]), likelihoods.Bernoulli()).double()
    guide = guides.AutoencoderGuide(MLP([6, 5], output_activation=torch.nn.ReLU), 2).double()
    return model, guide


@pytest.mark.parametrize("data_size", [4, 12])
def test_elbo_is_the_reconstruction_log_likelihood(data_size):
    model, guide = make_pair()
    x = torch.rand(4, 6, generator=torch.Generator().manual_seed(1)).double()
    with local_params():
        loss = Trace_ELBO().differentiable_loss(model, guide, x, data_size=data_size)
    h = model.decoder(guide.loc_head(guide.encoder(x)))
    bce = -(x * F.logsigmoid(h) + (1 - x) * F.logsigmoid(-h)).sum() * data_size / len(x)
    torch.testing.assert_close(loss, bce, rtol=1e-12, atol=1e-10)


def test_guide_covers_model_and_codes_are_the_encoder_output():
    model, guide = make_pair()
    x = torch.rand(5, 6).double()
    with local_params():
        check_guide_covers_model(model, guide, x, data_size=5)
        codes = latent_codes(guide, x)
    torch.testing.assert_close(codes, guide.encode(x)[0].detach())
    assert model(data_size=3).shape == (3, 6)


def test_ae_plus_gmm_predicts_new_data():
    rng = np.random.default_rng(0)
    X = rng.random((40, 12))
    model, guide = zoo.make("ae", n_features=12, latent_dim=2, hidden=[8])
    est = Clusterer(model, guide, epochs=2, batch_size=16, progress=False, random_state=0)
    est.fit(X)
    assert est.transform(X).shape == (40, 2)
    gmm = PostHocClustering("gmm", representation=est, n_clusters=3, random_state=0).fit(X)
    assert gmm.labels_.shape == (40,)
    assert set(np.unique(gmm.predict(rng.random((6, 12))))) <= {0, 1, 2}
