"""The registry: every architecture and every weight prior passes the shared checks."""

from __future__ import annotations

import dataclasses
import inspect
import json

import pytest
import torch

from pyroclust import components, likelihoods, priors, zoo
from pyroclust.infer.freebits import FreeBits
from pyroclust.testing import ModelGuideChecks


def _tiny_kwargs(architecture: str, **extra) -> dict:
    """Small sizes for any registered builder (n_components only where it is accepted)."""
    params = inspect.signature(zoo.ZOO[architecture]).parameters
    kwargs = {"latent_dim": 2, "hidden": (8,)}
    if "n_components" in params:
        kwargs["n_components"] = 3
    kwargs.update(extra)
    return kwargs


def _x(n: int = 20) -> torch.Tensor:
    return torch.rand(n, 12, generator=torch.Generator().manual_seed(0))


# one shared-checks class per registered architecture and per weight prior (with VaDE), so a
# new registry entry is tested without writing anything
for _arch in zoo.ZOO:

    def _make_arch(self, _arch=_arch):
        model, guide = zoo.make(_arch, n_features=12, **_tiny_kwargs(_arch))
        return model, guide, _x()

    _name = f"TestArchitecture_{_arch.replace('-', '_')}"
    globals()[_name] = type(_name, (ModelGuideChecks,), {"make": _make_arch})

for _prior in zoo.WEIGHT_PRIORS:

    def _make_prior(self, _prior=_prior):
        kwargs = _tiny_kwargs("vade", weights=_prior)
        model, guide = zoo.make("vade", n_features=12, **kwargs)
        return model, guide, _x()

    _name = f"TestVaDEWithPrior_{_prior.replace('-', '_')}"
    globals()[_name] = type(_name, (ModelGuideChecks,), {"make": _make_prior})


@pytest.mark.parametrize("architecture", sorted(zoo.ZOO))
def test_spec_is_plain_json_and_rebuilds_the_same_pair(architecture: str) -> None:
    model, guide = zoo.make(architecture, n_features=12, **_tiny_kwargs(architecture))
    spec = model.zoo_spec
    assert spec["architecture"] == architecture and spec["n_features"] == 12
    rebuilt, rebuilt_guide = zoo.make(**json.loads(json.dumps(spec)))
    for a, b in ((model, rebuilt), (guide, rebuilt_guide)):
        sa, sb = a.state_dict(), b.state_dict()
        assert sa.keys() == sb.keys()
        assert all(sa[k].shape == sb[k].shape for k in sa)


def test_architecture_names_are_case_insensitive() -> None:
    model, _ = zoo.make("VaDE", n_features=12, **_tiny_kwargs("vade"))
    assert model.zoo_spec["architecture"] == "vade"


def test_vade_defaults_are_the_papers() -> None:
    model, guide = zoo.make("vade", n_features=784)
    assert (model.n_components, model.latent_dim) == (10, 10)
    assert guide.encoder.sizes == (784, 500, 500, 2000)
    assert model.decoder.sizes == (10, 2000, 500, 500, 784)
    assert isinstance(model.likelihood, likelihoods.Bernoulli)
    assert isinstance(model.weights, priors.Learned)


def test_gaussian_likelihood_learns_one_scale_per_feature() -> None:
    model, _ = zoo.make("vade", n_features=12, likelihood="gaussian", **_tiny_kwargs("vade"))
    assert isinstance(model.likelihood, likelihoods.Gaussian)
    assert model.likelihood.scale.shape == (12,)


@pytest.mark.parametrize(
    "spec, cls",
    [("uniform", priors.Uniform), ("learned", priors.Learned), ("Learned", priors.Learned)],
)
def test_make_weight_prior(spec: str, cls: type) -> None:
    assert isinstance(zoo.make_weight_prior(spec), cls)


def test_make_weight_prior_passes_objects_and_none() -> None:
    prior = priors.Uniform()
    assert zoo.make_weight_prior(prior) is prior
    assert isinstance(zoo.make_weight_prior(None), priors.Learned)


