r"""A fast path for the ELBO: the whole objective traced once into an FX graph of tensor ops.

Each step of ``TraceEnum_ELBO`` runs the model and the guide under Pyro's effect handlers,
builds two traces, computes every site's log-density and contracts the enumerated sites: a
few milliseconds of Python per step whatever the size of the networks. On a GPU, or on a
CPU with small networks, that fixed cost decides the speed (VaDE with one hidden layer of
64 units, batch 256, one CPU thread: 2.0x the hand-written plain-PyTorch step).

:class:`GraphELBO` runs the objective of a Pyro ELBO once per input shape under
``torch.fx``'s ``make_fx``, which records the tensor operations it performs (the networks,
the reparameterised draws, the log-densities, the contraction) as a graph, with the
parameters and buffers of model and guide as the graph's inputs. Later steps replay the
graph: the same operations in the same order, drawing from the same random stream, so the
loss and its gradients equal those of the Pyro ELBO it wraps, step for step (tested), while
the Python of the effect handlers runs only once. With ``backend="inductor"`` the graph is
also compiled by ``torch.compile`` (fused kernels; compiling takes about a minute on a CPU).

This replaces Pyro's ``JitTraceEnum_ELBO``, which does the same with ``torch.jit.trace``
(TorchScript, deprecated from torch 2.13), without giving up the model/guide design.

What a trace fixes: like any tracing compiler, the graph keeps the Python control flow of
the run it recorded. It is retraced when the shapes, dtypes or devices of the arguments,
the other (non-tensor) arguments, the training mode or the forward hooks of any module of
model or guide (:func:`~pyroclust.regularizers.prune` is one), or the set of their
parameters change. Tensors that model or guide hold outside their parameters and buffers
are captured as they are (the same tensor object, so in-place updates are seen), but a
Python number read by the model (a temperature stored as a float, say) is frozen at its
traced value: keep such state in a buffer, or use the eager ELBO. Model and guide must be
``torch.nn.Module`` instances with module-local parameters (pyroclust's are).
"""

from __future__ import annotations

import contextlib
import importlib
import warnings
from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock

import pyro
import torch
from pyro.infer import ELBO, Trace_ELBO, TraceEnum_ELBO
from pyro.infer.traceenum_elbo import _compute_dice_elbo
from torch.distributions import Distribution

from pyroclust.infer.buffers import kept_buffers

#: The torch releases (major, minor) on which recording reproduces the ELBO's gradients,
#: checked by the test suite; other releases are refused rather than trusted (torch 2.14
#: changed what ``make_fx`` records for a ``detach`` by default: the loss stayed right, some
#: gradients did not).
VERIFIED_TORCH = ((2, 13), (2, 14))


def verified_torch() -> bool:
    """Whether the running torch is one of :data:`VERIFIED_TORCH`."""
    release = tuple(int(part) for part in torch.__version__.split("+")[0].split(".")[:2])
    return release in VERIFIED_TORCH


def check_torch_version() -> None:
    """``RuntimeError`` unless the running torch is one the traced graph is verified on."""
    if not verified_torch():
        raise RuntimeError(
            f"the traced-graph fast path (jit='fx'/'inductor') is verified on torch "
            f"{', '.join('.'.join(map(str, v)) for v in VERIFIED_TORCH)} only, not "
            f"{torch.__version__}: use jit=False or jit='torchscript'"
        )


#: The compilers a :class:`GraphELBO` accepts: ``"fx"`` replays the traced graph as Python
#: (no compiler needed), ``"inductor"`` compiles it with ``torch.compile``.
BACKENDS = ("fx", "inductor")


def _dice_loss(elbo: TraceEnum_ELBO, model: Any, guide: Any, args: Any, kwargs: Any) -> Any:
    """``TraceEnum_ELBO.differentiable_loss`` without its host-side NaN check."""
    total: Any = 0.0
    for model_trace, guide_trace in elbo._get_traces(model, guide, args, kwargs):
        total = total + _compute_dice_elbo(model_trace, guide_trace)
    return -total / elbo.num_particles


