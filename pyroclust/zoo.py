"""The zoo's explicit registry: architecture name -> builder of a (model, guide) pair.

Builders choose the papers' default networks from the data's width, so the CLI and quick
experiments need only a name. Each built model carries ``zoo_spec`` (the builder's
arguments, plain JSON), which is what lets a saved estimator be rebuilt from its checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from torch import nn

from pyroclust import guides, likelihoods, models, priors
from pyroclust.nn import MLP, RandomAffine

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


def make_weight_prior(spec: str | priors.WeightPrior | None) -> priors.WeightPrior:
    """A weight prior from a spec string ``NAME`` or ``NAME:VALUE`` (e.g. ``"learned"``)."""
    if isinstance(spec, priors.WeightPrior):
        return spec
    if spec is None:
        return priors.Learned()
    name, _, value = str(spec).partition(":")
    name = name.strip().lower().replace("_", "-")
    if name not in WEIGHT_PRIORS:
        raise ValueError(f"unknown weight prior {name!r}; known: {', '.join(WEIGHT_PRIORS)}")
    return WEIGHT_PRIORS[name](float(value)) if value else WEIGHT_PRIORS[name]()


def build_vade(
    n_features: int,
    n_components: int = 10,
    latent_dim: int = 10,
    *,
    likelihood: str = "bernoulli",
    weights: str | priors.WeightPrior | None = "learned",
    hidden: Sequence[int] = (500, 500, 2000),
    image_shape: Sequence[int] | None = None,
) -> tuple[models.VaDE, guides.VaDEGuide]:
    """VaDE with the paper's networks: encoder D-500-500-2000-d, decoder mirrored.

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


ZOO: dict[str, Callable[..., tuple[Any, Any]]] = {
    "vade": build_vade,
    "vae": build_vae,
    "ae": build_autoencoder,
}


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
    key = architecture.lower()
    if key not in ZOO:
        raise ValueError(f"unknown architecture {architecture!r}; known: {', '.join(ZOO)}")
    if "likelihood" in kwargs and kwargs["likelihood"] not in LIKELIHOODS:
        raise ValueError(
            f"unknown likelihood {kwargs['likelihood']!r}; known: {', '.join(LIKELIHOODS)}"
        )
    model, guide = ZOO[key](int(n_features), **kwargs)
    for name in ("hidden", "image_shape"):
        if kwargs.get(name) is not None:
            kwargs[name] = [int(h) for h in kwargs[name]]
    if isinstance(kwargs.get("weights"), priors.WeightPrior):
        model.zoo_spec = None  # an object, not plain JSON: load needs the pair (see above)
    else:
        model.zoo_spec = {"architecture": key, "n_features": int(n_features), **kwargs}
    return model, guide


def default_training(
    architecture: str, n_samples: int, image_shape: Sequence[int] | None = None
) -> dict[str, Any]:
    """The tuned training recipe (keyword arguments of :class:`~pyroclust.Clusterer`).

    For VaDE, two regimes, both measured by ``benchmarks/quality.py`` against the paper's
    recipe (``GMMInit``):

    - below 10,000 samples (the digits): 100 epochs of autoencoder pretraining, augmented
      with random affine moves when the rows are images, then :class:`ManifoldInit` (a
      mixture on a t-SNE embedding of the data), 20 epochs of SVI with the cluster site
      observed at that mixture's labels (``align_epochs``), then 20 epochs of free SVI at a
      small learning rate, which refines the start rather than replacing it;
    - from 10,000 samples on (MNIST): 10 epochs of plain pretraining, a mixture on a UMAP
      embedding of the data (all of it up to 100,000 rows), 20 epochs of SVI with the
      cluster site observed at those labels (``align_epochs``), so that the mixture on the
      codes reproduces them, then 10 epochs of free SVI.

    Other architectures: ``{}`` (the estimator's defaults).
    """
    from pyroclust.infer.init import ManifoldInit
    from pyroclust.infer.schedules import StepDecay

    if architecture.lower() != "vade":
        return {}
    small = n_samples < 10_000
    start = {"space": "data", "align_epochs": 20, "align_lr": 1e-3}
    if small:
        augment = None if image_shape is None else RandomAffine((image_shape[0], image_shape[1]))
        init = ManifoldInit(pretrain_epochs=100, augment=augment, **start)
    else:
        init = ManifoldInit(pretrain_epochs=10, embedding="umap", max_samples=100_000, **start)
    return {
        "epochs": 20 if small else 10,
        "batch_size": 128 if small else 256,
        "lr": 5e-4,
        "lr_schedule": StepDecay(10, 0.9),
        "init": init,
    }
