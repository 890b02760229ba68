"""Reliability battery, data part: bad data files and bad arrays, each as a user would make them.

Every row of the tables below is one case. A case either gives the correct result, checked
exactly, or raises the library's error (``DatasetError`` for files, ``DataError`` for arrays)
whose message is a single line naming the problem. In every case nothing is lost: the input
file's bytes and its folder are unchanged, and an input array is not modified.
"""

from __future__ import annotations

import hashlib
import pickle
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse
import torch

from pyroclust.datasets import load_dataset
from pyroclust.exceptions import DataError, DatasetError
from pyroclust.validation import (
    as_data_tensor,
    check_feature_names,
    get_feature_names,
    is_constant,
)


@dataclass(frozen=True)
class Case:
    """``make`` builds the input (in a folder for files); ``run`` calls the library on it;
    ``expect`` is a regex the one-line error must match, or a check of a correct result."""

    id: str
    make: Callable[..., Any]
    expect: str | Callable[[Any], None]
    run: Callable[[Any], Any] | None = None


def _snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        if p.is_file()
        else "dir"
        for p in sorted(folder.rglob("*"))
    }


def _assert_one_line_error(error: BaseException, pattern: str) -> None:
    message = str(error)
    assert message and "\n" not in message, f"not one line: {message!r}"
    assert "Traceback" not in message and "tensor(" not in message
    assert re.search(pattern, message), f"{pattern!r} not in {message!r}"


# ------------------------------------------------------------------------------ data files


def npy(array: Any, name: str = "data.npy", **save: Any) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        with open(folder / name, "wb") as handle:  # np.save would append .npy to a .npz name
            np.save(handle, np.asarray(array), **save)
        return folder / name

    return make


def npz(name: str = "data.npz", **arrays: Any) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        np.savez(folder / name, **arrays)
        return folder / name

    return make


def raw(content: bytes | str, name: str) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / name
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_bytes(content)
        return path

    return make


def csv(text: str, name: str = "data.csv") -> Callable[[Path], Path]:
    return raw(text, name)


def frame_csv(frame: pd.DataFrame, **to_csv: Any) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        frame.to_csv(folder / "frame.csv", **to_csv)
        return folder / "frame.csv"

    return make


def directory(name: str) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        (folder / name).mkdir()
        return folder / name

    return make


def truncated_npy(folder: Path) -> Path:
    path = folder / "cut.npy"
    np.save(path, np.arange(100.0).reshape(10, 10))
    path.write_bytes(path.read_bytes()[:-40])
    return path


def pickled_npy(folder: Path) -> Path:
    path = folder / "objects.npy"
    np.save(path, np.array([[1, "a"], [2, "b"]], dtype=object), allow_pickle=True)
    return path


def pickled_y_npz(folder: Path) -> Path:
    path = folder / "objects.npz"
    np.savez(path, x=np.zeros((2, 2)), y=np.array([None, 1], dtype=object))
    return path


def npz_as_npy(folder: Path) -> Path:
    np.savez(folder / "archive.npz", x=np.zeros((2, 2)))
    return (folder / "archive.npz").rename(folder / "archive.npy")


def pickle_as_npy(folder: Path) -> Path:
    path = folder / "pickle.npy"
    path.write_bytes(pickle.dumps({"x": [1, 2]}))
    return path


def values(expected: Any, y: Any = None, image_shape: Any = None) -> Callable[[Any], None]:
    def check(ds: Any) -> None:
        np.testing.assert_array_equal(ds.x, np.asarray(expected, dtype=np.float32))
        assert ds.x.dtype == np.float32
        if y is None:
            assert ds.y is None
        else:
            np.testing.assert_array_equal(ds.y, y)
        assert ds.image_shape == image_shape

    return check


RNG = np.random.default_rng(0)
F = RNG.random((4, 3)).round(3)
NAMED = pd.DataFrame(F, columns=["a", "b", "c"])
UNNAMED = pd.DataFrame(F)
IMAGES = RNG.integers(0, 256, (3, 2, 2), dtype=np.uint8)


