"""Reliability battery, Python-API part: bad parameters, unfitted estimators, bad data at fit
and predict, bad checkpoint files, and faults (a diverging fit, Ctrl-C mid-fit).

Each case checks the exception type, a one-line message naming the problem, and that nothing
was lost: the input array is unchanged, a checkpoint file keeps its bytes and modification
time, and a stopped fit leaves a state that can be saved, used and resumed.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from pyroclust.estimator import Clusterer
from pyroclust.exceptions import CheckpointError, DataError, NonFiniteLossError
from pyroclust.infer.checkpoint import digest, load_checkpoint
from pyroclust.infer.init import RandomInit
from pyroclust.infer.trainer import SVITrainer

TINY = {
    "n_components": 3,
    "model_options": {"hidden": [8], "latent_dim": 2},
    "init": RandomInit(),
    "random_state": 0,
    "progress": False,
    "batch_size": 32,
}


def check_one_line(err: BaseException, pattern: str) -> None:
    text = str(err)
    assert "\n" not in text.strip(), text
    assert "Traceback" not in text
    assert re.search(pattern, text, re.IGNORECASE), (pattern, text)


def raises(kind, pattern, call, *args, **kwargs):
    with pytest.raises(kind) as info:
        call(*args, **kwargs)
    check_one_line(info.value, pattern)
    return info.value


@pytest.fixture(scope="module")
def x() -> np.ndarray:
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 20)
    protos = rng.random((3, 16)) > 0.5
    return np.clip(np.where(protos[y], 0.85, 0.15) + rng.normal(0, 0.05, (60, 16)), 0, 1).astype(
        np.float32
    )


@pytest.fixture(scope="module")
def fitted(x) -> Clusterer:
    return Clusterer(epochs=1, **TINY).fit(x)


@pytest.fixture(scope="module")
def saved_bytes(fitted, tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("ckpt") / "model.ckpt"
    fitted.save(path)
    return path.read_bytes()


# --------------------------------------------------------------------------- parameters
@pytest.mark.parametrize(
    ("params", "pattern"),
    [
        ({"batch_size": 0}, r"batch_size must be >= 1, got 0"),
        ({"n_components": 2.5}, r"n_components must be an integer >= 1, got 2\.5"),
        ({"n_components": 0}, r"n_components .* got 0"),
        ({"epochs": -1}, r"epochs must be >= 0"),
        ({"lr": 0}, r"lr must be a positive number"),
        ({"lr": float("nan")}, r"lr must be a positive number, got nan"),
        ({"model": "nope"}, r"unknown architecture 'nope'"),
    ],
    ids=lambda v: ",".join(f"{k}={v[k]}" for k in v) if isinstance(v, dict) else None,
)
def test_bad_parameters_are_refused_at_fit(x, params, pattern):
    before = x.copy()
    raises(ValueError, pattern, Clusterer(**{**TINY, "epochs": 1, **params}).fit, x)
    np.testing.assert_array_equal(x, before)


def test_an_unknown_device_is_a_value_error(x):
    raises(ValueError, r"device", Clusterer(**{**TINY, "epochs": 1, "device": "tpu"}).fit, x)


def test_an_unknown_model_option_is_a_value_error(x):
    options = {**TINY, "epochs": 1, "model_options": {"colour": 1}}
    raises(ValueError, r"colour", Clusterer(**options).fit, x)


@pytest.mark.parametrize("method", ["predict", "predict_proba", "transform", "score"])
def test_methods_before_fit_say_so(x, method):
    err = raises(ValueError, r"not fitted; call fit first", getattr(Clusterer(**TINY), method), x)
    assert type(err).__name__ == "NotFittedError"


def test_save_and_sample_before_fit_say_so(tmp_path):
    raises(ValueError, r"not fitted", Clusterer(**TINY).save, tmp_path / "m.ckpt")
    raises(ValueError, r"not fitted", Clusterer(**TINY).sample, 3)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- data
@pytest.mark.parametrize(
    ("data", "pattern"),
    [
        (np.zeros((0, 16)), r"empty \(0 samples\)"),
        (np.zeros(16), r"must be 2-D.*Reshape"),
        (np.zeros((2, 3, 4)), r"2-D"),
        (np.array([["a", "b"]]), r"numeric"),
        (np.full((5, 3), np.inf), r"NaN or infinite"),
        (np.full((5, 3), np.nan), r"NaN or infinite"),
    ],
    ids=["empty", "1-D", "3-D", "strings", "inf", "nan"],
)
def test_bad_data_at_fit(data, pattern):
    before = data.copy()
    raises(DataError, pattern, Clusterer(**{**TINY, "epochs": 1}).fit, data)
    np.testing.assert_array_equal(data, before)


@pytest.mark.parametrize(
    ("data", "pattern"),
    [
        (np.zeros((4, 5), np.float32), r"5 features, but the model expects 16"),
        (np.full((3, 16), np.nan, np.float32), r"NaN or infinite"),
        (np.zeros((0, 16), np.float32), r"empty"),
        (np.array([["x"] * 16]), r"numeric"),
    ],
    ids=["width", "nan", "empty", "strings"],
)
@pytest.mark.parametrize("method", ["predict", "transform"])
def test_bad_data_at_predict(fitted, data, pattern, method):
    before = data.copy()
    raises(DataError, pattern, getattr(fitted, method), data)
    np.testing.assert_array_equal(data, before)


def test_predict_on_one_row_agrees_with_all_rows(fitted, x):
    assert fitted.predict(x[:1])[0] == fitted.predict(x)[0]


@pytest.mark.parametrize("n", [0, -1])
def test_sample_of_no_rows_is_refused(fitted, n):
    raises(ValueError, rf"n must be >= 1, got {n}", fitted.sample, n)


# --------------------------------------------------------------------------- checkpoints
def _edited(edit, redigest=True):
    def damage(path: Path) -> None:
        record = torch.load(path, weights_only=True)
        edit(record)
        if redigest:
            record["sha256"] = digest(record["payload"])  # anyone can: it is not a signature
        torch.save(record, path)

    return damage


BAD_FILES = [
    ("empty", lambda p: p.write_bytes(b""), r"empty \(0 bytes\)"),
    ("truncated", lambda p: p.write_bytes(p.read_bytes()[:500]), r"not a readable checkpoint"),
    ("text", lambda p: p.write_text("x\n"), r"not a readable checkpoint"),
    ("foreign", lambda p: torch.save({"a": 1}, p), r"not a pyroclust checkpoint"),
    ("kind", _edited(lambda r: r.update(kind="fit-session")), r"'fit-session' checkpoint"),
    ("version", _edited(lambda r: r.update(version=2)), r"version 2"),
    ("edited", _edited(lambda r: r["payload"].update(n_features_in=1), False), r"integrity"),
    ("no-history", _edited(lambda r: r["payload"].pop("history")), r"lacks 'history'"),
    ("width-type", _edited(lambda r: r["payload"].update(n_features_in=1.5)), r"n_features_in"),
    ("state", _edited(lambda r: r["payload"].update(guide=[0])), r"'guide' should be a state"),
    ("spec-type", _edited(lambda r: r["payload"].update(spec=[1])), r"'spec' should be dict"),
    ("classes", _edited(lambda r: r["payload"].update(guide_class=3)), r"'guide_class'"),
]


@pytest.mark.parametrize(("name", "damage", "pattern"), BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_load_of_a_bad_file(saved_bytes, tmp_path, name, damage, pattern):
    path = tmp_path / "model.ckpt"
    path.write_bytes(saved_bytes)
    damage(path)
    data, mtime = path.read_bytes(), path.stat().st_mtime_ns
    raises(CheckpointError, pattern, Clusterer.load, path)
    assert path.read_bytes() == data and path.stat().st_mtime_ns == mtime


def test_load_of_a_folder_or_a_missing_file(tmp_path):
    raises(CheckpointError, r"is a directory", Clusterer.load, tmp_path)
    raises(CheckpointError, r"does not exist", Clusterer.load, tmp_path / "none.ckpt")


def test_load_of_a_spec_with_an_unknown_key(saved_bytes, tmp_path):
    path = tmp_path / "model.ckpt"
    path.write_bytes(saved_bytes)
    _edited(lambda r: r["payload"]["spec"].update(colour=1))(path)
    raises(CheckpointError, r"spec|colour", Clusterer.load, path)


def test_the_digest_is_documented_as_a_checksum():
    from pyroclust.infer import checkpoint

    assert "corruption, not tampering" in " ".join(checkpoint.__doc__.split())
    assert "not a signature" in " ".join(load_checkpoint.__doc__.split())


# --------------------------------------------------------------------------- faults
def test_a_diverging_fit_stops_naming_stage_epoch_step_and_stays_usable(x, tmp_path):
    ckpt = tmp_path / "train.ckpt"
    est = Clusterer(**{**TINY, "epochs": 3, "lr": 1e20, "checkpoint": ckpt})
    err = raises(NonFiniteLossError, r"svi stage: non-finite .* at epoch \d+, step \d+", est.fit, x)
    assert f"epoch {err.epoch}," in str(err) and err.step >= 1
    assert str(ckpt) in str(err)
    load_checkpoint(ckpt, "fit-session")  # the last good state is on disk and readable
    for param in est.model_.parameters():
        assert bool(torch.isfinite(param).all())
    est.save(tmp_path / "model.ckpt")  # savable, and usable after loading
    labels = Clusterer.load(tmp_path / "model.ckpt").predict(x)
    assert labels.shape == (60,)


def test_ctrl_c_mid_fit_leaves_a_resumable_state(x, tmp_path, monkeypatch):
    original = SVITrainer._early_stopping

    def interrupt(self, elbo):
        if self.epoch == 2:
            raise KeyboardInterrupt
        original(self, elbo)

    ckpt = tmp_path / "train.ckpt"
    est = Clusterer(**{**TINY, "epochs": 3, "checkpoint": ckpt})
    with monkeypatch.context() as patch:
        patch.setattr(SVITrainer, "_early_stopping", interrupt)
        with pytest.raises(KeyboardInterrupt):
            est.fit(x)
    assert ckpt.is_file()
    est.fit(x, resume=True)
    assert est.n_iter_ == 3
    reference = Clusterer(**{**TINY, "epochs": 3}).fit(x)
    np.testing.assert_array_equal(est.predict(x), reference.predict(x))
