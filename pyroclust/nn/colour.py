"""The colours of an image with its shape taken out: its background colour (every channel's
median) and its figure colour (the colour of the pixel that differs most from it)."""

from __future__ import annotations

import torch

from pyroclust.nn.view import ImageView


class ColourView(ImageView):
    r"""A fixed map (no parameters) from flattened images (..., C·H·W) to their two colours
    (..., 2C): the background colour and the figure colour, the same for every shape painted
    in the same two colours. It is the mirror of :class:`~pyroclust.nn.ShapeView`, which keeps
    the shape and takes the colours out.

    With :math:`\tilde m_c` the median of channel c over the image's H·W pixels and
    :math:`p^* = \arg\max_p \sum_c |x_{cp} - \tilde m_c|` (the first such pixel),

    .. math:: \mathrm{view} = (\tilde m_1, \dots, \tilde m_C,\;
              x_{1p^*}, \dots, x_{Cp^*}).

    Why: a shape (a mask g in [0, 1]) painted in a figure colour a on a background colour b,
    :math:`x_{cp} = b_c + (a_c - b_c) g_p`, has :math:`\tilde m = b` when the figure covers
    less than half of the image (its median pixel is background, g = 0), and its pixel
    farthest from b is the one with the largest g, of colour a when that g is 1. So the view
    is (b, a), whatever the shape: the data seen with the factor "shape" taken out, which a
    layer meant to cluster colours can start from
    (:class:`~pyroclust.infer.init.layerwise.LayerwiseStart`'s ``views``). (A figure that
    covers more than half of the image swaps the roles: (a, b).)

    Parameters
    ----------
    image_shape : (channels, height, width) or (height, width)

    Examples
    --------
    >>> mask = torch.tensor([[0.0, 1.0, 0.0, 0.5, 0.0]])
    >>> red_on_blue = torch.cat([mask, 0 * mask, 1 - mask], -1)  # (1, 3 * 5), channels first
    >>> ColourView((3, 1, 5))(red_on_blue)  # background blue, figure red
    tensor([[0., 0., 1., 1., 0., 0.]])
    """

    @property
    def out_features(self) -> int:
        """2C, the width of the rows it gives (background colour, then figure colour)."""
        return 2 * self.image_shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The view of ``x`` (..., C·H·W): a tensor (..., 2C); ``ValueError`` for rows of
        another width."""
        c = self.image_shape[0]
        channels = self.channels(x)
        background = channels.median(-1, keepdim=True).values
        farthest = (channels - background).abs().sum(-2).argmax(-1)  # (...,)
        index = farthest[..., None, None].expand(*farthest.shape, c, 1)
        figure = channels.gather(-1, index)
        return torch.cat([background[..., 0], figure[..., 0]], -1)


__all__ = ["ColourView"]
