"""The flag a user most likely meant, for an option the command line does not know.

Users arrive with other libraries' words (scikit-learn's ``n_clusters`` and
``random_state``, a trainer's ``--max-epochs``) or a typo; "unrecognized arguments" alone
leaves them to read the whole ``--help``. :func:`suggest` names the one flag of the
subcommand it most likely was: the same name with dashes for underscores, a known synonym,
or a close spelling (:func:`difflib.get_close_matches`).
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

__all__ = ["SYNONYMS", "suggest"]

#: Other libraries' names for pyroclust's flags (checked against the subcommand's own).
SYNONYMS = {
    "--n-clusters": "--n-components",
    "--clusters": "--n-components",
    "--k": "--n-components",
    "--num-clusters": "--n-components",
    "--random-state": "--seed",
    "--random-seed": "--seed",
    "--max-epochs": "--epochs",
    "--n-epochs": "--epochs",
    "--learning-rate": "--lr",
    "--output": "--out",
    "--output-dir": "--out",
    "--outdir": "--out",
    "--input": "--data",
    "--dataset": "--data",
    "--gpu": "--device",
    "--cuda": "--device",
    "--checkpoint": "--out",
    "--n-jobs": "--threads",
}
#: How alike a misspelt flag must be to a real one to be suggested (difflib's ratio).
CUTOFF = 0.75


def suggest(word: str, options: Sequence[str]) -> str | None:
    """The flag of ``options`` that ``word`` most likely meant, or None.

    Examples
    --------
    >>> options = ["--n-components", "--epochs", "--seed", "--out"]
    >>> suggest("--n_components", options), suggest("--n-clusters", options)
    ('--n-components', '--n-components')
    >>> suggest("--epoks", options), suggest("--colour", options)
    ('--epochs', None)
    """
    if not word.startswith("--"):
        return None
    name = word.split("=", 1)[0].replace("_", "-").lower()
    flags = [option for option in options if option.startswith("--")]
    if name in flags:
        return name
    if SYNONYMS.get(name) in flags:
        return SYNONYMS[name]
    close = difflib.get_close_matches(name, flags, n=1, cutoff=CUTOFF)
    return close[0] if close else None


def unrecognized(extras: Sequence[str], options: Sequence[str]) -> str:
    """argparse's "unrecognized arguments" message, with the flags meant where one is clear."""
    message = f"unrecognized arguments: {' '.join(extras)}"
    meant = [(word.split("=", 1)[0], suggest(word, options)) for word in extras]
    hints = [(word, flag) for word, flag in meant if flag]
    if len(hints) == 1:
        return f"{message}; did you mean {hints[0][1]}?"
    named = ", ".join(f"{flag} (for {word})" for word, flag in hints)
    return f"{message}; did you mean {named}?" if hints else message
