"""The VaDE guide q(z | x): shapes, positivity, its one site in the data plate."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from pyro import poutine

from pyroclust.guides import VaDEGuide
from pyroclust.infer.elbo import local_params
from pyroclust.nn import MLP
from pyroclust.priors import Dirichlet


def _guide(**kwargs) -> VaDEGuide:
    return VaDEGuide(MLP([12, 8], output_activation=torch.nn.ReLU), 3, **kwargs)


def test_encode_shapes_and_positive_scale() -> None:
    guide = _guide(min_scale=0.01)
    x = torch.rand(5, 12)
    loc, scale = guide.encode(x)
    assert loc.shape == scale.shape == (5, 3)
    assert (scale >= 0.01).all()
    h = guide.encoder(x)
    torch.testing.assert_close(scale, F.softplus(guide.scale_head(h)) + 0.01)
    torch.testing.assert_close(loc, guide.loc_head(h))


def test_samples_z_in_the_data_plate() -> None:
    guide = _guide()
    x = torch.rand(5, 12)
    with local_params(), torch.no_grad():
        trace = poutine.trace(guide).get_trace(x, data_size=20)
    site = trace.nodes["z"]
    assert site["value"].shape == (5, 3)
    assert site["fn"].event_dim == 1 and site["fn"].batch_shape == (5,)
    assert [f.name for f in site["cond_indep_stack"]] == ["data"]
    assert float(site["scale"]) == pytest.approx(4.0)  # 20 rows, batch of 5
    latent = [n for n, s in trace.nodes.items() if s["type"] == "sample" and n != "data"]
    assert latent == ["z"]  # no weight sites without a weight guide


def test_weight_guide_sites_come_first() -> None:
    prior = Dirichlet().build(3)
    guide = _guide(weights=prior.make_guide())
    with local_params(), torch.no_grad():
        trace = poutine.trace(guide).get_trace(torch.rand(4, 12))
    names = [n for n, s in trace.nodes.items() if s["type"] == "sample" and n != "data"]
    assert names == ["weights", "z"]


def test_encoder_must_expose_its_width() -> None:
    with pytest.raises(ValueError, match="out_features"):
        VaDEGuide(torch.nn.Sequential(torch.nn.Linear(12, 8)), 3)


def test_augmentation_only_while_training_with_gradients() -> None:
    calls = []

    def augment(x: torch.Tensor) -> torch.Tensor:
        calls.append(x.shape)
        return torch.zeros_like(x)

    guide = _guide(augment=augment)
    x = torch.rand(4, 12)
    with local_params():
        z_train = poutine.trace(guide).get_trace(x).nodes["z"]["fn"]
        assert calls == [(4, 12)]
        # the encoder saw the augmented batch (zeros), not x
        torch.testing.assert_close(z_train.base_dist.loc, guide.encode(torch.zeros(4, 12))[0])
        with torch.no_grad():  # scoring and prediction: never augmented
            z_eval = poutine.trace(guide).get_trace(x).nodes["z"]["fn"]
        guide.eval()
        poutine.trace(guide).get_trace(x)
    assert len(calls) == 1
    torch.testing.assert_close(z_eval.base_dist.loc, guide.encode(x)[0])


def test_set_scale_starts_sigma_at_a_constant() -> None:
    guide = _guide(min_scale=1e-4)
    guide.set_scale(0.05)
    _, scale = guide.encode(torch.rand(7, 12))
    torch.testing.assert_close(scale, torch.full((7, 3), 0.05), atol=1e-6, rtol=1e-5)
