"""The traced-graph ELBO: the same loss and gradients as Pyro's, step for step; retracing."""

from __future__ import annotations

import shutil

import pyro
import pytest
import torch
from pyro.infer import Trace_ELBO, TraceEnum_ELBO

from pyroclust import zoo
from pyroclust.infer import SVITrainer, graph, load_checkpoint
from pyroclust.infer.elbo import fast_path, local_params, make_elbo
from pyroclust.infer.graph import GraphELBO
from pyroclust.infer.trainer import TRAINER_KIND

N = 48


#: The equality tests run where the fast path is offered; elsewhere it is refused (tested).
pytestmark = pytest.mark.skipif(
    not graph.verified_torch(), reason=f"the traced graph is refused on torch {torch.__version__}"
)


@pytest.fixture
def x(x_small) -> torch.Tensor:
    return torch.as_tensor(x_small)  # 48 rows of 12 binary features


def _pair(arch: str = "vade", seed: int = 0, **options):
    pyro.set_rng_seed(seed)
    sizes = {"n_components": 3} if zoo.has_cluster_site(arch) else {}
    if arch == "vade":
        sizes.update(latent_dim=2, hidden=(8,))
    return zoo.make(arch, 12, **sizes, **options)


def _loss_and_grads(elbo, model, guide, batch, seed):
    params = list({id(p): p for p in (*model.parameters(), *guide.parameters())}.values())
    pyro.set_rng_seed(seed)
    loss = elbo.differentiable_loss(model, guide, batch, data_size=N)
    return loss.detach(), torch.autograd.grad(loss, params, allow_unused=True)


CASES = [
    ("vade", {}, TraceEnum_ELBO),
    ("gmvae", {"cluster": "relaxed"}, Trace_ELBO),
    ("gmvae", {"cluster": "enumerate"}, TraceEnum_ELBO),
    ("vae", {}, Trace_ELBO),
    ("vlac", {}, Trace_ELBO),
]


@pytest.mark.parametrize(("arch", "options", "kind"), CASES, ids=lambda c: str(c))
def test_graph_loss_and_gradients_equal_the_pyro_elbo(x, arch, options, kind) -> None:
    model, guide = _pair(arch, **options)
    with local_params():
        plain = make_elbo(model, x[:2], guide=guide, data_size=N)
        assert isinstance(plain, kind)
        plain.differentiable_loss(model, guide, x, data_size=N)  # lazily created parameters
        fast = GraphELBO(plain)
        for seed in (1, 2):  # the recording step, then a replay with new noise
            want_loss, want = _loss_and_grads(plain, model, guide, x[:16], seed)
            got_loss, got = _loss_and_grads(fast, model, guide, x[:16], seed)
            torch.testing.assert_close(got_loss, want_loss, rtol=1e-6, atol=1e-4)
            assert len(got) == len(want) > 0
            for g, w in zip(got, want, strict=True):
                assert (g is None) == (w is None)
                if w is not None:
                    torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-6)
    assert len(fast._graphs) == 1


class _Halves(torch.nn.Module):
    """Holds one parameter for :func:`test_a_stop_gradient_stays_one_in_the_recorded_graph`."""

    def __init__(self) -> None:
        super().__init__()
        self.p = torch.nn.Parameter(torch.tensor([0.5, -1.0, 2.0]))


def test_a_stop_gradient_stays_one_in_the_recorded_graph() -> None:
    # torch 2.14's make_fx records a detach as an alias unless told otherwise: the loss stays
    # right and the gradient doubles (a weight prior's detached mean is read this way)
    def fn(model, guide, scale):
        return (model.p.detach() * model.p).sum() * scale + guide.p.data.sum() * guide.p.sum()

    model, guide = _Halves(), _Halves()
    traced = graph.GraphLoss(fn)
    for scale in (1.0, 3.0):  # the recording call, then a replay
        value = traced(model, guide, torch.tensor(scale))
        grad_model, grad_guide = torch.autograd.grad(value, [model.p, guide.p])
        torch.testing.assert_close(grad_model, scale * model.p.detach())  # d/dp (c * p)
        torch.testing.assert_close(grad_guide, guide.p.detach().sum().expand(3))


