import pytest

from pyroclust.cli.suggest import SYNONYMS, suggest, unrecognized

OPTIONS = ["-h", "--help", "--data", "--n-components", "--epochs", "--seed", "--out", "--lr"]


@pytest.mark.parametrize(
    ("word", "meant"),
    [
        ("--n_components", "--n-components"),  # Python's underscores
        ("--N-Components=3", "--n-components"),  # case and an attached value
        ("--n-clusters", "--n-components"),  # scikit-learn's KMeans
        ("--random-state", "--seed"),
        ("--max-epochs", "--epochs"),
        ("--epoks", "--epochs"),  # a typo
        ("--colour", None),  # nothing close
        ("-x", None),  # short options are not guessed
        ("3", None),  # a value
    ],
)
def test_suggest_names_the_flag_meant(word, meant):
    assert suggest(word, OPTIONS) == meant


def test_a_synonym_is_suggested_only_where_the_subcommand_has_its_flag():
    assert suggest("--gpu", OPTIONS) is None  # no --device here
    assert suggest("--gpu", [*OPTIONS, "--device"]) == "--device"
    assert all(flag.startswith("--") for flag in [*SYNONYMS, *SYNONYMS.values()])


def test_unrecognized_keeps_argparses_words_and_adds_the_flags_meant():
    assert unrecognized(["--colour", "3"], OPTIONS) == "unrecognized arguments: --colour 3"
    assert unrecognized(["--n-clusters", "3"], OPTIONS) == (
        "unrecognized arguments: --n-clusters 3; did you mean --n-components?"
    )
    assert unrecognized(["--n_components=3", "--epoks", "2"], OPTIONS).endswith(
        "did you mean --n-components (for --n_components), --epochs (for --epoks)?"
    )