@pytest.mark.parametrize(
    "spec, cls, df",
    [
        ("gaussian", components.DiagonalGaussian, None),
        (None, components.DiagonalGaussian, None),
        ("multivariate-t", components.MultivariateStudentT, 4.0),
        ("Multivariate_T:6.5", components.MultivariateStudentT, 6.5),
        ("student-t:2", components.StudentT, 2.0),
    ],
)
def test_make_components(spec: str | None, cls: type, df: float | None) -> None:
    family = zoo.make_components(spec, 5, 3)
    assert isinstance(family, cls)
    assert (family.n_components, family.latent_dim) == (5, 3)
    if df is not None:
        assert float(family.df) == df


@pytest.mark.parametrize(
    "spec, message",
    [
        ("cauchy", "unknown component family 'cauchy'; known: gaussian, multivariate-t"),
        ("gaussian:2", "component family 'gaussian' takes no value"),
        ("multivariate-t:many", "takes a number after ':' \\(the degrees of freedom\\)"),
        ("multivariate-t:-1", "df must be positive"),
    ],
)
def test_components_spec_says_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        zoo.components_spec(spec)


def test_vade_with_t_components_is_built_saved_in_its_spec_and_passed_objects() -> None:
    model, _ = zoo.make("vade", 12, components="multivariate-t:5", **_tiny_kwargs("vade"))
    assert isinstance(model.components, components.MultivariateStudentT)
    assert model.zoo_spec["components"] == "multivariate-t:5"
    family = components.StudentT(3, 2)
    assert zoo.make_components(family, 3, 2) is family


def test_unknown_names() -> None:
    with pytest.raises(ValueError, match="unknown weight prior 'flat'; known: uniform"):
        zoo.make_weight_prior("flat")
    with pytest.raises(ValueError, match="unknown architecture 'gmvae2'; known: vade"):
        zoo.make("gmvae2", n_features=12)
    with pytest.raises(ValueError, match="unknown likelihood 'poisson'; known: bernoulli"):
        zoo.make("vade", n_features=12, likelihood="poisson")


def test_gmvae_auto_treatment_enumerates_few_clusters_and_relaxes_many() -> None:
    up_to = zoo.GMVAE_ENUMERATE_UP_TO
    tiny = {"latent_dim": 2, "hidden": (8,)}
    for k, cluster in ((2, "enumerate"), (up_to, "enumerate"), (up_to + 1, "relaxed")):
        model, guide = zoo.make("gmvae", 12, n_components=k, cluster="auto", **tiny)
        assert model.cluster == guide.cluster == cluster
        assert model.zoo_spec["cluster"] == "auto"  # resolved again when loaded
    model, _ = zoo.make("gmvae", 12, n_components=3, **tiny)
    assert model.cluster == "relaxed"  # the default: the paper's relaxed c
    with pytest.raises(ValueError, match="cluster must be auto, enumerate or relaxed"):
        zoo.cluster_spec("exact")
    with pytest.raises(ValueError, match="cluster must be one of"):
        zoo.make("gmvae", 12, n_components=3, cluster="exact")


