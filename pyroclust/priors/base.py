"""The interface of priors over mixture weights."""

from __future__ import annotations

import inspect
from typing import Any

import torch
from pyro.nn import PyroModule

from pyroclust.sites import ASSIGNMENT, prior_site


def weight_logits(pi: torch.Tensor) -> torch.Tensor:
    """Logits of the mixture weights ``pi`` for ``Categorical(logits=...)``.

    ``Categorical(probs=pi)`` clamps each probability at the float epsilon (log weight
    >= -15.9 in float32), which gives a Zipf tail at K = 10^4 the wrong mass and no gradient;
    here the floor is the smallest normal float (log weight >= -87.3 in float32), below which
    the gradient is zero rather than NaN (a pruned component has pi_k = 0 exactly).
    """
    return pi.clamp_min(torch.finfo(pi.dtype).tiny).log()


def distribution_on(d: Any, like: torch.Tensor) -> Any:
    """The distribution ``d`` with its parameters on the device of ``like``: a hyperprior a
    user built with CPU tensors (``StickBreaking(prior=dist.Gamma(1.0, 1.0))``) used by a
    model on the GPU. ``d`` itself when its parameters are there already; ``ValueError`` when
    it cannot be rebuilt from its parameters.

    Examples
    --------
    >>> import pyro.distributions as dist
    >>> d = dist.Gamma(2.0, 1.0)
    >>> distribution_on(d, torch.zeros(1)) is d
    True
    """
    device = like.device
    names = [n for n in d.arg_constraints if n in inspect.signature(type(d).__init__).parameters]
    given = [n for n in names if n in vars(d)]  # the parameters it was built with (lazy
    names = given or names  # ones such as probs/logits are computed on first use)
    params = {n: getattr(d, n) for n in names}
    if all(not torch.is_tensor(v) or v.device == device for v in params.values()):
        return d
    try:
        moved = type(d)(
            **{n: v.to(device) if torch.is_tensor(v) else v for n, v in params.items()},
            validate_args=False,  # checked when the user built it
        )
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"the prior {type(d).__name__} holds tensors on another device than the model's "
            f"({device}) and cannot be rebuilt there ({err}); build it with tensors on {device}"
        ) from None
    return moved


