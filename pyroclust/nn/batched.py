"""k independent multi-layer perceptrons run as one network: one batched matmul per layer."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

from pyroclust.nn.mlp import MLP


class BatchedMLP(nn.Module):
    r"""``n_networks`` independent fully connected networks of the same widths, evaluated
    together.

    Layer l of network i computes :math:`h^{(i)}_{l+1} = a(h^{(i)}_l W^{(i)}_l + b^{(i)}_l)`;
    the k weight matrices of a layer are stacked into one parameter of shape
    (n_networks, in, out) and the biases into one of shape (n_networks, 1, out), so that a
    layer is one ``torch.baddbmm`` for all networks instead of a Python loop over them (the
    k encoders and k decoders of k-DVAE and k-DAE, Caciularu & Goldberger; Opochinsky et
    al., 2020). Activations are placed as in :class:`~pyroclust.nn.MLP`: ``activation``
    after every hidden layer, ``output_activation`` (none by default) after the last.

    Two kinds of input:

    - **shared**, of shape (batch, in): every network sees the same rows (the k encoders
      of one mini-batch), read through a view without copying it k times;
    - **per network**, of shape (n_networks, batch, in): network i sees ``x[i]`` (decoder
      i applied to the code drawn from encoder i).

    Either way the output has shape (n_networks, batch, out).

    Each network starts as ``nn.Linear`` layers would: weights and biases uniform on
    :math:`\pm 1/\sqrt{\text{in}}` (``nn.Linear.reset_parameters``), drawn independently
    for every network.

    Parameters
    ----------
    n_networks : int
        Number k of networks.
    sizes : sequence of int
        Layer widths of each network, input first (the k-DVAE paper's encoder for MNIST is
        ``[784, 500, 100, 10]``, twice 10 for a mean and a scale).
    activation : callable returning an ``nn.Module``
        Hidden nonlinearity (``nn.ReLU``); it must act elementwise.
    output_activation : callable returning an ``nn.Module``, optional
        Applied after the last layer.

    Examples
    --------
    >>> net = BatchedMLP(3, [8, 16, 4])
    >>> net(torch.zeros(5, 8)).shape           # shared input
    torch.Size([3, 5, 4])
    >>> net(torch.zeros(3, 5, 8)).shape        # one input per network
    torch.Size([3, 5, 4])
    >>> single = net.network(1)                # network 1 as a plain MLP, same weights
    >>> x = torch.randn(5, 8)
    >>> torch.allclose(single(x), net(x)[1], atol=1e-6)
    True
    """

    def __init__(
        self,
        n_networks: int,
        sizes: Sequence[int],
        activation: Callable[[], nn.Module] = nn.ReLU,
        output_activation: Callable[[], nn.Module] | None = None,
    ) -> None:
        super().__init__()
        n_networks = int(n_networks)
        sizes = [int(s) for s in sizes]
        if n_networks < 1:
            raise ValueError(f"BatchedMLP needs n_networks >= 1, got {n_networks}")
        if len(sizes) < 2 or any(s < 1 for s in sizes):
            raise ValueError(f"BatchedMLP needs at least two positive layer sizes, got {sizes}")
        self.n_networks = n_networks
        self.sizes = tuple(sizes)
        self.weights = nn.ParameterList(
            nn.Parameter(torch.empty(n_networks, n_in, n_out))
            for n_in, n_out in zip(sizes[:-1], sizes[1:])
        )
        self.biases = nn.ParameterList(
            nn.Parameter(torch.empty(n_networks, 1, n_out)) for n_out in sizes[1:]
        )
        self.activation = activation()
        self.output_activation = output_activation() if output_activation is not None else None
        self._activation_factory = activation
        self._output_activation_factory = output_activation
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Draw every network's weights as ``nn.Linear`` does: U(-1/sqrt(in), 1/sqrt(in))."""
        for weight, bias in zip(self.weights, self.biases):
            bound = 1.0 / math.sqrt(weight.shape[1])
            weight.uniform_(-bound, bound)
            bias.uniform_(-bound, bound)

    @property
    def in_features(self) -> int:
        """Width of the input."""
        return self.sizes[0]

    @property
    def out_features(self) -> int:
        """Width of each network's output."""
        return self.sizes[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """All networks at ``x``: shared (batch, in) or per network (n_networks, batch, in);
        returns (n_networks, batch, out)."""
        k = self.n_networks
        last = len(self.weights) - 1
        if x.dim() == 2:
            if x.shape[-1] != self.in_features:
                raise ValueError(f"expected input width {self.in_features}, got {x.shape[-1]}")
            # every network reads the same rows: a stride-0 view, never copied (gathering the
            # k weight matrices side by side for one (batch, in) @ (in, k * out) product
            # would copy all of them, forwards and backwards)
            h = torch.baddbmm(self.biases[0], x.expand(k, *x.shape), self.weights[0])
        elif x.dim() == 3:
            if x.shape[0] != k or x.shape[-1] != self.in_features:
                raise ValueError(
                    f"a per-network input must have shape ({k}, batch, {self.in_features}), "
                    f"got {tuple(x.shape)}"
                )
            h = torch.baddbmm(self.biases[0], x, self.weights[0])
        else:
            raise ValueError(
                f"BatchedMLP takes (batch, in) or (n_networks, batch, in), got {tuple(x.shape)}"
            )
        for i in range(1, last + 1):
            h = torch.baddbmm(self.biases[i], self.activation(h), self.weights[i])
        if self.output_activation is not None:
            h = self.output_activation(h)
        return h

    def grouped(self, x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """Row b of ``x`` (batch, in) through network ``index[b]`` only; returns (batch, out).

        The rows are sorted by network and each network runs on its own rows, so the pass
        costs 1/k of :meth:`forward`'s arithmetic (a loop over the networks that hold rows:
        what a per-cluster loss needs, where only one network's output of each row is read;
        k-DVAE's pretraining of each autoencoder on its cluster). Its values and gradients
        equal ``forward(x)[index, arange(batch)]``.
        """
        if x.dim() != 2 or x.shape[-1] != self.in_features:
            raise ValueError(
                f"grouped takes rows of shape (batch, {self.in_features}), got {tuple(x.shape)}"
            )
        index = torch.as_tensor(index, device=x.device).long()
        if index.shape != x.shape[:1]:
            raise ValueError(
                f"grouped needs one network index per row: {x.shape[0]} rows, "
                f"index of shape {tuple(index.shape)}"
            )
        if index.numel() and (int(index.min()) < 0 or int(index.max()) >= self.n_networks):
            raise IndexError(f"network index out of range for {self.n_networks} networks")
        order = torch.argsort(index, stable=True)
        counts = torch.bincount(index, minlength=self.n_networks).tolist()
        last = len(self.weights) - 1
        # unbind once per layer: its backward stacks the k gradients in one tensor, where
        # indexing weight[i] k times would write each into a zero tensor of the full size
        weights = [w.unbind(0) for w in self.weights]
        biases = [b.unbind(0) for b in self.biases]
        outs = []
        for i, rows in enumerate(x[order].split(counts)):
            if rows.shape[0] == 0:
                continue
            h = rows
            for j, (weight, bias) in enumerate(zip(weights, biases)):
                h = torch.addmm(bias[i], h, weight[i])
                if j < last:
                    h = self.activation(h)
            outs.append(h)
        h = torch.cat(outs) if outs else x.new_zeros(0, self.out_features)
        if self.output_activation is not None:
            h = self.output_activation(h)
        return h[torch.argsort(order)]

    # ------------------------------------------------------------------ one network at a time
    def network(self, i: int) -> MLP:
        """Network ``i`` as a separate :class:`~pyroclust.nn.MLP` (a copy of its weights)."""
        if not 0 <= int(i) < self.n_networks:
            raise IndexError(f"network {i} out of range for {self.n_networks} networks")
        mlp = MLP(
            self.sizes,
            activation=self._activation_factory,
            output_activation=self._output_activation_factory,
        )
        linears = [m for m in mlp if isinstance(m, nn.Linear)]
        with torch.no_grad():
            for linear, weight, bias in zip(linears, self.weights, self.biases):
                linear.weight.copy_(weight[i].t())
                linear.bias.copy_(bias[i, 0])
        return mlp.to(self.weights[0].device, self.weights[0].dtype)

    @torch.no_grad()
    def load_networks(self, networks: Sequence[nn.Module]) -> BatchedMLP:
        """Copy the weights of ``n_networks`` separate networks (each an ``nn.Sequential``,
        e.g. :class:`~pyroclust.nn.MLP`, whose ``nn.Linear`` layers have this module's
        widths) into the stacked parameters; returns self."""
        if len(networks) != self.n_networks:
            raise ValueError(f"expected {self.n_networks} networks, got {len(networks)}")
        for i, net in enumerate(networks):
            linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
            if len(linears) != len(self.weights):
                raise ValueError(
                    f"network {i} has {len(linears)} linear layers, expected {len(self.weights)}"
                )
            for linear, weight, bias in zip(linears, self.weights, self.biases):
                if linear.weight.shape != weight.shape[1:][::-1]:
                    raise ValueError(
                        f"network {i}: a layer of shape {tuple(linear.weight.shape)} does not "
                        f"match {tuple(weight.shape[1:][::-1])}"
                    )
                weight[i].copy_(linear.weight.t())
                bias[i, 0].copy_(linear.bias)
        return self

    def extra_repr(self) -> str:  # noqa: D102
        return f"n_networks={self.n_networks}, sizes={self.sizes}"


__all__ = ["BatchedMLP"]
