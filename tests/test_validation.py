"""The validation layer (pyroclust.validation): what it accepts, returns and says."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from pyroclust import estimator
from pyroclust.exceptions import DataError, DatasetError
from pyroclust.validation import (
    FLOAT32_MAX,
    as_data_tensor,
    as_float_array,
    check_feature_names,
    get_feature_names,
    is_constant,
    one_line,
)


def test_estimator_uses_the_one_validation_layer() -> None:
    assert estimator.as_data_tensor is as_data_tensor


def test_float32_arrays_are_shared_and_other_types_converted() -> None:
    x = np.arange(6, dtype=np.float32).reshape(3, 2)
    out = as_float_array(x)
    assert out.dtype == np.float32 and np.shares_memory(out, x)
    t = as_data_tensor(np.arange(6).reshape(3, 2))
    assert t.dtype == torch.float32 and t.shape == (3, 2)
    assert as_float_array(np.asfortranarray(np.ones((3, 2)))).flags.c_contiguous


def test_tensors_keep_their_device_and_are_not_copied_when_float32() -> None:
    t = torch.rand(4, 3)
    assert as_data_tensor(t).data_ptr() == t.data_ptr()
    assert as_data_tensor(t.double()).dtype == torch.float32
    assert as_float_array(t.bfloat16()).dtype == np.float32


def test_overflow_is_not_called_nan() -> None:
    x = np.array([[0.0, 1.0], [2.0, 3.5e38], [FLOAT32_MAX, -1e300]])
    with pytest.raises(DataError, match=r"beyond float32's range \(\|x\| > 3.4e38\)") as info:
        as_data_tensor(x)
    assert "NaN" not in str(info.value) and "first rows: [1, 2]" in str(info.value)
    assert as_float_array(np.array([[FLOAT32_MAX]])).item() == np.float32(FLOAT32_MAX)


def test_nan_is_reported_before_overflow_with_its_rows() -> None:
    x = np.array([[1e39], [np.nan], [0.0]])
    with pytest.raises(DataError, match=r"NaN or infinite values \(first rows: \[1\]\)"):
        as_float_array(x)


def test_min_samples_and_n_features() -> None:
    with pytest.raises(DataError, match="X has a single row; clustering needs at least 2"):
        as_data_tensor(np.zeros((1, 2)), min_samples=2)
    with pytest.raises(DataError, match="X has 2 rows; clustering needs at least 3"):
        as_data_tensor(np.zeros((2, 2)), min_samples=3)
    with pytest.raises(DataError, match="data has 2 features, but the model expects 3"):
        as_data_tensor(np.zeros((2, 2)), n_features=3, name="data")


def test_error_class_and_name_are_the_callers() -> None:
    with pytest.raises(DatasetError, match=r"^my set: features contains NaN"):
        as_float_array([[np.nan]], name="my set: features", error=DatasetError)
    with pytest.raises(DataError, match=r"x.reshape\(-1, 1\)"):  # no odd name in the hint
        as_float_array([1.0, 2.0], name="data set 'a b'")


def test_dataframes_give_numbers_and_string_names() -> None:
    frame = pd.DataFrame({"a": [1, 2], "b": [0.5, 1.5], "c": [True, False]})
    np.testing.assert_array_equal(as_float_array(frame), [[1, 0.5, 1], [2, 1.5, 0]])
    assert get_feature_names(frame).tolist() == ["a", "b", "c"]
    assert get_feature_names(pd.DataFrame(np.zeros((1, 2)))) is None
    assert get_feature_names(np.zeros((1, 2))) is None
    with pytest.raises(DataError, match="must all be strings"):
        get_feature_names(pd.DataFrame({"a": [1.0], 0: [1.0]}))


def test_check_feature_names_lists_what_differs() -> None:
    fitted = np.array(["a", "b", "c"], dtype=object)
    check_feature_names(pd.DataFrame(np.zeros((1, 3)), columns=["a", "b", "c"]), fitted)
    with pytest.raises(DataError, match=r"another order \(\['c', 'b', 'a'\] instead of"):
        check_feature_names(pd.DataFrame(np.zeros((1, 3)), columns=["c", "b", "a"]), fitted)
    with pytest.raises(DataError, match=r"unseen at fit time: \['d'\].*now missing: \['c'\]"):
        check_feature_names(pd.DataFrame(np.zeros((1, 3)), columns=["a", "b", "d"]), fitted)
    with pytest.warns(UserWarning, match="Clusterer was fitted with feature names"):
        check_feature_names(np.zeros((1, 3)), fitted)
    with pytest.warns(UserWarning, match="MyEstimator was fitted without feature names"):
        check_feature_names(pd.DataFrame({"a": [1.0]}), None, estimator="MyEstimator")


def test_is_constant() -> None:
    assert is_constant(np.zeros((10, 4)))
    assert is_constant(torch.ones(3, 2))
    assert is_constant(np.zeros((1, 4)))
    assert not is_constant(np.array([[0.0, 0.0], [0.0, 1e-12]]))


def test_one_line() -> None:
    assert one_line(ValueError("a\n  b\tc ")) == "a b c"