class _Coin(pyro.nn.PyroModule):
    """b ~ Bernoulli(sigmoid(a)), x ~ N(b, 1): a site without reparameterisation."""

    def __init__(self) -> None:
        super().__init__()
        self.a = torch.nn.Parameter(torch.tensor(0.3))

    def forward(self, x: torch.Tensor, data_size: int) -> None:
        with pyro.plate("data", data_size, subsample_size=len(x)):
            b = pyro.sample("b", pyro.distributions.Bernoulli(logits=self.a.expand(len(x))))
            pyro.sample("obs", pyro.distributions.Normal(b, 1.0), obs=x)


class _CoinGuide(pyro.nn.PyroModule):
    def __init__(self) -> None:
        super().__init__()
        self.q = torch.nn.Parameter(torch.tensor(-0.2))

    def forward(self, x: torch.Tensor, data_size: int) -> None:
        with pyro.plate("data", data_size, subsample_size=len(x)):
            pyro.sample("b", pyro.distributions.Bernoulli(logits=self.q.expand(len(x))))


def test_the_score_function_gradient_of_trace_elbo_survives_recording() -> None:
    # Trace_ELBO's surrogate enters as surrogate - surrogate.detach(): were the detach lost,
    # the guide's parameter would get only its pathwise gradient
    model, guide = _Coin(), _CoinGuide()
    x = torch.tensor([0.1, 1.2, 0.9, -0.4])
    plain, fast = Trace_ELBO(), GraphELBO(Trace_ELBO())
    with local_params():
        for seed in (1, 2):
            results = []
            for elbo in (plain, fast):
                pyro.set_rng_seed(seed)
                loss = elbo.differentiable_loss(model, guide, x, data_size=8)
                results.append((loss.detach(), torch.autograd.grad(loss, [model.a, guide.q])))
            (want, want_grads), (got, got_grads) = results
            torch.testing.assert_close(got, want)
            for g, w in zip(got_grads, want_grads, strict=True):
                torch.testing.assert_close(g, w)


def test_a_new_shape_or_mode_records_a_new_graph_and_a_buffer_is_read_live(x) -> None:
    model, guide = _pair("gmvae", cluster="relaxed")
    with local_params():
        plain = make_elbo(model, x[:2], guide=guide, data_size=N)
        fast = GraphELBO(plain)
        fast.differentiable_loss(model, guide, x[:16], data_size=N)
        fast.differentiable_loss(model, guide, x[:8], data_size=N)
        assert len(fast._graphs) == 2
        fast.differentiable_loss(model, guide, x[:8], data_size=N * 2)  # a Python number
        assert len(fast._graphs) == 3
        model.eval(), guide.eval()
        fast.differentiable_loss(model, guide, x[:8], data_size=N)
        assert len(fast._graphs) == 4
        model.train(), guide.train()
        # the temperature is a buffer: annealing it changes what the recorded graph computes
        model.set_temperature(0.5), guide.set_temperature(0.5)
        want, _ = _loss_and_grads(plain, model, guide, x[:16], 5)
        got, _ = _loss_and_grads(fast, model, guide, x[:16], 5)
        assert len(fast._graphs) == 4
        torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-4)


def test_a_model_that_branches_on_tensor_values_is_a_clear_error(x) -> None:
    model, guide = _pair("kdvae")  # tests whether its cluster values are the enumeration
    with local_params():
        fast = GraphELBO(make_elbo(model, x[:2], guide=guide, data_size=N))
        with pytest.raises(ValueError, match="branch on tensor values.*jit=False"):
            fast.differentiable_loss(model, guide, x[:8], data_size=N)


