"""Variational families q(.), one file per architecture, named as in :mod:`pyroclust.models`."""

from pyroclust.guides.autoencoder import AutoencoderGuide
from pyroclust.guides.gmvae import GMVAEGuide
from pyroclust.guides.kdae import KDAEGuide
from pyroclust.guides.kdvae import KDVAEGuide
from pyroclust.guides.vade import VaDEGuide
from pyroclust.guides.vae import VAEGuide
from pyroclust.guides.vlac import VLACGuide

__all__ = [
    "AutoencoderGuide",
    "GMVAEGuide",
    "KDAEGuide",
    "KDVAEGuide",
    "VAEGuide",
    "VLACGuide",
    "VaDEGuide",
]
