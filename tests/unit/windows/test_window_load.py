from pathlib import Path

import pytest

from streamapp.errors import TopologyError
from streamapp.windows.declare import Aggregate
from streamapp.windows.load import load_topologies

HEADER = "from streamapp.windows.declare import *  # noqa: F403\n"

GOOD = """
from streamapp.windows.declare import Aggregate, Count, Tumbling

first = Aggregate(name="{name}", key=("event",), window=Tumbling(size_s=60), grace_s=0,
                  measures=(Count(),))
second = Aggregate(name="{name}_2", key=(), window=Tumbling(size_s=60), grace_s=0,
                   measures=(Count(),))
alias = first
"""


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text)
    return path


def test_the_shipped_topologies_load() -> None:
    aggregates = load_topologies(Path(__file__).parents[3] / "topologies")
    assert {a.name for a in aggregates} == {
        "revenue_per_currency_hourly",
        "events_per_minute",
        "active_users_per_platform",
    }


def test_collects_module_level_aggregates_in_file_then_definition_order(tmp_path: Path) -> None:
    write(tmp_path, "b.py", GOOD.format(name="bee"))
    write(tmp_path, "a.py", GOOD.format(name="ay"))
    write(tmp_path, "__init__.py", "raise RuntimeError('not a topology')\n")
    write(tmp_path, "_helpers.py", "raise RuntimeError('not a topology')\n")
    aggregates = load_topologies(tmp_path)
    assert [a.name for a in aggregates] == ["ay", "ay_2", "bee", "bee_2"]
    assert all(isinstance(a, Aggregate) for a in aggregates)


def test_an_empty_folder_has_no_aggregates(tmp_path: Path) -> None:
    assert load_topologies(tmp_path) == ()


def test_a_missing_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(TopologyError) as caught:
        load_topologies(tmp_path / "nope")
    assert caught.value.field == "topologies_dir"


def error_for(tmp_path: Path, text: str) -> TopologyError:
    path = write(tmp_path, "broken.py", text)
    with pytest.raises(TopologyError) as caught:
        load_topologies(tmp_path)
    assert caught.value.file == str(path)
    assert str(path) in str(caught.value)
    return caught.value


@pytest.mark.parametrize(
    ("declaration", "field"),
    [
        ("window=Tumbling(size_s=60), grace_s=-5, measures=(Count(),)", "grace_s"),
        ("window=Tumbling(size_s=0), grace_s=5, measures=(Count(),)", "window.size_s"),
        ("window=Hopping(size_s=60, step_s=7), grace_s=5, measures=(Count(),)", "window.step_s"),
        ("window=Tumbling(size_s=60), grace_s=5, measures=(Sum(''),)", "measures[0].path"),
        ("window=Tumbling(size_s=60), grace_s=5, measures=(object(),)", "measures[0]"),
    ],
)
def test_declaration_errors_name_the_file_aggregate_and_field(
    tmp_path: Path, declaration: str, field: str
) -> None:
    text = HEADER + f"x = Aggregate(name='clicks', key=('event',), {declaration})\n"
    error = error_for(tmp_path, text)
    assert (error.aggregate, error.field) == ("clicks", field)


def test_an_invalid_name_is_reported(tmp_path: Path) -> None:
    text = HEADER + (
        "x = Aggregate(name='per-minute', key=('event',), window=Tumbling(size_s=60),"
        " grace_s=0, measures=(Count(),))\n"
    )
    assert error_for(tmp_path, text).field == "name"


def test_an_invalid_key_path_is_reported(tmp_path: Path) -> None:
    text = HEADER + (
        "x = Aggregate(name='n', key=('properties',), window=Tumbling(size_s=60),"
        " grace_s=0, measures=(Count(),))\n"
    )
    assert error_for(tmp_path, text).field == "key[0]"


def test_a_missing_argument_is_reported_as_its_field(tmp_path: Path) -> None:
    text = HEADER + "x = Aggregate(name='n', key=(), window=Tumbling(size_s=60), measures=())\n"
    assert error_for(tmp_path, text).field == "grace_s"


def test_a_syntax_error_names_the_line(tmp_path: Path) -> None:
    error = error_for(tmp_path, "x = (\n")
    assert error.field == "<module>"
    assert "line 1" in error.reason


def test_an_import_error_is_reported(tmp_path: Path) -> None:
    error = error_for(tmp_path, "import not_a_module_anywhere\n")
    assert "ModuleNotFoundError" in error.reason


def test_duplicate_names_across_files_name_both_files(tmp_path: Path) -> None:
    first = write(tmp_path, "a.py", GOOD.format(name="dup"))
    second = write(tmp_path, "b.py", GOOD.format(name="dup"))
    with pytest.raises(TopologyError) as caught:
        load_topologies(tmp_path)
    assert caught.value.file == str(second)
    assert caught.value.field == "name"
    assert str(first) in caught.value.reason