def _trace_loss(elbo: Trace_ELBO, model: Any, guide: Any, args: Any, kwargs: Any) -> Any:
    """``Trace_ELBO.differentiable_loss`` with the surrogate's value removed by ``detach``
    (the same value and gradient as Pyro's ``surrogate - surrogate.item()``)."""
    loss: Any = 0.0
    surrogate: Any = 0.0
    for model_trace, guide_trace in elbo._get_traces(model, guide, args, kwargs):
        particle, surrogate_particle = elbo._differentiable_loss_particle(model_trace, guide_trace)
        loss = loss + particle / elbo.num_particles
        surrogate = surrogate + surrogate_particle / elbo.num_particles
    if torch.is_tensor(surrogate):
        return loss + (surrogate - surrogate.detach())
    return loss


def _objective(elbo: ELBO) -> Callable[..., Any]:
    # TraceEnum_ELBO first: it is not a Trace_ELBO subclass, but be explicit about the order
    if isinstance(elbo, TraceEnum_ELBO):
        return _dice_loss
    if isinstance(elbo, Trace_ELBO):
        return _trace_loss
    raise TypeError(f"GraphELBO wraps TraceEnum_ELBO or Trace_ELBO, not {type(elbo).__name__}")


def _no_check(value: Any, *args: Any, **kwargs: Any) -> Any:
    return value


def _detached(value: Any) -> Any:
    return value.detach() if torch.is_tensor(value) else value


@contextlib.contextmanager
def _tracing() -> Iterator[None]:
    """What recording a Pyro program needs: no argument validation (its checks read tensor
    values on the host), and Pyro's tracing branches (those it takes under
    ``torch.jit.trace``, e.g. masking without asking whether every probability is > 0),
    ``Trace_ELBO``'s per-site values kept as tensors rather than read as floats, and
    an empty param store (a ``PyroParam`` would otherwise read its value from the user's
    store, not from the graph's input, and be recorded as a constant)."""
    previous = Distribution._validate_args
    Distribution.set_default_validate_args(False)
    try:
        with (
            warnings.catch_warnings(),
            pyro.validation_enabled(False),
            # an empty param store: a PyroParam then registers the graph's input, where it
            # would otherwise read its value back from the store and be recorded as a constant
            pyro.get_param_store().scope(),
            mock.patch.object(torch._C, "_get_tracing_state", lambda: True),
            # Trace_ELBO's values of each site as host floats: detached tensors instead
            mock.patch("pyro.infer.trace_elbo.torch_item", _detached),
            # the ELBOs' host-side NaN warnings (the trainer checks every step's loss)
            mock.patch("pyro.infer.trace_elbo.warn_if_nan", _no_check),
            mock.patch("pyro.infer.traceenum_elbo.warn_if_nan", _no_check),
        ):
            # shapes read in Python (len(x)) are baked into the graph, which is why a graph
            # is keyed by its arguments' shapes: torch's warning about it says nothing new
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            yield
    finally:
        Distribution.set_default_validate_args(previous)


