"""ColourView: the same two colours for every shape painted in them, against a float64
formula, and its errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pyroclust.nn import ColourView


def _painted(mask: torch.Tensor, fg: torch.Tensor, bg: torch.Tensor) -> torch.Tensor:
    """Images (B, 3*H*W): each pixel bg + (fg - bg) * mask, channels first."""
    return (bg[:, :, None] + (fg - bg)[:, :, None] * mask[:, None, :]).reshape(len(mask), -1)


def _reference(x: np.ndarray, c: int) -> np.ndarray:
    """The view by its formula, in float64, one image at a time (the pixel counts below
    are odd, so numpy's median is torch's)."""
    out = []
    for row in x.astype(np.float64).reshape(len(x), c, -1):
        background = np.median(row, 1)
        farthest = int(np.argmax(np.abs(row - background[:, None]).sum(0)))
        out.append(np.concatenate([background, row[:, farthest]]))
    return np.stack(out)


def test_every_shape_painted_in_two_colours_gives_those_colours() -> None:
    g = torch.Generator().manual_seed(0)
    view = ColourView((3, 7, 7))
    fg = torch.rand(5, 3, generator=g, dtype=torch.float64)
    bg = torch.rand(5, 3, generator=g, dtype=torch.float64)
    want = torch.cat([bg, fg], 1)
    for seed in range(4):  # four different shapes, each under a third of the image
        h = torch.Generator().manual_seed(seed)
        mask = (torch.rand(5, 49, generator=h) > 0.7).double()
        mask = mask * torch.rand(5, 49, generator=h, dtype=torch.float64)
        mask[:, 0], mask[:, 1] = 1.0, 0.0  # one pixel of the figure colour itself
        torch.testing.assert_close(view(_painted(mask, fg, bg)), want)
    # a figure over most of the image swaps the roles
    torch.testing.assert_close(view(_painted(1 - mask, fg, bg)), torch.cat([fg, bg], 1))


def test_it_equals_its_formula_and_keeps_leading_dimensions() -> None:
    x = torch.rand(2, 4, 2 * 3 * 5, generator=torch.Generator().manual_seed(1))
    x[1, 2] = 0.5  # a constant image: both colours are its one value
    got = ColourView((2, 3, 5))(x)
    assert got.shape == (2, 4, 4)
    want = _reference(x.reshape(8, 30).numpy(), 2).reshape(2, 4, 4)
    np.testing.assert_allclose(got.numpy(), want, rtol=0, atol=0)
    assert torch.all(got[1, 2] == 0.5)
    assert ColourView((5, 5)).out_features == 2 and ColourView((3, 5, 5)).in_features == 75


def test_errors() -> None:
    with pytest.raises(ValueError, match="reads rows of 12 values, got 13"):
        ColourView((3, 2, 2))(torch.zeros(1, 13))
    with pytest.raises(ValueError, match="image_shape"):
        ColourView((3, 0, 2))
