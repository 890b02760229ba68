"""Generative models of the zoo, one file per architecture (guides share the file names)."""

from pyroclust.models.base import LatentVariableModel
from pyroclust.models.vade import VaDE

__all__ = ["LatentVariableModel", "VaDE"]
