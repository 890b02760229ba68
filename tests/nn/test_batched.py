"""BatchedMLP: k networks in one module equal k separate networks with the same weights."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from pyroclust.nn import MLP, BatchedMLP

SIZES = [7, 6, 5, 3]


def _pair(k: int = 4, output_activation=None) -> tuple[BatchedMLP, list[MLP]]:
    batched = BatchedMLP(k, SIZES, activation=nn.Tanh, output_activation=output_activation)
    batched = batched.double()
    separate = [
        MLP(SIZES, activation=nn.Tanh, output_activation=output_activation).double()
        for _ in range(k)
    ]
    return batched.load_networks(separate), separate


@pytest.mark.parametrize("output_activation", [None, nn.Sigmoid])
def test_shared_and_per_network_inputs_equal_separate_networks(output_activation) -> None:
    batched, separate = _pair(output_activation=output_activation)
    x = torch.randn(9, SIZES[0], dtype=torch.float64)
    expected = torch.stack([net(x) for net in separate])
    assert torch.allclose(batched(x), expected, rtol=0, atol=1e-12)
    xs = torch.randn(4, 9, SIZES[0], dtype=torch.float64)
    expected = torch.stack([net(xi) for net, xi in zip(separate, xs)])
    assert torch.allclose(batched(xs), expected, rtol=0, atol=1e-12)


def test_gradients_equal_separate_networks() -> None:
    batched, separate = _pair()
    x = torch.randn(9, SIZES[0], dtype=torch.float64)
    weights = torch.randn(4, 9, SIZES[-1], dtype=torch.float64)
    (batched(x) * weights).sum().backward()
    sum(((net(x) * w).sum() for net, w in zip(separate, weights))).backward()
    for i, net in enumerate(separate):
        linears = [m for m in net if isinstance(m, nn.Linear)]
        for layer, w, b in zip(linears, batched.weights, batched.biases):
            assert torch.allclose(w.grad[i], layer.weight.grad.t(), atol=1e-12)
            assert torch.allclose(b.grad[i, 0], layer.bias.grad, atol=1e-12)


def test_network_copies_one_network_and_init_is_nn_linear_like() -> None:
    torch.manual_seed(0)
    batched = BatchedMLP(3, [400, 50, 2])
    x = torch.randn(5, 400)
    assert torch.allclose(batched.network(2)(x), batched(x)[2], atol=1e-6)
    w = batched.weights[0].detach()
    bound = 1 / 400**0.5
    assert w.abs().max() <= bound and w.abs().max() > 0.95 * bound  # U(-1/sqrt(in), ..)
    assert not torch.equal(w[0], w[1])  # each network drawn independently
    assert abs(float(w.std()) - bound / 3**0.5) < 0.05 * bound


def test_bad_inputs_are_refused() -> None:
    batched = BatchedMLP(3, [4, 2])
    with pytest.raises(ValueError, match="per-network input"):
        batched(torch.zeros(2, 5, 4))
    with pytest.raises(ValueError, match="input width"):
        batched(torch.zeros(5, 3))
    with pytest.raises(ValueError, match="n_networks"):
        BatchedMLP(0, [4, 2])
    with pytest.raises(ValueError, match="expected 3 networks"):
        batched.load_networks([MLP([4, 2])])


@pytest.mark.parametrize("shared", [True, False])
def test_input_gradients_equal_separate_networks(shared: bool) -> None:
    # a shared input reaches every network through one stride-0 view: its gradient is the
    # sum of the k networks' gradients, as when k separate networks read the same tensor
    batched, separate = _pair()
    base = torch.randn(SIZES[0], 9, dtype=torch.float64).t()  # not contiguous
    x = (base if shared else torch.randn(4, 9, SIZES[0], dtype=torch.float64)).requires_grad_()
    x_ref = x.detach().clone().requires_grad_()
    weights = torch.randn(4, 9, SIZES[-1], dtype=torch.float64)
    (batched(x) * weights).sum().backward()
    inputs = [x_ref] * 4 if shared else list(x_ref)
    sum(((net(xi) * w).sum() for net, xi, w in zip(separate, inputs, weights))).backward()
    assert torch.allclose(x.grad, x_ref.grad, rtol=0, atol=1e-12)


@pytest.mark.parametrize("output_activation", [None, nn.Sigmoid])
def test_grouped_equals_each_rows_own_network_in_value_and_gradient(output_activation) -> None:
    """grouped(x, index): row b through network index[b] only, equal to the batched pass
    read at each row's network, with the same gradients (network 3 holds no rows)."""
    batched, _ = _pair(output_activation=output_activation)
    x = torch.randn(9, SIZES[0], dtype=torch.float64, requires_grad=True)
    index = torch.tensor([2, 0, 1, 1, 0, 2, 2, 0, 1])
    weights = torch.randn(9, SIZES[-1], dtype=torch.float64)
    out = batched.grouped(x, index)
    (out * weights).sum().backward()
    grads = [p.grad.clone() for p in batched.parameters()]
    x_grad = x.grad.clone()
    batched.zero_grad()
    x.grad = None
    expected = batched(x)[index, torch.arange(9)]
    assert torch.allclose(out, expected, rtol=0, atol=1e-12)
    (expected * weights).sum().backward()
    for got, want in zip(grads, batched.parameters()):
        assert torch.allclose(got, want.grad, rtol=0, atol=1e-12)
    assert torch.allclose(x_grad, x.grad, rtol=0, atol=1e-12)
    assert float(batched.weights[0].grad[3].abs().sum()) == 0.0


def test_grouped_refuses_bad_indices() -> None:
    batched = BatchedMLP(3, [4, 2])
    with pytest.raises(ValueError, match="one network index per row"):
        batched.grouped(torch.zeros(5, 4), torch.zeros(4, dtype=torch.long))
    with pytest.raises(IndexError, match="out of range"):
        batched.grouped(torch.zeros(2, 4), torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="rows of shape"):
        batched.grouped(torch.zeros(2, 5), torch.tensor([0, 1]))
    assert batched.grouped(torch.zeros(0, 4), torch.zeros(0, dtype=torch.long)).shape == (0, 2)
