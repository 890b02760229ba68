"""Clustering learned representations: the VAE study of Agarap & Azcarraga, and its tools.

* :class:`RepresentationClusterer` (:mod:`~pyroclust.representations.clusterer`) -- fit a VAE
  or an autoencoder by SVI, then cluster its codes post hoc: a
  :class:`~pyroclust.posthoc.PostHocClustering` whose representation it fits first;
* :func:`study_representations` and :func:`representation_study`
  (:mod:`~pyroclust.representations.study`) -- the study on any fitted estimator, and the whole
  protocol from a data set name;
* :func:`add_noise`, :func:`format_table` -- the protocol's noise and its table.

The figures are :mod:`pyroclust.plots`'s; the command line ``pyroclust representations`` (and
``python -m pyroclust.representations``) is :mod:`pyroclust.cli.representations`.

Examples
--------
>>> from pyroclust.representations import representation_study
>>> study = representation_study("digits", epochs=1, hidden=(32,), tsne=False,
...                              n_train=300, n_test=100, progress=False)
>>> sorted(study.table), study.representations["latent"].shape
(['latent', 'original', 'reconstructed'], (100, 10))
"""

from pyroclust.representations.clusterer import RepresentationClusterer, fit_representation
from pyroclust.representations.study import (
    REPRESENTATIONS,
    SCORE_COLUMNS,
    RepresentationStudy,
    add_noise,
    format_table,
    representation_study,
    study_representations,
)

__all__ = [
    "REPRESENTATIONS",
    "SCORE_COLUMNS",
    "RepresentationClusterer",
    "RepresentationStudy",
    "add_noise",
    "fit_representation",
    "format_table",
    "representation_study",
    "study_representations",
]