class GraphELBO(ELBO):
    """A Pyro ELBO whose ``differentiable_loss`` is traced once per input shape and replayed.

    Parameters
    ----------
    elbo : TraceEnum_ELBO or Trace_ELBO
        The objective; its loss and gradients are what the graph computes.
    backend : "fx" or "inductor"
        ``"fx"``: replay the recorded graph op by op (no compiler, about a second to trace
        on a CPU). ``"inductor"``: compile the graph with ``torch.compile`` (fused kernels;
        the first step of each shape takes about a minute on a CPU, later steps run close to
        hand-written PyTorch).

    Examples
    --------
    >>> import torch
    >>> from pyro.infer import TraceEnum_ELBO
    >>> from pyroclust import zoo
    >>> model, guide = zoo.make("vade", 8, n_components=3, latent_dim=2, hidden=(16,))
    >>> fast = GraphELBO(TraceEnum_ELBO(max_plate_nesting=1))
    >>> x = torch.rand(5, 8).round()
    >>> loss = fast.differentiable_loss(model, guide, x, data_size=5)
    >>> loss.shape
    torch.Size([])
    """

    def __init__(self, elbo: ELBO, backend: str = "fx") -> None:
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, not {backend!r}")
        self._objective = _objective(elbo)
        super().__init__(
            num_particles=elbo.num_particles,
            max_plate_nesting=elbo.max_plate_nesting,
            vectorize_particles=elbo.vectorize_particles,
            strict_enumeration_warning=False,
        )
        self.elbo = elbo
        self.backend = backend
        objective = self._objective

        def loss(model: Any, guide: Any, *args: Any, **kwargs: Any) -> Any:
            return objective(elbo, model, guide, args, kwargs)

        self._loss = GraphLoss(loss, backend)

    @property
    def _graphs(self) -> dict[Any, Callable[..., torch.Tensor]]:
        """The recorded graphs, by key (shapes, modes, hooks, parameters)."""
        return self._loss._graphs

    # pyro.infer.ELBO's abstract interface ------------------------------------------------
    def loss(self, model: Any, guide: Any, *args: Any, **kwargs: Any) -> float:
        """The loss as a float (``differentiable_loss`` without gradients)."""
        with torch.no_grad():
            return float(self.differentiable_loss(model, guide, *args, **kwargs))

    def loss_and_grads(self, model: Any, guide: Any, *args: Any, **kwargs: Any) -> float:
        """The loss as a float, with its gradients accumulated in the parameters."""
        value = self.differentiable_loss(model, guide, *args, **kwargs)
        value.backward()
        return float(value.detach())

    def _get_trace(self, model: Any, guide: Any, args: Any, kwargs: Any) -> Any:
        return self.elbo._get_trace(model, guide, args, kwargs)

    # the fast path ------------------------------------------------------------------------
    def differentiable_loss(self, model: Any, guide: Any, *args: Any, **kwargs: Any) -> Any:
        """The wrapped ELBO's ``differentiable_loss``, from the graph of these shapes."""
        return self._loss(model, guide, *args, **kwargs)