def load(**kwargs: Any) -> Callable[[Path], Any]:
    return lambda path: load_dataset(path, **kwargs)


FILE_CASES = [
    # .npy
    Case("npy-empty-rows", npy(np.zeros((0, 5))), r"no samples \(shape \(0, 5\)\)"),
    Case("npy-empty-features", npy(np.zeros((5, 0))), "0 features"),
    Case("npy-zero-byte", raw(b"", "zero.npy"), r"is empty \(0 bytes\)"),
    Case("npy-truncated", truncated_npy, "could not be read as an .npy array"),
    Case("npy-pickled-objects", pickled_npy, "Python objects"),
    Case("npy-pickle-file", pickle_as_npy, "not an .npy file but pickled Python data"),
    Case("npy-text-file", raw("1,2\n3,4\n", "text.npy"), "not an .npy file .*magic bytes"),
    Case("npz-is-npy", npy(np.zeros((2, 2)), "single.npz"), "single .npy array, not an .npz"),
    Case("npy-is-npz", npz_as_npy, "is an .npz archive"),
    Case("npy-complex", npy(np.ones((2, 2), dtype=complex)), "numeric, got complex"),
    Case("npy-strings", npy(np.array([["a", "b"]])), "must be numeric"),
    Case("npy-1d", npy(np.zeros(5)), r"shape \(n_samples, n_features\)"),
    Case("npy-scalar", npy(np.float64(3.0)), r"shape \(n_samples, n_features\)"),
    Case("npy-image-zero-width", npy(np.zeros((3, 4, 0))), "0 features"),
    Case("npy-float32-overflow", npy(np.array([[1.0, 1e39]])), r"beyond float32's range"),
    Case("npy-nan", npy(np.array([[0.0, 1.0], [np.nan, 0.0]])), r"NaN .*first rows: \[1\]"),
    Case("npy-inf", npy(np.array([[np.inf, 1.0]])), "NaN or infinite"),
    Case("npy-directory", directory("x.npy"), "is a directory"),
    Case("npy-missing", lambda folder: folder / "absent.npy", "does not exist"),
    Case("npy-float16-ok", npy(np.array([[0.5, -2.0]], np.float16)), values([[0.5, -2.0]])),
    Case("npy-bool-ok", npy(np.array([[True, False]])), values([[1.0, 0.0]])),
    Case(
        "npy-uint8-images-ok",
        npy(IMAGES),
        values(IMAGES.reshape(3, 4).astype(np.float32) / np.float32(255), image_shape=(2, 2)),
    ),
    # .npz
    Case("npz-empty-x", npz(x=np.zeros((0, 3))), "no samples"),
    Case("npz-empty-features", npz(x=np.zeros((3, 0)), y=[0, 1, 2]), "0 features"),
    Case("npz-zero-byte", raw(b"", "zero.npz"), r"is empty \(0 bytes\)"),
    Case("npz-directory", directory("x.npz"), "x.npz is a directory, not a .npz file"),
    Case("npz-missing", lambda folder: folder / "absent.npz", "does not exist"),
    Case("npz-garbage", raw(b"PK\x03\x04 not really", "bad.npz"), "could not be read as an .npz"),
    Case(
        "npz-both-layouts",
        npz(x=np.zeros((2, 2)), x_train=np.zeros((2, 2))),
        r"both 'x' and \['x_train'\]",
    ),
    Case("npz-labels-key", npz(x=np.zeros((2, 2)), labels=[0, 1]), "stored as 'y'"),
    Case("npz-no-x", npz(features=np.zeros((2, 2))), r"expected 'x'"),
    Case("npz-short-y", npz(x=np.zeros((3, 2)), y=[0, 1]), r"labels have shape \(2,\)"),
    Case("npz-2d-y", npz(x=np.zeros((3, 2)), y=np.zeros((3, 1))), r"labels have shape \(3, 1\)"),
    Case("npz-float-y", npz(x=np.zeros((2, 2)), y=[0.5, 1.0]), "labels must be integers"),
    Case("npz-nan-y", npz(x=np.zeros((2, 2)), y=[np.nan, 1.0]), "labels must be integers"),
    Case("npz-huge-y", npz(x=np.zeros((2, 2)), y=[1e300, 1.0]), "fit in int64"),
    Case("npz-pickled-y", pickled_y_npz, "Python objects"),
    Case(
        "npz-split-dtypes",
        npz(x_train=np.zeros((2, 2), np.uint8), x_test=np.zeros((1, 2))),
        "different dtypes",
    ),
    Case(
        "npz-half-labels",
        npz(x_train=np.zeros((2, 2)), y_train=[0, 1], x_test=np.zeros((1, 2))),
        "together or neither",
    ),
    Case(
        "npz-train-test-ok",
        npz(x_train=[[1.0], [2.0]], y_train=[5, 6], x_test=[[3.0]], y_test=[7]),
        values([[1.0], [2.0], [3.0]], y=[5, 6, 7]),
    ),
    # .csv: unreadable
    Case("csv-zero-byte", csv(""), "is empty"),
    Case("csv-blank-lines", csv("\n \n\n"), "is empty"),
    Case("csv-binary", raw(b"\x89PNG\r\n\x1a\n\x00\x00\x00", "image.csv"), "not a text CSV file"),
    Case("csv-latin1", raw("a,b\n\xe9,1\n".encode("latin-1"), "l1.csv"), "not a text CSV"),
    Case("csv-ragged-long", csv("1,2\n3,4,5\n"), r"line 2 has 3 values .* same number"),
    Case("csv-ragged-short", csv("1,2,3\n4,5\n"), r"line 2 has 2 values .* same number"),
    Case("csv-non-numeric", csv("a,b\n1,2\n3,x\n"), r"non-numeric value 'x' at line 3"),
    Case(
        "csv-text-column-named",
        csv("a,name\n1,r1\n2,r2\n"),
        r"non-numeric value 'r1' at line 2, column 2 \('name'\); pass index_col='name' if",
    ),
    Case(
        "csv-text-column-unnamed",
        csv("1,2\nr1,3\n"),
        r"non-numeric value 'r1' at line 2, column 1; pass index_col=0 if",
        load(header=False),
    ),
    Case("csv-semicolons", csv("1;2\n3;4\n"), "comma-separated"),
    Case("csv-header-only", csv("a,b\n"), "header but no data rows"),
    Case("csv-inf", csv("a,b\n1,inf\n"), "NaN or infinite"),
    Case("csv-overflow", csv("a,b\n1,1e39\n"), r"beyond float32's range"),
    Case("csv-na-marker", csv("a,b\n1,NA\n2,3\n"), r"missing value \('NA'\) at line 2"),
    Case("csv-label-fraction", csv("a,label\n1,0.5\n"), "non-integer"),
    Case("csv-two-labels", csv("a,label,y\n1,0,1\n"), "more than one label column"),
    Case("csv-label-huge", csv("a,label\n1,1e300\n2,1\n"), "fit in int64"),
    Case("csv-only-label", csv("label\n1\n2\n"), "0 features"),
    # .csv: header and index rules
    Case(
        "csv-first-row-gap",  # was: taken as a header and dropped, labels shifted by one
        csv("0.1,,0.3\n0.4,0.5,0.6\n"),
        r"missing value \(''\) at line 1, column 2",
    ),
    Case("csv-mixed-first-row", csv("a,1,c\n1,2,3\n"), "pass header=True .* or header=False"),
    Case(
        "csv-pandas-default-ok",  # was: the index taken as a feature
        frame_csv(NAMED),
        values(F.astype(np.float32)),
    ),
    Case("csv-pandas-unnamed-ok", frame_csv(UNNAMED), values(F.astype(np.float32))),
    Case(
        "csv-pandas-label-ok",
        frame_csv(NAMED.assign(label=[3, 1, 2, 0])),
        values(F.astype(np.float32), y=[3, 1, 2, 0]),
    ),
    Case("csv-pandas-no-index-unnamed", frame_csv(UNNAMED, index=False), "pass header=True"),
    Case(
        "csv-pandas-no-index-unnamed-header-ok",
        frame_csv(UNNAMED, index=False),
        values(F.astype(np.float32)),
        load(header=True),
    ),
    Case("csv-pandas-no-header", frame_csv(UNNAMED, header=False), "pass index_col=0"),
    Case(
        "csv-pandas-no-header-index-ok",
        frame_csv(UNNAMED, header=False),
        values(F.astype(np.float32)),
        load(index_col=0),
    ),
    Case(
        "csv-range-first-column-kept-ok",
        csv("0,5\n1,6\n2,7\n"),
        values([[0, 5], [1, 6], [2, 7]]),
        load(index_col=False),
    ),
    Case(
        "csv-shuffled-unnamed-index",
        frame_csv(NAMED.set_axis([3, 0, 2, 1])),
        "not 0..n-1; pass index_col=0",
    ),
    Case(
        "csv-shuffled-index-ok",
        frame_csv(NAMED.set_axis([3, 0, 2, 1])),
        values(F.astype(np.float32)),
        load(index_col=0),
    ),
    Case("csv-r-write-csv", csv('"","a","b"\n"1",0.5,0.25\n"2",1,0\n'), "pass index_col=0"),
    Case(
        "csv-named-index-ok",
        csv("id,a,b\nr1,0.5,0.25\nr2,1,0\n"),
        values([[0.5, 0.25], [1, 0]]),
        load(index_col="id"),
    ),
    Case("csv-index-out-of-range", csv("1,2\n3,4\n"), "out of range", load(index_col=5)),
    Case("csv-index-name-no-header", csv("1,2\n3,4\n"), "no header", load(index_col="id")),
    Case(
        "csv-header-false-text",
        csv("a,b\n1,2\n"),
        r"non-numeric value 'a' at line 1.*header=True",
        load(header=False),
    ),
    Case(
        "csv-header-true-numeric-ok",
        csv("1,2\n3,4\n"),
        values([[3, 4]]),
        load(header=True),
    ),
    Case("csv-bad-header-option", csv("1,2\n"), "header must be", load(header="yes")),
    Case("csv-quoted-ok", csv('"a","b"\n"1","2.5"\n'), values([[1, 2.5]])),
    Case("csv-one-row-ok", csv("u,v\n0.5,0.25\n"), values([[0.5, 0.25]])),
    # any file
    Case("unsupported-suffix", raw("1,2\n", "data.txt"), "unsupported file type .txt"),
    Case(
        "csv-options-on-npy", npy(np.zeros((2, 2))), "apply to .csv files only", load(header=True)
    ),
]


