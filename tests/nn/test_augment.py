"""RandomAffine: shapes, identity at zero strength, reproducibility, input checks."""

from __future__ import annotations

import pytest
import torch

from pyroclust.nn import RandomAffine


def test_zero_strength_is_the_identity() -> None:
    x = torch.rand(6, 8 * 8)
    aug = RandomAffine((8, 8), rotation=0.0, translation=0.0, scale=0.0)
    torch.testing.assert_close(aug(x), x, atol=1e-6, rtol=0)


def test_moves_images_keeps_shape_range_and_rows_independent() -> None:
    x = torch.rand(32, 28 * 28)
    out = RandomAffine((28, 28), generator=torch.Generator().manual_seed(0))(x)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert out.min() >= 0.0 and out.max() <= 1.0 + 1e-6  # bilinear: convex combinations
    assert not torch.allclose(out, x, atol=1e-3)
    # each row gets its own move: the same image repeated comes out differently
    same = RandomAffine((28, 28), generator=torch.Generator().manual_seed(1))(x[:1].repeat(4, 1))
    assert not torch.allclose(same[0], same[1])


def test_a_pure_shift_moves_mass_by_the_translation() -> None:
    image = torch.zeros(1, 9, 9)
    image[0, 4, 4] = 1.0  # a dot in the centre
    aug = RandomAffine((9, 9), rotation=0.0, scale=0.0, translation=0.3)
    out = aug(image.reshape(1, -1)).reshape(9, 9)
    rows, cols = torch.meshgrid(torch.arange(9.0), torch.arange(9.0), indexing="ij")
    mass = out.sum()  # shifts of at most 0.3 * 9 = 2.7 pixels keep the dot in the frame
    assert mass > 0.5
    cy, cx = float((out * rows).sum() / mass), float((out * cols).sum() / mass)
    assert abs(cy - 4) <= 2.7 + 1e-4 and abs(cx - 4) <= 2.7 + 1e-4


def test_generator_makes_it_repeatable() -> None:
    x = torch.rand(5, 64)
    a = RandomAffine((8, 8), generator=torch.Generator().manual_seed(3))(x)
    b = RandomAffine((8, 8), generator=torch.Generator().manual_seed(3))(x)
    torch.testing.assert_close(a, b, atol=0, rtol=0)


def test_rows_of_the_wrong_width_are_refused() -> None:
    with pytest.raises(ValueError, match="8x8"):
        RandomAffine((8, 8))(torch.rand(2, 63))
