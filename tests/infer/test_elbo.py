"""The ELBO follows from the model; the guide must cover the model's latent sites."""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer import JitTrace_ELBO, JitTraceEnum_ELBO, Trace_ELBO, TraceEnum_ELBO

from pyroclust.infer import check_guide_covers_model, enumerated_sites, make_elbo
from pyroclust.infer.elbo import local_params, seed_everything


def plain_model(x, data_size=None):
    """A model with one continuous latent site and no enumeration."""
    loc = pyro.sample("z_global", dist.Normal(0.0, 1.0))
    with pyro.plate("data", len(x)):
        pyro.sample("obs", dist.Normal(loc, 1.0).expand([len(x), 3]).to_event(1), obs=x)


def plain_guide(x, data_size=None):
    pyro.sample("z_global", dist.Normal(pyro.param("m", torch.tensor(0.0)), 1.0))


def empty_guide(x, data_size=None):
    """Samples nothing: misses the model's latent site."""


def flat_guide(x, data_size=None):
    """Samples the site with the wrong event dimension."""
    pyro.sample("z_global", dist.Normal(torch.zeros(3), 1.0).to_event(1))


def test_vade_gets_trace_enum(tiny_vade, x_small) -> None:
    model, guide = tiny_vade()
    x = torch.as_tensor(x_small)
    assert enumerated_sites(model, x[:4]) == ["assignment"]
    elbo = make_elbo(model, x[:4], data_size=len(x))
    assert type(elbo) is TraceEnum_ELBO
    assert elbo.max_plate_nesting == 1
    assert type(make_elbo(model, x[:4], jit=True)) is JitTraceEnum_ELBO
    assert make_elbo(model, x[:4], num_particles=3).num_particles == 3


def test_model_without_enumeration_gets_trace_elbo() -> None:
    x = torch.zeros(5, 3)
    assert enumerated_sites(plain_model, x) == []
    assert type(make_elbo(plain_model, x)) is Trace_ELBO
    assert type(make_elbo(plain_model, x, jit=True)) is JitTrace_ELBO
    with local_params():
        loss = make_elbo(plain_model, x).differentiable_loss(plain_model, plain_guide, x)
    assert torch.isfinite(loss)


def test_choosing_the_elbo_leaves_no_trace(tiny_vade, x_small) -> None:
    model, _ = tiny_vade()
    make_elbo(model, torch.as_tensor(x_small[:4]))
    assert len(pyro.get_param_store()) == 0


def test_guide_covering_the_model_passes(tiny_vade, x_small) -> None:
    model, guide = tiny_vade()
    with local_params():
        check_guide_covers_model(model, guide, torch.as_tensor(x_small), data_size=48)
        check_guide_covers_model(plain_model, plain_guide, torch.zeros(4, 3))


def test_the_check_draws_nothing_from_the_random_stream(tiny_vade, x_small) -> None:
    # VaDE's guide samples z: the check traces it on a fork, so the stages after it (a start
    # that builds networks, SVI) see the same stream whether or not the guide samples
    model, guide = tiny_vade()
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    with local_params():
        check_guide_covers_model(model, guide, torch.as_tensor(x_small), data_size=48)
    assert torch.equal(torch.rand(3), expected)


def test_guide_missing_a_latent_site() -> None:
    with pytest.raises(ValueError, match="latent site 'z_global' is not sampled by the guide"):
        check_guide_covers_model(plain_model, empty_guide, torch.zeros(4, 3))


def test_guide_with_another_event_dim() -> None:
    with pytest.raises(ValueError, match="'z_global' has event_dim 0 in the model but 1"):
        check_guide_covers_model(plain_model, flat_guide, torch.zeros(4, 3))


def test_vade_guide_missing_z(tiny_vade, x_small) -> None:
    model, _ = tiny_vade()

    def no_z(x, data_size=None):
        pass

    with pytest.raises(ValueError, match="latent site 'z'"):
        check_guide_covers_model(model, no_z, torch.as_tensor(x_small[:4]))


def test_local_params_is_a_private_store_restored_on_exit() -> None:
    pyro.param("users_own", torch.tensor(2.0))
    with local_params():
        assert len(pyro.get_param_store()) == 0
        pyro.param("inside", torch.tensor(1.0))
    assert set(pyro.get_param_store().keys()) == {"users_own"}


def test_seed_everything_repeats_draws() -> None:
    seed_everything(5)
    a = torch.randn(3)
    seed_everything(5)
    assert torch.equal(a, torch.randn(3))
    seed_everything(None)  # no-op


def test_the_traced_graph_on_an_unverified_torch_release_is_a_one_line_error(monkeypatch) -> None:
    from pyro.infer import TraceEnum_ELBO

    from pyroclust import zoo
    from pyroclust.infer import graph

    monkeypatch.setattr(graph, "VERIFIED_TORCH", ((1, 0),))
    with pytest.raises(RuntimeError, match="verified on torch 1.0 only.*jit=False"):
        graph.GraphELBO(TraceEnum_ELBO())
    model, guide = zoo.make("vade", 12, n_components=3, latent_dim=2, hidden=(8,))
    with pytest.raises(RuntimeError, match="verified on torch"):
        make_elbo(model, torch.rand(4, 12).round(), guide=guide, data_size=4, jit="fx")
