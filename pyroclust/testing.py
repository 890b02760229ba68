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

What is checked, reading the model's declared structure (:mod:`pyroclust.structure`: its
cluster sites and where each is inferred, its latent codes, its weight priors) and the names
of :mod:`pyroclust.sites`:

- the guide samples every latent site of the model that is not enumerated in the model, with
  the same name and event dimension (both are traced), and nothing the model does not have;
  each declared cluster site is where its declaration says (enumerated in the model, absent
  from the guide; enumerated in the guide; a reparameterised relaxed sample on both sides);
- every sample site is named from :mod:`pyroclust.sites`, a declared site, a weight prior's
  site named by its cluster site, or :data:`EXTRA_SITE_NAMES` (plus the subclass's
  ``extra_site_names``);
- the local sites (declared cluster sites and codes, ``obs``) lie inside the ``"data"``
  plate, which has the data set's size and is subsampled to the mini-batch; the weights lie
  outside it;
- the objective chosen from model and guide (:func:`~pyroclust.infer.make_elbo`) is finite and
  differentiable, with a finite gradient for every parameter, enumerates where a site asks
  for it, and works with plain :class:`pyro.infer.SVI`;
- prior sampling with :class:`pyro.infer.Predictive` gives the right shapes for every site;
- p(y | x) of every cluster site is normalised;
- a one-epoch fit through :class:`~pyroclust.estimator.Clusterer` works, predicts every
  cluster site, samples from every component of every site, and saves and loads exactly.

