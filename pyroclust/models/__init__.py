"""Generative models of the zoo, one file per architecture (guides share the file names)."""

from pyroclust.models.autoencoder import Autoencoder
from pyroclust.models.base import LatentVariableModel
from pyroclust.models.gmvae import GMVAE
from pyroclust.models.kdae import KDAE
from pyroclust.models.kdvae import KDVAE
from pyroclust.models.vade import VaDE
from pyroclust.models.vae import VAE
from pyroclust.models.vlac import VLAC

__all__ = ["GMVAE", "KDAE", "KDVAE", "VAE", "VLAC", "Autoencoder", "LatentVariableModel", "VaDE"]
