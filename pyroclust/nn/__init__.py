"""Plain PyTorch building blocks (encoders, decoders, augmentations) composed into models."""

from pyroclust.nn.augment import RandomAffine
from pyroclust.nn.batched import BatchedMLP
from pyroclust.nn.colour import ColourView
from pyroclust.nn.conv import ConvDecoder, ConvEncoder
from pyroclust.nn.mlp import MLP
from pyroclust.nn.shape import ShapeView
from pyroclust.nn.view import ImageView

__all__ = [
    "MLP",
    "BatchedMLP",
    "ColourView",
    "ConvDecoder",
    "ConvEncoder",
    "ImageView",
    "RandomAffine",
    "ShapeView",
]