Checks about cluster sites are skipped for models without any (a plain VAE or autoencoder).
"""

from __future__ import annotations

import math
import unittest
from typing import Any, ClassVar

import numpy as np
import pyro
import torch
from pyro import poutine
from pyro.infer import SVI, Predictive
from pyro.poutine.util import site_is_subsample

from pyroclust import sites, structure
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
        structure.attach_weight_guides(model, guide)  # as the estimator does
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

    def _model_alone(self, model: Any, x: torch.Tensor) -> Any:
        """The model traced on a mini-batch without the guide (its own infer flags)."""
        with local_params(), torch.no_grad():
            return poutine.trace(model).get_trace(x[: self.batch_size], data_size=len(x))

    @staticmethod
    def _local_sites(model: Any) -> set[str]:
        declared = {s.name for s in structure.cluster_sites(model)}
        return set(LOCAL_SITES) | declared | set(structure.latent_sites(model))

    @staticmethod
    def _declared_names(model: Any) -> set[str]:
        names = {s.name for s in structure.cluster_sites(model)}
        names |= set(structure.latent_sites(model))
        for cluster in list(names) + [sites.ASSIGNMENT]:
            for base in {sites.WEIGHTS} | EXTRA_SITE_NAMES:
                names.add(sites.prior_site(base, cluster))
        return names

    # ------------------------------------------------------------------ checks
    def test_guide_covers_model_latent_sites(self) -> None:
        """Every non-enumerated latent site of the model is in the guide, same event dim."""
        model, guide_trace, model_trace, x = self._traces()
        alone = self._model_alone(model, x)  # replay copies the guide's infer flags
        guide_latent = _latent_sites(guide_trace)
        for name, site in _latent_sites(model_trace).items():
            if alone.nodes[name]["infer"].get("enumerate") is not None:
                assert name not in guide_latent, f"enumerated site {name!r} sampled by the guide"
                continue
            assert name in guide_latent, f"the guide does not sample the model's site {name!r}"
            m_dim, g_dim = site["fn"].event_dim, guide_latent[name]["fn"].event_dim
            assert m_dim == g_dim, f"{name!r}: event_dim {m_dim} in the model, {g_dim} in guide"
            assert site["value"].shape == guide_latent[name]["value"].shape, name
        model_latent = _latent_sites(model_trace)
        extra = sorted(set(guide_latent) - set(model_latent))
        assert not extra, f"the guide samples sites the model does not have: {extra}"

    def test_cluster_sites_where_declared(self) -> None:
        """Each declared cluster site is inferred where its declaration says."""
        model, guide_trace, model_trace, _ = self._traces()
        declared = structure.cluster_sites(model)
        if not declared:
            _skip(f"{type(model).__name__} declares no cluster site")
        names = [s.name for s in declared]
        assert len(set(names)) == len(names), f"cluster sites declared twice: {names}"
        model_sites = _sample_sites(self._model_alone(model, self._setup()[2]))
        guide_sites = _sample_sites(guide_trace)
        for decl in declared:
            assert decl.name in model_sites, f"the model has no cluster site {decl.name!r}"
            m = model_sites[decl.name]
            m_enum = m["infer"].get("enumerate") is not None
            if decl.inference == structure.ENUMERATE_MODEL:
                assert m_enum, f"{decl.name!r} is declared enumerated in the model but is not"
                assert decl.name not in guide_sites, f"the guide samples {decl.name!r}"
                continue
            assert not m_enum, f"{decl.name!r} is inferred in the guide but enumerated in model"
            assert decl.name in guide_sites, f"the guide does not sample {decl.name!r}"
            g = guide_sites[decl.name]
            g_enum = g["infer"].get("enumerate") is not None
            if decl.inference == structure.ENUMERATE_GUIDE:
                assert g_enum, f"{decl.name!r} is declared enumerated in the guide but is not"
            else:  # relaxed: reparameterised one-hot vectors of length K on both sides
                for who, site in (("model", m), ("guide", g)):
                    assert getattr(site["fn"], "has_rsample", False), (
                        f"relaxed site {decl.name!r} is not reparameterised in the {who}"
                    )
                    assert site["value"].shape[-1] == decl.n_components, (
                        f"relaxed site {decl.name!r} in the {who} is not one-hot of size K"
                    )

    def test_site_names_follow_the_zoo(self) -> None:
        """Sample sites are named from pyroclust.sites (or the documented extras)."""
        _, guide_trace, model_trace, _ = self._traces()
        model = self._setup()[0]
        allowed = ZOO_SITE_NAMES | EXTRA_SITE_NAMES | set(self.extra_site_names)
        allowed = allowed | self._declared_names(model)
        for trace, who in ((model_trace, "model"), (guide_trace, "guide")):
            names = set(_sample_sites(trace))
            unknown = sorted(names - allowed)
            assert not unknown, f"the {who} has sites outside pyroclust.sites: {unknown}"
        model_sites = _sample_sites(model_trace)
        for code in structure.latent_sites(model):
            assert code in model_sites, f"the model has no {code!r} site"
        assert sites.OBS in model_sites and model_sites[sites.OBS]["is_observed"], (
            "the model has no observed 'obs' site"
        )

    def test_local_sites_in_data_plate(self) -> None:
        """Local sites lie in the "data" plate (full size, subsampled); global ones do not."""
        model, guide_trace, model_trace, x = self._traces()
        batch = min(self.batch_size, len(x))
        local = self._local_sites(model)
        weights = {s.weights for s in structure.cluster_sites(model)} | {sites.WEIGHTS}
        for trace, who in ((model_trace, "model"), (guide_trace, "guide")):
            for name, site in _sample_sites(trace).items():
                plates = _plates(site)
                if name in local:
                    assert sites.DATA_PLATE in plates, f"{who} site {name!r} is not in 'data'"
                    frame = plates[sites.DATA_PLATE]
                    full = frame.full_size if frame.full_size is not None else frame.size
                    assert full == len(x), f"'data' plate of size {full}, not {len(x)}"
                    assert frame.size == batch, f"'data' subsampled to {frame.size} rows"
                    assert site["fn"].batch_shape[frame.dim] == batch, (
                        f"{who} site {name!r} has batch shape {tuple(site['fn'].batch_shape)}"
                    )
                    weight = float(structure.site_scales(model).get(name, 1.0))
                    assert math.isclose(float(site["scale"]), weight * len(x) / batch), (
                        f"{who} site {name!r} is scaled by {site['scale']}, not "
                        f"{weight:g} x data/batch"
                    )
                elif name in weights:
                    assert sites.DATA_PLATE not in plates, f"{who}: {name!r} inside 'data'"

    def test_elbo_finite_and_differentiable(self) -> None:
        """The ELBO is finite and every parameter gets a finite gradient."""
        model, guide, x = self._setup()
        batch = x[: self.batch_size]
        with local_params():
            elbo = make_elbo(model, batch, guide=guide, data_size=len(x))
            enumerated = any(
                s.inference != structure.RELAXED_GUIDE for s in structure.cluster_sites(model)
            )
            assert enumerated == isinstance(elbo, pyro.infer.TraceEnum_ELBO), (
                f"{type(elbo).__name__} chosen for cluster sites "
                f"{[s.inference for s in structure.cluster_sites(model)]}"
            )
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
            elbo = make_elbo(model, x, guide=guide, data_size=len(x))
            svi = SVI(model, guide, pyro.optim.Adam({"lr": 1e-3}), elbo)
            losses = [svi.step(x, data_size=len(x)) for _ in range(2)]
        assert all(math.isfinite(v) for v in losses), losses

    def test_prior_predictive_shapes(self) -> None:
        """Predictive (no guide) draws sites of the right shapes; model(data_size=n) too."""
        model, _, x = self._setup()
        n, n_features = 5, x.shape[1]
        with local_params(), torch.no_grad():
            out = Predictive(model, num_samples=2)(data_size=n)
            generated = model(data_size=n)
        assert generated.shape == (n, n_features)
        codes = structure.latent_sites(model)
        if codes == (sites.LATENT,) and hasattr(model, "latent_dim"):
            assert out[sites.LATENT].shape == (2, n, int(model.latent_dim))
        for code in codes:
            assert out[code].shape[:2] == (2, n) and out[code].ndim == 3, code
        assert out[sites.OBS].shape == (2, n, n_features)
        declared = structure.cluster_sites(model)
        if sites.ASSIGNMENT in out and not declared:
            raise AssertionError("the model samples 'assignment' but declares no cluster site")
        for decl in declared:
            k = decl.n_components
            value = out[decl.name]
            if decl.relaxed:
                assert value.shape == (2, n, k), (decl.name, tuple(value.shape))
                assert torch.allclose(value.sum(-1), torch.ones(2, n), atol=1e-4)
            else:
                assert value.shape == (2, n), (decl.name, tuple(value.shape))
                assert ((value >= 0) & (value < k)).all(), decl.name
            if decl.weights in out:
                pi = out[decl.weights].reshape(2, k)
                assert torch.allclose(pi.sum(-1), torch.ones(2), atol=1e-5)
        for name, value in out.items():
            if value.is_floating_point():
                assert torch.isfinite(value).all(), f"non-finite draws of {name!r}"

    def test_assignment_posterior_normalised(self) -> None:
        """p(y | x) of every declared cluster site: shape (n, K), rows sum to one."""
        from pyroclust.predictive import cluster_log_proba

        model, guide, x = self._setup()
        declared = structure.cluster_sites(model)
        if not declared:
            _skip(f"{type(model).__name__} has no 'assignment' site")
        for decl in declared:
            lp = cluster_log_proba(model, guide, x, site=decl.name)
            assert lp.shape == (len(x), decl.n_components), decl.name
            assert torch.isfinite(lp).all(), decl.name
            assert torch.allclose(lp.exp().sum(-1), torch.ones(len(x)), atol=1e-5), decl.name

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
        codes = est.codes(x)
        assert list(codes) == list(structure.latent_sites(model))
        width = sum(c.shape[1] for c in codes.values())
        assert est.transform(x).shape == (len(x), width)
        if structure.latent_sites(model) == (sites.LATENT,) and hasattr(model, "latent_dim"):
            assert width == int(model.latent_dim)
        for decl in structure.cluster_sites(model):
            labels = est.predict(x, site=decl.name)
            assert labels.shape == (len(x),)
            assert ((labels >= 0) & (labels < decl.n_components)).all()
            proba = est.predict_proba(x, site=decl.name)
            assert np.allclose(proba.sum(1), 1.0) and np.array_equal(labels, proba.argmax(1))
            for k in range(decl.n_components):
                drawn = est.sample(2, component=k, site=decl.name)
                assert drawn.shape == (2, x.shape[1]) and np.isfinite(drawn).all()

    def test_save_load_exact(self) -> None:
        """A fitted estimator saved and loaded predicts, transforms and reconstructs exactly
        as before (every cluster site)."""
        import tempfile
        from pathlib import Path

        from pyroclust.estimator import Clusterer
        from pyroclust.infer.init import RandomInit

        model, guide, x = self.make()
        x = torch.as_tensor(x, dtype=torch.float32)
        options = {"epochs": 1, "batch_size": 16, "init": RandomInit(), "random_state": 0}
        options.update(self.fit_kwargs)
        est = Clusterer(model, guide, progress=False, **options).fit(x)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "model.ckpt"
            est.save(path)
            proto_model, proto_guide, _ = self.make()
            loaded = Clusterer.load(path, proto_model, proto_guide)
        assert np.array_equal(est.transform(x), loaded.transform(x))
        assert np.array_equal(est.reconstruct(x), loaded.reconstruct(x))
        for decl in structure.cluster_sites(model):
            a = est.predict_log_proba(x, site=decl.name)
            b = loaded.predict_log_proba(x, site=decl.name)
            assert np.array_equal(a, b), decl.name


__all__ = ["EXTRA_SITE_NAMES", "LOCAL_SITES", "ZOO_SITE_NAMES", "ModelGuideChecks"]
