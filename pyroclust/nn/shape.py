"""The shape of an image with its colours taken out: every channel's contrast, signed so that
the figure is bright, weighted by its spread and scaled to [0, 1]."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from pyroclust.nn.view import ImageView


class ShapeView(ImageView):
    r"""A fixed map (no parameters) from flattened images (..., C·H·W) to flattened grey
    images (..., H·W) in [0, 1] that is the same for every colouring of the same shape.

    With :math:`m_c`, :math:`\tilde m_c` and :math:`s_c` the mean, median and standard
    deviation of channel c over the image's H·W pixels, and
    :math:`\epsilon_c = +1` when :math:`m_c \ge \tilde m_c`, else -1,

    .. math::
        v_p = \frac{\sum_c \epsilon_c (x_{cp} - m_c)}{\sum_c s_c}, \qquad
        \mathrm{view}_p = \frac{v_p - \min_q v_q}{\max_q v_q - \min_q v_q}

    (0 for an image constant in every channel).

    Why: a shape (a mask g in [0, 1]) painted in a figure colour a on a background colour b,
    :math:`x_{cp} = b_c + (a_c - b_c) g_p`, has every channel an affine map of g; when the
    figure covers less of the image than the background (its median pixel is background),
    the mean lies above the median exactly in the direction of :math:`a_c - b_c`, so
    :math:`\epsilon_c (x_{cp} - m_c) = |a_c - b_c| (g_p - \bar g)`, v is
    :math:`(g_p - \bar g) / \mathrm{sd}(g)` and the view is g scaled to [0, 1], whatever a
    and b and whichever is brighter. (A figure that covers more than half of the image gives
    1 - g, again for every colouring.) Channels count by their spread, so a channel with
    little contrast adds little of its noise. It is the data seen with the factor "colour"
    taken out, which a layer meant to cluster shapes can start from
    (:class:`~pyroclust.infer.init.layerwise.LayerwiseStart`'s ``views``); on grey-scale
    images it is the image's contrast stretched to [0, 1].

    Parameters
    ----------
    image_shape : (channels, height, width) or (height, width)
    eps : float
        An image whose channels' spreads sum to less than this, or whose v spans less, maps
        to 0.

    Examples
    --------
    >>> mask = torch.tensor([[0.0, 1.0, 0.0, 0.5, 0.0]])
    >>> red_on_blue = torch.cat([mask, 0 * mask, 1 - mask], -1)  # (1, 3 * 5), channels first
    >>> view = ShapeView((3, 1, 5))
    >>> view(red_on_blue)
    tensor([[0.0000, 1.0000, 0.0000, 0.5000, 0.0000]])
    >>> other = torch.cat([0.9 - 0.5 * mask, 0.2 + 0.3 * mask, 0.4 + 0 * mask], -1)
    >>> torch.allclose(view(other), view(red_on_blue))
    True
    """

    def __init__(self, image_shape: Sequence[int], eps: float = 1e-6) -> None:
        super().__init__(image_shape)
        if not eps > 0:
            raise ValueError(f"eps must be > 0, got {eps}")
        self.eps = float(eps)

    @property
    def out_features(self) -> int:
        """H·W, the width of the rows it gives."""
        return self.image_shape[1] * self.image_shape[2]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The view of ``x`` (..., C·H·W): a tensor (..., H·W) in [0, 1]; ``ValueError`` for
        rows of another width."""
        channels = self.channels(x)
        mean = channels.mean(-1, keepdim=True)
        median = channels.median(-1, keepdim=True).values
        sign = torch.where(mean >= median, 1.0, -1.0).to(x.dtype)
        spread = channels.std(-1, correction=0, keepdim=True).sum(-2)
        v = (sign * (channels - mean)).sum(-2) / spread.clamp_min(self.eps)
        low = v.amin(-1, keepdim=True)
        span = v.amax(-1, keepdim=True) - low
        flat = (spread < self.eps) | (span < self.eps)
        return torch.where(flat, torch.zeros_like(v), (v - low) / span.clamp_min(self.eps))


__all__ = ["ShapeView"]
