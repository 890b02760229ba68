"""ContrastInvariant: the same view for every colouring of a shape, against a float64
formula, and its errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pyroclust.nn import ContrastInvariant


def _painted(mask: torch.Tensor, fg: torch.Tensor, bg: torch.Tensor) -> torch.Tensor:
    """Images (B, 3*H*W): each pixel bg + (fg - bg) * mask, channels first."""
    return (bg[:, :, None] + (fg - bg)[:, :, None] * mask[:, None, :]).reshape(len(mask), -1)


def _reference(x: np.ndarray, c: int) -> np.ndarray:
    """The view by its formula, in float64, one image at a time."""
    out = []
    for row in x.astype(np.float64).reshape(len(x), c, -1):
        v = np.zeros(row.shape[1])
        for channel in row:
            if channel.std() > 1e-6:
                v += np.abs(channel - channel.mean()) / channel.std()
        v /= c
        out.append(v / v.max() if v.max() > 0 else v)
    return np.stack(out)


def test_every_colouring_of_a_shape_gives_the_same_view() -> None:
    g = torch.Generator().manual_seed(0)
    mask = (torch.rand(5, 36, generator=g) > 0.6).double() * torch.rand(5, 36, generator=g)
    view = ContrastInvariant((3, 6, 6))
    base = view(_painted(mask, torch.ones(5, 3, dtype=torch.float64), torch.zeros(5, 3)))
    for _ in range(4):
        fg = torch.rand(5, 3, generator=g, dtype=torch.float64)
        bg = torch.rand(5, 3, generator=g, dtype=torch.float64)
        bg[:, 0] = fg[:, 0]  # one channel constant: it adds nothing
        torch.testing.assert_close(view(_painted(mask, fg, bg)), base)
        torch.testing.assert_close(view(_painted(mask, bg, fg)), base)  # polarity swapped
    grey = ContrastInvariant((6, 6))(mask)  # the mask itself, one channel
    torch.testing.assert_close(grey, base)


def test_it_equals_its_formula_and_keeps_leading_dimensions() -> None:
    x = torch.rand(2, 4, 2 * 3 * 5, generator=torch.Generator().manual_seed(1))
    x[0, 0, :15] = 0.3  # a constant channel
    x[1, 2] = 0.5  # a constant image
    got = ContrastInvariant((2, 3, 5))(x)
    assert got.shape == (2, 4, 15)
    want = _reference(x.reshape(8, 30).numpy(), 2).reshape(2, 4, 15)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-6)
    assert float(got.min()) >= 0 and float(got.max()) <= 1
    assert torch.all(got[1, 2] == 0)


def test_errors() -> None:
    with pytest.raises(ValueError, match="reads rows of 12 values, got 13"):
        ContrastInvariant((3, 2, 2))(torch.zeros(1, 13))
    with pytest.raises(ValueError, match="image_shape"):
        ContrastInvariant((3, 0, 2))
    with pytest.raises(ValueError, match="eps"):
        ContrastInvariant((1, 2, 2), eps=0)
