import matplotlib
import numpy as np
import pytest
from matplotlib.figure import Figure

from pyroclust import plots
from pyroclust.exceptions import DataError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_png(path):
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 500


@pytest.fixture(autouse=True)
def no_pyplot_state():
    """The plotting functions must neither switch the backend nor register pyplot figures."""
    backend = matplotlib.get_backend()
    yield
    assert matplotlib.get_backend() == backend
    pyplot = __import__("sys").modules.get("matplotlib.pyplot")
    if pyplot is not None:
        assert pyplot.get_fignums() == []


def test_plot_elbo_from_history_and_values(tmp_path):
    history = [{"epoch": i + 1, "elbo": -100.0 + 10 * i} for i in range(5)]
    fig = plots.plot_elbo(history, tmp_path / "elbo.png")
    assert isinstance(fig, Figure)
    assert_png(tmp_path / "elbo.png")
    (line,) = fig.axes[0].get_lines()
    np.testing.assert_allclose(line.get_xdata(), [1, 2, 3, 4, 5])
    np.testing.assert_allclose(line.get_ydata(), [-100, -90, -80, -70, -60])
    fig2 = plots.plot_elbo(np.array([-3.0, -2.0, -1.5]))
    np.testing.assert_allclose(fig2.axes[0].get_lines()[0].get_xdata(), [1, 2, 3])


@pytest.mark.parametrize(
    ("latent_dim", "method"), [(1, "pca"), (2, "pca"), (6, "pca"), (6, "tsne")]
)
def test_plot_embedding(tmp_path, latent_dim, method):
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 20)
    codes = rng.normal(size=(60, latent_dim)) + 5 * labels[:, None]
    fig = plots.plot_embedding(codes, labels, tmp_path / "emb.png", method=method)
    assert_png(tmp_path / "emb.png")
    ax = fig.axes[0]
    assert len(ax.collections) == 3  # one scatter per cluster
    assert sum(len(c.get_offsets()) for c in ax.collections) == 60
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["0", "1", "2"]


def test_plot_embedding_subsample_and_errors():
    codes = np.random.default_rng(1).normal(size=(100, 4))
    fig = plots.plot_embedding(codes, np.arange(100) % 25, max_points=40)
    ax = fig.axes[0]
    assert sum(len(c.get_offsets()) for c in ax.collections) == 40
    assert ax.get_legend() is None  # more than 20 clusters: no legend
    with pytest.raises(DataError, match="labels has"):
        plots.plot_embedding(codes, np.zeros(3))
    with pytest.raises(DataError, match="method"):
        plots.plot_embedding(codes, np.zeros(100), method="umap")


def test_plot_image_grid_shape(tmp_path):
    images = np.random.default_rng(0).random((7, 8 * 6))
    fig = plots.plot_image_grid(images, (8, 6), tmp_path / "grid.png", n_cols=3)
    assert_png(tmp_path / "grid.png")
    mosaic = fig.axes[0].images[0].get_array()
    # 3 rows x 3 columns of 8x6 cells with a 1-pixel border
    assert mosaic.shape == (3 * 9 + 1, 3 * 7 + 1)
    np.testing.assert_allclose(mosaic[1:9, 1:7], images[0].reshape(8, 6))
    assert mosaic.mask[-9:, -7:].all()  # the two empty cells are blank
    with pytest.raises(DataError, match="image_shape"):
        plots.plot_image_grid(images, (5, 5))


def test_plot_samples_grid_rows_per_cluster(tmp_path):
    rng = np.random.default_rng(0)
    samples = [rng.random((4, 64)) for _ in range(3)] + [rng.random((2, 64))]
    fig = plots.plot_samples_grid(
        samples, (8, 8), tmp_path / "samples.png", weights=[0.4, 0.3, 0.2, 0.1]
    )
    assert_png(tmp_path / "samples.png")
    ax = fig.axes[0]
    assert ax.images[0].get_array().shape == (4 * 9 + 1, 4 * 9 + 1)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["0 (0.40)", "1 (0.30)", "2 (0.20)", "3 (0.10)"]
    fig2 = plots.plot_samples_grid({"a": samples[0], "b": samples[1]}, (8, 8))
    assert [t.get_text() for t in fig2.axes[0].get_yticklabels()] == ["a", "b"]
    with pytest.raises(DataError, match="weights"):
        plots.plot_samples_grid(samples, (8, 8), weights=[1.0])


@pytest.mark.parametrize("dims", [2, 3])
def test_plot_embedding_panels_grid(tmp_path, dims):
    rng = np.random.default_rng(0)
    emb = {name: rng.normal(size=(30, dims)) for name in ("a", "b", "c")}
    truth = np.repeat([0, 1, 2], 10)
    clusters = {name: rng.integers(0, 4, 30) for name in emb}
    fig = plots.plot_embedding_panels(
        emb, {"true class": truth, "cluster": clusters}, tmp_path / "panels.png", title="t"
    )
    assert_png(tmp_path / "panels.png")
    assert len(fig.axes) == 6
    assert fig.axes[4].get_title() == "b: cluster"
    with pytest.raises(DataError, match="shape"):
        plots.plot_embedding_panels({"a": np.zeros((3, 4))}, {"x": np.zeros(3)})


def test_plot_voronoi_regions(tmp_path):
    rng = np.random.default_rng(0)
    train = {"x": rng.normal(size=(60, 4)), "z": rng.normal(size=(60, 2))}
    test = {"x": rng.normal(size=(20, 4)), "z": rng.normal(size=(20, 2))}
    fig = plots.plot_voronoi(train, test, 3, tmp_path / "voronoi.png", n_init=1)
    assert_png(tmp_path / "voronoi.png")
    assert len(fig.axes) == 2
    assert fig.axes[0].images[0].get_array().max() == 2  # three regions
    fig = plots.plot_voronoi(train, test, 3, colour_by=np.arange(20) % 2, n_init=1)
    assert "true class" in fig.get_suptitle()
    with pytest.raises(DataError, match="same"):
        plots.plot_voronoi(train, {"x": test["x"]}, 3)


