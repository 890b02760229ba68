"""A start per cluster site: each site's labels from clustering what that site's q(y | x)
reads, after a short unsupervised warm-up; then every site aligned to its labels."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from pyroclust.infer.init.base import START_STEP
from pyroclust.infer.init.manifold import ManifoldInit, embedding_seeds
from pyroclust.infer.init.restarts import (
    best_restart,
    objective_per_row,
    reinitialise,
    restore,
    snapshot,
)
from pyroclust.infer.init.sites import fit_sites_conditioned, guide_sites
from pyroclust.infer.session import FitSession

#: The stage name of the warm-up.
WARMUP_STAGE = "warmup"


def _in_batches(
    method: Callable[[torch.Tensor], Mapping[str, Any]], x: torch.Tensor, batch_size: int
) -> dict[str, np.ndarray]:
    """``method`` (rows -> named values of shape (rows, ...)) over ``x`` in batches, without
    gradients: each name's values as one float64 array of shape (n_samples, width)."""
    parts: dict[str, list[np.ndarray]] = {}
    with torch.no_grad():
        for xb in torch.split(x, batch_size):
            for name, value in method(xb).items():
                value = value.double().cpu().numpy() if torch.is_tensor(value) else value
                parts.setdefault(name, []).append(
                    np.asarray(value, dtype=np.float64).reshape(len(xb), -1)
                )
    return {name: np.concatenate(chunks) for name, chunks in parts.items()}


def site_features(
    guide: Any, x: torch.Tensor, batch_size: int = 1024, method: str = "site_features"
) -> dict[str, np.ndarray]:
    """``guide.<method>(x)`` (by default ``site_features``: what each cluster site's
    q(y | x) reads, by site name) for every row, in evaluation mode, as float64 arrays of
    shape (n_samples, width)."""
    from pyroclust.predictive import evaluating

    read = getattr(guide, method, None)
    if not callable(read):
        raise TypeError(
            f"{type(guide).__name__} has no {method}(x): a start per cluster site needs "
            "the guide to say what each site's features are"
        )
    with evaluating(guide):
        return _in_batches(read, x, batch_size)


def explained_away(features: np.ndarray, labels: list[np.ndarray]) -> np.ndarray:
    """``features`` (n_samples, width) less their least-squares fit on the one-hot codes of
    the clusterings ``labels`` (each of shape (n_samples,)): what those clusterings do not
    explain, the overall mean kept. With one clustering it is each row less its cluster's
    mean, plus the overall mean."""
    if not labels:
        return features
    columns = [np.ones((len(features), 1))]
    for column in labels:
        _, codes = np.unique(np.asarray(column), return_inverse=True)
        onehot = np.eye(codes.max() + 1)[codes]
        columns.append(onehot[:, 1:])  # one level dropped: the intercept holds it
    design = np.concatenate(columns, 1)
    coef, *_ = np.linalg.lstsq(design, features, rcond=None)
    return features - design @ coef + features.mean(0)


#: A data view a site's start clusters instead of its features: rows (N, D) -> (N, width).
View = Callable[[torch.Tensor], Any]


def view_rows(view: View, x: torch.Tensor, batch_size: int = 4096) -> np.ndarray:
    """``view(x)`` for every row of ``x``, in batches, as a float64 array (n_samples, width)."""
    return _in_batches(lambda xb: {"view": view(xb)}, x, batch_size)["view"]


@dataclass(frozen=True)
class SiteRange:
    """A key of :func:`resolve_views`: the cluster sites at positions ``start`` to ``stop``
    (exclusive; Python's slice rules, None for an open end) that no other key names.
    ``SiteRange(0, 1)`` is the lowest site unless a name or position names it."""

    start: int | None = None
    stop: int | None = None

    def names(self, names: list[str]) -> list[str]:
        """The site names in the range."""
        return names[self.start : self.stop]


