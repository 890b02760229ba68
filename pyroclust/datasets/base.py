"""The :class:`Dataset` container returned by every loader and generator."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from pyroclust.exceptions import DatasetError
from pyroclust.validation import as_float_array

Support = Literal["unit", "real"]


@dataclass(eq=False)
class Dataset:
    """A data set ready for clustering: a float32 matrix, optional labels, and metadata.

    Parameters
    ----------
    x : np.ndarray
        Features of shape (n_samples, n_features). Stored as a C-contiguous float32 array.
    y : np.ndarray or None
        Reference labels of shape (n_samples,), stored as int64, or ``None`` when the data
        set has none. Labels are only used for evaluation, never for fitting.
    name : str
        A short name (``"mnist"``, ``"digits"``, or the stem of a user file).
    image_shape : tuple of two or three int, optional
        Height and width when each row is a flattened grey-scale image, e.g. ``(28, 28)``;
        (channels, height, width) for a colour image flattened channels first, e.g.
        ``(3, 28, 28)`` (what :class:`~pyroclust.nn.ConvEncoder` reads).
    support : {"unit", "real", "auto"}
        ``"unit"`` when every value lies in [0, 1] (a Bernoulli or continuous-Bernoulli
        likelihood fits), ``"real"`` otherwise (use a Gaussian). ``"auto"`` (the default)
        works it out from ``x``.
    labels : dict of str to np.ndarray, optional
        Further reference partitions of the same rows, by name, each of shape (n_samples,)
        and stored as int64: a data set with several known partitions (coloured MNIST's
        ``"digit"``, ``"digit_colour"``, ``"background_colour"``). ``y`` stays the main one;
        :attr:`label_sets` gives every partition, ``y`` included.
    row_names : np.ndarray, optional
        A name per row, stored as strings of shape (n_samples,): a CSV's row-name column
        (``index_col``). The command line writes them in its label files' ``index`` column.

    Raises
    ------
    DatasetError
        If ``x`` is not a finite 2-D numeric array with at least one row and one column (see
        :func:`pyroclust.validation.as_float_array`), ``y`` has the wrong length, or
        ``support="unit"`` is claimed for values outside [0, 1].

    Examples
    --------
    >>> ds = Dataset(x=np.zeros((3, 4)), y=np.array([0, 1, 1]), name="toy")
    >>> ds.x.dtype, ds.support, ds.n_classes
    (dtype('float32'), 'unit', 2)
    """

    x: np.ndarray
    y: np.ndarray | None
    name: str
    image_shape: tuple[int, int] | tuple[int, int, int] | None = None
    support: Literal["unit", "real", "auto"] = "auto"
    labels: dict[str, np.ndarray] | None = None
    row_names: np.ndarray | None = None

    def __post_init__(self) -> None:
        x = as_float_array(self.x, name=f"data set {self.name!r}: features", error=DatasetError)
        self.x = x
        if self.y is not None:
            self.y = self._check_labels(self.y, "labels")
        if self.labels is not None:
            self.labels = {
                str(k): self._check_labels(v, f"label set {k!r}") for k, v in self.labels.items()
            }
        if self.row_names is not None:
            names = np.asarray(self.row_names, dtype=str)
            if names.shape != (x.shape[0],):
                raise DatasetError(
                    f"data set {self.name!r}: row names have shape {names.shape}, expected "
                    f"({x.shape[0]},) to match the {x.shape[0]} samples."
                )
            self.row_names = names
        if self.image_shape is not None:
            shape = tuple(int(s) for s in self.image_shape)
            if len(shape) not in (2, 3) or int(np.prod(shape)) != x.shape[1]:
                raise DatasetError(
                    f"data set {self.name!r}: image_shape {self.image_shape} does not match "
                    f"{x.shape[1]} features per sample."
                )
            self.image_shape = shape  # type: ignore[assignment]
        in_unit = bool(x.size == 0 or (x.min() >= 0.0 and x.max() <= 1.0))
        if self.support == "auto":
            self.support = "unit" if in_unit else "real"
        elif self.support == "unit" and not in_unit:
            raise DatasetError(
                f"data set {self.name!r}: support='unit' but values span "
                f"[{x.min():g}, {x.max():g}]; rescale into [0, 1] or use support='real'."
            )
        elif self.support not in ("unit", "real"):
            raise DatasetError(
                f"data set {self.name!r}: support must be 'unit', 'real' or 'auto', "
                f"got {self.support!r}."
            )

    def _check_labels(self, labels: object, what: str) -> np.ndarray:
        """``labels`` as int64 of shape (n_samples,); ``DatasetError`` otherwise."""
        x = self.x
        y = np.asarray(labels)
        if y.ndim != 1 or len(y) != len(x):
            raise DatasetError(
                f"data set {self.name!r}: {what} must have shape ({len(x)},) to match the "
                f"features, got shape {y.shape}."
            )
        if y.dtype.kind == "f":
            if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
                raise DatasetError(
                    f"data set {self.name!r}: {what} must be integers, got non-integer values."
                )
            if np.abs(y).max() >= 2.0**63:
                raise DatasetError(
                    f"data set {self.name!r}: {what} must fit in int64, got values up to "
                    f"{np.abs(y).max():.3g}."
                )
        elif y.dtype.kind == "u" and y.size and y.max() > np.iinfo(np.int64).max:
            raise DatasetError(
                f"data set {self.name!r}: {what} must fit in int64, got values up to {y.max()}."
            )
        elif y.dtype.kind not in "biu":
            raise DatasetError(
                f"data set {self.name!r}: {what} must be integers, got dtype {y.dtype}."
            )
        return y.astype(np.int64)

    @property
    def n_samples(self) -> int:
        """Number of rows of ``x``."""
        return int(self.x.shape[0])

    @property
    def n_features(self) -> int:
        """Number of columns of ``x``."""
        return int(self.x.shape[1])

    @property
    def label_sets(self) -> dict[str, np.ndarray]:
        """Every reference partition by name: ``labels``, and ``y`` as ``"y"`` unless one of
        ``labels`` is the very same partition (coloured MNIST's ``y`` is its ``"digit"``)."""
        sets = dict(self.labels or {})
        if self.y is not None and not any(np.array_equal(self.y, v) for v in sets.values()):
            sets = {"y": self.y, **sets}
        return sets

    @property
    def n_classes(self) -> int | None:
        """Number of distinct labels, or ``None`` without labels."""
        return None if self.y is None else int(np.unique(self.y).size)

    def __len__(self) -> int:
        return self.n_samples

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, n_samples={self.n_samples}, "
            f"n_features={self.n_features}, n_classes={self.n_classes}, "
            f"image_shape={self.image_shape}, support={self.support!r})"
        )
