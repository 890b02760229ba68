"""scikit-learn's own estimator checks on the post-hoc clusterers.

``sklearn.utils.estimator_checks`` is the contract every scikit-learn user's tools assume
(clone, grid search, pipelines). Both estimators pass every check with no exception listed:
``expected_failed_checks`` below is empty on purpose, and a check that starts failing must be
fixed or listed there with the reason.
"""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from pyroclust.posthoc import PostHocClustering
from pyroclust.representations import RepresentationClusterer

#: check name -> why it may fail; none today.
EXPECTED_FAILED_CHECKS: dict[str, dict[str, str]] = {
    "PostHocClustering": {},
    "RepresentationClusterer": {},
}


def _small_representation_clusterer() -> RepresentationClusterer:
    """Constructed without arguments; small settings by set_params (a tiny VAE, two epochs)."""
    return RepresentationClusterer().set_params(
        epochs=2,
        batch_size=64,
        model_options={"latent_dim": 2, "hidden": (8,)},
        device="cpu",
        progress=False,
    )


@parametrize_with_checks(
    [PostHocClustering(), _small_representation_clusterer()],
    expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS[type(est).__name__],
)
def test_scikit_learn_estimator_checks(estimator, check) -> None:
    check(estimator)
