"""The k-DVAE start: VaDE, k-means on its codes, each autoencoder pretrained on its cluster."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from pyroclust.infer.init.base import labels_of_few_rows, too_few_distinct_rows
from pyroclust.infer.init.gmm import GMMInit
from pyroclust.infer.session import FitSession, run_init

VADE_STEP = "vade"
START_STEP = "start"
PRETRAIN_STAGE = "pretrain"
CLASSIFY_STAGE = "classify"
#: Where the starting clusters come from: k-means on VaDE's codes (the paper), or VaDE's own.
CLUSTERINGS = ("kmeans", "posterior")
#: What each autoencoder is pretrained on in its cluster: the reconstruction, or its ELBO.
PRETRAIN_OBJECTIVES = ("reconstruction", "elbo")

#: VaDE's training when none is given: the estimator's defaults with the VaDE paper's start.
DEFAULT_VADE_TRAINING: dict[str, Any] = {"epochs": 100, "batch_size": 256, "lr": 1e-3}


def paper_vade(
    n_features: int,
    n_components: int = 10,
    latent_dim: int = 10,
    *,
    likelihood: str = "bernoulli",
    hidden: Sequence[int] = (500, 500, 2000),
) -> tuple[Any, Any]:
    """VaDE with the paper's networks (encoder D-500-500-2000-d, decoder mirrored, learned
    weights): the builder used when :class:`MixtureOfAutoencodersInit` is given none. Its
    signature is the registry builder's (``pyroclust.zoo.build_vade``), which the registry
    passes instead."""
    from pyroclust import guides, likelihoods, models
    from pyroclust.nn import MLP

    hidden = [int(h) for h in hidden]
    lik = (
        likelihoods.Bernoulli()
        if likelihood == "bernoulli"
        else likelihoods.Gaussian(learn_scale=True, n_features=n_features)
    )
    model = models.VaDE(
        n_components,
        latent_dim,
        decoder=MLP([latent_dim, *reversed(hidden), n_features]),
        likelihood=lik,
    )
    guide = guides.VaDEGuide(MLP([n_features, *hidden], output_activation=nn.ReLU), latent_dim)
    return model, guide


def likelihood_name(model: Any) -> str:
    """``"bernoulli"`` for a model whose likelihood has support [0, 1], else ``"gaussian"``."""
    return "bernoulli" if getattr(model.likelihood, "support", "real") == "unit" else "gaussian"


@dataclass
class MixtureOfAutoencodersInit:
    """The start of k-DVAE (Caciularu & Goldberger, Sec. 4.2) and k-DAE: VaDE, k-means on its
    codes, then each autoencoder pretrained on its cluster; joint training follows.

    Stages, each run through the fit's :class:`~pyroclust.infer.FitSession` (so a resumed
    fit skips those done):

    1. ``"vade"`` (a step): fit VaDE to the data with ``vade_training`` and keep its codes,
       the guide's means (n_samples, d), and its own clustering. The VaDE runs in a session
       of its own (its stages are not checkpointed one by one: an interrupted start reruns
       VaDE) and is dropped
       afterwards: "this architecture was used only in this initialisation step";
    2. ``"start"`` (a step): k-means with K clusters on the codes (the paper;
       ``clustering="kmeans"``) or VaDE's own clustering, the argmax of its posterior over
       clusters (``clustering="posterior"``); the weight prior (and its variational posterior)
       starts at the cluster proportions (clusters renumbered largest first when the prior
       is ordered, e.g. Zipf);
    3. ``"pretrain"`` (a training stage, ``pretrain_epochs``): autoencoder i trained on the
       rows of cluster i only (:class:`~pyroclust.models.kdvae.ClusterReconstructionLoss`:
       all K networks run batched, each row's loss is read at its own cluster's) on its
       reconstruction (``objective="reconstruction"``) or on its ELBO, as a VAE
       (``objective="elbo"``), and q(y | x) fitted to the labels (``classifier=True``);
    4. ``"classify"`` (a training stage, ``classifier_epochs``; none by default): q(y | x)
       alone trained further on the labels (:class:`~pyroclust.models.kdvae.ClassifierLoss`)
       until it reproduces ``classifier_until`` of them
       (:class:`~pyroclust.infer.init.align.AgreementStop`). Stage 3 fits q(y | x) only for as
       long as the autoencoders pretrain, which on many rows leaves it short of the labels
       (MNIST: VaDE's clusters 0.967, q(y | x) after stage 3 0.956); a classifier epoch costs
       a small share of a stage-3 epoch.

    The paper states stages 1, 2 and joint training; stage 3 (each autoencoder pretrained on
    its initial cluster) is from the issue that specifies this zoo's k-DVAE, and is the
    k-DAE paper's start.

    Parameters
    ----------
    pretrain_epochs : int
        Epochs of stage 3 (0: skip it).
    batch_size, lr : int, float
        Of stage 3.
    classifier : bool
        Also fit q(y | x) to the k-means labels in stage 3.
    vade_build : callable, optional
        ``vade_build(n_features, n_components=K, likelihood=NAME, **vade_options) ->
        (model, guide)``; the registry passes its own VaDE builder. :func:`paper_vade` by
        default. The likelihood follows the k-DVAE model's (``"bernoulli"`` for data in
        [0, 1], else ``"gaussian"``).
    vade_options : dict, optional
        Further builder options (``latent_dim``, ``hidden``...).
    vade_training : dict or callable ``n_samples -> dict``, optional
        VaDE's recipe: the keyword arguments of its SVI stage
        (:class:`~pyroclust.infer.SVITrainer`'s ``epochs``, ``batch_size``, ``lr``,
        ``lr_schedule``, ``callbacks``...) and ``init``, its start (:class:`GMMInit` when
        absent; an objective with ``bind``, such as
        :class:`~pyroclust.regularizers.StartAgreement`, is bound to VaDE's start as the
        estimator binds it). The registry passes VaDE's tuned recipe within k-DVAE's step
        budgets (``pyroclust.zoo.kdvae_vade_training(n, image_shape)``);
        :data:`DEFAULT_VADE_TRAINING` with :class:`GMMInit` when None.
    kmeans_n_init : int
        Restarts of k-means.
    clustering : {"kmeans", "posterior"}
        Where stage 2's clusters come from: k-means on VaDE's codes (the paper) or VaDE's
        own clustering.
    objective : {"reconstruction", "elbo"}
        What each autoencoder is pretrained on in stage 3
        (:class:`~pyroclust.models.kdvae.ClusterReconstructionLoss`).
    classifier_epochs : int
        Most epochs of stage 4, q(y | x) alone fitted to the labels (0: skip it; also
        skipped with ``classifier=False``).
    classifier_until : float
        Stage 4 stops once q(y | x)'s argmax reproduces this share of the labels, in (0, 1].

    Examples
    --------
    >>> from pyroclust.infer.init import GMMInit
    >>> start = MixtureOfAutoencodersInit(
    ...     pretrain_epochs=20,
    ...     vade_options={"latent_dim": 2, "hidden": (16,)},
    ...     vade_training={"epochs": 5, "init": GMMInit(pretrain_epochs=10)},
    ... )
    """

    pretrain_epochs: int = 50
    batch_size: int = 256
    lr: float = 1e-3
    classifier: bool = True
    vade_build: Callable[..., tuple[Any, Any]] | None = None
    vade_options: dict[str, Any] | None = None
    vade_training: dict[str, Any] | Callable[[int], dict[str, Any]] | None = None
    kmeans_n_init: int = 10
    clustering: str = "kmeans"
    objective: str = "reconstruction"
    classifier_epochs: int = 0
    classifier_until: float = 1.0
    #: Filled by a call: per stage (``"vade"``, ``"start"``, ``"pretrain"``, ``"classify"``)
    #: its wall-clock ``"seconds"``, its ``"cpu_seconds"`` (this process's CPU time, all its
    #: threads) and the clustering it leaves (``"labels"``: VaDE's own, the starting clusters,
    #: q(y | x)'s argmax after pretraining and after stage 4), to report what each stage
    #: contributes and costs.
    stages_: dict[str, dict[str, Any]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if self.clustering not in CLUSTERINGS:
            raise ValueError(
                f"clustering must be one of {', '.join(CLUSTERINGS)}, got {self.clustering!r}"
            )
        if self.objective not in PRETRAIN_OBJECTIVES:
            raise ValueError(
                f"objective must be one of {', '.join(PRETRAIN_OBJECTIVES)}, got {self.objective!r}"
            )
        if int(self.classifier_epochs) < 0:
            raise ValueError(f"classifier_epochs must be >= 0, got {self.classifier_epochs!r}")
        if not 0.0 < float(self.classifier_until) <= 1.0:
            raise ValueError(f"classifier_until must lie in (0, 1], got {self.classifier_until!r}")

    # ------------------------------------------------------------------ stages
    def recipe(self, n_samples: int) -> dict[str, Any]:
        """VaDE's training options for ``n_samples`` rows (a copy), ``init`` included."""
        given = self.vade_training
        if callable(given):
            given = given(int(n_samples))
        recipe = dict(DEFAULT_VADE_TRAINING if given is None else given)
        if recipe.get("init") is None:
            recipe["init"] = GMMInit()
        return recipe

    def vade_start(
        self,
        model: Any,
        x: torch.Tensor,
        random_state: int | None = None,
        progress: bool = False,
    ) -> dict[str, np.ndarray]:
        """Stage 1: fit VaDE to ``x``; return its codes (``"codes"``, the guide's means,
        float64 (n_samples, d)), its own clustering (``"labels"``, the argmax of its
        posterior over clusters, int64 (n_samples,)) and its start's (``"start_labels"``,
        the same argmax before SVI)."""
        from pyroclust import structure
        from pyroclust.infer.elbo import local_params, rng_devices
        from pyroclust.predictive import cluster_log_proba, codes

        build = self.vade_build if self.vade_build is not None else paper_vade
        options = dict(self.vade_options or {})
        options.setdefault("likelihood", likelihood_name(model))
        vade, vade_guide = build(x.shape[1], n_components=int(model.n_components), **options)
        vade, vade_guide = vade.to(x.device), vade_guide.to(x.device)
        structure.attach_weight_guides(vade, vade_guide)
        vade_guide.to(x.device)
        recipe = self.recipe(len(x))
        init = recipe.pop("init")
        session = FitSession(
            vade, vade_guide, random_state=random_state, progress=progress, device=x.device
        )
        with local_params():
            run_init(
                init, vade, vade_guide, x, session, random_state=random_state, progress=progress
            )
            data: Any = x
            # VaDE's start, its clusters before SVI, drawn on a fork of the stream
            with torch.random.fork_rng(devices=rng_devices()):
                start = cluster_log_proba(vade, vade_guide, x).argmax(-1).cpu().numpy()
            loss = recipe.get("loss")
            if callable(getattr(loss, "bind", None)):
                # an objective built from VaDE's start (StartAgreement), bound to it as the
                # estimator binds it
                recipe["loss"], data = loss.bind(vade, vade_guide, x, start)
            session.train("svi", data, **recipe)
            z = codes(vade, vade_guide, x)["z"]
            labels = cluster_log_proba(vade, vade_guide, x).argmax(-1)
        return {
            "codes": z.double().cpu().numpy(),
            "labels": labels.cpu().numpy().astype(np.int64),
            "start_labels": start.astype(np.int64),
        }

    def vade_codes(
        self,
        model: Any,
        x: torch.Tensor,
        random_state: int | None = None,
        progress: bool = False,
    ) -> np.ndarray:
        """Stage 1's codes alone, float64 (n_samples, d) (see :meth:`vade_start`)."""
        return self.vade_start(model, x, random_state, progress)["codes"]

    def start(
        self,
        model: Any,
        guide: Any,
        codes: np.ndarray,
        random_state: int | None = None,
        vade_labels: np.ndarray | None = None,
    ) -> np.ndarray:
        """Stage 2: the starting clusters (int64, (n_samples,)): k-means on ``codes``, or
        VaDE's own labels ``vade_labels`` with ``clustering="posterior"``; the weight prior (and
        q's) start at the cluster proportions."""
        k = int(model.n_components)
        if self.clustering == "posterior":
            if vade_labels is None:
                raise ValueError("clustering='posterior' needs VaDE's labels (vade_labels=)")
            labels = np.asarray(vade_labels)
        elif too_few_distinct_rows(codes, k):
            labels = labels_of_few_rows(codes, k, random_state)
        else:
            from sklearn.cluster import KMeans

            labels = KMeans(k, n_init=self.kmeans_n_init, random_state=random_state).fit_predict(
                codes
            )
        labels = np.asarray(labels, dtype=np.int64)
        counts = np.bincount(labels, minlength=k).astype(float)
        if getattr(model.weights, "ordered", False):  # component 0 the largest
            order = np.argsort(-counts, kind="stable")
            labels = np.argsort(order)[labels]
            counts = counts[order]
        pi = np.maximum(counts, 1.0)
        pi = torch.as_tensor(pi / pi.sum(), dtype=torch.float32)
        device = next(iter(model.parameters()), torch.empty(0)).device
        model.weights.set_weights(pi.to(device))
        guide_weights = getattr(guide, "weights", None)
        if guide_weights is not None:
            guide_weights.set_weights(pi.to(device), n_samples=len(labels))
        return labels

    def pretrain(
        self,
        model: Any,
        guide: Any,
        x: torch.Tensor,
        labels: np.ndarray | torch.Tensor,
        session: FitSession,
        random_state: int | None = None,
        progress: bool = False,
    ) -> list[float]:
        """Stage 3: each autoencoder (and q(y | x)) trained on its cluster's rows; returns
        the mean loss per row of each epoch."""
        from pyroclust.models.kdvae import ClusterReconstructionLoss

        params = [*guide.encoder.parameters(), *model.decoder.parameters()]
        if self.classifier:
            params += list(guide.classifier.parameters())
        loss = ClusterReconstructionLoss(classifier=self.classifier, objective=self.objective)
        return self._train_on_labels(
            PRETRAIN_STAGE,
            loss,
            params,
            self.pretrain_epochs,
            x,
            labels,
            session,
            random_state=random_state,
            progress=progress,
        )

    def fit_classifier(
        self,
        model: Any,
        guide: Any,
        x: torch.Tensor,
        labels: np.ndarray | torch.Tensor,
        session: FitSession,
        random_state: int | None = None,
        progress: bool = False,
    ) -> list[float]:
        """Stage 4: q(y | x) alone trained on the labels for at most ``classifier_epochs``
        epochs, until its argmax reproduces ``classifier_until`` of them (each epoch's share
        is kept as ``"agreement"`` in the stage's history); returns the mean loss per row of
        each epoch."""
        from pyroclust.infer.init.align import AgreementStop
        from pyroclust.models.kdvae import ClassifierLoss

        def labels_of(model_: Any, guide_: Any, rows: torch.Tensor) -> torch.Tensor:
            return torch.cat([guide_.cluster_logits(b).argmax(-1) for b in rows.split(4096)])

        target = torch.as_tensor(labels, dtype=torch.long, device=x.device)
        stop = AgreementStop(
            x, target, self.classifier_until, labels_of=labels_of, random_state=random_state
        )
        params = list(guide.classifier.parameters())
        return self._train_on_labels(
            CLASSIFY_STAGE,
            ClassifierLoss(),
            params,
            int(self.classifier_epochs),
            x,
            target,
            session,
            random_state=random_state,
            progress=progress,
            callbacks=[stop],
        )

    def _train_on_labels(
        self,
        stage: str,
        loss: Any,
        params: list[Any],
        epochs: int,
        x: torch.Tensor,
        labels: np.ndarray | torch.Tensor,
        session: FitSession,
        *,
        random_state: int | None,
        progress: bool,
        callbacks: Sequence[Any] = (),
    ) -> list[float]:
        """Train ``params`` on ``loss`` over the data ``(x, labels)`` as the training stage
        ``stage`` of ``session`` (this start's batch size and rate); the mean loss per row of
        each epoch."""
        labels = torch.as_tensor(labels, dtype=torch.long, device=x.device)
        trainer = session.train(
            stage,
            (x, labels),
            loss=loss,
            params=params,
            epochs=epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            random_state=random_state,
            progress=progress,
            callbacks=list(callbacks),
        )
        return [-row["elbo"] for row in trainer.history]

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
        """Run the stages on ``model`` and ``guide`` (a k-DVAE or k-DAE pair) with the
        data ``x`` of shape (n_samples, n_features), in ``session`` (a fresh one without a
        checkpoint when None)."""
        if session is None:
            session = FitSession(
                model, guide, random_state=random_state, progress=progress, device=x.device
            )
        self.stages_ = {}
        clock = _StageClock()
        vade = session.step(VADE_STEP, lambda: self.vade_start(model, x, random_state, progress))
        self.stages_[VADE_STEP] = {**clock.lap(), "labels": np.asarray(vade["labels"])}
        if "start_labels" in vade:  # absent from a checkpoint written before it was kept
            self.stages_[VADE_STEP]["start_labels"] = np.asarray(vade["start_labels"])
        labels = session.step(
            START_STEP,
            lambda: self.start(
                model,
                guide,
                np.asarray(vade["codes"]),
                random_state,
                vade_labels=np.asarray(vade["labels"]),
            ),
        )
        self.stages_[START_STEP] = {**clock.lap(), "labels": labels}

        def record(stage: str) -> None:
            lap = clock.lap()  # the clustering below is the report's, not the stage's
            self.stages_[stage] = {**lap, "labels": predicted_labels(model, guide, x)}
            clock.lap()

        if self.pretrain_epochs > 0:
            self.pretrain(model, guide, x, labels, session, random_state, progress)
            record(PRETRAIN_STAGE)
        if self.classifier and self.classifier_epochs > 0:
            self.fit_classifier(model, guide, x, labels, session, random_state, progress)
            record(CLASSIFY_STAGE)


class _StageClock:
    """Wall-clock and CPU seconds since the last lap (or since it was made)."""

    def __init__(self) -> None:
        self._wall, self._cpu = time.perf_counter(), time.process_time()

    def lap(self) -> dict[str, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        out = {"seconds": wall - self._wall, "cpu_seconds": cpu - self._cpu}
        self._wall, self._cpu = wall, cpu
        return out


def predicted_labels(model: Any, guide: Any, x: torch.Tensor) -> np.ndarray:
    """The pair's clustering of ``x`` as ``predict`` gives it (int64, (n_samples,)), the
    random streams left as they were."""
    from pyroclust.predictive import cluster_log_proba

    devices = [x.device] if x.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        lp = cluster_log_proba(model, guide, x)
    return lp.argmax(-1).cpu().numpy().astype(np.int64)


__all__ = [
    "DEFAULT_VADE_TRAINING",
    "MixtureOfAutoencodersInit",
    "likelihood_name",
    "paper_vade",
]
