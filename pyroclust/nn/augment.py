"""Random geometric augmentation of flattened images, for augmented pretraining.

DEC-DA (Guo, Zhu, Liu & Yin, "Deep Embedded Clustering with Data Augmentation", ACML 2018)
showed that training the autoencoder to reconstruct an image from a randomly shifted and
rotated copy makes its codes invariant to small deformations, which is what clustering by
identity needs. :class:`RandomAffine` is that augmentation, on rows of a data matrix.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


class RandomAffine:
    """Random rotation, scaling and translation of flattened single-channel images.

    Parameters
    ----------
    image_shape : (height, width)
        Each row of the data is an image of this shape, flattened row-major.
    rotation : float
        Maximal rotation in degrees (uniform in [-rotation, rotation]).
    translation : float
        Maximal shift as a fraction of the image size, per axis.
    scale : float
        Maximal relative zoom (uniform in [1 - scale, 1 + scale]).
    generator : torch.Generator, optional
        Source of randomness (the global torch RNG by default).

    Examples
    --------
    >>> aug = RandomAffine((8, 8))
    >>> aug(torch.rand(5, 64)).shape
    torch.Size([5, 64])
    """

    def __init__(
        self,
        image_shape: tuple[int, int],
        *,
        rotation: float = 10.0,
        translation: float = 0.1,
        scale: float = 0.1,
        generator: torch.Generator | None = None,
    ) -> None:
        self.image_shape = (int(image_shape[0]), int(image_shape[1]))
        self.rotation = float(rotation)
        self.translation = float(translation)
        self.scale = float(scale)
        self.generator = generator

    def __repr__(self) -> str:
        return (
            f"RandomAffine({self.image_shape}, rotation={self.rotation}, "
            f"translation={self.translation}, scale={self.scale})"
        )

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Augment each row of ``x`` (shape (batch, height * width)) independently."""
        h, w = self.image_shape
        if x.shape[-1] != h * w:
            raise ValueError(f"rows of width {x.shape[-1]} are not {h}x{w} images")
        n = x.shape[0]

        def uniform(lo: float, hi: float) -> torch.Tensor:
            u = torch.rand(n, generator=self.generator).to(x.device)
            return lo + (hi - lo) * u

        angle = uniform(-self.rotation, self.rotation) * (math.pi / 180.0)
        zoom = uniform(1.0 - self.scale, 1.0 + self.scale)
        tx = uniform(-self.translation, self.translation) * 2.0
        ty = uniform(-self.translation, self.translation) * 2.0
        cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
        theta = torch.stack(
            [torch.stack([cos, -sin, tx], -1), torch.stack([sin, cos, ty], -1)], -2
        ).to(x.dtype)
        images = x.reshape(n, 1, h, w)
        grid = F.affine_grid(theta, list(images.shape), align_corners=False)
        out = F.grid_sample(images, grid, padding_mode="zeros", align_corners=False)
        return out.reshape(n, h * w)