def resolve_views(
    views: Mapping[str | int | SiteRange, View] | None, names: list[str]
) -> dict[str, View]:
    """``views`` keyed by site name. A key is a site's name, its position among the model's
    cluster sites ``names`` (negative from the top: -1 is the last), or a :class:`SiteRange`,
    which gives its view to the sites in its range that no name or position names: so
    ``{-1: a, SiteRange(0, 1): b}`` gives the top site ``a`` and the lowest ``b`` when there
    are two sites or more, and ``a`` alone to a single site. ``ValueError`` for a key that
    names no site, or two keys (or two ranges) that name the same one."""
    resolved: dict[str, View] = {}
    ranges: list[tuple[SiteRange, View]] = []
    for key, view in (views or {}).items():
        if isinstance(key, SiteRange):
            ranges.append((key, view))
            continue
        if isinstance(key, bool) or not isinstance(key, (str, int)):
            raise ValueError(f"a view's key is a site name, position or SiteRange, got {key!r}")
        if isinstance(key, int):
            if not -len(names) <= key < len(names):
                raise ValueError(f"views: no cluster site at position {key} of {names}")
            name = names[key]
        elif key in names:
            name = key
        else:
            raise ValueError(f"views: no cluster site {key!r}; the model's are {names}")
        if name in resolved:
            raise ValueError(f"views: two views for site {name!r}")
        resolved[name] = view
    named = set(resolved)
    for key, view in ranges:
        for name in key.names(names):
            if name in named:
                continue
            if name in resolved:
                raise ValueError(f"views: two SiteRange keys give site {name!r} a view")
            resolved[name] = view
    for name, view in resolved.items():
        if not callable(view):
            raise ValueError(f"views: the view of site {name!r} is not callable")
    return resolved


