"""One validation layer for array-like input: data matrices, DataFrames and their column names.

Every public function here raises :class:`~pyroclust.exceptions.DataError` (or the error class
it is given) with a single-line message that names the problem and, where there is one, the
fix. The estimator, the metrics, the data-set container and the file readers all go through
:func:`as_float_array` or :func:`as_data_tensor`, so a given mistake reads the same wherever
it is made.

What is accepted as ``X`` of shape (n_samples, n_features): NumPy arrays and anything
:func:`numpy.asarray` turns into a real numeric array (lists, pandas DataFrames with numeric or
boolean columns), and torch tensors (kept on their device). Booleans become 0.0 and 1.0, and
integers and float16/float64 values become float32.

What is refused, and how the message reads:

- non-numeric values: strings, objects that are not numbers, dates, complex numbers;
- sparse matrices and sparse tensors (densify them first: ``X.toarray()``);
- a shape other than 2-D (a 1-D array gets the hint ``X.reshape(-1, 1)``, images the hint
  ``X.reshape(len(X), -1)``), no rows, no features, fewer rows than ``min_samples``;
- NaN or infinite values, and finite float64 values beyond float32's range
  (``|x| > 3.4e38``, which would become infinite), each with the first offending rows.

Constant data (every row identical, so every feature has zero variance) is valid input;
:func:`is_constant` tells the code that cannot handle it (a t-SNE start, a standardisation).

DataFrames follow scikit-learn's ``feature_names_in_`` convention: :func:`get_feature_names`
returns the column names to store at fit, and :func:`check_feature_names` compares the names
seen at predict with them.

>>> import numpy as np
>>> as_float_array([[1, 2], [3, 4]]).dtype
dtype('float32')
>>> as_float_array(np.array([1.0, 2.0]))  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
pyroclust.exceptions.DataError: X must be 2-D ..., got shape (2,) (Reshape your data: ...)
"""

from __future__ import annotations

import sys
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from pyroclust.exceptions import DataError, DataTypeError

if TYPE_CHECKING:
    import torch

#: The largest finite float32 value (about 3.4e38); larger finite values cannot be stored.
FLOAT32_MAX = float(np.finfo(np.float32).max)

_MAX_ROWS_SHOWN = 5
_NONE = object()


def one_line(text: object) -> str:
    """Collapse a message (e.g. a wrapped library error) onto a single line.

    Parameters
    ----------
    text : object
        A message or an exception.

    Returns
    -------
    str
        ``str(text)`` with every run of whitespace, newlines included, replaced by one space.
    """
    return " ".join(str(text).split())


def _is_pandas(X: Any, kind: str) -> bool:
    pandas = sys.modules.get("pandas")
    return pandas is not None and isinstance(X, getattr(pandas, kind))


def _is_tensor(X: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(X, torch.Tensor)


def _first_rows(bad: np.ndarray) -> list[int]:
    return np.flatnonzero(bad)[:_MAX_ROWS_SHOWN].tolist()


def _from_pandas(X: Any, name: str, error: type[Exception]) -> np.ndarray:
    """A DataFrame or Series with numeric or boolean columns, as float64 with NaN for NA."""
    import pandas as pd

    frame = X.to_frame() if isinstance(X, pd.Series) else X
    bad = [
        f"{column!r} ({dtype})"
        for column, dtype in frame.dtypes.items()
        if not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype))
        or isinstance(dtype, pd.CategoricalDtype)
    ]
    if bad:
        shown = ", ".join(bad[:_MAX_ROWS_SHOWN]) + (", ..." if len(bad) > _MAX_ROWS_SHOWN else "")
        raise error(
            f"{name} must be numeric, but column(s) {shown} are not; encode or drop them first."
        )
    if any(pd.api.types.is_complex_dtype(dtype) for dtype in frame.dtypes):
        raise error(
            f"{name} must be real numeric, got complex columns (Complex data not supported)."
        )
    try:
        return X.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as err:
        raise error(f"{name} could not be read as a numeric array: {one_line(err)}") from err


