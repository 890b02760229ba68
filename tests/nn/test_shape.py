"""ShapeView: the same view for every colouring of a shape, against a float64 formula, and
its errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pyroclust.nn import ShapeView


def _painted(mask: torch.Tensor, fg: torch.Tensor, bg: torch.Tensor) -> torch.Tensor:
    """Images (B, 3*H*W): each pixel bg + (fg - bg) * mask, channels first."""
    return (bg[:, :, None] + (fg - bg)[:, :, None] * mask[:, None, :]).reshape(len(mask), -1)


def _reference(x: np.ndarray, c: int) -> np.ndarray:
    """The view by its formula, in float64, one image at a time (numpy's median: the
    pixel counts below are odd, so it is torch's too)."""
    out = []
    for row in x.astype(np.float64).reshape(len(x), c, -1):
        spread = sum(channel.std() for channel in row)
        v = sum(
            (1.0 if channel.mean() >= np.median(channel) else -1.0) * (channel - channel.mean())
            for channel in row
        ) / max(spread, 1e-6)
        span = v.max() - v.min()
        flat = spread < 1e-6 or span < 1e-6
        out.append(np.zeros_like(v) if flat else (v - v.min()) / span)
    return np.stack(out)


def _masks(n: int, pixels: int, seed: int) -> torch.Tensor:
    """Shapes covering about a third of the image, grey levels in (0, 1], one pixel at 1 and
    one at 0."""
    g = torch.Generator().manual_seed(seed)
    mask = (torch.rand(n, pixels, generator=g) > 0.65).double()
    mask = mask * torch.rand(n, pixels, generator=g, dtype=torch.float64).clamp_min(0.05)
    mask[:, 0], mask[:, 1] = 1.0, 0.0
    return mask


def test_every_colouring_of_a_shape_gives_the_shape_scaled_to_one() -> None:
    g = torch.Generator().manual_seed(0)
    mask = _masks(5, 49, 0)
    view = ShapeView((3, 7, 7))
    for _ in range(4):
        fg = torch.rand(5, 3, generator=g, dtype=torch.float64)
        bg = torch.rand(5, 3, generator=g, dtype=torch.float64)
        bg[:, 0] = fg[:, 0]  # one channel constant: it adds nothing
        torch.testing.assert_close(view(_painted(mask, fg, bg)), mask)
        torch.testing.assert_close(view(_painted(mask, bg, fg)), mask)  # polarity swapped
    torch.testing.assert_close(ShapeView((7, 7))(0.3 + 0.5 * mask), mask)  # one channel
    # a figure that covers most of the image: 1 - g, again for every colouring
    big = 1 - mask
    fg, bg = torch.rand(2, 5, 3, generator=g, dtype=torch.float64)
    torch.testing.assert_close(view(_painted(big, fg, bg)), mask)


def test_it_equals_its_formula_and_keeps_leading_dimensions() -> None:
    x = torch.rand(2, 4, 2 * 3 * 5, generator=torch.Generator().manual_seed(1))
    x[0, 0, :15] = 0.3  # a constant channel
    x[1, 2] = 0.5  # a constant image
    got = ShapeView((2, 3, 5))(x)
    assert got.shape == (2, 4, 15)
    want = _reference(x.reshape(8, 30).numpy(), 2).reshape(2, 4, 15)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-6)
    assert float(got.min()) >= 0 and float(got.max()) <= 1
    assert torch.all(got[1, 2] == 0)


def test_errors() -> None:
    with pytest.raises(ValueError, match="reads rows of 12 values, got 13"):
        ShapeView((3, 2, 2))(torch.zeros(1, 13))
    with pytest.raises(ValueError, match="image_shape"):
        ShapeView((3, 0, 2))
    with pytest.raises(ValueError, match="eps"):
        ShapeView((1, 2, 2), eps=0)
