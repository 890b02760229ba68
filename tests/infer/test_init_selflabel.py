"""SelfLabelling: a classifier trained on a start's labels from moved rows relabels them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pyroclust import zoo
from pyroclust.infer.init import ManifoldInit, SelfLabelling
from pyroclust.nn import RandomAffine


def bars(n_per_class: int = 120, seed: int = 0) -> tuple[torch.Tensor, np.ndarray]:
    """8x8 images of a vertical (class 0) or a horizontal (class 1) bar at a random place."""
    rng = np.random.default_rng(seed)
    images = np.zeros((2 * n_per_class, 8, 8), dtype=np.float32)
    for i in range(2 * n_per_class):
        at = rng.integers(1, 7)
        if i < n_per_class:
            images[i, :, at] = 1.0
        else:
            images[i, at, :] = 1.0
    x = images.reshape(len(images), 64) + rng.normal(0, 0.05, (len(images), 64))
    return torch.as_tensor(x, dtype=torch.float32), np.repeat([0, 1], n_per_class)


def test_the_moves_correct_wrong_labels_of_the_start() -> None:
    x, truth = bars()
    noisy = truth.copy()
    wrong = np.random.default_rng(1).choice(len(noisy), 24, replace=False)  # 10 % flipped
    noisy[wrong] = 1 - noisy[wrong]
    moved = SelfLabelling(RandomAffine((8, 8)), epochs=60, batch_size=32, hidden=(64,))
    refined = moved(x, noisy, n_components=2, random_state=0)
    assert (refined == truth).mean() >= 0.97
    assert (refined[wrong] == truth[wrong]).mean() >= 0.8  # most flipped labels come back


def test_without_moves_rows_without_structure_keep_their_labels() -> None:
    """The new labels are the classifier's on the rows it was trained on: where nothing ties
    a row to its neighbours (noise, arbitrary labels), it reproduces the start."""
    rng = np.random.default_rng(0)
    x = torch.as_tensor(rng.normal(size=(80, 64)), dtype=torch.float32)
    labels = rng.integers(0, 3, 80)
    kept = SelfLabelling(lambda rows: rows, epochs=100, batch_size=16, hidden=(128,))
    assert (kept(x, labels, n_components=3, random_state=0) == labels).mean() >= 0.95


def test_same_random_state_same_labels_and_the_global_stream_untouched() -> None:
    x, truth = bars(30)
    refine = SelfLabelling(RandomAffine((8, 8)), epochs=3, batch_size=16, hidden=(16,))
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    first = refine(x, truth, 2, random_state=5)
    after = torch.rand(3)
    np.testing.assert_array_equal(first, refine(x.numpy(), truth, 2, random_state=5))
    torch.testing.assert_close(before, after)
    assert first.dtype.kind == "i" and set(np.unique(first)) <= {0, 1}


def test_each_round_trains_on_the_labels_the_round_before_gave(monkeypatch) -> None:
    x, truth = bars(30)
    seen = []

    def relabel(self, rows, targets, n_components):
        seen.append(targets.clone())
        return (targets + 1) % n_components  # a visible change per round

    monkeypatch.setattr(SelfLabelling, "_relabel", relabel)
    refine = SelfLabelling(RandomAffine((8, 8)), rounds=3)
    out = refine(x, truth, n_components=2, random_state=0)
    assert len(seen) == 3
    np.testing.assert_array_equal(seen[0].numpy(), truth)
    np.testing.assert_array_equal(seen[1].numpy(), 1 - truth)
    np.testing.assert_array_equal(seen[2].numpy(), truth)
    np.testing.assert_array_equal(out, 1 - truth)


def test_a_second_round_keeps_what_the_first_corrected() -> None:
    x, truth = bars()
    noisy = truth.copy()
    wrong = np.random.default_rng(1).choice(len(noisy), 24, replace=False)
    noisy[wrong] = 1 - noisy[wrong]
    options = {"epochs": 30, "batch_size": 32, "hidden": (64,)}
    once = SelfLabelling(RandomAffine((8, 8)), **options)(x, noisy, 2, random_state=0)
    twice = SelfLabelling(RandomAffine((8, 8)), rounds=2, **options)(x, noisy, 2, random_state=0)
    assert (twice == truth).mean() >= max((once == truth).mean() - 0.01, 0.95)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"epochs": 0}, "epochs, batch_size and rounds"),
        ({"batch_size": 0}, "epochs, batch_size and rounds"),
        ({"rounds": 0}, "epochs, batch_size and rounds"),
        ({"average": 0.0}, "average"),
        ({"average": 1.5}, "average"),
    ],
)
def test_bad_settings_are_refused(options, match) -> None:
    with pytest.raises(ValueError, match=match):
        SelfLabelling(RandomAffine((8, 8)), **options)


def test_bad_input_is_refused() -> None:
    refine = SelfLabelling(RandomAffine((8, 8)), epochs=1)
    with pytest.raises(TypeError, match="callable"):
        SelfLabelling("moves")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="one label per row"):
        refine(torch.zeros(5, 64), np.zeros(4, dtype=int), 2)
    with pytest.raises(ValueError, match=r"\(n, D\)"):
        refine(torch.zeros(5, 8, 8), np.zeros(5, dtype=int), 2)


def test_the_manifold_start_hands_its_labels_and_the_rows_to_refine() -> None:
    rng = np.random.default_rng(0)
    data = np.concatenate([c + rng.normal(size=(30, 4)) for c in ([0.0] * 4, [8.0] * 4)])
    seen = {}

    def refine(rows, labels, n_components, random_state):
        seen.update(rows=rows, labels=labels.copy(), k=n_components, seed=random_state)
        return 1 - labels  # a visible change

    plain = ManifoldInit(perplexity=10, n_init=1)
    refined = ManifoldInit(perplexity=10, n_init=1, refine=refine)
    start = plain.cluster_labels(np.zeros((60, 0)), 2, 3, data=data)
    labels = refined.cluster_labels(np.zeros((60, 0)), 2, 3, data=data)
    assert seen["rows"] is data and seen["k"] == 2 and seen["seed"] == 3
    np.testing.assert_array_equal(seen["labels"], start)
    np.testing.assert_array_equal(labels, 1 - start)


@pytest.mark.parametrize(
    ("n_samples", "image_shape", "expected"),
    [
        (70_000, (28, 28), (28, 28)),
        (70_000, (1, 28, 28), (28, 28)),
        (10_000, (28, 28), (28, 28)),
        (9_999, (28, 28), None),  # small data: it gained nothing on the digits
        (70_000, (3, 28, 28), None),  # colour: the moves are of single-channel images
        (70_000, None, None),  # a table
    ],
)
def test_the_recipe_self_labels_large_grey_image_sets_only(n_samples, image_shape, expected):
    refine = zoo.self_labelling(n_samples, image_shape)
    if expected is None:
        assert refine is None
        return
    assert isinstance(refine, SelfLabelling) and refine.augment.image_shape == expected
    steps = refine.epochs * -(-n_samples // refine.batch_size)
    assert refine.epochs >= 20 and steps >= zoo.SELF_LABEL_STEPS
    assert refine.rounds == zoo.SELF_LABEL_ROUNDS >= 2
    recipe = zoo.vade_training(n_samples, image_shape)
    assert repr(recipe["init"].refine) == repr(refine)  # the recipe uses it
