"""What a case carries across continue-as-new stays bounded (workflows.compaction)."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from policy_engine.engine import CaseState, TimelineEntry
from service.identity.tokens import canonical_json
from workflows.compaction import CARRIED_ENTRIES, CARRIED_EVENT_KEYS, CARRIED_TIMELINE_BYTES, EARLIER, compacted

AT = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)


def _entry(kind: Any, name: str, **detail: Any) -> TimelineEntry:
    return TimelineEntry(at=AT, kind=kind, name=name, detail=detail, policy_version="v1")


def _case(entries: list[TimelineEntry], keys: int = 0) -> CaseState:
    opening = _entry("open", "return", policy="return-default", version="v1")
    return CaseState(
        case_id="R-1",
        case_type="return",
        policy_id="return-default",
        policy_version="v1",
        opened_at=AT,
        state="awaiting_merchant",
        entered_at=AT,
        timeline=[opening, *entries],
        event_keys=[f"k{i}" for i in range(keys)],
    )


def _refusal(i: int, data: dict[str, Any]) -> TimelineEntry:
    return _entry("refused", "merchant_approve", reason=f"refused {i}", actor={"role": "merchant", "id": ""}, data=data)


def _carried_bytes(state: CaseState) -> int:
    return len(canonical_json(state.model_dump(mode="json")))


def test_ten_thousand_refusals_carry_the_opening_and_the_last_entries_with_a_count() -> None:
    state = _case([_refusal(i, {"n": i}) for i in range(10_000)])
    carried = compacted(state, "run-1")
    assert len(carried.timeline) == 1 + CARRIED_ENTRIES
    assert carried.timeline[0].kind == "open"
    assert carried.timeline[0].detail[EARLIER] == {
        "entries": 10_000 - CARRIED_ENTRIES,
        "runs": [{"run_id": "run-1", "entries": 10_000 - CARRIED_ENTRIES}],
    }
    assert carried.timeline[-1].detail["reason"] == "refused 9999"  # the newest are kept, in order
    assert carried.timeline[1].detail["reason"] == f"refused {10_000 - CARRIED_ENTRIES}"
    assert _carried_bytes(carried) < 256 * 1024


def test_refused_entries_keep_the_size_and_digest_of_their_data_not_the_data() -> None:
    big = {"note": "x" * 900_000}
    carried = compacted(_case([_refusal(i, big) for i in range(6)]), "run-1")
    refused = [e for e in carried.timeline if e.kind == "refused"]
    assert len(refused) == 6
    for entry in refused:
        assert entry.detail["data"] == {}
        assert entry.detail["data_bytes"] == len(canonical_json(big))
        assert entry.detail["data_sha256"] == hashlib.sha256(canonical_json(big)).hexdigest()
    assert _carried_bytes(carried) < 64 * 1024
    assert EARLIER not in carried.timeline[0].detail  # nothing was left behind


def test_large_applied_events_are_kept_within_the_byte_budget() -> None:
    events = [
        _entry("event", "note", actor={"role": "agent", "id": "A"}, data={"text": "y" * 60_000}) for _ in range(40)
    ]
    carried = compacted(_case(events), "run-1")
    kept = len(carried.timeline) - 1
    assert 0 < kept < 40
    assert carried.timeline[0].detail[EARLIER]["entries"] == 40 - kept
    assert _carried_bytes(carried) < CARRIED_TIMELINE_BYTES + 64 * 1024


def test_successive_runs_add_up_and_name_the_latest_runs() -> None:
    state = _case([_refusal(i, {}) for i in range(CARRIED_ENTRIES + 10)])
    for run in range(20):
        state = compacted(state, f"run-{run}")
        state = state.model_copy(update={"timeline": [*state.timeline, *(_refusal(i, {}) for i in range(10))]})
    note = state.timeline[0].detail[EARLIER]
    assert note["entries"] == 10 * 20
    assert [r["run_id"] for r in note["runs"]] == [f"run-{i}" for i in range(4, 20)]


def test_event_keys_keep_the_latest() -> None:
    carried = compacted(_case([], keys=CARRIED_EVENT_KEYS + 5), "run-1")
    assert carried.event_keys == [f"k{i}" for i in range(5, CARRIED_EVENT_KEYS + 5)]


def test_a_small_case_is_carried_unchanged() -> None:
    state = _case([_entry("event", "merchant_approve", actor={"role": "merchant", "id": "M-1"}, data={"a": 1})])
    assert compacted(state, "run-1") == state
