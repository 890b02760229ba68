"""Inference: the SVI trainer, fit sessions, ELBO choice, schedules, initialisation and
checkpoints."""

from pyroclust.infer import schedules
from pyroclust.infer.checkpoint import load_checkpoint, save_checkpoint
from pyroclust.infer.elbo import check_guide_covers_model, enumerated_sites, make_elbo
from pyroclust.infer.session import FitSession
from pyroclust.infer.trainer import EarlyStopping, SVITrainer, resolve_device

__all__ = [
    "EarlyStopping",
    "FitSession",
    "SVITrainer",
    "check_guide_covers_model",
    "enumerated_sites",
    "load_checkpoint",
    "make_elbo",
    "resolve_device",
    "save_checkpoint",
    "schedules",
]
