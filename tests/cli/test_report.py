"""pyroclust.cli.report: every cluster site against every label set, and the per-layer
pictures, on a tiny coloured data set and a VLAC fitted for two epochs."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from pyroclust import zoo
from pyroclust.cli.report import (
    format_site_table,
    has_layer_pictures,
    site_predictions,
    site_scores,
    write_layer_plots,
)
from pyroclust.datasets import Dataset
from pyroclust.datasets.colored import colorize
from pyroclust.estimator import Clusterer
from pyroclust.infer.init import RandomInit
from pyroclust.metrics import site_label_scores

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def coloured() -> Dataset:
    """40 coloured 8x8 'digits' of two shapes (a bar, a square)."""
    rng = np.random.default_rng(0)
    grey = np.zeros((40, 8, 8), dtype=np.float32)
    digits = np.arange(40) % 2
    grey[digits == 0, 2:6, 3:5] = 1.0
    grey[digits == 1, 2:6, 2:6] = 1.0
    grey = np.clip(grey + rng.uniform(0, 0.05, grey.shape), 0, 1)
    return colorize(grey, digits, seed=0, name="tiny-coloured")


def _fit(ds: Dataset, layers) -> Clusterer:
    model, guide = zoo.make(
        "vlac",
        ds.n_features,
        layers=layers,
        latent_dim=2,
        hidden=[8],
        image_shape=ds.image_shape,
        conv_channels=(4,),
    )
    est = Clusterer(model, guide, epochs=2, batch_size=20, init=RandomInit(), random_state=0)
    return est.set_params(progress=False).fit(ds.x)


@pytest.fixture(scope="module")
def fitted(coloured) -> Clusterer:
    return _fit(coloured, [2, 3])


def test_site_scores_cover_every_site_and_label_set(fitted, coloured):
    scores = site_scores(fitted, coloured)
    assert list(scores) == ["y1", "y2"]
    assert all(
        list(row) == ["digit", "digit_colour", "background_colour"] for row in scores.values()
    )
    predictions = site_predictions(fitted, coloured.x)
    np.testing.assert_array_equal(predictions["y2"], fitted.predict(coloured.x, site="y2"))
    assert scores == site_label_scores(predictions, coloured.labels)


def test_one_partition_is_scored_as_y(fitted, coloured):
    plain = Dataset(x=coloured.x, y=coloured.labels["digit_colour"], name="plain")
    scores = site_scores(fitted, plain)
    assert all(list(row) == ["y"] for row in scores.values())
    unlabelled = Dataset(x=coloured.x, y=None, name="none")
    assert site_scores(fitted, unlabelled) == {}


def test_format_site_table_has_one_line_per_pair():
    scores = {
        "y1": {"a": {"acc": 1.0, "acc_majority": 1.0, "nmi": 1.0, "ari": 1.0}},
        "y20": {
            "a": {"acc": 0.5, "acc_majority": 0.75, "nmi": 0.25, "ari": 0.125},
            "colour": {"acc": 0.1, "acc_majority": 0.2, "nmi": 0.3, "ari": -0.05},
        },
    }
    lines = format_site_table(scores).splitlines()
    assert lines[0].split() == ["site", "label", "set", "ACC", "ACC(majority)", "NMI", "ARI"]
    assert [line.split() for line in lines[1:]] == [
        ["y1", "a", "1.0000", "1.0000", "1.0000", "1.0000"],
        ["y20", "a", "0.5000", "0.7500", "0.2500", "0.1250"],
        ["y20", "colour", "0.1000", "0.2000", "0.3000", "-0.0500"],
    ]
    # the columns line up
    assert (
        len({line.index("ACC") if i == 0 else None for i, line in enumerate(lines)} - {None}) == 1
    )
    assert lines[2].index("0.5000") == lines[0].index("ACC")


def _assert_png(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG_MAGIC


def test_write_layer_plots_writes_one_grid_per_site_and_the_traversals(fitted, coloured, tmp_path):
    written = write_layer_plots(fitted, coloured, tmp_path / "run", n_rows=2, n_draws=3)
    names = [p.name for p in written]
    assert names == ["components_y1.png", "components_y2.png", "layer_traversals.png"]
    for path in written:
        _assert_png(path)
    again = write_layer_plots(fitted, coloured, tmp_path / "again", n_rows=2, n_draws=3)
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in written]  # seeded


def test_write_layer_plots_needs_images_and_a_ladder(fitted, coloured, tmp_path):
    flat = Dataset(x=coloured.x, y=coloured.y, name="flat")
    assert not has_layer_pictures(fitted, flat)
    assert write_layer_plots(fitted, flat, tmp_path) == []
    other = SimpleNamespace(model_=object(), cluster_sites_=())
    assert not has_layer_pictures(other, coloured)
    assert write_layer_plots(other, coloured, tmp_path) == []
    assert list(tmp_path.iterdir()) == []