class GraphLoss:
    """Any loss ``fn(model, guide, *args, **kwargs) -> scalar tensor`` traced once per input
    shape into a graph and replayed, as :class:`GraphELBO` does for an ELBO (the same
    retracing rules; a Pyro ELBO called inside ``fn`` is recorded with it).

    Objectives that add terms to an ELBO use it, e.g.
    :meth:`StartAgreement.bind(..., jit="fx") <pyroclust.regularizers.StartAgreement.bind>`.

    Parameters
    ----------
    fn : callable
        The loss; model and guide must be ``torch.nn.Module`` instances.
    backend : "fx" or "inductor"
        As for :class:`GraphELBO`.
    """

    def __init__(self, fn: Callable[..., Any], backend: str = "fx") -> None:
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, not {backend!r}")
        check_torch_version()
        self.fn = fn
        self.backend = backend
        self._graphs: dict[Any, Callable[..., torch.Tensor]] = {}

    def __call__(self, model: Any, guide: Any, *args: Any, **kwargs: Any) -> Any:
        """``fn(model, guide, *args, **kwargs)``, from the graph of these shapes."""
        for name, module in (("model", model), ("guide", guide)):
            if not isinstance(module, torch.nn.Module):
                raise TypeError(
                    f"a traced loss needs the {name} as a torch.nn.Module (a PyroModule), not "
                    f"{type(module).__name__}"
                )
        named = _state(model, guide)
        tensors = [a for a in args if torch.is_tensor(a)]
        key = _key(model, guide, named, args, kwargs)
        graph = self._graphs.get(key)
        if graph is None:
            graph = self._record(model, guide, named, args, kwargs)
            self._graphs[key] = graph
        return graph([t for _, t in named], *tensors)

    def _record(
        self,
        model: Any,
        guide: Any,
        named: list[tuple[str, torch.Tensor]],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Callable[..., torch.Tensor]:
        from torch.fx.experimental.proxy_tensor import make_fx
        from torch.nn.utils.stateless import _reparametrize_module

        fn = self.fn
        names = [name for name, _ in named]
        positions = [i for i, a in enumerate(args) if torch.is_tensor(a)]
        pair = _Pair(model, guide)

        def loss(state: list[torch.Tensor], *tensors: torch.Tensor) -> Any:
            full = list(args)
            for i, t in zip(positions, tensors):
                full[i] = t
            with _reparametrize_module(pair, dict(zip(names, state)), tie_weights=True):
                return fn(model, guide, *full, **kwargs)

        # recording runs the program once and draws random numbers: on a fork of the streams
        # (the CPU's and those of the arguments' GPUs), so the first replay draws what the
        # eager ELBO would have drawn; and it moves no buffer (BatchNorm's statistics move in
        # the replay, once, as in an eager step)
        devices = sorted(
            {
                t.device.index or 0
                for t in (*args, *kwargs.values())
                if torch.is_tensor(t) and t.is_cuda
            }
        )
        with torch.random.fork_rng(devices=devices), kept_buffers(model, guide), _tracing():
            inputs = [t.detach().requires_grad_(t.requires_grad) for _, t in named]
            try:
                # an explicit (empty) decomposition table: without one, torch >= 2.14 records
                # every detach as an alias, so the replayed graph would send gradients through
                # the program's stop-gradients (a weight prior's detached mean, the detached
                # surrogate of Trace_ELBO, the shift of a logsumexp) where the ELBO sends none
                graph = make_fx(loss, {}, tracing_mode="real")(
                    inputs, *[args[i] for i in positions]
                )
            except RuntimeError as err:
                if "data-dependent" not in str(err):
                    raise
                raise ValueError(
                    f"{type(model).__name__}/{type(guide).__name__} branch on tensor values "
                    "(a Python if on data), which a traced graph cannot replay: use the eager "
                    "ELBO (jit=False) for this model"
                ) from err
        # values Pyro computes for its host-side checks are not needed in the replay (random
        # draws count as side effects and stay, so the replay draws what the eager run does)
        graph.graph.eliminate_dead_code()
        graph.recompile()
        if self.backend == "inductor":
            with warnings.catch_warnings():  # torch's compiler imports its own TorchScript
                # modules, which torch >= 2.13 deprecates: not the user's to act on
                warnings.simplefilter("ignore", DeprecationWarning)
                importlib.import_module("torch._inductor.compile_fx")

            # random draws by torch's own generator, not inductor's (which torch >= 2.14 uses
            # for the Gaussian draws): the replay then draws what the eager ELBO draws
            compiled = torch.compile(
                graph, backend="inductor", dynamic=False, options={"fallback_random": True}
            )

            def run(*inputs: Any) -> torch.Tensor:
                with warnings.catch_warnings():  # dynamo reads .grad of the graph's temporaries
                    warnings.filterwarnings("ignore", r"The \.grad attribute of a Tensor")
                    return compiled(*inputs)

            return run
        return graph


class _Pair(torch.nn.Module):
    """Model and guide as one module, so their parameters and buffers have one namespace."""

    def __init__(self, model: torch.nn.Module, guide: torch.nn.Module) -> None:
        super().__init__()
        # plain attributes would not be submodules: register them without copying
        self.add_module("model", model)
        self.add_module("guide", guide)


def _state(model: torch.nn.Module, guide: torch.nn.Module) -> list[tuple[str, torch.Tensor]]:
    """(name, tensor) of every parameter and buffer of model and guide (a tensor shared by
    both, e.g. a weight prior's parameters, once, under its first name)."""
    pair = _Pair(model, guide)
    return [*pair.named_parameters(), *pair.named_buffers()]


def _key(
    model: Any,
    guide: Any,
    named: list[tuple[str, torch.Tensor]],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> tuple[Any, ...]:
    def describe(value: Any) -> Any:
        if torch.is_tensor(value):
            return ("tensor", tuple(value.shape), value.dtype, value.device, value.requires_grad)
        return ("value", repr(value))

    # every module's training mode and hooks (a pruning mask is a forward hook on the prior)
    modules = tuple(
        (m.training, tuple(m._forward_hooks), tuple(m._forward_pre_hooks))
        for m in (*model.modules(), *guide.modules())
    )
    return (
        id(model),
        id(guide),
        modules,
        torch.is_grad_enabled(),
        tuple((name, tuple(t.shape), t.dtype, t.device, t.requires_grad) for name, t in named),
        tuple(describe(a) for a in args),
        tuple(sorted((k, describe(v)) for k, v in kwargs.items())),
    )
