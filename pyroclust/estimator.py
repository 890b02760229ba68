"""A scikit-learn-style estimator over any model/guide pair of the zoo."""

from __future__ import annotations

import copy
import itertools
import os
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin

from pyroclust import predictive, structure
from pyroclust.exceptions import CheckpointError, DataError, NonFiniteLossError
from pyroclust.infer.checkpoint import load_checkpoint, save_checkpoint
from pyroclust.infer.elbo import check_guide_covers_model, local_params, make_elbo, seed_everything
from pyroclust.infer.init import default_init
from pyroclust.infer.session import FitSession, run_init
from pyroclust.infer.trainer import EarlyStopping, resolve_device
from pyroclust.validation import as_data_tensor, check_feature_names, get_feature_names

ESTIMATOR_KIND = "clusterer"
#: The session step that records the clustering the initialisation left (before free SVI).
START_LABELS_STEP = "start-labels"
#: The session step that records the rows the initialisation saw, when it saw a subset.
INIT_ROWS_STEP = "init-rows"


def _rng_devices(x: torch.Tensor) -> list[int]:
    """The CUDA devices whose random state a seeded computation on ``x`` must fork."""
    return [x.device.index or 0] if x.device.type == "cuda" else []


class Clusterer(ClusterMixin, TransformerMixin, BaseEstimator):
    """Fit a deep generative clustering model by SVI, scikit-learn style.

    ``model`` and ``guide`` are prototypes: :meth:`fit` trains deep copies of them
    (``model_``, ``guide_``), so the estimator can be cloned and refitted, and
    ``fit(X).predict(X)`` equals ``fit_predict(X)``.

    Parameters
    ----------
    model : str or PyroModule
        A registry name (``"vade"``, ``"gmvae"``...: :data:`pyroclust.zoo.ZOO`), built at
        :meth:`fit` for the data's width, or a built model such as
        :class:`~pyroclust.models.VaDE` (see :func:`pyroclust.zoo.make`).
    guide : PyroModule, optional
        The guide of a built model (None with a registry name).
    n_components : int
        Clusters of a registry architecture that has a cluster site (ignored for a built
        model, which has its own).
    model_options : dict, optional
        Further options of the registry builder (``latent_dim``, ``hidden``, ``weights``,
        ``likelihood``...); the likelihood follows the data when not given.
    epochs, batch_size, lr, lr_schedule, clip_norm, jit
        Passed to :class:`~pyroclust.infer.SVITrainer` for the SVI stage.
    init : callable, optional
        Initialisation strategy (:mod:`pyroclust.infer.init`). When None,
        :func:`~pyroclust.infer.init.default_init`: ``GMMInit()`` (the VaDE paper's
        autoencoder pretraining + GMM) for a model with VaDE's cluster structure (one
        cluster site enumerated in the model, components and a weight prior that can be
        started at a mixture), else ``RandomInit()``.
    early_stopping : EarlyStopping, int or bool, optional
        An int is a patience in epochs; True is ``EarlyStopping()``.
    device : "auto", "cpu" or "cuda"
    random_state : int, optional
        Makes a fit repeatable on CPU.
    progress : bool
        Progress bars with the running mean loss of each stage.
    checkpoint : path, optional
        The one checkpoint file of the whole fit (a :class:`~pyroclust.infer.FitSession`):
        written after every epoch of every training stage (pretraining, alignment, SVI) and
        after every other initialisation step; ``fit(X, resume=True)`` continues from it.
    callbacks : sequence of callables ``(trainer, epoch) -> None``
        Called after every epoch of the SVI stage (e.g. a temperature schedule).
    loss : pyro.infer.ELBO or callable, optional
        The objective of the SVI stage: a Pyro ELBO, or a callable
        ``(model, guide, x, data_size=n) -> scalar tensor`` (see
        :class:`~pyroclust.infer.SVITrainer`); when None, the ELBO model and guide need
        (:func:`~pyroclust.infer.make_elbo`). An object with a method
        ``bind(model, guide, x, start_labels) -> (loss, data)`` builds the objective from
        the start (e.g. :class:`~pyroclust.regularizers.StartAgreement`); with ``jit`` set,
        it is called with ``jit=`` too, to build that objective's fast path.
    num_particles : int
        Particles of the automatic ELBO.
    init_max_samples : int or None
        The most rows the initialisation sees (100,000 by default): on more, the
        initialisation strategy (autoencoder pretraining, the start mixture, the alignment)
        runs on a uniform random subset of this size, drawn with ``random_state`` (and kept
        in the checkpoint); SVI then trains on every row. The start's labels of all rows
        (``start_labels_``) come from the started model, chunk by chunk. None: every row
        (data on disk are then loaded whole for the initialisation). Strategies may
        subsample further: :class:`~pyroclust.infer.init.ManifoldInit` embeds at most its
        ``max_samples`` rows.
    chunk_size : int, optional
        Rows read at a time from data on disk (65,536 by default,
        :data:`pyroclust.datasets.streaming.DEFAULT_CHUNK_SIZE`): see "Data larger than
        memory" below.
    distributed : bool, optional
        Data-parallel training when the script runs under ``torchrun --nproc-per-node N``
        (:mod:`pyroclust.infer.distributed`): ``fit`` joins the process group torchrun
        describes (gloo on CPU, nccl on GPU) and every training stage splits each batch over
        the processes, ``batch_size`` rows each. None (the default) does so whenever launched
        that way; False trains alone.

    Attributes
    ----------
    model_, guide_ : the trained model and guide
    labels_ : ndarray of shape (n_samples,), cluster of each training row
    weights_ : ndarray of shape (n_components,), mixture weights (posterior mean if latent)
    history_ : list of dict, the SVI stage's per-epoch ELBO
    stage_history_ : list of dict, the rows of every training stage, each with its ``stage``
    elbo_ : float, the ELBO per data point of the last epoch
    start_labels_ : ndarray of shape (n_samples,)
        For a model with a cluster site: the cluster of each training row right after the
        initialisation, before free SVI (the start's clustering; kept in the checkpoint, so
        a resumed fit has it too).
    start_agreement_ : float
        The adjusted Rand index between ``start_labels_`` and ``labels_``: 1 when the fit
        kept its start's clustering, about 0 when it replaced it by an unrelated one. Needs
        no labels: it says how much free SVI changed the start.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        The column names of a DataFrame given to :meth:`fit` (scikit-learn's convention):
        later input must have the same names in the same order. Absent otherwise.

    Notes
    -----
    **Data larger than memory.** ``X`` may be a memory-mapped ``.npy`` file
    (``np.load(path, mmap_mode="r")``), a ``np.memmap``, or an
    :class:`~pyroclust.datasets.streaming.ArrayStream` (``open_stream(path)``: a ``.npy``
    file or a folder of ``.npy``/``.npz`` shards). It is then never loaded whole:
    :meth:`fit` checks it in one pass ``chunk_size`` rows at a time, initialises on at most
    ``init_max_samples`` rows, computes the start's labels chunk by chunk, and trains SVI on
    one chunk at a time (each epoch visits the chunks in a random order and the rows of
    each in a random order; :class:`~pyroclust.infer.SVITrainer`); :meth:`predict`,
    :meth:`predict_proba`, :meth:`transform`, :meth:`codes`, :meth:`reconstruct`,
    :meth:`score`, :meth:`expected_n_clusters` and :meth:`cluster_sizes_posterior` work
    through it in chunks too. Memory then holds the model, one chunk,
    the initialisation subsample and a label per row. With ``chunk_size`` at least the
    number of rows (and a multiple of 4,096 for :meth:`score`), a memory map gives exactly
    the fit and the predictions of the same array in memory. A map's rows are converted as
    in-memory arrays are; a stream's files as :func:`~pyroclust.datasets.load_dataset`
    reads them (``uint8`` scaled by 1/255).

    Examples
    --------
    >>> from pyroclust import zoo
    >>> model, guide = zoo.make("vade", n_features=64, n_components=10, hidden=(32,))
    >>> est = Clusterer(model, guide, epochs=1, progress=False, random_state=0)
    >>> est.fit(np.random.default_rng(0).random((50, 64))).labels_.shape
    (50,)
    """

    def __init__(
        self,
        model: Any = "vade",
        guide: Any = None,
        *,
        n_components: int = 10,
        model_options: dict[str, Any] | None = None,
        epochs: int = 100,
        batch_size: int = 256,
        lr: float = 1e-3,
        lr_schedule: Any = None,
        init: Any = None,
        early_stopping: EarlyStopping | int | None = None,
        clip_norm: float | None = None,
        jit: bool = False,
        device: str = "auto",
        random_state: int | None = None,
        progress: bool = True,
        checkpoint: str | os.PathLike | None = None,
        callbacks: Any = (),
        loss: Any = None,
        num_particles: int = 1,
        init_max_samples: int | None = 100_000,
        chunk_size: int | None = None,
        distributed: bool | None = None,
    ) -> None:
        self.model = model
        self.guide = guide
        self.n_components = n_components
        self.model_options = model_options
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.lr_schedule = lr_schedule
        self.init = init
        self.early_stopping = early_stopping
        self.clip_norm = clip_norm
        self.jit = jit
        self.device = device
        self.random_state = random_state
        self.progress = progress
        self.checkpoint = checkpoint
        self.callbacks = callbacks
        self.loss = loss
        self.num_particles = num_particles
        self.init_max_samples = init_max_samples
        self.chunk_size = chunk_size
        self.distributed = distributed

    # --------------------------------------------------------------- fitting
    def _validate(self, X: Any, model: Any) -> torch.Tensor:
        x = as_data_tensor(X, n_features=getattr(model, "n_features", None))
        model.likelihood.validate(x)
        return x

    def fit(self, X: Any, y: Any = None, *, resume: bool = False) -> Clusterer:
        """Fit to ``X`` of shape (n_samples, n_features); ``y`` is ignored. Returns self.

        The fit runs as the stages of a :class:`~pyroclust.infer.FitSession`: the
        initialisation strategy's (``"pretrain"``, ``"start"``, ``"align"`` for the built-in
        ones; ``"init"`` for any other callable), on at most ``init_max_samples`` rows, then
        ``"svi"`` on every row. With ``resume=True`` and an existing ``checkpoint`` file, the
        fit continues where the checkpoint left it: the stages done are skipped, the one in
        progress continues, and on CPU the result is bit-identical to an uninterrupted fit.

        ``X`` on disk (a memory map or an
        :class:`~pyroclust.datasets.streaming.ArrayStream`) is read ``chunk_size`` rows at a
        time and never loaded whole (see the class's notes).

        Raises
        ------
        NonFiniteLossError
            When a stage diverges; the last good parameters are kept (and checkpointed), and
            the estimator is usable (``predict``, ``save``) at them.
        """
        self._check_params()
        try:
            device = resolve_device(self.device)
        except (RuntimeError, ValueError) as err:
            raise ValueError(
                f"device must be 'auto', 'cpu', 'cuda' or another torch device that is "
                f"available here, got {self.device!r} ({str(err).splitlines()[0]})"
            ) from err
        if self.distributed is not False:
            from pyroclust.infer import distributed

            distributed.init_from_env(device)  # under torchrun: join its process group
        from pyroclust.datasets import streaming

        if streaming.is_streamed(X):
            rows: Any = streaming.as_stream(X)
            value_range = self._scan(rows)
            proto_model, proto_guide = self._prototypes(rows.n_features, value_range)
            self._check_rows(rows, proto_model)
            probe = self._validate(
                rows.take(np.arange(min(len(rows), self.batch_size))), proto_model
            )
            names = None
        else:
            x = as_data_tensor(X, min_samples=2)
            names = get_feature_names(X)  # scikit-learn's convention for DataFrames
            proto_model, proto_guide = self._prototypes(x.shape[1], x.cpu().numpy())
            rows = x = self._validate(x, proto_model).to(device)
            probe = x[: self.batch_size]
        n = len(rows)
        k = getattr(proto_model, "n_components", None)
        if k is not None and k > n:
            raise DataError(f"n_components={k} is more than the {n} samples; use fewer components")
        seed_everything(self.random_state)
        model, guide = copy.deepcopy(proto_model).to(device), copy.deepcopy(proto_guide).to(device)
        structure.attach_weight_guides(model, guide)  # q over every weight prior's sites
        guide.to(device)
        with local_params():
            check_guide_covers_model(model, guide, probe.to(device), data_size=n)
        del probe
        es = self.early_stopping
        if isinstance(es, bool):
            es = EarlyStopping() if es else None
        elif isinstance(es, int):
            es = EarlyStopping(patience=es)
        session = FitSession(
            model,
            guide,
            checkpoint=self.checkpoint,
            resume=resume,
            random_state=self.random_state,
            progress=self.progress,
            device=device,
        )
        # expose the partial state even if a stage stops on a non-finite loss
        self.model_, self.guide_, self.trainer_ = model, guide, None
        self.n_features_in_ = int(rows.shape[1])
        if names is not None:
            self.feature_names_in_ = names
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        init = self.init if self.init is not None else default_init(model, guide)
        start_labels = None
        try:
            subset = self._init_rows(n, session)
            x_init = self._init_data(rows, subset, proto_model, device)
            with local_params():
                run_init(
                    init,
                    model,
                    guide,
                    x_init,
                    session,
                    random_state=self.random_state,
                    progress=self.progress,
                )
            start_labels = self._start_labels(model, guide, rows, session)
            loss, data = self._objective(model, guide, rows, x_init, subset, start_labels)
            del x_init  # the initialisation's rows are not needed for SVI (data on disk)
            self.trainer_ = session.train(
                "svi",
                data,
                loss=loss,
                num_particles=self.num_particles,
                distributed=self.distributed,
                epochs=self.epochs,
                batch_size=self.batch_size,
                lr=self.lr,
                lr_schedule=self.lr_schedule,
                clip_norm=self.clip_norm,
                jit=self.jit,
                early_stopping=es,
                callbacks=list(self.callbacks or ()),
                chunk_size=self._chunk_size(),
            )
            session.finish()
        except NonFiniteLossError:
            # the last good parameters are in place: leave a usable (savable) estimator
            self.trainer_ = session.trainers.get("svi")
            self._finish(rows, session, strict=False, start_labels=start_labels)
            raise
        self._finish(rows, session, start_labels=start_labels)
        return self

    # ------------------------------------------------------------- data of a fit
    def _chunk_size(self) -> int:
        """Rows read at a time from data on disk."""
        from pyroclust.datasets import streaming

        size = getattr(self, "chunk_size", None)  # None in estimators pickled before it
        return streaming.DEFAULT_CHUNK_SIZE if size is None else int(size)

    def _scan(self, stream: Any) -> np.ndarray:
        """Check the rows of ``stream`` chunk by chunk (the checks of in-memory data) and return
        their smallest and largest value, as the array ``[[min, max]]`` (what
        :func:`pyroclust.zoo.likelihood_for` reads)."""
        as_data_tensor(stream.take(np.arange(min(len(stream), 2))), min_samples=2)
        low, high = np.inf, -np.inf
        start = 0
        for chunk in stream.chunks(self._chunk_size()):
            try:
                part = as_data_tensor(chunk)
            except DataError as err:
                raise DataError(f"rows {start} to {start + len(chunk) - 1} of X: {err}") from err
            low, high = min(low, float(part.min())), max(high, float(part.max()))
            start += len(chunk)
        return np.array([[low, high]])

    def _check_rows(self, stream: Any, model: Any) -> None:
        """The model's checks of the rows of ``stream`` (its width, its likelihood's
        support), chunk by chunk."""
        start = 0
        for chunk in stream.chunks(self._chunk_size()):
            try:
                self._validate(chunk, model)
            except DataError as err:
                raise DataError(f"rows {start} to {start + len(chunk) - 1} of X: {err}") from err
            start += len(chunk)

    def _init_rows(self, n: int, session: FitSession) -> np.ndarray | None:
        """The rows the initialisation sees: None for all of them, else a sorted uniform
        random subset of ``init_max_samples`` rows drawn with ``random_state``, kept in the
        checkpoint as the session step ``"init-rows"`` (a resumed fit starts from the same
        rows)."""
        cap = self.init_max_samples
        if cap is None or n <= cap:
            return None
        k = getattr(self.model_, "n_components", None)
        if k is not None and k > cap:
            raise ValueError(
                f"init_max_samples={cap} is fewer than the n_components={k} the initialisation "
                "clusters; raise init_max_samples"
            )

        def draw() -> np.ndarray:
            from pyroclust.datasets.streaming import sample_rows

            return sample_rows(n, cap, self.random_state)

        return np.asarray(session.step(INIT_ROWS_STEP, draw))

    def _init_data(
        self, rows: Any, subset: np.ndarray | None, model: Any, device: torch.device
    ) -> torch.Tensor:
        """The rows ``subset`` of the data (all when None) as a tensor on ``device``."""
        if isinstance(rows, torch.Tensor):
            if subset is None:
                return rows
            return rows[torch.as_tensor(subset, device=rows.device)]
        index = np.arange(len(rows)) if subset is None else subset
        return self._validate(rows.take(index), model).to(device)

    def _objective(
        self,
        model: Any,
        guide: Any,
        rows: Any,
        x_init: torch.Tensor,
        subset: np.ndarray | None,
        start_labels: np.ndarray | None,
    ) -> tuple[Any, Any]:
        """The SVI stage's loss and data: ``loss`` and the rows, or what an objective with
        ``bind`` builds from the start. On data on disk, ``bind`` sees the initialisation's
        rows and their start labels; its data must be those two, and the SVI stage then reads
        every row from disk with every row's start label."""
        loss = self.loss
        if not callable(getattr(loss, "bind", None)):  # a plain objective
            return loss, rows
        # the fast path is offered to bind only when asked for: a bind without it still works
        options = {"jit": self.jit} if self.jit else {}
        if isinstance(rows, torch.Tensor):
            return loss.bind(model, guide, rows, start_labels, **options)
        labels = start_labels if subset is None or start_labels is None else start_labels[subset]
        loss, data = loss.bind(model, guide, x_init, labels, **options)
        if not (isinstance(data, tuple) and len(data) == 2 and data[0] is x_init):
            raise ValueError(
                f"{type(self.loss).__name__}.bind must return (loss, (x, start_labels)) to train "
                "on data on disk; load the data in memory instead"
            )
        return loss, (rows, torch.as_tensor(start_labels, dtype=data[1].dtype))

    def _cluster_labels(self, model: Any, guide: Any, rows: Any) -> np.ndarray:
        """The most probable cluster of each row (of data on disk, chunk by chunk)."""
        device = next(iter(model.parameters())).device

        def labels(part: Any) -> np.ndarray:
            x = part if isinstance(part, torch.Tensor) else torch.from_numpy(part).to(device)
            return predictive.cluster_log_proba(model, guide, x).argmax(1).cpu().numpy()

        return self._chunked(rows, labels)

    def _start_labels(
        self, model: Any, guide: Any, rows: Any, session: FitSession
    ) -> np.ndarray | None:
        """The start's clustering of every row, as the session step ``"start-labels"`` (None
        for a model without a cluster site). The random streams are left as they were, so the
        fit goes on as it would without this step."""
        if not structure.cluster_sites(model):
            return None
        device = next(iter(model.parameters())).device

        def labels() -> np.ndarray:
            with torch.random.fork_rng(devices=_rng_devices(torch.empty(0, device=device))):
                return self._cluster_labels(model, guide, rows).astype(np.int64)

        return np.asarray(session.step(START_LABELS_STEP, labels))

    def _check_params(self) -> None:
        """Check the training options (scikit-learn checks parameters in ``fit``)."""
        checked = [("epochs", 0), ("batch_size", 1), ("num_particles", 1)]
        checked += [(name, 1) for name in ("init_max_samples", "chunk_size")]
        for name, minimum in checked:
            value = getattr(self, name)
            if value is None and name in ("init_max_samples", "chunk_size"):
                continue  # every row; the default chunk
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ValueError(f"{name} must be an integer, got {value!r}")
            if value < minimum:
                raise ValueError(f"{name} must be >= {minimum}, got {value}")
        if not (isinstance(self.lr, (int, float)) and np.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive number, got {self.lr!r}")

    def _prototypes(self, n_features: int, values: Any) -> tuple[Any, Any]:
        """The (model, guide) prototypes to fit: the ones given, or the registry entry named
        by ``model`` built for ``n_features`` (with ``n_components`` and the likelihood the
        data's ``values`` call for, unless ``model_options`` say otherwise)."""
        if not isinstance(self.model, str):
            if self.guide is None:
                raise ValueError(
                    "pass the guide with the model (Clusterer(model, guide)), or name a "
                    "registry architecture as model (e.g. Clusterer('vade'))"
                )
            return self.model, self.guide
        from pyroclust import zoo

        entry = zoo.get(self.model)
        if self.guide is not None:
            raise ValueError(
                f"guide must be None when model is the registry name {self.model!r}: the "
                "entry builds both"
            )
        options = dict(self.model_options or {})
        unknown = sorted(set(options) - set(entry.parameters))
        if unknown:
            raise ValueError(
                f"model_options {unknown} are not options of {entry.name!r}; it takes "
                f"{sorted(entry.parameters)}"
            )
        if entry.accepts("n_components"):
            k = self.n_components
            if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
                raise ValueError(f"n_components must be an integer >= 1, got {k!r}")
            options.setdefault("n_components", int(k))
        if entry.accepts("likelihood"):
            options.setdefault("likelihood", zoo.likelihood_for(values))
        seed_everything(self.random_state)  # the networks' initial weights too
        return zoo.make(entry.name, n_features, **options)

    def _finish(
        self,
        rows: Any,
        session: FitSession | None = None,
        *,
        strict: bool = True,
        start_labels: np.ndarray | None = None,
    ) -> None:
        """Set the learned attributes from the fit's stages. With ``strict=False`` (after a
        stopped fit) the labels and weights are set only when they can be computed."""
        for name in ("start_labels_", "start_agreement_"):
            if hasattr(self, name):  # nothing left over from an earlier fit
                delattr(self, name)
        trainer = self.trainer_
        self.history_ = [] if trainer is None else list(trainer.history)
        self.stage_history_ = (
            []
            if session is None
            else [
                {"stage": name, **row} for name, t in session.trainers.items() for row in t.history
            ]
        )
        self.elbo_ = self.history_[-1]["elbo"] if self.history_ else float("nan")
        self.n_iter_ = 0 if trainer is None else trainer.epoch
        if structure.cluster_sites(self.model_):  # a mixture: has clusters
            try:
                self.labels_ = self._cluster_labels(self.model_, self.guide_, rows)
                if start_labels is not None:
                    from pyroclust.metrics import ari

                    self.start_labels_ = start_labels
                    self.start_agreement_ = ari(start_labels, self.labels_)
                if structure.weight_priors(self.model_):
                    self.weights_ = self._weights()
            except Exception:
                if strict:
                    raise

    def _weights(self, site: str | None = None) -> np.ndarray:
        """Point summary of the mixture weights of cluster site ``site`` (the first): the
        posterior mean when the prior has latent sites, else the prior's value."""
        name = structure.cluster_site(self.model_, site).name
        prior = structure.weight_priors(self.model_).get(name)
        if prior is None:
            raise ValueError(f"cluster site {name!r} has no weight prior")
        source = structure.weight_guides(self.guide_).get(name, prior)
        with local_params(), torch.no_grad():
            return source.mean().detach().cpu().double().numpy()

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError(f"this {type(self).__name__} is not fitted; call fit first")

    def _input(self, X: Any) -> torch.Tensor:
        self._check_fitted()
        check_feature_names(X, getattr(self, "feature_names_in_", None), estimator="Clusterer")
        device = next(iter(self.model_.parameters())).device
        return self._validate(X, self.model_).to(device)

    # --------------------------------------------------------------- predicting
    def predict_proba(self, X: Any, *, site: str | None = None) -> np.ndarray:
        """p(y = k | x) for each row, for the cluster site ``site`` (the model's first by
        default): ndarray of shape (n_samples, n_components).

        Exact enumeration in log space where the model enumerates the site (given the
        guide's mean code); the guide's q(y | x) where the guide holds it (see
        :func:`pyroclust.predictive.cluster_log_proba`).
        """
        return np.exp(self.predict_log_proba(X, site=site))

    def predict_log_proba(self, X: Any, *, site: str | None = None) -> np.ndarray:
        """log p(y = k | x) for the cluster site ``site``: ndarray (n_samples, n_components).

        ``X`` may live on disk (a ``np.memmap`` or a
        :class:`~pyroclust.datasets.streaming.ArrayStream`): it is then read in chunks, never
        whole, as in :meth:`transform`."""

        def log_proba(part: Any) -> np.ndarray:
            x = self._input(part)
            lp = predictive.cluster_log_proba(self.model_, self.guide_, x, site=site)
            return lp.double().cpu().numpy()

        return self._chunked(X, log_proba)

    def _chunked(self, X: Any, fn: Any) -> Any:
        """``fn(X)``, computed chunk by chunk when ``X`` is streamed from disk (its results,
        arrays or dicts of arrays, joined row-wise), so that ``X`` is never loaded whole."""
        from pyroclust.datasets import streaming

        if not streaming.is_streamed(X):
            return fn(X)
        parts = [fn(chunk) for chunk in streaming.iter_chunks(X, self._chunk_size())]
        if not parts:  # no rows: the usual one-line error
            return fn(np.empty((0, X.shape[1]), np.float32))
        if isinstance(parts[0], dict):
            return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
        return np.concatenate(parts)

    def predict(self, X: Any, *, site: str | None = None) -> np.ndarray:
        """Most probable cluster of each row for the cluster site ``site`` (the first by
        default): ndarray of shape (n_samples,). ``X`` on disk is read in chunks."""

        def labels(part: Any) -> np.ndarray:
            x = self._input(part)
            return predictive.cluster_log_proba(self.model_, self.guide_, x, site=site).argmax(1)

        return self._chunked(X, lambda part: labels(part).cpu().numpy())

    @property
    def cluster_sites_(self) -> tuple[Any, ...]:
        """The fitted model's cluster sites (:class:`~pyroclust.structure.ClusterSite`)."""
        self._check_fitted()
        return structure.cluster_sites(self.model_)

    def fit_predict(self, X: Any, y: Any = None, **kwargs: Any) -> np.ndarray:
        """Fit and return ``labels_`` (equal to ``fit(X).predict(X)``)."""
        return self.fit(X, **kwargs).labels_

    def transform(self, X: Any) -> np.ndarray:
        """Latent means E_q[z | x] of every declared code, side by side in the model's
        ``latent_sites`` order: ndarray of shape (n_samples, total code width) (for a
        one-code model, (n_samples, latent_dim)). :meth:`codes` gives them by name."""
        return np.concatenate(list(self.codes(X).values()), axis=1)

    def codes(self, X: Any) -> dict[str, np.ndarray]:
        """The guide's point value of each declared latent code, by site name: each an
        ndarray of shape (n_samples, code_dim). ``X`` on disk is read in chunks."""

        def codes(part: Any) -> dict[str, np.ndarray]:
            x = self._input(part)
            out = predictive.codes(self.model_, self.guide_, x)
            return {name: value.double().cpu().numpy() for name, value in out.items()}

        return self._chunked(X, codes)

    def reconstruct(
        self, X: Any, *, component: int | None = None, site: str | None = None
    ) -> np.ndarray:
        """E[x | codes of x], the model replayed at the guide's point values and read at the
        likelihood's mean: ndarray of shape (n_samples, n_features). With ``component``,
        each row's codes are decoded with the cluster site ``site`` (the first) fixed at that
        component (a style-transfer row; see :func:`pyroclust.predictive.reconstruct`).
        ``X`` on disk is read in chunks."""

        def reconstruct(part: Any) -> np.ndarray:
            x = self._input(part)
            out = predictive.reconstruct(
                self.model_, self.guide_, x, component=component, site=site
            )
            return out.double().cpu().numpy()

        return self._chunked(X, reconstruct)

    def sample(
        self, n_samples: int = 1, *, component: int | None = None, site: str | None = None
    ) -> np.ndarray:
        """Generate ``n_samples`` items (the likelihood's mean), from cluster ``component`` of
        the cluster site ``site`` (the first) when given; the weights are drawn from their
        posterior: ndarray of shape (n_samples, n_features)."""
        self._check_fitted()
        draws = predictive.sample(
            self.model_, int(n_samples), component=component, site=site, guide=self.guide_
        )
        return draws["x"].double().cpu().numpy()

    @torch.no_grad()
    def score(self, X: Any, y: Any = None, *, num_particles: int = 1) -> float:
        """Mean ELBO per data point of ``X`` (higher is better), a lower bound on
        log p(x) averaged over rows. A Monte-Carlo estimate with ``num_particles`` draws,
        seeded from ``random_state`` (repeatable; the global random stream is left alone).

        ``X`` on disk is read in chunks; with ``chunk_size`` a multiple of 4,096 the estimate
        equals the in-memory one (the same batches draw the same noise)."""
        from pyroclust.datasets import streaming

        if streaming.is_streamed(X):
            n = len(X)
            blocks = (self._input(c) for c in streaming.iter_chunks(X, self._chunk_size()))
        else:
            x = self._input(X)
            n, blocks = len(x), iter([x])
        first = next(blocks, None)
        if first is None:  # no rows: the usual one-line error
            self._input(np.empty((0, self.n_features_in_), np.float32))
        seed = 0 if self.random_state is None else int(self.random_state)
        # a Monte-Carlo estimate: repeatable (seeded from random_state), the global stream kept
        with (
            torch.random.fork_rng(devices=_rng_devices(first)),
            local_params(),
            predictive.evaluating(self.model_, self.guide_),
        ):
            torch.manual_seed(seed)
            elbo = make_elbo(
                self.model_, first[:2], guide=self.guide_, data_size=n, num_particles=num_particles
            )
            total = 0.0
            # each batch, scaled to the n rows, is an estimate of the whole ELBO with the
            # global terms (the weights' KL) once; weighting by its share counts them once
            for x in itertools.chain([first], blocks):
                for xb in torch.split(x, 4096):
                    loss = float(elbo.loss(self.model_, self.guide_, xb, data_size=n))
                    total += loss * len(xb) / n
        return -total / n

    # --------------------------------------------------------------- persistence
    def save(self, path: str | os.PathLike) -> None:
        """Write the fitted model and guide (and their zoo spec when built by
        :func:`pyroclust.zoo.make`) to ``path``; read back with :meth:`load`.

        Under a process group (``torchrun``) every rank holds the same fitted parameters:
        rank 0 writes the file and the others wait for it (a barrier), so each rank must call
        ``save`` and none reads a half-written file."""
        from pyroclust.infer import distributed

        self._check_fitted()
        if distributed.is_main_process():
            self._write(path)
        distributed.barrier()

    def _write(self, path: str | os.PathLike) -> None:
        """Write the checkpoint of :meth:`save` (on this process)."""
        save_checkpoint(
            path,
            ESTIMATOR_KIND,
            {
                "model_class": type(self.model_).__qualname__,
                "guide_class": type(self.guide_).__qualname__,
                "spec": getattr(self.model_, "zoo_spec", None),
                "model": self.model_.state_dict(),
                "guide": self.guide_.state_dict(),
                "guide_has_weights": getattr(self.guide_, "weights", None) is not None,
                "history": self.history_,
                # the fit's clusterings (int64 tensors: a weights_only load reads them)
                **{
                    key: torch.as_tensor(np.asarray(getattr(self, key + "_")), dtype=torch.int64)
                    for key in ("labels", "start_labels")
                    if getattr(self, key + "_", None) is not None
                },
                "start_agreement": getattr(self, "start_agreement_", None),
                "n_features_in": self.n_features_in_,
                "feature_names_in": (
                    None
                    if getattr(self, "feature_names_in_", None) is None
                    else [str(name) for name in self.feature_names_in_]
                ),
            },
        )

    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        model: Any = None,
        guide: Any = None,
        *,
        device: str = "auto",
    ) -> Clusterer:
        """Load an estimator written by :meth:`save`.

        ``model`` and ``guide`` prototypes are needed only when the checkpoint was not made
        from a zoo model (no spec). Raises :class:`~pyroclust.exceptions.CheckpointError`
        for a missing, corrupt, tampered or mismatched checkpoint.
        """
        payload = load_checkpoint(path, ESTIMATOR_KIND)
        if model is None or guide is None:
            spec = payload.get("spec")
            if spec is None:
                raise CheckpointError(
                    f"{str(path)!r} was not made from a zoo model; pass the model and guide "
                    "prototypes to Clusterer.load(path, model, guide)"
                )
            from pyroclust import zoo

            try:
                model, guide = zoo.make(**spec)
            except (TypeError, ValueError, KeyError) as err:
                raise CheckpointError(
                    f"{str(path)!r} is malformed: its model spec cannot be rebuilt "
                    f"({str(err).splitlines()[0]}); was it written by another pyroclust?"
                ) from err
        for key, obj in (("model_class", model), ("guide_class", guide)):
            if payload.get(key) != type(obj).__qualname__:
                raise CheckpointError(
                    f"{str(path)!r} holds a {payload.get(key)!r}, not a {type(obj).__qualname__!r}"
                )
        est = cls(model, guide, device=device, progress=False)
        dev = resolve_device(device)
        model_, guide_ = copy.deepcopy(model), copy.deepcopy(guide)
        structure.attach_weight_guides(model_, guide_)  # as fit does
        try:
            model_.load_state_dict(payload["model"])
            guide_.load_state_dict(payload["guide"])
        except (KeyError, RuntimeError) as err:
            raise CheckpointError(
                f"{str(path)!r} does not fit this model and guide: {str(err).splitlines()[0]}"
            ) from err
        est.model_, est.guide_ = model_.to(dev), guide_.to(dev)
        est.history_ = list(payload["history"])
        est.elbo_ = est.history_[-1]["elbo"] if est.history_ else float("nan")
        est.n_iter_ = len(est.history_)
        est.n_features_in_ = int(payload["n_features_in"])
        for key in ("labels", "start_labels"):  # absent from older checkpoints
            if payload.get(key) is not None:
                setattr(est, key + "_", payload[key].cpu().numpy())
        if payload.get("start_agreement") is not None:
            est.start_agreement_ = float(payload["start_agreement"])
        names = payload.get("feature_names_in")
        if names is not None:
            est.feature_names_in_ = np.asarray(names, dtype=object)
        if structure.cluster_sites(model_) and structure.weight_priors(model_):
            est.weights_ = est._weights()
        return est

    # --------------------------------------------------------------- posterior over weights
    def weights_posterior(
        self, num_samples: int = 1000, random_state: int | None = None, *, site: str | None = None
    ) -> Any:
        """Draws from the posterior over the mixture weights of cluster site ``site`` (the
        first) as an ArviZ container (see :func:`pyroclust.inspect.weights_posterior`; a point
        mass for point-estimate priors)."""
        from pyroclust import inspect

        self._check_fitted()
        return inspect.weights_posterior(
            self.model_, self.guide_, num_samples, random_state, site=site
        )

    def expected_n_clusters(
        self,
        X: Any = None,
        *,
        threshold: float | None = None,
        num_samples: int = 1000,
        random_state: int | None = None,
    ) -> float:
        """Posterior expected number of clusters in use: with ``X``, of clusters given at least
        one row; without, of weights above ``threshold`` (see
        :func:`pyroclust.inspect.expected_n_clusters`). ``X`` on disk (a memory map or an
        :class:`~pyroclust.datasets.streaming.ArrayStream`) is read in chunks: the log of
        the probability that no row joins cluster k is summed chunk by chunk."""
        from pyroclust import inspect
        from pyroclust.datasets import streaming

        self._check_fitted()
        if X is not None and streaming.is_streamed(X):
            # inspect's exact sum_k (1 - prod_n (1 - r_nk)), its product in log space
            log_none = torch.zeros((), dtype=torch.float64)
            for log_r in self._log_proba_chunks(X):
                log_r = torch.as_tensor(log_r, dtype=torch.float64)
                log_none = log_none + torch.log(-torch.expm1(log_r.clamp_max(-1e-300))).sum(0)
            return float((1.0 - log_none.exp()).sum())
        x = self._input(X) if X is not None else None
        return inspect.expected_n_clusters(
            self.model_,
            self.guide_,
            x,
            threshold=threshold,
            num_samples=num_samples,
            random_state=random_state,
        )

    def cluster_sizes_posterior(
        self, X: Any, num_samples: int = 1000, random_state: int | None = None
    ) -> Any:
        """Posterior over the cluster sizes of ``X`` as an ArviZ container (see
        :func:`pyroclust.inspect.cluster_sizes_posterior`).

        ``X`` on disk is read in chunks, each row's assignment drawn from the random stream
        at the place the in-memory draw takes it (the stream of ``random_state`` advanced
        to that row of that draw), so the draws equal the in-memory ones where the
        posteriors do (with ``chunk_size`` a multiple of 4,096, exactly)."""
        from pyroclust import inspect
        from pyroclust.datasets import streaming

        if streaming.is_streamed(X):
            sizes = self._streamed_cluster_sizes(X, int(num_samples), random_state)
            return inspect.to_arviz(
                {"cluster_size": sizes[None]},
                coords={"component": np.arange(sizes.shape[1])},
                dims={"cluster_size": ["component"]},
            )
        x = self._input(X)
        return inspect.cluster_sizes_posterior(
            self.model_, self.guide_, x, num_samples, random_state
        )

    def _log_proba_chunks(self, X: Any) -> Any:
        """log p(y = k | x) of the first cluster site for the rows of ``X`` on disk, one
        float64 array (rows, n_components) per chunk of ``chunk_size`` rows."""
        from pyroclust.datasets import streaming

        self._check_fitted()
        chunks = iter(streaming.iter_chunks(X, self._chunk_size()))
        first = next(chunks, None)
        if first is None:  # no rows: the usual one-line error
            self._input(np.empty((0, X.shape[1]), np.float32))
        for chunk in itertools.chain([first], chunks):
            yield self.predict_log_proba(chunk)

    def _streamed_cluster_sizes(
        self, X: Any, num_samples: int, random_state: int | None
    ) -> np.ndarray:
        """The draws of :func:`pyroclust.inspect.cluster_sizes_posterior` (shape
        (num_samples, n_components)) for ``X`` on disk, chunk by chunk. In memory, draw s
        takes the ``n`` uniforms after the first ``s * n`` of the stream
        ``default_rng(random_state)`` (one 64-bit step each); a chunk's rows ``start:stop``
        take theirs from that stream advanced to ``s * n + start``."""
        if num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}")
        seed = np.random.SeedSequence(random_state)  # one seed for every chunk
        n, start, sizes = len(X), 0, None
        for log_r in self._log_proba_chunks(X):
            cum = np.cumsum(np.exp(log_r), axis=1)
            cum /= cum[:, -1:]
            m, k = cum.shape
            if sizes is None:
                sizes = np.zeros((num_samples, k), dtype=np.int64)
            bits = np.random.PCG64(seed)
            bits.advance(start)
            rng = np.random.Generator(bits)
            for s in range(num_samples):
                u = rng.random((m, 1))
                sizes[s] += np.bincount(np.minimum((cum < u).sum(1), k - 1), minlength=k)
                bits.advance(n - m)  # to this chunk's rows in the next draw
            start += m
        return sizes
