"""The convolutional encoder and deconvolutional decoder blocks: shapes for any image size,
leading dimensions kept, gradients flowing, bad shapes refused."""

from __future__ import annotations

import pytest
import torch

from pyroclust.nn import ConvDecoder, ConvEncoder
from pyroclust.nn.conv import downsampled_sizes


@pytest.mark.parametrize(
    "image_shape", [(3, 28, 28), (1, 28, 28), (3, 32, 32), (2, 13, 9), (28, 28)]
)
def test_encoder_and_decoder_shapes(image_shape) -> None:
    enc = ConvEncoder(image_shape, channels=(4, 8), out_features=6)
    dec = ConvDecoder(6, image_shape, channels=(8, 4))
    d = int(torch.tensor(image_shape).prod())
    assert enc.in_features == d and enc.out_features == 6 and dec.out_features == d
    x = torch.rand(5, d)
    h = enc(x)
    assert h.shape == (5, 6)
    assert dec(h).shape == (5, d)


def test_leading_dimensions_are_kept() -> None:
    enc = ConvEncoder((3, 12, 12), channels=(4,), out_features=5)
    dec = ConvDecoder(5, (3, 12, 12), channels=(4,))
    x = torch.rand(2, 3, 4, 3 * 12 * 12)
    assert enc(x).shape == (2, 3, 4, 5)
    assert dec(torch.rand(3, 1, 7, 5)).shape == (3, 1, 7, 432)


def test_gradients_reach_every_parameter() -> None:
    enc = ConvEncoder((3, 16, 16), channels=(4, 8), out_features=5, batch_norm=True)
    dec = ConvDecoder(5, (3, 16, 16), channels=(8, 4), batch_norm=True)
    dec(enc(torch.rand(4, 768))).square().sum().backward()
    for p in [*enc.parameters(), *dec.parameters()]:
        assert p.grad is not None and torch.isfinite(p.grad).all()


def test_sizes_and_refusals() -> None:
    assert downsampled_sizes(28, 3) == [28, 14, 7, 3]
    with pytest.raises(ValueError, match="cannot be halved"):
        ConvEncoder((1, 4, 4), channels=(2, 2, 2, 2))
    with pytest.raises(ValueError, match="image_shape"):
        ConvDecoder(3, (1, 2, 3, 4))
    with pytest.raises(ValueError, match="channels"):
        ConvEncoder((1, 8, 8), channels=())
