"""Self-labelling: a start's clusters refined by a classifier that learns them from moved
copies of the rows.

A manifold start (UMAP + a mixture) labels each row by where its neighbourhood of raw rows
or codes puts it, and errs on rows whose neighbours there belong to another class. A
classifier trained on the start's labels of *every* row, which sees a row only under a random
small rotation, shift and zoom (:class:`~pyroclust.nn.RandomAffine`) each time, cannot learn
a label that holds for a row but not for its moved copies: it learns what the labels of most
rows around such copies say, and its prediction on each row, unmoved, replaces the start's
label. Without the moves the same classifier memorises the start (MNIST's UMAP + GMM labels:
0.9688 before and after); with them it corrects about a quarter of the errors (0.9767-0.9768,
two seeds; ``benchmarks/RESULTS.md``, "Self-labelling a manifold start"). Run again on its
own labels (``rounds``), it corrects more: 0.9778, 0.9793 and 0.9802 after one, two and three
rounds on seed 1 ("Rounds of self-labelling on MNIST's pixel start").

This is the self-labelling step of SCAN (Van Gansbeke et al., 2020, "SCAN: Learning to
Classify Images without Labels", Sec. 2.3), here on all of the start's labels rather than on
its confident rows only (the confident rows of a mixture on an embedding are its easy rows; a
classifier trained on them alone generalised worse: 0.957-0.972), with the augmentation as
the regulariser that DEC-DA (Guo et al., 2018, "Deep Embedded Clustering with Data
Augmentation") adds to deep clustering. It needs many rows per neighbourhood: on the 1,797
digits it changed 10-40 labels and gained nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from pyroclust.nn.mlp import MLP

__all__ = ["SelfLabelling"]


@dataclass(frozen=True)
class SelfLabelling:
    """Refine cluster labels by a classifier trained on them from randomly moved rows.

    Parameters
    ----------
    augment : callable
        A random move of a batch of rows, ``augment(x) -> x'`` of the same shape (for
        images, :class:`~pyroclust.nn.RandomAffine` of their shape). It is what makes the
        refinement differ from the start: the identity reproduces the start's labels.
    epochs : int
        Passes over the rows.
    batch_size : int
    lr : float
        Adam's learning rate at the start; it decays to 0 along a cosine over the epochs.
    hidden : sequence of int
        Widths of the classifier's hidden layers (ReLU): an MLP ``D-500-500-K`` by default.
    average : float
        Share of the last epochs whose predicted probabilities are averaged into the new
        labels (at least one epoch), which steadies them against the last steps' noise.

    Examples
    --------
    >>> from pyroclust.nn import RandomAffine
    >>> refine = SelfLabelling(RandomAffine((8, 8)), epochs=2)
    >>> x, labels = torch.rand(40, 64), np.repeat([0, 1], 20)
    >>> refine(x, labels, n_components=2, random_state=0).shape
    (40,)
    """

    augment: Callable[[torch.Tensor], torch.Tensor]
    epochs: int = 30
    batch_size: int = 256
    lr: float = 1e-3
    hidden: Sequence[int] = (500, 500)
    average: float = 1 / 3
    rounds: int = 1

    def __post_init__(self) -> None:
        if min(int(self.epochs), int(self.batch_size), int(self.rounds)) < 1:
            raise ValueError(
                f"epochs, batch_size and rounds must be >= 1, got {self.epochs!r}, "
                f"{self.batch_size!r}, {self.rounds!r}"
            )
        if not 0.0 < float(self.average) <= 1.0:
            raise ValueError(f"average must lie in (0, 1], got {self.average!r}")
        if not callable(self.augment):
            raise TypeError(f"augment must be callable, got {self.augment!r}")

    def __call__(
        self,
        data: torch.Tensor | np.ndarray,
        labels: np.ndarray,
        n_components: int,
        random_state: int | None = None,
    ) -> np.ndarray:
        """New labels in ``range(n_components)`` for the rows of ``data`` (n, D), from a
        classifier trained on ``labels`` (n,) with :attr:`augment` applied to every batch.
        Runs on ``data``'s device; the global random state is left as it was."""
        x = torch.as_tensor(np.asarray(data) if not torch.is_tensor(data) else data)
        x = x.detach().float()
        targets = torch.as_tensor(np.asarray(labels), dtype=torch.long, device=x.device)
        if x.ndim != 2 or len(targets) != len(x):
            raise ValueError(
                f"data must be (n, D) with one label per row, got {tuple(x.shape)} and "
                f"{len(targets)} labels"
            )
        with torch.random.fork_rng(devices=[x.device] if x.device.type == "cuda" else []):
            if random_state is not None:
                torch.manual_seed(int(random_state))
            for _ in range(int(self.rounds)):
                targets = self._relabel(x, targets, int(n_components))
        return targets.cpu().numpy()

    def _relabel(self, x: torch.Tensor, targets: torch.Tensor, n_components: int) -> torch.Tensor:
        """One round: a fresh classifier trained on ``targets`` from moved rows, and its
        averaged prediction on the unmoved rows."""
        n = len(x)
        epochs = int(self.epochs)
        last = max(1, round(float(self.average) * epochs))
        net = MLP([x.shape[1], *self.hidden, n_components], activation=nn.ReLU).to(x.device)
        optim = torch.optim.Adam(net.parameters(), lr=float(self.lr))
        steps = epochs * -(-n // int(self.batch_size))
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optim, max(1, steps))
        votes = torch.zeros(n, n_components, device=x.device)
        for epoch in range(epochs):
            net.train()
            for batch in torch.randperm(n, device=x.device).split(int(self.batch_size)):
                loss = nn.functional.cross_entropy(net(self.augment(x[batch])), targets[batch])
                optim.zero_grad()
                loss.backward()
                optim.step()
                schedule.step()
            if epoch >= epochs - last:
                net.eval()
                with torch.no_grad():
                    for rows in torch.arange(n, device=x.device).split(4096):
                        votes[rows] += net(x[rows]).softmax(-1)
        return votes.argmax(-1)
