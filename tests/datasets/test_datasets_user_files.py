"""Users' own .npz, .npy and .csv files, and the :class:`Dataset` container's checks."""

from __future__ import annotations

import numpy as np
import pytest

from pyroclust.datasets import Dataset, load_dataset, read_user_file
from pyroclust.exceptions import DatasetError


def test_npz_with_x_and_y(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(20, 5)), rng.integers(0, 3, 20)
    np.savez(tmp_path / "mine.npz", x=x, y=y)
    ds = load_dataset(str(tmp_path / "mine.npz"))
    assert ds.name == "mine" and ds.support == "real" and ds.image_shape is None
    np.testing.assert_allclose(ds.x, x.astype(np.float32))
    np.testing.assert_array_equal(ds.y, y)
    assert ds.y.dtype == np.int64

    np.savez(tmp_path / "nolabels.npz", x=x)
    assert load_dataset(tmp_path / "nolabels.npz").y is None


def test_npz_train_test_layout_is_train_then_test(tmp_path):
    x_train = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    x_test = np.full((1, 3, 4), 255, dtype=np.uint8)
    path = tmp_path / "images.npz"
    np.savez(path, x_train=x_train, y_train=[1, 2], x_test=x_test, y_test=[0])
    ds = load_dataset(path)
    assert ds.x.shape == (3, 12) and ds.image_shape == (3, 4) and ds.support == "unit"
    np.testing.assert_allclose(ds.x[:2], x_train.reshape(2, -1) / 255, rtol=1e-6)
    assert ds.x[2].min() == 1.0
    np.testing.assert_array_equal(ds.y, [1, 2, 0])
    test = load_dataset(path, split="test")
    assert test.n_samples == 1 and test.y.tolist() == [0]


def test_npz_errors(tmp_path):
    np.savez(tmp_path / "wrong.npz", features=np.zeros((3, 2)))
    with pytest.raises(DatasetError, match=r"expected 'x'.*x_train"):
        load_dataset(tmp_path / "wrong.npz")
    np.savez(
        tmp_path / "half.npz", x_train=np.zeros((2, 2)), y_train=[0, 1], x_test=np.zeros((1, 2))
    )
    with pytest.raises(DatasetError, match="y_train and y_test together"):
        load_dataset(tmp_path / "half.npz")
    np.savez(tmp_path / "short.npz", x=np.zeros((3, 2)), y=[0, 1])
    with pytest.raises(DatasetError, match=r"labels have shape \(2,\), expected \(3,\)"):
        load_dataset(tmp_path / "short.npz")
    np.savez(tmp_path / "single.npz", x=np.zeros((3, 2)))
    with pytest.raises(DatasetError, match="no 'train' split"):
        load_dataset(tmp_path / "single.npz", split="train")
    (tmp_path / "garbage.npz").write_bytes(b"not a zip archive")
    with pytest.raises(DatasetError, match="could not be read as an .npz"):
        load_dataset(tmp_path / "garbage.npz")


def test_npy_images_are_flattened_and_scaled(tmp_path):
    images = np.random.default_rng(1).integers(0, 256, (4, 5, 6), dtype=np.uint8)
    np.save(tmp_path / "imgs.npy", images)
    ds = load_dataset(str(tmp_path / "imgs.npy"))
    assert ds.x.shape == (4, 30) and ds.y is None and ds.image_shape == (5, 6)
    np.testing.assert_allclose(ds.x, images.reshape(4, -1) / 255, rtol=1e-6)

    np.save(tmp_path / "floats.npy", np.array([[0.5, 2.0], [1.0, -3.0]]))
    ds = load_dataset(tmp_path / "floats.npy")
    assert ds.support == "real" and ds.x.tolist() == [[0.5, 2.0], [1.0, -3.0]]

    np.save(tmp_path / "vector.npy", np.zeros(5))
    with pytest.raises(DatasetError, match=r"shape \(n_samples, n_features\)"):
        load_dataset(tmp_path / "vector.npy")


