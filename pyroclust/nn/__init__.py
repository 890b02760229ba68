"""Plain PyTorch building blocks (encoders, decoders, augmentations) composed into models."""

from pyroclust.nn.augment import RandomAffine
from pyroclust.nn.batched import BatchedMLP
from pyroclust.nn.contrast import ContrastInvariant
from pyroclust.nn.conv import ConvDecoder, ConvEncoder
from pyroclust.nn.mlp import MLP

__all__ = ["MLP", "BatchedMLP", "ContrastInvariant", "ConvDecoder", "ConvEncoder", "RandomAffine"]