def _as_numeric_ndarray(X: Any, name: str, error: type[Exception]) -> np.ndarray:
    """``X`` as a NumPy array of a boolean, integer or real floating dtype (any shape)."""
    scipy_sparse = sys.modules.get("scipy.sparse")
    if scipy_sparse is not None and scipy_sparse.issparse(X):
        raise error(
            f"{name} is a scipy sparse {X.format} matrix of shape {X.shape}; pyroclust needs "
            f"dense data: pass {name}.toarray()."
        )
    if _is_pandas(X, "DataFrame") or _is_pandas(X, "Series"):
        return _from_pandas(X, name, error)
    if np.ma.isMaskedArray(X) and np.ma.getmaskarray(X).any():
        raise error(f"{name} is a masked array with masked entries; fill or drop them first.")
    try:
        arr = np.asarray(X)
    except (TypeError, ValueError) as err:
        why = (
            "its rows have different lengths"
            if "inhomogeneous" in str(err) or "sequence" in str(err)
            else one_line(err)
        )
        raise error(f"{name} could not be read as a numeric array: {why}.") from err
    kind = arr.dtype.kind
    if kind in "biuf":
        return arr
    if kind == "c":
        raise error(
            f"{name} must be real numeric, got complex dtype {arr.dtype} (Complex data not "
            "supported)."
        )
    if kind in "US":
        raise error(f"{name} must be numeric, got strings (dtype {arr.dtype}); convert them first.")
    if kind in "mM":
        raise error(f"{name} must be numeric, got dates or durations (dtype {arr.dtype}).")
    if kind == "O":
        if scipy_sparse is not None and arr.ndim == 0 and scipy_sparse.issparse(arr.item()):
            raise error(f"{name} holds a sparse matrix; pass a dense array (.toarray()).")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                return arr.astype(np.float64)
        except OverflowError as err:
            raise error(
                f"{name} has values beyond float32's range (|x| > 3.4e38); rescale it."
            ) from err
        except (TypeError, ValueError) as err:
            numbers = (int, float, np.number)
            example = next((v for v in arr.flat if not isinstance(v, numbers)), _NONE)
            shown = "" if example is _NONE else f" such as {repr(example)[:40]}"
            cls = DataTypeError if error is DataError else error  # scikit-learn: a TypeError
            raise cls(
                f"{name} must be numeric, got non-numeric values{shown} (dtype object): {err}"
            ) from err
    raise error(f"{name} must be numeric, got an array of dtype {arr.dtype}.")


def _check_shape(
    shape: tuple[int, ...], name: str, error: type[Exception], min_samples: int
) -> None:
    if len(shape) != 2:
        var = name if name.isidentifier() else "x"
        if len(shape) == 0:
            hint = " (a scalar; pass a 2-D array)"
        elif len(shape) == 1:
            hint = (
                f" (Reshape your data: {var}.reshape(-1, 1) for one feature, "
                f"{var}.reshape(1, -1) for one sample)"
            )
        else:
            hint = f" (flatten images with {var}.reshape(len({var}), -1))"
        raise error(f"{name} must be 2-D (n_samples, n_features), got shape {shape}{hint}")
    if shape[0] == 0:
        raise error(f"{name} is empty (0 samples), shape {shape}")
    if shape[1] == 0:
        raise error(
            f"{name} has 0 features: 0 feature(s) (shape={shape}) while a minimum of 1 is required."
        )
    if shape[0] < min_samples:
        rows = "a single row" if shape[0] == 1 else f"{shape[0]} rows"
        raise error(
            f"{name} has {rows}; clustering needs at least {min_samples} (n_samples={shape[0]})"
        )


def _non_finite_message(name: str, source_bad: np.ndarray, overflow: np.ndarray) -> str:
    """The message for non-finite values (rows flagged in ``source_bad``) or float32 overflow."""
    if source_bad.any():
        return (
            f"{name} contains NaN or infinite values (first rows: {_first_rows(source_bad)}); "
            "remove or impute them"
        )
    return (
        f"{name} has values beyond float32's range (|x| > 3.4e38) (first rows: "
        f"{_first_rows(overflow)}); rescale it, e.g. standardise each feature"
    )


