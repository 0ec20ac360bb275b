"""YAML files past a limit are refused before they are built, at the node that goes past it."""

from __future__ import annotations

from pathlib import Path

import pytest

from policy_engine.language.yaml_limits import MAX_ALIAS_NODES, MAX_FILE_BYTES, MAX_NESTING
from policy_engine.language.yamlsource import load_yaml_file, load_yaml_text
from tests.policy_engine.language.bounded import validate_bounded

# Nine lists of nine aliases of the list before: 9**9 (387 million) strings from 342 bytes.
BILLION_LAUGHS = "\n".join(
    [
        'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
        *(f"{c}: &{c} [{', '.join(['*' + p] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi", strict=True)),
    ]
)


def problems_of(text: str) -> list[str]:
    data, _, problems = load_yaml_text(text, "f.yaml")
    assert (data is None) == bool(problems)
    return [f"{p.line}:{p.col}: {p.message}" for p in problems]


def nested_lists(levels: int) -> str:
    """A document of `levels` nested lists on one line: `[[...[1]...]]`."""
    return "[" * levels + "1" + "]" * levels


def test_nesting_up_to_the_limit_loads_and_one_more_level_is_refused_at_its_bracket() -> None:
    assert problems_of(nested_lists(MAX_NESTING)) == []
    assert problems_of(nested_lists(MAX_NESTING + 1)) == [
        f"1:{MAX_NESTING + 1}: nested deeper than {MAX_NESTING} levels"
    ]


def test_nested_mappings_count_too() -> None:
    text = "\n".join(f"{'  ' * level}k{level}:" for level in range(MAX_NESTING + 1)) + " 1\n"
    assert problems_of(text) == [f"{MAX_NESTING + 1}:{2 * MAX_NESTING + 1}: nested deeper than {MAX_NESTING} levels"]


def test_an_alias_counts_the_nesting_of_the_node_it_repeats() -> None:
    half = MAX_NESTING // 2
    anchored = "a: &deep " + nested_lists(half)  # level 1 is the top mapping
    assert problems_of(f"{anchored}\nb: {'[' * (MAX_NESTING - half - 1)}*deep{']' * (MAX_NESTING - half - 1)}") == []
    deeper = f"{anchored}\nb: {'[' * (MAX_NESTING - half)}*deep{']' * (MAX_NESTING - half)}"
    assert problems_of(deeper) == [f"2:{4 + MAX_NESTING - half}: nested deeper than {MAX_NESTING} levels"]


def aliases_of_ten(count: int) -> str:
    """An anchored list of 9 items (10 nodes with the list) and `count` aliases of it."""
    return "a: &ten [1, 2, 3, 4, 5, 6, 7, 8, 9]\nb: [" + ", ".join(["*ten"] * count) + "]\n"


def test_aliases_may_expand_to_the_limit_and_one_node_more_is_refused_at_the_alias() -> None:
    assert problems_of(aliases_of_ten(MAX_ALIAS_NODES // 10)) == []
    over = aliases_of_ten(MAX_ALIAS_NODES // 10) + "c: *ten\n"
    assert problems_of(over) == [f"3:4: aliases expand to more than {MAX_ALIAS_NODES:,} nodes"]
    scalar_over = aliases_of_ten(MAX_ALIAS_NODES // 10).replace("1, 2", "&one 1, 2") + "c: *one\n"
    assert problems_of(scalar_over) == [f"3:4: aliases expand to more than {MAX_ALIAS_NODES:,} nodes"]


def test_an_alias_inside_the_node_it_names_is_refused() -> None:
    assert problems_of("a: &loop [1, *loop]\n") == [
        "1:14: alias *loop is inside the node it names: it would repeat forever"
    ]


def test_a_file_up_to_the_size_limit_loads_and_one_byte_more_is_refused(tmp_path: Path) -> None:
    at_limit = "a: 1\n#" + "x" * (MAX_FILE_BYTES - 7) + "\n"
    assert len(at_limit.encode()) == MAX_FILE_BYTES
    assert problems_of(at_limit) == []
    file = tmp_path / "big.yaml"
    file.write_text(at_limit + "#", encoding="utf-8")
    data, _, problems = load_yaml_file(file, "big.yaml")
    assert data is None
    assert [str(p) for p in problems] == [
        f"big.yaml:1:1: the file is {MAX_FILE_BYTES + 1:,} bytes, more than the limit of {MAX_FILE_BYTES:,}"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (BILLION_LAUGHS, f"bomb.yaml:5:8: aliases expand to more than {MAX_ALIAS_NODES:,} nodes"),
        ("x: " + nested_lists(10_000), f"bomb.yaml:1:{3 + MAX_NESTING}: nested deeper than {MAX_NESTING} levels"),
        # LibYAML's composer recursed on this one until the process died (SIGSEGV).
        ("x: " + nested_lists(50_000), f"bomb.yaml:1:{3 + MAX_NESTING}: nested deeper than {MAX_NESTING} levels"),
        (
            "x: " + "{a: " * 10_000 + "1" + "}" * 10_000,
            f"bomb.yaml:1:{4 + 4 * (MAX_NESTING - 1)}: nested deeper than {MAX_NESTING} levels",
        ),
    ],
    ids=["billion-laughs", "10000-deep-lists", "50000-deep-lists", "10000-deep-maps"],
)
def test_the_command_refuses_yaml_bombs_with_their_place(tmp_path: Path, text: str, expected: str) -> None:
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(text, encoding="utf-8")
    result = validate_bounded(str(bomb))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert [line.split("bomb.yaml", 1)[-1] for line in result.stdout.splitlines() if "bomb.yaml:" in line] == [
        expected.removeprefix("bomb.yaml")
    ]
