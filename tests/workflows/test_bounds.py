"""The bounds every case has (workflows.bounds): ids, data size and depth, event keys; reasons name
the rule and never repeat the caller's value."""

from __future__ import annotations

import pytest

from workflows.bounds import (
    CASE_ID_MAX,
    LINKED_CASE_ID_MAX,
    case_data_problem,
    case_id_problem,
    event_data_problem,
    event_key_problem,
    nesting_depth,
)
from workflows.contract import DataLimits

BAD_IDS = ["", "\x00", "R-1\nR-2", "R-\u202e1", "x" * 2000, "R 1", "R/1", "-R1", "案件-1", "R'1"]


@pytest.mark.parametrize("case_id", BAD_IDS, ids=[repr(i)[:20] for i in BAD_IDS])
def test_a_bad_id_is_refused_naming_the_rule_not_the_id(case_id: str) -> None:
    reason = case_id_problem(case_id)
    assert reason is not None and "a case id is 1 to 160 characters" in reason
    if len(case_id) > 1:
        assert case_id not in reason


def test_good_ids_pass_up_to_the_limit() -> None:
    for case_id in ("R-1001", "a", "order:2026.11_x-1", "9" * CASE_ID_MAX):
        assert case_id_problem(case_id) is None
    assert case_id_problem("9" * (CASE_ID_MAX + 1)) is not None


def test_the_longest_id_still_yields_valid_linked_ids() -> None:
    """A linked case is `<parent>-<type>-<seq>` (the engine's open_case): the longest type of the
    loops and an action number no case reaches still fit."""
    longest = "R" * CASE_ID_MAX
    assert case_id_problem(f"{longest}-refund_only-{10**20}", linked=True) is None
    assert case_id_problem(f"{longest}-refund_only-{10**20}") is not None  # not as a caller's own id
    assert case_id_problem("R" * (LINKED_CASE_ID_MAX + 1), linked=True) is not None


def test_event_keys_are_bounded() -> None:
    assert event_key_problem(None) is None
    assert event_key_problem("R-1/approve") is None
    reason = event_key_problem("k" * 129)
    assert reason is not None and "129 characters" in reason and "k" * 129 not in reason


def test_data_over_the_size_cap_is_refused_with_its_size_and_the_setting() -> None:
    limits = DataLimits(event_data_bytes=1024, case_data_bytes=2048)
    assert event_data_problem({"note": "x" * 900}, limits) is None
    reason = event_data_problem({"note": "x" * 1100}, limits)
    assert reason == (
        "the event data is 1,111 bytes as canonical JSON, more than the 1,024 allowed (AFTERSALES_MAX_EVENT_DATA_BYTES)"
    )
    assert case_data_problem({"note": "x" * 1100}, limits) is None
    said = case_data_problem({"note": "x" * 3000}, limits)
    assert said is not None and "AFTERSALES_MAX_CASE_DATA_BYTES" in said


def test_multibyte_text_counts_in_utf8_bytes() -> None:
    limits = DataLimits(event_data_bytes=1024)
    assert event_data_problem({"n": "退" * 300}, limits) is None  # 900 bytes
    assert event_data_problem({"n": "退" * 400}, limits) is not None  # 1,200 bytes


def test_data_nested_too_deep_is_refused_without_recursion() -> None:
    deep: dict[str, object] = {}
    node = deep
    for _ in range(100_000):  # far deeper than recursion allows
        child: dict[str, object] = {}
        node["a"] = child
        node = child
    reason = event_data_problem(deep, DataLimits())
    assert reason == "the event data nests more than 32 levels deep (AFTERSALES_MAX_DATA_DEPTH)"
    assert nesting_depth({"a": [{"b": 1}]}, 32) == 3
    assert nesting_depth(5, 32) == 0


def test_data_json_cannot_hold_is_refused() -> None:
    reason = event_data_problem({"n": float("nan")}, DataLimits())
    assert reason is not None and "cannot be written as JSON" in reason