@dataclass
class LayerwiseStart:
    """A start for a model with several cluster sites held by its guide (VLAC's one per
    mixture layer): each site gets its own labels, from clustering what its q(y | x) reads.

    1. ``warmup_epochs`` of SVI on the model's own ELBO (``lr``, ``batch_size``), so the
       guide's features (:meth:`~pyroclust.guides.VLACGuide.site_features`: VLAC's
       deterministic ladder h̄_l at each mixture layer) describe the data;
    2. each site in the model's order clusters its features with ``clusterer`` (a
       neighbourhood embedding and a mixture on it, :class:`ManifoldInit` on the codes by
       default) into its K clusters; each later site's features are first freed of what
       the earlier sites' features show (:func:`explained_away` of a finer clustering of
       them, into ``explain_away`` times their K clusters; 0: none), so that two sites do
       not both start at the factor that dominates the features. Finer, because the factor
       an earlier site shows may have more levels than its K (on coloured MNIST the 12
       pairs of digit and background colour at a K = 4 layer): after 10 warm-up epochs, the
       digit ACC of the K = 10 layer's start was 0.15 with nothing explained away, 0.15 with
       the K = 4 clusters, 0.27 and 0.29 with 8 and 16 (0.33 with the 12 true colour pairs).
       A site given a view in ``views`` clusters that view of the data instead (a fixed
       map of the rows such as :class:`~pyroclust.nn.ShapeView`, which removes the
       images' colours, or :class:`~pyroclust.nn.ColourView`, which keeps only them),
       nothing explained away: the view says what the site should see;
    3. ``align_epochs`` of SVI with every site observed at its labels and each q(y | x)
       trained towards them (:func:`~pyroclust.infer.init.sites.fit_sites_conditioned`,
       classification weight ``align_alpha``, learning rate ``align_lr``, default ``lr``),
       stopping early once every site's q(y | x) reproduces ``align_until`` of its labels
       (None: all ``align_epochs``).

    The warm-up's objective is ``warmup_loss`` (None: the model's ELBO); on a ladder,
    :class:`~pyroclust.infer.freebits.FreeBits` keeps every layer's code in use, and with
    ``features="code_features"`` each site then clusters its layer's code means rather than
    h̄_l.

    With ``warmup_restarts`` R > 1 the warm-up first runs R times for ``restart_epochs``
    (default half its epochs) from fresh initialisations (:mod:`~pyroclust.infer.init.restarts`:
    the given one, then every layer's ``reset_parameters()`` under seeds drawn from
    ``random_state``); the one whose warm-up objective per row is lowest on up to 10,000
    rows is kept and warms up for the epochs left. No label is read: where an unsupervised
    warm-up puts a factor depends on its random start (coloured MNIST, no view, 5 seeds of
    one warm-up: the three best ELBOs held the three best digit codes; in VLAC's plain
    warm-up at K = [50, 5, 5, 1] three restarts left its digit layer where it was, and
    lifted the GM-VAE's, see :func:`pyroclust.zoo.vlac_training`).

    The stages run as ``"warmup"``, ``"start"`` and ``"align"`` of the fit's session (with
    restarts, ``"warmup-restart-<r>"`` and their reset, score and choice steps first). Free
    SVI keeps every site near its start with :class:`~pyroclust.infer.init.sites.SitesAgreement`.

    Parameters
    ----------
    warmup_epochs, lr, batch_size : int, float, int
    clusterer : ManifoldInit, optional
        Clusters one site's features (its ``cluster_labels``); default
        ``ManifoldInit(space="codes", embedding="umap", pretrain_epochs=0)``.
    explain_away : int
        The resolution of the explained-away clusterings (0: none).
    views : mapping, optional
        Site name, position among the cluster sites (-1: the top one) or
        :class:`SiteRange` of positions (:func:`resolve_views`) -> a callable that maps
        rows of data (N, D) to the rows (N, width) that site's start clusters in place of
        its features.
    align_epochs, align_lr, align_alpha : int, float, float
    align_until : float, optional
        The share of every site's labels its q(y | x) reproduces when the alignment stops
        (:class:`~pyroclust.infer.init.align.AgreementStop`); None: run ``align_epochs``.
    warmup_loss : callable, optional
        The warm-up's loss ``(model, guide, x, *, data_size)`` (e.g.
        :class:`~pyroclust.infer.freebits.FreeBits`); None: the model's ELBO.
    plain_warmup : bool
        Run the warm-up inside the model's ``plain_components()`` (VLAC's
        :meth:`~pyroclust.models.VLAC.plain_components`: every mixture component at
        N(0, I), so the warm-up trains a VLAE); ``TypeError`` for a model without it. The
        warm-up and the start's features also run inside the guide's ``plain_ladder()`` when
        it has one (:meth:`~pyroclust.guides.VLACGuide.plain_ladder`: no y_l feeds a rung
        or head, so no y_l carries a factor between layers).
    warmup_restarts : int
        Warm-ups run from fresh initialisations before the one kept (1: no restart).
    restart_epochs : int, optional
        Epochs of each restart (at most ``warmup_epochs``); None: half the warm-up,
        rounded up.
    features : str
        The guide's method that gives each site's features, ``method(x) -> {site: (B, w)}``:
        ``"site_features"`` (what q(y | x) reads; VLAC's h̄_l) or ``"code_features"``
        (VLAC's code means).
    viewed_warmup_epochs : int, optional
        When every site clusters a view (so no site reads the warm-up's features), the
        warm-up runs at most this many epochs, only to move the networks off their random
        start, and the alignment may run the epochs it saves on top of ``align_epochs``:
        the start's budget is the same, spent where it decides the result. None: the
        warm-up runs ``warmup_epochs`` always.
    """

    warmup_epochs: int = 10
    lr: float = 1e-3
    batch_size: int = 128
    clusterer: ManifoldInit | None = None
    explain_away: int = 4
    views: Mapping[str | int | SiteRange, View] | None = None
    align_epochs: int = 5
    align_lr: float | None = None
    align_alpha: float = 1.0
    align_until: float | None = None
    viewed_warmup_epochs: int | None = None
    callbacks: list[Any] = field(default_factory=list)
    warmup_loss: Any = None
    features: str = "site_features"
    plain_warmup: bool = False
    warmup_restarts: int = 1
    restart_epochs: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.features, str) or not self.features.isidentifier():
            raise ValueError(f"features names a guide method, got {self.features!r}")
        if int(self.warmup_restarts) < 1:
            raise ValueError(f"warmup_restarts must be >= 1, got {self.warmup_restarts}")
        if self.restart_epochs is not None and int(self.restart_epochs) < 1:
            raise ValueError(f"restart_epochs must be >= 1 or None, got {self.restart_epochs}")
        if self.warmup_loss is not None and not callable(self.warmup_loss):
            raise TypeError(f"warmup_loss must be callable, got {self.warmup_loss!r}")
        for name in ("warmup_epochs", "align_epochs", "explain_away"):
            if int(getattr(self, name)) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.viewed_warmup_epochs is not None and int(self.viewed_warmup_epochs) < 0:
            raise ValueError(
                f"viewed_warmup_epochs must be >= 0 or None, got {self.viewed_warmup_epochs}"
            )
        if self.align_until is not None and not 0.0 < float(self.align_until) <= 1.0:
            raise ValueError(f"align_until must lie in (0, 1], not {self.align_until!r}")

    def stage_epochs(self, model: Any) -> tuple[int, int]:
        """The warm-up's and the alignment's epochs for ``model``: ``warmup_epochs`` and
        ``align_epochs``, or, when every cluster site has a view and
        ``viewed_warmup_epochs`` is set, the shorter warm-up and the alignment lengthened by
        the epochs it saves."""
        warmup, align = int(self.warmup_epochs), int(self.align_epochs)
        names = [s.name for s in guide_sites(model)]
        views = resolve_views(self.views, names)  # a view naming no site: an error here
        if self.viewed_warmup_epochs is None or not names or set(names) - set(views):
            return warmup, align
        short = min(warmup, int(self.viewed_warmup_epochs))
        if align > 0:
            align += warmup - short
        return short, align

    def site_labels(
        self, model: Any, guide: Any, x: torch.Tensor, random_state: int | None = None
    ) -> np.ndarray:
        """The start's labels, of shape (n_samples, n_sites) in the order of the model's
        cluster sites: each site's features clustered into its K clusters (see the class)."""
        sites = guide_sites(model)
        views = resolve_views(self.views, [s.name for s in sites])
        features = site_features(guide, x, method=self.features)
        missing = [s.name for s in sites if s.name not in features]
        if missing:
            raise ValueError(f"the guide's {self.features} gives no features for sites {missing}")
        clusterer = self.clusterer
        if clusterer is None:
            clusterer = ManifoldInit(space="codes", embedding="umap", pretrain_epochs=0)
        columns: list[np.ndarray] = []
        fine: list[np.ndarray] = []  # the earlier sites' finer clusterings, explained away
        for i, site in enumerate(sites):
            if site.name in views:
                f = view_rows(views[site.name], x)
            else:
                f = explained_away(features[site.name], fine)
            columns.append(np.asarray(clusterer.cluster_labels(f, site.n_components, random_state)))
            later_read_features = any(s.name not in views for s in sites[i + 1 :])
            if self.explain_away > 0 and later_read_features:
                k = self.explain_away * site.n_components
                fine.append(np.asarray(clusterer.cluster_labels(f, k, random_state)))
        return np.stack(columns, 1).astype(np.int64)

    def __call__(
        self,
        model: Any,
        guide: Any,
        x: torch.Tensor,
        *,
        random_state: int | None = None,
        progress: bool = False,
        session: FitSession | None = None,
    ) -> None:
        """Run the warm-up, the start and the alignment on the data ``x`` of shape
        (n_samples, n_features)."""
        warmup_epochs, align_epochs = self.stage_epochs(model)  # view errors first
        if session is None:
            session = FitSession(
                model, guide, random_state=random_state, progress=progress, device=x.device
            )
        hold = getattr(model, "plain_components", None) if self.plain_warmup else None
        if self.plain_warmup and not callable(hold):
            raise TypeError(
                f"plain_warmup needs a model with plain_components(); {type(model).__name__} "
                "has none"
            )
        plain_guide = getattr(guide, "plain_ladder", None) if self.plain_warmup else None

        def plain() -> contextlib.ExitStack:
            stack = contextlib.ExitStack()
            if hold is not None:
                stack.enter_context(hold())
            if callable(plain_guide):
                stack.enter_context(plain_guide())
            return stack

        if warmup_epochs > 0:
            done = 0
            if int(self.warmup_restarts) > 1:
                done = self._restarts(session, x, warmup_epochs, plain, random_state)
            if warmup_epochs > done:
                with plain():
                    self._warm_up(session, x, warmup_epochs - done)

        def start() -> np.ndarray:
            # the features as the warm-up trained them: a plain guide's, when it has one
            with plain_guide() if callable(plain_guide) else contextlib.nullcontext():
                return self.site_labels(model, guide, x, random_state)

        labels = session.step(START_STEP, start)
        if align_epochs > 0:
            fit_sites_conditioned(
                model,
                guide,
                x,
                labels,
                epochs=align_epochs,
                batch_size=self.batch_size,
                lr=self.align_lr if self.align_lr is not None else self.lr,
                random_state=random_state,
                progress=progress,
                session=session,
                alpha=self.align_alpha,
                until=self.align_until,
            )

    def _warm_up(
        self,
        session: FitSession,
        x: torch.Tensor,
        epochs: int,
        name: str = WARMUP_STAGE,
        **options: Any,
    ) -> None:
        """The warm-up stage ``name``: ``epochs`` of SVI on ``warmup_loss`` (the ELBO when
        None)."""
        session.train(
            name,
            x,
            epochs=epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            callbacks=list(self.callbacks),
            **({} if self.warmup_loss is None else {"loss": self.warmup_loss}),
            **options,
        )

    def _restarts(
        self,
        session: FitSession,
        x: torch.Tensor,
        epochs: int,
        plain: Callable[[], contextlib.ExitStack],
        random_state: int | None,
    ) -> int:
        """Run :attr:`warmup_restarts` warm-ups of :attr:`restart_epochs` (default half the
        warm-up, at least 1) from fresh initialisations, keep the one whose warm-up
        objective per row is lowest, and return the epochs run on it. Each restart is a
        stage of the session (``"warmup-restart-<r>"``, its reset and score steps beside
        it), so a fit stopped among them resumes there."""
        short = self.restart_epochs if self.restart_epochs is not None else (epochs + 1) // 2
        short = min(int(short), epochs)
        modules = [session.model, session.guide]
        initial = session.step(f"{WARMUP_STAGE}-initial", lambda: snapshot(modules))
        if random_state is None:  # the session's seed, as the other stages take it
            random_state = session.random_state
        seeds = embedding_seeds(random_state, int(self.warmup_restarts))
        scored: list[dict[str, Any]] = []
        for r, seed in enumerate(seeds):
            if r > 0:
                session.step(
                    f"{WARMUP_STAGE}-reset-{r}",
                    lambda seed=seed: reinitialise(modules, initial, seed),
                )
            with plain():
                self._warm_up(session, x, short, f"{WARMUP_STAGE}-restart-{r}", random_state=seed)

            def score() -> dict[str, Any]:
                with plain():
                    value = objective_per_row(
                        session.model,
                        session.guide,
                        x,
                        self.warmup_loss,
                        seed=0 if random_state is None else int(random_state),
                    )
                return {"objective": value, "state": snapshot(modules)}

            scored.append(session.step(f"{WARMUP_STAGE}-score-{r}", score))

        def choose() -> dict[str, Any]:
            objectives = [float(s["objective"]) for s in scored]
            chosen = best_restart(objectives)
            restore(modules, scored[chosen]["state"])
            return {"chosen": chosen, "objectives": objectives}

        session.step(f"{WARMUP_STAGE}-choice", choose)
        return short


__all__ = [
    "LayerwiseStart",
    "SiteRange",
    "View",
    "explained_away",
    "resolve_views",
    "site_features",
    "view_rows",
]
