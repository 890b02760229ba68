import pytest

from pyroclust.datasets import load_dataset
from pyroclust.datasets.spelling import flags, option
from pyroclust.exceptions import DatasetError


@pytest.mark.parametrize(
    ("name", "value", "python", "flag"),
    [
        ("index_col", 0, "index_col=0", "--index-col 0"),
        ("index_col", "id", "index_col='id'", "--index-col id"),
        ("index_col", "id x", "index_col='id x'", "--index-col 'id x'"),
        ("index_col", False, "index_col=False", "--index-col none"),
        ("header", True, "header=True", "--header yes"),
        ("header", False, "header=False", "--header no"),
    ],
)
def test_an_option_is_spelt_as_python_or_as_the_command_lines_flag(name, value, python, flag):
    assert option(name, value) == python
    with flags():
        assert option(name, value) == flag
    assert option(name, value) == python  # the block leaves the default behind


def test_an_option_without_a_value_names_the_option_alone():
    assert option("header") == "header="
    with flags():
        assert option("index_col") == "--index-col"


def test_flags_are_reset_when_the_block_raises():
    with pytest.raises(DatasetError), flags():
        raise DatasetError("x")
    assert option("header", True) == "header=True"


@pytest.mark.parametrize(
    ("text", "python", "flag"),
    [
        ("name,a\nr0,1\nr1,2\n", "pass index_col='name'", "pass --index-col name"),
        ("a,1,c\n1,2,3\n", "pass header=True", "pass --header yes"),
        ("0,0.5\n1,0.25\n2,1\n", "or index_col=False", "or --index-col none"),
    ],
)
def test_a_readers_hint_follows_the_spelling(tmp_path, text, python, flag):
    path = tmp_path / "data.csv"
    path.write_text(text)
    with pytest.raises(DatasetError, match=python.replace("(", r"\(")):
        load_dataset(path)
    with pytest.raises(DatasetError) as caught, flags():
        load_dataset(path)
    assert flag in str(caught.value) and "=" not in str(caught.value).replace("(header=False)", "")
