"""Every figure of pyroclust: the ELBO curve, embeddings of the codes, image grids, the k-means
sweep, and the representation study's t-SNE panels and Voronoi diagrams.

Every function builds a :class:`matplotlib.figure.Figure` directly (no pyplot), so nothing here
changes the global backend, opens a window, or leaves a figure registered with pyplot; display
the returned figure in a notebook (``IPython.display.display(fig)``) or pass ``path`` to save it.

Examples
--------
>>> import numpy as np
>>> from pyroclust.plots import plot_elbo, plot_embedding
>>> fig = plot_elbo([{"epoch": 1, "elbo": -50.0}, {"epoch": 2, "elbo": -40.0}])
>>> codes = np.random.default_rng(0).normal(size=(30, 5))
>>> fig = plot_embedding(codes, np.arange(30) % 3)
>>> len(fig.axes)
1
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator
from numpy.typing import ArrayLike

from pyroclust.exceptions import DataError

PathLike = str | os.PathLike

__all__ = [
    "plot_elbo",
    "plot_embedding",
    "plot_embedding_panels",
    "plot_image_grid",
    "plot_component_grid",
    "plot_k_sweep",
    "plot_layer_traversals",
    "plot_samples_grid",
    "plot_style_transfer",
    "plot_voronoi",
]


def _save(fig: Figure, path: PathLike | None, dpi: int = 100) -> Figure:
    if path is not None:
        fig.savefig(os.fspath(path), dpi=dpi)
    return fig


def plot_elbo(
    history: Sequence[Mapping[str, float]] | ArrayLike, path: PathLike | None = None
) -> Figure:
    """The ELBO per data point against the epoch.

    Parameters
    ----------
    history : list of dict or array-like
        The trainer's history (``Clusterer.history_``: one dict per epoch with ``"epoch"``
        and ``"elbo"``), or a plain sequence of ELBO values, one per epoch.
    path : path, optional
        Where to save the figure (the format follows the suffix, e.g. ``.png``).

    Returns
    -------
    matplotlib.figure.Figure
        One axes with the curve; the y axis is symlog when the values span several decades.
    """
    rows = list(history) if not isinstance(history, np.ndarray) else list(history.ravel())
    if rows and isinstance(rows[0], Mapping):
        epochs = np.array([float(r.get("epoch", i + 1)) for i, r in enumerate(rows)])
        elbo = np.array([float(r["elbo"]) for r in rows])
    else:
        elbo = np.asarray(rows, dtype=float).ravel()
        epochs = np.arange(1, len(elbo) + 1, dtype=float)
    fig = Figure(figsize=(5.0, 3.2), layout="constrained")
    ax = fig.subplots()
    if len(elbo) == 0:
        ax.text(0.5, 0.5, "no epochs recorded", ha="center", va="center", transform=ax.transAxes)
    else:
        ax.plot(epochs, elbo, marker="o" if len(elbo) < 30 else None, ms=3, lw=1.5)
        finite = elbo[np.isfinite(elbo)]
        if finite.size and finite.min() < 0 and finite.max() / finite.min() < 1e-2:
            ax.set_yscale("symlog")
    ax.set_xlabel("epoch")
    ax.set_ylabel("ELBO per data point")
    ax.set_title("Training ELBO (higher is better)")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def _embed_2d(codes: np.ndarray, method: str, random_state: int | None) -> tuple[np.ndarray, str]:
    d = codes.shape[1]
    if d == 1:
        return np.column_stack([codes[:, 0], np.zeros(len(codes))]), "z"
    if d == 2:
        return codes, "z"
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=random_state).fit_transform(codes), "PC"
    from sklearn.manifold import TSNE

    perplexity = float(min(30.0, max(2.0, (len(codes) - 1) / 3)))
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=random_state)
    return tsne.fit_transform(codes), "t-SNE "


def plot_embedding(
    codes: ArrayLike,
    labels: ArrayLike,
    path: PathLike | None = None,
    method: str = "pca",
    *,
    max_points: int | None = None,
    random_state: int | None = 0,
) -> Figure:
    """A 2-D scatter of latent codes coloured by cluster.

    Codes with two dimensions are drawn as they are (one dimension is drawn against zero);
    wider codes are projected with PCA (``method="pca"``, linear, fast, keeps global
    distances) or t-SNE (``method="tsne"``, van der Maaten and Hinton, 2008; non-linear, keeps
    neighbourhoods, slow: it runs on a random subsample of at most ``max_points`` rows, 2000 by
    default).

    Parameters
    ----------
    codes : array-like of shape (n_samples, latent_dim)
        E.g. ``Clusterer.transform(X)``.
    labels : array-like of shape (n_samples,)
        Cluster of each row (integers).
    path : path, optional
        Where to save the figure.
    method : {"pca", "tsne"}
    max_points : int, optional
        Subsample size (uniform, without replacement); all points for PCA by default.
    random_state : int, optional
        Seed of the subsample and of the projection.

    Returns
    -------
    matplotlib.figure.Figure
        One axes; a legend names the clusters when there are at most 20.

    Raises
    ------
    DataError
        For codes that are not 2-D, labels of another length, or an unknown method.
    """
    z = np.asarray(codes, dtype=float)
    lab = np.asarray(labels).ravel()
    if z.ndim != 2 or z.shape[0] == 0 or z.shape[1] == 0:
        raise DataError(f"codes must have shape (n_samples, latent_dim), got {z.shape}")
    if len(lab) != len(z):
        raise DataError(f"labels has {len(lab)} entries but codes has {len(z)} rows")
    if method not in ("pca", "tsne"):
        raise DataError(f"method must be 'pca' or 'tsne', got {method!r}")
    if max_points is None and method == "tsne":
        max_points = 2000
    if max_points is not None and len(z) > max_points:
        idx = np.random.default_rng(random_state).choice(len(z), int(max_points), replace=False)
        z, lab = z[np.sort(idx)], lab[np.sort(idx)]
    xy, axis_name = _embed_2d(z, method, random_state)
    clusters = np.unique(lab)
    cmap = colormaps["tab10" if len(clusters) <= 10 else "tab20"]
    fig = Figure(figsize=(5.5, 4.5), layout="constrained")
    ax = fig.subplots()
    size = 12 if len(z) < 2000 else 4
    for i, k in enumerate(clusters):
        mask = lab == k
        ax.scatter(
            xy[mask, 0], xy[mask, 1], s=size, color=cmap(i % cmap.N), label=str(k), linewidths=0
        )
    if len(clusters) <= 20:
        ax.legend(title="cluster", fontsize="small", markerscale=2, loc="best", frameon=False)
    ax.set_xlabel(f"{axis_name}1")
    ax.set_ylabel(f"{axis_name}2")
    shown = "" if z.shape[1] <= 2 else f" ({method.upper() if method == 'pca' else 't-SNE'})"
    ax.set_title(f"Latent codes{shown}, {len(z)} points, {len(clusters)} clusters")
    return _save(fig, path)


def _image_geometry(image_shape: Sequence[int]) -> tuple[int, int, int]:
    """(channels, height, width) of a grey ``(height, width)`` or an image shape
    ``(channels, height, width)`` with 1 or 3 channels (channels first, as the data sets
    store them)."""
    shape = tuple(int(s) for s in image_shape)
    if len(shape) == 2:
        return (1, *shape)
    if len(shape) == 3 and shape[0] in (1, 3):
        return shape  # type: ignore[return-value]
    raise DataError(
        f"image_shape must be (height, width) or (channels, height, width) with 1 or 3 "
        f"channels, got {shape}"
    )


def _as_images(images: ArrayLike, image_shape: Sequence[int], name: str) -> np.ndarray:
    """Flattened images as (n, h, w) for grey, (n, h, w, 3) for colour (channels last, as
    imshow draws them); flattened colour images are read channels first."""
    c, h, w = _image_geometry(image_shape)
    a = np.asarray(images, dtype=float)
    if c == 1 and a.ndim == 3 and a.shape[1:] == (h, w):
        return a
    if a.ndim == 4 and a.shape[1:] == (c, h, w):
        a = a.reshape(len(a), c * h * w)
    if a.ndim != 2 or a.shape[1] != c * h * w:
        shown = (h, w) if c == 1 else (c, h, w)
        raise DataError(
            f"{name} must have shape (n_images, {c * h * w}) for image_shape {shown}, got {a.shape}"
        )
    if c == 1:
        return a.reshape(len(a), h, w)
    return a.reshape(len(a), c, h, w).transpose(0, 2, 3, 1)


def _mosaic(rows: Sequence[np.ndarray], h: int, w: int, n_cols: int, pad: int = 1) -> np.ndarray:
    """Tile rows of (n_i, h, w) grey or (n_i, h, w, 3) colour images into one array; empty
    cells are NaN (drawn blank)."""
    channels = next((r.shape[3:] for r in rows if r.ndim == 4), ())
    out = np.full((len(rows) * (h + pad) + pad, n_cols * (w + pad) + pad, *channels), np.nan)
    for r, imgs in enumerate(rows):
        for c, img in enumerate(imgs[:n_cols]):
            y0, x0 = pad + r * (h + pad), pad + c * (w + pad)
            out[y0 : y0 + h, x0 : x0 + w] = img
    return out


def _draw_mosaic(mosaic: np.ndarray, n_rows: int, n_cols: int, h: int, w: int) -> Figure:
    """A figure of one mosaic: grey cells on a fixed 0..1 scale (dark = 1, as ink on paper;
    min..max when values leave [0, 1]), colour cells as RGB (min-max scaled when values
    leave [0, 1]); blank (NaN) cells white."""
    cell = 0.45 if max(h, w) <= 16 else 0.7
    fig = Figure(
        figsize=(max(2.0, n_cols * cell) + 0.8, max(1.0, n_rows * cell) + 0.4), layout="constrained"
    )
    ax = fig.subplots()
    finite = mosaic[np.isfinite(mosaic)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if 0.0 <= lo and hi <= 1.0:
        lo, hi = 0.0, 1.0
    if mosaic.ndim == 3:  # colour: RGB in [0, 1], blank cells white
        rgb = (mosaic - lo) / max(hi - lo, 1e-12)
        ax.imshow(np.where(np.isfinite(rgb), rgb, 1.0), interpolation="nearest")
    else:
        cmap = colormaps["gray_r"].with_extremes(bad="white")
        ax.imshow(mosaic, cmap=cmap, vmin=lo, vmax=hi, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ax.spines.values():
        side.set_visible(False)
    return fig


def plot_image_grid(
    images: ArrayLike,
    image_shape: Sequence[int],
    path: PathLike | None = None,
    *,
    n_cols: int | None = None,
    title: str | None = None,
) -> Figure:
    """Flattened grey-scale or colour images tiled in a grid.

    Parameters
    ----------
    images : array-like of shape (n_images, height * width) or (n_images, height, width)
    image_shape : (height, width) or (channels, height, width)
        Grey images, or colour images (3 channels) flattened channels first.
    path : path, optional
        Where to save the figure.
    n_cols : int, optional
        Images per row; about the square root of ``n_images`` by default.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        One axes holding a single mosaic image of ``ceil(n / n_cols)`` rows and ``n_cols``
        columns of cells separated by one blank pixel; values in [0, 1] are drawn on a fixed
        0..1 grey scale (dark = 1, as ink on paper).
    """
    imgs = _as_images(images, image_shape, "images")
    h, w = imgs.shape[1:3]
    n = len(imgs)
    if n == 0:
        raise DataError("images is empty")
    n_cols = int(n_cols) if n_cols else int(np.ceil(np.sqrt(n)))
    n_rows = int(np.ceil(n / n_cols))
    rows = [imgs[r * n_cols : (r + 1) * n_cols] for r in range(n_rows)]
    fig = _draw_mosaic(_mosaic(rows, h, w, n_cols), n_rows, n_cols, h, w)
    if title:
        fig.axes[0].set_title(title)
    return _save(fig, path)


def plot_samples_grid(
    samples_per_cluster: Sequence[ArrayLike] | Mapping[Any, ArrayLike],
    image_shape: Sequence[int],
    path: PathLike | None = None,
    *,
    weights: ArrayLike | None = None,
) -> Figure:
    """One row of generated images per cluster.

    Parameters
    ----------
    samples_per_cluster : sequence or dict of array-like
        Entry k holds the images drawn from cluster k, of shape (n_k, height * width)
        (e.g. ``Clusterer.sample(8, component=k)``); a dict maps cluster names to them.
        Rows have as many cells as the longest entry.
    image_shape : (height, width) or (channels, height, width)
        Grey images, or colour images (3 channels) flattened channels first.
    path : path, optional
        Where to save the figure.
    weights : array-like of shape (n_clusters,), optional
        Mixture weights, printed next to each row's cluster name.

    Returns
    -------
    matplotlib.figure.Figure
        One axes holding a mosaic image with one row per cluster, the rows labelled on the
        y axis.
    """
    if isinstance(samples_per_cluster, Mapping):
        names = [str(k) for k in samples_per_cluster]
        entries = list(samples_per_cluster.values())
    else:
        entries = list(samples_per_cluster)
        names = [str(k) for k in range(len(entries))]
    if not entries:
        raise DataError("samples_per_cluster is empty")
    rows = [_as_images(e, image_shape, f"samples of cluster {n}") for n, e in zip(names, entries)]
    _, h, w = _image_geometry(image_shape)
    n_cols = max(1, max(len(r) for r in rows))
    fig = _draw_mosaic(_mosaic(rows, h, w, n_cols), len(rows), n_cols, h, w)
    ax = fig.axes[0]
    if weights is not None:
        wts = np.asarray(weights, dtype=float).ravel()
        if len(wts) != len(rows):
            raise DataError(f"weights has {len(wts)} entries for {len(rows)} clusters")
        names = [f"{n} ({p:.2f})" for n, p in zip(names, wts)]
    ax.set_yticks([1 + r * (h + 1) + (h - 1) / 2 for r in range(len(rows))], names)
    ax.tick_params(axis="y", length=0, labelsize="small")
    ax.set_ylabel("cluster" + (" (weight)" if weights is not None else ""))
    ax.set_title("Samples per cluster")
    return _save(fig, path)


def plot_style_transfer(
    originals: ArrayLike,
    decoded_per_cluster: Sequence[ArrayLike],
    image_shape: Sequence[int],
    path: PathLike | None = None,
) -> Figure:
    """The style-transfer grid (GMVAE, Fig. 4a of "Is Simple Better?"): the first row shows
    test images; row k + 1 shows each image's codes decoded with the cluster set to k.

    Parameters
    ----------
    originals : array-like of shape (n_images, height * width)
    decoded_per_cluster : sequence of array-like, entry k of shape (n_images, height * width)
        E.g. ``[est.reconstruct(x, component=k) for k in range(K)]``.
    image_shape : (height, width) or (channels, height, width)
        Grey images, or colour images (3 channels) flattened channels first.
    path : path, optional
        Where to save the figure.
    """
    first = _as_images(originals, image_shape, "originals")
    rows = [first] + [
        _as_images(d, image_shape, f"cluster {k}") for k, d in enumerate(decoded_per_cluster)
    ]
    if any(len(r) != len(first) for r in rows):
        raise DataError("every cluster's row must hold one image per original")
    _, h, w = _image_geometry(image_shape)
    fig = _draw_mosaic(_mosaic(rows, h, w, max(1, len(first))), len(rows), len(first), h, w)
    ax = fig.axes[0]
    names = ["input"] + [str(k) for k in range(len(rows) - 1)]
    ax.set_yticks([1 + r * (h + 1) + (h - 1) / 2 for r in range(len(rows))], names)
    ax.tick_params(axis="y", length=0, labelsize="small")
    ax.set_ylabel("decoded with cluster")
    ax.set_title("Codes decoded with every cluster")
    return _save(fig, path)


def _label_rows(ax: Any, names: Sequence[str], h: int, ylabel: str) -> None:
    ax.set_yticks([1 + r * (h + 1) + (h - 1) / 2 for r in range(len(names))], list(names))
    ax.tick_params(axis="y", length=0, labelsize="small")
    ax.set_ylabel(ylabel)


def plot_component_grid(
    grid: ArrayLike,
    image_shape: Sequence[int],
    path: PathLike | None = None,
    *,
    site: str = "y",
    weights: ArrayLike | None = None,
) -> Figure:
    """Component-wise generation from one mixture layer (VLAC, Willetts et al., 2019, Fig. 3):
    one column per cluster component, one row per draw of the other layers.

    Parameters
    ----------
    grid : array-like of shape (n_rows, n_components, n_features)
        Cell (r, k): an item generated with the layer's code drawn from component k and every
        other layer at row r's prior draw (e.g.
        :func:`pyroclust.models.vlac.component_grid`).
    image_shape : (height, width) or (channels, height, width)
        Grey images, or colour images (3 channels) flattened channels first.
    path : path, optional
        Where to save the figure.
    site : str
        The layer's cluster site, for the title.
    weights : array-like of shape (n_components,), optional
        The layer's mixture weights, printed under each column.

    Returns
    -------
    matplotlib.figure.Figure
        One axes holding a mosaic of ``n_rows`` x ``n_components`` cells separated by one
        blank pixel, the columns labelled by component.
    """
    cells = np.asarray(grid, dtype=float)
    if cells.ndim != 3 or 0 in cells.shape:
        raise DataError(
            f"grid must have shape (n_rows, n_components, n_features), got {cells.shape}"
        )
    n_rows, k = cells.shape[:2]
    rows = [_as_images(cells[r], image_shape, f"row {r}") for r in range(n_rows)]
    _, h, w = _image_geometry(image_shape)
    fig = _draw_mosaic(_mosaic(rows, h, w, k), n_rows, k, h, w)
    ax = fig.axes[0]
    names = [str(c) for c in range(k)]
    if weights is not None:
        wts = np.asarray(weights, dtype=float).ravel()
        if len(wts) != k:
            raise DataError(f"weights has {len(wts)} entries for {k} components")
        names = [f"{c}\n{p:.2f}" for c, p in zip(names, wts)]
    ax.set_xticks([1 + c * (w + 1) + (w - 1) / 2 for c in range(k)], names)
    ax.tick_params(axis="x", length=0, labelsize="small")
    ax.set_xlabel("component" + (" (weight)" if weights is not None else ""))
    ax.set_ylabel("other layers' draw", fontsize="small")
    ax.set_title(f"{site}: one column per component", fontsize=9)
    return _save(fig, path)


def plot_layer_traversals(
    traversals: Mapping[str, ArrayLike],
    image_shape: Sequence[int],
    path: PathLike | None = None,
    *,
    reference: ArrayLike | None = None,
) -> Figure:
    """Per-layer manipulations of one item (VLAC, Willetts et al., 2019, Fig. 2): row l holds
    items generated with layer l's code drawn from its prior and every other layer kept at
    the item's codes.

    Parameters
    ----------
    traversals : dict of str to array-like of shape (n_draws, n_features)
        Layer name (e.g. its code site ``"z2"``) -> the generated items, one row of the
        figure each (e.g. :func:`pyroclust.models.vlac.layer_traversals`).
    image_shape : (height, width) or (channels, height, width)
        Grey images, or colour images (3 channels) flattened channels first.
    path : path, optional
        Where to save the figure.
    reference : array-like of shape (n_features,), optional
        The item decoded at its own codes, drawn first in every row.

    Returns
    -------
    matplotlib.figure.Figure
        One axes holding a mosaic with one row per layer (labelled), ``n_draws`` cells (plus
        the reference first) per row.
    """
    if not traversals:
        raise DataError("traversals is empty")
    rows = [_as_images(v, image_shape, f"layer {n}") for n, v in traversals.items()]
    if reference is not None:
        ref = _as_images(
            np.asarray(reference, dtype=float).reshape(1, -1), image_shape, "reference"
        )
        rows = [np.concatenate([ref, r]) for r in rows]
    _, h, w = _image_geometry(image_shape)
    n_cols = max(len(r) for r in rows)
    fig = _draw_mosaic(_mosaic(rows, h, w, n_cols), len(rows), n_cols, h, w)
    ax = fig.axes[0]
    _label_rows(ax, [str(n) for n in traversals], h, "layer redrawn")
    first = " (first: the item)" if reference is not None else ""
    ax.set_title(f"One layer at a time from its prior{first}", fontsize=9)
    return _save(fig, path)


def plot_k_sweep(result: Any, path: PathLike | None = None) -> Figure:
    """Elbow plot (inertia) and silhouette against the number of clusters, on a log k axis.

    The figure is a :class:`matplotlib.figure.Figure` built without pyplot, so it neither
    changes the global backend nor opens a window; display it in a notebook as the cell's last
    value, or save it.

    Parameters
    ----------
    result : KSweepResult
        The output of :func:`pyroclust.posthoc.k_sweep` (read by its fields ``ks``,
        ``inertia``, ``silhouette``, ``algorithm``, ``n_samples`` and ``best_k``).
    path : str or path-like, optional
        Where to save the figure; the format follows the file suffix (PNG when there is none).

    Returns
    -------
    matplotlib.figure.Figure
        Two panels: inertia and silhouette against k, the best silhouette marked.
    """
    fields = ("ks", "inertia", "silhouette", "algorithm", "n_samples", "best_k")
    if not all(hasattr(result, name) for name in fields):
        raise DataError(f"result must be a KSweepResult from k_sweep, got {type(result).__name__}.")
    fig = Figure(figsize=(9.0, 3.6), layout="constrained")
    ax_inertia, ax_sil = fig.subplots(1, 2)
    panels = ((ax_inertia, result.inertia, "inertia"), (ax_sil, result.silhouette, "silhouette"))
    for ax, values, name in panels:
        ax.set_xlabel("number of clusters k")
        ax.set_ylabel(name)
        ax.grid(True, alpha=0.3)
        if not result.ks:
            ax.text(0.5, 0.5, "no k evaluated", ha="center", va="center", transform=ax.transAxes)
            continue
        ax.plot(result.ks, values, "o-")
        ax.set_xscale("log")
        ax.set_xticks(result.ks, labels=[str(k) for k in result.ks])
        ax.xaxis.set_minor_locator(NullLocator())
    ax_inertia.set_title("elbow: k-means inertia")
    ax_sil.set_title("silhouette (higher is better)")
    if np.any(np.isfinite(result.silhouette)):
        best = result.best_k("silhouette")
        ax_sil.axvline(best, color="grey", linestyle="--", label=f"best k = {best}")
        ax_sil.legend(loc="best")
    fig.suptitle(f"{result.algorithm} on {result.n_samples} samples")
    return _save(fig, path)


def _label_colours(labels: ArrayLike) -> tuple[np.ndarray, Any, int]:
    """Integer codes 0..n-1 of arbitrary labels, a qualitative colour map, and n."""
    codes = np.unique(np.asarray(labels), return_inverse=True)[1].ravel()
    n = int(codes.max()) + 1 if len(codes) else 1
    return codes, colormaps["tab10" if n <= 10 else "tab20"], n


def plot_embedding_panels(
    embeddings: Mapping[str, ArrayLike],
    colourings: Mapping[str, ArrayLike | Mapping[str, ArrayLike]],
    path: PathLike | None = None,
    *,
    title: str | None = None,
    dpi: int = 90,
) -> Figure:
    """Scatter panels of several 2-D or 3-D embeddings of the same points, in a grid.

    One column per embedding, one row per colouring: e.g. columns "original",
    "reconstructed", "latent" (t-SNE of three representations) and rows "true class" (one
    label vector shared by the columns) and "k-means cluster" (one label vector per column).

    Parameters
    ----------
    embeddings : dict of array-like
        Column name -> points of shape (n_points, 2) or (n_points, 3); all of one width.
    colourings : dict
        Row title -> labels of shape (n_points,), or a dict column name -> labels.
    path : path, optional
        Where to save the figure.
    title : str, optional
    dpi : int
        Resolution of the saved file.

    Returns
    -------
    matplotlib.figure.Figure
        ``len(colourings) * len(embeddings)`` axes (3-D axes for 3-D points).
    """
    names = list(embeddings)
    if not names or not colourings:
        raise DataError("embeddings and colourings must each have at least one entry")
    points = {name: np.asarray(embeddings[name], dtype=float) for name in names}
    dims = points[names[0]].shape[1]
    if dims not in (2, 3) or any(p.ndim != 2 or p.shape[1] != dims for p in points.values()):
        raise DataError("every embedding must have shape (n_points, 2) or (n_points, 3)")
    rows = list(colourings.items())
    fig = Figure(figsize=(4.2 * len(names), 3.8 * len(rows)), layout="constrained")
    kw = {"projection": "3d"} if dims == 3 else {}
    for r, (what, labels) in enumerate(rows):
        for c, name in enumerate(names):
            ax = fig.add_subplot(len(rows), len(names), r * len(names) + c + 1, **kw)
            lab = labels[name] if isinstance(labels, Mapping) else labels
            colour, cmap, n = _label_colours(lab)
            ax.scatter(
                *points[name].T[:dims],
                c=colour,
                cmap=cmap,
                vmin=0,
                vmax=max(n - 1, 1),
                s=3,
                linewidths=0,
            )
            ax.set_title(f"{name}: {what}", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
            if dims == 3:
                ax.set_zticks([])
    if title:
        fig.suptitle(title)
    return _save(fig, path, dpi=dpi)


def plot_voronoi(
    train: Mapping[str, ArrayLike],
    test: Mapping[str, ArrayLike],
    n_clusters: int,
    path: PathLike | None = None,
    *,
    colour_by: ArrayLike | None = None,
    n_init: int = 10,
    max_train: int = 10_000,
    random_state: int | None = 0,
    dpi: int = 90,
) -> Figure:
    """k-means regions (a Voronoi diagram) on a 2-D PCA projection of each representation.

    For each entry, PCA is fitted on (a seeded subsample of at most ``max_train`` rows of) the
    training points, k-means with ``n_clusters`` is fitted on their projection, its regions are
    shaded, and the projected test points are drawn on top with the centres as crosses.

    Parameters
    ----------
    train, test : dict of array-like
        Representation name -> points of shape (n_train, d) and (n_test, d) (same d per name).
    n_clusters : int
        k of k-means (at most the number of training points).
    path : path, optional
        Where to save the figure.
    colour_by : array-like of shape (n_test,), optional
        Labels colouring the test points (e.g. true classes); by default their k-means region.
    n_init, max_train, random_state
        k-means restarts, training subsample size, seed.
    dpi : int
        Resolution of the saved file.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per representation.
    """
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA

    names = list(train)
    if not names or set(names) != set(test):
        raise DataError("train and test must name the same, non-empty set of representations")
    fig = Figure(figsize=(4.4 * len(names), 4.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(names)))
    rng = np.random.default_rng(random_state)
    for ax, name in zip(axes, names):
        tr = np.asarray(train[name])
        tr = tr[rng.permutation(len(tr))[: min(len(tr), max_train)]]
        pca = PCA(n_components=2, random_state=random_state).fit(tr)
        tr2 = pca.transform(tr)
        te2 = pca.transform(np.asarray(test[name]))
        k = min(int(n_clusters), len(tr2))
        km = KMeans(n_clusters=k, n_init=n_init, random_state=random_state).fit(tr2)
        both = np.vstack([tr2, te2])
        lo, hi = both.min(0), both.max(0)
        pad = 0.05 * (hi - lo + 1e-9)
        gx, gy = np.meshgrid(
            np.linspace(lo[0] - pad[0], hi[0] + pad[0], 300),
            np.linspace(lo[1] - pad[1], hi[1] + pad[1], 300),
        )
        regions = km.predict(np.column_stack([gx.ravel(), gy.ravel()])).reshape(gx.shape)
        ax.imshow(
            regions,
            origin="lower",
            cmap=colormaps["tab10" if k <= 10 else "tab20"],
            vmin=0,
            vmax=max(k - 1, 1),
            alpha=0.25,
            extent=(gx.min(), gx.max(), gy.min(), gy.max()),
            aspect="auto",
            interpolation="nearest",
        )
        colour, cmap, n = _label_colours(km.predict(te2) if colour_by is None else colour_by)
        ax.scatter(
            te2[:, 0],
            te2[:, 1],
            c=colour,
            cmap=cmap,
            vmin=0,
            vmax=max(n - 1, 1),
            s=3,
            linewidths=0,
        )
        ax.scatter(*km.cluster_centers_.T, marker="x", c="black", s=40)
        ax.set_title(f"{name}: k-means regions (PCA 2-D)", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(
        "k-means Voronoi regions; points are test items coloured by "
        + ("cluster" if colour_by is None else "true class")
    )
    return _save(fig, path, dpi=dpi)
