"""Shared checks for model/guide pairs, shipped in the package (like GPyTorch's base test cases).

A new architecture gets the zoo's contract tested by subclassing :class:`ModelGuideChecks` in
its test file and implementing one hook, :meth:`~ModelGuideChecks.make`::

    from pyroclust.testing import ModelGuideChecks

    class TestVaDE(ModelGuideChecks):
        def make(self):
            model, guide = zoo.make("vade", n_features=12, n_components=3, latent_dim=2,
                                    hidden=(8,))
            return model, guide, torch.rand(10, 12)

pytest then collects every ``test_*`` method below for that model. The class needs nothing from
pytest at import time (a skip is ``pytest.skip`` when pytest runs it, else
:class:`unittest.SkipTest`).

What is checked (see :mod:`pyroclust.sites` for the names):

- the guide samples every non-enumerated latent site of the model, with the same name and
  event dimension (both are traced), and samples nothing the model does not have;
- every sample site is named from :mod:`pyroclust.sites` or :data:`EXTRA_SITE_NAMES` (plus the
  subclass's ``extra_site_names``);
- the local sites (``assignment``, ``z``, ``obs``) lie inside the ``"data"`` plate, which has
  the data set's size and is subsampled to the mini-batch; the global ones lie outside it;
- the ELBO the model asks for (:func:`~pyroclust.infer.make_elbo`) is finite and
  differentiable, with a finite gradient for every parameter, and works with plain
  :class:`pyro.infer.SVI`;
- prior sampling with :class:`pyro.infer.Predictive` gives the right shapes;
- a one-epoch fit through :class:`~pyroclust.estimator.Clusterer` works.

Checks about the cluster assignment are skipped for models without an ``"assignment"`` site
(a plain VAE or autoencoder).
"""

from __future__ import annotations

import math
import unittest
from typing import Any, ClassVar

import pyro
import torch
from pyro import poutine
from pyro.infer import SVI, Predictive
from pyro.poutine.util import site_is_subsample

from pyroclust import sites
from pyroclust.infer.elbo import local_params, make_elbo

#: Site names every model may use besides :mod:`pyroclust.sites`' ones: hyper-parameter sites
#: of the weight priors (stick-breaking fractions, the Zipf exponent, a Dirichlet
#: concentration).
EXTRA_SITE_NAMES: frozenset[str] = frozenset({"sticks", "zipf_exponent", "concentration"})

#: The per-data-point sites, which must lie inside the ``"data"`` plate.
LOCAL_SITES: frozenset[str] = frozenset({sites.ASSIGNMENT, sites.LATENT, sites.OBS})

#: The zoo's own sample-site names.
ZOO_SITE_NAMES: frozenset[str] = frozenset(
    {sites.WEIGHTS, sites.ASSIGNMENT, sites.LATENT, sites.OBS}
)


def _skip(reason: str) -> None:
    """Skip the current check: ``pytest.skip`` under pytest, else ``unittest.SkipTest``."""
    try:
        import pytest
    except ImportError:  # pytest is a test-time dependency only
        raise unittest.SkipTest(reason) from None
    pytest.skip(reason)


def _sample_sites(trace: Any) -> dict[str, dict[str, Any]]:
    return {
        name: site
        for name, site in trace.nodes.items()
        if site["type"] == "sample" and not site_is_subsample(site)
    }


def _latent_sites(trace: Any) -> dict[str, dict[str, Any]]:
    return {
        name: site
        for name, site in _sample_sites(trace).items()
        if not site["is_observed"] and not getattr(site["fn"], "_pyro_deterministic", False)
    }


def _plates(site: dict[str, Any]) -> dict[str, Any]:
    return {frame.name: frame for frame in site["cond_indep_stack"]}


