"""Checkpoints: exact round trips, weights_only loading, and refusal of bad files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pyroclust import likelihoods, zoo
from pyroclust.estimator import Clusterer
from pyroclust.exceptions import CheckpointError
from pyroclust.guides import VaDEGuide
from pyroclust.infer import SVITrainer, load_checkpoint, save_checkpoint
from pyroclust.infer.init import RandomInit
from pyroclust.models import VaDE
from pyroclust.nn import MLP


def _fit(model, guide, x, **kwargs) -> Clusterer:
    options = {"epochs": 1, "batch_size": 16, "init": RandomInit(), "random_state": 0}
    options.update(kwargs)
    return Clusterer(model, guide, progress=False, **options).fit(x)


def _assert_same_state(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


@pytest.fixture(scope="module")
def _saved_once(tmp_path_factory) -> tuple[Clusterer, bytes]:
    x = torch.rand(48, 12, generator=torch.Generator().manual_seed(0))
    model, guide = zoo.make(
        "vade", n_features=12, n_components=3, latent_dim=2, hidden=(8,), likelihood="gaussian"
    )
    est = _fit(model, guide, x)
    path = tmp_path_factory.mktemp("ckpt") / "est.pt"
    est.save(path)
    return est, path.read_bytes()


@pytest.fixture
def saved(tmp_path, _saved_once):
    """A fitted estimator and its own copy of the checkpoint file (tests may damage it)."""
    est, data = _saved_once
    path = tmp_path / "est.pt"
    path.write_bytes(data)
    return est, path


def test_round_trip_is_exact(saved, x_small) -> None:
    est, path = saved
    loaded = Clusterer.load(path)  # rebuilt from the zoo spec stored in the file
    _assert_same_state(loaded.model_, est.model_)
    _assert_same_state(loaded.guide_, est.guide_)
    np.testing.assert_array_equal(loaded.predict(x_small), est.predict(x_small))
    np.testing.assert_array_equal(loaded.predict_proba(x_small), est.predict_proba(x_small))
    np.testing.assert_array_equal(loaded.transform(x_small), est.transform(x_small))
    np.testing.assert_array_equal(loaded.weights_, est.weights_)
    assert loaded.history_ == est.history_ and loaded.n_features_in_ == 12
    assert loaded.score(x_small) == pytest.approx(est.score(x_small), rel=0.2)


def test_file_loads_with_weights_only(saved) -> None:
    _, path = saved
    record = torch.load(path, weights_only=True)
    assert record["format"] == "pyroclust-checkpoint" and record["kind"] == "clusterer"
    assert isinstance(record["sha256"], str) and len(record["sha256"]) == 64


def test_round_trip_of_a_hand_built_model(tmp_path, x_small) -> None:
    def pair():
        model = VaDE(3, 2, decoder=MLP([2, 8, 12]), likelihood=likelihoods.Bernoulli())
        guide = VaDEGuide(MLP([12, 8], output_activation=torch.nn.ReLU), 2)
        return model, guide

    est = _fit(*pair(), x_small)
    path = tmp_path / "hand.pt"
    est.save(path)
    with pytest.raises(CheckpointError, match="not made from a zoo model"):
        Clusterer.load(path)
    loaded = Clusterer.load(path, *pair())
    _assert_same_state(loaded.model_, est.model_)
    np.testing.assert_array_equal(loaded.predict(x_small), est.predict(x_small))


def test_missing_file(tmp_path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        Clusterer.load(tmp_path / "nowhere.pt")


def test_truncated_file(saved) -> None:
    _, path = saved
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        Clusterer.load(path)


def test_random_bytes(tmp_path) -> None:
    path = tmp_path / "noise.pt"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        Clusterer.load(path)
    text = tmp_path / "notes.txt"
    text.write_text("not a checkpoint\n")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        Clusterer.load(text)


def test_torch_file_of_another_program(tmp_path) -> None:
    path = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, path)
    with pytest.raises(CheckpointError, match="not a pyroclust checkpoint"):
        Clusterer.load(path)
    torch.save([1, 2, 3], path)
    with pytest.raises(CheckpointError, match="not a pyroclust checkpoint"):
        load_checkpoint(path)


def test_tampered_file(saved) -> None:
    _, path = saved
    record = torch.load(path, weights_only=True)
    weight = record["payload"]["model"]["decoder.0.weight"]
    weight[0, 0] += 1.0
    torch.save(record, path)  # without updating the digest
    with pytest.raises(CheckpointError, match="failed its integrity check"):
        Clusterer.load(path)


def test_tampered_plain_value(saved) -> None:
    _, path = saved
    record = torch.load(path, weights_only=True)
    record["payload"]["n_features_in"] = 13
    torch.save(record, path)
    with pytest.raises(CheckpointError, match="integrity"):
        Clusterer.load(path)


def test_other_version(saved) -> None:
    _, path = saved
    record = torch.load(path, weights_only=True)
    record["version"] = 99
    torch.save(record, path)
    with pytest.raises(CheckpointError, match="version 99"):
        Clusterer.load(path)


def test_checkpoint_of_a_model_of_other_sizes(saved, tiny_vade) -> None:
    _, path = saved
    model, guide = tiny_vade(likelihood="gaussian", n_components=4)
    with pytest.raises(CheckpointError, match="does not fit this model and guide"):
        Clusterer.load(path, model, guide)


def test_checkpoint_of_another_class(saved, tiny_vade) -> None:
    _, path = saved
    model, _ = tiny_vade(likelihood="gaussian")
    with pytest.raises(CheckpointError, match="holds a 'VaDEGuide'"):
        Clusterer.load(path, model, torch.nn.Linear(2, 2))


def test_trainer_checkpoint_where_an_estimator_is_expected(tmp_path, tiny_vade, x_small) -> None:
    path = tmp_path / "run.pt"
    SVITrainer(*tiny_vade(), epochs=1, progress=False, checkpoint=path).fit(
        torch.as_tensor(x_small)
    )
    with pytest.raises(CheckpointError, match="'svi-trainer' checkpoint, not a 'clusterer'"):
        Clusterer.load(path)


def test_estimator_checkpoint_where_a_trainer_is_expected(saved, tiny_vade, x_small) -> None:
    _, path = saved
    trainer = SVITrainer(*tiny_vade(), epochs=1, progress=False, checkpoint=path)
    with pytest.raises(CheckpointError, match="not a 'svi-trainer'"):
        trainer.fit(torch.as_tensor(x_small), resume=True)


def test_trainer_checkpoint_of_other_sizes(tmp_path, tiny_vade, x_small) -> None:
    path = tmp_path / "run.pt"
    x = torch.as_tensor(x_small)
    SVITrainer(*tiny_vade(), epochs=1, progress=False, checkpoint=path).fit(x)
    other = SVITrainer(*tiny_vade(latent_dim=3), epochs=2, progress=False, checkpoint=path)
    with pytest.raises(CheckpointError, match="does not match this model and guide"):
        other.fit(x, resume=True)


def test_trainer_checkpoint_of_another_class(tmp_path, tiny_vade, x_small) -> None:
    path = tmp_path / "run.pt"
    x = torch.as_tensor(x_small)
    model, guide = tiny_vade()
    SVITrainer(model, guide, epochs=1, progress=False, checkpoint=path).fit(x)

    class MyVaDE(VaDE):
        pass

    other = MyVaDE(3, 2, decoder=model.decoder, likelihood=model.likelihood)
    trainer = SVITrainer(other, guide, epochs=2, progress=False, checkpoint=path)
    with pytest.raises(CheckpointError, match="written for 'VaDE'"):
        trainer.fit(x, resume=True)


def test_low_level_round_trip(tmp_path) -> None:
    payload = {
        "a": torch.arange(6.0).reshape(2, 3),
        "nested": {"b": [torch.ones(2, dtype=torch.int64), 3, "text"], "c": None},
        "empty": torch.zeros(0),
    }
    path = save_checkpoint(tmp_path / "sub" / "ck.pt", "test", payload)
    assert [p.name for p in path.parent.iterdir()] == ["ck.pt"]  # no temporary file left
    back = load_checkpoint(path, "test")
    assert torch.equal(back["a"], payload["a"])
    assert torch.equal(back["nested"]["b"][0], payload["nested"]["b"][0])
    assert back["nested"]["b"][1:] == [3, "text"] and back["nested"]["c"] is None
    with pytest.raises(CheckpointError, match="not a 'other' one"):
        load_checkpoint(path, "other")


@pytest.mark.parametrize("prior", [*zoo.WEIGHT_PRIORS, "dirichlet:0.5"])
def test_round_trip_with_every_weight_prior(tmp_path, tiny_vade, x_small, prior: str) -> None:
    """Priors with latent sites put a weight guide in the checkpoint; it comes back too."""
    est = _fit(*tiny_vade(weights=prior), x_small)
    path = tmp_path / "est.pt"
    est.save(path)
    loaded = Clusterer.load(path)
    _assert_same_state(loaded.guide_, est.guide_)
    np.testing.assert_array_equal(loaded.weights_, est.weights_)
    np.testing.assert_array_equal(loaded.predict_proba(x_small), est.predict_proba(x_small))


def test_zero_byte_file_is_one_line(tmp_path) -> None:
    path = tmp_path / "empty.pt"
    path.write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"empty \(0 bytes\)") as info:
        load_checkpoint(path)
    assert "\n" not in str(info.value)


def test_malformed_payload_with_a_recomputed_digest(saved) -> None:
    """The digest is a checksum anyone can recompute; the payload's shape is checked too."""
    from pyroclust.infer.checkpoint import digest

    _, path = saved
    record = torch.load(path, weights_only=True)
    del record["payload"]["history"]
    record["sha256"] = digest(record["payload"])
    torch.save(record, path)
    with pytest.raises(CheckpointError, match="lacks 'history'"):
        Clusterer.load(path)


def test_check_payload_names_the_key_and_type(tmp_path) -> None:
    from pyroclust.infer.checkpoint import STATE_DICT, check_payload

    expected = {"n": int, "state": STATE_DICT}
    check_payload({"n": 3, "state": {"w": torch.zeros(1)}}, expected)
    with pytest.raises(CheckpointError, match="'n' should be int, not bool"):
        check_payload({"n": True, "state": {}}, expected)
    with pytest.raises(CheckpointError, match="'state' should be a state dict"):
        check_payload({"n": 1, "state": {"w": 1.0}}, expected)