class WeightPrior(PyroModule):
    """Base class of priors over the mixture weights pi (the ``"weights"`` site).

    A prior is created without knowing the number of components; the model that owns it calls
    :meth:`build` with ``n_components`` in its constructor, where parameters are created.

    Subclasses implement

    - :meth:`setup` (create parameters for ``self.n_components``),
    - :meth:`forward` (the model side: emit ``"weights"`` and any hyper-parameter sites and
      return pi of shape (n_components,)),

    and, when they have latent sites, :meth:`make_guide` returning a :class:`WeightGuide` that
    samples those sites. :meth:`set_weights` lets initialisation strategies (GMM, k-means) start
    the weights at a given vector; :meth:`mean` returns a point summary of pi;
    :meth:`start_mixture` is the mixture a start strategy fits under this prior.
    """

    n_components: int | None = None
    #: The cluster site whose weights this prior gives; it names the prior's sites
    #: (:func:`pyroclust.sites.prior_site`), so several priors coexist in one model.
    cluster: str = ASSIGNMENT

    def build(self, n_components: int, cluster: str = ASSIGNMENT) -> WeightPrior:
        """Create the parameters for ``n_components`` components (once) of the cluster site
        ``cluster`` (which names this prior's sites); returns self."""
        self.cluster = str(cluster)
        n_components = int(n_components)
        if n_components < 1:
            raise ValueError(f"n_components must be >= 1, got {n_components}")
        if self.n_components is not None:
            if self.n_components != n_components:
                raise ValueError(
                    f"this {type(self).__name__} prior is built for {self.n_components} "
                    f"components and cannot be reused with {n_components}; create a new one"
                )
            return self
        self.n_components = n_components
        self.setup()
        return self

    def site(self, base: str) -> str:
        """The name of this prior's site ``base`` (``"weights"``, ``"sticks"``...)."""
        return prior_site(base, self.cluster)

    def _named(self, guide: WeightGuide | None) -> WeightGuide | None:
        """``guide`` named for this prior's cluster site (for :meth:`make_guide`)."""
        if guide is not None:
            guide.cluster = self.cluster
        return guide

    def setup(self) -> None:
        """Create parameters; ``self.n_components`` is set."""

    def forward(self) -> torch.Tensor:
        """Emit the ``"weights"`` site (and hyper-parameter sites); return pi."""
        raise NotImplementedError

    def make_guide(self) -> WeightGuide | None:
        """The variational family for this prior's latent sites, or None if it has none."""
        return None

    def set_weights(self, pi: torch.Tensor) -> None:
        """Start at mixture weights ``pi`` where the prior has something to set (no-op here)."""

    def mean(self) -> torch.Tensor:
        """A point summary of pi under the prior's current parameters."""
        raise NotImplementedError

    def start_mixture(
        self,
        n_components: int,
        *,
        covariance_type: str = "full",
        n_init: int = 5,
        random_state: int | None = None,
    ) -> Any:
        """The scikit-learn mixture a start strategy fits (to a low-dimensional embedding of
        the data, or to the codes) so that the start follows this prior over the weights:
        here a ``GaussianMixture`` with exactly ``n_components`` clusters, whose
        maximum-likelihood weights keep every component in use. Priors under which
        components can stay empty (:class:`~pyroclust.priors.StickBreaking`,
        :class:`~pyroclust.priors.Dirichlet`) return a variational Bayesian mixture under the
        same prior, which leaves the components the data do not need empty: their start has
        the number of clusters the data show, up to ``n_components``.

        ``covariance_type`` (``"full"``, ``"diag"``...) and ``n_init`` are scikit-learn's.
        Returns an unfitted estimator with ``fit_predict(features)``, ``weights_``,
        ``means_`` and ``covariances_``.
        """
        from sklearn.mixture import GaussianMixture

        return GaussianMixture(
            int(n_components),
            covariance_type=covariance_type,
            n_init=n_init,
            random_state=random_state,
        )

    def _check_built(self) -> int:
        if self.n_components is None:
            raise RuntimeError(
                f"{type(self).__name__} is not built; pass it to a model, or call .build(K)"
            )
        return self.n_components


#: The most rows :func:`bayesian_start_mixture`'s mixture is fitted to; larger inputs are
#: fitted on a random subset of this size and every row is labelled by the fitted mixture.
BAYESIAN_START_MAX_SAMPLES = 10_000


def bayesian_start_mixture(
    n_components: int,
    kind: str,
    concentration: float,
    *,
    covariance_type: str = "full",
    n_init: int = 5,
    random_state: int | None = None,
    max_samples: int | None = BAYESIAN_START_MAX_SAMPLES,
) -> Any:
    r"""scikit-learn's variational Bayesian Gaussian mixture (Blei & Jordan, 2006) with the
    weight prior ``kind`` of concentration ``concentration``.

    ``kind`` is ``"dirichlet_process"`` (the truncated stick-breaking prior
    :math:`v_k \sim \mathrm{Beta}(1, \alpha)`, :class:`~pyroclust.priors.StickBreaking`) or
    ``"dirichlet_distribution"`` (the symmetric :math:`\mathrm{Dir}(\alpha)`,
    :class:`~pyroclust.priors.Dirichlet`). Its coordinate-ascent update of q over the
    weights is the conjugate one of the priors' :meth:`WeightGuide.set_weights`, given the
    expected counts. Up to 500 iterations: the mean-field updates that empty a component
    take more than the default 100.

    Inputs of more than ``max_samples`` rows (None: no limit) fit the mixture on a random
    subset of that size (drawn with ``random_state``) and label every row with it
    (:class:`SubsampledFit`): each iteration costs time in proportion to the rows, and on a
    10-D embedding of 70,000 rows one restart with 30 components took 578 s (280
    iterations) against 70 s on 20,000 of them, with the same 10 clusters in use
    (``benchmarks/RESULTS.md``).
    """
    from sklearn.mixture import BayesianGaussianMixture

    mixture = BayesianGaussianMixture(
        n_components=int(n_components),
        covariance_type=covariance_type,
        weight_concentration_prior_type=kind,
        weight_concentration_prior=float(concentration),
        n_init=n_init,
        max_iter=500,
        random_state=random_state,
    )
    if max_samples is None:
        return mixture
    return SubsampledFit(mixture, max_samples, random_state=random_state)