@pytest.mark.parametrize("case", FILE_CASES, ids=[case.id for case in FILE_CASES])
def test_data_file(case: Case, tmp_path: Path) -> None:
    path = case.make(tmp_path)
    before = _snapshot(tmp_path)
    run = case.run or load()
    if isinstance(case.expect, str):
        with pytest.raises(DatasetError) as info:
            run(path)
        _assert_one_line_error(info.value, case.expect)
    else:
        case.expect(run(path))
    assert _snapshot(tmp_path) == before, "the input folder changed"


# ------------------------------------------------------------------------------ array input


def tensor(run: Callable[[Any], Any] | None = None, **kwargs: Any) -> Callable[[Any], Any]:
    return run or (lambda X: as_data_tensor(X, **kwargs))


def exact(expected: Any) -> Callable[[Any], None]:
    def check(t: Any) -> None:
        assert isinstance(t, torch.Tensor) and t.dtype == torch.float32
        np.testing.assert_array_equal(t.numpy(), np.asarray(expected, dtype=np.float32))

    return check


def masked() -> np.ma.MaskedArray:
    return np.ma.masked_array([[1.0, 2.0], [3.0, 4.0]], mask=[[0, 1], [0, 0]])


ARRAY_CASES = [
    Case("float32-overflow", lambda: np.array([[1.0], [-1e39]]), r"beyond float32's range.*\[1\]"),
    Case("nan-rows-named", lambda: np.array([[0.0], [np.nan], [1.0], [np.nan]]), r"\[1, 3\]"),
    Case("inf", lambda: np.array([[np.inf, 0.0]]), "NaN or infinite"),
    Case("complex", lambda: np.ones((2, 2), complex), "real numeric, got complex"),
    Case("strings", lambda: np.array([["1", "a"]]), "must be numeric, got strings"),
    Case("object-text", lambda: np.array([[1.0, "abc"]], dtype=object), "non-numeric values"),
    Case("object-none-is-missing", lambda: np.array([[1.0, None]], dtype=object), "NaN"),
    Case("object-huge-int", lambda: np.array([[10**400]], dtype=object), "float32's range"),
    Case("object-numbers-ok", lambda: np.array([[1, 2.5]], dtype=object), exact([[1, 2.5]])),
    Case("bool-ok", lambda: np.array([[True, False]]), exact([[1, 0]])),
    Case("float16-ok", lambda: np.array([[0.1, 3.0]], np.float16), exact(np.float16([[0.1, 3.0]]))),
    Case("int64-ok", lambda: np.array([[2**40, -7]]), exact([[2**40, -7]])),
    Case("list-ok", lambda: [[1, 2], [3, 4]], exact([[1, 2], [3, 4]])),
    Case("ragged-list", lambda: [[1.0, 2.0], [3.0]], "numeric array: its rows have different"),
    Case("sparse-csr", lambda: scipy.sparse.csr_matrix(np.eye(3)), r"sparse csr matrix.*toarray"),
    Case("sparse-coo", lambda: scipy.sparse.coo_matrix(np.eye(3)), "sparse coo matrix"),
    Case("sparse-tensor", lambda: torch.eye(3).to_sparse(), r"sparse tensor.*to_dense"),
    Case("one-d", lambda: np.zeros(4), r"reshape\(-1, 1\)"),
    Case("three-d", lambda: np.zeros((2, 3, 3)), r"reshape\(len\(X\), -1\)"),
    Case("scalar", lambda: np.float64(1.0), "must be 2-D"),
    Case("empty-rows", lambda: np.zeros((0, 3)), r"empty \(0 samples\)"),
    Case("empty-features", lambda: np.zeros((3, 0)), "0 features"),
    Case("empty-list", lambda: [], "must be 2-D"),
    Case("dates", lambda: np.array([["2024-01-01"]], dtype="datetime64[D]"), "dates"),
    Case(
        "single-row-fit",
        lambda: np.zeros((1, 3)),
        "a single row; clustering needs at least 2",
        tensor(min_samples=2),
    ),
    Case("single-row-predict-ok", lambda: np.ones((1, 3)), exact([[1, 1, 1]])),
    Case("wrong-n-features", lambda: np.zeros((2, 3)), "expects 4", tensor(n_features=4)),
    Case("masked-entries", masked, "masked array"),
    Case("frame-text-column", lambda: pd.DataFrame({"a": [1.0], "city": ["Oslo"]}), "'city'"),
    Case(
        "frame-category",
        lambda: pd.DataFrame({"a": pd.Categorical(["x", "y"])}),
        "column",
    ),
    Case("frame-nullable-na", lambda: pd.DataFrame({"a": pd.array([1, None], "Int64")}), "NaN"),
    Case(
        "frame-ok", lambda: pd.DataFrame({"a": [1, 2], "b": [True, False]}), exact([[1, 1], [2, 0]])
    ),
    Case("series", lambda: pd.Series([1.0, 2.0]), r"reshape\(-1, 1\)"),
    Case("tensor-overflow", lambda: torch.tensor([[1e39]], dtype=torch.float64), "float32's"),
    Case("tensor-nan", lambda: torch.tensor([[0.0], [float("nan")]]), r"NaN .*\[1\]"),
    Case("tensor-complex", lambda: torch.ones(2, 2, dtype=torch.complex64), "real numeric"),
    Case("tensor-1d", lambda: torch.zeros(3), r"reshape\(-1, 1\)"),
    Case("tensor-int-ok", lambda: torch.tensor([[1, 2]]), exact([[1, 2]])),
]


