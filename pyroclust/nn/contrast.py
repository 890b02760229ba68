"""A view of images that their colours and contrast polarity do not change: each channel
standardised over the image, its absolute value, averaged over channels."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from pyroclust.nn.conv import check_image_shape


class ContrastInvariant(nn.Module):
    r"""The shape of an image with its colours removed: a fixed map (no parameters) from
    flattened images (..., C·H·W) to flattened grey images (..., H·W) in [0, 1].

    Each channel c of an image is standardised over its H·W pixels and taken in absolute
    value; the channels are averaged and the result divided by its largest pixel:

    .. math::
        v_p = \frac{1}{C} \sum_c \frac{|x_{cp} - m_c|}{s_c}, \qquad
        \mathrm{view}_p = v_p / \max_q v_q,

    with :math:`m_c, s_c` the mean and standard deviation of channel c over the image; a
    channel that is constant over the image (s_c below ``eps``) adds 0, and an image that is
    constant in every channel maps to 0.

    Why: an image drawn as a shape (a mask g in [0, 1]) painted in a foreground colour a on
    a background colour b, :math:`x_{cp} = b_c + (a_c - b_c) g_p`, has each channel an
    affine map of g, so :math:`|x_{cp} - m_c| / s_c = |g_p - \bar g| / \mathrm{sd}(g)` in
    every channel where :math:`a_c \neq b_c`, whatever a and b, and whichever of the two is
    brighter: the view is the same for every colouring of the same shape. It is the data
    seen with the factor "colour" taken out, which a layer of a model meant to cluster
    shapes can start from (:class:`~pyroclust.infer.init.layerwise.LayerwiseStart`'s
    ``views``). On grey-scale images it is the image's contrast normalised, up to polarity.

    Parameters
    ----------
    image_shape : (channels, height, width) or (height, width)
    eps : float
        Channels whose standard deviation over the image is below this add nothing.

    Examples
    --------
    >>> mask = torch.tensor([[0.0, 1.0, 0.0, 0.5]])
    >>> red_on_blue = torch.cat([mask, 0 * mask, 1 - mask], -1)  # (1, 3 * 2 * 2)
    >>> view = ContrastInvariant((3, 2, 2))
    >>> view(red_on_blue)
    tensor([[0.6000, 1.0000, 0.6000, 0.2000]])
    >>> torch.allclose(view(torch.cat([0.2 + 0.5 * mask, 0.7 - 0.3 * mask, 0.4 + 0 * mask], -1)),
    ...                view(red_on_blue))
    True
    """

    def __init__(self, image_shape: Sequence[int], eps: float = 1e-6) -> None:
        super().__init__()
        self.image_shape = check_image_shape(image_shape)
        if not eps > 0:
            raise ValueError(f"eps must be > 0, got {eps}")
        self.eps = float(eps)

    @property
    def in_features(self) -> int:
        """C·H·W, the width of the rows it reads."""
        c, h, w = self.image_shape
        return c * h * w

    @property
    def out_features(self) -> int:
        """H·W, the width of the rows it gives."""
        return self.image_shape[1] * self.image_shape[2]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The view of ``x`` (..., C·H·W): a tensor (..., H·W) in [0, 1]."""
        if x.shape[-1] != self.in_features:
            raise ValueError(
                f"ContrastInvariant{self.image_shape} reads rows of {self.in_features} "
                f"values, got {x.shape[-1]}"
            )
        c = self.image_shape[0]
        channels = x.reshape(*x.shape[:-1], c, self.out_features)
        mean = channels.mean(-1, keepdim=True)
        std = channels.std(-1, correction=0, keepdim=True)
        varies = std > self.eps
        scaled = (channels - mean).abs() / torch.where(varies, std, torch.ones_like(std))
        view = torch.where(varies, scaled, torch.zeros_like(scaled)).mean(-2)
        top = view.amax(-1, keepdim=True)
        return view / torch.where(top > 0, top, torch.ones_like(top))

    def extra_repr(self) -> str:
        return f"image_shape={self.image_shape}"


__all__ = ["ContrastInvariant"]