def test_csv_with_label_column(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text("a,label,b\n0.1,2,0.3\n0.4,0,0.6\n\n")
    ds = load_dataset(path)
    np.testing.assert_allclose(ds.x, [[0.1, 0.3], [0.4, 0.6]])
    np.testing.assert_array_equal(ds.y, [2, 0])
    (tmp_path / "y.csv").write_text("f1,f2,Y\n1,2,1\n3,4,0\n")
    assert load_dataset(tmp_path / "y.csv").y.tolist() == [1, 0]


def test_csv_without_header_or_labels(tmp_path):
    (tmp_path / "plain.csv").write_text("1,2,3\n4,5,6\n")
    ds = load_dataset(tmp_path / "plain.csv")
    assert ds.y is None and ds.x.tolist() == [[1, 2, 3], [4, 5, 6]]
    (tmp_path / "named.csv").write_text("u,v\n0.5,0.25\n")
    assert load_dataset(tmp_path / "named.csv").x.shape == (1, 2)


def test_csv_row_name_column_becomes_the_row_names(tmp_path):
    (tmp_path / "named.csv").write_text("id,a,label\nbird-1 ,0.5,1\nbird-2,0.25,0\n")
    ds = load_dataset(tmp_path / "named.csv", index_col="id")
    assert ds.x.tolist() == [[0.5], [0.25]] and ds.y.tolist() == [1, 0]
    assert ds.row_names.tolist() == ["bird-1", "bird-2"]  # as strings, stripped
    (tmp_path / "pandas.csv").write_text(",a,b\n0,1,2\n1,3,4\n")  # pandas' to_csv index
    assert load_dataset(tmp_path / "pandas.csv").row_names.tolist() == ["0", "1"]
    (tmp_path / "plain.csv").write_text("1,2\n3,4\n")
    assert load_dataset(tmp_path / "plain.csv").row_names is None
    np.savez(tmp_path / "arrays.npz", x=np.zeros((2, 3)))
    assert load_dataset(tmp_path / "arrays.npz").row_names is None


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "is empty"),
        ("a,b\n", "header but no data rows"),
        ("1,2\n3\n", "same number"),
        ("1,2\n3,x\n", "non-numeric value"),
        ("a,label\n1,0.5\n", "non-integer"),
    ],
)
def test_bad_csv(tmp_path, text, match):
    (tmp_path / "bad.csv").write_text(text)
    with pytest.raises(DatasetError, match=match):
        load_dataset(tmp_path / "bad.csv")


def test_binary_csv_is_rejected(tmp_path):
    (tmp_path / "binary.csv").write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(DatasetError, match="not a text CSV file"):
        load_dataset(tmp_path / "binary.csv")


def test_missing_or_unsupported_user_files(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(tmp_path / "absent.npz")
    (tmp_path / "data.txt").write_text("1,2\n")
    with pytest.raises(DatasetError, match="unsupported file type .txt"):
        load_dataset(tmp_path / "data.txt")
    with pytest.raises(DatasetError, match="unsupported file type"):
        read_user_file(tmp_path / "data")


def test_non_finite_values_are_rejected(tmp_path):
    np.save(tmp_path / "nan.npy", np.array([[0.0, np.nan]]))
    with pytest.raises(DatasetError, match="NaN or infinite"):
        load_dataset(tmp_path / "nan.npy")


def test_dataset_container_checks():
    ds = Dataset(x=np.zeros((3, 4), dtype=np.float64), y=[0, 1, 1], name="toy", image_shape=(2, 2))
    assert ds.x.dtype == np.float32 and ds.y.dtype == np.int64
    assert (ds.n_samples, ds.n_features, ds.n_classes, len(ds)) == (3, 4, 2, 3)
    assert ds.support == "unit"
    assert Dataset(x=np.zeros((2, 1)), y=None, name="r", support="real").support == "real"
    with pytest.raises(DatasetError, match="support='unit' but values span"):
        Dataset(x=np.full((2, 1), 2.0), y=None, name="bad", support="unit")
    with pytest.raises(DatasetError, match="support must be"):
        Dataset(x=np.zeros((2, 1)), y=None, name="bad", support="binary")
    with pytest.raises(DatasetError, match="image_shape"):
        Dataset(x=np.zeros((2, 5)), y=None, name="bad", image_shape=(2, 2))
    with pytest.raises(DatasetError, match="labels must be integers"):
        Dataset(x=np.zeros((2, 1)), y=[0.5, 1.0], name="bad")
    with pytest.raises(DatasetError, match="must be numeric"):
        Dataset(x=np.array([["a"]]), y=None, name="bad")
    named = Dataset(x=np.zeros((2, 1)), y=None, name="n", row_names=["a", 7])
    assert named.row_names.tolist() == ["a", "7"]
    with pytest.raises(DatasetError, match=r"row names have shape \(3,\), expected \(2,\)"):
        Dataset(x=np.zeros((2, 1)), y=None, name="bad", row_names=["a", "b", "c"])