class ModelGuideChecks:
    """Base test case for a model/guide pair of the zoo: subclass it and implement :meth:`make`.

    Class attributes a subclass may override:

    ``extra_site_names``
        Further sample-site names the model is allowed (documented in its docstring).
    ``batch_size``
        Rows of ``x`` used as the mini-batch in the plate checks (the rest make the data set
        bigger than the batch, so the subsampling scale is exercised).
    ``fit_kwargs``
        Extra arguments of the one-epoch :class:`~pyroclust.estimator.Clusterer` fit.
    """

    extra_site_names: ClassVar[frozenset[str]] = frozenset()
    batch_size: ClassVar[int] = 4
    fit_kwargs: ClassVar[dict[str, Any]] = {}

    # ------------------------------------------------------------------ the hook
    def make(self) -> tuple[Any, Any, torch.Tensor]:
        """Return ``(model, guide, x)``: a small model and guide, and data ``x`` of shape
        (n_samples, n_features) in the likelihood's support, with at least ``batch_size``
        rows and at least ``model.n_components`` rows. Called once per check."""
        raise NotImplementedError("implement make() -> (model, guide, x)")

    # ------------------------------------------------------------------ helpers
    def _setup(self) -> tuple[Any, Any, torch.Tensor]:
        model, guide, x = self.make()
        x = torch.as_tensor(x, dtype=torch.float32)
        if (
            getattr(guide, "weights", "absent") is None
            and getattr(model, "weights", None) is not None
        ):
            guide.weights = model.weights.make_guide()  # as the estimator does
        return model, guide, x

    def _traces(self) -> tuple[Any, Any, Any, torch.Tensor]:
        """Trace the guide on a mini-batch, then the model replayed against it."""
        model, guide, x = self._setup()
        batch = x[: self.batch_size]
        with local_params(), torch.no_grad():
            guide_trace = poutine.trace(guide).get_trace(batch, data_size=len(x))
            model_trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(
                batch, data_size=len(x)
            )
        return model, guide_trace, model_trace, x

    def _has_assignment(self, model_trace: Any) -> bool:
        return sites.ASSIGNMENT in _sample_sites(model_trace)

    # ------------------------------------------------------------------ checks
    def test_guide_covers_model_latent_sites(self) -> None:
        """Every non-enumerated latent site of the model is in the guide, same event dim."""
        _, guide_trace, model_trace, _ = self._traces()
        guide_latent = _latent_sites(guide_trace)
        for name, site in _latent_sites(model_trace).items():
            if site["infer"].get("enumerate") is not None:
                assert name not in guide_latent, f"enumerated site {name!r} sampled by the guide"
                continue
            assert name in guide_latent, f"the guide does not sample the model's site {name!r}"
            m_dim, g_dim = site["fn"].event_dim, guide_latent[name]["fn"].event_dim
            assert m_dim == g_dim, f"{name!r}: event_dim {m_dim} in the model, {g_dim} in guide"
            assert site["value"].shape == guide_latent[name]["value"].shape, name
        model_latent = _latent_sites(model_trace)
        extra = sorted(set(guide_latent) - set(model_latent))
        assert not extra, f"the guide samples sites the model does not have: {extra}"

    def test_site_names_follow_the_zoo(self) -> None:
        """Sample sites are named from pyroclust.sites (or the documented extras)."""
        _, guide_trace, model_trace, _ = self._traces()
        allowed = ZOO_SITE_NAMES | EXTRA_SITE_NAMES | set(self.extra_site_names)
        for trace, who in ((model_trace, "model"), (guide_trace, "guide")):
            names = set(_sample_sites(trace))
            unknown = sorted(names - allowed)
            assert not unknown, f"the {who} has sites outside pyroclust.sites: {unknown}"
        model_sites = _sample_sites(model_trace)
        assert sites.LATENT in model_sites, "the model has no 'z' site"
        assert sites.OBS in model_sites and model_sites[sites.OBS]["is_observed"], (
            "the model has no observed 'obs' site"
        )

    def test_local_sites_in_data_plate(self) -> None:
        """Local sites lie in the "data" plate (full size, subsampled); global ones do not."""
        _, guide_trace, model_trace, x = self._traces()
        batch = min(self.batch_size, len(x))
        for trace, who in ((model_trace, "model"), (guide_trace, "guide")):
            for name, site in _sample_sites(trace).items():
                plates = _plates(site)
                if name in LOCAL_SITES:
                    assert sites.DATA_PLATE in plates, f"{who} site {name!r} is not in 'data'"
                    frame = plates[sites.DATA_PLATE]
                    full = frame.full_size if frame.full_size is not None else frame.size
                    assert full == len(x), f"'data' plate of size {full}, not {len(x)}"
                    assert frame.size == batch, f"'data' subsampled to {frame.size} rows"
                    assert site["fn"].batch_shape[frame.dim] == batch, (
                        f"{who} site {name!r} has batch shape {tuple(site['fn'].batch_shape)}"
                    )
                    assert math.isclose(float(site["scale"]), len(x) / batch), (
                        f"{who} site {name!r} is scaled by {site['scale']}, not data/batch"
                    )
                elif name == sites.WEIGHTS:
                    assert sites.DATA_PLATE not in plates, f"{who}: 'weights' inside 'data'"

    def test_elbo_finite_and_differentiable(self) -> None:
        """The ELBO is finite and every parameter gets a finite gradient."""
        model, guide, x = self._setup()
        batch = x[: self.batch_size]
        with local_params():
            elbo = make_elbo(model, batch, data_size=len(x))
            loss = elbo.differentiable_loss(model, guide, batch, data_size=len(x))
            assert loss.requires_grad, "the ELBO does not depend on any parameter"
            assert torch.isfinite(loss), f"non-finite loss {float(loss)}"
            loss.backward()
            params = dict(model.named_parameters(prefix="model"))
            params.update(guide.named_parameters(prefix="guide"))
            trainable = {n: p for n, p in params.items() if p.requires_grad}
            assert trainable, "model and guide have no trainable parameters"
            for name, p in trainable.items():
                assert p.grad is not None, f"{name} gets no gradient from the ELBO"
                assert torch.isfinite(p.grad).all(), f"{name} has a non-finite gradient"

    def test_plain_svi_step(self) -> None:
        """The pair works with plain pyro SVI and a pyro optimiser (the PPL layer alone)."""
        model, guide, x = self._setup()
        with local_params():
            elbo = make_elbo(model, x, data_size=len(x))
            svi = SVI(model, guide, pyro.optim.Adam({"lr": 1e-3}), elbo)
            losses = [svi.step(x, data_size=len(x)) for _ in range(2)]
        assert all(math.isfinite(v) for v in losses), losses

    def test_prior_predictive_shapes(self) -> None:
        """Predictive (no guide) draws sites of the right shapes; model(data_size=n) too."""
        model, _, x = self._setup()
        n, n_features, latent_dim = 5, x.shape[1], int(model.latent_dim)
        with local_params(), torch.no_grad():
            out = Predictive(model, num_samples=2)(data_size=n)
            generated = model(data_size=n)
        assert generated.shape == (n, n_features)
        assert out[sites.LATENT].shape == (2, n, latent_dim)
        assert out[sites.OBS].shape == (2, n, n_features)
        k = getattr(model, "n_components", None)
        if sites.ASSIGNMENT in out:
            assert out[sites.ASSIGNMENT].shape == (2, n)
            assert k is not None
            assert ((out[sites.ASSIGNMENT] >= 0) & (out[sites.ASSIGNMENT] < k)).all()
        if sites.WEIGHTS in out and k is not None:
            pi = out[sites.WEIGHTS].reshape(2, k)
            assert torch.allclose(pi.sum(-1), torch.ones(2), atol=1e-5)
        for name, value in out.items():
            if value.is_floating_point():
                assert torch.isfinite(value).all(), f"non-finite draws of {name!r}"

    def test_assignment_posterior_normalised(self) -> None:
        """p(y | x) from the enumerated site: shape (n, K), rows sum to one."""
        from pyroclust.predictive import assignment_log_proba

        model, guide, x = self._setup()
        with local_params():
            trace = poutine.trace(model).get_trace(x[:2], data_size=len(x))
        if not self._has_assignment(trace):
            _skip(f"{type(model).__name__} has no 'assignment' site")
        lp = assignment_log_proba(model, guide, x)
        assert lp.shape == (len(x), model.n_components)
        assert torch.isfinite(lp).all()
        assert torch.allclose(lp.exp().sum(-1), torch.ones(len(x)), atol=1e-5)

    def test_one_epoch_fit(self) -> None:
        """A one-epoch fit through the estimator, then transform (and predict if clustered)."""
        from pyroclust.estimator import Clusterer
        from pyroclust.infer.init import RandomInit

        model, guide, x = self.make()
        x = torch.as_tensor(x, dtype=torch.float32)
        options = {"epochs": 1, "batch_size": 16, "init": RandomInit(), "random_state": 0}
        options.update(self.fit_kwargs)
        est = Clusterer(model, guide, progress=False, **options)
        assert est.fit(x) is est
        assert len(est.history_) == 1 and math.isfinite(est.elbo_)
        assert est.transform(x).shape == (len(x), int(model.latent_dim))
        if getattr(model, "n_components", None) is not None:
            labels = est.predict(x)
            assert labels.shape == (len(x),)
            assert ((labels >= 0) & (labels < model.n_components)).all()


__all__ = ["EXTRA_SITE_NAMES", "LOCAL_SITES", "ZOO_SITE_NAMES", "ModelGuideChecks"]
