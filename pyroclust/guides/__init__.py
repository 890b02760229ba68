"""Variational families q(.), one file per architecture, named as in :mod:`pyroclust.models`."""

from pyroclust.guides.vade import VaDEGuide

__all__ = ["VaDEGuide"]
