"""Plain PyTorch building blocks (encoders, decoders) composed into models and guides."""

from pyroclust.nn.mlp import MLP

__all__ = ["MLP"]