def test_plot_style_transfer(tmp_path) -> None:
    from pyroclust.exceptions import DataError
    from pyroclust.plots import plot_style_transfer

    rng = np.random.default_rng(0)
    originals = rng.random((5, 16))
    decoded = [rng.random((5, 16)) for _ in range(3)]
    fig = plot_style_transfer(originals, decoded, (4, 4), tmp_path / "grid.png")
    assert (tmp_path / "grid.png").stat().st_size > 0
    assert len(fig.axes[0].get_yticks()) == 4  # the inputs and one row per cluster
    with pytest.raises(DataError, match="one image per original"):
        plot_style_transfer(originals, [rng.random((4, 16))], (4, 4))


# ----------------------------------------------------------------------------- colour, layers
def _cell(mosaic, r, c, h, w):
    """Cell (r, c) of a mosaic with one blank pixel between cells."""
    y0, x0 = 1 + r * (h + 1), 1 + c * (w + 1)
    return mosaic[y0 : y0 + h, x0 : x0 + w]


def test_plot_image_grid_colour_is_read_channels_first(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.random((5, 3 * 4 * 6))  # (3, 4, 6) images, flattened channels first
    fig = plots.plot_image_grid(images, (3, 4, 6), tmp_path / "rgb.png", n_cols=3)
    assert_png(tmp_path / "rgb.png")
    mosaic = np.asarray(fig.axes[0].images[0].get_array())
    assert mosaic.shape == (2 * 5 + 1, 3 * 7 + 1, 3)
    first = images[0].reshape(3, 4, 6)
    for channel in range(3):
        np.testing.assert_allclose(_cell(mosaic, 0, 0, 4, 6)[..., channel], first[channel])
    np.testing.assert_allclose(_cell(mosaic, 1, 2, 4, 6), 1.0)  # the empty cell is white
    assert (mosaic[0] == 1.0).all()  # the border too
    with pytest.raises(DataError, match="1 or 3 channels"):
        plots.plot_image_grid(images, (2, 4, 6))
    with pytest.raises(DataError, match=r"\(n_images, 72\)"):
        plots.plot_image_grid(images[:, :48], (3, 4, 6))


def test_plot_samples_grid_colour(tmp_path):
    rng = np.random.default_rng(1)
    fig = plots.plot_samples_grid([rng.random((2, 3 * 16)) for _ in range(3)], (3, 4, 4))
    assert np.asarray(fig.axes[0].images[0].get_array()).shape == (3 * 5 + 1, 2 * 5 + 1, 3)


@pytest.mark.parametrize("shape", [(4, 5), (3, 4, 5)])
def test_plot_component_grid_layout(tmp_path, shape):
    rng = np.random.default_rng(0)
    d = int(np.prod(shape))
    grid = rng.random((2, 3, d))  # 2 rows, 3 components
    fig = plots.plot_component_grid(
        grid, shape, tmp_path / "components.png", site="y2", weights=[0.5, 0.3, 0.2]
    )
    assert_png(tmp_path / "components.png")
    ax = fig.axes[0]
    mosaic = np.asarray(ax.images[0].get_array())
    h, w = shape[-2:]
    assert mosaic.shape[:2] == (2 * (h + 1) + 1, 3 * (w + 1) + 1)
    expected = grid[1, 2].reshape(shape)
    expected = expected if len(shape) == 2 else expected.transpose(1, 2, 0)
    np.testing.assert_allclose(_cell(mosaic, 1, 2, h, w), expected)  # row 1, component 2
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0\n0.50", "1\n0.30", "2\n0.20"]
    assert "y2" in ax.get_title()
    with pytest.raises(DataError, match="n_rows, n_components, n_features"):
        plots.plot_component_grid(grid[0], shape)
    with pytest.raises(DataError, match="weights"):
        plots.plot_component_grid(grid, shape, weights=[1.0])


def test_plot_layer_traversals_layout(tmp_path):
    rng = np.random.default_rng(0)
    shape = (3, 4, 4)
    traversals = {"z1": rng.random((5, 48)), "z2": rng.random((5, 48)), "z3": rng.random((5, 48))}
    reference = rng.random(48)
    fig = plots.plot_layer_traversals(
        traversals, shape, tmp_path / "traversals.png", reference=reference
    )
    assert_png(tmp_path / "traversals.png")
    ax = fig.axes[0]
    mosaic = np.asarray(ax.images[0].get_array())
    assert mosaic.shape == (3 * 5 + 1, 6 * 5 + 1, 3)  # the reference and 5 draws per layer
    ref = reference.reshape(shape).transpose(1, 2, 0)
    for r in range(3):
        np.testing.assert_allclose(_cell(mosaic, r, 0, 4, 4), ref)
    np.testing.assert_allclose(
        _cell(mosaic, 2, 3, 4, 4), traversals["z3"][2].reshape(shape).transpose(1, 2, 0)
    )
    assert [t.get_text() for t in ax.get_yticklabels()] == ["z1", "z2", "z3"]
    grey = plots.plot_layer_traversals({"z1": rng.random((2, 16))}, (4, 4))
    assert grey.axes[0].images[0].get_array().shape == (5 + 1, 2 * 5 + 1)
    with pytest.raises(DataError, match="empty"):
        plots.plot_layer_traversals({}, (4, 4))
