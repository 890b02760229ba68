"""Property: every file the readers are given either loads correctly or raises DatasetError.

Files are written the way users write them (``np.save``, ``np.savez``, ``DataFrame.to_csv``)
from random shapes, dtypes (integers, floats incl. float16, booleans, complex, strings, Python
objects) and values (NaN, infinities, values beyond float32's range). "Correctly" means every
row is kept in order, each value equals what was written (as float32; uint8 divided by 255),
and the labels stay aligned with their rows. Anything else must be a
:class:`~pyroclust.exceptions.DataError` or :class:`~pyroclust.exceptions.DatasetError` with a
one-line message, never another exception.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from pyroclust.datasets import load_dataset
from pyroclust.exceptions import PyroclustError

SETTINGS = settings(
    # ~100 examples keep the suite fast; raise it for a deeper search, e.g. 2000.
    max_examples=int(os.environ.get("PYROCLUST_HYPOTHESIS_EXAMPLES", "100")),
    deadline=None,
    database=None,  # nothing written into the working tree
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

NUMERIC = [np.int8, np.int64, np.uint8, np.uint16, np.uint64, np.float16, np.float32, np.float64]
OTHER = [np.bool_, np.complex128, np.dtype("U3")]
SAFE_TEXT = st.text(alphabet="abcdxyz", min_size=1, max_size=4)  # never "nan", "True", "inf"


def _elements(dtype: np.dtype, clean: bool) -> st.SearchStrategy | None:
    """Arbitrary values (NaN, infinities, huge), or finite ones within float32's range."""
    if not clean or dtype.kind != "f":
        return None
    bound = float(np.finfo(np.float32).max) if dtype.itemsize >= 4 else None
    return hnp.from_dtype(
        dtype,
        allow_nan=False,
        allow_infinity=False,
        min_value=-bound if bound else None,
        max_value=bound,
    )


def _arrays(dtypes: list, min_dims: int = 0, max_dims: int = 4) -> st.SearchStrategy:
    """Arrays of a random dtype and shape; half of them of clean values and no empty axis."""

    def build(dtype: np.dtype, clean: bool) -> st.SearchStrategy:
        shapes = hnp.array_shapes(
            min_dims=min_dims, max_dims=max_dims, min_side=1 if clean else 0, max_side=5
        )
        return hnp.arrays(dtype, shapes, elements=_elements(dtype, clean))

    return st.tuples(st.sampled_from(dtypes).map(np.dtype), st.booleans()).flatmap(
        lambda args: build(*args)
    )


def _expected_features(arr: np.ndarray) -> np.ndarray:
    flat = arr.reshape(len(arr), -1)
    if arr.dtype == np.uint8:
        return flat.astype(np.float32) / np.float32(255)
    return flat.astype(np.float32)


def _load(path: Path, **kwargs):
    """Load, or return the library's error; any other exception fails the property."""
    try:
        result = load_dataset(path, **kwargs)
    except PyroclustError as error:  # DataError and DatasetError
        assert "\n" not in str(error), f"multi-line message: {error}"
        assert str(error), "empty message"
        event(f"refused: {type(error).__name__}")
        return error
    event("loaded")
    return result


@SETTINGS
@given(arr=_arrays(NUMERIC + OTHER))
def test_npy_files_load_correctly_or_raise_dataset_error(arr: np.ndarray) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "data.npy"
        np.save(path, arr)
        result = _load(path)
    if isinstance(result, Exception):
        return
    assert arr.ndim >= 2 and arr.dtype.kind in "biuf"
    np.testing.assert_array_equal(result.x, _expected_features(arr))
    assert result.y is None


@SETTINGS
@given(
    arr=_arrays(NUMERIC + OTHER, min_dims=1),
    labels=st.sampled_from(["none", "int", "float", "short"]),
    layout=st.sampled_from(["x", "train/test"]),
)
def test_npz_files_keep_rows_and_labels_aligned(arr: np.ndarray, labels: str, layout: str) -> None:
    n = len(arr)
    y = {
        "none": None,
        "int": np.arange(n, dtype=np.int64) * 7 - 3,  # distinct, so misalignment shows
        "float": np.where(np.arange(n) % 2 == 0, np.arange(n) * 1.0, np.nan),
        "short": np.arange(max(n - 1, 0)),
    }[labels]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "data.npz"
        if layout == "x":
            np.savez(path, x=arr, **({} if y is None else {"y": y}))
        else:
            cut = n // 2
            parts = {"x_train": arr[:cut], "x_test": arr[cut:]}
            if y is not None:
                parts |= {"y_train": y[:cut], "y_test": y[cut:]}
            np.savez(path, **parts)
        result = _load(path)
    if isinstance(result, Exception):
        return
    np.testing.assert_array_equal(result.x, _expected_features(arr))
    if y is None:
        assert result.y is None
    else:
        np.testing.assert_array_equal(result.y, y)


@st.composite
def frames(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(0, 6))
    d = draw(st.integers(0, 4))
    columns = {}
    for j in range(d):
        kind = draw(st.sampled_from(["int", "float", "float16", "bool", "text", "complex"]))
        if kind == "int":
            values = draw(hnp.arrays(np.int64, n))
        elif kind in ("float", "float16"):
            values = draw(hnp.arrays(np.float64 if kind == "float" else np.float16, n))
            values = values.astype(np.float64)  # the text then holds the exact value
        elif kind == "bool":
            values = draw(hnp.arrays(np.bool_, n))
        elif kind == "complex":
            values = draw(hnp.arrays(np.complex128, n))
        else:
            values = np.array(draw(st.lists(SAFE_TEXT, min_size=n, max_size=n)), dtype=object)
        columns[j] = values
    frame = pd.DataFrame(columns, index=pd.RangeIndex(n))
    if draw(st.booleans()):
        frame.columns = [f"f{j}" for j in range(d)]
    if d and draw(st.booleans()):
        frame.insert(draw(st.integers(0, d)), "label", np.arange(n) * 3 + 1)
    return frame


@SETTINGS
@given(
    frame=frames(),
    header=st.booleans(),
    index=st.booleans(),
    explicit=st.booleans(),
)
def test_csv_files_load_correctly_or_raise_dataset_error(
    frame: pd.DataFrame, header: bool, index: bool, explicit: bool
) -> None:
    # A header-less single row cannot tell a written index (0) from a feature: the one
    # undecidable layout, which the reader documents (pass index_col=).
    if not header and index and len(frame) == 1:
        explicit = True
    kwargs = {"header": header, "index_col": 0 if index else False} if explicit else {}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "table.csv"
        frame.to_csv(path, header=header, index=index)
        result = _load(path, **kwargs)
    if isinstance(result, Exception):
        return
    assert len(result.x) == len(frame)
    labelled = header and "label" in frame.columns
    features = frame.drop(columns=["label"]) if labelled else frame
    for column in features.columns:
        assert features[column].dtype.kind in "biuf", f"non-numeric column {column} loaded"
    expected = features.to_numpy(dtype=np.float64).astype(np.float32)
    np.testing.assert_array_equal(result.x, expected)
    if labelled:
        np.testing.assert_array_equal(result.y, frame["label"].to_numpy())
    else:
        assert result.y is None


@pytest.mark.parametrize("suffix", [".npy", ".npz", ".csv"])
@SETTINGS
@given(payload=st.binary(max_size=200))
def test_arbitrary_bytes_never_escape_as_another_exception(suffix: str, payload: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"data{suffix}"
        path.write_bytes(payload)
        result = _load(path)
    if not isinstance(result, Exception):
        assert suffix == ".csv" and len(result.x) >= 1