def as_float_array(
    X: Any,
    *,
    name: str = "X",
    min_samples: int = 1,
    error: type[Exception] = DataError,
) -> np.ndarray:
    """Check ``X`` and return it as a float32 NumPy array of shape (n_samples, n_features).

    Parameters
    ----------
    X : array-like
        A NumPy array, list of rows, pandas DataFrame, or torch tensor (copied to the host).
    name : str
        How messages call the input.
    min_samples : int
        The fewest rows accepted: 1 for prediction, 2 for fitting a clustering.
    error : type of Exception
        The class raised (:class:`~pyroclust.exceptions.DataError`; the data-set container
        passes :class:`~pyroclust.exceptions.DatasetError`).

    Returns
    -------
    np.ndarray
        C-contiguous float32 of shape (n_samples, n_features), finite. It shares memory with
        ``X`` when ``X`` already is such an array.

    Raises
    ------
    DataError
        With a one-line message, for any input the module docstring lists as refused.

    Examples
    --------
    >>> as_float_array([[1e39, 0.0], [1.0, 2.0]])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    pyroclust.exceptions.DataError: X has values beyond float32's range (|x| > 3.4e38) ...
    """
    if _is_tensor(X):
        import torch

        X = X.detach()
        if X.layout != torch.strided:
            raise error(f"{name} is a sparse tensor; pass {name}.to_dense().")
        if X.is_complex():
            raise error(
                f"{name} must be real numeric, got complex dtype {X.dtype} (Complex data not "
                "supported)."
            )
        X = (X.float() if X.dtype == torch.bfloat16 else X).cpu().numpy()
    arr = _as_numeric_ndarray(X, name, error)
    _check_shape(tuple(int(s) for s in arr.shape), name, error, min_samples)
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.ascontiguousarray(arr, dtype=np.float32)
    finite = np.isfinite(out)
    if not finite.all():
        source_bad = ~np.isfinite(arr) if arr.dtype.kind == "f" else np.zeros_like(finite)
        overflow = ~finite & ~source_bad
        raise error(_non_finite_message(name, source_bad.any(1), overflow.any(1)))
    return out


def as_data_tensor(
    X: Any, *, n_features: int | None = None, name: str = "X", min_samples: int = 1
) -> torch.Tensor:
    """Check ``X`` and return it as a float32 tensor of shape (n_samples, n_features).

    Parameters
    ----------
    X : array-like or torch.Tensor
        The data; see :func:`as_float_array` for what is accepted. A tensor keeps its device.
    n_features : int, optional
        The number of features the model expects; any other number is refused.
    name : str
        How messages call the input.
    min_samples : int
        The fewest rows accepted: pass 2 when fitting (a clustering of a single row means
        nothing, and several starts fail on it); prediction accepts one row.

    Returns
    -------
    torch.Tensor
        float32 of shape (n_samples, n_features), finite.

    Raises
    ------
    DataError
        For non-numeric, sparse, complex, empty, non-2-D or non-finite data (NaN, infinity,
        or float64 values beyond float32's range), fewer than ``min_samples`` rows, or a
        number of features other than ``n_features``. The message is one line.

    Examples
    --------
    >>> as_data_tensor([[0.0, 1.0], [1.0, 0.0]]).shape
    torch.Size([2, 2])
    >>> as_data_tensor([[0.0, 1.0]], min_samples=2)
    Traceback (most recent call last):
    ...
    pyroclust.exceptions.DataError: X has a single row; clustering needs at least 2 (n_samples=1)
    """
    import torch

    if isinstance(X, torch.Tensor):
        t = X.detach()
        if t.layout != torch.strided:
            raise DataError(f"{name} is a sparse tensor; pass {name}.to_dense().")
        if t.is_complex():
            raise DataError(
                f"{name} must be real numeric, got complex dtype {t.dtype} (Complex data not "
                "supported)."
            )
        _check_shape(tuple(int(s) for s in t.shape), name, DataError, min_samples)
        out = t.to(torch.float32)
        finite = torch.isfinite(out)
        if not bool(finite.all()):
            if t.is_floating_point():
                source_bad = ~torch.isfinite(t)
            else:
                source_bad = torch.zeros_like(finite)
            overflow = ~finite & ~source_bad
            raise DataError(
                _non_finite_message(
                    name, source_bad.any(1).cpu().numpy(), overflow.any(1).cpu().numpy()
                )
            )
    else:
        out = torch.from_numpy(as_float_array(X, name=name, min_samples=min_samples))
    if n_features is not None and out.shape[1] != n_features:
        raise DataError(f"{name} has {out.shape[1]} features, but the model expects {n_features}")
    return out


def get_feature_names(X: Any) -> np.ndarray | None:
    """The column names of a DataFrame, as scikit-learn stores them in ``feature_names_in_``.

    Parameters
    ----------
    X : array-like
        Any input; only a pandas DataFrame has feature names.

    Returns
    -------
    np.ndarray or None
        An object array of the column names when ``X`` is a DataFrame whose column names are
        all strings; ``None`` for any other input, or when no name is a string (e.g. the
        integer columns of ``pd.DataFrame(array)``).

    Raises
    ------
    DataError
        When some column names are strings and some are not (as scikit-learn refuses them).
    """
    if not _is_pandas(X, "DataFrame"):
        return None
    names = list(X.columns)
    are_str = [isinstance(n, str) for n in names]
    if not any(are_str):
        return None
    if not all(are_str):
        kinds = sorted({type(n).__name__ for n in names})
        raise DataError(
            f"feature names must all be strings, but the columns are of types {kinds}; convert "
            "them with X.columns = X.columns.astype(str), or drop the names."
        )
    return np.asarray(names, dtype=object)