def test_fast_path_names_and_bad_values() -> None:
    assert fast_path(False) is None and fast_path(None) is None
    assert fast_path(True) == "torchscript"
    assert fast_path("fx") == "fx" and fast_path("inductor") == "inductor"
    with pytest.raises(ValueError, match="jit must be"):
        fast_path("fast")
    with pytest.raises(ValueError, match="backend must be"):
        GraphELBO(TraceEnum_ELBO(), backend="tvm")
    with pytest.raises(TypeError, match="wraps TraceEnum_ELBO or Trace_ELBO"):
        GraphELBO(pyro.infer.TraceGraph_ELBO())
    with pytest.raises(TypeError, match="torch.nn.Module"):
        GraphELBO(Trace_ELBO()).differentiable_loss(lambda x: None, lambda x: None, 1.0)


def _trainer(model, guide, **kwargs) -> SVITrainer:
    options = {"epochs": 3, "batch_size": 20, "lr": 1e-2, "random_state": 0, "progress": False}
    options.update(kwargs)
    return SVITrainer(model, guide, **options)


def test_a_fit_with_the_graph_equals_the_eager_fit(x) -> None:
    # batches of 20, 20 and 8: two graphs, the same noise and updates as the eager ELBO
    model, guide = _pair()
    graph = _trainer(model, guide, jit="fx").fit(x)
    eager_model, eager_guide = _pair()
    eager = _trainer(eager_model, eager_guide).fit(x)
    assert isinstance(graph.elbo, GraphELBO) and len(graph.elbo._graphs) == 2
    for a, b in zip(graph.history, eager.history, strict=True):
        assert a["elbo"] == pytest.approx(b["elbo"], rel=1e-5)
    for a, b in ((model, eager_model), (guide, eager_guide)):
        for (name, p), q in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
            torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5, msg=name)


class Interrupted(Exception):
    """Stands for a crash in the middle of a run."""


def test_an_interrupted_graph_fit_resumes_bit_identical(tmp_path, x) -> None:
    model, guide = _pair()
    full = _trainer(model, guide, jit="fx").fit(x)

    def crash(trainer: SVITrainer, epoch: int) -> None:
        if epoch == 2:
            raise Interrupted

    ckpt = tmp_path / "run.pt"
    first = _trainer(*_pair(), jit="fx", checkpoint=ckpt, callbacks=[crash])
    with pytest.raises(Interrupted):
        first.fit(x)
    assert load_checkpoint(ckpt, TRAINER_KIND)["state"]["epoch"] == 1
    model2, guide2 = _pair(seed=123)
    resumed = _trainer(model2, guide2, jit="fx", checkpoint=ckpt).fit(x, resume=True)
    assert [r["elbo"] for r in resumed.history] == [r["elbo"] for r in full.history]
    for a, b in ((model2, model), (guide2, guide)):
        for (name, p), q in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
            assert torch.equal(p, q), name


@pytest.mark.skipif(
    not (shutil.which("c++") or shutil.which("g++")),
    reason="inductor compiles C++ on a CPU: no C++ compiler here",
)
def test_the_inductor_graph_trains_like_the_eager_elbo(x) -> None:
    # about 40 s on two CPU cores: compiling the forward and backward graphs of two shapes
    model, guide = _pair()
    compiled = _trainer(model, guide, jit="inductor", epochs=2, batch_size=16).fit(x)
    eager = _trainer(*_pair(), epochs=2, batch_size=16).fit(x)
    for a, b in zip(compiled.history, eager.history, strict=True):
        assert a["elbo"] == pytest.approx(b["elbo"], rel=1e-3)


def test_pruning_after_recording_records_anew_and_matches_the_eager_elbo(x) -> None:
    from pyroclust.regularizers import prune

    model, guide = _pair()
    with local_params():
        plain = make_elbo(model, x[:2], guide=guide, data_size=N)
        fast = GraphELBO(plain)
        fast.differentiable_loss(model, guide, x[:16], data_size=N)
        with torch.no_grad():  # component 2 nearly empty, then pruned: a forward hook
            model.weights.logits.copy_(torch.tensor([0.0, 0.0, -9.0]))
        prune(model, 1e-3, guide=guide)
        want, _ = _loss_and_grads(plain, model, guide, x[:16], 7)
        got, _ = _loss_and_grads(fast, model, guide, x[:16], 7)
    assert len(fast._graphs) == 2
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-4)
