"""Multi-layer perceptrons used as encoders and decoders."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn


class MLP(nn.Sequential):
    """A fully connected network ``sizes[0] -> sizes[1] -> ... -> sizes[-1]``.

    Every hidden layer is followed by ``activation``; the last layer is followed by
    ``output_activation`` (none by default, so the output is linear, as the heads of the guides
    and the logits of the likelihoods expect).

    Parameters
    ----------
    sizes : sequence of int
        Layer widths, input first. The VaDE paper's encoder for 784-dimensional data is
        ``[784, 500, 500, 2000]`` and its decoder ``[10, 2000, 500, 500, 784]``.
    activation : callable returning an ``nn.Module``
        Hidden nonlinearity, ``nn.ReLU`` by default.
    output_activation : callable returning an ``nn.Module``, optional
        Applied after the last layer.
    batch_norm : bool
        Insert ``BatchNorm1d`` before each hidden activation.
    dropout : float
        Dropout probability after each hidden activation.

    Examples
    --------
    >>> net = MLP([64, 32, 10])
    >>> net(torch.zeros(5, 64)).shape
    torch.Size([5, 10])
    """

    def __init__(
        self,
        sizes: Sequence[int],
        activation: Callable[[], nn.Module] = nn.ReLU,
        output_activation: Callable[[], nn.Module] | None = None,
        *,
        batch_norm: bool = False,
        dropout: float = 0.0,
    ) -> None:
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2 or any(s < 1 for s in sizes):
            raise ValueError(f"MLP needs at least two positive layer sizes, got {sizes}")
        layers: list[nn.Module] = []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(n_in, n_out))
            if i < len(sizes) - 2:
                if batch_norm:
                    layers.append(nn.BatchNorm1d(n_out))
                layers.append(activation())
                if dropout > 0:
                    layers.append(nn.Dropout(dropout))
        if output_activation is not None:
            layers.append(output_activation())
        super().__init__(*layers)
        self.sizes = tuple(sizes)

    @property
    def in_features(self) -> int:
        """Width of the input."""
        return self.sizes[0]

    @property
    def out_features(self) -> int:
        """Width of the output."""
        return self.sizes[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return super().forward(x)
