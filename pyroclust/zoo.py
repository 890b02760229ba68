"""The zoo's explicit registry: architecture name -> :class:`Architecture`.

An entry owns everything that is particular to one architecture: its builder of a
``(model, guide)`` pair (which chooses the paper's default networks from the data's width, so
the command line and quick experiments need only a name), a one-line description and the paper,
its default initialisation, its tuned training recipe, and the builder options a user may set
from text (the command line generates ``pyroclust fit NAME --help`` from them). Code above the
registry reads these fields and never branches on a name.

Registering a new architecture is one entry::

    ZOO["gmvae"] = Architecture(
        name="gmvae",
        build=build_gmvae,  # build(n_features, **options) -> (model, guide)
        description="Gaussian-mixture VAE, cluster inferred in the guide",
        paper="Dilokthanakul et al., 2016",
        options=(N_COMPONENTS, LATENT_DIM, HIDDEN),
        init=RandomInit,
    )

Each built model carries ``zoo_spec`` (the builder's arguments, plain JSON), which is what lets
a saved estimator be rebuilt from its checkpoint.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from torch import nn

from pyroclust import components, guides, likelihoods, models, priors, structure
from pyroclust.infer.freebits import FreeBits
from pyroclust.infer.init import (
    GMMInit,
    ManifoldInit,
    MixtureOfAutoencodersInit,
    RandomInit,
    SelfLabelling,
)
from pyroclust.infer.init.layerwise import LayerwiseStart, SiteRange
from pyroclust.infer.init.sites import SitesAgreement
from pyroclust.infer.schedules import StepDecay, TemperatureAnnealing
from pyroclust.infer.trainer import EarlyStopping
from pyroclust.models.gmvae import CLUSTER_TREATMENTS, check_cluster
from pyroclust.models.kdae import MinReconstructionLoss
from pyroclust.nn import MLP, ColourView, RandomAffine, ShapeView
from pyroclust.nn.conv import check_image_shape
from pyroclust.options import Option, layer_widths, non_negative_float, positive_int
from pyroclust.regularizers import StartAgreement

LIKELIHOODS: dict[str, Callable[[int], likelihoods.Likelihood]] = {
    "bernoulli": lambda n_features: likelihoods.Bernoulli(),
    "gaussian": lambda n_features: likelihoods.Gaussian(learn_scale=True, n_features=n_features),
}


def _zipf(exponent: float | None = None) -> priors.Zipf:
    """``"zipf:S"``: exponent fixed at S; ``"zipf"``: exponent learned (point estimate from 1.1)."""
    return priors.Zipf(1.1, learn_exponent=True) if exponent is None else priors.Zipf(exponent)


WEIGHT_PRIORS: dict[str, Callable[..., priors.WeightPrior]] = {
    "uniform": priors.Uniform,
    "learned": priors.Learned,
    "dirichlet": priors.Dirichlet,  # "dirichlet[:ALPHA]", alpha 1 by default
    "stick-breaking": priors.StickBreaking,  # "stick-breaking[:ALPHA]", alpha 1 by default
    "zipf": _zipf,
}
#: The weight priors that take a value in a spec ``NAME:VALUE``, and what the value is.
WEIGHT_PRIOR_VALUES: dict[str, str] = {
    "dirichlet": "the concentration alpha",
    "stick-breaking": "the concentration alpha",
    "zipf": "the exponent",
}


def _parse_spec(
    spec: str, kind: str, known: dict[str, Any], values: dict[str, str]
) -> tuple[str, float | None]:
    """``NAME`` or ``NAME:VALUE`` of a registry ``known`` -> (normalised name, number or None);
    ``ValueError`` naming the ``kind`` and what was expected otherwise. ``values`` are the
    names that take a number, with what it is."""
    name, _, value = spec.partition(":")
    name = name.strip().lower().replace("_", "-")
    if name not in known:
        raise ValueError(f"unknown {kind} {name!r}; known: {', '.join(known)}")
    if not value:
        return name, None
    if name not in values:
        raise ValueError(
            f"{kind} {name!r} takes no value (write {name!r}, not {spec!r}); "
            f"NAME:VALUE is for {', '.join(values)}"
        )
    try:
        return name, float(value)
    except ValueError:
        raise ValueError(
            f"{kind} {name!r} takes a number after ':' ({values[name]}), got {value!r}"
        ) from None


def make_weight_prior(spec: str | priors.WeightPrior | None) -> priors.WeightPrior:
    """A weight prior from a spec string ``NAME`` or ``NAME:VALUE`` (e.g. ``"learned"``)."""
    if isinstance(spec, priors.WeightPrior):
        return spec
    if spec is None:
        return priors.Learned()
    name, number = _parse_spec(str(spec), "weight prior", WEIGHT_PRIORS, WEIGHT_PRIOR_VALUES)
    if number is None:
        return WEIGHT_PRIORS[name]()
    return WEIGHT_PRIORS[name](number)


#: The families of VaDE's p(z | y) a spec names: ``NAME`` or ``NAME:DF`` for the t's.
COMPONENT_FAMILIES: dict[str, Callable[..., components.ComponentFamily]] = {
    "gaussian": components.DiagonalGaussian,  # the paper's
    "multivariate-t": components.MultivariateStudentT,  # "multivariate-t[:DF]", df 4
    "student-t": components.StudentT,  # "student-t[:DF]", a product of univariate t's, df 3
}
#: The component families that take a value in a spec ``NAME:VALUE``, and what it is.
COMPONENT_FAMILY_VALUES: dict[str, str] = {
    "multivariate-t": "the degrees of freedom",
    "student-t": "the degrees of freedom",
}


def make_components(
    spec: str | components.ComponentFamily | None, n_components: int, latent_dim: int
) -> components.ComponentFamily:
    """The component family p(z | y) of a spec ``NAME`` or ``NAME:DF`` (e.g.
    ``"multivariate-t:4"``) for ``n_components`` components in ``latent_dim`` dimensions.

    Examples
    --------
    >>> type(make_components("multivariate-t:6", 3, 2)).__name__
    'MultivariateStudentT'
    >>> make_components("cauchy", 3, 2)
    Traceback (most recent call last):
    ...
    ValueError: unknown component family 'cauchy'; known: gaussian, multivariate-t, student-t
    """
    if isinstance(spec, components.ComponentFamily):
        return spec
    name, df = _parse_spec(
        str(spec if spec is not None else "gaussian"),
        "component family",
        COMPONENT_FAMILIES,
        COMPONENT_FAMILY_VALUES,
    )
    family = COMPONENT_FAMILIES[name]
    return (
        family(n_components, latent_dim) if df is None else family(n_components, latent_dim, df=df)
    )


def components_spec(text: str) -> str:
    """Parse a component-family spec (``NAME`` or ``NAME:DF``): checked, returned as given."""
    make_components(text, 1, 1)
    return str(text).strip()


def likelihood_for(X: Any) -> str:
    """The zoo likelihood that fits data ``X``: ``"bernoulli"`` when every value lies in
    [0, 1], ``"gaussian"`` otherwise.

    Examples
    --------
    >>> likelihood_for([[0.0, 1.0]]), likelihood_for([[-1.0, 2.0]])
    ('bernoulli', 'gaussian')
    """
    x = np.asarray(X)
    return "bernoulli" if x.size and float(x.min()) >= 0.0 and float(x.max()) <= 1.0 else "gaussian"


def weight_spec(text: str) -> str:
    """Parse a weight-prior spec (``NAME`` or ``NAME:VALUE``): checked, returned as given."""
    try:
        make_weight_prior(text)
    except (ValueError, TypeError) as err:
        raise ValueError(str(err)) from None
    return text


def build_vade(
    n_features: int,
    n_components: int = 10,
    latent_dim: int = 10,
    *,
    likelihood: str = "bernoulli",
    weights: str | priors.WeightPrior | None = "learned",
    hidden: Sequence[int] = (500, 500, 2000),
    image_shape: Sequence[int] | None = None,
    components: str | None = "gaussian",
) -> tuple[models.VaDE, guides.VaDEGuide]:
    """VaDE with the paper's networks: encoder D-500-500-2000-d, decoder mirrored.

    ``components`` names the family of p(z | y) (:func:`make_components`): the paper's
    diagonal Gaussians, or heavy-tailed multivariate t's (``"multivariate-t[:DF]"``).

    With ``image_shape`` (height, width) of the flattened images, the guide's encoder sees
    randomly shifted, rotated and scaled copies while training
    (:class:`~pyroclust.nn.RandomAffine`, DEC-DA).
    """
    hidden = [int(h) for h in hidden]
    encoder = MLP([n_features, *hidden], output_activation=nn.ReLU)
    decoder = MLP([latent_dim, *reversed(hidden), n_features])
    model = models.VaDE(
        n_components,
        latent_dim,
        decoder=decoder,
        likelihood=LIKELIHOODS[likelihood](n_features),
        weights=make_weight_prior(weights),
        components=make_components(components, n_components, latent_dim),
    )
    augment = None if image_shape is None else RandomAffine((image_shape[0], image_shape[1]))
    guide = guides.VaDEGuide(encoder, latent_dim, augment=augment)
    return model, guide


def build_vae(
    n_features: int,
    latent_dim: int = 10,
    *,
    beta: float = 1.0,
    likelihood: str = "bernoulli",
    hidden: Sequence[int] = (500, 500, 2000),
) -> tuple[models.VAE, guides.VAEGuide]:
    """A VAE (KL weight ``beta``, 0 for the "no KL" variant), encoder D-500-500-2000-d and
    decoder mirrored; model and guide get the same beta."""
    hidden = [int(h) for h in hidden]
    encoder = MLP([n_features, *hidden], output_activation=nn.ReLU)
    decoder = MLP([latent_dim, *reversed(hidden), n_features])
    model = models.VAE(
        latent_dim, decoder=decoder, likelihood=LIKELIHOODS[likelihood](n_features), beta=beta
    )
    return model, guides.VAEGuide(encoder, latent_dim, beta=beta)


def build_autoencoder(
    n_features: int,
    latent_dim: int = 10,
    *,
    likelihood: str = "bernoulli",
    hidden: Sequence[int] = (500, 500, 2000),
) -> tuple[models.Autoencoder, guides.AutoencoderGuide]:
    """A deterministic autoencoder D-500-500-2000-d, decoder mirrored (the AE of AE + GMM)."""
    hidden = [int(h) for h in hidden]
    encoder = MLP([n_features, *hidden], output_activation=nn.ReLU)
    decoder = MLP([latent_dim, *reversed(hidden), n_features])
    model = models.Autoencoder(
        latent_dim, decoder=decoder, likelihood=LIKELIHOODS[likelihood](n_features)
    )
    return model, guides.AutoencoderGuide(encoder, latent_dim)


# ---------------------------------------------------------------------------------------------
# the options a user may set from text, shared by the entries that take them
# ---------------------------------------------------------------------------------------------
#: The most clusters for which ``cluster="auto"`` enumerates GMVAE's c; above it, c is
#: relaxed. Enumerating decodes every cluster, so its SVI step grows with K: 5.3x the relaxed
#: step at K = 10, 9.2x at 20, 26x at 50 (784-wide data, batch 300,
#: ``python benchmarks/gmvae.py --speed``). ``"auto"`` buys the exact ELBO where it is
#: affordable; the default stays the relaxed c, which with the recipe's budget matched or beat
#: the enumerated c on MNIST at a fraction of the time (:data:`GMVAE_STEPS`).
GMVAE_ENUMERATE_UP_TO = 20


def gmvae_cluster(cluster: str, n_components: int) -> str:
    """The treatment of GMVAE's c that ``cluster`` names for ``n_components`` clusters:
    ``"auto"`` is ``"enumerate"`` up to :data:`GMVAE_ENUMERATE_UP_TO` clusters and
    ``"relaxed"`` above; ``"relaxed"`` and ``"enumerate"`` name themselves.

    Examples
    --------
    >>> gmvae_cluster("auto", 10), gmvae_cluster("auto", 1000), gmvae_cluster("relaxed", 10)
    ('enumerate', 'relaxed', 'relaxed')
    """
    if cluster == "auto":
        return "enumerate" if int(n_components) <= GMVAE_ENUMERATE_UP_TO else "relaxed"
    return check_cluster(cluster)


def cluster_spec(text: str) -> str:
    """A treatment of GMVAE's c given as text: ``"auto"`` or one of the model's
    (:data:`~pyroclust.models.gmvae.CLUSTER_TREATMENTS`); ``ValueError`` saying what was
    expected otherwise."""
    *others, last = sorted(["auto", *CLUSTER_TREATMENTS])
    if text not in (*others, last):
        raise ValueError(f"cluster must be {', '.join(others)} or {last}, got {text!r}")
    return text


def build_gmvae(
    n_features: int,
    n_components: int = 10,
    latent_dim: int | None = None,
    *,
    likelihood: str = "bernoulli",
    weights: str | priors.WeightPrior | None = "uniform",
    hidden: Sequence[int] = (512, 256),
    feature_dim: int = 100,
    cluster: str = "relaxed",
    straight_through: bool = False,
    temperature: float = 1.0,
    w_gaussian: float = 5.0,
) -> tuple[models.GMVAE, guides.GMVAEGuide]:
    """GMVAE ("Is Simple Better?") with the paper's networks: encoder D-512-256-d_f, q(c | x)
    d_f-d_f-d_f/2-K, decoder d_f-256-512-D, BatchNorm + ReLU on hidden layers; d_f = 100,
    w_G = 5, uniform prior on pi. d_z = 150 for data as wide as MNIST (D >= 784), else 50
    (USPS); the paper used 50 for Reuters-10K (D = 2000): pass ``latent_dim=50``.

    c is relaxed by default (the paper's Gumbel-Softmax); ``cluster="enumerate"`` sums it out
    exactly, and ``cluster="auto"`` enumerates it up to :data:`GMVAE_ENUMERATE_UP_TO`
    clusters and relaxes it above (:func:`gmvae_cluster`)."""
    cluster = gmvae_cluster(cluster, n_components)
    if latent_dim is None:
        latent_dim = 150 if n_features >= 784 else 50
    hidden = [int(h) for h in hidden]
    model = models.GMVAE(
        n_features,
        n_components,
        latent_dim,
        feature_dim=feature_dim,
        hidden=hidden,
        likelihood=LIKELIHOODS[likelihood](n_features),
        weights=make_weight_prior(weights),
        cluster=cluster,
        straight_through=straight_through,
        temperature=temperature,
        w_gaussian=w_gaussian,
    )
    return model, guides.GMVAEGuide.for_model(model, hidden=hidden)


N_COMPONENTS = Option(
    "n_components",
    positive_int,
    "number of clusters (default: the number of classes of labelled data, else 10)",
    "K",
)
LATENT_DIM = Option("latent_dim", positive_int, "latent dimension", "D")
HIDDEN = Option("hidden", layer_widths, "encoder layer widths, decoder mirrored", "W1,W2,..")
WEIGHTS = Option(
    "weights",
    weight_spec,
    "prior of the mixture weights, NAME or NAME:VALUE; names: " + ", ".join(WEIGHT_PRIORS),
    "SPEC",
)
COMPONENTS = Option(
    "components",
    components_spec,
    "family of the mixture's components p(z | y), NAME or NAME:DF; names: "
    + ", ".join(COMPONENT_FAMILIES),
    "SPEC",
)
BETA = Option("beta", non_negative_float, "KL weight, 0 for the no-KL variant", "B")
CLUSTER = Option(
    "cluster",
    cluster_spec,
    "treatment of c: relaxed (Gumbel-Softmax, the default), enumerate (summed exactly) or "
    f"auto (enumerate up to {GMVAE_ENUMERATE_UP_TO} clusters, relaxed above); "
    "--relaxed and --enumerated say the same",
    "MODE",
    switches=(("relaxed", "relaxed"), ("enumerated", "enumerate")),
)


def temperature_spec(text: str) -> str:
    """A temperature schedule ``START:END:EPOCHS`` (e.g. ``"1:0.5:100"``), checked, returned
    as given; ``ValueError`` saying what was expected otherwise."""
    TemperatureAnnealing.from_spec(text)
    return str(text).strip()


def _initial_temperature(spec: str) -> dict[str, Any]:
    return {"temperature": TemperatureAnnealing.from_spec(spec).start}


TEMPERATURE = Option(
    "temperature",
    temperature_spec,
    "Gumbel-Softmax temperature annealed from START to END over the first EPOCHS epochs "
    "(relaxed c only)",
    "START:END:EPOCHS",
    target="training",
    implies=_initial_temperature,
)
W_GAUSSIAN = Option("w_gaussian", non_negative_float, "weight w_G of KL(z) (5 in the paper)", "W")
LAYERS = Option(
    "layers",
    layer_widths,
    "K per ladder layer, bottom first (1: a plain Gaussian layer)",
    "K1,K2,..",
)
FEATURE_DIM = Option("feature_dim", positive_int, "width d_f of the features and of f(z, c)", "F")


# ---------------------------------------------------------------------------------------------
# training recipes
# ---------------------------------------------------------------------------------------------
def no_recipe(n_samples: int, image_shape: Sequence[int] | None = None) -> dict[str, Any]:
    """No tuned recipe: ``{}``, the estimator's defaults."""
    return {}


def gmvae_paper_training(
    n_samples: int, image_shape: Sequence[int] | None = None, *, temperature: str = "1:0.5:100"
) -> dict[str, Any]:
    """The paper's recipe: a random start, Adam 1e-3, batch 300, 300 epochs, the temperature
    annealed ``START:END:EPOCHS``, 1 -> 0.5 over the first 100 epochs by default
    (exponentially, as the authors' code); the callback does nothing for the enumerated
    treatment. Build the model at the schedule's start temperature (the command line does).
    """
    return {
        "epochs": 300,
        "batch_size": 300,
        "lr": 1e-3,
        "init": RandomInit(),
        "callbacks": [TemperatureAnnealing.from_spec(temperature, strict=False)],
    }


def full_batch_size(n_samples: int, batch_size: int, low: float = 0.8) -> int:
    """The batch size between ``low * batch_size`` and ``batch_size`` whose last batch of an
    epoch over ``n_samples`` rows is the fullest (the largest such size on ties).

    A last batch of a few rows sets a tenth of BatchNorm's running statistics, which the
    model predicts with, from those few rows: on the digits (1,797 rows, batch 256: a last
    batch of 5 rows) GMVAE's start was 0.931 ± 0.008 ACC over 5 seeds, and 0.950 ± 0.001
    with full last batches (``benchmarks/RESULTS.md``).

    Examples
    --------
    >>> full_batch_size(1797, 256), full_batch_size(1797, 64), full_batch_size(70_000, 256)
    (225, 62, 250)
    """
    n, b = max(1, int(n_samples)), max(1, int(batch_size))
    if n <= b:
        return b
    sizes = range(b, max(1, int(np.ceil(low * b))) - 1, -1)
    return max(sizes, key=lambda s: ((n % s or s) / s, s))


#: Step budget of GMVAE's free SVI (:func:`epochs_for_steps`, between 2 and 60 epochs): 60
#: epochs of MNIST and of the digits (it was 2 epochs). MNIST seed 0, relaxed c: 2 free epochs
#: 0.963, 20 epochs 0.967, 60 epochs 0.9686 (the aligned start 0.966; UMAP + GMM 0.9688), and
#: the kNN error on the guide's features 4.2-4.7 %, 3.46 % and 2.90 % (the paper's 3.30 %);
#: the enumerated c after 20 epochs 0.968 and 3.39 %, at 4-6 times the relaxed epoch's time
#: (``benchmarks/RESULTS.md``).
GMVAE_STEPS = {"svi": 16_800}

#: GMVAE's default recipe: the weight of :class:`~pyroclust.regularizers.StartAgreement` in
#: free SVI.
GMVAE_START_AGREEMENT = 10.0


#: Rows a large-data start embeds (``ManifoldInit.max_samples``; the rest are labelled by
#: their neighbours): every row up to this many. UMAP + GMM on grey MNIST scores 0.865 on
#: 10,000 rows, 0.969 on all 70,000.
MANIFOLD_MAX_SAMPLES = 100_000


#: UMAP embeddings a large-data start draws (under seeds from the fit's ``random_state``),
#: keeping the clustering that agrees best with the others (``ManifoldInit.n_embeddings``).
#: One: 2-D layouts of MNIST merged two classes under 2 seeds of 8 (UMAP + GMM 0.827
#: against 0.959-0.967), and a medoid of three did not cure it, as the bad layouts merge
#: the same classes; the layouts now have as many dimensions as clusters
#: (:func:`~pyroclust.infer.init.manifold.umap_dims`), and in 10-D those seeds and three
#: others all gave 0.9685-0.9688, so further layouts cost time for no gain. Raise it (or
#: ``n_embeddings``) to buy robustness where one layout is not trusted. t-SNE with its PCA
#: start (below 10,000 rows) varies little with the seed (digits: 8 seeds within 0.0006).
UMAP_RESTARTS = 1


def gmvae_training(
    n_samples: int, image_shape: Sequence[int] | None = None, *, temperature: str = "1:0.5:100"
) -> dict[str, Any]:
    """GMVAE's default recipe: the manifold start of :func:`vade_training`, then the aligned
    ELBO, then a free SVI that keeps the start (``benchmarks/gmvae.py`` measures it
    beside the paper's, :func:`gmvae_paper_training`).

    The model has no mixture on its codes to start, so the start is the clustering of a
    neighbourhood embedding of the data (:class:`ManifoldInit` with ``pretrain_epochs=0``:
    t-SNE below 10,000 rows, UMAP on up to 100,000 rows above, in as many dimensions as
    clusters up to 10, :data:`UMAP_RESTARTS` layouts), and the alignment trains the
    ELBO with c observed at those labels while q(c | x) learns them (Kingma et al.'s
    classification term), 20 epochs below 10,000 rows and 10 above, at Adam 1e-3, in
    batches of about 256. The free SVI that follows runs :data:`GMVAE_STEPS` steps (60
    epochs of MNIST or of the digits) at 1e-4, in batches of about 64 below 10,000 rows and
    256 above, and keeps q(c | x) at the start's clusters
    (:class:`~pyroclust.regularizers.StartAgreement`, weight
    :data:`GMVAE_START_AGREEMENT` per row): measured on the digits, GMVAE's own ELBO moves
    the clusters away from the start (20 epochs lost 6 to 12 points; with the weight 1, 20
    epochs at 1e-4 still lost 1.3); with it the final model ends at its start (0.950 over
    5 seeds, relaxed and enumerated, agreement ARI 0.998 after 2 epochs; 1.0 after 20 and
    after 60, 3 seeds). On MNIST the longer free SVI ends above the start (seed 0, relaxed:
    0.966 -> 0.967 after 20 epochs, 0.9686 after 60). The batch sizes are
    those of :func:`full_batch_size`, so that no short last batch sets BatchNorm's running
    statistics. The temperature schedule (relaxed c only) runs during the free SVI.
    """
    small = n_samples < 10_000
    align_batch = full_batch_size(n_samples, 256)
    if small:
        init = ManifoldInit(
            pretrain_epochs=0, align_epochs=20, align_lr=1e-3, batch_size=align_batch
        )
    else:
        init = ManifoldInit(
            pretrain_epochs=0,
            embedding="umap",
            max_samples=MANIFOLD_MAX_SAMPLES,
            n_embeddings=UMAP_RESTARTS,
            align_epochs=10,
            align_lr=1e-3,
            batch_size=align_batch,
        )
    batch = full_batch_size(n_samples, 64 if small else 256)
    return {
        "epochs": epochs_for_steps(GMVAE_STEPS["svi"], n_samples, batch, 2, 60),
        "batch_size": batch,
        "lr": 1e-4,
        "init": init,
        "loss": StartAgreement(GMVAE_START_AGREEMENT),
        "callbacks": [TemperatureAnnealing.from_spec(temperature, strict=False)],
    }


def epochs_for_steps(
    steps: int, n_samples: int, batch_size: int, low: int = 1, high: int | None = None
) -> int:
    """The epochs that make about ``steps`` optimiser steps on ``n_samples`` rows in batches
    of ``batch_size``, within ``[low, high]``: a stage's time then grows with the data only
    until its step budget binds.

    Examples
    --------
    >>> epochs_for_steps(800, 1797, 256, 5, 100), epochs_for_steps(800, 70_000, 256, 5, 100)
    (100, 5)
    """
    per_epoch = -(-max(1, int(n_samples)) // max(1, int(batch_size)))
    epochs = max(int(low), -(-int(steps) // per_epoch))
    return epochs if high is None else min(epochs, int(high))


#: Step budgets of VaDE's recipe: pretraining, alignment and free SVI. The alignment's
#: 4,000 (15 epochs of MNIST; 400 before): with 5 epochs the aligned model reproduced its
#: 10-D UMAP start's labels (ACC 0.969) at 0.949 and ended at 0.946; with 15, 0.961 and 0.961
#: (MNIST, seed 0, ``benchmarks/RESULTS.md``). On the digits the 20-epoch cap binds as before.
VADE_STEPS = {"pretrain": 800, "align": 4_000, "svi": 400}

#: Pretraining steps when the start clusters the autoencoder's codes (large image data, N2D:
#: McConville et al., 2020, UMAP on the codes of a well-trained autoencoder): about 44
#: epochs of MNIST in batches of 256, at most 100 epochs. Measured on MNIST (70,000 rows,
#: the VaDE networks, Bernoulli loss, Adam 1e-3, UMAP 10-D and a full GMM on the codes;
#: a GPU probe, ``benchmarks/RESULTS.md``): 10 / 20 / 30 / 45 / 60 / 100 epochs gave
#: 0.952 / 0.961 / 0.976 / 0.978 / 0.978 / 0.978 (seed 1), 60 epochs 0.977 and 0.979 on
#: seeds 0 and 2, against UMAP + GMM on the raw pixels' 0.969 in the same run; random affine
#: moves of the images (the small-data recipe's) lowered it to 0.971 at 60 epochs. The
#: library's recipe on the 2-core CPU: 0.9764 and 0.9775 (seeds 0 and 1; UMAP + GMM on the
#: pixels 0.9685), 2,131 CPU s at 1 thread, 1.8x the start on the pixels. On a table
#: (Pendigits) the same start lowered the ACC from 0.895 to 0.885: tables keep theirs.
VADE_CODES_PRETRAIN_STEPS = 12_000

#: Steps of the self-labelling of a large image set's start (:class:`SelfLabelling`, batches
#: of 256, at least 20 epochs): a classifier trained on the start's labels from randomly
#: moved images relabels every row. About 30 epochs of MNIST (0.9688 -> 0.9767-0.9768 on the
#: pixels' UMAP + GMM labels, two seeds; the classifier without the moves: 0.9688), about
#: 140 CPU s at 1 thread. Below 10,000 rows it is not used: on the 1,797 digits it changed
#: 10-40 labels and gained nothing (0.9505 -> 0.9393 after 100 epochs, 0.9516 after 300).
SELF_LABEL_STEPS = 8_000

#: Rounds of the self-labelling, each a fresh classifier trained on the labels the round
#: before gave (:attr:`SelfLabelling.rounds`). On MNIST's pixel UMAP + GMM labels (seed 1,
#: 0.9688): 0.9778, 0.9793, 0.9802 after one, two and three rounds (1,254, 447 and 316
#: labels changed); one round of twice the epochs instead: 0.9761.
SELF_LABEL_ROUNDS = 3


def self_labelling(n_samples: int, image_shape: Sequence[int] | None) -> SelfLabelling | None:
    """The start refinement of a recipe for ``n_samples`` rows of ``image_shape``: a
    :class:`SelfLabelling` with random affine moves for grey images of 10,000 rows or more
    (:data:`SELF_LABEL_STEPS` per round, :data:`SELF_LABEL_ROUNDS` rounds), else None
    (tables, colour images, small data)."""
    if image_shape is None or n_samples < 10_000:
        return None
    shape = tuple(int(side) for side in image_shape)
    if len(shape) == 3 and shape[0] == 1:
        shape = shape[1:]
    if len(shape) != 2:
        return None  # random affine moves are of single-channel images
    epochs = epochs_for_steps(SELF_LABEL_STEPS, n_samples, 256, 20)
    return SelfLabelling(RandomAffine(shape), epochs=epochs, rounds=SELF_LABEL_ROUNDS)


#: The weight of the alignment's classification term (``ManifoldInit.align_alpha``) and of
#: :class:`~pyroclust.regularizers.StartAgreement` in VaDE's free SVI; both were 1. With 1,
#: the aligned VaDE reproduced its start's labels only in part (MNIST seed 0: 0.961 against
#: the embedding's 0.969; the digits, 3 seeds: 0.942 against 0.950), since q(c | x) is the
#: posterior of Gaussian components on the codes, which a small weight leaves to the ELBO.
#: With 10 and 10: MNIST 0.969 aligned, 0.9694 final (UMAP + GMM 0.9688); the digits 0.950
#: aligned and final, 3 seeds (``benchmarks/RESULTS.md``).
VADE_ALIGN_ALPHA = 10.0
VADE_START_AGREEMENT = 10.0

#: The alignment stops once the model assigns this share of the rows to their start labels
#: (``ManifoldInit.align_until``): 1.0, every row, so it ends only when there is nothing
#: left to align. On a 10,000 x 256 Zipf mixture whose start is near perfect that happened
#: after 2 of 20 epochs; on the digits (seed 0) after 15 of 20, with the same final ACC
#: (0.9505); MNIST's 70,000 rows run their budget.
VADE_ALIGN_UNTIL = 1.0


def vade_training(n_samples: int, image_shape: Sequence[int] | None = None) -> dict[str, Any]:
    """VaDE's tuned recipe, measured by ``benchmarks/quality.py`` beside k-means and UMAP + GMM
    on the raw data and beside the model's own start.

    Every stage has a step budget (:data:`VADE_STEPS`): its epochs are the budget over the
    batches per epoch (:func:`epochs_for_steps`), at most 100 epochs of pretraining and 20 of
    the others, and at least 5 of each, so the time grows with the rows only until the budget
    binds. Pretraining also stops when the reconstruction stops improving (5 epochs without a
    gain of 1e-3 nats per row; the best autoencoder is kept).

    - below 10,000 samples (the digits): the autoencoder's encoder sees random affine moves
      of the rows when they are images; the start is :class:`ManifoldInit`, a mixture on a
      t-SNE embedding of the data; SVI with the cluster site observed at that mixture's
      labels (``align_epochs``); then free SVI in batches of 128 at a small learning rate,
      which refines the start rather than replacing it (on the digits: 100, 20 and 20 epochs);
    - from 10,000 samples on: plain pretraining, a mixture on a UMAP embedding (all rows up to
      100,000, in as many dimensions as clusters up to 10; :data:`UMAP_RESTARTS` layouts),
      the alignment, free SVI in batches of 256. The embedding is of the data (a 10,000-row
      table: 20, 20 and 10 epochs), or, when the rows are images, of the autoencoder's codes
      after a longer pretraining (:data:`VADE_CODES_PRETRAIN_STEPS`; N2D, McConville et
      al., 2020): distances between codes compare images better than distances between
      pixels (MNIST: 44, 15 and 5 epochs).

    The alignment weighs its classification term by :data:`VADE_ALIGN_ALPHA` and stops as
    soon as the model reproduces every start label (:data:`VADE_ALIGN_UNTIL`), and free SVI
    keeps the start's clustering in view (:class:`~pyroclust.regularizers.StartAgreement`,
    weight :data:`VADE_START_AGREEMENT` per row): the plain ELBO left the start by 1 to 5 ACC
    points on the digits and the Pendigits (``benchmarks/RESULTS.md``).
    """
    small = n_samples < 10_000
    init_batch, batch = 256, 128 if small else 256
    pretrain = epochs_for_steps(VADE_STEPS["pretrain"], n_samples, init_batch, 5, 100)
    start = {
        "space": "data",
        "batch_size": init_batch,
        "pretrain_epochs": pretrain,
        "pretrain_early_stopping": EarlyStopping(patience=5, min_delta=1e-3),
        "align_epochs": epochs_for_steps(VADE_STEPS["align"], n_samples, init_batch, 5, 20),
        "align_lr": 1e-3,
        "align_alpha": VADE_ALIGN_ALPHA,
        "align_until": VADE_ALIGN_UNTIL,
    }
    if small:
        augment = None if image_shape is None else RandomAffine((image_shape[0], image_shape[1]))
        init = ManifoldInit(augment=augment, **start)
    else:
        if image_shape is not None:
            start["space"] = "codes"
            start["pretrain_epochs"] = epochs_for_steps(
                VADE_CODES_PRETRAIN_STEPS, n_samples, init_batch, 5, 100
            )
            start["refine"] = self_labelling(n_samples, image_shape)
        init = ManifoldInit(
            embedding="umap", max_samples=MANIFOLD_MAX_SAMPLES, n_embeddings=UMAP_RESTARTS, **start
        )
    return {
        "epochs": epochs_for_steps(VADE_STEPS["svi"], n_samples, batch, 5, 20),
        "batch_size": batch,
        "lr": 5e-4,
        "lr_schedule": StepDecay(10, 0.9),
        "init": init,
        "loss": StartAgreement(VADE_START_AGREEMENT),
    }


# ---------------------------------------------------------------------------------------------
# the registry
# ---------------------------------------------------------------------------------------------
def build_vlac(
    n_features: int,
    n_components: int = 10,
    latent_dim: int | Sequence[int] = 8,
    *,
    layers: Sequence[int] | None = None,
    likelihood: str = "bernoulli",
    weights: str | priors.WeightPrior | None = "uniform",
    hidden: int | Sequence[int] = 64,
    depth: int = 1,
    cluster: str = "relaxed",
    temperature: float = 1.0,
    image_shape: Sequence[int] | None = None,
    conv_channels: Sequence[int] = (32, 64),
) -> tuple[models.VLAC, guides.VLACGuide]:
    """VLAC (Willetts et al., 2019): K = ``layers`` bottom first, [1, 1, K, 1] by default
    (the paper's one mixture layer with K = n_components); conv g_1 / deconv f_0 with
    image_shape (C, H, W), else MLP rungs; one weight-prior spec copied per mixture layer."""
    ks = [int(k) for k in layers] if layers is not None else [1, 1, int(n_components), 1]
    if not isinstance(hidden, int) and len(hidden) == 1:  # "--hidden W": one width for all
        hidden = int(hidden[0])
    if image_shape is not None and len(image_shape) == 2:
        image_shape = (1, *image_shape)
    model = models.VLAC(
        n_features,
        ks,
        latent_dim,
        hidden=hidden,
        depth=depth,
        likelihood=LIKELIHOODS[likelihood](n_features),
        weights=make_weight_prior(weights),
        cluster=cluster,
        temperature=temperature,
        image_shape=image_shape,
        conv_channels=conv_channels,
    )
    return model, guides.VLACGuide.for_model(model)


#: Item passes a VLAC fit makes by default (epochs x rows), so that a fit of coloured-MNIST
#: size (70,000 RGB 28x28 images) stays within 20 minutes on a 2-core CPU: at 700,000
#: passes (10 epochs, 3 of them warm-up) 941 s alone with 2 threads, 642 s of it the start
#: (its warm-up and every row embedded per layer); now 11 epochs, 6 of them warm-up.
VLAC_ITEM_PASSES = 770_000
#: The share of VLAC's budget spent on the warm-up whose features each layer's start
#: clusters (rounded up). At 30% (3 of 10 epochs on 70,000 coloured MNIST rows) seed 1's
#: colour layer started on features that mix two background colours (UMAP + GMM
#: background ACC 0.833 rectangular); 6 epochs gave 1.000 on seeds 0 and 1.
VLAC_WARMUP_SHARE = 0.5
#: Optimiser steps of the alignment of VLAC's start (every layer's q(y_l | x) learns its
#: labels in them), the weight of its classification term, and the weight of
#: :class:`~pyroclust.infer.init.sites.SitesAgreement` in free SVI (VaDE's two weights).
#: On 10,000 coloured MNIST rows (seed 0; the shape view's start labels score 0.806 on the
#: digit) the aligned y3 scored 0.596 with 300 steps at weight 1, 0.723 at weight 10,
#: 0.761 at weight 30 and 0.789 with 900 steps at weight 10; free SVI at agreement weight 1
#: then lost 0.02-0.04 of it.
VLAC_ALIGN_STEPS = 900
VLAC_ALIGN_ALPHA = VADE_ALIGN_ALPHA
VLAC_START_AGREEMENT = VADE_START_AGREEMENT
#: The alignment runs until every layer's q(y_l | x) reproduces this share of its start
#: labels, for at most twice :data:`VLAC_ALIGN_STEPS` steps. On plain MNIST (seed 0) 2
#: epochs of it reproduced 96.3 % of the top layer's labels (ACC 0.956 against the
#: labels' 0.969), still rising, and free SVI won back only part of the loss.
VLAC_ALIGN_UNTIL = 1.0
#: Free SVI keeps at least this many epochs (and a quarter of what the warm-up leaves):
#: with 1 (the alignment then 4 epochs on 70,000 rows) the digit layer's aligned start
#: rose (coloured MNIST seeds 3 and 1: 0.953 and 0.948) but the one free epoch lost 1.5 and
#: 2.8 points of it (0.938, 0.919), where 3 free epochs after a 2-epoch alignment had
#: gained 1.2 (0.944 -> 0.956 on seed 3); plain MNIST seed 0 gained 0.002 (0.9664).
VLAC_MIN_FREE_EPOCHS = 3
#: When every mixture layer's start clusters a view of the images (coloured MNIST's two
#: layers: :class:`~pyroclust.nn.ShapeView` at the top, :class:`~pyroclust.nn.ColourView`
#: at the lowest), the warm-up's features are read by no layer, and
#: :attr:`~pyroclust.infer.init.layerwise.LayerwiseStart.viewed_warmup_epochs` gives all
#: but this many of its epochs to the alignment (on 70,000 rows 1 warm-up, 7 aligning, 3
#: free; was 6, 2, 3). The digit layers of both VLAC and the GM-VAE rose (coloured MNIST
#: seeds 0-3: VLAC 0.961, 0.945, 0.966, 0.955, was 0.947, 0.931, 0.948, 0.944). It first
#: took 1,723 s per VLAC fit (two fits sharing the 2 cores) while every alignment epoch read
#: the agreement of all 70,000 rows at each site; with the agreement read on a 10,000-row
#: subset (:data:`~pyroclust.infer.init.align.AGREEMENT_MAX_ROWS`), 740 s alone on the 2
#: cores (seed 0, digit layer 0.961; the recipe without it took 987 s on another 2-core
#: machine), within the 20-minute budget. None keeps the warm-up whole.
VLAC_VIEWED_WARMUP_EPOCHS: int | None = 1


def vlac_training(
    n_samples: int,
    image_shape: Sequence[int] | None = None,
    *,
    epochs: int | None = None,
    shape_view: bool = True,
    colour_view: bool = True,
    free_bits: float | None = None,
    warmup_restarts: int = 1,
) -> dict[str, Any]:
    """A start per mixture layer, then free SVI that keeps it: a budget of ``epochs`` (by
    default :data:`VLAC_ITEM_PASSES` item passes: epochs = passes / rows, between 10 and
    100), :data:`VLAC_WARMUP_SHARE` of it a warm-up on the ELBO, the alignment until every
    layer reproduces its start labels (:data:`VLAC_ALIGN_UNTIL`), for at most twice
    :data:`VLAC_ALIGN_STEPS` steps and at most what the warm-up leaves less a quarter of it
    or :data:`VLAC_MIN_FREE_EPOCHS` (the alignment at least 2 epochs), the rest free SVI;
    Adam 1e-3,
    batch 128. When every mixture layer starts on a view of the images, the warm-up gives
    all but :data:`VLAC_VIEWED_WARMUP_EPOCHS` of its epochs to the alignment.

    The start is :class:`~pyroclust.infer.init.layerwise.LayerwiseStart`: after the warm-up each
    mixture layer's q(y_l | x) features (the guide's deterministic ladder h̄_l) are
    clustered on a UMAP embedding (t-SNE below 10,000 rows), each layer's freed of what
    the layers below it explain, then SVI runs with every y_l observed at its labels.
    The alignment weighs each q(y_l | x)'s classification term by
    :data:`VLAC_ALIGN_ALPHA`. Free SVI keeps every layer near its start
    (:class:`~pyroclust.infer.init.sites.SitesAgreement`, weight
    :data:`VLAC_START_AGREEMENT` per row and site), with the temperature annealed from 1
    to 0.5 over its first half (no-op when enumerated). The paper gives no recipe; measured
    in ``benchmarks/vlac.py`` on 10,000 rows of coloured MNIST, K = [1, 4, 10, 1], at the
    previous budget (70 epochs in all, 30% of them warm-up): y2 matched the background
    colour at ACC 0.977 (0.587 with the random start at 20 epochs), y3 the digit at 0.263
    (0.211; the GM-VAE 0.122), far from 0.90. With ``shape_view`` (images: the top mixture
    layer's start clusters :class:`~pyroclust.nn.ShapeView` of the images, their colours
    taken out) y3 reached 0.608 (alignment 300 steps at weight 1, agreement weight 1), the
    GM-VAE with the same recipe 0.617; with the alignment and agreement now shipped (900
    steps, both weights 10) y3 reached 0.795 (its start 0.787; the GM-VAE 0.793), 1,037 s
    per fit on the 2-core CPU. On all 70,000 rows, every row embedded for the starts (seed
    0): y3 0.946 (its start 0.928; the GM-VAE 0.940), y2 the background at 1.000
    rectangular, 81 s/epoch; seeds 1 and 2: y3 0.927 and 0.955 (the GM-VAE 0.944 and 0.901),
    y2 the background at 0.832 (its warm-up features mix the two colours) and 1.000. With
    half the budget a warm-up (11 epochs, 6 of them warm-up), seeds 0-2: y3 0.948, 0.934,
    0.950, y2 the background at 1.000 rectangular on all three; seed 3: y3 0.956 (the GM-VAE
    0.946), y2 the background at 0.841 only (it mixes the two colour attributes). With
    this recipe (the lowest mixture layer started on :class:`~pyroclust.nn.ColourView`, the
    alignment until agreement), seeds 0-3: y3 0.947, 0.931, 0.948, 0.944 (mean 0.943; the
    GM-VAE with this recipe 0.939, 0.942, 0.913, 0.947, mean 0.936), y2 the digit colour at
    0.9999 or above on all four, 59-64 s/epoch and 1,092-1,216 s per fit with two fits
    sharing the 2 cores. The agreement is what keeps the starts: on the plain ELBO, free
    SVI dissolves them (``benchmarks/vlac_free_svi.py``, seeds 0-2: y3's digit ACC from
    0.94-0.96 to 0.44-0.60 after one epoch, the GM-VAE's to 0.75-0.88), also at a
    temperature of 0.1.

    ``free_bits`` (nats per code; None: off) runs the warm-up on
    :class:`~pyroclust.infer.freebits.FreeBits` as a VLAE (every mixture component held at
    N(0, I) and the guide's :meth:`~pyroclust.guides.VLACGuide.plain_ladder`,
    ``plain_warmup``) and starts each layer that has no view on its code means
    (``LayerwiseStart(features="code_features")``) rather than on h̄_l. On the plain ELBO
    the warm-up leaves every layer above the lowest with no active unit, so that lowest
    code holds digit and colours together; with a floor every layer keeps a few nats, the
    colours, cheap to encode, move up into them, and the lowest code is left to the digit
    unless a mixture there groups a colour first (hence the VLAE warm-up). Scratch probes,
    coloured MNIST, no view, K = [10, 4, 1, 1], seed 0: y1's digit ACC 0.366 with the
    mixture in the warm-up, 0.529 (colour-free) without; the GM-VAE 0.121.

    ``warmup_restarts`` R > 1 runs the warm-up's first half R times from fresh
    initialisations and keeps the one with the lowest warm-up objective
    (``LayerwiseStart(warmup_restarts=...)``, :mod:`pyroclust.infer.init.restarts`): without
    views which factor the lowest code holds depends on the seed (five seeds of one warm-up:
    0.36-0.77 digit purity), and the three lowest objectives held the three best codes. In
    the fit (70,000 rows, no view, K = [50, 5, 5, 1] with ``free_bits=2``, seed 0, three
    restarts) y1's digit purity was 0.579 (0.582 without) and the GM-VAE's 0.477 (0.397
    without), so it is off by default."""
    if epochs is None:
        epochs = np.clip(VLAC_ITEM_PASSES // max(int(n_samples), 1), 10, 100)
    epochs = int(epochs)
    warmup = max(1, int(np.ceil(VLAC_WARMUP_SHARE * epochs)))
    left = epochs - warmup
    most = max(2, left - max(VLAC_MIN_FREE_EPOCHS, left // 4))
    align = epochs_for_steps(2 * VLAC_ALIGN_STEPS, n_samples, 128, 2, most)
    free = max(1, left - align)
    embedding = "tsne" if n_samples < 10_000 else "umap"
    clusterer = ManifoldInit(
        space="codes", embedding=embedding, pretrain_epochs=0, max_samples=MANIFOLD_MAX_SAMPLES
    )
    views: dict[Any, Any] = {}
    if image_shape is not None and shape_view:
        views[-1] = ShapeView(image_shape)
    if image_shape is not None and colour_view and check_image_shape(image_shape)[0] > 1:
        views[SiteRange(0, 1)] = ColourView(image_shape)  # the lowest site, below the top
    init = LayerwiseStart(
        warmup_epochs=warmup,
        batch_size=128,
        clusterer=clusterer,
        align_epochs=align,
        align_alpha=VLAC_ALIGN_ALPHA,
        align_until=VLAC_ALIGN_UNTIL,
        views=views or None,
        viewed_warmup_epochs=VLAC_VIEWED_WARMUP_EPOCHS,
        warmup_restarts=warmup_restarts,
        **(
            {}
            if free_bits is None
            else {
                "warmup_loss": FreeBits(free_bits),
                "features": "code_features",
                "plain_warmup": True,
            }
        ),
    )
    return {
        "epochs": free,
        "batch_size": 128,
        "lr": 1e-3,
        "init": init,
        "loss": SitesAgreement(VLAC_START_AGREEMENT),
        "callbacks": [TemperatureAnnealing(1.0, 0.5, max(1, free // 2), strict=False)],
    }


def _mixture_of_autoencoders(model_cls: type, guide_cls: Any, **kwargs: Any) -> tuple[Any, Any]:
    """A k-DVAE-shaped pair of ``model_cls``/``guide_cls`` built from a builder's options."""
    hidden = [int(h) for h in kwargs.pop("hidden")]
    n_features, likelihood = kwargs.pop("n_features"), kwargs.pop("likelihood")
    model = model_cls(
        n_features,
        kwargs.pop("n_components"),
        kwargs.pop("latent_dim"),
        hidden=hidden,
        likelihood=LIKELIHOODS[likelihood](n_features),
        weights=make_weight_prior(kwargs.pop("weights")),
    )
    return model, guide_cls.for_model(model, hidden=hidden)


def build_kdvae(
    n_features: int,
    n_components: int = 10,
    latent_dim: int = 10,
    *,
    likelihood: str = "bernoulli",
    weights: str | priors.WeightPrior | None = "uniform",
    hidden: Sequence[int] = (500, 100),
) -> tuple[models.KDVAE, guides.KDVAEGuide]:
    """k-DVAE with the paper's networks: per cluster an encoder D-500-100-d (mean and scale)
    and a decoder d-100-500-D, the K of each run as one BatchedMLP; q(y|x) an MLP
    D-500-100-K; uniform prior on the weights."""
    return _mixture_of_autoencoders(models.KDVAE, guides.KDVAEGuide, **locals())


def build_kdae(
    n_features: int,
    n_components: int = 10,
    latent_dim: int = 10,
    *,
    likelihood: str = "bernoulli",
    weights: str | priors.WeightPrior | None = "uniform",
    hidden: Sequence[int] = (500, 100),
) -> tuple[models.KDAE, guides.KDAEGuide]:
    """k-DAE (Opochinsky et al., 2020) with k-DVAE's networks (D-500-100-d, d-100-500-D)."""
    return _mixture_of_autoencoders(models.KDAE, guides.KDAEGuide, **locals())


#: Step budgets of k-DVAE's and k-DAE's recipe: VaDE's pretraining, alignment and free SVI
#: inside the start (never more than VaDE's own recipe takes), each autoencoder pretrained on
#: its cluster, q(y | x) alone fitted further to the clusters, then joint training.
KDVAE_STEPS = {
    "vade_pretrain": 400,
    "vade_align": 80,
    "vade_svi": 75,
    "pretrain": 320,
    "classify": 8_000,
    "joint": 40,
}
#: k-DVAE's joint training: its learning rate and the weight of
#: :class:`~pyroclust.regularizers.StartAgreement`; k-DAE's joint learning rate.
KDVAE_JOINT = {"lr": 1e-4, "start_agreement": 10.0, "kdae_lr": 1e-5}


def kdvae_vade_training(n_samples: int, image_shape: Sequence[int] | None = None) -> dict[str, Any]:
    """VaDE's recipe inside the k-DVAE and k-DAE start: :func:`vade_training` as it ships
    (its start, its :class:`~pyroclust.regularizers.StartAgreement`), its pretraining,
    alignment and free SVI cut to the step budgets ``KDVAE_STEPS["vade_pretrain"]``,
    ``["vade_align"]`` and ``["vade_svi"]`` (at least 5 epochs each, never more than VaDE's
    own; on the digits 50, 10 and 5 epochs instead of 100, 20 and 20). A start on the
    autoencoder's codes (large image data) keeps its whole pretraining, on which its
    clusters depend, and its whole alignment, which carries them into VaDE (on MNIST 44 and
    15 epochs, the free SVI VaDE's own 5): on MNIST, seeds 0-2, with the alignment cut to 5
    epochs VaDE's own clusters were 0.9790 / 0.9781 / 0.9796 and k-DVAE's final ones 0.9787 /
    0.9780 / 0.9797 (0.9788); with it whole 0.9815 / 0.9803 / 0.9823 and 0.9809 / 0.9804 /
    0.9823 (0.9812), for about 5 % more CPU time.

    The start keeps VaDE's clusters only, and those settle early (VaDE's start labels the
    data's t-SNE embedding, and its pretraining early-stops after 57-68 epochs): on the
    digits, seeds 0-1, VaDE's own ACC after 1-5 epochs of free SVI was within 0.003 of that
    after 20, and after 10 epochs of alignment within 0.001. Over 5 seeds the cut start
    took 81 CPU seconds per fit instead of 110, VaDE's own ACC 0.943 ± 0.003 (0.946 uncut),
    k-DVAE's final 0.940 ± 0.003 (0.941) (``benchmarks/kdvae.py quality``).
    """
    recipe = vade_training(n_samples, image_shape)
    init = recipe["init"]

    def cut(stage: str, epochs: int, batch_size: int) -> int:
        return epochs_for_steps(KDVAE_STEPS[f"vade_{stage}"], n_samples, batch_size, 5, epochs)

    # a start on the codes is only as good as the pretraining, and reaches VaDE only through
    # the alignment: both stages are kept whole
    pretrain, align = init.pretrain_epochs, init.align_epochs
    if init.space != "codes":
        pretrain = cut("pretrain", pretrain, init.batch_size)
        align = cut("align", align, init.batch_size)
    recipe["init"] = replace(init, pretrain_epochs=pretrain, align_epochs=align)
    recipe["epochs"] = cut("svi", recipe["epochs"], recipe["batch_size"])
    return recipe


def mixture_of_autoencoders_init(**overrides: Any) -> MixtureOfAutoencodersInit:
    """The default start: the zoo's VaDE with its tuned recipe (sized at fit time,
    :func:`kdvae_vade_training`), its own clusters, each autoencoder pretrained on its cluster
    with its ELBO (see :func:`kdvae_training`)."""
    options = {"clustering": "posterior", "objective": "elbo", "pretrain_epochs": 20, **overrides}
    return MixtureOfAutoencodersInit(
        vade_build=build_vade, vade_training=lambda n: kdvae_vade_training(n, None), **options
    )


def kdvae_training(n_samples: int, image_shape: Sequence[int] | None = None) -> dict[str, Any]:
    """The paper's start from the zoo's tuned VaDE, then a short joint training that keeps the
    start; measured by ``benchmarks/kdvae.py quality`` beside k-means, UMAP + GMM and every
    stage.

    1. VaDE with its tuned recipe as it ships (:func:`vade_training`, image augmentation
       and :class:`~pyroclust.regularizers.StartAgreement` in its free SVI included, bound to
       VaDE's start as the estimator binds it): with the plain ELBO instead, VaDE's own
       clusters on the digits fell from its start to 0.938 (5 seeds), with the term they
       keep it (0.946 ± 0.003, 5 seeds; the final model 0.941 against 0.933); its
       pretraining, alignment and free SVI cut to step budgets
       (:func:`kdvae_vade_training`), which took the digits from 110 to 81 CPU seconds per
       fit (5 seeds, final ACC 0.940 ± 0.003 against 0.941 ± 0.003 uncut);
    2. its own clusters (``clustering="posterior"``, the argmax of its posterior) rather than the
       paper's k-means on its codes, which on the digits lost 0.10 of ACC (0.82 vs 0.93);
    3. each VAE pretrained on its cluster with its own ELBO (``objective="elbo"``; on the
       reconstruction alone the scales of q(z | x, y) stay untrained and eq. 8 starts near
       0.47) and q(y | x) fitted to the clusters, Adam 1e-3, batch 256, about 320 steps
       (40 epochs of the digits, at least 2): with 160 steps q(y | x) reproduced VaDE's
       clusters to an ARI of 0.93 and the start lost 0.016 ACC on the digits (seed 0: 0.922
       against VaDE's 0.938), with 320 to 0.97 (0.933);
    3b. q(y | x) alone fitted further to the clusters (``classifier_epochs``, about 8,000
       steps, 5 to 50 epochs, stopping once it reproduces all of them): after stage 3 it
       still lost 0.006 of VaDE's clusters on the digits (0.944 vs 0.950, 3 seeds) and 0.011
       on MNIST (0.956 vs 0.967); with this stage the digits' start is VaDE's 0.950, for
       about 2 CPU seconds. On MNIST 2,000 steps (8 epochs) kept VaDE's self-labelled
       clusters only to 0.976 of their 0.980 (seed 0), so the budget is 8,000 (30 epochs,
       about a minute);
    4. joint training on the soft ELBO with the start's clusters kept in q(y | x)
       (:class:`~pyroclust.regularizers.StartAgreement`, weight 10 per row), Adam 1e-4, batch
       256, about 40 steps (5 epochs of the digits, at least 1). The model's own clustering
       (eq. 8) is below VaDE's on the digits (about 0.90), so the soft ELBO alone moves away
       from the start: at 1e-4 the accuracy fell by 0.02-0.03 over 30 epochs; with the
       weight 1 by 0.01 over 20 epochs.

    The recipe on MNIST, seeds 0-2: 0.9809 / 0.9804 / 0.9823 (mean 0.9812; the paper's
    k-DVAE 97.87; UMAP + GMM on the pixels 0.969 in the same run); k-DAE 0.9817 (seed 0). On
    the digits, 5 seeds: 0.950 ± 0.001.
    """
    init = MixtureOfAutoencodersInit(
        vade_build=build_vade,
        vade_options={} if image_shape is None else {"image_shape": list(image_shape)},
        vade_training=kdvae_vade_training(n_samples, image_shape),
        clustering="posterior",
        objective="elbo",
        pretrain_epochs=epochs_for_steps(KDVAE_STEPS["pretrain"], n_samples, 256, 2, 40),
        classifier_epochs=epochs_for_steps(KDVAE_STEPS["classify"], n_samples, 256, 5, 50),
        batch_size=256,
        lr=1e-3,
    )
    return {
        "epochs": epochs_for_steps(KDVAE_STEPS["joint"], n_samples, 256, 1, 5),
        "batch_size": 256,
        "lr": KDVAE_JOINT["lr"],
        "init": init,
        "loss": StartAgreement(KDVAE_JOINT["start_agreement"]),
    }


def kdae_training(n_samples: int, image_shape: Sequence[int] | None = None) -> dict[str, Any]:
    """k-DVAE's start, then joint training on k-DAE's own objective, each row's smallest
    reconstruction error (:class:`~pyroclust.models.kdae.MinReconstructionLoss`), at Adam
    1e-5 (at 1e-4 the accuracy fell); its pretraining objective is the reconstruction (a
    k-DAE's ELBO has no KL term)."""
    recipe = kdvae_training(n_samples, image_shape)
    return {**recipe, "lr": KDVAE_JOINT["kdae_lr"], "loss": MinReconstructionLoss()}


@dataclass(frozen=True)
class Architecture:
    """A registry entry: one architecture and everything particular to it.

    An entry is called like its builder: ``entry(n_features, **options) -> (model, guide)``
    (and ``inspect.signature(entry)`` is the builder's), but :func:`make` is the way to build,
    as it also records ``zoo_spec``.

    Parameters
    ----------
    name : str
        The registry key (lower case), e.g. ``"vade"``.
    build : callable
        ``build(n_features, **options) -> (model, guide)``, plain values as options.
    description : str
        One line for listings (``pyroclust fit --help``).
    paper : str
        The paper the architecture and its defaults come from.
    options : tuple of Option
        The options a user may set from text, keywords of the builder (``target="model"``)
        or of the training recipe (``target="training"``); the command line offers exactly
        these for this architecture.
    init : callable
        The default initialisation strategy, a factory called with keyword overrides
        (``init(pretrain_epochs=10)``) that returns a strategy of :mod:`pyroclust.infer.init`.
    training : callable
        ``training(n_samples, image_shape, **recipe_options) -> dict``, the tuned training
        recipe: keyword arguments of :class:`~pyroclust.estimator.Clusterer` (``init``
        included when the recipe has its own start); ``{}`` for the estimator's defaults.
        ``recipe_options`` are the entry's ``target="training"`` options.
    """

    name: str
    build: Callable[..., tuple[Any, Any]]
    description: str
    paper: str = ""
    options: tuple[Option, ...] = ()
    init: Callable[..., Any] = RandomInit
    training: Callable[[int, Sequence[int] | None], dict[str, Any]] = no_recipe

    def __call__(self, n_features: int, **options: Any) -> tuple[Any, Any]:
        """Build ``(model, guide)`` with the builder (no ``zoo_spec``; see :func:`make`)."""
        return self.build(n_features, **options)

    @property
    def __signature__(self) -> inspect.Signature:  # the builder's, for inspect.signature(entry)
        return inspect.signature(self.build)

    @property
    def parameters(self) -> dict[str, inspect.Parameter]:
        """The builder's keyword parameters (``n_features`` excluded), name -> parameter."""
        params = dict(inspect.signature(self.build).parameters)
        params.pop(next(iter(params)))  # n_features
        return params

    def accepts(self, option: str) -> bool:
        """Whether the builder takes the keyword ``option``."""
        return option in self.parameters

    def default(self, option: str) -> Any:
        """The builder's default of ``option`` (``inspect.Parameter.empty`` when none)."""
        return self.parameters[option].default

    def option_default(self, option: Option) -> Any:
        """The default of ``option``: its builder's or its training recipe's, by target
        (``inspect.Parameter.empty`` when none)."""
        fn = self.build if option.target == "model" else self.training
        param = inspect.signature(fn).parameters.get(option.name)
        return inspect.Parameter.empty if param is None else param.default

    def default_init(self, **overrides: Any) -> Any:
        """The default initialisation strategy, with ``overrides`` (only those it takes)."""
        params = inspect.signature(self.init).parameters
        return self.init(**{k: v for k, v in overrides.items() if k in params})


ZOO: dict[str, Architecture] = {
    "vade": Architecture(
        name="vade",
        build=build_vade,
        description="Variational Deep Embedding: a Gaussian mixture prior on the codes of a VAE",
        paper="Jiang et al., 2017, Variational Deep Embedding (IJCAI)",
        options=(N_COMPONENTS, LATENT_DIM, HIDDEN, WEIGHTS, COMPONENTS),
        init=GMMInit,
        training=vade_training,
    ),
    "gmvae": Architecture(
        name="gmvae",
        build=build_gmvae,
        description="GMVAE: a categorical and a Gaussian code decoded together, c relaxed or "
        "enumerated in the guide",
        paper="Arias Figueroa & Ramirez Rivera, 2017, Is Simple Better? (NeurIPS workshop)",
        options=(
            N_COMPONENTS,
            LATENT_DIM,
            HIDDEN,
            WEIGHTS,
            CLUSTER,
            W_GAUSSIAN,
            FEATURE_DIM,
            TEMPERATURE,
        ),
        init=RandomInit,
        training=gmvae_training,
    ),
    "kdvae": Architecture(
        name="kdvae",
        build=build_kdvae,
        description="k-DVAE: a mixture of k VAEs, one encoder/decoder pair per cluster "
        "(batched), y summed exactly in the guide",
        paper="Caciularu & Goldberger, An Entangled Mixture of Variational Autoencoders "
        "Approach to Deep Clustering",
        options=(N_COMPONENTS, LATENT_DIM, HIDDEN, WEIGHTS),
        init=mixture_of_autoencoders_init,
        training=kdvae_training,
    ),
    "kdae": Architecture(
        name="kdae",
        build=build_kdae,
        description="k-DAE: k deterministic autoencoders, each item to the one that "
        "reconstructs it best",
        paper="Opochinsky, Chazan, Gannot & Goldberger, 2020, K-Autoencoders Deep Clustering "
        "(ICASSP)",
        options=(N_COMPONENTS, LATENT_DIM, HIDDEN, WEIGHTS),
        init=mixture_of_autoencoders_init,
        training=kdae_training,
    ),
    "vlac": Architecture(
        name="vlac",
        build=build_vlac,
        description="VLAC: a variational ladder autoencoder with a Gaussian mixture at chosen "
        "layers, one cluster site per mixture layer, relaxed or enumerated",
        paper="Willetts, Roberts & Holmes, 2019, Disentangling to Cluster: Gaussian Mixture "
        "Variational Ladder Auto-Encoders",
        options=(N_COMPONENTS, LATENT_DIM, HIDDEN, WEIGHTS, CLUSTER, LAYERS),
        init=RandomInit,
        training=vlac_training,
    ),
    "vae": Architecture(
        name="vae",
        build=build_vae,
        description="beta-VAE, a representation to cluster post hoc (beta=0: no KL term)",
        paper="Kingma & Welling, 2014; Higgins et al., 2017; Agarap & Azcarraga, 2020",
        options=(LATENT_DIM, HIDDEN, BETA),
    ),
    "ae": Architecture(
        name="ae",
        build=build_autoencoder,
        description="deterministic autoencoder, a representation to cluster post hoc (AE + GMM)",
        paper="Hinton & Salakhutdinov, 2006",
        options=(LATENT_DIM, HIDDEN),
    ),
}
"""The registry: architecture name -> :class:`Architecture`. Add an entry to register one."""


def get(architecture: str) -> Architecture:
    """The registry entry of ``architecture`` (case-insensitive); ``ValueError`` if unknown."""
    key = str(architecture).lower()
    if key not in ZOO:
        raise ValueError(f"unknown architecture {architecture!r}; known: {', '.join(ZOO)}")
    return ZOO[key]


def has_cluster_site(architecture: str) -> bool:
    """Whether the architecture's model has a cluster site, read from a small built model."""
    entry = get(architecture)
    small = {"latent_dim": 2, "hidden": (2,)}
    model, _ = entry(2, **{k: v for k, v in small.items() if entry.accepts(k)})
    return bool(structure.cluster_sites(model))


def make(architecture: str, n_features: int, **kwargs: Any) -> tuple[Any, Any]:
    """Build ``(model, guide)`` for a registered architecture.

    Parameters
    ----------
    architecture : str
        A key of :data:`ZOO` (``"vade"``, ...).
    n_features : int
        Width of the data.
    **kwargs
        The builder's options (``n_components``, ``latent_dim``, ``likelihood``,
        ``weights``, ``hidden``...), plain values so that they can be saved.

    The model carries ``zoo_spec``, the arguments as plain JSON, from which
    :meth:`pyroclust.Clusterer.load` rebuilds the pair. A weight prior given as an object
    (``weights=priors.Zipf(1.0, prior=dist.Gamma(2.0, 2.0))``) rather than a spec string has no
    such form: ``zoo_spec`` is then ``None`` and a saved estimator is loaded with
    ``Clusterer.load(path, model, guide)``, passing a pair built the same way.
    """
    entry = get(architecture)
    key = entry.name
    if "likelihood" in kwargs and kwargs["likelihood"] not in LIKELIHOODS:
        raise ValueError(
            f"unknown likelihood {kwargs['likelihood']!r}; known: {', '.join(LIKELIHOODS)}"
        )
    model, guide = entry.build(int(n_features), **kwargs)
    for name in ("hidden", "image_shape"):
        value = kwargs.get(name)
        if value is not None:  # plain JSON: a width (VLAC's hidden) or a list of them
            kwargs[name] = int(value) if np.ndim(value) == 0 else [int(h) for h in value]
    if isinstance(kwargs.get("weights"), priors.WeightPrior):
        model.zoo_spec = None  # an object, not plain JSON: load needs the pair (see above)
    else:
        model.zoo_spec = {"architecture": key, "n_features": int(n_features), **kwargs}
    return model, guide


def default_training(
    architecture: str,
    n_samples: int,
    image_shape: Sequence[int] | None = None,
    **recipe_options: Any,
) -> dict[str, Any]:
    """The tuned training recipe of ``architecture`` (keyword arguments of
    :class:`~pyroclust.Clusterer`): its entry's ``training(n_samples, image_shape,
    **recipe_options)``, ``recipe_options`` being values of its ``target="training"``
    options (GMVAE's ``temperature="1:0.5:100"``).

    VaDE's is :func:`vade_training`; architectures without a recipe give ``{}`` (the
    estimator's defaults).
    """
    entry = get(architecture)
    known = {o.name for o in entry.options if o.target == "training"}
    unknown = sorted(set(recipe_options) - known)
    if unknown:
        raise ValueError(
            f"{unknown} are not training options of {entry.name!r}; it takes {sorted(known)}"
        )
    return dict(entry.training(n_samples, image_shape, **recipe_options))