def check_feature_names(
    X: Any, feature_names_in: np.ndarray | None, *, estimator: str = "Clusterer"
) -> None:
    """Check that ``X`` has the column names seen at fit, in the same order.

    scikit-learn's convention: an estimator fitted on a DataFrame with string column names
    stores them as ``feature_names_in_`` (see :func:`get_feature_names`); later input must
    have exactly those names in that order, since the columns are matched by position.

    Parameters
    ----------
    X : array-like
        The input given to ``predict``, ``transform``, ``score``, ...
    feature_names_in : np.ndarray or None
        The names stored at fit (``getattr(est, "feature_names_in_", None)``).
    estimator : str
        The estimator's class name, for the messages.

    Raises
    ------
    DataError
        When ``X``'s names differ from those seen at fit: reordered, missing, renamed or
        unexpected columns, each named in the message.

    Warns
    -----
    UserWarning
        When ``X`` has names but the estimator was fitted without, or the other way round
        (the columns are then matched by position, as scikit-learn does).

    Examples
    --------
    >>> import pandas as pd
    >>> fitted = get_feature_names(pd.DataFrame({"a": [1.0], "b": [2.0]}))
    >>> check_feature_names(pd.DataFrame({"b": [2.0], "a": [1.0]}), fitted)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    pyroclust.exceptions.DataError: X has the feature names seen at fit in another order ...
    """
    names = get_feature_names(X)
    if names is None and feature_names_in is None:
        return
    if feature_names_in is None:
        warnings.warn(
            f"X has feature names, but {estimator} was fitted without feature names",
            UserWarning,
            stacklevel=2,
        )
        return
    if names is None:
        warnings.warn(
            f"X does not have valid feature names, but {estimator} was fitted with feature names",
            UserWarning,
            stacklevel=2,
        )
        return
    fitted = [str(n) for n in feature_names_in]
    given = [str(n) for n in names]
    if given == fitted:
        return
    if sorted(given) == sorted(fitted):
        raise DataError(
            f"X has the feature names seen at fit in another order ({_shorten(given)} instead "
            f"of {_shorten(fitted)}); reorder the columns with X[est.feature_names_in_]"
        )
    unseen = [n for n in given if n not in fitted]
    missing = [n for n in fitted if n not in given]
    parts = []
    if unseen:
        parts.append(f"feature names unseen at fit time: {_shorten(unseen)}")
    if missing:
        parts.append(f"feature names seen at fit time, yet now missing: {_shorten(missing)}")
    if not parts:  # same set of names, different multiplicities (duplicated columns)
        parts.append(f"got {_shorten(given)}, fitted with {_shorten(fitted)}")
    raise DataError(
        "X's feature names must match those passed during fit; " + "; ".join(parts) + "."
    )


def _shorten(names: list[str], limit: int = 8) -> str:
    if len(names) <= limit:
        return repr(names)
    return repr(names[:limit])[:-1] + f", ... ({len(names)} in all)]"


def is_constant(x: Any) -> bool:
    """Whether every feature has zero variance, i.e. all rows of ``x`` are identical.

    Constant data is valid input, but some steps cannot handle it: a t-SNE or UMAP start
    (every pairwise distance is zero; scikit-learn's t-SNE may crash), a standardisation
    (division by a zero scale), a k-means start with more clusters than distinct points.
    Call this before them and raise a :class:`~pyroclust.exceptions.DataError` or pick
    another start.

    Parameters
    ----------
    x : array-like or torch.Tensor
        Data of shape (n_samples, n_features), already validated (finite).

    Returns
    -------
    bool
        ``True`` when there are fewer than two rows or every row equals the first.

    Examples
    --------
    >>> is_constant(np.zeros((5, 3))), is_constant([[0.0, 1.0], [0.0, 2.0]])
    (True, False)
    """
    if _is_tensor(x):
        return len(x) < 2 or bool((x == x[:1]).all())
    arr = np.asarray(x)
    return len(arr) < 2 or bool((arr == arr[:1]).all())


__all__ = [
    "FLOAT32_MAX",
    "as_data_tensor",
    "as_float_array",
    "check_feature_names",
    "get_feature_names",
    "is_constant",
    "one_line",
]