class SubsampledFit:
    """A scikit-learn mixture fitted to a random subset of at most ``max_samples`` rows of
    its input, which then labels every row.

    ``fit``, ``fit_predict`` and ``predict`` take the same arguments as the mixture's; every
    other attribute (``weights_``, ``means_``, ``weight_concentration_``...) is the
    mixture's, read through. The subset is drawn with ``random_state``; inputs of at most
    ``max_samples`` rows are fitted whole.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.mixture import GaussianMixture
    >>> x = np.concatenate([np.zeros((60, 2)), np.full((60, 2), 5.0)])
    >>> x = x + np.random.default_rng(0).normal(size=x.shape)
    >>> fit = SubsampledFit(GaussianMixture(2, random_state=0), 50, random_state=0)
    >>> labels = fit.fit_predict(x)
    >>> len(labels), len(np.unique(labels[:60])), bool(labels[0] != labels[-1])
    (120, 1, True)
    """

    def __init__(self, mixture: Any, max_samples: int, random_state: int | None = None) -> None:
        if int(max_samples) < 1:
            raise ValueError(f"max_samples must be at least 1, not {max_samples!r}")
        self.mixture = mixture
        self.max_samples = int(max_samples)
        self.random_state = random_state

    def subset(self, n_rows: int) -> Any:
        """The rows (sorted indices, or a slice of all) the mixture is fitted to."""
        from pyroclust.datasets.streaming import sample_rows  # the start's draw of rows

        rows = sample_rows(n_rows, self.max_samples, self.random_state)
        return slice(None) if rows is None else rows

    def fit(self, x: Any, y: Any = None) -> SubsampledFit:
        """Fit the mixture to :meth:`subset` of the rows of ``x``."""
        self.mixture.fit(x[self.subset(len(x))])
        return self

    def predict(self, x: Any) -> Any:
        """The fitted mixture's labels of every row of ``x``."""
        return self.mixture.predict(x)

    def fit_predict(self, x: Any, y: Any = None) -> Any:
        """Fit on the subset, then label every row of ``x``."""
        return self.fit(x).predict(x)

    def __getattr__(self, name: str) -> Any:
        if name == "mixture":  # not set yet (copy, unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.mixture, name)


class WeightGuide(PyroModule):
    """Base class of the guide side of a weight prior: q over its latent sites.

    ``forward()`` samples the same sites as the prior's latent ones, with the same names;
    :meth:`set_weights` starts the posterior around given weights; :meth:`mean` is the
    posterior mean of pi. ``cluster`` (set by the prior's ``make_guide``) names its sites.
    """

    cluster: str = ASSIGNMENT

    def site(self, base: str) -> str:
        """The name of this guide's site ``base``, matching its prior's."""
        return prior_site(base, self.cluster)

    def forward(self) -> None:  # noqa: D102
        raise NotImplementedError

    def set_weights(self, pi: torch.Tensor, n_samples: int | None = None) -> None:
        """Centre q on weights ``pi`` (``n_samples`` data points back it); no-op by default."""

    def mean(self) -> torch.Tensor:
        """Posterior mean of pi."""
        raise NotImplementedError