def test_default_training_recipe() -> None:
    from pyroclust.infer.init import ManifoldInit
    from pyroclust.nn import RandomAffine

    small = zoo.default_training("vade", 1797, (8, 8))
    assert isinstance(small["init"], ManifoldInit) and small["init"].space == "data"
    assert isinstance(small["init"].augment, RandomAffine)
    assert small["init"].embedding == "tsne" and small["init"].align_epochs > 0
    large = zoo.default_training("VaDE", 70_000, (28, 28))
    assert large["init"].space == "codes" and large["init"].embedding == "umap"
    # large images: UMAP on the codes of a longer pretraining (N2D), 44 epochs of 70,000 rows
    steps = -(-70_000 // large["init"].batch_size) * large["init"].pretrain_epochs
    assert large["init"].pretrain_epochs == 44 and steps >= zoo.VADE_CODES_PRETRAIN_STEPS
    table = zoo.default_training("vade", 70_000)  # large, not images: UMAP on the data
    assert table["init"].space == "data" and table["init"].pretrain_epochs == 5
    assert large["init"].augment is None and large["init"].align_epochs > 0
    # UMAP layouts are drawn UMAP_RESTARTS times (the medoid clustering kept); t-SNE's once
    assert large["init"].n_embeddings == zoo.UMAP_RESTARTS >= 1
    assert large["init"].n_dims is None and large["init"].embedding_dims(10) == 10
    assert small["init"].n_embeddings == 1
    # the alignment and free SVI hold the start's clusters (weights 10, not 1)
    for recipe in (small, large):
        assert recipe["init"].align_alpha == zoo.VADE_ALIGN_ALPHA == 10.0
        assert recipe["loss"].weight == zoo.VADE_START_AGREEMENT == 10.0
    assert zoo.default_training("gmvae", 70_000)["init"].n_embeddings == zoo.UMAP_RESTARTS
    assert zoo.default_training("vae", 100) == {}


def test_image_shape_gives_an_augmenting_guide_and_stays_in_the_spec() -> None:
    from pyroclust.nn import RandomAffine

    model, guide = zoo.make("vade", 64, n_components=3, hidden=(8,), image_shape=(8, 8))
    assert isinstance(guide.augment, RandomAffine) and guide.augment.image_shape == (8, 8)
    assert model.zoo_spec["image_shape"] == [8, 8]
    _, plain = zoo.make("vade", 64, n_components=3, hidden=(8,))
    assert plain.augment is None


# ------------------------------------------------------------------------------------------
# registry entries
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("architecture", sorted(zoo.ZOO))
def test_every_entry_describes_itself(architecture: str) -> None:
    entry = zoo.ZOO[architecture]
    assert entry.name == architecture and entry.description and entry.paper
    assert "\n" not in entry.description
    for option in entry.options:  # the CLI offers only options the builder takes
        assert entry.accepts(option.name), option.name
    assert entry.training(100, None) == zoo.default_training(architecture, 100)
    assert callable(entry.default_init())


def test_the_default_initialisation_is_the_entrys() -> None:
    from pyroclust.infer.init import GMMInit, RandomInit

    assert isinstance(zoo.ZOO["vade"].default_init(pretrain_epochs=3), GMMInit)
    assert zoo.ZOO["vade"].default_init(pretrain_epochs=3).pretrain_epochs == 3
    assert isinstance(zoo.ZOO["vae"].default_init(pretrain_epochs=3), RandomInit)  # ignored


def test_a_new_architecture_is_one_entry(monkeypatch) -> None:
    def build_tiny(n_features: int, latent_dim: int = 2, *, likelihood: str = "bernoulli"):
        return zoo.build_vae(n_features, latent_dim, likelihood=likelihood, hidden=(4,))

    def recipe(n_samples, image_shape=None):
        return {"epochs": 3}

    entry = zoo.Architecture(
        name="tiny",
        build=build_tiny,
        description="a tiny VAE",
        paper="nobody, 2026",
        options=(zoo.LATENT_DIM,),
        training=recipe,
    )
    monkeypatch.setitem(zoo.ZOO, "tiny", entry)
    model, _ = zoo.make("Tiny", n_features=12, latent_dim=3)
    assert model.zoo_spec == {"architecture": "tiny", "n_features": 12, "latent_dim": 3}
    assert zoo.default_training("tiny", 10) == {"epochs": 3}
    assert not zoo.has_cluster_site("tiny") and zoo.has_cluster_site("vade")
    assert list(inspect.signature(entry).parameters) == ["n_features", "latent_dim", "likelihood"]


def test_no_code_branches_on_an_architecture_name() -> None:
    """Defaults live in the entries: no ``architecture == "vade"`` anywhere in the package."""
    import ast
    from pathlib import Path

    import pyroclust

    names = set(zoo.ZOO)
    for path in Path(pyroclust.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare):
                operands = [node.left, *node.comparators]
                constants = {o.value for o in operands if isinstance(o, ast.Constant)}
                assert not constants & names, f"{path}:{node.lineno} compares with a name"


@pytest.mark.parametrize("rows", [1797, 70_000])
def test_guide_side_recipes_keep_the_start(rows: int) -> None:
    """GMVAE's and k-DVAE's free SVI / joint training keep the start's clusters in q(c | x);
    k-DAE keeps its own objective. VaDE inside the k-DVAE start is trained with VaDE's own
    recipe, StartAgreement included (the init binds it to VaDE's start). Batches have a
    full last batch (BatchNorm's running statistics)."""
    from pyroclust.models.kdae import MinReconstructionLoss
    from pyroclust.regularizers import StartAgreement

    gmvae = zoo.default_training("gmvae", rows, (28, 28))
    kdvae = zoo.default_training("kdvae", rows, (28, 28))
    kdae = zoo.default_training("kdae", rows, (28, 28))
    assert isinstance(gmvae["loss"], StartAgreement) and gmvae["loss"].weight > 0
    # the free SVI's step budget: 60 epochs on the digits (the cap) and on MNIST (the budget)
    assert gmvae["epochs"] == 60
    assert zoo.default_training("gmvae", 200_000)["epochs"] == 21  # the budget binds
    assert isinstance(kdvae["loss"], StartAgreement) and kdvae["loss"].weight > 0
    assert isinstance(kdae["loss"], MinReconstructionLoss)
    assert kdvae["init"].recipe(rows)["loss"] == zoo.vade_training(rows, (28, 28))["loss"]
    for size in (gmvae["batch_size"], gmvae["init"].batch_size):
        assert rows % size == 0 or rows % size >= 0.8 * size


def test_full_batch_size() -> None:
    assert zoo.full_batch_size(1797, 256) == 225  # 8 batches, the last of 222 rows
    assert zoo.full_batch_size(70_000, 256) == 250  # 280 full batches
    assert zoo.full_batch_size(100, 256) == 256  # one batch
    for n in range(300, 3000, 37):
        size = zoo.full_batch_size(n, 64)
        assert 52 <= size <= 64
        assert (n % size or size) / size == max((n % b or b) / b for b in range(52, 65))


def test_vlac_recipe_starts_the_top_layer_on_the_shape_and_the_lowest_on_the_colours() -> None:
    from pyroclust.infer.init import SiteRange
    from pyroclust.infer.init.layerwise import resolve_views
    from pyroclust.nn import ColourView, ShapeView

    images = zoo.default_training("vlac", 10_000, (3, 28, 28))["init"]
    assert list(images.views) == [-1, SiteRange(0, 1)]
    shape, colour = images.views.values()
    assert isinstance(shape, ShapeView) and shape.image_shape == (3, 28, 28)
    assert isinstance(colour, ColourView) and colour.image_shape == (3, 28, 28)
    # two mixture layers: the colours at the lower one; one: the shape alone
    assert resolve_views(images.views, ["y2", "y3"]) == {"y3": shape, "y2": colour}
    assert resolve_views(images.views, ["y3"]) == {"y3": shape}
    grey = zoo.default_training("vlac", 10_000, (1, 28, 28))["init"]
    assert list(grey.views) == [-1]  # one channel: no colour to see
    assert zoo.default_training("vlac", 10_000)["init"].views is None  # not images
    recipe = zoo.vlac_training(10_000, (3, 28, 28), shape_view=False, colour_view=False)
    assert recipe["init"].views is None
    only_colour = zoo.vlac_training(10_000, (3, 28, 28), shape_view=False)["init"]
    assert list(only_colour.views) == [SiteRange(0, 1)]
    assert recipe["init"].warmup_loss is None and recipe["init"].features == "site_features"
    floored = zoo.vlac_training(10_000, (3, 28, 28), free_bits=2.0, shape_view=False)["init"]
    assert floored.warmup_loss == FreeBits(2.0) and floored.features == "code_features"
    assert floored.plain_warmup and not recipe["init"].plain_warmup
    assert list(floored.views) == [SiteRange(0, 1)]  # a view still wins where one is asked
    assert recipe["init"].warmup_restarts == 1  # no restart unless asked
    restarted = zoo.vlac_training(10_000, (3, 28, 28), free_bits=2.0, warmup_restarts=3)
    assert restarted["init"].warmup_restarts == 3


def test_vlac_recipe_aligns_and_keeps_its_start_with_vades_weights() -> None:
    recipe = zoo.vlac_training(10_000, (3, 28, 28))
    assert recipe["init"].align_alpha == zoo.VLAC_ALIGN_ALPHA == zoo.VADE_ALIGN_ALPHA
    assert recipe["loss"].weight == zoo.VLAC_START_AGREEMENT == zoo.VADE_START_AGREEMENT
    # until every layer reproduces its labels, for at most 1,800 steps of 128 rows: 23
    # epochs of 10,000 rows, within the 77-epoch budget less its 39 of warm-up and a quarter
    assert recipe["init"].align_epochs == 23 and recipe["epochs"] == 15
    assert recipe["init"].align_until == zoo.VLAC_ALIGN_UNTIL == 1.0
    # every layer's start embeds all the rows up to VaDE's 100,000, not a 10,000-row subset
    assert recipe["init"].clusterer.max_samples == zoo.MANIFOLD_MAX_SAMPLES == 100_000


def test_vlac_recipe_spends_half_its_budget_on_the_warm_up_and_keeps_free_svi() -> None:
    # 770,000 item passes: 11 epochs of 70,000 rows, 6 of them warm-up, up to 2 aligning
    # (1,800 steps would be 4), 3 free (VLAC_MIN_FREE_EPOCHS)
    recipe = zoo.vlac_training(70_000, (3, 28, 28))
    assert (recipe["init"].warmup_epochs, recipe["init"].align_epochs, recipe["epochs"]) == (
        6,
        2,
        zoo.VLAC_MIN_FREE_EPOCHS,
    )
    # every mixture layer starts on a view (coloured MNIST's two layers): 1 epoch of the
    # warm-up, its 5 others aligning (7 in all); None keeps the warm-up whole
    assert recipe["init"].viewed_warmup_epochs == zoo.VLAC_VIEWED_WARMUP_EPOCHS == 1
    model, _ = zoo.build_vlac(3 * 28 * 28, layers=[1, 4, 10, 1], image_shape=(3, 28, 28))
    assert recipe["init"].stage_epochs(model) == (1, 7)
    whole = dataclasses.replace(recipe["init"], viewed_warmup_epochs=None)
    assert whole.stage_epochs(model) == (6, 2)
    # a site without a view (plain MNIST's single channel has no colours): the whole warm-up
    plain, _ = zoo.build_vlac(28 * 28, layers=[1, 4, 10, 1], image_shape=(1, 28, 28))
    plain_recipe = zoo.vlac_training(70_000, (1, 28, 28))
    assert plain_recipe["init"].stage_epochs(plain) == (6, 2)
    # small data: the 100-epoch cap, the alignment within what the warm-up leaves less a
    # quarter of it (1,800 steps would be 113 epochs of 2,000 rows)
    small = zoo.vlac_training(2_000, (3, 28, 28))
    assert (small["init"].warmup_epochs, small["init"].align_epochs, small["epochs"]) == (
        50,
        38,
        12,
    )


def test_a_single_width_is_kept_as_plain_json_and_rebuilds_the_pair() -> None:
    # VLAC takes one width for its whole ladder: make used to fail iterating it
    model, _ = zoo.make("vlac", 12, n_components=3, hidden=8, layers=[1, 3])
    spec = dict(model.zoo_spec)
    assert spec["hidden"] == 8 and spec["layers"] == [1, 3]
    rebuilt, _ = zoo.make(spec.pop("architecture"), spec.pop("n_features"), **spec)
    assert [p.shape for p in rebuilt.parameters()] == [p.shape for p in model.parameters()]
