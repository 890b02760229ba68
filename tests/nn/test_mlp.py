"""The MLP used as encoder and decoder."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from pyroclust.nn import MLP


def test_shapes_and_widths() -> None:
    net = MLP([12, 8, 5])
    assert net(torch.zeros(3, 12)).shape == (3, 5)
    assert (net.in_features, net.out_features, net.sizes) == (12, 5, (12, 8, 5))


def test_layers() -> None:
    assert [type(m) for m in MLP([4, 3, 2])] == [nn.Linear, nn.ReLU, nn.Linear]
    out = MLP([4, 3], output_activation=nn.ReLU)
    assert [type(m) for m in out] == [nn.Linear, nn.ReLU]
    assert (out(torch.randn(10, 4)) >= 0).all()
    rich = MLP([4, 3, 3, 2], activation=nn.Tanh, batch_norm=True, dropout=0.1)
    assert [type(m) for m in rich] == [
        nn.Linear, nn.BatchNorm1d, nn.Tanh, nn.Dropout,
        nn.Linear, nn.BatchNorm1d, nn.Tanh, nn.Dropout,
        nn.Linear,
    ]  # fmt: skip


def test_output_is_linear_by_default() -> None:
    assert (MLP([4, 8, 3])(torch.randn(50, 4)) < 0).any()


@pytest.mark.parametrize("sizes", [[5], [], [5, 0, 2], [-1, 3]])
def test_rejects_bad_sizes(sizes) -> None:
    with pytest.raises(ValueError, match="at least two positive layer sizes"):
        MLP(sizes)