def _copy(X: Any) -> Any:
    if isinstance(X, torch.Tensor):
        return X.clone()
    if isinstance(X, (pd.DataFrame, pd.Series)):
        return X.copy(deep=True)
    if scipy.sparse.issparse(X):
        return X.copy()
    return np.array(X, dtype=object) if isinstance(X, list) else np.copy(X)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor):
        a, b = a.to_dense().numpy(), b.to_dense().numpy()
    if isinstance(a, (pd.DataFrame, pd.Series)):
        return a.equals(b)
    if scipy.sparse.issparse(a):
        return (a != b).nnz == 0
    if isinstance(a, list):
        return a == b.tolist()
    return np.array_equal(np.asarray(a), np.asarray(b), equal_nan=np.asarray(a).dtype.kind == "f")


@pytest.mark.parametrize("case", ARRAY_CASES, ids=[case.id for case in ARRAY_CASES])
def test_array_input(case: Case) -> None:
    X = case.make()
    kept = _copy(X)
    run = case.run or tensor()
    if isinstance(case.expect, str):
        with pytest.raises(DataError) as info:
            run(X)
        _assert_one_line_error(info.value, case.expect)
    else:
        case.expect(run(X))
    assert _same(X, kept), "the input was modified"


# ------------------------------------------------------------- DataFrame feature names at predict

