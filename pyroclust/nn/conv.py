"""Convolutional encoder and deconvolutional decoder blocks for flattened images.

Both take and give images flattened to rows of C·H·W values (the zoo's data are matrices of
shape (n_samples, n_features)); any leading dimensions (e.g. enumerated clusters) are kept.
The image shape (channels, height, width) comes from the data set
(:attr:`pyroclust.datasets.Dataset.image_shape`). Every stride-2 convolution halves the
height and width (rounding down); the decoder retraces the same sizes exactly, so any image
shape works (28 x 28 -> 14 -> 7 and back).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn


def check_image_shape(image_shape: Sequence[int]) -> tuple[int, int, int]:
    """(channels, height, width) as positive ints, a (height, width) shape read as one
    channel; ``ValueError`` otherwise."""
    shape = tuple(int(s) for s in image_shape)
    if len(shape) == 2:
        shape = (1, *shape)
    if len(shape) != 3 or any(s < 1 for s in shape):
        raise ValueError(f"image_shape must be (channels, height, width), got {image_shape!r}")
    return shape  # type: ignore[return-value]


def check_channels(channels: Sequence[int]) -> tuple[int, ...]:
    """The channel widths of a conv stack as ints; ``ValueError`` unless there is at least
    one and every one is positive."""
    widths = tuple(int(c) for c in channels)
    if not widths or any(c < 1 for c in widths):
        raise ValueError(f"channels must be positive, got {channels!r}")
    return widths


def downsampled_sizes(size: int, steps: int) -> list[int]:
    """The sizes of one spatial dimension after 0, 1, ..., ``steps`` stride-2 convolutions
    (kernel 4, padding 1): ``size, size // 2, ...``; ``ValueError`` when it reaches 0."""
    sizes = [int(size)]
    for _ in range(steps):
        sizes.append((sizes[-1] + 2 - 4) // 2 + 1)
    if sizes[-1] < 1:
        raise ValueError(f"a size of {size} cannot be halved {steps} times; use fewer channels")
    return sizes


def _flat_apply(
    net: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, shape: Sequence[int]
) -> torch.Tensor:
    """Apply ``net`` to ``x`` (..., prod(shape)) reshaped to (N, *shape), then flatten its
    output back to (..., -1)."""
    lead = x.shape[:-1]
    out = net(x.reshape(-1, *shape))
    return out.reshape(*lead, -1)


class ConvEncoder(nn.Module):
    """Stride-2 convolutions, then a linear map: flattened images (..., C·H·W) to
    features (..., out_features).

    Each convolution has a 4 x 4 kernel, stride 2 and padding 1 (halving height and width),
    and is followed by ``activation`` (and batch normalisation before it when asked).

    Parameters
    ----------
    image_shape : (int, int, int)
        (channels, height, width) of the images; (height, width) means one channel.
    channels : sequence of int
        Output channels of each convolution, (32, 64) by default.
    out_features : int
        Width of the output.
    activation : callable returning an ``nn.Module``
        ``nn.ReLU`` by default.
    output_activation : callable returning an ``nn.Module``, optional
        After the linear map (none by default: linear features).
    batch_norm : bool
        ``BatchNorm2d`` after each convolution.

    Examples
    --------
    >>> enc = ConvEncoder((3, 28, 28), channels=(8, 16), out_features=10)
    >>> enc(torch.rand(5, 3 * 28 * 28)).shape
    torch.Size([5, 10])
    """

    def __init__(
        self,
        image_shape: Sequence[int],
        channels: Sequence[int] = (32, 64),
        out_features: int = 256,
        *,
        activation: Callable[[], nn.Module] = nn.ReLU,
        output_activation: Callable[[], nn.Module] | None = None,
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        self.image_shape = check_image_shape(image_shape)
        self.channels = check_channels(channels)
        c, h, w = self.image_shape
        hs = downsampled_sizes(h, len(self.channels))
        ws = downsampled_sizes(w, len(self.channels))
        layers: list[nn.Module] = []
        for n_in, n_out in zip((c, *self.channels[:-1]), self.channels):
            layers.append(nn.Conv2d(n_in, n_out, 4, stride=2, padding=1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(n_out))
            layers.append(activation())
        layers.append(nn.Flatten())
        layers.append(nn.Linear(self.channels[-1] * hs[-1] * ws[-1], int(out_features)))
        if output_activation is not None:
            layers.append(output_activation())
        self.net = nn.Sequential(*layers)
        self.in_features = c * h * w
        self.out_features = int(out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features (..., out_features) of flattened images (..., C·H·W)."""
        return _flat_apply(self.net, x, self.image_shape)


class ConvDecoder(nn.Module):
    """A linear map, then stride-2 transposed convolutions: features (..., in_features) to
    flattened images (..., C·H·W), the mirror of :class:`ConvEncoder`.

    The output is linear (logits for a Bernoulli likelihood, means for a Gaussian one); the
    transposed convolutions retrace the encoder's sizes exactly (``output_padding`` 0 or 1).

    Parameters
    ----------
    in_features : int
        Width of the input.
    image_shape : (int, int, int)
        (channels, height, width) of the images produced; (height, width) means one channel.
    channels : sequence of int
        Channels before each transposed convolution, coarsest first, (64, 32) by default
        (the reverse of the encoder's).
    activation : callable returning an ``nn.Module``
        ``nn.ReLU`` by default, after the linear map and every hidden convolution.
    batch_norm : bool
        ``BatchNorm2d`` after each hidden transposed convolution.

    Examples
    --------
    >>> dec = ConvDecoder(10, (3, 28, 28), channels=(16, 8))
    >>> dec(torch.rand(2, 5, 10)).shape
    torch.Size([2, 5, 2352])
    """

    def __init__(
        self,
        in_features: int,
        image_shape: Sequence[int],
        channels: Sequence[int] = (64, 32),
        *,
        activation: Callable[[], nn.Module] = nn.ReLU,
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        self.image_shape = check_image_shape(image_shape)
        self.channels = check_channels(channels)
        c, h, w = self.image_shape
        steps = len(self.channels)
        hs = downsampled_sizes(h, steps)[::-1]  # coarsest first
        ws = downsampled_sizes(w, steps)[::-1]
        self.start_shape = (self.channels[0], hs[0], ws[0])
        self.stem = nn.Sequential(
            nn.Linear(int(in_features), self.channels[0] * hs[0] * ws[0]), activation()
        )
        layers: list[nn.Module] = []
        outs = (*self.channels[1:], c)
        for i, (n_in, n_out) in enumerate(zip(self.channels, outs)):
            pad = (hs[i + 1] - 2 * hs[i], ws[i + 1] - 2 * ws[i])
            layers.append(
                nn.ConvTranspose2d(n_in, n_out, 4, stride=2, padding=1, output_padding=pad)
            )
            if i < steps - 1:
                if batch_norm:
                    layers.append(nn.BatchNorm2d(n_out))
                layers.append(activation())
        self.deconv = nn.Sequential(*layers)
        self.in_features = int(in_features)
        self.out_features = c * h * w

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Flattened images (..., C·H·W) from features (..., in_features)."""
        lead = z.shape[:-1]
        start = self.stem(z.reshape(-1, z.shape[-1])).reshape(-1, *self.start_shape)
        return self.deconv(start).reshape(*lead, self.out_features)


__all__ = ["ConvDecoder", "ConvEncoder", "check_image_shape", "downsampled_sizes"]
