"""ImageView: the image shape, the width it reads and the check of it, shared by the views."""

from __future__ import annotations

import pytest
import torch

from pyroclust.nn import ColourView, ImageView, ShapeView


def test_channels_reshape_rows_and_check_their_width() -> None:
    view = ImageView((2, 3, 4))
    x = torch.arange(2 * 5 * 24, dtype=torch.float32).reshape(2, 5, 24)
    torch.testing.assert_close(view.channels(x), x.reshape(2, 5, 2, 12))
    assert view.in_features == 24 and ImageView((3, 3)).image_shape == (1, 3, 3)
    with pytest.raises(ValueError, match=r"ImageView\(2, 3, 4\) reads rows of 24 values, got 23"):
        view.channels(torch.zeros(1, 23))
    with pytest.raises(NotImplementedError):
        _ = view.out_features


def test_the_views_share_it() -> None:
    for cls in (ShapeView, ColourView):
        view = cls((3, 2, 2))
        assert isinstance(view, ImageView) and "image_shape=(3, 2, 2)" in repr(view)
        assert list(view.parameters()) == []