FITTED = get_feature_names(pd.DataFrame({"a": [0.0], "b": [0.0], "c": [0.0]}))

NAME_CASES = [
    ("reordered", pd.DataFrame({"b": [1.0], "a": [1.0], "c": [1.0]}), "another order"),
    ("missing", pd.DataFrame({"a": [1.0], "b": [1.0]}), "seen at fit time, yet now missing"),
    ("renamed", pd.DataFrame({"a": [1.0], "b": [1.0], "C": [1.0]}), "unseen at fit time"),
    ("extra", pd.DataFrame({"a": [1.0], "b": [1.0], "c": [1.0], "d": [1.0]}), "unseen"),
    ("duplicated", pd.DataFrame([[1.0] * 3], columns=["a", "b", "b"]), "must match"),
    ("mixed-types", pd.DataFrame({"a": [1.0], 1: [1.0], "c": [1.0]}), "must all be strings"),
]


@pytest.mark.parametrize(
    ("X", "match"), [c[1:] for c in NAME_CASES], ids=[c[0] for c in NAME_CASES]
)
def test_feature_names_differ(X: pd.DataFrame, match: str) -> None:
    with pytest.raises(DataError) as info:
        check_feature_names(X, FITTED)
    _assert_one_line_error(info.value, match)


def test_feature_names_agree_and_warn_like_scikit_learn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_feature_names(pd.DataFrame({"a": [1.0], "b": [1.0], "c": [1.0]}), FITTED)
        check_feature_names(np.zeros((1, 3)), None)
        check_feature_names(pd.DataFrame(np.zeros((1, 3))), None)  # integer names: none
    with pytest.warns(UserWarning, match="fitted with feature names"):
        check_feature_names(np.zeros((1, 3)), FITTED)
    with pytest.warns(UserWarning, match="fitted without feature names"):
        check_feature_names(pd.DataFrame({"a": [1.0], "b": [1.0], "c": [1.0]}), None)


@pytest.mark.parametrize(
    ("X", "constant"),
    [(np.zeros((5, 3)), True), (np.ones((1, 2)), True), (torch.full((4, 2), 7.0), True)]
    + [(np.eye(3), False), (torch.tensor([[0.0], [1e-30]]), False)],
)
def test_constant_data_is_flagged(X: Any, constant: bool) -> None:
    assert is_constant(X) is constant
