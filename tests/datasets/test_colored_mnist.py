"""Coloured MNIST: three partitions consistent with the pixels, seeded, registered; built
from a tiny synthetic stand-in (and from the real MNIST files when ../shared/data has them)."""

from __future__ import annotations

import numpy as np
import pytest

from pyroclust.datasets import Dataset, available_datasets, load_dataset
from pyroclust.datasets.colored import BACKGROUND_COLOURS, DIGIT_COLOURS, colorize
from pyroclust.exceptions import DatasetError

FG = np.asarray(list(DIGIT_COLOURS.values()))
BG = np.asarray(list(BACKGROUND_COLOURS.values()))


def _stand_in(n: int = 60, side: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Grey 'digits': a bar at a label-dependent row, full intensity, corner left blank."""
    rng = np.random.default_rng(seed)
    digits = rng.integers(0, 10, n)
    grey = np.zeros((n, side, side), dtype=np.float32)
    for i, d in enumerate(digits):
        grey[i, 1 + d % (side - 1), 1:] = 1.0
        grey[i, 1:, side // 2] = np.maximum(grey[i, 1:, side // 2], 0.5)
    return grey, digits


def _nearest(rgb: np.ndarray, palette: np.ndarray) -> np.ndarray:
    return ((rgb[:, None, :] - palette[None]) ** 2).sum(-1).argmin(1)


def _check_pixels(ds: Dataset) -> None:
    """The corner pixel (background in MNIST) shows the background colour, the pixel
    farthest from it the digit colour, for every image."""
    c, h, w = ds.image_shape
    img = ds.x.reshape(len(ds), c, h * w)
    corner = img[:, :, 0]
    assert np.array_equal(_nearest(corner, BG), ds.labels["background_colour"])
    assert np.allclose(corner, BG[ds.labels["background_colour"]], atol=1e-6)
    far = ((img - corner[:, :, None]) ** 2).sum(1).argmax(1)
    brightest = img[np.arange(len(ds)), :, far]
    assert np.array_equal(_nearest(brightest, FG), ds.labels["digit_colour"])


def test_labels_are_consistent_with_the_pixels() -> None:
    grey, digits = _stand_in()
    ds = colorize(grey, digits, seed=3)
    assert ds.x.shape == (60, 3 * 64) and ds.image_shape == (3, 8, 8) and ds.support == "unit"
    assert np.array_equal(ds.y, digits) and np.array_equal(ds.labels["digit"], digits)
    assert set(ds.label_sets) == {"digit", "digit_colour", "background_colour"}
    _check_pixels(ds)
    # the exact mixture g * digit colour + (1 - g) * background colour, channels first
    fg, bg = FG[ds.labels["digit_colour"]], BG[ds.labels["background_colour"]]
    expected = grey[:, None] * fg[:, :, None, None] + (1 - grey[:, None]) * bg[:, :, None, None]
    assert np.allclose(ds.x, expected.reshape(60, -1), atol=1e-6)
    # every colour is used, drawn independently of the digit
    assert set(ds.labels["digit_colour"]) == set(range(len(FG)))
    assert set(ds.labels["background_colour"]) == set(range(len(BG)))


def test_a_fixed_seed_gives_the_same_data_set() -> None:
    grey, digits = _stand_in()
    a, b = colorize(grey, digits, seed=7), colorize(grey, digits, seed=7)
    assert np.array_equal(a.x, b.x)
    for key in a.labels:
        assert np.array_equal(a.labels[key], b.labels[key])
    c = colorize(grey, digits, seed=8)
    assert not np.array_equal(a.labels["digit_colour"], c.labels["digit_colour"])


def test_flattened_input_custom_palettes_and_refusals() -> None:
    grey, digits = _stand_in(10, 4)
    ds = colorize(
        grey.reshape(10, 16),
        digits,
        digit_colours={"white": (1.0, 1.0, 1.0)},
        background_colours={"black": (0, 0, 0), "grey": (0.3, 0.3, 0.3)},
    )
    assert ds.image_shape == (3, 4, 4) and set(ds.labels["digit_colour"]) == {0}
    with pytest.raises(DatasetError, match="square"):
        colorize(np.zeros((2, 15)), np.zeros(2))
    with pytest.raises(DatasetError, match="one digit label per image"):
        colorize(grey, digits[:3])
    with pytest.raises(DatasetError, match="lie in"):
        colorize(grey + 2, digits)


def test_dataset_stays_backward_compatible_and_checks_label_sets() -> None:
    old = Dataset(np.zeros((3, 4)), np.array([0, 1, 1]), "toy", (2, 2), "unit")
    assert old.labels is None and old.image_shape == (2, 2) and set(old.label_sets) == {"y"}
    with pytest.raises(DatasetError, match="label set 'colour' must have shape"):
        Dataset(np.zeros((3, 4)), None, "toy", labels={"colour": np.zeros(2)})
    with pytest.raises(DatasetError, match="image_shape"):
        Dataset(np.zeros((3, 12)), None, "toy", image_shape=(3, 2, 3))


def test_registered_under_its_name() -> None:
    assert "colored-mnist" in available_datasets()


def test_from_the_real_mnist_files(shared_data_dir) -> None:
    if not (shared_data_dir / "mnist").is_dir():
        pytest.skip("no MNIST files in the shared data folder")
    ds = load_dataset("colored-mnist", data_dir=shared_data_dir, split="test", download=False)
    again = load_dataset("Colored_MNIST", data_dir=shared_data_dir, split="test", download=False)
    assert ds.x.shape == (10_000, 3 * 28 * 28) and ds.image_shape == (3, 28, 28)
    assert np.array_equal(ds.x, again.x)
    assert sorted(np.unique(ds.labels["digit"])) == list(range(10))
    _check_pixels(ds)
