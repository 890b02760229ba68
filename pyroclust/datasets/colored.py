"""Coloured MNIST: grey-scale digits given a digit colour and a background colour, a data set
with three known partitions (digit identity, digit colour, background colour).

Built from MNIST (or any grey-scale images with labels) with no download of its own, seeded:
each image draws a digit colour and a background colour independently and uniformly from two
small palettes, and every pixel of grey level g in [0, 1] becomes

.. math:: \\mathrm{rgb} = g \\cdot \\mathrm{digit\\ colour} + (1 - g) \\cdot
          \\mathrm{background\\ colour},

stored channels first ((3, H, W) flattened), the layout :class:`~pyroclust.nn.ConvEncoder`
reads. The digit colours are bright and the background colours dark, so the two palettes
never meet. It is the multi-attribute set-up of VLAC (Willetts, Roberts & Holmes, 2019)
and MFCVAE (Falck et al., 2021).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from pyroclust.datasets.base import Dataset
from pyroclust.exceptions import DatasetError

#: Digit colours (RGB in [0, 1]), bright.
DIGIT_COLOURS: dict[str, tuple[float, float, float]] = {
    "red": (1.0, 0.2, 0.2),
    "green": (0.2, 1.0, 0.2),
    "blue": (0.3, 0.5, 1.0),
    "yellow": (1.0, 1.0, 0.2),
}

#: Background colours (RGB in [0, 1]), dark.
BACKGROUND_COLOURS: dict[str, tuple[float, float, float]] = {
    "black": (0.0, 0.0, 0.0),
    "navy": (0.0, 0.0, 0.45),
    "maroon": (0.45, 0.0, 0.0),
}

#: The names of the three label sets, in :attr:`Dataset.labels`.
LABEL_SETS = ("digit", "digit_colour", "background_colour")


def _palette(colours: Mapping[str, tuple[float, float, float]], what: str) -> np.ndarray:
    table = np.asarray(list(colours.values()), dtype=np.float32)
    if table.ndim != 2 or table.shape[1] != 3 or len(table) < 1:
        raise DatasetError(f"{what}: give at least one RGB colour, got shape {table.shape}")
    if table.min() < 0.0 or table.max() > 1.0:
        raise DatasetError(f"{what}: RGB values must lie in [0, 1]")
    return table


def colorize(
    images: np.ndarray,
    digits: np.ndarray,
    *,
    seed: int = 0,
    digit_colours: Mapping[str, tuple[float, float, float]] | None = None,
    background_colours: Mapping[str, tuple[float, float, float]] | None = None,
    name: str = "colored-mnist",
) -> Dataset:
    """Colour grey-scale images: each gets a digit colour and a background colour drawn
    independently (seeded) from the palettes.

    Parameters
    ----------
    images : np.ndarray of shape (n_samples, H, W) or (n_samples, H * W) with square images
        Grey levels in [0, 1] (0 is background).
    digits : np.ndarray of shape (n_samples,)
        The images' class labels (digit identity).
    seed : int
        Seed of the colour draws: the same seed gives the same data set.
    digit_colours, background_colours : mapping of name to RGB, optional
        The palettes; :data:`DIGIT_COLOURS` and :data:`BACKGROUND_COLOURS` by default.
    name : str
        The data set's name.

    Returns
    -------
    Dataset
        ``x`` of shape (n_samples, 3 * H * W) (channels first), ``y`` the digits,
        ``image_shape`` (3, H, W), and ``labels`` with ``"digit"``, ``"digit_colour"`` and
        ``"background_colour"`` (indices into the palettes, in their order).

    Examples
    --------
    >>> grey = np.zeros((4, 2, 2)); grey[:, 0, 0] = 1.0
    >>> ds = colorize(grey, np.arange(4), seed=1)
    >>> ds.image_shape, sorted(ds.labels)
    ((3, 2, 2), ['background_colour', 'digit', 'digit_colour'])
    """
    grey = np.asarray(images, dtype=np.float32)
    if grey.ndim == 2:
        side = int(round(np.sqrt(grey.shape[1])))
        if side * side != grey.shape[1]:
            raise DatasetError(f"{name}: flattened images must be square, got {grey.shape[1]}")
        grey = grey.reshape(len(grey), side, side)
    if grey.ndim != 3:
        raise DatasetError(f"{name}: images must be (n, H, W) or (n, H*W), got {grey.shape}")
    if grey.size and (grey.min() < 0.0 or grey.max() > 1.0):
        raise DatasetError(f"{name}: grey levels must lie in [0, 1]")
    digits = np.asarray(digits)
    if digits.shape != (len(grey),):
        raise DatasetError(f"{name}: need one digit label per image, got {digits.shape}")
    fg = _palette(digit_colours if digit_colours is not None else DIGIT_COLOURS, "digit colours")
    bg = _palette(
        background_colours if background_colours is not None else BACKGROUND_COLOURS,
        "background colours",
    )
    rng = np.random.default_rng(seed)
    fg_idx = rng.integers(0, len(fg), len(grey))
    bg_idx = rng.integers(0, len(bg), len(grey))
    n, h, w = grey.shape
    g = grey[:, None]  # (n, 1, H, W)
    rgb = g * fg[fg_idx][:, :, None, None] + (1.0 - g) * bg[bg_idx][:, :, None, None]
    labels = {"digit": digits, "digit_colour": fg_idx, "background_colour": bg_idx}
    return Dataset(
        x=rgb.reshape(n, 3 * h * w),
        y=digits,
        name=name,
        image_shape=(3, h, w),
        support="unit",
        labels=labels,
    )


def colorize_dataset(ds: Dataset, *, seed: int = 0, **options: object) -> Dataset:
    """:func:`colorize` a grey-scale :class:`Dataset` with labels (MNIST's loader output)."""
    if ds.y is None or ds.image_shape is None or len(ds.image_shape) != 2:
        raise DatasetError(f"{ds.name}: need grey-scale images with labels to colour them")
    images = ds.x.reshape(len(ds), *ds.image_shape)
    return colorize(images, ds.y, seed=seed, **options)  # type: ignore[arg-type]


__all__ = [
    "BACKGROUND_COLOURS",
    "DIGIT_COLOURS",
    "LABEL_SETS",
    "colorize",
    "colorize_dataset",
]
