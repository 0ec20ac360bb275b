"""What a case carries across continue-as-new, bounded whatever its callers sent.

The whole input of the next run (the opening, the pinned policy and the case state) is one Temporal
payload, refused above 2 MB: a case that grew past it could never continue and stopped for good
("Workflow Task in failed state"). The timeline and the event keys are what grows with every call,
so the carried case keeps

- its `open` entry, which notes how many earlier entries were left behind and in which runs (their
  histories hold them: the input and events of each run named),
- the most recent entries, at most CARRIED_ENTRIES and CARRIED_TIMELINE_BYTES of them,
- refused entries without their data (its size and digest instead: a refusal is a caller's data the
  case never took), and
- the last CARRIED_EVENT_KEYS idempotency keys (a retry older than those is applied again).

With the caps of workflows.bounds (data, keys) the carried input stays under about 1 MB.
"""

from __future__ import annotations

from policy_engine.engine import CaseState, TimelineEntry
from policy_engine.engine.digest import digest_of
from service.identity.tokens import canonical_json

CARRIED_ENTRIES = 500
CARRIED_TIMELINE_BYTES = 512 * 1024
CARRIED_EVENT_KEYS = 2_000
EARLIER_RUNS_NAMED = 16  # the runs an `open` entry names (their count is kept whole)
EARLIER = "earlier_entries"  # the `open` entry's note of the entries left in earlier runs


def without_data(entry: TimelineEntry) -> TimelineEntry:
    """A refused entry with its data replaced by its size and digest (other entries unchanged)."""
    data = entry.detail.get("data")
    if entry.kind != "refused" or not data:
        return entry
    digest = digest_of(data)  # the engine's record of a refused event's data (RefusedDetail)
    kept = {"data_sha256": digest.sha256, "data_bytes": digest.size}
    return entry.model_copy(update={"detail": {**entry.detail, "data": {}, **kept}})


def _size(entry: TimelineEntry) -> int:
    return len(canonical_json(entry.model_dump(mode="json")))


def compacted(state: CaseState, run_id: str) -> CaseState:
    """The case as the next run carries it: see the module's docstring. `run_id`: this run's."""
    entries = state.timeline
    first = entries[0] if entries and entries[0].kind == "open" else None
    rest = entries[1:] if first is not None else entries
    kept: list[TimelineEntry] = []
    budget = CARRIED_TIMELINE_BYTES
    for entry in reversed(rest):  # newest first; only the entries kept are measured
        if len(kept) >= CARRIED_ENTRIES:
            break
        carried = without_data(entry)
        budget -= _size(carried)
        if budget < 0:
            break
        kept.append(carried)
    kept.reverse()
    left = len(rest) - len(kept)
    if left and first is not None:
        first = _noting(first, left, run_id)
    timeline = ([first] if first is not None else []) + kept
    return state.model_copy(update={"timeline": timeline, "event_keys": state.event_keys[-CARRIED_EVENT_KEYS:]})


def _noting(opening: TimelineEntry, left: int, run_id: str) -> TimelineEntry:
    """The `open` entry with `left` more entries noted as left behind in run `run_id`."""
    earlier = opening.detail.get(EARLIER) or {"entries": 0, "runs": []}
    runs = [*earlier["runs"], {"run_id": run_id, "entries": left}][-EARLIER_RUNS_NAMED:]
    note = {"entries": earlier["entries"] + left, "runs": runs}
    return opening.model_copy(update={"detail": {**opening.detail, EARLIER: note}})
