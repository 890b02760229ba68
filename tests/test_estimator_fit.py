"""Clusterer.fit through a fit session: callbacks, objectives and particles reach the SVI
stage; a diverging stage stops cleanly and leaves a usable, savable estimator."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from pyro.infer import Trace_ELBO, TraceEnum_ELBO
from sklearn.base import clone

from pyroclust.estimator import Clusterer
from pyroclust.exceptions import NonFiniteLossError
from pyroclust.infer import load_checkpoint
from pyroclust.infer.init import GMMInit, RandomInit
from pyroclust.infer.session import SESSION_KIND


def _est(model, guide, **kwargs) -> Clusterer:
    options = {"epochs": 2, "batch_size": 16, "init": RandomInit(), "random_state": 0}
    options.update(kwargs)
    return Clusterer(model, guide, progress=False, **options)


def test_new_settings_are_stored_verbatim_and_cloned(tiny_vade) -> None:
    callbacks = (lambda trainer, epoch: None,)
    elbo = TraceEnum_ELBO(max_plate_nesting=1)
    est = _est(*tiny_vade(), callbacks=callbacks, loss=elbo, num_particles=2)
    assert est.callbacks is callbacks and est.loss is elbo and est.num_particles == 2
    params = clone(est).get_params()
    assert params["num_particles"] == 2 and params["callbacks"] == callbacks


def test_callbacks_objective_and_particles_reach_the_svi_stage(tiny_vade, x_small) -> None:
    seen = []
    elbo = TraceEnum_ELBO(max_plate_nesting=1)
    est = _est(
        *tiny_vade(),
        callbacks=[lambda trainer, epoch: seen.append((trainer.stage, epoch))],
        loss=elbo,
    ).fit(x_small)
    assert seen == [("svi", 1), ("svi", 2)]
    assert est.trainer_.elbo is elbo
    particles = _est(*tiny_vade(), num_particles=3).fit(x_small)
    assert particles.trainer_.elbo.num_particles == 3


def test_a_loss_callable_as_the_objective(tiny_vade, x_small) -> None:
    """Any callable (model, guide, x, data_size=n): here the ELBO with an L2 penalty."""
    elbo = TraceEnum_ELBO(max_plate_nesting=1)
    calls = []

    def penalised(model, guide, x, *, data_size):
        calls.append(len(x))
        penalty = sum((p**2).sum() for p in model.decoder.parameters())
        return elbo.differentiable_loss(model, guide, x, data_size=data_size) + 1e-3 * penalty

    est = _est(*tiny_vade(), loss=penalised).fit(x_small)
    assert sum(calls) == 16 + 2 * 48  # the probe, then two epochs
    assert all(math.isfinite(r["elbo"]) for r in est.history_)
    assert est.labels_.shape == (48,)


def test_fit_predict_equals_fit_then_predict_with_a_start(tiny_vade, x_small) -> None:
    model, guide = tiny_vade()
    init = GMMInit(pretrain_epochs=2, batch_size=16)
    labels = _est(model, guide, init=init).fit_predict(x_small)
    est = _est(model, guide, init=init).fit(x_small)
    np.testing.assert_array_equal(labels, est.predict(x_small))
    assert [r["stage"] for r in est.stage_history_] == ["pretrain"] * 2 + ["svi"] * 2


def test_a_model_that_does_not_need_the_gmm_start_gets_the_random_one(x_small) -> None:
    from pyroclust import zoo

    model, guide = zoo.make("vae", n_features=12, latent_dim=2, hidden=(8,))
    est = Clusterer(model, guide, epochs=1, batch_size=16, progress=False).fit(x_small)
    assert [r["stage"] for r in est.stage_history_] == ["svi"]


@pytest.mark.filterwarnings("ignore:Encountered NaN:UserWarning")
def test_a_diverging_svi_stage_leaves_a_usable_estimator(tmp_path, tiny_vade, x_small) -> None:
    """lr=1e6: Pyro's validation raises inside the loss; the fit stops with one line naming
    stage, epoch and step, the last good parameters are checkpointed, and the estimator
    predicts and saves at them."""
    path = tmp_path / "run.pt"
    est = _est(*tiny_vade(), epochs=5, lr=1e6, checkpoint=path)
    with pytest.raises(NonFiniteLossError) as info:
        est.fit(x_small)
    message = str(info.value)
    assert message.startswith("svi stage: non-finite") and "\n" not in message
    assert "at epoch 1, step 2 of 3" in message and f"saved to {path}" in message
    assert all(torch.isfinite(p).all() for p in est.model_.parameters())
    assert est.predict(x_small).shape == (48,) and est.labels_.shape == (48,)
    assert est.history_ == [] and est.n_iter_ == 0
    est.save(tmp_path / "model.pt")
    loaded = Clusterer.load(tmp_path / "model.pt")
    np.testing.assert_array_equal(loaded.predict(x_small), est.predict(x_small))
    current = load_checkpoint(path, SESSION_KIND)["current"]
    for key, value in est.model_.state_dict().items():
        assert torch.equal(current["model"][key], value), key
    # the run resumes from the kept parameters with a sane learning rate
    resumed = _est(*tiny_vade(), epochs=2, lr=1e-3, checkpoint=path).fit(x_small, resume=True)
    assert resumed.n_iter_ == 2 and all(math.isfinite(r["elbo"]) for r in resumed.history_)


def test_a_diverging_pretraining_stops_in_its_stage(tmp_path, tiny_vade, x_small) -> None:
    init = GMMInit(pretrain_epochs=5, lr=1e6, batch_size=16)
    est = _est(*tiny_vade(), init=init)
    with pytest.raises(NonFiniteLossError, match=r"^pretrain stage: non-finite .* at epoch 1"):
        est.fit(x_small)
    assert est.history_ == [] and est.trainer_ is None
    assert all(torch.isfinite(p).all() for p in est.guide_.parameters())
    est.save(tmp_path / "model.pt")
    assert est.predict(x_small).shape == (48,)


def test_fit_with_trace_elbo_objective_on_a_vae(x_small) -> None:
    from pyroclust import zoo

    model, guide = zoo.make("vae", n_features=12, latent_dim=2, hidden=(8,))
    est = Clusterer(model, guide, epochs=1, batch_size=16, loss=Trace_ELBO(), progress=False)
    assert est.fit(x_small).n_iter_ == 1
