"""The common part of fixed views of flattened images (no parameters): their shape, the width
they read and the check of it."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from pyroclust.nn.conv import check_image_shape


class ImageView(nn.Module):
    """A fixed map of flattened images (..., C·H·W), channels first, to rows of
    :attr:`out_features` values; subclasses say which (:class:`~pyroclust.nn.ShapeView`,
    :class:`~pyroclust.nn.ColourView`).

    Parameters
    ----------
    image_shape : (channels, height, width) or (height, width)
    """

    def __init__(self, image_shape: Sequence[int]) -> None:
        super().__init__()
        self.image_shape = check_image_shape(image_shape)

    @property
    def in_features(self) -> int:
        """C·H·W, the width of the rows it reads."""
        c, h, w = self.image_shape
        return c * h * w

    @property
    def out_features(self) -> int:
        """The width of the rows it gives."""
        raise NotImplementedError

    def channels(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (..., C·H·W) as (..., C, H·W); ``ValueError`` for rows of another width."""
        if x.shape[-1] != self.in_features:
            raise ValueError(
                f"{type(self).__name__}{self.image_shape} reads rows of {self.in_features} "
                f"values, got {x.shape[-1]}"
            )
        c, h, w = self.image_shape
        return x.reshape(*x.shape[:-1], c, h * w)

    def extra_repr(self) -> str:
        return f"image_shape={self.image_shape}"


__all__ = ["ImageView"]
