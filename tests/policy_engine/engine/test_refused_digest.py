"""A refused event's timeline entry keeps the reason, the event, the sender and a digest of its data,
never the data: a caller cannot grow a case's history with data the case refused."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from typing import Any

import pytest

from policy_engine.engine import (
    Actor,
    EventIn,
    OpenCase,
    RefusedEntry,
    TimelineEntry,
    TimelineRecorder,
    open_case,
    step,
    typed_entry,
)
from policy_engine.engine.digest import canonical_json, digest_of
from policy_engine.language import load_policy_set
from policy_engine.testing import load_scenario, scenario_files
from tests.conftest import POLICIES, SCENARIOS

AT = dt.datetime(2027, 3, 1, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))


def _python_json(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"b": 1, "a": [1, 2.5, None, True, False], "c": {"z": 'é\u202e\n"', "y": []}},
        {"nested": [[{"x": [{}]}]], "n": -3, "f": 1e-7},
        [1, "two", {"3": 3}],
        {"nan": math.nan, "inf": math.inf, "ninf": -math.inf},
    ],
)
def test_the_digest_is_python_canonical_json(data: Any) -> None:
    assert canonical_json(data) == _python_json(data)
    assert digest_of(data) == (hashlib.sha256(_python_json(data)).hexdigest(), len(_python_json(data)))


def test_data_json_cannot_hold_still_has_a_digest() -> None:
    deep: Any = []
    for _ in range(100_000):
        deep = [deep]
    assert canonical_json(deep) == b"[" * 100_000 + b"[]" + b"]" * 100_000
    assert canonical_json({2: "x", "1": dt.date(2027, 1, 2)}) == b'{"1":"2027-01-02","2":"x"}'
    huge = 10**5000
    assert canonical_json([huge]) == f"[{hex(huge)}]".encode()
    assert canonical_json("\ud800") == '"\ud800"'.encode("utf-8", errors="surrogatepass")
    assert digest_of({"a": 1}) != digest_of({"a": 2})


def test_the_refused_entry_keeps_a_digest_and_no_data() -> None:
    entries: list[TimelineEntry] = []
    data = {"tracking": "x" * 100_000, "note": "\u202eevil"}
    TimelineRecorder(entries, AT, "0123456789ab").refused("ship", "not now", Actor(role="customer", id="C-1"), data)
    [entry] = entries
    assert (entry.kind, entry.name, entry.at) == ("refused", "ship", AT)
    assert entry.detail == {
        "reason": "not now",
        "actor": {"role": "customer", "id": "C-1"},
        "data": {},
        "data_sha256": hashlib.sha256(_python_json(data)).hexdigest(),
        "data_bytes": len(_python_json(data)),
    }
    assert len(entry.model_dump_json()) < 500
    typed = typed_entry(entry)
    assert isinstance(typed, RefusedEntry)
    assert typed.detail.data_bytes == len(_python_json(data)) and typed.detail.data == {}
    assert typed.to_wire() == entry


def test_an_entry_written_before_the_digest_is_still_read() -> None:
    old = {
        "at": AT.isoformat(),
        "kind": "refused",
        "name": "ship",
        "detail": {"reason": "not now", "actor": {"role": "customer", "id": "C-1"}, "data": {"x": 1}},
        "policy_version": "0123456789ab",
    }
    typed = typed_entry(old)
    assert isinstance(typed, RefusedEntry)
    assert typed.detail.data == {"x": 1} and typed.detail.data_sha256 is None and typed.detail.data_bytes is None
    assert typed.to_wire().detail == old["detail"]


def test_a_refused_event_on_a_case_keeps_its_name_sender_and_digest() -> None:
    scenario = next(s for s in map(load_scenario, scenario_files([SCENARIOS])) if s.case_type == "return")
    resolved = load_policy_set([POLICIES]).select("return", scenario.data, scenario.opened_at)
    case = open_case(
        resolved, OpenCase(case_id="R-1", case_type="return", data=scenario.data, at=scenario.opened_at)
    ).state
    later = scenario.opened_at + dt.timedelta(minutes=1)
    data = {"tracking": "SF1" * 1000}
    declared = step(resolved, case, EventIn(name="return_delivered", actor=Actor(role="system"), data=data, at=later))
    entry = declared.state.timeline[-1]
    assert (entry.kind, entry.name) == ("refused", "return_delivered")
    assert entry.detail["reason"] == declared.refused
    assert entry.detail["actor"] == {"role": "system", "id": ""}
    assert (entry.detail["data"], entry.detail["data_sha256"]) == ({}, hashlib.sha256(_python_json(data)).hexdigest())
    # An undeclared name is the caller's text: neither the reason nor the entry repeats it.
    name = "teleport\u202e" + "x" * 10_000
    unknown = step(resolved, case, EventIn(name=name, actor=Actor(role="system"), at=later))
    assert unknown.refused == "unknown event: 'return' cases declare no event of that name"
    assert unknown.state.timeline[-1].name == ""
    assert unknown.state.timeline[-1].detail["data_bytes"] == 2  # {}
